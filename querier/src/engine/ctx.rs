//! Evaluation context and the values operators exchange: a step grid, a
//! sample budget, a memory budget, a deadline, and series-at-a-time streams.
//!
//! Memory accounting: every operator that holds data across pulls (the
//! samples of the series being converted, aggregation groups, the
//! materialized side of a binary operator, buffered subquery results, the
//! final result) holds a [`Reservation`] sized by [`series_bytes`] /
//! [`labels_bytes`]. Reservations add up per query; going over
//! `max_memory_bytes` fails the query with [`Error::MemoryLimit`], and the
//! peak is reported in the query statistics. Sizes are estimates of the
//! heap bytes held (vector capacity × element size + label strings).
//!
//! Reserve before growing: a buffer whose size is known up front is
//! reserved before it is allocated, so a query too big for its budget fails
//! with [`Error::MemoryLimit`] instead of allocating:
//! - every grid (the query's, and each subquery's inner grid, see
//!   [`EvalCtx::child`]) reserves one step buffer (`steps × 16` bytes) per
//!   operator evaluated on it ([`EvalCtx::hold_steps`]): the series an
//!   operator has in flight. A subquery whose inner grid alone cannot fit
//!   is refused before anything is evaluated on it;
//! - scalar step vectors (`Value::Scalar`, function parameters) reserve
//!   `steps × 8` on their grid before they are allocated;
//! - idle step buffers kept for reuse ([`EvalCtx::recycle`]) are accounted
//!   while pooled, and dropped instead when they do not fit;
//! - operators that keep series (groups, materialized sides, buffered
//!   subqueries, the result) grow their reservation before each allocation;
//!   a selector reserves a series' samples from its loader's
//!   [`crate::source::SampleLoader::size_hint`] before loading them.
//!
//! Transients not reserved one by one, each bounded by something that is:
//! a series the selector decodes from files is copied once while merged
//! with the head (2× that series); a binary operator's pending outputs for
//! one signature (at most the materialized candidates of that signature);
//! a group's lazily allocated Kahan column (`steps × 8`, accounted right
//! after); the spare capacity of per-step value lists (at most their
//! length).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use strata_common::histogram::Histogram;
use strata_common::{Labels, Timestamp};

use super::annotations::{Annotation, Annotations, PositionRange};
use crate::error::{Error, Result};
use crate::source::SeriesIter;

/// A native-histogram value per step (`None`: no histogram at that step).
pub type HistColumn = Vec<Option<Arc<Histogram>>>;

/// One series over the step grid: `values[i]` is the float value at step
/// `i` (`None`: no float at that step), and `hist[i]`, when the series has
/// a histogram column at all, its native-histogram value. A step holds at
/// most one of the two. The column is allocated only for series that have
/// a histogram somewhere (float-only series never pay for it), and
/// operators that do not know histograms drop it (Prometheus ignores
/// histograms there).
#[derive(Debug, Clone, PartialEq)]
pub struct StepSeries {
    /// The series' labels.
    pub labels: Labels,
    /// One value per step of the grid.
    pub values: Vec<Option<f64>>,
    /// One histogram per step of the grid, when the series has any.
    pub hist: Option<HistColumn>,
}

impl StepSeries {
    /// A float-only series.
    pub fn new(labels: Labels, values: Vec<Option<f64>>) -> Self {
        Self { labels, values, hist: None }
    }

    /// Whether the series has a value (float or histogram) at any step.
    pub fn has_values(&self) -> bool {
        self.values.iter().any(Option::is_some) || self.has_hist()
    }

    /// Whether the series has a histogram at any step.
    pub fn has_hist(&self) -> bool {
        self.hist.as_ref().is_some_and(|h| h.iter().any(Option::is_some))
    }

    /// The histogram at step `i`, if any.
    #[inline]
    pub fn hist_at(&self, i: usize) -> Option<&Arc<Histogram>> {
        self.hist.as_ref().and_then(|h| h.get(i)).and_then(Option::as_ref)
    }

    /// Drops the histogram column, after which `has_hist` is false.
    pub fn drop_hist(&mut self) {
        self.hist = None;
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

/// The limits of one query.
#[derive(Debug, Clone)]
pub struct Budget {
    /// When the query times out.
    pub deadline: Instant,
    /// Most samples and step values held at once (Prometheus's
    /// `query.max-samples`).
    pub max_samples: u64,
    /// Most bytes held at once.
    pub max_memory_bytes: u64,
    /// Most series pulled from the source (0: no limit).
    pub max_series: u64,
    /// Flags that stop the query once set: its caller went away, the server
    /// is shutting down.
    pub canceled: [Arc<AtomicBool>; 2],
}

/// Per-query state shared by the query's grid and its subqueries' grids.
struct Shared {
    deadline: Instant,
    canceled: [Arc<AtomicBool>; 2],
    max_samples: u64,
    max_series: u64,
    loaded: Cell<u64>,
    mem: MemoryAccount,
    /// Series pulled from the source.
    series_touched: Cell<u64>,
    /// Step-value buffers of consumed series, for reuse (see
    /// [`EvalCtx::step_values`]); their capacity is accounted in `mem`.
    step_pool: RefCell<Vec<Vec<Option<f64>>>>,
    /// Prefetched selections, keyed by the selector node's address.
    selected: RefCell<HashMap<usize, SeriesIter>>,
    /// Threads the leaf operators may use (see [`super::parallel`]).
    parallelism: Cell<usize>,
    /// What the query's operators noticed (see [`super::annotations`]).
    annotations: RefCell<Annotations>,
    /// Enclosing `histogram_count`/`_sum`/`_avg` calls and enclosing
    /// subqueries or bucket-reading functions of the operator being built
    /// (see [`EvalCtx::hist_stats`]).
    hist_stats: Cell<(u32, u32)>,
    /// The query's own first and last step (its top-level grid's).
    query_range: (Timestamp, Timestamp),
    /// Keys of the annotations [`EvalCtx::annotate_once`] recorded.
    annotated: RefCell<std::collections::HashSet<u64>>,
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
    /// What this grid holds for its lifetime: its operators' step buffers
    /// in flight and its scalar step vectors ([`EvalCtx::hold_steps`]).
    grid_held: RefCell<Option<Reservation>>,
}

impl EvalCtx {
    /// The context of a query's top-level grid with its budget and prefetched selections.
    pub fn new(
        start: Timestamp,
        end: Timestamp,
        step: Timestamp,
        lookback: Timestamp,
        budget: Budget,
        selected: HashMap<usize, SeriesIter>,
    ) -> Self {
        let shared = Shared {
            deadline: budget.deadline,
            canceled: budget.canceled,
            max_samples: budget.max_samples,
            max_series: budget.max_series,
            loaded: Cell::new(0),
            mem: MemoryAccount::new(budget.max_memory_bytes),
            series_touched: Cell::new(0),
            step_pool: RefCell::new(Vec::new()),
            selected: RefCell::new(selected),
            parallelism: Cell::new(1),
            annotations: RefCell::new(Annotations::default()),
            hist_stats: Cell::new((0, 0)),
            query_range: (start, end),
            annotated: RefCell::default(),
        };
        Self::with_grid(start, end, step, lookback, Rc::new(shared))
    }

    fn with_grid(start: Timestamp, end: Timestamp, step: Timestamp, lookback: Timestamp, shared: Rc<Shared>) -> Self {
        let step = step.max(1);
        let steps = if end < start { 0 } else { ((end - start) / step) as usize + 1 };
        Self { start, end, step, steps, lookback, shared, grid_held: RefCell::new(None) }
    }

    /// The context of a subquery: another grid, the same budget and
    /// selections. Reserves `step_buffers` step buffers of the new grid
    /// (see [`EvalCtx::hold_steps`]) before anything is evaluated on it, so
    /// a grid too big for the budget is refused before it allocates.
    pub fn child(&self, start: Timestamp, end: Timestamp, step: Timestamp, step_buffers: u64) -> Result<Self> {
        let child = Self::with_grid(start, end, step, self.lookback, self.shared.clone());
        child.hold_steps(STEP_VALUE_BYTES.saturating_mul(step_buffers.max(1)))?;
        Ok(child)
    }

    /// Reserves `bytes_per_step × steps` on this grid until it is dropped,
    /// before the caller allocates that much: a scalar step vector (8 bytes
    /// per step), or the step buffers its operators have in flight
    /// ([`STEP_VALUE_BYTES`] per step and operator). Fails with
    /// [`Error::MemoryLimit`] when it does not fit.
    pub fn hold_steps(&self, bytes_per_step: u64) -> Result<()> {
        let bytes = bytes_per_step.saturating_mul(self.steps as u64);
        let mut held = self.grid_held.borrow_mut();
        held.get_or_insert_with(|| self.reservation()).grow(0, bytes)
    }

    /// Lets the leaf operators (selectors and the functions over them)
    /// load and convert series on up to `threads` threads
    /// ([`super::parallel`]); 1 (the default) runs everything on the
    /// evaluating thread.
    pub fn set_parallelism(&self, threads: usize) {
        self.shared.parallelism.set(threads.max(1));
    }

    /// The query's own first and last step, whatever grid this is (what
    /// `@ start()` and `@ end()` refer to).
    pub fn query_range(&self) -> (Timestamp, Timestamp) {
        self.shared.query_range
    }

    /// Threads the leaf operators may use.
    pub fn parallelism(&self) -> usize {
        self.shared.parallelism.get()
    }

    /// The timestamp of step `i`.
    #[inline]
    pub fn ts(&self, i: usize) -> Timestamp {
        self.start + i as Timestamp * self.step
    }

    /// Fails once the deadline has passed or the query was canceled.
    /// Operators call it per series (and per step where a step can be
    /// long), so a query stops within milliseconds.
    pub fn check_deadline(&self) -> Result<()> {
        let [client, server] = &self.shared.canceled;
        if client.load(Ordering::Relaxed) {
            return Err(Error::Canceled("the client went away"));
        }
        if server.load(Ordering::Relaxed) {
            return Err(Error::Canceled("the server is shutting down"));
        }
        if Instant::now() >= self.shared.deadline {
            return Err(Error::Timeout("query execution"));
        }
        Ok(())
    }

    /// Counts `n` loaded samples (statistics; what is held at once is
    /// limited by the reservations).
    pub fn charge(&self, n: usize) {
        self.shared.loaded.set(self.shared.loaded.get() + n as u64);
    }

    /// Total samples loaded so far.
    pub fn samples_loaded(&self) -> u64 {
        self.shared.loaded.get()
    }

    /// Counts one series pulled from the source; an error once the query
    /// has pulled more than its series limit.
    pub fn touch_series(&self) -> Result<()> {
        let n = self.shared.series_touched.get() + 1;
        self.shared.series_touched.set(n);
        let limit = self.shared.max_series;
        if limit > 0 && n > limit {
            return Err(Error::TooManySeries { limit });
        }
        Ok(())
    }

    /// Series pulled from the source so far.
    pub fn series_touched(&self) -> u64 {
        self.shared.series_touched.get()
    }

    /// An empty step-value buffer with room for this grid, reused from a
    /// consumed series when one was recycled (no allocation per series on
    /// the hot path). Its memory is covered by the step buffer its caller's
    /// grid reserved for the operator ([`EvalCtx::hold_steps`]); a pooled
    /// buffer much larger than this grid (another grid's) is freed rather
    /// than reused, so what an operator holds follows its own grid.
    pub fn step_values(&self) -> Vec<Option<f64>> {
        let pooled = self.shared.step_pool.borrow_mut().pop();
        let mut v = match pooled {
            Some(v) => {
                self.shared.mem.sub(0, pooled_bytes(&v));
                if v.capacity() > 2 * self.steps + 64 { Vec::new() } else { v }
            }
            None => Vec::new(),
        };
        v.clear();
        v.reserve(self.steps);
        v
    }

    /// Returns a consumed series' step-value buffer to the pool, where it
    /// is accounted; a buffer that does not fit the budget is freed.
    pub fn recycle(&self, s: StepSeries) {
        /// Enough for every operator of a query to find one.
        const MAX_POOLED: usize = 64;
        let mut pool = self.shared.step_pool.borrow_mut();
        if pool.len() < MAX_POOLED && self.shared.mem.try_add(0, pooled_bytes(&s.values)) {
            pool.push(s.values);
        }
    }

    /// An empty reservation against the query's memory budget.
    pub fn reservation(&self) -> Reservation {
        Reservation { shared: self.shared.clone(), bytes: 0, points: 0 }
    }

    /// Peak bytes held at once so far.
    pub fn peak_memory_bytes(&self) -> u64 {
        self.shared.mem.peak_bytes.get()
    }

    /// Peak number of points (samples and step values) held at once.
    pub fn peak_points(&self) -> u64 {
        self.shared.mem.peak_points.get()
    }

    /// Reserves the memory of `series`.
    pub fn hold(&self, series: &[StepSeries]) -> Result<Reservation> {
        let mut r = self.reservation();
        for s in series {
            r.grow_series(s)?;
        }
        Ok(r)
    }

    /// Records a warning or info annotation of the query (deduplicated)
    /// about the expression at `pos`. Called only where something is
    /// noticed: nothing is allocated on paths that do not annotate.
    pub fn annotate(&self, pos: PositionRange, a: Annotation) {
        self.shared.annotations.borrow_mut().add(a.at(pos));
    }

    /// [`EvalCtx::annotate`] for a site that may fire at every step or
    /// series: `key` (see [`super::annotations::key`]) names the text, and
    /// `make` builds it only the first time the key is seen, so a repeated
    /// annotation neither allocates nor compares texts again.
    /// The same text at another position is another key (the latest
    /// position of a text is the one shown, as in Prometheus).
    pub fn annotate_once(&self, key: u64, pos: PositionRange, make: impl FnOnce() -> Annotation) {
        let key = key ^ (pos.start as u64).rotate_left(40) ^ (pos.end as u64).rotate_left(20);
        if self.shared.annotated.borrow_mut().insert(key) {
            self.annotate(pos, make());
        }
    }

    /// Records the annotations a worker collected.
    pub fn annotate_all(&self, a: Annotations) {
        if !a.is_empty() {
            self.shared.annotations.borrow_mut().merge(a);
        }
    }

    /// The query's annotations so far, taken out.
    pub fn take_annotations(&self) -> Annotations {
        std::mem::take(&mut *self.shared.annotations.borrow_mut())
    }

    /// Builds `f`'s operators under a `histogram_count`, `histogram_sum` or
    /// `histogram_avg` call (see [`EvalCtx::hist_stats`]).
    pub fn with_hist_stats<T>(&self, f: impl FnOnce() -> T) -> T {
        let c = &self.shared.hist_stats;
        c.set((c.get().0 + 1, c.get().1));
        let out = f();
        c.set((c.get().0.saturating_sub(1), c.get().1));
        out
    }

    /// Builds `f`'s operators under a subquery or a function that reads
    /// buckets (`histogram_quantile`, `histogram_fraction`).
    pub fn without_hist_stats<T>(&self, f: impl FnOnce() -> T) -> T {
        let c = &self.shared.hist_stats;
        c.set((c.get().0, c.get().1 + 1));
        let out = f();
        c.set((c.get().0, c.get().1.saturating_sub(1)));
        out
    }

    /// Whether the selector being built reads histograms for their count
    /// and sum only, as Prometheus's `HistogramStatsIterator` (a
    /// `histogram_count`/`_sum`/`_avg` above it, no subquery or
    /// bucket-reading function between): its histograms then get explicit
    /// reset hints from their predecessors ([`super::eval::stats_hints`]).
    pub fn hist_stats(&self) -> bool {
        let (stats, blocked) = self.shared.hist_stats.get();
        stats > 0 && blocked == 0
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

/// The per-query memory budget: bytes and points currently held by
/// [`Reservation`]s, and their peaks.
struct MemoryAccount {
    limit: u64,
    bytes: Cell<u64>,
    points: Cell<u64>,
    peak_bytes: Cell<u64>,
    peak_points: Cell<u64>,
}

impl MemoryAccount {
    fn new(limit: u64) -> Self {
        let zero = || Cell::new(0);
        Self { limit, bytes: zero(), points: zero(), peak_bytes: zero(), peak_points: zero() }
    }

    /// Adds to the totals and the peaks; returns the new totals.
    fn add(&self, points: u64, bytes: u64) -> (u64, u64) {
        let total = self.bytes.get().saturating_add(bytes);
        let total_points = self.points.get().saturating_add(points);
        self.bytes.set(total);
        self.points.set(total_points);
        self.peak_bytes.set(self.peak_bytes.get().max(total));
        self.peak_points.set(self.peak_points.get().max(total_points));
        (total, total_points)
    }

    /// Adds `bytes` only if the total stays within the limit.
    fn try_add(&self, points: u64, bytes: u64) -> bool {
        let fits = self.bytes.get().saturating_add(bytes) <= self.limit;
        if fits {
            self.add(points, bytes);
        }
        fits
    }

    fn sub(&self, points: u64, bytes: u64) {
        self.bytes.set(self.bytes.get().saturating_sub(bytes));
        self.points.set(self.points.get().saturating_sub(points));
    }
}

/// Bytes of one `Option<f64>` step value.
pub const STEP_VALUE_BYTES: u64 = std::mem::size_of::<Option<f64>>() as u64;

/// Accounted bytes of an idle pooled step buffer.
fn pooled_bytes(v: &Vec<Option<f64>>) -> u64 {
    v.capacity() as u64 * STEP_VALUE_BYTES
}

/// Bytes (and points) one operator holds against the query's memory
/// budget; released when dropped. Single-threaded, like the evaluator.
pub struct Reservation {
    shared: Rc<Shared>,
    bytes: u64,
    points: u64,
}

impl Reservation {
    /// Holds `bytes` more (of which `points` samples or step values); fails
    /// once the query's total goes over its limit. The failed amount stays
    /// held until the reservation drops, like the data that was allocated.
    pub fn grow(&mut self, points: u64, bytes: u64) -> Result<()> {
        let m = &self.shared.mem;
        self.bytes = self.bytes.saturating_add(bytes);
        self.points = self.points.saturating_add(points);
        let (total, total_points) = m.add(points, bytes);
        if total > m.limit {
            return Err(Error::MemoryLimit { limit: m.limit, needed: total });
        }
        if total_points > self.shared.max_samples {
            return Err(Error::TooManySamples { limit: self.shared.max_samples });
        }
        Ok(())
    }

    /// Holds one series.
    pub fn grow_series(&mut self, s: &StepSeries) -> Result<()> {
        self.grow(s.values.len() as u64, series_bytes(s))
    }

    /// Releases up to `bytes` (and `points`).
    pub fn shrink(&mut self, points: u64, bytes: u64) {
        let (bytes, points) = (bytes.min(self.bytes), points.min(self.points));
        self.bytes -= bytes;
        self.points -= points;
        self.shared.mem.sub(points, bytes);
    }

    /// Releases one series held by [`Reservation::grow_series`].
    pub fn shrink_series(&mut self, s: &StepSeries) {
        self.shrink(s.values.len() as u64, series_bytes(s));
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.shrink(self.points, self.bytes);
    }
}

/// Estimated heap bytes of a label set (two `String`s per label).
pub fn labels_bytes(labels: &Labels) -> u64 {
    let strings: usize = labels.iter().map(|l| l.name.len() + l.value.len()).sum();
    (24 + labels.len() * std::mem::size_of::<strata_common::labels::Label>() + strings) as u64
}

/// Estimated heap bytes of a series with `labels` and `steps` step values,
/// before it is built (what [`series_bytes`] will say of it).
pub fn new_series_bytes(labels: &Labels, steps: usize) -> u64 {
    labels_bytes(labels) + std::mem::size_of::<StepSeries>() as u64 + steps as u64 * STEP_VALUE_BYTES
}

/// Estimated heap bytes of one series over the step grid (a histogram
/// column counts its pointers and, once per present step, the histogram;
/// shared histograms are counted once per reference).
pub fn series_bytes(s: &StepSeries) -> u64 {
    let hist = s.hist.as_ref().map_or(0, |h| {
        h.capacity() * std::mem::size_of::<Option<Arc<Histogram>>>()
            + h.iter().flatten().map(|h| h.heap_bytes()).sum::<usize>()
    });
    labels_bytes(&s.labels)
        + (std::mem::size_of::<StepSeries>() + s.values.capacity() * std::mem::size_of::<Option<f64>>() + hist) as u64
}

/// A stream over an already materialized list; with a reservation, each
/// series leaves the account as it leaves the stream.
pub struct VecStream {
    iter: std::vec::IntoIter<StepSeries>,
    held: Option<Reservation>,
}

impl VecStream {
    /// A stream over `series`, whose memory is not accounted (small lists).
    pub fn new(series: Vec<StepSeries>) -> Self {
        Self { iter: series.into_iter(), held: None }
    }

    /// A stream over `series`, which `held` accounts for.
    pub fn held(series: Vec<StepSeries>, held: Reservation) -> Self {
        Self { iter: series.into_iter(), held: Some(held) }
    }

    /// Accounts `series` against the budget of `ctx`, then streams it.
    pub fn charged(ctx: &EvalCtx, series: Vec<StepSeries>) -> Result<Self> {
        let held = ctx.hold(&series)?;
        Ok(Self::held(series, held))
    }
}

impl SeriesStream for VecStream {
    fn next_series(&mut self) -> Result<Option<StepSeries>> {
        let s = self.iter.next();
        if let (Some(s), Some(held)) = (&s, &mut self.held) {
            held.shrink_series(s);
        }
        Ok(s)
    }
}

/// Pulls a stream to the end, accounting every series it keeps.
pub fn collect(ctx: &EvalCtx, stream: &mut dyn SeriesStream) -> Result<(Vec<StepSeries>, Reservation)> {
    let mut out = Vec::new();
    let mut held = ctx.reservation();
    while let Some(s) = stream.next_series()? {
        held.grow_series(&s)?;
        out.push(s);
    }
    Ok((out, held))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ctx(limit: u64) -> EvalCtx {
        let budget = Budget {
            deadline: Instant::now() + Duration::from_secs(60),
            max_samples: u64::MAX,
            max_series: 0,
            max_memory_bytes: limit,
            canceled: Default::default(),
        };
        EvalCtx::new(0, 0, 1, 300_000, budget, HashMap::new())
    }

    #[test]
    fn reservations_add_up_release_on_drop_and_keep_the_peak() {
        let ctx = ctx(1000);
        let mut a = ctx.reservation();
        a.grow(10, 400).unwrap();
        {
            let mut b = ctx.reservation();
            b.grow(5, 500).unwrap();
            assert_eq!((ctx.peak_memory_bytes(), ctx.peak_points()), (900, 15));
            // 400 + 500 + 200 > 1000: the error names the limit and the need.
            let err = b.grow(0, 200).unwrap_err();
            assert!(matches!(err, Error::MemoryLimit { limit: 1000, needed: 1100 }), "{err:?}");
        }
        // b dropped: only a's 400 remain, so 600 more fit again.
        a.grow(0, 600).unwrap();
        a.shrink(10, 1000);
        assert_eq!(a.bytes(), 0);
        assert_eq!(ctx.shared.mem.bytes.get(), 0);
        assert_eq!(ctx.peak_memory_bytes(), 1100);
    }

    #[test]
    fn a_grid_too_big_for_the_budget_is_refused_before_it_allocates() {
        let ctx = ctx(1 << 20);
        // 1M steps × 16 bytes: over 1 MiB before anything is evaluated.
        let err = ctx.child(0, 999_999, 1, 1).err().unwrap();
        assert!(matches!(err, Error::MemoryLimit { limit: 1048576, needed: 16_000_000 }), "{err:?}");
        // Released with the failed grid; a grid that fits holds its buffers
        // until it is dropped.
        let child = ctx.child(0, 9_999, 1, 2).unwrap();
        assert_eq!(ctx.shared.mem.bytes.get(), 320_000);
        child.hold_steps(8).unwrap();
        assert_eq!(ctx.shared.mem.bytes.get(), 400_000);
        drop(child);
        assert_eq!(ctx.shared.mem.bytes.get(), 0);
    }

    #[test]
    fn pooled_step_buffers_are_accounted_or_freed() {
        let ctx = ctx(2000);
        let series = |n| StepSeries::new(Labels::empty(), Vec::with_capacity(n));
        ctx.recycle(series(100));
        assert_eq!(ctx.shared.mem.bytes.get(), 1600);
        // Does not fit next to the first: freed, not pooled.
        ctx.recycle(series(100));
        assert_eq!((ctx.shared.step_pool.borrow().len(), ctx.shared.mem.bytes.get()), (1, 1600));
        // Taken out of the pool, it leaves the account (its user's grid
        // reserved it); far bigger than this one-step grid, it is freed.
        let v = ctx.step_values();
        assert!(v.capacity() < 100);
        assert_eq!(ctx.shared.mem.bytes.get(), 0);
    }

    #[test]
    fn annotate_once_builds_each_text_once() {
        let ctx = ctx(u64::MAX);
        let mut built = 0;
        for _ in 0..3 {
            ctx.annotate_once(super::super::annotations::key(1, &["m"], 0), PositionRange::new(7, 8), || {
                built += 1;
                Annotation::not_counter("m")
            });
        }
        ctx.annotate(PositionRange::new(7, 8), Annotation::not_counter("m"));
        assert_eq!(built, 1);
        // Another position is built again, and shown (the latest wins).
        ctx.annotate_once(super::super::annotations::key(1, &["m"], 0), PositionRange::new(0, 1), || {
            built += 1;
            Annotation::not_counter("m")
        });
        assert_eq!(built, 2);
        let a = ctx.take_annotations();
        assert_eq!(a.iter().count(), 1);
        assert_eq!(a.iter().next().and_then(|a| a.pos()).map(|p| p.start), Some(0));
    }

    #[test]
    fn vec_stream_releases_each_series_as_it_leaves() {
        let ctx = ctx(u64::MAX);
        let series: Vec<StepSeries> =
            (0..3).map(|i| StepSeries::new(Labels::empty(), vec![Some(f64::from(i)); 4])).collect();
        let one = series_bytes(&series[0]);
        let mut s = VecStream::charged(&ctx, series).unwrap();
        assert_eq!(ctx.shared.mem.bytes.get(), 3 * one);
        s.next_series().unwrap().unwrap();
        assert_eq!(ctx.shared.mem.bytes.get(), 2 * one);
        drop(s);
        assert_eq!(ctx.shared.mem.bytes.get(), 0);
    }
}
