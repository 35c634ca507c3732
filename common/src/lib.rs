//! # strata-common
//!
//! The types every Strata crate shares, and the seams between them:
//!
//! ```text
//!   push endpoint ──RecordBuilder──▶ Log::append ──▶ [partition 0..P]
//!                                                         │ LogReader
//!   ingester shard ◀──RecordView (LZ4, borrowed)──────────┘
//!   querier ──HeadReader::read──▶ ingester heads    (head-read protocol)
//! ```
//!
//! - [`ids`]: [`ids::Offset`] and [`ids::PartitionId`], positions in the log.
//! - [`labels`]: label sets, validation, the stable series hash, the
//!   partitioner and [`labels::owned_partitions`] (which ingester owns which
//!   partition).
//! - [`tenant`]: validated tenant ids (`X-Scope-OrgID`).
//! - [`sample`]: samples and staleness markers.
//! - [`histogram`]: native histograms (one type for integer and float
//!   counts), their byte encoding, bucket readings and arithmetic.
//! - [`matcher`]: PromQL label matchers.
//! - [`record`]: the versioned log record format.
//! - [`metadata`], [`exemplar`]: metric metadata and exemplars per tenant,
//!   bounded and in memory: the ingesters' stores, filled from the log.
//! - [`head`]: the head-read protocol between querier and ingester.
//! - [`varint`]: varints and the byte cursor shared by the byte formats.
//! - [`watched`]: TOML settings files re-read when they change.
//! - [`error`]: errors and the [`error::ErrorKind`] the API layer maps to status codes.
//!
//! The log itself (the `Log` trait, the embedded log and the Kafka log) is
//! the `strata-log` crate, which builds on these types; its errors are the
//! `Log*` variants of [`Error`].
//!
//! Guarantees: the series hash and partitioner are stable across versions;
//! records carry a version byte.

#![warn(missing_docs)]

pub mod error;
pub mod exemplar;
pub mod head;
pub mod histogram;
pub mod ids;
pub mod labels;
pub mod matcher;
pub mod metadata;
pub mod prehashed;
pub mod record;
pub mod sample;
pub mod select;
pub mod tenant;
pub mod tsdb_status;
pub mod varint;
pub mod watched;

pub use error::{Error, ErrorKind, Result};
pub use histogram::{HistSample, Histogram};
pub use labels::{Label, Labels};
pub use matcher::{MatchOp, Matcher};
pub use sample::{Sample, Timestamp};
pub use tenant::TenantId;
