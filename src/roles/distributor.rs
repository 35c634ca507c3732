//! `strata distributor`: the stateless push endpoint. Validates remote-write
//! requests and produces them to the Kafka topic; a push is acknowledged
//! only once Kafka acknowledged every record (503 when Kafka is unreachable
//! or slow, 429 when the producer buffer is full). Scale it horizontally.

use std::sync::Arc;

use anyhow::Result;
use axum::Router;
use prometheus_client::registry::Registry;
use strata_distributor::{self as distributor, Distributor};
use strata_log::Log;

use crate::config::Config;
use crate::server::{Health, process_routes, serve};

/// Runs the distributor until SIGINT/SIGTERM.
pub async fn run(config: Config) -> Result<()> {
    let mut registry = Registry::with_prefix("strata");
    let log: Arc<dyn Log> = super::connect_kafka(config.kafka.clone()).await?;
    let distributor = Arc::new(Distributor::new(config.distributor.clone(), log, &mut registry));
    tokio::spawn(distributor.limits().clone().watch());
    // Connected to Kafka: ready. A later outage shows as 503s on pushes.
    let health = Health::new(registry, "distributor", "connecting to Kafka", || true);
    let auth = super::open_auth(&config)?;
    let secret = strata_auth::ClusterSecret::new(&config.auth.cluster_secret);
    let app = Router::new()
        .merge(super::authenticated(distributor::router(distributor), &auth))
        .merge(process_routes(health, secret));
    serve(config.listen, &config.tls, app, "distributor", || {}).await
}
