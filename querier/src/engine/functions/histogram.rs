//! `histogram_quantile` over classic (`le`-labelled bucket) histograms,
//! with Prometheus's bucket coalescing, monotonicity repair and linear
//! interpolation inside the chosen bucket; native histograms in its input
//! are answered by [`strata_common::histogram::Histogram::quantile`].

use std::collections::HashMap;

use promql_parser::parser::{Call, Expr};
use strata_common::Labels;
use strata_common::labels::METRIC_NAME;

use strata_common::histogram::Histogram;

use super::{FnDef, Kind};
use crate::engine::annotations::{Annotation, PositionRange, key};
use crate::engine::ctx::{EvalCtx, SeriesStream, StepSeries, Value, VecStream, labels_bytes, new_series_bytes};
use crate::engine::eval::{eval, unparen};
use crate::engine::numeric::almost_equal_eps;
use crate::error::{Error, Result};

/// One histogram's buckets at one step: `(upper bound, cumulative count)`.
type Buckets = Vec<(f64, f64)>;

/// The label holding a bucket's upper bound.
const BUCKET_LABEL: &str = "le";

/// Prometheus `BucketQuantile`; `buckets` are `(upper bound, cumulative count)`.
pub fn bucket_quantile(q: f64, buckets: &mut Buckets) -> f64 {
    bucket_quantile_checked(q, buckets).0
}

/// Buckets whose counts decreased and were forced up: the lowest and
/// highest such upper bound and the largest decrease.
type Forced = (f64, f64, f64);

/// [`bucket_quantile`], also saying whether counts had to be forced to be
/// monotonic (beyond float noise), for Prometheus's info annotation.
pub fn bucket_quantile_checked(q: f64, buckets: &mut Buckets) -> (f64, Option<Forced>) {
    let mut forced: Option<Forced> = None;
    let v = quantile_inner(q, buckets, &mut forced);
    (v, forced)
}

fn quantile_inner(q: f64, buckets: &mut Buckets, forced: &mut Option<Forced>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if !sort_and_coalesce(buckets) {
        return f64::NAN;
    }
    // Counts must not decrease: repair float noise and resets.
    let mut prev = buckets[0].1;
    for b in buckets.iter_mut().skip(1) {
        if b.1 == prev {
            continue;
        }
        if almost_equal_eps(prev, b.1, 1e-12) {
            b.1 = prev;
            continue;
        }
        if b.1 < prev {
            let f = forced.get_or_insert((f64::INFINITY, f64::NEG_INFINITY, 0.0));
            *f = (f.0.min(b.0), f.1.max(b.0), f.2.max(prev - b.1));
            b.1 = prev;
            continue;
        }
        prev = b.1;
    }
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let last = buckets.len() - 1;
    let b = buckets[..last].partition_point(|b| b.1 < rank);
    if b == last {
        return buckets[last - 1].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let (mut start, end, mut count) = (0.0, buckets[b].0, buckets[b].1);
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

fn histogram_quantile<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
    let args = &call.args.args;
    let (Some(q), Some(v)) = (args.first(), args.get(1)) else {
        return Err(Error::BadData("histogram_quantile needs 2 arguments".into()));
    };
    let Value::Scalar(q) = eval(ctx, q)? else {
        return Err(Error::BadData("expected a scalar as argument 1 of histogram_quantile".into()));
    };
    let Value::Vector(input) = ctx.without_hist_stats(|| eval(ctx, v))? else {
        return Err(Error::BadData("expected an instant vector as argument 2 of histogram_quantile".into()));
    };
    // One warning per distinct invalid quantile, as Prometheus per step.
    for &q in &q {
        if q.is_nan() || !(0.0..=1.0).contains(&q) {
            ctx.annotate_once(key(6, &[], q.to_bits()), args[0].position_range(), || Annotation::invalid_quantile(q));
        }
    }
    let q2 = q.clone();
    // Prometheus points the histograms' annotations at the vector argument.
    let pos = args[1].position_range();
    let classic = move |i: usize, b: &mut Buckets, name: &str| {
        let (v, forced) = bucket_quantile_checked(q[i], b);
        if let Some((lo, hi, diff)) = forced {
            ctx.annotate(pos, Annotation::forced_monotonicity(name, ctx.ts(i), lo, hi, diff));
        }
        v
    };
    let native = move |i: usize, h: &Histogram, name: &str| native_quantile(ctx, pos, q2[i], h, name);
    classic_and_native(ctx, input, pos, classic, native)
}

/// The `q` quantile of native histogram `h`, with Prometheus's infos about
/// NaN observations (at `pos`).
fn native_quantile(ctx: &EvalCtx, pos: PositionRange, q: f64, h: &Histogram, name: &str) -> f64 {
    let v = h.quantile(q);
    if h.sum.is_nan() && h.count > 0.0 && (0.0..=1.0).contains(&q) {
        if v.is_nan() {
            ctx.annotate_once(key(7, &[name], 0), pos, || Annotation::quantile_nan_result(name));
        } else if bucket_total(h) < h.count {
            ctx.annotate_once(key(8, &[name], 0), pos, || Annotation::quantile_nan_skew(name));
        }
    }
    v
}

/// Observations in a native histogram's buckets (NaN observations are in none).
fn bucket_total(h: &Histogram) -> f64 {
    h.zero_count + h.positive_buckets.iter().sum::<f64>() + h.negative_buckets.iter().sum::<f64>()
}

/// `histogram_fraction(lower, upper, v)`: classic histograms through
/// [`bucket_fraction`], native ones through
/// [`strata_common::histogram::Histogram::fraction`].
pub fn histogram_fraction<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
    let args = &call.args.args;
    let (Some(lo), Some(hi), Some(v)) = (args.first(), args.get(1), args.get(2)) else {
        return Err(Error::BadData("histogram_fraction needs 3 arguments".into()));
    };
    let (Value::Scalar(lo), Value::Scalar(hi)) = (eval(ctx, lo)?, eval(ctx, hi)?) else {
        return Err(Error::BadData("expected scalars as arguments 1 and 2 of histogram_fraction".into()));
    };
    let Value::Vector(input) = ctx.without_hist_stats(|| eval(ctx, v))? else {
        return Err(Error::BadData("expected an instant vector as argument 3 of histogram_fraction".into()));
    };
    let (lo2, hi2) = (lo.clone(), hi.clone());
    let pos = args[2].position_range();
    let native = move |i: usize, h: &Histogram, name: &str| {
        let (l, u) = (lo2[i], hi2[i]);
        if h.sum.is_nan() && h.count != 0.0 && l < u && bucket_total(h) < h.count {
            ctx.annotate_once(key(9, &[name], 0), pos, || Annotation::fraction_nans(name));
        }
        h.fraction(l, u)
    };
    classic_and_native(ctx, input, pos, move |i, b: &mut Buckets, _: &str| bucket_fraction(lo[i], hi[i], b), native)
}

/// A bucket's `le` value as Prometheus reads it (Go's `ParseFloat`: no
/// surrounding spaces; `+Inf`, `Inf`, `NaN` accepted in any case).
fn parse_le(v: &str) -> Option<f64> {
    v.trim().parse::<f64>().ok()
}

/// Sorts classic buckets by upper bound and adds up equal bounds; false
/// when the highest bound is not +Inf (the histogram is not valid).
fn sort_and_coalesce(buckets: &mut Buckets) -> bool {
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return false;
    }
    buckets.dedup_by(|b, a| {
        let same = a.0 == b.0;
        if same {
            a.1 += b.1;
        }
        same
    });
    true
}

/// Prometheus `BucketFraction`: the estimated share of a classic
/// histogram's observations between `lower` and `upper` (linear
/// interpolation; the first bucket starts at 0 when its bound is positive).
pub fn bucket_fraction(lower: f64, upper: f64, buckets: &mut Buckets) -> f64 {
    if !sort_and_coalesce(buckets) {
        return f64::NAN;
    }
    let count = buckets[buckets.len() - 1].1;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let mut lower_bound = if buckets[0].0 <= 0.0 { f64::NEG_INFINITY } else { 0.0 };
    for (i, &(upper_bound, c)) in buckets.iter().enumerate() {
        if i > 0 {
            lower_bound = buckets[i - 1].0;
        }
        let linear = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                return c;
            }
            rank + (c - rank) * (v - lower_bound) / (upper_bound - lower_bound)
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = linear(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = linear(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = c;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

/// Evaluates a histogram reading over `input`: classic histograms (series
/// with an `le` label, grouped by their other labels) through `classic`,
/// native histograms through `native`, per step `i`. The output drops the
/// metric name; annotations point at the histogram argument `pos`; two
/// outputs that then have the same labels and a value at
/// one step are Prometheus's "same labelset" error (histograms of two
/// metrics that differ only by name).
fn classic_and_native<'a>(
    ctx: &'a EvalCtx,
    mut input: Box<dyn SeriesStream + 'a>,
    pos: PositionRange,
    classic: impl Fn(usize, &mut Buckets, &str) -> f64,
    native: impl Fn(usize, &Histogram, &str) -> f64,
) -> Result<Value<'a>> {
    // Per histogram (labels without `le`, as Prometheus's signature): its
    // metric name (for annotations) and buckets per step.
    let mut groups: Vec<(Labels, String, Vec<Buckets>)> = Vec::new();
    // The labels (with the name) of each native series, for the conflict
    // with classic buckets below.
    let mut native_keys: Vec<Labels> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut held = ctx.reservation();
    let mut natives: Vec<StepSeries> = Vec::new();
    while let Some(mut s) = input.next_series()? {
        ctx.check_deadline()?;
        let name = s.labels.get(METRIC_NAME).unwrap_or("");
        if let Some(col) = s.hist.take() {
            let values: Vec<Option<f64>> =
                col.iter().enumerate().map(|(i, h)| h.as_ref().map(|h| native(i, h, name))).collect();
            let mut labels = s.labels.clone();
            labels.remove(METRIC_NAME);
            held.grow(ctx.steps as u64, new_series_bytes(&labels, ctx.steps))?;
            natives.push(StepSeries::new(labels, values));
            native_keys.push(s.labels.clone());
        }
        let Some(le) = s.labels.get(BUCKET_LABEL).and_then(parse_le) else {
            // Not a bucket: ignored, as Prometheus does, with a warning
            // when it has float samples.
            if s.values.iter().any(Option::is_some) {
                ctx.annotate(pos, Annotation::bad_bucket_label(s.labels.get(BUCKET_LABEL).unwrap_or(""), name));
            }
            continue;
        };
        let mut key = s.labels.clone();
        key.remove(BUCKET_LABEL);
        let g = match index.get(&key) {
            Some(&g) => g,
            None => {
                held.grow(0, 2 * labels_bytes(&key) + (ctx.steps * std::mem::size_of::<Buckets>()) as u64)?;
                index.insert(key.clone(), groups.len());
                groups.push((key, name.to_string(), vec![Vec::new(); ctx.steps]));
                groups.len() - 1
            }
        };
        // Reserved before the buckets are appended.
        let added = s.values.iter().flatten().count() as u64;
        held.grow(added, added * 16)?;
        for (buckets, v) in groups[g].2.iter_mut().zip(&s.values) {
            if let Some(count) = v {
                buckets.push((le, *count));
            }
        }
        ctx.recycle(s);
    }
    // A native histogram and classic buckets of the same series at one
    // step: neither is evaluated there (Prometheus warns).
    for (n, labels) in natives.iter_mut().zip(&native_keys) {
        let Some(&g) = index.get(labels) else { continue };
        let name = labels.get(METRIC_NAME).unwrap_or("");
        for (i, v) in n.values.iter_mut().enumerate() {
            if v.is_some() && !groups[g].2[i].is_empty() {
                *v = None;
                groups[g].2[i].clear();
                ctx.annotate_once(key(10, &[name], 0), pos, || Annotation::mixed_classic_native(name));
            }
        }
    }
    natives.retain(StepSeries::has_values);
    let mut out: Vec<StepSeries> = Vec::with_capacity(groups.len() + natives.len());
    let mut out_held = ctx.reservation();
    for s in natives {
        out_held.grow_series(&s)?;
        out.push(s);
    }
    for (mut labels, name, mut per_step) in groups {
        labels.remove(METRIC_NAME);
        // Reserved before it is built; released again if it has no value.
        let bytes = new_series_bytes(&labels, ctx.steps);
        out_held.grow(ctx.steps as u64, bytes)?;
        let values =
            per_step.iter_mut().enumerate().map(|(i, b)| (!b.is_empty()).then(|| classic(i, b, &name))).collect();
        let s = StepSeries::new(labels, values);
        if s.has_values() {
            out.push(s);
        } else {
            out_held.shrink(ctx.steps as u64, bytes);
        }
    }
    drop(held);
    check_distinct(&out)?;
    Ok(Value::Vector(Box::new(VecStream::held(out, out_held))))
}

/// Fails when two series with the same labels have a value at one step.
fn check_distinct(out: &[StepSeries]) -> Result<()> {
    let mut seen: HashMap<&Labels, usize> = HashMap::with_capacity(out.len());
    for (k, s) in out.iter().enumerate() {
        if let Some(&j) = seen.get(&s.labels) {
            let other = &out[j];
            if s.values.iter().zip(&other.values).any(|(a, b)| a.is_some() && b.is_some()) {
                return Err(crate::engine::result::same_labelset());
            }
        } else {
            seen.insert(&s.labels, k);
        }
    }
    Ok(())
}

/// `histogram_quantiles(v, "label", q1, q2, …)` (experimental in
/// Prometheus): [`histogram_quantile`] for each `q`, each result with
/// `label` set to `q` (OpenMetrics float text, `0.0`, `0.25`). The input is
/// read once and kept (held in the budget) for all the quantiles.
fn histogram_quantiles<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
    let args = &call.args.args;
    let (Some(v), Some(label), true) = (args.first(), args.get(1), args.len() > 2) else {
        return Err(Error::BadData("histogram_quantiles needs at least 3 arguments".into()));
    };
    let Expr::StringLiteral(label) = unparen(label) else {
        return Err(Error::BadData("expected a string literal as argument 2 of histogram_quantiles".into()));
    };
    let label = label.val.as_str();
    let mut qs = Vec::with_capacity(args.len() - 2);
    for a in &args[2..] {
        let Value::Scalar(q) = eval(ctx, a)? else {
            return Err(Error::BadData("expected scalars as the quantiles of histogram_quantiles".into()));
        };
        for &q in &q {
            if q.is_nan() || !(0.0..=1.0).contains(&q) {
                ctx.annotate_once(key(6, &[], q.to_bits()), a.position_range(), || Annotation::invalid_quantile(q));
            }
        }
        qs.push(q);
    }
    let Value::Vector(mut input) = ctx.without_hist_stats(|| eval(ctx, v))? else {
        return Err(Error::BadData("expected an instant vector as argument 1 of histogram_quantiles".into()));
    };
    let (all, _input_held) = crate::engine::ctx::collect(ctx, input.as_mut())?;
    let pos = v.position_range();
    let mut out: Vec<StepSeries> = Vec::new();
    let mut out_held = ctx.reservation();
    for q in &qs {
        let _copy_held = ctx.hold(&all)?;
        let q2 = q.clone();
        let classic = move |i: usize, b: &mut Buckets, name: &str| {
            let (v, forced) = bucket_quantile_checked(q[i], b);
            if let Some((lo, hi, diff)) = forced {
                ctx.annotate(pos, Annotation::forced_monotonicity(name, ctx.ts(i), lo, hi, diff));
            }
            v
        };
        let native = move |i: usize, h: &Histogram, name: &str| native_quantile(ctx, pos, q2[i], h, name);
        let Value::Vector(mut per_q) =
            classic_and_native(ctx, Box::new(VecStream::new(all.clone())), pos, classic, native)?
        else {
            unreachable!("classic_and_native answers a vector")
        };
        while let Some(s) = per_q.next_series()? {
            // The label is the step's quantile: a quantile that varies over
            // a range query splits the series.
            let mut by_text: Vec<(String, Vec<Option<f64>>)> = Vec::new();
            for (i, v) in s.values.iter().enumerate() {
                let Some(v) = v else { continue };
                let text = open_metrics_float(q[i]);
                let k = match by_text.iter().position(|(t, _)| *t == text) {
                    Some(k) => k,
                    None => {
                        by_text.push((text, vec![None; s.values.len()]));
                        by_text.len() - 1
                    }
                };
                by_text[k].1[i] = Some(*v);
            }
            for (text, values) in by_text {
                let mut labels = s.labels.clone();
                labels.set(label, &text);
                out_held.grow(ctx.steps as u64, new_series_bytes(&labels, ctx.steps))?;
                out.push(StepSeries::new(labels, values));
            }
        }
    }
    check_distinct(&out)?;
    Ok(Value::Vector(Box::new(VecStream::held(out, out_held))))
}

/// Prometheus's `FormatOpenMetricsFloat`: Go's `%g`, with `.0` appended
/// to a number that has neither a `.` nor an exponent.
fn open_metrics_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f == 0.0 {
        return "0.0".into();
    }
    let s = strata_common::histogram::text::go_g(f);
    if s.contains(['e', '.']) { s } else { s + ".0" }
}

/// The histogram functions.
pub static FUNCTIONS: &[FnDef] = &[
    FnDef { name: "histogram_quantile", kind: Kind::Custom(histogram_quantile), keep_name: false },
    FnDef { name: "histogram_quantiles", kind: Kind::Custom(histogram_quantiles), keep_name: false },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_inside_the_bucket() {
        let mut b = vec![(0.1, 10.0), (0.5, 30.0), (f64::INFINITY, 40.0), (1.0, 40.0)];
        // rank 20 lies in (0.1, 0.5]: 0.1 + 0.4 * (10 / 20).
        assert!((bucket_quantile(0.5, &mut b) - 0.3).abs() < 1e-12);
        let mut b = vec![(1.0, 5.0)];
        assert!(bucket_quantile(0.5, &mut b).is_nan()); // no +Inf bucket
    }
}
