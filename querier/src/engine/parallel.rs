//! Parallel evaluation of the per-series work at the leaves of a query:
//! loading (decoding) a selected series and turning it into step values
//! (an instant selector's lookback, a range function's windows).
//!
//! ```text
//!  selection (label order) ─▶ batch of up to BATCH series (main thread)
//!      ─▶ split into `parallelism` contiguous chunks ─▶ scoped threads:
//!             per series: load into the thread's sample buffer ─▶ kernel ─▶ step values
//!      ─▶ in selection order ─▶ queue ─▶ next_series() ─▶ aggregation, binary, ...
//! ```
//! Each series is computed by the same [`SeriesKernel`] code whatever the
//! parallelism, and the output keeps the selection's order, so operators
//! above see exactly the stream a serial run produces: results are
//! identical to serial execution bit for bit (aggregations add the same
//! values in the same order). With a parallelism of 1 a batch is one series,
//! run on the evaluating thread, as before.
//!
//! Memory: before a batch runs, its output step buffers and each thread's
//! sample buffer (sized by the loaders' size hints) are reserved against
//! the query budget; the queue's series stay accounted until pulled.
//! Workers never touch the (single-threaded) evaluation context: they get
//! plain copies of the grid and return what they loaded.

use std::collections::VecDeque;

use strata_common::{HistSample, Sample, Timestamp};

use super::annotations::{Annotations, PositionRange, SeriesNotes};
use super::ctx::{EvalCtx, HistColumn, Reservation, SeriesStream, StepSeries, new_series_bytes, series_bytes};
use super::eval::sample_bytes;
use crate::error::Result;
use crate::source::{SeriesIter, SourceSeries};

/// Series per batch when running in parallel: large enough that thread
/// start-up (tens of µs) is noise, small enough to bound what a batch holds.
pub const BATCH: usize = 64;

/// The step grid as plain values, for worker threads.
#[derive(Debug, Clone, Copy)]
pub struct GridView {
    /// First step, ms.
    pub start: Timestamp,
    /// Step width, ms.
    pub step: Timestamp,
    /// Number of steps.
    pub steps: usize,
}

impl GridView {
    /// The grid of `ctx`.
    pub fn of(ctx: &EvalCtx) -> Self {
        Self { start: ctx.start, step: ctx.step, steps: ctx.steps }
    }

    /// The timestamp of step `i`.
    #[inline]
    pub fn ts(&self, i: usize) -> Timestamp {
        self.start + i as Timestamp * self.step
    }
}

/// The per-series work of a leaf operator, run on any thread.
pub trait SeriesKernel: Sync {
    /// The time window of the samples to load, `[min, max]`.
    fn window(&self) -> (Timestamp, Timestamp);

    /// Pushes one value per grid step to `out` (empty on entry) from the
    /// series' samples in [`SeriesKernel::window`], which are in `samples`
    /// (time-sorted, staleness markers included; the kernel may modify them).
    fn eval(&self, samples: &mut Vec<Sample>, out: &mut Vec<Option<f64>>);

    /// [`SeriesKernel::eval`] for a series that also has native-histogram
    /// samples in the window (`hists`, time-sorted, staleness markers
    /// included): pushes the float values to `out` and returns the
    /// histogram column, if the kernel produces histograms. The default
    /// ignores the histograms.
    /// What the kernel notices about the series (Prometheus's annotations)
    /// goes to `notes`.
    fn eval_hist(
        &self,
        samples: &mut Vec<Sample>,
        _hists: &[HistSample],
        out: &mut Vec<Option<f64>>,
        _notes: &SeriesNotes,
    ) -> Option<HistColumn> {
        self.eval(samples, out);
        None
    }

    /// The expression the notes of [`SeriesKernel::eval_hist`] are about
    /// (their annotations' position).
    fn pos(&self) -> PositionRange {
        PositionRange::default()
    }
}

/// What one thread did with its chunk.
struct ChunkResult {
    loaded: usize,
    error: Option<crate::error::Error>,
    /// Histogram columns of the chunk's series that have one, by index in
    /// the chunk (empty, and not allocated, for float-only series).
    hists: Vec<(usize, HistColumn)>,
    /// What the kernel noticed (allocated only when it noticed something).
    annotations: Option<Box<Annotations>>,
}

/// Loads and evaluates `series` into `values` (and, for series with
/// histograms, `hists`) with `kernel`, reusing `buf`.
fn run_chunk<K: SeriesKernel>(
    kernel: &K,
    series: &mut [SourceSeries],
    values: &mut [Vec<Option<f64>>],
    buf: &mut Vec<Sample>,
) -> ChunkResult {
    let (min_t, max_t) = kernel.window();
    let mut r = ChunkResult { loaded: 0, error: None, hists: Vec::new(), annotations: None };
    let notes = SeriesNotes::default();
    for (k, (s, out)) in series.iter_mut().zip(values).enumerate() {
        if let Err(e) = s.loader.load_into(min_t, max_t, buf) {
            r.error = Some(e);
            return r;
        }
        let h = match s.loader.load_histograms(min_t, max_t) {
            Ok(h) => h,
            Err(e) => {
                r.error = Some(e);
                return r;
            }
        };
        r.loaded += buf.len() + h.len();
        if h.is_empty() {
            kernel.eval(buf, out);
        } else {
            if let Some(col) = kernel.eval_hist(buf, &h, out, &notes) {
                r.hists.push((k, col));
            }
            if !notes.is_empty() {
                notes.drain_into(&s.labels, kernel.pos(), r.annotations.get_or_insert_with(Box::default));
            }
        }
    }
    r
}

/// A leaf operator's output stream: the selection's series through a
/// kernel, evaluated a batch at a time on up to the query's parallelism
/// threads (see the module docs).
pub struct Batched<'a, K: SeriesKernel> {
    ctx: &'a EvalCtx,
    iter: SeriesIter,
    kernel: K,
    /// Computed series, in selection order, not pulled yet.
    ready: VecDeque<StepSeries>,
    /// Accounts for `ready`.
    ready_held: Reservation,
    /// One sample buffer per thread, reused across batches.
    bufs: Vec<Vec<Sample>>,
    /// Accounts for `bufs`.
    bufs_held: Reservation,
    done: bool,
}

impl<'a, K: SeriesKernel> Batched<'a, K> {
    /// A stream of `iter`'s series through `kernel` on `ctx`'s grid.
    pub fn new(ctx: &'a EvalCtx, iter: SeriesIter, kernel: K) -> Self {
        Self {
            ctx,
            iter,
            kernel,
            ready: VecDeque::new(),
            ready_held: ctx.reservation(),
            bufs: Vec::new(),
            bufs_held: ctx.reservation(),
            done: false,
        }
    }

    /// The kernel (to adjust it before the first pull).
    pub fn kernel_mut(&mut self) -> &mut K {
        &mut self.kernel
    }

    /// Computes the next batch into `ready`.
    fn fill(&mut self) -> Result<()> {
        let ctx = self.ctx;
        let parallelism = ctx.parallelism().max(1);
        let want = if parallelism == 1 { 1 } else { BATCH };
        let mut batch: Vec<SourceSeries> = Vec::with_capacity(want);
        while batch.len() < want {
            match self.iter.next() {
                None => {
                    self.done = true;
                    break;
                }
                Some(s) => batch.push(s?),
            }
        }
        ctx.check_deadline()?;
        if batch.is_empty() {
            return Ok(());
        }
        let threads = parallelism.min(batch.len());
        let chunk = batch.len().div_ceil(threads);
        let threads = batch.len().div_ceil(chunk);
        // Reserve before allocating: each thread's sample buffer (the
        // largest series of its chunk, by the loaders' hints), and the
        // batch's output step buffers.
        let window = self.kernel.window();
        self.bufs.resize_with(threads.max(self.bufs.len()), Vec::new);
        self.bufs_held.shrink(u64::MAX, u64::MAX);
        for (part, buf) in batch.chunks(chunk).zip(&self.bufs) {
            let hint = part.iter().map(|s| s.loader.size_hint(window.0, window.1).unwrap_or(0)).max().unwrap_or(0);
            let bytes = sample_bytes(buf).max((hint * std::mem::size_of::<Sample>()) as u64);
            self.bufs_held.grow(hint as u64, bytes)?;
        }
        let mut out_held = ctx.reservation();
        for s in &batch {
            out_held.grow(ctx.steps as u64, new_series_bytes(&s.labels, ctx.steps))?;
        }
        let mut values: Vec<Vec<Option<f64>>> = (0..batch.len()).map(|_| ctx.step_values()).collect();
        let kernel = &self.kernel;
        let results: Vec<ChunkResult> = if threads == 1 {
            vec![run_chunk(kernel, &mut batch, &mut values, &mut self.bufs[0])]
        } else {
            std::thread::scope(|scope| {
                let mut parts = batch.chunks_mut(chunk).zip(values.chunks_mut(chunk)).zip(self.bufs.iter_mut());
                // The first chunk runs on this thread.
                let first = parts.next();
                let handles: Vec<_> =
                    parts.map(|((s, v), buf)| scope.spawn(move || run_chunk(kernel, s, v, buf))).collect();
                let mut results = Vec::with_capacity(threads);
                if let Some(((s, v), buf)) = first {
                    results.push(run_chunk(kernel, s, v, buf));
                }
                for h in handles {
                    results.push(h.join().unwrap_or_else(|_| ChunkResult {
                        loaded: 0,
                        error: Some(crate::error::Error::Internal("a query worker thread panicked".into())),
                        hists: Vec::new(),
                        annotations: None,
                    }));
                }
                results
            })
        };
        // Histogram columns by index in the batch (chunks are contiguous).
        let mut hists: Vec<(usize, HistColumn)> = Vec::new();
        for (c, r) in results.into_iter().enumerate() {
            ctx.charge(r.loaded);
            if let Some(e) = r.error {
                return Err(e);
            }
            if let Some(a) = r.annotations {
                ctx.annotate_all(*a);
            }
            hists.extend(r.hists.into_iter().map(|(k, col)| (c * chunk + k, col)));
        }
        let mut hists = hists.into_iter().peekable();
        // The buffers as they are now.
        self.bufs_held.shrink(u64::MAX, u64::MAX);
        let (points, bytes) =
            self.bufs.iter().fold((0, 0), |(p, b), buf| (p + buf.len() as u64, b + sample_bytes(buf)));
        self.bufs_held.grow(points, bytes)?;
        drop(out_held);
        for (i, (s, values)) in batch.into_iter().zip(values).enumerate() {
            ctx.touch_series()?;
            let hist = hists.next_if(|(k, _)| *k == i).map(|(_, col)| col);
            let s = StepSeries { labels: s.labels, values, hist };
            if s.has_values() {
                self.ready_held.grow_series(&s)?;
                self.ready.push_back(s);
            } else {
                ctx.recycle(s);
            }
        }
        Ok(())
    }
}

impl<K: SeriesKernel> SeriesStream for Batched<'_, K> {
    fn next_series(&mut self) -> Result<Option<StepSeries>> {
        loop {
            if let Some(s) = self.ready.pop_front() {
                self.ready_held.shrink(s.values.len() as u64, series_bytes(&s));
                return Ok(Some(s));
            }
            if self.done {
                return Ok(None);
            }
            self.fill()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use strata_common::sample::stale_nan;
    use strata_common::{Labels, Sample, TenantId};

    use crate::engine::{Engine, EngineOptions, QueryRequest, QueryValue};
    use crate::source::memory::MemorySource;

    /// 3 × BATCH + 17 series of counters (with resets), gauges (with
    /// staleness markers and gaps) and full-precision floats: several
    /// batches, the last one partial.
    fn source() -> Arc<MemorySource> {
        let src = MemorySource::new();
        let tenant = TenantId::default_tenant();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        for i in 0..(3 * super::BATCH + 17) {
            let region = format!("r{}", i % 7);
            let host = format!("h{i}");
            let (mut counter, mut gauge) = (0.0, 50.0);
            let (mut cs, mut gs) = (Vec::new(), Vec::new());
            for k in 0..400i64 {
                let t = k * 10_000 + (i as i64 % 5) * 1_000;
                counter += (rnd() * 100.0).floor();
                if i % 11 == 0 && k == 200 {
                    counter = 3.0; // a reset
                }
                gauge = (gauge + rnd() - 0.5).clamp(0.0, 100.0);
                cs.push(Sample::new(t, counter));
                if i % 13 == 0 && (150..170).contains(&k) {
                    continue; // a gap
                }
                gs.push(Sample::new(t, if i % 17 == 0 && k == 300 { stale_nan() } else { gauge }));
            }
            let labels = |name: &str| Labels::from_pairs([("__name__", name), ("region", &region), ("host", &host)]);
            src.append(&tenant, labels("c_total").unwrap(), &cs).unwrap();
            src.append(&tenant, labels("g").unwrap(), &gs).unwrap();
        }
        Arc::new(src)
    }

    /// The result with every float as its bits (NaN == NaN).
    fn bits(v: &QueryValue) -> String {
        match v {
            QueryValue::Matrix(series) => series
                .iter()
                .map(|s| {
                    let pts: Vec<(i64, u64)> = s.points.iter().map(|(t, v)| (t, v.to_bits())).collect();
                    format!("{:?} {pts:?}\n", s.labels)
                })
                .collect(),
            QueryValue::Vector(samples) => {
                samples.iter().map(|s| format!("{:?} {} {}\n", s.labels, s.t, s.v.to_bits())).collect()
            }
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn histogram_series_keep_their_place_in_parallel_batches() {
        use strata_common::HistSample;
        use strata_common::histogram::{Histogram, Span};
        let src = MemorySource::new();
        let tenant = TenantId::default_tenant();
        // Every third series is a histogram series, the others floats.
        for i in 0..(2 * super::BATCH + 5) {
            let labels = Labels::from_pairs([("__name__", "m"), ("i", &format!("{i:03}"))]).unwrap();
            if i % 3 == 0 {
                let h = |k: i64| Histogram {
                    count: k as f64,
                    sum: k as f64,
                    positive_spans: vec![Span { offset: 0, length: 1 }],
                    positive_buckets: vec![k as f64],
                    ..Default::default()
                };
                let hs: Vec<HistSample> = (1..50).map(|k| HistSample::new(k * 10_000, h(k + i as i64))).collect();
                src.append_histograms(&tenant, labels, &hs).unwrap();
            } else {
                let fs: Vec<Sample> = (1..50).map(|k| Sample::new(k * 10_000, (k * i as i64) as f64)).collect();
                src.append(&tenant, labels, &fs).unwrap();
            }
        }
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for q in ["m", "rate(m[1m])", "histogram_count(m)"] {
            let run = |threads: usize| {
                let engine = Engine::new(EngineOptions { parallelism: threads, ..Default::default() });
                let req = QueryRequest {
                    tenant: TenantId::default_tenant(),
                    query: q.into(),
                    start: 0,
                    end: 500_000,
                    step: 30_000,
                    instant: false,
                    timeout: None,
                };
                format!("{:?}", rt.block_on(engine.execute(&src, req)).unwrap())
            };
            let serial = run(1);
            // Histograms in the result (or, for histogram_count, their counts).
            let want = if q.starts_with("histogram_count") { "RangeSeries" } else { "count: " };
            assert!(serial.contains(want), "{q}: {serial}");
            assert_eq!(run(3), serial, "{q}");
        }
    }

    #[test]
    fn parallel_results_are_identical_to_serial() {
        let src = source();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let queries = [
            "avg by (region) (rate(c_total[5m]))",
            "sum(rate(c_total{region=\"r1\"}[5m])) / sum(rate(c_total[5m]))",
            "count(g > 50)",
            "max by (host) (g)",
            "sum by (region) (increase(c_total[1h]))",
            "avg_over_time(g[10m])",
            "quantile_over_time(0.9, g[5m])",
            "stddev by (region) (g)",
            "timestamp(g)",
            "topk(3, g)",
            "g",
        ];
        for q in queries {
            for (start, end, step, instant) in [(0, 4_000_000, 60_000, false), (2_000_000, 2_000_000, 1, true)] {
                let run = |threads: usize| {
                    let engine = Engine::new(EngineOptions { parallelism: threads, ..Default::default() });
                    let req = QueryRequest {
                        tenant: TenantId::default_tenant(),
                        query: q.into(),
                        start,
                        end,
                        step,
                        instant,
                        timeout: None,
                    };
                    let (value, stats) = rt.block_on(engine.execute_with_stats(src.as_ref(), req)).unwrap();
                    (bits(&value), stats.samples_loaded, stats.series_touched)
                };
                let serial = run(1);
                assert!(serial.0.len() > 20, "{q}: a real result");
                for threads in [2, 3, 8] {
                    assert_eq!(run(threads), serial, "{q} on {threads} threads (instant: {instant})");
                }
            }
        }
    }
}
