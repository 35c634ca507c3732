//! librdkafka plumbing shared by the Kafka log's clients: the client
//! properties derived from [`KafkaConfig`], a context that sends librdkafka's
//! log lines to `tracing`, and the mapping of rdkafka errors to [`Error`]s.

use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::KafkaConfig;
use strata_common::error::Error;

/// Forwards librdkafka's log lines and global errors to `tracing` (the
/// binary's subscriber does not capture the `log` crate rdkafka uses by
/// default).
#[derive(Debug, Clone, Default)]
pub(crate) struct TracingContext;

impl ClientContext for TracingContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", facility = fac, "{log_message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility = fac, "{log_message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility = fac, "{log_message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility = fac, "{log_message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // Broker disconnects are reported here and retried by librdkafka;
        // appends and reads report their own failures.
        tracing::warn!(target: "librdkafka", error = %error, "{reason}");
    }
}

impl ConsumerContext for TracingContext {}

/// Properties every client gets: brokers, client id, request timeout.
fn common(config: &KafkaConfig) -> ClientConfig {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &config.brokers)
        .set("client.id", &config.client_id)
        .set("socket.timeout.ms", config.request_timeout_ms.max(10).to_string())
        .set("log_level", "6")
        // Back after an outage within a second, not librdkafka's 10 s.
        .set("reconnect.backoff.max.ms", "1000");
    cc
}

/// Applies [`KafkaConfig::options`] last, so they override derived properties.
fn with_options(mut cc: ClientConfig, config: &KafkaConfig) -> ClientConfig {
    for (k, v) in &config.options {
        cc.set(k, v);
    }
    cc
}

/// The idempotent producer: acks from every in-sync replica, ordered retries
/// without duplicates, a bounded buffer and a delivery deadline.
pub(crate) fn producer_config(config: &KafkaConfig) -> ClientConfig {
    let mut cc = common(config);
    cc.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", config.linger_ms.to_string())
        .set("compression.type", &config.compression)
        .set("message.timeout.ms", config.produce_timeout_ms.to_string())
        // librdkafka requires request.timeout.ms <= message.timeout.ms to be useful.
        .set("request.timeout.ms", config.produce_timeout_ms.min(30_000).to_string())
        .set("queue.buffering.max.kbytes", (config.max_in_flight_bytes / 1024).to_string())
        .set("queue.buffering.max.messages", "10000000")
        // A record is up to ~1 MiB; batches keep librdkafka's 1 MB `batch.size`
        // so they fit a stock broker's `message.max.bytes`.
        .set("message.max.bytes", (config.max_record_bytes + 64 * 1024).to_string());
    with_options(cc, config)
}

/// A consumer that never joins the group (partitions are assigned by hand)
/// and never stores or commits offsets by itself; `auto.offset.reset=error`
/// turns a fetch below the log start into an error instead of a silent jump.
pub(crate) fn consumer_config(config: &KafkaConfig) -> ClientConfig {
    let mut cc = common(config);
    cc.set("group.id", &config.consumer_group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "error")
        .set("enable.partition.eof", "false")
        .set("allow.auto.create.topics", "false")
        .set("fetch.wait.max.ms", config.fetch_max_wait_ms.to_string())
        .set("queued.max.messages.kbytes", (config.fetch_buffer_bytes / 1024).max(1).to_string())
        .set("fetch.message.max.bytes", config.max_record_bytes.to_string())
        .set("receive.message.max.bytes", (config.max_record_bytes.max(64 << 20) + (1 << 20)).to_string())
        // Assigned partitions are not group members: no rebalance to miss,
        // and an ingester paused by backpressure must not be flagged as stuck.
        .set("max.poll.interval.ms", "86400000");
    with_options(cc, config)
}

/// The admin client that creates the topic.
pub(crate) fn admin_config(config: &KafkaConfig) -> ClientConfig {
    with_options(common(config), config)
}

/// Whether an rdkafka error is worth retrying later (the broker is down, slow
/// or electing a leader) rather than a refusal.
pub(crate) fn is_transient(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        C::MessageTimedOut
            | C::AllBrokersDown
            | C::BrokerTransportFailure
            | C::Resolve
            | C::OperationTimedOut
            | C::TimedOutQueue
            | C::RequestTimedOut
            | C::NetworkException
            | C::LeaderNotAvailable
            | C::NotLeaderForPartition
            | C::ReplicaNotAvailable
            | C::NotEnoughReplicas
            | C::NotEnoughReplicasAfterAppend
            | C::CoordinatorLoadInProgress
            | C::CoordinatorNotAvailable
            | C::NotCoordinator
            | C::WaitingForCoordinator
            | C::PurgeQueue
    )
}

/// Maps an rdkafka error of `what` (e.g. "append to partition 3") to a Strata
/// error: transient → [`Error::LogUnavailable`] (503), anything else →
/// [`Error::LogRejected`] (500). A full producer buffer is handled by the caller.
pub(crate) fn map_error(what: &str, e: &KafkaError) -> Error {
    match e.rdkafka_error_code() {
        Some(code) if !is_transient(code) => Error::LogRejected(format!("{what}: {e}")),
        _ => Error::LogUnavailable(format!("{what}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_common::error::ErrorKind;

    #[test]
    fn errors_map_to_retryable_or_refused() {
        let timeout = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        assert_eq!(map_error("append", &timeout).kind(), ErrorKind::Unavailable);
        let down = KafkaError::MetadataFetch(RDKafkaErrorCode::AllBrokersDown);
        assert_eq!(map_error("metadata", &down).kind(), ErrorKind::Unavailable);
        let too_big = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        let e = map_error("append to partition 2", &too_big);
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert!(e.to_string().contains("append to partition 2"), "{e}");
    }

    #[test]
    fn options_override_derived_properties() {
        let mut c = KafkaConfig::default();
        c.options.insert("linger.ms".into(), "50".into());
        c.options.insert("socket.keepalive.enable".into(), "true".into());
        let p = producer_config(&c);
        assert_eq!(p.get("linger.ms"), Some("50"));
        assert_eq!(p.get("socket.keepalive.enable"), Some("true"));
        assert_eq!(p.get("enable.idempotence"), Some("true"));
        assert_eq!(p.get("acks"), Some("all"));
        assert_eq!(consumer_config(&c).get("auto.offset.reset"), Some("error"));
    }
}
