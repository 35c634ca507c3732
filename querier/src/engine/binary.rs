//! Binary operators: arithmetic (`+ - * / % ^ atan2`), comparisons (with and
//! without `bool`) and the set operators (`and or unless`) between scalars
//! and vectors. Vector/vector matching materializes the right-hand side as
//! a hash map keyed by the matching signature and streams the left side.

use std::collections::HashMap;

use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use strata_common::Labels;
use strata_common::labels::METRIC_NAME;

use super::ctx::{EvalCtx, SeriesStream, StepSeries, Value, collect};
use super::eval::eval as eval_expr;
use crate::error::{Error, Result};

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl BinOp {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "+" => Self::Add,
            "-" => Self::Sub,
            "*" => Self::Mul,
            "/" => Self::Div,
            "%" => Self::Mod,
            "^" => Self::Pow,
            "atan2" => Self::Atan2,
            "==" => Self::Eq,
            "!=" => Self::Ne,
            ">" => Self::Gt,
            "<" => Self::Lt,
            ">=" => Self::Ge,
            "<=" => Self::Le,
            "and" => Self::And,
            "or" => Self::Or,
            "unless" => Self::Unless,
            _ => return None,
        })
    }

    pub fn is_comparison(self) -> bool {
        matches!(self, Self::Eq | Self::Ne | Self::Gt | Self::Lt | Self::Ge | Self::Le)
    }

    pub fn is_set(self) -> bool {
        matches!(self, Self::And | Self::Or | Self::Unless)
    }

    /// Prometheus `vectorElemBinop`: the value and whether to keep it.
    pub fn apply(self, l: f64, r: f64) -> (f64, bool) {
        match self {
            Self::Add => (l + r, true),
            Self::Sub => (l - r, true),
            Self::Mul => (l * r, true),
            Self::Div => (l / r, true),
            Self::Mod => (l % r, true),
            Self::Pow => (l.powf(r), true),
            Self::Atan2 => (l.atan2(r), true),
            Self::Eq => (l, l == r),
            Self::Ne => (l, l != r),
            Self::Gt => (l, l > r),
            Self::Lt => (l, l < r),
            Self::Ge => (l, l >= r),
            Self::Le => (l, l <= r),
            Self::And | Self::Or | Self::Unless => (l, true),
        }
    }
}

fn op_of(b: &BinaryExpr) -> Result<BinOp> {
    let s = b.op.to_string();
    BinOp::parse(&s).ok_or_else(|| Error::Unsupported(format!("binary operator {s}")))
}

/// Fails for operators and modifiers the engine does not implement yet.
pub fn check(b: &BinaryExpr) -> Result<()> {
    let op = op_of(b)?;
    if let Some(m) = &b.modifier
        && (m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some())
    {
        return Err(Error::Unsupported("fill modifiers".into()));
    }
    let _ = op;
    Ok(())
}

/// The matching signature of a series.
fn signature(labels: &Labels, matching: Option<&LabelModifier>) -> Labels {
    let mut out = labels.clone();
    match matching {
        Some(LabelModifier::Include(on)) => out.retain(|l| on.labels.contains(&l.name)),
        Some(LabelModifier::Exclude(ign)) => out.retain(|l| l.name != METRIC_NAME && !ign.labels.contains(&l.name)),
        None => out.remove(METRIC_NAME),
    }
    out
}

/// Evaluates a binary expression.
pub fn eval<'a>(ctx: &'a EvalCtx, b: &'a BinaryExpr) -> Result<Value<'a>> {
    let op = op_of(b)?;
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let lhs = eval_expr(ctx, &b.lhs)?;
    let rhs = eval_expr(ctx, &b.rhs)?;
    match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => Ok(Value::Scalar(
            l.iter()
                .zip(&r)
                .map(|(&l, &r)| match op.apply(l, r) {
                    (_, keep) if op.is_comparison() => f64::from(u8::from(keep)),
                    (v, _) => v,
                })
                .collect(),
        )),
        (Value::Vector(v), Value::Scalar(s)) => {
            Ok(Value::Vector(Box::new(VectorScalar { inner: v, scalar: s, op, swap: false, return_bool })))
        }
        (Value::Scalar(s), Value::Vector(v)) => {
            Ok(Value::Vector(Box::new(VectorScalar { inner: v, scalar: s, op, swap: true, return_bool })))
        }
        (Value::Vector(l), Value::Vector(r)) => {
            let matching = b.modifier.as_ref().and_then(|m| m.matching.clone());
            let card = b.modifier.as_ref().map_or(VectorMatchCardinality::OneToOne, |m| m.card.clone());
            // The "one" side is materialized, the other streamed.
            let swapped = matches!(card, VectorMatchCardinality::OneToMany(_));
            let (stream, mut one) = if swapped { (r, l) } else { (l, r) };
            let mut rhs: HashMap<Labels, Vec<StepSeries>> = HashMap::new();
            for s in collect(one.as_mut())? {
                rhs.entry(signature(&s.labels, matching.as_ref())).or_default().push(s);
            }
            let include = card.labels().map(|l| l.labels.clone()).unwrap_or_default();
            Ok(Value::Vector(Box::new(VectorVector {
                lhs: stream,
                rhs,
                matching,
                op,
                return_bool,
                swapped,
                one_to_one: matches!(card, VectorMatchCardinality::OneToOne),
                include,
                lhs_seen: HashMap::new(),
                or_rest: None,
                pending: Vec::new(),
            })))
        }
        _ => Err(Error::BadData(format!("operator {} is not defined on strings", b.op))),
    }
}

/// Vector ∘ scalar, per step.
struct VectorScalar<'a> {
    inner: Box<dyn SeriesStream + 'a>,
    scalar: Vec<f64>,
    op: BinOp,
    swap: bool,
    return_bool: bool,
}

impl SeriesStream for VectorScalar<'_> {
    fn next_series(&mut self) -> Result<Option<StepSeries>> {
        while let Some(mut s) = self.inner.next_series()? {
            for (v, &sc) in s.values.iter_mut().zip(&self.scalar) {
                let Some(x) = *v else { continue };
                let (l, r) = if self.swap { (sc, x) } else { (x, sc) };
                let (mut out, keep) = self.op.apply(l, r);
                if self.op.is_comparison() && self.swap {
                    out = x; // the vector element's value is kept, even on the right
                }
                *v = match (self.return_bool, keep) {
                    (true, k) if self.op.is_comparison() => Some(f64::from(u8::from(k))),
                    (_, true) => Some(out),
                    (_, false) => None,
                };
            }
            if !s.has_values() {
                continue;
            }
            if !self.op.is_comparison() || self.return_bool {
                s.labels.remove(METRIC_NAME);
            }
            return Ok(Some(s));
        }
        Ok(None)
    }
}

/// Vector ∘ vector: one-to-one, many-to-one / one-to-many, or a set
/// operator. `lhs` is the streamed ("many") side and `rhs` the materialized
/// ("one") side; for `group_right` they are the original right and left.
struct VectorVector<'a> {
    lhs: Box<dyn SeriesStream + 'a>,
    rhs: HashMap<Labels, Vec<StepSeries>>,
    /// `group_right`: the streamed side is the original right-hand side.
    swapped: bool,
    one_to_one: bool,
    /// `group_left(...)` / `group_right(...)` labels copied from the one side.
    include: Vec<String>,
    /// Output series produced but not yet returned.
    pending: Vec<StepSeries>,
    matching: Option<LabelModifier>,
    op: BinOp,
    return_bool: bool,
    /// Per signature, the steps a left series already matched (or, for
    /// `or`, had a value at).
    lhs_seen: HashMap<Labels, Vec<bool>>,
    /// For `or`: the right side still to emit once the left is exhausted.
    or_rest: Option<std::vec::IntoIter<StepSeries>>,
}

impl VectorVector<'_> {
    /// Matches one streamed series; pushes its output series to `pending`.
    fn match_series(&mut self, s: StepSeries, sig: Labels) -> Result<()> {
        let Some(candidates) = self.rhs.get(&sig) else { return Ok(()) };
        let steps = s.values.len();
        let mut seen = self.lhs_seen.remove(&sig).unwrap_or_else(|| vec![false; steps]);
        // Output series per matched one-side candidate (their labels may differ).
        let mut outs: Vec<(usize, StepSeries)> = Vec::new();
        for (i, lv) in s.values.iter().enumerate() {
            let Some(many) = *lv else { continue };
            let mut matched = candidates.iter().enumerate().filter_map(|(k, c)| c.values[i].map(|r| (k, c, r)));
            let Some((k, first, one)) = matched.next() else { continue };
            if let Some((_, second, _)) = matched.next() {
                let side = if self.swapped { "left" } else { "right" };
                return Err(Error::Execution(format!(
                    "found duplicate series for the match group {sig} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    first.labels, second.labels
                )));
            }
            if self.one_to_one && std::mem::replace(&mut seen[i], true) {
                return Err(Error::Execution(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                        .into(),
                ));
            }
            let (l, r) = if self.swapped { (one, many) } else { (many, one) };
            let (v, keep) = self.op.apply(l, r);
            let value = match (self.return_bool, keep) {
                (true, k) if self.op.is_comparison() => Some(f64::from(u8::from(k))),
                (_, true) => Some(v),
                (_, false) => None,
            };
            let out = match outs.iter().position(|(c, _)| *c == k) {
                Some(p) => &mut outs[p].1,
                None => {
                    let labels = self.result_labels(&s.labels, &first.labels);
                    outs.push((k, StepSeries { labels, values: vec![None; steps] }));
                    // Invariant: an element was pushed on the line above.
                    &mut outs.last_mut().expect("just pushed").1
                }
            };
            out.values[i] = value;
        }
        self.lhs_seen.insert(sig, seen);
        self.pending.extend(outs.into_iter().map(|(_, s)| s).filter(StepSeries::has_values));
        Ok(())
    }

    /// Prometheus `resultMetric`: the streamed side's labels, adjusted.
    fn result_labels(&self, many: &Labels, one: &Labels) -> Labels {
        let mut labels = many.clone();
        if !self.op.is_comparison() || self.return_bool {
            labels.remove(METRIC_NAME);
        }
        if self.one_to_one {
            match &self.matching {
                Some(LabelModifier::Include(on)) => labels.retain(|l| on.labels.contains(&l.name)),
                Some(LabelModifier::Exclude(ign)) => labels.retain(|l| !ign.labels.contains(&l.name)),
                None => {}
            }
        }
        for name in &self.include {
            match one.get(name) {
                Some(v) => labels.set(name, v),
                None => labels.remove(name),
            }
        }
        labels
    }

    fn set_op(&mut self, mut s: StepSeries, sig: Labels) -> StepSeries {
        let rhs_has = |i: usize| self.rhs.get(&sig).is_some_and(|c| c.iter().any(|c| c.values[i].is_some()));
        let steps = s.values.len();
        match self.op {
            BinOp::And | BinOp::Unless => {
                let want = self.op == BinOp::And;
                for i in 0..steps {
                    if s.values[i].is_some() && rhs_has(i) != want {
                        s.values[i] = None;
                    }
                }
            }
            _ => {
                let seen = self.lhs_seen.entry(sig).or_insert_with(|| vec![false; steps]);
                for (i, v) in s.values.iter().enumerate() {
                    seen[i] |= v.is_some();
                }
            }
        }
        s
    }
}

impl SeriesStream for VectorVector<'_> {
    fn next_series(&mut self) -> Result<Option<StepSeries>> {
        if let Some(rest) = &mut self.or_rest {
            for mut s in rest.by_ref() {
                let sig = signature(&s.labels, self.matching.as_ref());
                if let Some(seen) = self.lhs_seen.get(&sig) {
                    for (v, &lhs_had) in s.values.iter_mut().zip(seen) {
                        if lhs_had {
                            *v = None;
                        }
                    }
                }
                if s.has_values() {
                    return Ok(Some(s));
                }
            }
            return Ok(None);
        }
        loop {
            if let Some(out) = self.pending.pop() {
                return Ok(Some(out));
            }
            let Some(s) = self.lhs.next_series()? else { break };
            let sig = signature(&s.labels, self.matching.as_ref());
            if self.op.is_set() {
                let out = self.set_op(s, sig);
                if out.has_values() {
                    return Ok(Some(out));
                }
            } else {
                self.match_series(s, sig)?;
            }
        }
        if self.op == BinOp::Or {
            let rest: Vec<StepSeries> = std::mem::take(&mut self.rhs).into_values().flatten().collect();
            self.or_rest = Some(rest.into_iter());
            return self.next_series();
        }
        Ok(None)
    }
}
