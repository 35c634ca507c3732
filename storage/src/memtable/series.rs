//! One series' columns in the head: timestamps and values, append-optimised.
use strata_common::histogram::{HistSample, sort_dedup_hist};
use strata_common::{Labels, Sample, Timestamp};

/// Columns of one series. Samples are appended in arrival order; `sorted`
/// stays true while every timestamp is greater than the previous one, which
/// lets reads binary-search. Out-of-order or duplicate timestamps are kept
/// and resolved at read/freeze time (sort, last written wins).
#[derive(Debug)]
pub(crate) struct SeriesColumns {
    pub labels: Labels,
    /// Canonical encoded labels ([`strata_common::record::encode_label_pairs`]):
    /// the memtable's lookup key.
    pub key: Box<[u8]>,
    pub ts: Vec<Timestamp>,
    pub vs: Vec<f64>,
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
            ts: Vec::new(),
            vs: Vec::new(),
            sorted: true,
            hist: Vec::new(),
            min_t: Timestamp::MAX,
            max_t: Timestamp::MIN,
        }
    }

    /// Appends one sample; returns the growth of the columns' capacity in bytes.
    #[inline]
    pub fn push(&mut self, s: Sample) -> usize {
        if let Some(&last) = self.ts.last()
            && s.t <= last
        {
            self.sorted = false;
        }
        let before = self.ts.capacity();
        self.ts.push(s.t);
        self.vs.push(s.v);
        self.min_t = self.min_t.min(s.t);
        self.max_t = self.max_t.max(s.t);
        // `vs` grows in lock-step with `ts` (same pushes, same growth policy).
        (self.ts.capacity() - before) * (size_of::<Timestamp>() + size_of::<f64>())
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
        self.ts.is_empty() && self.hist.is_empty()
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
        let mut samples = self.samples_unsorted();
        strata_common::sample::sort_dedup_samples(&mut samples);
        self.ts = samples.iter().map(|s| s.t).collect();
        self.vs = samples.iter().map(|s| s.v).collect();
        self.sorted = true;
    }

    fn samples_unsorted(&self) -> Vec<Sample> {
        self.ts.iter().zip(&self.vs).map(|(&t, &v)| Sample::new(t, v)).collect()
    }

    /// Whether at least one sample lies in `[min_t, max_t]`.
    pub fn has_samples_in(&self, min_t: Timestamp, max_t: Timestamp) -> bool {
        if self.max_t < min_t || self.min_t > max_t || self.is_empty() {
            return false;
        }
        if self.hist.iter().any(|s| s.t >= min_t && s.t <= max_t) {
            return true;
        }
        if self.sorted {
            let i = self.ts.partition_point(|&t| t < min_t);
            self.ts.get(i).is_some_and(|&t| t <= max_t)
        } else {
            self.ts.iter().any(|&t| t >= min_t && t <= max_t)
        }
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
        if self.ts.is_empty() {
            return 0;
        }
        if self.sorted {
            let lo = self.ts.partition_point(|&t| t < min_t);
            let hi = self.ts.partition_point(|&t| t <= max_t);
            return hi.saturating_sub(lo) as u64;
        }
        crate::estimate::overlap_share(self.ts.len() as u64, (self.min_t, self.max_t), (min_t, max_t))
    }

    /// Samples in `[min_t, max_t]`, sorted, unique timestamps (last written wins).
    pub fn samples_in(&self, min_t: Timestamp, max_t: Timestamp) -> Vec<Sample> {
        if self.max_t < min_t || self.min_t > max_t {
            return Vec::new();
        }
        if self.sorted {
            let lo = self.ts.partition_point(|&t| t < min_t);
            let hi = self.ts.partition_point(|&t| t <= max_t);
            return self.ts[lo..hi].iter().zip(&self.vs[lo..hi]).map(|(&t, &v)| Sample::new(t, v)).collect();
        }
        let mut out: Vec<Sample> = self
            .ts
            .iter()
            .zip(&self.vs)
            .filter(|(t, _)| **t >= min_t && **t <= max_t)
            .map(|(&t, &v)| Sample::new(t, v))
            .collect();
        strata_common::sample::sort_dedup_samples(&mut out);
        out
    }
}
