//! Safe deletion of files that left the manifest (compaction inputs, files
//! past retention).
//!
//! A removed file is *retired*, not deleted: [`ManifestStore::delete_retired`](crate::ManifestStore::delete_retired)
//! deletes it only once
//! 1. no [`Snapshot`] of a manifest version that still listed it is alive
//!    (queries pin a snapshot while they pick and open files), and
//! 2. no reader of it is held outside the reader caches of the stores over
//!    this manifest (queries keep `Arc<FileReader>`s while they stream
//!    samples; each [`Store`](crate::Store) registers its cache as a
//!    `ReaderHolder`), and
//! 3. it has been retired for at least the configured delay (grace for
//!    processes that read the directory read-only and cannot be tracked).
//!
//! Retired files are remembered in memory only: after a crash they are
//! unreferenced files, which [`ManifestStore::open`](crate::ManifestStore::open) deletes.
use std::collections::BTreeMap;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Instant;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::Manifest;

/// Live snapshot pins, counted per manifest version.
#[derive(Debug, Default)]
pub(crate) struct Pins {
    counts: Mutex<BTreeMap<u64, usize>>,
}

impl Pins {
    /// Takes the current version and pins it, atomically with respect to
    /// [`Pins::oldest`] (so a version checked unpinned cannot be pinned later).
    pub(crate) fn pin(self: &Arc<Self>, current: &ArcSwap<Manifest>) -> Snapshot {
        let mut counts = self.counts.lock();
        let manifest = current.load_full();
        *counts.entry(manifest.version).or_default() += 1;
        Snapshot { manifest, pins: Arc::clone(self) }
    }

    /// The oldest pinned version, if any.
    pub(crate) fn oldest(&self) -> Option<u64> {
        self.counts.lock().keys().next().copied()
    }
}

/// A manifest version pinned for reading: files it lists are not deleted
/// while it is alive. Dereferences to the [`Manifest`].
pub struct Snapshot {
    manifest: Arc<Manifest>,
    pins: Arc<Pins>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("version", &self.manifest.version).finish()
    }
}

impl Deref for Snapshot {
    type Target = Manifest;
    fn deref(&self) -> &Manifest {
        &self.manifest
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let mut counts = self.pins.counts.lock();
        if let Some(n) = counts.get_mut(&self.manifest.version) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.manifest.version);
            }
        }
    }
}

/// A file removed from the manifest, waiting for deletion.
#[derive(Debug, Clone)]
pub(crate) struct Retired {
    pub id: u64,
    pub path: PathBuf,
    /// The first manifest version without the file.
    pub removed_in: u64,
    pub at: Instant,
}

/// Something that may hold open readers of this manifest's files (a
/// [`Store`](crate::Store)'s reader cache), asked before a retired file is
/// deleted.
pub(crate) trait ReaderHolder: Send + Sync {
    /// Drops its own cached reader of file `id` unless a query still holds
    /// it; true if no reader of it is alive any more.
    fn release_if_unused(&self, id: u64) -> bool;
}

/// The registered [`ReaderHolder`]s of one manifest, held weakly: a dropped
/// store's cache stops counting.
#[derive(Default)]
pub(crate) struct Holders {
    list: Mutex<Vec<Weak<dyn ReaderHolder>>>,
}

impl std::fmt::Debug for Holders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Holders").field("registered", &self.list.lock().len()).finish()
    }
}

impl Holders {
    /// Adds `holder` (and forgets holders that were dropped).
    pub(crate) fn register(&self, holder: Weak<dyn ReaderHolder>) {
        let mut list = self.list.lock();
        list.retain(|h| h.strong_count() > 0);
        list.push(holder);
    }

    /// True if no registered holder still has a reader of file `id` held
    /// by a query; each one drops its cached reader of it if unused.
    pub(crate) fn release_if_unused(&self, id: u64) -> bool {
        self.list.lock().iter().filter_map(Weak::upgrade).all(|h| h.release_if_unused(id))
    }
}
