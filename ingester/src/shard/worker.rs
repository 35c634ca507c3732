//! The body of one shard: runs on its own glommio executor, owns its
//! partitions' readers, its memtables and its flushes, and answers commands
//! from the [`Ingester`](super::Ingester) handle over a channel.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use strata_common::head::{HeadLabelsResponse, HeadReadResponse, LabelsRequest, SelectEstimate, SelectRequest};
use strata_log::{Log, Offset, PartitionId};
use strata_storage::ManifestStore;

use super::active::ActiveSeries;
use super::config::IngesterConfig;
use super::consume::{consume_partition, open_reader_at};
use super::context::{FlushEvent, ShardCtx};
use super::flush::run_flusher;
use super::metrics::IngesterMetrics;
use super::state::{PartitionState, ReadPlan, ShardState};
use crate::error::Result;

/// The answer channel of a [`Command`].
///
/// Commands and their answers travel on tokio's lock-free channels, not on
/// channels with a lock: a query thread of the heavy lane runs at the
/// `SCHED_IDLE` policy, and when it held a channel's lock while waking the
/// shard (flume wakes an async receiver under its lock), the shard's wake-up
/// preempted it there and every cheap query's command waited on that lock
/// until the idle thread ran again (up to 16 ms, measured with `perf sched`
/// stacks under the mixed benchmark).
pub(crate) type Reply<T> = tokio::sync::oneshot::Sender<T>;

/// A request to a shard.
pub(crate) enum Command {
    Read {
        req: SelectRequest,
        reply: Reply<HeadReadResponse>,
    },
    Labels {
        req: LabelsRequest,
        reply: Reply<HeadLabelsResponse>,
    },
    Estimate {
        req: SelectRequest,
        reply: Reply<SelectEstimate>,
    },
    /// Cardinality statistics of one tenant's head (active and frozen tables).
    Stats {
        tenant: strata_common::TenantId,
        reply: Reply<strata_storage::memtable::HeadStats>,
    },
    /// Flush everything consumed so far.
    Flush {
        reply: Reply<Result<()>>,
    },
    /// Answer once every owned partition reached its target (index = partition).
    WaitConsumed {
        targets: Vec<Offset>,
        reply: Reply<()>,
    },
    Shutdown {
        reply: Reply<()>,
    },
}

/// What a shard thread is started with (all `Send`).
pub(crate) struct ShardSpec {
    pub shard: usize,
    pub partitions: Vec<PartitionId>,
    pub config: IngesterConfig,
    pub log: Arc<dyn Log>,
    pub manifest: Arc<ManifestStore>,
    pub metrics: IngesterMetrics,
    /// Exemplars and metadata of the process.
    pub annotations: Arc<crate::annotations::AnnotationStore>,
    /// Set while the last flush failed (read by the handle for `/ready`).
    pub flush_failing: Arc<std::sync::atomic::AtomicBool>,
    pub commands: tokio::sync::mpsc::UnboundedReceiver<Command>,
    /// The shard thread's CPU priority, shared with the command senders.
    pub priority: Arc<super::priority::ShardPriority>,
    /// Answered once the readers are open (or with the error that stopped it).
    pub ready: flume::Sender<Result<()>>,
}

/// Runs one shard until it is told to stop or its command channel closes
/// (the [`Ingester`](super::Ingester) was dropped).
pub(crate) async fn run_shard(spec: ShardSpec) {
    let ShardSpec {
        shard,
        partitions,
        config,
        log,
        manifest,
        metrics,
        annotations,
        flush_failing,
        mut commands,
        priority,
        ready,
    } = spec;
    if config.idle_heavy_reads {
        priority.enable_on_current_thread();
    }

    // Replay starts at the manifest's flushed offset of each partition.
    let flushed = manifest.current().flushed_offsets.clone();
    let mut readers = Vec::with_capacity(partitions.len());
    let mut states = BTreeMap::new();
    for &p in &partitions {
        let from = flushed.get(&p).copied().unwrap_or(0);
        let (reader, start) = match open_reader_at(&*log, shard, p, from) {
            Ok(r) => r,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let m = metrics.partition(p);
        m.consumed_offset.set(start as i64);
        m.flushed_offset.set(start as i64);
        states.insert(p, PartitionState { consumed: start, flushed: start, metrics: m });
        readers.push((p, reader));
        tracing::info!(shard, partition = p, from = start, "replaying partition from its flushed offset");
    }

    let (flush_tx, flush_rx) = flume::unbounded();
    let ctx = Rc::new(ShardCtx {
        shard,
        state: RefCell::new(ShardState::new(
            shard,
            states,
            metrics.shard(shard),
            ActiveSeries::new(config.active_series_idle(), metrics.active_series.clone()),
            annotations,
        )),
        config,
        log,
        manifest,
        flush_events: flush_tx,
        nudged: Cell::new(false),
        flush_failing,
        heavy_reads: glommio::sync::Semaphore::new(1),
        priority: priority.clone(),
    });
    // Closing `stop_tx` (by dropping it) stops every consumer.
    let (stop_tx, stop_rx) = flume::bounded::<()>(0);
    let consumers: Vec<_> = readers
        .into_iter()
        .map(|(p, r)| glommio::spawn_local(consume_partition(ctx.clone(), p, r, stop_rx.clone())))
        .collect();
    let flusher = glommio::spawn_local(run_flusher(ctx.clone(), flush_rx));
    let active_series_ticks = glommio::spawn_local(tick_active_series(ctx.clone()));
    let _ = ready.send(Ok(()));

    let mut shutdown_reply = None;
    while let Some(cmd) = commands.recv().await {
        priority.command_taken();
        match cmd {
            Command::Read { req, reply } => {
                let heavy = ctx.state.borrow().heavy_read_samples(&req, ctx.config.head_read_slice_samples);
                if let Some(samples) = heavy {
                    ctx.state.borrow().metrics.sliced_reads.inc();
                    glommio::spawn_local(read_in_parts(ctx.clone(), req, samples, reply)).detach();
                } else {
                    let resp = ctx.state.borrow().read(&req);
                    let _ = reply.send(resp);
                }
            }
            Command::Labels { req, reply } => {
                let resp = ctx.state.borrow().labels(&req);
                let _ = reply.send(resp);
            }
            Command::Estimate { req, reply } => {
                let resp = ctx.state.borrow().estimate(&req);
                let _ = reply.send(resp);
            }
            Command::Stats { tenant, reply } => {
                let st = ctx.state.borrow();
                let mut stats = strata_storage::memtable::HeadStats::default();
                st.active.add_stats(&tenant, &mut stats);
                if let Some(table) = st.frozen.as_ref().and_then(|j| j.table.as_ref()) {
                    table.add_stats(&tenant, &mut stats);
                }
                let _ = reply.send(stats.finish());
            }
            Command::Flush { reply } => {
                let _ = ctx.flush_events.send(FlushEvent::Force(reply));
            }
            Command::WaitConsumed { targets, reply } => ctx.state.borrow_mut().add_waiter(&targets, reply),
            Command::Shutdown { reply } => {
                shutdown_reply = Some(reply);
                break;
            }
        }
    }

    // Dropping a glommio task cancels it.
    drop(active_series_ticks);
    drop(stop_tx);
    drop(stop_rx);
    for c in consumers {
        c.await;
    }
    // Lets an in-flight flush finish (its commit is atomic either way).
    let _ = ctx.flush_events.send(FlushEvent::Stop);
    flusher.await;
    tracing::info!(shard, "ingester shard stopped");
    if let Some(reply) = shutdown_reply {
        let _ = reply.send(());
    }
}

/// How often a shard counts the series new in its memtable.
const ACTIVE_SERIES_TICK: std::time::Duration = std::time::Duration::from_secs(10);

/// Updates the shard's active-series gauges every [`ACTIVE_SERIES_TICK`].
async fn tick_active_series(ctx: Rc<ShardCtx>) {
    loop {
        glommio::timer::sleep(ACTIVE_SERIES_TICK).await;
        let mut state = ctx.state.borrow_mut();
        let ShardState { active, active_series, .. } = &mut *state;
        active_series.tick(active);
    }
}

/// A heavy head read, a few series per turn of the executor, so the
/// commands that arrive meanwhile (cheap reads, estimates) are answered
/// between the parts instead of after the whole read. Heavy reads take
/// turns ([`ShardCtx::heavy_reads`]). The series are planned once; each
/// part copies the samples of the next ones, and the parts are
/// concatenated, since they hold disjoint series in label order. A read
/// whose parts would straddle a freeze or a committed flush (its series
/// ids and base offsets would no longer hold) is planned again; after a few
/// tries it reads in one go. A read whose caller went away stops.
/// `samples` is its estimated size, which sets the series per part.
async fn read_in_parts(ctx: Rc<ShardCtx>, req: SelectRequest, samples: u64, reply: Reply<HeadReadResponse>) {
    let _turn = ctx.heavy_reads.acquire_permit(1).await;
    if reply.is_closed() {
        return; // gave up while waiting for its turn
    }
    for _attempt in 0..3 {
        let plan = ctx.state.borrow().plan_read(&req, samples, ctx.config.head_read_slice_samples);
        match copy_parts(&ctx, &req, &plan, &reply).await {
            Copied::Answer(answer) => {
                let _ = reply.send(answer);
                return;
            }
            Copied::CallerGone => return,
            Copied::Changed => {}
        }
    }
    let resp = ctx.state.borrow().read(&req);
    let _ = reply.send(resp);
}

/// How [`copy_parts`] ended.
enum Copied {
    Answer(HeadReadResponse),
    /// The memtables changed shape (see [`ShardState::epoch`]).
    Changed,
    /// Nobody waits for the answer any more.
    CallerGone,
}

/// Copies `plan`'s series one part per turn of the executor. A part ends
/// after `plan.per_part` series, or earlier, between two groups of
/// [`SERIES_PER_CHECK`] series, once the executor wants to preempt (its
/// preemption timer fired, or another thread woke one of its tasks, e.g. a
/// cheap command): a command waits for a few series, not a whole part.
async fn copy_parts(ctx: &ShardCtx, req: &SelectRequest, plan: &ReadPlan, reply: &Reply<HeadReadResponse>) -> Copied {
    let mut copied = [Vec::with_capacity(plan.frozen.len()), Vec::with_capacity(plan.active.len())];
    for (is_frozen, ids) in [(true, &plan.frozen), (false, &plan.active)] {
        let mut next = 0;
        while next < ids.len() {
            yield_to_other_tasks().await;
            if reply.is_closed() {
                return Copied::CallerGone;
            }
            let state = ctx.state.borrow();
            if state.epoch() != plan.epoch {
                return Copied::Changed;
            }
            let out = &mut copied[usize::from(!is_frozen)];
            let end = (next + plan.per_part).min(ids.len());
            next = ctx.priority.lowered(|| {
                let mut at = next;
                while at < end {
                    let group = &ids[at..(at + SERIES_PER_CHECK).min(end)];
                    out.extend(state.read_part(req, is_frozen, group));
                    at += group.len();
                    if glommio::executor().need_preempt() {
                        break;
                    }
                }
                at
            });
        }
    }
    let [frozen, active] = copied;
    Copied::Answer(ctx.state.borrow().join_parts(frozen, active))
}

/// Series a heavy read copies between two checks for preemption.
const SERIES_PER_CHECK: usize = 8;

/// Lets every other ready task of the executor run once.
async fn yield_to_other_tasks() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if std::mem::replace(&mut yielded, true) {
            std::task::Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}
