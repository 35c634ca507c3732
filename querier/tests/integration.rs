//! Integration tests of strata-querier: the HTTP API driven through the
//! router, metadata over heads and files, the query limits and cost-based
//! scheduling.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use strata_querier::metrics::QuerierMetrics;
use strata_querier::{QuerierConfig, QuerierState, SeriesSource, router};
use tower::ServiceExt;

/// GETs `uri` from a router over `source` with `config`: the status and the
/// JSON body.
async fn get_json(config: QuerierConfig, source: Arc<dyn SeriesSource>, uri: &str) -> (StatusCode, serde_json::Value) {
    let st = Arc::new(QuerierState::with_source(config, source, QuerierMetrics::unregistered()));
    let resp = router(st).oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let body = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

#[path = "integration/api.rs"]
mod api;
#[path = "integration/fuzz.rs"]
mod fuzz;
#[path = "integration/labels.rs"]
mod labels;
#[path = "integration/limits.rs"]
mod limits;
#[path = "integration/scheduling.rs"]
mod scheduling;
#[path = "integration/storage.rs"]
mod storage;
