//! `limitk(k, v)` and `limit_ratio(r, v)`: sampling aggregations that keep
//! input series unchanged. Both stream: `limitk` keeps, per group and step,
//! the first `k` values in input (label) order and holds only a counter per
//! group and step; `limit_ratio` decides per series from the hash of its
//! labels, exactly as Prometheus does, so `limit_ratio(r, v)` and
//! `limit_ratio(-(1 - r), v)` are complements.

use std::collections::HashMap;

use promql_parser::parser::AggregateExpr;
use strata_common::Labels;

use super::group_labels;
use crate::engine::annotations::Annotation;
use crate::engine::binary::elem::{clear, present};
use crate::engine::ctx::{BoxStream, EvalCtx, Reservation, SeriesStream, StepSeries, Value, labels_bytes};
use crate::engine::eval::eval as eval_expr;
use crate::error::{Error, Result};

/// The scalar parameter of `a`, one value per step.
fn param(ctx: &EvalCtx, a: &AggregateExpr) -> Result<Vec<f64>> {
    match a.param.as_deref().map(|p| eval_expr(ctx, p)).transpose()? {
        Some(Value::Scalar(v)) => Ok(v),
        _ => Err(Error::BadData(format!("{} needs a scalar parameter", a.op))),
    }
}

/// `limitk`: the first `k` series per group and step.
pub fn limitk<'a>(ctx: &'a EvalCtx, a: &'a AggregateExpr, input: BoxStream<'a>) -> Result<Value<'a>> {
    let k = param(ctx, a)?;
    if k.iter().any(|k| k.is_nan()) {
        return Err(Error::Execution("Parameter value is NaN".into()));
    }
    // Prometheus converts k to an int64, saturating; below 1 keeps nothing.
    let k = k.into_iter().map(|k| k.clamp(0.0, u32::MAX as f64) as u32).collect();
    Ok(Value::Vector(Box::new(Limitk { ctx, a, input, k, taken: HashMap::new(), held: ctx.reservation() })))
}

struct Limitk<'a> {
    ctx: &'a EvalCtx,
    a: &'a AggregateExpr,
    input: BoxStream<'a>,
    k: Vec<u32>,
    /// Per group: values taken so far at each step.
    taken: HashMap<Labels, Vec<u32>>,
    held: Reservation,
}

impl SeriesStream for Limitk<'_> {
    fn next_series(&mut self) -> Result<Option<StepSeries>> {
        while let Some(mut s) = self.input.next_series()? {
            self.ctx.check_deadline()?;
            let key = group_labels(&s.labels, self.a.modifier.as_ref());
            if !self.taken.contains_key(&key) {
                self.held.grow(0, labels_bytes(&key) + 4 * self.k.len() as u64)?;
            }
            let taken = self.taken.entry(key).or_insert_with(|| vec![0; self.k.len()]);
            for (i, (n, k)) in taken.iter_mut().zip(&self.k).enumerate() {
                if present(&s, i) {
                    if *n < *k {
                        *n += 1;
                    } else {
                        clear(&mut s, i);
                    }
                }
            }
            if s.has_values() {
                return Ok(Some(s));
            }
        }
        Ok(None)
    }
}

/// `limit_ratio`: each series is in or out per step by its label hash.
pub fn limit_ratio<'a>(ctx: &'a EvalCtx, a: &'a AggregateExpr, input: BoxStream<'a>) -> Result<Value<'a>> {
    let r = param(ctx, a)?;
    if r.iter().any(|r| r.is_nan()) {
        return Err(Error::Execution("Ratio value is NaN".into()));
    }
    // Prometheus caps the ratio to [-1, 1] (with a warning).
    let (lo, hi) = r.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    let pos = a.param.as_deref().map(|p| p.position_range()).unwrap_or_default();
    if hi > 1.0 {
        ctx.annotate(pos, Annotation::invalid_ratio(hi, 1.0));
    }
    if lo < -1.0 {
        ctx.annotate(pos, Annotation::invalid_ratio(lo, -1.0));
    }
    let ratio = r.into_iter().map(|r| r.clamp(-1.0, 1.0)).collect();
    Ok(Value::Vector(Box::new(LimitRatio { input, ratio })))
}

struct LimitRatio<'a> {
    input: BoxStream<'a>,
    ratio: Vec<f64>,
}

impl SeriesStream for LimitRatio<'_> {
    fn next_series(&mut self) -> Result<Option<StepSeries>> {
        while let Some(mut s) = self.input.next_series()? {
            let offset = sample_offset(&s.labels);
            for (i, &r) in self.ratio.iter().enumerate() {
                let keep = (r >= 0.0 && offset < r) || (r < 0.0 && offset >= 1.0 + r);
                if !keep {
                    clear(&mut s, i);
                }
            }
            if s.has_values() {
                return Ok(Some(s));
            }
        }
        Ok(None)
    }
}

/// Prometheus `HashRatioSampler.sampleOffset`: the labels' hash scaled to
/// `[0, 1]`.
fn sample_offset(labels: &Labels) -> f64 {
    labels_hash(labels) as f64 / u64::MAX as f64
}

/// Prometheus `labels.Labels.Hash`: xxHash64 of `name 0xff value 0xff ...`.
pub fn labels_hash(labels: &Labels) -> u64 {
    let mut h = xxhash_rust::xxh64::Xxh64::new(0);
    for l in labels.iter() {
        h.update(l.name.as_bytes());
        h.update(&[0xff]);
        h.update(l.value.as_bytes());
        h.update(&[0xff]);
    }
    h.digest()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_hash_is_xxhash64_of_the_separated_pairs() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a")]).unwrap();
        let flat = b"__name__\xffup\xffjob\xffa\xff";
        assert_eq!(labels_hash(&l), xxhash_rust::xxh64::xxh64(flat, 0));
        // Reference value: xxh64 of the empty input with seed 0.
        assert_eq!(labels_hash(&Labels::empty()), 0xef46_db37_51d8_e999);
    }
}
