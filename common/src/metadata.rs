//! Metric metadata (type, help, unit) per tenant, as remote write 1.0
//! (`WriteRequest.metadata`) and 2.0 (`TimeSeries.metadata`) send it, for
//! `GET /api/v1/metadata`.
//!
//! Held in memory and bounded: at most `max_metrics` metric families per
//! tenant (new families beyond are dropped and counted by the caller) and
//! `max_per_metric` distinct entries per family (the oldest is replaced).
//! Ingesters fill it from the log records (version 5) they consume, so a
//! replay rebuilds it, and keep it across flushes in their annotation
//! snapshot; queriers merge the ingesters' answers.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use serde::Serialize;

use crate::TenantId;

/// One metadata entry of a metric family, in Prometheus's JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct MetricMetadata {
    /// `counter`, `gauge`, `histogram`, `gaugehistogram`, `summary`,
    /// `info`, `stateset` or `unknown`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Help text.
    pub help: String,
    /// Unit (often empty).
    pub unit: String,
}

/// The Prometheus name of a `MetricType` number (remote write 1.0 and 2.0
/// number them alike; 0 and unknown numbers are `unknown`).
pub fn metric_type_name(kind: i32) -> &'static str {
    match kind {
        1 => "counter",
        2 => "gauge",
        3 => "histogram",
        4 => "gaugehistogram",
        5 => "summary",
        6 => "info",
        7 => "stateset",
        _ => "unknown",
    }
}

/// The `MetricType` number of a Prometheus type name (the inverse of
/// [`metric_type_name`]; unknown names are 0, `unknown`).
pub fn metric_type_number(kind: &str) -> u8 {
    match kind {
        "counter" => 1,
        "gauge" => 2,
        "histogram" => 3,
        "gaugehistogram" => 4,
        "summary" => 5,
        "info" => 6,
        "stateset" => 7,
        _ => 0,
    }
}

/// Bounds of a tenant's metadata in a [`MetadataStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataLimits {
    /// Metric families per tenant.
    pub max_metrics: usize,
    /// Distinct entries per family.
    pub max_per_metric: usize,
}

/// Metadata of every tenant; cheap to share (`Arc`) between the push
/// endpoint and the query API of one process.
#[derive(Debug, Default)]
pub struct MetadataStore {
    tenants: RwLock<HashMap<TenantId, BTreeMap<String, Vec<MetricMetadata>>>>,
}

impl MetadataStore {
    /// Records one entry under the tenant's `limits`; returns false when it
    /// was dropped because the tenant has `max_metrics` families already.
    pub fn record(&self, tenant: &TenantId, family: &str, entry: MetricMetadata, limits: MetadataLimits) -> bool {
        if self.get(tenant, family).is_some_and(|v| v.contains(&entry)) {
            return true; // the common case: nothing changed
        }
        let mut tenants = self.tenants.write().unwrap_or_else(|e| e.into_inner());
        let families = tenants.entry(tenant.clone()).or_default();
        if !families.contains_key(family) && families.len() >= limits.max_metrics {
            return false;
        }
        let entries = families.entry(family.to_string()).or_default();
        if !entries.contains(&entry) {
            if entries.len() >= limits.max_per_metric.max(1) {
                entries.remove(0);
            }
            entries.push(entry);
        }
        true
    }

    /// Every entry held, per tenant (for snapshots).
    pub fn export(&self) -> Vec<(TenantId, Vec<(String, MetricMetadata)>)> {
        let tenants = self.tenants.read().unwrap_or_else(|e| e.into_inner());
        tenants
            .iter()
            .map(|(t, f)| {
                let entries = f.iter().flat_map(|(name, v)| v.iter().map(|e| (name.clone(), e.clone()))).collect();
                (t.clone(), entries)
            })
            .collect()
    }

    fn get(&self, tenant: &TenantId, family: &str) -> Option<Vec<MetricMetadata>> {
        let tenants = self.tenants.read().unwrap_or_else(|e| e.into_inner());
        tenants.get(tenant)?.get(family).cloned()
    }

    /// The tenant's metadata in Prometheus's `/api/v1/metadata` shape:
    /// family → entries, sorted by family; only `metric` when given; at
    /// most `limit` families (negative = all; 0 = none, as Prometheus) and
    /// `limit_per_metric` entries each (0 or negative = all).
    pub fn query(
        &self,
        tenant: &TenantId,
        metric: Option<&str>,
        limit: i64,
        limit_per_metric: i64,
    ) -> BTreeMap<String, Vec<MetricMetadata>> {
        let tenants = self.tenants.read().unwrap_or_else(|e| e.into_inner());
        let Some(families) = tenants.get(tenant) else { return BTreeMap::new() };
        let per = if limit_per_metric > 0 { limit_per_metric as usize } else { usize::MAX };
        let max = if limit >= 0 { limit as usize } else { usize::MAX };
        families
            .iter()
            .filter(|(name, _)| metric.is_none_or(|m| m == name.as_str()))
            .take(max)
            .map(|(name, entries)| (name.clone(), entries.iter().take(per).cloned().collect()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: i32, help: &str) -> MetricMetadata {
        MetricMetadata { kind: metric_type_name(kind), help: help.into(), unit: String::new() }
    }

    #[test]
    fn bounded_per_tenant_and_per_metric_and_filtered() {
        let store = MetadataStore::default();
        let l = MetadataLimits { max_metrics: 2, max_per_metric: 2 };
        let (a, b) = (TenantId::new("a").unwrap(), TenantId::new("b").unwrap());
        assert!(store.record(&a, "up", entry(2, "1 if up"), l));
        assert!(store.record(&a, "up", entry(2, "1 if up"), l));
        assert!(store.record(&a, "http.server.duration", entry(3, "latency"), l));
        assert!(!store.record(&a, "third", entry(1, "over the limit"), l), "a third family is dropped");
        assert!(store.record(&b, "third", entry(1, "other tenant"), l));
        let all = store.query(&a, None, -1, 0);
        assert_eq!(all.keys().collect::<Vec<_>>(), ["http.server.duration", "up"]);
        assert_eq!(all["up"], [entry(2, "1 if up")]);
        // Distinct entries of a family, oldest replaced beyond the bound.
        store.record(&a, "up", entry(2, "v2"), l);
        store.record(&a, "up", entry(2, "v3"), l);
        assert_eq!(store.query(&a, Some("up"), -1, 0)["up"], [entry(2, "v2"), entry(2, "v3")]);
        assert_eq!(store.query(&a, Some("up"), -1, 1)["up"], [entry(2, "v2")]);
        assert_eq!(store.query(&a, None, 1, 0).len(), 1);
        assert!(store.query(&a, None, 0, 0).is_empty(), "limit=0 answers nothing, as Prometheus");
        assert!(store.query(&a, Some("nope"), -1, 0).is_empty());
        assert_eq!(store.query(&b, None, -1, 0)["third"][0].kind, "counter");
        assert_eq!(metric_type_name(0), "unknown");
    }
}
