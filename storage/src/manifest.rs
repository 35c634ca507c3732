//! The manifest: live files and per-partition flushed offsets (stub API).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use strata_common::log::{Offset, PartitionId};
use strata_common::{TenantId, Timestamp};

use crate::Result;

/// The log offsets `[start, end)` of one partition that a file covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRange {
    pub partition: PartitionId,
    pub start: Offset,
    pub end: Offset,
}

/// One live file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileMeta {
    pub id: u64,
    /// Path relative to the data directory.
    pub path: String,
    pub tenant: TenantId,
    pub level: u32,
    pub min_t: Timestamp,
    pub max_t: Timestamp,
    pub series: u64,
    pub samples: u64,
    pub bytes: u64,
    pub offsets: Vec<PartitionRange>,
}

/// A manifest version.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u64,
    pub files: Vec<FileMeta>,
    pub flushed_offsets: BTreeMap<PartitionId, Offset>,
    pub next_file_id: u64,
}

/// Loads and atomically replaces the manifest.
pub struct ManifestStore {
    _dir: PathBuf,
}

impl ManifestStore {
    /// Opens (or creates) the manifest in `data_dir`.
    pub fn open(_data_dir: &Path) -> Result<Self> {
        todo!()
    }
    /// The current version (cheap: an Arc clone).
    pub fn current(&self) -> Arc<Manifest> {
        todo!()
    }
    /// Reserves a unique file id.
    pub fn allocate_file_id(&self) -> u64 {
        todo!()
    }
    /// The data directory the relative file paths are under.
    pub fn data_dir(&self) -> &Path {
        todo!()
    }
    /// Atomically adds `files` and advances the flushed offsets (never backwards).
    pub fn commit_flush(&self, _files: Vec<FileMeta>, _flushed: &[(PartitionId, Offset)]) -> Result<Arc<Manifest>> {
        todo!()
    }
}
