//! The context one shard's tasks share (the worker, the partition
//! consumers, the flusher): configuration, the log, the manifest, the shard
//! state and the flusher's event channel. Its own file, so `worker`,
//! `consume` and `flush` depend on it and not on each other (IOx
//! `ingester/src/persist/context.rs`).

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use strata_log::Log;
use strata_storage::ManifestStore;

use super::config::IngesterConfig;
use super::state::ShardState;
use crate::error::Result;

/// What the flusher is asked to do.
pub(crate) enum FlushEvent {
    /// The memtable went over its size limit.
    Nudge,
    /// Flush everything consumed so far and answer when committed.
    Force(super::worker::Reply<Result<()>>),
    /// The shard is stopping (sent after the consumers stopped): flush what
    /// was consumed (with `flush_on_shutdown`), then stop.
    Stop,
}

/// Shared by the tasks of one shard (never leaves the executor).
pub(crate) struct ShardCtx {
    pub shard: usize,
    pub config: IngesterConfig,
    pub log: Arc<dyn Log>,
    pub manifest: Arc<ManifestStore>,
    pub state: RefCell<ShardState>,
    /// Events for the shard's flusher task (see [`FlushEvent`]).
    pub flush_events: flume::Sender<FlushEvent>,
    /// A nudge is queued and not yet seen by the flusher.
    pub nudged: Cell<bool>,
    /// Set while the last flush failed; cleared by the next that succeeds.
    pub flush_failing: Arc<std::sync::atomic::AtomicBool>,
    /// One unit: heavy head reads copy their parts one read at a time, so
    /// a cheap command waits for at most one part, not one per heavy read
    /// in flight.
    pub heavy_reads: glommio::sync::Semaphore,
    /// Lowers the shard thread while it copies a heavy read's part.
    pub priority: Arc<super::priority::ShardPriority>,
}

impl ShardCtx {
    /// Tells the flusher the memtable is over its size (once per wake-up).
    pub fn nudge_flusher(&self) {
        if !self.nudged.replace(true) {
            let _ = self.flush_events.send(FlushEvent::Nudge);
        }
    }

    /// Whether a flush is in flight and the active memtable is over `bytes`.
    pub fn over_limit(&self, bytes: usize) -> bool {
        let st = self.state.borrow();
        st.frozen.is_some() && st.active.approx_bytes() > bytes
    }
}
