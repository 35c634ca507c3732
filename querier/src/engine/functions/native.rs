//! Functions of native-histogram samples that answer floats:
//! `histogram_count`, `_sum`, `_avg`, `_stddev`, `_stdvar`, `_fraction`,
//! and the native half of `histogram_quantile` (Prometheus 3 semantics:
//! float samples are ignored, the result drops the metric name).

use promql_parser::parser::Call;
use strata_common::histogram::Histogram;
use strata_common::labels::METRIC_NAME;

use super::{FnDef, Kind};
use crate::engine::ctx::{EvalCtx, SeriesStream, StepSeries, Value};
use crate::engine::eval::eval;
use crate::engine::numeric::kahan_inc;
use crate::error::{Error, Result};

/// A reading of one histogram at step `i` (with the scalar arguments).
type Reading = Box<dyn Fn(&Histogram, usize) -> f64>;

/// Turns every histogram of every series into a float with `f`; float
/// samples and series without histograms are dropped, and so is the name.
pub struct HistMapStream<'a> {
    inner: Box<dyn SeriesStream + 'a>,
    ctx: &'a EvalCtx,
    f: Reading,
}

impl SeriesStream for HistMapStream<'_> {
    fn next_series(&mut self) -> Result<Option<StepSeries>> {
        while let Some(mut s) = self.inner.next_series()? {
            let Some(col) = s.hist.take() else {
                self.ctx.recycle(s);
                continue;
            };
            for (i, (v, h)) in s.values.iter_mut().zip(&col).enumerate() {
                *v = h.as_ref().map(|h| (self.f)(h, i));
            }
            if !s.has_values() {
                self.ctx.recycle(s);
                continue;
            }
            s.labels.remove(METRIC_NAME);
            return Ok(Some(s));
        }
        Ok(None)
    }
}

/// The instant-vector argument `i` of `call`.
fn vector_arg<'a>(ctx: &'a EvalCtx, call: &'a Call, i: usize) -> Result<Box<dyn SeriesStream + 'a>> {
    let name = call.func.name;
    let arg = call.args.args.get(i).ok_or_else(|| Error::BadData(format!("missing argument of {name}")))?;
    match eval(ctx, arg)? {
        Value::Vector(v) => Ok(v),
        _ => Err(Error::BadData(format!("expected an instant vector argument to {name}"))),
    }
}

fn map<'a>(ctx: &'a EvalCtx, call: &'a Call, f: fn(&Histogram) -> f64) -> Result<Value<'a>> {
    // Count, sum and average read no buckets: Prometheus decodes the
    // selectors below with its `HistogramStatsIterator` (see
    // `EvalCtx::hist_stats`).
    let inner = ctx.with_hist_stats(|| vector_arg(ctx, call, 0))?;
    Ok(Value::Vector(Box::new(HistMapStream { inner, ctx, f: Box::new(move |h, _| f(h)) })))
}

fn histogram_count<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
    map(ctx, call, |h| h.count)
}

fn histogram_sum<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
    map(ctx, call, |h| h.sum)
}

fn histogram_avg<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
    map(ctx, call, |h| h.sum / h.count)
}

fn histogram_stdvar<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
    map(ctx, call, variance)
}

fn histogram_stddev<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
    map(ctx, call, |h| variance(h).sqrt())
}

/// The estimated variance of the observations: each bucket's count at
/// its representative value (arithmetic mean of custom bounds, zero in the
/// zero bucket, geometric mean of exponential bounds), about the mean.
pub fn variance(h: &Histogram) -> f64 {
    let mean = h.sum / h.count;
    let (mut var, mut c) = (0.0, 0.0);
    for b in h.all_buckets() {
        if b.count == 0.0 {
            continue;
        }
        let val = if h.uses_custom_buckets() {
            (b.upper + b.lower) / 2.0
        } else if b.lower <= 0.0 && b.upper >= 0.0 {
            0.0
        } else {
            let v = (b.upper * b.lower).sqrt();
            if b.upper < 0.0 { -v } else { v }
        };
        let d = val - mean;
        (var, c) = kahan_inc(b.count * d * d, var, c);
    }
    (var + c) / h.count
}

/// The native-histogram functions.
pub static FUNCTIONS: &[FnDef] = &[
    FnDef { name: "histogram_count", kind: Kind::Custom(histogram_count), keep_name: false },
    FnDef { name: "histogram_sum", kind: Kind::Custom(histogram_sum), keep_name: false },
    FnDef { name: "histogram_avg", kind: Kind::Custom(histogram_avg), keep_name: false },
    FnDef { name: "histogram_stddev", kind: Kind::Custom(histogram_stddev), keep_name: false },
    FnDef { name: "histogram_stdvar", kind: Kind::Custom(histogram_stdvar), keep_name: false },
    FnDef { name: "histogram_fraction", kind: Kind::Custom(super::histogram::histogram_fraction), keep_name: false },
];
