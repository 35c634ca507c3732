//! Garbage collection of the bucket (writer side): objects under `files/`
//! that the bucket's manifest does not reference are deleted once they have
//! been seen unreferenced for the grace period. That one rule covers files
//! dropped by compaction or retention (queriers holding an older manifest
//! may still download them during the grace period) and orphans of crashed
//! uploads. The clock starts when this process first sees the object
//! unreferenced, so a restart only delays deletion. Collection holds the
//! replicator's lock: no upload is in flight while it lists and deletes.
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::replicate::BucketReplicator;
use crate::manifest::{FILES_DIR, MANIFEST_FILE};
use crate::{Manifest, Result};

/// Remembers since when each unreferenced object has been seen.
#[derive(Debug, Default)]
pub struct GarbageCollector {
    unreferenced_since: Mutex<HashMap<String, Instant>>,
}

/// What one collection did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcStats {
    /// Objects the bucket's manifest references.
    pub referenced: usize,
    /// Unreferenced objects still within the grace period.
    pub waiting: usize,
    /// Unreferenced objects deleted.
    pub deleted: usize,
}

impl GarbageCollector {
    /// One pass at time `now` (tests pass a later instant instead of sleeping).
    pub fn collect(&self, replicator: &BucketReplicator, grace: Duration, now: Instant) -> Result<GcStats> {
        let mut st = replicator.state.lock();
        let bucket = &replicator.bucket;
        let Some(bytes) = bucket.get_bytes(MANIFEST_FILE)? else {
            // No manifest yet: nothing is referenced, but nothing was ever
            // committed either; keep everything (a first upload may be running
            // in another process's lifetime).
            return Ok(GcStats::default());
        };
        let manifest = Manifest::decode(&bytes, Path::new(MANIFEST_FILE))?;
        let live: HashSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
        let listed = bucket.list(FILES_DIR)?;
        let mut since = self.unreferenced_since.lock();
        let present: HashSet<&str> = listed.iter().map(|l| l.rel.as_str()).collect();
        since.retain(|rel, _| present.contains(rel.as_str()) && !live.contains(rel.as_str()));
        let mut stats = GcStats::default();
        for l in &listed {
            if live.contains(l.rel.as_str()) {
                stats.referenced += 1;
                continue;
            }
            let first = *since.entry(l.rel.clone()).or_insert(now);
            if now.saturating_duration_since(first) >= grace {
                bucket.delete(&l.rel)?;
                since.remove(&l.rel);
                if let Some(up) = st.uploaded.as_mut() {
                    up.remove(&l.rel);
                }
                stats.deleted += 1;
                tracing::info!(object = %l.rel, "deleted unreferenced object");
            } else {
                stats.waiting += 1;
            }
        }
        Ok(stats)
    }
}
