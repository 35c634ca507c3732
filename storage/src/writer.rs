//! Flushing a frozen memtable to files (stub API).
use crate::{FileMeta, FrozenMemtable, ManifestStore, PartitionRange, Result};

/// What a flush covers.
#[derive(Debug, Clone)]
pub struct FlushContext {
    /// Log ranges the frozen memtable holds, per partition.
    pub offsets: Vec<PartitionRange>,
    pub level: u32,
}

/// Writes one file per tenant of `frozen` under the data directory, fsyncs
/// them (and their directory), and returns their metadata (not yet committed).
pub fn write_files(_store: &ManifestStore, _frozen: &FrozenMemtable, _ctx: &FlushContext) -> Result<Vec<FileMeta>> {
    todo!()
}
