//! `strata ingester`: consumes the Kafka partitions this ingester owns
//! (`p % N == cluster.ingester_id`, `N` = the number of
//! `cluster.ingesters`) into its memtables, flushes them to files under
//! `<data_dir>/ingester-<id>/`, and serves head reads to queriers
//! (`/internal/v1/head/*`). Progress is the manifest's flushed offsets (the
//! topic is the write-ahead log); consumed offsets are also committed to the
//! consumer group `<kafka.consumer_group>-ingester-<id>` for lag tooling.

use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use prometheus_client::registry::Registry;
use strata_common::head::HeadReader;
use strata_common::labels::owned_partitions;
use strata_ingester::lag::LagMonitor;
use strata_ingester::{Ingester, head_api};
use strata_log::Log;

use crate::config::{ClusterConfig, Config};
use crate::server::{Health, process_routes, serve};

/// Runs the ingester until SIGINT/SIGTERM.
pub async fn run(config: Config) -> Result<()> {
    let id = config.cluster.ingester_id;
    let count = config.cluster.ingester_count();
    let dir = ClusterConfig::ingester_dir(&config.data_dir, id);
    let mut registry = Registry::with_prefix("strata");
    let log: Arc<dyn Log> = super::connect_kafka(config.kafka.for_member(&format!("ingester-{id}"))).await?;
    let owned = owned_partitions(log.partition_count(), id, count);
    // With [storage.object] this ingester's prefix is `<url>/ingester-<id>`.
    let super::WriterManifest { manifest, tasks: _object_tasks, mirror } =
        super::open_writer_manifest(&config, &dir, Some(&format!("ingester-{id}")), &mut registry)?;
    tracing::info!(ingester = id, of = count, partitions = ?owned, dir = %dir.display(), "ingester owns partitions");
    // The distributors' per-tenant limits bound this ingester's exemplars and metadata.
    let limits = Arc::new(
        strata_distributor::limits::LimitsRegistry::new(config.distributor.limits.clone())
            .map_err(anyhow::Error::msg)
            .context("loading distributor.limits")?,
    );
    tokio::spawn(limits.clone().watch());
    let limits = super::annotation_limits(limits);
    let ingester = Arc::new(
        Ingester::start_owning_with(
            config.ingester.clone(),
            log.clone(),
            manifest.clone(),
            owned,
            limits,
            mirror,
            &mut registry,
        )
        .context("starting ingester shards")?,
    );
    let mut compactor = super::start_compactor(&config, &manifest, &mut registry)?;
    let heads: Arc<dyn HeadReader> = ingester.clone();
    let lag = LagMonitor::new(log, heads.clone(), config.ingester.ready_max_lag_records, &mut registry);
    tokio::spawn(lag.clone().run(config.ingester.lag_poll_interval()));
    let (ready, flushes) = (lag.clone(), ingester.clone());
    let health = Health::with_check(registry, "ingester", move || {
        let failed = flushes.flush_failing();
        if !failed.is_empty() {
            return Err(format!("flushes are failing (shards {failed:?}: disk full or failing?); retrying"));
        }
        if ready.is_ready() { Ok(()) } else { Err("replaying the log".to_string()) }
    });
    // Every endpoint of an ingester is internal: queriers (head reads) and operators.
    let secret = strata_auth::ClusterSecret::new(&config.auth.cluster_secret);
    let app = Router::new()
        .merge(super::internal(
            head_api::router(heads, head_api::HeadReadLimit::from_config(&config.ingester)),
            &secret,
        ))
        .merge(super::internal(lag.router(), &secret))
        // This ingester's share of the tenant's head (X-Scope-OrgID), for operators.
        .merge(super::internal(strata_ingester::tsdb_status::router(ingester.clone()), &secret))
        .merge(process_routes(health, secret));
    serve(config.listen, &config.tls, app, "ingester", || {}).await?;
    tracing::info!("shutting down: stopping the compactor and ingester shards");
    let stop = ingester.clone();
    tokio::task::spawn_blocking(move || {
        if let Some(c) = compactor.as_mut() {
            c.shutdown();
        }
        stop.shutdown()
    })
    .await
    .context("stopping shards")?;
    Ok(())
}
