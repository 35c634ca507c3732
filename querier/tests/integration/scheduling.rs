//! Cost-based scheduling through the engine and the HTTP API: estimates
//! match what queries read, `/api/v1/query_cost` shows the plan, a query
//! over the cost limit is refused before it loads anything, `max_samples`
//! bounds what is held at once (not what is read), and an abandoned query
//! stops evaluating.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use strata_common::{Labels, Sample, TenantId};
use strata_querier::engine::{Engine, EngineOptions, QueryRequest};
use strata_querier::metrics::QuerierMetrics;
use strata_querier::scheduler::SchedulerConfig;
use strata_querier::{Error, MemorySource, QuerierConfig, QuerierState, router};
use tower::ServiceExt;

const HOSTS: usize = 200;
const STEP: i64 = 10_000;
/// Six hours at 10 s.
const SAMPLES: i64 = 2_160;
const HOUR: i64 = 3_600_000;

/// Per host: a cpu gauge and a request counter with `status` 200 and 500;
/// a 12-bucket histogram for the first 20 hosts.
fn source() -> Arc<MemorySource> {
    let src = MemorySource::new();
    let t = TenantId::default_tenant();
    let add = |pairs: &[(&str, &str)], f: &dyn Fn(i64) -> f64| {
        let samples: Vec<Sample> = (0..SAMPLES).map(|k| Sample::new(k * STEP, f(k))).collect();
        src.append(&t, Labels::from_pairs(pairs.iter().copied()).unwrap(), &samples).unwrap();
    };
    for h in 0..HOSTS {
        let host = format!("host_{h}");
        let region = format!("region-{}", h % 9);
        add(&[("__name__", "cpu_usage_user"), ("hostname", &host), ("region", &region)], &|k| {
            ((k * 7919 + h as i64) % 1000) as f64 / 10.0
        });
        for status in ["200", "500"] {
            let labels = [("__name__", "http_requests_total"), ("hostname", &host), ("status", status)];
            add(&labels, &|k| (k * (h as i64 % 5 + 1)) as f64);
        }
        if h < 20 {
            for le in ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"] {
                let labels = [("__name__", "latency_bucket"), ("hostname", &host), ("le", le)];
                add(&labels, &|k| k as f64);
            }
        }
    }
    Arc::new(src)
}

fn range(query: &str, start: i64, end: i64, step: i64) -> QueryRequest {
    QueryRequest {
        tenant: TenantId::default_tenant(),
        query: query.into(),
        start,
        end,
        step,
        instant: false,
        timeout: None,
    }
}

#[tokio::test]
async fn estimates_are_within_2x_of_the_samples_read_for_a_dashboard_set() {
    let src = source();
    let engine = Engine::new(EngineOptions::default());
    let end = SAMPLES * STEP;
    let dashboard = [
        ("cpu_usage_user{hostname=\"host_17\"}", end - HOUR, end, 60_000),
        ("rate(http_requests_total{hostname=\"host_3\"}[5m])", end - HOUR, end, 60_000),
        ("avg by (region) (rate(http_requests_total[5m]))", 0, end, 60_000),
        ("sum(rate(http_requests_total{status=\"500\"}[5m])) / sum(rate(http_requests_total[5m]))", 0, end, 60_000),
        ("count(cpu_usage_user > 90)", 0, end, 60_000),
        ("histogram_quantile(0.99, sum by (le) (rate(latency_bucket[5m])))", 0, end, 60_000),
        ("topk(5, max_over_time(cpu_usage_user[10m]))", end - HOUR, end, 60_000),
        ("max_over_time(rate(http_requests_total{hostname=\"host_1\"}[5m])[30m:1m])", end - HOUR, end, 60_000),
    ];
    let mut worst: f64 = 1.0;
    for (q, start, end, step) in dashboard {
        let prepared = engine.prepare(range(q, start, end, step)).unwrap();
        let plan = engine.estimate(src.as_ref(), &prepared).await.unwrap();
        let (_, stats) = engine.run(src.as_ref(), prepared).await.unwrap();
        let ratio = plan.cost.samples as f64 / stats.samples_loaded.max(1) as f64;
        worst = worst.max(ratio.max(1.0 / ratio));
        assert!(
            (0.5..=2.0).contains(&ratio),
            "{q}: estimated {} samples, read {}",
            plan.cost.samples,
            stats.samples_loaded
        );
        assert!(plan.cost.cost() >= plan.cost.samples, "{q}");
    }
    println!("worst estimate / actual: {worst:.3}x");
}

async fn http(config: QuerierConfig, uri: &str) -> (StatusCode, serde_json::Value) {
    crate::get_json(config, source(), uri).await
}

#[tokio::test]
async fn query_cost_shows_the_plan_and_its_lane() {
    let q = "sum%20by%20(region)%20(rate(http_requests_total%5B5m%5D))";
    let uri = format!("/api/v1/query_cost?query={q}&start=0&end=21600&step=60");
    let (status, body) = http(QuerierConfig::default(), &uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    let plan = &data["plan"];
    assert_eq!(plan["node"], "sum by (region)");
    assert_eq!(plan["children"][0]["node"], "rate");
    let selector = &plan["children"][0]["children"][0];
    assert_eq!(selector["node"], "http_requests_total[5m]");
    assert_eq!(selector["series"], 2 * HOSTS as u64);
    // Every sample of the 400 counters lies in the 6 h range.
    assert_eq!(selector["samples"], 2 * HOSTS as u64 * SAMPLES as u64);
    assert_eq!(data["cost"], plan["samples"].as_u64().unwrap() + plan["points"].as_u64().unwrap());
    // An aggregation over every host and 6 h is past the default cheap lane.
    assert!(data["cost"].as_u64().unwrap() > QuerierConfig::default().scheduler.cheap_max_cost, "{body}");
    assert_eq!(data["lane"], "heavy");
    assert_eq!(data["admitted"], true);

    // An instant query of one host is far cheaper.
    let (_, body) = http(
        QuerierConfig::default(),
        "/api/v1/query_cost?query=cpu_usage_user%7Bhostname%3D%22host_1%22%7D&time=3600",
    )
    .await;
    assert!(body["data"]["cost"].as_u64().unwrap() < 100, "{body}");
    assert_eq!(body["data"]["lane"], "cheap");

    // stats=all carries the estimate next to the actual figures.
    let (_, body) =
        http(QuerierConfig::default(), &format!("/api/v1/query_range?query={q}&start=0&end=21600&step=60&stats=all"))
            .await;
    let stats = &body["data"]["stats"];
    assert_eq!(stats["strata"]["estimate"]["samples"], stats["samples"]["totalQueryableSamples"]);
    assert_eq!(stats["strata"]["lane"], "heavy");
}

#[tokio::test]
async fn a_query_over_the_cost_limit_is_refused_before_it_reads_anything() {
    let scheduler = SchedulerConfig { max_query_cost: 10_000, ..Default::default() };
    let config = QuerierConfig { scheduler, ..Default::default() };
    let st = Arc::new(QuerierState::with_source(config, source(), QuerierMetrics::unregistered()));
    let uri = "/api/v1/query_range?query=sum(rate(http_requests_total%5B5m%5D))&start=0&end=21600&step=60";
    let resp = router(st.clone()).oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value =
        serde_json::from_slice(&to_bytes(resp.into_body(), usize::MAX).await.unwrap()).unwrap();
    assert_eq!(body["errorType"], "execution");
    let msg = body["error"].as_str().unwrap();
    assert!(msg.contains("estimated cost") && msg.contains("over the limit 10000"), "{msg}");
    // Nothing was loaded.
    assert_eq!(st.metrics.samples_loaded.get(), 0);
}

#[tokio::test]
async fn max_samples_bounds_what_is_held_at_once_not_what_is_read() {
    let src = source();
    let end = SAMPLES * STEP;
    // 400 counters × 2,160 samples = 864,000 samples read, far over the
    // limit, but the aggregation holds one series and one group at a time.
    let engine = Engine::new(EngineOptions { max_samples: 100_000, ..Default::default() });
    let (_, stats) = engine
        .execute_with_stats(src.as_ref(), range("sum(rate(http_requests_total[5m]))", 0, end, 60_000))
        .await
        .unwrap();
    assert!(stats.samples_loaded > 800_000, "{stats:?}");
    assert!(stats.peak_samples < 100_000, "{stats:?}");
    // 400 series × 361 steps held in the result is over it.
    let err = engine.execute(src.as_ref(), range("rate(http_requests_total[5m])", 0, end, 60_000)).await.unwrap_err();
    assert!(matches!(err, Error::TooManySamples { limit: 100_000 }), "{err}");
}

#[tokio::test]
async fn an_abandoned_query_stops_evaluating() {
    let src = source();
    let engine = Engine::new(EngineOptions::default());
    // Thousands of subquery steps over every series: seconds of work in a
    // debug build.
    let q = "sum(max_over_time(rate(http_requests_total[5m])[6h:10s]))";
    let prepared = engine.prepare(range(q, 0, SAMPLES * STEP, 10_000)).unwrap();
    let mut run = Box::pin(engine.run(src.as_ref(), prepared));
    let evaluating = async {
        while engine.evaluating() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::select! {
        _ = run.as_mut() => panic!("the query finished too soon"),
        _ = evaluating => {}
    }
    drop(run);
    let dropped = Instant::now();
    while engine.evaluating() > 0 {
        assert!(
            dropped.elapsed() < Duration::from_secs(1),
            "still evaluating {:?} after the caller left",
            dropped.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!("stopped {:?} after the caller left", dropped.elapsed());
}

/// GETs `uri`: the status and the JSON body.
async fn get(st: &Arc<QuerierState>, uri: &str) -> (StatusCode, serde_json::Value) {
    let resp = router(st.clone()).oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    (status, serde_json::from_slice(&to_bytes(resp.into_body(), usize::MAX).await.unwrap()).unwrap())
}

#[tokio::test]
async fn tenant_query_limits_come_from_a_reloadable_overrides_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("query-overrides.toml");
    std::fs::write(&file, "[tenants.anonymous]\nmax_series_per_query = 50\nmax_query_length_ms = 7200000\n").unwrap();
    let scheduler = SchedulerConfig { overrides_file: file.clone(), reload_interval_ms: 20, ..Default::default() };
    scheduler.validate().unwrap();
    let config = QuerierConfig { scheduler, ..Default::default() };
    let st = Arc::new(QuerierState::with_source(config, source(), QuerierMetrics::unregistered()));
    tokio::spawn(st.scheduler.clone().watch_overrides());

    // 200 cpu series: over the series limit; one host's is within it.
    let (status, body) = get(&st, "/api/v1/query?query=cpu_usage_user&time=21600").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("more than 50 series (querier.scheduler.max_series_per_query)"),
        "{body}"
    );
    let (status, body) = get(&st, "/api/v1/query?query=cpu_usage_user%7Bhostname%3D%22host_1%22%7D&time=21600").await;
    assert_eq!((status, body["data"]["result"].as_array().unwrap().len()), (StatusCode::OK, 1), "{body}");
    // The same limit holds for /api/v1/series.
    let (status, body) = get(&st, "/api/v1/series?match[]=cpu_usage_user").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"].as_str().unwrap().contains("more than 50 series"), "{body}");
    let (status, body) = get(&st, "/api/v1/series?match[]=cpu_usage_user%7Bhostname%3D%22host_1%22%7D").await;
    assert_eq!((status, body["data"].as_array().unwrap().len()), (StatusCode::OK, 1), "{body}");

    // Six hours of range: over the 2 h length limit, refused before loading;
    // one hour (plus the 5 m window) is within it.
    let rate = "sum(rate(http_requests_total%7Bhostname%3D%22host_1%22%7D%5B5m%5D))";
    let loaded = st.metrics.samples_loaded.get();
    let (status, body) = get(&st, &format!("/api/v1/query_range?query={rate}&start=0&end=21600&step=60")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let msg = body["error"].as_str().unwrap();
    assert!(msg.contains("max_query_length_ms") && msg.contains("over the limit of 7200000 ms"), "{msg}");
    assert_eq!(st.metrics.samples_loaded.get(), loaded, "refused before loading");
    let (status, body) = get(&st, &format!("/api/v1/query_range?query={rate}&start=18000&end=21600&step=60")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The file changes: a one-day lookback hides these 1970 samples, and
    // the old limits are gone, all without a restart.
    std::fs::write(&file, "[tenants.anonymous]\nmax_query_lookback_ms = 86400000\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // Until the watcher reloads, the old series limit still refuses this.
        let (status, body) = get(&st, "/api/v1/query?query=count(cpu_usage_user)&time=21600").await;
        if status == StatusCode::OK && body["data"]["result"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the lookback override was not picked up: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The metadata endpoints hide them too.
    for uri in [
        "/api/v1/series?match[]=cpu_usage_user",
        "/api/v1/labels",
        "/api/v1/labels?match[]=cpu_usage_user",
        "/api/v1/label/hostname/values",
        "/api/v1/label/__name__/values?start=0&end=21600",
    ] {
        let (status, body) = get(&st, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        assert_eq!(body["data"], serde_json::json!([]), "{uri}");
    }
}
