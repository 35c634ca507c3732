//! Range functions over windows that hold native histograms (Prometheus 3
//! semantics). A window without histograms never reaches this module (the
//! float functions handle it unchanged); one with histograms goes to the
//! function's entry here, or, for a function without one (`max_over_time`,
//! `quantile_over_time`, …), to the float function over the window's
//! floats alone (Prometheus ignores the histograms there).
//!
//! - `rate` / `increase` / `delta`: the last histogram minus the first,
//!   counter resets added back (`detect_reset`), extrapolated to the window
//!   edges as floats are (the zero point from the counts); a window mixing
//!   floats and histograms, or exponential and custom buckets, has no
//!   result. The result is a gauge histogram.
//! - `irate` / `idelta`: the last two samples (both histograms).
//! - `sum_over_time` / `avg_over_time`: histograms only (mixed: none).
//! - `count_over_time`, `present_over_time`, `last_over_time`,
//!   `first_over_time`, `changes`, `resets`: floats and histograms alike.

use std::sync::Arc;

use strata_common::histogram::{Histogram, ResetHint};
use strata_common::{HistSample, Sample, Timestamp};

use crate::engine::annotations::SeriesNotes;
use crate::engine::binary::elem::{divide, hist_equal, reconciles_bounds};

/// A window with floats and histograms (staleness markers removed).
#[derive(Debug, Clone, Copy)]
pub struct HistWindow<'s> {
    /// Float samples in `(range_start, range_end]`.
    pub floats: &'s [Sample],
    /// Histogram samples in `(range_start, range_end]` (not empty).
    pub hists: &'s [HistSample],
    /// The window's exclusive start.
    pub range_start: Timestamp,
    /// The window's inclusive end.
    pub range_end: Timestamp,
    /// The selector's range in ms.
    pub range: Timestamp,
    /// Where the function notes Prometheus's annotations for this series.
    pub notes: &'s SeriesNotes,
}

/// A range function's value at one step.
#[derive(Debug, Clone)]
pub enum HOut {
    /// A float.
    F(f64),
    /// A histogram.
    H(Arc<Histogram>),
}

/// A range function over a window with histograms.
pub type HistFn = fn(&HistWindow<'_>) -> Option<HOut>;

/// The histogram-aware variant of range function `name`, if it has one.
pub fn lookup(name: &str) -> Option<HistFn> {
    Some(match name {
        "rate" => |w| extrapolated(w, true, true),
        "increase" => |w| extrapolated(w, true, false),
        "delta" => |w| extrapolated(w, false, false),
        "irate" => |w| instant(w, true),
        "idelta" => |w| instant(w, false),
        "sum_over_time" => |w| sum(w).map(|h| HOut::H(Arc::new(h.compact()))),
        "avg_over_time" => |w| {
            if !w.floats.is_empty() {
                w.notes.note(SeriesNotes::MIXED_FLOATS_HISTOGRAMS);
                return None;
            }
            agg_notes(w)?;
            let m = strata_common::histogram::kahan::mean(w.hists.iter().map(|h| h.h.as_ref())).ok()??;
            Some(HOut::H(Arc::new(m.compact())))
        },
        "count_over_time" => |w| Some(HOut::F((w.floats.len() + w.hists.len()) as f64)),
        "present_over_time" => |_| Some(HOut::F(1.0)),
        "last_over_time" => |w| last(w, true),
        "first_over_time" => |w| last(w, false),
        "ts_of_last_over_time" => |w| last_t(w, true),
        "ts_of_first_over_time" => |w| last_t(w, false),
        "changes" => {
            |w| Some(HOut::F(count_pairs(w, |a, b| !hist_equal(a, b), |a, b| a != b && !(a.is_nan() && b.is_nan()))))
        }
        "resets" => |w| Some(HOut::F(count_pairs(w, |prev, cur| cur.detect_reset(prev), |a, b| b < a))),
        _ => return None,
    })
}

/// The sum of the window's histograms (none with floats in the window or
/// histograms that cannot be added).
fn sum(w: &HistWindow<'_>) -> Option<Histogram> {
    if !w.floats.is_empty() {
        w.notes.note(SeriesNotes::MIXED_FLOATS_HISTOGRAMS);
        return None;
    }
    agg_notes(w)?;
    let mut acc = strata_common::histogram::kahan::KahanSum::new(&w.hists[0].h);
    for h in &w.hists[1..] {
        acc.add(&h.h).ok()?;
    }
    Some(acc.finish())
}

/// Notes what summing the window's histograms meets, as Prometheus's
/// `sum_over_time` / `avg_over_time`: none when exponential and custom
/// buckets mix (a warning).
fn agg_notes(w: &HistWindow<'_>) -> Option<()> {
    let first = &w.hists[0].h;
    if w.hists[1..].iter().any(|h| h.h.uses_custom_buckets() != first.uses_custom_buckets()) {
        w.notes.note(SeriesNotes::MIXED_EXPONENTIAL_CUSTOM);
        return None;
    }
    if w.hists[1..].iter().any(|h| reconciles_bounds(first, &h.h)) {
        w.notes.note(SeriesNotes::RECONCILED_AGG);
    }
    let reset = w.hists.iter().any(|h| h.h.hint == ResetHint::Reset);
    if reset && w.hists.iter().any(|h| h.h.hint == ResetHint::NotReset) {
        w.notes.note(SeriesNotes::COLLISION_AGG);
    }
    Some(())
}

/// The last (or first) sample of either kind.
fn last(w: &HistWindow<'_>, latest: bool) -> Option<HOut> {
    let (f, h) = if latest { (w.floats.last(), w.hists.last()) } else { (w.floats.first(), w.hists.first()) };
    match (f, h) {
        (Some(f), Some(h)) if (f.t > h.t) == latest => Some(HOut::F(f.v)),
        (Some(f), None) => Some(HOut::F(f.v)),
        (_, Some(h)) => Some(HOut::H(Arc::clone(&h.h))),
        (None, None) => None,
    }
}

/// The timestamp (seconds) of the last (or first) sample of either kind.
fn last_t(w: &HistWindow<'_>, latest: bool) -> Option<HOut> {
    let f = if latest { w.floats.last() } else { w.floats.first() }.map(|s| s.t);
    let h = if latest { w.hists.last() } else { w.hists.first() }.map(|s| s.t);
    let t = match (f, h) {
        (Some(a), Some(b)) => Some(if latest { a.max(b) } else { a.min(b) }),
        (a, b) => a.or(b),
    }?;
    Some(HOut::F(t as f64 / 1000.0))
}

/// Consecutive pairs (in time order, floats and histograms merged) that
/// `hist_pair` / `float_pair` count; a change of kind always counts.
fn count_pairs(
    w: &HistWindow<'_>,
    hist_pair: impl Fn(&Histogram, &Histogram) -> bool,
    float_pair: impl Fn(f64, f64) -> bool,
) -> f64 {
    #[derive(Clone, Copy)]
    enum E<'a> {
        F(f64),
        H(&'a Histogram),
    }
    let (mut fi, mut hi) = (0, 0);
    let mut prev: Option<E<'_>> = None;
    let mut n = 0;
    while fi < w.floats.len() || hi < w.hists.len() {
        let cur = if hi >= w.hists.len() || (fi < w.floats.len() && w.floats[fi].t < w.hists[hi].t) {
            fi += 1;
            E::F(w.floats[fi - 1].v)
        } else {
            hi += 1;
            E::H(&w.hists[hi - 1].h)
        };
        n += match (prev, cur) {
            (None, _) => 0,
            (Some(E::F(a)), E::F(b)) => u32::from(float_pair(a, b)),
            (Some(E::H(a)), E::H(b)) => u32::from(hist_pair(a, b)),
            _ => 1,
        };
        prev = Some(cur);
    }
    f64::from(n)
}

/// `irate` (`is_rate`) / `idelta` over the last two samples.
fn instant(w: &HistWindow<'_>, is_rate: bool) -> Option<HOut> {
    if w.floats.len() + w.hists.len() < 2 {
        return None;
    }
    // The last two samples of either kind must both be histograms.
    let n = w.hists.len();
    if n < 2 || w.floats.last().is_some_and(|f| f.t > w.hists[n - 2].t) {
        let fl = w.floats.len();
        let last_two_floats = fl >= 2 && (n == 0 || w.floats[fl - 2].t > w.hists[n - 1].t);
        if n >= 1 && fl >= 1 && !last_two_floats {
            w.notes.note(SeriesNotes::MIXED_FLOATS_HISTOGRAMS);
        }
        return None;
    }
    let (prev, cur) = (&w.hists[n - 2], &w.hists[n - 1]);
    let interval = cur.t - prev.t;
    if interval == 0 {
        return None;
    }
    let gauge = |h: &Histogram| h.hint == ResetHint::Gauge;
    if is_rate && (gauge(&cur.h) || gauge(&prev.h)) {
        w.notes.note(SeriesNotes::NOT_COUNTER);
    }
    if !is_rate && (!gauge(&cur.h) || !gauge(&prev.h)) {
        w.notes.note(SeriesNotes::NOT_GAUGE);
    }
    let mut out = if !is_rate || !cur.h.detect_reset(&prev.h) {
        if cur.h.uses_custom_buckets() != prev.h.uses_custom_buckets() {
            w.notes.note(SeriesNotes::MIXED_EXPONENTIAL_CUSTOM);
            return None;
        }
        if reconciles_bounds(&cur.h, &prev.h) {
            w.notes.note(SeriesNotes::RECONCILED_SUB);
        }
        cur.h.sub(&prev.h).ok()?
    } else {
        cur.h.scale(1.0)
    };
    out.hint = ResetHint::Gauge;
    let mut out = out.compact();
    if is_rate {
        out = divide(&out, interval as f64 / 1000.0);
    }
    Some(HOut::H(Arc::new(out)))
}

/// `rate` / `increase` (`counter`) and `delta` over histograms (Prometheus
/// `extrapolatedRate` with `histogramRate`).
fn extrapolated(w: &HistWindow<'_>, counter: bool, is_rate: bool) -> Option<HOut> {
    if !w.floats.is_empty() {
        w.notes.note(SeriesNotes::MIXED_FLOATS_HISTOGRAMS);
        return None;
    }
    if w.hists.len() < 2 {
        return None;
    }
    let points = w.hists;
    let last = &points[points.len() - 1].h;
    let gauge = |h: &Histogram| h.hint == ResetHint::Gauge;
    if counter && (gauge(&points[0].h) || gauge(last)) {
        w.notes.note(SeriesNotes::NOT_COUNTER);
    }
    let mut prev: Histogram = points[0].h.as_ref().clone();
    let mut custom = prev.uses_custom_buckets();
    if counter && points[1].h.detect_reset(&prev) {
        // A reset right after the first sample: its layout does not matter.
        let second = &points[1].h;
        prev = Histogram { schema: second.schema, custom_values: second.custom_values.clone(), ..Histogram::default() };
        custom = second.uses_custom_buckets();
    }
    if last.uses_custom_buckets() != custom {
        w.notes.note(SeriesNotes::MIXED_EXPONENTIAL_CUSTOM);
        return None;
    }
    let mut min_schema = last.schema.min(prev.schema);
    for p in &points[1..points.len() - 1] {
        if counter {
            if gauge(&p.h) {
                w.notes.note(SeriesNotes::NOT_COUNTER);
            }
            min_schema = min_schema.min(p.h.schema);
            if p.h.uses_custom_buckets() != custom {
                w.notes.note(SeriesNotes::MIXED_EXPONENTIAL_CUSTOM);
                return None;
            }
        }
    }
    if reconciles_bounds(last, &prev) {
        w.notes.note(SeriesNotes::RECONCILED_SUB);
    }
    let Ok(mut result) = last.to_schema(min_schema).sub(&prev) else {
        w.notes.note(SeriesNotes::MIXED_EXPONENTIAL_CUSTOM);
        return None;
    };
    if counter {
        let mut prev: &Histogram = &prev;
        for p in &points[1..] {
            if p.h.detect_reset(prev) {
                if reconciles_bounds(&result, prev) {
                    w.notes.note(SeriesNotes::RECONCILED_ADD);
                }
                result = result.add(prev).ok()?;
            }
            prev = &p.h;
        }
    } else if !gauge(&points[0].h) || !gauge(last) {
        w.notes.note(SeriesNotes::NOT_GAUGE);
    }
    result.hint = ResetHint::Gauge;
    let result = result.compact();

    let (first_t, last_t) = (points[0].t, points[points.len() - 1].t);
    let mut to_start = (first_t - w.range_start) as f64 / 1000.0;
    let mut to_end = (w.range_end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg_between = sampled / (points.len() - 1) as f64;
    let threshold = avg_between * 1.1;
    if to_start >= threshold {
        to_start = avg_between / 2.0;
    }
    if counter && result.count > 0.0 && points[0].h.count >= 0.0 {
        let to_zero = sampled * (points[0].h.count / result.count);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_between / 2.0;
    }
    let mut factor = if sampled != 0.0 { (sampled + to_start + to_end) / sampled } else { 1.0 };
    if is_rate {
        factor /= w.range as f64 / 1000.0;
    }
    let mut out = result.scale(factor);
    out.hint = ResetHint::Gauge;
    Some(HOut::H(Arc::new(out)))
}
