//! Errors of the shared layer, and the [`ErrorKind`] every crate's errors map
//! to so the API layer can choose a status code.

use std::path::PathBuf;

/// What kind of failure an error is, for the API layer's status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller sent something invalid (400 / 422).
    InvalidInput,
    /// The thing asked for does not exist (404).
    NotFound,
    /// The request is over a size limit (413).
    TooLarge,
    /// A limit was hit; retry later (429).
    LimitExceeded,
    /// A dependency is unavailable or slow; retryable (503).
    Unavailable,
    /// A bug or an unexpected I/O failure (500).
    Internal,
}

/// Errors of `strata-common`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid tenant id {0:?}: must be 1-150 characters of [A-Za-z0-9!_.*'()-]")]
    InvalidTenant(String),
    #[error("invalid labels: {0}")]
    InvalidLabels(String),
    #[error("invalid matcher: {0}")]
    InvalidMatcher(String),
    #[error("corrupt log record at partition {partition} offset {offset}: {reason}")]
    CorruptRecord { partition: u32, offset: u64, reason: String },
    #[error("unsupported log record version {version} at partition {partition} offset {offset}")]
    UnsupportedRecordVersion { partition: u32, offset: u64, version: u8 },
    #[error("partition {partition} does not exist (the log has {partitions})")]
    NoSuchPartition { partition: u32, partitions: u32 },
    #[error("offset {offset} of partition {partition} is out of range [{start}, {end})")]
    OffsetOutOfRange { partition: u32, offset: u64, start: u64, end: u64 },
    #[error("log I/O failed on {path}: {source}")]
    LogIo { path: PathBuf, source: std::io::Error },
    #[error("the log is closed")]
    LogClosed,
    #[error("timed out after {0:?} waiting for the log")]
    LogTimeout(std::time::Duration),
    /// The log's brokers are unreachable or did not acknowledge in time; retryable.
    #[error("the log is unavailable: {0}")]
    LogUnavailable(String),
    /// The producer's bounded buffer of unacknowledged records is full; retry later.
    #[error(
        "the log's producer buffer is full ({limit_bytes} bytes unacknowledged, log.kafka.max_in_flight_bytes) \
         while appending to partition {partition}; retry later"
    )]
    LogOverloaded { partition: u32, limit_bytes: u64 },
    /// The log refused a request for a reason retrying will not fix
    /// (authorization, a record over the broker's size limit, a missing topic, …).
    #[error("the log refused the request: {0}")]
    LogRejected(String),
    #[error("ingester shard {0} is unavailable")]
    ShardUnavailable(usize),
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    #[error("{0}")]
    HeadProtocol(String),
    #[error("ingester {ingester} ({url}) is unavailable: {reason}")]
    IngesterUnavailable { ingester: usize, url: String, reason: String },
}

impl Error {
    /// The kind, for status codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidTenant(_) | Error::InvalidLabels(_) | Error::InvalidMatcher(_) => ErrorKind::InvalidInput,
            Error::NoSuchPartition { .. } | Error::OffsetOutOfRange { .. } => ErrorKind::NotFound,
            Error::LogClosed
            | Error::LogTimeout(_)
            | Error::LogUnavailable(_)
            | Error::ShardUnavailable(_)
            | Error::IngesterUnavailable { .. } => ErrorKind::Unavailable,
            Error::LogOverloaded { .. } => ErrorKind::LimitExceeded,
            Error::InvalidConfig(_) => ErrorKind::InvalidInput,
            Error::CorruptRecord { .. }
            | Error::UnsupportedRecordVersion { .. }
            | Error::LogIo { .. }
            | Error::LogRejected(_)
            | Error::HeadProtocol(_) => ErrorKind::Internal,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
