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
//! - [`labels`]: label sets, validation, the stable series hash and partitioner.
//! - [`tenant`]: validated tenant ids (`X-Scope-OrgID`).
//! - [`sample`]: samples and staleness markers.
//! - [`matcher`]: PromQL label matchers.
//! - [`record`]: the versioned log record format.
//! - [`log`]: the [`log::Log`] trait (Kafka semantics) and the embedded,
//!   durable implementation [`log::embedded::EmbeddedLog`]; with the cargo
//!   feature `kafka`, `log::kafka::KafkaLog` over a Kafka topic (rdkafka,
//!   bundled librdkafka) and `log::kafka::TestBroker`, test support that runs
//!   a real tansu broker (other crates' tests enable the feature on their
//!   `strata-common` dev-dependency to use it).
//! - [`head`]: the head-read protocol between querier and ingester.
//! - [`varint`]: varints and the byte cursor shared by the byte formats.
//! - [`error`]: errors and the [`error::ErrorKind`] the API layer maps to status codes.
//!
//! Guarantees: the series hash and partitioner are stable across versions;
//! records carry a version byte; the log contract is documented on [`log`].

pub mod error;
pub mod head;
pub mod labels;
pub mod log;
pub mod matcher;
pub mod record;
pub mod sample;
pub mod select;
pub mod tenant;
pub mod varint;

pub use error::{Error, ErrorKind, Result};
pub use labels::{Label, Labels};
pub use matcher::{MatchOp, Matcher};
pub use sample::{Sample, Timestamp};
pub use tenant::TenantId;
