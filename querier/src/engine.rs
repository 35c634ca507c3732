//! The streaming PromQL engine.
//!
//! ```text
//!  query text ─parse─▶ AST ─plan─▶ selections (matchers + time windows)
//!      ─prefetch (async, SeriesSource::select)─▶ lazy series iterators
//!      ─evaluate (blocking thread)─▶ operators pull one series at a time:
//!         selector ─▶ function / binary / aggregation ─▶ result
//! ```
//! Every query is evaluated over a step grid (an instant query is a range
//! query with one step). Samples are loaded one series at a time; the
//! points (samples and step values) held at once count against
//! `max_samples` and their bytes against the memory budget (see [`ctx`]);
//! the deadline is checked as series flow.

pub mod aggregate;
pub mod annotations;
pub mod binary;
pub mod cost;
pub mod ctx;
pub mod eval;
pub mod functions;
pub mod numeric;
pub mod parallel;
pub mod parse;
pub mod plan;
pub mod pool;
pub mod result;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use promql_parser::parser::Expr;
use promql_parser::parser::value::ValueType;
use strata_common::histogram::Histogram;
use strata_common::{Labels, TenantId, Timestamp};

use self::cost::CostNode;
use self::ctx::{Budget, EvalCtx, StepSeries, Value, collect};
use self::plan::{Grid, Selection};
pub use self::result::{Points, RangeSeries};
use crate::config::QuerierConfig;
use crate::error::{Error, Result};
use crate::source::{SelectStats, SeriesIter, SeriesSource};
use strata_common::select::SelectRequest;

/// Engine limits and defaults.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks, in ms.
    pub lookback_delta_ms: i64,
    /// Most points (samples and step values) held at once.
    pub max_samples: u64,
    /// Per-query memory budget in bytes (see [`ctx`]'s accounting).
    pub max_memory_bytes: u64,
    /// Time budget of one query.
    pub timeout: Duration,
    /// Threads one query's leaf operators may use unless the caller sets
    /// it per query ([`Prepared::set_parallelism`]; the HTTP API sets the
    /// scheduler's grant). Default 1 (serial). Results are the same
    /// whatever it is; peak memory grows with it (a batch per thread).
    pub parallelism: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self::from(&QuerierConfig::default())
    }
}

impl From<&QuerierConfig> for EngineOptions {
    fn from(c: &QuerierConfig) -> Self {
        Self {
            lookback_delta_ms: c.lookback_delta_ms as i64,
            max_samples: c.max_samples,
            max_memory_bytes: c.max_query_memory_bytes,
            timeout: Duration::from_millis(c.query_timeout_ms),
            parallelism: 1,
        }
    }
}

/// One query to run.
#[derive(Debug, Clone)]
pub struct QueryRequest {
    /// Whose series the query reads.
    pub tenant: TenantId,
    /// The PromQL text.
    pub query: String,
    /// Evaluation time of an instant query, or the first step (ms).
    pub start: Timestamp,
    /// Last step (ms); equal to `start` for an instant query.
    pub end: Timestamp,
    /// Step width (ms); ignored for an instant query.
    pub step: Timestamp,
    /// Instant query (a range vector is allowed as the whole expression).
    pub instant: bool,
    /// Lowers the engine's timeout for this query.
    pub timeout: Option<Duration>,
}

/// One sample of an instant vector result.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    /// The series' labels.
    pub labels: Labels,
    /// The evaluation time.
    pub t: Timestamp,
    /// The value (meaningless when `h` is set).
    pub v: f64,
    /// The native-histogram value, for a histogram sample.
    pub h: Option<Arc<Histogram>>,
}

/// The result of a query, shaped like the Prometheus API's `data`.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    /// A number at the evaluation time.
    Scalar {
        /// The evaluation time.
        t: Timestamp,
        /// The value.
        v: f64,
    },
    /// A string at the evaluation time.
    String {
        /// The evaluation time.
        t: Timestamp,
        /// The string.
        v: String,
    },
    /// An instant vector.
    Vector(Vec<InstantSample>),
    /// A range vector, or a range query's result.
    Matrix(Vec<RangeSeries>),
}

/// What one query cost (rendered by `stats=all`, see [`crate::api::json`]),
/// and the warnings and infos it noticed (rendered always).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryStats {
    /// Samples loaded from the source (Prometheus's
    /// `totalQueryableSamples`; statistics only, no limit applies to the
    /// total).
    pub samples_loaded: u64,
    /// Most points (loaded samples and step values) held at once
    /// (Prometheus's `peakSamples`; what `max_samples` limits).
    pub peak_samples: u64,
    /// Most bytes held at once by the query's operators (what
    /// `max_query_memory_bytes` limits).
    pub peak_memory_bytes: u64,
    /// Series pulled from the source by the selectors.
    pub series_touched: u64,
    /// What the selections read: head series, file series, files opened.
    pub select: SelectStats,
    /// Parsing, planning and selecting series (Prometheus's
    /// `queryPreparationTime`), in nanoseconds.
    pub prepare_nanos: u64,
    /// Evaluation (Prometheus's `innerEvalTime`), in nanoseconds.
    pub eval_nanos: u64,
    /// Warnings and info annotations (Prometheus's `warnings` / `infos`).
    pub annotations: annotations::Annotations,
}

/// The PromQL engine.
#[derive(Debug, Clone)]
pub struct Engine {
    opts: EngineOptions,
    /// Set once the server shuts down: running queries stop.
    shutdown: Arc<AtomicBool>,
    /// Evaluations in progress (on blocking threads).
    evaluating: Arc<AtomicUsize>,
    /// Low-priority threads for [`Engine::run_with`]`(.., background: true)`.
    background: Option<pool::EvalPool>,
}

/// A parsed and planned query, not yet run: what the scheduler estimates.
#[derive(Debug)]
pub struct Prepared {
    req: QueryRequest,
    // Boxed so selector nodes keep their addresses (the selection keys).
    expr: Box<Expr>,
    grid: Grid,
    selections: Vec<Selection>,
    started: Instant,
    parallelism: usize,
    max_series: u64,
}

impl Prepared {
    /// The tenant the query reads.
    pub fn tenant(&self) -> &TenantId {
        &self.req.tenant
    }

    /// Runs the query's per-series work on up to `threads` threads (the
    /// scheduler's grant; at least 1). Results do not depend on it.
    pub fn set_parallelism(&mut self, threads: usize) {
        self.parallelism = threads.max(1);
    }

    /// Fails the query once it has selected more than `limit` series
    /// (0: no limit).
    pub fn set_max_series(&mut self, limit: u64) {
        self.max_series = limit;
    }

    /// The span of time the query reads: from its earliest selector window
    /// start to its latest window end (`None` without selectors).
    pub fn data_span(&self) -> Option<(Timestamp, Timestamp)> {
        let min = self.selections.iter().map(|s| s.min_t).min()?;
        let max = self.selections.iter().map(|s| s.max_t).max()?;
        Some((min, max))
    }

    /// Leaves samples before `floor` out of every selection, as if they were
    /// not stored (a window wholly before it selects nothing).
    pub fn limit_lookback(&mut self, floor: Timestamp) {
        for s in &mut self.selections {
            s.min_t = s.min_t.max(floor);
        }
    }

    /// The request.
    pub fn request(&self) -> &QueryRequest {
        &self.req
    }

    /// What the query's selectors will select (matchers and time windows).
    pub fn selections(&self) -> impl Iterator<Item = SelectRequest> + '_ {
        self.selections
            .iter()
            .map(|s| SelectRequest::new(self.req.tenant.clone(), s.matchers.clone(), s.min_t, s.max_t))
    }
}

/// Counts an evaluation as finished when dropped (also on an error).
struct DecrementOnDrop(Arc<AtomicUsize>);

impl Drop for DecrementOnDrop {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Sets a query's cancel flag when dropped: a query whose caller went away
/// (client disconnect, its future dropped) stops at its next check.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Engine {
    /// An engine with `opts`.
    pub fn new(opts: EngineOptions) -> Self {
        Self { opts, shutdown: Arc::new(AtomicBool::new(false)), evaluating: Arc::default(), background: None }
    }

    /// Runs `f` where [`Engine::run_with`] runs background work: on the
    /// low-priority pool if the engine has one (`None` if `f` panicked), else
    /// here. A heavy query renders its answer this way, so even its JSON
    /// yields the CPU to cheap queries.
    pub async fn in_background<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        match &self.background {
            Some(pool) => pool.spawn(f).await.ok(),
            None => Some(f()),
        }
    }

    /// Runs background evaluations (the heavy lane's) on `pool`.
    pub fn with_background_pool(mut self, pool: pool::EvalPool) -> Self {
        self.background = Some(pool);
        self
    }

    /// Evaluations running right now, including those whose caller went
    /// away and that have not reached their next cancellation check yet.
    pub fn evaluating(&self) -> usize {
        self.evaluating.load(Ordering::Relaxed)
    }

    /// Stops every running query (at its next check, within milliseconds)
    /// and every later one: the server is shutting down.
    pub fn shutdown(&self) {
        self.shutdown.store(true, Ordering::Relaxed);
    }

    /// Parses, plans and runs a query against `source`.
    pub async fn execute(&self, source: &dyn SeriesSource, req: QueryRequest) -> Result<QueryValue> {
        Ok(self.execute_with_stats(source, req).await?.0)
    }

    /// [`Engine::execute`], also returning what the query cost.
    pub async fn execute_with_stats(
        &self,
        source: &dyn SeriesSource,
        req: QueryRequest,
    ) -> Result<(QueryValue, QueryStats)> {
        let prepared = self.prepare(req)?;
        self.run(source, prepared).await
    }

    /// Parses and plans a query: everything that can fail on the query text
    /// alone fails here, before any data is read.
    pub fn prepare(&self, req: QueryRequest) -> Result<Prepared> {
        let started = Instant::now();
        let expr = parse::parse(&req.query, "query")?;
        let step = if req.instant { 1 } else { req.step };
        if req.end < req.start || step <= 0 {
            return Err(Error::BadData("invalid query range".into()));
        }
        let vt = expr.value_type();
        if !req.instant && matches!(vt, ValueType::Matrix | ValueType::String) {
            return Err(Error::BadData(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                if vt == ValueType::Matrix { "range vector" } else { "string" }
            )));
        }
        let grid = Grid {
            start: req.start,
            end: req.end,
            step,
            lookback: self.opts.lookback_delta_ms,
            query: (req.start, req.end),
        };
        let mut selections: Vec<Selection> = Vec::new();
        plan::plan(&expr, &grid, &mut selections)?;
        Ok(Prepared { req, expr, grid, selections, started, parallelism: self.opts.parallelism.max(1), max_series: 0 })
    }

    /// Estimates what a prepared query will cost, from the source's
    /// indexes and metadata only.
    pub async fn estimate(&self, source: &dyn SeriesSource, prepared: &Prepared) -> Result<CostNode> {
        let mut selected = HashMap::with_capacity(prepared.selections.len());
        for sel in &prepared.selections {
            let req = SelectRequest::new(prepared.req.tenant.clone(), sel.matchers.clone(), sel.min_t, sel.max_t);
            selected.insert(sel.key, source.estimate(&req).await?);
        }
        Ok(cost::estimate(&prepared.expr, &prepared.grid, &selected))
    }

    /// Runs a prepared query against `source`. Dropping the returned future
    /// cancels the query: its evaluation stops at its next check.
    pub async fn run(&self, source: &dyn SeriesSource, prepared: Prepared) -> Result<(QueryValue, QueryStats)> {
        let canceled = Arc::new(AtomicBool::new(false));
        let _cancel_on_drop = CancelOnDrop(Arc::clone(&canceled));
        let deadline = prepared.deadline(&self.opts);
        let remaining = deadline.saturating_duration_since(Instant::now());
        let fetched = tokio::time::timeout(remaining, fetch(source, &prepared))
            .await
            .map_err(|_| Error::Timeout("query preparation"))??;
        let job = self.eval_job(prepared, fetched, deadline, canceled);
        let handle = tokio::task::spawn_blocking(job);
        finish(deadline, async move { handle.await.map_err(|e| e.to_string()) }).await
    }

    /// [`Engine::run`] as one job on one thread: the selection (driven
    /// there with `block_on`, its file lookups inline, see
    /// [`crate::source::allow_blocking_inline`]) and then the evaluation.
    /// A query hops threads once instead of once per blocking step. With
    /// `background` the job runs on the low-priority pool (if the engine
    /// has one), so all of a heavy query's work yields the CPU to
    /// foreground queries; otherwise on tokio's blocking pool.
    pub async fn run_with(
        &self,
        source: Arc<dyn SeriesSource>,
        prepared: Prepared,
        background: bool,
    ) -> Result<(QueryValue, QueryStats)> {
        let canceled = Arc::new(AtomicBool::new(false));
        let _cancel_on_drop = CancelOnDrop(Arc::clone(&canceled));
        // Dropped when this call returns (answered, timed out or abandoned):
        // the job's fetch then stops. No tokio timer runs on the job's
        // thread: registering one takes the timer wheel's lock and wakes a
        // worker under it, and a heavy-lane thread (`SCHED_IDLE`) preempted
        // there would hold every cheap query's timer behind it.
        let (_caller_here, caller_gone) = tokio::sync::oneshot::channel::<()>();
        let deadline = prepared.deadline(&self.opts);
        let runtime = tokio::runtime::Handle::current();
        let engine = self.clone();
        let job = move || {
            crate::source::allow_blocking_inline();
            let fetched = runtime.block_on(async {
                tokio::select! {
                    fetched = fetch(source.as_ref(), &prepared) => fetched,
                    _ = caller_gone => Err(Error::Timeout("query preparation")),
                }
            })?;
            engine.eval_job(prepared, fetched, deadline, canceled)()
        };
        match self.background.as_ref().filter(|_| background) {
            Some(pool) => {
                let rx = pool.spawn(job);
                finish(deadline, async move { rx.await.map_err(|_| "it panicked".to_string()) }).await
            }
            None => {
                let handle = tokio::task::spawn_blocking(job);
                finish(deadline, async move { handle.await.map_err(|e| e.to_string()) }).await
            }
        }
    }

    /// The evaluation of a prepared query over its selected series.
    fn eval_job(
        &self,
        prepared: Prepared,
        (selected, select, prepare_nanos): Fetched,
        deadline: Instant,
        canceled: Arc<AtomicBool>,
    ) -> impl FnOnce() -> Result<(QueryValue, QueryStats)> + Send + 'static {
        let Prepared { req, expr, grid, parallelism, max_series, .. } = prepared;
        let opts = self.opts.clone();
        let shutdown = Arc::clone(&self.shutdown);
        let evaluating = Arc::clone(&self.evaluating);
        move || {
            evaluating.fetch_add(1, Ordering::Relaxed);
            let _running = DecrementOnDrop(evaluating);
            let eval_started = Instant::now();
            let budget = Budget {
                deadline,
                max_samples: opts.max_samples,
                max_memory_bytes: opts.max_memory_bytes,
                max_series,
                canceled: [canceled, shutdown],
            };
            let ctx = EvalCtx::new(grid.start, grid.end, grid.step, opts.lookback_delta_ms, budget, selected);
            ctx.set_parallelism(parallelism);
            let value = evaluate(&expr, &ctx, req.instant)?;
            let stats = QueryStats {
                samples_loaded: ctx.samples_loaded(),
                peak_samples: ctx.peak_points(),
                peak_memory_bytes: ctx.peak_memory_bytes(),
                series_touched: ctx.series_touched(),
                select,
                prepare_nanos,
                eval_nanos: eval_started.elapsed().as_nanos() as u64,
                annotations: ctx.take_annotations().in_query(&req.query),
            };
            Ok((value, stats))
        }
    }
}

impl Prepared {
    /// When the query must have finished: its own timeout or the engine's.
    fn deadline(&self, opts: &EngineOptions) -> Instant {
        self.started + self.req.timeout.map_or(opts.timeout, |t| t.min(opts.timeout))
    }
}

/// Selected series by selection key, what selecting them read, and the
/// nanoseconds from the query's start to the end of its selection.
type Fetched = (HashMap<usize, SeriesIter>, SelectStats, u64);

/// Selects every series the query reads.
async fn fetch(source: &dyn SeriesSource, prepared: &Prepared) -> Result<Fetched> {
    let mut selected = HashMap::with_capacity(prepared.selections.len());
    let mut stats = SelectStats::default();
    for sel in &prepared.selections {
        let select = SelectRequest::new(prepared.req.tenant.clone(), sel.matchers.clone(), sel.min_t, sel.max_t)
            .with_steps(sel.steps);
        let (iter, s) = source.select_with_stats(&select).await?;
        stats.add(s);
        selected.insert(sel.key, iter);
    }
    Ok((selected, stats, prepared.started.elapsed().as_nanos() as u64))
}

/// Waits for an evaluation task until the deadline.
async fn finish<T>(
    deadline: Instant,
    task: impl std::future::Future<Output = std::result::Result<Result<T>, String>>,
) -> Result<T> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(remaining, task).await {
        Err(_) => Err(Error::Timeout("query execution")),
        Ok(Err(why)) => Err(Error::Internal(format!("query evaluation task failed: {why}"))),
        Ok(Ok(result)) => result,
    }
}

/// Runs the evaluator and shapes its output.
fn evaluate(expr: &Expr, ctx: &EvalCtx, instant: bool) -> Result<QueryValue> {
    if instant && matches!(eval::unparen(expr), Expr::MatrixSelector(_) | Expr::Subquery(_)) {
        let mut it = eval::RangeInput::new(ctx, expr)?;
        let mut out = Vec::new();
        // The result, reserved series by series before it is copied out.
        let mut held = ctx.reservation();
        while let Some(labels) = it.advance()? {
            let r = it.timing.ref_t(ctx.start);
            let window = it.samples().iter().filter(|s| s.t > r - it.range && s.t <= r);
            let hwindow = it.hist_samples().iter().filter(|s| s.t > r - it.range && s.t <= r);
            let n = window.clone().count();
            let hn = hwindow.clone().count();
            if n + hn > 0 {
                let hbytes: usize = hwindow.clone().map(|s| 16 + s.h.heap_bytes()).sum();
                let bytes = ctx::labels_bytes(&labels) + (std::mem::size_of::<RangeSeries>() + n * 16 + hbytes) as u64;
                held.grow((n + hn) as u64, bytes)?;
                let mut points = Vec::with_capacity(n);
                points.extend(window.map(|s| (s.t, s.v)));
                let hist = hwindow.map(|s| (s.t, Arc::clone(&s.h))).collect();
                out.push(RangeSeries { labels, points: Points::Raw(points), hist });
            }
        }
        return Ok(QueryValue::Matrix(out));
    }
    // The step buffers the operators of this grid have in flight.
    ctx.hold_steps(ctx::STEP_VALUE_BYTES * eval::step_buffers(expr))?;
    match eval::eval(ctx, expr)? {
        Value::Scalar(v) if instant => Ok(QueryValue::Scalar { t: ctx.start, v: v[0] }),
        Value::Scalar(v) => Ok(QueryValue::Matrix(vec![RangeSeries {
            labels: Labels::empty(),
            points: Points::Raw(v.into_iter().enumerate().map(|(i, v)| (ctx.ts(i), v)).collect()),
            hist: Vec::new(),
        }])),
        Value::String(s) if instant => Ok(QueryValue::String { t: ctx.start, v: s }),
        Value::String(_) => Err(Error::BadData("a string is not a valid range query result".into())),
        Value::Vector(mut stream) if instant => {
            // The result is held (and accounted) until it is shaped.
            let (series, _held) = collect(ctx, stream.as_mut())?;
            let out = merge_same_labels(series)?
                .into_iter()
                .filter_map(|s| {
                    let h = s.hist_at(0).cloned();
                    match (s.values[0], h) {
                        (Some(v), _) => Some(InstantSample { labels: s.labels, t: ctx.start, v, h: None }),
                        (None, Some(h)) => Some(InstantSample { labels: s.labels, t: ctx.start, v: 0.0, h: Some(h) }),
                        (None, None) => None,
                    }
                })
                .collect();
            Ok(QueryValue::Vector(out))
        }
        Value::Vector(mut stream) => {
            // Compacted as it arrives, and accounted until it is shaped.
            let (out, _held) = result::collect_range(ctx, stream.as_mut())?;
            Ok(QueryValue::Matrix(out))
        }
    }
}

/// Merges series with equal labels, keeping first-appearance order (an
/// instant query returns series in evaluation order, e.g. `topk` ranks);
/// two values at one step is Prometheus's "same labelset" error.
fn merge_same_labels(series: Vec<StepSeries>) -> Result<Vec<StepSeries>> {
    let mut index: HashMap<Labels, usize> = HashMap::with_capacity(series.len());
    let mut out: Vec<StepSeries> = Vec::with_capacity(series.len());
    for s in series {
        match index.get(&s.labels) {
            Some(&i) => {
                let into = &mut out[i];
                for (k, v) in s.values.iter().enumerate() {
                    let taken = into.values[k].is_some() || into.hist_at(k).is_some();
                    let h = s.hist_at(k);
                    if taken && (v.is_some() || h.is_some()) {
                        return Err(result::same_labelset());
                    }
                    if v.is_some() {
                        into.values[k] = *v;
                    } else if let Some(h) = h {
                        let steps = into.values.len();
                        into.hist.get_or_insert_with(|| vec![None; steps])[k] = Some(Arc::clone(h));
                    }
                }
            }
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
    }
    Ok(out)
}

/// A shared engine handle.
pub type SharedEngine = Arc<Engine>;
