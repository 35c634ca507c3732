//! The shards' self-monitoring metrics, registered under the sub-prefix
//! `ingester` of the registry given to [`Ingester::start`](super::Ingester::start)
//! (the binary's root registry has the prefix `strata`, so the names are
//! `strata_ingester_*`).
//!
//! Families are registered once; each shard resolves its own label values at
//! start and keeps the (atomic, `Arc`-shared) metric handles, so the hot path
//! never takes a family's lock.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use strata_common::ids::PartitionId;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ShardLabels {
    pub shard: u32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct PartitionLabels {
    pub partition: u32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TenantLabels {
    pub tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct FlushLabels {
    pub shard: u32,
    /// `ok` or `error`.
    pub outcome: &'static str,
}

type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

fn flush_histogram() -> Histogram {
    // 10 ms .. ~160 s.
    Histogram::new(exponential_buckets(0.01, 2.0, 15))
}

/// All metric families of the shards.
#[derive(Clone)]
pub(crate) struct IngesterMetrics {
    samples_appended: Family<ShardLabels, Counter>,
    sliced_reads: Family<ShardLabels, Counter>,
    records_consumed: Family<PartitionLabels, Counter>,
    decode_failures: Family<PartitionLabels, Counter>,
    log_read_errors: Family<PartitionLabels, Counter>,
    flushes: Family<FlushLabels, Counter>,
    flush_duration: HistogramFamily<ShardLabels>,
    memtable_bytes: Family<ShardLabels, Gauge>,
    consumed_offset: Family<PartitionLabels, Gauge>,
    flushed_offset: Family<PartitionLabels, Gauge>,
    /// Shared by every shard; see [`super::active`].
    pub active_series: Family<TenantLabels, Gauge>,
}

impl IngesterMetrics {
    /// Creates the families and registers them under the sub-prefix `ingester`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            samples_appended: Family::default(),
            sliced_reads: Family::default(),
            records_consumed: Family::default(),
            decode_failures: Family::default(),
            log_read_errors: Family::default(),
            flushes: Family::default(),
            flush_duration: Family::new_with_constructor(flush_histogram),
            memtable_bytes: Family::default(),
            consumed_offset: Family::default(),
            flushed_offset: Family::default(),
            active_series: Family::default(),
        };
        let r = registry.sub_registry_with_prefix("ingester");
        r.register("samples_appended", "Samples appended to shard memtables", m.samples_appended.clone());
        r.register(
            "head_reads_sliced",
            "Head reads served in parts (ingester.head_read_slice_samples)",
            m.sliced_reads.clone(),
        );
        r.register("records_consumed", "Log records consumed, per partition", m.records_consumed.clone());
        r.register(
            "record_decode_failures",
            "Log records skipped because they could not be decoded",
            m.decode_failures.clone(),
        );
        r.register("log_read_errors", "Failed log reads (retried)", m.log_read_errors.clone());
        r.register("flushes", "Memtable flushes by outcome", m.flushes.clone());
        r.register("flush_duration_seconds", "Time to write and commit one flush", m.flush_duration.clone());
        r.register("memtable_bytes", "Approximate bytes of the active memtable", m.memtable_bytes.clone());
        r.register("consumed_offset", "Next log offset to consume, per partition", m.consumed_offset.clone());
        r.register(
            "flushed_offset",
            "Log offset below which the partition is in durable files",
            m.flushed_offset.clone(),
        );
        r.register(
            "active_series",
            "Series that received samples within ingester.active_series_idle_ms, per tenant",
            m.active_series.clone(),
        );
        m
    }

    /// Resolves the handles of one shard.
    pub fn shard(&self, shard: usize) -> ShardMetrics {
        let l = ShardLabels { shard: shard as u32 };
        let f = |outcome| FlushLabels { shard: shard as u32, outcome };
        ShardMetrics {
            samples_appended: self.samples_appended.get_or_create_owned(&l),
            sliced_reads: self.sliced_reads.get_or_create_owned(&l),
            flushes_ok: self.flushes.get_or_create_owned(&f("ok")),
            flushes_failed: self.flushes.get_or_create_owned(&f("error")),
            flush_duration: self.flush_duration.get_or_create_owned(&l),
            memtable_bytes: self.memtable_bytes.get_or_create_owned(&l),
        }
    }

    /// Resolves the handles of one partition.
    pub fn partition(&self, partition: PartitionId) -> PartitionMetrics {
        let l = PartitionLabels { partition };
        PartitionMetrics {
            records_consumed: self.records_consumed.get_or_create_owned(&l),
            decode_failures: self.decode_failures.get_or_create_owned(&l),
            log_read_errors: self.log_read_errors.get_or_create_owned(&l),
            consumed_offset: self.consumed_offset.get_or_create_owned(&l),
            flushed_offset: self.flushed_offset.get_or_create_owned(&l),
        }
    }
}

/// One shard's metric handles.
#[derive(Clone)]
pub(crate) struct ShardMetrics {
    pub samples_appended: Counter,
    pub sliced_reads: Counter,
    pub flushes_ok: Counter,
    pub flushes_failed: Counter,
    pub flush_duration: Histogram,
    pub memtable_bytes: Gauge,
}

/// One partition's metric handles.
#[derive(Clone)]
pub(crate) struct PartitionMetrics {
    pub records_consumed: Counter,
    pub decode_failures: Counter,
    pub log_read_errors: Counter,
    pub consumed_offset: Gauge,
    pub flushed_offset: Gauge,
}
