//! The read side of storage: files + manifest, for queries.
//!
//! [`Store::select`] prunes the manifest snapshot's files by tenant, by time
//! overlap and by the offset rule (a file is read only if every partition
//! range it covers ends at or below the head's base offset for that
//! partition, so no sample is served by both a file and a head), selects
//! series in each file through its postings, and groups identical label sets
//! across files. [`StoredSeries::samples`] merges the sources: files may
//! overlap in time; for equal timestamps the newest file wins (highest
//! [`FileMeta::rank`]: compaction outputs keep the order of their newest input).
//!
//! Every lookup pins a manifest snapshot ([`ManifestStore::pin`]) while it
//! picks and opens files, and the returned series hold their readers, so
//! compaction never deletes a file a running query can still read.
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use strata_common::ids::{Offset, PartitionId};
use strata_common::{Labels, Matcher, Sample, TenantId, Timestamp};

use crate::retire::Snapshot;
use crate::{FileMeta, FileReader, Manifest, ManifestStore, Result};

/// Where [`Store`] gets open file readers: the local data directory
/// ([`FileCache`], the default) or a cache in front of object storage
/// (`crate::object::ObjectFileCache`).
pub trait FileSource: Send + Sync + std::fmt::Debug {
    /// The reader of `meta`'s file (relative paths are under `data_dir`).
    fn open(&self, data_dir: &std::path::Path, meta: &FileMeta) -> Result<Arc<FileReader>>;
    /// Drops cached readers of files whose id is not in `live`.
    fn retain(&self, live: &HashSet<u64>);
}

/// A series found in files, with where to read its samples.
pub struct StoredSeries {
    pub labels: Labels,
    /// (file, series id in that file), oldest first ([`FileMeta::rank`] order).
    pub sources: Vec<(Arc<FileReader>, u32)>,
}

impl std::fmt::Debug for StoredSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSeries").field("labels", &self.labels).field("sources", &self.sources.len()).finish()
    }
}

impl StoredSeries {
    /// Samples in `[min_t, max_t]`, merged across files, sorted, unique timestamps.
    pub fn samples(&self, min_t: Timestamp, max_t: Timestamp) -> Result<Vec<Sample>> {
        let mut out = Vec::new();
        for (file, id) in &self.sources {
            file.samples(*id, min_t, max_t, &mut out)?;
        }
        if self.sources.len() > 1 {
            // Sources are in rank order; the stable sort keeps the newest
            // file's sample last among equal timestamps, and it wins.
            strata_common::sample::sort_dedup_samples(&mut out);
        }
        Ok(out)
    }
}

/// Files + manifest, for queries.
pub struct Store {
    pub manifest: Arc<ManifestStore>,
    /// Where readers come from: `None` = the manifest's local reader cache.
    source: Option<Arc<dyn FileSource>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("manifest", &self.manifest).field("cache", self.manifest.readers()).finish()
    }
}

impl Store {
    pub fn new(manifest: Arc<ManifestStore>) -> Self {
        Self { manifest, source: None }
    }

    /// A store reading its files through `source` (e.g. an object storage cache).
    pub fn with_source(manifest: Arc<ManifestStore>, source: Arc<dyn FileSource>) -> Self {
        Self { manifest, source: Some(source) }
    }

    /// Files of `tenant` overlapping `[min_t, max_t]` that the offset rule
    /// allows, oldest first ([`FileMeta::rank`] order).
    pub fn readable_files(
        &self,
        tenant: &TenantId,
        min_t: Timestamp,
        max_t: Timestamp,
        base_offsets: &BTreeMap<PartitionId, Offset>,
    ) -> Vec<FileMeta> {
        readable(&self.manifest.current(), tenant, min_t, max_t, base_offsets)
    }

    /// Pins the current manifest and lists its readable files.
    fn pinned(
        &self,
        tenant: &TenantId,
        min_t: Timestamp,
        max_t: Timestamp,
        base_offsets: &BTreeMap<PartitionId, Offset>,
    ) -> (Snapshot, Vec<FileMeta>) {
        let snapshot = self.manifest.pin();
        let files = readable(&snapshot, tenant, min_t, max_t, base_offsets);
        (snapshot, files)
    }

    fn open(&self, meta: &FileMeta) -> Result<Arc<FileReader>> {
        match &self.source {
            Some(source) => source.open(self.manifest.data_dir(), meta),
            None => self.manifest.readers().get(self.manifest.data_dir(), meta),
        }
    }

    /// Series of `tenant` matching `matchers` in files overlapping
    /// `[min_t, max_t]`, sorted by labels. Reads only files whose every
    /// partition range ends at or below `base_offsets[partition]` (missing
    /// partition = not readable): data above is served by the heads.
    ///
    /// A series is returned only if one of its chunks overlaps the range
    /// (chunk index check, no decoding). A chunk covering the range boundary
    /// may still hold no sample inside it, so `samples()` can come back empty
    /// in rare cases (a gap within a chunk spanning the whole range).
    pub fn select(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        min_t: Timestamp,
        max_t: Timestamp,
        base_offsets: &BTreeMap<PartitionId, Offset>,
    ) -> Result<Vec<StoredSeries>> {
        let mut grouped: BTreeMap<Labels, Vec<(Arc<FileReader>, u32)>> = BTreeMap::new();
        let (_snapshot, files) = self.pinned(tenant, min_t, max_t, base_offsets);
        for meta in files {
            let reader = self.open(&meta)?;
            for id in selected_in_range(&reader, matchers, min_t, max_t)? {
                grouped.entry(reader.labels(id)?).or_default().push((Arc::clone(&reader), id));
            }
        }
        Ok(grouped.into_iter().map(|(labels, sources)| StoredSeries { labels, sources }).collect())
    }

    /// Label names (`name = None`) or the values of label `name` among
    /// `tenant`'s series matching `matchers` in readable files overlapping
    /// the range, sorted and unique (the file side of
    /// `strata_common::head::HeadLabelsRequest`). Without matchers only the
    /// postings directories are read; with matchers only series with a chunk
    /// overlapping the range count (as in [`Store::select`]).
    pub fn labels(
        &self,
        tenant: &TenantId,
        name: Option<&str>,
        matchers: &[Matcher],
        min_t: Timestamp,
        max_t: Timestamp,
        base_offsets: &BTreeMap<PartitionId, Offset>,
    ) -> Result<Vec<String>> {
        let mut out = BTreeSet::new();
        let (_snapshot, files) = self.pinned(tenant, min_t, max_t, base_offsets);
        for meta in files {
            let reader = self.open(&meta)?;
            if matchers.is_empty() {
                match name {
                    None => out.extend(reader.label_names()),
                    Some(name) => out.extend(reader.label_values(name)),
                }
                continue;
            }
            for id in selected_in_range(&reader, matchers, min_t, max_t)? {
                let labels = reader.labels(id)?;
                match name {
                    None => out.extend(labels.into_vec().into_iter().map(|l| l.name)),
                    Some(name) => out.extend(labels.get(name).map(str::to_string)),
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Drops cached readers of files no longer in the manifest.
    pub fn evict_dead_readers(&self) {
        let live: HashSet<u64> = self.manifest.current().files.iter().map(|f| f.id).collect();
        match &self.source {
            Some(source) => source.retain(&live),
            None => self.manifest.readers().retain(&live),
        }
    }
}

/// Files of `tenant` in `snapshot` overlapping `[min_t, max_t]` whose every
/// partition range ends at or below the base offset, oldest first.
fn readable(
    snapshot: &Manifest,
    tenant: &TenantId,
    min_t: Timestamp,
    max_t: Timestamp,
    base_offsets: &BTreeMap<PartitionId, Offset>,
) -> Vec<FileMeta> {
    let mut files: Vec<FileMeta> = snapshot
        .files
        .iter()
        .filter(|f| &f.tenant == tenant && f.min_t <= max_t && f.max_t >= min_t)
        .filter(|f| f.offsets.iter().all(|r| base_offsets.get(&r.partition).is_some_and(|&b| r.end <= b)))
        .cloned()
        .collect();
    files.sort_by_key(FileMeta::rank);
    files
}

/// Series of `reader` matching `matchers` with a chunk overlapping
/// `[min_t, max_t]` (chunk index check, no decoding).
fn selected_in_range(
    reader: &FileReader,
    matchers: &[Matcher],
    min_t: Timestamp,
    max_t: Timestamp,
) -> Result<Vec<u32>> {
    let whole_file = reader.min_t() >= min_t && reader.max_t() <= max_t;
    let mut out = Vec::new();
    for id in reader.select(matchers) {
        if whole_file || reader.overlaps(id, min_t, max_t)? {
            out.push(id);
        }
    }
    Ok(out)
}
