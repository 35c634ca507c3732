//! The per-query memory budget and `stats=all`: a high-cardinality query
//! over the limit fails with a clear `execution` error naming it, the same
//! query under the limit succeeds, an aggregation's peak memory follows its
//! output rather than its input, and the statistics count exactly what was
//! read. Hostile queries (a subquery on a millisecond grid over days) fail
//! with the memory error before they allocate, without growing the process;
//! `max_samples` bounds the points held at once, not the points loaded.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use strata_common::{Labels, Sample, TenantId};
use strata_querier::engine::{Engine, EngineOptions, QueryRequest, QueryStats, QueryValue};
use strata_querier::metrics::QuerierMetrics;
use strata_querier::{Error, MemorySource, QuerierConfig, QuerierState, router};
use tower::ServiceExt;

const SERIES: usize = 5_000;
const STEP: i64 = 15_000;
/// Samples per series: one hour at 15 s.
const SAMPLES: i64 = 241;

/// `SERIES` counters `http_requests_total{job, instance}` over 10 jobs.
fn source() -> Arc<MemorySource> {
    let src = MemorySource::new();
    let t = TenantId::default_tenant();
    for i in 0..SERIES {
        let (job, inst) = (format!("job{}", i % 10), format!("instance-{i}"));
        let labels =
            Labels::from_pairs([("__name__", "http_requests_total"), ("job", &job), ("instance", &inst)]).unwrap();
        let samples: Vec<Sample> =
            (0..SAMPLES).map(|k| Sample::new(k * STEP, (k * (i as i64 % 5 + 1)) as f64)).collect();
        src.append(&t, labels, &samples).unwrap();
    }
    Arc::new(src)
}

fn range(query: &str) -> QueryRequest {
    QueryRequest {
        tenant: TenantId::default_tenant(),
        query: query.into(),
        start: 600_000,
        end: 3_600_000,
        step: 60_000,
        instant: false,
        timeout: None,
    }
}

async fn run(limit: u64, query: &str) -> Result<(QueryValue, QueryStats), Error> {
    let engine = Engine::new(EngineOptions { max_memory_bytes: limit, ..Default::default() });
    engine.execute_with_stats(source().as_ref(), range(query)).await
}

#[tokio::test]
async fn high_cardinality_query_over_the_limit_fails_cleanly_and_under_it_succeeds() {
    let q = "sum by (instance) (rate(http_requests_total[5m]))";
    let (value, stats) = run(1 << 30, q).await.unwrap();
    let QueryValue::Matrix(m) = value else { panic!("not a matrix") };
    assert_eq!(m.len(), SERIES);
    assert!(stats.peak_memory_bytes > 1 << 20, "peak {}", stats.peak_memory_bytes);

    let limit = stats.peak_memory_bytes / 2;
    let err = run(limit, q).await.unwrap_err();
    assert!(matches!(err, Error::MemoryLimit { .. }), "{err:?}");
    assert_eq!(err.error_type().as_str(), "execution");
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("query exceeded its memory limit of {limit} bytes")), "{msg}");
    assert!(msg.contains("max_query_memory_bytes"), "{msg}");

    // Exactly at the measured peak it fits.
    run(stats.peak_memory_bytes, q).await.unwrap();
}

#[tokio::test]
async fn aggregation_peak_follows_the_output_not_the_input() {
    let (_, wide) = run(1 << 30, "sum by (instance) (rate(http_requests_total[5m]))").await.unwrap();
    let (value, narrow) = run(1 << 30, "sum by (job) (rate(http_requests_total[5m]))").await.unwrap();
    let QueryValue::Matrix(m) = value else { panic!("not a matrix") };
    assert_eq!(m.len(), 10);
    // Same input (every series, every sample) ...
    assert_eq!(wide.samples_loaded, narrow.samples_loaded);
    assert_eq!(narrow.series_touched, SERIES as u64);
    // ... but 10 groups instead of 5,000 hold far less.
    assert!(narrow.peak_memory_bytes * 50 < wide.peak_memory_bytes, "{narrow:?} vs {wide:?}");
    // The input alone (5,000 series × ~260 samples × 16 bytes) is ~20 MB;
    // streaming holds one series' samples plus the groups.
    assert!(narrow.peak_memory_bytes < 64 * 1024, "{narrow:?}");
}

#[tokio::test]
async fn topk_keeps_only_its_candidates() {
    let (value, all) = run(1 << 30, "rate(http_requests_total[5m])").await.unwrap();
    let QueryValue::Matrix(m) = value else { panic!("not a matrix") };
    assert_eq!(m.len(), SERIES);
    let (value, top) = run(1 << 30, "topk(5, rate(http_requests_total[5m]))").await.unwrap();
    let QueryValue::Matrix(m) = value else { panic!("not a matrix") };
    // Every series has one of five slopes: the five steepest win each step.
    assert_eq!(m.len(), 5);
    assert_eq!(top.samples_loaded, all.samples_loaded);
    assert!(top.peak_memory_bytes * 100 < all.peak_memory_bytes, "{top:?} vs {all:?}");
}

#[tokio::test]
async fn stats_count_exactly_what_was_read() {
    // Window (600s - 300s, 3600s] of every series: samples at 300 < t <= 3600
    // at 15 s spacing are t = 315..=3600 s, 220 per series.
    let (_, stats) = run(1 << 30, "count(http_requests_total)").await.unwrap();
    assert_eq!(stats.samples_loaded, 220 * SERIES as u64);
    assert_eq!(stats.series_touched, SERIES as u64);
    assert_eq!(stats.select.head_series, SERIES as u64);
    assert_eq!((stats.select.file_series, stats.select.files_opened), (0, 0));
    // One series' samples and step values at a time, plus the one group (51 steps).
    assert!(stats.peak_samples < 600, "{stats:?}");
}

async fn http(config: QuerierConfig, uri: &str) -> (StatusCode, serde_json::Value) {
    crate::get_json(config, source(), uri).await
}

#[tokio::test]
async fn http_stats_all_and_memory_limit_error() {
    let uri = "/api/v1/query?query=sum(http_requests_total%7Bjob%3D%22job3%22%7D)&time=3600&stats=all";
    let (status, body) = http(QuerierConfig::default(), uri).await;
    assert_eq!(status, StatusCode::OK);
    let stats = &body["data"]["stats"];
    // job3 is i % 10 == 3, so i % 5 == 3: each counter is 240 × 4 at t = 3600 s.
    assert_eq!(body["data"]["result"][0]["value"][1], "480000");
    // 500 series of job3, each with 20 samples in (3300s, 3600s].
    assert_eq!(stats["samples"]["totalQueryableSamples"], 500 * 20);
    assert_eq!(stats["strata"]["seriesTouched"], 500);
    assert_eq!(stats["strata"]["headSeries"], 500);
    assert_eq!(stats["strata"]["filesOpened"], 0);
    assert!(stats["strata"]["peakMemoryBytes"].as_u64().unwrap() > 0);
    for t in ["evalTotalTime", "queryPreparationTime", "innerEvalTime", "execTotalTime"] {
        assert!(stats["timings"][t].as_f64().unwrap() >= 0.0, "{t}");
    }
    // Without the parameter there is no stats object.
    let (_, body) = http(QuerierConfig::default(), &uri.replace("&stats=all", "")).await;
    assert!(body["data"].get("stats").is_none());

    let config = QuerierConfig { max_query_memory_bytes: 100_000, ..Default::default() };
    let uri = "/api/v1/query_range?query=rate(http_requests_total%5B5m%5D)&start=600&end=3600&step=60";
    let (status, body) = http(config, uri).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errorType"], "execution");
    let msg = body["error"].as_str().unwrap();
    assert!(msg.starts_with("query exceeded its memory limit of 100000 bytes"), "{msg}");
}

// ---------------------------------------------------------------------------
// Hostile queries: a buffer that grows with the input is reserved before it
// grows, so a query too big for its budget fails with the memory error (422)
// before it allocates, not after.

const MIB: u64 = 1 << 20;

/// Three series `x{i}` with a sample every 15 s over the last 31 days
/// before `NOW` (sparse: 30 days at 1 ms would be 2.6 billion steps).
const NOW: i64 = 40 * 86_400_000;

fn small_source() -> Arc<MemorySource> {
    let src = MemorySource::new();
    let t = TenantId::default_tenant();
    for i in 0..3 {
        let labels = Labels::from_pairs([("__name__", "x"), ("i", &i.to_string())]).unwrap();
        let n = 31 * 5_760;
        let samples: Vec<Sample> =
            (0..n).map(|k| Sample::new(NOW - (n - 1 - k) * STEP, (k * (i + 1)) as f64)).collect();
        src.append(&t, labels, &samples).unwrap();
    }
    Arc::new(src)
}

fn instant(query: &str) -> QueryRequest {
    QueryRequest {
        tenant: TenantId::default_tenant(),
        query: query.into(),
        start: NOW,
        end: NOW,
        step: 1,
        instant: true,
        timeout: None,
    }
}

async fn run_small(limit: u64, req: QueryRequest) -> Result<(QueryValue, QueryStats), Error> {
    let engine = Engine::new(EngineOptions { max_memory_bytes: limit, ..Default::default() });
    engine.execute_with_stats(small_source().as_ref(), req).await
}

/// Resident set size of this process (`/proc/self/statm`, pages of 4 KiB).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[tokio::test]
async fn subqueries_on_a_huge_inner_grid_fail_with_the_memory_error_before_allocating() {
    for q in [
        // 86.4 M inner steps on an empty selection.
        "count_over_time(vector(1)[1d:1ms])",
        // 2.6 billion inner steps over three series.
        "count_over_time(x[30d:1ms])",
        // 8.6 billion inner steps.
        "sum_over_time(vector(1)[100d:1ms])",
    ] {
        let started = std::time::Instant::now();
        let err = run_small(64 * MIB, instant(q)).await.unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, Error::MemoryLimit { limit, .. } if limit == 64 * MIB), "{q}: {err:?}");
        assert_eq!(err.error_type().status(), 422, "{q}");
        assert!(took < std::time::Duration::from_secs(1), "{q} took {took:?}");
    }
}

#[tokio::test]
async fn a_refused_subquery_does_not_grow_the_process() {
    let budget = 256 * MIB;
    let before = rss_bytes();
    let err = run_small(budget, instant("count_over_time(vector(1)[1d:1ms])")).await.unwrap_err();
    let grown = rss_bytes().saturating_sub(before);
    assert!(matches!(err, Error::MemoryLimit { .. }), "{err:?}");
    assert!(grown < 2 * budget, "RSS grew by {grown} bytes (budget {budget})");
}

#[tokio::test]
async fn subqueries_that_fit_are_evaluated_and_report_their_peak() {
    // A subquery of a range function: 61 inner steps per outer step's hour.
    let q = "max_over_time(rate(x[5m])[1h:1m])";
    let req = QueryRequest { start: NOW - 3_600_000, end: NOW, step: 60_000, instant: false, ..instant(q) };
    let (value, stats) = run_small(64 * MIB, req.clone()).await.unwrap();
    let QueryValue::Matrix(m) = value else { panic!("not a matrix") };
    assert_eq!(m.len(), 3);
    for (i, s) in m.iter().enumerate() {
        let points = s.points.to_vec();
        assert_eq!(points.len(), 61, "{i}");
        // Series i grows by i + 1 every 15 s.
        let want = (i + 1) as f64 / 15.0;
        assert!(points.iter().all(|(_, v)| (v - want).abs() < 1e-9), "{i}: {points:?}");
    }
    assert!(stats.peak_memory_bytes > 0 && stats.peak_memory_bytes < MIB, "{stats:?}");
    // The peak is what it holds: that much fits, half of it does not.
    run_small(stats.peak_memory_bytes, req.clone()).await.unwrap();
    let err = run_small(stats.peak_memory_bytes / 2, req).await.unwrap_err();
    assert!(matches!(err, Error::MemoryLimit { .. }), "{err:?}");

    // A subquery on a fine grid that fits runs too.
    let (value, _) = run_small(64 * MIB, instant("count_over_time(vector(1)[1m:100ms])")).await.unwrap();
    let QueryValue::Vector(v) = value else { panic!("not a vector") };
    assert_eq!(v[0].v, 600.0);
}

#[tokio::test]
async fn max_samples_bounds_the_points_held_at_once_not_the_points_loaded() {
    // `count` streams: one series' samples and the one group at a time, so
    // loading 1.1 M samples in total is fine under a limit of 10,000 ...
    let engine = Engine::new(EngineOptions { max_samples: 10_000, ..Default::default() });
    let (_, stats) = engine.execute_with_stats(source().as_ref(), range("count(http_requests_total)")).await.unwrap();
    assert_eq!(stats.samples_loaded, 220 * SERIES as u64);
    assert!(stats.peak_samples <= 10_000, "{stats:?}");
    // ... while a result of 5,000 series × 51 steps held at once is not.
    let err = engine.execute(source().as_ref(), range("http_requests_total")).await.unwrap_err();
    assert!(matches!(err, Error::TooManySamples { limit: 10_000 }), "{err:?}");
}

#[tokio::test]
async fn http_answers_a_huge_subquery_with_the_422_memory_error() {
    let config = QuerierConfig { max_query_memory_bytes: 64 * MIB, ..Default::default() };
    let st = Arc::new(QuerierState::with_source(config, small_source(), QuerierMetrics::unregistered()));
    let uri = format!("/api/v1/query?query=count_over_time(vector(1)%5B1d:1ms%5D)&time={}", NOW / 1000);
    let resp = router(st).oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value =
        serde_json::from_slice(&to_bytes(resp.into_body(), usize::MAX).await.unwrap()).unwrap();
    assert_eq!(body["errorType"], "execution");
    let msg = body["error"].as_str().unwrap();
    assert!(msg.starts_with(&format!("query exceeded its memory limit of {} bytes", 64 * MIB)), "{msg}");
}

#[tokio::test]
async fn an_answer_too_big_to_render_within_the_budget_is_refused() {
    let q = "http_requests_total";
    let (value, stats) = run(1 << 30, q).await.unwrap();
    let rendered = strata_querier::api::json::rendered_size(&value);
    // The compact result fits where its JSON text (~40 bytes a point) does not.
    assert!(stats.peak_memory_bytes * 2 < rendered, "{stats:?} vs {rendered}");
    let limit = (stats.peak_memory_bytes + rendered) / 2;
    let config = QuerierConfig { max_query_memory_bytes: limit, ..Default::default() };
    let uri = "/api/v1/query_range?query=http_requests_total&start=600&end=3600&step=60";
    let (status, body) = http(config, uri).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errorType"], "execution");
    let msg = body["error"].as_str().unwrap();
    assert!(msg.starts_with(&format!("query exceeded its memory limit of {limit} bytes")), "{msg}");
    assert!(msg.contains(&format!("it needed at least {rendered} bytes")), "{msg}");
}
