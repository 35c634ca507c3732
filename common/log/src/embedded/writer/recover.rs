//! Healing a partition that failed on an I/O error (ENOSPC, EIO), without
//! reopening the log.
//!
//! ```text
//!  failed partition (appends answer 503)
//!    └─ writer thread, at most once per RETRY_INTERVAL, between batches:
//!       probe: write + fsync PROBE_BYTES to <partition dir>/.probe, delete it
//!         │ fails ─▶ stay failed (the disk is still full or broken)
//!         ▼
//!       truncate the active segment back to the last durable position
//!       (what the sync thread last published) and move the write cursor
//!       there, fsync it, remove segment
//!       files a half-done roll left past it, bump the partition's
//!       generation, clear the failure ─▶ appends are accepted again
//! ```
//!
//! Why this is safe: a published end offset is durable (its segment was
//! fdatasync'ed before publication), and nothing above it was acknowledged.
//! After a failed fsync the page cache of the bytes above it cannot be
//! trusted, so they are cut, not kept; the same offsets are then assigned to
//! new appends. Everything that could still hold the old bytes is fenced by
//! the generation: the sync thread publishes a batch (and resolves its
//! appends with success) only if it was written in the current generation,
//! and readers drop read-ahead bytes taken in an older one.

use std::io::{self, Seek, SeekFrom};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{PartitionWriter, Shared};
use crate::embedded::FsyncPolicy;
use crate::embedded::segment;

/// How often a failed partition tries to heal.
pub(crate) const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Bytes written (and fsynced) to test that the disk takes writes again.
const PROBE_BYTES: usize = 256 << 10;

/// The last durable position of a partition: what the sync thread last
/// published (or what open found).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Durable {
    /// The published end offset.
    pub end: u64,
    /// Base offset of the segment holding it.
    pub base: u64,
    /// Bytes of that segment up to `end`.
    pub len: u64,
}

/// When each failed partition may next try to heal.
pub(crate) struct Healer {
    next_try: Vec<Option<Instant>>,
}

impl Healer {
    pub(crate) fn new(partitions: usize) -> Self {
        Self { next_try: vec![None; partitions] }
    }

    /// Whether any partition is failed (the writer then wakes up at least
    /// every [`RETRY_INTERVAL`] to heal it, appends or not).
    pub(crate) fn any_failed(shared: &Shared) -> bool {
        shared.partitions.iter().any(|p| p.failed.lock().is_some())
    }

    /// Tries to heal every failed partition whose retry is due. Call only
    /// between batches (nothing staged).
    pub(crate) fn heal_due(&mut self, parts: &mut [PartitionWriter], shared: &Shared, fsync: FsyncPolicy) {
        let now = Instant::now();
        for (i, pw) in parts.iter_mut().enumerate() {
            if shared.partitions[i].failed.lock().is_none() {
                self.next_try[i] = None;
                continue;
            }
            match self.next_try[i] {
                None => {
                    // First sight of the failure: wait a little before the first try.
                    self.next_try[i] = Some(now + RETRY_INTERVAL);
                }
                Some(t) if now >= t => match heal(pw, shared, fsync) {
                    Ok(()) => {
                        self.next_try[i] = None;
                        tracing::warn!(
                            partition = pw.partition,
                            "embedded log partition healed; accepting appends again"
                        );
                    }
                    Err(e) => {
                        self.next_try[i] = Some(now + RETRY_INTERVAL);
                        tracing::debug!(partition = pw.partition, error = %e, "embedded log partition still failing");
                    }
                },
                Some(_) => {}
            }
        }
    }
}

/// Heals one failed partition (see the module docs).
fn heal(pw: &mut PartitionWriter, shared: &Shared, fsync: FsyncPolicy) -> io::Result<()> {
    let part = &shared.partitions[pw.partition as usize];
    probe(&pw.dir)?;
    let mut failed = part.failed.lock();
    if failed.is_none() {
        return Ok(());
    }
    let durable = *part.durable.lock();
    // The active segment keeps its durable prefix. When it started after the
    // last publication, the roll that created it synced its predecessor
    // whole, so everything before it is durable and it restarts empty.
    let (next, len) = if durable.base == pw.base { (durable.end, durable.len) } else { (pw.base, 0) };
    pw.file.set_len(len)?;
    // Frames are written at the file's cursor, which a partial write before
    // the failure left past `len`: without this, the next frame would land
    // after a hole of zeros that readers take for a corrupt frame.
    (&*pw.file).seek(SeekFrom::Start(len))?;
    if fsync == FsyncPolicy::Always {
        pw.file.sync_all()?;
    }
    for base in segment::list_segments(&pw.dir)? {
        if base > pw.base {
            // A roll created it but failed before using it.
            std::fs::remove_file(segment::segment_path(&pw.dir, base))?;
        }
    }
    if fsync == FsyncPolicy::Always {
        segment::sync_dir(&pw.dir)?;
    }
    pw.next = next;
    pw.size = len;
    pw.pending.clear();
    pw.pending_bytes = 0;
    pw.touched = false;
    part.generation.fetch_add(1, Ordering::AcqRel);
    *failed = None;
    Ok(())
}

/// Writes and fsyncs [`PROBE_BYTES`] to a scratch file, then removes it.
fn probe(dir: &std::path::Path) -> io::Result<()> {
    use std::io::Write;
    let path = dir.join(".probe");
    let result = (|| {
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&vec![0u8; PROBE_BYTES])?;
        f.sync_all()
    })();
    let removed = std::fs::remove_file(&path);
    result?;
    removed
}
