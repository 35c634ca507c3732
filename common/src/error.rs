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
    /// A tenant id (`X-Scope-OrgID`) breaks the tenant rules.
    #[error("invalid tenant id {0:?}: must be 1-150 characters of [A-Za-z0-9!_.*'()-]")]
    InvalidTenant(String),
    /// A label set breaks the label rules (names, order, duplicates).
    #[error("invalid labels: {0}")]
    InvalidLabels(String),
    /// A label matcher cannot be built (e.g. its regex does not compile).
    #[error("invalid matcher: {0}")]
    InvalidMatcher(String),
    #[error("corrupt log record at partition {partition} offset {offset}: {reason}")]
    /// A log record (or a log frame) could not be decoded.
    CorruptRecord {
        /// The partition the record was read from.
        partition: u32,
        /// The record's offset in that partition.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    #[error("unsupported log record version {version} at partition {partition} offset {offset}")]
    /// A log record carries a format version this build cannot read.
    UnsupportedRecordVersion {
        /// The partition the record was read from.
        partition: u32,
        /// The record's offset in that partition.
        offset: u64,
        /// The version byte found.
        version: u8,
    },
    #[error("partition {partition} does not exist (the log has {partitions})")]
    /// A partition id at or above the log's partition count.
    NoSuchPartition {
        /// The partition asked for.
        partition: u32,
        /// The log's partition count.
        partitions: u32,
    },
    #[error("offset {offset} of partition {partition} is out of range [{start}, {end})")]
    /// An offset the log does not hold: below its start (removed by
    /// retention or release) or above its end (never written).
    OffsetOutOfRange {
        /// The partition read.
        partition: u32,
        /// The offset asked for.
        offset: u64,
        /// The oldest offset the partition still holds.
        start: u64,
        /// The partition's end offset (the next to be written).
        end: u64,
    },
    #[error("log I/O failed on {path}: {source}")]
    /// A file operation of the embedded log failed.
    LogIo {
        /// The file or directory operated on.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The log was closed (dropped or shut down) while in use.
    #[error("the log is closed")]
    LogClosed,
    /// Waiting for the log took longer than the given time.
    #[error("timed out after {0:?} waiting for the log")]
    LogTimeout(std::time::Duration),
    /// The log's brokers are unreachable or did not acknowledge in time; retryable.
    #[error("the log is unavailable: {0}")]
    LogUnavailable(String),
    /// The producer's bounded buffer of unacknowledged records is full; retry later.
    #[error(
        "the log's producer buffer is full ({limit_bytes} bytes unacknowledged, kafka.max_in_flight_bytes) \
         while appending to partition {partition}; retry later"
    )]
    LogOverloaded {
        /// The partition appended to.
        partition: u32,
        /// The buffer limit (`kafka.max_in_flight_bytes`).
        limit_bytes: u64,
    },
    /// The log refused a request for a reason retrying will not fix
    /// (authorization, a record over the broker's size limit, a missing topic, …).
    #[error("the log refused the request: {0}")]
    LogRejected(String),
    /// An ingester has too many head reads in flight and one waited too long
    /// for its turn; retryable.
    #[error(
        "ingester busy: {running} head reads are running (ingester.max_concurrent_head_reads) and this one waited {waited:?}; retry later"
    )]
    HeadReadsBusy {
        /// The concurrency limit.
        running: usize,
        /// How long the read waited.
        waited: std::time::Duration,
    },
    /// An ingester shard has stopped or crashed (its number).
    #[error("ingester shard {0} is unavailable")]
    ShardUnavailable(usize),
    /// A configuration value is invalid; the message names the field.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A head-read protocol message is malformed or of another version.
    #[error("{0}")]
    HeadProtocol(String),
    #[error("ingester {ingester} ({url}) is unavailable: {reason}")]
    /// A remote ingester could not be reached, timed out or answered 5xx.
    IngesterUnavailable {
        /// The ingester's index in the configured list.
        ingester: usize,
        /// Its base URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
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
            | Error::HeadReadsBusy { .. }
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

/// Result with the shared [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
