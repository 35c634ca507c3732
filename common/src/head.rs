//! The head-read protocol: how the read path asks ingesters for samples they
//! have consumed from the log but not yet flushed to files.
//!
//! Defined here so `ingester` (the server) and `querier` (the client) never
//! depend on each other. In the all-in-one process the implementation is a
//! channel to each shard; in a cluster it is an HTTP client (same trait).
//!
//! No double counting: every [`HeadReadResponse`] says, per partition, the
//! offset its data starts at (`base_offsets`, the flushed offset the head was
//! built on). The querier reads a file only if every partition range it covers
//! ends at or below that partition's base offset; everything above comes from
//! the head. Callers must ask the head *before* taking a manifest snapshot.

use futures::future::BoxFuture;

use crate::error::Result;
use crate::labels::Labels;
use crate::log::{Offset, PartitionId};
use crate::matcher::Matcher;
use crate::sample::{Sample, Timestamp};
use crate::tenant::TenantId;

/// Which series and which time range to read.
#[derive(Debug, Clone)]
pub struct HeadReadRequest {
    pub tenant: TenantId,
    /// All must match (an empty list selects every series of the tenant).
    pub matchers: Vec<Matcher>,
    /// Inclusive time range; series without samples in it are skipped.
    pub min_t: Timestamp,
    pub max_t: Timestamp,
    /// When false only labels are returned (for the series/labels APIs).
    pub with_samples: bool,
}

/// One series from the head: labels and its samples in the range, sorted by
/// time with unique timestamps.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// The answer of one or more shards.
#[derive(Debug, Clone, Default)]
pub struct HeadReadResponse {
    /// Series sorted by labels, each at most once.
    pub series: Vec<HeadSeries>,
    /// Per partition owned by the answering shards: the offset the head's data
    /// starts at. Files whose ranges end at or below it are safe to read.
    pub base_offsets: Vec<(PartitionId, Offset)>,
}

/// Consumption progress of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionProgress {
    pub partition: PartitionId,
    /// Next offset the ingester will consume.
    pub consumed: Offset,
    /// Offset below which everything is in durable files.
    pub flushed: Offset,
}

/// Reads the ingesters' heads.
pub trait HeadReader: Send + Sync + 'static {
    /// Reads matching series from every shard and merges the answers.
    fn read(&self, req: HeadReadRequest) -> BoxFuture<'_, Result<HeadReadResponse>>;

    /// Consumption progress of every partition (for read-your-writes waits and
    /// lag metrics).
    fn progress(&self) -> BoxFuture<'_, Result<Vec<PartitionProgress>>>;
}
