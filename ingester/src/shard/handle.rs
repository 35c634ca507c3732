//! [`Ingester`]: starts the shards and talks to them over channels; it is the
//! thread-safe face of the shards (and the in-process
//! [`HeadReader`](strata_common::head::HeadReader)).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::{BoxFuture, try_join_all};
use glommio::{CpuSet, ExecutorJoinHandle, LocalExecutorBuilder, Placement};
use parking_lot::Mutex;
use prometheus_client::registry::Registry;
use strata_common::head::annotations::{ExemplarSeries, ExemplarsRequest, MetadataMap, MetadataRequest};
use strata_common::head::merge::{merge_label_responses, merge_responses};
use strata_common::head::{
    HeadLabelsResponse, HeadReadResponse, HeadReader, LabelsRequest, PartitionProgress, SelectEstimate, SelectRequest,
};
use strata_log::{Log, Offset, PartitionId};
use strata_storage::ManifestStore;

use super::config::IngesterConfig;
use super::metrics::{IngesterMetrics, PartitionMetrics};
use super::priority::ShardPriority;
use super::worker::{Command, Reply, ShardSpec, run_shard};
use crate::annotations::{self, AnnotationLimits, AnnotationStore, SnapshotMirror};
use crate::error::{Error, Result};

struct ShardHandle {
    partitions: Vec<PartitionId>,
    /// Set while the shard's last flush failed (see [`Ingester::flush_failing`]).
    flush_failing: Arc<AtomicBool>,
    commands: tokio::sync::mpsc::UnboundedSender<Command>,
    /// Raised before each command (see [`ShardPriority`]).
    priority: Arc<ShardPriority>,
    thread: Mutex<Option<ExecutorJoinHandle<()>>>,
}

impl ShardHandle {
    /// Sends `cmd`, raising the shard first if a heavy read lowered it;
    /// `false` if the shard has stopped.
    fn send(&self, cmd: Command) -> bool {
        self.priority.command_coming();
        let sent = self.commands.send(cmd).is_ok();
        if !sent {
            self.priority.command_taken();
        }
        sent
    }
}

/// The running shards. `Send + Sync`; share it in an `Arc`.
///
/// Dropping it closes the command channels, which stops the shards without
/// waiting for them; [`Ingester::shutdown`] stops them and waits.
pub struct Ingester {
    shards: Vec<ShardHandle>,
    log: Arc<dyn Log>,
    /// Per owned partition (sorted), the shard's consumed and flushed
    /// offsets as it publishes them (the `consumed_offset` and
    /// `flushed_offset` gauges): progress is read without a round trip to
    /// the shards, which strong reads poll before every query.
    progress: Vec<(PartitionId, PartitionMetrics)>,
    annotations: Arc<AnnotationStore>,
}

impl std::fmt::Debug for Ingester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingester").field("shards", &self.shards.len()).finish_non_exhaustive()
    }
}

/// The CPU ids shards may be pinned to: the online CPUs, in id order, no
/// more than the process may use (`Placement::Fixed(n)` for a CPU that does
/// not exist fails the executor).
fn pinnable_cpus() -> Vec<usize> {
    let available = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    match CpuSet::online() {
        Ok(set) => {
            let mut cpus: Vec<usize> = set.into_iter().map(|l| l.cpu).collect();
            cpus.sort_unstable();
            cpus.dedup();
            cpus.truncate(available);
            cpus
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the CPU topology; ingester shards run unpinned");
            Vec::new()
        }
    }
}

impl Ingester {
    /// Starts `config.effective_shards(partitions)` shards, each on its own OS
    /// thread running a glommio executor, owning every partition of the log
    /// (the all-in-one process). See [`Ingester::start_owning`].
    pub fn start(
        config: IngesterConfig,
        log: Arc<dyn Log>,
        manifest: Arc<ManifestStore>,
        registry: &mut Registry,
    ) -> Result<Ingester> {
        let all = (0..log.partition_count()).collect();
        Self::start_owning(config, log, manifest, all, registry)
    }

    /// Starts shards for the partitions `owned` (a cluster ingester owns a
    /// subset, see [`strata_common::labels::owned_partitions`]): the `i`-th
    /// owned partition goes to shard `i % N`, `N` =
    /// `config.effective_shards(owned.len())`. Each shard runs a glommio
    /// executor on its own OS thread and replays its partitions from the
    /// manifest's flushed offsets. Returns once every shard has opened its
    /// readers (replay continues in the background; see
    /// [`Ingester::wait_caught_up`]).
    ///
    /// Blocks the calling thread briefly (until the readers are open).
    pub fn start_owning(
        config: IngesterConfig,
        log: Arc<dyn Log>,
        manifest: Arc<ManifestStore>,
        owned: Vec<PartitionId>,
        registry: &mut Registry,
    ) -> Result<Ingester> {
        Self::start_owning_with(config, log, manifest, owned, annotations::default_limits(), None, registry)
    }

    /// [`Ingester::start_owning`] with the tenants' exemplar and metadata
    /// bounds (the distributor's per-tenant limits) and where its annotation
    /// snapshots are copied (object storage). The annotation snapshot in
    /// the manifest's directory is loaded before replay.
    pub fn start_owning_with(
        config: IngesterConfig,
        log: Arc<dyn Log>,
        manifest: Arc<ManifestStore>,
        owned: Vec<PartitionId>,
        limits: AnnotationLimits,
        mirror: Option<SnapshotMirror>,
        registry: &mut Registry,
    ) -> Result<Ingester> {
        config.validate()?;
        let annotations =
            Arc::new(AnnotationStore::new(limits, Some(manifest.data_dir()), registry).with_mirror(mirror));
        let partitions = u32::try_from(owned.len()).unwrap_or(u32::MAX);
        let n = config.effective_shards(partitions);
        let metrics = IngesterMetrics::register(registry);
        let cpus = if config.pin_cores { pinnable_cpus() } else { Vec::new() };
        release_flushed(&*log, &manifest, &owned);
        let mut shards = Vec::with_capacity(n);
        let mut ready = Vec::with_capacity(n);
        for shard in 0..n {
            let mine: Vec<PartitionId> =
                owned.iter().enumerate().filter(|(i, _)| i % n == shard).map(|(_, &p)| p).collect();
            let placement = cpus.get(shard).map_or(Placement::Unbound, |&cpu| Placement::Fixed(cpu));
            let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel();
            let (ready_tx, ready_rx) = flume::bounded(1);
            let flush_failing = Arc::new(AtomicBool::new(false));
            let priority = Arc::new(ShardPriority::default());
            let spec = ShardSpec {
                priority: priority.clone(),
                flush_failing: flush_failing.clone(),
                shard,
                partitions: mine.clone(),
                config: config.clone(),
                log: log.clone(),
                manifest: manifest.clone(),
                metrics: metrics.clone(),
                annotations: annotations.clone(),
                commands: cmd_rx,
                ready: ready_tx,
            };
            // On an early return the handles built so far are dropped, which
            // closes their command channels and stops those shards.
            let thread = LocalExecutorBuilder::new(placement)
                .name(&format!("strata-shard-{shard}"))
                .io_memory(config.io_memory_bytes)
                .preempt_timer(config.preempt_interval())
                .spawn(move || run_shard_latency_sensitive(spec))
                .map_err(|e| Error::ShardStart { shard, source: e.into() })?;
            shards.push(ShardHandle {
                partitions: mine,
                flush_failing,
                commands: cmd_tx,
                priority,
                thread: Mutex::new(Some(thread)),
            });
            ready.push(ready_rx);
        }
        let mut owned = owned;
        owned.sort_unstable();
        let progress = owned.iter().map(|&p| (p, metrics.partition(p))).collect();
        let ingester = Ingester { shards, log, progress, annotations };
        for (shard, rx) in ready.into_iter().enumerate() {
            match rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(Error::ShardUnavailable(shard)),
            }
        }
        tracing::info!(shards = n, partitions, pinned = !cpus.is_empty(), "ingester started");
        Ok(ingester)
    }

    /// The number of shards running.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Shards whose last flush failed (e.g. the disk is full); they retry
    /// on their own. `/ready` is not 200 while any is listed.
    pub fn flush_failing(&self) -> Vec<usize> {
        self.shards
            .iter()
            .enumerate()
            .filter(|(_, s)| s.flush_failing.load(Ordering::Acquire))
            .map(|(i, _)| i)
            .collect()
    }

    /// The partitions shard `shard` owns.
    pub fn partitions_of(&self, shard: usize) -> &[PartitionId] {
        self.shards.get(shard).map_or(&[], |s| &s.partitions)
    }

    /// Sends a command built by `make` to every shard and awaits every answer.
    async fn ask_all<T: Send + 'static>(&self, make: impl Fn(Reply<T>) -> Command) -> Result<Vec<T>> {
        let mut pending = Vec::with_capacity(self.shards.len());
        for (i, s) in self.shards.iter().enumerate() {
            let (tx, rx) = tokio::sync::oneshot::channel();
            if !s.send(make(tx)) {
                return Err(Error::ShardUnavailable(i));
            }
            pending.push(async move { rx.await.map_err(|_| Error::ShardUnavailable(i)) });
        }
        try_join_all(pending).await
    }

    /// Reads every shard's head and merges the answers (series sorted by
    /// labels; base offsets of every partition).
    pub async fn read_heads(&self, req: SelectRequest) -> Result<HeadReadResponse> {
        let answers = self.ask_all(|reply| Command::Read { req: req.clone(), reply }).await?;
        Ok(merge_responses(answers))
    }

    /// Label names or values of every shard's head, as a sorted union (base
    /// offsets of every partition).
    pub async fn label_heads(&self, req: LabelsRequest) -> Result<HeadLabelsResponse> {
        let answers = self.ask_all(|reply| Command::Labels { req: req.clone(), reply }).await?;
        Ok(merge_label_responses(answers))
    }

    /// What [`Ingester::read_heads`] of `req` would read, summed over the
    /// shards (postings and counts only).
    pub async fn estimate_heads(&self, req: SelectRequest) -> Result<SelectEstimate> {
        let answers = self.ask_all(|reply| Command::Estimate { req: req.clone(), reply }).await?;
        let mut total = SelectEstimate::default();
        for a in answers {
            total.add(a);
        }
        Ok(total)
    }

    /// Cardinality statistics of `tenant`'s series in every shard's head
    /// (shards own disjoint series, so their counts add up).
    pub async fn head_stats(&self, tenant: &strata_common::TenantId) -> Result<strata_storage::memtable::HeadStats> {
        let answers = self.ask_all(|reply| Command::Stats { tenant: tenant.clone(), reply }).await?;
        let mut total = strata_storage::memtable::HeadStats::default();
        for a in answers {
            total.merge(a);
        }
        Ok(total)
    }

    /// Consumption progress of every owned partition, sorted by partition.
    ///
    /// Read from what the shards publish, not asked of them: a shard sets
    /// a partition's consumed offset after it applied the records below it,
    /// so a head read sent to the shard afterwards sees them.
    pub async fn partition_progress(&self) -> Result<Vec<PartitionProgress>> {
        Ok(self
            .progress
            .iter()
            .map(|(partition, m)| PartitionProgress {
                partition: *partition,
                consumed: m.consumed_offset.get().max(0) as Offset,
                flushed: m.flushed_offset.get().max(0) as Offset,
            })
            .collect())
    }

    /// Flushes every shard's memtable (everything consumed so far) and
    /// resolves once the files and offsets are committed in the manifest.
    /// A failure leaves the data in the (readable) head; shards retry later.
    pub async fn flush_now(&self) -> Result<()> {
        for r in self.ask_all(|reply| Command::Flush { reply }).await? {
            r?;
        }
        Ok(())
    }

    /// Resolves once every partition has consumed up to `targets[partition]`
    /// (e.g. the log's end offsets at some moment: read-your-writes). No
    /// timeout here; wrap it in the caller's.
    pub async fn wait_for_offsets(&self, targets: &[Offset]) -> Result<()> {
        let targets = targets.to_vec();
        self.ask_all(|reply| Command::WaitConsumed { targets: targets.clone(), reply }).await?;
        Ok(())
    }

    /// Every partition this ingester owns, sorted.
    pub fn owned_partitions(&self) -> Vec<PartitionId> {
        let mut all: Vec<PartitionId> = self.shards.iter().flat_map(|s| s.partitions.iter().copied()).collect();
        all.sort_unstable();
        all
    }

    /// Resolves once every partition has consumed everything the log held
    /// when this was called (the end of a replay).
    pub async fn wait_caught_up(&self) -> Result<()> {
        let end = self.log.end_offsets().await.map_err(Error::Log)?;
        self.wait_for_offsets(&end).await
    }

    /// Stops every shard and waits for its thread: consumers stop, an
    /// in-flight flush finishes, nothing else is flushed (the log is the
    /// WAL: call [`Ingester::flush_now`] first to shorten the next replay).
    /// Idempotent; later requests get [`Error::ShardUnavailable`].
    ///
    /// Blocking (for at most one in-flight flush per shard): from an async
    /// runtime, call it at shutdown or via `spawn_blocking`.
    pub fn shutdown(&self) {
        let mut pending = Vec::new();
        for s in &self.shards {
            let (tx, rx) = tokio::sync::oneshot::channel();
            if s.send(Command::Shutdown { reply: tx }) {
                pending.push(rx);
            }
        }
        for rx in pending {
            let _ = futures::executor::block_on(rx); // Err: the shard had already stopped
        }
        for (i, s) in self.shards.iter().enumerate() {
            let thread = s.thread.lock().take();
            if let Some(t) = thread
                && let Err(e) = t.join()
            {
                tracing::error!(shard = i, error = %e, "ingester shard thread ended abnormally");
            }
        }
    }
}

/// Releases the log below each owned partition's flushed offset. The log
/// forgets releases on a restart, and a crash may fall between a flush's
/// commit and its release; either way what is already in files is given
/// back before replay starts.
fn release_flushed(log: &dyn Log, manifest: &ManifestStore, owned: &[PartitionId]) {
    let flushed = manifest.current().flushed_offsets.clone();
    for &p in owned {
        if let Some(&offset) = flushed.get(&p)
            && offset > 0
            && let Err(e) = log.release(p, offset)
        {
            // Only space reclamation: failing to release loses nothing.
            tracing::warn!(partition = p, offset, error = %e, "releasing flushed log records at start-up failed");
        }
    }
}

impl HeadReader for Ingester {
    fn read(&self, req: SelectRequest) -> BoxFuture<'_, strata_common::Result<HeadReadResponse>> {
        Box::pin(async move { self.read_heads(req).await.map_err(Into::into) })
    }

    fn labels(&self, req: LabelsRequest) -> BoxFuture<'_, strata_common::Result<HeadLabelsResponse>> {
        Box::pin(async move { self.label_heads(req).await.map_err(Into::into) })
    }

    fn estimate(&self, req: SelectRequest) -> BoxFuture<'_, strata_common::Result<SelectEstimate>> {
        Box::pin(async move { self.estimate_heads(req).await.map_err(Into::into) })
    }

    fn progress(&self) -> BoxFuture<'_, strata_common::Result<Vec<PartitionProgress>>> {
        Box::pin(async move { self.partition_progress().await.map_err(Into::into) })
    }

    fn exemplars(&self, req: ExemplarsRequest) -> BoxFuture<'_, strata_common::Result<Vec<ExemplarSeries>>> {
        Box::pin(async move { Ok(self.annotations.exemplars(&req)) })
    }

    fn metadata(&self, req: MetadataRequest) -> BoxFuture<'_, strata_common::Result<MetadataMap>> {
        Box::pin(async move { Ok(self.annotations.metadata(&req)) })
    }
}

/// Runs [`run_shard`] (and every task it spawns) in a task queue whose
/// latency matters: glommio then signals the shard's eventfd for every task
/// woken from another thread (a query's command, an answer the shard
/// awaits), which preempts a busy shard at once; in its default queue a
/// busy shard saw such a wake-up only at its next preemption tick (100 ms by
/// default). (Stalls of up to a second first blamed on lost wake-ups were
/// glommio parking with runnable tasks, fixed in `vendor/glommio`.)
async fn run_shard_latency_sensitive(spec: ShardSpec) {
    let latency = glommio::Latency::Matters(spec.config.preempt_interval());
    let queue = glommio::executor().create_task_queue(glommio::Shares::default(), latency, "strata-shard");
    match glommio::spawn_local_into(run_shard(spec), queue) {
        Ok(task) => task.await,
        Err(e) => tracing::error!(error = %e, "cannot start a shard's task queue"),
    }
}
