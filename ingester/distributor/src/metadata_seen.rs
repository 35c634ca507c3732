//! The metric metadata this distributor wrote to the log recently, so that
//! it writes each (tenant, family, entry) at most once per
//! [`REWRITE_AFTER`]: senders repeat metadata every minute (Prometheus's
//! `metadata_config.send_interval`) and remote write 2.0 with every series,
//! which would otherwise put the same entries in the log over and over.
//! Rewriting after a while bounds how long an ingester that lost its state
//! (a new ingester, a lost snapshot) goes without an entry.
//!
//! Bounded like the ingesters' stores: per tenant at most
//! `max_metadata_metrics` families and `max_metadata_per_metric` entries
//! each; an entry that does not fit is simply written again next time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use strata_common::TenantId;
use strata_common::metadata::{MetadataLimits, MetricMetadata};

/// How long a written entry is not written again.
pub(crate) const REWRITE_AFTER: Duration = Duration::from_secs(10 * 60);

type Families = HashMap<String, Vec<(MetricMetadata, Instant)>>;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct MetadataSeen {
    tenants: Mutex<HashMap<TenantId, Families>>,
}

impl MetadataSeen {
    /// Whether `entry` of `family` was written less than [`REWRITE_AFTER`] ago.
    pub(crate) fn is_fresh(&self, tenant: &TenantId, family: &str, entry: &MetricMetadata, now: Instant) -> bool {
        let tenants = self.tenants.lock();
        tenants
            .get(tenant)
            .and_then(|f| f.get(family))
            .is_some_and(|v| v.iter().any(|(e, at)| e == entry && now.duration_since(*at) < REWRITE_AFTER))
    }

    /// Notes `written` (durable in the log) as written at `now`.
    pub(crate) fn mark(
        &self,
        tenant: &TenantId,
        written: &[(String, MetricMetadata)],
        now: Instant,
        l: MetadataLimits,
    ) {
        if written.is_empty() {
            return;
        }
        let mut tenants = self.tenants.lock();
        let families = tenants.entry(tenant.clone()).or_default();
        for (family, entry) in written {
            if !families.contains_key(family) && families.len() >= l.max_metrics {
                families.retain(|_, v| {
                    v.retain(|(_, at)| now.duration_since(*at) < REWRITE_AFTER);
                    !v.is_empty()
                });
                if families.len() >= l.max_metrics {
                    continue;
                }
            }
            let v = families.entry(family.clone()).or_default();
            v.retain(|(e, _)| e != entry);
            if v.len() >= l.max_per_metric.max(1) {
                v.remove(0);
            }
            v.push((entry.clone(), now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_until_rewrite_after_and_bounded() {
        let seen = MetadataSeen::default();
        let t = TenantId::new("t").unwrap();
        let e = MetricMetadata { kind: "counter", help: "h".into(), unit: String::new() };
        let now = Instant::now();
        let l = MetadataLimits { max_metrics: 1, max_per_metric: 1 };
        assert!(!seen.is_fresh(&t, "a", &e, now));
        seen.mark(&t, &[("a".into(), e.clone()), ("b".into(), e.clone())], now, l);
        assert!(seen.is_fresh(&t, "a", &e, now + Duration::from_secs(1)));
        assert!(!seen.is_fresh(&t, "a", &e, now + REWRITE_AFTER));
        assert!(!seen.is_fresh(&t, "b", &e, now), "over max_metrics: not remembered, written again");
        let other = MetricMetadata { help: "changed".into(), ..e.clone() };
        assert!(!seen.is_fresh(&t, "a", &other, now), "a changed entry is written");
    }
}
