//! The writer thread of the embedded log: group commit.
//!
//! One `std::thread` owns every partition's active segment. It blocks on the
//! append channel, drains whatever else is queued (up to [`MAX_BATCH_BYTES`]),
//! assigns consecutive offsets, writes each touched partition's frames with
//! one `write`, fdatasyncs each touched segment once (in parallel when several
//! are touched), then publishes the new end offsets and completes the
//! waiters. Concurrent appenders therefore share fsyncs, and a reader never
//! sees an offset that is not durable.
//!
//! An I/O error poisons the partition: its pending and later appends fail
//! (the caller answers 503 and retries elsewhere or later) until the log is
//! reopened, when recovery truncates whatever was torn. After a failed fsync
//! the page cache can no longer be trusted (Linux drops the dirty pages), so
//! continuing would risk acknowledging data that is not on disk.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::channel::oneshot;
use tokio::sync::watch;

use super::segment::{self, FRAME_HEADER};
use super::{FsyncPolicy, Shared};
use crate::error::{Error, Result};
use crate::log::{Offset, PartitionId};

/// Stop draining the queue once a batch holds this many payload bytes.
const MAX_BATCH_BYTES: usize = 64 << 20;

/// At most this many threads fdatasync the touched segments of one batch.
const MAX_SYNC_THREADS: usize = 8;

/// One queued append.
pub(crate) struct AppendRequest {
    pub partition: PartitionId,
    pub payloads: Vec<Bytes>,
    pub done: oneshot::Sender<Result<Offset>>,
}

/// The writer's state of one partition.
pub(crate) struct PartitionWriter {
    pub partition: PartitionId,
    pub dir: PathBuf,
    /// The active (last) segment, open for appending.
    pub file: File,
    pub base: Offset,
    /// Bytes in the active segment, including `buf` once written.
    pub size: u64,
    /// The next offset to assign.
    pub next: Offset,
    /// Publishes the durable end offset to readers.
    pub end_tx: watch::Sender<Offset>,
    /// Frames of the current batch not yet written.
    buf: Vec<u8>,
    /// Whether `buf` must be written and synced in this batch.
    touched: bool,
    /// Set by an I/O error; every later append fails with it.
    poisoned: Option<(PathBuf, io::ErrorKind, String)>,
}

impl PartitionWriter {
    pub(crate) fn new(
        partition: PartitionId,
        dir: PathBuf,
        file: File,
        base: Offset,
        size: u64,
        next: Offset,
        end_tx: watch::Sender<Offset>,
    ) -> Self {
        Self { partition, dir, file, base, size, next, end_tx, buf: Vec::new(), touched: false, poisoned: None }
    }

    fn segment_path(&self) -> PathBuf {
        segment::segment_path(&self.dir, self.base)
    }

    fn poison_error(&self) -> Option<Error> {
        self.poisoned.as_ref().map(|(path, kind, msg)| Error::LogIo {
            path: path.clone(),
            source: io::Error::new(*kind, format!("partition {} is failed after an earlier I/O error: {msg}", self.partition)),
        })
    }

    fn poison(&mut self, path: PathBuf, e: io::Error) -> Error {
        tracing::error!(partition = self.partition, path = %path.display(), error = %e, "embedded log I/O error; partition fails until reopened");
        self.poisoned = Some((path.clone(), e.kind(), e.to_string()));
        self.buf.clear();
        Error::LogIo { path, source: e }
    }

    /// Writes the buffered frames to the active segment.
    fn write_buf(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.file.write_all(&self.buf) {
            return Err(self.poison(self.segment_path(), e));
        }
        self.size += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Closes the active segment durably and starts a new one at `self.next`.
    fn roll(&mut self, fsync: FsyncPolicy, shared: &Shared) -> Result<()> {
        self.write_buf()?;
        if fsync == FsyncPolicy::Always
            && let Err(e) = self.file.sync_data()
        {
            return Err(self.poison(self.segment_path(), e));
        }
        let path = segment::segment_path(&self.dir, self.next);
        let file = OpenOptions::new().create(true).write(true).truncate(true).open(&path);
        let file = match file {
            Ok(f) => f,
            Err(e) => return Err(self.poison(path, e)),
        };
        if fsync == FsyncPolicy::Always
            && let Err(e) = segment::sync_dir(&self.dir)
        {
            return Err(self.poison(self.dir.clone(), e));
        }
        self.file = file;
        self.base = self.next;
        self.size = 0;
        shared.partitions[self.partition as usize].segments.lock().push(self.base);
        Ok(())
    }

    /// Frames `payloads` into the batch buffer, rolling segments as needed;
    /// returns the first offset.
    fn stage(&mut self, payloads: &[Bytes], segment_bytes: u64, fsync: FsyncPolicy, shared: &Shared) -> Result<Offset> {
        if let Some(e) = self.poison_error() {
            return Err(e);
        }
        if let Some(p) = payloads.iter().find(|p| p.len() > segment::MAX_PAYLOAD) {
            return Err(Error::LogIo {
                path: self.segment_path(),
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("record of {} bytes exceeds the limit of {} bytes", p.len(), segment::MAX_PAYLOAD),
                ),
            });
        }
        let first = self.next;
        for p in payloads {
            let frame = (FRAME_HEADER + p.len()) as u64;
            let used = self.size + self.buf.len() as u64;
            if used > 0 && used + frame > segment_bytes {
                self.roll(fsync, shared)?;
            }
            segment::encode_frame(&mut self.buf, self.next, p);
            self.next += 1;
        }
        self.touched = true;
        Ok(first)
    }
}

/// The writer loop; returns when every sender is gone (the log is dropped).
/// Dropping the partition writers then drops the watch senders, which tells
/// readers the log is closed.
pub(crate) fn run(
    rx: flume::Receiver<AppendRequest>,
    mut parts: Vec<PartitionWriter>,
    shared: Arc<Shared>,
    fsync: FsyncPolicy,
    segment_bytes: u64,
) {
    let mut batch: Vec<AppendRequest> = Vec::new();
    let mut staged: Vec<(oneshot::Sender<Result<Offset>>, PartitionId, Result<Offset>)> = Vec::new();
    let mut touched: Vec<usize> = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut bytes: usize = first.payloads.iter().map(Bytes::len).sum();
        batch.push(first);
        while bytes < MAX_BATCH_BYTES {
            let Ok(req) = rx.try_recv() else { break };
            bytes += req.payloads.iter().map(Bytes::len).sum::<usize>();
            batch.push(req);
        }

        // Assign offsets and frame the payloads.
        for req in batch.drain(..) {
            let pw = &mut parts[req.partition as usize];
            let was_touched = pw.touched;
            let r = pw.stage(&req.payloads, segment_bytes, fsync, &shared);
            if !was_touched && pw.touched {
                touched.push(req.partition as usize);
            }
            staged.push((req.done, req.partition, r));
        }

        // Write each touched partition once.
        for &p in &touched {
            let pw = &mut parts[p];
            if pw.poisoned.is_none() {
                let _ = pw.write_buf();
            }
        }

        // One fdatasync per touched segment, in parallel across partitions.
        if fsync == FsyncPolicy::Always {
            let to_sync: Vec<usize> = touched.iter().copied().filter(|&p| parts[p].poisoned.is_none()).collect();
            let results = sync_all(&parts, &to_sync);
            for (p, r) in to_sync.into_iter().zip(results) {
                if let Err(e) = r {
                    let path = parts[p].segment_path();
                    parts[p].poison(path, e);
                }
            }
        }

        // Publish the durable ends, then complete the waiters.
        for &p in &touched {
            let pw = &mut parts[p];
            pw.touched = false;
            if pw.poisoned.is_none() {
                pw.end_tx.send_replace(pw.next);
            }
        }
        touched.clear();
        for (done, p, r) in staged.drain(..) {
            let r = match r {
                Ok(first) => match parts[p as usize].poison_error() {
                    Some(e) => Err(e),
                    None => Ok(first),
                },
                Err(e) => Err(e),
            };
            // The waiter may have gone away (request cancelled); the data is durable anyway.
            let _ = done.send(r);
        }
    }
}

/// fdatasyncs the active segments of `which`, in parallel when there are several.
fn sync_all(parts: &[PartitionWriter], which: &[usize]) -> Vec<io::Result<()>> {
    match which {
        [] => Vec::new(),
        [p] => vec![parts[*p].file.sync_data()],
        _ => {
            let threads = which.len().min(MAX_SYNC_THREADS);
            let per = which.len().div_ceil(threads);
            std::thread::scope(|s| {
                let handles: Vec<_> = which
                    .chunks(per)
                    .map(|chunk| {
                        let h = s.spawn(move || chunk.iter().map(|&p| parts[p].file.sync_data()).collect::<Vec<_>>());
                        (chunk.len(), h)
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|(n, h)| match h.join() {
                        Ok(v) => v,
                        // A sync thread cannot panic short of a bug in std; fail its partitions.
                        Err(_) => (0..n).map(|_| Err(io::Error::other("fsync thread panicked"))).collect(),
                    })
                    .collect()
            })
        }
    }
}
