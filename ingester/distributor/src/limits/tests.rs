//! The limits through the push router against a real `EmbeddedLog`: each
//! refusal has its status, names the limit, appends nothing and is counted;
//! overrides apply per tenant and reload.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use prometheus_client::registry::Registry;
use prost::Message;
use strata_log::Log;
use strata_log::embedded::{EmbeddedLog, EmbeddedLogConfig, FsyncPolicy};
use tower::ServiceExt;

use super::{Limits, LimitsConfig};
use crate::proto::{Label, Sample, TimeSeries, WriteRequest};
use crate::{Distributor, DistributorConfig, router};

struct Setup {
    dir: tempfile::TempDir,
    log: Arc<EmbeddedLog>,
    d: Arc<Distributor>,
    registry: Registry,
}

fn setup(limits: LimitsConfig) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(EmbeddedLogConfig {
        dir: dir.path().join("log"),
        partitions: 2,
        fsync: FsyncPolicy::Never,
        segment_bytes: 1 << 20,
    })
    .unwrap();
    let mut registry = Registry::default();
    let config = DistributorConfig { limits, max_future_ms: 0, ..Default::default() };
    let d = Arc::new(Distributor::new(config, log.clone(), &mut registry));
    Setup { dir, log, d, registry }
}

fn ts(labels: &[(&str, &str)], n: usize) -> TimeSeries {
    TimeSeries {
        labels: labels.iter().map(|(k, v)| Label { name: k.to_string(), value: v.to_string() }).collect(),
        samples: (0..n).map(|i| Sample { value: i as f64, timestamp: 1000 + i as i64 }).collect(),
        ..Default::default()
    }
}

async fn push(s: &Setup, tenant: &str, series: Vec<TimeSeries>) -> (StatusCode, String) {
    let raw = WriteRequest { timeseries: series, ..Default::default() }.encode_to_vec();
    let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
    let req = Request::post("/api/v1/push")
        .header("Content-Encoding", "snappy")
        .header("X-Scope-OrgID", tenant)
        .body(Body::from(body))
        .unwrap();
    let resp = router(s.d.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

async fn appended(s: &Setup) -> u64 {
    s.log.end_offsets().await.unwrap().iter().sum()
}

fn rejected(s: &Setup, reason: &str) -> u64 {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &s.registry).unwrap();
    let key = format!("distributor_samples_rejected_total{{reason=\"{reason}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&key)).map_or(0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn label_limits_refuse_with_400_and_a_short_echo() {
    let s = setup(LimitsConfig::default());
    let many: Vec<(String, String)> = (0..40).map(|i| (format!("l{i:02}"), "v".to_string())).collect();
    let mut labels: Vec<(&str, &str)> = vec![("__name__", "m")];
    labels.extend(many.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let (status, body) = push(&s, "t", vec![ts(&labels, 3)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("41 label names") && body.contains("max_label_names_per_series = 30"), "{body}");
    assert_eq!(rejected(&s, "max_label_names_per_series"), 3);

    let huge = "x".repeat(16 << 20);
    let (status, body) = push(&s, "t", vec![ts(&[("__name__", "m"), ("big", &huge)], 1)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.len() < 1000, "a {} byte error body", body.len());
    assert!(body.contains("max_label_value_length = 2048") && body.contains("16777216 bytes"), "{body}");
    let long_name = "n".repeat(2000);
    let (status, body) = push(&s, "t", vec![ts(&[("__name__", "m"), (&long_name, "v")], 1)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.len() < 1000 && body.contains("max_label_name_length = 1024"), "{body}");
    assert_eq!(appended(&s).await, 0, "a refused push appended records");
}

#[tokio::test]
async fn ingestion_rate_is_429_per_tenant_and_overrides_apply() {
    let limits = LimitsConfig {
        defaults: Limits { ingestion_rate: 100, ingestion_burst: 250, ..Limits::default() },
        ..LimitsConfig::default()
    };
    let s = setup(limits);
    assert_eq!(push(&s, "a", vec![ts(&[("__name__", "m")], 200)]).await.0, StatusCode::NO_CONTENT);
    let (status, body) = push(&s, "a", vec![ts(&[("__name__", "m")], 200)]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(body.contains("ingestion_rate = 100") && body.contains("ingestion_burst = 250"), "{body}");
    assert_eq!(rejected(&s, "rate_limited"), 200);
    // Another tenant has its own bucket.
    assert_eq!(push(&s, "b", vec![ts(&[("__name__", "m")], 200)]).await.0, StatusCode::NO_CONTENT);
    let before = appended(&s).await;

    // An override file raises tenant a's rate; it is re-read when it changes.
    let file = s.dir.path().join("overrides.toml");
    std::fs::write(&file, "[tenants.a]\ningestion_rate = 1000000\ningestion_burst = 1000000\n").unwrap();
    let limits = LimitsConfig {
        defaults: Limits { ingestion_rate: 100, ingestion_burst: 250, ..Limits::default() },
        overrides_file: file.clone(),
        ..LimitsConfig::default()
    };
    let s2 = Setup {
        d: Arc::new(Distributor::new(
            DistributorConfig { limits, ..Default::default() },
            s.log.clone(),
            &mut Registry::default(),
        )),
        ..s
    };
    assert_eq!(push(&s2, "a", vec![ts(&[("__name__", "m")], 5000)]).await.0, StatusCode::NO_CONTENT);
    assert_eq!(push(&s2, "b", vec![ts(&[("__name__", "m")], 5000)]).await.0, StatusCode::TOO_MANY_REQUESTS);
    std::fs::write(&file, "[tenants.a]\ningestion_rate = 10\n# changed: the burst is the default again\n").unwrap();
    assert!(s2.d.limits().reload().unwrap());
    assert_eq!(push(&s2, "a", vec![ts(&[("__name__", "m")], 5000)]).await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(appended(&s2).await, before + 1, "only the accepted push appended");
}

#[tokio::test]
async fn active_series_limits_count_new_series_only() {
    let limits = LimitsConfig {
        defaults: Limits { max_active_series: 3, max_active_series_per_metric: 2, ..Limits::default() },
        ..LimitsConfig::default()
    };
    let s = setup(limits);
    let series = |m: &str, i: usize| ts(&[("__name__", m), ("i", &i.to_string())], 1);
    assert_eq!(push(&s, "t", vec![series("a", 0), series("a", 1)]).await.0, StatusCode::NO_CONTENT);
    let (status, body) = push(&s, "t", vec![series("a", 2)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("max_active_series_per_metric = 2") && body.contains("\"a\""), "{body}");
    assert_eq!(push(&s, "t", vec![series("b", 0)]).await.0, StatusCode::NO_CONTENT);
    let (status, body) = push(&s, "t", vec![series("c", 0)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("max_active_series = 3"), "{body}");
    // Known series keep flowing; other tenants are not affected.
    assert_eq!(push(&s, "t", vec![series("a", 0), series("b", 0)]).await.0, StatusCode::NO_CONTENT);
    assert_eq!(push(&s, "u", vec![series("c", 0)]).await.0, StatusCode::NO_CONTENT);
    assert_eq!((rejected(&s, "max_active_series"), rejected(&s, "max_active_series_per_metric")), (1, 1));
}
