//! Files and manifest on S3-compatible object storage (`object_store`
//! crate), as a layer over the local data directory.
//!
//! ```text
//!  writer (ingester)                          bucket: <prefix>/
//!  data_dir/files/<tenant>/<id>.strata ──put──▶  files/<tenant>/<id>.strata  (1)
//!  data_dir/MANIFEST.json ───────────────put──▶  MANIFEST.json               (2)
//!      ▲ restore_if_empty (new machine)            │ poll_manifest
//!      └───────────────────────────────────────────┤
//!                                                  ▼ download on first use
//!  reader (querier)                          cache_dir/MANIFEST.json, files/ (LRU by bytes)
//! ```
//!
//! - The local data directory stays the writer's working copy (staging);
//!   the bucket is the source of truth. A flush commits locally, then
//!   [`ManifestStore::replicate`] uploads the new files and then the
//!   manifest ([`BucketReplicator`]); only then does the flush path release
//!   the log and count the flush as done. If the upload fails the flush
//!   fails and is retried with backoff: the log keeps the data meanwhile.
//! - Ordering: files before the manifest, and a manifest version is never
//!   PUT over a newer one, so the bucket's manifest never references a
//!   missing object and its flushed offsets only move forward.
//! - Deletion: [`GarbageCollector`] deletes objects the bucket's manifest no
//!   longer references after a grace period (queriers may still read them).
//! - Queriers: [`open_reader`](ObjectStorage::open_reader) gives a [`Store`]
//!   over a read-only manifest polled from the bucket and an
//!   [`ObjectFileCache`]; every manifest reload (the poll, or a querier's
//!   `StoreSet` reload when the heads' base offsets pass the manifest)
//!   fetches from the bucket ([`BucketManifestSource`]).
//! - One writer per prefix (each ingester of a cluster has its own prefix,
//!   as it has its own data directory).
//!
//! Layout and semantics: `storage/docs/object-storage.md`.

pub mod bucket;
pub mod cache;
pub mod config;
pub mod gc;
pub mod metrics;
pub mod replicate;
pub mod restore;
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod test_server;

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prometheus_client::registry::Registry;

pub use bucket::Bucket;
pub use cache::{BucketManifestSource, ObjectFileCache, fetch_manifest};
pub use config::{ObjectStorageConfig, StorageConfig};
pub use gc::{GarbageCollector, GcStats};
pub use metrics::ObjectMetrics;
pub use replicate::{BucketReplicator, Replicated};
pub use restore::restore_if_empty;

use crate::{ManifestStore, Result, Store};

/// Subdirectory of a reader's cache directory that holds its manifest and files.
pub const CACHED_DIR: &str = "cached";

/// A configured bucket and the settings of the tasks around it.
#[derive(Debug, Clone)]
pub struct ObjectStorage {
    /// The settings it was connected with.
    pub config: ObjectStorageConfig,
    /// The bucket client.
    pub bucket: Arc<Bucket>,
}

impl ObjectStorage {
    /// Connects (lazily: no request yet) and registers the metrics.
    pub fn connect(config: &ObjectStorageConfig, registry: Option<&mut Registry>) -> Result<Self> {
        Self::connect_with_metrics(config, registry.map(ObjectMetrics::register).unwrap_or_default())
    }

    /// Like [`Self::connect`] with metrics registered once and shared (a
    /// querier reading several writers' prefixes).
    pub fn connect_with_metrics(config: &ObjectStorageConfig, metrics: ObjectMetrics) -> Result<Self> {
        Ok(Self { config: config.clone(), bucket: Arc::new(Bucket::connect(config, metrics)?) })
    }

    /// Writer side: restores `data_dir` from the bucket if it has no
    /// manifest, opens the manifest with the bucket replicator set, pushes
    /// any local commit the bucket lacks (best effort: the next flush
    /// retries), and starts garbage collection.
    pub fn open_writer(&self, data_dir: &Path) -> Result<(Arc<ManifestStore>, Background)> {
        restore_if_empty(&self.bucket, data_dir)?;
        let manifest = Arc::new(ManifestStore::open(data_dir)?);
        let replicator = Arc::new(BucketReplicator::new(Arc::clone(&self.bucket)));
        manifest.set_replicator(replicator.clone());
        match manifest.replicate() {
            Ok(()) => {}
            // A stale data directory must not start (its flushes would fail forever).
            Err(e @ crate::Error::ReplicaAhead { .. }) => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "object storage unreachable at start-up; the next flush retries the upload")
            }
        }
        let gc = GarbageCollector::default();
        let grace = self.config.gc_grace();
        let background = Background::spawn("strata-object-gc", self.config.gc_interval(), move || {
            if let Err(e) = gc.collect(&replicator, grace, Instant::now()) {
                tracing::warn!(error = %e, "object storage garbage collection failed; retrying next interval");
            }
        })?;
        Ok((manifest, background))
    }

    /// Reader side: a [`Store`] over the bucket's manifest (polled into
    /// `cache_dir/cached/MANIFEST.json`) and files (downloaded into
    /// `cache_dir/cached/files/` on first use). Only that subdirectory is
    /// written, so a `cache_dir` pointing at a writer's data directory by
    /// mistake harms nothing.
    pub fn open_reader(&self, cache_dir: &Path) -> Result<(Arc<Store>, Background)> {
        let cache_dir = &cache_dir.join(CACHED_DIR);
        fetch_manifest(&self.bucket, cache_dir, None)?;
        let manifest = Arc::new(ManifestStore::open_read_only(cache_dir)?);
        manifest.set_source(Arc::new(BucketManifestSource { bucket: Arc::clone(&self.bucket) }));
        let cache = Arc::new(ObjectFileCache::new(Arc::clone(&self.bucket), cache_dir, self.config.cache_max_bytes)?);
        let store = Arc::new(Store::with_source(Arc::clone(&manifest), cache));
        let polled = Arc::clone(&store);
        let background = Background::spawn("strata-object-poll", self.config.poll_interval(), move || {
            if let Err(e) = polled.reload() {
                tracing::warn!(error = %e, "polling the object storage manifest failed; retrying");
            }
        })?;
        Ok((store, background))
    }
}

/// A periodic task on its own thread; stopped (and joined) on drop.
#[derive(Debug)]
pub struct Background {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Runs `task` every `interval` until dropped.
    pub fn spawn(name: &str, interval: Duration, mut task: impl FnMut() + Send + 'static) -> Result<Self> {
        let (stop, rx): (Sender<()>, Receiver<()>) = channel();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(interval) {
                    task();
                }
            })
            .map_err(crate::Error::io(format!("<thread {name}>")))?;
        Ok(Self { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
