//! `GET /api/v1/status/tsdb`: Prometheus's TSDB status (cardinality) of the
//! request's tenant, from the ingester heads (series not flushed yet: the
//! last `ingester.flush_interval_ms` or so), so an operator can find the
//! metric and label that exploded. The answer's shape is in
//! [`strata_common::tsdb_status`]; a cluster querier merges the answers of
//! every ingester.
//!
//! Only the tenant's own series are counted; errors use Prometheus's JSON
//! envelope (`bad_data` 400, `unavailable` 503).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use strata_common::TenantId;
use strata_common::tenant::TENANT_HEADER;
pub use strata_common::tsdb_status::TSDB_STATUS_PATH;
use strata_common::tsdb_status::{HeadSummary, Params, TsdbStatus, parse_limit, top};
use strata_storage::memtable::HeadStats;

use crate::Ingester;

/// The status of `stats`, each list cut to `limit`.
pub fn status_of(stats: HeadStats, limit: usize) -> TsdbStatus {
    let (min_time, max_time) = stats.bounds.unwrap_or((0, 0));
    TsdbStatus {
        head_stats: HeadSummary {
            num_series: stats.series,
            num_label_pairs: stats.series_by_pair.len() as u64,
            chunk_count: 0,
            min_time,
            max_time,
        },
        series_count_by_metric_name: top(stats.series_by_metric.into_iter(), limit),
        label_value_count_by_label_name: top(stats.values_by_name.into_iter().map(|(k, v)| (k, v.len() as u64)), limit),
        memory_in_bytes_by_label_name: top(stats.value_bytes_by_name.into_iter(), limit),
        series_count_by_label_value_pair: top(
            stats.series_by_pair.into_iter().map(|((n, v), c)| (format!("{n}={v}"), c)),
            limit,
        ),
    }
}

fn error(status: StatusCode, kind: &str, message: String) -> Response {
    let body = serde_json::json!({ "status": "error", "errorType": kind, "error": message });
    (status, axum::Json(body)).into_response()
}

async fn handle(State(ingester): State<Arc<Ingester>>, headers: HeaderMap, Query(p): Query<Params>) -> Response {
    let limit = match parse_limit(p.limit.as_deref()) {
        Ok(limit) => limit,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_data", e),
    };
    let tenant = match headers.get(TENANT_HEADER) {
        None => TenantId::default_tenant(),
        Some(v) => match v.to_str().map_err(|_| ()).and_then(|s| TenantId::new(s).map_err(|_| ())) {
            Ok(t) => t,
            Err(()) => {
                let shown: String = String::from_utf8_lossy(v.as_bytes()).chars().take(150).collect();
                return error(StatusCode::BAD_REQUEST, "bad_data", format!("invalid tenant {shown:?}"));
            }
        },
    };
    match ingester.head_stats(&tenant).await {
        Ok(stats) => {
            let data = status_of(stats, limit);
            axum::Json(serde_json::json!({ "status": "success", "data": data })).into_response()
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string()),
    }
}

/// The `GET /api/v1/status/tsdb` route over `ingester`'s heads.
pub fn router(ingester: Arc<Ingester>) -> Router {
    Router::new().route(TSDB_STATUS_PATH, get(handle)).with_state(ingester)
}
