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
    /// Too many failed passwords for this Basic-auth user lately (429): each
    /// check costs an Argon2 verification, so failures are rate-limited.
    #[error("too many failed logins for user {user:?}; retry in {retry_after_secs} s")]
    TooManyFailures {
        /// The Basic-auth user name.
        user: String,
        /// Seconds until the user's failure window ends.
        retry_after_secs: u64,
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
            AuthError::TooManyFailures { .. } => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The response: Prometheus's JSON error envelope when `json`, else plain text.
    pub fn response(&self, json: bool) -> Response {
        let status = self.status();
        let mut resp = if json {
            let kind = match status {
                StatusCode::FORBIDDEN => "forbidden",
                StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
                _ => "unauthorized",
            };
            let body = serde_json::json!({ "status": "error", "errorType": kind, "error": self.to_string() });
            (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
        } else {
            (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], self.to_string()).into_response()
        };
        if let AuthError::TooManyFailures { retry_after_secs, .. } = self {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"strata\", Bearer"));
        }
        resp
    }
}
