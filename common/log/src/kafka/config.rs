//! [`KafkaConfig`]: where the Kafka log lives and how its clients behave.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use strata_common::error::{Error, Result};

/// Producer compression codecs accepted by [`KafkaConfig::compression`].
const CODECS: [&str; 4] = ["none", "gzip", "lz4", "zstd"];

/// Configuration of the [`KafkaLog`](super::KafkaLog) (TOML section `[kafka]`
/// in the `strata` binary).
///
/// Every librdkafka property the fields below set can be overridden through
/// [`Self::options`]; the fields are the ones Strata's guarantees depend on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, comma-separated `host:port` (librdkafka `bootstrap.servers`).
    pub brokers: String,
    /// The topic holding the log; one Kafka partition per log partition.
    pub topic: String,
    /// Partitions of the topic when Strata creates it. An existing topic keeps
    /// its own count (it is read from the metadata at connect time).
    pub partitions: u32,
    /// Replication factor of the topic when Strata creates it (3 on a real
    /// cluster; 1 for a single broker).
    pub replication_factor: u32,
    /// Create the topic at connect time if it does not exist. Off when the
    /// topic is managed by an operator or infrastructure as code.
    pub create_topic: bool,
    /// Client id reported to the brokers (logs, quotas).
    pub client_id: String,
    /// Consumer group id used to commit consumed offsets for lag tooling
    /// (`kafka-consumer-groups --describe`). An ingester appends its own id
    /// (see [`KafkaConfig::for_member`]). Progress truth is the manifest, not
    /// the group: the group is never used to decide where to resume.
    pub consumer_group: String,
    /// An append that is not acknowledged by every in-sync replica within
    /// this many milliseconds fails as unavailable (the push answers 503).
    /// librdkafka's `message.timeout.ms`: it covers queueing, batching
    /// (`linger_ms`), retries and the acknowledgement.
    pub produce_timeout_ms: u64,
    /// How long the producer waits to fill a batch before sending it
    /// (librdkafka `linger.ms`). Higher means larger batches and fewer
    /// requests, at the cost of push latency.
    pub linger_ms: u64,
    /// Producer compression codec: `lz4` (default), `zstd`, `gzip` or `none`.
    /// `snappy` is refused: tansu 0.6 cannot serve snappy batches back to
    /// consumers (see `deploy/KAFKA.md`). Records are already LZ4-compressed
    /// inside, so batch compression mostly squeezes headers and framing.
    pub compression: String,
    /// Bytes of records the producer may hold unacknowledged (queued,
    /// batching or in flight). When full, [`Log::append`](crate::Log::append)
    /// fails at once with a limit error and the push answers 429, so a slow
    /// Kafka bounds the distributor's memory instead of growing it.
    pub max_in_flight_bytes: u64,
    /// Largest record accepted by the producer (librdkafka `message.max.bytes`);
    /// the topic's `max.message.bytes` must be at least this large.
    pub max_record_bytes: u64,
    /// How long a fetch may wait on the broker for new records (librdkafka
    /// `fetch.wait.max.ms`): the tail latency of an idle partition.
    pub fetch_max_wait_ms: u64,
    /// Bytes a reader prefetches from its partition and buffers before the
    /// ingester takes them (librdkafka `queued.max.messages.kbytes`, in bytes here).
    pub fetch_buffer_bytes: u64,
    /// Timeout of metadata, offset and admin requests (connect, end offsets,
    /// opening a reader), in milliseconds.
    pub request_timeout_ms: u64,
    /// Extra librdkafka properties, passed through unchanged to every client
    /// (e.g. `security.protocol`, `sasl.*`, `socket.keepalive.enable`). They
    /// override the properties derived from the fields above.
    pub options: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            topic: "strata".into(),
            partitions: 8,
            replication_factor: 1,
            create_topic: true,
            client_id: "strata".into(),
            consumer_group: "strata-ingester".into(),
            produce_timeout_ms: 5_000,
            linger_ms: 5,
            compression: "lz4".into(),
            max_in_flight_bytes: 256 << 20,
            max_record_bytes: 8 << 20,
            fetch_max_wait_ms: 100,
            fetch_buffer_bytes: 16 << 20,
            request_timeout_ms: 10_000,
            options: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    /// Checks the values, naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidConfig(msg));
        if self.brokers.trim().is_empty() {
            return bad("kafka.brokers must name at least one host:port".into());
        }
        if self.topic.is_empty()
            || self.topic.len() > 249
            || !self.topic.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            || self.topic == "."
            || self.topic == ".."
        {
            return bad(format!(
                "kafka.topic {:?} is not a valid Kafka topic name (1-249 of [A-Za-z0-9._-])",
                self.topic
            ));
        }
        if self.partitions == 0 || self.partitions > 100_000 {
            return bad(format!("kafka.partitions must be in 1..=100000, got {}", self.partitions));
        }
        if self.replication_factor == 0 || self.replication_factor > i16::MAX as u32 {
            return bad(format!("kafka.replication_factor must be positive, got {}", self.replication_factor));
        }
        if self.client_id.is_empty() {
            return bad("kafka.client_id must not be empty".into());
        }
        if self.consumer_group.is_empty() {
            return bad("kafka.consumer_group must not be empty".into());
        }
        if self.produce_timeout_ms == 0 || self.produce_timeout_ms > i32::MAX as u64 {
            return bad(format!("kafka.produce_timeout_ms must be positive, got {}", self.produce_timeout_ms));
        }
        if self.linger_ms > 900_000 {
            return bad(format!("kafka.linger_ms must be at most 900000, got {}", self.linger_ms));
        }
        if self.linger_ms >= self.produce_timeout_ms {
            return bad(format!(
                "kafka.linger_ms ({}) must be below kafka.produce_timeout_ms ({})",
                self.linger_ms, self.produce_timeout_ms
            ));
        }
        if self.compression == "snappy" {
            return bad("kafka.compression = \"snappy\" is refused: tansu 0.6 (the broker Strata is tested \
                 against) cannot serve snappy-compressed batches back to consumers; use \"lz4\" or \"zstd\""
                .into());
        }
        if !CODECS.contains(&self.compression.as_str()) {
            return bad(format!("kafka.compression must be one of {CODECS:?}, got {:?}", self.compression));
        }
        if self.max_in_flight_bytes < 1024 || self.max_in_flight_bytes / 1024 > i32::MAX as u64 {
            return bad(format!("kafka.max_in_flight_bytes must be in 1 KiB..2 TiB, got {}", self.max_in_flight_bytes));
        }
        if self.max_record_bytes < 1 << 20 || self.max_record_bytes > 1_000_000_000 {
            return bad(format!(
                "kafka.max_record_bytes must be in 1 MiB..=1000000000 (records are up to ~1 MiB), got {}",
                self.max_record_bytes
            ));
        }
        if self.max_in_flight_bytes < self.max_record_bytes {
            return bad(format!(
                "kafka.max_in_flight_bytes ({}) must hold at least one record of kafka.max_record_bytes ({})",
                self.max_in_flight_bytes, self.max_record_bytes
            ));
        }
        if self.fetch_max_wait_ms == 0 || self.fetch_max_wait_ms > 300_000 {
            return bad(format!("kafka.fetch_max_wait_ms must be in 1..=300000, got {}", self.fetch_max_wait_ms));
        }
        if self.fetch_buffer_bytes < 1024 || self.fetch_buffer_bytes / 1024 > 2_097_151 {
            return bad(format!("kafka.fetch_buffer_bytes must be in 1 KiB..2 GiB, got {}", self.fetch_buffer_bytes));
        }
        if self.request_timeout_ms == 0 {
            return bad("kafka.request_timeout_ms must be positive".into());
        }
        if let Some(key) = self.options.keys().find(|k| k.trim().is_empty()) {
            return bad(format!("kafka.options has an empty property name {key:?}"));
        }
        Ok(())
    }

    /// This configuration with the consumer group of one member (an
    /// ingester): `<consumer_group>-<member>`. Members that consume the same
    /// partitions (replicas) must have distinct ids so their commits do not
    /// overwrite each other.
    pub fn for_member(&self, member: &str) -> Self {
        Self { consumer_group: format!("{}-{member}", self.consumer_group), ..self.clone() }
    }

    /// [`Self::produce_timeout_ms`] as a duration.
    pub fn produce_timeout(&self) -> Duration {
        Duration::from_millis(self.produce_timeout_ms)
    }

    /// [`Self::request_timeout_ms`] as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_fields_are_named() {
        KafkaConfig::default().validate().unwrap();
        let c = KafkaConfig::default();
        let cases: Vec<(KafkaConfig, &str)> = vec![
            (KafkaConfig { brokers: " ".into(), ..c.clone() }, "kafka.brokers"),
            (KafkaConfig { topic: "a/b".into(), ..c.clone() }, "kafka.topic"),
            (KafkaConfig { partitions: 0, ..c.clone() }, "kafka.partitions"),
            (KafkaConfig { replication_factor: 0, ..c.clone() }, "kafka.replication_factor"),
            (KafkaConfig { consumer_group: String::new(), ..c.clone() }, "kafka.consumer_group"),
            (KafkaConfig { produce_timeout_ms: 0, ..c.clone() }, "kafka.produce_timeout_ms"),
            (KafkaConfig { linger_ms: 6_000, ..c.clone() }, "kafka.linger_ms"),
            (KafkaConfig { compression: "snappy".into(), ..c.clone() }, "tansu"),
            (KafkaConfig { compression: "brotli".into(), ..c.clone() }, "kafka.compression"),
            (KafkaConfig { max_in_flight_bytes: 10, ..c.clone() }, "kafka.max_in_flight_bytes"),
            (KafkaConfig { max_record_bytes: 1000, ..c.clone() }, "kafka.max_record_bytes"),
            (KafkaConfig { fetch_max_wait_ms: 0, ..c.clone() }, "kafka.fetch_max_wait_ms"),
            (KafkaConfig { fetch_buffer_bytes: 1, ..c.clone() }, "kafka.fetch_buffer_bytes"),
            (KafkaConfig { request_timeout_ms: 0, ..c.clone() }, "kafka.request_timeout_ms"),
        ];
        for (config, field) in cases {
            let msg = config.validate().unwrap_err().to_string();
            assert!(msg.contains(field), "{msg:?} should name {field}");
        }
    }

    #[test]
    fn parses_from_toml_and_rejects_unknown_fields() {
        let c: KafkaConfig = toml::from_str(
            "brokers = \"k1:9092,k2:9092\"\ncompression = \"zstd\"\n[options]\n\"socket.keepalive.enable\" = \"true\"\n",
        )
        .unwrap();
        assert_eq!(c.brokers, "k1:9092,k2:9092");
        assert_eq!(c.compression, "zstd");
        assert_eq!(c.topic, "strata");
        assert_eq!(c.options.get("socket.keepalive.enable").map(String::as_str), Some("true"));
        c.validate().unwrap();
        assert!(toml::from_str::<KafkaConfig>("brokerz = \"x\"").is_err());
        assert_eq!(c.for_member("ingester-1").consumer_group, "strata-ingester-ingester-1");
    }
}
