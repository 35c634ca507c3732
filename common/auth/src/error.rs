//! [`AuthError`]: why a request was refused, and its response.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Why authentication or tenant binding refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header (401).
    #[error("authentication required: send Authorization: Bearer <token> or Basic credentials")]
    Missing,
    /// The `Authorization` header is not Bearer or Basic, or is malformed (401).
    #[error("malformed Authorization header: {0}")]
    Malformed(&'static str),
    /// The credentials match no entry of the credentials file (401).
    #[error("invalid credentials")]
    Invalid,
    /// The credential may not use this tenant (403).
    #[error("credential {credential:?} may not access tenant {tenant:?}")]
    Forbidden {
        /// The credential's name in the credentials file.
        credential: String,
        /// The tenant asked for (one of a federated `a|b`).
        tenant: String,
    },
    /// An internal endpoint without the right cluster secret (401).
    #[error("internal endpoint: the cluster secret is missing or wrong")]
    ClusterSecret,
}

impl AuthError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::Forbidden { .. } => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The response: Prometheus's JSON error envelope when `json`, else plain text.
    pub fn response(&self, json: bool) -> Response {
        let status = self.status();
        let mut resp = if json {
            let kind = if status == StatusCode::FORBIDDEN { "forbidden" } else { "unauthorized" };
            let body = serde_json::json!({ "status": "error", "errorType": kind, "error": self.to_string() });
            (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
        } else {
            (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], self.to_string()).into_response()
        };
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"strata\", Bearer"));
        }
        resp
    }
}
