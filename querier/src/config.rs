//! [`QuerierConfig`]: the querier role's configuration (TOML section
//! `[querier]`), with defaults matching Prometheus where it has one.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::results_cache::ResultsCacheConfig;
use crate::scheduler::SchedulerConfig;

/// Whether a query waits for ingesters to catch up with the log first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ReadConsistency {
    /// Read the log's end offsets, then wait until every partition is
    /// consumed up to them (read-your-writes). The all-in-one default.
    #[default]
    Strong,
    /// Read whatever the ingesters have consumed so far (lowest latency).
    Eventual,
}

impl ReadConsistency {
    /// Parses `strong` / `eventual` (the `X-Read-Consistency` header).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "strong" => Some(Self::Strong),
            "eventual" => Some(Self::Eventual),
            _ => None,
        }
    }
}

/// Configuration of the querier role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuerierConfig {
    /// How far back an instant selector looks for the latest sample
    /// (Prometheus `--query.lookback-delta`), in milliseconds.
    pub lookback_delta_ms: u64,
    /// Time budget of one query (Prometheus `--query.timeout`), in
    /// milliseconds; a `timeout` request parameter can only lower it.
    pub query_timeout_ms: u64,
    /// Most points (loaded samples and step values) one query may hold at
    /// once (Prometheus `--query.max-samples`, `peakSamples` in the query
    /// statistics); more is an `execution` error (422). Samples loaded one
    /// series after another do not add up against it.
    pub max_samples: u64,
    /// Most bytes one query's operators may hold at once (loaded samples,
    /// aggregation groups, materialized binary-operator sides, buffered
    /// subqueries, the result); more is an `execution` error (422) naming
    /// the limit. Default 1 GiB.
    pub max_query_memory_bytes: u64,
    /// Most points per series a range query may ask for
    /// (`(end - start) / step`); Prometheus hard-codes 11,000.
    pub max_points_per_series: u64,
    /// Largest request body (a POST form) the query API reads, in bytes;
    /// a bigger one is answered 413 with Prometheus's JSON error envelope
    /// (`bad_data`). Default 8 MiB.
    pub max_request_bytes: u64,
    /// Default read consistency; a request may override it with the
    /// `X-Read-Consistency: strong|eventual` header.
    pub read_consistency: ReadConsistency,
    /// How long a strong read waits for ingesters before failing with 503,
    /// in milliseconds.
    pub read_consistency_timeout_ms: u64,
    /// When true every request must carry `X-Scope-OrgID` (else 401); when
    /// false requests without it use the default tenant.
    pub multitenancy_enabled: bool,
    /// Admission and scheduling by estimated cost (`[querier.scheduler]`).
    pub scheduler: SchedulerConfig,
    /// The results cache of range queries (`[querier.results_cache]`).
    pub results_cache: ResultsCacheConfig,
}

impl Default for QuerierConfig {
    fn default() -> Self {
        Self {
            lookback_delta_ms: 300_000,
            query_timeout_ms: 120_000,
            max_samples: 50_000_000,
            max_query_memory_bytes: 1 << 30,
            max_points_per_series: 11_000,
            max_request_bytes: 8 << 20,
            read_consistency: ReadConsistency::Strong,
            read_consistency_timeout_ms: 10_000,
            multitenancy_enabled: false,
            scheduler: SchedulerConfig::default(),
            results_cache: ResultsCacheConfig::default(),
        }
    }
}

impl QuerierConfig {
    /// Checks that every limit is positive.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("lookback_delta_ms", self.lookback_delta_ms),
            ("query_timeout_ms", self.query_timeout_ms),
            ("max_samples", self.max_samples),
            ("max_query_memory_bytes", self.max_query_memory_bytes),
            ("max_points_per_series", self.max_points_per_series),
            ("max_request_bytes", self.max_request_bytes),
            ("read_consistency_timeout_ms", self.read_consistency_timeout_ms),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(Error::InvalidConfig(format!("{name} must be greater than 0")));
            }
        }
        if self.lookback_delta_ms > i64::MAX as u64 / 4 {
            return Err(Error::InvalidConfig("lookback_delta_ms is too large".into()));
        }
        self.results_cache.validate()?;
        self.scheduler.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_toml_fields_default() {
        QuerierConfig::default().validate().unwrap();
        let c: QuerierConfig = serde_json::from_str(r#"{"max_samples": 10, "read_consistency": "eventual"}"#).unwrap();
        assert_eq!(c.max_samples, 10);
        assert_eq!(c.read_consistency, ReadConsistency::Eventual);
        assert_eq!(c.lookback_delta_ms, 300_000);
        let bad = QuerierConfig { max_points_per_series: 0, ..Default::default() };
        assert!(bad.validate().is_err());
        assert!(serde_json::from_str::<QuerierConfig>(r#"{"nope": 1}"#).is_err());
    }
}
