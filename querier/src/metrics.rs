//! The querier's self-monitoring metrics, registered under the sub-prefix
//! `querier` of the registry given to [`QuerierState::new`](crate::QuerierState::new)
//! (names are `strata_querier_*` in the binary).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of request counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `query`, `query_range`, `series`, `labels`, `label_values`.
    pub endpoint: &'static str,
    /// `success` or the API `errorType` (`bad_data`, `execution`, ...).
    pub status: &'static str,
}

/// Labels of the duration histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// As [`RequestLabels::endpoint`].
    pub endpoint: &'static str,
}

/// Labels of per-lane scheduler metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LaneLabels {
    /// `cheap` or `heavy`.
    pub lane: &'static str,
}

/// Labels of the queue-wait histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LaneTenantLabels {
    /// `cheap` or `heavy`.
    pub lane: &'static str,
    /// The tenant id.
    pub tenant: String,
}

/// Labels of the refusal counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// `cost`, `queue_full`, `tenant_queue_full` or `queue_timeout`.
    pub reason: &'static str,
    /// `cheap` or `heavy`.
    pub lane: &'static str,
}

fn duration_histogram() -> Histogram {
    // 1 ms .. ~260 s.
    Histogram::new(exponential_buckets(0.001, 4.0, 10))
}

/// All metric families of the query API.
#[derive(Clone, Debug)]
pub struct QuerierMetrics {
    /// Requests by endpoint and outcome.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency by endpoint.
    pub duration: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    /// Samples loaded by PromQL queries.
    pub samples_loaded: Counter,
    /// Queries waiting per lane.
    pub queue_length: Family<LaneLabels, Gauge>,
    /// Time queries waited for a slot, per lane and tenant.
    pub queue_wait: Family<LaneTenantLabels, Histogram, fn() -> Histogram>,
    /// Queries refused by the scheduler, by reason and lane.
    pub refusals: Family<RefusalLabels, Counter>,
    /// Actual samples loaded divided by the estimate, per finished query.
    pub estimate_accuracy: Histogram,
}

impl QuerierMetrics {
    /// Creates the families and registers them under the sub-prefix `querier`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::unregistered();
        let r = registry.sub_registry_with_prefix("querier");
        r.register("requests", "Query API requests by endpoint and outcome", m.requests.clone());
        r.register("request_duration_seconds", "Query API request latency", m.duration.clone());
        r.register("samples_loaded", "Samples loaded by PromQL queries", m.samples_loaded.clone());
        r.register("queue_length", "Queries waiting for a slot, per scheduler lane", m.queue_length.clone());
        r.register("queue_wait_seconds", "Time queries waited for a slot, per lane and tenant", m.queue_wait.clone());
        r.register("refusals", "Queries refused by the scheduler, by reason and lane", m.refusals.clone());
        r.register(
            "estimate_accuracy_ratio",
            "Samples a query loaded divided by its estimate (1 = exact)",
            m.estimate_accuracy.clone(),
        );
        m
    }

    /// Metrics that are counted but exported nowhere (tests).
    pub fn unregistered() -> Self {
        Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
            samples_loaded: Counter::default(),
            queue_length: Family::default(),
            queue_wait: Family::new_with_constructor(duration_histogram),
            refusals: Family::default(),
            // 1/64 .. 64.
            estimate_accuracy: Histogram::new(exponential_buckets(1.0 / 64.0, 2.0, 13)),
        }
    }
}
