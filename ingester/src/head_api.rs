//! The ingester's internal HTTP endpoints: the head-read protocol of
//! `strata_common::head::wire`, served so that querier processes can read
//! data this ingester has consumed but not flushed yet.
//!
//! - `POST /internal/v1/head/read`: JSON [`WireReadRequest`] → Arrow IPC
//!   stream (`application/vnd.apache.arrow.stream`), sent batch by batch
//!   as it is encoded.
//! - `POST /internal/v1/head/labels`: JSON [`WireLabelsRequest`] → JSON
//!   [`HeadLabelsResponse`](strata_common::head::HeadLabelsResponse).
//! - `POST /internal/v1/head/estimate`: JSON [`WireReadRequest`] → JSON
//!   [`SelectEstimate`](strata_common::head::SelectEstimate) (postings and
//!   counts only: the queriers' cost estimates).
//! - `GET /internal/v1/head/progress`: JSON list of
//!   [`PartitionProgress`](strata_common::head::PartitionProgress).
//! - `POST /internal/v1/head/exemplars`: JSON
//!   [`WireExemplarsRequest`] → JSON list of
//!   [`WireExemplarSeries`](strata_common::head::annotations::WireExemplarSeries).
//! - `POST /internal/v1/head/metadata`: JSON
//!   [`MetadataRequest`](strata_common::head::annotations::MetadataRequest) →
//!   JSON object family → entries (Prometheus's `/api/v1/metadata` data).
//!
//! Errors are `text/plain` with the status of the error's kind (400 for a bad
//! matcher, 503 when a shard is unavailable, 500 otherwise). These routes are
//! for other Strata processes only: do not expose them to clients.
//!
//! Reads (series, labels, estimates) are served at most
//! `ingester.max_concurrent_head_reads` at a time; the others wait in FIFO
//! order (tokio's fair semaphore) for at most
//! `ingester.head_read_queue_timeout_ms`, then get 503 (retryable), so many
//! queriers cannot overrun the shards. Progress polls are not limited (they
//! are what read-your-writes waits poll).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use strata_common::head::HeadReader;
pub use strata_common::head::annotations::{EXEMPLARS_PATH, METADATA_PATH};
use strata_common::head::annotations::{MetadataRequest, WireExemplarsRequest, exemplars_to_wire};
use strata_common::head::wire::{
    ARROW_STREAM_CONTENT_TYPE, ReadStreamEncoder, WireLabelsRequest, WireReadRequest, encode_read_stream,
};
pub use strata_common::head::wire::{ESTIMATE_PATH, LABELS_PATH, PROGRESS_PATH, READ_PATH};
use strata_common::{Error, ErrorKind};

/// Bounds the head reads served at once.
#[derive(Debug, Clone)]
pub struct HeadReadLimit {
    slots: usize,
    permits: Arc<tokio::sync::Semaphore>,
    wait: Duration,
}

impl HeadReadLimit {
    /// At most `slots` reads at once; a read waits at most `wait` for one.
    pub fn new(slots: usize, wait: Duration) -> Self {
        let slots = slots.max(1);
        Self { slots, permits: Arc::new(tokio::sync::Semaphore::new(slots)), wait }
    }

    /// From the ingester's configuration.
    pub fn from_config(config: &crate::IngesterConfig) -> Self {
        Self::new(config.head_read_slots(), Duration::from_millis(config.head_read_queue_timeout_ms))
    }

    async fn acquire(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Error> {
        let started = Instant::now();
        match tokio::time::timeout(self.wait, Arc::clone(&self.permits).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Error::HeadReadsBusy { running: self.slots, waited: started.elapsed() }),
        }
    }
}

#[derive(Clone)]
struct HeadState {
    heads: Arc<dyn HeadReader>,
    limit: HeadReadLimit,
}

/// The internal head routes over `heads` (the local [`Ingester`](crate::Ingester)),
/// serving at most `limit`'s reads at once.
pub fn router(heads: Arc<dyn HeadReader>, limit: HeadReadLimit) -> Router {
    Router::new()
        .route(READ_PATH, post(read))
        .route(LABELS_PATH, post(labels))
        .route(ESTIMATE_PATH, post(estimate))
        .route(PROGRESS_PATH, get(progress))
        .route(EXEMPLARS_PATH, post(exemplars))
        .route(METADATA_PATH, post(metadata))
        .with_state(HeadState { heads, limit })
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

/// Pieces of an answer in flight between the encoding thread and the
/// connection: with batches of at most ~1 MB
/// ([`SAMPLES_PER_BATCH`](strata_common::head::wire::SAMPLES_PER_BATCH)),
/// a read holds a few megabytes of encoded bytes at most.
const PIECES_IN_FLIGHT: usize = 4;

/// Reads the heads, drops the samples no step of the request's step hint
/// looks at (the selection window itself is applied by the heads), then
/// streams the answer: the Arrow IPC stream is
/// encoded batch by batch on a blocking thread and each batch is sent as
/// it is ready (chunked), not buffered whole. The read keeps its slot until
/// the last batch is handed to the connection. A querier that goes away
/// (its query dropped) closes the connection: the next hand-over fails and
/// the encoding stops. An error after the status line was sent (none is
/// expected once the schema is out) aborts the body, which the querier
/// sees as a failed read, never as a shorter answer.
async fn read(State(st): State<HeadState>, Json(req): Json<WireReadRequest>) -> Response {
    let steps = req.steps.filter(|s| s.is_valid() && req.with_samples);
    let started = async {
        let permit = st.limit.acquire().await?;
        let response = st.heads.read(req.into_request()?).await?;
        let encoder = ReadStreamEncoder::for_response(&response)?;
        Ok::<_, Error>((permit, response, encoder))
    }
    .await;
    let (permit, mut response, encoder) = match started {
        Ok(started) => started,
        Err(e) => return error_response(&e),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(PIECES_IN_FLIGHT);
    // Encoding copies every sample: keep it off the async workers.
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        if let Some(steps) = &steps {
            response.retain_steps(steps);
        }
        let mut gone = false;
        let sent = encode_read_stream(&response, encoder, |piece| {
            tx.blocking_send(Ok(bytes::Bytes::from(piece))).map_err(|_| {
                gone = true;
                Error::HeadProtocol("the querier closed the head read".into())
            })
        });
        if let Err(e) = sent
            && !gone
        {
            tracing::warn!(error = %e, "encoding a head answer failed mid-stream");
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let body = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|piece| (piece, rx)) });
    ([(header::CONTENT_TYPE, ARROW_STREAM_CONTENT_TYPE)], Body::from_stream(body)).into_response()
}

async fn labels(State(st): State<HeadState>, Json(req): Json<WireLabelsRequest>) -> Response {
    json_answer(
        async {
            let _permit = st.limit.acquire().await?;
            st.heads.labels(req.into_request()?).await
        }
        .await,
    )
}

async fn estimate(State(st): State<HeadState>, Json(req): Json<WireReadRequest>) -> Response {
    json_answer(
        async {
            let _permit = st.limit.acquire().await?;
            st.heads.estimate(req.into_request()?).await
        }
        .await,
    )
}

async fn exemplars(State(st): State<HeadState>, Json(req): Json<WireExemplarsRequest>) -> Response {
    json_answer(
        async {
            let _permit = st.limit.acquire().await?;
            st.heads.exemplars(req.into_request()?).await.map(exemplars_to_wire)
        }
        .await,
    )
}

async fn metadata(State(st): State<HeadState>, Json(req): Json<MetadataRequest>) -> Response {
    json_answer(
        async {
            let _permit = st.limit.acquire().await?;
            st.heads.metadata(req).await
        }
        .await,
    )
}

async fn progress(State(st): State<HeadState>) -> Response {
    json_answer(st.heads.progress().await)
}

/// A JSON answer, or the error's status and message.
fn json_answer<T: serde::Serialize>(answer: Result<T, Error>) -> Response {
    match answer {
        Ok(value) => Json(value).into_response(),
        Err(e) => error_response(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_over_the_limit_wait_then_get_a_retryable_503() {
        let limit = HeadReadLimit::new(1, Duration::from_millis(50));
        let first = limit.acquire().await.unwrap();
        let err = limit.acquire().await.unwrap_err();
        assert!(matches!(err, Error::HeadReadsBusy { running: 1, .. }), "{err}");
        assert_eq!(error_response(&err).status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(err.to_string().contains("ingester.max_concurrent_head_reads"), "{err}");
        // A waiting read gets the slot as soon as it is freed.
        let waiting = tokio::spawn({
            let limit = limit.clone();
            async move { limit.acquire().await.map(drop) }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(first);
        waiting.await.unwrap().unwrap();
    }
}
