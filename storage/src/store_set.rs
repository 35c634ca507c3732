//! [`StoreSet`]: the files of several manifests read as one. A cluster
//! querier reads every ingester's data directory (one manifest each, written
//! by that ingester alone); the all-in-one process has a single store.
//!
//! Freshness: a querier's read-only manifest may be older than the head read
//! that precedes the file read. Before each read, a member whose manifest's
//! flushed offset for one of its partitions is below the heads' base offset
//! is reloaded from disk, so files up to the base offsets are always seen
//! (the ingester commits the manifest before its base offsets advance).
//! Compaction does not move offsets, so a read-only manifest is also
//! reloaded when it is older than [`MAX_READ_ONLY_AGE`]: the writer deletes
//! replaced files only after `compaction.delete_delay_ms` (60 s by default),
//! long after every querier has seen the manifest that replaced them. A read
//! that still fails (a file deleted under a stale manifest) reloads and
//! retries once.
//!
//! Each member [`Store`] keeps its own reader cache (see
//! [`crate::store::cache`]); a member's reload is [`Store::reload`], which
//! also drops the cached readers of files the new version no longer lists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use strata_common::head::{LabelsRequest, SelectEstimate, SelectRequest};
use strata_common::ids::{Offset, PartitionId};
use strata_common::{Labels, TenantId, Timestamp};

use crate::{ManifestStore, Result, Store, StoredSeries};

/// A read-only manifest older than this is reloaded before a read.
pub const MAX_READ_ONLY_AGE: Duration = Duration::from_secs(10);

struct Member {
    store: Arc<Store>,
    /// The partitions this member's writer owns; `None` for a store written
    /// by this process (always current, never reloaded).
    reload_for: Option<Vec<PartitionId>>,
    loaded_at: Mutex<Instant>,
}

impl Member {
    fn reload(&self) -> Result<()> {
        self.store.reload()?;
        *self.loaded_at.lock() = Instant::now();
        Ok(())
    }
}

/// Several [`Store`]s queried as one.
pub struct StoreSet {
    members: Vec<Member>,
}

impl std::fmt::Debug for StoreSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSet").field("members", &self.members.len()).finish()
    }
}

impl StoreSet {
    /// One store written by this process.
    pub fn single(store: Arc<Store>) -> Self {
        Self { members: vec![Member { store, reload_for: None, loaded_at: Mutex::new(Instant::now()) }] }
    }

    /// Read-only stores of other processes' data directories, each with the
    /// partitions its writer owns. A directory that does not exist yet reads
    /// as empty until its writer commits a manifest.
    pub fn open_read_only(dirs: Vec<(PathBuf, Vec<PartitionId>)>) -> Result<Self> {
        let mut members = Vec::with_capacity(dirs.len());
        for (dir, partitions) in dirs {
            let manifest = Arc::new(ManifestStore::open_read_only(&dir)?);
            members.push(Member {
                store: Arc::new(Store::new(manifest)),
                reload_for: Some(partitions),
                loaded_at: Mutex::new(Instant::now()),
            });
        }
        Ok(Self { members })
    }

    /// Read-only stores opened elsewhere (e.g. object storage readers,
    /// `crate::object::ObjectStorage::open_reader`, whose reloads fetch from
    /// the bucket), each with the partitions its writer owns.
    pub fn from_read_only(stores: Vec<(Arc<Store>, Vec<PartitionId>)>) -> Self {
        let members = stores
            .into_iter()
            .map(|(store, partitions)| Member {
                store,
                reload_for: Some(partitions),
                loaded_at: Mutex::new(Instant::now()),
            })
            .collect();
        Self { members }
    }

    /// The member stores.
    pub fn stores(&self) -> impl Iterator<Item = &Arc<Store>> {
        self.members.iter().map(|m| &m.store)
    }

    /// Reloads every read-only manifest that is behind `base_offsets` or
    /// older than [`MAX_READ_ONLY_AGE`] (all of them with `force`).
    fn refresh(&self, base_offsets: &BTreeMap<PartitionId, Offset>, force: bool) -> Result<()> {
        for m in &self.members {
            let Some(partitions) = &m.reload_for else { continue };
            let current = m.store.manifest.current();
            let behind = partitions.iter().any(|p| {
                let flushed = current.flushed_offsets.get(p).copied().unwrap_or(0);
                base_offsets.get(p).is_some_and(|&base| base > flushed)
            });
            if force || behind || m.loaded_at.lock().elapsed() > MAX_READ_ONLY_AGE {
                m.reload()?;
            }
        }
        Ok(())
    }

    /// Runs `read` after a refresh; if it fails and a read-only manifest
    /// could be stale, reloads them all and runs it once more.
    fn with_retry<T>(&self, base_offsets: &BTreeMap<PartitionId, Offset>, read: impl Fn() -> Result<T>) -> Result<T> {
        self.refresh(base_offsets, false)?;
        match read() {
            Err(e) if self.members.iter().any(|m| m.reload_for.is_some()) => {
                tracing::debug!(error = %e, "file read failed; reloading the manifests and retrying once");
                self.refresh(base_offsets, true)?;
                read()
            }
            other => other,
        }
    }

    /// [`Store::select`] over every member, sorted by labels; a label set
    /// found in several members gets the sources of all of them.
    pub fn select(
        &self,
        req: &SelectRequest,
        base_offsets: &BTreeMap<PartitionId, Offset>,
    ) -> Result<Vec<StoredSeries>> {
        self.with_retry(base_offsets, || {
            if let [only] = self.members.as_slice() {
                return only.store.select(req, base_offsets);
            }
            let lists = self.members.iter().map(|m| m.store.select(req, base_offsets)).collect::<Result<Vec<_>>>()?;
            Ok(merge_sorted(lists))
        })
    }

    /// [`Store::labels`] over every member, as a sorted union.
    pub fn labels(&self, req: &LabelsRequest, base_offsets: &BTreeMap<PartitionId, Offset>) -> Result<Vec<String>> {
        self.with_retry(base_offsets, || {
            let mut out = BTreeSet::new();
            for m in &self.members {
                out.extend(m.store.labels(req, base_offsets)?);
            }
            Ok(out.into_iter().collect())
        })
    }

    /// `(member, file id)` of every file [`StoreSet::select`] of `req`
    /// could read (the tenant's readable files overlapping its time range,
    /// after the same manifest refresh), sorted. Files are immutable, so
    /// the samples the files hold for `req` can only change when this list
    /// does (a results cache's validity check).
    pub fn file_ids(
        &self,
        req: &SelectRequest,
        base_offsets: &BTreeMap<PartitionId, Offset>,
    ) -> Result<Vec<(usize, u64)>> {
        self.refresh(base_offsets, false)?;
        let mut ids = Vec::new();
        for (i, m) in self.members.iter().enumerate() {
            let files = m.store.readable_files(&req.tenant, req.min_t, req.max_t, base_offsets);
            ids.extend(files.iter().map(|f| (i, f.id)));
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// Whether some member has a file of `tenant` overlapping `[min_t,
    /// max_t]` ([`Store::overlaps`]; manifests as last loaded).
    pub fn overlaps(&self, tenant: &TenantId, min_t: Timestamp, max_t: Timestamp) -> bool {
        self.members.iter().any(|m| m.store.overlaps(tenant, min_t, max_t))
    }

    /// [`Store::estimate`] summed over every member (manifests as last
    /// loaded; an estimate does not reload them).
    pub fn estimate(&self, req: &SelectRequest) -> Result<SelectEstimate> {
        let mut total = SelectEstimate::default();
        for m in &self.members {
            total.add(m.store.estimate(req)?);
        }
        Ok(total)
    }
}

/// Merges label-sorted lists of stored series (one per member) into one,
/// in label order; a label set in several lists gets their sources in list order.
fn merge_sorted(lists: Vec<Vec<StoredSeries>>) -> Vec<StoredSeries> {
    let total = lists.iter().map(Vec::len).sum();
    let mut lists: Vec<std::vec::IntoIter<StoredSeries>> = lists.into_iter().map(Vec::into_iter).collect();
    let mut out: Vec<StoredSeries> = Vec::with_capacity(total);
    loop {
        // The list holding the smallest label set (the first such list).
        let mut min: Option<(usize, &Labels)> = None;
        for (i, list) in lists.iter().enumerate() {
            if let Some(s) = list.as_slice().first()
                && min.is_none_or(|(_, m)| s.labels < *m)
            {
                min = Some((i, &s.labels));
            }
        }
        let Some((min, _)) = min else { return out };
        let Some(mut first) = lists[min].next() else { return out };
        for list in &mut lists[min + 1..] {
            if list.as_slice().first().is_some_and(|s| s.labels == first.labels)
                && let Some(s) = list.next()
            {
                first.sources.extend(s.sources);
            }
        }
        out.push(first);
    }
}
