//! [`KafkaLogReader`]: reads one partition through a `BaseConsumer` polled on
//! a thread of its own, handing batches over a bounded `flume` channel.
//!
//! Why a thread: the reader is awaited on a glommio executor, which must
//! never block, and librdkafka's consumer API is blocking (`poll`). The
//! thread blocks instead; the shard awaits `recv_async`, which works on any
//! executor. The channel holds at most [`CHANNEL_BATCHES`] batches of up to
//! [`BATCH_BYTES`] (plus librdkafka's own prefetch,
//! [`KafkaConfig::fetch_buffer_bytes`]), so a paused shard bounds memory: the
//! thread blocks on `send` and librdkafka stops fetching once its buffer is
//! full. Dropping the reader closes the channel; the thread notices within
//! [`POLL_INTERVAL`] and closes its consumer.
//!
//! (The alternative, `split_partition_queue` with a non-empty callback waking
//! the shard, saves the thread but still needs someone to serve the main
//! queue's events; a thread per assigned partition is cheap next to
//! librdkafka's own threads per client.)

use std::collections::VecDeque;
use std::thread::JoinHandle;
use std::time::Duration;

use futures::future::LocalBoxFuture;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::topic_partition_list::{Offset as KafkaOffset, TopicPartitionList};

use super::client::{self, TracingContext, is_transient, map_error};
use super::{KafkaConfig, header};
use crate::{LogReader, LogRecord, Offset, PartitionId};
use strata_common::error::{Error, Result};

/// Batches buffered between the thread and the shard.
const CHANNEL_BATCHES: usize = 4;
/// A batch is closed once it holds this many payload bytes.
const BATCH_BYTES: usize = 1 << 20;
/// Most records in one batch.
const BATCH_RECORDS: usize = 4096;
/// How long one `poll` blocks; bounds how late the thread sees a dropped reader.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Longest the open-time offset range check may block the caller.
const OPEN_CHECK_TIMEOUT: Duration = Duration::from_secs(1);
/// A transient consumer error is logged at warn level at most this often.
const WARN_EVERY: Duration = Duration::from_secs(10);

type Item = Result<Vec<LogRecord>>;

/// A reader of one partition of a [`KafkaLog`](super::KafkaLog).
pub struct KafkaLogReader {
    partition: PartitionId,
    /// The offset of the next record to return.
    next: Offset,
    rx: flume::Receiver<Item>,
    /// Records received but not yet returned.
    buffered: VecDeque<LogRecord>,
    /// Why the thread stopped, once it reported a fatal error.
    failed: Option<String>,
    _thread: JoinHandle<()>,
}

impl std::fmt::Debug for KafkaLogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaLogReader").field("partition", &self.partition).field("next", &self.next).finish()
    }
}

impl KafkaLogReader {
    /// Opens a reader of `partition` at `from`. `from` must be within
    /// `[start, end]` of the partition (Kafka's low and high watermarks), else
    /// [`Error::OffsetOutOfRange`].
    ///
    /// Blocks the caller (an ingester's executor) for one ListOffsets round
    /// trip, at most one second. If the broker does not answer in
    /// time the reader opens anyway and its thread repeats the check until
    /// the broker answers: an out-of-range offset then comes back from
    /// [`LogReader::next_batch`] (and the ingester's reopen is checked).
    pub fn open(config: &KafkaConfig, partition: PartitionId, from: Offset) -> Result<Self> {
        let consumer: BaseConsumer<TracingContext> = client::consumer_config(config)
            .create_with_context(TracingContext)
            .map_err(|e| Error::InvalidConfig(format!("kafka: cannot create a Kafka consumer: {e}")))?;
        let topic = config.topic.clone();
        let checked = match watermarks(&consumer, &topic, partition, config.request_timeout().min(OPEN_CHECK_TIMEOUT)) {
            Ok((start, end)) if from < start || from > end => {
                return Err(Error::OffsetOutOfRange { partition, offset: from, start, end });
            }
            Ok(_) => true,
            Err(Error::LogUnavailable(why)) => {
                tracing::warn!(
                    partition,
                    offset = from,
                    %why,
                    "kafka did not answer the offset range check; the reader thread checks once it does"
                );
                false
            }
            Err(e) => return Err(e),
        };
        let mut tpl = TopicPartitionList::with_capacity(1);
        tpl.add_partition_offset(&topic, partition as i32, KafkaOffset::Offset(from as i64))
            .and_then(|()| consumer.assign(&tpl))
            .map_err(|e| map_error(&format!("assign partition {partition}"), &e))?;
        let (tx, rx) = flume::bounded(CHANNEL_BATCHES);
        let timeout = config.request_timeout();
        let thread = std::thread::Builder::new()
            .name(format!("strata-kafka-p{partition}"))
            .spawn(move || Poller { consumer, topic, partition, next: from, tx, timeout }.run(checked))
            .map_err(|e| {
                Error::LogUnavailable(format!("cannot start the reader thread of partition {partition}: {e}"))
            })?;
        Ok(Self { partition, next: from, rx, buffered: VecDeque::new(), failed: None, _thread: thread })
    }

    async fn next_batch_inner(&mut self, max_records: usize) -> Result<Vec<LogRecord>> {
        let max = max_records.max(1);
        if self.buffered.is_empty() {
            if let Some(why) = &self.failed {
                return Err(Error::LogUnavailable(format!(
                    "the reader of partition {} stopped after an error ({why}); reopen it",
                    self.partition
                )));
            }
            match self.rx.recv_async().await {
                Ok(Ok(batch)) => self.buffered.extend(batch),
                Ok(Err(e)) => {
                    self.failed = Some(e.to_string());
                    return Err(e);
                }
                Err(_) => {
                    self.failed = Some("the reader thread ended".into());
                    return Err(Error::LogUnavailable(format!(
                        "the reader thread of partition {} ended unexpectedly",
                        self.partition
                    )));
                }
            }
        }
        // Top up from batches already waiting, without awaiting.
        while self.buffered.len() < max {
            match self.rx.try_recv() {
                Ok(Ok(batch)) => self.buffered.extend(batch),
                // Kept for the next call: hand out what is buffered first.
                Ok(Err(e)) => {
                    self.failed = Some(e.to_string());
                    break;
                }
                Err(_) => break,
            }
        }
        let n = self.buffered.len().min(max);
        let out: Vec<LogRecord> = self.buffered.drain(..n).collect();
        if let Some(last) = out.last() {
            self.next = last.offset + 1;
        }
        Ok(out)
    }
}

impl LogReader for KafkaLogReader {
    fn partition(&self) -> PartitionId {
        self.partition
    }

    fn position(&self) -> Offset {
        self.next
    }

    fn next_batch(&mut self, max_records: usize) -> LocalBoxFuture<'_, Result<Vec<LogRecord>>> {
        Box::pin(self.next_batch_inner(max_records))
    }
}

/// `(low, high)` watermarks of `partition`.
fn watermarks(
    consumer: &BaseConsumer<TracingContext>,
    topic: &str,
    partition: PartitionId,
    timeout: Duration,
) -> Result<(Offset, Offset)> {
    let (low, high) = consumer
        .fetch_watermarks(topic, partition as i32, timeout)
        .map_err(|e| map_error(&format!("watermarks of partition {partition}"), &e))?;
    Ok((low.max(0) as u64, high.max(0) as u64))
}

/// The reader thread's state.
struct Poller {
    consumer: BaseConsumer<TracingContext>,
    topic: String,
    partition: PartitionId,
    /// The offset of the next record to hand on.
    next: Offset,
    tx: flume::Sender<Item>,
    timeout: Duration,
}

impl Poller {
    fn run(mut self, checked: bool) {
        if !checked && !self.check_range() {
            return;
        }
        let mut last_warn = None;
        while !self.tx.is_disconnected() {
            let mut batch = Vec::new();
            let (mut bytes, mut wait, mut error) = (0, POLL_INTERVAL, None);
            // Wait for one message, then take what librdkafka already fetched.
            while bytes < BATCH_BYTES && batch.len() < BATCH_RECORDS {
                match self.consumer.poll(wait) {
                    Some(Ok(msg)) => bytes += push(self.partition, &mut self.next, &mut batch, &msg),
                    Some(Err(e)) => {
                        error = Some(e);
                        break;
                    }
                    None => break,
                }
                wait = Duration::ZERO;
            }
            // The good records first; a fatal error after them ends the thread.
            if !batch.is_empty() && self.tx.send(Ok(batch)).is_err() {
                return;
            }
            if let Some(e) = error
                && let Some(fatal) = self.on_error(e, &mut last_warn)
            {
                let _ = self.tx.send(Err(fatal));
                return;
            }
        }
    }

    /// The open-time range check, retried until the broker answers; returns
    /// whether to go on reading (else it sent the error or the reader is gone).
    fn check_range(&mut self) -> bool {
        loop {
            if self.tx.is_disconnected() {
                return false;
            }
            match watermarks(&self.consumer, &self.topic, self.partition, self.timeout) {
                Ok((start, end)) if self.next < start || self.next > end => {
                    let e = Error::OffsetOutOfRange { partition: self.partition, offset: self.next, start, end };
                    let _ = self.tx.send(Err(e));
                    return false;
                }
                Ok(_) => return true,
                Err(Error::LogUnavailable(_)) => std::thread::sleep(POLL_INTERVAL),
                Err(e) => {
                    let _ = self.tx.send(Err(e));
                    return false;
                }
            }
        }
    }

    /// The fatal error to hand on for a consumer error (the thread stops
    /// after sending it), or `None` for a transient one librdkafka retries by
    /// itself (logged, rate-limited).
    fn on_error(&mut self, e: KafkaError, last_warn: &mut Option<std::time::Instant>) -> Option<Error> {
        let code = e.rdkafka_error_code();
        if code == Some(RDKafkaErrorCode::OffsetOutOfRange) {
            let (start, end) = match watermarks(&self.consumer, &self.topic, self.partition, self.timeout) {
                Ok(w) => w,
                Err(we) => return Some(we),
            };
            return Some(Error::OffsetOutOfRange { partition: self.partition, offset: self.next, start, end });
        }
        if code.is_none_or(is_transient) {
            if last_warn.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
                *last_warn = Some(std::time::Instant::now());
                tracing::warn!(partition = self.partition, error = %e, "kafka fetch failed; librdkafka retries");
            }
            return None;
        }
        Some(map_error(&format!("read partition {} at offset {}", self.partition, self.next), &e))
    }
}

/// Appends one message to `batch` (skipping re-deliveries), returns its size.
fn push<M: Message>(partition: PartitionId, next: &mut Offset, batch: &mut Vec<LogRecord>, msg: &M) -> usize {
    let Ok(offset) = u64::try_from(msg.offset()) else { return 0 };
    if msg.partition() != partition as i32 || offset < *next {
        return 0;
    }
    let raw = msg.payload().unwrap_or(&[]);
    let payload = match header::checked_payload(msg.headers(), raw) {
        Ok(p) => p,
        Err((replacement, reason)) => {
            tracing::warn!(
                partition = partition,
                offset,
                %reason,
                "kafka record is not a Strata record of a known version; handing it on to be skipped"
            );
            replacement
        }
    };
    *next = offset + 1;
    let n = payload.len();
    batch.push(LogRecord { offset, payload });
    n
}
