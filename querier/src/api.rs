//! The Prometheus HTTP query API: `/api/v1/query`, `/api/v1/query_range`,
//! `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/{name}/values` and
//! `/api/v1/status/buildinfo`, with Prometheus's parameters, JSON shapes and
//! error envelope, plus `/api/v1/format_query` and Strata's
//! `/api/v1/query_cost`. The metadata endpoints honour `limit` (with
//! Prometheus's truncation warning). GET query strings and POST forms are
//! both accepted. `/api/v1/metadata` and `/api/v1/query_exemplars` are in
//! `annotations`. Names are UTF-8 and returned as stored (JSON escapes
//! them); `/api/v1/label/{name}/values` also takes a name in Prometheus's
//! `U__` value escaping, for clients that cannot put it in a URL path.
//!
//! Every query and metadata call is estimated, then admitted by the
//! [`Scheduler`] before it reads anything:
//!
//! ```text
//!  params ─▶ Engine::prepare (parse, plan) ─▶ SeriesSource::prepare (read-your-writes)
//!         ─▶ Engine::estimate ─▶ Scheduler::admit (422 over the cost limit, 429 / 503 queues)
//!         ─▶ Engine::run ─▶ JSON, the slot held until the answer is rendered
//! ```

mod annotations;
pub mod json;
pub mod params;
pub mod tsdb_status;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use strata_common::head::HeadReader;
use strata_common::tenant::TENANT_HEADER;
use strata_common::{Matcher, TenantId, Timestamp};
use strata_log::Log;

use self::params::{Params, invalid_param, parse_duration, parse_time};
use crate::config::{QuerierConfig, ReadConsistency};
use crate::engine::cost::CostNode;
use crate::engine::pool::EvalPool;
use crate::engine::{Engine, EngineOptions, Prepared, QueryRequest};
use crate::error::{Error, Result};
use crate::metrics::{EndpointLabels, QuerierMetrics, RequestLabels};
use crate::results_cache::{Lookup, ResultsCache};
use crate::scheduler::{Admission, Lane, Permit, Scheduler};
use crate::source::federated::Federated;
use crate::source::storage::StorageSource;
use crate::source::{self, SeriesSource};
use strata_common::select::SelectRequest;
use strata_storage::StoreSet;

/// Header a request may use to override the configured read consistency.
pub const READ_CONSISTENCY_HEADER: &str = "X-Read-Consistency";

/// Everything the HTTP handlers share.
pub struct QuerierState {
    /// The querier's configuration.
    pub config: QuerierConfig,
    /// The PromQL engine.
    pub engine: Engine,
    /// Where series are read from.
    pub source: Arc<dyn SeriesSource>,
    /// Self-monitoring.
    pub metrics: QuerierMetrics,
    /// Admission by estimated cost.
    pub scheduler: Arc<Scheduler>,
    /// Range-query results by time split.
    pub results_cache: Arc<ResultsCache>,
    /// The ingesters' heads, for exemplars and metric metadata (`None`:
    /// a source without ingesters, whose answers are empty).
    pub heads: Option<Arc<dyn HeadReader>>,
}

impl std::fmt::Debug for QuerierState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuerierState").field("config", &self.config).finish_non_exhaustive()
    }
}

impl QuerierState {
    /// The production wiring: reads files through `store` and unflushed
    /// data through `heads`; `log` enables strong (read-your-writes) reads.
    /// Metrics register under `querier` in `registry`. `config` must have
    /// passed [`QuerierConfig::validate`].
    pub fn new(
        config: QuerierConfig,
        stores: Arc<StoreSet>,
        heads: Arc<dyn HeadReader>,
        log: Option<Arc<dyn Log>>,
        registry: &mut Registry,
    ) -> Self {
        let wait = Duration::from_millis(config.read_consistency_timeout_ms);
        let source = Arc::new(StorageSource::new(stores, heads.clone(), log, wait));
        let mut state = Self::with_source(config, source, QuerierMetrics::register(registry));
        state.heads = Some(heads);
        state
    }

    /// Any [`SeriesSource`] (tests use `MemorySource`).
    pub fn with_source(config: QuerierConfig, source: Arc<dyn SeriesSource>, metrics: QuerierMetrics) -> Self {
        let scheduler = Scheduler::new(config.scheduler.clone(), metrics.clone());
        let mut engine = Engine::new(EngineOptions::from(&config));
        match EvalPool::new(scheduler.slots(Lane::Heavy), config.scheduler.heavy_nice) {
            Ok(pool) => engine = engine.with_background_pool(pool),
            Err(e) => tracing::warn!(error = %e, "heavy queries run at normal priority"),
        }
        let results_cache = Arc::new(ResultsCache::new(config.results_cache.clone()));
        Self {
            config,
            engine,
            source: Arc::new(Federated::new(source)),
            metrics,
            scheduler,
            results_cache,
            heads: None,
        }
    }

    /// Stops running queries (they answer 499 `canceled`) and refuses new
    /// ones: the server is shutting down.
    pub fn shutdown(&self) {
        self.engine.shutdown();
    }

    fn record(&self, endpoint: &'static str, started: Instant, result: &Result<String>) {
        let status = match result {
            Ok(_) => "success",
            Err(e) => e.error_type().as_str(),
        };
        self.metrics.requests.get_or_create(&RequestLabels { endpoint, status }).inc();
        self.metrics.duration.get_or_create(&EndpointLabels { endpoint }).observe(started.elapsed().as_secs_f64());
    }
}

/// The query API routes.
pub fn router(state: Arc<QuerierState>) -> Router {
    let max_body = state.config.max_request_bytes;
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/query_cost", get(query_cost).post(query_cost))
        .route("/api/v1/format_query", get(format_query).post(format_query))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/metadata", get(annotations::metadata))
        .route("/api/v1/query_exemplars", get(annotations::query_exemplars).post(annotations::query_exemplars))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .layer(axum::extract::DefaultBodyLimit::max(usize::try_from(max_body).unwrap_or(usize::MAX)))
        .layer(axum::middleware::map_response(move |r| params::json_rejection(r, max_body)))
        .with_state(state)
        // gzip or zstd when the client offers it (Accept-Encoding).
        .layer(tower_http::compression::CompressionLayer::new())
}

/// Smallest and largest times the metadata endpoints default to.
const MIN_TIME: Timestamp = i64::MIN / 4;
const MAX_TIME: Timestamp = i64::MAX / 4;

/// Records the request's metrics, then renders it.
fn finish(st: &QuerierState, endpoint: &'static str, started: Instant, result: Result<String>) -> Response {
    st.record(endpoint, started, &result);
    respond(result)
}

fn respond(result: Result<String>) -> Response {
    let (status, body) = match result {
        Ok(body) => (StatusCode::OK, body),
        Err(e) => {
            let code = e.error_type().status();
            if code >= 500 {
                tracing::warn!(error = %e, "query API request failed");
            }
            (StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), json::error_body(&e))
        }
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Query string plus, for form posts, the body.
fn request_params(headers: &HeaderMap, query: Option<String>, body: &Bytes) -> Result<Params> {
    let mut p = Params::default();
    if let Some(q) = query {
        p.extend_from_urlencoded(&q)?;
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form && !body.is_empty() {
        let s = std::str::from_utf8(body).map_err(|_| Error::BadData("form body is not UTF-8".into()))?;
        p.extend_from_urlencoded(s)?;
    }
    Ok(p)
}

/// The tenant of a request: `X-Scope-OrgID` (several joined by `|` read
/// across those tenants, see [`crate::source::federated`]), or the default
/// tenant when multi-tenancy is off (401 when it is on and the header is
/// missing).
pub fn tenant(headers: &HeaderMap, config: &QuerierConfig) -> Result<TenantId> {
    match headers.get(TENANT_HEADER).map(|v| v.to_str()) {
        Some(Ok(id)) => TenantId::federated(id).map_err(|e| Error::BadData(e.to_string())),
        Some(Err(_)) => Err(Error::BadData(format!("{TENANT_HEADER} is not valid ASCII"))),
        None if config.multitenancy_enabled => Err(Error::Unauthorized("no org id".into())),
        None => Ok(TenantId::default_tenant()),
    }
}

/// The read consistency of a request: the `X-Read-Consistency` header, or
/// the configured default.
pub fn consistency(headers: &HeaderMap, config: &QuerierConfig) -> Result<ReadConsistency> {
    match headers.get(READ_CONSISTENCY_HEADER).and_then(|v| v.to_str().ok()) {
        None => Ok(config.read_consistency),
        Some(v) => ReadConsistency::parse(v)
            .ok_or_else(|| Error::BadData(format!("invalid {READ_CONSISTENCY_HEADER} {v:?}: want strong or eventual"))),
    }
}

fn now_ms() -> Timestamp {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as Timestamp)
}

fn time_param(p: &Params, name: &str, default: Option<Timestamp>) -> Result<Timestamp> {
    match (p.get(name), default) {
        (None, Some(d)) => Ok(d),
        (v, _) => parse_time(v.unwrap_or("")).map_err(|e| invalid_param(name, e)),
    }
}

fn timeout_param(p: &Params) -> Result<Option<Duration>> {
    p.get("timeout")
        .map(|v| {
            parse_duration(v).map(|ms| Duration::from_millis(ms.max(0) as u64)).map_err(|e| invalid_param("timeout", e))
        })
        .transpose()
}

/// Whether the response carries `data.stats`: any non-empty `stats`
/// parameter, as in Prometheus (`stats=all` is the usual value).
fn stats_param(p: &Params) -> bool {
    p.get("stats").is_some_and(|v| !v.is_empty())
}

fn query_param(p: &Params) -> Result<String> {
    p.get("query")
        .map(str::to_string)
        .ok_or_else(|| invalid_param("query", "unknown position: parse error: no expression found in input"))
}

async fn query(
    State(st): State<Arc<QuerierState>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    query_endpoint(&st, "query", false, &headers, q, &body).await
}

async fn query_range(
    State(st): State<Arc<QuerierState>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    query_endpoint(&st, "query_range", true, &headers, q, &body).await
}

/// `/api/v1/query` (instant) and `/api/v1/query_range` (`range`).
async fn query_endpoint(
    st: &QuerierState,
    endpoint: &'static str,
    range: bool,
    headers: &HeaderMap,
    q: Option<String>,
    body: &Bytes,
) -> Response {
    let started = Instant::now();
    let result = async {
        let p = request_params(headers, q, body)?;
        let req = query_request(st, headers, &p, range)?;
        run_query(st, headers, &p, req, started).await
    }
    .await;
    finish(st, endpoint, started, result)
}

/// The query of a request: instant at `time` (default now), or with
/// `range` over `start`..`end` by `step`. Parameters are checked in
/// Prometheus's order (tenant, times, query, timeout).
fn query_request(st: &QuerierState, headers: &HeaderMap, p: &Params, range: bool) -> Result<QueryRequest> {
    let tenant = tenant(headers, &st.config)?;
    let (start, end, step) = if range {
        range_params(p, &st.config)?
    } else {
        let t = time_param(p, "time", Some(now_ms()))?;
        (t, t, 1)
    };
    let query = query_param(p)?;
    Ok(QueryRequest { tenant, query, start, end, step, instant: !range, timeout: timeout_param(p)? })
}

/// Parses and plans `req` within its tenant's limits, waits for the
/// requested read consistency, and estimates its cost. With `cache`, the
/// results cache is looked up first and only what it misses is estimated:
/// a refreshed panel is admitted (and laned) by its uncached tail.
async fn plan_query(
    st: &QuerierState,
    headers: &HeaderMap,
    req: QueryRequest,
    cache: bool,
) -> Result<(Prepared, CostNode, Option<Lookup>)> {
    let tenant = req.tenant.clone();
    let mut prepared = st.engine.prepare(req)?;
    let limits = st.scheduler.limits(&tenant);
    if limits.max_query_lookback_ms > 0 {
        prepared.limit_lookback(now_ms().saturating_sub(limits.max_query_lookback_ms as i64));
    }
    prepared.set_max_series(limits.max_series_per_query);
    st.source.prepare(&tenant, consistency(headers, &st.config)?).await?;
    let lookup = if cache { st.results_cache.lookup(&st.engine, &st.source, prepared.request()).await? } else { None };
    let (plan, lookup) = if let Some(lookup) = lookup {
        let mut runs = Vec::new();
        for sub in lookup.misses() {
            runs.push(st.engine.estimate(st.source.as_ref(), sub).await?);
        }
        let o = lookup.outcome();
        let node = format!("results cache: {} of {} time splits cached", o.hits, o.hits + o.misses);
        (CostNode::sequence(node, runs), Some(lookup))
    } else {
        (st.engine.estimate(st.source.as_ref(), &prepared).await?, None)
    };
    if let Some((min, max)) = prepared.data_span()
        && limits.max_query_length_ms > 0
        && max.saturating_sub(min) > limits.max_query_length_ms as i64
    {
        st.scheduler.refused("query_length", st.scheduler.lane_of(plan.cost.cost()));
        return Err(Error::QueryTooLong { length_ms: max - min, limit_ms: limits.max_query_length_ms });
    }
    Ok((prepared, plan, lookup))
}

/// Whether the tenant's limits change what a query reads or may fail it
/// midway; such queries bypass the results cache, whose splits are shared
/// and evaluated without them.
fn limits_apply_midway(st: &QuerierState, tenant: &TenantId) -> bool {
    let limits = st.scheduler.limits(tenant);
    limits.max_series_per_query > 0 || limits.max_query_lookback_ms > 0
}

/// Estimates, admits and runs one query; renders its answer while holding
/// its slot.
async fn run_query(
    st: &QuerierState,
    headers: &HeaderMap,
    p: &Params,
    req: QueryRequest,
    started: Instant,
) -> Result<String> {
    // `stats=all` reports the query's own figures: evaluated in one piece.
    let use_cache = st.results_cache.cacheable(&req)
        && !no_store(headers)
        && !stats_param(p)
        && !limits_apply_midway(st, &req.tenant);
    let (mut prepared, plan, lookup) = plan_query(st, headers, req, use_cache).await?;
    let permit = st.scheduler.admit(prepared.tenant(), Admission { cost: plan.cost.cost() }).await?;
    let parallelism = st.scheduler.parallelism();
    prepared.set_parallelism(parallelism);
    let heavy = permit.lane() == Lane::Heavy;
    let (value, stats) = if let Some(lookup) = lookup {
        drop(prepared);
        let (value, stats, _) = st.results_cache.complete(&st.engine, &st.source, lookup, parallelism, heavy).await?;
        (value, stats)
    } else {
        let result = st.engine.run_with(st.source.clone(), prepared, heavy).await;
        if let Err(Error::TooManySeries { .. }) = &result {
            st.scheduler.refused("max_series", permit.lane());
        }
        result?
    };
    st.metrics.samples_loaded.inc_by(stats.samples_loaded);
    if plan.cost.samples > 0 {
        st.metrics.estimate_accuracy.observe(stats.samples_loaded as f64 / plan.cost.samples as f64);
    }
    let (with_stats, limit) = (stats_param(p), st.config.max_query_memory_bytes);
    let (queued, lane) = (permit.waited, permit.lane());
    let render = move || {
        let report = json::StatsReport { stats: &stats, total: started.elapsed(), queued, lane, estimate: &plan.cost };
        json::query_success_within(&value, with_stats.then_some(&report), &stats.annotations, limit)
    };
    // A heavy answer can take milliseconds to render (hundreds of series
    // times hundreds of steps): at low priority, like its evaluation.
    let body = if heavy {
        st.engine
            .in_background(render)
            .await
            .ok_or_else(|| Error::Internal("rendering the answer panicked".into()))??
    } else {
        render()?
    };
    drop(permit);
    Ok(body)
}

/// Whether the request asks not to use cached results (`Cache-Control:
/// no-store`, as Mimir's query frontend).
fn no_store(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| d.trim().eq_ignore_ascii_case("no-store"))
}

/// `/api/v1/query_cost`: the estimated plan of a query, without running it.
/// Takes `/api/v1/query`'s parameters, or `/api/v1/query_range`'s when
/// `start`, `end` and `step` are given.
async fn query_cost(
    State(st): State<Arc<QuerierState>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    finish(
        &st,
        "query_cost",
        started,
        async {
            let p = request_params(&headers, q, &body)?;
            let req = query_request(&st, &headers, &p, p.get("step").is_some())?;
            let planned = Instant::now();
            let (prepared, plan, _) = plan_query(&st, &headers, req, false).await?;
            let cost = plan.cost.cost();
            let answer = serde_json::json!({
                "status": "success",
                "data": {
                    "lane": st.scheduler.lane_of(cost).as_str(),
                    "cost": cost,
                    "admitted": st.scheduler.cost_limit(prepared.tenant(), cost).is_none(),
                    "planSeconds": planned.elapsed().as_secs_f64(),
                    "plan": plan,
                }
            });
            Ok(answer.to_string())
        }
        .await,
    )
}

/// `start`, `end` and `step` of a range query, checked as Prometheus does.
fn range_params(p: &Params, config: &QuerierConfig) -> Result<(Timestamp, Timestamp, Timestamp)> {
    let start = time_param(p, "start", None)?;
    let end = time_param(p, "end", None)?;
    if end < start {
        return Err(Error::BadData("end timestamp must not be before start time".into()));
    }
    let step = parse_duration(p.get("step").unwrap_or("")).map_err(|e| invalid_param("step", e))?;
    if step <= 0 {
        return Err(Error::BadData(
            "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ));
    }
    if ((end - start) / step) as u64 > config.max_points_per_series {
        return Err(Error::BadData(format!(
            "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
            thousands(config.max_points_per_series)
        )));
    }
    Ok((start, end, step))
}

/// `11000` → `11,000` (as in Prometheus's message).
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Parses every `match[]` as a series selector.
fn match_params(p: &Params) -> Result<Vec<Vec<Matcher>>> {
    p.get_all("match[]")
        .into_iter()
        .map(|m| {
            let expr = crate::engine::parse::parse(m, "match[]")?;
            match *expr {
                promql_parser::parser::Expr::VectorSelector(vs) => crate::engine::plan::matchers_of(&vs),
                _ => Err(invalid_param("match[]", format!("{m:?} is not a series selector"))),
            }
        })
        .collect()
}

/// `limit` of the metadata endpoints, as Prometheus reads it: absent or 0
/// means no limit, a negative number is an error.
fn limit_param(p: &Params) -> Result<Option<usize>> {
    let Some(v) = p.get("limit") else { return Ok(None) };
    let n: i64 = v.parse().map_err(|_| invalid_param("limit", format!("cannot parse {v:?} to a valid limit")))?;
    match n {
        n if n < 0 => Err(invalid_param("limit", "limit must be non-negative")),
        0 => Ok(None),
        n => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
    }
}

/// Keeps the first `limit` entries; whether any were cut.
fn truncate<T>(entries: &mut Vec<T>, limit: Option<usize>) -> bool {
    match limit {
        Some(limit) if entries.len() > limit => {
            entries.truncate(limit);
            true
        }
        _ => false,
    }
}

struct MetaRequest {
    tenant: TenantId,
    matchers: Vec<Vec<Matcher>>,
    start: Timestamp,
    end: Timestamp,
    /// `limit`: most entries answered (`None`: all).
    limit: Option<usize>,
    /// The tenant's `max_series_per_query` (0: none).
    max_series: u64,
    /// The scheduler slot the call runs in (held until it answers).
    permit: Permit,
}

impl MetaRequest {
    /// Whether the tenant's `max_query_lookback_ms` leaves nothing of the
    /// requested range (then the answer is empty, as for data not stored).
    fn beyond_lookback(&self) -> bool {
        self.end < self.start
    }
}

async fn meta_request(st: &QuerierState, headers: &HeaderMap, q: Option<String>, body: &Bytes) -> Result<MetaRequest> {
    let p = request_params(headers, q, body)?;
    let tenant = tenant(headers, &st.config)?;
    let mut start = time_param(&p, "start", Some(MIN_TIME))?;
    let end = time_param(&p, "end", Some(MAX_TIME))?;
    if end < start {
        return Err(Error::BadData("end timestamp must not be before start time".into()));
    }
    let matchers = match_params(&p)?;
    let limit = limit_param(&p)?;
    // The tenant's lookback limit hides older data here as in queries.
    let limits = st.scheduler.limits(&tenant);
    if limits.max_query_lookback_ms > 0 {
        start = start.max(now_ms().saturating_sub(limits.max_query_lookback_ms as i64));
    }
    st.source.prepare(&tenant, consistency(headers, &st.config)?).await?;
    // The cost of a metadata call is the series it selects; without
    // matchers it is answered from postings keys and costs little.
    let mut cost = 1u64;
    for m in matchers.iter().filter(|m| !m.is_empty()) {
        let req = SelectRequest::new(tenant.clone(), m.clone(), start, end).labels_only();
        cost = cost.saturating_add(st.source.estimate(&req).await?.series);
    }
    let permit = st.scheduler.admit(&tenant, Admission { cost }).await?;
    Ok(MetaRequest { tenant, matchers, start, end, limit, max_series: limits.max_series_per_query, permit })
}

async fn series(
    State(st): State<Arc<QuerierState>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    finish(
        &st,
        "series",
        started,
        async {
            let r = meta_request(&st, &headers, q, &body).await?;
            if r.matchers.is_empty() {
                return Err(Error::BadData("no match[] parameter provided".into()));
            }
            if r.beyond_lookback() {
                return Ok(json::series_success(&[], false));
            }
            let mut series = source::series_union(st.source.as_ref(), &r.tenant, &r.matchers, r.start, r.end).await?;
            if r.max_series > 0 && series.len() as u64 > r.max_series {
                st.scheduler.refused("max_series", r.permit.lane());
                return Err(Error::TooManySeries { limit: r.max_series });
            }
            let truncated = truncate(&mut series, r.limit);
            Ok(json::series_success(&series, truncated))
        }
        .await,
    )
}

async fn labels(
    State(st): State<Arc<QuerierState>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    finish(
        &st,
        "labels",
        started,
        async {
            let r = meta_request(&st, &headers, q, &body).await?;
            if r.beyond_lookback() {
                return Ok(json::strings_success(&[], false));
            }
            let mut names = source::labels(st.source.as_ref(), &r.tenant, None, &r.matchers, r.start, r.end).await?;
            let truncated = truncate(&mut names, r.limit);
            Ok(json::strings_success(&names, truncated))
        }
        .await,
    )
}

async fn label_values(
    State(st): State<Arc<QuerierState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let started = Instant::now();
    finish(
        &st,
        "label_values",
        started,
        async {
            // Prometheus 3: a name in value escaping (`U__http_2e_server`)
            // stands for its UTF-8 form.
            let name = if name.starts_with("U__") { unescape_name(&name) } else { name };
            if name.is_empty() {
                return Err(Error::BadData(format!("invalid label name: {name:?}")));
            }
            let r = meta_request(&st, &headers, q, &Bytes::new()).await?;
            if r.beyond_lookback() {
                return Ok(json::strings_success(&[], false));
            }
            let mut values =
                source::labels(st.source.as_ref(), &r.tenant, Some(&name), &r.matchers, r.start, r.end).await?;
            let truncated = truncate(&mut values, r.limit);
            Ok(json::strings_success(&values, truncated))
        }
        .await,
    )
}

/// Undoes Prometheus's value escaping of a name (`U__` prefix; `__` is
/// `_`, `_<hex>_` the code point `hex`, other characters stand for
/// themselves). A name that is not valid escaping is returned unchanged,
/// as Prometheus's `UnescapeName` does.
fn unescape_name(name: &str) -> String {
    let Some(rest) = name.strip_prefix("U__") else { return name.to_string() };
    let mut out = String::with_capacity(rest.len());
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        let mut hex = String::new();
        loop {
            match chars.next() {
                Some('_') if hex.is_empty() => {
                    out.push('_');
                    break;
                }
                Some('_') => {
                    match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        Some(ch) => out.push(ch),
                        None => return name.to_string(),
                    }
                    break;
                }
                Some(h) if h.is_ascii_hexdigit() && hex.len() < 8 => hex.push(h),
                _ => return name.to_string(),
            }
        }
    }
    out
}

/// `/api/v1/format_query`: the query, prettified as Prometheus prints it.
async fn format_query(
    State(st): State<Arc<QuerierState>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let result = async {
        let p = request_params(&headers, q, &body)?;
        let expr = crate::engine::parse::parse(&query_param(&p)?, "query")?;
        Ok(json::string_success(&expr.prettify()))
    }
    .await;
    finish(&st, "format_query", started, result)
}

async fn buildinfo() -> Response {
    let body = format!(
        r#"{{"status":"success","data":{{"version":"{}","revision":"","branch":"","buildUser":"","buildDate":"","goVersion":""}}}}"#,
        env!("CARGO_PKG_VERSION")
    );
    respond(Ok(body))
}

#[cfg(test)]
mod tests {
    use super::unescape_name;

    #[test]
    fn value_escaped_names_unescape_like_prometheus() {
        assert_eq!(unescape_name("U__http_2e_server_2e_duration"), "http.server.duration");
        assert_eq!(unescape_name("U__service__name"), "service_name");
        assert_eq!(unescape_name("U___1f600_"), "😀");
        // Not valid escaping: unchanged.
        assert_eq!(unescape_name("U__bad_zz_"), "U__bad_zz_");
        assert_eq!(unescape_name("U__open_2e"), "U__open_2e");
        assert_eq!(unescape_name("plain"), "plain");
    }
}
