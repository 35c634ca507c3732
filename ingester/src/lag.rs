//! [`LagMonitor`]: consumer lag and readiness of this ingester's partitions.
//!
//! Every `interval` it reads the log's end offsets and the shards' progress
//! and publishes, per owned partition: end, consumed and flushed offsets,
//! lag in records (`end − consumed`) and lag in seconds. The seconds are
//! measured, not guessed: the monitor remembers when it first saw each end
//! offset, and the lag is the age of the first observation of an end offset
//! above the consumed offset (how long the oldest unconsumed record has been
//! waiting, within one interval). Served as `strata_ingester_partition_*`
//! metrics and as JSON at `GET /ingester/status`.
//!
//! Readiness: the ingester is ready once every owned partition has consumed
//! to within `ready_max_lag_records` of the end offsets the log had when the
//! monitor started (the end of the replay), and stays ready afterwards.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use parking_lot::Mutex;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;
use strata_common::head::HeadReader;
use strata_log::{Log, Offset, PartitionId};

use crate::shard::metrics::PartitionLabels;

/// Path of the status endpoint.
pub const STATUS_PATH: &str = "/ingester/status";
/// At most this many end-offset observations are kept per partition.
const MAX_OBSERVATIONS: usize = 4096;

/// The state of one owned partition.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PartitionStatus {
    /// The partition.
    pub partition: PartitionId,
    /// The log's end offset (the next to be written).
    pub end_offset: Offset,
    /// The next offset the ingester will consume.
    pub consumed_offset: Offset,
    /// Everything below this offset is in durable files.
    pub flushed_offset: Offset,
    /// Records written but not consumed yet (`end − consumed`).
    pub lag_records: u64,
    /// How long the oldest unconsumed record has been waiting (see the module docs).
    pub lag_seconds: f64,
}

/// The answer of `GET /ingester/status`.
#[derive(Debug, Clone, Serialize)]
pub struct IngesterStatus {
    /// Whether replay is done (every partition within `ready_max_lag_records` once).
    pub ready: bool,
    /// Milliseconds since the partitions were last refreshed.
    pub updated_ms_ago: u64,
    /// Every owned partition.
    pub partitions: Vec<PartitionStatus>,
}

#[derive(Default)]
struct Tracked {
    /// (end offset, when first seen), ascending offsets.
    seen: VecDeque<(Offset, Instant)>,
}

impl Tracked {
    fn observe(&mut self, end: Offset, consumed: Offset, now: Instant) -> f64 {
        if self.seen.back().is_none_or(|&(o, _)| end > o) {
            if self.seen.len() == MAX_OBSERVATIONS {
                self.seen.pop_back();
            }
            self.seen.push_back((end, now));
        }
        while self.seen.front().is_some_and(|&(o, _)| o <= consumed) {
            self.seen.pop_front();
        }
        self.seen.front().map_or(0.0, |&(_, at)| now.duration_since(at).as_secs_f64())
    }
}

struct Gauges {
    end: Family<PartitionLabels, Gauge>,
    lag_records: Family<PartitionLabels, Gauge>,
    lag_seconds: Family<PartitionLabels, Gauge<f64, AtomicU64>>,
}

/// Watches consumer lag; see the module docs.
pub struct LagMonitor {
    log: Arc<dyn Log>,
    heads: Arc<dyn HeadReader>,
    ready_max_lag: u64,
    ready: AtomicBool,
    state: Mutex<(Vec<PartitionStatus>, Instant)>,
    tracked: Mutex<Vec<(PartitionId, Tracked)>>,
    gauges: Gauges,
}

impl std::fmt::Debug for LagMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LagMonitor").field("ready", &self.is_ready()).finish_non_exhaustive()
    }
}

impl LagMonitor {
    /// Registers `strata_ingester_partition_{end_offset,lag_records,lag_seconds}`
    /// (under the registry's `ingester` sub-prefix).
    pub fn new(
        log: Arc<dyn Log>,
        heads: Arc<dyn HeadReader>,
        ready_max_lag: u64,
        registry: &mut Registry,
    ) -> Arc<Self> {
        let gauges = Gauges { end: Family::default(), lag_records: Family::default(), lag_seconds: Family::default() };
        let sub = registry.sub_registry_with_prefix("ingester");
        sub.register(
            "partition_end_offset",
            "The log's end offset (high watermark) per owned partition",
            gauges.end.clone(),
        );
        sub.register(
            "partition_lag_records",
            "Records in the log not yet consumed, per owned partition",
            gauges.lag_records.clone(),
        );
        sub.register(
            "partition_lag_seconds",
            "How long the oldest unconsumed record has been in the log, per owned partition",
            gauges.lag_seconds.clone(),
        );
        Arc::new(Self {
            log,
            heads,
            ready_max_lag,
            ready: AtomicBool::new(false),
            state: Mutex::new((Vec::new(), Instant::now())),
            tracked: Mutex::new(Vec::new()),
            gauges,
        })
    }

    /// Whether replay has caught up (see the module docs).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The partitions as of the last refresh.
    pub fn status(&self) -> IngesterStatus {
        let state = self.state.lock();
        IngesterStatus {
            ready: self.is_ready(),
            updated_ms_ago: u64::try_from(state.1.elapsed().as_millis()).unwrap_or(u64::MAX),
            partitions: state.0.clone(),
        }
    }

    /// Reads end offsets and progress once and publishes them.
    pub async fn refresh(&self) -> strata_common::Result<Vec<PartitionStatus>> {
        let ends = self.log.end_offsets().await?;
        let progress = self.heads.progress().await?;
        let now = Instant::now();
        let mut tracked = self.tracked.lock();
        let mut out = Vec::with_capacity(progress.len());
        for p in progress {
            let end = ends.get(p.partition as usize).copied().unwrap_or(0).max(p.consumed);
            let slot = match tracked.iter().position(|(id, _)| *id == p.partition) {
                Some(i) => i,
                None => {
                    tracked.push((p.partition, Tracked::default()));
                    tracked.len() - 1
                }
            };
            let lag_seconds = tracked[slot].1.observe(end, p.consumed, now);
            let status = PartitionStatus {
                partition: p.partition,
                end_offset: end,
                consumed_offset: p.consumed,
                flushed_offset: p.flushed,
                lag_records: end - p.consumed,
                lag_seconds,
            };
            let labels = PartitionLabels { partition: p.partition };
            self.gauges.end.get_or_create(&labels).set(i64::try_from(end).unwrap_or(i64::MAX));
            self.gauges.lag_records.get_or_create(&labels).set(i64::try_from(status.lag_records).unwrap_or(i64::MAX));
            self.gauges.lag_seconds.get_or_create(&labels).set(lag_seconds);
            out.push(status);
        }
        drop(tracked);
        *self.state.lock() = (out.clone(), now);
        Ok(out)
    }

    /// Refreshes every `interval` forever; marks the ingester ready once
    /// the replay target (end offsets at the first successful read) is
    /// reached within `ready_max_lag_records`.
    pub async fn run(self: Arc<Self>, interval: Duration) {
        let mut target: Option<Vec<Offset>> = None;
        loop {
            if target.is_none() {
                match self.log.end_offsets().await {
                    Ok(ends) => target = Some(ends),
                    Err(e) => tracing::warn!(error = %e, "reading the log's end offsets"),
                }
            }
            match self.refresh().await {
                Ok(partitions) => {
                    if let Some(target) = &target
                        && !self.is_ready()
                        && partitions.iter().all(|p| {
                            let goal = target.get(p.partition as usize).copied().unwrap_or(0);
                            p.consumed_offset.saturating_add(self.ready_max_lag) >= goal
                        })
                    {
                        self.ready.store(true, Ordering::Release);
                        tracing::info!("replay caught up with the log; ready");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "refreshing consumer lag"),
            }
            // Poll fast until ready (start-up), then at the configured pace.
            let pause = if self.is_ready() { interval } else { interval.min(Duration::from_millis(20)) };
            tokio::time::sleep(pause).await;
        }
    }

    /// `GET /ingester/status`.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route(STATUS_PATH, get(|State(m): State<Arc<LagMonitor>>| async move { Json(m.status()) }))
            .with_state(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_seconds_is_the_age_of_the_oldest_unconsumed_observation() {
        let t0 = Instant::now();
        let mut t = Tracked::default();
        assert_eq!(t.observe(10, 10, t0), 0.0, "caught up");
        assert_eq!(t.observe(20, 10, t0 + Duration::from_secs(1)), 0.0, "just seen");
        let lag = t.observe(30, 12, t0 + Duration::from_secs(3));
        assert!((lag - 2.0).abs() < 1e-9, "offset 20 seen at 1 s is the oldest waiting: {lag}");
        let lag = t.observe(30, 25, t0 + Duration::from_secs(4));
        assert!((lag - 1.0).abs() < 1e-9, "20 consumed; 30 seen at 3 s: {lag}");
        assert_eq!(t.observe(30, 30, t0 + Duration::from_secs(5)), 0.0);
        assert!(t.seen.is_empty());
    }
}
