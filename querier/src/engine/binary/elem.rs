//! One step's element of a series (a float or a native histogram) and
//! Prometheus 3's `vectorElemBinop` over such elements: floats as before;
//! `histogram * float`, `float * histogram` and `histogram / float` scale
//! the histogram; `histogram ± histogram` add or subtract (the difference
//! is a gauge histogram); `==` / `!=` between histograms compare them;
//! every other mix is dropped with Prometheus's info annotation, as is a
//! sum of histograms that cannot be combined (mixed exponential and custom
//! buckets: a warning there); conflicting reset hints (warning) and
//! reconciled custom bounds (info) are annotated too.

use std::sync::Arc;

use strata_common::histogram::{Histogram, ResetHint};

use super::BinOp;
use crate::engine::annotations::{Annotation, HistOp, PositionRange, key};
use crate::engine::ctx::{EvalCtx, StepSeries};

/// The element of a series at one step.
#[derive(Debug, Clone, Copy)]
pub enum Elem<'a> {
    /// A float sample.
    F(f64),
    /// A native-histogram sample.
    H(&'a Arc<Histogram>),
}

/// The element of `s` at step `i`, if any.
#[inline]
pub fn elem(s: &StepSeries, i: usize) -> Option<Elem<'_>> {
    match s.values[i] {
        Some(v) => Some(Elem::F(v)),
        None => s.hist_at(i).map(Elem::H),
    }
}

/// Whether `s` has an element at step `i`.
#[inline]
pub fn present(s: &StepSeries, i: usize) -> bool {
    s.values[i].is_some() || s.hist_at(i).is_some()
}

/// Removes the element of `s` at step `i`.
#[inline]
pub fn clear(s: &mut StepSeries, i: usize) {
    s.values[i] = None;
    if let Some(h) = &mut s.hist {
        h[i] = None;
    }
}

/// An owned result element.
#[derive(Debug, Clone)]
pub enum Out {
    /// A float.
    F(f64),
    /// A histogram.
    H(Arc<Histogram>),
}

/// Stores `out` at step `i` of `s` (allocating its histogram column on the
/// first histogram).
pub fn set(s: &mut StepSeries, i: usize, out: Option<Out>) {
    match out {
        None => clear(s, i),
        Some(Out::F(v)) => {
            s.values[i] = Some(v);
            if let Some(h) = &mut s.hist {
                h[i] = None;
            }
        }
        Some(Out::H(h)) => {
            s.values[i] = None;
            let steps = s.values.len();
            s.hist.get_or_insert_with(|| vec![None; steps])[i] = Some(h);
        }
    }
}

/// Whether two histograms are equal as Prometheus's `Equals` sees them
/// (compacted; the reset hint and integer-ness do not count).
pub fn hist_equal(a: &Histogram, b: &Histogram) -> bool {
    let (a, b) = (a.compact(), b.compact());
    a.schema == b.schema
        && a.count == b.count
        && a.sum.to_bits() == b.sum.to_bits()
        && (!a.uses_custom_buckets() || a.custom_values == b.custom_values)
        && a.zero_threshold == b.zero_threshold
        && a.zero_count == b.zero_count
        && a.positive_spans == b.positive_spans
        && a.negative_spans == b.negative_spans
        && a.positive_buckets == b.positive_buckets
        && a.negative_buckets == b.negative_buckets
}

/// `l op r` for elements of which at least one is a histogram, or floats:
/// the result, or `None` when the pair is filtered out or undefined.
/// `return_bool` turns a comparison into 0/1.
/// Annotates what Prometheus does (an undefined pair, conflicting reset
/// hints, reconciled custom bounds, incompatible layouts) on `ctx`, about
/// the binary expression at `pos`.
pub fn combine(
    ctx: &EvalCtx,
    op: BinOp,
    pos: PositionRange,
    return_bool: bool,
    l: Elem<'_>,
    r: Elem<'_>,
) -> Option<Out> {
    let incompatible = |l: &str, r: &str| {
        let k = key(1, &[l, op.as_str(), r], 0);
        ctx.annotate_once(k, pos, || Annotation::incompatible_types_in_binop(l, op.as_str(), r));
        (None, false)
    };
    let (value, keep) = match (l, r) {
        (Elem::F(_), Elem::F(_)) if op.is_trim() => incompatible("float", "float"),
        (Elem::F(l), Elem::F(r)) => {
            let (v, keep) = op.apply(l, r);
            (Some(Out::F(v)), keep)
        }
        (Elem::F(f), Elem::H(h)) => match op {
            BinOp::Mul => (Some(Out::H(Arc::new(h.scale(f).compact()))), true),
            _ => incompatible("float", "histogram"),
        },
        (Elem::H(h), Elem::F(f)) => match op {
            BinOp::Mul => (Some(Out::H(Arc::new(h.scale(f).compact()))), true),
            BinOp::Div => (Some(Out::H(Arc::new(divide(h, f)))), true),
            BinOp::TrimUpper | BinOp::TrimLower => (Some(Out::H(Arc::new(h.trim(f, op == BinOp::TrimUpper)))), true),
            _ => incompatible("histogram", "float"),
        },
        (Elem::H(a), Elem::H(b)) => match op {
            BinOp::Add | BinOp::Sub => {
                let hop = if op == BinOp::Add { HistOp::Add } else { HistOp::Sub };
                let result = if op == BinOp::Add { a.add(b) } else { a.sub(b) };
                match result {
                    Ok(mut h) => {
                        note_pair(ctx, pos, a, b, hop);
                        if op == BinOp::Sub {
                            h.hint = ResetHint::Gauge;
                        }
                        (Some(Out::H(Arc::new(h.compact()))), true)
                    }
                    Err(_) => {
                        let k = key(2, &[op.as_str()], 0);
                        ctx.annotate_once(k, pos, || Annotation::incompatible_bucket_layout_in_binop(op.as_str()));
                        (None, true)
                    }
                }
            }
            BinOp::Eq => (Some(Out::H(Arc::clone(a))), hist_equal(a, b)),
            BinOp::Ne => (Some(Out::H(Arc::clone(a))), !hist_equal(a, b)),
            _ => incompatible("histogram", "histogram"),
        },
    };
    // An undefined pair has no result, even with `bool`.
    let value = value?;
    match (return_bool, keep) {
        (true, k) if op.is_comparison() => Some(Out::F(f64::from(u8::from(k)))),
        (_, true) => Some(value),
        (_, false) => None,
    }
}

/// The reset hint of `acc + other` (or `acc - other`) and whether the two
/// hints collide (a counter reset with a not-reset), as Prometheus's
/// `adjustCounterReset`: equal hints stay, a gauge wins, then unknown.
pub fn adjust_hint(acc: ResetHint, other: ResetHint) -> (ResetHint, bool) {
    use ResetHint::{Gauge, NotReset, Reset, Unknown};
    match (acc, other) {
        _ if acc == other => (acc, false),
        (Gauge, _) | (_, Gauge) => (Gauge, false),
        (Unknown, _) | (_, Unknown) => (Unknown, false),
        (Reset, NotReset) | (NotReset, Reset) => (Reset, true),
        _ => (acc, false),
    }
}

/// Whether adding or subtracting `a` and `b` combines a counter-reset hint
/// with a not-reset one.
pub fn reset_collision(a: &Histogram, b: &Histogram) -> bool {
    adjust_hint(a.hint, b.hint).1
}

/// Whether combining `a` and `b` reconciles different custom bucket bounds.
pub fn reconciles_bounds(a: &Histogram, b: &Histogram) -> bool {
    a.uses_custom_buckets() && b.uses_custom_buckets() && a.custom_values != b.custom_values
}

/// Annotates a successful `a op b` of two histograms: conflicting reset
/// hints (warning) and reconciled custom bounds (info), as Prometheus,
/// about the expression at `pos`.
pub fn note_pair(ctx: &EvalCtx, pos: PositionRange, a: &Histogram, b: &Histogram, op: HistOp) {
    if reset_collision(a, b) {
        ctx.annotate_once(key(3, &[], op as u64), pos, || Annotation::counter_reset_collision(op));
    }
    if reconciles_bounds(a, b) {
        ctx.annotate_once(key(4, &[], op as u64), pos, || Annotation::mismatched_custom_buckets(op));
    }
}

/// `h / f` as Prometheus's `Div`: a division by zero removes every bucket.
pub fn divide(h: &Histogram, f: f64) -> Histogram {
    if f == 0.0 {
        let mut out = h.scale(1.0);
        out.zero_count /= f;
        out.count /= f;
        out.sum /= f;
        out.positive_spans.clear();
        out.positive_buckets.clear();
        out.negative_spans.clear();
        out.negative_buckets.clear();
        return out;
    }
    let mut out = h.scale(1.0);
    out.zero_count /= f;
    out.count /= f;
    out.sum /= f;
    out.positive_buckets.iter_mut().chain(out.negative_buckets.iter_mut()).for_each(|c| *c /= f);
    out.compact()
}
