//! The manifest: the live files and the per-partition flushed offsets.
//!
//! Stored as JSON in `<data_dir>/MANIFEST.json` (with a `format_version`
//! field) and replaced atomically: `MANIFEST.json.tmp` is written and fsynced,
//! renamed over the old one, and the directory fsynced. Readers take
//! [`ManifestStore::current`], a lock-free `Arc` snapshot (`ArcSwap`);
//! writers serialise on a mutex. Flushed offsets only move forward.
//!
//! Recovery on [`ManifestStore::open`]: leftover `*.tmp` files and data files
//! not referenced by the manifest are deleted (a crash between writing a file
//! and committing it leaves one; the log replay from the flushed offsets
//! recreates its data). File ids are never reused: the persisted
//! `next_file_id` is raised past every id found in the manifest or on disk.
//!
//! Files removed by [`ManifestStore::commit_replace`] are retired and
//! deleted later by [`ManifestStore::delete_retired`] (see [`crate::retire`]).
//!
//! Replication hook: with object storage configured, a [`Replicator`] is set
//! once ([`ManifestStore::set_replicator`]) and the flush path calls
//! [`ManifestStore::replicate`] after each commit, before releasing the log
//! (see `crate::object`).
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use strata_common::ids::{Offset, PartitionId};
use strata_common::{TenantId, Timestamp};

use crate::durable::{self, sync_dir};
use crate::fault::{FaultHook, FaultPoint};
use crate::format::FILE_EXT;
use crate::retire::{Holders, Pins, ReaderHolder, Retired, Snapshot};
use crate::{Error, Result};

/// Name of the manifest file in the data directory.
pub const MANIFEST_FILE: &str = "MANIFEST.json";
/// The manifest JSON layout version this build writes and reads.
pub const MANIFEST_FORMAT_VERSION: u32 = 1;
/// Directory (under the data directory) holding `<tenant>/<id>.strata`.
pub const FILES_DIR: &str = "files";

/// The log offsets `[start, end)` of one partition that a file covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRange {
    /// The log partition.
    pub partition: PartitionId,
    /// First offset covered.
    pub start: Offset,
    /// One past the last offset covered.
    pub end: Offset,
}

/// One live file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileMeta {
    /// Unique file id (never reused, also the file name).
    pub id: u64,
    /// Path relative to the data directory.
    pub path: String,
    /// The tenant whose series the file holds.
    pub tenant: TenantId,
    /// 0 for flush files, higher for compaction outputs.
    pub level: u32,
    /// Smallest sample timestamp in the file.
    pub min_t: Timestamp,
    /// Largest sample timestamp in the file.
    pub max_t: Timestamp,
    /// Number of series in the file.
    pub series: u64,
    /// Number of samples in the file.
    pub samples: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// The log ranges whose data the file holds, per partition.
    pub offsets: Vec<PartitionRange>,
    /// Position of the file's data in the "newest wins" order for equal
    /// (series, timestamp) samples across files: the id of the newest flush
    /// file whose data it holds. `None` (flush files) means its own id.
    /// Compaction outputs get the largest order of their inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_order: Option<u64>,
}

impl FileMeta {
    /// Sort key of the "newest wins" rule: later keys win.
    pub fn rank(&self) -> (u64, u64) {
        (self.merge_order.unwrap_or(self.id), self.id)
    }
}

/// A manifest version.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Manifest {
    /// Increases by one with every commit.
    pub version: u64,
    /// The live files, sorted by id.
    pub files: Vec<FileMeta>,
    /// Per partition, the offset below which all data is in files.
    pub flushed_offsets: BTreeMap<PartitionId, Offset>,
    /// Lower bound for the next file id allocated.
    pub next_file_id: u64,
}

/// The on-disk envelope: `{"format_version": 1, "manifest": {...}}`.
/// (Not `#[serde(flatten)]`: flattening breaks the integer partition keys.)
#[derive(Deserialize)]
struct ManifestFile {
    manifest: Manifest,
}

#[derive(Deserialize)]
struct VersionOnly {
    format_version: u32,
}

#[derive(Serialize)]
struct ManifestFileRef<'a> {
    format_version: u32,
    manifest: &'a Manifest,
}

impl Manifest {
    /// The JSON envelope `{"format_version": 1, "manifest": {...}}`.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let file = ManifestFileRef { format_version: MANIFEST_FORMAT_VERSION, manifest: self };
        serde_json::to_vec_pretty(&file)
            .map_err(|source| Error::Manifest { path: PathBuf::from(MANIFEST_FILE), source })
    }

    /// Parses the envelope written by [`Manifest::encode`]; `path` names the
    /// source in errors. The version is checked before the body (a future
    /// layout may not parse).
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Manifest> {
        let version: VersionOnly =
            serde_json::from_slice(bytes).map_err(|source| Error::Manifest { path: path.to_path_buf(), source })?;
        if version.format_version != MANIFEST_FORMAT_VERSION {
            return Err(Error::UnsupportedVersion { path: path.to_path_buf(), version: version.format_version });
        }
        let file: ManifestFile =
            serde_json::from_slice(bytes).map_err(|source| Error::Manifest { path: path.to_path_buf(), source })?;
        Ok(file.manifest)
    }
}

/// Copies committed manifest versions (and the files they reference)
/// somewhere durable beyond the local disk, e.g. an object store bucket.
pub trait Replicator: Send + Sync + std::fmt::Debug {
    /// Makes the replica hold `store`'s current version (or a newer one) and
    /// every file it references. Blocking; idempotent; safe to call from
    /// several threads.
    fn replicate(&self, store: &ManifestStore) -> Result<()>;
}

/// Where a read-only store's newer versions come from when they are not
/// written into its directory by a local writer (object storage readers):
/// [`ManifestStore::reload`] asks it first.
pub trait ManifestSource: Send + Sync + std::fmt::Debug {
    /// Writes a version newer than `current` (if there is one) into `dir`.
    fn fetch(&self, dir: &Path, current: u64) -> Result<()>;
}

/// Loads and atomically replaces the manifest.
pub struct ManifestStore {
    dir: PathBuf,
    current: ArcSwap<Manifest>,
    writer: Mutex<()>,
    next_id: AtomicU64,
    /// The highest version ever written (a failed commit may have renamed
    /// its version into place; the next one must still be newer).
    last_written: AtomicU64,
    read_only: bool,
    faults: RwLock<Option<FaultHook>>,
    pins: Arc<Pins>,
    retired: Mutex<Vec<Retired>>,
    /// Reader caches of the stores over this manifest (see [`crate::retire`]).
    holders: Holders,
    replicator: OnceLock<Arc<dyn Replicator>>,
    source: OnceLock<Arc<dyn ManifestSource>>,
}

impl std::fmt::Debug for ManifestStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManifestStore").field("dir", &self.dir).field("version", &self.current.load().version).finish()
    }
}

impl ManifestStore {
    /// Opens (or creates) the manifest in `data_dir`, and removes leftovers
    /// of interrupted writes (see the module docs). Only the process that
    /// writes the data directory may call this; others use
    /// [`ManifestStore::open_read_only`].
    pub fn open(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(Error::io(data_dir))?;
        let manifest = load(data_dir)?.unwrap_or_default();
        let referenced: HashSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
        let mut next = manifest.next_file_id.max(manifest.files.iter().map(|f| f.id + 1).max().unwrap_or(0));
        let tmp = data_dir.join(format!("{MANIFEST_FILE}.tmp"));
        if tmp.exists() {
            std::fs::remove_file(&tmp).map_err(Error::io(&tmp))?;
        }
        let files = data_dir.join(FILES_DIR);
        let mut removed = 0usize;
        for tenant_dir in read_dir(&files)? {
            if !tenant_dir.is_dir() {
                continue;
            }
            for path in read_dir(&tenant_dir)? {
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if let Some(id) = name.split('.').next().and_then(|s| s.parse::<u64>().ok()) {
                    next = next.max(id + 1);
                }
                let rel = path.strip_prefix(data_dir).ok().and_then(|p| p.to_str()).map(|p| p.replace('\\', "/"));
                let orphan = name.ends_with(".tmp")
                    || (name.ends_with(&format!(".{FILE_EXT}"))
                        && !rel.is_some_and(|r| referenced.contains(r.as_str())));
                if orphan {
                    tracing::info!(path = %path.display(), "removing unreferenced file left by an interrupted flush");
                    std::fs::remove_file(&path).map_err(Error::io(&path))?;
                    removed += 1;
                }
            }
        }
        if removed > 0 {
            for tenant_dir in read_dir(&files)?.iter().filter(|d| d.is_dir()) {
                sync_dir(tenant_dir)?;
            }
        }
        Ok(Self::new(data_dir, manifest, next, false))
    }

    /// Opens the manifest without touching the directory (for queriers that
    /// share a data directory with a writer). [`Self::reload`] picks up new
    /// versions; commits and file id allocation are refused.
    pub fn open_read_only(data_dir: &Path) -> Result<Self> {
        let manifest = load(data_dir)?.unwrap_or_default();
        let next_id = manifest.next_file_id;
        Ok(Self::new(data_dir, manifest, next_id, true))
    }

    /// The one constructor behind [`Self::open`] and [`Self::open_read_only`]:
    /// `manifest` loaded from `data_dir`, ids allocated from `next_id`.
    fn new(data_dir: &Path, manifest: Manifest, next_id: u64, read_only: bool) -> Self {
        Self {
            dir: data_dir.to_path_buf(),
            current: ArcSwap::from_pointee(manifest),
            writer: Mutex::new(()),
            next_id: AtomicU64::new(next_id),
            last_written: AtomicU64::new(0),
            read_only,
            faults: RwLock::new(None),
            pins: Arc::default(),
            retired: Mutex::new(Vec::new()),
            holders: Holders::default(),
            replicator: OnceLock::new(),
            source: OnceLock::new(),
        }
    }

    /// Re-reads `MANIFEST.json` (read-only stores), after fetching a newer
    /// version from the [`ManifestSource`] if one is set; returns the
    /// current version.
    pub fn reload(&self) -> Result<Arc<Manifest>> {
        // One reload at a time: a querier's poll thread and its queries both
        // reload, and two fetches writing the same temp file would race
        // (one renames it away under the other).
        let _w = self.writer.lock();
        if let Some(source) = self.source.get() {
            source.fetch(&self.dir, self.current.load().version)?;
        }
        if let Some(m) = load(&self.dir)?
            && m.version > self.current.load().version
        {
            self.current.store(Arc::new(m));
        }
        Ok(self.current.load_full())
    }

    /// The current version (cheap: an Arc clone). Files it lists may be
    /// deleted once compaction replaces them; readers use [`Self::pin`].
    pub fn current(&self) -> Arc<Manifest> {
        self.current.load_full()
    }

    /// The current version, pinned: no file it lists is deleted while the
    /// snapshot is alive (nor while a reader opened through a
    /// [`Store`](crate::Store) over this manifest is held).
    pub fn pin(&self) -> Snapshot {
        self.pins.pin(&self.current)
    }

    /// Registers a store's reader cache: [`Self::delete_retired`] keeps a
    /// retired file while `holder` still has a reader of it in use.
    pub(crate) fn register_readers(&self, holder: Weak<dyn ReaderHolder>) {
        self.holders.register(holder);
    }

    /// Installs (or with `None` removes) a fault injection hook (tests).
    pub fn set_fault_hook(&self, hook: Option<FaultHook>) {
        *self.faults.write() = hook;
    }

    /// Runs the fault hook, if any, at `point`.
    pub(crate) fn fault(&self, point: FaultPoint, path: &Path) -> Result<()> {
        match &*self.faults.read() {
            Some(hook) => hook(point, path).map_err(Error::io(path)),
            None => Ok(()),
        }
    }

    /// Reserves a unique file id (unique across restarts: ids at or above
    /// the persisted `next_file_id` and any id found on disk at open).
    pub fn allocate_file_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The data directory the relative file paths are under.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// Sets the replicator (once; later calls are ignored and return false).
    pub fn set_replicator(&self, replicator: Arc<dyn Replicator>) -> bool {
        self.replicator.set(replicator).is_ok()
    }

    /// Sets where [`Self::reload`] fetches newer versions from (once).
    pub fn set_source(&self, source: Arc<dyn ManifestSource>) -> bool {
        self.source.set(source).is_ok()
    }

    /// Whether a replicator is set.
    pub fn is_replicated(&self) -> bool {
        self.replicator.get().is_some()
    }

    /// Replicates the current version if a replicator is set (no-op
    /// otherwise). Call after a commit and before releasing anything that
    /// only the committed version makes redundant (the log).
    pub fn replicate(&self) -> Result<()> {
        match self.replicator.get() {
            Some(r) => r.replicate(self),
            None => Ok(()),
        }
    }

    /// Removes data files that were written for a commit that failed,
    /// unless the manifest (in memory or on disk: a commit can fail after
    /// its rename) references them. Without this, a flush retried on a
    /// full disk would pile up copies of its files until a restart.
    pub fn remove_uncommitted(&self, files: &[FileMeta]) {
        let on_disk = match load(&self.dir) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the manifest; keeping the files of the failed commit");
                return;
            }
        };
        let current = self.current();
        let referenced = |id: u64| {
            current.files.iter().any(|f| f.id == id)
                || on_disk.as_ref().is_some_and(|m| m.files.iter().any(|f| f.id == id))
        };
        let gone: Vec<FileMeta> = files.iter().filter(|f| !referenced(f.id)).cloned().collect();
        crate::writer::remove_files(self, &gone);
    }

    /// Atomically adds `files` and advances the flushed offsets (never backwards).
    pub fn commit_flush(&self, files: Vec<FileMeta>, flushed: &[(PartitionId, Offset)]) -> Result<Arc<Manifest>> {
        self.commit(|m| {
            m.files.extend(files);
            for &(p, o) in flushed {
                let e = m.flushed_offsets.entry(p).or_insert(o);
                *e = (*e).max(o);
            }
        })
    }

    /// Atomically replaces the files with ids in `removed` by `added` (for
    /// compaction and retention). Offsets are unchanged. The removed files
    /// are retired: [`Self::delete_retired`] deletes them once no reader
    /// can still hold them.
    pub fn commit_replace(&self, removed: &[u64], added: Vec<FileMeta>) -> Result<Arc<Manifest>> {
        let mut gone = Vec::new();
        let m = self.commit(|m| {
            gone = m.files.iter().filter(|f| removed.contains(&f.id)).map(|f| (f.id, f.path.clone())).collect();
            m.files.retain(|f| !removed.contains(&f.id));
            m.files.extend(added);
        })?;
        let at = Instant::now();
        self.retired.lock().extend(gone.into_iter().map(|(id, path)| Retired {
            id,
            path: self.dir.join(path),
            removed_in: m.version,
            at,
        }));
        Ok(m)
    }

    /// Deletes retired files that no snapshot or reader can still read and
    /// that were retired at least `min_age` ago; returns how many were
    /// deleted. Files whose deletion fails stay retired (retried next call;
    /// after a crash, [`Self::open`] removes them as unreferenced).
    pub fn delete_retired(&self, min_age: Duration) -> Result<usize> {
        let oldest_pin = self.pins.oldest();
        let mut retired = self.retired.lock();
        let mut deleted = 0;
        let mut first_err = None;
        retired.retain(|r| {
            let pinned = oldest_pin.is_some_and(|v| v < r.removed_in);
            if pinned || r.at.elapsed() < min_age || !self.holders.release_if_unused(r.id) {
                return true;
            }
            let result =
                self.fault(FaultPoint::BeforeDelete, &r.path).and_then(|()| match std::fs::remove_file(&r.path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&r.path)(e)),
                    _ => Ok(()),
                });
            match result {
                Ok(()) => {
                    deleted += 1;
                    false
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                    true
                }
            }
        });
        match first_err {
            Some(e) => Err(e),
            None => Ok(deleted),
        }
    }

    /// Number of retired files not deleted yet.
    pub fn retired_count(&self) -> usize {
        self.retired.lock().len()
    }

    fn commit(&self, change: impl FnOnce(&mut Manifest)) -> Result<Arc<Manifest>> {
        if self.read_only {
            return Err(Error::Io {
                path: self.dir.join(MANIFEST_FILE),
                source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, "manifest store opened read-only"),
            });
        }
        let _w = self.writer.lock();
        let mut m = Manifest::clone(&self.current.load());
        change(&mut m);
        m.version = m.version.max(self.last_written.load(Ordering::Relaxed)) + 1;
        self.last_written.store(m.version, Ordering::Relaxed);
        m.files.sort_by_key(|f| f.id);
        m.next_file_id = m.next_file_id.max(self.next_id.load(Ordering::Relaxed));
        store(&self.dir, &m, |point, path| self.fault(point, path))?;
        let m = Arc::new(m);
        self.current.store(Arc::clone(&m));
        Ok(m)
    }
}

/// Lists a directory's entries (empty if it does not exist).
fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.map(|e| e.path()).map_err(Error::io(dir))).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(dir)(e)),
    }
}

fn load(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path)(e)),
    };
    Manifest::decode(&bytes, &path).map(Some)
}

fn store(dir: &Path, m: &Manifest, fault: impl Fn(FaultPoint, &Path) -> Result<()>) -> Result<()> {
    let path = dir.join(MANIFEST_FILE);
    let tmp = dir.join(format!("{MANIFEST_FILE}.tmp"));
    let bytes = m.encode()?;
    durable::write_atomic_with(
        dir,
        &path,
        &tmp,
        &bytes,
        |tmp| fault(FaultPoint::ManifestBeforeRename, tmp),
        |path| fault(FaultPoint::ManifestAfterRename, path),
    )
}
