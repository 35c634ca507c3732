//! The HTTP API, driven through the router with `tower::ServiceExt::oneshot`
//! over a `MemorySource`; asserts Prometheus's exact JSON.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use strata_common::{Labels, Sample, TenantId};
use strata_querier::metrics::QuerierMetrics;
use strata_querier::{MemorySource, QuerierConfig, QuerierState, router};
use tower::ServiceExt;

const T0: i64 = 1_700_000_000_000;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).unwrap()
}

fn state(config: QuerierConfig) -> Arc<QuerierState> {
    let src = MemorySource::new();
    let anon = TenantId::default_tenant();
    let up: Vec<Sample> = (0..=10).map(|i| Sample::new(T0 + i * 15_000, i as f64 * 1.5)).collect();
    src.append(&anon, labels(&[("__name__", "up"), ("job", "node"), ("instance", "a")]), &up).unwrap();
    src.append(&anon, labels(&[("__name__", "up"), ("job", "prom"), ("instance", "b")]), &[Sample::new(T0, 1.0)])
        .unwrap();
    let other = TenantId::new("team-b").unwrap();
    src.append(&other, labels(&[("__name__", "secret"), ("job", "x")]), &[Sample::new(T0, 7.0)]).unwrap();
    Arc::new(QuerierState::with_source(config, Arc::new(src), QuerierMetrics::unregistered()))
}

async fn call(st: Arc<QuerierState>, req: Request<Body>) -> (StatusCode, String) {
    let resp = router(st).oneshot(req).await.unwrap();
    let status = resp.status();
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    let body = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn get(uri: &str) -> (StatusCode, String) {
    call(state(QuerierConfig::default()), Request::get(uri).body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn instant_query_vector() {
    let (s, body) = get("/api/v1/query?query=up%7Bjob%3D%22node%22%7D&time=1700000030.5").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"a","job":"node"},"value":[1700000030.500,"3"]}]}}"#
    );
}

#[tokio::test]
async fn instant_query_scalar_and_arithmetic() {
    let (_, body) = get("/api/v1/query?query=1%2B0.5&time=1700000000").await;
    assert_eq!(body, r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"1.5"]}}"#);
    let (_, body) = get("/api/v1/query?query=sum(up)%20*%202&time=2023-11-14T22:13:20Z").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"2"]}]}}"#
    );
}

#[tokio::test]
async fn range_query_matrix_via_post_form() {
    let req = Request::post("/api/v1/query_range")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("query=up%7Bjob%3D%22node%22%7D&start=1700000000&end=1700000030&step=15s"))
        .unwrap();
    let (s, body) = call(state(QuerierConfig::default()), req).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"up","instance":"a","job":"node"},"values":[[1700000000,"0"],[1700000015,"1.5"],[1700000030,"3"]]}]}}"#
    );
}

#[tokio::test]
async fn oversized_bodies_get_the_json_error_envelope() {
    let form = |padding: usize| {
        let body = format!("query=up&time=1700000000&pad={}", "x".repeat(padding));
        Request::post("/api/v1/query")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    };
    // Over the configured limit: 413, as JSON (`call` checks the content type).
    let small = QuerierConfig { max_request_bytes: 1024, ..Default::default() };
    for route in ["/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels", "/api/v1/query_cost"] {
        let mut req = form(2048);
        *req.uri_mut() = route.parse().unwrap();
        let (s, body) = call(state(small.clone()), req).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{route}");
        assert_eq!(
            body,
            r#"{"status":"error","errorType":"bad_data","error":"request body too large: the limit is 1024 bytes (querier.max_request_bytes)"}"#,
            "{route}"
        );
    }
    // Under it, the same request is answered.
    let (s, body) = call(state(small), form(512)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // The default (8 MiB) is above axum's own 2 MB default ...
    let (s, body) = call(state(QuerierConfig::default()), form(3 << 20)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // ... and enforced the same way.
    let (s, body) = call(state(QuerierConfig::default()), form(9 << 20)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body.starts_with(r#"{"status":"error","errorType":"bad_data","error":"request body too large"#), "{body}");
}

#[tokio::test]
async fn bad_requests_use_prometheus_errors() {
    let (s, body) = get("/api/v1/query_range?query=up&start=10&end=5&step=1").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        r#"{"status":"error","errorType":"bad_data","error":"end timestamp must not be before start time"}"#
    );
    let (_, body) = get("/api/v1/query_range?query=up&start=0&end=100000&step=1").await;
    assert_eq!(
        body,
        r#"{"status":"error","errorType":"bad_data","error":"exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"}"#
    );
    let (_, body) = get("/api/v1/query_range?query=up&start=0&end=10&step=0").await;
    assert!(body.contains("zero or negative query resolution step widths are not accepted"), "{body}");
    let (_, body) = get("/api/v1/query?query=up&time=yesterday").await;
    assert_eq!(
        body,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"time\": cannot parse \"yesterday\" to a valid timestamp"}"#
    );
    let (s, body) = get("/api/v1/query").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.contains(r#"invalid parameter \"query\""#), "{body}");
    let (s, body) = get("/api/v1/query?query=sum(").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        body.starts_with(r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": "#),
        "{body}"
    );
    let (s, body) = get("/api/v1/query?query=holt_winters(up%5B5m%5D,0.5,0.5)&time=1700000000").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn unsupported_function_is_named() {
    let (s, body) = get("/api/v1/query?query=info(up)&time=1700000000").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body, r#"{"status":"error","errorType":"bad_data","error":"function info is not supported yet"}"#);
}

#[tokio::test]
async fn sample_limit_is_an_execution_error() {
    let config = QuerierConfig { max_samples: 3, ..Default::default() };
    let req = Request::get("/api/v1/query?query=up&time=1700000150").body(Body::empty()).unwrap();
    let (s, body) = call(state(config), req).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.starts_with(
            r#"{"status":"error","errorType":"execution","error":"query processing would load too many samples"#
        ),
        "{body}"
    );
    assert!(body.contains("max_samples=3"), "{body}");
}

#[tokio::test]
async fn metadata_endpoints() {
    let (s, body) = get("/api/v1/series?match[]=up%7Bjob%3D%22prom%22%7D").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, r#"{"status":"success","data":[{"__name__":"up","instance":"b","job":"prom"}]}"#);
    let (_, body) = get("/api/v1/series").await;
    assert_eq!(body, r#"{"status":"error","errorType":"bad_data","error":"no match[] parameter provided"}"#);
    let (_, body) = get("/api/v1/labels").await;
    assert_eq!(body, r#"{"status":"success","data":["__name__","instance","job"]}"#);
    let (_, body) = get("/api/v1/label/job/values?match[]=up").await;
    assert_eq!(body, r#"{"status":"success","data":["node","prom"]}"#);
    let (_, body) = get("/api/v1/label/nope/values").await;
    assert_eq!(body, r#"{"status":"success","data":[]}"#);
    let (_, body) = get("/api/v1/label/job/values?start=1800000000").await;
    assert_eq!(body, r#"{"status":"success","data":[]}"#);
    let (_, body) = get("/api/v1/status/buildinfo").await;
    assert!(body.starts_with(r#"{"status":"success","data":{"#), "{body}");
}

#[tokio::test]
async fn tenants_are_isolated_and_required_when_multitenant() {
    let req =
        Request::get("/api/v1/label/__name__/values").header("X-Scope-OrgID", "team-b").body(Body::empty()).unwrap();
    let (_, body) = call(state(QuerierConfig::default()), req).await;
    assert_eq!(body, r#"{"status":"success","data":["secret"]}"#);
    let config = QuerierConfig { multitenancy_enabled: true, ..Default::default() };
    let req = Request::get("/api/v1/labels").body(Body::empty()).unwrap();
    let (s, _) = call(state(config), req).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let req = Request::get("/api/v1/labels").header("X-Scope-OrgID", "a/b").body(Body::empty()).unwrap();
    let (s, _) = call(state(QuerierConfig::default()), req).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn timeouts_are_503() {
    let (s, body) = get("/api/v1/query?query=sum(rate(up%5B5m%5D))&time=1700000150&timeout=0.0001").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body, r#"{"status":"error","errorType":"timeout","error":"query timed out in query execution"}"#);
}

#[tokio::test]
async fn metrics_are_registered_and_counted() {
    let mut registry = prometheus_client::registry::Registry::with_prefix("strata");
    let metrics = QuerierMetrics::register(&mut registry);
    let src = MemorySource::new();
    let st = Arc::new(QuerierState::with_source(QuerierConfig::default(), Arc::new(src), metrics));
    let req = Request::get("/api/v1/query?query=1&time=1").body(Body::empty()).unwrap();
    let (s, _) = call(st, req).await;
    assert_eq!(s, StatusCode::OK);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(text.contains(r#"strata_querier_requests_total{endpoint="query",status="success"} 1"#), "{text}");
}

#[tokio::test]
async fn metadata_limits_truncate_with_a_warning() {
    let (s, body) = get("/api/v1/labels?limit=2").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        body,
        r#"{"status":"success","data":["__name__","instance"],"warnings":["results truncated due to limit"]}"#
    );
    let (_, body) = get("/api/v1/label/job/values?limit=5").await;
    assert_eq!(body, r#"{"status":"success","data":["node","prom"]}"#);
    let (_, body) = get("/api/v1/label/job/values?limit=0").await;
    assert_eq!(body, r#"{"status":"success","data":["node","prom"]}"#);
    let (_, body) = get("/api/v1/series?match%5B%5D=up&limit=1").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":[{"__name__":"up","instance":"a","job":"node"}],"warnings":["results truncated due to limit"]}"#
    );
    let (s, body) = get("/api/v1/labels?limit=-1").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.contains(r#""errorType":"bad_data""#) && body.contains("limit must be non-negative"), "{body}");
}

#[tokio::test]
async fn format_query_prettifies() {
    let (s, body) = get("/api/v1/format_query?query=sum%20by(job)(rate(up%5B5m%5D))").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, r#"{"status":"success","data":"sum by (job) (rate(up[5m]))"}"#);
    let (s, body) = get("/api/v1/format_query?query=sum(").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.contains(r#""errorType":"bad_data""#), "{body}");
}

#[tokio::test]
async fn answers_are_compressed_when_the_client_offers_it() {
    use std::io::Read;
    let uri = "/api/v1/series?match%5B%5D=up";
    let plain = get(uri).await.1;
    let req = Request::get(uri).header(header::ACCEPT_ENCODING, "gzip").body(Body::empty()).unwrap();
    let resp = router(state(QuerierConfig::default())).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
    let body = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut unzipped).unwrap();
    assert_eq!(unzipped, plain);
    let req = Request::get(uri).header(header::ACCEPT_ENCODING, "zstd").body(Body::empty()).unwrap();
    let resp = router(state(QuerierConfig::default())).oneshot(req).await.unwrap();
    assert_eq!(resp.headers()[header::CONTENT_ENCODING], "zstd");
}

/// A histogram with a zero bucket and three positive buckets (one empty)
/// at schema 0: bounds (0.5,1], (1,2], (2,4].
fn native_histogram() -> strata_common::histogram::Histogram {
    use strata_common::histogram::{Histogram, Span};
    Histogram {
        integer: true,
        schema: 0,
        zero_threshold: 0.001,
        zero_count: 1.0,
        count: 6.0,
        sum: 3.5,
        positive_spans: vec![Span { offset: 0, length: 3 }],
        positive_buckets: vec![2.0, 0.0, 3.0],
        ..Default::default()
    }
}

fn histogram_state() -> Arc<QuerierState> {
    use strata_common::HistSample;
    let src = MemorySource::new();
    let anon = TenantId::default_tenant();
    let lat = labels(&[("__name__", "lat"), ("job", "x")]);
    src.append_histograms(&anon, lat, &[HistSample::new(T0, native_histogram())]).unwrap();
    // One series with a float sample, then a histogram sample.
    let mix = labels(&[("__name__", "mix")]);
    src.append(&anon, mix.clone(), &[Sample::new(T0, 1.0)]).unwrap();
    src.append_histograms(&anon, mix, &[HistSample::new(T0 + 15_000, native_histogram())]).unwrap();
    Arc::new(QuerierState::with_source(QuerierConfig::default(), Arc::new(src), QuerierMetrics::unregistered()))
}

/// Prometheus's histogram JSON: count and sum as strings, non-empty
/// buckets as `[boundary_rule, lower, upper, count]` (3: both bounds
/// inclusive, the zero bucket; 0: upper inclusive).
const HIST_JSON: &str =
    r#"{"count":"6","sum":"3.5","buckets":[[3,"-0.001","0.001","1"],[0,"0.5","1","2"],[0,"2","4","3"]]}"#;

#[tokio::test]
async fn native_histograms_render_as_prometheus() {
    let req = Request::get("/api/v1/query?query=lat&time=1700000000").body(Body::empty()).unwrap();
    let (s, body) = call(histogram_state(), req).await;
    assert_eq!(s, StatusCode::OK);
    let want = format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{"__name__":"lat","job":"x"}},"histogram":[1700000000,{HIST_JSON}]}}]}}}}"#
    );
    assert_eq!(body, want);
    // A range query over a series with both kinds: `values` and `histograms`.
    let req = Request::get("/api/v1/query_range?query=mix&start=1700000000&end=1700000015&step=15s")
        .body(Body::empty())
        .unwrap();
    let (s, body) = call(histogram_state(), req).await;
    assert_eq!(s, StatusCode::OK);
    let want = format!(
        r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{"__name__":"mix"}},"values":[[1700000000,"1"]],"histograms":[[1700000015,{HIST_JSON}]]}}]}}}}"#
    );
    assert_eq!(body, want);
    // Functions of histograms answer floats.
    let req = Request::get("/api/v1/query?query=histogram_count(lat)&time=1700000000").body(Body::empty()).unwrap();
    let (_, body) = call(histogram_state(), req).await;
    assert!(body.contains(r#""metric":{"job":"x"},"value":[1700000000,"6"]"#), "{body}");
}

/// Prometheus 3's envelope: `"warnings"` and `"infos"` after `data`, each
/// only when the query annotated something of that kind, each text ending
/// in the `(line:col)` of the expression it is about.
#[tokio::test]
async fn annotations_render_as_prometheus() {
    // `rate` of a series whose name does not say counter: the info.
    let (s, body) = get("/api/v1/query?query=rate(up%5B5m%5D)&time=1700000150").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.starts_with(r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"instance":"a","job":"node"},"value":[1700000150,"#), "{body}");
    assert!(
        body.ends_with(r#"]},"infos":["PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"up\" (1:6)"]}"#),
        "{body}"
    );
    assert!(!body.contains("\"warnings\""), "{body}");
    // Lines count from 1, columns in bytes from the line's start.
    let (s, body) = get("/api/v1/query?query=sum(%0A%20%20rate(up%5B5m%5D))&time=1700000150").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.ends_with(r#"_total/_sum/_count/_bucket: \"up\" (2:8)"]}"#), "{body}");
    // A warning, on a range query (twice: an annotated answer is not
    // served from the results cache without its warning).
    let uri = "/api/v1/query_range?query=sort(up)&start=1700000000&end=1700000150&step=15s";
    for _ in 0..2 {
        let (s, body) = get(uri).await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            body.ends_with(r#"]}]},"warnings":["PromQL warning: sort is ineffective for range queries since results are always ordered by labels (1:1)"]}"#),
            "{body}"
        );
        assert!(!body.contains("\"infos\""), "{body}");
    }
    // Histogram annotations: an invalid quantile (warning) and a histogram
    // ignored by `max` (info), both in one answer.
    let req = Request::get("/api/v1/query?query=histogram_quantile(1.5%2C%20lat)%20or%20max(lat)&time=1700000000")
        .body(Body::empty())
        .unwrap();
    let (s, body) = call(histogram_state(), req).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        body.ends_with(r#","warnings":["PromQL warning: quantile value should be between 0 and 1, got 1.5 (1:20)"],"infos":["PromQL info: ignored histogram in max aggregation (1:37)"]}"#),
        "{body}"
    );
}

/// A plain float query's answer has neither key.
#[tokio::test]
async fn plain_float_answers_have_no_annotation_keys() {
    for uri in [
        "/api/v1/query?query=up&time=1700000150",
        "/api/v1/query?query=rate(up_total%5B5m%5D)&time=1700000150",
        "/api/v1/query_range?query=sum(up)&start=1700000000&end=1700000150&step=15s",
    ] {
        let (s, body) = get(uri).await;
        assert_eq!(s, StatusCode::OK);
        assert!(body.starts_with(r#"{"status":"success","data":{"resultType":"#), "{body}");
        assert!(!body.contains("\"warnings\"") && !body.contains("\"infos\""), "{uri}: {body}");
        assert!(body.ends_with("]}}"), "{uri}: {body}");
    }
}
