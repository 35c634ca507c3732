//! [`StorageSource`]: reads the ingesters' heads and the flushed files and
//! merges them.
//!
//! ```text
//!  prepare (strong): log.end_offsets() ──▶ poll heads.progress() every 1 ms
//!                    until consumed >= end for every partition (or 503)
//!  estimate: heads.estimate(req) + store.estimate(req) (postings, counts
//!           and chunk metadata only; the scheduler's cost input)
//!  select:  heads.read(req) ─▶ series + base_offsets
//!           store.select(req, base_offsets) ─▶ stored series (lazy samples)
//!           merge both label-sorted lists; equal labels: samples merged by
//!           time, the head wins on equal timestamps
//!  labels:  heads.labels(req) ─▶ names/values from the heads' postings
//!           + base_offsets
//!           store.labels(req, base_offsets) ─▶ from the files'
//!           postings; sorted union of both (no series labels loaded)
//! ```
//! The head is asked first, then the files (see `strata_common::head`), so
//! no sample is counted twice and none is missed.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::iter::Peekable;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use strata_common::head::{HeadReader, HeadSeries, LabelsRequest, SelectEstimate, SelectRequest, union_sorted};
use strata_common::{HistSample, Labels, Sample, TenantId, Timestamp};
use strata_log::Log;
use strata_storage::{StoreSet, StoredSeries};

use super::{SampleLoader, SelectStats, SeriesIter, SeriesSource, SourceSeries, run_blocking, slice_range};
use crate::config::ReadConsistency;
use crate::error::{Error, Result};

/// A [`SeriesSource`] over the heads and the files.
pub struct StorageSource {
    stores: Arc<StoreSet>,
    heads: Arc<dyn HeadReader>,
    log: Option<Arc<dyn Log>>,
    consistency_timeout: Duration,
}

impl std::fmt::Debug for StorageSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageSource").field("consistency_timeout", &self.consistency_timeout).finish_non_exhaustive()
    }
}

impl StorageSource {
    /// `log` enables strong reads (without it every read is eventual).
    pub fn new(
        stores: Arc<StoreSet>,
        heads: Arc<dyn HeadReader>,
        log: Option<Arc<dyn Log>>,
        consistency_timeout: Duration,
    ) -> Self {
        Self { stores, heads, log, consistency_timeout }
    }

    async fn wait_for_log(&self, log: &dyn Log) -> Result<()> {
        let ends = log.end_offsets().await?;
        let started = Instant::now();
        loop {
            let progress = self.heads.progress().await?;
            let lagging: Vec<u32> = ends
                .iter()
                .enumerate()
                .filter(|&(_, &end)| end > 0)
                .filter(|&(p, &end)| !progress.iter().any(|pp| pp.partition as usize == p && pp.consumed >= end))
                .map(|(p, _)| p as u32)
                .collect();
            if lagging.is_empty() {
                return Ok(());
            }
            if started.elapsed() >= self.consistency_timeout {
                return Err(Error::ConsistencyTimeout { waited: started.elapsed(), lagging });
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn read_both(&self, req: &SelectRequest) -> Result<(Vec<HeadSeries>, Vec<StoredSeries>)> {
        let head = self.heads.read(req.clone()).await?;
        let base: BTreeMap<_, _> = head.base_offsets.iter().copied().collect();
        // The file index lookup may read from disk: keep it off the async workers.
        let (store, req) = (self.stores.clone(), req.clone());
        let stored = run_blocking(
            move || Ok(store.select(&req, &base)?),
            |e| Error::Internal(format!("file selection task failed: {e}")),
        )
        .await?;
        Ok((head.series, stored))
    }
}

impl SeriesSource for StorageSource {
    fn prepare<'a>(&'a self, _tenant: &'a TenantId, consistency: ReadConsistency) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            match (&self.log, consistency) {
                (Some(log), ReadConsistency::Strong) => self.wait_for_log(log.as_ref()).await,
                _ => Ok(()),
            }
        })
    }

    fn select_with_stats<'a>(&'a self, req: &'a SelectRequest) -> BoxFuture<'a, Result<(SeriesIter, SelectStats)>> {
        Box::pin(async move {
            let (head, stored) = self.read_both(req).await?;
            let stats = select_stats(&head, &stored);
            let merged = MergeIter { head: head.into_iter().peekable(), stored: stored.into_iter().peekable() };
            Ok((Box::new(merged) as SeriesIter, stats))
        })
    }

    fn series_labels<'a>(&'a self, req: &'a SelectRequest) -> BoxFuture<'a, Result<Vec<Labels>>> {
        Box::pin(async move {
            let (head, stored) = self.read_both(&req.clone().labels_only()).await?;
            let mut all: Vec<Labels> =
                head.into_iter().map(|s| s.labels).chain(stored.into_iter().map(|s| s.labels)).collect();
            all.sort();
            all.dedup();
            Ok(all)
        })
    }

    /// Label names (`name == None`) or values of `name` from the heads,
    /// then from the files below the heads' base offsets, as a sorted union.
    fn labels<'a>(&'a self, req: &'a LabelsRequest) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            let head = self.heads.labels(req.clone()).await?;
            let base: BTreeMap<_, _> = head.base_offsets.iter().copied().collect();
            // The postings directories may be read from disk: off the async workers.
            let (store, req) = (self.stores.clone(), req.clone());
            let stored = run_blocking(
                move || Ok(store.labels(&req, &base)?),
                |e| Error::Internal(format!("file label lookup task failed: {e}")),
            )
            .await?;
            Ok(union_sorted(head.values, stored))
        })
    }

    /// `None` while an ingester head holds a sample `req` selects (heads
    /// change in place: out-of-order samples land there first); otherwise
    /// a hash of the files `req` reads, which are immutable: a sample that
    /// lands later reaches the files as a new file, and changes the hash.
    fn version<'a>(&'a self, req: &'a SelectRequest) -> BoxFuture<'a, Result<Option<u64>>> {
        Box::pin(async move {
            // Labels only: the heads name the series with samples in the
            // window without copying them.
            let head = self.heads.read(req.clone().labels_only()).await?;
            if !head.series.is_empty() {
                return Ok(None);
            }
            let base: BTreeMap<_, _> = head.base_offsets.iter().copied().collect();
            let (store, req) = (self.stores.clone(), req.clone());
            let ids = tokio::task::spawn_blocking(move || store.file_ids(&req, &base))
                .await
                .map_err(|e| Error::Internal(format!("file listing task failed: {e}")))??;
            let mut h = xxhash_rust::xxh64::Xxh64::new(0);
            for (member, id) in ids {
                h.update(&(member as u64).to_le_bytes());
                h.update(&id.to_le_bytes());
            }
            Ok(Some(h.digest()))
        })
    }

    fn estimate<'a>(&'a self, req: &'a SelectRequest) -> BoxFuture<'a, Result<SelectEstimate>> {
        Box::pin(async move {
            let mut total = self.heads.estimate(req.clone()).await?;
            // No file in range (a dashboard over the newest data): no hop
            // to a blocking thread, which under load can take milliseconds.
            if !self.stores.overlaps(&req.tenant, req.min_t, req.max_t) {
                return Ok(total);
            }
            // Chunk metadata may be read from disk: off the async workers.
            let (store, req) = (self.stores.clone(), req.clone());
            let stored = run_blocking(
                move || Ok(store.estimate(&req)?),
                |e| Error::Internal(format!("file estimate task failed: {e}")),
            )
            .await?;
            total.add(stored);
            Ok(total)
        })
    }
}

/// Series per tier and the distinct files the stored series read from.
fn select_stats(head: &[HeadSeries], stored: &[StoredSeries]) -> SelectStats {
    let files: HashSet<*const strata_storage::FileReader> =
        stored.iter().flat_map(|s| s.sources.iter().map(|(f, _)| Arc::as_ptr(f))).collect();
    SelectStats { head_series: head.len() as u64, file_series: stored.len() as u64, files_opened: files.len() as u64 }
}

/// Merges head and stored series, both sorted by labels.
struct MergeIter {
    head: Peekable<std::vec::IntoIter<HeadSeries>>,
    stored: Peekable<std::vec::IntoIter<StoredSeries>>,
}

impl Iterator for MergeIter {
    type Item = Result<SourceSeries>;

    fn next(&mut self) -> Option<Self::Item> {
        let order = match (self.head.peek(), self.stored.peek()) {
            (None, None) => return None,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(h), Some(s)) => h.labels.cmp(&s.labels),
        };
        let (mut head, mut stored) = match order {
            Ordering::Less => (self.head.next(), None),
            Ordering::Greater => (None, self.stored.next()),
            Ordering::Equal => (self.head.next(), self.stored.next()),
        };
        // The loader reads only samples and sources: the labels move out.
        let labels = match (&mut head, &mut stored) {
            (Some(h), _) => std::mem::take(&mut h.labels),
            (None, Some(s)) => std::mem::take(&mut s.labels),
            // Invariant: at least one side was peeked as present above.
            (None, None) => return None,
        };
        let (head, head_hist) = head.map(|h| (h.samples, h.histograms)).unwrap_or_default();
        let loader = MergeLoader { head, head_hist, stored };
        Some(Ok(SourceSeries { labels, loader: Box::new(loader) }))
    }
}

/// Samples of one series from both tiers.
struct MergeLoader {
    head: Vec<Sample>,
    head_hist: Vec<HistSample>,
    stored: Option<StoredSeries>,
}

impl SampleLoader for MergeLoader {
    /// The files' histograms then the head's (the head wins on equal timestamps).
    fn load_histograms(&mut self, min_t: Timestamp, max_t: Timestamp) -> Result<Vec<HistSample>> {
        let mut out = match &self.stored {
            Some(stored) => stored.hist_samples(min_t, max_t)?,
            None => Vec::new(),
        };
        out.extend(self.head_hist.iter().filter(|s| s.t >= min_t && s.t <= max_t).cloned());
        strata_common::histogram::sort_dedup_hist(&mut out);
        Ok(out)
    }

    fn load(&mut self, min_t: Timestamp, max_t: Timestamp) -> Result<Vec<Sample>> {
        let head = slice_range(&self.head, min_t, max_t);
        let Some(stored) = &self.stored else { return Ok(head.to_vec()) };
        let files = stored.samples(min_t, max_t)?;
        Ok(merge_samples(head, &files))
    }

    /// Decodes the files' samples straight into `out`; the head's are
    /// appended when they all follow the files' (the usual case: the head
    /// holds what was not flushed yet), merged otherwise.
    fn load_into(&mut self, min_t: Timestamp, max_t: Timestamp, out: &mut Vec<Sample>) -> Result<()> {
        let head = slice_range(&self.head, min_t, max_t);
        out.clear();
        let Some(stored) = &self.stored else {
            out.extend_from_slice(head);
            return Ok(());
        };
        stored.samples_into(min_t, max_t, out)?;
        match (out.last(), head.first()) {
            (_, None) => {}
            (None, Some(_)) => out.extend_from_slice(head),
            (Some(last), Some(first)) if last.t < first.t => out.extend_from_slice(head),
            (Some(_), Some(_)) => {
                let files = std::mem::take(out);
                merge_samples_into(head, &files, out);
            }
        }
        Ok(())
    }

    /// The head's samples in range plus the sample counts of the file
    /// chunks overlapping it (chunk index only, nothing decoded): an upper
    /// bound. Unknown when a chunk index cannot be read (the load reports it).
    fn size_hint(&self, min_t: Timestamp, max_t: Timestamp) -> Option<usize> {
        let mut n = slice_range(&self.head, min_t, max_t).len();
        for (file, id) in self.stored.iter().flat_map(|s| &s.sources) {
            n = n.saturating_add(file.overlapping_samples(*id, min_t, max_t).ok()?);
        }
        Some(n)
    }
}

/// Merges two time-sorted sample lists; on equal timestamps `preferred` wins.
pub fn merge_samples(preferred: &[Sample], other: &[Sample]) -> Vec<Sample> {
    let mut out = Vec::with_capacity(preferred.len() + other.len());
    merge_samples_into(preferred, other, &mut out);
    out
}

/// [`merge_samples`], appending to `out`.
pub fn merge_samples_into(preferred: &[Sample], other: &[Sample], out: &mut Vec<Sample>) {
    out.reserve(preferred.len() + other.len());
    let (mut i, mut j) = (0, 0);
    while i < preferred.len() && j < other.len() {
        match preferred[i].t.cmp(&other[j].t) {
            Ordering::Less => {
                out.push(preferred[i]);
                i += 1;
            }
            Ordering::Greater => {
                out.push(other[j]);
                j += 1;
            }
            Ordering::Equal => {
                out.push(preferred[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&preferred[i..]);
    out.extend_from_slice(&other[j..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_prefers_head_on_equal_timestamps() {
        let head = [Sample::new(2, 20.0), Sample::new(4, 40.0)];
        let files = [Sample::new(1, 1.0), Sample::new(2, 2.0), Sample::new(3, 3.0)];
        let m = merge_samples(&head, &files);
        assert_eq!(m, vec![Sample::new(1, 1.0), Sample::new(2, 20.0), Sample::new(3, 3.0), Sample::new(4, 40.0)]);
    }
}
