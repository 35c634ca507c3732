//! The per-shard flusher task: decides when to flush, freezes the memtable,
//! writes and commits files on a plain OS thread (no blocking I/O on the
//! executor), then advances the flushed offsets and releases the log. A
//! graceful stop ([`FlushEvent::Stop`]) flushes whatever was consumed
//! (`flush_on_shutdown`).

use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::{Either, select};
use strata_log::{Log, Offset, PartitionId};
use strata_storage::{FlushContext, ManifestStore, write_files};

use super::context::{FlushEvent, ShardCtx};
use super::state::FlushJob;
use crate::annotations::AnnotationStore;
use crate::error::{Error, Result};

const RETRY_MIN: Duration = Duration::from_secs(1);
/// Longest wait between flush retries: a flush failing on a full disk
/// succeeds within this long of space returning (and `/ready` recovers).
const RETRY_MAX: Duration = Duration::from_secs(8);
const TICK_MAX: Duration = Duration::from_secs(1);

/// Runs until [`FlushEvent::Stop`] (or the event channel closes).
pub(crate) async fn run_flusher(ctx: Rc<ShardCtx>, events: flume::Receiver<FlushEvent>) {
    let interval = ctx.config.flush_interval();
    let tick = interval.min(TICK_MAX);
    let mut last_flush = Instant::now();
    let mut retry = RETRY_MIN;
    let mut retry_at: Option<Instant> = None;
    loop {
        let first = match select(pin!(events.recv_async()), pin!(glommio::timer::sleep(tick))).await {
            Either::Left((Ok(ev), _)) => Some(ev),
            Either::Left((Err(_), _)) => return,
            Either::Right(_) => None,
        };
        // Coalesce: concurrent flush_now calls share one flush cycle.
        let mut waiters = Vec::new();
        let mut stop = false;
        for ev in first.into_iter().chain(std::iter::from_fn(|| events.try_recv().ok())) {
            match ev {
                FlushEvent::Nudge => {}
                FlushEvent::Force(reply) => waiters.push(reply),
                FlushEvent::Stop => stop = true,
            }
        }
        ctx.nudged.set(false);
        let force = !waiters.is_empty();
        let now = Instant::now();
        let retry_due = retry_at.is_none_or(|t| now >= t);
        let (pending, due) = {
            let st = ctx.state.borrow();
            let due = st.active.approx_bytes() > ctx.config.memtable_max_bytes
                || (now.duration_since(last_flush) >= interval && st.has_unflushed());
            (st.frozen.is_some(), due)
        };
        // A graceful stop flushes everything consumed (unless configured
        // not to), so the log can give back its space and a restart has
        // nothing to replay.
        let stop_flush = stop && ctx.config.flush_on_shutdown;
        if force || stop_flush || ((due || pending) && retry_due) {
            let result = flush_cycle(&ctx, force || due || stop_flush).await;
            match &result {
                Ok(()) => {
                    last_flush = Instant::now();
                    retry = RETRY_MIN;
                    retry_at = None;
                }
                Err(_) => {
                    retry_at = Some(Instant::now() + retry);
                    retry = (retry * 2).min(RETRY_MAX);
                }
            }
            for w in waiters {
                let _ = w.send(result.as_ref().map(|_| ()).map_err(clone_flush_error));
            }
        }
        if stop {
            return;
        }
    }
}

/// Retries the pending frozen table if any, then (if `freeze`) freezes and
/// flushes the active one.
async fn flush_cycle(ctx: &Rc<ShardCtx>, freeze: bool) -> Result<()> {
    let pending = ctx.state.borrow().frozen.clone();
    if let Some(job) = pending {
        run_job(ctx, job).await?;
    }
    if freeze {
        let job = ctx.state.borrow_mut().freeze();
        if let Some(job) = job {
            run_job(ctx, job).await?;
        }
    }
    Ok(())
}

/// Writes and commits one frozen table off the executor; on success drops it
/// and advances the flushed offsets. On failure nothing changes: the frozen
/// table stays readable and is retried.
async fn run_job(ctx: &Rc<ShardCtx>, job: FlushJob) -> Result<()> {
    let shard = ctx.shard;
    let started = Instant::now();
    let (tx, rx) = flume::bounded(1);
    let (manifest, log, thread_job) = (ctx.manifest.clone(), ctx.log.clone(), job.clone());
    let annotations = ctx.state.borrow().annotations.clone();
    std::thread::Builder::new()
        .name(format!("strata-flush-{shard}"))
        .spawn(move || {
            let _ = tx.send(write_and_commit(&manifest, &*log, &annotations, &thread_job, shard));
        })
        .map_err(|e| Error::FlushThread { shard, reason: format!("cannot spawn the flush thread: {e}") })?;
    let result = match rx.recv_async().await {
        Ok(r) => r,
        Err(_) => Err(Error::FlushThread { shard, reason: "the flush thread panicked".to_string() }),
    };
    let metrics = ctx.state.borrow().metrics.clone();
    metrics.flush_duration.observe(started.elapsed().as_secs_f64());
    match result {
        Ok(files) => {
            ctx.flush_failing.store(false, std::sync::atomic::Ordering::Release);
            ctx.state.borrow_mut().finish_flush(&job);
            metrics.flushes_ok.inc();
            tracing::info!(
                shard,
                files,
                samples = job.table.as_ref().map_or(0, |t| t.sample_count()),
                ranges = ?job.ranges,
                took = ?started.elapsed(),
                "flushed"
            );
            Ok(())
        }
        Err(e) => {
            ctx.flush_failing.store(true, std::sync::atomic::Ordering::Release);
            metrics.flushes_failed.inc();
            tracing::error!(shard, error = %e, ranges = ?job.ranges, "flush failed; the frozen memtable is kept and the flush will be retried");
            Err(e)
        }
    }
}

/// Blocking: write the files, write the annotation snapshot (it must hold
/// what the records below the new flushed offsets carried before the log
/// may drop them), commit the files with the new flushed offsets,
/// replicate the commit (object storage, if configured), then let the log
/// drop what is now durable elsewhere. Returns the file count.
///
/// A job whose commit succeeded but whose replication failed is retried
/// from the replication: the local manifest's flushed offsets already cover
/// its ranges, so its files are not written twice.
fn write_and_commit(
    manifest: &ManifestStore,
    log: &dyn Log,
    annotations: &AnnotationStore,
    job: &FlushJob,
    shard: usize,
) -> Result<usize> {
    let storage_err = |e| Error::Flush { shard, source: Arc::new(e) };
    let flushed: Vec<(PartitionId, Offset)> = job.ranges.iter().map(|r| (r.partition, r.end)).collect();
    let current = manifest.current();
    let committed =
        !flushed.is_empty() && flushed.iter().all(|(p, o)| current.flushed_offsets.get(p).is_some_and(|c| c >= o));
    let mut count = 0;
    if !committed {
        let files = match &job.table {
            Some(table) => write_files(manifest, table, &FlushContext { offsets: job.ranges.clone(), level: 0 })
                .map_err(storage_err)?,
            None => Vec::new(),
        };
        count = files.len();
        if let Err(e) = annotations.write_snapshot() {
            manifest.remove_uncommitted(&files);
            return Err(Error::FlushThread { shard, reason: format!("writing the annotation snapshot: {e}") });
        }
        if let Err(e) = manifest.commit_flush(files.clone(), &flushed) {
            manifest.remove_uncommitted(&files);
            return Err(storage_err(e));
        }
    }
    manifest.replicate().map_err(storage_err)?;
    for &(partition, offset) in &flushed {
        // Only space reclamation: failing to release loses nothing.
        if let Err(e) = log.release(partition, offset) {
            tracing::warn!(shard, partition, offset, error = %e, "releasing flushed log records failed");
        }
    }
    Ok(count)
}

/// Flush errors go to every waiter of a coalesced cycle.
fn clone_flush_error(e: &Error) -> Error {
    match e {
        Error::Flush { shard, source } => Error::Flush { shard: *shard, source: source.clone() },
        Error::FlushThread { shard, reason } => Error::FlushThread { shard: *shard, reason: reason.clone() },
        other => Error::FlushThread { shard: usize::MAX, reason: other.to_string() },
    }
}
