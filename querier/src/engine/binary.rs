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
    if let Some(m) = &b.modifier {
        if matches!(m.card, VectorMatchCardinality::ManyToOne(_) | VectorMatchCardinality::OneToMany(_)) {
            return Err(Error::Unsupported("group_left/group_right".into()));
        }
        if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
            return Err(Error::Unsupported("fill modifiers".into()));
        }
    }
    let _ = op;
    Ok(())
}

/// The matching signature of a series.
fn signature(labels: &Labels, matching: Option<&LabelModifier>) -> Labels {
    let mut out = labels.clone();
    match matching {
        Some(LabelModifier::Include(on)) => out.retain(|l| on.labels.iter().any(|n| *n == l.name)),
        Some(LabelModifier::Exclude(ign)) => out.retain(|l| l.name != METRIC_NAME && !ign.labels.iter().any(|n| *n == l.name)),
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
        (Value::Vector(l), Value::Vector(mut r)) => {
            let matching = b.modifier.as_ref().and_then(|m| m.matching.clone());
            let mut rhs: HashMap<Labels, Vec<StepSeries>> = HashMap::new();
            for s in collect(r.as_mut())? {
                rhs.entry(signature(&s.labels, matching.as_ref())).or_default().push(s);
            }
            Ok(Value::Vector(Box::new(VectorVector {
                lhs: l,
                rhs,
                matching,
                op,
                return_bool,
                lhs_seen: HashMap::new(),
                or_rest: None,
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

/// Vector ∘ vector, one-to-one or set operator.
struct VectorVector<'a> {
    lhs: Box<dyn SeriesStream + 'a>,
    rhs: HashMap<Labels, Vec<StepSeries>>,
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
    fn one_to_one(&mut self, s: StepSeries, sig: Labels) -> Result<Option<StepSeries>> {
        let Some(candidates) = self.rhs.get(&sig) else { return Ok(None) };
        let steps = s.values.len();
        let seen = self.lhs_seen.entry(sig.clone()).or_insert_with(|| vec![false; steps]);
        let mut values = vec![None; steps];
        for (i, lv) in s.values.iter().enumerate() {
            let Some(l) = *lv else { continue };
            let mut matched = candidates.iter().filter_map(|c| c.values[i].map(|r| (c, r)));
            let Some((first, r)) = matched.next() else { continue };
            if let Some((second, _)) = matched.next() {
                return Err(Error::Execution(format!(
                    "found duplicate series for the match group {sig} on the right hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    first.labels, second.labels
                )));
            }
            if std::mem::replace(&mut seen[i], true) {
                return Err(Error::Execution(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                ));
            }
            let (v, keep) = self.op.apply(l, r);
            values[i] = match (self.return_bool, keep) {
                (true, k) if self.op.is_comparison() => Some(f64::from(u8::from(k))),
                (_, true) => Some(v),
                (_, false) => None,
            };
        }
        let mut labels = s.labels;
        if !self.op.is_comparison() || self.return_bool {
            labels.remove(METRIC_NAME);
        }
        match &self.matching {
            Some(LabelModifier::Include(on)) => labels.retain(|l| on.labels.iter().any(|n| *n == l.name)),
            Some(LabelModifier::Exclude(ign)) => labels.retain(|l| !ign.labels.iter().any(|n| *n == l.name)),
            None => {}
        }
        Ok(Some(StepSeries { labels, values }))
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
        while let Some(s) = self.lhs.next_series()? {
            let sig = signature(&s.labels, self.matching.as_ref());
            let out = if self.op.is_set() { Some(self.set_op(s, sig)) } else { self.one_to_one(s, sig)? };
            if let Some(out) = out.filter(StepSeries::has_values) {
                return Ok(Some(out));
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
