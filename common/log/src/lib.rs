//! # strata-log
//!
//! The log: a partitioned, durable, append-only sequence of records with
//! Kafka's semantics. The push endpoint appends; ingester shards read. It is
//! Strata's write-ahead log: nothing is acknowledged before it is here.
//!
//! ```text
//!  distributor ──Log::append(p, records)──▶ ┌ partition 0 ┐ ─LogReader─▶ ingester shard
//!  (strata-distributor)                     │     …       │   (glommio, offset order)
//!                                           └ partition P-1┘
//!  ingester flush ──Log::release(p, offset)──▶ old segments deleted / offsets committed
//! ```
//!
//! Two implementations of the one [`Log`] trait:
//! - [`embedded`]: [`embedded::EmbeddedLog`], durable segment files on local
//!   disk with group commit (the all-in-one process).
//! - `kafka` (cargo feature `kafka`): `kafka::KafkaLog` over one Kafka topic
//!   (rdkafka, bundled librdkafka), for the cluster roles. With the feature
//!   `testing` also `kafka::TestBroker`, test support that runs a real tansu
//!   broker; other crates' tests enable `testing` on their `strata-log`
//!   dev-dependency, the binary does not.
//!
//! The ids ([`Offset`], [`PartitionId`]) live in `strata_common::ids` (the
//! head-read protocol and the manifest use them too) and are re-exported
//! here; errors are the `Log*` variants of [`strata_common::Error`]. The
//! record payloads are `strata_common::record`s, opaque to the log.
//!
//! ## Contract (both implementations)
//!
//! - A partition is a sequence of records numbered by consecutive offsets
//!   starting at the partition's start offset; offsets never change or repeat.
//! - [`Log::append`] resolves only once every record is durable (embedded:
//!   written and fdatasync'ed; Kafka: acknowledged with acks=all). On error
//!   none, some or all records may be durable; the caller answers 5xx and the
//!   client retries, so ingesters must tolerate duplicates (they do: samples
//!   are keyed by (series, timestamp)).
//! - [`Log::end_offsets`] is the next offset to be written per partition
//!   (Kafka's high watermark). Readers never see records at or past it.
//! - A [`LogReader`] returns records in offset order from its start offset.
//!   Its futures need not be `Send`: readers live on one ingester core.

#![warn(missing_docs)]

pub mod embedded;
#[cfg(feature = "kafka")]
pub mod kafka;

use bytes::Bytes;
use futures::future::{BoxFuture, LocalBoxFuture};

use strata_common::error::Result;
pub use strata_common::ids::{Offset, PartitionId};

/// One record read back from the log.
#[derive(Debug, Clone)]
pub struct LogRecord {
    /// Its position in the partition.
    pub offset: Offset,
    /// The record as appended (a `strata_common::record`, opaque to the log).
    pub payload: Bytes,
}

/// A partitioned durable log (see the module docs for the contract).
pub trait Log: Send + Sync + 'static {
    /// The number of partitions; fixed for the life of the log.
    fn partition_count(&self) -> u32;

    /// Appends `payloads` to `partition` in order; resolves with the offset of
    /// the first once all are durable.
    fn append(&self, partition: PartitionId, payloads: Vec<Bytes>) -> BoxFuture<'_, Result<Offset>>;

    /// The next offset to be written, per partition (index = partition id).
    fn end_offsets(&self) -> BoxFuture<'_, Result<Vec<Offset>>>;

    /// Opens a reader of `partition` positioned at `from`. An offset below the
    /// partition's start (removed by retention) is an
    /// [`Error::OffsetOutOfRange`](strata_common::error::Error::OffsetOutOfRange).
    fn open_reader(&self, partition: PartitionId, from: Offset) -> Result<Box<dyn LogReader>>;

    /// Tells the log that records below `offset` of `partition` are flushed to
    /// files and no longer needed; the embedded log may delete whole segments
    /// below it. Kafka commits `offset` to the consumer group for lag tooling
    /// (the broker's retention applies).
    fn release(&self, partition: PartitionId, offset: Offset) -> Result<()>;
}

/// Reads one partition in offset order.
pub trait LogReader: Send {
    /// The partition read.
    fn partition(&self) -> PartitionId;

    /// The offset of the next record to return.
    fn position(&self) -> Offset;

    /// Waits until at least one record is available, then returns up to
    /// `max_records` of them in order. Never returns an empty batch unless the
    /// log is closed (then an error).
    fn next_batch(&mut self, max_records: usize) -> LocalBoxFuture<'_, Result<Vec<LogRecord>>>;
}
