//! The Kafka log: the [`Log`] contract over one Kafka topic, one Kafka
//! partition per log partition, with rdkafka (bundled librdkafka).
//!
//! ```text
//!  distributor (tokio) ──append──▶ FutureProducer ──idempotent, acks=all──▶ topic
//!                                  (bounded buffer: full → 429)              │
//!  ingester shard (glommio) ◀─flume─ reader thread ◀─BaseConsumer.poll───────┘
//!                ──release──▶ commit thread ──OffsetCommit──▶ consumer group (lag tooling)
//!  querier / lag metrics ──end_offsets──▶ ListOffsets (blocking, off the caller's thread)
//! ```
//!
//! # Guarantees
//!
//! - [`Log::append`] resolves only when every record is acknowledged by all
//!   in-sync replicas (`acks=all`, `enable.idempotence=true`: retries never
//!   duplicate or reorder within a partition). Not acknowledged within
//!   [`KafkaConfig::produce_timeout_ms`] (librdkafka's `message.timeout.ms`) →
//!   [`Error::LogUnavailable`] (503). The producer buffer
//!   ([`KafkaConfig::max_in_flight_bytes`]) full → [`Error::LogOverloaded`] at
//!   once (429). On either error some records may still be written; the client
//!   retries and ingesters tolerate the duplicates (the log contract).
//! - Every record carries the `strata-record-version` header (see [`header`]);
//!   readers hand records with a missing or unknown version on with a payload
//!   the decoder rejects, so the ingester counts, logs and skips them.
//! - Readers (`KafkaLogReader`) are assigned their partition directly
//!   (no group membership, no rebalances) at an explicit offset, with
//!   `auto.offset.reset=error`: an offset below the log start (removed by
//!   retention) is [`Error::OffsetOutOfRange`], at open or while reading,
//!   never a silent jump. The ingester then restarts at the log start with a
//!   loud log line (its documented policy).
//! - [`Log::release`] commits the offset to the consumer group
//!   [`KafkaConfig::consumer_group`] asynchronously, for lag tooling only; the
//!   manifest stays the truth about progress. Retention is the broker's.
//!
//! # Threads
//!
//! librdkafka runs its own threads per client. Strata adds one thread per
//! open reader (it polls a `BaseConsumer` and feeds a bounded `flume` channel
//! that the shard awaits with `recv_async`, so a glommio executor never
//! blocks on Kafka), one commit thread per log, and short blocking offset
//! queries on tokio's blocking pool (or a thread when called off tokio).
//! [`KafkaLog::connect`] blocks on a few broker round trips (bounded by
//! [`KafkaConfig::request_timeout_ms`]); [`Log::open_reader`] on one, for at
//! most a second (see [`KafkaLogReader::open`]).

mod client;
mod committer;
mod config;
pub mod header;
mod reader;
#[cfg(any(test, feature = "testing"))]
mod test_broker;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use parking_lot::RwLock;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset as KafkaOffset, TopicPartitionList};

pub use config::KafkaConfig;
pub use reader::KafkaLogReader;
#[cfg(any(test, feature = "testing"))]
pub use test_broker::TestBroker;

use self::client::{TracingContext, map_error};
use self::committer::Committer;
use crate::{Log, LogReader, Offset, PartitionId};
use strata_common::error::{Error, Result};

/// Added to [`KafkaConfig::produce_timeout_ms`] before an append gives up by
/// itself, so librdkafka's own timeout (with its precise error) usually wins.
const ACK_GRACE: Duration = Duration::from_millis(250);

/// A [`Log`] over a Kafka topic (see the module docs).
pub struct KafkaLog {
    config: KafkaConfig,
    partitions: u32,
    /// Replaced by a fresh producer after a failed delivery (see [`Self::renew_producer`]).
    producer: RwLock<Arc<FutureProducer<TracingContext>>>,
    /// Metadata and offset queries; no group, so nothing needs polling.
    meta: Arc<BaseConsumer<TracingContext>>,
    committer: Committer,
}

impl std::fmt::Debug for KafkaLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaLog")
            .field("brokers", &self.config.brokers)
            .field("topic", &self.config.topic)
            .field("partitions", &self.partitions)
            .finish()
    }
}

impl KafkaLog {
    /// Connects: reads the topic's metadata (creating the topic with
    /// [`KafkaConfig::partitions`] partitions if it is missing and
    /// [`KafkaConfig::create_topic`] allows it), fixes the partition count
    /// from it, and starts the producer and the commit thread. Blocks for a
    /// few broker round trips; call it at startup or from a blocking task.
    pub fn connect(config: &KafkaConfig) -> Result<Arc<Self>> {
        config.validate()?;
        let timeout = config.request_timeout();
        let mut meta_cc = client::consumer_config(config);
        meta_cc.remove("group.id");
        let meta: BaseConsumer<TracingContext> = meta_cc
            .create_with_context(TracingContext)
            .map_err(|e| Error::InvalidConfig(format!("kafka: cannot create a Kafka client: {e}")))?;
        let partitions = match topic_partitions(&meta, &config.topic, timeout)? {
            Some(n) => n,
            None if config.create_topic => create_topic(config, &meta)?,
            None => {
                return Err(Error::LogRejected(format!(
                    "topic {:?} does not exist on {} and kafka.create_topic is false",
                    config.topic, config.brokers
                )));
            }
        };
        if partitions != config.partitions {
            tracing::info!(
                topic = %config.topic,
                partitions,
                configured = config.partitions,
                "the topic exists with a different partition count; using the topic's"
            );
        }
        let producer = RwLock::new(Arc::new(new_producer(config)?));
        let committer = Committer::start(config)?;
        tracing::info!(brokers = %config.brokers, topic = %config.topic, partitions, "kafka log connected");
        Ok(Arc::new(Self { config: config.clone(), partitions, producer, meta: Arc::new(meta), committer }))
    }

    /// The configuration the log was connected with.
    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    fn check_partition(&self, partition: PartitionId) -> Result<()> {
        if partition < self.partitions {
            Ok(())
        } else {
            Err(Error::NoSuchPartition { partition, partitions: self.partitions })
        }
    }

    /// The oldest offset still stored, per partition (Kafka's low watermark;
    /// above 0 once retention removed data). For lag metrics and tooling.
    pub fn start_offsets(&self) -> BoxFuture<'static, Result<Vec<Offset>>> {
        self.list_offsets(KafkaOffset::Beginning)
    }

    /// Lists the earliest or latest offset of every partition in one request.
    fn list_offsets(&self, at: KafkaOffset) -> BoxFuture<'static, Result<Vec<Offset>>> {
        let meta = self.meta.clone();
        let (topic, partitions, timeout) = (self.config.topic.clone(), self.partitions, self.config.request_timeout());
        run_blocking(move || {
            let mut tpl = TopicPartitionList::with_capacity(partitions as usize);
            for p in 0..partitions {
                tpl.add_partition_offset(&topic, p as i32, at).map_err(|e| map_error("list offsets", &e))?;
            }
            let got = meta.offsets_for_times(tpl, timeout).map_err(|e| map_error("list offsets", &e))?;
            let mut out = vec![0; partitions as usize];
            for el in got.elements() {
                el.error().map_err(|e| map_error(&format!("list offsets of partition {}", el.partition()), &e))?;
                match (usize::try_from(el.partition()), el.offset()) {
                    (Ok(p), KafkaOffset::Offset(o)) if p < out.len() && o >= 0 => out[p] = o as u64,
                    (_, other) => {
                        return Err(Error::LogUnavailable(format!(
                            "list offsets: partition {} answered {other:?}",
                            el.partition()
                        )));
                    }
                }
            }
            Ok(out)
        })
    }

    /// Replaces `failed` (the producer a delivery just failed on) with a fresh
    /// one, unless another append already did.
    ///
    /// Why: after a delivery times out, librdkafka's idempotent producer
    /// bumps its epoch (KIP-360), which tansu 0.6 cannot handle (it stops
    /// accepting produce requests); a fresh producer gets a fresh producer id
    /// from `InitProducerId`, which every broker supports. Records of the
    /// failed appends were answered with an error, so dropping (purging) what
    /// the old producer still holds loses nothing acknowledged.
    fn renew_producer(&self, failed: &Arc<FutureProducer<TracingContext>>) {
        let mut current = self.producer.write();
        if !Arc::ptr_eq(&current, failed) {
            return;
        }
        match new_producer(&self.config) {
            Ok(fresh) => {
                let old = std::mem::replace(&mut *current, Arc::new(fresh));
                drop(current);
                tracing::warn!(topic = %self.config.topic, "a kafka delivery failed; replaced the producer");
                // Dropping purges and flushes for up to 500 ms: not on the caller's thread.
                let _ = std::thread::Builder::new().name("strata-kafka-drop".into()).spawn(move || drop(old));
            }
            Err(e) => tracing::error!(error = %e, "cannot create a fresh kafka producer; keeping the old one"),
        }
    }

    async fn append_inner(&self, partition: PartitionId, payloads: Vec<Bytes>) -> Result<Offset> {
        self.check_partition(partition)?;
        if payloads.is_empty() {
            return Ok(self.end_offsets().await?[partition as usize]);
        }
        let producer = self.producer.read().clone();
        let mut pending = Vec::with_capacity(payloads.len());
        for payload in &payloads {
            let record = FutureRecord::<(), [u8]>::to(&self.config.topic)
                .partition(partition as i32)
                .payload(&payload[..])
                .headers(header::headers_for(payload));
            match producer.send_result(record) {
                Ok(delivery) => pending.push(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    return Err(Error::LogOverloaded { partition, limit_bytes: self.config.max_in_flight_bytes });
                }
                Err((e, _)) => return Err(map_error(&format!("append to partition {partition}"), &e)),
            }
        }
        let acks = async {
            let mut first = None;
            for delivery in pending {
                match delivery.await {
                    Ok(Ok(d)) => {
                        first.get_or_insert(d.offset);
                    }
                    Ok(Err((e, _))) => {
                        self.renew_producer(&producer);
                        return Err(map_error(&format!("append to partition {partition}"), &e));
                    }
                    Err(_) => return Err(Error::LogClosed),
                }
            }
            Ok(first)
        };
        // librdkafka enforces `message.timeout.ms`, but a request in flight
        // when the broker died can outlive it by seconds; on tokio (the
        // distributor) the deadline is enforced here too.
        let deadline = self.config.produce_timeout() + ACK_GRACE;
        let first = match tokio::runtime::Handle::try_current() {
            Ok(_) => match tokio::time::timeout(deadline, acks).await {
                Ok(r) => r?,
                Err(_) => {
                    self.renew_producer(&producer);
                    return Err(Error::LogUnavailable(format!(
                        "append to partition {partition}: not acknowledged within {deadline:?} \
                         (kafka.produce_timeout_ms)"
                    )));
                }
            },
            Err(_) => acks.await?,
        };
        // Invariant: `payloads` is non-empty, so `first` was set (or we returned).
        first.and_then(|o| u64::try_from(o).ok()).ok_or_else(|| {
            Error::LogRejected(format!("append to partition {partition}: the broker reported no offset"))
        })
    }
}

fn new_producer(config: &KafkaConfig) -> Result<FutureProducer<TracingContext>> {
    client::producer_config(config)
        .create_with_context(TracingContext)
        .map_err(|e| Error::InvalidConfig(format!("kafka: cannot create the Kafka producer: {e}")))
}

/// The partition count of `topic`, or `None` if the topic does not exist.
fn topic_partitions(meta: &BaseConsumer<TracingContext>, topic: &str, timeout: Duration) -> Result<Option<u32>> {
    let md = meta.fetch_metadata(Some(topic), timeout).map_err(|e| map_error("fetch topic metadata", &e))?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    match t.error() {
        None if !t.partitions().is_empty() => Ok(Some(t.partitions().len() as u32)),
        None => Ok(None),
        Some(code) => match RDKafkaErrorCode::from(code) {
            RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => Ok(None),
            RDKafkaErrorCode::LeaderNotAvailable => {
                Err(Error::LogUnavailable(format!("topic {topic:?} has no leader yet (being created?); retry")))
            }
            other => Err(Error::LogRejected(format!("topic {topic:?} metadata: {other}"))),
        },
    }
}

/// Creates the topic and waits until its metadata shows the partitions.
fn create_topic(config: &KafkaConfig, meta: &BaseConsumer<TracingContext>) -> Result<u32> {
    let timeout = config.request_timeout();
    let admin: AdminClient<TracingContext> = client::admin_config(config)
        .create_with_context(TracingContext)
        .map_err(|e| Error::InvalidConfig(format!("kafka: cannot create the Kafka admin client: {e}")))?;
    let topic = NewTopic::new(
        &config.topic,
        config.partitions as i32,
        TopicReplication::Fixed(config.replication_factor as i32),
    );
    let opts = AdminOptions::new().operation_timeout(Some(timeout)).request_timeout(Some(timeout));
    let results = futures::executor::block_on(admin.create_topics([&topic], &opts))
        .map_err(|e| map_error(&format!("create topic {:?}", config.topic), &e))?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(Error::LogRejected(format!("create topic {name:?} failed: {code}")));
            }
        }
    }
    tracing::info!(
        topic = %config.topic,
        partitions = config.partitions,
        replication_factor = config.replication_factor,
        "created the kafka topic"
    );
    let deadline = Instant::now() + timeout;
    loop {
        match topic_partitions(meta, &config.topic, timeout) {
            Ok(Some(n)) => return Ok(n),
            Ok(None) | Err(Error::LogUnavailable(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Ok(None) => {
                return Err(Error::LogUnavailable(format!(
                    "topic {:?} was created but does not show in the metadata after {timeout:?}",
                    config.topic
                )));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Runs a blocking broker query off the caller's thread: on tokio's blocking
/// pool inside a tokio runtime, else on a short-lived thread (glommio).
fn run_blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> BoxFuture<'static, Result<T>> {
    let (tx, rx) = futures::channel::oneshot::channel();
    let job = move || {
        // The receiver may be gone (the caller gave up); nothing to do then.
        let _ = tx.send(f());
    };
    let spawned = match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn_blocking(job);
            Ok(())
        }
        Err(_) => std::thread::Builder::new().name("strata-kafka-query".into()).spawn(job).map(|_| ()),
    };
    Box::pin(async move {
        spawned.map_err(|e| Error::LogUnavailable(format!("cannot start a thread for a Kafka query: {e}")))?;
        rx.await.unwrap_or_else(|_| Err(Error::LogUnavailable("the Kafka query thread ended early".into())))
    })
}

impl Log for KafkaLog {
    fn partition_count(&self) -> u32 {
        self.partitions
    }

    fn append(&self, partition: PartitionId, payloads: Vec<Bytes>) -> BoxFuture<'_, Result<Offset>> {
        Box::pin(self.append_inner(partition, payloads))
    }

    fn end_offsets(&self) -> BoxFuture<'_, Result<Vec<Offset>>> {
        self.list_offsets(KafkaOffset::End)
    }

    fn open_reader(&self, partition: PartitionId, from: Offset) -> Result<Box<dyn LogReader>> {
        self.check_partition(partition)?;
        Ok(Box::new(KafkaLogReader::open(&self.config, partition, from)?))
    }

    fn release(&self, partition: PartitionId, offset: Offset) -> Result<()> {
        self.check_partition(partition)?;
        self.committer.commit(partition, offset);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_refuses_an_invalid_config_before_touching_the_network() {
        let c = KafkaConfig { compression: "snappy".into(), ..KafkaConfig::default() };
        let e = KafkaLog::connect(&c).unwrap_err();
        assert!(matches!(e, Error::InvalidConfig(_)), "{e}");
    }

    #[test]
    fn connect_to_nothing_is_unavailable() {
        // A port nothing listens on: the metadata request fails within the timeout.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let c = KafkaConfig { brokers: format!("127.0.0.1:{port}"), request_timeout_ms: 1_000, ..Default::default() };
        let start = Instant::now();
        let e = KafkaLog::connect(&c).unwrap_err();
        assert_eq!(e.kind(), strata_common::ErrorKind::Unavailable, "{e}");
        assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
    }
}
