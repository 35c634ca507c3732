//! Native histograms in `sum` and `avg` (Prometheus 3 semantics): per
//! group and step, the histograms are added (at the smallest schema and
//! the widest zero bucket); `avg` divides the sum by their number. A step
//! where the group also has floats, or histograms that cannot be added
//! (exponential mixed with custom buckets, different custom bounds), has
//! no result (Prometheus answers nothing there, with a warning). Other
//! aggregations ignore histograms, except `count` and `group`, which count
//! them as samples (in the float state, see the parent module).

use std::sync::Arc;

use strata_common::histogram::Histogram;

use crate::engine::ctx::HistColumn;

/// One group's histogram state per step.
#[derive(Debug)]
pub struct HistAcc {
    /// Running sum per step.
    sums: Vec<Option<Histogram>>,
    /// Histograms added per step.
    n: Vec<u32>,
    /// Steps where two histograms could not be added.
    failed: Vec<bool>,
}

impl HistAcc {
    /// An empty state over `steps` steps.
    pub fn new(steps: usize) -> Self {
        Self { sums: vec![None; steps], n: vec![0; steps], failed: vec![false; steps] }
    }

    /// Bytes of a new state over `steps` steps.
    pub fn bytes(steps: usize) -> u64 {
        (steps * (std::mem::size_of::<Option<Histogram>>() + 5)) as u64
    }

    /// Whether a histogram was added at step `i`.
    pub fn has(&self, i: usize) -> bool {
        self.n[i] > 0
    }

    /// Adds `h` at step `i`; returns the bytes the state grew by.
    pub fn add(&mut self, i: usize, h: &Histogram) -> u64 {
        self.n[i] += 1;
        match &mut self.sums[i] {
            None => {
                let mut first = h.clone();
                first.integer = false;
                let bytes = first.heap_bytes() as u64;
                self.sums[i] = Some(first);
                bytes
            }
            Some(sum) => {
                match sum.add(h) {
                    Ok(next) => *sum = next,
                    Err(_) => self.failed[i] = true,
                }
                0
            }
        }
    }

    /// The result column: `avg` divides by the count; steps where
    /// `float_at(i)` (the group also has floats) or an addition failed have
    /// none. `None` when no step has a result.
    pub fn finish(self, avg: bool, float_at: impl Fn(usize) -> bool) -> Option<HistColumn> {
        let mut any = false;
        let col: HistColumn = self
            .sums
            .into_iter()
            .enumerate()
            .map(|(i, sum)| {
                let sum = sum.filter(|_| !self.failed[i] && !float_at(i))?;
                any = true;
                let out = if avg && self.n[i] > 1 { sum.scale(1.0 / f64::from(self.n[i])) } else { sum };
                Some(Arc::new(out.compact()))
            })
            .collect();
        any.then_some(col)
    }
}
