//! [`FileCache`]: the open [`FileReader`]s of one [`Store`](super::Store),
//! by file id.
//!
//! The store owns it, not the manifest: the manifest says which files are
//! live, the store decides which of them are open. Opening a file (map,
//! validate, unpack a v4 index) is part of reading, and a store reading
//! through object storage has a different cache
//! ([`ObjectFileCache`](crate::object::ObjectFileCache)) over the same kind
//! of manifest, so a cache inside [`ManifestStore`](crate::ManifestStore)
//! was the wrong one for those stores and tied the manifest to the reader.
//!
//! What the manifest still needs from it, whether a retired file is still
//! being read, goes through the crate-internal `retire::ReaderHolder` trait:
//! [`Store::new`](super::Store::new)
//! registers its cache with the manifest, and
//! [`ManifestStore::delete_retired`](crate::ManifestStore::delete_retired)
//! asks every registered cache ([`FileCache::release_if_unused`]) before it
//! deletes a file, as it asked its own cache before.
//!
//! Reloads: [`Store::reload`](super::Store::reload) reloads the manifest and
//! then drops the readers of files it no longer lists ([`FileCache::retain`]);
//! readers held by running queries stay valid until dropped.
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

use super::FileSource;
use crate::retire::ReaderHolder;
use crate::{FileMeta, FileReader, Result};

/// Open readers by file id.
#[derive(Default)]
pub struct FileCache {
    open: Mutex<HashMap<u64, Arc<FileReader>>>,
}

impl std::fmt::Debug for FileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileCache").field("open", &self.open.lock().len()).finish()
    }
}

impl FileCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The reader of `meta`'s file, opened (and validated) on first use.
    pub fn get(&self, data_dir: &Path, meta: &FileMeta) -> Result<Arc<FileReader>> {
        if let Some(r) = self.open.lock().get(&meta.id) {
            return Ok(Arc::clone(r));
        }
        // Open outside the lock: validation reads the whole file.
        let reader = Arc::new(FileReader::open(&data_dir.join(&meta.path))?);
        Ok(Arc::clone(self.open.lock().entry(meta.id).or_insert(reader)))
    }

    /// Drops readers of files not in `live` (ids); readers still held by
    /// queries stay valid until their last `Arc` is dropped.
    pub fn retain(&self, live: &HashSet<u64>) {
        self.open.lock().retain(|id, _| live.contains(id));
    }

    /// Drops the cached reader of file `id` unless a query still holds it;
    /// true if no reader of it is alive any more. Checked under the cache
    /// lock, so [`Self::get`] cannot hand the reader out meanwhile.
    pub fn release_if_unused(&self, id: u64) -> bool {
        let mut open = self.open.lock();
        match open.get(&id) {
            Some(r) if Arc::strong_count(r) > 1 => false,
            _ => {
                open.remove(&id);
                true
            }
        }
    }

    /// Number of open readers cached.
    pub fn len(&self) -> usize {
        self.open.lock().len()
    }

    /// True if no reader is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl FileSource for FileCache {
    fn open(&self, data_dir: &Path, meta: &FileMeta) -> Result<Arc<FileReader>> {
        self.get(data_dir, meta)
    }

    fn retain(&self, live: &HashSet<u64>) {
        FileCache::retain(self, live)
    }
}

impl ReaderHolder for FileCache {
    fn release_if_unused(&self, id: u64) -> bool {
        FileCache::release_if_unused(self, id)
    }
}
