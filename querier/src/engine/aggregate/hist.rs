//! Native histograms in `sum` and `avg` (Prometheus 3 semantics): per
//! group and step, the histograms are added with Kahan compensation (at the
//! smallest schema and the widest zero bucket); `avg` divides the sum by
//! their number, or takes an incremental mean once the sum overflows. A
//! step where the group also has floats, or histograms that cannot be added
//! (exponential mixed with custom buckets, different custom bounds), has
//! no result (Prometheus answers nothing there, with a warning). Other
//! aggregations ignore histograms, except `count` and `group`, which count
//! them as samples (in the float state, see the parent module).
//!
//! The group keeps a shared pointer to each input histogram per step (8
//! bytes each) and sums them when the group is emitted.

use std::sync::Arc;

use strata_common::histogram::kahan::{KahanSum, mean};
use strata_common::histogram::{Histogram, ResetHint};

use crate::engine::annotations::{Annotation, HistOp, PositionRange, key};
use crate::engine::binary::elem::reconciles_bounds;
use crate::engine::ctx::{EvalCtx, HistColumn};

/// One group's histograms per step, each with the index of its series'
/// metric name (for the annotation when two cannot be added).
#[derive(Debug)]
pub struct HistAcc {
    items: Vec<Vec<(u32, Arc<Histogram>)>>,
    /// Metric names of the series added, in order (one per series).
    names: Vec<String>,
}

impl HistAcc {
    /// An empty state over `steps` steps.
    pub fn new(steps: usize) -> Self {
        Self { items: vec![Vec::new(); steps], names: Vec::new() }
    }

    /// Bytes of a new state over `steps` steps.
    pub fn bytes(steps: usize) -> u64 {
        (steps * std::mem::size_of::<Vec<(u32, Arc<Histogram>)>>()) as u64
    }

    /// Whether a histogram was added at step `i`.
    pub fn has(&self, i: usize) -> bool {
        !self.items[i].is_empty()
    }

    /// Starts a series named `metric`; its histograms are added with the
    /// returned index.
    pub fn series(&mut self, metric: &str) -> u32 {
        if self.names.last().map(String::as_str) != Some(metric) {
            self.names.push(metric.to_string());
        }
        (self.names.len() - 1) as u32
    }

    /// Adds `h` of series `series` at step `i`; returns the bytes the state grew by.
    pub fn add(&mut self, i: usize, h: &Arc<Histogram>, series: u32) -> u64 {
        self.items[i].push((series, Arc::clone(h)));
        std::mem::size_of::<(u32, Arc<Histogram>)>() as u64
    }

    /// The result column (the sum, or with `avg` the mean); steps where
    /// `float_at(i)` (the group also has floats) or an addition failed have
    /// none. `None` when no step has a result. Annotates, as Prometheus,
    /// exponential mixed with custom buckets (warning), reconciled custom
    /// bounds (info) and counter-reset hints colliding (warning).
    /// The annotations are about the aggregated expression at `pos`.
    pub fn finish(
        self,
        ctx: &EvalCtx,
        avg: bool,
        pos: PositionRange,
        float_at: impl Fn(usize) -> bool,
    ) -> Option<HistColumn> {
        let mut any = false;
        let names = self.names;
        let col: HistColumn = self
            .items
            .into_iter()
            .enumerate()
            .map(|(i, hs)| {
                if hs.is_empty() || float_at(i) {
                    return None;
                }
                let (reset, not_reset) = hs.iter().fold((false, false), |(r, n), (_, h)| {
                    (r || h.hint == ResetHint::Reset, n || h.hint == ResetHint::NotReset)
                });
                if let Some((k, _)) =
                    hs.iter().skip(1).find(|(_, h)| h.uses_custom_buckets() != hs[0].1.uses_custom_buckets())
                {
                    let name = names.get(*k as usize).map_or("", String::as_str);
                    ctx.annotate_once(key(5, &[name], 0), pos, || Annotation::mixed_exponential_custom(name));
                    return None;
                }
                if hs.iter().skip(1).any(|(_, h)| reconciles_bounds(&hs[0].1, h)) {
                    let k = key(4, &[], HistOp::Agg as u64);
                    ctx.annotate_once(k, pos, || Annotation::mismatched_custom_buckets(HistOp::Agg));
                }
                let plain: Vec<&Histogram> = hs.iter().map(|(_, h)| h.as_ref()).collect();
                let out = if avg { mean(plain.iter().copied()).ok()?? } else { sum(&plain)? };
                if reset && not_reset {
                    let k = key(3, &[], HistOp::Agg as u64);
                    ctx.annotate_once(k, pos, || Annotation::counter_reset_collision(HistOp::Agg));
                }
                any = true;
                Some(Arc::new(out.compact()))
            })
            .collect();
        any.then_some(col)
    }
}

/// The Kahan sum of `hs` (none when two cannot be added).
pub fn sum(hs: &[&Histogram]) -> Option<Histogram> {
    let (first, rest) = hs.split_first()?;
    let mut acc = KahanSum::new(first);
    for h in rest {
        acc.add(h).ok()?;
    }
    Some(acc.finish())
}
