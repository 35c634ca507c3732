//! Evaluation context and the values operators exchange: a step grid, a
//! sample budget, a deadline, and series-at-a-time streams.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use strata_common::{Labels, Timestamp};

use crate::error::{Error, Result};
use crate::source::SeriesIter;

/// One series over the step grid: `values[i]` is the value at step `i`
/// (`None`: no value at that step).
#[derive(Debug, Clone, PartialEq)]
pub struct StepSeries {
    pub labels: Labels,
    pub values: Vec<Option<f64>>,
}

impl StepSeries {
    /// Whether the series has a value at any step.
    pub fn has_values(&self) -> bool {
        self.values.iter().any(Option::is_some)
    }
}

/// An operator's output: pulled one series at a time.
pub trait SeriesStream {
    /// The next series, or `None` when exhausted.
    fn next_series(&mut self) -> Result<Option<StepSeries>>;
}

/// A boxed stream.
pub type BoxStream<'a> = Box<dyn SeriesStream + 'a>;

/// The value of an expression over the whole step grid.
pub enum Value<'a> {
    /// One number per step.
    Scalar(Vec<f64>),
    /// An instant vector, as a stream of series.
    Vector(BoxStream<'a>),
    /// A string literal.
    String(String),
}

/// Per-query state shared by the query's grid and its subqueries' grids.
struct Shared {
    deadline: Instant,
    max_samples: u64,
    loaded: Cell<u64>,
    /// Prefetched selections, keyed by the selector node's address.
    selected: RefCell<HashMap<usize, SeriesIter>>,
}

/// The step grid being evaluated plus the per-query state.
pub struct EvalCtx {
    /// First step, in ms.
    pub start: Timestamp,
    /// Last step, in ms.
    pub end: Timestamp,
    /// Step width in ms (> 0).
    pub step: Timestamp,
    /// Number of steps (0 when `end < start`).
    pub steps: usize,
    /// Instant-selector lookback in ms.
    pub lookback: Timestamp,
    shared: Rc<Shared>,
}

impl EvalCtx {
    pub fn new(
        start: Timestamp,
        end: Timestamp,
        step: Timestamp,
        lookback: Timestamp,
        deadline: Instant,
        max_samples: u64,
        selected: HashMap<usize, SeriesIter>,
    ) -> Self {
        let shared = Shared { deadline, max_samples, loaded: Cell::new(0), selected: RefCell::new(selected) };
        Self::with_grid(start, end, step, lookback, Rc::new(shared))
    }

    fn with_grid(start: Timestamp, end: Timestamp, step: Timestamp, lookback: Timestamp, shared: Rc<Shared>) -> Self {
        let step = step.max(1);
        let steps = if end < start { 0 } else { ((end - start) / step) as usize + 1 };
        Self { start, end, step, steps, lookback, shared }
    }

    /// The context of a subquery: another grid, the same budget and selections.
    pub fn child(&self, start: Timestamp, end: Timestamp, step: Timestamp) -> Self {
        Self::with_grid(start, end, step, self.lookback, self.shared.clone())
    }

    /// The timestamp of step `i`.
    #[inline]
    pub fn ts(&self, i: usize) -> Timestamp {
        self.start + i as Timestamp * self.step
    }

    /// Fails with a timeout once the deadline has passed.
    pub fn check_deadline(&self) -> Result<()> {
        if Instant::now() >= self.shared.deadline {
            return Err(Error::Timeout("query execution"));
        }
        Ok(())
    }

    /// Counts `n` loaded samples against the budget.
    pub fn charge(&self, n: usize) -> Result<()> {
        let total = self.shared.loaded.get() + n as u64;
        self.shared.loaded.set(total);
        if total > self.shared.max_samples {
            return Err(Error::TooManySamples { limit: self.shared.max_samples });
        }
        Ok(())
    }

    /// Total samples loaded so far.
    pub fn samples_loaded(&self) -> u64 {
        self.shared.loaded.get()
    }

    /// Takes the prefetched selection of the selector at `key`.
    pub fn take_selection(&self, key: usize) -> Result<SeriesIter> {
        self.shared
            .selected
            .borrow_mut()
            .remove(&key)
            .ok_or_else(|| Error::Internal("selector evaluated without a prefetched selection".into()))
    }
}

/// A stream over an already materialized list.
pub struct VecStream(pub std::vec::IntoIter<StepSeries>);

impl SeriesStream for VecStream {
    fn next_series(&mut self) -> Result<Option<StepSeries>> {
        Ok(self.0.next())
    }
}

/// Pulls a stream to the end.
pub fn collect(stream: &mut dyn SeriesStream) -> Result<Vec<StepSeries>> {
    let mut out = Vec::new();
    while let Some(s) = stream.next_series()? {
        out.push(s);
    }
    Ok(out)
}
