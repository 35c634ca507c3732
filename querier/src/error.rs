//! Errors of the querier and how each maps to the Prometheus API's
//! `errorType` and HTTP status code.

use std::time::Duration;

/// The `errorType` values of the Prometheus HTTP API (plus `unauthorized`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// Invalid parameters or query (400).
    BadData,
    /// The query could not be executed, e.g. a limit was hit (422).
    Execution,
    /// The query ran out of time (503).
    Timeout,
    /// A dependency is unavailable or behind; retry (503).
    Unavailable,
    /// The request carries no usable tenant (401).
    Unauthorized,
    /// A queue of the scheduler is full; retry later (429).
    TooManyRequests,
    /// The client went away or the server is shutting down (499).
    Canceled,
    /// A bug or an unexpected I/O failure (500).
    Internal,
}

impl ErrorType {
    /// The `errorType` string of the JSON envelope.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Unavailable => "unavailable",
            ErrorType::Unauthorized => "unauthorized",
            ErrorType::TooManyRequests => "unavailable",
            ErrorType::Canceled => "canceled",
            ErrorType::Internal => "internal",
        }
    }

    /// The HTTP status code Prometheus answers with.
    pub fn status(self) -> u16 {
        match self {
            ErrorType::BadData => 400,
            ErrorType::Execution => 422,
            ErrorType::Timeout | ErrorType::Unavailable => 503,
            ErrorType::Unauthorized => 401,
            ErrorType::TooManyRequests => 429,
            // nginx's "client closed request", as Prometheus answers.
            ErrorType::Canceled => 499,
            ErrorType::Internal => 500,
        }
    }
}

/// Errors of the querier.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid request parameter or query text; the message is the full text.
    #[error("{0}")]
    BadData(String),
    /// A PromQL feature the engine does not implement yet.
    #[error("{0} is not supported yet")]
    Unsupported(String),
    /// A runtime failure of the query (e.g. duplicate series).
    #[error("{0}")]
    Execution(String),
    /// The per-query sample budget was exceeded.
    #[error("query processing would load too many samples into memory in query execution (limit: max_samples={limit})")]
    TooManySamples {
        /// `querier.max_samples`.
        limit: u64,
    },
    /// The per-query memory budget was exceeded.
    #[error(
        "query exceeded its memory limit of {limit} bytes (querier.max_query_memory_bytes; it needed at least {needed} bytes): select fewer series, aggregate them, or shorten the range"
    )]
    MemoryLimit {
        /// `querier.max_query_memory_bytes`.
        limit: u64,
        /// What the query held when it went over.
        needed: u64,
    },
    /// The query's estimated cost is over the tenant's limit (refused
    /// before anything was loaded).
    #[error(
        "query refused before execution: its estimated cost {estimate} is over the limit {limit} (querier.scheduler.max_query_cost; cost = samples to decode + step values to compute): select fewer series, shorten the range or raise the step"
    )]
    CostLimit {
        /// The query's estimated cost.
        estimate: u64,
        /// The tenant's `max_query_cost`.
        limit: u64,
    },
    /// The query selected more series than its tenant may.
    #[error(
        "query selected more than {limit} series (querier.scheduler.max_series_per_query): add label matchers to select fewer series"
    )]
    TooManySeries {
        /// The tenant's `max_series_per_query`.
        limit: u64,
    },
    /// The query reads a longer span of time than its tenant may (refused
    /// before anything was loaded).
    #[error(
        "query refused before execution: it reads {length_ms} ms of data, over the limit of {limit_ms} ms (querier.scheduler.max_query_length_ms): shorten the range or the range selectors"
    )]
    QueryTooLong {
        /// From the earliest selector window start to the last step.
        length_ms: i64,
        /// The tenant's `max_query_length_ms`.
        limit_ms: u64,
    },
    /// A scheduler queue is full (retryable).
    #[error("{0}")]
    QueueFull(String),
    /// A query waited too long for a slot (retryable).
    #[error("{0}")]
    QueueTimeout(String),
    /// The client disconnected or the server is shutting down.
    #[error("query canceled: {0}")]
    Canceled(&'static str),
    /// The per-query time budget was exceeded.
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// Read-your-writes wait gave up: ingesters are behind the log.
    #[error(
        "read consistency: ingesters did not catch up with the log within {waited:?} (lagging partitions: {lagging:?})"
    )]
    ConsistencyTimeout {
        /// How long the query waited.
        waited: Duration,
        /// Partitions still behind.
        lagging: Vec<u32>,
    },
    /// No (valid) tenant on a request while multi-tenancy is on.
    #[error("{0}")]
    Unauthorized(String),
    /// Invalid configuration.
    #[error("invalid querier configuration: {0}")]
    InvalidConfig(String),
    /// A storage read failed.
    #[error("storage: {0}")]
    Storage(#[from] strata_storage::Error),
    /// A shared-layer failure (head read, log, matcher, ...).
    #[error("{0}")]
    Common(#[from] strata_common::Error),
    /// A bug (e.g. a panicked evaluation task).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The API error type, which fixes the status code.
    pub fn error_type(&self) -> ErrorType {
        use strata_common::ErrorKind;
        match self {
            Error::BadData(_) | Error::Unsupported(_) | Error::InvalidConfig(_) => ErrorType::BadData,
            Error::Execution(_)
            | Error::TooManySamples { .. }
            | Error::MemoryLimit { .. }
            | Error::CostLimit { .. }
            | Error::TooManySeries { .. }
            | Error::QueryTooLong { .. } => ErrorType::Execution,
            Error::QueueFull(_) => ErrorType::TooManyRequests,
            Error::QueueTimeout(_) => ErrorType::Unavailable,
            Error::Canceled(_) => ErrorType::Canceled,
            Error::Timeout(_) => ErrorType::Timeout,
            Error::ConsistencyTimeout { .. } => ErrorType::Unavailable,
            Error::Unauthorized(_) => ErrorType::Unauthorized,
            Error::Storage(_) | Error::Internal(_) => ErrorType::Internal,
            Error::Common(e) => match e.kind() {
                ErrorKind::InvalidInput => ErrorType::BadData,
                ErrorKind::Unavailable => ErrorType::Unavailable,
                ErrorKind::TooLarge | ErrorKind::LimitExceeded => ErrorType::Execution,
                ErrorKind::NotFound | ErrorKind::Internal => ErrorType::Internal,
            },
        }
    }

    /// Whether this is an "unsupported feature" error (the promqltest
    /// harness counts those as skipped, not failed).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Error::Unsupported(_))
    }
}

/// The querier's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
