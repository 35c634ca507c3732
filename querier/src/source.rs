//! The data-access seam: the engine and the metadata APIs pull series from a
//! [`SeriesSource`]. A selected series carries its labels and a
//! [`SampleLoader`], so samples are loaded one series at a time, when the
//! engine reaches it.
//!
//! - `memory::MemorySource`: in-memory, for tests, benches and the promqltest
//!   runner (cargo feature `testing`; not in the binary).
//! - [`storage::StorageSource`]: ingester heads + flushed files, merged.
//! - [`remote_heads::RemoteHeads`]: the heads of ingester processes over
//!   HTTP (a cluster querier's `HeadReader`).

pub mod federated;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod remote_heads;
pub mod storage;

use std::cell::Cell;
use std::collections::BTreeSet;

use futures::future::BoxFuture;
use strata_common::head::union_sorted;
use strata_common::select::{LabelsRequest, SelectEstimate, SelectRequest};
use strata_common::{HistSample, Labels, Matcher, Sample, TenantId, Timestamp};

use crate::config::ReadConsistency;
use crate::error::Result;

thread_local! {
    /// Set on threads where a source may block (see [`allow_blocking_inline`]).
    static BLOCKING_INLINE: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as one where a source may block: a
/// low-priority evaluation thread that drives a heavy query's selection
/// itself (`block_on`). A source's blocking work (file index lookups,
/// decoding head answers) then runs inline, at that thread's priority,
/// instead of on tokio's blocking pool at normal priority, where it would
/// compete with cheap queries.
pub fn allow_blocking_inline() {
    BLOCKING_INLINE.with(|b| b.set(true));
}

/// Runs blocking work for a source: inline where
/// [`allow_blocking_inline`] allowed it, else on tokio's blocking pool
/// (`failed` turns a failed task into the caller's error).
pub async fn run_blocking<T: Send + 'static, E: Send + 'static>(
    work: impl FnOnce() -> std::result::Result<T, E> + Send + 'static,
    failed: impl FnOnce(String) -> E,
) -> std::result::Result<T, E> {
    if BLOCKING_INLINE.with(Cell::get) {
        return work();
    }
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) => Err(failed(e.to_string())),
    }
}

/// Loads the samples of one selected series.
pub trait SampleLoader: Send {
    /// Samples with `min_t <= t <= max_t`, sorted by time, unique
    /// timestamps; staleness markers included.
    fn load(&mut self, min_t: Timestamp, max_t: Timestamp) -> Result<Vec<Sample>>;

    /// [`SampleLoader::load`] into `out` (cleared first), so a caller can
    /// reuse one buffer for every series.
    fn load_into(&mut self, min_t: Timestamp, max_t: Timestamp, out: &mut Vec<Sample>) -> Result<()> {
        let samples = self.load(min_t, max_t)?;
        out.clear();
        out.extend_from_slice(&samples);
        Ok(())
    }

    /// Native-histogram samples with `min_t <= t <= max_t`, sorted by time,
    /// unique timestamps, staleness markers included (none by default: the
    /// engine does not evaluate histograms yet; this is the path it will use).
    fn load_histograms(&mut self, _min_t: Timestamp, _max_t: Timestamp) -> Result<Vec<HistSample>> {
        Ok(Vec::new())
    }

    /// At most how many samples [`SampleLoader::load_into`] of the same
    /// range will return, from what the loader knows without decoding (so
    /// the engine can reserve memory before loading); `None` when unknown.
    fn size_hint(&self, _min_t: Timestamp, _max_t: Timestamp) -> Option<usize> {
        None
    }
}

/// One selected series: labels now, samples on demand.
pub struct SourceSeries {
    /// The series' labels.
    pub labels: Labels,
    /// Loads its samples when the engine reaches it.
    pub loader: Box<dyn SampleLoader>,
}

impl std::fmt::Debug for SourceSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceSeries").field("labels", &self.labels).finish_non_exhaustive()
    }
}

/// Selected series in label order.
pub type SeriesIter = Box<dyn Iterator<Item = Result<SourceSeries>> + Send>;

/// What one selection read, for the query statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SelectStats {
    /// Series found in the ingester heads (or an in-memory source).
    pub head_series: u64,
    /// Series found in flushed files.
    pub file_series: u64,
    /// Distinct files the selected series are read from.
    pub files_opened: u64,
}

impl SelectStats {
    /// Adds `o`'s counts to these.
    pub fn add(&mut self, o: SelectStats) {
        self.head_series += o.head_series;
        self.file_series += o.file_series;
        self.files_opened += o.files_opened;
    }
}

/// A loader over samples already in memory.
#[derive(Debug)]
pub struct VecLoader(pub std::sync::Arc<Vec<Sample>>);

impl SampleLoader for VecLoader {
    fn load(&mut self, min_t: Timestamp, max_t: Timestamp) -> Result<Vec<Sample>> {
        Ok(slice_range(&self.0, min_t, max_t).to_vec())
    }

    fn load_into(&mut self, min_t: Timestamp, max_t: Timestamp, out: &mut Vec<Sample>) -> Result<()> {
        out.clear();
        out.extend_from_slice(slice_range(&self.0, min_t, max_t));
        Ok(())
    }

    /// Exact.
    fn size_hint(&self, min_t: Timestamp, max_t: Timestamp) -> Option<usize> {
        Some(slice_range(&self.0, min_t, max_t).len())
    }
}

/// The sub-slice of time-sorted `samples` with `min_t <= t <= max_t`.
pub fn slice_range(samples: &[Sample], min_t: Timestamp, max_t: Timestamp) -> &[Sample] {
    let lo = samples.partition_point(|s| s.t < min_t);
    let hi = samples.partition_point(|s| s.t <= max_t).max(lo);
    &samples[lo..hi]
}

/// Where queries read series from.
pub trait SeriesSource: Send + Sync + 'static {
    /// Called once per request before any read: a strong read waits here
    /// until the data written so far is visible.
    fn prepare<'a>(&'a self, _tenant: &'a TenantId, _consistency: ReadConsistency) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// The series `req` selects, sorted by labels, and what the
    /// selection read.
    fn select_with_stats<'a>(&'a self, req: &'a SelectRequest) -> BoxFuture<'a, Result<(SeriesIter, SelectStats)>>;

    /// [`SeriesSource::select_with_stats`] without the statistics.
    fn select<'a>(&'a self, req: &'a SelectRequest) -> BoxFuture<'a, Result<SeriesIter>> {
        Box::pin(async move { Ok(self.select_with_stats(req).await?.0) })
    }

    /// Labels only of the series `select` would return (metadata APIs).
    fn series_labels<'a>(&'a self, req: &'a SelectRequest) -> BoxFuture<'a, Result<Vec<Labels>>>;

    /// Sorted unique label names (`req.name == None`) or values of label
    /// `req.name` on the series `series_labels` would return. The default
    /// collects them from `series_labels`; sources with an index answer from
    /// it instead.
    fn labels<'a>(&'a self, req: &'a LabelsRequest) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            let series = self.series_labels(&req.select()).await?;
            let out: BTreeSet<&str> = match req.name.as_deref() {
                None => series.iter().flat_map(|l| l.iter().map(|l| l.name.as_str())).collect(),
                Some(name) => series.iter().filter_map(|l| l.get(name)).collect(),
            };
            Ok(out.into_iter().map(str::to_string).collect())
        })
    }

    /// What `select` of `req` would read, from indexes and metadata only
    /// (the query scheduler's cost input).
    fn estimate<'a>(&'a self, req: &'a SelectRequest) -> BoxFuture<'a, Result<SelectEstimate>>;

    /// A version of the samples `select` of `req` returns: equal versions
    /// mean equal samples (the results cache reuses a split's result only
    /// while its selections' versions stay the same). `None` when the data
    /// can still change in place (the default: never cached).
    fn version<'a>(&'a self, _req: &'a SelectRequest) -> BoxFuture<'a, Result<Option<u64>>> {
        Box::pin(async { Ok(None) })
    }
}

/// The matcher sets of a metadata request: none means one empty set (every
/// series of the tenant).
fn sets_or_all(matcher_sets: &[Vec<Matcher>]) -> &[Vec<Matcher>] {
    const ALL: &[Vec<Matcher>] = &[Vec::new()];
    if matcher_sets.is_empty() { ALL } else { matcher_sets }
}

/// The union of `series_labels` over several matcher sets, sorted, unique.
/// An empty `matcher_sets` selects every series of the tenant.
pub async fn series_union(
    source: &dyn SeriesSource,
    tenant: &TenantId,
    matcher_sets: &[Vec<Matcher>],
    min_t: Timestamp,
    max_t: Timestamp,
) -> Result<Vec<Labels>> {
    let mut out = BTreeSet::new();
    for m in sets_or_all(matcher_sets) {
        let req = SelectRequest::new(tenant.clone(), m.clone(), min_t, max_t).labels_only();
        out.extend(source.series_labels(&req).await?);
    }
    Ok(out.into_iter().collect())
}

/// Sorted unique label names (`name == None`) or values of label `name` on
/// the series matching any of `matcher_sets` (the union of
/// [`SeriesSource::labels`] per set).
pub async fn labels(
    source: &dyn SeriesSource,
    tenant: &TenantId,
    name: Option<&str>,
    matcher_sets: &[Vec<Matcher>],
    min_t: Timestamp,
    max_t: Timestamp,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for m in sets_or_all(matcher_sets) {
        let req =
            LabelsRequest::new(SelectRequest::new(tenant.clone(), m.clone(), min_t, max_t), name.map(str::to_string));
        out = union_sorted(out, source.labels(&req).await?);
    }
    Ok(out)
}
