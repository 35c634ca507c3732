//! The all-in-one process: the embedded log, the manifest, the
//! thread-per-core ingester, the background compactor, the push endpoint and the query API behind one
//! HTTP listener.
//!
//! Start-up order matters for durability: the log and manifest are opened
//! first, the ingester replays every partition from its flushed offset, and
//! `/ready` answers 200 only once that replay has reached the log's end
//! offsets as they were at start-up.

use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use prometheus_client::registry::Registry;
use strata_auth::ClusterSecret;
use strata_common::head::HeadReader;
use strata_distributor::{self as distributor, Distributor};
use strata_ingester::lag::LagMonitor;
use strata_ingester::shard::Ingester;
use strata_ingester::tsdb_status;
use strata_log::Log;
use strata_log::embedded::EmbeddedLog;
use strata_querier::{self as querier, QuerierState};
use strata_storage::{Store, StoreSet};

use crate::config::Config;
use crate::server::{Health, process_routes, serve};

/// Runs the all-in-one server until SIGINT/SIGTERM.
pub async fn run(config: Config) -> Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let mut registry = Registry::with_prefix("strata");
    let embedded = EmbeddedLog::open(config.log.clone()).context("opening the embedded log")?;
    let log: Arc<dyn Log> = embedded.clone();
    // `_object_tasks`: object storage garbage collection, stopped on return.
    // `_object_tasks`: stopped on return.
    let super::WriterManifest { manifest, tasks: _object_tasks, mirror } =
        super::open_writer_manifest(&config, &config.data_dir, None, &mut registry)?;
    // Created before the ingester: its per-tenant limits bound the
    // ingester's exemplars and metadata too.
    let distributor = Arc::new(Distributor::new(config.distributor.clone(), log.clone(), &mut registry));
    tokio::spawn(distributor.limits().clone().watch());
    let all = (0..log.partition_count()).collect();
    let limits = super::annotation_limits(distributor.limits().clone());
    let ingester = Arc::new(
        Ingester::start_owning_with(
            config.ingester.clone(),
            log.clone(),
            manifest.clone(),
            all,
            limits,
            mirror,
            &mut registry,
        )
        .context("starting ingester shards")?,
    );
    let mut compactor = super::start_compactor(&config, &manifest, &mut registry)?;
    let heads: Arc<dyn HeadReader> = ingester.clone();
    let lag = LagMonitor::new(log.clone(), heads.clone(), config.ingester.ready_max_lag_records, &mut registry);
    tokio::spawn(lag.clone().run(config.ingester.lag_poll_interval()));
    let stores = Arc::new(StoreSet::single(Arc::new(Store::new(manifest.clone()))));
    let querier_state = Arc::new(QuerierState::new(config.querier.clone(), stores, heads, Some(log), &mut registry));
    tokio::spawn(querier_state.scheduler.clone().watch_overrides());

    let (ready, flushes) = (lag.clone(), ingester.clone());
    // Not ready while replaying, and while writes fail (a full disk): both
    // heal by themselves (the log retries every second, flushes back off
    // to at most 8 s), and /ready follows.
    let health = Health::with_check(registry, "all-in-one", move || {
        let log_failed = embedded.failed_partitions();
        if !log_failed.is_empty() {
            return Err(format!("the log cannot write (partitions {log_failed:?}: disk full or failing?); retrying"));
        }
        let flush_failed = flushes.flush_failing();
        if !flush_failed.is_empty() {
            return Err(format!("flushes are failing (shards {flush_failed:?}: disk full or failing?); retrying"));
        }
        if ready.is_ready() { Ok(()) } else { Err("replaying the log".to_string()) }
    });
    let auth = super::open_auth(&config)?;
    let sql = super::sql_routes(&config, &querier_state, &auth).await?;
    let secret = ClusterSecret::new(&config.auth.cluster_secret);
    let app = Router::new()
        .merge(super::authenticated(distributor::router(distributor), &auth))
        .merge(super::authenticated(querier::router(querier_state.clone()), &auth))
        .merge(sql)
        .merge(super::authenticated(tsdb_status::router(ingester.clone()), &auth))
        .merge(super::internal(lag.router(), &secret))
        .merge(process_routes(health, secret));
    tracing::info!(data_dir = %config.data_dir.display(), "all-in-one: push, ingest and query in one process");
    serve(config.listen, &config.tls, app, "all-in-one", move || querier_state.shutdown()).await?;
    tracing::info!("shutting down: stopping the compactor and ingester shards");
    if let Some(c) = compactor.as_mut() {
        c.shutdown();
    }
    ingester.shutdown();
    Ok(())
}
