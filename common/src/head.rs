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
//! The same holds for [`HeadLabelsResponse`] (label names and values for the
//! metadata APIs, answered from the heads' postings without loading series).

pub mod annotations;
pub mod merge;
pub mod wire;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use self::annotations::{ExemplarSeries, ExemplarsRequest, MetadataMap, MetadataRequest};
use crate::error::Result;
use crate::histogram::HistSample;
use crate::ids::{Offset, PartitionId};
use crate::labels::Labels;
use crate::sample::Sample;
pub use crate::select::{LabelsRequest, SelectEstimate, SelectRequest, StepHint};

/// One series from the head: labels and its samples in the range, sorted by
/// time with unique timestamps.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadSeries {
    /// The series' labels.
    pub labels: Labels,
    /// Its samples in the requested range (empty for a labels-only read).
    pub samples: Vec<Sample>,
    /// Its native-histogram samples in the range, sorted by time, unique
    /// timestamps (empty for a labels-only read).
    pub histograms: Vec<HistSample>,
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

impl HeadReadResponse {
    /// Drops the float samples no step of `steps` looks at (see
    /// [`StepHint`]); series and histograms stay. A series left without
    /// samples is still answered: its labels mean the same to the reader.
    pub fn retain_steps(&mut self, steps: &StepHint) {
        for s in &mut self.series {
            steps.retain(&mut s.samples);
        }
    }
}

/// The label names or values of one or more shards.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HeadLabelsResponse {
    /// Sorted, unique.
    pub values: Vec<String>,
    /// As [`HeadReadResponse::base_offsets`].
    pub base_offsets: Vec<(PartitionId, Offset)>,
}

/// The sorted union of two sorted, unique string lists.
pub fn union_sorted(a: Vec<String>, b: Vec<String>) -> Vec<String> {
    if a.is_empty() {
        return b;
    }
    if b.is_empty() {
        return a;
    }
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x < y => a.next(),
            (Some(x), Some(y)) if x > y => b.next(),
            (Some(_), Some(_)) => {
                b.next();
                a.next()
            }
            (Some(_), None) => a.next(),
            (None, Some(_)) => b.next(),
            (None, None) => break,
        };
        out.extend(next);
    }
    out
}

/// Consumption progress of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionProgress {
    /// The partition.
    pub partition: PartitionId,
    /// Next offset the ingester will consume.
    pub consumed: Offset,
    /// Offset below which everything is in durable files.
    pub flushed: Offset,
}

/// Reads the ingesters' heads.
pub trait HeadReader: Send + Sync + 'static {
    /// Reads matching series from every shard and merges the answers.
    fn read(&self, req: SelectRequest) -> BoxFuture<'_, Result<HeadReadResponse>>;

    /// Label names (or one label's values) of the matching series of every
    /// shard, as a sorted union; no series labels are shipped.
    fn labels(&self, req: LabelsRequest) -> BoxFuture<'_, Result<HeadLabelsResponse>>;

    /// What [`HeadReader::read`] of `req` would read, from the heads'
    /// postings and per-series sample counts (no samples are touched): the
    /// query scheduler's cost estimate.
    fn estimate(&self, req: SelectRequest) -> BoxFuture<'_, Result<SelectEstimate>>;

    /// Consumption progress of every partition (for read-your-writes waits and
    /// lag metrics).
    fn progress(&self) -> BoxFuture<'_, Result<Vec<PartitionProgress>>>;

    /// Exemplars of the selected series held by the ingesters (bounded per
    /// tenant, rebuilt from the log on replay). The default holds none.
    fn exemplars(&self, _req: ExemplarsRequest) -> BoxFuture<'_, Result<Vec<ExemplarSeries>>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Metric metadata held by the ingesters, with the request's limits
    /// applied. The default holds none.
    fn metadata(&self, _req: MetadataRequest) -> BoxFuture<'_, Result<MetadataMap>> {
        Box::pin(async { Ok(MetadataMap::new()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn union_sorted_merges_and_dedups() {
        assert_eq!(union_sorted(v(&["a", "c", "e"]), v(&["b", "c", "f"])), v(&["a", "b", "c", "e", "f"]));
        assert_eq!(union_sorted(v(&[]), v(&["x"])), v(&["x"]));
        assert_eq!(union_sorted(v(&["x"]), v(&[])), v(&["x"]));
        assert_eq!(union_sorted(v(&["a", "b"]), v(&["a", "b"])), v(&["a", "b"]));
    }
}
