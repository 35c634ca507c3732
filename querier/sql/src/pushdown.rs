//! Filter pushdown: the parts of a `WHERE` clause that Strata's own pruning
//! can use.
//!
//! | SQL filter                                   | becomes                              |
//! |----------------------------------------------|--------------------------------------|
//! | `timestamp >= / > / <= / < / = t`, `BETWEEN` | the selection's `[min_t, max_t]`     |
//! | `label = 'v'`, `label != 'v'`                | `label="v"`, `label!="v"` (postings) |
//! | `label IN (...)`, `NOT IN`                   | `label=~"a|b"`, `label!~"a|b"`       |
//! | `label ~ 're'`, `~*`, `!~`, `!~*`            | `label=~".*(?:re).*"` and negations  |
//! | `label IS NOT NULL`, `IS NULL`               | `label=~".+"`, `label=""`            |
//!
//! Every pushed filter selects a superset of the rows SQL keeps (a series
//! without a label matches `label!="v"` in Prometheus, but SQL's `NULL !=
//! 'v'` is not true), so filters are pushed as *inexact*: DataFusion applies
//! them again to the rows the scan returns, and the answer is SQL's.

use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use datafusion::scalar::ScalarValue;
use strata_common::Timestamp;
use strata_common::matcher::{MatchOp, Matcher};

/// Earliest time a scan without a lower time filter reads.
pub const MIN_TIME: Timestamp = i64::MIN / 4;
/// Latest time a scan without an upper time filter reads.
pub const MAX_TIME: Timestamp = i64::MAX / 4;

/// How a table's columns map to series data.
pub trait ColumnMap {
    /// The label a column holds, or `None` for `timestamp` and `value`.
    fn label_of(&self, column: &str) -> Option<&str>;
    /// Whether `column` is the timestamp column.
    fn is_timestamp(&self, column: &str) -> bool;
}

/// What the scan's filters push into a selection.
#[derive(Debug, Clone, PartialEq)]
pub struct Pushdown {
    /// Label matchers, all of which must match.
    pub matchers: Vec<Matcher>,
    /// Inclusive start of the time range, in milliseconds.
    pub min_t: Timestamp,
    /// Inclusive end of the time range, in milliseconds.
    pub max_t: Timestamp,
}

impl Default for Pushdown {
    fn default() -> Self {
        Self { matchers: Vec::new(), min_t: MIN_TIME, max_t: MAX_TIME }
    }
}

/// One filter that can be pushed.
enum Pushed {
    Matcher(Matcher),
    Time { min_t: Timestamp, max_t: Timestamp },
}

impl Pushdown {
    /// The pushdown of `filters` (a conjunction); filters that cannot be
    /// pushed are left to DataFusion.
    pub fn from_filters(filters: &[Expr], cols: &dyn ColumnMap) -> Self {
        let mut p = Self::default();
        for f in filters.iter().flat_map(split_and) {
            match classify(f, cols) {
                Some(Pushed::Matcher(m)) => p.matchers.push(m),
                Some(Pushed::Time { min_t, max_t }) => {
                    p.min_t = p.min_t.max(min_t);
                    p.max_t = p.max_t.min(max_t);
                }
                None => {}
            }
        }
        p
    }

    /// Whether DataFusion may push `filter` into the scan.
    pub fn supports(filter: &Expr, cols: &dyn ColumnMap) -> bool {
        split_and(filter).iter().any(|f| classify(f, cols).is_some())
    }
}

/// The conjuncts of `e` (`a AND b AND c` → `[a, b, c]`).
fn split_and(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => {
            let mut v = split_and(left);
            v.extend(split_and(right));
            v
        }
        other => vec![other],
    }
}

/// `a = 'x' OR a = 'y' OR ...` on one label (DataFusion rewrites short
/// `IN` lists this way): the escaped alternatives and the label.
fn equality_set<'a>(e: &'a Expr, cols: &'a dyn ColumnMap) -> Option<(&'a str, Vec<String>)> {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Or, right }) => {
            let (l, mut a) = equality_set(left, cols)?;
            let (r, b) = equality_set(right, cols)?;
            (l == r).then(|| {
                a.extend(b);
                (l, a)
            })
        }
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Eq, right }) => {
            let label = cols.label_of(column_of(left)?)?;
            Some((label, vec![regex::escape(string_of(literal_of(right)?)?)]))
        }
        _ => None,
    }
}

fn classify(e: &Expr, cols: &dyn ColumnMap) -> Option<Pushed> {
    match e {
        Expr::BinaryExpr(BinaryExpr { op: Operator::Or, .. }) => {
            let (label, values) = equality_set(e, cols)?;
            Matcher::new(MatchOp::RegexMatch, label, values.join("|")).ok().map(Pushed::Matcher)
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (col, op, lit) = match (column_of(left), literal_of(right)) {
                (Some(c), Some(l)) => (c, *op, l),
                _ => (column_of(right)?, op.swap()?, literal_of(left)?),
            };
            if cols.is_timestamp(col) {
                return time_filter(op, lit);
            }
            let label = cols.label_of(col)?;
            let value = string_of(lit)?;
            let (mop, v) = match op {
                Operator::Eq => (MatchOp::Equal, value.to_string()),
                Operator::NotEq => (MatchOp::NotEqual, value.to_string()),
                Operator::RegexMatch => (MatchOp::RegexMatch, format!(".*(?:{value}).*")),
                Operator::RegexIMatch => (MatchOp::RegexMatch, format!(".*(?i:{value}).*")),
                Operator::RegexNotMatch => (MatchOp::RegexNoMatch, format!(".*(?:{value}).*")),
                Operator::RegexNotIMatch => (MatchOp::RegexNoMatch, format!(".*(?i:{value}).*")),
                _ => return None,
            };
            Matcher::new(mop, label, v).ok().map(Pushed::Matcher)
        }
        Expr::InList(list) => {
            let label = cols.label_of(column_of(&list.expr)?)?;
            let values: Option<Vec<String>> =
                list.list.iter().map(|v| literal_of(v).and_then(string_of).map(regex::escape)).collect();
            let op = if list.negated { MatchOp::RegexNoMatch } else { MatchOp::RegexMatch };
            Matcher::new(op, label, values?.join("|")).ok().map(Pushed::Matcher)
        }
        Expr::Between(b) if !b.negated => {
            let col = column_of(&b.expr)?;
            if !cols.is_timestamp(col) {
                return None;
            }
            let Pushed::Time { min_t, .. } = time_filter(Operator::GtEq, literal_of(&b.low)?)? else { return None };
            let Pushed::Time { max_t, .. } = time_filter(Operator::LtEq, literal_of(&b.high)?)? else { return None };
            Some(Pushed::Time { min_t, max_t })
        }
        Expr::IsNotNull(inner) => {
            let label = cols.label_of(column_of(inner)?)?;
            Matcher::new(MatchOp::RegexMatch, label, ".+").ok().map(Pushed::Matcher)
        }
        Expr::IsNull(inner) => {
            let label = cols.label_of(column_of(inner)?)?;
            Some(Pushed::Matcher(Matcher::equal(label, "")))
        }
        _ => None,
    }
}

/// The column an expression reads, through casts (type coercion wraps
/// dictionary and timestamp columns in them).
fn column_of(e: &Expr) -> Option<&str> {
    match e {
        Expr::Column(c) => Some(c.name.as_str()),
        Expr::Cast(c) => column_of(&c.expr),
        Expr::TryCast(c) => column_of(&c.expr),
        _ => None,
    }
}

fn literal_of(e: &Expr) -> Option<&ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v),
        _ => None,
    }
}

fn string_of(v: &ScalarValue) -> Option<&str> {
    match v {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => Some(s),
        ScalarValue::Dictionary(_, inner) => string_of(inner),
        _ => None,
    }
}

/// A time bound in milliseconds, rounded outwards (`floor` for a lower
/// bound, `ceil` for an upper one) so the pushed range never drops a row.
fn millis(v: &ScalarValue, lower: bool) -> Option<Timestamp> {
    let (value, per_ms) = match v {
        ScalarValue::TimestampSecond(Some(s), _) => return s.checked_mul(1000),
        ScalarValue::TimestampMillisecond(Some(ms), _) => return Some(*ms),
        ScalarValue::TimestampMicrosecond(Some(us), _) => (*us, 1_000),
        ScalarValue::TimestampNanosecond(Some(ns), _) => (*ns, 1_000_000),
        ScalarValue::Dictionary(_, inner) => return millis(inner, lower),
        _ => return None,
    };
    Some(if lower { value.div_euclid(per_ms) } else { (value + per_ms - 1).div_euclid(per_ms) })
}

fn time_filter(op: Operator, lit: &ScalarValue) -> Option<Pushed> {
    let (min_t, max_t) = match op {
        Operator::Gt | Operator::GtEq => (millis(lit, true)?, MAX_TIME),
        Operator::Lt | Operator::LtEq => (MIN_TIME, millis(lit, false)?),
        Operator::Eq => (millis(lit, true)?, millis(lit, false)?),
        _ => return None,
    };
    Some(Pushed::Time { min_t, max_t })
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::{col, lit};

    use super::*;

    struct Cols;
    impl ColumnMap for Cols {
        fn label_of(&self, column: &str) -> Option<&str> {
            ["host", "dc"].into_iter().find(|c| *c == column)
        }
        fn is_timestamp(&self, column: &str) -> bool {
            column == "timestamp"
        }
    }

    fn ts(ms: i64) -> Expr {
        lit(ScalarValue::TimestampMillisecond(Some(ms), Some("UTC".into())))
    }

    #[test]
    fn labels_become_matchers_and_times_a_range() {
        let filters = vec![
            col("host").eq(lit("a")),
            col("dc").in_list(vec![lit("x.1"), lit("y")], false),
            col("timestamp").gt_eq(ts(1000)).and(col("timestamp").lt(ts(5000))),
            col("value").gt(lit(1.0)),
        ];
        let p = Pushdown::from_filters(&filters, &Cols);
        assert_eq!(p.min_t, 1000);
        assert_eq!(p.max_t, 5000);
        let shown: Vec<String> = p.matchers.iter().map(|m| format!("{}{:?}{}", m.name, m.op, m.value)).collect();
        assert_eq!(shown, vec!["hostEquala".to_string(), r"dcRegexMatchx\.1|y".to_string()]);
        assert!(!Pushdown::supports(&col("value").gt(lit(1.0)), &Cols));
        assert!(Pushdown::supports(&lit("a").eq(col("host")), &Cols));
    }

    #[test]
    fn nanosecond_bounds_round_outwards() {
        let ns = |v| lit(ScalarValue::TimestampNanosecond(Some(v), None));
        let p =
            Pushdown::from_filters(&[col("timestamp").gt(ns(1_500_000)), col("timestamp").lt_eq(ns(2_500_000))], &Cols);
        assert_eq!((p.min_t, p.max_t), (1, 3));
    }

    #[test]
    fn regex_and_null_filters_select_supersets() {
        let p = Pushdown::from_filters(&[col("host").is_not_null(), col("dc").is_null()], &Cols);
        assert!(p.matchers[0].matches("a") && !p.matchers[0].matches(""));
        assert!(p.matchers[1].matches(""));
        let re = Expr::BinaryExpr(BinaryExpr::new(Box::new(col("host")), Operator::RegexMatch, Box::new(lit("b"))));
        let p = Pushdown::from_filters(&[re], &Cols);
        assert!(p.matchers[0].matches("abc") && !p.matchers[0].matches("xyz"));
    }
}
