//! Self-monitoring of the push endpoint (`strata_distributor_*`).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label set of [`Metrics::requests`]: the HTTP status code.
pub(crate) type CodeLabel = [(&'static str, u16); 1];

pub(crate) struct Metrics {
    /// Push requests by response status code.
    pub requests: Family<CodeLabel, Counter>,
    /// Series accepted (with at least one sample).
    pub series: Counter,
    /// Samples accepted.
    pub samples: Counter,
    /// Samples accepted, per tenant.
    pub tenant_samples: Family<[(&'static str, String); 1], Counter>,
    /// Request body bytes received (compressed).
    pub received_bytes: Counter,
    /// Log record bytes appended.
    pub appended_bytes: Counter,
    /// Log records appended.
    pub records: Counter,
    /// Time from issuing the appends to the last acknowledgement, seconds.
    pub append_latency: Histogram,
    /// Samples refused, by reason (validation rules, limits, `too_old`,
    /// `too_far_in_future`, `invalid_histogram`).
    pub rejected: Family<[(&'static str, &'static str); 1], Counter>,
    /// Exemplars stored.
    pub exemplars: Counter,
}

impl Metrics {
    pub(crate) fn new(registry: &mut Registry) -> Self {
        let m = Self {
            requests: Family::default(),
            series: Counter::default(),
            samples: Counter::default(),
            tenant_samples: Family::default(),
            received_bytes: Counter::default(),
            appended_bytes: Counter::default(),
            records: Counter::default(),
            // 0.25 ms .. ~8 s
            append_latency: Histogram::new(exponential_buckets(0.000_25, 2.0, 16)),
            rejected: Family::default(),
            exemplars: Counter::default(),
        };
        let r = registry.sub_registry_with_prefix("distributor");
        r.register("requests", "Remote-write push requests by status code", m.requests.clone());
        r.register("series_received", "Series accepted by the push endpoint", m.series.clone());
        r.register("samples_received", "Samples accepted by the push endpoint", m.samples.clone());
        r.register(
            "tenant_samples_received",
            "Samples accepted by the push endpoint, per tenant",
            m.tenant_samples.clone(),
        );
        r.register("received_bytes", "Compressed request body bytes received", m.received_bytes.clone());
        r.register("appended_bytes", "Log record bytes appended", m.appended_bytes.clone());
        r.register("records_appended", "Log records appended", m.records.clone());
        r.register(
            "samples_rejected",
            "Samples (float, histogram and exemplar) refused, by reason: invalid series, limits, time window, \
             native histograms",
            m.rejected.clone(),
        );
        r.register("exemplars_received", "Exemplars written to the log", m.exemplars.clone());
        r.register(
            "append_latency_seconds",
            "Time for the log to durably accept all records of a push",
            m.append_latency.clone(),
        );
        m
    }
}
