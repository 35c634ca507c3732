//! Compaction metrics, registered under the sub-prefix `compaction` (the
//! binary's root registry has the prefix `strata`: `strata_compaction_*`).
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of [`CompactionMetrics::jobs`].
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `ok` or `error`.
    pub outcome: &'static str,
}

/// All compaction metric families.
#[derive(Clone, Debug)]
pub struct CompactionMetrics {
    /// `strata_compaction_jobs`: jobs run, by outcome.
    pub jobs: Family<OutcomeLabels, Counter>,
    /// `strata_compaction_job_duration_seconds`: duration of each job.
    pub job_duration: Histogram,
    /// `strata_compaction_input_files`: files merged away.
    pub input_files: Counter,
    /// `strata_compaction_output_files`: files written.
    pub output_files: Counter,
    /// `strata_compaction_written_bytes`: bytes written.
    pub bytes_written: Counter,
    /// `strata_compaction_written_samples`: samples written.
    pub samples_written: Counter,
    /// `strata_compaction_duplicate_samples_dropped`: samples shadowed by a newer file.
    pub duplicates_dropped: Counter,
    /// `strata_compaction_retention_dropped_files`: files dropped by retention.
    pub retention_files_dropped: Counter,
    /// `strata_compaction_deleted_files`: retired files deleted from disk.
    pub files_deleted: Counter,
    /// `strata_compaction_retired_files`: files out of the manifest still waiting for their readers.
    pub retired_files: Gauge,
}

impl CompactionMetrics {
    /// Creates the families and registers them under `compaction`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            jobs: Family::default(),
            // 10 ms .. ~160 s.
            job_duration: Histogram::new(exponential_buckets(0.01, 2.0, 15)),
            input_files: Counter::default(),
            output_files: Counter::default(),
            bytes_written: Counter::default(),
            samples_written: Counter::default(),
            duplicates_dropped: Counter::default(),
            retention_files_dropped: Counter::default(),
            files_deleted: Counter::default(),
            retired_files: Gauge::default(),
        };
        let r = registry.sub_registry_with_prefix("compaction");
        r.register("jobs", "Compaction jobs run, by outcome", m.jobs.clone());
        r.register("job_duration_seconds", "Duration of compaction jobs", m.job_duration.clone());
        r.register("input_files", "Files merged away by compaction", m.input_files.clone());
        r.register("output_files", "Files written by compaction", m.output_files.clone());
        r.register("written_bytes", "Bytes written by compaction", m.bytes_written.clone());
        r.register("written_samples", "Samples written by compaction", m.samples_written.clone());
        r.register(
            "duplicate_samples_dropped",
            "Samples with a (series, timestamp) already present in a newer file, dropped by compaction",
            m.duplicates_dropped.clone(),
        );
        r.register("retention_dropped_files", "Files dropped by retention", m.retention_files_dropped.clone());
        r.register("deleted_files", "Retired files deleted from disk", m.files_deleted.clone());
        r.register("retired_files", "Files out of the manifest, waiting for their readers", m.retired_files.clone());
        m
    }
}
