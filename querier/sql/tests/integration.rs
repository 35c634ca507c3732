//! Integration tests of strata-sql: SQL answers against PromQL answers on
//! the same in-memory data, the HTTP endpoint's formats and errors, tenant
//! isolation, pushdown in EXPLAIN, the guard rails, and Flight SQL with the
//! arrow-flight client.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use strata_common::{Labels, Sample, TenantId};
use strata_querier::metrics::QuerierMetrics;
use strata_querier::{MemorySource, QuerierConfig, QuerierState};
use strata_sql::SqlEngine;
use tower::ServiceExt;

/// Samples every 10 s, starting 2.5 s past a boundary (off the grid).
pub const STEP: i64 = 10_000;
pub const OFFSET: i64 = 2_500;
/// One hour.
pub const SAMPLES: i64 = 360;
pub const HOSTS: usize = 5;

/// `cpu_usage_user{hostname, region}` (host_4 has no region) and
/// `mem_free{hostname, dc}` for the default tenant; `secret_metric` for
/// tenant `other`.
pub fn source() -> Arc<MemorySource> {
    let src = MemorySource::new();
    let t = TenantId::default_tenant();
    for h in 0..HOSTS {
        let host = format!("host_{h}");
        let region = format!("region-{}", h % 2);
        let mut pairs = vec![("__name__", "cpu_usage_user"), ("hostname", host.as_str())];
        if h != 4 {
            pairs.push(("region", region.as_str()));
        }
        let samples: Vec<Sample> = (0..SAMPLES)
            .map(|k| Sample::new(OFFSET + k * STEP, ((k * 7919 + h as i64 * 13) % 1000) as f64 / 10.0))
            .collect();
        src.append(&t, Labels::from_pairs(pairs).unwrap(), &samples).unwrap();
        let mem: Vec<Sample> =
            (0..SAMPLES).map(|k| Sample::new(OFFSET + k * STEP, (h as i64 * 1000 + k) as f64)).collect();
        let labels =
            Labels::from_pairs([("__name__", "mem_free"), ("hostname", host.as_str()), ("dc", "east")]).unwrap();
        src.append(&t, labels, &mem).unwrap();
    }
    let other = TenantId::new("other").unwrap();
    let labels = Labels::from_pairs([("__name__", "secret_metric"), ("hostname", "host_0")]).unwrap();
    src.append(&other, labels, &[Sample::new(OFFSET, 42.0)]).unwrap();
    Arc::new(src)
}

/// The SQL routes and the PromQL routes over one querier state.
pub fn app_with(config: QuerierConfig, source: Arc<MemorySource>) -> Router {
    let st = Arc::new(QuerierState::with_source(config, source, QuerierMetrics::unregistered()));
    strata_sql::router(SqlEngine::new(st.clone())).merge(strata_querier::router(st))
}

pub fn app() -> Router {
    app_with(QuerierConfig::default(), source())
}

/// POSTs a form to `path`: status, content type and body.
pub async fn post(
    app: &Router,
    path: &str,
    tenant: Option<&str>,
    form: &[(&str, &str)],
) -> (StatusCode, String, Vec<u8>) {
    let mut req = Request::post(path).header("Content-Type", "application/x-www-form-urlencoded");
    if let Some(t) = tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    let body = serde_urlencoded::to_string(form).unwrap();
    let resp = app.clone().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let status = resp.status();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, ct, to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec())
}

/// Runs `sql` and returns the JSON answer, asserting success.
pub async fn sql(app: &Router, sql: &str) -> serde_json::Value {
    let (status, _, body) = post(app, "/api/v1/sql", None, &[("query", sql)]).await;
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, StatusCode::OK, "{sql}: {json}");
    json
}

/// Runs an instant PromQL query at `t` (ms): `(labels, value)` pairs.
pub async fn promql(app: &Router, query: &str, t: i64) -> Vec<(serde_json::Value, f64)> {
    let time = format!("{}", t as f64 / 1000.0);
    let (status, _, body) = post(app, "/api/v1/query", None, &[("query", query), ("time", &time)]).await;
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, StatusCode::OK, "{query}: {json}");
    json["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["metric"].clone(), r["value"][1].as_str().unwrap().parse::<f64>().unwrap()))
        .collect()
}

#[path = "integration/answers.rs"]
mod answers;
#[path = "integration/api.rs"]
mod api;
#[path = "integration/flight.rs"]
mod flight;
#[path = "integration/limits.rs"]
mod limits;
