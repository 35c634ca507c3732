//! The per-query memory budget and `stats=all`: a high-cardinality query
//! over the limit fails with a clear `execution` error naming it, the same
//! query under the limit succeeds, an aggregation's peak memory follows its
//! output rather than its input, and the statistics count exactly what was
//! read.

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
    let st = Arc::new(QuerierState::with_source(config, source(), QuerierMetrics::unregistered()));
    let resp = router(st).oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let body = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap())
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
