//! The read side of storage (stub API).
use std::collections::BTreeMap;
use std::sync::Arc;

use strata_common::log::{Offset, PartitionId};
use strata_common::{Labels, Matcher, Sample, TenantId, Timestamp};

use crate::{FileReader, ManifestStore, Result};

/// A series found in files, with where to read its samples.
pub struct StoredSeries {
    pub labels: Labels,
    pub sources: Vec<(Arc<FileReader>, u32)>,
}

impl StoredSeries {
    /// Samples in `[min_t, max_t]`, merged across files, sorted, unique timestamps.
    pub fn samples(&self, _min_t: Timestamp, _max_t: Timestamp) -> Result<Vec<Sample>> {
        todo!()
    }
}

/// Files + manifest, for queries.
pub struct Store {
    pub manifest: Arc<ManifestStore>,
}

impl Store {
    pub fn new(manifest: Arc<ManifestStore>) -> Self {
        Self { manifest }
    }
    /// Series of `tenant` matching `matchers` in files overlapping
    /// `[min_t, max_t]`, sorted by labels. Reads only files whose every
    /// partition range ends at or below `base_offsets[partition]` (missing
    /// partition = not readable): data above is served by the heads.
    pub fn select(
        &self,
        _tenant: &TenantId,
        _matchers: &[Matcher],
        _min_t: Timestamp,
        _max_t: Timestamp,
        _base_offsets: &BTreeMap<PartitionId, Offset>,
    ) -> Result<Vec<StoredSeries>> {
        todo!()
    }
}
