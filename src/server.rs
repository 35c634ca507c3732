//! What every role's process serves besides its own API: `/` (a page
//! naming the server, see `index_page`), `/metrics`,
//! `/ready` (and Prometheus' `/-/ready`), `/health` (`/-/healthy`), and the
//! HTTP server loop with graceful shutdown on SIGINT/SIGTERM.

use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use strata_auth::{ClusterSecret, cluster_secret};

use crate::process_metrics::ProcessMetrics;
use crate::tls::{TlsConfig, TlsListener};

/// Shared state of the process-level endpoints.
pub struct Health {
    registry: Registry,
    /// `process_*` and `strata_build_info`, outside the `strata` prefix.
    process_registry: Registry,
    process: ProcessMetrics,
    /// `Ok` while ready; otherwise what `/ready` answers.
    ready: Box<dyn Fn() -> Result<(), String> + Send + Sync>,
    /// `strata_ready{role}`: 1 while `/ready` answers 200 (set at scrape).
    ready_gauge: Gauge,
    /// The role this process runs, as `GET /` names it.
    role: &'static str,
}

impl Health {
    /// The process endpoints of a process running `role`; `ready` decides
    /// `/ready` and `strata_ready{role}`.
    pub fn new(
        registry: Registry,
        role: &'static str,
        not_ready_reason: &'static str,
        ready: impl Fn() -> bool + Send + Sync + 'static,
    ) -> Arc<Self> {
        Self::with_check(registry, role, move || if ready() { Ok(()) } else { Err(not_ready_reason.to_string()) })
    }

    /// [`Health::new`] with a check that says why the process is not ready.
    pub fn with_check(
        registry: Registry,
        role: &'static str,
        ready: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ) -> Arc<Self> {
        let mut process_registry = Registry::default();
        let process = ProcessMetrics::register(&mut process_registry);
        let readiness = Family::<[(&'static str, &'static str); 1], Gauge>::default();
        let ready_gauge = readiness.get_or_create(&[("role", role)]).clone();
        process_registry.register(
            "strata_ready",
            "1 while this process's role is ready (/ready answers 200)",
            readiness,
        );
        Arc::new(Self { registry, process_registry, process, ready: Box::new(ready), ready_gauge, role })
    }
}

/// `/`, `/metrics`, `/ready`, `/-/ready`, `/health`, `/-/healthy`. With a
/// cluster secret, `/metrics` requires it (it names tenants); the probes
/// and the index page stay open.
pub fn process_routes(health: Arc<Health>, secret: Option<Arc<ClusterSecret>>) -> Router {
    let metrics_route = Router::new().route("/metrics", get(metrics)).with_state(health.clone());
    let metrics_route = match secret {
        Some(s) => metrics_route.layer(axum::middleware::from_fn_with_state(s, cluster_secret)),
        None => metrics_route,
    };
    Router::new()
        .route("/", get(index))
        .route("/ready", get(ready))
        .route("/-/ready", get(ready))
        .route("/health", get(|| async { "ok" }))
        .route("/-/healthy", get(|| async { "ok" }))
        .with_state(health)
        .merge(metrics_route)
}

/// Serves `app` on `listen` (over TLS when `tls` is configured) until
/// SIGINT/SIGTERM; `on_shutdown` runs when the signal arrives, before
/// in-flight requests are awaited (a querier stops its running queries there).
pub async fn serve(
    listen: std::net::SocketAddr,
    tls: &TlsConfig,
    app: Router,
    role: &str,
    on_shutdown: impl FnOnce() + Send + 'static,
) -> Result<()> {
    let acceptor = tls.enabled().then(|| tls.acceptor()).transpose()?;
    let listener = TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    tracing::info!(%listen, role, tls = acceptor.is_some(), "strata serving");
    let signal = async move {
        shutdown_signal().await;
        on_shutdown();
    };
    match acceptor {
        Some(acceptor) => axum::serve(TlsListener::new(listener, acceptor)?, app)
            .with_graceful_shutdown(signal)
            .await
            .context("HTTPS server"),
        None => axum::serve(listener, app).with_graceful_shutdown(signal).await.context("HTTP server"),
    }
}

async fn ready(State(health): State<Arc<Health>>) -> impl IntoResponse {
    match (health.ready)() {
        Ok(()) => (StatusCode::OK, "ready".to_string()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason),
    }
}

async fn index(State(health): State<Arc<Health>>) -> impl IntoResponse {
    let not_ready = (health.ready)().err();
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], crate::index_page::render(health.role, not_ready.as_deref()))
}

async fn metrics(State(health): State<Arc<Health>>) -> impl IntoResponse {
    use prometheus_client::encoding::text::{encode_eof, encode_registry};
    health.process.refresh();
    health.ready_gauge.set(i64::from((health.ready)().is_ok()));
    let mut out = String::new();
    let encoded = encode_registry(&mut out, &health.registry)
        .and_then(|()| encode_registry(&mut out, &health.process_registry))
        .and_then(|()| encode_eof(&mut out));
    match encoded {
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
