//! The writer and sync threads of the embedded log: pipelined group commit.
//!
//! ```text
//!  append() ──crc32 of payloads (caller's thread)──▶ channel
//!  writer thread: drain queue → assign offsets → frame → write() once per partition
//!        │ SyncJob (bounded: at most one waiting)
//!  sync thread:   fdatasync each touched segment once (in parallel, on
//!                 long-lived helper threads) → publish
//!                 end offsets → resolve the appends
//! ```
//!
//! Concurrent appenders share fsyncs, and while one batch is being synced
//! the next is already being framed and written, so the disk is kept busy.
//! If the sync thread falls behind, it takes every queued job and syncs their
//! segments once. A reader never sees an offset that is not durable.
//!
//! An I/O error fails the partition: its pending and later appends fail (the
//! caller answers 503 and the client retries). After a failed fsync the page
//! cache can no longer be trusted (Linux drops the dirty pages), so carrying
//! on could acknowledge data that is not on disk. Instead the writer heals
//! the partition once the disk takes writes again (`recover`): it cuts the
//! segment back to the last published (durable) position and starts a new
//! generation, which fences off everything written in the failed one.

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::channel::oneshot;
use tokio::sync::watch;

use super::segment::{self, FRAME_HEADER};
use super::sync_pool::SyncPool;
use super::{FsyncPolicy, Shared};
use crate::{Offset, PartitionId};
use strata_common::error::{Error, Result};

mod recover;

pub(crate) use self::recover::Durable;
use self::recover::Healer;

/// Stop draining the queue once a batch holds this many payload bytes.
const MAX_BATCH_BYTES: usize = 64 << 20;

/// At most this many helper threads fdatasync the touched segments of one
/// batch (long-lived: see [`SyncPool`]).
const MAX_SYNC_THREADS: usize = 8;

/// What the writer thread is asked to do, in queue order.
pub(crate) enum WriterMsg {
    /// Append records.
    Append(AppendRequest),
    /// [`EmbeddedLog::release`](super::EmbeddedLog) reached into the active
    /// segment: close it (so it can be deleted once released entirely) if it
    /// holds records below `below`, delete every segment below the
    /// partition's released offset, then answer `done`.
    Roll { partition: PartitionId, below: Offset, done: flume::Sender<()> },
}

/// One queued append; `crcs[i]` is `crc32fast::hash(&payloads[i])`.
pub(crate) struct AppendRequest {
    pub partition: PartitionId,
    pub payloads: Vec<Bytes>,
    pub crcs: Vec<u32>,
    pub done: oneshot::Sender<Result<Offset>>,
}

/// Why a partition stopped accepting appends.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    path: PathBuf,
    kind: io::ErrorKind,
    message: String,
}

impl Failure {
    fn error(&self, partition: PartitionId) -> Error {
        Error::LogIo {
            path: self.path.clone(),
            source: io::Error::new(
                self.kind,
                format!(
                    "partition {partition} failed after an I/O error (it heals by itself once the disk takes writes again): {}",
                    self.message
                ),
            ),
        }
    }
}

/// Records `e` as the partition's failure and returns it as an error.
fn fail(shared: &Shared, partition: PartitionId, path: PathBuf, e: io::Error) -> Error {
    tracing::error!(partition, path = %path.display(), error = %e, "embedded log I/O error; partition refuses appends until it heals");
    let f = Failure { path: path.clone(), kind: e.kind(), message: e.to_string() };
    shared.partitions[partition as usize].failed.lock().get_or_insert(f);
    Error::LogIo { path, source: e }
}

fn failure(shared: &Shared, partition: PartitionId) -> Option<Error> {
    shared.partitions[partition as usize].failed.lock().as_ref().map(|f| f.error(partition))
}

/// The writer's state of one partition.
pub(crate) struct PartitionWriter {
    partition: PartitionId,
    dir: PathBuf,
    /// The active (last) segment, open for appending; shared with the sync thread.
    file: Arc<File>,
    base: Offset,
    /// Bytes in the active segment once `pending` is written.
    size: u64,
    /// The next offset to assign.
    next: Offset,
    /// Frames of the current batch not yet written (header, payload): written
    /// with `writev`, so payloads are never copied in user space.
    pending: Vec<([u8; FRAME_HEADER], Bytes)>,
    /// Bytes of `pending`.
    pending_bytes: u64,
    /// Whether the partition is part of the current batch.
    touched: bool,
}

impl PartitionWriter {
    pub(crate) fn new(partition: PartitionId, dir: PathBuf, file: File, base: Offset, size: u64, next: Offset) -> Self {
        Self {
            partition,
            dir,
            file: Arc::new(file),
            base,
            size,
            next,
            pending: Vec::new(),
            pending_bytes: 0,
            touched: false,
        }
    }

    fn segment_path(&self) -> PathBuf {
        segment::segment_path(&self.dir, self.base)
    }

    /// Writes the buffered frames to the active segment.
    fn write_buf(&mut self, shared: &Shared) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let r = write_frames(&self.file, &self.pending);
        self.size += self.pending_bytes;
        self.pending.clear();
        self.pending_bytes = 0;
        r.map_err(|e| fail(shared, self.partition, self.segment_path(), e))
    }

    /// Closes the active segment durably and starts a new one at `self.next`.
    fn roll(&mut self, fsync: FsyncPolicy, shared: &Shared) -> Result<()> {
        self.write_buf(shared)?;
        if fsync == FsyncPolicy::Always {
            self.file.sync_data().map_err(|e| fail(shared, self.partition, self.segment_path(), e))?;
        }
        let path = segment::segment_path(&self.dir, self.next);
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| fail(shared, self.partition, path.clone(), e))?;
        if fsync == FsyncPolicy::Always {
            segment::sync_dir(&self.dir).map_err(|e| fail(shared, self.partition, self.dir.clone(), e))?;
        }
        self.file = Arc::new(file);
        self.base = self.next;
        self.size = 0;
        shared.partitions[self.partition as usize].segments.lock().push(self.base);
        Ok(())
    }

    /// Closes the active segment if it holds records below `below` (a
    /// release reached into it), so that releasing the rest of it can delete
    /// it. An empty active segment is kept.
    fn roll_for_release(&mut self, below: Offset, fsync: FsyncPolicy, shared: &Shared) -> Result<()> {
        if failure(shared, self.partition).is_some() || self.next == self.base || below <= self.base {
            return Ok(());
        }
        self.roll(fsync, shared)
    }

    /// Frames `req`'s payloads into the batch buffer, rolling segments as
    /// needed; returns the first offset.
    fn stage(
        &mut self,
        req: &AppendRequest,
        segment_bytes: u64,
        fsync: FsyncPolicy,
        shared: &Shared,
    ) -> Result<Offset> {
        if let Some(e) = failure(shared, self.partition) {
            return Err(e);
        }
        if let Some(p) = req.payloads.iter().find(|p| p.len() > segment::MAX_PAYLOAD) {
            return Err(Error::LogIo {
                path: self.segment_path(),
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("record of {} bytes exceeds the limit of {} bytes", p.len(), segment::MAX_PAYLOAD),
                ),
            });
        }
        let first = self.next;
        for (p, &crc) in req.payloads.iter().zip(&req.crcs) {
            let frame = (FRAME_HEADER + p.len()) as u64;
            let used = self.size + self.pending_bytes;
            if used > 0 && used + frame > segment_bytes {
                self.roll(fsync, shared)?;
            }
            self.pending.push((segment::frame_header(self.next, p.len(), crc), p.clone()));
            self.pending_bytes += frame;
            self.next += 1;
        }
        self.touched = true;
        Ok(first)
    }
}

/// An append waiting for its batch to be synced: its partition and the
/// partition's generation when it was staged.
type Waiter = (oneshot::Sender<Result<Offset>>, PartitionId, u64, Result<Offset>);

/// A partition written by a batch.
struct Touched {
    partition: PartitionId,
    /// The partition's generation when the batch was written (see `recover`).
    generation: u64,
    file: Arc<File>,
    path: PathBuf,
    end: Offset,
    /// Base offset and byte length of `file` after the batch.
    base: Offset,
    len: u64,
}

fn generation(shared: &Shared, partition: PartitionId) -> u64 {
    shared.partitions[partition as usize].generation.load(std::sync::atomic::Ordering::Acquire)
}

/// A written batch for the sync thread.
pub(crate) struct SyncJob {
    /// Per touched partition: its active segment and its end after the batch.
    files: Vec<Touched>,
    waiters: Vec<Waiter>,
}

/// The writer loop; returns when every append sender is gone (the log is
/// dropped), which closes the job channel and so ends the sync thread.
pub(crate) fn run_writer(
    rx: flume::Receiver<WriterMsg>,
    jobs: flume::Sender<SyncJob>,
    mut parts: Vec<PartitionWriter>,
    shared: Arc<Shared>,
    fsync: FsyncPolicy,
    segment_bytes: u64,
) {
    let mut batch: Vec<WriterMsg> = Vec::new();
    let mut touched: Vec<usize> = Vec::new();
    let mut healer = Healer::new(parts.len());
    loop {
        // A failed partition heals between batches, also when no append comes.
        let received = if Healer::any_failed(&shared) {
            healer.heal_due(&mut parts, &shared, fsync);
            match rx.recv_timeout(recover::RETRY_INTERVAL) {
                Ok(r) => Some(r),
                Err(flume::RecvTimeoutError::Timeout) => None,
                Err(flume::RecvTimeoutError::Disconnected) => return,
            }
        } else {
            match rx.recv() {
                Ok(r) => Some(r),
                Err(_) => return,
            }
        };
        let Some(first) = received else { continue };
        let mut bytes: usize = msg_bytes(&first);
        batch.push(first);
        while bytes < MAX_BATCH_BYTES {
            let Ok(msg) = rx.try_recv() else { break };
            bytes += msg_bytes(&msg);
            batch.push(msg);
        }

        // Assign offsets and frame the payloads; roll where a release asks.
        let mut waiters = Vec::with_capacity(batch.len());
        for msg in batch.drain(..) {
            let req = match msg {
                WriterMsg::Append(req) => req,
                WriterMsg::Roll { partition, below, done } => {
                    let pw = &mut parts[partition as usize];
                    // A failed roll fails the partition (see `fail`); the release itself loses nothing.
                    let _ = pw.roll_for_release(below, fsync, &shared);
                    super::delete_released(&shared.partitions[partition as usize], partition);
                    let _ = done.send(());
                    continue;
                }
            };
            let pw = &mut parts[req.partition as usize];
            let was_touched = pw.touched;
            let gen_now = generation(&shared, req.partition);
            let r = pw.stage(&req, segment_bytes, fsync, &shared);
            if !was_touched && pw.touched {
                touched.push(req.partition as usize);
            }
            waiters.push((req.done, req.partition, gen_now, r));
        }

        // Write each touched partition with one writev; hand the batch to the sync thread.
        let mut files = Vec::with_capacity(touched.len());
        for p in touched.drain(..) {
            let pw = &mut parts[p];
            pw.touched = false;
            if pw.write_buf(&shared).is_ok() {
                files.push(Touched {
                    partition: pw.partition,
                    generation: generation(&shared, pw.partition),
                    file: pw.file.clone(),
                    path: pw.segment_path(),
                    end: pw.next,
                    base: pw.base,
                    len: pw.size,
                });
            }
        }
        if let Err(flume::SendError(job)) = jobs.send(SyncJob { files, waiters }) {
            // The sync thread is gone (it cannot panic short of a bug); fail the batch.
            for (done, ..) in job.waiters {
                let _ = done.send(Err(Error::LogClosed));
            }
        }
    }
}

/// The sync loop: makes batches durable, publishes end offsets, resolves
/// appends. Dropping `end_txs` on return tells readers the log is closed.
pub(crate) fn run_syncer(
    jobs: flume::Receiver<SyncJob>,
    end_txs: Vec<watch::Sender<Offset>>,
    shared: Arc<Shared>,
    fsync: FsyncPolicy,
) {
    let mut pending: Vec<SyncJob> = Vec::new();
    let mut pool = SyncPool::new(MAX_SYNC_THREADS);
    while let Ok(job) = jobs.recv() {
        pending.push(job);
        pending.extend(jobs.try_iter());

        // Distinct segments to sync, and each partition's newest end.
        let mut files: Vec<&Touched> = Vec::new();
        let mut ends: Vec<&Touched> = Vec::new();
        for t in pending.iter().flat_map(|job| &job.files) {
            if !files.iter().any(|u| Arc::ptr_eq(&t.file, &u.file)) {
                files.push(t);
            }
            match ends.iter_mut().find(|e| e.partition == t.partition) {
                Some(e) if t.end > e.end => *e = t,
                Some(_) => {}
                None => ends.push(t),
            }
        }
        if fsync == FsyncPolicy::Always {
            files.retain(|t| failure(&shared, t.partition).is_none());
            let handles: Vec<Arc<File>> = files.iter().map(|t| t.file.clone()).collect();
            for (t, r) in files.iter().zip(pool.sync_all(&handles)) {
                if let Err(e) = r {
                    fail(&shared, t.partition, t.path.clone(), e);
                }
            }
        }
        drop(files);
        for t in ends {
            let part = &shared.partitions[t.partition as usize];
            // Under the failure lock, so a partition cannot heal (and cut
            // these bytes) between the check and the publication.
            let failed = part.failed.lock();
            if failed.is_none() && generation(&shared, t.partition) == t.generation {
                end_txs[t.partition as usize].send_replace(t.end);
                *part.durable.lock() = Durable { end: t.end, base: t.base, len: t.len };
            }
        }
        for job in pending.drain(..) {
            for (done, p, staged_in, r) in job.waiters {
                let r = r.and_then(|first| failure(&shared, p).map_or(Ok(first), Err)).and_then(|first| {
                    if generation(&shared, p) == staged_in {
                        Ok(first)
                    } else {
                        Err(Error::LogIo {
                            path: shared.partitions[p as usize].dir.clone(),
                            source: io::Error::other(format!(
                                "partition {p} failed after an I/O error while this append was written; retry"
                            )),
                        })
                    }
                });
                // The waiter may have gone away (request cancelled); the data is durable anyway.
                let _ = done.send(r);
            }
        }
    }
}

/// Payload bytes of an append (0 for other messages).
fn msg_bytes(msg: &WriterMsg) -> usize {
    match msg {
        WriterMsg::Append(req) => req.payloads.iter().map(Bytes::len).sum(),
        WriterMsg::Roll { .. } => 0,
    }
}

/// Writes frames with `writev` (std caps each call at `IOV_MAX` slices;
/// partial writes continue where they stopped).
fn write_frames(mut file: &File, frames: &[([u8; FRAME_HEADER], Bytes)]) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(frames.len() * 2);
    for (header, payload) in frames {
        slices.push(IoSlice::new(header));
        if !payload.is_empty() {
            slices.push(IoSlice::new(payload));
        }
    }
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
