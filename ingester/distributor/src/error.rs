//! [`PushError`]: everything a push can fail with, and its HTTP status.

use std::time::Duration;

use axum::http::StatusCode;

/// Why a push was refused. The `Display` text is the plain-text response body.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// `Content-Type` is not a remote write message Strata reads (415).
    #[error(
        "unsupported Content-Type {0:?}: accepted are application/x-protobuf;proto=prometheus.WriteRequest \
         (remote write 1.0, also without ;proto=) and application/x-protobuf;proto=io.prometheus.write.v2.Request \
         (remote write 2.0)"
    )]
    UnsupportedContentType(String),

    /// `Content-Encoding` is not snappy (415).
    #[error("unsupported Content-Encoding {0:?}: remote write bodies must be snappy-compressed")]
    UnsupportedContentEncoding(String),

    /// Multi-tenancy is on and the request names no tenant (401).
    #[error("no org id: multi-tenancy is enabled and the request has no X-Scope-OrgID header")]
    MissingTenant,

    /// The `X-Scope-OrgID` header is not a valid tenant id (400).
    #[error("{0}")]
    InvalidTenant(#[source] strata_common::Error),

    /// The compressed body is over `max_request_bytes` (413).
    #[error("request body exceeds the limit of {limit} bytes (distributor.max_request_bytes)")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },

    /// The decompressed body would be over `max_decompressed_bytes` (413).
    #[error(
        "decompressed request of {size} bytes exceeds the limit of {limit} bytes (distributor.max_decompressed_bytes)"
    )]
    DecompressedTooLarge {
        /// The decompressed size the snappy header announces.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },

    /// The body could not be read from the connection (400).
    #[error("failed to read the request body: {0}")]
    BodyRead(#[source] axum::Error),

    /// The body is not valid snappy block format (400).
    #[error("invalid snappy (block format) body: {0}")]
    Snappy(#[source] snap::Error),

    /// The decompressed body is not a valid `prometheus.WriteRequest` (400).
    #[error("invalid protobuf WriteRequest: {0}")]
    Protobuf(#[source] super::ProtoDecodeError),

    /// The decompressed body is not a valid `io.prometheus.write.v2.Request` (400).
    #[error("invalid protobuf io.prometheus.write.v2.Request: {0}")]
    ProtobufV2(#[source] super::ProtoDecodeError),

    /// A remote write 2.0 series references symbols that do not exist (400;
    /// the series is refused alone).
    #[error("invalid series {series}: {reason}")]
    InvalidSymbols {
        /// The series as far as it resolves, in Prometheus notation.
        series: String,
        /// What is wrong with its references.
        reason: &'static str,
    },

    /// A series breaks the label rules; `series` is in Prometheus notation (400).
    #[error("invalid series {series}: {reason}")]
    InvalidSeries {
        /// The series, in Prometheus notation.
        series: String,
        /// Which rule it breaks.
        reason: String,
    },

    /// A native histogram of a series is malformed (400).
    #[error("invalid native histogram in series {series}: {reason}")]
    InvalidHistogram {
        /// The series, in Prometheus notation.
        series: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A sample is older than the out-of-order window (400; the series'
    /// samples inside the window are kept).
    #[error(
        "sample too old for series {series}: timestamp {timestamp} is before {min} (now minus \
         distributor.out_of_order_window_ms); {count} sample(s) of the series are too old"
    )]
    SampleTooOld {
        /// The first series with a sample too old, in Prometheus notation.
        series: String,
        /// That sample's timestamp (ms).
        timestamp: i64,
        /// The oldest accepted timestamp (ms).
        min: i64,
        /// How many samples of the series are too old.
        count: u64,
    },

    /// A sample is too far in the future (400; the series' other samples
    /// are kept).
    #[error(
        "sample too far in the future for series {series}: timestamp {timestamp} is after {max} (now plus \
         distributor.max_future_ms)"
    )]
    SampleTooNew {
        /// The first series with a sample too new, in Prometheus notation.
        series: String,
        /// That sample's timestamp (ms).
        timestamp: i64,
        /// The newest accepted timestamp (ms).
        max: i64,
    },

    /// Part of the request was invalid: the valid series were written
    /// (durably) and the rest refused (400, as Prometheus and Mimir answer
    /// partial writes). `first` names the first refused series.
    #[error(
        "{first}; rejected {rejected_samples} sample(s), {rejected_histograms} histogram sample(s) and \
         {rejected_exemplars} exemplar(s) of {rejected_series} series, wrote {written_samples} sample(s) \
         of {written_series} series"
    )]
    PartialWrite {
        /// The first refusal of the request.
        first: Box<PushError>,
        /// Float samples refused.
        rejected_samples: u64,
        /// Native histogram samples refused.
        rejected_histograms: u64,
        /// Exemplars refused.
        rejected_exemplars: u64,
        /// Series with at least one refusal.
        rejected_series: u64,
        /// Float samples written.
        written_samples: u64,
        /// Series written.
        written_series: u64,
    },

    /// The tenant's ingestion rate limit is exhausted; retry later (429).
    #[error(
        "ingestion rate limit of tenant {tenant} exceeded: {samples} samples do not fit \
         limit ingestion_rate = {rate} samples/s with ingestion_burst = {burst}; nothing was written"
    )]
    RateLimited {
        /// The tenant.
        tenant: String,
        /// Its rate limit, samples/s.
        rate: u64,
        /// Its burst, samples.
        burst: u64,
        /// Samples in the request.
        samples: u64,
    },

    /// The request would take the tenant past an active-series limit (400:
    /// retrying the same request cannot succeed).
    #[error(
        "active series limit of tenant {tenant} reached: limit {limit} = {value}, {scope}; \
         nothing was written"
    )]
    SeriesLimit {
        /// The tenant.
        tenant: String,
        /// Which limit (`max_active_series`, `max_active_series_per_metric`).
        limit: &'static str,
        /// Its value.
        value: u64,
        /// What would exceed it.
        scope: String,
    },

    /// The log failed to append; retryable (503).
    #[error("the log did not accept the write, retry later: {0}")]
    Log(#[source] strata_common::Error),

    /// The log's bounded producer buffer is full; retry later (429).
    #[error("the log is overloaded, retry later: {0}")]
    LogOverloaded(#[source] strata_common::Error),

    /// The log did not acknowledge in time; retryable (503). Some records may
    /// have been written: a retry may duplicate them, which ingesters tolerate.
    #[error("the log did not acknowledge the write within {0:?}, retry later")]
    AppendTimeout(Duration),
}

impl PushError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            PushError::UnsupportedContentType(_) | PushError::UnsupportedContentEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            PushError::MissingTenant => StatusCode::UNAUTHORIZED,
            PushError::BodyTooLarge { .. } | PushError::DecompressedTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            PushError::InvalidTenant(_)
            | PushError::BodyRead(_)
            | PushError::Snappy(_)
            | PushError::Protobuf(_)
            | PushError::ProtobufV2(_)
            | PushError::InvalidSymbols { .. }
            | PushError::InvalidSeries { .. }
            | PushError::InvalidHistogram { .. }
            | PushError::SampleTooOld { .. }
            | PushError::SampleTooNew { .. }
            | PushError::PartialWrite { .. }
            | PushError::SeriesLimit { .. } => StatusCode::BAD_REQUEST,
            PushError::LogOverloaded(_) | PushError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            PushError::Log(_) | PushError::AppendTimeout(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The shared error kind (for callers that map kinds, not statuses).
    pub fn kind(&self) -> strata_common::ErrorKind {
        use strata_common::ErrorKind;
        match self.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::TooLarge,
            StatusCode::SERVICE_UNAVAILABLE => ErrorKind::Unavailable,
            StatusCode::TOO_MANY_REQUESTS => ErrorKind::LimitExceeded,
            _ => ErrorKind::InvalidInput,
        }
    }
}
