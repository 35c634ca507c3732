//! Thread-per-core ingester shards: each consumes its log partitions into a
//! memtable, flushes it to files and answers head reads.
//!
//! # Ownership
//! [`Ingester::start`] runs `N` shards (see [`IngesterConfig::shards`]), each
//! a glommio `LocalExecutor` on its own OS thread. Shard `i` owns the
//! partitions `p` with `p % N == i`, and with them its memtables, its log
//! readers and its flushes: no lock is shared between shards on the hot path.
//! The rest of the process talks to a shard over `flume` channels.
//!
//! # Inside a shard
//! - One consumer task per partition: `next_batch` → decode each record with
//!   [`RecordView`](strata_common::record::RecordView) (a record is applied
//!   whole or not at all) → `Memtable::append` per series → advance the
//!   partition's consumed offset. An undecodable record is counted
//!   (`strata_ingester_record_decode_failures_total`), logged with its
//!   partition and offset, and skipped: never a crash loop.
//! - One flusher task: when the memtable exceeds
//!   [`IngesterConfig::memtable_max_bytes`] or [`IngesterConfig::flush_interval_ms`]
//!   passed, it freezes the memtable (still readable), writes and commits the
//!   files with the covered ranges `[flushed, consumed)` on a plain OS thread,
//!   and only after the commit drops the frozen table, advances the flushed
//!   offsets and releases the log below them. A failure keeps everything
//!   (retried with backoff, 1 s doubling to 60 s); while a flush is pending
//!   consumption pauses at twice the memtable limit.
//!
//! # Replay and retention
//! On start each partition is read from the manifest's flushed offset (0 if
//! absent). If the log no longer has that offset (retention removed records
//! that were never flushed), the shard logs an error naming the lost range
//! and starts at the earliest offset the log has. If the flushed offset is
//! beyond the log's end (the log was replaced), the shard refuses to start:
//! re-reading lower offsets would count flushed data twice.
//!
//! # Head reads
//! A read asks every shard; each answers from its frozen and active
//! memtables with `base_offsets` = its partitions' flushed offsets (the
//! start of the frozen table while one exists), so a querier reading files
//! below those offsets and heads above never counts a sample twice.
//! A heavy read is copied in parts, each at idle CPU priority (`priority`):
//! every command sent to a shard raises it again first.

mod active;
mod config;
mod consume;
mod context;
mod flush;
mod handle;
pub(crate) mod metrics;
mod priority;
mod state;
mod worker;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

pub use config::{IngesterConfig, MIN_IO_MEMORY_BYTES};
pub use handle::Ingester;
