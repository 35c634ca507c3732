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

use strata_common::histogram::Histogram;
use strata_common::histogram::kahan::{KahanSum, mean};

use crate::engine::ctx::HistColumn;

/// One group's histograms per step.
#[derive(Debug)]
pub struct HistAcc {
    items: Vec<Vec<Arc<Histogram>>>,
}

impl HistAcc {
    /// An empty state over `steps` steps.
    pub fn new(steps: usize) -> Self {
        Self { items: vec![Vec::new(); steps] }
    }

    /// Bytes of a new state over `steps` steps.
    pub fn bytes(steps: usize) -> u64 {
        (steps * std::mem::size_of::<Vec<Arc<Histogram>>>()) as u64
    }

    /// Whether a histogram was added at step `i`.
    pub fn has(&self, i: usize) -> bool {
        !self.items[i].is_empty()
    }

    /// Adds `h` at step `i`; returns the bytes the state grew by.
    pub fn add(&mut self, i: usize, h: &Arc<Histogram>) -> u64 {
        self.items[i].push(Arc::clone(h));
        std::mem::size_of::<Arc<Histogram>>() as u64
    }

    /// The result column (the sum, or with `avg` the mean); steps where
    /// `float_at(i)` (the group also has floats) or an addition failed have
    /// none. `None` when no step has a result.
    pub fn finish(self, avg: bool, float_at: impl Fn(usize) -> bool) -> Option<HistColumn> {
        let mut any = false;
        let col: HistColumn = self
            .items
            .into_iter()
            .enumerate()
            .map(|(i, hs)| {
                if hs.is_empty() || float_at(i) {
                    return None;
                }
                let out = if avg { mean(hs.iter().map(|h| h.as_ref())).ok()?? } else { sum(&hs)? };
                any = true;
                Some(Arc::new(out.compact()))
            })
            .collect();
        any.then_some(col)
    }
}

/// The Kahan sum of `hs` (none when two cannot be added).
pub fn sum(hs: &[Arc<Histogram>]) -> Option<Histogram> {
    let (first, rest) = hs.split_first()?;
    let mut acc = KahanSum::new(first);
    for h in rest {
        acc.add(h).ok()?;
    }
    Some(acc.finish())
}
