//! One push, validated and encoded: which series and samples are kept,
//! which are refused (a partial write), and the log records per partition.
//!
//! ```text
//!  every series ─ names (scheme) · label limits ──▶ refused whole (reason per rule)
//!               ─ invalid native histogram ──────▶ the series' histograms refused, floats kept
//!               ─ samples outside the time window ▶ those samples refused, the rest kept
//!                 (float and native-histogram samples alike)
//!  kept samples ─ ingestion rate ─────────────────▶ 429, nothing written
//!  kept series  ─ active-series limits ───────────▶ 400, nothing written
//!               ─ partition, encode records
//! ```
//!
//! A push with refusals still appends what was kept, then answers 400
//! naming the first refusal and the counts ([`PushError::PartialWrite`]), as
//! Prometheus and Mimir do: one bad series never loses its neighbours.

use std::time::Instant;

use bytes::Bytes;
use strata_common::exemplar::Exemplar;
use strata_common::histogram::HistSample;
use strata_common::labels::{METRIC_NAME, Partitioner};
use strata_common::metadata::{MetricMetadata, metric_type_name};
use strata_common::record::RecordBuilder;
use strata_common::{Labels, Sample, TenantId};

use super::decode::{FlatRequest, FlatSeries};
use super::error::PushError;
use super::limits::{self, LimitsRegistry};
use super::{Distributor, MAX_RECORD_BYTES, PushStats, histograms, validate};

/// Encoded records ready to append (index = partition id), and what the
/// request had refused.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) tenant: TenantId,
    pub(crate) payloads: Vec<Vec<Bytes>>,
    pub(crate) stats: PushStats,
    /// [`PushError::PartialWrite`] when anything was refused.
    pub(crate) refused: Option<PushError>,
    /// Metadata (family, entry) in the records, noted as written once
    /// the append succeeded (see `metadata_seen`).
    pub(crate) metadata: Vec<(String, MetricMetadata)>,
}

/// Which samples of a series are written.
#[derive(Debug, Clone, Copy)]
enum Kept {
    /// None (refused, or no float samples).
    Nothing,
    /// All of them.
    All,
    /// Those copied to `filtered[start..end]`.
    Filtered(u32, u32),
}

/// The refusals of one request.
#[derive(Debug, Default)]
struct Refusals {
    first: Option<PushError>,
    samples: u64,
    histograms: u64,
    exemplars: u64,
    series: u64,
}

impl Refusals {
    fn note(&mut self, e: PushError) {
        self.first.get_or_insert(e);
    }

    fn into_error(self, stats: &PushStats) -> Option<PushError> {
        let first = self.first?;
        Some(PushError::PartialWrite {
            first: Box::new(first),
            rejected_samples: self.samples,
            rejected_histograms: self.histograms,
            rejected_exemplars: self.exemplars,
            rejected_series: self.series,
            written_samples: stats.samples,
            written_series: stats.series,
        })
    }
}

impl Distributor {
    /// Counts `n` samples refused for `reason`.
    pub(crate) fn count_refused(&self, reason: &'static str, n: u64) {
        if n > 0 {
            self.metrics.rejected.get_or_create(&[("reason", reason)]).inc_by(n);
        }
    }

    /// Validates every series, keeps what is valid, then groups the kept
    /// series by partition and encodes the records: `payloads[partition]`.
    /// An error means nothing is to be appended.
    pub(crate) fn prepare(&self, tenant: &TenantId, req: &FlatRequest<'_>) -> Result<Prepared, PushError> {
        let tenant_limits = self.limits.tenant(tenant);
        let limits = tenant_limits.limits;
        let scheme = self.config.name_validation_scheme;
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let (min_t, max_t) = self.config.accepted_times(now);
        let check_times = (min_t, max_t) != (i64::MIN, i64::MAX);

        let mut refusals = Refusals::default();
        let mut filtered: Vec<Sample> = Vec::new();
        let mut kept: Vec<Kept> = Vec::with_capacity(req.series.len());
        let mut hists: Vec<Vec<HistSample>> = Vec::with_capacity(req.series.len());
        let mut refused_whole: Vec<bool> = Vec::with_capacity(req.series.len());
        for s in &req.series {
            let (k, h, whole) =
                self.keep(req, s, &limits, scheme, (check_times, min_t, max_t), &mut refusals, &mut filtered);
            kept.push(k);
            hists.push(h);
            refused_whole.push(whole);
        }
        let samples_of = |s: &FlatSeries, k: Kept| -> &[Sample] {
            match k {
                Kept::Nothing => &[],
                Kept::All => req.samples(s),
                Kept::Filtered(a, b) => &filtered[a as usize..b as usize],
            }
        };
        let written = || {
            let floats = req.series.iter().zip(&kept).map(|(s, &k)| samples_of(s, k).len() as u64).sum::<u64>();
            floats + hists.iter().map(|h| h.len() as u64).sum::<u64>()
        };

        if limits.ingestion_rate > 0 {
            let n = written();
            if n > 0 && !tenant_limits.bucket.lock().try_take(n, Instant::now()) {
                let e = PushError::RateLimited {
                    tenant: tenant.to_string(),
                    rate: limits.ingestion_rate,
                    burst: limits.burst() as u64,
                    samples: n,
                };
                self.count_refused("rate_limited", n);
                return Err(e);
            }
        }
        // Each kept series' hash of (tenant, labels): its partition, and its
        // identity for the active-series limits (computed once for both).
        let mut partitioner = Partitioner::new();
        let mut scratch: Vec<(&str, &str)> = Vec::new();
        let mut hashes: Vec<(u64, &str)> = Vec::with_capacity(req.series.len());
        for ((s, &k), h) in req.series.iter().zip(&kept).zip(&hists) {
            if samples_of(s, k).is_empty() && h.is_empty() {
                continue;
            }
            let labels = validate::without_empty_values(req.labels(s), &mut scratch);
            hashes.push((partitioner.hash(tenant, labels.iter().copied()), metric_of(req.labels(s))));
        }
        if LimitsRegistry::tracks_series(&limits) {
            let mut tracker = tenant_limits.series.lock();
            if let Err(e) = self.admit_series(tenant, &hashes, &limits, &mut tracker) {
                self.count_refused(e.0, written());
                return Err(e.1);
            }
        }
        let partitions = self.log.partition_count();
        let mut builders: Vec<Option<RecordBuilder>> = (0..partitions).map(|_| None).collect();
        let mut payloads: Vec<Vec<Bytes>> = vec![Vec::new(); partitions as usize];
        let mut stats = PushStats::default();
        // Exemplars travel with their series (also a series that has only
        // exemplars: Prometheus sends them in series of their own); none
        // when the tenant keeps none.
        let exemplars_on = limits.max_exemplars > 0 && limits.max_exemplars_per_series > 0;
        let exemplars_of = |s: &FlatSeries| -> Vec<Exemplar> {
            req.exemplars(s)
                .iter()
                .filter_map(|e| {
                    let labels = Labels::from_pairs(req.exemplar_labels(e).iter().copied()).ok()?;
                    Some(Exemplar { labels, value: e.value, t: e.t })
                })
                .collect()
        };
        let mut hashes = hashes.into_iter();
        for (((s, &k), h), &whole) in req.series.iter().zip(&kept).zip(&hists).zip(&refused_whole) {
            let samples = samples_of(s, k);
            let held = req.exemplars(s).len() as u64;
            if held > 0 && !whole && !exemplars_on {
                self.count_refused("exemplars_disabled", held);
            }
            let ex = if held > 0 && !whole && exemplars_on { exemplars_of(s) } else { Vec::new() };
            if samples.is_empty() && h.is_empty() && ex.is_empty() {
                continue;
            }
            let labels = validate::without_empty_values(req.labels(s), &mut scratch);
            let hash = if samples.is_empty() && h.is_empty() {
                partitioner.hash(tenant, labels.iter().copied()) // exemplars only: not in `hashes`
            } else {
                // One hash per kept series with samples, pushed in this same order above.
                hashes.next().map_or(0, |h| h.0)
            };
            let p = Partitioner::reduce(hash, partitions) as usize;
            let b = builders[p].get_or_insert_with(|| RecordBuilder::with_version(tenant, self.config.record_version));
            if !samples.is_empty() {
                b.push_series(labels.iter().copied(), samples);
            }
            if !h.is_empty() {
                b.push_histogram_series(labels.iter().copied(), h);
            }
            if !ex.is_empty() {
                b.push_exemplars(labels.iter().copied(), &ex);
                stats.exemplars += ex.len() as u64;
            }
            if !samples.is_empty() || !h.is_empty() {
                stats.series += 1;
            }
            stats.samples += samples.len() as u64;
            stats.histograms += h.len() as u64;
            if b.byte_len() >= MAX_RECORD_BYTES
                && let Some(full) = builders[p].take()
            {
                let record = full.finish();
                stats.bytes += record.len() as u64;
                stats.records += 1;
                payloads[p].push(Bytes::from(record));
            }
        }
        // Metadata belongs to a metric family: its entries go to the
        // partition of `{__name__=<family>}`, at most once per request and
        // not again while this distributor wrote them recently.
        let now = Instant::now();
        let mut metadata: Vec<(String, MetricMetadata)> = Vec::new();
        let mut in_request = std::collections::HashSet::new();
        for m in req.metadata.iter().filter(|m| !m.family.is_empty()) {
            // 2.0 repeats a family's metadata with every series of it.
            if !in_request.insert((m.family, metric_type_name(m.kind), m.help, m.unit)) {
                continue;
            }
            let entry =
                MetricMetadata { kind: metric_type_name(m.kind), help: m.help.to_string(), unit: m.unit.to_string() };
            if self.metadata_seen.is_fresh(tenant, m.family, &entry, now) {
                continue;
            }
            let hash = partitioner.hash(tenant, [(METRIC_NAME, m.family)]);
            let p = Partitioner::reduce(hash, partitions) as usize;
            let b = builders[p].get_or_insert_with(|| RecordBuilder::with_version(tenant, self.config.record_version));
            b.push_metadata(m.family, &entry);
            metadata.push((m.family.to_string(), entry));
        }
        for (p, b) in builders.into_iter().enumerate() {
            if let Some(b) = b {
                let record = b.finish();
                stats.bytes += record.len() as u64;
                stats.records += 1;
                payloads[p].push(Bytes::from(record));
            }
        }
        stats.partitions = payloads.iter().filter(|p| !p.is_empty()).count() as u32;
        let refused = refusals.into_error(&stats);
        Ok(Prepared { tenant: tenant.clone(), payloads, stats, refused, metadata })
    }

    /// What of series `s` is written (its float samples, and its native
    /// histograms decoded), and whether it was refused whole; refusals are
    /// counted and noted.
    #[allow(clippy::too_many_arguments)]
    fn keep(
        &self,
        req: &FlatRequest<'_>,
        s: &FlatSeries,
        limits: &limits::Limits,
        scheme: validate::NameValidationScheme,
        (check_times, min_t, max_t): (bool, i64, i64),
        refusals: &mut Refusals,
        filtered: &mut Vec<Sample>,
    ) -> (Kept, Vec<HistSample>, bool) {
        let labels = req.labels(s);
        let samples = req.samples(s);
        let n_hist = req.histograms(s).len() as u64;
        if let Some((reason, e)) = series_refusal(req, s, scheme, limits) {
            self.count_refused(reason, samples.len() as u64 + n_hist);
            refusals.samples += samples.len() as u64;
            refusals.histograms += n_hist;
            refusals.exemplars += req.exemplars(s).len() as u64;
            refusals.series += 1;
            refusals.note(e);
            return (Kept::Nothing, Vec::new(), true);
        }
        let mut refused_any = false;
        let mut hists = match histograms::decode_series(labels, req.histograms(s)) {
            Ok(h) => h,
            Err(e) => {
                self.count_refused("invalid_histogram", n_hist);
                refusals.histograms += n_hist;
                refusals.note(e);
                refused_any = true;
                Vec::new()
            }
        };
        // The time window applies to native histograms as to floats.
        if check_times
            && !hists.is_empty()
            && let Some((old, new, e)) = validate::check_times(labels, hists.iter().map(|h| h.t), min_t, max_t)
        {
            self.count_refused("too_old", old);
            self.count_refused("too_far_in_future", new);
            refusals.histograms += old + new;
            refusals.note(e);
            refused_any = true;
            hists.retain(|h| (min_t..=max_t).contains(&h.t));
        }
        let mut kept = if samples.is_empty() { Kept::Nothing } else { Kept::All };
        if check_times && let Some((old, new, e)) = validate::check_sample_times(labels, samples, min_t, max_t) {
            self.count_refused("too_old", old);
            self.count_refused("too_far_in_future", new);
            refusals.samples += old + new;
            refusals.note(e);
            refused_any = true;
            let start = filtered.len() as u32;
            filtered.extend(samples.iter().filter(|x| (min_t..=max_t).contains(&x.t)));
            kept = Kept::Filtered(start, filtered.len() as u32);
        }
        if refused_any {
            refusals.series += 1;
        }
        (kept, hists, false)
    }

    /// Checks the kept series (hash, metric name) against the active-series
    /// limits and records them as active (all or nothing).
    fn admit_series(
        &self,
        tenant: &TenantId,
        series: &[(u64, &str)],
        limits: &limits::Limits,
        tracker: &mut limits::SeriesTracker,
    ) -> Result<(), validate::Refusal> {
        let (max, per_metric) = (limits.max_active_series, limits.max_active_series_per_metric);
        match tracker.admit(series, max, per_metric, Instant::now(), self.limits.idle()) {
            Ok(()) => Ok(()),
            Err(limits::SeriesRefusal::Tenant { active, new }) => {
                let e = PushError::SeriesLimit {
                    tenant: tenant.to_string(),
                    limit: "max_active_series",
                    value: max,
                    scope: format!("the tenant has {active} active series and the request adds {new}"),
                };
                Err(("max_active_series", e))
            }
            Err(limits::SeriesRefusal::Metric { metric, active }) => {
                let e = PushError::SeriesLimit {
                    tenant: tenant.to_string(),
                    limit: "max_active_series_per_metric",
                    value: per_metric,
                    scope: format!("metric {} has {active} active series", validate::quote_cut(&metric)),
                };
                Err(("max_active_series_per_metric", e))
            }
        }
    }
}

/// Why series `s` is refused whole, if it is: unresolvable symbols (2.0),
/// invalid names, label limits.
fn series_refusal(
    req: &FlatRequest<'_>,
    s: &FlatSeries,
    scheme: validate::NameValidationScheme,
    limits: &limits::Limits,
) -> Option<validate::Refusal> {
    let labels = req.labels(s);
    if let Some(reason) = s.invalid_refs {
        return Some((
            "invalid_symbol_refs",
            PushError::InvalidSymbols { series: validate::format_series(labels), reason },
        ));
    }
    validate::validate_series(labels, scheme).err().or_else(|| validate::check_label_limits(labels, limits).err())
}

/// The metric name of a series' labels ("" without one).
fn metric_of<'a>(labels: &[(&'a str, &'a str)]) -> &'a str {
    labels.iter().find(|(n, _)| *n == METRIC_NAME).map_or("", |(_, v)| *v)
}
