//! # strata-distributor
//!
//! The push endpoint (distributor): Prometheus remote write 1.0 and 2.0 into
//! the [`Log`]. Stateless for samples: it touches no ingester shard;
//! ingesters read what it appended from the log (`strata-ingester`).
//! Exemplars and metric metadata go into the same records (version 5,
//! `common/docs/format/log-record.md`): exemplars with their series,
//! metadata in the partition of `{__name__=<family>}`, each entry at most
//! once per 10 minutes per distributor (`metadata_seen`); the ingesters
//! keep them in bounded per-tenant stores and serve them.
//!
//! ```text
//! POST /api/v1/push | /api/v1/write      (snappy block format)
//!   Content-Type: 1.0 prometheus.WriteRequest (default) | 2.0 io.prometheus.write.v2.Request | 415
//!   headers: Content-Encoding (415), X-Scope-OrgID (400/401)
//!   body ≤ max_request_bytes (413) ─ snappy header ≤ max_decompressed_bytes (413)
//!   ─ zero-copy decode of either version into one FlatRequest (400)
//!   ─ validate each series alone: names, label limits, 2.0 symbols, sample
//!     times in [now - out_of_order_window, now + max_future]; refused ones
//!     are counted and left out (a partial write), native histograms refused
//!   ─ ingestion rate (429) and active-series limits (400) over what is kept
//!   ─ partition_for(tenant, labels, P) ─ RecordBuilder per partition (≤ ~1 MiB records once expanded),
//!     exemplars beside their series, metadata not written in the last 10 min
//!   ─ Log::append on every partition concurrently ─ 204 once all are durable,
//!     400 naming the first refusal when some series were left out
//!                                                   503 on a log error or timeout
//! ```
//!
//! Guarantees: a 204 means every sample of the request is durable in the log;
//! a 400 partial write means every sample it reports written is durable and
//! the others were refused (not retried by senders); other 4xx mean nothing
//! was appended; a 5xx means some records may have been appended and the
//! sender retries (ingesters tolerate the duplicates). Label pairs with an
//! empty value are dropped, series without samples are skipped.
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
mod metadata_seen;
mod metrics;
mod prepare;
pub mod proto;
mod validate;

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use strata_common::TenantId;
use strata_common::metadata::MetadataLimits;
use strata_common::record::{RECORD_VERSION, RECORD_VERSION_V2};
use strata_log::Log;

use self::decode::FlatRequest;
pub use self::decode::ProtoDecodeError;
pub use self::error::PushError;
pub use self::http::router;
use self::limits::{LimitsConfig, LimitsRegistry};
use self::metrics::Metrics;
use self::prepare::Prepared;
use self::proto::WriteRequest;
pub use self::validate::NameValidationScheme;

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
    /// Out-of-order window in milliseconds: a sample (float or native
    /// histogram) older than the distributor's wall clock minus this is refused (400 naming the
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
    /// How metric and label names are validated: `utf8` (Prometheus 3's
    /// default: any non-empty UTF-8 name) or `legacy` (Prometheus 2's
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`). A series that fails is refused alone
    /// (partial write).
    pub name_validation_scheme: NameValidationScheme,
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
            name_validation_scheme: NameValidationScheme::Utf8,
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
    /// Float samples of those series.
    pub samples: u64,
    /// Native histogram samples of those series.
    pub histograms: u64,
    /// Log records appended (over all partitions).
    pub records: u64,
    /// Encoded record bytes appended.
    pub bytes: u64,
    /// Partitions appended to.
    pub partitions: u32,
    /// Exemplars stored.
    pub exemplars: u64,
}

/// The push endpoint's state: configuration, the log, metrics.
pub struct Distributor {
    config: DistributorConfig,
    log: Arc<dyn Log>,
    metrics: Metrics,
    limits: Arc<LimitsRegistry>,
    metadata_seen: metadata_seen::MetadataSeen,
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
        Self {
            config,
            log,
            metrics: Metrics::new(registry),
            limits: Arc::new(limits),
            metadata_seen: Default::default(),
        }
    }

    /// The per-tenant limits (run [`LimitsRegistry::watch`] to reload overrides).
    pub fn limits(&self) -> &Arc<LimitsRegistry> {
        &self.limits
    }

    /// The configuration it was created with.
    pub fn config(&self) -> &DistributorConfig {
        &self.config
    }

    /// Validates every series of `req`, then appends the valid ones to the
    /// log, one record (or more, above [`MAX_RECORD_BYTES`]) per partition,
    /// all partitions concurrently; resolves once every append is durable.
    /// A request with invalid series still writes the valid ones and then
    /// fails with [`PushError::PartialWrite`].
    /// Must run on a tokio runtime (the append timeout uses its timer).
    pub async fn push(&self, tenant: &TenantId, req: WriteRequest) -> Result<PushStats, PushError> {
        let prepared = self.prepare(tenant, &FlatRequest::from_proto(&req))?;
        drop(req);
        let (stats, refused) = self.append(prepared).await?;
        match refused {
            Some(e) => Err(e),
            None => Ok(stats),
        }
    }

    /// Appends prepared records to every partition concurrently, within the
    /// append timeout; on success, what was written and what the request
    /// had refused ([`PushError::PartialWrite`]).
    pub(crate) async fn append(&self, prepared: Prepared) -> Result<(PushStats, Option<PushError>), PushError> {
        let Prepared { tenant, payloads, stats, refused, metadata } = prepared;
        if stats.records > 0 {
            self.append_records(&tenant, payloads, &stats).await?;
        }
        let limits = self.limits.tenant(&tenant).limits;
        let meta_limits =
            MetadataLimits { max_metrics: limits.max_metadata_metrics, max_per_metric: limits.max_metadata_per_metric };
        self.metadata_seen.mark(&tenant, &metadata, Instant::now(), meta_limits);
        self.metrics.exemplars.inc_by(stats.exemplars);
        Ok((stats, refused))
    }

    async fn append_records(
        &self,
        tenant: &TenantId,
        payloads: Vec<Vec<bytes::Bytes>>,
        stats: &PushStats,
    ) -> Result<(), PushError> {
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
        Ok(())
    }
}

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod v2_tests;
