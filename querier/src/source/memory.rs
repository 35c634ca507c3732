//! [`MemorySource`]: series held in memory, per tenant. Used by unit tests,
//! the HTTP API tests and the promqltest harness.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use futures::future::BoxFuture;
use strata_common::histogram::sort_dedup_hist;
use strata_common::matcher::matches_all;
use strata_common::sample::sort_dedup_samples;
use strata_common::select::{SelectEstimate, SelectRequest};
use strata_common::{HistSample, Labels, Sample, TenantId, Timestamp};

use super::{SampleLoader, SelectStats, SeriesIter, SeriesSource, SourceSeries, slice_range};
use crate::error::{Error, Result};

/// One series: float samples and native-histogram samples.
#[derive(Debug, Default, Clone)]
struct MemSeries {
    samples: Arc<Vec<Sample>>,
    hists: Arc<Vec<HistSample>>,
}

impl MemSeries {
    fn any_in(&self, min_t: Timestamp, max_t: Timestamp) -> bool {
        !slice_range(&self.samples, min_t, max_t).is_empty() || self.hists.iter().any(|h| h.t >= min_t && h.t <= max_t)
    }
}

type TenantData = BTreeMap<Labels, MemSeries>;

/// Loads one in-memory series (floats as [`VecLoader`], plus histograms).
#[derive(Debug)]
struct MemLoader(MemSeries);

impl SampleLoader for MemLoader {
    fn load(&mut self, min_t: Timestamp, max_t: Timestamp) -> Result<Vec<Sample>> {
        Ok(slice_range(&self.0.samples, min_t, max_t).to_vec())
    }

    fn load_into(&mut self, min_t: Timestamp, max_t: Timestamp, out: &mut Vec<Sample>) -> Result<()> {
        out.clear();
        out.extend_from_slice(slice_range(&self.0.samples, min_t, max_t));
        Ok(())
    }

    fn load_histograms(&mut self, min_t: Timestamp, max_t: Timestamp) -> Result<Vec<HistSample>> {
        Ok(self.0.hists.iter().filter(|h| h.t >= min_t && h.t <= max_t).cloned().collect())
    }

    /// Exact.
    fn size_hint(&self, min_t: Timestamp, max_t: Timestamp) -> Option<usize> {
        Some(slice_range(&self.0.samples, min_t, max_t).len())
    }
}

/// An in-memory [`SeriesSource`].
#[derive(Debug, Default)]
pub struct MemorySource {
    data: RwLock<BTreeMap<TenantId, TenantData>>,
}

impl MemorySource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds samples to a series (newer writes win on equal timestamps).
    pub fn append(&self, tenant: &TenantId, labels: Labels, samples: &[Sample]) -> Result<()> {
        let mut data = self.data.write().map_err(|_| Error::Internal("memory source lock poisoned".into()))?;
        let series = data.entry(tenant.clone()).or_default().entry(labels).or_default();
        let mut merged = series.samples.as_ref().clone();
        merged.extend_from_slice(samples);
        sort_dedup_samples(&mut merged);
        series.samples = Arc::new(merged);
        Ok(())
    }

    /// Adds native-histogram samples to a series (newer writes win on
    /// equal timestamps).
    pub fn append_histograms(&self, tenant: &TenantId, labels: Labels, hists: &[HistSample]) -> Result<()> {
        let mut data = self.data.write().map_err(|_| Error::Internal("memory source lock poisoned".into()))?;
        let series = data.entry(tenant.clone()).or_default().entry(labels).or_default();
        let mut merged = series.hists.as_ref().clone();
        merged.extend_from_slice(hists);
        sort_dedup_hist(&mut merged);
        series.hists = Arc::new(merged);
        Ok(())
    }

    /// Removes every series of every tenant.
    pub fn clear(&self) -> Result<()> {
        let mut data = self.data.write().map_err(|_| Error::Internal("memory source lock poisoned".into()))?;
        data.clear();
        Ok(())
    }

    fn matching(&self, req: &SelectRequest) -> Result<Vec<(Labels, MemSeries)>> {
        let data = self.data.read().map_err(|_| Error::Internal("memory source lock poisoned".into()))?;
        let Some(series) = data.get(&req.tenant) else { return Ok(Vec::new()) };
        Ok(series
            .iter()
            .filter(|(l, s)| matches_all(&req.matchers, l) && s.any_in(req.min_t, req.max_t))
            .map(|(l, s)| (l.clone(), s.clone()))
            .collect())
    }
}

impl SeriesSource for MemorySource {
    fn select_with_stats<'a>(&'a self, req: &'a SelectRequest) -> BoxFuture<'a, Result<(SeriesIter, SelectStats)>> {
        Box::pin(async move {
            let found = self.matching(req)?;
            // In memory, like a head.
            let stats = SelectStats { head_series: found.len() as u64, ..Default::default() };
            let iter = found
                .into_iter()
                .map(|(labels, series)| Ok(SourceSeries { labels, loader: Box::new(MemLoader(series)) }));
            Ok((Box::new(iter) as SeriesIter, stats))
        })
    }

    fn series_labels<'a>(&'a self, req: &'a SelectRequest) -> BoxFuture<'a, Result<Vec<Labels>>> {
        Box::pin(async move { Ok(self.matching(req)?.into_iter().map(|(l, _)| l).collect()) })
    }

    /// A hash of every sample `req` selects (exact: the samples are at hand).
    fn version<'a>(&'a self, req: &'a SelectRequest) -> BoxFuture<'a, Result<Option<u64>>> {
        Box::pin(async move {
            let mut h = xxhash_rust::xxh64::Xxh64::new(0);
            for (labels, series) in self.matching(req)? {
                h.update(&labels.hash64().to_le_bytes());
                for s in slice_range(&series.samples, req.min_t, req.max_t) {
                    h.update(&s.t.to_le_bytes());
                    h.update(&s.v.to_bits().to_le_bytes());
                }
                for s in series.hists.iter().filter(|h| h.t >= req.min_t && h.t <= req.max_t) {
                    let mut bytes = Vec::new();
                    strata_common::histogram::codec::encode(&s.h, &mut bytes);
                    h.update(&s.t.to_le_bytes());
                    h.update(&bytes);
                }
            }
            Ok(Some(h.digest()))
        })
    }

    /// Exact: the samples are at hand.
    fn estimate<'a>(&'a self, req: &'a SelectRequest) -> BoxFuture<'a, Result<SelectEstimate>> {
        Box::pin(async move {
            let found = self.matching(req)?;
            let samples: u64 =
                found.iter().map(|(_, s)| slice_range(&s.samples, req.min_t, req.max_t).len() as u64).sum();
            Ok(SelectEstimate { series: found.len() as u64, samples, bytes: samples * 16, files: 0 })
        })
    }
}
