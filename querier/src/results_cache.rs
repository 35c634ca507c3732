//! The results cache of range queries: a Grafana panel re-runs the same
//! 6 h query every few seconds, and only its newest part can change.
//!
//! ```text
//!  query_range(tenant, query, start..end, step)
//!    ─▶ splits: the steps grouped by `split_ms`-aligned windows
//!    ─▶ per split: prepare the sub-query, ask the source for the version
//!       of each selection over the split's data window
//!         version None (a head still holds data there) ─▶ evaluate, not kept
//!         cached under (tenant, query, step, step phase, split) with the
//!           same versions ─▶ hit
//!         else ─▶ evaluate, keep (LRU, bounded bytes)
//!    ─▶ series merged by labels across splits, in time order
//! ```
//!
//! Why results never go stale: a split's entry is used only when every
//! selection's [`SeriesSource::version`] over the split's whole data window
//! (the split's steps widened by ranges, offsets and the lookback, as the
//! planner computes them) equals the one recorded with it. The storage
//! source has no version while an ingester head holds a selected sample in
//! the window (out-of-order samples land in a head first), and otherwise
//! versions the window by the immutable files it reads, so a sample landing
//! in a cached split later (in a head, then in a new file) changes the
//! version. Each step's value depends only on the data of its own window,
//! so evaluating splits apart gives the same points as one evaluation.
//!
//! Queries whose values depend on the query's own start or end (`@
//! start()`, `@ end()`; any `@`, to be safe) are not cached. A request with
//! `Cache-Control: no-store`, or `[querier.results_cache] enabled = false`,
//! bypasses the cache.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use strata_common::histogram::Histogram;
use strata_common::{Labels, Timestamp};

use crate::engine::{Engine, Points, QueryRequest, QueryStats, QueryValue, RangeSeries};
use crate::error::{Error, Result};
use crate::source::SeriesSource;

/// `[querier.results_cache]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResultsCacheConfig {
    /// Cache range-query results by time split (a request can still bypass
    /// it with `Cache-Control: no-store`).
    pub enabled: bool,
    /// Width of a split in milliseconds; splits are aligned to multiples of
    /// it (UTC). Default 2 h.
    pub split_ms: u64,
    /// Most bytes of results kept; the least recently used go first.
    /// Default 256 MiB.
    pub max_bytes: u64,
}

impl Default for ResultsCacheConfig {
    fn default() -> Self {
        Self { enabled: true, split_ms: 2 * 3600 * 1000, max_bytes: 256 << 20 }
    }
}

impl ResultsCacheConfig {
    /// Checks the split width.
    pub fn validate(&self) -> Result<()> {
        if self.split_ms == 0 || self.split_ms > i64::MAX as u64 / 4 {
            return Err(Error::InvalidConfig("results_cache.split_ms must be between 1 and 2^61".into()));
        }
        Ok(())
    }
}

/// What identifies one split's result.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    tenant: String,
    query: String,
    step: i64,
    /// `start mod step`: grids of another phase have other step times.
    phase: i64,
    /// The split's index (`t div split_ms`).
    split: i64,
}

/// One split's series as `(labels, float points, histogram points)`.
type Part = Arc<Vec<PartSeries>>;

/// One series of a split.
type PartSeries = (Labels, Vec<(Timestamp, f64)>, Vec<(Timestamp, Arc<Histogram>)>);

struct Entry {
    versions: Vec<u64>,
    part: Part,
    bytes: u64,
    last_used: u64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    bytes: u64,
    tick: u64,
}

/// How one request used the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Splits answered from the cache.
    pub hits: u64,
    /// Splits evaluated.
    pub misses: u64,
}

/// The results cache (see the module docs).
pub struct ResultsCache {
    config: ResultsCacheConfig,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for ResultsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultsCache").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Bytes an entry is accounted at.
fn part_bytes(part: &[PartSeries]) -> u64 {
    let hist = |h: &[(Timestamp, Arc<Histogram>)]| h.iter().map(|(_, h)| 16 + h.heap_bytes() as u64).sum::<u64>();
    part.iter().map(|(l, p, h)| crate::engine::ctx::labels_bytes(l) + 72 + 16 * p.len() as u64 + hist(h)).sum::<u64>()
        + 64
}

impl ResultsCache {
    /// A cache with `config`.
    pub fn new(config: ResultsCacheConfig) -> Self {
        Self { config, inner: Mutex::new(Inner::default()), hits: AtomicU64::new(0), misses: AtomicU64::new(0) }
    }

    /// Whether the configuration enables it.
    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// Splits answered from the cache and splits evaluated, since start.
    pub fn counts(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    /// Bytes of results held.
    pub fn bytes(&self) -> u64 {
        self.inner.lock().bytes
    }

    /// Whether `req` may be answered through the cache: a range query
    /// without `@` (whose values could depend on the query's own range).
    pub fn cacheable(&self, req: &QueryRequest) -> bool {
        self.config.enabled && !req.instant && !req.query.contains('@')
    }

    /// The step times of `req` grouped into `split_ms`-aligned splits:
    /// `(split index, first step, last step)`.
    fn splits(&self, req: &QueryRequest) -> Vec<(i64, Timestamp, Timestamp)> {
        let split = self.config.split_ms as i64;
        let step = req.step.max(1);
        let mut out = Vec::new();
        let mut t = req.start;
        while t <= req.end {
            let index = t.div_euclid(split);
            let split_end = (index + 1) * split - 1;
            // The last step at or before the split's end (and the query's).
            let last = t + (split_end.min(req.end) - t) / step * step;
            out.push((index, t, last));
            t = last + step;
        }
        out
    }

    fn get(&self, key: &Key, versions: &[u64]) -> Option<Part> {
        let mut inner = self.inner.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let e = inner.entries.get_mut(key)?;
        if e.versions != versions {
            return None;
        }
        e.last_used = tick;
        Some(e.part.clone())
    }

    fn put(&self, key: Key, versions: Vec<u64>, part: Part) {
        let bytes = part_bytes(&part);
        if bytes > self.config.max_bytes {
            return;
        }
        let mut inner = self.inner.lock();
        inner.tick += 1;
        let last_used = inner.tick;
        if let Some(old) = inner.entries.insert(key, Entry { versions, part, bytes, last_used }) {
            inner.bytes -= old.bytes;
        }
        inner.bytes += bytes;
        while inner.bytes > self.config.max_bytes {
            let Some(oldest) = inner.entries.iter().min_by_key(|(_, e)| e.last_used).map(|(k, _)| k.clone()) else {
                break;
            };
            if let Some(e) = inner.entries.remove(&oldest) {
                inner.bytes -= e.bytes;
            }
        }
    }

    /// Runs the range query `req` split by split, reusing cached splits
    /// whose data has not changed; `parallelism` and `background` as for
    /// [`Engine::run_with`]. The statistics add up the evaluated splits.
    pub async fn run(
        &self,
        engine: &Engine,
        source: &Arc<dyn SeriesSource>,
        req: &QueryRequest,
        parallelism: usize,
        background: bool,
    ) -> Result<(QueryValue, QueryStats, Outcome)> {
        let mut parts: Vec<Part> = Vec::new();
        let mut stats = QueryStats::default();
        let mut outcome = Outcome::default();
        for (split, first, last) in self.splits(req) {
            let sub = QueryRequest { start: first, end: last, ..req.clone() };
            let mut prepared = engine.prepare(sub)?;
            prepared.set_parallelism(parallelism);
            let mut versions = Some(Vec::new());
            for sel in prepared.selections().collect::<Vec<_>>() {
                match (source.version(&sel).await?, versions.as_mut()) {
                    (Some(v), Some(vs)) => vs.push(v),
                    _ => {
                        versions = None;
                        break;
                    }
                }
            }
            let key = Key {
                tenant: req.tenant.as_str().to_string(),
                query: req.query.clone(),
                step: req.step,
                phase: req.start.rem_euclid(req.step.max(1)),
                split,
            };
            if let Some(part) = versions.as_deref().and_then(|v| self.get(&key, v)) {
                outcome.hits += 1;
                parts.push(part);
                continue;
            }
            outcome.misses += 1;
            let (value, mut s) = engine.run_with(source.clone(), prepared, background).await?;
            // A split that annotated something is not cached: a hit would
            // lose its warnings.
            let annotated = !s.annotations.is_empty();
            stats.annotations.merge(std::mem::take(&mut s.annotations));
            add_stats(&mut stats, &s);
            let part: Part = Arc::new(match value {
                QueryValue::Matrix(series) => {
                    series.into_iter().map(|s| (s.labels, s.points.to_vec(), s.hist)).collect()
                }
                _ => return Err(Error::Internal("a range query answered something else than a matrix".into())),
            });
            if let Some(v) = versions.filter(|_| !annotated) {
                self.put(key, v, part.clone());
            }
            parts.push(part);
        }
        self.hits.fetch_add(outcome.hits, Ordering::Relaxed);
        self.misses.fetch_add(outcome.misses, Ordering::Relaxed);
        Ok((QueryValue::Matrix(merge(&parts)), stats, outcome))
    }
}

fn add_stats(total: &mut QueryStats, s: &QueryStats) {
    total.samples_loaded += s.samples_loaded;
    total.peak_samples = total.peak_samples.max(s.peak_samples);
    total.peak_memory_bytes = total.peak_memory_bytes.max(s.peak_memory_bytes);
    total.series_touched += s.series_touched;
    total.select.add(s.select);
    total.prepare_nanos += s.prepare_nanos;
    total.eval_nanos += s.eval_nanos;
}

/// The splits' series merged by labels (sorted, as the engine answers),
/// points in time order (the splits are in time order).
fn merge(parts: &[Part]) -> Vec<RangeSeries> {
    type Merged = (Vec<(Timestamp, f64)>, Vec<(Timestamp, Arc<Histogram>)>);
    let mut by_labels: BTreeMap<&Labels, Merged> = BTreeMap::new();
    for part in parts {
        for (labels, points, hist) in part.iter() {
            let e = by_labels.entry(labels).or_default();
            e.0.extend_from_slice(points);
            e.1.extend_from_slice(hist);
        }
    }
    by_labels
        .into_iter()
        .map(|(l, (p, hist))| RangeSeries { labels: l.clone(), points: Points::Raw(p), hist })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use strata_common::{Labels, Sample, TenantId};

    use super::*;
    use crate::engine::EngineOptions;
    use crate::source::memory::MemorySource;

    const HOUR: i64 = 3_600_000;

    fn source() -> Arc<MemorySource> {
        let src = MemorySource::new();
        for h in 0..20 {
            let labels = Labels::from_pairs([("__name__", "c_total"), ("host", &format!("h{h}"))]).unwrap();
            let samples: Vec<Sample> =
                (0..6 * 360).map(|k| Sample::new(k * 10_000 + 1_000, (k * (h + 1)) as f64)).collect();
            src.append(&TenantId::default_tenant(), labels, &samples).unwrap();
        }
        Arc::new(src)
    }

    fn req(query: &str, start: i64, end: i64) -> QueryRequest {
        QueryRequest {
            tenant: TenantId::default_tenant(),
            query: query.into(),
            start,
            end,
            step: 60_000,
            instant: false,
            timeout: None,
        }
    }

    fn points(v: &QueryValue) -> Vec<(Labels, Vec<(i64, u64)>)> {
        match v {
            QueryValue::Matrix(m) => {
                m.iter().map(|s| (s.labels.clone(), s.points.iter().map(|(t, v)| (t, v.to_bits())).collect())).collect()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn splits_cover_every_step_once_aligned_to_the_split_width() {
        let cache = ResultsCache::new(ResultsCacheConfig { split_ms: 2 * HOUR as u64, ..Default::default() });
        let r = QueryRequest { step: 7 * 60_000, ..req("x", HOUR / 2, 6 * HOUR) };
        let splits = cache.splits(&r);
        let steps: Vec<i64> = splits
            .iter()
            .flat_map(|&(_, a, b)| (0..).map(move |k| a + k * r.step).take_while(move |t| *t <= b))
            .collect();
        let want: Vec<i64> = (0..).map(|k| r.start + k * r.step).take_while(|t| *t <= r.end).collect();
        assert_eq!(steps, want);
        assert_eq!(splits.iter().map(|s| s.0).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(splits.iter().all(|&(i, a, b)| a.div_euclid(2 * HOUR) == i && b.div_euclid(2 * HOUR) == i));
    }

    #[test]
    fn cached_answers_equal_uncached_and_a_late_sample_invalidates_its_split() {
        let src = source();
        let engine = Engine::new(EngineOptions::default());
        let cache = ResultsCache::new(ResultsCacheConfig::default());
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for q in ["sum(rate(c_total[5m]))", "max by (host) (c_total)", "c_total", "topk(2, c_total)"] {
            let r = req(q, 10 * 60_000, 6 * HOUR - 60_000);
            let direct = rt.block_on(engine.execute(src.as_ref(), r.clone())).unwrap();
            let (first, _, o) =
                rt.block_on(cache.run(&engine, &(src.clone() as Arc<dyn SeriesSource>), &r, 2, false)).unwrap();
            assert_eq!(o, Outcome { hits: 0, misses: 3 }, "{q}");
            assert_eq!(points(&first), points(&direct), "{q}: split evaluation equals one evaluation");
            let (again, _, o) =
                rt.block_on(cache.run(&engine, &(src.clone() as Arc<dyn SeriesSource>), &r, 2, false)).unwrap();
            assert_eq!(o, Outcome { hits: 3, misses: 0 }, "{q}");
            assert_eq!(points(&again), points(&direct), "{q}");
        }
        // An out-of-order sample lands in the first split: only that split
        // is evaluated again, and the answer has it.
        let q = "max by (host) (c_total)";
        let r = req(q, 10 * 60_000, 6 * HOUR - 60_000);
        let labels = Labels::from_pairs([("__name__", "c_total"), ("host", "h3")]).unwrap();
        src.append(&TenantId::default_tenant(), labels, &[Sample::new(30 * 60_000 - 500, 1e9)]).unwrap();
        let (late, _, o) =
            rt.block_on(cache.run(&engine, &(src.clone() as Arc<dyn SeriesSource>), &r, 1, false)).unwrap();
        assert_eq!(o, Outcome { hits: 2, misses: 1 });
        let direct = rt.block_on(engine.execute(src.as_ref(), r)).unwrap();
        assert_eq!(points(&late), points(&direct));
        assert!(points(&late).iter().any(|(_, p)| p.iter().any(|&(_, v)| f64::from_bits(v) == 1e9)));
    }

    #[test]
    fn memory_is_bounded_and_at_queries_are_not_cached() {
        let src = source();
        let engine = Engine::new(EngineOptions::default());
        let cache = ResultsCache::new(ResultsCacheConfig { max_bytes: 200_000, ..Default::default() });
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for h in 0..20 {
            let r = req(&format!("c_total{{host=\"h{h}\"}}"), 0, 6 * HOUR);
            rt.block_on(cache.run(&engine, &(src.clone() as Arc<dyn SeriesSource>), &r, 1, false)).unwrap();
            assert!(cache.bytes() <= 200_000, "{}", cache.bytes());
        }
        assert!(cache.bytes() > 0);
        assert!(!cache.cacheable(&req("c_total @ end()", 0, HOUR)));
        assert!(cache.cacheable(&req("c_total", 0, HOUR)));
        let off = ResultsCache::new(ResultsCacheConfig { enabled: false, ..Default::default() });
        assert!(!off.cacheable(&req("c_total", 0, HOUR)));
    }
}
