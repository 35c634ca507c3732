//! Background compaction and retention of one data directory.
//!
//! ```text
//!   L0 flush files (one per flush and tenant, any time range)
//!        │ settled prefix in id order + level-1 files of the touched windows
//!        ▼ k-way merge by labels, newest wins, split by 2 h windows
//!   L1 files (one 2 h window each)
//!        │ closed 1 d window: its L1 (and L2) files
//!        ▼
//!   L2 files (one day each)            retention: files past the cutoff leave
//! ```
//!
//! A [`Compactor`] owns one [`ManifestStore`]; [`Compactor::spawn`] runs it
//! on its own OS thread (never on a shard executor), pass after pass,
//! rate-limited in bytes/s. Each pass: retention, then one job at a time
//! ([`plan`]) executed by [`merge::run_job`] and committed with
//! [`ManifestStore::commit_replace`] (atomic), then deletion of retired
//! files no query can read any more ([`ManifestStore::delete_retired`]).
//!
//! Ordering guarantees:
//! - **Newest wins survives compaction.** An output carries its newest
//!   input's order ([`FileMeta::merge_order`]); level-0 inputs are always a
//!   prefix in id order, so every flush file left out outranks the output.
//! - **The offset rule stays correct.** An output covers the union of its
//!   inputs' partition ranges; inputs are only files that have been in the
//!   manifest for `settle_ms`, so the heads' base offsets are past them
//!   (see [`CompactionConfig::settle_ms`]).
//! - **Crash safety.** Outputs are durable before the manifest names them;
//!   a crash before the commit leaves unreferenced files, a crash after it
//!   leaves retired inputs unreferenced: [`ManifestStore::open`] deletes both.

pub mod config;
pub mod merge;
pub mod metrics;
pub mod plan;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::registry::Registry;

pub use self::config::CompactionConfig;
pub use self::merge::MAX_WINDOW_OUTPUTS;
use self::merge::Throttle;
pub use self::metrics::CompactionMetrics;
use self::metrics::OutcomeLabels;
pub use self::plan::{Job, Plan, plan};
use crate::{FileMeta, ManifestStore, Result};

/// Most jobs one pass runs before re-checking for shutdown and sleeping.
const MAX_JOBS_PER_PASS: usize = 64;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Compaction jobs run.
    pub jobs: usize,
    /// Files dropped whole by retention.
    pub expired_files: usize,
    /// Retired files deleted from disk.
    pub deleted_files: usize,
}

/// Compacts and applies retention to one data directory.
pub struct Compactor {
    manifest: Arc<ManifestStore>,
    config: CompactionConfig,
    metrics: CompactionMetrics,
    /// When each file was first seen in the manifest (for `settle_ms`).
    first_seen: HashMap<u64, Instant>,
}

impl std::fmt::Debug for Compactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compactor").field("manifest", &self.manifest).field("config", &self.config).finish()
    }
}

impl Compactor {
    /// Registers the `compaction_*` metrics in `registry`.
    pub fn new(manifest: Arc<ManifestStore>, config: CompactionConfig, registry: &mut Registry) -> Self {
        let metrics = CompactionMetrics::register(registry);
        Self { manifest, config, metrics, first_seen: HashMap::new() }
    }

    /// One pass at the current wall-clock time.
    pub fn run_once(&mut self) -> Result<PassReport> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        self.run_once_at(now, || false)
    }

    /// One pass with `now_ms` as the retention clock; stops between jobs
    /// when `stop()` says so.
    pub fn run_once_at(&mut self, now_ms: i64, stop: impl Fn() -> bool) -> Result<PassReport> {
        let mut report = PassReport::default();
        let result = self.pass(now_ms, &stop, &mut report);
        // Object storage (if configured): best effort, the next flush retries.
        if let Err(e) = self.manifest.replicate() {
            tracing::warn!(error = %e, "replicating the compacted manifest failed; the next flush retries");
        }
        // Deletion runs even after a failed job: it only needs the manifest.
        let deleted = self.manifest.delete_retired(Duration::from_millis(self.config.delete_delay_ms));
        self.metrics.retired_files.set(self.manifest.retired_count() as i64);
        report.deleted_files = deleted?;
        self.metrics.files_deleted.inc_by(report.deleted_files as u64);
        result.map(|()| report)
    }

    fn pass(&mut self, now_ms: i64, stop: &impl Fn() -> bool, report: &mut PassReport) -> Result<()> {
        let settle = Duration::from_millis(self.config.settle_ms);
        for _ in 0..MAX_JOBS_PER_PASS {
            if stop() {
                break;
            }
            let snapshot = self.manifest.current();
            let seen_now = Instant::now();
            self.first_seen.retain(|id, _| snapshot.files.iter().any(|f| f.id == *id));
            for f in &snapshot.files {
                self.first_seen.entry(f.id).or_insert(seen_now);
            }
            let first_seen = &self.first_seen;
            let settled = |f: &FileMeta| first_seen.get(&f.id).is_some_and(|t| t.elapsed() >= settle);
            let plan = plan(&snapshot, &self.config, now_ms, settled);
            if !plan.expired.is_empty() {
                let ids: Vec<u64> = plan.expired.iter().map(|f| f.id).collect();
                self.manifest.commit_replace(&ids, Vec::new())?;
                tracing::info!(files = ids.len(), "retention dropped files");
                self.metrics.retention_files_dropped.inc_by(ids.len() as u64);
                report.expired_files += ids.len();
                continue;
            }
            let Some(job) = plan.jobs.into_iter().next() else {
                break;
            };
            self.run_job(&job)?;
            report.jobs += 1;
        }
        Ok(())
    }

    fn run_job(&self, job: &Job) -> Result<()> {
        let started = Instant::now();
        let mut throttle = Throttle::new(self.config.max_bytes_per_sec);
        let result = merge::run_job(&self.manifest, job, &mut throttle).and_then(|outcome| {
            let removed: Vec<u64> = job.inputs.iter().map(|f| f.id).collect();
            let outputs = outcome.outputs.len();
            self.manifest
                .commit_replace(&removed, outcome.outputs)
                .map(|_| (outcome.samples_in, outcome.samples_out, outcome.bytes_out, outputs))
        });
        self.metrics.job_duration.observe(started.elapsed().as_secs_f64());
        match result {
            Ok((samples_in, samples_out, bytes, outputs)) => {
                self.metrics.jobs.get_or_create(&OutcomeLabels { outcome: "ok" }).inc();
                self.metrics.input_files.inc_by(job.inputs.len() as u64);
                self.metrics.output_files.inc_by(outputs as u64);
                self.metrics.bytes_written.inc_by(bytes);
                self.metrics.samples_written.inc_by(samples_out);
                self.metrics.duplicates_dropped.inc_by(samples_in - samples_out);
                tracing::info!(
                    tenant = %job.tenant,
                    level = job.level,
                    inputs = job.inputs.len(),
                    outputs,
                    samples = samples_out,
                    bytes,
                    took = ?started.elapsed(),
                    "compacted"
                );
                Ok(())
            }
            Err(e) => {
                self.metrics.jobs.get_or_create(&OutcomeLabels { outcome: "error" }).inc();
                tracing::error!(tenant = %job.tenant, level = job.level, error = %e, "compaction failed; inputs kept");
                Err(e)
            }
        }
    }

    /// Runs passes every `interval_ms` on a dedicated OS thread until the
    /// handle is shut down or dropped. Failed passes are logged and retried
    /// next interval.
    pub fn spawn(mut self) -> std::io::Result<CompactorHandle> {
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let interval = self.config.interval();
        let thread = std::thread::Builder::new().name("strata-compactor".into()).spawn(move || {
            loop {
                match stop_rx.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
                let stopping = || matches!(stop_rx.try_recv(), Ok(()) | Err(mpsc::TryRecvError::Disconnected));
                if let Err(e) = self.run_once_at(now, stopping) {
                    tracing::error!(error = %e, "compaction pass failed; retrying next interval");
                }
            }
        })?;
        Ok(CompactorHandle { stop: Some(stop_tx), thread: Some(thread) })
    }
}

/// Stops the compactor thread on [`CompactorHandle::shutdown`] or drop
/// (after the running job, if any).
#[derive(Debug)]
pub struct CompactorHandle {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl CompactorHandle {
    /// Stops the compactor thread and waits for it to finish its current job.
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for CompactorHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}
