//! The results cache of range queries: a Grafana panel re-runs the same
//! 6 h query every few seconds, and only its newest part can change.
//!
//! ```text
//!  query_range(tenant, query, start..end, step)
//!    ─▶ units: the steps grouped by `split_ms`-aligned splits; a split whose
//!       data a head still holds is cut into `tail_split_ms`-aligned pieces
//!    ─▶ per unit: prepare the sub-query, ask the source for the version of
//!       each selection over the unit's data window
//!         version None (a head still holds data there) ─▶ evaluate, not kept;
//!           every later unit is then taken as live without asking (and
//!           later splits are not cut into pieces)
//!         cached under (tenant, query, step, step phase, width, index) with
//!           the same versions ─▶ hit
//!         else ─▶ evaluate, keep (LRU, bounded bytes)
//!    ─▶ consecutive units to evaluate run as one query, cut apart after
//!    ─▶ series merged by labels across units, in time order
//! ```
//!
//! [`ResultsCache::lookup`] finds the hits before the query is admitted, so
//! the scheduler estimates and admits only the units left to evaluate: a
//! refreshed panel costs (and queues like) its uncached tail.
//!
//! Why results never go stale: a unit's entry is used only when every
//! selection's [`SeriesSource::version`] over the unit's whole data window
//! (the unit's steps widened by ranges, offsets and the lookback, as the
//! planner computes them) equals the one recorded with it. The storage
//! source has no version while an ingester head holds a selected sample in
//! the window (out-of-order samples land in a head first), and otherwise
//! versions the window by the immutable files it reads, so a sample landing
//! in a cached unit later (in a head, then in a new file) changes the
//! version. Each step's value depends only on the data of its own window,
//! so evaluating units apart, or several in one run, gives the same points
//! as one evaluation.
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

use crate::engine::{Engine, Points, Prepared, QueryRequest, QueryStats, QueryValue, RangeSeries};
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
    /// Width of the pieces a split is cut into when a head still holds data
    /// in it (the newest split of a live panel): the pieces before the
    /// head's data are cached on their own, so a refresh evaluates only the
    /// newest pieces. Default 10 min; `split_ms` or more turns it off.
    pub tail_split_ms: u64,
    /// Most bytes of results kept; the least recently used go first.
    /// Default 256 MiB.
    pub max_bytes: u64,
}

impl Default for ResultsCacheConfig {
    fn default() -> Self {
        Self { enabled: true, split_ms: 2 * 3600 * 1000, tail_split_ms: 10 * 60 * 1000, max_bytes: 256 << 20 }
    }
}

impl ResultsCacheConfig {
    /// Checks the split widths.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [("split_ms", self.split_ms), ("tail_split_ms", self.tail_split_ms)] {
            if v == 0 || v > i64::MAX as u64 / 4 {
                return Err(Error::InvalidConfig(format!("results_cache.{name} must be between 1 and 2^61")));
            }
        }
        Ok(())
    }
}

/// What identifies one unit's result.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    tenant: String,
    query: String,
    step: i64,
    /// `start mod step`: grids of another phase have other step times.
    phase: i64,
    /// The unit's width: `split_ms`, or `tail_split_ms` for a piece.
    width: i64,
    /// The unit's index (`t div width`).
    index: i64,
}

/// One unit's series as `(labels, float points, histogram points)`.
type Part = Arc<Vec<PartSeries>>;

/// One series of a unit.
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
    /// Units answered from the cache.
    pub hits: u64,
    /// Units evaluated.
    pub misses: u64,
}

/// One unit of a looked-up query: a split, or a piece of one.
struct Unit {
    key: Key,
    /// First and last step of the unit.
    first: Timestamp,
    last: Timestamp,
    /// The versions of its selections; `None` when its data can change.
    versions: Option<Vec<u64>>,
    /// The cached answer, when the versions matched.
    hit: Option<Part>,
}

/// A range query's units after [`ResultsCache::lookup`]: the hits, and the
/// runs of units left to evaluate, prepared.
pub struct Lookup {
    units: Vec<Unit>,
    /// `(first unit, end unit, the query over them)` of every run of
    /// consecutive missed units, in time order.
    runs: Vec<(usize, usize, Prepared)>,
}

impl Lookup {
    /// The prepared sub-queries left to evaluate: one per run of
    /// consecutive units that missed, in time order (none when every unit
    /// hit). The scheduler estimates these.
    pub fn misses(&self) -> impl Iterator<Item = &Prepared> {
        self.runs.iter().map(|(_, _, p)| p)
    }

    /// Units hit and missed.
    pub fn outcome(&self) -> Outcome {
        let hits = self.units.iter().filter(|u| u.hit.is_some()).count() as u64;
        Outcome { hits, misses: self.units.len() as u64 - hits }
    }
}

/// `(first, end)` indexes of every run of consecutive missed units.
fn miss_runs(units: &[Unit]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < units.len() {
        let start = i;
        while i < units.len() && units[i].hit.is_none() {
            i += 1;
        }
        if start < i {
            runs.push((start, i));
        } else {
            i += 1;
        }
    }
    runs
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

/// The steps `first, first + step, …, last` grouped into `width`-aligned
/// windows: `(window index, first step, last step)`.
fn windows(first: Timestamp, last: Timestamp, step: i64, width: i64) -> Vec<(i64, Timestamp, Timestamp)> {
    let step = step.max(1);
    let mut out = Vec::new();
    let mut t = first;
    while t <= last {
        let index = t.div_euclid(width);
        let window_end = (index + 1) * width - 1;
        // The last step at or before the window's end (and the range's).
        let end = t + (window_end.min(last) - t) / step * step;
        out.push((index, t, end));
        t = end + step;
    }
    out
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

    /// Units answered from the cache and units evaluated, since start.
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

    /// The versions of every selection of `req` over `first..=last`, or
    /// `None` when one of them can still change.
    async fn versions(
        engine: &Engine,
        source: &Arc<dyn SeriesSource>,
        req: &QueryRequest,
        first: Timestamp,
        last: Timestamp,
    ) -> Result<Option<Vec<u64>>> {
        let prepared = engine.prepare(QueryRequest { start: first, end: last, ..req.clone() })?;
        let mut versions = Vec::new();
        for sel in prepared.selections() {
            match source.version(&sel).await? {
                Some(v) => versions.push(v),
                None => return Ok(None),
            }
        }
        Ok(Some(versions))
    }

    /// The unit `width`/`index` over `first..=last`, with its cached answer
    /// when its versions match.
    fn unit(
        &self,
        req: &QueryRequest,
        width: i64,
        index: i64,
        first: Timestamp,
        last: Timestamp,
        versions: Option<Vec<u64>>,
    ) -> Unit {
        let key = Key {
            tenant: req.tenant.as_str().to_string(),
            query: req.query.clone(),
            step: req.step,
            phase: req.start.rem_euclid(req.step.max(1)),
            width,
            index,
        };
        let hit = versions.as_deref().and_then(|v| self.get(&key, v));
        Unit { key, first, last, versions, hit }
    }

    /// Cuts the range query `req` into units and finds the cached ones
    /// (no sample is read: the versions come from the heads' postings and
    /// the files' time ranges). `None` when every unit is live (a
    /// dashboard over the newest data only): nothing of it can be kept, so
    /// it is better evaluated as it is, without cutting its answer.
    pub async fn lookup(
        &self,
        engine: &Engine,
        source: &Arc<dyn SeriesSource>,
        req: &QueryRequest,
    ) -> Result<Option<Lookup>> {
        let (split, tail) = (self.config.split_ms as i64, self.config.tail_split_ms as i64);
        let mut units = Vec::new();
        // Once a window is found live, every later unit is taken as live
        // too, without asking: heads hold the newest data, so this is almost
        // always true, and a live dashboard query costs two version checks
        // instead of one per piece; a later split stays whole, as its
        // pieces could not be kept either. (A late sample in an older window
        // only keeps the units after it uncached until it is flushed.)
        let mut live = false;
        for (index, first, last) in windows(req.start, req.end, req.step, split) {
            let versions = if live { None } else { Self::versions(engine, source, req, first, last).await? };
            if live || versions.is_some() || tail >= split {
                live = versions.is_none();
                units.push(self.unit(req, split, index, first, last, versions));
                continue;
            }
            // A head holds data in the split: cache its older pieces apart.
            for (index, first, last) in windows(first, last, req.step, tail) {
                let versions = if live { None } else { Self::versions(engine, source, req, first, last).await? };
                live |= versions.is_none();
                units.push(self.unit(req, tail, index, first, last, versions));
            }
            live = true;
        }
        if units.iter().all(|u| u.versions.is_none()) {
            self.misses.fetch_add(units.len() as u64, Ordering::Relaxed);
            return Ok(None);
        }
        let runs = miss_runs(&units)
            .into_iter()
            .map(|(i, j)| {
                let sub = QueryRequest { start: units[i].first, end: units[j - 1].last, ..req.clone() };
                Ok((i, j, engine.prepare(sub)?))
            })
            .collect::<Result<_>>()?;
        Ok(Some(Lookup { units, runs }))
    }

    /// Evaluates the units `lookup` missed (each run of consecutive ones as
    /// one query, as it was prepared), keeps their answers, and merges
    /// every unit's series;
    /// `parallelism` and `background` as for [`Engine::run_with`]. The
    /// statistics add up the evaluated runs.
    pub async fn complete(
        &self,
        engine: &Engine,
        source: &Arc<dyn SeriesSource>,
        lookup: Lookup,
        parallelism: usize,
        background: bool,
    ) -> Result<(QueryValue, QueryStats, Outcome)> {
        let outcome = lookup.outcome();
        let Lookup { mut units, runs } = lookup;
        let mut stats = QueryStats::default();
        let mut evaluated: Vec<Option<Part>> = vec![None; units.len()];
        for (i, j, mut prepared) in runs {
            prepared.set_parallelism(parallelism);
            let (value, mut s) = engine.run_with(source.clone(), prepared, background).await?;
            // A run that annotated something is not cached: a hit would
            // lose its warnings.
            let annotated = !s.annotations.is_empty();
            stats.annotations.merge(std::mem::take(&mut s.annotations));
            add_stats(&mut stats, &s);
            let QueryValue::Matrix(series) = value else {
                return Err(Error::Internal("a range query answered something else than a matrix".into()));
            };
            let bounds: Vec<(Timestamp, Timestamp)> = units[i..j].iter().map(|u| (u.first, u.last)).collect();
            for ((unit, slot), part) in units[i..j].iter_mut().zip(&mut evaluated[i..j]).zip(cut(&series, &bounds)) {
                let part: Part = Arc::new(part);
                if let Some(v) = unit.versions.take().filter(|_| !annotated) {
                    self.put(unit.key.clone(), v, part.clone());
                }
                *slot = Some(part);
            }
        }
        let parts: Vec<Part> = units.into_iter().zip(evaluated).filter_map(|(u, e)| u.hit.or(e)).collect();
        self.hits.fetch_add(outcome.hits, Ordering::Relaxed);
        self.misses.fetch_add(outcome.misses, Ordering::Relaxed);
        Ok((QueryValue::Matrix(merge(&parts)), stats, outcome))
    }

    /// [`Self::lookup`] then [`Self::complete`] (a query with nothing
    /// cacheable is evaluated directly, and reports no units).
    pub async fn run(
        &self,
        engine: &Engine,
        source: &Arc<dyn SeriesSource>,
        req: &QueryRequest,
        parallelism: usize,
        background: bool,
    ) -> Result<(QueryValue, QueryStats, Outcome)> {
        match self.lookup(engine, source, req).await? {
            Some(lookup) => self.complete(engine, source, lookup, parallelism, background).await,
            None => {
                let mut prepared = engine.prepare(req.clone())?;
                prepared.set_parallelism(parallelism);
                let (value, stats) = engine.run_with(source.clone(), prepared, background).await?;
                Ok((value, stats, Outcome::default()))
            }
        }
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

/// `series` cut at the units' `(first, last)` step `bounds` (in time
/// order), one pass over each series: one part per unit, a series without
/// points in a unit left out of its part.
fn cut(series: &[RangeSeries], bounds: &[(Timestamp, Timestamp)]) -> Vec<Vec<PartSeries>> {
    // The unit holding `t`, if any.
    let unit_of = |t: Timestamp| {
        let u = bounds.partition_point(|&(_, last)| last < t);
        bounds.get(u).is_some_and(|&(first, _)| t >= first).then_some(u)
    };
    let mut parts = vec![Vec::new(); bounds.len()];
    for s in series {
        let mut points = vec![Vec::new(); bounds.len()];
        let mut hist = vec![Vec::new(); bounds.len()];
        for (t, v) in s.points.iter() {
            if let Some(u) = unit_of(t) {
                points[u].push((t, v));
            }
        }
        for (t, h) in &s.hist {
            if let Some(u) = unit_of(*t) {
                hist[u].push((*t, h.clone()));
            }
        }
        for ((part, p), h) in parts.iter_mut().zip(points).zip(hist) {
            if !p.is_empty() || !h.is_empty() {
                part.push((s.labels.clone(), p, h));
            }
        }
    }
    parts
}

/// The units' series merged by labels (sorted, as the engine answers),
/// points in time order (the units are in time order).
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
    fn windows_cover_every_step_once_aligned_to_the_width() {
        let r = QueryRequest { step: 7 * 60_000, ..req("x", HOUR / 2, 6 * HOUR) };
        let splits = windows(r.start, r.end, r.step, 2 * HOUR);
        let steps: Vec<i64> = splits
            .iter()
            .flat_map(|&(_, a, b)| (0..).map(move |k| a + k * r.step).take_while(move |t| *t <= b))
            .collect();
        let want: Vec<i64> = (0..).map(|k| r.start + k * r.step).take_while(|t| *t <= r.end).collect();
        assert_eq!(steps, want);
        assert_eq!(splits.iter().map(|s| s.0).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(splits.iter().all(|&(i, a, b)| a.div_euclid(2 * HOUR) == i && b.div_euclid(2 * HOUR) == i));
        // A step wider than the width leaves no window empty.
        assert!(windows(0, HOUR, HOUR / 2, 60_000).iter().all(|&(_, a, b)| a <= b));
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

    /// A memory source whose data from `volatile_from` on can still change
    /// (as a head's): no version for windows reaching it.
    struct LiveTail {
        inner: Arc<MemorySource>,
        volatile_from: std::sync::atomic::AtomicI64,
        /// Calls of `version`, per selection.
        version_calls: AtomicU64,
    }

    impl SeriesSource for LiveTail {
        fn select_with_stats<'a>(
            &'a self,
            req: &'a strata_common::select::SelectRequest,
        ) -> futures::future::BoxFuture<'a, Result<(crate::source::SeriesIter, crate::source::SelectStats)>> {
            self.inner.select_with_stats(req)
        }
        fn series_labels<'a>(
            &'a self,
            req: &'a strata_common::select::SelectRequest,
        ) -> futures::future::BoxFuture<'a, Result<Vec<Labels>>> {
            self.inner.series_labels(req)
        }
        fn estimate<'a>(
            &'a self,
            req: &'a strata_common::select::SelectRequest,
        ) -> futures::future::BoxFuture<'a, Result<strata_common::select::SelectEstimate>> {
            self.inner.estimate(req)
        }
        fn version<'a>(
            &'a self,
            req: &'a strata_common::select::SelectRequest,
        ) -> futures::future::BoxFuture<'a, Result<Option<u64>>> {
            self.version_calls.fetch_add(1, Ordering::Relaxed);
            if req.max_t >= self.volatile_from.load(Ordering::Relaxed) {
                return Box::pin(async { Ok(None) });
            }
            self.inner.version(req)
        }
    }

    #[test]
    fn a_split_with_live_data_caches_its_older_pieces_and_evaluates_only_the_tail() {
        let mem = source();
        let live = Arc::new(LiveTail {
            inner: mem.clone(),
            volatile_from: (5 * HOUR + HOUR / 2).into(),
            version_calls: AtomicU64::new(0),
        });
        let src: Arc<dyn SeriesSource> = live.clone();
        let engine = Engine::new(EngineOptions::default());
        let cache = ResultsCache::new(ResultsCacheConfig::default());
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let q = "sum by (host) (rate(c_total[5m]))";
        let r = req(q, 0, 6 * HOUR - 60_000);
        let direct = rt.block_on(engine.execute(mem.as_ref(), r.clone())).unwrap();
        // Splits 0 and 1 are whole; split 2 (4 h..6 h) is cut into 12
        // pieces of 10 min, of which those reading 5 h 30 min on change.
        let lookup = rt.block_on(cache.lookup(&engine, &src, &r)).unwrap().unwrap();
        assert_eq!(lookup.outcome(), Outcome { hits: 0, misses: 2 + 12 });
        assert_eq!(lookup.misses().count(), 1, "consecutive misses run as one query");
        let (first, _, _) = rt.block_on(cache.complete(&engine, &src, lookup, 2, false)).unwrap();
        assert_eq!(points(&first), points(&direct));
        // A refresh: only the pieces whose window (5 min rate range
        // included) reaches the live data are evaluated again.
        live.version_calls.store(0, Ordering::Relaxed);
        let lookup = rt.block_on(cache.lookup(&engine, &src, &r)).unwrap().unwrap();
        let misses: Vec<&QueryRequest> = lookup.misses().map(Prepared::request).collect();
        assert_eq!(lookup.outcome(), Outcome { hits: 2 + 9, misses: 3 });
        assert_eq!(
            live.version_calls.load(Ordering::Relaxed),
            3 + 10,
            "3 splits and the pieces up to the first live one; the 2 after it are not asked"
        );
        assert_eq!((misses.len(), misses[0].start, misses[0].end), (1, 5 * HOUR + HOUR / 2, r.end));
        let (again, _, _) = rt.block_on(cache.complete(&engine, &src, lookup, 2, false)).unwrap();
        assert_eq!(points(&again), points(&direct));
        // A late sample in the live tail is seen; once the tail is stable
        // (flushed), every piece is cached.
        let labels = Labels::from_pairs([("__name__", "c_total"), ("host", "h1")]).unwrap();
        mem.append(&TenantId::default_tenant(), labels, &[Sample::new(5 * HOUR + 50 * 60_000 + 500, 1e12)]).unwrap();
        let direct = rt.block_on(engine.execute(mem.as_ref(), r.clone())).unwrap();
        let (late, _, o) = rt.block_on(cache.run(&engine, &src, &r, 1, false)).unwrap();
        assert_eq!(o, Outcome { hits: 2 + 9, misses: 3 });
        assert_eq!(points(&late), points(&direct));
        live.volatile_from.store(i64::MAX, Ordering::Relaxed);
        let (_, _, o) = rt.block_on(cache.run(&engine, &src, &r, 1, false)).unwrap();
        assert_eq!(o, Outcome { hits: 2, misses: 1 }, "the stable split is a new whole unit");
        let (stable, _, o) = rt.block_on(cache.run(&engine, &src, &r, 1, false)).unwrap();
        assert_eq!(o, Outcome { hits: 3, misses: 0 });
        assert_eq!(points(&stable), points(&direct));
        // A panel over the live data only: nothing to keep, evaluated as is
        // after two version checks (its split, then the split's first piece).
        live.volatile_from.store(5 * HOUR, Ordering::Relaxed);
        live.version_calls.store(0, Ordering::Relaxed);
        let r = req(q, 5 * HOUR + HOUR / 2, 6 * HOUR - 60_000);
        assert!(rt.block_on(cache.lookup(&engine, &src, &r)).unwrap().is_none());
        assert_eq!(live.version_calls.load(Ordering::Relaxed), 2);
        let (recent, _, o) = rt.block_on(cache.run(&engine, &src, &r, 1, false)).unwrap();
        assert_eq!(o, Outcome::default());
        assert_eq!(points(&recent), points(&rt.block_on(engine.execute(mem.as_ref(), r)).unwrap()));
        // Live from 3 h on: split 1 is cut into pieces, split 2 after it stays whole.
        live.volatile_from.store(3 * HOUR, Ordering::Relaxed);
        let r = req(q, 0, 6 * HOUR - 60_000);
        let lookup = rt.block_on(cache.lookup(&engine, &src, &r)).unwrap().unwrap();
        assert_eq!(lookup.outcome().hits + lookup.outcome().misses, 1 + 12 + 1);
        let (whole, _, _) = rt.block_on(cache.complete(&engine, &src, lookup, 1, false)).unwrap();
        assert_eq!(points(&whole), points(&rt.block_on(engine.execute(mem.as_ref(), r)).unwrap()));
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
