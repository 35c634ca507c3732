//! Fault injection points of the write path (flush, compaction, manifest
//! commit, deletion of retired files), for crash tests.
//!
//! A [`ManifestStore`](crate::ManifestStore) may carry a [`FaultHook`]
//! (set with [`ManifestStore::set_fault_hook`](crate::ManifestStore::set_fault_hook));
//! at each [`FaultPoint`] the writer calls it and, if it returns an error,
//! stops right there and returns that error as an [`Error::Io`](crate::Error::Io)
//! naming the path. Everything written to disk up to that point stays, so
//! dropping the store and reopening the directory is exactly what a process
//! kill at that step leaves behind (page cache aside). Without a hook (the
//! production default) a fault point costs one atomic load.
use std::path::Path;
use std::sync::Arc;

/// A step of the write path where a fault can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultPoint {
    /// A data file (flush or compaction output) is durable under its final
    /// name, not yet referenced by the manifest.
    DataFileWritten,
    /// `MANIFEST.json.tmp` is written and fsynced, not yet renamed.
    ManifestBeforeRename,
    /// The new manifest is renamed into place (and the directory fsynced),
    /// but the commit has not returned yet.
    ManifestAfterRename,
    /// A retired file is about to be deleted.
    BeforeDelete,
}

impl FaultPoint {
    /// Every fault point, for tests that try each one.
    pub const ALL: [FaultPoint; 4] = [
        FaultPoint::DataFileWritten,
        FaultPoint::ManifestBeforeRename,
        FaultPoint::ManifestAfterRename,
        FaultPoint::BeforeDelete,
    ];
}

/// Called at every fault point with the file concerned; an error aborts the
/// operation at that step.
pub type FaultHook = Arc<dyn Fn(FaultPoint, &Path) -> std::io::Result<()> + Send + Sync>;
