//! # strata-distributor
//!
//! The push endpoint (distributor): Prometheus remote write 1.0 into the
//! [`Log`]. Stateless: it touches no ingester shard; ingesters read what it
//! appended from the log (`strata-ingester`).
//!
//! ```text
//! POST /api/v1/push | /api/v1/write      (snappy block format of prometheus.WriteRequest)
//!   headers: Content-Type (415), Content-Encoding (415), X-Scope-OrgID (400/401)
//!   body ≤ max_request_bytes (413) ─ snappy header ≤ max_decompressed_bytes (413)
//!   ─ prost decode (400) ─ validate every series (400, nothing appended)
//!   ─ sample times within [now - out_of_order_window, now + max_future] (400)
//!   ─ partition_for(tenant, labels, P) ─ RecordBuilder per partition (≤ ~1 MiB records once expanded)
//!   ─ Log::append on every partition concurrently ─ 204 once all are durable
//!                                                   503 on a log error or timeout
//! ```
//!
//! Guarantees: a 204 means every sample of the request is durable in the log;
//! a 4xx means nothing was appended; a 5xx means some records may have been
//! appended and the sender retries (ingesters tolerate the duplicates). Label
//! pairs with an empty value are dropped, series without samples are skipped.
//!
//! The hot path copies no label: a zero-copy decoder (`decode`) borrows
//! every label from the decompressed body into flat vectors; validation,
//! partitioning and record encoding work on those borrows. [`Distributor::push`]
//! takes `prost` structs (for tests and benchmarks) and borrows them the same way.
//!
//! Errors: [`PushError`] (in `error.rs`) and its HTTP status.

#![warn(missing_docs)]

mod decode;
mod error;
mod histograms;
mod http;
pub mod limits;
mod metrics;
pub mod proto;
mod validate;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use strata_common::TenantId;
use strata_common::histogram::HistSample;
use strata_common::labels::Partitioner;
use strata_common::record::{RECORD_VERSION, RECORD_VERSION_V2, RecordBuilder};
use strata_log::Log;

use self::decode::FlatRequest;
pub use self::decode::ProtoDecodeError;
pub use self::error::PushError;
pub use self::http::router;
use self::limits::{LimitsConfig, LimitsRegistry, SeriesTracker};
use self::metrics::Metrics;
use self::proto::WriteRequest;

/// A record is closed once it reaches this size; the next series of the
/// partition starts a new record (a single larger series stays whole).
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// Configuration of the push endpoint (`[distributor]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistributorConfig {
    /// Largest accepted request body, compressed, in bytes; larger → 413.
    pub max_request_bytes: usize,
    /// Largest accepted decompressed body in bytes, read from the snappy
    /// header before anything is allocated; larger → 413.
    pub max_decompressed_bytes: usize,
    /// Require `X-Scope-OrgID` on every push (401 without it). When off, a
    /// request without it belongs to the default tenant (`anonymous`).
    pub multitenancy_enabled: bool,
    /// How long a push waits for the log to acknowledge, in milliseconds; → 503.
    pub append_timeout_ms: u64,
    /// Out-of-order window in milliseconds: a sample older than the
    /// distributor's wall clock minus this is refused (400 naming the
    /// series, counted in `distributor_samples_rejected{reason="too_old"}`).
    /// Anything younger is accepted, in any order, and merged by the
    /// ingesters (newest write wins on equal timestamps). Distributors are
    /// stateless, so the rule uses the wall clock, not a per-series
    /// high-water mark. 0 = no limit (the default, for backfills).
    pub out_of_order_window_ms: u64,
    /// Samples more than this many milliseconds ahead of the wall clock are
    /// refused (400, `reason="too_far_in_future"`). 0 = no limit. The
    /// default, 10 minutes, refuses clocks gone wrong and seconds sent as
    /// milliseconds, which would otherwise scatter data far into the future.
    pub max_future_ms: u64,
    /// Per-tenant limits (`[distributor.limits]`, see [`limits`]).
    pub limits: LimitsConfig,
    /// Log record version written: 3 (the default: shared label pairs) or 2
    /// (LZ4 blocks, for ingesters of a cluster that do not read version 3
    /// yet; see `common/docs/format/log-record.md`).
    pub record_version: u8,
}

impl Default for DistributorConfig {
    fn default() -> Self {
        Self {
            max_request_bytes: 10 << 20,
            max_decompressed_bytes: 64 << 20,
            multitenancy_enabled: false,
            append_timeout_ms: 10_000,
            out_of_order_window_ms: 0,
            max_future_ms: 10 * 60_000,
            limits: LimitsConfig::default(),
            record_version: strata_common::record::RECORD_VERSION,
        }
    }
}

impl DistributorConfig {
    /// Checks the values, naming the first bad field.
    pub fn validate(&self) -> strata_common::Result<()> {
        let bad = |m: String| Err(strata_common::Error::InvalidConfig(m));
        if self.max_request_bytes == 0 {
            return bad("distributor.max_request_bytes must be positive".into());
        }
        if self.max_decompressed_bytes < self.max_request_bytes {
            return bad(format!(
                "distributor.max_decompressed_bytes ({}) must be at least max_request_bytes ({})",
                self.max_decompressed_bytes, self.max_request_bytes
            ));
        }
        if self.append_timeout_ms == 0 {
            return bad("distributor.append_timeout_ms must be positive".into());
        }
        if ![RECORD_VERSION, RECORD_VERSION_V2].contains(&self.record_version) {
            return bad(format!(
                "distributor.record_version must be {RECORD_VERSION} or {RECORD_VERSION_V2}, got {}",
                self.record_version
            ));
        }
        self.limits.validate().map_err(strata_common::Error::InvalidConfig)
    }

    /// The accepted sample time range `[min, max]` at wall-clock `now_ms`.
    pub fn accepted_times(&self, now_ms: i64) -> (i64, i64) {
        let min = match self.out_of_order_window_ms {
            0 => i64::MIN,
            w => now_ms.saturating_sub(w.min(i64::MAX as u64) as i64),
        };
        let max = match self.max_future_ms {
            0 => i64::MAX,
            f => now_ms.saturating_add(f.min(i64::MAX as u64) as i64),
        };
        (min, max)
    }

    /// [`Self::append_timeout_ms`] as a duration.
    pub fn append_timeout(&self) -> Duration {
        Duration::from_millis(self.append_timeout_ms)
    }
}

/// What one accepted push wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushStats {
    /// Series with at least one sample.
    pub series: u64,
    /// Samples of those series.
    pub samples: u64,
    /// Log records appended (over all partitions).
    pub records: u64,
    /// Encoded record bytes appended.
    pub bytes: u64,
    /// Partitions appended to.
    pub partitions: u32,
}

/// The push endpoint's state: configuration, the log, metrics.
pub struct Distributor {
    config: DistributorConfig,
    log: Arc<dyn Log>,
    metrics: Metrics,
    limits: Arc<LimitsRegistry>,
}

impl std::fmt::Debug for Distributor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Distributor").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Distributor {
    /// Creates the distributor and registers its metrics (`distributor_*`
    /// under the registry's prefix).
    /// An overrides file that cannot be read is logged and ignored here
    /// ([`DistributorConfig::validate`] refuses it at start-up).
    pub fn new(config: DistributorConfig, log: Arc<dyn Log>, registry: &mut Registry) -> Self {
        let limits = LimitsRegistry::new(config.limits.clone()).unwrap_or_else(|e| {
            tracing::error!(error = %e, "limit overrides not loaded; the defaults apply");
            let defaults_only = LimitsConfig { overrides_file: Default::default(), ..config.limits.clone() };
            // Without a file there is nothing that can fail.
            LimitsRegistry::new(defaults_only).unwrap_or_else(|_| unreachable!("no overrides file to read"))
        });
        Self { config, log, metrics: Metrics::new(registry), limits: Arc::new(limits) }
    }

    /// The per-tenant limits (run [`LimitsRegistry::watch`] to reload overrides).
    pub fn limits(&self) -> &Arc<LimitsRegistry> {
        &self.limits
    }

    /// Counts `samples` refused for `reason` and returns `e`.
    fn refuse(&self, reason: &'static str, samples: u64, e: PushError) -> PushError {
        self.metrics.rejected.get_or_create(&[("reason", reason)]).inc_by(samples);
        e
    }

    /// The configuration it was created with.
    pub fn config(&self) -> &DistributorConfig {
        &self.config
    }

    /// Validates `req` as a whole, then appends its series to the log, one
    /// record (or more, above [`MAX_RECORD_BYTES`]) per partition, all
    /// partitions concurrently; resolves once every append is durable.
    /// Must run on a tokio runtime (the append timeout uses its timer).
    pub async fn push(&self, tenant: &TenantId, req: WriteRequest) -> Result<PushStats, PushError> {
        let prepared = self.prepare(tenant, &FlatRequest::from_proto(&req))?;
        drop(req);
        self.append(prepared).await
    }

    /// Validates every series, then groups them by partition and encodes
    /// the records: `payloads[partition]`. Nothing is appended on error.
    pub(crate) fn prepare(&self, tenant: &TenantId, req: &FlatRequest<'_>) -> Result<Prepared, PushError> {
        let tenant_limits = self.limits.tenant(tenant);
        let limits = tenant_limits.limits;
        let total_samples =
            || req.series.iter().map(|s| (req.samples(s).len() + req.histograms(s).len()) as u64).sum::<u64>();
        let mut hists: Vec<Vec<HistSample>> = Vec::new();
        for s in &req.series {
            validate::validate_series(req.labels(s))?;
            hists.push(histograms::decode_series(req.labels(s), req.histograms(s))?);
            if let Err((reason, e)) = validate::check_label_limits(req.labels(s), &limits) {
                return Err(self.refuse(reason, total_samples(), e));
            }
        }
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let (min_t, max_t) = self.config.accepted_times(now);
        if (min_t, max_t) != (i64::MIN, i64::MAX) {
            let series = req.series.iter().map(|s| (req.labels(s), req.samples(s)));
            let check = validate::check_sample_times(series, min_t, max_t);
            if check.too_old > 0 {
                self.metrics.rejected.get_or_create(&[("reason", "too_old")]).inc_by(check.too_old);
            }
            if check.too_new > 0 {
                self.metrics.rejected.get_or_create(&[("reason", "too_far_in_future")]).inc_by(check.too_new);
            }
            if let Some(e) = check.error {
                return Err(e);
            }
        }
        if limits.ingestion_rate > 0 {
            let n = total_samples();
            if !tenant_limits.bucket.lock().try_take(n, Instant::now()) {
                let e = PushError::RateLimited {
                    tenant: tenant.to_string(),
                    rate: limits.ingestion_rate,
                    burst: limits.burst() as u64,
                    samples: n,
                };
                return Err(self.refuse("rate_limited", n, e));
            }
        }
        // Each series' hash of (tenant, labels): its partition, and its
        // identity for the active-series limits (computed once for both).
        let mut partitioner = Partitioner::new();
        let mut kept: Vec<(&str, &str)> = Vec::new();
        let mut hashes: Vec<u64> = Vec::with_capacity(req.series.len());
        for (s, h) in req.series.iter().zip(&hists) {
            if req.samples(s).is_empty() && h.is_empty() {
                continue;
            }
            let labels = validate::without_empty_values(req.labels(s), &mut kept);
            hashes.push(partitioner.hash(tenant, labels.iter().copied()));
        }
        if LimitsRegistry::tracks_series(&limits) {
            let mut tracker = tenant_limits.series.lock();
            self.admit_series(tenant, req, &hashes, &limits, &mut tracker, total_samples())?;
        }
        let partitions = self.log.partition_count();
        let mut builders: Vec<Option<RecordBuilder>> = (0..partitions).map(|_| None).collect();
        let mut payloads: Vec<Vec<Bytes>> = vec![Vec::new(); partitions as usize];
        let mut stats = PushStats::default();
        let mut hashes = hashes.into_iter();
        for (s, h) in req.series.iter().zip(&hists) {
            let samples = req.samples(s);
            if samples.is_empty() && h.is_empty() {
                continue;
            }
            let labels = validate::without_empty_values(req.labels(s), &mut kept);
            // One hash per series with samples, pushed in this same order above.
            let p = Partitioner::reduce(hashes.next().unwrap_or_default(), partitions) as usize;
            let b = builders[p].get_or_insert_with(|| RecordBuilder::with_version(tenant, self.config.record_version));
            if !samples.is_empty() {
                b.push_series(labels.iter().copied(), samples);
            }
            if !h.is_empty() {
                b.push_histogram_series(labels.iter().copied(), h);
            }
            stats.series += 1;
            stats.samples += (samples.len() + h.len()) as u64;
            if b.byte_len() >= MAX_RECORD_BYTES
                && let Some(full) = builders[p].take()
            {
                let record = full.finish();
                stats.bytes += record.len() as u64;
                stats.records += 1;
                payloads[p].push(Bytes::from(record));
            }
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
        Ok(Prepared { tenant: tenant.clone(), payloads, stats })
    }

    /// Checks the request's series against the active-series limits and
    /// records them as active (all or nothing).
    fn admit_series(
        &self,
        tenant: &TenantId,
        req: &FlatRequest<'_>,
        hashes: &[u64],
        limits: &limits::Limits,
        tracker: &mut SeriesTracker,
        samples: u64,
    ) -> Result<(), PushError> {
        fn metric_of<'a>(labels: &[(&'a str, &'a str)]) -> &'a str {
            labels.iter().find(|(n, _)| *n == strata_common::labels::METRIC_NAME).map_or("", |(_, v)| *v)
        }
        let keys: Vec<(u64, u64)> = req
            .series
            .iter()
            .filter(|s| !req.samples(s).is_empty() || !req.histograms(s).is_empty())
            .zip(hashes)
            .map(|(s, &hash)| (hash, xxhash_rust::xxh3::xxh3_64(metric_of(req.labels(s)).as_bytes())))
            .collect();
        let (max, per_metric) = (limits.max_active_series, limits.max_active_series_per_metric);
        match tracker.admit(&keys, max, per_metric, Instant::now(), self.limits.idle()) {
            Ok(()) => Ok(()),
            Err(limits::SeriesRefusal::Tenant { active, new }) => {
                let e = PushError::SeriesLimit {
                    tenant: tenant.to_string(),
                    limit: "max_active_series",
                    value: max,
                    scope: format!("the tenant has {active} active series and the request adds {new}"),
                };
                Err(self.refuse("max_active_series", samples, e))
            }
            Err(limits::SeriesRefusal::Metric { metric, active }) => {
                let name = req
                    .series
                    .iter()
                    .map(|s| metric_of(req.labels(s)))
                    .find(|m| xxhash_rust::xxh3::xxh3_64(m.as_bytes()) == metric)
                    .unwrap_or_default();
                let e = PushError::SeriesLimit {
                    tenant: tenant.to_string(),
                    limit: "max_active_series_per_metric",
                    value: per_metric,
                    scope: format!("metric {} has {active} active series", validate::quote_cut(name)),
                };
                Err(self.refuse("max_active_series_per_metric", samples, e))
            }
        }
    }

    /// Appends prepared records to every partition concurrently, within the
    /// append timeout.
    pub(crate) async fn append(&self, prepared: Prepared) -> Result<PushStats, PushError> {
        let Prepared { tenant, payloads, stats } = prepared;
        if stats.records == 0 {
            return Ok(stats);
        }
        let started = Instant::now();
        let appends = payloads
            .into_iter()
            .enumerate()
            .filter(|(_, p)| !p.is_empty())
            .map(|(partition, p)| self.log.append(partition as u32, p));
        let timeout = self.config.append_timeout();
        let result = tokio::time::timeout(timeout, futures::future::try_join_all(appends)).await;
        self.metrics.append_latency.observe(started.elapsed().as_secs_f64());
        match result {
            Err(_) => return Err(PushError::AppendTimeout(timeout)),
            Ok(Err(e)) if e.kind() == strata_common::ErrorKind::LimitExceeded => {
                return Err(PushError::LogOverloaded(e));
            }
            Ok(Err(e)) => return Err(PushError::Log(e)),
            Ok(Ok(_)) => {}
        }
        self.metrics.series.inc_by(stats.series);
        self.metrics.samples.inc_by(stats.samples);
        self.metrics.tenant_samples.get_or_create(&[("tenant", tenant.as_str().to_string())]).inc_by(stats.samples);
        self.metrics.records.inc_by(stats.records);
        self.metrics.appended_bytes.inc_by(stats.bytes);
        Ok(stats)
    }
}

/// Encoded records ready to append (index = partition id).
#[derive(Debug)]
pub(crate) struct Prepared {
    tenant: TenantId,
    payloads: Vec<Vec<Bytes>>,
    stats: PushStats,
}

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;
