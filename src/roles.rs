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
use axum::Router;
use prometheus_client::registry::Registry;
use strata_auth::{Auth, ClusterSecret, cluster_secret, tenant_auth};
use strata_common::ids::PartitionId;
use strata_log::kafka::{KafkaConfig, KafkaLog};
use strata_storage::compaction::{Compactor, CompactorHandle};
use strata_storage::object::{Background, ObjectStorage, ObjectStorageConfig};
use strata_storage::{ManifestStore, StoreSet};

use crate::config::Config;

/// The credentials of `[auth]` (reloaded in the background), or `None`
/// when authentication is off.
/// The ingester's exemplar and metadata bounds: the distributor's
/// per-tenant limits (`[distributor.limits]` and its overrides file).
fn annotation_limits(
    limits: Arc<strata_distributor::limits::LimitsRegistry>,
) -> strata_ingester::annotations::AnnotationLimits {
    use strata_common::exemplar::ExemplarLimits;
    use strata_common::metadata::MetadataLimits;
    Arc::new(move |tenant| {
        let l = limits.limits_of(tenant);
        (
            ExemplarLimits { max_per_tenant: l.max_exemplars, max_per_series: l.max_exemplars_per_series },
            MetadataLimits { max_metrics: l.max_metadata_metrics, max_per_metric: l.max_metadata_per_metric },
        )
    })
}

fn open_auth(config: &Config) -> Result<Option<Arc<Auth>>> {
    if !config.auth.enabled {
        return Ok(None);
    }
    let auth = Auth::open(&config.auth).map_err(anyhow::Error::msg).context("loading auth.credentials_file")?;
    tokio::spawn(auth.clone().watch(config.auth.reload_interval()));
    tracing::info!(file = %config.auth.credentials_file.display(), "authentication on");
    Ok(Some(auth))
}

/// `router` (push or query API) behind authentication and tenant binding.
fn authenticated(router: Router, auth: &Option<Arc<Auth>>) -> Router {
    match auth {
        Some(a) => router.layer(axum::middleware::from_fn_with_state(a.clone(), tenant_auth)),
        None => router,
    }
}

/// `router` (internal endpoints) behind the cluster secret, if one is set.
fn internal(router: Router, secret: &Option<Arc<ClusterSecret>>) -> Router {
    match secret {
        Some(s) => router.layer(axum::middleware::from_fn_with_state(s.clone(), cluster_secret)),
        None => router,
    }
}

/// The SQL routes (`/api/v1/sql`, `/api/v1/export`) over a querier, and the
/// Arrow Flight SQL listener when `[sql] flight_listen` is set (bound here,
/// so a taken port fails start-up). Both take the same credentials as the
/// query API.
async fn sql_routes(
    config: &Config,
    state: &Arc<strata_querier::QuerierState>,
    auth: &Option<Arc<Auth>>,
) -> Result<axum::Router> {
    let engine = strata_sql::SqlEngine::new(state.clone());
    if let Some(addr) = config.sql.flight_addr()? {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the Flight SQL listener on {addr}"))?;
        tracing::info!(%addr, "Arrow Flight SQL listening");
        let (engine, auth) = (engine.clone(), auth.clone());
        tokio::spawn(async move {
            if let Err(e) = strata_sql::flight::serve_listener(engine, auth, listener, std::future::pending()).await {
                tracing::error!(error = %e, %addr, "the Flight SQL listener failed");
            }
        });
    }
    Ok(authenticated(strata_sql::router(engine), auth))
}

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

/// Opens a writer's manifest in `dir`. With `[storage.object]` the bucket
/// (under `prefix_suffix`, e.g. `ingester-0`, appended to the url's prefix)
/// is the source of truth: an empty `dir` is restored from it, flushes are
/// uploaded before the log is released, and the returned task collects
/// unreferenced objects until dropped.
fn open_writer_manifest(
    config: &Config,
    dir: &std::path::Path,
    prefix_suffix: Option<&str>,
    registry: &mut Registry,
) -> Result<WriterManifest> {
    if !config.storage.object.enabled() {
        let manifest =
            ManifestStore::open(dir).with_context(|| format!("opening the manifest in {}", dir.display()))?;
        return Ok(WriterManifest { manifest: Arc::new(manifest), tasks: None, mirror: None });
    }
    let object = ObjectStorage::connect(&object_config(&config.storage.object, prefix_suffix), Some(registry))
        .context("configuring object storage")?;
    let (manifest, tasks) =
        object.open_writer(dir).with_context(|| format!("opening {} with object storage", dir.display()))?;
    // The ingester's annotation snapshot goes to the bucket too (restored
    // with the manifest by `restore_if_empty`).
    let bucket = object.bucket.clone();
    let mirror: strata_ingester::annotations::SnapshotMirror = Arc::new(move |path: &std::path::Path| {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or(strata_ingester::annotations::SNAPSHOT_FILE);
        bucket.put_file(name, path).map_err(std::io::Error::other)
    });
    Ok(WriterManifest { manifest, tasks: Some(tasks), mirror: Some(mirror) })
}

/// A writer's manifest, its object storage tasks (stopped when dropped)
/// and where the ingester's annotation snapshots are copied.
struct WriterManifest {
    manifest: Arc<ManifestStore>,
    tasks: Option<Background>,
    mirror: Option<strata_ingester::annotations::SnapshotMirror>,
}

/// A querier's stores over object storage: one reader per ingester prefix
/// (`<url>/ingester-<i>`), cached under `<cache_dir>/ingester-<i>/`, each
/// with the partitions its ingester owns. The returned tasks poll the
/// manifests until dropped.
fn open_object_readers(
    config: &Config,
    ingesters: Vec<(u32, Vec<PartitionId>)>,
    registry: &mut Registry,
) -> Result<(StoreSet, Vec<Background>)> {
    let metrics = strata_storage::object::ObjectMetrics::register(registry);
    let cache = config.storage.object.cache_dir_or(&config.data_dir);
    let (mut stores, mut tasks) = (Vec::new(), Vec::new());
    for (i, partitions) in ingesters {
        let name = format!("ingester-{i}");
        let object =
            ObjectStorage::connect_with_metrics(&object_config(&config.storage.object, Some(&name)), metrics.clone())
                .context("configuring object storage")?;
        let (store, task) = object
            .open_reader(&cache.join(&name))
            .with_context(|| format!("opening {name}'s manifest in object storage"))?;
        stores.push((store, partitions));
        tasks.push(task);
    }
    Ok((StoreSet::from_read_only(stores), tasks))
}

/// `config` with `suffix` appended to the url's key prefix.
fn object_config(config: &ObjectStorageConfig, suffix: Option<&str>) -> ObjectStorageConfig {
    let mut c = config.clone();
    if let Some(suffix) = suffix {
        c.url = format!("{}/{suffix}", c.url.trim_end_matches('/'));
    }
    c
}
