//! The ingester's internal HTTP endpoints: the head-read protocol of
//! `strata_common::head::wire`, served so that querier processes can read
//! data this ingester has consumed but not flushed yet.
//!
//! - `POST /internal/v1/head/read`: JSON [`WireReadRequest`] → Arrow IPC
//!   stream (`application/vnd.apache.arrow.stream`).
//! - `POST /internal/v1/head/labels`: JSON [`WireLabelsRequest`] → JSON
//!   [`HeadLabelsResponse`](strata_common::head::HeadLabelsResponse).
//! - `POST /internal/v1/head/estimate`: JSON [`WireReadRequest`] → JSON
//!   [`SelectEstimate`](strata_common::head::SelectEstimate) (postings and
//!   counts only: the queriers' cost estimates).
//! - `GET /internal/v1/head/progress`: JSON list of
//!   [`PartitionProgress`](strata_common::head::PartitionProgress).
//!
//! Errors are `text/plain` with the status of the error's kind (400 for a bad
//! matcher, 503 when a shard is unavailable, 500 otherwise). These routes are
//! for other Strata processes only: do not expose them to clients.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use strata_common::head::HeadReader;
use strata_common::head::wire::{ARROW_STREAM_CONTENT_TYPE, WireLabelsRequest, WireReadRequest, encode_read_response};
pub use strata_common::head::wire::{ESTIMATE_PATH, LABELS_PATH, PROGRESS_PATH, READ_PATH};
use strata_common::{Error, ErrorKind};

/// The internal head routes over `heads` (the local [`Ingester`](crate::Ingester)).
pub fn router(heads: Arc<dyn HeadReader>) -> Router {
    Router::new()
        .route(READ_PATH, post(read))
        .route(LABELS_PATH, post(labels))
        .route(ESTIMATE_PATH, post(estimate))
        .route(PROGRESS_PATH, get(progress))
        .with_state(heads)
}

fn error_response(e: &Error) -> Response {
    let status = match e.kind() {
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::LimitExceeded => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status.is_server_error() {
        tracing::warn!(error = %e, "head read failed");
    }
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], e.to_string()).into_response()
}

async fn read(State(heads): State<Arc<dyn HeadReader>>, Json(req): Json<WireReadRequest>) -> Response {
    let answer = match req.into_request() {
        Ok(req) => heads.read(req).await,
        Err(e) => Err(e),
    };
    let encoded = match answer {
        // Encoding copies every sample: keep it off the async workers.
        Ok(response) => tokio::task::spawn_blocking(move || encode_read_response(&response))
            .await
            .unwrap_or_else(|e| Err(Error::HeadProtocol(format!("encoding task failed: {e}")))),
        Err(e) => Err(e),
    };
    match encoded {
        Ok(body) => ([(header::CONTENT_TYPE, ARROW_STREAM_CONTENT_TYPE)], body).into_response(),
        Err(e) => error_response(&e),
    }
}

async fn labels(State(heads): State<Arc<dyn HeadReader>>, Json(req): Json<WireLabelsRequest>) -> Response {
    let answer = match req.into_request() {
        Ok(req) => heads.labels(req).await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(response) => Json(response).into_response(),
        Err(e) => error_response(&e),
    }
}

async fn estimate(State(heads): State<Arc<dyn HeadReader>>, Json(req): Json<WireReadRequest>) -> Response {
    let answer = match req.into_request() {
        Ok(req) => heads.estimate(req).await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(estimate) => Json(estimate).into_response(),
        Err(e) => error_response(&e),
    }
}

async fn progress(State(heads): State<Arc<dyn HeadReader>>) -> Response {
    match heads.progress().await {
        Ok(progress) => Json(progress).into_response(),
        Err(e) => error_response(&e),
    }
}
