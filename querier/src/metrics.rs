//! The querier's self-monitoring metrics, registered under the sub-prefix
//! `querier` of the registry given to [`QuerierState::new`](crate::QuerierState::new)
//! (names are `strata_querier_*` in the binary).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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
    pub endpoint: &'static str,
}

fn duration_histogram() -> Histogram {
    // 1 ms .. ~260 s.
    Histogram::new(exponential_buckets(0.001, 4.0, 10))
}

/// All metric families of the query API.
#[derive(Clone, Debug)]
pub struct QuerierMetrics {
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    pub samples_loaded: Counter,
}

impl QuerierMetrics {
    /// Creates the families and registers them under the sub-prefix `querier`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::unregistered();
        let r = registry.sub_registry_with_prefix("querier");
        r.register("requests", "Query API requests by endpoint and outcome", m.requests.clone());
        r.register("request_duration_seconds", "Query API request latency", m.duration.clone());
        r.register("samples_loaded", "Samples loaded by PromQL queries", m.samples_loaded.clone());
        m
    }

    /// Metrics that are counted but exported nowhere (tests).
    pub fn unregistered() -> Self {
        Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
            samples_loaded: Counter::default(),
        }
    }
}
