//! Errors of the storage engine. Every variant names what it failed on (a
//! path, a file id, a series id) and maps to an [`ErrorKind`] for the API layer.
use std::path::PathBuf;

use strata_common::ErrorKind;

/// Errors of `strata-storage`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O call failed on `path`.
    #[error("I/O on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file (data file or manifest) failed validation: bad magic, CRC,
    /// truncated section, out-of-range reference.
    #[error("corrupt file {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A data file was written by a format version this build cannot read.
    #[error("file {path} has unsupported format version {version}")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version it declares.
        version: u32,
    },
    /// A series id is not in the file.
    #[error("series {series} out of range in {path} ({count} series)")]
    NoSuchSeries {
        /// The file.
        path: PathBuf,
        /// The series id asked for.
        series: u32,
        /// How many series the file has.
        count: u32,
    },
    /// The manifest could not be (de)serialized.
    #[error("manifest {path}: {source}")]
    Manifest {
        /// The manifest file (or the object it was fetched from).
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// An object storage call failed (`op` on object `location`); retryable.
    #[error("object storage {op} {location}: {source}")]
    ObjectStore {
        /// The call that failed (`put`, `get`, `list`, ...).
        op: &'static str,
        /// The object's location in the bucket.
        location: String,
        /// The object store client's error.
        source: object_store::Error,
    },
    /// The bucket holds a newer manifest than the local data directory (a
    /// stale disk, or two writers on one prefix): replicating would move the
    /// bucket back, so it is refused.
    #[error(
        "object storage manifest {location} is at version {bucket}, ahead of the local manifest (version {local}): refusing to overwrite it; restore the data directory from the bucket (start with an empty one) or fix the prefix"
    )]
    ReplicaAhead {
        /// The bucket's manifest object.
        location: String,
        /// The local manifest version.
        local: u64,
        /// The bucket's manifest version.
        bucket: u64,
    },
}

impl Error {
    /// The kind, for status codes: everything here is a server-side failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. }
            | Error::Corrupt { .. }
            | Error::UnsupportedVersion { .. }
            | Error::NoSuchSeries { .. }
            | Error::Manifest { .. } => ErrorKind::Internal,
            Error::ObjectStore { .. } => ErrorKind::Unavailable,
            Error::ReplicaAhead { .. } => ErrorKind::Internal,
        }
    }

    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Error {
        Error::Corrupt { path: path.into(), reason: reason.into() }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
