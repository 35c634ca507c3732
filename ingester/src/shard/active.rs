//! Active series per tenant: the series that received samples within the
//! last `ingester.active_series_idle_ms`, exported as
//! `strata_ingester_active_series{tenant}` so an operator can find the
//! tenant whose cardinality exploded.
//!
//! Kept off the append path: a shard remembers, per tenant, a hash of each
//! series' labels and when it was last seen in a memtable. A periodic tick
//! looks only at the series created in the active memtable since the last
//! tick; a full pass over the memtable (before it is frozen, and whenever
//! half the idle time has passed) refreshes the series that keep receiving
//! samples. So a new series counts within one tick, and a series that
//! stops receiving samples leaves between half the idle time and the idle
//! time after its last sample. Each shard adds its own change to the
//! tenant's gauge, which is shared by all shards.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use strata_common::TenantId;
use strata_common::prehashed::PreHashedMap;
use strata_storage::Memtable;

use super::metrics::TenantLabels;

/// One tenant's series in one shard.
struct TenantSeries {
    /// Label hash → seconds since the tracker started when last seen.
    last_seen: PreHashedMap<u32>,
    /// Series of the active memtable already looked at.
    scanned: usize,
    /// This shard's part of the tenant's gauge.
    reported: i64,
    gauge: Gauge,
}

/// One shard's active-series tracker.
pub(crate) struct ActiveSeries {
    idle: Duration,
    started: Instant,
    last_full_pass: Instant,
    family: Family<TenantLabels, Gauge>,
    tenants: HashMap<TenantId, TenantSeries>,
}

impl ActiveSeries {
    pub fn new(idle: Duration, family: Family<TenantLabels, Gauge>) -> Self {
        let now = Instant::now();
        Self { idle, started: now, last_full_pass: now, family, tenants: HashMap::new() }
    }

    /// The periodic tick: new series of `active`, a full pass when half the
    /// idle time has passed since the last one, then expiry and gauges.
    pub fn tick(&mut self, active: &Memtable) {
        let now = Instant::now();
        let full = now.duration_since(self.last_full_pass) >= self.idle / 2;
        self.observe(active, full, now);
        self.expire(now);
    }

    /// Every series of `active`, which is about to be frozen; the next
    /// memtable starts unscanned.
    pub fn before_freeze(&mut self, active: &Memtable) {
        let now = Instant::now();
        self.observe(active, true, now);
        for t in self.tenants.values_mut() {
            t.scanned = 0;
        }
        self.expire(now);
    }

    fn observe(&mut self, active: &Memtable, full: bool, now: Instant) {
        if full {
            self.last_full_pass = now;
        }
        let stamp = self.stamp(now);
        for (tenant, count) in active.tenant_series_counts() {
            let entry = match self.tenants.get_mut(tenant) {
                Some(e) => e,
                None => {
                    let gauge = self.family.get_or_create_owned(&TenantLabels { tenant: tenant.to_string() });
                    let fresh = TenantSeries { last_seen: PreHashedMap::default(), scanned: 0, reported: 0, gauge };
                    self.tenants.entry(tenant.clone()).or_insert(fresh)
                }
            };
            let from = if full { 0 } else { entry.scanned.min(count) };
            for hash in active.series_hashes(tenant, from) {
                entry.last_seen.insert(hash, stamp);
            }
            entry.scanned = count;
        }
    }

    /// Forgets series idle for longer than the idle time; updates gauges.
    fn expire(&mut self, now: Instant) {
        let oldest = self.stamp(now).saturating_sub(self.idle.as_secs() as u32);
        self.tenants.retain(|_, t| {
            t.last_seen.retain(|_, &mut seen| seen >= oldest);
            let count = t.last_seen.len() as i64;
            t.gauge.inc_by(count - t.reported);
            t.reported = count;
            count > 0 || t.scanned > 0
        });
    }

    fn stamp(&self, now: Instant) -> u32 {
        u32::try_from(now.duration_since(self.started).as_secs()).unwrap_or(u32::MAX)
    }

    /// Active series of `tenant` in this shard.
    #[cfg(test)]
    pub fn count(&self, tenant: &TenantId) -> usize {
        self.tenants.get(tenant).map_or(0, |t| t.last_seen.len())
    }
}

impl Drop for ActiveSeries {
    /// A stopped shard takes its part out of the shared gauges.
    fn drop(&mut self) {
        for t in self.tenants.values() {
            t.gauge.dec_by(t.reported);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use strata_common::Sample;

    fn tenant(s: &str) -> TenantId {
        TenantId::new(s).unwrap()
    }

    fn push(m: &mut Memtable, t: &TenantId, host: &str) {
        m.append(t, &[("__name__", "up"), ("host", host)], std::iter::once(Sample::new(1, 1.0)));
    }

    #[test]
    fn counts_new_series_per_tenant_across_memtables_and_shards() {
        let family = Family::<TenantLabels, Gauge>::default();
        let gauge = |t: &str| family.get_or_create(&TenantLabels { tenant: t.into() }).get();
        let (a, b) = (tenant("a"), tenant("b"));
        let mut shard0 = ActiveSeries::new(Duration::from_secs(1200), family.clone());
        let mut shard1 = ActiveSeries::new(Duration::from_secs(1200), family.clone());
        let mut m0 = Memtable::new();
        push(&mut m0, &a, "h1");
        push(&mut m0, &a, "h2");
        push(&mut m0, &b, "h1");
        shard0.tick(&m0);
        assert_eq!((gauge("a"), gauge("b")), (2, 1));
        // New series are picked up by the next tick; known ones are not recounted.
        push(&mut m0, &a, "h3");
        push(&mut m0, &a, "h1");
        shard0.tick(&m0);
        assert_eq!(gauge("a"), 3);
        // A flush starts a new memtable; the same series in it are the same series.
        shard0.before_freeze(&m0);
        let mut m0 = Memtable::new();
        push(&mut m0, &a, "h2");
        shard0.tick(&m0);
        assert_eq!(shard0.count(&a), 3);
        // Another shard's series add to the same tenant gauge.
        let mut m1 = Memtable::new();
        push(&mut m1, &a, "h9");
        shard1.tick(&m1);
        assert_eq!(gauge("a"), 4);
        // A stopped shard takes its part out.
        drop(shard1);
        assert_eq!(gauge("a"), 3);
    }

    #[test]
    fn idle_series_expire() {
        let family = Family::<TenantLabels, Gauge>::default();
        let a = tenant("a");
        let mut tracker = ActiveSeries::new(Duration::from_secs(0), family.clone());
        let mut m = Memtable::new();
        push(&mut m, &a, "h1");
        tracker.before_freeze(&m);
        // With no idle time, nothing seen before this second survives the next expiry.
        std::thread::sleep(Duration::from_millis(1100));
        tracker.tick(&Memtable::new());
        assert_eq!(tracker.count(&a), 0);
        assert_eq!(family.get_or_create(&TenantLabels { tenant: "a".into() }).get(), 0);
    }
}
