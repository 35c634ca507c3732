//! `GET /api/v1/status/tsdb`: Prometheus's TSDB status (cardinality) of the
//! request's tenant, from the ingester heads (series not flushed yet: the
//! last `ingester.flush_interval_ms` or so), so an operator can find the
//! metric and label that exploded.
//!
//! ```text
//!  ?limit=N (default 10, Prometheus's)  X-Scope-OrgID (default tenant when absent)
//!  {"status":"success","data":{
//!     "headStats":{"numSeries","numLabelPairs","chunkCount","minTime","maxTime"},
//!     "seriesCountByMetricName":[{"name","value"}…N],
//!     "labelValueCountByLabelName":[…N], "memoryInBytesByLabelName":[…N],
//!     "seriesCountByLabelValuePair":[{"name":"job=api","value"}…N]}}
//! ```
//!
//! Only the tenant's own series are counted; errors use Prometheus's JSON
//! envelope (`bad_data` 400, `unavailable` 503).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use strata_common::TenantId;
use strata_common::tenant::TENANT_HEADER;
use strata_storage::memtable::HeadStats;

use crate::Ingester;

/// The path served.
pub const TSDB_STATUS_PATH: &str = "/api/v1/status/tsdb";

/// Prometheus's default `limit`.
const DEFAULT_LIMIT: usize = 10;

#[derive(Debug, Deserialize)]
struct Params {
    limit: Option<String>,
}

/// One `{"name", "value"}` entry.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Stat {
    /// Metric name, label name, or `name=value`.
    pub name: String,
    /// The count.
    pub value: u64,
}

/// `data.headStats`.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HeadSummary {
    /// Series in the heads.
    pub num_series: u64,
    /// Distinct label pairs.
    pub num_label_pairs: u64,
    /// Chunks: the heads keep columns, not chunks (always 0).
    pub chunk_count: u64,
    /// Oldest sample (ms), 0 without samples.
    pub min_time: i64,
    /// Newest sample (ms), 0 without samples.
    pub max_time: i64,
}

/// `data` of the answer.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TsdbStatus {
    /// Totals.
    pub head_stats: HeadSummary,
    /// Top series counts by metric name.
    pub series_count_by_metric_name: Vec<Stat>,
    /// Top distinct-value counts by label name.
    pub label_value_count_by_label_name: Vec<Stat>,
    /// Top value bytes by label name.
    pub memory_in_bytes_by_label_name: Vec<Stat>,
    /// Top series counts by label pair.
    pub series_count_by_label_value_pair: Vec<Stat>,
}

/// The `limit` largest entries, largest first (ties by name).
fn top(entries: impl Iterator<Item = (String, u64)>, limit: usize) -> Vec<Stat> {
    let mut all: Vec<Stat> = entries.map(|(name, value)| Stat { name, value }).collect();
    all.sort_unstable_by(|a, b| b.value.cmp(&a.value).then_with(|| a.name.cmp(&b.name)));
    all.truncate(limit);
    all
}

impl TsdbStatus {
    /// The status of `stats`, each list cut to `limit`.
    pub fn from_stats(stats: HeadStats, limit: usize) -> Self {
        let (min_time, max_time) = stats.bounds.unwrap_or((0, 0));
        Self {
            head_stats: HeadSummary {
                num_series: stats.series,
                num_label_pairs: stats.series_by_pair.len() as u64,
                chunk_count: 0,
                min_time,
                max_time,
            },
            series_count_by_metric_name: top(stats.series_by_metric.into_iter(), limit),
            label_value_count_by_label_name: top(
                stats.values_by_name.into_iter().map(|(k, v)| (k, v.len() as u64)),
                limit,
            ),
            memory_in_bytes_by_label_name: top(stats.value_bytes_by_name.into_iter(), limit),
            series_count_by_label_value_pair: top(
                stats.series_by_pair.into_iter().map(|((n, v), c)| (format!("{n}={v}"), c)),
                limit,
            ),
        }
    }
}

fn error(status: StatusCode, kind: &str, message: String) -> Response {
    let body = serde_json::json!({ "status": "error", "errorType": kind, "error": message });
    (status, axum::Json(body)).into_response()
}

async fn handle(State(ingester): State<Arc<Ingester>>, headers: HeaderMap, Query(p): Query<Params>) -> Response {
    let limit = match p.limit.as_deref() {
        None | Some("") => DEFAULT_LIMIT,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_data",
                    format!("limit must be a positive number, got {s:?}"),
                );
            }
        },
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
            let data = TsdbStatus::from_stats(stats, limit);
            axum::Json(serde_json::json!({ "status": "success", "data": data })).into_response()
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string()),
    }
}

/// The `GET /api/v1/status/tsdb` route over `ingester`'s heads.
pub fn router(ingester: Arc<Ingester>) -> Router {
    Router::new().route(TSDB_STATUS_PATH, get(handle)).with_state(ingester)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn top_keeps_the_largest_in_order() {
        let t = top(
            [("a".to_string(), 1), ("b".to_string(), 5), ("c".to_string(), 5), ("d".to_string(), 2)].into_iter(),
            3,
        );
        let names: Vec<_> = t.iter().map(|s| (s.name.as_str(), s.value)).collect();
        assert_eq!(names, vec![("b", 5), ("c", 5), ("d", 2)]);
    }
}
