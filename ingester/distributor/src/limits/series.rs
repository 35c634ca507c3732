//! [`SeriesTracker`]: the active series of one tenant, for the series limits.

use std::time::{Duration, Instant};

use strata_common::prehashed::PreHashedMap;

/// Keys are xxh3 hashes already: they pass through instead of being
/// SipHashed again (the lookup is on the push path, once per series).
type Map<V> = PreHashedMap<V>;

/// Series hash → (metric name hash, last push), with per-metric counts.
/// A series stops being active `idle` after its last push; expired entries
/// are swept at most once per `idle / 4`.
#[derive(Debug, Default)]
pub(crate) struct SeriesTracker {
    series: Map<(u64, Instant)>,
    per_metric: Map<u64>,
    last_sweep: Option<Instant>,
}

/// Why [`SeriesTracker::admit`] refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SeriesRefusal {
    /// The tenant would have more active series than allowed.
    Tenant { active: u64, new: u64 },
    /// A metric would: its name and active count.
    Metric { metric: String, active: u64 },
}

impl SeriesTracker {
    /// Active series.
    pub(crate) fn active(&self) -> u64 {
        self.series.len() as u64
    }

    /// Drops series idle for longer than `idle`.
    fn sweep(&mut self, now: Instant, idle: Duration) {
        if self.last_sweep.is_some_and(|t| now.saturating_duration_since(t) < idle / 4) {
            return;
        }
        self.last_sweep = Some(now);
        let per_metric = &mut self.per_metric;
        self.series.retain(|_, (metric, seen)| {
            let keep = now.saturating_duration_since(*seen) < idle;
            if !keep && let Some(c) = per_metric.get_mut(metric) {
                *c = c.saturating_sub(1);
            }
            keep
        });
        self.per_metric.retain(|_, c| *c > 0);
    }

    /// Admits a request's series, `(series hash, metric name)`, all or
    /// none: refused if its new series would take the tenant past
    /// `max_series` or a metric past `max_per_metric` (0 = no limit).
    /// Known series cost one lookup; metric names are hashed only for new
    /// ones.
    pub(crate) fn admit(
        &mut self,
        series: &[(u64, &str)],
        max_series: u64,
        max_per_metric: u64,
        now: Instant,
        idle: Duration,
    ) -> Result<(), SeriesRefusal> {
        self.sweep(now, idle);
        // Known series are marked seen right away (also when the request is
        // then refused: they are active either way); new ones are
        // collected, each once.
        let mut new: Vec<(u64, &str)> = Vec::new();
        for &(s, m) in series {
            match self.series.get_mut(&s) {
                Some(e) => e.1 = now,
                None => new.push((s, m)),
            }
        }
        if new.is_empty() {
            return Ok(());
        }
        new.sort_unstable_by_key(|&(s, _)| s);
        new.dedup_by_key(|&mut (s, _)| s);
        let new: Vec<(u64, u64, &str)> =
            new.into_iter().map(|(s, m)| (s, xxhash_rust::xxh3::xxh3_64(m.as_bytes()), m)).collect();
        let n = new.len() as u64;
        if max_series > 0 && self.active() + n > max_series {
            return Err(SeriesRefusal::Tenant { active: self.active(), new: n });
        }
        if max_per_metric > 0 {
            let mut new_per_metric: Map<(u64, &str)> = Map::default();
            for &(_, h, m) in &new {
                new_per_metric.entry(h).or_insert((0, m)).0 += 1;
            }
            for (h, (k, m)) in &new_per_metric {
                let active = self.per_metric.get(h).copied().unwrap_or(0);
                if active + k > max_per_metric {
                    return Err(SeriesRefusal::Metric { metric: m.to_string(), active });
                }
            }
        }
        for (s, h, _) in new {
            self.series.insert(s, (h, now));
            *self.per_metric.entry(h).or_default() += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_all_or_nothing_and_expires_idle_series() {
        let (t0, idle) = (Instant::now(), Duration::from_secs(60));
        let mut t = SeriesTracker::default();
        t.admit(&[(1, "a"), (2, "a"), (2, "a")], 3, 0, t0, idle).unwrap();
        assert_eq!(t.active(), 2);
        // Three new series would make 5 > 3: refused, nothing added.
        assert_eq!(
            t.admit(&[(3, "a"), (4, "b"), (5, "b")], 3, 0, t0, idle),
            Err(SeriesRefusal::Tenant { active: 2, new: 3 })
        );
        assert_eq!(t.active(), 2);
        // Known series always pass.
        t.admit(&[(1, "a"), (2, "a")], 2, 0, t0, idle).unwrap();
        // Per metric.
        assert_eq!(t.admit(&[(3, "a")], 0, 2, t0, idle), Err(SeriesRefusal::Metric { metric: "a".into(), active: 2 }));
        t.admit(&[(3, "b")], 0, 2, t0, idle).unwrap();
        // After the idle time they no longer count.
        let later = t0 + Duration::from_secs(61);
        t.admit(&[(9, "a")], 1, 1, later, idle).unwrap();
        assert_eq!(t.active(), 1);
    }
}
