//! [`BucketReplicator`]: the writer side. Makes the bucket hold the local
//! manifest's current version: every referenced file not yet in the bucket
//! is uploaded first, then the manifest is PUT (one PUT is atomic in S3), so
//! a manifest in the bucket never references a missing object. Calls are
//! serialised, each replicates the newest local version, and a version is
//! never PUT over a newer one, so the bucket's flushed offsets only move
//! forward; the first replication of a process refuses to overwrite a
//! bucket manifest newer than the local one ([`Error::ReplicaAhead`]).
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::bucket::Bucket;
use crate::manifest::{MANIFEST_FILE, Replicator};
use crate::{Error, Manifest, ManifestStore, Result};

/// Concurrent file uploads of one replication.
const UPLOAD_CONCURRENCY: usize = 4;

/// Replicates one data directory's manifest and files into a bucket prefix.
#[derive(Debug)]
pub struct BucketReplicator {
    pub(crate) bucket: Arc<Bucket>,
    pub(crate) state: Mutex<ReplicaState>,
}

#[derive(Debug, Default)]
pub(crate) struct ReplicaState {
    /// Files known to be in the bucket (None: not listed yet).
    pub(crate) uploaded: Option<HashSet<String>>,
    /// The last manifest version PUT by this process.
    pub(crate) put_version: Option<u64>,
}

/// How far a replication got; `steps` counts completed uploads (files,
/// then the manifest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicated {
    /// The bucket holds the version (or a newer one).
    Done {
        /// The version the bucket holds.
        version: u64,
        /// Files uploaded by this call.
        files_uploaded: usize,
    },
    /// Stopped after `steps` uploads (fault injection for tests).
    Interrupted {
        /// Uploads completed before the stop.
        steps: usize,
    },
}

impl BucketReplicator {
    /// A replicator uploading to `bucket`.
    pub fn new(bucket: Arc<Bucket>) -> Self {
        Self { bucket, state: Mutex::new(ReplicaState::default()) }
    }

    /// The bucket it uploads to.
    pub fn bucket(&self) -> &Arc<Bucket> {
        &self.bucket
    }

    /// Replicates `store`'s current version; with `max_steps`, stops (as a
    /// crash would) after that many uploads. Files are uploaded one by one in
    /// fault-injection mode, [`UPLOAD_CONCURRENCY`] at a time otherwise.
    pub fn replicate_with(&self, store: &ManifestStore, max_steps: Option<usize>) -> Result<Replicated> {
        let mut st = self.state.lock();
        let manifest = store.current();
        if st.put_version.is_some_and(|v| v >= manifest.version) {
            return Ok(Replicated::Done { version: manifest.version, files_uploaded: 0 });
        }
        if st.uploaded.is_none() {
            // First replication of this process: never move the bucket back.
            // Only the objects the bucket's manifest references count as
            // uploaded: an unreferenced object of the same name may be an
            // orphan of an earlier process (killed between its file uploads
            // and its manifest PUT, then its disk lost) holding other data.
            let mut referenced = HashSet::new();
            if let Some(bytes) = self.bucket.get_bytes(MANIFEST_FILE)? {
                let bucket = Manifest::decode(&bytes, Path::new(MANIFEST_FILE))?;
                if bucket.version > manifest.version {
                    return Err(Error::ReplicaAhead {
                        location: self.bucket.location(MANIFEST_FILE).to_string(),
                        local: manifest.version,
                        bucket: bucket.version,
                    });
                }
                referenced.extend(bucket.files.into_iter().map(|f| f.path));
            }
            st.uploaded = Some(referenced);
        }
        let uploaded = st.uploaded.get_or_insert_with(HashSet::new);
        let missing: Vec<&str> =
            manifest.files.iter().map(|f| f.path.as_str()).filter(|p| !uploaded.contains(*p)).collect();
        let mut steps = 0usize;
        // Fault injection uploads one file per step; otherwise all at once.
        let batch = if max_steps.is_some() { 1 } else { missing.len().max(1) };
        let dir = store.data_dir();
        for group in missing.chunks(batch) {
            if max_steps.is_some_and(|m| steps >= m) {
                return Ok(Replicated::Interrupted { steps });
            }
            let files: Vec<(String, PathBuf)> = group.iter().map(|rel| (rel.to_string(), dir.join(rel))).collect();
            let mut failed = None;
            for (rel, r) in self.bucket.put_files(&files, UPLOAD_CONCURRENCY) {
                match r {
                    Ok(()) => {
                        uploaded.insert(rel);
                        steps += 1;
                    }
                    Err(e) => failed = failed.or(Some(e)),
                }
            }
            if let Some(e) = failed {
                return Err(e);
            }
        }
        if max_steps.is_some_and(|m| steps >= m) {
            return Ok(Replicated::Interrupted { steps });
        }
        self.bucket.put_bytes(MANIFEST_FILE, Bytes::from(manifest.encode()?))?;
        st.put_version = Some(manifest.version);
        tracing::debug!(version = manifest.version, files = missing.len(), "manifest replicated to object storage");
        Ok(Replicated::Done { version: manifest.version, files_uploaded: missing.len() })
    }
}

impl Replicator for BucketReplicator {
    fn replicate(&self, store: &ManifestStore) -> Result<()> {
        self.replicate_with(store, None).map(|_| ())
    }
}
