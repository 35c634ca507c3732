//! The processes `strata` can run. All-in-one wires every component in one
//! process on the embedded log; the cluster roles run one component each
//! against Kafka and shared storage:
//!
//! ```text
//!  remote write ─▶ distributor ─produce─▶ Kafka topic (N partitions)
//!                                            │ consume p % I == i
//!                                            ▼
//!                         ingester i ─flush─▶ <data_dir>/ingester-i/ (manifest + files)
//!                            ▲ head reads (Arrow IPC over HTTP)   ▲ read-only
//!                            └──────────── querier ───────────────┘
//! ```

pub mod all_in_one;
pub mod distributor;
pub mod ingester;
pub mod querier;

use std::sync::Arc;

use anyhow::{Context, Result};
use prometheus_client::registry::Registry;
use strata_common::log::kafka::{KafkaConfig, KafkaLog};
use strata_storage::ManifestStore;
use strata_storage::compaction::{Compactor, CompactorHandle};

use crate::config::Config;

/// Connects to the Kafka log (off the async workers: metadata calls block).
async fn connect_kafka(config: KafkaConfig) -> Result<Arc<KafkaLog>> {
    let brokers = config.brokers.clone();
    tokio::task::spawn_blocking(move || KafkaLog::connect(&config))
        .await
        .context("Kafka connect task")?
        .with_context(|| format!("connecting to Kafka at {brokers}"))
}

/// Starts the background compactor of `manifest` unless compaction is off.
fn start_compactor(
    config: &Config,
    manifest: &Arc<ManifestStore>,
    registry: &mut Registry,
) -> Result<Option<CompactorHandle>> {
    if !config.compaction.enabled {
        return Ok(None);
    }
    let handle = Compactor::new(manifest.clone(), config.compaction.clone(), registry)
        .spawn()
        .context("starting the compactor thread")?;
    Ok(Some(handle))
}
