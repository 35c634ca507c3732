//! Binary operators: arithmetic (`+ - * / % ^ atan2`), comparisons (with and
//! without `bool`), the histogram trim operators (`</ >/`, native
//! histograms only) and the set operators (`and or unless`) between scalars
//! and vectors. Vector/vector matching materializes the right-hand side as
//! a hash map keyed by the matching signature and streams the other side
//! (see `binary/vector.rs`).

pub mod elem;
mod vector;

use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use strata_common::Labels;
use strata_common::labels::METRIC_NAME;

use super::ctx::{self, EvalCtx, SeriesStream, StepSeries, Value};
use super::eval::eval as eval_expr;
use crate::error::{Error, Result};

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `atan2`
    Atan2,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `<`
    Lt,
    /// `>=`
    Ge,
    /// `<=`
    Le,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
    /// `</`: a native histogram's observations below a value.
    TrimUpper,
    /// `>/`: a native histogram's observations above a value.
    TrimLower,
}

impl BinOp {
    /// The operator spelled `s` in PromQL.
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
            "</" => Self::TrimUpper,
            ">/" => Self::TrimLower,
            _ => return None,
        })
    }

    /// The operator as PromQL spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "+",
            Self::Sub => "-",
            Self::Mul => "*",
            Self::Div => "/",
            Self::Mod => "%",
            Self::Pow => "^",
            Self::Atan2 => "atan2",
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Gt => ">",
            Self::Lt => "<",
            Self::Ge => ">=",
            Self::Le => "<=",
            Self::And => "and",
            Self::Or => "or",
            Self::Unless => "unless",
            Self::TrimUpper => "</",
            Self::TrimLower => ">/",
        }
    }

    /// `==`, `!=`, `>`, `<`, `>=` or `<=`.
    pub fn is_comparison(self) -> bool {
        matches!(self, Self::Eq | Self::Ne | Self::Gt | Self::Lt | Self::Ge | Self::Le)
    }

    /// `</` or `>/`.
    pub fn is_trim(self) -> bool {
        matches!(self, Self::TrimUpper | Self::TrimLower)
    }

    /// Whether a result keeps the metric name without `bool`: comparisons
    /// and trims (Prometheus's `changesMetricSchema` is false for them).
    pub fn keeps_name(self) -> bool {
        self.is_comparison() || self.is_trim()
    }

    /// `and`, `or` or `unless`.
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
            // Defined on histograms only (see `elem::combine`).
            Self::TrimUpper | Self::TrimLower => (l, false),
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
pub(super) fn signature(labels: &Labels, matching: Option<&LabelModifier>) -> Labels {
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
    // Annotations point at the whole expression (its left operand's start).
    let pos = promql_parser::parser::PositionRange::new(b.lhs.position_range().start, b.rhs.position_range().end);
    // Trimming reads buckets (as Prometheus, not a stats-only read).
    let (lhs, rhs) = if op.is_trim() {
        ctx.without_hist_stats(|| Ok::<_, Error>((eval_expr(ctx, &b.lhs)?, eval_expr(ctx, &b.rhs)?)))?
    } else {
        (eval_expr(ctx, &b.lhs)?, eval_expr(ctx, &b.rhs)?)
    };
    match (lhs, rhs) {
        // Prometheus: "operator not allowed for Scalar operations".
        (Value::Scalar(_), Value::Scalar(_)) if op.is_trim() => {
            Err(Error::Execution(format!("operator \"{}\" not allowed for Scalar operations", op.as_str())))
        }
        (Value::Scalar(l), Value::Scalar(r)) => Ok(Value::Scalar({
            ctx.hold_steps(super::eval::SCALAR_BYTES)?;
            l.iter()
                .zip(&r)
                .map(|(&l, &r)| match op.apply(l, r) {
                    (_, keep) if op.is_comparison() => f64::from(u8::from(keep)),
                    (v, _) => v,
                })
                .collect()
        })),
        (Value::Vector(v), Value::Scalar(s)) => {
            Ok(Value::Vector(Box::new(VectorScalar { ctx, inner: v, scalar: s, op, swap: false, return_bool, pos })))
        }
        (Value::Scalar(s), Value::Vector(v)) => {
            Ok(Value::Vector(Box::new(VectorScalar { ctx, inner: v, scalar: s, op, swap: true, return_bool, pos })))
        }
        (Value::Vector(l), Value::Vector(r)) => {
            let matching = b.modifier.as_ref().and_then(|m| m.matching.clone());
            let card = b.modifier.as_ref().map_or(VectorMatchCardinality::OneToOne, |m| m.card.clone());
            Ok(Value::Vector(vector::build(ctx, op, pos, return_bool, matching, card, l, r)?))
        }
        _ => Err(Error::BadData(format!("operator {} is not defined on strings", b.op))),
    }
}

impl VectorScalar<'_> {
    /// The steps of `s` that hold histograms ([`elem::combine`]); its
    /// float steps are left to the float loop.
    fn with_histograms(&self, s: &mut StepSeries) {
        let Some(col) = s.hist.take() else { return };
        let mut out: ctx::HistColumn = vec![None; col.len()];
        for (i, h) in col.iter().enumerate() {
            let Some(h) = h else { continue };
            let (sc, x) = (elem::Elem::F(self.scalar[i]), elem::Elem::H(h));
            let (l, r) = if self.swap { (sc, x) } else { (x, sc) };
            match elem::combine(self.ctx, self.op, self.pos, self.return_bool, l, r) {
                Some(elem::Out::H(h)) => out[i] = Some(h),
                Some(elem::Out::F(v)) => s.values[i] = Some(v),
                None => {}
            }
        }
        if out.iter().any(Option::is_some) {
            s.hist = Some(out);
        }
    }
}

/// Vector ∘ scalar, per step.
struct VectorScalar<'a> {
    ctx: &'a EvalCtx,
    inner: Box<dyn SeriesStream + 'a>,
    scalar: Vec<f64>,
    op: BinOp,
    swap: bool,
    return_bool: bool,
    /// The binary expression (where annotations point).
    pos: promql_parser::parser::PositionRange,
}

impl SeriesStream for VectorScalar<'_> {
    fn next_series(&mut self) -> Result<Option<StepSeries>> {
        while let Some(mut s) = self.inner.next_series()? {
            for (v, &sc) in s.values.iter_mut().zip(&self.scalar) {
                let Some(x) = *v else { continue };
                if self.op.is_trim() {
                    // Floats are not trimmed (Prometheus's info).
                    elem::combine(self.ctx, self.op, self.pos, false, elem::Elem::F(x), elem::Elem::F(sc));
                    *v = None;
                    continue;
                }
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
            if s.hist.is_some() {
                self.with_histograms(&mut s);
            }
            if !s.has_values() {
                continue;
            }
            if !self.op.keeps_name() || self.return_bool {
                s.labels.remove(METRIC_NAME);
            }
            return Ok(Some(s));
        }
        Ok(None)
    }
}
