//! Exemplars per tenant, as remote write 1.0 (`TimeSeries.exemplars`) and
//! 2.0 send them, for `GET/POST /api/v1/query_exemplars`.
//!
//! Held in memory in a bounded buffer per tenant, as Prometheus's exemplar
//! storage is: at most `max_per_tenant` exemplars (the oldest inserted go
//! first) and `max_per_series` per series (the oldest of the series goes
//! first). An exemplar equal to one the series holds already (same
//! timestamp, value and labels: a resend) is not stored twice. Ingesters
//! fill it from the log records (version 5) they consume, so a replay
//! rebuilds it, and keep it across flushes in their annotation snapshot.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};

use crate::TenantId;
use crate::labels::Labels;
use crate::matcher::{Matcher, matches_all};

/// One exemplar: its own labels (e.g. `trace_id`), value and time (ms).
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// Labels of the exemplar (not of its series).
    pub labels: Labels,
    /// The observed value.
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub t: i64,
}

/// One series' labels and its exemplars.
pub type SeriesExemplars = (Labels, Vec<Exemplar>);

/// Bounds of a tenant's exemplars in an [`ExemplarStore`]; 0 = store none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExemplarLimits {
    /// Exemplars per tenant.
    pub max_per_tenant: usize,
    /// Exemplars per series.
    pub max_per_series: usize,
}

#[derive(Debug, Default)]
struct TenantExemplars {
    series: HashMap<Arc<Labels>, VecDeque<Exemplar>>,
    /// Series of each stored exemplar, in insertion order (evicts the
    /// oldest when the tenant is full).
    order: VecDeque<Arc<Labels>>,
    total: usize,
}

/// Exemplars of every tenant; shared (`Arc`) by the push endpoint and the
/// query API of one process.
#[derive(Debug, Default)]
pub struct ExemplarStore {
    tenants: RwLock<HashMap<TenantId, TenantExemplars>>,
}

impl ExemplarStore {
    /// Stores the exemplars of one series under the tenant's `limits`;
    /// returns how many were stored (resends of held exemplars count).
    pub fn record(
        &self,
        tenant: &TenantId,
        series: &Labels,
        exemplars: Vec<Exemplar>,
        limits: ExemplarLimits,
    ) -> usize {
        let (max_tenant, max_series) = (limits.max_per_tenant, limits.max_per_series);
        if exemplars.is_empty() || max_tenant == 0 || max_series == 0 {
            return 0;
        }
        let mut tenants = self.tenants.write().unwrap_or_else(|e| e.into_inner());
        let t = tenants.entry(tenant.clone()).or_default();
        let key = match t.series.get_key_value(series) {
            Some((k, _)) => k.clone(),
            None => Arc::new(series.clone()),
        };
        let mut stored = 0;
        for e in exemplars {
            let held = t.series.entry(key.clone()).or_default();
            stored += 1;
            if held.iter().rev().any(|h| h.t == e.t && h.value.to_bits() == e.value.to_bits() && h.labels == e.labels) {
                continue;
            }
            if held.len() >= max_series {
                held.pop_front();
                t.total -= 1;
            }
            held.push_back(e);
            t.total += 1;
            t.order.push_back(key.clone());
            while t.total > max_tenant {
                let Some(oldest) = t.order.pop_front() else { break };
                if let Some(q) = t.series.get_mut(&oldest)
                    && q.pop_front().is_some()
                {
                    t.total -= 1;
                    if q.is_empty() {
                        t.series.remove(&oldest);
                    }
                }
            }
            // `order` may hold entries whose exemplar a per-series eviction
            // took already; keep it from growing past a bound.
            if t.order.len() > 2 * max_tenant {
                let live: std::collections::HashSet<*const Labels> = t.series.keys().map(Arc::as_ptr).collect();
                t.order.retain(|k| live.contains(&Arc::as_ptr(k)));
            }
        }
        stored
    }

    /// Every exemplar held, per tenant and series (for snapshots; series in
    /// no particular order, each series' exemplars oldest first).
    pub fn export(&self) -> Vec<(TenantId, Vec<SeriesExemplars>)> {
        let tenants = self.tenants.read().unwrap_or_else(|e| e.into_inner());
        tenants
            .iter()
            .map(|(t, ex)| {
                let series = ex.series.iter().map(|(l, q)| ((**l).clone(), q.iter().cloned().collect())).collect();
                (t.clone(), series)
            })
            .collect()
    }

    /// The exemplars in `[start, end]` (ms) of the tenant's series that
    /// satisfy any of the matcher sets, series sorted by labels, exemplars
    /// by time.
    pub fn query(
        &self,
        tenant: &TenantId,
        selectors: &[Vec<Matcher>],
        start: i64,
        end: i64,
    ) -> Vec<(Labels, Vec<Exemplar>)> {
        let tenants = self.tenants.read().unwrap_or_else(|e| e.into_inner());
        let Some(t) = tenants.get(tenant) else { return Vec::new() };
        let mut out: Vec<(Labels, Vec<Exemplar>)> = t
            .series
            .iter()
            .filter(|(labels, _)| selectors.iter().any(|m| matches_all(m, labels)))
            .map(|(labels, held)| {
                let mut ex: Vec<Exemplar> = held.iter().filter(|e| (start..=end).contains(&e.t)).cloned().collect();
                ex.sort_by_key(|e| e.t);
                ((**labels).clone(), ex)
            })
            .filter(|(_, ex)| !ex.is_empty())
            .collect();
        out.sort_by(|a, b| a.0.as_slice().cmp(b.0.as_slice()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(t: i64, trace: &str) -> Exemplar {
        Exemplar { labels: Labels::from_pairs([("trace_id", trace)]).unwrap(), value: t as f64, t }
    }

    #[test]
    fn bounded_per_series_and_per_tenant_and_selected_by_matchers() {
        let store = ExemplarStore::default();
        let l = ExemplarLimits { max_per_tenant: 5, max_per_series: 3 };
        let tenant = TenantId::new("t").unwrap();
        let a = Labels::from_pairs([("__name__", "http.server.duration"), ("job", "a")]).unwrap();
        let b = Labels::from_pairs([("__name__", "other"), ("job", "b")]).unwrap();
        assert_eq!(store.record(&tenant, &a, (1..=4).map(|t| ex(t, "x")).collect(), l), 4);
        assert_eq!(store.record(&tenant, &a, vec![ex(4, "x")], l), 1, "a resend is not stored twice");
        let sel_a = vec![vec![Matcher::equal("__name__", "http.server.duration")]];
        let got = store.query(&tenant, &sel_a, 0, 100);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1.iter().map(|e| e.t).collect::<Vec<_>>(), [2, 3, 4], "3 per series");
        store.record(&tenant, &b, (10..13).map(|t| ex(t, "y")).collect(), l);
        // 6 held > 5 per tenant: the oldest inserted (a's t=2) went.
        assert_eq!(store.query(&tenant, &sel_a, 0, 100)[0].1.iter().map(|e| e.t).collect::<Vec<_>>(), [3, 4]);
        let both = vec![vec![Matcher::equal("job", "a")], vec![Matcher::equal("job", "b")]];
        assert_eq!(store.query(&tenant, &both, 4, 11).iter().map(|s| s.1.len()).collect::<Vec<_>>(), [1, 2]);
        assert!(store.query(&TenantId::new("other").unwrap(), &both, 0, 100).is_empty());
    }
}
