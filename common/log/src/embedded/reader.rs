//! Readers of the embedded log.
//!
//! A reader waits on the partition's published end offset (a
//! `tokio::sync::watch`, which needs no runtime: it works on glommio and
//! tokio alike), then reads frames below it with `pread` into 1 MiB chunks
//! and hands out payloads as zero-copy slices of the chunk. Frames below the
//! published end are complete and durable, so the reader never sees a torn
//! write; it verifies each frame's CRC and offset anyway.

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use futures::future::LocalBoxFuture;
use tokio::sync::watch;

use super::Shared;
use super::segment::{self, FRAME_HEADER, FrameHeader};
use crate::{LogReader, LogRecord, Offset, PartitionId};
use strata_common::error::{Error, Result};

/// Bytes read ahead per `pread`.
const READ_CHUNK: usize = 1 << 20;
/// Read-ahead buffers kept for reuse once no record holds a slice of them.
const RETIRED_MAX: usize = 4;

/// A reader of one partition of an [`EmbeddedLog`](super::EmbeddedLog).
pub struct EmbeddedLogReader {
    shared: Arc<Shared>,
    partition: PartitionId,
    end_rx: watch::Receiver<Offset>,
    /// The segment being read.
    file: File,
    /// Byte position of the frame of `next` in `file`.
    pos: u64,
    /// The next offset to return.
    next: Offset,
    /// Bytes of `file` read ahead, starting at byte `chunk_pos`.
    chunk: Bytes,
    chunk_pos: u64,
    /// The partition's generation when `chunk` was read: read-ahead bytes
    /// above the published end may be cut when a failed partition heals
    /// (`writer::recover`), so a chunk of an older generation is re-read.
    chunk_generation: u64,
    /// Earlier chunks, reused by a later read once the records sliced from
    /// them are dropped (the shard applied their batch). A fresh megabyte
    /// per read was page-faulted and zeroed by the kernel every time: 6 %
    /// of a replay's CPU.
    retired: Vec<Bytes>,
}

impl std::fmt::Debug for EmbeddedLogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedLogReader").field("partition", &self.partition).field("next", &self.next).finish()
    }
}

impl EmbeddedLogReader {
    pub(crate) fn new(
        shared: Arc<Shared>,
        partition: PartitionId,
        end_rx: watch::Receiver<Offset>,
        file: File,
        pos: u64,
        next: Offset,
    ) -> Self {
        Self {
            shared,
            partition,
            end_rx,
            file,
            pos,
            next,
            chunk: Bytes::new(),
            chunk_pos: 0,
            chunk_generation: 0,
            retired: Vec::new(),
        }
    }

    fn corrupt(&self, reason: String) -> Error {
        Error::CorruptRecord { partition: self.partition, offset: self.next, reason }
    }

    fn io_error(&self, source: std::io::Error) -> Error {
        let path = segment::segment_path(&self.shared.partitions[self.partition as usize].dir, self.next);
        Error::LogIo { path, source }
    }

    /// Makes `chunk` cover `[self.pos, self.pos + need)` if the file has the
    /// bytes; returns how many bytes from `self.pos` are available.
    fn fill(&mut self, need: usize) -> Result<usize> {
        let generation = self.shared.partitions[self.partition as usize].generation.load(Ordering::Acquire);
        let chunk_end = self.chunk_pos + self.chunk.len() as u64;
        if generation == self.chunk_generation && self.pos >= self.chunk_pos && self.pos + need as u64 <= chunk_end {
            return Ok((chunk_end - self.pos) as usize);
        }
        self.chunk_generation = generation;
        let file_len = self.file.metadata().map_err(|e| self.io_error(e))?.len();
        let avail = file_len.saturating_sub(self.pos);
        let want = (avail.min(READ_CHUNK as u64) as usize).max(need.min(avail as usize));
        let old = std::mem::take(&mut self.chunk);
        self.retire(old);
        let mut buf = self.reusable_buffer(want).unwrap_or_else(|| BytesMut::zeroed(want));
        let got = segment::read_full_at(&self.file, &mut buf, self.pos).map_err(|e| self.io_error(e))?;
        buf.truncate(got);
        self.chunk = buf.freeze();
        self.chunk_pos = self.pos;
        Ok(got)
    }

    /// Keeps `chunk` for [`Self::reusable_buffer`] (the oldest retired one
    /// is dropped past [`RETIRED_MAX`]).
    fn retire(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        if self.retired.len() >= RETIRED_MAX {
            self.retired.remove(0);
        }
        self.retired.push(chunk);
    }

    /// A retired buffer no record refers to any more, `want` zero bytes long.
    fn reusable_buffer(&mut self, want: usize) -> Option<BytesMut> {
        for i in 0..self.retired.len() {
            match std::mem::take(&mut self.retired[i]).try_into_mut() {
                Ok(mut buf) => {
                    self.retired.remove(i);
                    buf.clear();
                    buf.resize(want, 0);
                    return Some(buf);
                }
                Err(held) => self.retired[i] = held,
            }
        }
        None
    }

    /// The frame at `self.pos`, or `None` at the end of the segment.
    fn read_frame(&mut self) -> Result<Option<Bytes>> {
        match self.fill(FRAME_HEADER)? {
            0 => return Ok(None),
            n if n < FRAME_HEADER => return Err(self.corrupt(format!("partial frame header at byte {}", self.pos))),
            _ => {}
        }
        let at = (self.pos - self.chunk_pos) as usize;
        let mut hdr = [0u8; FRAME_HEADER];
        hdr.copy_from_slice(&self.chunk[at..at + FRAME_HEADER]);
        let h = FrameHeader::parse(&hdr);
        if h.len > segment::MAX_PAYLOAD {
            return Err(self.corrupt(format!("frame length {} at byte {} is implausible", h.len, self.pos)));
        }
        if h.offset != self.next {
            return Err(self.corrupt(format!("frame at byte {} has offset {}", self.pos, h.offset)));
        }
        let total = FRAME_HEADER + h.len;
        if self.fill(total)? < total {
            return Err(self.corrupt(format!("partial frame payload at byte {}", self.pos)));
        }
        let at = (self.pos - self.chunk_pos) as usize;
        let payload = self.chunk.slice(at + FRAME_HEADER..at + total);
        if segment::frame_crc(h.offset, &payload) != h.crc {
            return Err(self.corrupt("CRC mismatch".to_string()));
        }
        self.pos += total as u64;
        Ok(Some(payload))
    }

    /// Moves to the segment that starts at `self.next` (the previous one ended).
    fn next_segment(&mut self) -> Result<()> {
        let part = &self.shared.partitions[self.partition as usize];
        let segments = part.segments.lock();
        if segments.binary_search(&self.next).is_err() {
            let start = segments.first().copied().unwrap_or(self.next);
            let end = *self.end_rx.borrow();
            if self.next < start {
                return Err(Error::OffsetOutOfRange { partition: self.partition, offset: self.next, start, end });
            }
            return Err(self.corrupt("the segment ended but no segment starts at the next offset".to_string()));
        }
        let path = segment::segment_path(&part.dir, self.next);
        self.file = File::open(&path).map_err(|source| Error::LogIo { path, source })?;
        drop(segments);
        self.pos = 0;
        self.chunk = Bytes::new();
        self.chunk_pos = 0;
        Ok(())
    }

    /// Reads up to `max` records below `end`.
    fn read_batch(&mut self, max: usize, end: Offset) -> Result<Vec<LogRecord>> {
        let n = (end - self.next).min(max as u64) as usize;
        let mut out = Vec::with_capacity(n);
        let mut hopped = false;
        while out.len() < n {
            match self.read_frame()? {
                Some(payload) => {
                    out.push(LogRecord { offset: self.next, payload });
                    self.next += 1;
                    hopped = false;
                }
                None if !hopped => {
                    self.next_segment()?;
                    hopped = true;
                }
                None => return Err(self.corrupt("empty segment below the end offset".to_string())),
            }
        }
        Ok(out)
    }

    async fn next_batch_inner(&mut self, max_records: usize) -> Result<Vec<LogRecord>> {
        let max = max_records.max(1);
        loop {
            let end = *self.end_rx.borrow_and_update();
            if self.next < end {
                return self.read_batch(max, end);
            }
            if self.end_rx.changed().await.is_err() {
                // The writer is gone; hand out what was published, then report closed.
                let end = *self.end_rx.borrow();
                if self.next < end {
                    return self.read_batch(max, end);
                }
                return Err(Error::LogClosed);
            }
        }
    }
}

impl LogReader for EmbeddedLogReader {
    fn partition(&self) -> PartitionId {
        self.partition
    }

    fn position(&self) -> Offset {
        self.next
    }

    fn next_batch(&mut self, max_records: usize) -> LocalBoxFuture<'_, Result<Vec<LogRecord>>> {
        Box::pin(self.next_batch_inner(max_records))
    }
}
