//! The body of one shard: runs on its own glommio executor, owns its
//! partitions' readers, its memtables and its flushes, and answers commands
//! from the [`Ingester`](super::Ingester) handle over a channel.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use strata_common::head::{
    HeadLabelsResponse, HeadReadResponse, LabelsRequest, PartitionProgress, SelectEstimate, SelectRequest,
};
use strata_log::{Log, Offset, PartitionId};
use strata_storage::ManifestStore;

use super::config::IngesterConfig;
use super::consume::{consume_partition, open_reader_at};
use super::context::{FlushEvent, ShardCtx};
use super::flush::run_flusher;
use super::metrics::IngesterMetrics;
use super::state::{PartitionState, ShardState};
use crate::error::Result;

/// A request to a shard.
pub(crate) enum Command {
    Read {
        req: SelectRequest,
        reply: flume::Sender<HeadReadResponse>,
    },
    Labels {
        req: LabelsRequest,
        reply: flume::Sender<HeadLabelsResponse>,
    },
    Estimate {
        req: SelectRequest,
        reply: flume::Sender<SelectEstimate>,
    },
    Progress {
        reply: flume::Sender<Vec<PartitionProgress>>,
    },
    /// Cardinality statistics of one tenant's head (active and frozen tables).
    Stats {
        tenant: strata_common::TenantId,
        reply: flume::Sender<strata_storage::memtable::HeadStats>,
    },
    /// Flush everything consumed so far.
    Flush {
        reply: flume::Sender<Result<()>>,
    },
    /// Answer once every owned partition reached its target (index = partition).
    WaitConsumed {
        targets: Vec<Offset>,
        reply: flume::Sender<()>,
    },
    Shutdown {
        reply: flume::Sender<()>,
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
    /// Set while the last flush failed (read by the handle for `/ready`).
    pub flush_failing: Arc<std::sync::atomic::AtomicBool>,
    pub commands: flume::Receiver<Command>,
    /// Answered once the readers are open (or with the error that stopped it).
    pub ready: flume::Sender<Result<()>>,
}

/// Runs one shard until it is told to stop or its command channel closes
/// (the [`Ingester`](super::Ingester) was dropped).
pub(crate) async fn run_shard(spec: ShardSpec) {
    let ShardSpec { shard, partitions, config, log, manifest, metrics, flush_failing, commands, ready } = spec;

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
        state: RefCell::new(ShardState::new(shard, states, metrics.shard(shard))),
        config,
        log,
        manifest,
        flush_events: flush_tx,
        nudged: Cell::new(false),
        flush_failing,
    });
    // Closing `stop_tx` (by dropping it) stops every consumer.
    let (stop_tx, stop_rx) = flume::bounded::<()>(0);
    let consumers: Vec<_> = readers
        .into_iter()
        .map(|(p, r)| glommio::spawn_local(consume_partition(ctx.clone(), p, r, stop_rx.clone())))
        .collect();
    let flusher = glommio::spawn_local(run_flusher(ctx.clone(), flush_rx));
    let _ = ready.send(Ok(()));

    let mut shutdown_reply = None;
    while let Ok(cmd) = commands.recv_async().await {
        match cmd {
            Command::Read { req, reply } => {
                let resp = ctx.state.borrow().read(&req);
                let _ = reply.send(resp);
            }
            Command::Labels { req, reply } => {
                let resp = ctx.state.borrow().labels(&req);
                let _ = reply.send(resp);
            }
            Command::Estimate { req, reply } => {
                let resp = ctx.state.borrow().estimate(&req);
                let _ = reply.send(resp);
            }
            Command::Progress { reply } => {
                let _ = reply.send(ctx.state.borrow().progress());
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
