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
//!
//! The store, not the manifest, owns its open readers: a [`FileCache`] over
//! the local data directory by default, or another [`FileSource`] (the
//! object storage cache). Why, and how retirement still sees held readers:
//! [`cache`].

pub mod cache;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Weak};

use strata_common::head::{LabelsRequest, SelectEstimate, SelectRequest};
use strata_common::ids::{Offset, PartitionId};
use strata_common::{HistSample, Label, Labels, Matcher, Sample, TenantId, Timestamp};

pub use cache::FileCache;

use crate::retire::{ReaderHolder, Snapshot};
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
    /// The series' labels.
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
        self.samples_into(min_t, max_t, &mut out)?;
        Ok(out)
    }

    /// [`StoredSeries::samples`], appended to `out` (which may already hold
    /// samples older than `min_t`: only the appended part is merged), so a
    /// caller decodes every series straight into one reused buffer.
    pub fn samples_into(&self, min_t: Timestamp, max_t: Timestamp, out: &mut Vec<Sample>) -> Result<()> {
        let from = out.len();
        // Whether every source's samples follow the previous sources' (files
        // covering consecutive time ranges): then they are already sorted.
        let mut in_order = true;
        for (file, id) in &self.sources {
            let before = out.len();
            file.samples(*id, min_t, max_t, out)?;
            if before > from && out.len() > before && out[before].t <= out[before - 1].t {
                in_order = false;
            }
        }
        if !in_order {
            // Sources are in rank order; the stable sort keeps the newest
            // file's sample last among equal timestamps, and it wins.
            if from == 0 {
                strata_common::sample::sort_dedup_samples(out);
            } else {
                let mut tail = out.split_off(from);
                strata_common::sample::sort_dedup_samples(&mut tail);
                out.append(&mut tail);
            }
        }
        Ok(())
    }
}

impl StoredSeries {
    /// Native-histogram samples in `[min_t, max_t]`, merged across files
    /// (the newest file wins on equal timestamps), sorted, unique timestamps.
    pub fn hist_samples(&self, min_t: Timestamp, max_t: Timestamp) -> Result<Vec<HistSample>> {
        let mut out = Vec::new();
        for (file, id) in &self.sources {
            file.hist_samples(*id, min_t, max_t, &mut out)?;
        }
        if self.sources.len() > 1 {
            strata_common::histogram::sort_dedup_hist(&mut out);
        }
        Ok(out)
    }
}

/// Files + manifest, for queries.
pub struct Store {
    /// The manifest whose files this store reads.
    pub manifest: Arc<ManifestStore>,
    /// Where readers come from, and the cache that keeps them open: this
    /// store's own [`FileCache`] over the data directory, or a source given
    /// to [`Store::with_source`].
    source: Arc<dyn FileSource>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("manifest", &self.manifest).field("cache", &self.source).finish()
    }
}

impl Store {
    /// A store reading the files of `manifest`'s data directory through its
    /// own [`FileCache`], registered with the manifest so retired files are
    /// kept while a reader of them is held.
    pub fn new(manifest: Arc<ManifestStore>) -> Self {
        let cache = Arc::new(FileCache::new());
        let holder: Weak<dyn ReaderHolder> = Arc::downgrade(&cache) as Weak<FileCache>;
        manifest.register_readers(holder);
        Self { manifest, source: cache }
    }

    /// A store reading its files through `source` (e.g. an object storage cache).
    pub fn with_source(manifest: Arc<ManifestStore>, source: Arc<dyn FileSource>) -> Self {
        Self { manifest, source }
    }

    /// Reloads the manifest ([`ManifestStore::reload`]: read-only stores
    /// pick up newer versions) and then drops the cached readers of files it
    /// no longer lists; returns the current version.
    pub fn reload(&self) -> Result<Arc<Manifest>> {
        let manifest = self.manifest.reload()?;
        self.evict_dead_readers();
        Ok(manifest)
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
        self.source.open(self.manifest.data_dir(), meta)
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
        req: &SelectRequest,
        base_offsets: &BTreeMap<PartitionId, Offset>,
    ) -> Result<Vec<StoredSeries>> {
        let (_snapshot, files) = self.pinned(&req.tenant, req.min_t, req.max_t, base_offsets);
        let mut lists = Vec::with_capacity(files.len());
        for meta in files {
            let reader = self.open(&meta)?;
            let ids = selected_in_range(&reader, &req.matchers, req.min_t, req.max_t)?;
            if !ids.is_empty() {
                lists.push((reader, ids));
            }
        }
        merge_selected(&lists)
    }

    /// Whether some file of `tenant` overlaps `[min_t, max_t]` (from the
    /// manifest in memory: no file is opened).
    pub fn overlaps(&self, tenant: &TenantId, min_t: Timestamp, max_t: Timestamp) -> bool {
        overlapping(&self.manifest.pin(), tenant, min_t, max_t).next().is_some()
    }

    /// What [`Store::select`] of `req` would read, from postings and chunk
    /// metadata only ([`crate::estimate`]): every file of the tenant
    /// overlapping the range counts (the heads' base offsets are not known
    /// before a head read; an estimate may count a flushing file twice).
    pub fn estimate(&self, req: &SelectRequest) -> Result<SelectEstimate> {
        let mut total = SelectEstimate::default();
        let snapshot = self.manifest.pin();
        let range = (req.min_t, req.max_t);
        for meta in overlapping(&snapshot, &req.tenant, req.min_t, req.max_t) {
            let reader = self.open(meta)?;
            let mut failed = None;
            let mut e = crate::estimate::sampled(&reader.select(&req.matchers), |id| match reader.chunks(id) {
                Ok(chunks) => chunks.iter().fold((0, 0), |(n, b), c| {
                    let share = crate::estimate::overlap_share(u64::from(c.count), (c.min_t, c.max_t), range);
                    let bytes = (c.len as u64 * share).checked_div(u64::from(c.count)).unwrap_or(0);
                    (n + share, b + bytes)
                }),
                Err(e) => {
                    failed.get_or_insert(e);
                    (0, 0)
                }
            });
            if let Some(e) = failed {
                return Err(e);
            }
            e.files = u64::from(e.series > 0);
            total.add(e);
        }
        Ok(total)
    }

    /// Label names (`name = None`) or the values of label `name` among
    /// `tenant`'s series matching `matchers` in readable files overlapping
    /// the range, sorted and unique (the file side of
    /// `strata_common::head::LabelsRequest`). Without matchers only the
    /// postings directories are read; with matchers only series with a chunk
    /// overlapping the range count (as in [`Store::select`]).
    pub fn labels(&self, req: &LabelsRequest, base_offsets: &BTreeMap<PartitionId, Offset>) -> Result<Vec<String>> {
        let (name, matchers) = (req.name.as_deref(), &req.matchers[..]);
        let mut out = BTreeSet::new();
        let (_snapshot, files) = self.pinned(&req.tenant, req.min_t, req.max_t, base_offsets);
        for meta in files {
            let reader = self.open(&meta)?;
            if matchers.is_empty() {
                match name {
                    None => out.extend(reader.label_names()),
                    Some(name) => out.extend(reader.label_values(name)),
                }
                continue;
            }
            let ids = selected_in_range(&reader, matchers, req.min_t, req.max_t)?;
            out.extend(reader.label_strings_of(&ids, name)?.into_iter().map(str::to_string));
        }
        Ok(out.into_iter().collect())
    }

    /// Drops cached readers of files no longer in the manifest.
    pub fn evict_dead_readers(&self) {
        let live: HashSet<u64> = self.manifest.current().files.iter().map(|f| f.id).collect();
        self.source.retain(&live);
    }
}

/// Groups the selected series of several files (each list in the file's
/// label order, the files in rank order) by label set, in label order: a
/// k-way merge over label pairs borrowed from each file's symbols, so a
/// series' [`Labels`] are built once, however many files hold it.
fn merge_selected(lists: &[(Arc<FileReader>, Vec<u32>)]) -> Result<Vec<StoredSeries>> {
    if let [(reader, ids)] = lists {
        let sources = |id| vec![(Arc::clone(reader), id)];
        return ids.iter().map(|&id| Ok(StoredSeries { labels: reader.labels(id)?, sources: sources(id) })).collect();
    }
    /// One file's next series: its position in the file's list and its labels.
    struct Head<'a> {
        list: usize,
        at: usize,
        labels: Vec<(&'a str, &'a str)>,
    }
    let mut heads = Vec::with_capacity(lists.len());
    for (list, (reader, ids)) in lists.iter().enumerate() {
        let mut labels = Vec::new();
        reader.label_refs(ids[0], &mut labels)?;
        heads.push(Head { list, at: 0, labels });
    }
    let mut out = Vec::with_capacity(lists.iter().map(|(_, ids)| ids.len()).max().unwrap_or(0));
    // Indexes into `heads` of the files holding the smallest label set, in rank order.
    let mut group: Vec<usize> = Vec::with_capacity(lists.len());
    while !heads.is_empty() {
        group.clear();
        group.push(0);
        for i in 1..heads.len() {
            match heads[i].labels.cmp(&heads[group[0]].labels) {
                std::cmp::Ordering::Less => {
                    group.clear();
                    group.push(i);
                }
                std::cmp::Ordering::Equal => group.push(i),
                std::cmp::Ordering::Greater => {}
            }
        }
        let first = &heads[group[0]];
        let labels = Labels::from_sorted(first.labels.iter().map(|&(n, v)| Label::new(n, v)).collect());
        let sources = group.iter().map(|&g| {
            let (reader, ids) = &lists[heads[g].list];
            (Arc::clone(reader), ids[heads[g].at])
        });
        out.push(StoredSeries { labels, sources: sources.collect() });
        let mut done = false;
        for &g in &group {
            let head = &mut heads[g];
            let (reader, ids) = &lists[head.list];
            head.at += 1;
            match ids.get(head.at) {
                Some(&id) => reader.label_refs(id, &mut head.labels)?,
                None => done = true,
            }
        }
        if done {
            heads.retain(|h| h.at < lists[h.list].1.len());
        }
    }
    Ok(out)
}

/// Files of `tenant` in `snapshot` overlapping `[min_t, max_t]`.
fn overlapping<'a>(
    snapshot: &'a Manifest,
    tenant: &'a TenantId,
    min_t: Timestamp,
    max_t: Timestamp,
) -> impl Iterator<Item = &'a FileMeta> {
    snapshot.files.iter().filter(move |f| &f.tenant == tenant && f.min_t <= max_t && f.max_t >= min_t)
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
    let mut files: Vec<FileMeta> = overlapping(snapshot, tenant, min_t, max_t)
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
