//! Admission and scheduling of queries by estimated cost.
//!
//! ```text
//!  request ─estimate (index and metadata only)─▶ Scheduler::admit(tenant, cost)
//!     │ cost over the tenant's max_query_cost ─▶ 422, before anything is loaded
//!     ▼ lane by cost: cheap (cost ≤ cheap_max_cost) │ heavy
//!  the lane's queue: start-time fair queuing over tenants, weighted by cost
//!     │ queue or tenant queue full ─▶ 429      waited past max_queue_wait ─▶ 503
//!     ▼ one of the lane's slots (bounded, sized to the cores)
//!  run; dropping the Permit frees the slot and starts the next waiter
//! ```
//!
//! - **Lanes.** A cheap query never queues behind a heavy one: each lane has
//!   its own slots and queue. Heavy slots default to half the cores (at
//!   least one), so heavy queries cannot take every core; cheap slots
//!   default to twice the cores (cheap queries spend much of their time
//!   waiting on heads and files).
//! - **Fairness.** Within a lane, a waiting query gets a start tag
//!   `max(virtual time, its tenant's last finish tag)` and a finish tag
//!   `start + cost`; the smallest start tag runs next (start-time fair
//!   queuing, Goyal et al. 1996). A tenant flooding a lane with queries
//!   advances its own tags only, so another tenant's next query overtakes the
//!   flood's backlog. A tenant at its concurrency limit is skipped, not
//!   refused.
//! - **Bounds.** Queues are bounded per lane and per tenant; a wait is
//!   bounded by `max_queue_wait_ms`. Both failures are retryable and name
//!   the lane.
//!
//! The scheduler is a single mutex over a few small maps: admission is a
//! few hundred nanoseconds, far below a query's cost.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use strata_common::TenantId;
use strata_common::watched::WatchedToml;
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::metrics::{LaneLabels, LaneTenantLabels, QuerierMetrics, RefusalLabels};

/// The lanes, by estimated cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lane {
    /// Dashboard-sized queries and metadata calls.
    Cheap,
    /// Everything above `cheap_max_cost`.
    Heavy,
}

impl Lane {
    /// The lane's name in errors, metrics and `query_cost` answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Cheap => "cheap",
            Lane::Heavy => "heavy",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Per-tenant limits (`[querier.scheduler]` defaults, overridable per
/// tenant in `[querier.scheduler.tenants.<id>]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantLimits {
    /// Largest estimated cost (samples to decode plus step values to
    /// compute) of one query; a query estimated above it is refused with 422
    /// before it loads anything. 0: no limit.
    pub max_query_cost: u64,
    /// Queries of the tenant running at once, over all lanes; more wait in
    /// their lane's queue. 0: no limit.
    pub max_concurrent_queries: usize,
    /// Queries of the tenant waiting at once, over all lanes; more are
    /// refused with 429. 0: no limit.
    pub max_queued_queries: usize,
    /// Series one query may select, over all its selectors; a query that
    /// selects more fails with 422. 0: no limit.
    pub max_series_per_query: u64,
    /// Longest span of time one query may read, from its earliest selector
    /// window start to its last step (a range query's range plus its
    /// longest range selector and lookback); longer queries are refused
    /// with 422 before anything is loaded. 0: no limit.
    pub max_query_length_ms: u64,
    /// How far before now a query may read: older samples are left out, as
    /// if they were not stored (Mimir's `max_query_lookback`). 0: no limit.
    pub max_query_lookback_ms: u64,
}

impl Default for TenantLimits {
    fn default() -> Self {
        Self {
            max_query_cost: 2_000_000_000,
            max_concurrent_queries: 16,
            max_queued_queries: 128,
            max_series_per_query: 0,
            max_query_length_ms: 0,
            max_query_lookback_ms: 0,
        }
    }
}

/// One tenant's entry in the overrides file: every field optional; unset
/// fields keep the configured value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantLimitsOverride {
    /// See [`TenantLimits::max_query_cost`].
    pub max_query_cost: Option<u64>,
    /// See [`TenantLimits::max_concurrent_queries`].
    pub max_concurrent_queries: Option<usize>,
    /// See [`TenantLimits::max_queued_queries`].
    pub max_queued_queries: Option<usize>,
    /// See [`TenantLimits::max_series_per_query`].
    pub max_series_per_query: Option<u64>,
    /// See [`TenantLimits::max_query_length_ms`].
    pub max_query_length_ms: Option<u64>,
    /// See [`TenantLimits::max_query_lookback_ms`].
    pub max_query_lookback_ms: Option<u64>,
}

impl TenantLimitsOverride {
    fn apply(&self, base: TenantLimits) -> TenantLimits {
        TenantLimits {
            max_query_cost: self.max_query_cost.unwrap_or(base.max_query_cost),
            max_concurrent_queries: self.max_concurrent_queries.unwrap_or(base.max_concurrent_queries),
            max_queued_queries: self.max_queued_queries.unwrap_or(base.max_queued_queries),
            max_series_per_query: self.max_series_per_query.unwrap_or(base.max_series_per_query),
            max_query_length_ms: self.max_query_length_ms.unwrap_or(base.max_query_length_ms),
            max_query_lookback_ms: self.max_query_lookback_ms.unwrap_or(base.max_query_lookback_ms),
        }
    }
}

/// The overrides file (`querier.scheduler.overrides_file`): `[tenants.<id>]`
/// tables of [`TenantLimitsOverride`], re-read when it changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OverridesFile {
    /// Per-tenant overrides, by tenant id.
    pub tenants: BTreeMap<String, TenantLimitsOverride>,
}

impl OverridesFile {
    fn check(&self) -> std::result::Result<(), String> {
        self.tenants.keys().try_for_each(|t| TenantId::new(t).map(drop).map_err(|e| e.to_string()))
    }
}

/// Configuration of the scheduler (TOML section `[querier.scheduler]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Queries estimated at or below this cost run in the cheap lane.
    pub cheap_max_cost: u64,
    /// Slots of the cheap lane; 0: twice the cores.
    pub cheap_slots: usize,
    /// Slots of the heavy lane; 0: half the cores, at least one.
    pub heavy_slots: usize,
    /// The threads that evaluate heavy queries run at the `SCHED_IDLE`
    /// policy, so cheap queries preempt them (see `engine::pool`); where the
    /// kernel refuses it, at this nice value (0–19) instead.
    pub heavy_nice: i32,
    /// Queries waiting in one lane at once; more are refused with 429.
    pub max_queued_per_lane: usize,
    /// Longest wait for a slot, in milliseconds; then 503 (retryable).
    pub max_queue_wait_ms: u64,
    /// [`TenantLimits::max_query_cost`] of every tenant without an entry in
    /// `tenants`.
    pub max_query_cost: u64,
    /// [`TenantLimits::max_concurrent_queries`] of every tenant without an
    /// entry in `tenants`.
    pub max_concurrent_queries: usize,
    /// [`TenantLimits::max_queued_queries`] of every tenant without an entry
    /// in `tenants`.
    pub max_queued_queries: usize,
    /// [`TenantLimits::max_series_per_query`] of every tenant without an
    /// entry in `tenants`.
    pub max_series_per_query: u64,
    /// [`TenantLimits::max_query_length_ms`] of every tenant without an
    /// entry in `tenants`.
    pub max_query_length_ms: u64,
    /// [`TenantLimits::max_query_lookback_ms`] of every tenant without an
    /// entry in `tenants`.
    pub max_query_lookback_ms: u64,
    /// Per-tenant limits, by tenant id (fixed at start-up).
    pub tenants: HashMap<String, TenantLimits>,
    /// Per-tenant overrides on top of the above (TOML, `[tenants.<id>]`
    /// tables of optional limits), re-read when it changes; empty = none.
    pub overrides_file: PathBuf,
    /// How often the overrides file is checked, in milliseconds.
    pub reload_interval_ms: u64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        let defaults = TenantLimits::default();
        Self {
            cheap_max_cost: 250_000,
            cheap_slots: 0,
            heavy_slots: 0,
            heavy_nice: 10,
            max_queued_per_lane: 1024,
            max_queue_wait_ms: 30_000,
            max_query_cost: defaults.max_query_cost,
            max_concurrent_queries: defaults.max_concurrent_queries,
            max_queued_queries: defaults.max_queued_queries,
            max_series_per_query: defaults.max_series_per_query,
            max_query_length_ms: defaults.max_query_length_ms,
            max_query_lookback_ms: defaults.max_query_lookback_ms,
            tenants: HashMap::new(),
            overrides_file: PathBuf::new(),
            reload_interval_ms: 5_000,
        }
    }
}

impl SchedulerConfig {
    /// The slots of each lane, with 0 resolved against the core count.
    pub fn slots(&self) -> [usize; 2] {
        let cores = crate::engine::pool::cores();
        let or = |v: usize, auto: usize| if v == 0 { auto } else { v };
        [or(self.cheap_slots, 2 * cores), or(self.heavy_slots, (cores / 2).max(1))]
    }

    /// The limits of `tenant` in this configuration: its entry in
    /// `tenants`, else the defaults (the overrides file comes on top, see
    /// [`Scheduler::limits`]).
    pub fn limits(&self, tenant: &TenantId) -> TenantLimits {
        self.tenants.get(tenant.as_str()).cloned().unwrap_or(TenantLimits {
            max_query_cost: self.max_query_cost,
            max_concurrent_queries: self.max_concurrent_queries,
            max_queued_queries: self.max_queued_queries,
            max_series_per_query: self.max_series_per_query,
            max_query_length_ms: self.max_query_length_ms,
            max_query_lookback_ms: self.max_query_lookback_ms,
        })
    }

    fn open_overrides(&self) -> std::result::Result<WatchedToml<OverridesFile>, String> {
        WatchedToml::open(&self.overrides_file, OverridesFile::check)
    }

    /// Checks that the bounds are positive.
    pub fn validate(&self) -> Result<()> {
        if !(0..=19).contains(&self.heavy_nice) {
            return Err(Error::InvalidConfig(format!(
                "scheduler.heavy_nice = {} is not a nice value from 0 to 19",
                self.heavy_nice
            )));
        }
        if !self.overrides_file.as_os_str().is_empty() {
            self.open_overrides().map_err(|e| Error::InvalidConfig(format!("scheduler.overrides_file: {e}")))?;
        }
        if self.max_queued_per_lane == 0 || self.max_queue_wait_ms == 0 || self.reload_interval_ms == 0 {
            return Err(Error::InvalidConfig(
                "scheduler.max_queued_per_lane, max_queue_wait_ms and reload_interval_ms must be greater than 0".into(),
            ));
        }
        Ok(())
    }
}

/// What a query asks of the scheduler.
#[derive(Debug, Clone, Copy)]
pub struct Admission {
    /// Estimated cost (see [`TenantLimits::max_query_cost`]).
    pub cost: u64,
}

/// A granted slot; dropping it frees the slot and starts the next waiter.
#[derive(Debug)]
pub struct Permit {
    scheduler: Arc<Scheduler>,
    lane: Lane,
    tenant: TenantId,
    /// How long the query waited for its slot.
    pub waited: Duration,
}

impl Permit {
    /// The lane the query runs in.
    pub fn lane(&self) -> Lane {
        self.lane
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.scheduler.release(self.lane, &self.tenant);
    }
}

/// One waiting query.
struct Waiter {
    tenant: TenantId,
    tx: oneshot::Sender<()>,
}

#[derive(Default)]
struct LaneState {
    running: usize,
    /// Waiters by (start tag, arrival), smallest first.
    queue: BinaryHeap<Reverse<(u128, u64)>>,
    waiters: HashMap<u64, Waiter>,
    /// Waiters given a slot that have not taken it yet (their tenants).
    granted: HashMap<u64, TenantId>,
    /// Start tag of the query dispatched last.
    vtime: u128,
}

#[derive(Default)]
struct TenantState {
    running: usize,
    queued: usize,
    /// Finish tag of the tenant's last queued query, per lane.
    last_finish: [u128; 2],
}

#[derive(Default)]
struct State {
    lanes: [LaneState; 2],
    tenants: HashMap<TenantId, TenantState>,
    next_seq: u64,
}

/// The query scheduler: lanes by cost, fair queues, bounded waits.
pub struct Scheduler {
    config: SchedulerConfig,
    overrides: Arc<WatchedToml<OverridesFile>>,
    slots: [usize; 2],
    state: Mutex<State>,
    metrics: QuerierMetrics,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler").field("slots", &self.slots).finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A scheduler with `config` (which must have passed
    /// [`SchedulerConfig::validate`]), reporting into `metrics`.
    pub fn new(config: SchedulerConfig, metrics: QuerierMetrics) -> Arc<Self> {
        let slots = config.slots();
        // `validate` opened the file already; should it have broken since,
        // start with no overrides and let the watcher pick up the fix.
        let overrides = config.open_overrides().unwrap_or_else(|e| {
            tracing::error!(error = %e, "query limit overrides not loaded");
            WatchedToml::open(Path::new(""), OverridesFile::check).expect("no file cannot fail")
        });
        let overrides = Arc::new(overrides);
        Arc::new(Self { config, overrides, slots, state: Mutex::new(State::default()), metrics })
    }

    /// The effective limits of `tenant`: the configuration's, with the
    /// overrides file's entry on top.
    pub fn limits(&self, tenant: &TenantId) -> TenantLimits {
        let base = self.config.limits(tenant);
        self.overrides.get().tenants.get(tenant.as_str()).map_or(base.clone(), |o| o.apply(base))
    }

    /// Re-reads the overrides file every `reload_interval_ms` (returns at
    /// once when none is set).
    pub async fn watch_overrides(self: Arc<Self>) {
        let every = Duration::from_millis(self.config.reload_interval_ms);
        self.overrides.clone().watch(every).await
    }

    /// The lane of a query of `cost`.
    pub fn lane_of(&self, cost: u64) -> Lane {
        if cost <= self.config.cheap_max_cost { Lane::Cheap } else { Lane::Heavy }
    }

    /// The slots of `lane`.
    pub fn slots(&self, lane: Lane) -> usize {
        self.slots[lane.index()]
    }

    /// Threads a query holding a slot may use for its per-series work
    /// (`Prepared::set_parallelism`): the cores shared among the queries
    /// running now, so an idle machine gives a query every core and a busy
    /// one gives each query one thread (never more threads than cores).
    pub fn parallelism(&self) -> usize {
        let cores = crate::engine::pool::cores();
        let running: usize = self.state.lock().lanes.iter().map(|l| l.running).sum();
        (cores / running.max(1)).max(1)
    }

    /// The tenant's cost limit when `cost` is over it.
    pub fn cost_limit(&self, tenant: &TenantId, cost: u64) -> Option<u64> {
        let limit = self.limits(tenant).max_query_cost;
        (limit > 0 && cost > limit).then_some(limit)
    }

    /// Refuses a query whose estimate is over the tenant's cost limit
    /// (before anything is queued or loaded).
    pub fn check_cost(&self, tenant: &TenantId, cost: u64) -> Result<()> {
        match self.cost_limit(tenant, cost) {
            Some(limit) => {
                self.refused("cost", self.lane_of(cost));
                Err(Error::CostLimit { estimate: cost, limit })
            }
            None => Ok(()),
        }
    }

    /// Waits for a slot of the lane of `req.cost`: at once when one is free
    /// and nobody waits, else in the lane's fair queue.
    pub async fn admit(self: &Arc<Self>, tenant: &TenantId, req: Admission) -> Result<Permit> {
        self.check_cost(tenant, req.cost)?;
        let lane = self.lane_of(req.cost);
        let started = Instant::now();
        let limits = self.limits(tenant);
        let (seq, rx) = {
            let mut guard = self.state.lock();
            let st = &mut *guard;
            let ls = &mut st.lanes[lane.index()];
            let ts = st.tenants.entry(tenant.clone()).or_default();
            let tenant_has_room = limits.max_concurrent_queries == 0 || ts.running < limits.max_concurrent_queries;
            if ls.waiters.is_empty() && ls.running < self.slots[lane.index()] && tenant_has_room {
                ls.running += 1;
                ts.running += 1;
                drop(guard);
                return Ok(self.granted(lane, tenant, started));
            }
            if ls.waiters.len() >= self.config.max_queued_per_lane {
                drop(guard);
                self.refused("queue_full", lane);
                return Err(Error::QueueFull(format!(
                    "the {} query queue is full ({} queries waiting); retry later",
                    lane.as_str(),
                    self.config.max_queued_per_lane
                )));
            }
            if limits.max_queued_queries > 0 && ts.queued >= limits.max_queued_queries {
                drop(guard);
                self.refused("tenant_queue_full", lane);
                return Err(Error::QueueFull(format!(
                    "tenant {tenant} has {} queries waiting (limit max_queued_queries); retry later",
                    limits.max_queued_queries
                )));
            }
            let start = ls.vtime.max(ts.last_finish[lane.index()]);
            ts.last_finish[lane.index()] = start + u128::from(req.cost.max(1));
            ts.queued += 1;
            let seq = st.next_seq;
            st.next_seq += 1;
            let (tx, rx) = oneshot::channel();
            ls.queue.push(Reverse((start, seq)));
            ls.waiters.insert(seq, Waiter { tenant: tenant.clone(), tx });
            // Slots may be free while every waiter's tenant is at its limit.
            self.dispatch(st);
            (seq, rx)
        };
        // Removes the waiter if this future is dropped (client gone) or times out.
        let mut guard = QueuedGuard { scheduler: self, lane, seq, armed: true };
        let wait = Duration::from_millis(self.config.max_queue_wait_ms);
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(())) => {
                self.state.lock().lanes[lane.index()].granted.remove(&seq);
                guard.armed = false;
                Ok(self.granted(lane, tenant, started))
            }
            Ok(Err(_)) => Err(Error::Internal("the scheduler dropped a queued query".into())),
            Err(_) => {
                drop(guard);
                self.refused("queue_timeout", lane);
                Err(Error::QueueTimeout(format!(
                    "waited {:?} for a {} query slot (scheduler.max_queue_wait_ms); the server is busy, retry later",
                    wait,
                    lane.as_str()
                )))
            }
        }
    }

    fn granted(self: &Arc<Self>, lane: Lane, tenant: &TenantId, started: Instant) -> Permit {
        let waited = started.elapsed();
        self.metrics
            .queue_wait
            .get_or_create(&LaneTenantLabels { lane: lane.as_str(), tenant: tenant.as_str().to_string() })
            .observe(waited.as_secs_f64());
        Permit { scheduler: Arc::clone(self), lane, tenant: tenant.clone(), waited }
    }

    pub(crate) fn refused(&self, reason: &'static str, lane: Lane) {
        self.metrics.refusals.get_or_create(&RefusalLabels { reason, lane: lane.as_str() }).inc();
    }

    /// A running query of `tenant` in `lane` finished.
    fn release(&self, lane: Lane, tenant: &TenantId) {
        let mut st = self.state.lock();
        st.lanes[lane.index()].running -= 1;
        if let Some(ts) = st.tenants.get_mut(tenant) {
            ts.running -= 1;
        }
        self.dispatch(&mut st);
    }

    /// Removes a waiter that gave up (dropped or timed out): from the queue,
    /// or, when it was given a slot in between, frees that slot.
    fn forget(&self, lane: Lane, seq: u64) {
        let mut st = self.state.lock();
        let st = &mut *st;
        let ls = &mut st.lanes[lane.index()];
        if let Some(w) = ls.waiters.remove(&seq) {
            if let Some(ts) = st.tenants.get_mut(&w.tenant) {
                ts.queued -= 1;
            }
        } else if let Some(tenant) = ls.granted.remove(&seq) {
            ls.running -= 1;
            if let Some(ts) = st.tenants.get_mut(&tenant) {
                ts.running -= 1;
            }
        }
        // Its heap entry is skipped by dispatch.
        self.dispatch(st);
    }

    /// Starts waiters while their lanes have free slots: smallest start tag
    /// first, skipping tenants at their concurrency limit.
    fn dispatch(&self, st: &mut State) {
        for lane in [Lane::Cheap, Lane::Heavy] {
            let i = lane.index();
            let mut skipped = Vec::new();
            while st.lanes[i].running < self.slots[i] {
                let Some(Reverse((start, seq))) = st.lanes[i].queue.pop() else { break };
                let Some(w) = st.lanes[i].waiters.remove(&seq) else { continue };
                let limit = self.limits(&w.tenant).max_concurrent_queries;
                let ts = st.tenants.entry(w.tenant.clone()).or_default();
                if limit > 0 && ts.running >= limit {
                    skipped.push((Reverse((start, seq)), w));
                    continue;
                }
                ts.queued -= 1;
                ts.running += 1;
                let ls = &mut st.lanes[i];
                ls.running += 1;
                ls.vtime = ls.vtime.max(start);
                // A waiter that gave up in between frees the slot in `forget`.
                let _ = w.tx.send(());
                ls.granted.insert(seq, w.tenant);
            }
            for (key, w) in skipped {
                st.lanes[i].queue.push(key);
                st.lanes[i].waiters.insert(key.0.1, w);
            }
            self.metrics
                .queue_length
                .get_or_create(&LaneLabels { lane: lane.as_str() })
                .set(st.lanes[i].waiters.len() as i64);
        }
        // An idle tenant is forgotten once every lane's virtual time has
        // passed its finish tags (they could no longer hold it back).
        let vtimes = [st.lanes[0].vtime, st.lanes[1].vtime];
        st.tenants.retain(|_, t| t.running > 0 || t.queued > 0 || (0..2).any(|i| t.last_finish[i] > vtimes[i]));
    }
}

/// Forgets a queued waiter unless it was granted its slot.
struct QueuedGuard<'a> {
    scheduler: &'a Scheduler,
    lane: Lane,
    seq: u64,
    armed: bool,
}

impl Drop for QueuedGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.scheduler.forget(self.lane, self.seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheduler(cheap: usize, heavy: usize, f: impl FnOnce(&mut SchedulerConfig)) -> Arc<Scheduler> {
        let mut c =
            SchedulerConfig { cheap_slots: cheap, heavy_slots: heavy, cheap_max_cost: 100, ..Default::default() };
        f(&mut c);
        c.validate().unwrap();
        Scheduler::new(c, QuerierMetrics::unregistered())
    }

    fn t(s: &str) -> TenantId {
        TenantId::new(s).unwrap()
    }

    const CHEAP: Admission = Admission { cost: 10 };
    const HEAVY: Admission = Admission { cost: 1_000 };

    #[tokio::test]
    async fn cheap_queries_never_wait_behind_heavy_ones() {
        let s = scheduler(1, 1, |_| {});
        let heavy = s.admit(&t("a"), HEAVY).await.unwrap();
        assert_eq!(heavy.lane(), Lane::Heavy);
        // The heavy lane is full; a second heavy query waits...
        let s2 = s.clone();
        let waiting = tokio::spawn(async move { s2.admit(&t("a"), HEAVY).await.map(|p| p.lane()) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        // ...while a cheap one is admitted at once.
        let cheap = tokio::time::timeout(Duration::from_millis(100), s.admit(&t("b"), CHEAP)).await.unwrap().unwrap();
        assert_eq!((cheap.lane(), cheap.waited < Duration::from_millis(50)), (Lane::Cheap, true));
        drop(heavy);
        assert_eq!(waiting.await.unwrap().unwrap(), Lane::Heavy);
    }

    #[tokio::test]
    async fn over_the_cost_limit_is_refused_before_queueing() {
        let s = scheduler(1, 1, |c| c.max_query_cost = 500);
        let err = s.admit(&t("a"), HEAVY).await.unwrap_err();
        assert!(matches!(err, Error::CostLimit { estimate: 1_000, limit: 500 }), "{err}");
        assert_eq!(err.error_type().status(), 422);
        assert!(err.to_string().contains("estimated cost 1000"), "{err}");
    }

    #[tokio::test]
    async fn full_queues_and_long_waits_are_retryable_errors_naming_the_lane() {
        let s = scheduler(1, 1, |c| {
            c.max_queued_per_lane = 1;
            c.max_queue_wait_ms = 50;
        });
        let _running = s.admit(&t("a"), CHEAP).await.unwrap();
        let s2 = s.clone();
        let queued = tokio::spawn(async move { s2.admit(&t("a"), CHEAP).await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let full = s.admit(&t("b"), CHEAP).await.unwrap_err();
        assert_eq!(full.error_type().status(), 429);
        assert!(full.to_string().contains("cheap query queue is full"), "{full}");
        let timed_out = queued.await.unwrap().unwrap_err();
        assert_eq!(timed_out.error_type().status(), 503);
        assert!(timed_out.to_string().contains("cheap query slot"), "{timed_out}");
        // The timed-out waiter left the queue: a new one may wait again.
        assert!(s.state.lock().lanes[0].waiters.is_empty());
    }

    #[tokio::test]
    async fn a_flooding_tenant_does_not_starve_another() {
        let s = scheduler(1, 1, |_| {});
        let first = s.admit(&t("flood"), CHEAP).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..10 {
            let (s, order) = (s.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _p = s.admit(&t("flood"), CHEAP).await.unwrap();
                order.lock().push(format!("flood{i}"));
            }));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let (s2, order2) = (s.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let _p = s2.admit(&t("quiet"), CHEAP).await.unwrap();
            order2.lock().push("quiet".to_string());
        }));
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(first);
        for task in tasks {
            task.await.unwrap();
        }
        let order = order.lock().clone();
        let quiet = order.iter().position(|x| x == "quiet").unwrap();
        // The quiet tenant's query overtakes the flood's backlog.
        assert!(quiet <= 1, "{order:?}");
        assert_eq!(order.len(), 11);
    }

    #[tokio::test]
    async fn a_tenant_at_its_concurrency_limit_waits_while_others_run() {
        let s = scheduler(4, 1, |c| c.max_concurrent_queries = 1);
        let a1 = s.admit(&t("a"), CHEAP).await.unwrap();
        let s2 = s.clone();
        let a2 = tokio::spawn(async move { s2.admit(&t("a"), CHEAP).await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!a2.is_finished());
        // Tenant b is not held back by a's waiting query.
        let _b = tokio::time::timeout(Duration::from_millis(100), s.admit(&t("b"), CHEAP)).await.unwrap().unwrap();
        drop(a1);
        a2.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn an_abandoned_waiter_frees_its_place_and_leaks_no_slot() {
        let s = scheduler(1, 1, |_| {});
        let running = s.admit(&t("a"), CHEAP).await.unwrap();
        let s2 = s.clone();
        let waiter = tokio::spawn(async move { s2.admit(&t("a"), CHEAP).await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(10)).await;
        waiter.abort();
        let _ = waiter.await;
        drop(running);
        // The only slot is free again.
        let p = tokio::time::timeout(Duration::from_millis(100), s.admit(&t("a"), CHEAP)).await.unwrap().unwrap();
        drop(p);
        let st = s.state.lock();
        assert_eq!((st.lanes[0].running, st.lanes[0].waiters.len(), st.lanes[0].granted.len()), (0, 0, 0));
    }
}
