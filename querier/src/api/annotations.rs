//! `GET /api/v1/metadata` and `GET/POST /api/v1/query_exemplars`, in
//! Prometheus's shapes, from the ingesters (`HeadReader::exemplars` and
//! `HeadReader::metadata`: in process for the all-in-one server, over the
//! head protocol for a cluster querier, merged over every ingester). The
//! ingesters keep them bounded per tenant, rebuilt from the log on replay
//! and kept across flushes (`strata_ingester::annotations`). A strong read
//! (the default) first waits until the ingesters consumed the log's end,
//! like queries. A federated tenant (`a|b`) reads each of its tenants;
//! exemplar series then carry `__tenant_id__`, metadata is merged.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use promql_parser::parser::Expr;
use promql_parser::util::{ExprVisitor, walk_expr};
use strata_common::Matcher;
use strata_common::head::annotations::{ExemplarsRequest, MetadataRequest, merge_exemplars, merge_metadata};
use strata_common::tenant::TENANT_LABEL;

use super::json::{write_labels, write_str, write_timestamp};
use super::params::invalid_param;
use super::{MAX_TIME, MIN_TIME, QuerierState, consistency, finish, query_param, request_params, tenant, time_param};
use crate::error::{Error, Result};

/// `/api/v1/metadata?metric=&limit=&limit_per_metric=` (Prometheus's
/// meaning: `limit` absent or negative = every family, 0 = none).
pub(super) async fn metadata(
    State(st): State<Arc<QuerierState>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let started = Instant::now();
    let result = async {
        let p = request_params(&headers, q, &Bytes::new())?;
        let tenant = tenant(&headers, &st.config)?;
        let int = |name: &str| -> Result<i64> {
            match p.get(name) {
                None | Some("") => Ok(-1),
                Some(v) => v.parse().map_err(|_| invalid_param(name, format!("{name} must be a number, got {v:?}"))),
            }
        };
        let (limit, per_metric) = (int("limit")?, int("limit_per_metric")?);
        let metric = p.get("metric").filter(|m| !m.is_empty()).map(str::to_string);
        let mut answers = Vec::new();
        if let Some(heads) = &st.heads {
            st.source.prepare(&tenant, consistency(&headers, &st.config)?).await?;
            for t in tenant.parts() {
                let req = MetadataRequest { tenant: t, metric: metric.clone(), limit, limit_per_metric: per_metric };
                answers.push(heads.metadata(req).await?);
            }
        }
        let found = merge_metadata(answers, limit, per_metric);
        let data = serde_json::to_string(&found).map_err(|e| Error::Execution(e.to_string()))?;
        Ok(format!(r#"{{"status":"success","data":{data}}}"#))
    }
    .await;
    finish(&st, "metadata", started, result)
}

/// Collects the matchers of every vector selector of an expression.
struct Selectors(Vec<Vec<Matcher>>);

impl ExprVisitor for Selectors {
    type Error = Error;

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool> {
        match expr {
            Expr::VectorSelector(vs) => self.0.push(crate::engine::plan::matchers_of(vs)?),
            Expr::MatrixSelector(ms) => self.0.push(crate::engine::plan::matchers_of(&ms.vs)?),
            _ => {}
        }
        Ok(true)
    }
}

/// `/api/v1/query_exemplars?query=&start=&end=`: the exemplars of the
/// series any selector of `query` selects.
pub(super) async fn query_exemplars(
    State(st): State<Arc<QuerierState>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let result = async {
        let p = request_params(&headers, q, &body)?;
        let tenant = tenant(&headers, &st.config)?;
        let start = time_param(&p, "start", Some(MIN_TIME))?;
        let end = time_param(&p, "end", Some(MAX_TIME))?;
        if end < start {
            return Err(Error::BadData("end timestamp must not be before start time".into()));
        }
        let expr = crate::engine::parse::parse(&query_param(&p)?, "query")?;
        let mut selectors = Selectors(Vec::new());
        walk_expr(&mut selectors, &expr)?;
        let mut answers = Vec::new();
        if let Some(heads) = &st.heads {
            st.source.prepare(&tenant, consistency(&headers, &st.config)?).await?;
            for t in tenant.parts() {
                let req = ExemplarsRequest { tenant: t.clone(), selectors: selectors.0.clone(), start, end };
                let mut got = heads.exemplars(req).await?;
                if tenant.is_federated() {
                    // As federated queries do: each series names its tenant.
                    for (labels, _) in &mut got {
                        labels.set(TENANT_LABEL, t.as_str());
                    }
                }
                answers.push(got);
            }
        }
        let found = merge_exemplars(answers);
        let mut out = String::from(r#"{"status":"success","data":["#);
        for (i, (series, exemplars)) in found.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(r#"{"seriesLabels":"#);
            write_labels(&mut out, series);
            out.push_str(r#","exemplars":["#);
            for (j, e) in exemplars.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"labels":"#);
                write_labels(&mut out, &e.labels);
                out.push_str(r#","value":"#);
                write_str(&mut out, &crate::format::format_float(e.value));
                out.push_str(r#","timestamp":"#);
                write_timestamp(&mut out, e.t);
                out.push('}');
            }
            out.push_str("]}");
        }
        let _ = write!(out, "]}}");
        Ok(out)
    }
    .await;
    finish(&st, "query_exemplars", started, result)
}
