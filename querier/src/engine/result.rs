//! The final result of a range query, held compactly while it waits for the
//! API encoder: per series, a presence bitmap over the step grid and the
//! present values only (8 bytes and 1 bit per step instead of the 16 bytes
//! of a step series' `Option<f64>`, or of a `(timestamp, value)` pair). Each
//! series is compacted as it leaves the last operator, and accounted at its
//! compact size, so the result costs half of what the operators exchange.

use std::sync::Arc;

use strata_common::histogram::Histogram;
use strata_common::{Labels, Timestamp};

use super::ctx::{EvalCtx, Reservation, SeriesStream, labels_bytes};
use crate::error::{Error, Result};

/// The points of one result series.
#[derive(Debug, Clone, PartialEq)]
pub enum Points {
    /// Values on the step grid `start + i * step`: step `i` has a value when
    /// bit `i` of `present` is set; `values` holds those values in step order.
    Grid {
        /// Time of the first step.
        start: Timestamp,
        /// Step width.
        step: i64,
        /// Bitmap of the steps that have a value.
        present: Vec<u64>,
        /// The values of the present steps, in order.
        values: Vec<f64>,
    },
    /// Samples at their own timestamps (a range selector in an instant query).
    Raw(Vec<(Timestamp, f64)>),
}

impl Points {
    /// The points in time order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (Timestamp, f64)> + '_> {
        match self {
            Points::Grid { start, step, present, values } => {
                let steps = present.iter().enumerate().flat_map(|(w, &word)| BitIter { word, base: w * 64 });
                Box::new(steps.zip(values).map(move |(i, &v)| (start + i as i64 * step, v)))
            }
            Points::Raw(points) => Box::new(points.iter().copied()),
        }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        match self {
            Points::Grid { values, .. } => values.len(),
            Points::Raw(points) => points.len(),
        }
    }

    /// Whether there is no point.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The points as `(timestamp, value)` pairs.
    pub fn to_vec(&self) -> Vec<(Timestamp, f64)> {
        self.iter().collect()
    }
}

/// The set bits of one bitmap word, as step indexes.
struct BitIter {
    word: u64,
    base: usize,
}

impl Iterator for BitIter {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.word == 0 {
            return None;
        }
        let bit = self.word.trailing_zeros() as usize;
        self.word &= self.word - 1;
        Some(self.base + bit)
    }
}

/// One series of a matrix result.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    /// The series' labels.
    pub labels: Labels,
    /// Its float points.
    pub points: Points,
    /// Its native-histogram points in time order (empty for float series).
    pub hist: Vec<(Timestamp, Arc<Histogram>)>,
}

/// Accounted bytes of a compact series.
fn range_series_bytes(labels: &Labels, present_words: usize, values: usize) -> u64 {
    labels_bytes(labels) + (std::mem::size_of::<RangeSeries>() + 8 * present_words + 8 * values) as u64
}

/// Pulls `stream` to the end into compact series sorted by labels, merging
/// series with equal labels (two values at one step is Prometheus's "same
/// labelset" error) and dropping series without values. Each step series is
/// recycled once compacted (its labels move, they are not copied); the
/// returned reservation accounts for the result.
pub fn collect_range(ctx: &EvalCtx, stream: &mut dyn SeriesStream) -> Result<(Vec<RangeSeries>, Reservation)> {
    let words = ctx.steps.div_ceil(64);
    let mut held = ctx.reservation();
    let mut compact: Vec<(Labels, Vec<u64>, Vec<f64>, HistPoints)> = Vec::new();
    while let Some(mut s) = stream.next_series()? {
        let hist: HistPoints = match s.hist.take() {
            None => Vec::new(),
            Some(col) => {
                let hist: HistPoints =
                    col.into_iter().enumerate().filter_map(|(i, h)| h.map(|h| (ctx.ts(i), h))).collect();
                let bytes: usize = hist.iter().map(|(_, h)| 16 + h.heap_bytes()).sum();
                held.grow(hist.len() as u64, bytes as u64)?;
                hist
            }
        };
        // Reserved before the compact form is allocated.
        let n = s.values.iter().flatten().count();
        held.grow(n as u64, range_series_bytes(&s.labels, words, n))?;
        let mut present = vec![0u64; words];
        let mut values = Vec::with_capacity(n);
        for (i, v) in s.values.iter().enumerate() {
            if let Some(v) = v {
                present[i / 64] |= 1 << (i % 64);
                values.push(*v);
            }
        }
        compact.push((std::mem::take(&mut s.labels), present, values, hist));
        ctx.recycle(s);
    }
    // Stable: series with equal labels stay in arrival order, side by side.
    compact.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<RangeSeries> = Vec::with_capacity(compact.len());
    for (labels, present, values, hist) in compact {
        if let Some(RangeSeries { labels: last, points: Points::Grid { present: p, values: v, .. }, hist: h }) =
            out.last_mut()
            && *last == labels
        {
            merge_into(p, v, &present, &values)?;
            merge_hist(h, hist, p, ctx)?;
            continue;
        }
        let points = Points::Grid { start: ctx.start, step: ctx.step, present, values };
        out.push(RangeSeries { labels, points, hist });
    }
    out.retain(|s| !s.points.is_empty() || !s.hist.is_empty());
    Ok((out, held))
}

/// Histogram points of one series, in time order.
type HistPoints = Vec<(Timestamp, Arc<Histogram>)>;

/// Merges the histogram points `from` into `into` (same labels); a step
/// with two values (two histograms, or a histogram where the merged floats
/// already have one: `floats`' bitmap) is the "same labelset" error.
fn merge_hist(into: &mut HistPoints, from: HistPoints, floats: &[u64], ctx: &EvalCtx) -> Result<()> {
    if from.is_empty() && into.is_empty() {
        return Ok(());
    }
    let step = ctx.step.max(1);
    let float_at = |t: Timestamp| {
        let i = ((t - ctx.start) / step) as usize;
        floats.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
    };
    if into.iter().chain(&from).any(|(t, _)| float_at(*t)) {
        return Err(same_labelset());
    }
    into.extend(from);
    into.sort_by_key(|(t, _)| *t);
    if into.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(same_labelset());
    }
    Ok(())
}

/// Merges the compact series (`present`, `values`) into (`into_present`,
/// `into_values`), which has the same labels.
fn merge_into(into_present: &mut [u64], into_values: &mut Vec<f64>, present: &[u64], values: &[f64]) -> Result<()> {
    if into_present.iter().zip(present).any(|(a, b)| a & b != 0) {
        return Err(same_labelset());
    }
    let (mut a, mut b) = (into_values.iter(), values.iter());
    let mut merged = Vec::with_capacity(into_values.len() + values.len());
    for (w, (x, y)) in into_present.iter_mut().zip(present).enumerate() {
        for i in (BitIter { word: *x | *y, base: w * 64 }) {
            let from_b = y >> (i % 64) & 1 == 1;
            merged.extend(if from_b { b.next() } else { a.next() });
        }
        *x |= y;
    }
    *into_values = merged;
    Ok(())
}

/// Prometheus's error for two values of one label set at one step.
pub(super) fn same_labelset() -> Error {
    Error::Execution("vector cannot contain metrics with the same labelset".into())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::engine::ctx::{Budget, StepSeries, VecStream};

    fn ctx(steps: usize) -> EvalCtx {
        let budget = Budget {
            deadline: Instant::now() + Duration::from_secs(60),
            max_samples: u64::MAX,
            max_series: 0,
            max_memory_bytes: 1 << 30,
            canceled: Default::default(),
        };
        EvalCtx::new(1_000, 1_000 + 10 * (steps as i64 - 1), 10, 300_000, budget, HashMap::new())
    }

    fn series(name: &str, values: Vec<Option<f64>>) -> StepSeries {
        StepSeries::new(Labels::from_pairs([("__name__", name)]).unwrap(), values)
    }

    #[test]
    fn compact_series_merge_sort_and_hold_half_the_step_bytes() {
        let ctx = ctx(130);
        let dense: Vec<Option<f64>> = (0..130).map(|i| Some(i as f64)).collect();
        let sparse: Vec<Option<f64>> = (0..130).map(|i| (i % 2 == 0 && i >= 64).then_some(-(i as f64))).collect();
        let other: Vec<Option<f64>> = (0..130).map(|i| (i % 2 == 1 && i >= 64).then_some(i as f64)).collect();
        let input =
            vec![series("z", sparse), series("a", dense.clone()), series("z", other), series("e", vec![None; 130])];
        let step_bytes: u64 = input.iter().map(crate::engine::ctx::series_bytes).sum();
        let (out, held) = collect_range(&ctx, &mut VecStream::new(input)).unwrap();
        assert!(held.bytes() * 2 <= step_bytes + 1024, "{} held vs {step_bytes}", held.bytes());
        assert_eq!(out.iter().map(|s| s.labels.get("__name__").unwrap()).collect::<Vec<_>>(), ["a", "z"]);
        let a: Vec<(Timestamp, f64)> = (0..130).map(|i| (1_000 + 10 * i, i as f64)).collect();
        assert_eq!(out[0].points.to_vec(), a);
        let z: Vec<(Timestamp, f64)> =
            (64..130).map(|i| (1_000 + 10 * i, if i % 2 == 0 { -(i as f64) } else { i as f64 })).collect();
        assert_eq!(out[1].points.to_vec(), z);
        assert_eq!(out[1].points.len(), 66);
    }

    #[test]
    fn two_values_at_one_step_is_the_same_labelset_error() {
        let ctx = ctx(3);
        let input = vec![series("x", vec![Some(1.0), None, None]), series("x", vec![None, Some(2.0), Some(3.0)])];
        assert!(collect_range(&ctx, &mut VecStream::new(input)).is_ok());
        let input = vec![
            series("x", vec![Some(1.0), None, None]),
            series("x", vec![None, Some(2.0), Some(1.0)]),
            series("x", vec![None, None, Some(1.0)]),
        ];
        let Err(e) = collect_range(&ctx, &mut VecStream::new(input)) else { panic!("merged two values at one step") };
        assert!(e.to_string().contains("same labelset"), "{e}");
    }
}
