//! Per-tenant ingestion limits, Mimir-style: defaults in
//! `[distributor.limits.defaults]`, per-tenant overrides in a file
//! (`distributor.limits.overrides_file`) re-read when it changes. Checked in [`Distributor::prepare`](crate::Distributor), before
//! anything is appended, so a refused request leaves nothing behind.
//!
//! ```text
//!  request ─ label names per series, name / value length ──▶ 400 (series cut to ~200 chars)
//!          ─ ingestion rate: token bucket of `ingestion_rate` samples/s,
//!            `ingestion_burst` deep, per tenant ──────────────▶ 429 (retryable)
//!          ─ active series: series seen within `active_series_idle_ms`,
//!            per tenant and per metric name ─────────────────▶ 400 (retrying cannot help)
//! ```
//!
//! Each refusal names the limit and its value and is counted in
//! `strata_distributor_samples_rejected{reason}` (the refused samples).
//! The exemplar and metadata bounds (`max_exemplars*`, `max_metadata_*`)
//! apply to the in-memory stores the query API serves.
//!
//! Overrides file (TOML), every field optional:
//!
//! ```toml
//! [tenants.team-a]
//! ingestion_rate = 200000
//! max_active_series = 2000000
//! ```
//!
//! Cluster mode: every distributor enforces the limits on what it sees.
//! Behind a load balancer that spreads a tenant over `D` distributors,
//! give each `ingestion_rate / D` (Mimir's "global" strategy does the same
//! division). Active series are counted per distributor too: pin a tenant
//! to one distributor (hash the tenant at the load balancer), or divide
//! `max_active_series` by `D` as well.

mod rate;
mod series;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use strata_common::TenantId;
use strata_common::watched::WatchedToml;

pub(crate) use self::rate::TokenBucket;
pub(crate) use self::series::{SeriesRefusal, SeriesTracker};

/// The limits of one tenant. 0 = no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Samples per second a tenant may push (429 above).
    pub ingestion_rate: u64,
    /// Samples a tenant may push at once above the rate (0 = one second of
    /// `ingestion_rate`). A request with more samples than this always fails.
    pub ingestion_burst: u64,
    /// Label names per series, `__name__` included (400 above).
    pub max_label_names_per_series: usize,
    /// Bytes of a label name (400 above).
    pub max_label_name_length: usize,
    /// Bytes of a label value (400 above).
    pub max_label_value_length: usize,
    /// Active series per tenant: series pushed within `active_series_idle_ms`
    /// (400 for a request that would create more).
    pub max_active_series: u64,
    /// Active series per metric name and tenant (400 above).
    pub max_active_series_per_metric: u64,
    /// Exemplars held per tenant (the oldest are dropped; 0 = store none).
    pub max_exemplars: usize,
    /// Exemplars held per series (the oldest of the series are dropped).
    pub max_exemplars_per_series: usize,
    /// Metric families with metadata per tenant (metadata of further
    /// families is dropped and counted in
    /// `strata_distributor_metadata_dropped_total`).
    pub max_metadata_metrics: usize,
    /// Distinct metadata entries per metric family (the oldest is replaced).
    pub max_metadata_per_metric: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            ingestion_rate: 0,
            ingestion_burst: 0,
            max_label_names_per_series: 30,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            max_active_series: 0,
            max_active_series_per_metric: 0,
            max_exemplars: 100_000,
            max_exemplars_per_series: 10,
            max_metadata_metrics: 10_000,
            max_metadata_per_metric: 10,
        }
    }
}

impl Limits {
    /// The bucket depth: `ingestion_burst`, or one second of the rate.
    pub fn burst(&self) -> f64 {
        if self.ingestion_burst > 0 { self.ingestion_burst as f64 } else { self.ingestion_rate as f64 }
    }

    fn tracks_series(&self) -> bool {
        self.max_active_series > 0 || self.max_active_series_per_metric > 0
    }
}

/// Per-tenant overrides: every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsOverride {
    /// See [`Limits::ingestion_rate`].
    pub ingestion_rate: Option<u64>,
    /// See [`Limits::ingestion_burst`].
    pub ingestion_burst: Option<u64>,
    /// See [`Limits::max_label_names_per_series`].
    pub max_label_names_per_series: Option<usize>,
    /// See [`Limits::max_label_name_length`].
    pub max_label_name_length: Option<usize>,
    /// See [`Limits::max_label_value_length`].
    pub max_label_value_length: Option<usize>,
    /// See [`Limits::max_active_series`].
    pub max_active_series: Option<u64>,
    /// See [`Limits::max_active_series_per_metric`].
    pub max_active_series_per_metric: Option<u64>,
    /// See [`Limits::max_exemplars`].
    pub max_exemplars: Option<usize>,
    /// See [`Limits::max_exemplars_per_series`].
    pub max_exemplars_per_series: Option<usize>,
    /// See [`Limits::max_metadata_metrics`].
    pub max_metadata_metrics: Option<usize>,
    /// See [`Limits::max_metadata_per_metric`].
    pub max_metadata_per_metric: Option<usize>,
}

impl LimitsOverride {
    fn apply(&self, base: Limits) -> Limits {
        Limits {
            ingestion_rate: self.ingestion_rate.unwrap_or(base.ingestion_rate),
            ingestion_burst: self.ingestion_burst.unwrap_or(base.ingestion_burst),
            max_label_names_per_series: self.max_label_names_per_series.unwrap_or(base.max_label_names_per_series),
            max_label_name_length: self.max_label_name_length.unwrap_or(base.max_label_name_length),
            max_label_value_length: self.max_label_value_length.unwrap_or(base.max_label_value_length),
            max_active_series: self.max_active_series.unwrap_or(base.max_active_series),
            max_active_series_per_metric: self
                .max_active_series_per_metric
                .unwrap_or(base.max_active_series_per_metric),
            max_exemplars: self.max_exemplars.unwrap_or(base.max_exemplars),
            max_exemplars_per_series: self.max_exemplars_per_series.unwrap_or(base.max_exemplars_per_series),
            max_metadata_metrics: self.max_metadata_metrics.unwrap_or(base.max_metadata_metrics),
            max_metadata_per_metric: self.max_metadata_per_metric.unwrap_or(base.max_metadata_per_metric),
        }
    }
}

/// The overrides file: `[tenants.<id>]` tables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OverridesFile {
    /// Per-tenant overrides.
    pub tenants: BTreeMap<String, LimitsOverride>,
}

impl OverridesFile {
    /// Every tenant id is valid.
    fn check(&self) -> Result<(), String> {
        self.tenants.keys().try_for_each(|t| TenantId::new(t).map(drop).map_err(|e| e.to_string()))
    }
}

/// `[distributor.limits]`: the defaults and where the overrides live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// The limits of every tenant without an override
    /// (`[distributor.limits.defaults]`).
    pub defaults: Limits,
    /// A series counts as active until it has not been pushed for this
    /// many milliseconds.
    pub active_series_idle_ms: u64,
    /// Per-tenant overrides (TOML, `[tenants.<id>]`), re-read when it
    /// changes; empty = none.
    pub overrides_file: PathBuf,
    /// How often the overrides file is checked, in milliseconds.
    pub reload_interval_ms: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            defaults: Limits::default(),
            active_series_idle_ms: 20 * 60_000,
            overrides_file: PathBuf::new(),
            reload_interval_ms: 5_000,
        }
    }
}

impl LimitsConfig {
    /// Checks the values, naming the first bad field.
    pub fn validate(&self) -> Result<(), String> {
        if self.active_series_idle_ms == 0 || self.reload_interval_ms == 0 {
            return Err("distributor.limits.active_series_idle_ms and reload_interval_ms must be positive".into());
        }
        if !self.overrides_file.as_os_str().is_empty() {
            LimitsRegistry::new(self.clone())?;
        }
        Ok(())
    }
}

/// One tenant's limits and the state that enforces them.
pub(crate) struct TenantLimits {
    pub limits: Limits,
    pub bucket: Mutex<TokenBucket>,
    pub series: Mutex<SeriesTracker>,
}

/// The limits of every tenant, with reloadable overrides.
pub struct LimitsRegistry {
    config: LimitsConfig,
    overrides: Arc<WatchedToml<OverridesFile>>,
    tenants: Mutex<HashMap<TenantId, Arc<TenantLimits>>>,
}

impl std::fmt::Debug for LimitsRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimitsRegistry").field("config", &self.config).finish_non_exhaustive()
    }
}

impl LimitsRegistry {
    /// Reads the overrides file (an error if it is set but unreadable or invalid).
    pub fn new(config: LimitsConfig) -> Result<Self, String> {
        let overrides = Arc::new(WatchedToml::open(&config.overrides_file, OverridesFile::check)?);
        Ok(Self { config, overrides, tenants: Mutex::default() })
    }

    /// The configuration.
    pub fn config(&self) -> &LimitsConfig {
        &self.config
    }

    /// The idle time after which a series stops counting as active.
    pub(crate) fn idle(&self) -> Duration {
        Duration::from_millis(self.config.active_series_idle_ms)
    }

    /// The effective limits of `tenant`.
    pub fn limits_of(&self, tenant: &TenantId) -> Limits {
        self.overrides
            .get()
            .tenants
            .get(tenant.as_str())
            .map_or(self.config.defaults, |t| t.apply(self.config.defaults))
    }

    /// The state of `tenant`, created (or recreated after an override
    /// changed its limits) on demand.
    pub(crate) fn tenant(&self, tenant: &TenantId) -> Arc<TenantLimits> {
        let limits = self.limits_of(tenant);
        let mut map = self.tenants.lock();
        if let Some(t) = map.get(tenant)
            && t.limits == limits
        {
            return t.clone();
        }
        // New or changed: keep the series counts, start a fresh bucket.
        let series = map.get(tenant).map(|t| std::mem::take(&mut *t.series.lock())).unwrap_or_default();
        let t = Arc::new(TenantLimits {
            limits,
            bucket: Mutex::new(TokenBucket::new(limits.ingestion_rate as f64, limits.burst())),
            series: Mutex::new(series),
        });
        map.insert(tenant.clone(), t.clone());
        t
    }

    /// Whether `tenant` needs series tracking (a series limit is set).
    pub(crate) fn tracks_series(limits: &Limits) -> bool {
        limits.tracks_series()
    }

    /// Re-reads the overrides file if it changed; returns whether it did.
    pub fn reload(&self) -> Result<bool, String> {
        self.overrides.reload()
    }

    /// Re-reads the overrides file every `reload_interval_ms` (if one is
    /// set); an invalid file is logged and the previous overrides stay.
    pub async fn watch(self: Arc<Self>) {
        let every = Duration::from_millis(self.config.reload_interval_ms);
        self.overrides.clone().watch(every).await
    }
}
