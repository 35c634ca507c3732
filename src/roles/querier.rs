//! `strata querier`: the stateless query API. Reads every ingester's
//! manifest and files from shared storage (`<data_dir>/ingester-<i>/`, read
//! only) and asks every ingester over HTTP for what it has not flushed yet;
//! strong reads (`X-Read-Consistency: strong`, the default) first wait until
//! the ingesters have consumed Kafka's end offsets. Scale it horizontally.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use prometheus_client::registry::Registry;
use strata_common::head::HeadReader;
use strata_common::labels::owned_partitions;
use strata_log::Log;
use strata_querier::{self as querier, QuerierState, RemoteHeads};
use strata_storage::StoreSet;

use crate::config::{ClusterConfig, Config};
use crate::server::{Health, process_routes, serve};

/// Runs the querier until SIGINT/SIGTERM.
pub async fn run(config: Config) -> Result<()> {
    anyhow::ensure!(!config.cluster.ingesters.is_empty(), "the querier needs cluster.ingesters (the ingesters' URLs)");
    let mut registry = Registry::with_prefix("strata");
    let log: Arc<dyn Log> = super::connect_kafka(config.kafka.clone()).await?;
    let partitions = log.partition_count();
    let count = config.cluster.ingester_count();
    // Files from the bucket (one prefix per ingester) or from shared storage.
    let (stores, _object_tasks) = if config.storage.object.enabled() {
        let owners = (0..count).map(|i| (i, owned_partitions(partitions, i, count))).collect();
        super::open_object_readers(&config, owners, &mut registry)?
    } else {
        let dirs = (0..count)
            .map(|i| (ClusterConfig::ingester_dir(&config.data_dir, i), owned_partitions(partitions, i, count)))
            .collect();
        (StoreSet::open_read_only(dirs).context("opening the ingesters' manifests")?, Vec::new())
    };
    let stores = Arc::new(stores);
    let timeout = Duration::from_millis(config.cluster.head_read_timeout_ms);
    let mut headers = axum::http::HeaderMap::new();
    if !config.auth.cluster_secret.is_empty() {
        let v = axum::http::HeaderValue::from_str(&config.auth.cluster_secret)
            .context("auth.cluster_secret must be a valid HTTP header value")?;
        headers.insert(strata_auth::CLUSTER_SECRET_HEADER, v);
    }
    let remote = Arc::new(RemoteHeads::with_headers(&config.cluster.ingesters, partitions, timeout, headers)?);
    let heads: Arc<dyn HeadReader> = remote.clone();
    let state = Arc::new(QuerierState::new(config.querier.clone(), stores, heads, Some(log), &mut registry));
    tokio::spawn(state.scheduler.clone().watch_overrides());
    let health = Health::new(registry, "querier", "starting", || true);
    let auth = super::open_auth(&config)?;
    let sql = super::sql_routes(&config, &state, &auth).await?;
    let secret = strata_auth::ClusterSecret::new(&config.auth.cluster_secret);
    let app = Router::new()
        .merge(super::authenticated(querier::router(state.clone()), &auth))
        .merge(super::authenticated(querier::api::tsdb_status::router(state.clone(), remote), &auth))
        .merge(sql)
        .merge(process_routes(health, secret));
    serve(config.listen, &config.tls, app, "querier", move || state.shutdown()).await
}
