//! Identifiers of positions in the log, shared by the head-read protocol,
//! the manifest and the log itself (`strata-log` re-exports them).

/// A position in a partition.
pub type Offset = u64;

/// A partition number, `0..partition_count`.
pub type PartitionId = u32;
