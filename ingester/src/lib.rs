//! # strata-ingester
//!
//! Strata's ingester: it owns everything between a durable log record and
//! a flushed file, and serves the not-yet-flushed data (the heads).
//!
//! The remote-write push endpoint that fills the log (validation,
//! partitioning by a stable hash of tenant and labels, one record per
//! partition appended to the [`Log`](strata_log::Log)) is the
//! `strata-distributor` crate; the two meet only through the log.
//!
//! - [`shard`]: the thread-per-core consumers. [`Ingester`] runs `N` glommio
//!   executors on `N` OS threads; shard `i` owns the partitions `p` with
//!   `p % N == i`, replays them from the manifest's flushed offsets into its
//!   own memtable, flushes that memtable to files, and answers head reads
//!   ([`strata_common::head::HeadReader`]) for data not yet in files.
//! - [`head_api`]: those head reads over HTTP (Arrow IPC), for querier
//!   processes in a cluster.
//! - [`annotations`]: exemplars and metric metadata from the records
//!   (bounded per tenant, kept across flushes in a snapshot).
//! - [`lag`]: consumer lag per partition (metrics, `/ingester/status`) and
//!   readiness after replay.
//!
//! ```text
//!  remote write ──▶ distributor ──validate, partition──▶ Log::append (durable)
//!                  (strata-distributor)                     │
//!        ┌──────────────────────────────────────────────────┤ one LogReader
//!        ▼                                                  ▼ per partition
//!  shard 0 (glommio, core 0)                 shard N-1 (glommio, core N-1)
//!    partitions p % N == 0                     partitions p % N == N-1
//!    RecordView ─▶ active Memtable             …
//!                    │ freeze (size / interval / flush_now)
//!                    ▼
//!                  frozen Memtable ──OS thread──▶ write_files + fsync
//!                    │ (still readable)             │
//!                    │                              ▼
//!                    │                 ManifestStore::commit_flush(files, offsets)
//!                    ▼ dropped after the commit ──▶ Log::release(p, offset)
//!
//!  querier ──HeadReader::read──▶ Ingester ──flume──▶ every shard ──▶ merged,
//!           (active + frozen memtables, base_offsets = flushed offsets)
//! ```
//!
//! ## Durability and ordering guarantees
//!
//! - **The log is the write-ahead log.** The push endpoint answers 2xx only
//!   after [`Log::append`](strata_log::Log::append) resolved, i.e.
//!   every record is durable. Memtables are never the only copy of data.
//! - **Offsets move only after durability.** A partition's flushed offset
//!   advances only after the files covering `[flushed, consumed)` are
//!   written, fsynced and committed in the manifest; only then is the frozen
//!   memtable dropped and the log released below it. A failed flush changes
//!   nothing: the frozen memtable stays readable and the flush is retried
//!   with backoff.
//! - **Replay.** On start every partition is read from its flushed offset,
//!   so a crash at any point loses nothing that was acknowledged, and
//!   nothing below the flushed offset is applied twice. Records are applied
//!   in offset order, each record whole or not at all; an undecodable record
//!   is logged, counted and skipped.
//! - **No double counting.** Head reads report `base_offsets` (the flushed
//!   offsets their data starts at); a querier reads files only below them.
//!   Within the head a (series, timestamp) appears once; a later write of the
//!   same timestamp wins.
//! - **Isolation.** Shards share no locks on the hot path: each owns its
//!   memtables, readers and flushes, and is reached only through channels.
//!
//! Errors: [`Error`] (shards) maps to an [`ErrorKind`](strata_common::ErrorKind)
//! for status codes.

#![warn(missing_docs)]

pub mod annotations;
pub mod error;
pub mod head_api;
pub mod lag;
pub mod shard;
pub mod tsdb_status;

pub use error::{Error, Result};
pub use shard::{Ingester, IngesterConfig};
