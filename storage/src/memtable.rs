//! The memtable: the in-memory head of one ingester shard.
//!
//! Single-threaded and owned by its shard. Per tenant it keeps a series
//! lookup keyed by the canonical encoded label bytes (a fast hash picks the
//! candidates, one `memcmp` confirms), per-series samples in pages (an open
//! one taking appends, sealed ones in a compact exact form: `pages.rs`),
//! and an inverted index (label name → value → roaring bitmap of series ids)
//! that is updated when a series is created. [`TenantAppender`] finds an
//! existing series straight from a log record's label bytes, without
//! decoding them; appending to it allocates only when a page fills.
//!
//! Out-of-order and duplicate timestamps are accepted; reads and
//! [`Memtable::freeze`] sort them and keep, for equal timestamps, the sample
//! written last. [`FrozenMemtable`] is immutable, `Send + Sync`, readable with
//! the same semantics, and is what [`write_files`](crate::write_files) flushes.

mod appender;
mod labels;
mod pages;
mod series;
mod stats;
pub(crate) mod tenant;

use std::collections::{BTreeMap, HashMap};

use strata_common::head::{HeadSeries, SelectEstimate, SelectRequest};
use strata_common::{HistSample, Labels, Sample, TenantId, Timestamp};

pub use self::appender::{SeriesRef, TenantAppender};
use self::pages::SamplePages;
pub use self::stats::HeadStats;
use self::tenant::TenantHead;

/// In-memory, single-threaded head of one shard.
#[derive(Default)]
pub struct Memtable {
    tenants: HashMap<TenantId, TenantHead>,
    samples: u64,
    series: usize,
    bytes: usize,
}

impl std::fmt::Debug for Memtable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memtable")
            .field("tenants", &self.tenants.len())
            .field("series", &self.series)
            .field("samples", &self.samples)
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Memtable {
    /// An empty memtable.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends samples of one series (`labels` sorted by name, validated).
    /// Returns the number of samples appended.
    pub fn append(
        &mut self,
        tenant: &TenantId,
        labels: &[(&str, &str)],
        samples: impl Iterator<Item = Sample>,
    ) -> usize {
        let mut app = self.tenant_appender(tenant);
        let id = app.find_or_create(labels);
        app.append(id, samples)
    }

    /// Estimated heap bytes held: column capacity, labels (stored twice:
    /// series and index) and a fixed per-series overhead.
    pub fn approx_bytes(&self) -> usize {
        self.bytes
    }

    /// Samples appended (duplicates included until freeze resolves them).
    pub fn sample_count(&self) -> u64 {
        self.samples
    }

    /// Number of series across all tenants.
    pub fn series_count(&self) -> usize {
        self.series
    }

    /// Each tenant with its number of series. Series are numbered in
    /// creation order, so a caller that remembers a count can ask
    /// [`Memtable::series_hashes`] for only the series created since.
    pub fn tenant_series_counts(&self) -> impl Iterator<Item = (&TenantId, usize)> {
        self.tenants.iter().map(|(t, h)| (t, h.series.len()))
    }

    /// A 64-bit hash of the labels of each of `tenant`'s series, from the
    /// `from`-th created on: a stable series identity across memtables
    /// (the ingester's active-series tracking).
    pub fn series_hashes(&self, tenant: &TenantId, from: usize) -> impl Iterator<Item = u64> + '_ {
        let series = self.tenants.get(tenant).map_or(&[][..], |h| &h.series[..]);
        series.iter().skip(from).map(|s| TenantHead::key_hash(&s.key))
    }

    /// True if it holds no series and no samples.
    pub fn is_empty(&self) -> bool {
        self.samples == 0 && self.series == 0
    }

    /// Matching series with samples in range, sorted by labels.
    pub fn read(&self, req: &SelectRequest) -> Vec<HeadSeries> {
        self.tenants.get(&req.tenant).map(|h| h.read(req)).unwrap_or_default()
    }

    /// The series [`Memtable::read`] of `req` returns, as ids in its order;
    /// read them a few at a time with [`Memtable::read_ids`].
    pub fn plan(&self, req: &SelectRequest) -> Vec<u32> {
        self.tenants.get(&req.tenant).map(|h| h.plan(req)).unwrap_or_default()
    }

    /// The series `ids` of a [`Memtable::plan`] of `req`, as
    /// [`Memtable::read`] returns them. Series are only ever added to a
    /// memtable, so a plan stays valid while samples arrive (a series that
    /// appears later is not in it).
    pub fn read_ids(&self, req: &SelectRequest, ids: &[u32]) -> Vec<HeadSeries> {
        self.tenants.get(&req.tenant).map(|h| h.read_ids(req, ids)).unwrap_or_default()
    }

    /// What [`Memtable::read`] of `req` would read (sampled past a few hundred series).
    pub fn estimate(&self, req: &SelectRequest) -> SelectEstimate {
        self.tenants.get(&req.tenant).map(|h| h.estimate(req)).unwrap_or_default()
    }

    /// Freezes for flushing; the frozen table stays readable. Sorts every
    /// series and resolves duplicate timestamps (last written wins).
    pub fn freeze(self) -> FrozenMemtable {
        let mut tenants = BTreeMap::new();
        let mut samples = 0u64;
        for (tenant, mut head) in self.tenants {
            if head.series.is_empty() {
                continue; // an appender was opened but nothing was created
            }
            for s in &mut head.series {
                s.sort_dedup();
                samples += (s.floats.len() + s.hist.len()) as u64;
            }
            tenants.insert(tenant, head);
        }
        FrozenMemtable { tenants, samples, bytes: self.bytes }
    }
}

/// An immutable memtable being flushed (`Send + Sync`).
pub struct FrozenMemtable {
    tenants: BTreeMap<TenantId, TenantHead>,
    samples: u64,
    bytes: usize,
}

impl std::fmt::Debug for FrozenMemtable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrozenMemtable").field("tenants", &self.tenants.len()).field("samples", &self.samples).finish()
    }
}

/// One series of a frozen memtable: labels and sorted, unique-time samples.
#[derive(Debug, Clone, Copy)]
pub struct FrozenSeries<'a> {
    /// The series' labels.
    pub labels: &'a Labels,
    floats: Floats<'a>,
    /// Native-histogram samples, strictly increasing timestamps.
    pub histograms: &'a [HistSample],
}

/// Where a frozen series' float samples are.
#[derive(Debug, Clone, Copy)]
enum Floats<'a> {
    /// Columns given by the caller.
    Columns(&'a [Timestamp], &'a [f64]),
    /// A head series' pages.
    Pages(&'a SamplePages),
}

/// Reusable buffers for [`FrozenSeries::floats`].
#[derive(Debug, Default)]
pub struct FloatScratch {
    timestamps: Vec<Timestamp>,
    values: Vec<f64>,
}

impl<'a> FrozenSeries<'a> {
    /// A series of `labels` with float samples at strictly increasing
    /// `timestamps` (one value each) and `histograms`.
    pub fn new(
        labels: &'a Labels,
        timestamps: &'a [Timestamp],
        values: &'a [f64],
        histograms: &'a [HistSample],
    ) -> Self {
        debug_assert_eq!(timestamps.len(), values.len());
        Self { labels, floats: Floats::Columns(timestamps, values), histograms }
    }

    /// Number of float samples.
    pub fn float_count(&self) -> usize {
        match self.floats {
            Floats::Columns(ts, _) => ts.len(),
            Floats::Pages(pages) => pages.len(),
        }
    }

    /// The float samples as timestamp and value columns (gathered into
    /// `scratch` when the series is held in pages).
    pub fn floats<'s>(&'s self, scratch: &'s mut FloatScratch) -> (&'s [Timestamp], &'s [f64]) {
        match self.floats {
            Floats::Columns(ts, vs) => (ts, vs),
            Floats::Pages(pages) => {
                pages.columns_into(&mut scratch.timestamps, &mut scratch.values);
                (&scratch.timestamps, &scratch.values)
            }
        }
    }
}

impl FrozenMemtable {
    /// Serves a head read of the frozen data (empty for an unknown tenant).
    pub fn read(&self, req: &SelectRequest) -> Vec<HeadSeries> {
        self.tenants.get(&req.tenant).map(|h| h.read(req)).unwrap_or_default()
    }

    /// As [`Memtable::plan`].
    pub fn plan(&self, req: &SelectRequest) -> Vec<u32> {
        self.tenants.get(&req.tenant).map(|h| h.plan(req)).unwrap_or_default()
    }

    /// As [`Memtable::read_ids`].
    pub fn read_ids(&self, req: &SelectRequest, ids: &[u32]) -> Vec<HeadSeries> {
        self.tenants.get(&req.tenant).map(|h| h.read_ids(req, ids)).unwrap_or_default()
    }

    /// What [`FrozenMemtable::read`] of `req` would read.
    pub fn estimate(&self, req: &SelectRequest) -> SelectEstimate {
        self.tenants.get(&req.tenant).map(|h| h.estimate(req)).unwrap_or_default()
    }

    /// Tenants with at least one series, sorted.
    pub fn tenants(&self) -> Vec<TenantId> {
        self.tenants.keys().cloned().collect()
    }

    /// Samples held after duplicate timestamps were resolved.
    pub fn sample_count(&self) -> u64 {
        self.samples
    }

    /// Estimated heap bytes (as [`Memtable::approx_bytes`] at freeze time).
    pub fn approx_bytes(&self) -> usize {
        self.bytes
    }

    /// Every series of `tenant` with at least one sample, sorted by labels.
    pub fn series(&self, tenant: &TenantId) -> Vec<FrozenSeries<'_>> {
        let Some(head) = self.tenants.get(tenant) else {
            return Vec::new();
        };
        let mut out: Vec<FrozenSeries<'_>> = head
            .series
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| FrozenSeries { labels: &s.labels, floats: Floats::Pages(&s.floats), histograms: &s.hist })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(b.labels));
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use strata_common::{MatchOp, Matcher};

    fn t(s: &str) -> TenantId {
        TenantId::new(s).unwrap()
    }

    fn req(tenant: &str, matchers: Vec<Matcher>, min_t: i64, max_t: i64) -> SelectRequest {
        SelectRequest { tenant: t(tenant), matchers, min_t, max_t, with_samples: true, steps: None }
    }

    fn samples(v: &[(i64, f64)]) -> Vec<Sample> {
        v.iter().map(|&(t, v)| Sample::new(t, v)).collect()
    }

    #[test]
    fn append_read_sorted_by_labels_and_range() {
        let mut m = Memtable::new();
        let a = t("a");
        assert_eq!(m.append(&a, &[("__name__", "up"), ("job", "z")], samples(&[(1, 1.0), (2, 2.0)]).into_iter()), 2);
        assert_eq!(m.append(&a, &[("__name__", "up"), ("job", "b")], samples(&[(3, 3.0)]).into_iter()), 1);
        m.append(&a, &[("__name__", "up"), ("job", "z")], samples(&[(5, 5.0)]).into_iter());
        m.append(&t("other"), &[("__name__", "up"), ("job", "b")], samples(&[(3, 9.0)]).into_iter());
        assert_eq!(m.series_count(), 3);
        assert_eq!(m.sample_count(), 5);
        assert!(m.approx_bytes() >= 5 * 16 + 3 * 256);

        let got = m.read(&req("a", vec![Matcher::equal("__name__", "up")], 2, 10));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].labels, Labels::from_pairs([("__name__", "up"), ("job", "b")]).unwrap());
        assert_eq!(got[0].samples, samples(&[(3, 3.0)]));
        assert_eq!(got[1].samples, samples(&[(2, 2.0), (5, 5.0)]));

        // Range excludes series without samples in it.
        let got = m.read(&req("a", vec![], 4, 4));
        assert!(got.is_empty());
        let got = m.read(&req("a", vec![], 5, 5));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].labels.get("job"), Some("z"));

        // Labels only.
        let mut r = req("a", vec![Matcher::new(MatchOp::RegexMatch, "job", "b|z").unwrap()], 0, 3);
        r.with_samples = false;
        let got = m.read(&r);
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|s| s.samples.is_empty()));

        // Tenant isolation.
        let got = m.read(&req("other", vec![], 0, 10));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples, samples(&[(3, 9.0)]));
        assert!(m.read(&req("nobody", vec![], 0, 10)).is_empty());
    }

    #[test]
    fn reads_stay_sorted_through_the_rank_cache_and_new_series() {
        let mut m = Memtable::new();
        let a = t("a");
        let job = |i: u64| format!("j{:03}", (i * 37) % 100);
        let add = |m: &mut Memtable, i: u64| {
            let job = job(i);
            m.append(&a, &[("__name__", "up"), ("job", job.as_str())], samples(&[(1, i as f64)]).into_iter());
        };
        for i in 0..60 {
            add(&mut m, i);
        }
        let jobs = |m: &Memtable, matchers: Vec<Matcher>| -> Vec<String> {
            m.read(&req("a", matchers, 0, 10)).iter().map(|s| s.labels.get("job").unwrap().to_string()).collect()
        };
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        let want: Vec<String> = sorted((0..60).map(job).collect());
        assert_eq!(jobs(&m, vec![]), want, "all series: the ranks are built");
        let few = vec![Matcher::new(MatchOp::RegexMatch, "job", "j00.").unwrap()];
        let want_few: Vec<String> = want.iter().filter(|j| j.starts_with("j00")).cloned().collect();
        assert_eq!(jobs(&m, few.clone()), want_few, "a few series, through the built ranks");
        for i in 60..100 {
            add(&mut m, i);
        }
        let want: Vec<String> = sorted((0..100).map(job).collect());
        let want_few: Vec<String> = want.iter().filter(|j| j.starts_with("j00")).cloned().collect();
        assert_eq!(jobs(&m, few), want_few, "a few series after new ones: compared directly");
        assert_eq!(jobs(&m, vec![]), want, "all series: the ranks are rebuilt");
    }

    #[test]
    fn out_of_order_and_duplicates_last_write_wins() {
        let mut m = Memtable::new();
        let a = t("a");
        let l = [("__name__", "x")];
        m.append(&a, &l, samples(&[(10, 1.0), (5, 2.0), (10, 3.0), (7, 4.0)]).into_iter());
        m.append(&a, &l, samples(&[(5, 6.0)]).into_iter());
        let want = samples(&[(5, 6.0), (7, 4.0), (10, 3.0)]);
        assert_eq!(m.read(&req("a", vec![], 0, 100))[0].samples, want);
        assert_eq!(m.read(&req("a", vec![], 6, 9))[0].samples, samples(&[(7, 4.0)]));
        let f = m.freeze();
        assert_eq!(f.sample_count(), 3);
        assert_eq!(f.read(&req("a", vec![], 0, 100))[0].samples, want);
        let series = f.series(&a);
        assert_eq!(series.len(), 1);
        let mut scratch = FloatScratch::default();
        assert_eq!(series[0].floats(&mut scratch), (&[5, 7, 10][..], &[6.0, 4.0, 3.0][..]));
        assert_eq!(series[0].float_count(), 3);
        assert_eq!(f.tenants(), vec![a]);
    }

    #[test]
    fn a_long_in_order_series_freezes_from_its_pages() {
        let mut m = Memtable::new();
        let a = t("a");
        let want: Vec<Sample> = (0..1000).map(|i| Sample::new(i * 10, i as f64 / 7.0)).collect();
        for chunk in want.chunks(33) {
            m.append(&a, &[("__name__", "x")], chunk.iter().copied());
        }
        assert_eq!(m.read(&req("a", vec![], 0, 10_000))[0].samples, want);
        assert_eq!(m.read(&req("a", vec![], 1275, 1635))[0].samples, want[128..=163]);
        let f = m.freeze();
        let series = f.series(&a);
        let mut scratch = FloatScratch::default();
        let (ts, vs) = series[0].floats(&mut scratch);
        assert_eq!(ts, want.iter().map(|s| s.t).collect::<Vec<_>>());
        assert_eq!(vs, want.iter().map(|s| s.v).collect::<Vec<_>>());
        assert_eq!(series[0].float_count(), 1000);
    }

    #[test]
    fn hash_collisions_are_resolved_by_labels() {
        // Force two label sets under one hash by driving TenantHead directly.
        let mut head = TenantHead::default();
        let (id1, _) = head.series_id_hashed(42, &[("a", "1")]);
        let (id2, _) = head.series_id_hashed(42, &[("a", "2")]);
        let (id3, _) = head.series_id_hashed(42, &[("a", "3")]);
        assert_eq!((id1, id2, id3), (0, 1, 2));
        // Re-lookup under the shared hash returns the right ids.
        assert_eq!(head.series_id_hashed(42, &[("a", "2")]).0, id2);
        assert_eq!(head.series_id_hashed(42, &[("a", "1")]).0, id1);
        assert_eq!(head.series_id_hashed(42, &[("a", "3")]).0, id3);
        assert_eq!(head.series.len(), 3);
        let got = head.select(&[Matcher::equal("a", "2")]);
        assert_eq!(got.iter().collect::<Vec<_>>(), vec![id2]);
    }

    #[test]
    fn approx_bytes_tracks_real_usage() {
        let mut m = Memtable::new();
        let a = t("a");
        for i in 0..1000 {
            let inst = format!("host-{i}");
            let l = [("__name__", "node_cpu_seconds_total"), ("instance", inst.as_str()), ("mode", "idle")];
            m.append(&a, &l, (0..100).map(|k| Sample::new(k * 10_000, k as f64)));
        }
        // Sample columns alone: 1000 series x 100 samples x 16 bytes = 1.6 MB;
        // capacity growth can at most double it, labels and index add ~0.3 MB.
        let raw = 1000 * 100 * 16;
        let est = m.approx_bytes();
        assert!(est >= raw && est <= 2 * raw + 1000 * 400, "estimate {est} for {raw} bytes of samples");
        let f = m.freeze();
        assert_eq!(f.approx_bytes(), est);
        assert_eq!(f.sample_count(), 100_000);
    }

    #[test]
    fn frozen_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<FrozenMemtable>();
    }
}
