//! The embedded log: durable partitions in segment files on local disk, with
//! the semantics of a Kafka topic (see the contract in [`crate`]).
//!
//! # Layout
//!
//! ```text
//! <dir>/meta.json                      {"version":1,"partitions":P}  (fixed at creation)
//! <dir>/LOCK                           advisory lock: one process per log
//! <dir>/p-<partition:05>/<base:020>.seg   segments; base = offset of the first record
//! ```
//!
//! A segment is a sequence of frames, little-endian:
//!
//! ```text
//! u32  payload length
//! u32  CRC-32 (IEEE, crc32fast) of (u64 offset LE ++ payload)
//! u64  offset                      consecutive: base, base+1, …
//! [u8] payload                     one log record (see strata_common::record)
//! ```
//!
//! A partition's records are numbered by consecutive offsets from its start
//! (the base of its oldest segment). The last segment is the active one;
//! a new segment starts once the active one would exceed `segment_bytes`.
//!
//! # Durability and ordering
//!
//! A writer thread and a sync thread (see `writer`) do pipelined group
//! commit: the writer drains every queued append and writes each touched
//! partition once; the sync thread fdatasyncs each touched segment once (in
//! parallel across partitions) and only then publishes the new end offsets
//! and resolves the appends, while the writer already writes the next batch. A new segment is synced before
//! the next one is created, and the directory is synced after. With
//! [`FsyncPolicy::Never`] the same happens without the syncs (data survives a
//! process crash, not a power loss).
//!
//! On open, the last segment of each partition is scanned and a torn tail (a
//! partial frame, a CRC mismatch or an out-of-sequence offset) is truncated;
//! offsets continue after the last complete record. Earlier segments were
//! synced before their successor was created and are not rescanned.
//!
//! Readers ([`EmbeddedLogReader`]) only read below the published end offset
//! and wake up through a `tokio::sync::watch` channel, which needs no runtime
//! (they run on glommio executors).
//!
//! # Space: release, roll, delete
//!
//! [`EmbeddedLog::release`]`(p, offset)` says the records of `p` below
//! `offset` are flushed. It deletes every segment whose records all lie below
//! the offset. If the active segment holds released records, the writer
//! thread closes it first (a roll, queued behind the appends already
//! waiting), so it can be deleted as soon as all of it is released; `release`
//! returns once that is done. Hence:
//!
//! - After a flush that covers everything written (at rest, or a graceful
//!   stop, which flushes), each partition holds one empty segment.
//! - In steady state a partition holds its unflushed records plus the
//!   released part of the one segment that straddles the released offset
//!   (which is less than one segment, and at most what was written between
//!   the previous release and this one): the unflushed data plus one
//!   segment, at most.
//! - The released offset is kept in memory only: after a restart (also after
//!   a crash between a flush and its release) the ingester releases its
//!   flushed offsets again when it starts, and the same rule applies.

mod reader;
mod segment;
mod sync_pool;
mod writer;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use bytes::Bytes;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

pub use reader::EmbeddedLogReader;

use self::writer::{AppendRequest, Durable, Failure, PartitionWriter, WriterMsg};
use crate::{Log, LogReader, Offset, PartitionId};
use strata_common::error::{Error, Result};

/// Version of the on-disk layout recorded in `meta.json`.
const LAYOUT_VERSION: u32 = 1;

/// Most partitions a log may have (the directory name has five digits).
pub const MAX_PARTITIONS: u32 = 100_000;

/// When the embedded log calls `fdatasync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// Before every append resolves (shared by concurrent appends). Survives power loss.
    #[default]
    Always,
    /// Never; appends resolve once written to the page cache. Survives a
    /// process crash but not a power loss or kernel crash. For tests and benchmarks.
    Never,
}

/// Configuration of the [`EmbeddedLog`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddedLogConfig {
    /// Directory holding `meta.json` and one `p-NNNNN/` directory per
    /// partition. Empty by default: the `strata` binary then uses
    /// `<data_dir>/log`; [`EmbeddedLogConfig::validate`] refuses it empty.
    pub dir: PathBuf,
    /// Number of partitions. Fixed when the log is created: reopening with a
    /// different count is an error.
    pub partitions: u32,
    /// When appends are fdatasync'ed (`always` or `never`).
    pub fsync: FsyncPolicy,
    /// A segment is closed and a new one started once it would exceed this
    /// many bytes (a single larger record gets a segment of its own).
    pub segment_bytes: u64,
}

impl Default for EmbeddedLogConfig {
    fn default() -> Self {
        Self { dir: PathBuf::new(), partitions: 16, fsync: FsyncPolicy::Always, segment_bytes: 64 << 20 }
    }
}

impl EmbeddedLogConfig {
    /// Checks the values, naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        if self.dir.as_os_str().is_empty() {
            return Err(Error::InvalidConfig("log.dir must not be empty".into()));
        }
        if self.partitions == 0 || self.partitions > MAX_PARTITIONS {
            return Err(Error::InvalidConfig(format!(
                "log.partitions must be in 1..={MAX_PARTITIONS}, got {}",
                self.partitions
            )));
        }
        if self.segment_bytes < 4096 {
            return Err(Error::InvalidConfig(format!(
                "log.segment_bytes must be at least 4096, got {}",
                self.segment_bytes
            )));
        }
        Ok(())
    }
}

/// What `meta.json` holds.
#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    version: u32,
    partitions: u32,
}

/// State shared by the log handle, the writer thread and readers.
pub(crate) struct Shared {
    pub(crate) partitions: Vec<PartitionShared>,
}

pub(crate) struct PartitionShared {
    /// `<dir>/p-NNNNN`.
    pub(crate) dir: PathBuf,
    /// Base offsets of the live segments, ascending; the last is active.
    pub(crate) segments: Mutex<Vec<Offset>>,
    /// The published (durable) end offset; cloned by readers. The sender
    /// lives in the sync thread, so it closes when the log is dropped.
    pub(crate) end_rx: watch::Receiver<Offset>,
    /// Set by an I/O error: the partition refuses appends until the writer
    /// heals it (`writer::recover`). Lock order: `failed`, then `durable`.
    pub(crate) failed: Mutex<Option<Failure>>,
    /// The last published, durable position (where healing cuts back to).
    pub(crate) durable: Mutex<Durable>,
    /// Bumped each time the partition heals: appends staged and bytes read
    /// ahead in an older generation are not trusted.
    pub(crate) generation: AtomicU64,
    /// The highest offset passed to [`EmbeddedLog::release`]: records below
    /// it may be deleted (in memory only; a restart learns it again from the
    /// ingester's flushed offsets).
    pub(crate) released: AtomicU64,
}

/// Deletes every segment of `part` whose records all lie below its released
/// offset; never the active (last) one. Errors are logged: failing to
/// delete loses nothing, and a later release retries.
pub(crate) fn delete_released(part: &PartitionShared, partition: PartitionId) {
    if let Err(e) = try_delete_released(part, partition) {
        tracing::warn!(partition, error = %e, "deleting released log segments failed");
    }
}

fn try_delete_released(part: &PartitionShared, partition: PartitionId) -> Result<()> {
    let released = part.released.load(Ordering::Acquire);
    let mut segments = part.segments.lock();
    // Segment i covers [segments[i], segments[i + 1]); the last is active and kept.
    while segments.len() > 1 && segments[1] <= released {
        let path = segment::segment_path(&part.dir, segments[0]);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::LogIo { path, source: e }),
        }
        tracing::debug!(partition, path = %path.display(), "released log segment");
        segments.remove(0);
    }
    Ok(())
}

/// A durable, partitioned log in local files (see the module docs).
pub struct EmbeddedLog {
    config: EmbeddedLogConfig,
    shared: Arc<Shared>,
    tx: Option<flume::Sender<WriterMsg>>,
    writer: Option<JoinHandle<()>>,
    syncer: Option<JoinHandle<()>>,
    /// Holds the advisory lock on `<dir>/LOCK` while the log is open.
    _lock: File,
}

impl std::fmt::Debug for EmbeddedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedLog").field("config", &self.config).finish()
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::LogIo { path: path.to_path_buf(), source }
}

impl EmbeddedLog {
    /// Opens (or creates) the log in `config.dir`, recovering each partition's
    /// torn tail, and starts the writer thread.
    pub fn open(config: EmbeddedLogConfig) -> Result<Arc<Self>> {
        config.validate()?;
        let dir = config.dir.clone();
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let lock_path = dir.join("LOCK");
        let lock =
            OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(io_err(&lock_path))?;
        lock.try_lock().map_err(|e| Error::LogIo {
            path: lock_path.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                format!("the log directory is in use by another process ({e})"),
            ),
        })?;
        check_meta(&dir, config.partitions, config.fsync)?;

        let mut shared_parts = Vec::with_capacity(config.partitions as usize);
        let mut writers = Vec::with_capacity(config.partitions as usize);
        let mut end_txs = Vec::with_capacity(config.partitions as usize);
        for p in 0..config.partitions {
            let (shared, writer, end_tx) = open_partition(&dir, p, config.fsync)?;
            shared_parts.push(shared);
            writers.push(writer);
            end_txs.push(end_tx);
        }
        let shared = Arc::new(Shared { partitions: shared_parts });
        let (fsync, segment_bytes) = (config.fsync, config.segment_bytes);
        let (job_tx, job_rx) = flume::bounded(1);
        let sync_shared = shared.clone();
        let syncer = std::thread::Builder::new()
            .name("strata-log-sync".into())
            .spawn(move || writer::run_syncer(job_rx, end_txs, sync_shared, fsync))
            .map_err(io_err(&dir))?;
        let (tx, rx) = flume::unbounded();
        let write_shared = shared.clone();
        // If this spawn fails, `job_tx` is dropped with the closure and the sync thread ends.
        let writer = std::thread::Builder::new()
            .name("strata-log-writer".into())
            .spawn(move || writer::run_writer(rx, job_tx, writers, write_shared, fsync, segment_bytes))
            .map_err(io_err(&dir))?;
        tracing::info!(dir = %dir.display(), partitions = config.partitions, fsync = ?config.fsync, "embedded log open");
        Ok(Arc::new(Self { config, shared, tx: Some(tx), writer: Some(writer), syncer: Some(syncer), _lock: lock }))
    }

    /// The configuration the log was opened with.
    pub fn config(&self) -> &EmbeddedLogConfig {
        &self.config
    }

    /// Partitions that currently refuse appends after an I/O error (they
    /// heal by themselves once the disk takes writes again). Empty while
    /// the log is healthy: `/ready` uses it.
    pub fn failed_partitions(&self) -> Vec<PartitionId> {
        (0..self.config.partitions).filter(|&p| self.shared.partitions[p as usize].failed.lock().is_some()).collect()
    }

    /// The oldest offset still stored, per partition.
    pub fn start_offsets(&self) -> Vec<Offset> {
        self.shared.partitions.iter().map(|p| p.segments.lock().first().copied().unwrap_or(0)).collect()
    }

    fn check_partition(&self, partition: PartitionId) -> Result<&PartitionShared> {
        self.shared
            .partitions
            .get(partition as usize)
            .ok_or(Error::NoSuchPartition { partition, partitions: self.config.partitions })
    }

    /// [`Log::open_reader`] with the concrete reader type. `from` must be in
    /// `[start, end]` of the partition, else [`Error::OffsetOutOfRange`]
    /// (below start: released; above end: never written). Positioning reads
    /// the frame headers of one segment from its start.
    pub fn reader(&self, partition: PartitionId, from: Offset) -> Result<EmbeddedLogReader> {
        let part = self.check_partition(partition)?;
        let end_rx = part.end_rx.clone();
        let end = *end_rx.borrow();
        let segments = part.segments.lock();
        let start = segments.first().copied().unwrap_or(0);
        if from < start || from > end {
            return Err(Error::OffsetOutOfRange { partition, offset: from, start, end });
        }
        let idx = segments.partition_point(|&b| b <= from).saturating_sub(1);
        let base = segments[idx];
        let path = segment::segment_path(&part.dir, base);
        // Opened under the lock so `release` cannot delete it in between.
        let file = File::open(&path).map_err(io_err(&path))?;
        drop(segments);
        let pos = segment::find_position(&file, base, from).map_err(|e| Error::CorruptRecord {
            partition,
            offset: from,
            reason: format!("{}: {e}", path.display()),
        })?;
        Ok(EmbeddedLogReader::new(self.shared.clone(), partition, end_rx, file, pos, from))
    }
}

impl Drop for EmbeddedLog {
    fn drop(&mut self) {
        // Closing the channel ends the writer after it finished queued appends.
        drop(self.tx.take());
        // The writer's exit closes the job channel, which ends the sync thread.
        for t in [self.writer.take(), self.syncer.take()].into_iter().flatten() {
            if t.join().is_err() {
                tracing::error!("embedded log writer or sync thread panicked");
            }
        }
    }
}

/// The partition count of the log already in `dir`, or `None` when there is
/// no log there yet.
pub fn stored_partitions(dir: &Path) -> Result<Option<u32>> {
    Ok(read_meta(&dir.join("meta.json"))?.map(|meta| meta.partitions))
}

/// Reads and parses `meta.json` at `path`; `None` when it does not exist.
fn read_meta(path: &Path) -> Result<Option<Meta>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| Error::LogIo {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::LogIo { path: path.to_path_buf(), source: e }),
    }
}

/// Creates `meta.json` or checks that it matches the configuration.
fn check_meta(dir: &Path, partitions: u32, fsync: FsyncPolicy) -> Result<()> {
    let path = dir.join("meta.json");
    match read_meta(&path)? {
        Some(meta) => {
            if meta.version != LAYOUT_VERSION {
                return Err(Error::InvalidConfig(format!(
                    "{}: unsupported embedded log layout version {} (this build reads {LAYOUT_VERSION})",
                    path.display(),
                    meta.version
                )));
            }
            if meta.partitions != partitions {
                return Err(Error::InvalidConfig(format!(
                    "the log in {} has {} partitions but the configuration asks for {partitions}; \
                     the partition count of a log cannot change (set log.partitions = {} or use a new directory)",
                    dir.display(),
                    meta.partitions,
                    meta.partitions
                )));
            }
            Ok(())
        }
        None => {
            let meta = Meta { version: LAYOUT_VERSION, partitions };
            let tmp = dir.join("meta.json.tmp");
            let body = serde_json::to_vec(&meta).map_err(|e| Error::LogIo { path: tmp.clone(), source: e.into() })?;
            let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
            std::io::Write::write_all(&mut f, &body).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
            std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
            if fsync == FsyncPolicy::Always {
                segment::sync_dir(dir).map_err(io_err(dir))?;
            }
            Ok(())
        }
    }
}

/// Opens one partition: lists its segments, truncates the active one's torn
/// tail, and opens it for appending.
fn open_partition(
    dir: &Path,
    p: PartitionId,
    fsync: FsyncPolicy,
) -> Result<(PartitionShared, PartitionWriter, watch::Sender<Offset>)> {
    let pdir = segment::partition_dir(dir, p);
    std::fs::create_dir_all(&pdir).map_err(io_err(&pdir))?;
    let mut segments = segment::list_segments(&pdir).map_err(io_err(&pdir))?;
    if segments.is_empty() {
        segments.push(0);
        let path = segment::segment_path(&pdir, 0);
        File::create(&path).map_err(io_err(&path))?;
        if fsync == FsyncPolicy::Always {
            segment::sync_dir(&pdir).map_err(io_err(&pdir))?;
            segment::sync_dir(dir).map_err(io_err(dir))?;
        }
    }
    // Invariant: `segments` is non-empty here.
    let base = segments[segments.len() - 1];
    let path = segment::segment_path(&pdir, base);
    let file = OpenOptions::new().read(true).append(true).open(&path).map_err(io_err(&path))?;
    let scan = segment::scan(&file, base).map_err(io_err(&path))?;
    if let Some(reason) = &scan.torn {
        tracing::warn!(
            partition = p,
            path = %path.display(),
            reason = %reason,
            kept_records = scan.records,
            truncated_bytes = scan.file_len - scan.valid_len,
            "truncating torn tail of the embedded log"
        );
        file.set_len(scan.valid_len).map_err(io_err(&path))?;
        file.sync_all().map_err(io_err(&path))?;
    }
    let next = base + scan.records;
    let (end_tx, end_rx) = watch::channel(next);
    let shared = PartitionShared {
        dir: pdir.clone(),
        segments: Mutex::new(segments),
        end_rx,
        failed: Mutex::new(None),
        durable: Mutex::new(Durable { end: next, base, len: scan.valid_len }),
        generation: AtomicU64::new(0),
        released: AtomicU64::new(0),
    };
    let writer = PartitionWriter::new(p, pdir, file, base, scan.valid_len, next);
    Ok((shared, writer, end_tx))
}

impl Log for EmbeddedLog {
    fn partition_count(&self) -> u32 {
        self.config.partitions
    }

    fn append(&self, partition: PartitionId, payloads: Vec<Bytes>) -> BoxFuture<'_, Result<Offset>> {
        let queued = self.check_partition(partition).map(|_| {
            let (done, rx) = futures::channel::oneshot::channel();
            // Checksummed here, on the caller's thread, to keep the writer thread lean.
            let crcs = payloads.iter().map(|p| crc32fast::hash(p)).collect();
            let sent = match &self.tx {
                Some(tx) => tx.send(WriterMsg::Append(AppendRequest { partition, payloads, crcs, done })).is_ok(),
                None => false,
            };
            (sent, rx)
        });
        Box::pin(async move {
            let (sent, rx) = queued?;
            if !sent {
                return Err(Error::LogClosed);
            }
            rx.await.map_err(|_| Error::LogClosed)?
        })
    }

    fn end_offsets(&self) -> BoxFuture<'_, Result<Vec<Offset>>> {
        let ends = self.shared.partitions.iter().map(|p| *p.end_rx.borrow()).collect();
        Box::pin(futures::future::ready(Ok(ends)))
    }

    fn open_reader(&self, partition: PartitionId, from: Offset) -> Result<Box<dyn LogReader>> {
        Ok(Box::new(self.reader(partition, from)?))
    }

    fn release(&self, partition: PartitionId, offset: Offset) -> Result<()> {
        let part = self.check_partition(partition)?;
        part.released.fetch_max(offset, Ordering::AcqRel);
        try_delete_released(part, partition)?;
        // Records below `offset` in the active segment: have the writer close
        // it, so that it is deleted now (everything released) or by the next
        // release (the rest of it), instead of staying until it is full.
        let active = part.segments.lock().last().copied().unwrap_or(0);
        let end = *part.end_rx.borrow();
        if active < offset.min(end)
            && let Some(tx) = &self.tx
        {
            let (done, rolled) = flume::bounded(1);
            if tx.send(WriterMsg::Roll { partition, below: offset, done }).is_ok() {
                // Err: the writer stopped (the log is closing); nothing to wait for.
                let _ = rolled.recv();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
