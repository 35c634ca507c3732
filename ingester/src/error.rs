//! Errors of the ingester's shard runtime (the push endpoint's `PushError`
//! is in the `strata-distributor` crate).

use std::sync::Arc;

use strata_common::ErrorKind;
use strata_common::ids::{Offset, PartitionId};

/// What can go wrong starting, running, querying or flushing the shards.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is out of range.
    #[error("invalid ingester configuration: {0}")]
    InvalidConfig(String),

    /// The OS thread or the glommio executor of a shard could not be created
    /// (e.g. a CPU that does not exist, or not enough lockable memory).
    #[error("failed to start ingester shard {shard}: {source}")]
    ShardStart {
        /// The shard number.
        shard: usize,
        /// Why the thread or executor could not be created.
        source: std::io::Error,
    },

    /// A shard could not open a reader on one of its partitions.
    #[error("ingester shard {shard} could not open partition {partition} at offset {offset}: {source}")]
    OpenReader {
        /// The shard number.
        shard: usize,
        /// The partition to read.
        partition: PartitionId,
        /// The offset to start at.
        offset: Offset,
        /// The log's error.
        source: strata_common::Error,
    },

    /// The log failed in a way that is not specific to one partition.
    #[error("log request failed: {0}")]
    Log(#[source] strata_common::Error),

    /// The shard's thread has stopped (shut down or crashed); its partitions
    /// are not being consumed or served.
    #[error("ingester shard {0} is unavailable (stopped or crashed)")]
    ShardUnavailable(usize),

    /// Writing or committing a flush failed; the frozen memtable is kept (and
    /// stays readable) and the flush is retried with backoff.
    #[error("flush of ingester shard {shard} failed: {source}")]
    Flush {
        /// The shard number.
        shard: usize,
        /// The storage error.
        source: Arc<strata_storage::Error>,
    },

    /// The flush thread could not be spawned or died without answering.
    #[error("flush thread of ingester shard {shard} failed: {reason}")]
    FlushThread {
        /// The shard number.
        shard: usize,
        /// What happened to the thread.
        reason: String,
    },
}

impl Error {
    /// The kind, for status codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidConfig(_) => ErrorKind::InvalidInput,
            Error::OpenReader { source, .. } | Error::Log(source) => match source.kind() {
                ErrorKind::Internal => ErrorKind::Internal,
                _ => ErrorKind::Unavailable,
            },
            Error::ShardUnavailable(_) => ErrorKind::Unavailable,
            Error::ShardStart { .. } | Error::Flush { .. } | Error::FlushThread { .. } => ErrorKind::Internal,
        }
    }
}

impl From<Error> for strata_common::Error {
    /// For the [`strata_common::head::HeadReader`] protocol, whose errors are
    /// the shared ones.
    fn from(e: Error) -> Self {
        match e {
            Error::ShardUnavailable(shard) => strata_common::Error::ShardUnavailable(shard),
            Error::InvalidConfig(msg) => strata_common::Error::InvalidConfig(msg),
            Error::Log(source) | Error::OpenReader { source, .. } => source,
            // No shared variant fits a flush/start failure on the read path;
            // a read never produces one. Report the shard as unavailable.
            Error::ShardStart { shard, .. } | Error::Flush { shard, .. } | Error::FlushThread { shard, .. } => {
                strata_common::Error::ShardUnavailable(shard)
            }
        }
    }
}

/// Result with the ingester's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
