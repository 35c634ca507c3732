//! The memtable (stub API).
use strata_common::head::{HeadReadRequest, HeadSeries};
use strata_common::{Sample, TenantId};

/// In-memory, single-threaded head of one shard.
#[derive(Default)]
pub struct Memtable {}

impl Memtable {
    pub fn new() -> Self {
        Self {}
    }
    /// Appends samples of one series (`labels` sorted by name, validated).
    /// Returns the number of samples appended.
    pub fn append(&mut self, _tenant: &TenantId, _labels: &[(&str, &str)], _samples: impl Iterator<Item = Sample>) -> usize {
        todo!()
    }
    pub fn approx_bytes(&self) -> usize {
        todo!()
    }
    pub fn sample_count(&self) -> u64 {
        todo!()
    }
    pub fn series_count(&self) -> usize {
        todo!()
    }
    pub fn is_empty(&self) -> bool {
        todo!()
    }
    /// Matching series with samples in range, sorted by labels.
    pub fn read(&self, _req: &HeadReadRequest) -> Vec<HeadSeries> {
        todo!()
    }
    /// Freezes for flushing; the frozen table stays readable.
    pub fn freeze(self) -> FrozenMemtable {
        todo!()
    }
}

/// An immutable memtable being flushed (`Send + Sync`).
pub struct FrozenMemtable {}

impl FrozenMemtable {
    pub fn read(&self, _req: &HeadReadRequest) -> Vec<HeadSeries> {
        todo!()
    }
    pub fn tenants(&self) -> Vec<TenantId> {
        todo!()
    }
    pub fn sample_count(&self) -> u64 {
        todo!()
    }
}
