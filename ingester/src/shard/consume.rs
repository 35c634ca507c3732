//! The per-partition consumer task: replay from the flushed offset, then
//! follow the log forever.

use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use futures::future::{Either, select};
use strata_log::{Log, LogReader, Offset, PartitionId};

use super::context::ShardCtx;
use crate::error::{Error, Result};

const READ_RETRY_MIN: Duration = Duration::from_millis(100);
const READ_RETRY_MAX: Duration = Duration::from_secs(30);
/// How often a consumer paused by backpressure re-checks the memtable size.
const BACKPRESSURE_POLL: Duration = Duration::from_millis(20);

/// Opens a reader of `partition` at `from`. If the log no longer has `from`
/// (removed by retention, `from < start`), starts at the earliest offset the
/// log still has and says so loudly: those records are gone and cannot be
/// replayed. If `from` is beyond the log's end, the log is behind the
/// manifest (replaced or truncated log): refuse, since restarting lower
/// would count flushed data twice.
///
/// Returns the reader and the offset it starts at.
pub(crate) fn open_reader_at(
    log: &dyn Log,
    shard: usize,
    partition: PartitionId,
    from: Offset,
) -> Result<(Box<dyn LogReader>, Offset)> {
    match log.open_reader(partition, from) {
        Ok(reader) => Ok((reader, from)),
        Err(strata_common::Error::OffsetOutOfRange { start, end, .. }) if from < start && start <= end => {
            tracing::error!(
                shard,
                partition,
                wanted = from,
                earliest = start,
                lost = start - from,
                "log records below the earliest available offset were removed by retention before being \
                 flushed; starting from the earliest available offset"
            );
            let reader = log.open_reader(partition, start).map_err(|source| Error::OpenReader {
                shard,
                partition,
                offset: start,
                source,
            })?;
            Ok((reader, start))
        }
        Err(source) => Err(Error::OpenReader { shard, partition, offset: from, source }),
    }
}

/// Sleeps for `d` unless the stop channel closes first; returns whether to stop.
async fn sleep_or_stop(d: Duration, stop: &flume::Receiver<()>) -> bool {
    matches!(select(pin!(glommio::timer::sleep(d)), pin!(stop.recv_async())).await, Either::Right(_))
}

/// Consumes `partition` into the shard's memtable until the shard stops
/// (the `stop` channel is closed) or the log is closed.
pub(crate) async fn consume_partition(
    ctx: Rc<ShardCtx>,
    partition: PartitionId,
    mut reader: Box<dyn LogReader>,
    stop: flume::Receiver<()>,
) {
    let max_records = ctx.config.max_batch_records;
    let backpressure_bytes = ctx.config.memtable_max_bytes.saturating_mul(2);
    let mut retry = READ_RETRY_MIN;
    loop {
        // Backpressure: a flush is in flight and the new memtable is already
        // twice the flush size. Pausing is safe: the log holds the data.
        while ctx.over_limit(backpressure_bytes) {
            if sleep_or_stop(BACKPRESSURE_POLL, &stop).await {
                return;
            }
        }
        let batch = match select(reader.next_batch(max_records), pin!(stop.recv_async())).await {
            Either::Left((batch, _)) => batch,
            Either::Right(_) => return,
        };
        match batch {
            Ok(records) => {
                retry = READ_RETRY_MIN;
                let over = {
                    let mut st = ctx.state.borrow_mut();
                    st.apply_batch(partition, &records);
                    st.active.approx_bytes() > ctx.config.memtable_max_bytes
                };
                if over {
                    ctx.nudge_flusher();
                }
                // Let the other partitions, head reads and the flusher run
                // during a long replay.
                glommio::yield_if_needed().await;
            }
            Err(strata_common::Error::LogClosed) => {
                tracing::info!(shard = ctx.shard, partition, "log closed; partition consumer stops");
                return;
            }
            Err(e) => {
                if let Some(part) = ctx.state.borrow().partitions.get(&partition) {
                    part.metrics.log_read_errors.inc();
                }
                tracing::error!(shard = ctx.shard, partition, error = %e, retry_in = ?retry, "log read failed; retrying");
                if sleep_or_stop(retry, &stop).await {
                    return;
                }
                retry = (retry * 2).min(READ_RETRY_MAX);
                let from = ctx.state.borrow().partitions.get(&partition).map_or(0, |p| p.consumed);
                match open_reader_at(&*ctx.log, ctx.shard, partition, from) {
                    Ok((fresh, start)) => {
                        ctx.state.borrow_mut().skip_to(partition, start);
                        reader = fresh;
                    }
                    Err(e) => {
                        tracing::error!(shard = ctx.shard, partition, error = %e, "reopening the log reader failed")
                    }
                }
            }
        }
    }
}
