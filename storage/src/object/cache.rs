//! The querier side: [`ObjectFileCache`] serves file readers from a local
//! cache directory, downloading a whole file on first use and evicting the
//! least recently used files past a byte bound; [`BucketManifestSource`]
//! makes a read-only [`ManifestStore`](crate::ManifestStore) over the cache
//! directory fetch the bucket's newer manifests on every reload.
//!
//! Whole files rather than ranged GETs: [`FileReader`] validates a file's
//! sections and CRCs on open and memory-maps it, so the read path needs the
//! whole file anyway, and one GET per file beats a GET per chunk for the
//! files queries touch repeatedly (recent ones).
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::bucket::Bucket;
use crate::durable::write_atomic;
use crate::manifest::{FILES_DIR, MANIFEST_FILE};
use crate::store::FileSource;
use crate::{Error, FileMeta, FileReader, Manifest, ManifestSource, Result};

/// An LRU (by bytes) of downloaded, open files.
#[derive(Debug)]
pub struct ObjectFileCache {
    bucket: Arc<Bucket>,
    dir: PathBuf,
    max_bytes: u64,
    inner: Mutex<Lru>,
}

#[derive(Debug, Default)]
struct Lru {
    entries: HashMap<u64, Entry>,
    bytes: u64,
    tick: u64,
}

#[derive(Debug)]
struct Entry {
    reader: Arc<FileReader>,
    path: PathBuf,
    bytes: u64,
    used: u64,
}

impl ObjectFileCache {
    /// A cache whose files go to `dir/files/...`; that directory is emptied
    /// first (entries of a previous run are not tracked).
    pub fn new(bucket: Arc<Bucket>, dir: &Path, max_bytes: u64) -> Result<Self> {
        let files = dir.join(FILES_DIR);
        match std::fs::remove_dir_all(&files) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&files)(e)),
        }
        std::fs::create_dir_all(&files).map_err(Error::io(&files))?;
        Ok(Self { bucket, dir: dir.to_path_buf(), max_bytes, inner: Mutex::new(Lru::default()) })
    }

    /// Bytes of the files in the cache.
    pub fn cached_bytes(&self) -> u64 {
        self.inner.lock().bytes
    }

    /// Ids of the files in the cache.
    pub fn cached_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.inner.lock().entries.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    fn hit(&self, id: u64) -> Option<Arc<FileReader>> {
        let mut lru = self.inner.lock();
        lru.tick += 1;
        let tick = lru.tick;
        lru.entries.get_mut(&id).map(|e| {
            e.used = tick;
            Arc::clone(&e.reader)
        })
    }

    /// Removes least recently used entries (never `keep`) until within the bound.
    fn evict(&self, lru: &mut Lru, keep: u64) {
        while lru.bytes > self.max_bytes {
            let Some((&id, _)) = lru.entries.iter().filter(|(id, _)| **id != keep).min_by_key(|(_, e)| e.used) else {
                break;
            };
            if let Some(e) = lru.entries.remove(&id) {
                lru.bytes -= e.bytes;
                // Open readers keep their mapping after the unlink.
                let _ = std::fs::remove_file(&e.path);
                self.bucket.metrics.cache_evictions.inc();
            }
        }
        self.bucket.metrics.cache_bytes.set(i64::try_from(lru.bytes).unwrap_or(i64::MAX));
    }
}

impl FileSource for ObjectFileCache {
    fn open(&self, _data_dir: &Path, meta: &FileMeta) -> Result<Arc<FileReader>> {
        if let Some(r) = self.hit(meta.id) {
            self.bucket.metrics.cache_hits.inc();
            return Ok(r);
        }
        self.bucket.metrics.cache_misses.inc();
        // Download and validate outside the lock.
        let path = self.dir.join(&meta.path);
        let bytes = self.bucket.download(&meta.path, &path)?;
        let reader = Arc::new(FileReader::open(&path)?);
        let mut lru = self.inner.lock();
        lru.tick += 1;
        let tick = lru.tick;
        if let Some(e) = lru.entries.get_mut(&meta.id) {
            // Another query downloaded it meanwhile (same bytes, same path).
            e.used = tick;
            return Ok(Arc::clone(&e.reader));
        }
        lru.entries.insert(meta.id, Entry { reader: Arc::clone(&reader), path, bytes, used: tick });
        lru.bytes += bytes;
        self.evict(&mut lru, meta.id);
        Ok(reader)
    }

    fn retain(&self, live: &HashSet<u64>) {
        let mut lru = self.inner.lock();
        let dead: Vec<u64> = lru.entries.keys().filter(|id| !live.contains(id)).copied().collect();
        for id in dead {
            if let Some(e) = lru.entries.remove(&id) {
                lru.bytes -= e.bytes;
                let _ = std::fs::remove_file(&e.path);
            }
        }
        self.bucket.metrics.cache_bytes.set(i64::try_from(lru.bytes).unwrap_or(i64::MAX));
    }
}

/// Fetches the bucket's manifest into `dir/MANIFEST.json` (written
/// atomically) if it is newer than `current` (or `current` is None).
/// Returns the bucket's version (None: it has no manifest yet).
pub fn fetch_manifest(bucket: &Bucket, dir: &Path, current: Option<u64>) -> Result<Option<u64>> {
    let Some(bytes) = bucket.get_bytes(MANIFEST_FILE)? else {
        return Ok(None);
    };
    let manifest = Manifest::decode(&bytes, Path::new(MANIFEST_FILE))?;
    if current.is_none_or(|c| manifest.version > c) {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        write_atomic(dir, &dir.join(MANIFEST_FILE), &dir.join(format!("{MANIFEST_FILE}.tmp")), &bytes)?;
    }
    Ok(Some(manifest.version))
}

/// The bucket as a read-only [`ManifestStore`]'s source: every
/// [`ManifestStore::reload`] (the periodic poll, and the querier's reloads
/// when the heads' base offsets pass the manifest's flushed offsets) asks
/// the bucket for a newer version.
#[derive(Debug)]
pub struct BucketManifestSource {
    /// The bucket the manifest is fetched from.
    pub bucket: Arc<Bucket>,
}

impl ManifestSource for BucketManifestSource {
    fn fetch(&self, dir: &Path, current: u64) -> Result<()> {
        fetch_manifest(&self.bucket, dir, Some(current)).map(|_| ())
    }
}
