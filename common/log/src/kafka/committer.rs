//! The commit thread behind [`Log::release`](crate::Log::release):
//! commits released offsets to the consumer group, for lag tooling only.
//!
//! `release` must not block (ingesters call it from a glommio executor), so
//! it only queues `(partition, offset)`; this thread coalesces what queued up
//! (the highest offset per partition wins), commits it synchronously and
//! serves the consumer's event queue. A failed commit is logged and retried
//! with the next release; nothing depends on it (the manifest is the truth).

use std::collections::BTreeMap;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::topic_partition_list::{Offset as KafkaOffset, TopicPartitionList};

use super::KafkaConfig;
use super::client::{self, TracingContext};
use crate::{Offset, PartitionId};
use strata_common::error::{Error, Result};

/// Handle of the commit thread; dropping it commits what is queued and stops it.
pub(crate) struct Committer {
    tx: Option<flume::Sender<(PartitionId, Offset)>>,
    thread: Option<JoinHandle<()>>,
}

impl Committer {
    pub(crate) fn start(config: &KafkaConfig) -> Result<Self> {
        let consumer: BaseConsumer<TracingContext> = client::consumer_config(config)
            .create_with_context(TracingContext)
            .map_err(|e| Error::InvalidConfig(format!("kafka: cannot create the Kafka commit client: {e}")))?;
        let (tx, rx) = flume::unbounded();
        let topic = config.topic.clone();
        let thread = std::thread::Builder::new()
            .name("strata-kafka-commit".into())
            .spawn(move || run(consumer, topic, rx))
            .map_err(|e| Error::LogUnavailable(format!("cannot start the Kafka commit thread: {e}")))?;
        Ok(Self { tx: Some(tx), thread: Some(thread) })
    }

    /// Queues a commit of `offset` (the next offset to consume) for `partition`.
    pub(crate) fn commit(&self, partition: PartitionId, offset: Offset) {
        if let Some(tx) = &self.tx {
            // Fails only if the thread is gone (it logged why).
            let _ = tx.send((partition, offset));
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("the kafka commit thread panicked");
        }
    }
}

fn run(consumer: BaseConsumer<TracingContext>, topic: String, rx: flume::Receiver<(PartitionId, Offset)>) {
    let mut pending: BTreeMap<PartitionId, Offset> = BTreeMap::new();
    loop {
        let open = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok((p, o)) => {
                merge(&mut pending, p, o);
                true
            }
            Err(flume::RecvTimeoutError::Timeout) => true,
            Err(flume::RecvTimeoutError::Disconnected) => false,
        };
        for (p, o) in rx.try_iter() {
            merge(&mut pending, p, o);
        }
        if !pending.is_empty() {
            let mut tpl = TopicPartitionList::with_capacity(pending.len());
            for (&p, &o) in &pending {
                // Offsets below i64::MAX always; a bad one is logged by the commit.
                let _ = tpl.add_partition_offset(&topic, p as i32, KafkaOffset::Offset(o as i64));
            }
            match consumer.commit(&tpl, CommitMode::Sync) {
                Ok(()) => pending.clear(),
                Err(e) => tracing::warn!(
                    error = %e,
                    partitions = pending.len(),
                    "committing released offsets to the kafka consumer group failed; retrying with the next release"
                ),
            }
        }
        // Serve commit results and errors queued on the consumer.
        while consumer.poll(Duration::ZERO).is_some() {}
        if !open {
            return;
        }
    }
}

fn merge(pending: &mut BTreeMap<PartitionId, Offset>, p: PartitionId, o: Offset) {
    let e = pending.entry(p).or_insert(o);
    *e = (*e).max(o);
}
