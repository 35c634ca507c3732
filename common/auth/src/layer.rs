//! The axum middleware: [`tenant_auth`] for pushes and queries,
//! [`cluster_secret`] for internal endpoints. Install them with
//! `axum::middleware::from_fn_with_state`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use strata_common::tenant::TENANT_HEADER;

use crate::credentials::Auth;
use crate::error::AuthError;

/// The header internal callers send the cluster secret in.
pub const CLUSTER_SECRET_HEADER: &str = "X-Strata-Cluster-Secret";

/// Whether errors on `path` use Prometheus's JSON envelope (the query API)
/// rather than plain text (pushes).
fn json_errors(path: &str) -> bool {
    path.starts_with("/api/") && !matches!(path, "/api/v1/push" | "/api/v1/write")
}

/// Authenticates the request and binds it to a tenant of its credential:
/// `X-Scope-OrgID` is replaced by the resolved tenant (the credential's
/// first when absent; every part of a federated `a|b` must be allowed).
pub async fn tenant_auth(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    let json = json_errors(req.uri().path());
    match resolve(&auth, &req) {
        Ok(tenant) => {
            // A validated tenant id (or ids joined by '|') is a valid header value.
            if let Ok(v) = HeaderValue::from_str(&tenant) {
                req.headers_mut().insert(TENANT_HEADER, v);
            }
            next.run(req).await
        }
        Err(e) => {
            tracing::debug!(path = req.uri().path(), error = %e, "request refused by authentication");
            e.response(json)
        }
    }
}

fn resolve(auth: &Auth, req: &Request) -> Result<String, AuthError> {
    let authorization = req.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
    let asked = req.headers().get(TENANT_HEADER).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    auth.bind_tenant(authorization, asked.as_deref())
}

/// The cluster secret internal endpoints require (compared as SHA-256
/// digests, so the comparison's timing reveals nothing about the secret).
#[derive(Clone)]
pub struct ClusterSecret {
    digest: [u8; 32],
}

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

impl ClusterSecret {
    /// `None` for an empty secret (internal endpoints stay open).
    pub fn new(secret: &str) -> Option<Arc<Self>> {
        (!secret.is_empty()).then(|| Arc::new(Self { digest: Sha256::digest(secret.as_bytes()).into() }))
    }

    fn matches(&self, candidate: &[u8]) -> bool {
        let d: [u8; 32] = Sha256::digest(candidate).into();
        d == self.digest
    }

    /// Whether the request carries the secret (in [`CLUSTER_SECRET_HEADER`]
    /// or as `Authorization: Bearer`).
    pub fn allows(&self, headers: &axum::http::HeaderMap) -> bool {
        if headers.get(CLUSTER_SECRET_HEADER).is_some_and(|v| self.matches(v.as_bytes())) {
            return true;
        }
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.split_once(' ')).is_some_and(
            |(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && self.matches(token.trim().as_bytes()),
        )
    }
}

/// Refuses requests without the cluster secret (401).
pub async fn cluster_secret(State(secret): State<Arc<ClusterSecret>>, req: Request, next: Next) -> Response {
    if secret.allows(req.headers()) {
        next.run(req).await
    } else {
        AuthError::ClusterSecret.response(req.uri().path().starts_with("/api/"))
    }
}
