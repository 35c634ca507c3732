//! # strata-storage
//!
//! Strata's storage engine: everything between a decoded log record and the
//! bytes on disk, and back to a query.
//!
//! It owns:
//! - [`memtable`]: the single-threaded in-memory head of one ingester shard
//!   (per-tenant series lookup by hash, columnar samples, roaring-bitmap
//!   inverted index), frozen into an immutable, shareable [`FrozenMemtable`].
//! - [`chunk`]: Gorilla-style sample compression (delta-of-delta timestamps,
//!   XOR values), ~2 bytes/sample on regular counters.
//! - [`writer`] / [`reader`] / [`format`](mod@format): the immutable, versioned data file
//!   (`docs/format/v1.md`, `v2.md`, `v3.md`, `v4.md`), one per (flush, tenant), memory-mapped and
//!   validated on open.
//! - [`index`]: Prometheus label-matcher evaluation over postings, shared by
//!   the memtable and the files.
//! - [`manifest`]: the atomically replaced list of live files and the
//!   per-partition flushed offsets.
//! - [`store`]: the query read path over the files of a manifest snapshot;
//!   each store owns its cache of open readers ([`FileCache`]);
//!   [`store_set`]: several stores read as one (a cluster querier reads
//!   every ingester's directory, reloading manifests that are behind).
//! - [`object`]: optional S3-compatible object storage for files and the
//!   manifest (upload after commit, restore, garbage collection, a querier
//!   cache); the local filesystem stays the default.
//! - [`compaction`]: the background compactor (level-0 flush files → 2 h →
//!   1 d windows, newest wins, rate-limited) and retention per tenant.
//! - [`estimate`]: selection estimates from postings and chunk metadata
//!   (the query scheduler's cost input).
//! - [`retire`]: deletion of replaced files only once no snapshot or reader
//!   can reach them; [`fault`]: fault points for crash tests.
//! - `durable` (crate-internal): the one way a file becomes durable (temp
//!   file, fsync, rename, directory fsync), shared by the manifest, the
//!   writer and object storage downloads.
//!
//! ```text
//!  log record ─▶ Memtable::append          (ingester shard, single thread)
//!                   │ Memtable::read ◀───── head reads (querier, via the shard)
//!                   ▼ freeze()
//!              FrozenMemtable (Send + Sync, still readable)
//!                   │ write_files(): one <id>.strata per tenant
//!                   ▼   tmp ─ fsync ─ rename ─ fsync dir
//!              files/<tenant>/<id>.strata
//!                   │ ManifestStore::commit_flush(files, offsets)
//!                   ▼   MANIFEST.json.tmp ─ fsync ─ rename ─ fsync dir
//!              MANIFEST.json  ──pin()──▶ Store::select ─▶ FileCache ─▶ FileReader
//!                   ▲                         (tenant, time, offset rule, postings)
//!                   │ commit_replace(inputs → outputs), retired inputs deleted
//!                   │ once no snapshot/reader holds them
//!              Compactor (own OS thread): L0 → 2 h → 1 d, retention
//! ```
//!
//! ## Durability and ordering
//!
//! - The log is the write-ahead log; the memtable is volatile. A flush is
//!   durable only once [`ManifestStore::commit_flush`] returns: the files are
//!   fsynced and renamed before, the manifest is replaced atomically after.
//!   Flushed offsets in the manifest only move forward, so after a crash the
//!   ingester replays the log from them and recreates anything lost.
//! - A crash between writing a file and committing it leaves an unreferenced
//!   file; [`ManifestStore::open`] deletes it (and every `*.tmp`). File ids are
//!   never reused across restarts.
//! - Readers never block writers: [`ManifestStore::current`] is a lock-free
//!   `Arc` snapshot, files are immutable, and a reader's memory map stays valid
//!   even if its file is later deleted.
//! - No double counting between tiers: [`Store::select`] reads a file only if
//!   every partition range it covers ends at or below the heads' base offset
//!   for that partition.
//! - Equal timestamps are resolved the same way everywhere: the sample written
//!   last wins (memtable), and the newest file wins across files
//!   ([`FileMeta::rank`]: compaction outputs keep their newest input's order).
//! - Compaction replaces files atomically and never deletes a file a pinned
//!   snapshot or a held reader can still read; a crash at any step leaves at
//!   worst unreferenced files, which [`ManifestStore::open`] removes.

#![warn(missing_docs)]

pub mod chunk;
pub mod compaction;
mod durable;
pub mod error;
pub mod estimate;
pub mod fault;
pub mod format;
pub mod index;
pub mod manifest;
pub mod memtable;
pub mod object;
pub mod reader;
pub mod retire;
pub mod store;
pub mod store_set;
pub mod writer;

pub use error::{Error, Result};
pub use manifest::{FileMeta, Manifest, ManifestSource, ManifestStore, PartitionRange, Replicator};
pub use memtable::{FloatScratch, FrozenMemtable, FrozenSeries, Memtable};
pub use reader::FileReader;
pub use retire::Snapshot;
pub use store::{FileCache, FileSource, Store, StoredSeries};
pub use store_set::StoreSet;
pub use writer::{FlushContext, write_files};
