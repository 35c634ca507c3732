//! One series in the head: labels, float samples in pages, histograms.
use strata_common::histogram::{HistSample, sort_dedup_hist};
use strata_common::{Labels, Sample, Timestamp};

use super::pages::SamplePages;

/// One series. Samples are appended in arrival order; `sorted`
/// stays true while every timestamp is greater than the previous one, which
/// lets reads binary-search. Out-of-order or duplicate timestamps are kept
/// and resolved at read/freeze time (sort, last written wins).
#[derive(Debug)]
pub(crate) struct SeriesColumns {
    pub labels: Labels,
    /// Canonical encoded labels ([`strata_common::record::encode_label_pairs`]):
    /// the memtable's lookup key.
    pub key: Box<[u8]>,
    /// Float samples in arrival order.
    pub floats: SamplePages,
    pub sorted: bool,
    /// Native-histogram samples in arrival order (sorted and deduplicated
    /// at read and freeze time); usually empty.
    pub hist: Vec<HistSample>,
    pub min_t: Timestamp,
    pub max_t: Timestamp,
}

impl SeriesColumns {
    pub fn new(labels: Labels, key: Box<[u8]>) -> Self {
        Self {
            labels,
            key,
            floats: SamplePages::default(),
            sorted: true,
            hist: Vec::new(),
            min_t: Timestamp::MAX,
            max_t: Timestamp::MIN,
        }
    }

    /// Appends one sample; returns the bytes allocated for it.
    #[inline]
    pub fn push(&mut self, s: Sample) -> usize {
        if let Some(last) = self.floats.last_t()
            && s.t <= last
        {
            self.sorted = false;
        }
        self.min_t = self.min_t.min(s.t);
        self.max_t = self.max_t.max(s.t);
        self.floats.push(s)
    }

    /// Appends one histogram sample; returns the bytes it holds.
    pub fn push_hist(&mut self, s: HistSample) -> usize {
        self.min_t = self.min_t.min(s.t);
        self.max_t = self.max_t.max(s.t);
        let bytes = s.h.heap_bytes() + size_of::<HistSample>();
        self.hist.push(s);
        bytes
    }

    /// Whether the series holds any sample, float or histogram.
    pub fn is_empty(&self) -> bool {
        self.floats.is_empty() && self.hist.is_empty()
    }

    /// Histogram samples in `[min_t, max_t]`, sorted, unique timestamps.
    pub fn hist_in(&self, min_t: Timestamp, max_t: Timestamp) -> Vec<HistSample> {
        let mut out: Vec<HistSample> = self.hist.iter().filter(|s| s.t >= min_t && s.t <= max_t).cloned().collect();
        sort_dedup_hist(&mut out);
        out
    }

    /// Sorts by time and drops duplicate timestamps (last written wins).
    pub fn sort_dedup(&mut self) {
        sort_dedup_hist(&mut self.hist);
        if self.sorted {
            return;
        }
        let mut samples = self.floats.all();
        strata_common::sample::sort_dedup_samples(&mut samples);
        self.floats.replace(samples);
        self.sorted = true;
    }

    /// Whether at least one sample lies in `[min_t, max_t]`.
    pub fn has_samples_in(&self, min_t: Timestamp, max_t: Timestamp) -> bool {
        if self.max_t < min_t || self.min_t > max_t || self.is_empty() {
            return false;
        }
        if self.hist.iter().any(|s| s.t >= min_t && s.t <= max_t) {
            return true;
        }
        if self.sorted { self.floats.sorted_any(min_t, max_t) } else { self.floats.any_in(min_t, max_t) }
    }

    /// About how many samples lie in `[min_t, max_t]`: exact while the
    /// columns are sorted, else the time-proportional share of all of them
    /// (an estimate never scans samples).
    pub fn count_in(&self, min_t: Timestamp, max_t: Timestamp) -> u64 {
        if self.max_t < min_t || self.min_t > max_t || self.is_empty() {
            return 0;
        }
        if !self.hist.is_empty() {
            let h = self.hist.iter().filter(|s| s.t >= min_t && s.t <= max_t).count() as u64;
            return h + self.float_count_in(min_t, max_t);
        }
        self.float_count_in(min_t, max_t)
    }

    fn float_count_in(&self, min_t: Timestamp, max_t: Timestamp) -> u64 {
        if self.floats.is_empty() {
            return 0;
        }
        if self.sorted {
            return self.floats.sorted_count(min_t, max_t) as u64;
        }
        crate::estimate::overlap_share(self.floats.len() as u64, (self.min_t, self.max_t), (min_t, max_t))
    }

    /// Samples in `[min_t, max_t]`, sorted, unique timestamps (last written wins).
    pub fn samples_in(&self, min_t: Timestamp, max_t: Timestamp) -> Vec<Sample> {
        if self.max_t < min_t || self.min_t > max_t {
            return Vec::new();
        }
        if self.sorted {
            return self.floats.sorted_range(min_t, max_t);
        }
        let mut out = self.floats.all();
        out.retain(|s| s.t >= min_t && s.t <= max_t);
        strata_common::sample::sort_dedup_samples(&mut out);
        out
    }
}
