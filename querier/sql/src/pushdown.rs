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
//! 'v'` is not true). Those that select exactly SQL's rows are pushed as
//! *exact* ([`Pushdown::exact`]: time comparisons, `BETWEEN`, `=` and `IN`
//! of non-empty strings, `IS [NOT] NULL`, on the column as is): DataFusion
//! drops them from its plan (so a grouped aggregate can run inside the
//! scan, `crate::aggregate`). The others are *inexact*: DataFusion applies
//! them again to the rows the scan returns, and the answer is SQL's.

use datafusion::arrow::datatypes::{DataType, TimeUnit};
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
            match classify(f, cols).map(|(pushed, _)| pushed) {
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

    /// Whether the pushed selection keeps exactly the rows `filter` keeps
    /// (so DataFusion need not apply it again): every conjunct is a time
    /// comparison, a `BETWEEN`, `=` or `IN` of non-empty strings, or `IS
    /// [NOT] NULL`, on a bare column (or one cast without loss).
    pub fn exact(filter: &Expr, cols: &dyn ColumnMap) -> bool {
        split_and(filter).iter().all(|f| classify(f, cols).is_some_and(|(_, exact)| exact))
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
/// `IN` lists this way): the label, the escaped alternatives, and whether
/// the matcher is exact (non-empty values on a losslessly read column).
fn equality_set<'a>(e: &'a Expr, cols: &'a dyn ColumnMap) -> Option<(&'a str, Vec<String>, bool)> {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Or, right }) => {
            let (l, mut a, exact_l) = equality_set(left, cols)?;
            let (r, b, exact_r) = equality_set(right, cols)?;
            (l == r).then(|| {
                a.extend(b);
                (l, a, exact_l && exact_r)
            })
        }
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Eq, right }) => {
            let label = cols.label_of(column_of(left)?)?;
            let value = string_of(literal_of(right)?)?;
            Some((label, vec![regex::escape(value)], !value.is_empty() && lossless_string(left)))
        }
        _ => None,
    }
}

/// What `e` pushes, and whether exactly (see [`Pushdown::exact`]).
fn classify(e: &Expr, cols: &dyn ColumnMap) -> Option<(Pushed, bool)> {
    match e {
        Expr::BinaryExpr(BinaryExpr { op: Operator::Or, .. }) => {
            let (label, values, exact) = equality_set(e, cols)?;
            let m = Matcher::new(MatchOp::RegexMatch, label, values.join("|")).ok()?;
            Some((Pushed::Matcher(m), exact))
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (col_expr, op, lit) = match (column_of(left), literal_of(right)) {
                (Some(_), Some(l)) => (&**left, *op, l),
                _ => (&**right, op.swap()?, literal_of(left)?),
            };
            let col = column_of(col_expr)?;
            if cols.is_timestamp(col) {
                return time_filter(op, lit).map(|p| (p, lossless_time(col_expr)));
            }
            let label = cols.label_of(col)?;
            let value = string_of(lit)?;
            let exact = op == Operator::Eq && !value.is_empty() && lossless_string(col_expr);
            let (mop, v) = match op {
                Operator::Eq => (MatchOp::Equal, value.to_string()),
                Operator::NotEq => (MatchOp::NotEqual, value.to_string()),
                Operator::RegexMatch => (MatchOp::RegexMatch, format!(".*(?:{value}).*")),
                Operator::RegexIMatch => (MatchOp::RegexMatch, format!(".*(?i:{value}).*")),
                Operator::RegexNotMatch => (MatchOp::RegexNoMatch, format!(".*(?:{value}).*")),
                Operator::RegexNotIMatch => (MatchOp::RegexNoMatch, format!(".*(?i:{value}).*")),
                _ => return None,
            };
            Some((Pushed::Matcher(Matcher::new(mop, label, v).ok()?), exact))
        }
        Expr::InList(list) => {
            let label = cols.label_of(column_of(&list.expr)?)?;
            let values: Option<Vec<&str>> = list.list.iter().map(|v| literal_of(v).and_then(string_of)).collect();
            let values = values?;
            let exact = !list.negated && values.iter().all(|v| !v.is_empty()) && lossless_string(&list.expr);
            let escaped: Vec<String> = values.iter().map(|v| regex::escape(v)).collect();
            let op = if list.negated { MatchOp::RegexNoMatch } else { MatchOp::RegexMatch };
            Some((Pushed::Matcher(Matcher::new(op, label, escaped.join("|")).ok()?), exact))
        }
        Expr::Between(b) if !b.negated => {
            let col = column_of(&b.expr)?;
            if !cols.is_timestamp(col) {
                return None;
            }
            let Pushed::Time { min_t, .. } = time_filter(Operator::GtEq, literal_of(&b.low)?)? else { return None };
            let Pushed::Time { max_t, .. } = time_filter(Operator::LtEq, literal_of(&b.high)?)? else { return None };
            Some((Pushed::Time { min_t, max_t }, lossless_time(&b.expr)))
        }
        Expr::IsNotNull(inner) => {
            let label = cols.label_of(column_of(inner)?)?;
            let m = Matcher::new(MatchOp::RegexMatch, label, ".+").ok()?;
            Some((Pushed::Matcher(m), lossless_string(inner)))
        }
        Expr::IsNull(inner) => {
            let label = cols.label_of(column_of(inner)?)?;
            Some((Pushed::Matcher(Matcher::equal(label, "")), lossless_string(inner)))
        }
        _ => None,
    }
}

/// Whether `e` is a column read as is or cast to a string type (a label
/// column's values and nulls unchanged).
fn lossless_string(e: &Expr) -> bool {
    let string = |t: &DataType| match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => matches!(**v, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View),
        _ => false,
    };
    match e {
        Expr::Column(_) => true,
        Expr::Cast(c) => string(c.field.data_type()) && lossless_string(&c.expr),
        Expr::TryCast(c) => string(c.field.data_type()) && lossless_string(&c.expr),
        _ => false,
    }
}

/// Whether `e` is the timestamp column read as is or cast to a timestamp
/// of millisecond or finer precision (every value unchanged).
fn lossless_time(e: &Expr) -> bool {
    let fine = |t: &DataType| {
        matches!(t, DataType::Timestamp(TimeUnit::Millisecond | TimeUnit::Microsecond | TimeUnit::Nanosecond, _))
    };
    match e {
        Expr::Column(_) => true,
        Expr::Cast(c) => fine(c.field.data_type()) && lossless_time(&c.expr),
        Expr::TryCast(c) => fine(c.field.data_type()) && lossless_time(&c.expr),
        _ => false,
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

/// A timestamp literal as `floor` and `ceil` of its value in milliseconds.
fn millis(v: &ScalarValue) -> Option<(Timestamp, Timestamp)> {
    let (value, per_ms) = match v {
        ScalarValue::TimestampSecond(Some(s), _) => (s.checked_mul(1000)?, 1),
        ScalarValue::TimestampMillisecond(Some(ms), _) => (*ms, 1),
        ScalarValue::TimestampMicrosecond(Some(us), _) => (*us, 1_000),
        ScalarValue::TimestampNanosecond(Some(ns), _) => (*ns, 1_000_000),
        ScalarValue::Dictionary(_, inner) => return millis(inner),
        _ => return None,
    };
    let floor = value.div_euclid(per_ms);
    Some((floor, floor + i64::from(value.rem_euclid(per_ms) != 0)))
}

/// The millisecond range of the integer times `t` with `t op lit` (`lit`
/// may be finer than a millisecond): exactly the rows the filter keeps.
fn time_filter(op: Operator, lit: &ScalarValue) -> Option<Pushed> {
    let (floor, ceil) = millis(lit)?;
    let (min_t, max_t) = match op {
        Operator::Gt => (floor.saturating_add(1), MAX_TIME),
        Operator::GtEq => (ceil, MAX_TIME),
        Operator::Lt => (MIN_TIME, ceil.saturating_sub(1)),
        Operator::LtEq => (MIN_TIME, floor),
        Operator::Eq => (ceil, floor),
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
        assert_eq!(p.max_t, 4999);
        let shown: Vec<String> = p.matchers.iter().map(|m| format!("{}{:?}{}", m.name, m.op, m.value)).collect();
        assert_eq!(shown, vec!["hostEquala".to_string(), r"dcRegexMatchx\.1|y".to_string()]);
        assert!(!Pushdown::supports(&col("value").gt(lit(1.0)), &Cols));
        assert!(Pushdown::supports(&lit("a").eq(col("host")), &Cols));
    }

    #[test]
    fn sub_millisecond_bounds_keep_exactly_the_matching_milliseconds() {
        let ns = |v| lit(ScalarValue::TimestampNanosecond(Some(v), None));
        let t = || col("timestamp");
        let range = |filters: &[Expr]| {
            let p = Pushdown::from_filters(filters, &Cols);
            (p.min_t, p.max_t)
        };
        // 1.5 ms < t <= 2.5 ms keeps t = 2 ms only.
        assert_eq!(range(&[t().gt(ns(1_500_000)), t().lt_eq(ns(2_500_000))]), (2, 2));
        // 1.5 ms <= t < 2.5 ms likewise; 1 ms <= t < 2 ms keeps 1 ms.
        assert_eq!(range(&[t().gt_eq(ns(1_500_000)), t().lt(ns(2_500_000))]), (2, 2));
        assert_eq!(range(&[t().gt_eq(ns(1_000_000)), t().lt(ns(2_000_000))]), (1, 1));
        assert_eq!(range(&[t().gt(ns(-1_500_000))]).0, -1);
        // t = 1.5 ms keeps nothing: an empty range.
        let (lo, hi) = range(&[t().eq(ns(1_500_000))]);
        assert!(lo > hi);
    }

    #[test]
    fn only_filters_selecting_exactly_the_sql_rows_are_exact() {
        let exact = |e: Expr| Pushdown::exact(&e, &Cols);
        assert!(exact(col("host").eq(lit("a"))));
        assert!(exact(col("host").in_list(vec![lit("a"), lit("b")], false)));
        assert!(exact(col("host").eq(lit("a")).or(col("host").eq(lit("b")))));
        assert!(exact(col("timestamp").gt(ts(1000)).and(col("dc").is_null())));
        assert!(exact(col("dc").is_not_null()));
        // NULL != 'a' is not true, but a series without the label matches host!="a".
        assert!(!exact(col("host").not_eq(lit("a"))));
        // host = '' is never true in SQL (empty labels are nulls).
        assert!(!exact(col("host").eq(lit(""))));
        assert!(!exact(col("host").in_list(vec![lit("a")], true)));
        assert!(!exact(Expr::BinaryExpr(BinaryExpr::new(
            Box::new(col("host")),
            Operator::RegexMatch,
            Box::new(lit("a"))
        ))));
        assert!(!exact(col("value").gt(lit(1.0))));
        assert!(!exact(col("host").eq(lit("a")).and(col("value").gt(lit(1.0)))));
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
