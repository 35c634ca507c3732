//! The HTTP endpoints: `POST /api/v1/sql` (also GET) and `/api/v1/export`
//! (Parquet of one metric over a time range).
//!
//! `/api/v1/sql` takes `query` and optional `format` (`json`, `csv`,
//! `arrow`, `parquet`) and `timeout`, from the query string, a form body, a
//! JSON body (`{"query": "...", "format": "csv"}`) or a plain-text body
//! (the statement itself). Errors use the query API's JSON envelope: 400 for
//! a statement that cannot be planned (syntax, unknown table or column), 422
//! when it fails while running or is over a limit, 401/429/503 as for
//! PromQL. The tenant comes from `X-Scope-OrgID`.
//!
//! `/api/v1/export` takes `metric`, `start` and `end` (Prometheus time
//! syntax; both optional) and answers a Parquet file of `SELECT * FROM
//! metric` over that range, series by series, each in time order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use strata_common::labels::is_valid_metric_name;
use strata_querier::api::params::{parse_duration, parse_time};
use strata_querier::api::{consistency, json::error_body, tenant};
use strata_querier::metrics::{EndpointLabels, RequestLabels};

use crate::error::{Error, Result};
use crate::format::Format;
use crate::query::{SqlEngine, SqlRequest};

/// The SQL routes over `engine`.
pub fn router(engine: SqlEngine) -> Router {
    let max_body = engine.state().config.max_request_bytes;
    Router::new()
        .route("/api/v1/sql", get(sql).post(sql))
        .route("/api/v1/export", get(export).post(export))
        .layer(axum::extract::DefaultBodyLimit::max(usize::try_from(max_body).unwrap_or(usize::MAX)))
        .with_state(Arc::new(engine))
}

/// Request parameters, from the query string and the body.
#[derive(Debug, Default)]
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(headers: &HeaderMap, query: Option<String>, body: &Bytes) -> Result<Self> {
        let bad = |what: &str, e: &dyn std::fmt::Display| Error::BadRequest(format!("cannot parse the {what}: {e}"));
        let mut p = Vec::new();
        if let Some(q) = query {
            p = serde_urlencoded::from_str::<Vec<(String, String)>>(&q).map_err(|e| bad("query string", &e))?;
        }
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if body.is_empty() {
            return Ok(Self(p));
        }
        if content_type.starts_with("application/x-www-form-urlencoded") {
            let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|e| bad("form body", &e))?;
            p.extend(form);
        } else if content_type.starts_with("application/json") {
            let v: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(body).map_err(|e| bad("JSON body", &e))?;
            for (k, v) in v {
                let s = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                p.push((k, s));
            }
        } else {
            let text = std::str::from_utf8(body).map_err(|e| bad("body", &e))?;
            p.push(("query".into(), text.to_string()));
        }
        Ok(Self(p))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn timeout(&self) -> Result<Option<Duration>> {
        self.get("timeout")
            .map(|v| {
                parse_duration(v)
                    .map(|ms| Duration::from_millis(ms.max(0) as u64))
                    .map_err(|e| Error::BadRequest(format!("invalid parameter \"timeout\": {e}")))
            })
            .transpose()
    }

    fn time(&self, name: &str) -> Result<Option<i64>> {
        self.get(name)
            .map(|v| parse_time(v).map_err(|e| Error::BadRequest(format!("invalid parameter \"{name}\": {e}"))))
            .transpose()
    }
}

async fn sql(State(engine): State<Arc<SqlEngine>>, headers: HeaderMap, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let started = Instant::now();
    let result = async {
        let p = Params::parse(&headers, q, &body)?;
        let sql = p.get("query").filter(|q| !q.trim().is_empty());
        let sql = sql.ok_or_else(|| Error::BadRequest("missing parameter \"query\"".into()))?.to_string();
        let format = Format::parse(p.get("format"))?;
        run(&engine, &headers, &p, sql, format, None).await
    }
    .await;
    finish(&engine, "sql", started, result)
}

async fn export(
    State(engine): State<Arc<SqlEngine>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let result = async {
        let p = Params::parse(&headers, q, &body)?;
        let metric = p.get("metric").ok_or_else(|| Error::BadRequest("missing parameter \"metric\"".into()))?;
        let sql = export_sql(metric, p.time("start")?, p.time("end")?)?;
        run(&engine, &headers, &p, sql, Format::Parquet, Some(1)).await
    }
    .await;
    finish(&engine, "export", started, result)
}

/// The statement `/api/v1/export` and `strata export` run.
pub fn export_sql(metric: &str, start: Option<i64>, end: Option<i64>) -> Result<String> {
    if !is_valid_metric_name(metric) {
        return Err(Error::BadRequest(format!("invalid parameter \"metric\": {metric:?} is not a metric name")));
    }
    let mut sql = format!("SELECT * FROM \"{metric}\"");
    let mut conds = Vec::new();
    if let Some(s) = start {
        conds.push(format!("timestamp >= to_timestamp_millis({s})"));
    }
    if let Some(e) = end {
        conds.push(format!("timestamp <= to_timestamp_millis({e})"));
    }
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    Ok(sql)
}

async fn run(
    engine: &SqlEngine,
    headers: &HeaderMap,
    p: &Params,
    sql: String,
    format: Format,
    partitions: Option<usize>,
) -> Result<(Format, Vec<u8>)> {
    let config = &engine.state().config;
    let tenant = tenant(headers, config)?;
    if tenant.is_federated() {
        return Err(Error::BadRequest(format!(
            "SQL reads one tenant at a time; X-Scope-OrgID {tenant} names several (federated reads are PromQL only)"
        )));
    }
    let req = SqlRequest { tenant, sql, consistency: consistency(headers, config)?, timeout: p.timeout()?, partitions };
    let (schema, batches, permit) = engine.run(&req).await?;
    let body = format.encode(&schema, &batches)?;
    drop(permit);
    Ok((format, body))
}

fn finish(engine: &SqlEngine, endpoint: &'static str, started: Instant, result: Result<(Format, Vec<u8>)>) -> Response {
    let metrics = &engine.state().metrics;
    let status = match &result {
        Ok(_) => "success",
        Err(e) => e.error_type().as_str(),
    };
    metrics.requests.get_or_create(&RequestLabels { endpoint, status }).inc();
    metrics.duration.get_or_create(&EndpointLabels { endpoint }).observe(started.elapsed().as_secs_f64());
    match result {
        Ok((format, body)) => (StatusCode::OK, [(header::CONTENT_TYPE, format.content_type())], body).into_response(),
        Err(e) => {
            let code = e.error_type().status();
            if code >= 500 {
                tracing::warn!(error = %e, "SQL request failed");
            }
            let body = error_body(&e.into_querier());
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_statement_quotes_the_metric_and_bounds_time() {
        assert_eq!(
            export_sql("cpu", Some(1), Some(2)).unwrap(),
            "SELECT * FROM \"cpu\" WHERE timestamp >= to_timestamp_millis(1) AND timestamp <= to_timestamp_millis(2)"
        );
        assert!(export_sql("a\"; DROP", None, None).is_err());
    }

    #[test]
    fn params_come_from_query_string_form_json_or_text() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let p = Params::parse(&h, Some("format=csv".into()), &Bytes::from(r#"{"query":"SELECT 1"}"#)).unwrap();
        assert_eq!((p.get("query"), p.get("format")), (Some("SELECT 1"), Some("csv")));
        h.insert(header::CONTENT_TYPE, "application/x-www-form-urlencoded".parse().unwrap());
        let p = Params::parse(&h, None, &Bytes::from("query=SELECT+2")).unwrap();
        assert_eq!(p.get("query"), Some("SELECT 2"));
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        let p = Params::parse(&h, None, &Bytes::from("SELECT 3")).unwrap();
        assert_eq!(p.get("query"), Some("SELECT 3"));
    }
}
