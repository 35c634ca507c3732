//! `GET /api/v1/status/tsdb` on a cluster querier: the tenant's head
//! cardinality from every ingester, merged ([`TsdbStatus::merge`]: series
//! counts add up, per-label figures keep the largest ingester's). The
//! all-in-one process answers from its own heads (see
//! `strata_ingester::tsdb_status`).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use strata_common::tsdb_status::{Params, TSDB_STATUS_PATH, TsdbStatus, parse_limit, per_ingester_limit};

use super::{QuerierState, respond, tenant};
use crate::error::{Error, Result};
use crate::source::remote_heads::RemoteHeads;

async fn handle(
    State((st, heads)): State<(Arc<QuerierState>, Arc<RemoteHeads>)>,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> Response {
    let result: Result<String> = async {
        let limit = parse_limit(p.limit.as_deref()).map_err(Error::BadData)?;
        let tenant = tenant(&headers, &st.config)?;
        if tenant.is_federated() {
            return Err(Error::BadData(format!("the TSDB status is per tenant; X-Scope-OrgID {tenant} names several")));
        }
        let parts = heads.tsdb_status(&tenant, per_ingester_limit(limit)).await?;
        let data = TsdbStatus::merge(parts, limit);
        Ok(serde_json::json!({ "status": "success", "data": data }).to_string())
    }
    .await;
    respond(result)
}

/// The route over the ingesters of `heads`.
pub fn router(state: Arc<QuerierState>, heads: Arc<RemoteHeads>) -> Router {
    Router::new().route(TSDB_STATUS_PATH, get(handle)).with_state((state, heads))
}
