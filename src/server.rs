//! The all-in-one process: wires the embedded log, the manifest, the
//! thread-per-core ingester, the background compactor, the push endpoint and
//! the query API behind one HTTP listener, plus `/metrics`, `/ready` and
//! `/health`.
//!
//! Start-up order matters for durability: the log and manifest are opened
//! first, the ingester replays every partition from its flushed offset, and
//! `/ready` answers 200 only once that replay has reached the log's end
//! offsets as they were at start-up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use strata_common::head::HeadReader;
use strata_common::log::Log;
use strata_common::log::embedded::EmbeddedLog;
use strata_ingester::distributor::{self, Distributor};
use strata_ingester::shard::Ingester;
use strata_querier::{self as querier, QuerierState};
use strata_storage::compaction::Compactor;
use strata_storage::object::ObjectStorage;
use strata_storage::{ManifestStore, Store, StoreSet};
use tokio::net::TcpListener;

use crate::config::Config;

/// Shared state of the process-level endpoints.
struct Health {
    registry: Registry,
    ready: AtomicBool,
}

/// Runs the all-in-one server until SIGINT/SIGTERM.
pub async fn run_all_in_one(config: Config) -> Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let mut registry = Registry::with_prefix("strata");
    let log: Arc<dyn Log> = EmbeddedLog::open(config.log.clone()).context("opening the embedded log")?;
    // With object storage the bucket is the source of truth: an empty data
    // directory is restored from it, and flushes are uploaded before the log
    // is released. `_object_tasks` (garbage collection) stops on return.
    let (manifest, _object_tasks) = if config.storage.object.enabled() {
        let object = ObjectStorage::connect(&config.storage.object, Some(&mut registry))
            .context("configuring object storage")?;
        let (manifest, tasks) =
            object.open_writer(&config.data_dir).context("opening the manifest with object storage")?;
        (manifest, Some(tasks))
    } else {
        (Arc::new(ManifestStore::open(&config.data_dir).context("opening the manifest")?), None)
    };
    let start_offsets = log.end_offsets().await.context("reading log end offsets")?;
    let ingester = Arc::new(
        Ingester::start(config.ingester.clone(), log.clone(), manifest.clone(), &mut registry)
            .context("starting ingester shards")?,
    );
    let mut compactor = match config.compaction.enabled {
        true => Some(
            Compactor::new(manifest.clone(), config.compaction.clone(), &mut registry)
                .spawn()
                .context("starting the compactor thread")?,
        ),
        false => None,
    };
    let heads: Arc<dyn HeadReader> = ingester.clone();
    let distributor = Arc::new(Distributor::new(config.distributor.clone(), log.clone(), &mut registry));
    let stores = Arc::new(StoreSet::single(Arc::new(Store::new(manifest.clone()))));
    let querier_state =
        Arc::new(QuerierState::new(config.querier.clone(), stores, heads.clone(), Some(log.clone()), &mut registry));

    let health = Arc::new(Health { registry, ready: AtomicBool::new(false) });
    tokio::spawn(watch_replay(health.clone(), heads.clone(), start_offsets));

    let app = Router::new().merge(distributor::router(distributor)).merge(querier::router(querier_state)).merge(
        Router::new()
            .route("/metrics", get(metrics))
            .route("/ready", get(ready))
            .route("/-/ready", get(ready))
            .route("/health", get(|| async { "ok" }))
            .route("/-/healthy", get(|| async { "ok" }))
            .with_state(health),
    );
    let listener = TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(listen = %config.listen, data_dir = %config.data_dir.display(), "strata all-in-one serving");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.context("HTTP server")?;
    tracing::info!("shutting down: stopping ingester shards");
    if let Some(c) = compactor.as_mut() {
        c.shutdown();
    }
    ingester.shutdown();
    Ok(())
}

/// Marks the process ready once every partition is consumed up to `target`.
async fn watch_replay(health: Arc<Health>, heads: Arc<dyn HeadReader>, target: Vec<u64>) {
    loop {
        match heads.progress().await {
            Ok(progress)
                if progress.iter().all(|p| p.consumed >= target.get(p.partition as usize).copied().unwrap_or(0)) =>
            {
                health.ready.store(true, Ordering::Release);
                tracing::info!("replay caught up with the log; ready");
                return;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reading ingester progress"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn ready(State(health): State<Arc<Health>>) -> impl IntoResponse {
    if health.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "replaying the log")
    }
}

async fn metrics(State(health): State<Arc<Health>>) -> impl IntoResponse {
    let mut out = String::new();
    match prometheus_client::encoding::text::encode(&mut out, &health.registry) {
        Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain")], e.to_string()),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
