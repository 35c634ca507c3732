//! Unit tests: file validation, bearer and basic authentication, tenant
//! binding, the cluster secret, through the real middleware.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use base64::Engine;
use tower::ServiceExt;

use super::*;
use crate::credentials::{FAILURE_WINDOW, MAX_FAILURES};

fn creds() -> Arc<Auth> {
    let text = format!(
        "[[credential]]\nname = \"a-writer\"\ntoken_sha256 = \"{}\"\ntenants = [\"team-a\"]\n\n\
         [[credential]]\nname = \"grafana\"\nusername = \"graf\"\npassword_argon2 = \"{}\"\ntenants = [\"team-a\", \"team-b\"]\n",
        hash_token("token-a-0123456789"),
        hash_password("s3cret").unwrap()
    );
    Auth::from_text(&text).unwrap()
}

/// A router that echoes the tenant it was handed.
fn app(auth: Arc<Auth>) -> Router {
    Router::new()
        .route(
            "/api/v1/query",
            get(|h: axum::http::HeaderMap| async move {
                h.get("X-Scope-OrgID").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
            }),
        )
        .layer(axum::middleware::from_fn_with_state(auth, tenant_auth))
}

async fn call(app: &Router, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let mut req = Request::get("/api/v1/query");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn basic(user: &str, pass: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
}

#[tokio::test]
async fn tenant_comes_from_the_credential() {
    let app = app(creds());
    let bearer = "Bearer token-a-0123456789";
    assert_eq!(call(&app, &[("Authorization", bearer)]).await, (StatusCode::OK, "team-a".into()));
    // A client cannot claim another tenant.
    let (status, body) = call(&app, &[("Authorization", bearer), ("X-Scope-OrgID", "team-b")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("\"errorType\":\"forbidden\"") && body.contains("team-b"), "{body}");
    // Federation only where every tenant is allowed.
    let (status, _) = call(&app, &[("Authorization", bearer), ("X-Scope-OrgID", "team-a|team-b")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let graf = basic("graf", "s3cret");
    assert_eq!(call(&app, &[("Authorization", &graf)]).await, (StatusCode::OK, "team-a".into()));
    assert_eq!(call(&app, &[("Authorization", &graf), ("X-Scope-OrgID", "team-b")]).await.1, "team-b");
    assert_eq!(call(&app, &[("Authorization", &graf), ("X-Scope-OrgID", "team-a|team-b")]).await.1, "team-a|team-b");
    // Cached verification answers the same.
    assert_eq!(call(&app, &[("Authorization", &graf), ("X-Scope-OrgID", "team-b")]).await.1, "team-b");
}

#[tokio::test]
async fn missing_or_wrong_credentials_are_401_in_prometheus_json() {
    let app = app(creds());
    for headers in [
        vec![],
        vec![("Authorization", "Bearer nope")],
        vec![("Authorization", "Digest x")],
        vec![("Authorization", "Basic !!!")],
    ] {
        let (status, body) = call(&app, &headers).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!((v["status"].as_str(), v["errorType"].as_str()), (Some("error"), Some("unauthorized")), "{body}");
    }
    let (status, _) = call(&app, &[("Authorization", &basic("graf", "wrong"))]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&app, &[("Authorization", &basic("nobody", "s3cret"))]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[test]
fn invalid_files_are_refused_with_the_reason() {
    let p = std::path::Path::new("creds.toml");
    for (text, want) in [
        ("[[credential]]\nname = \"x\"\ntenants = [\"a\"]\n", "needs either"),
        ("[[credential]]\nname = \"x\"\ntoken_sha256 = \"12\"\ntenants = [\"a\"]\n", "64 hex"),
        (
            &format!("[[credential]]\nname = \"x\"\ntoken_sha256 = \"{}\"\ntenants = []\n", hash_token("t")),
            "no tenants",
        ),
        (
            &format!("[[credential]]\nname = \"x\"\ntoken_sha256 = \"{}\"\ntenants = [\"a/b\"]\n", hash_token("t")),
            "a/b",
        ),
        ("[[credential]]\nname = \"x\"\nusername = \"u\"\npassword_argon2 = \"plain\"\ntenants = [\"a\"]\n", "PHC"),
        ("[[credential]]\nname = \"x\"\nbogus = 1\n", "bogus"),
    ] {
        let err = CredentialsFile::parse(text, p).unwrap_err();
        assert!(err.contains(want), "{err} lacks {want}");
    }
}

#[test]
fn reload_picks_up_changes_and_keeps_old_credentials_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("creds.toml");
    let entry = |token: &str| {
        format!("[[credential]]\nname = \"w\"\ntoken_sha256 = \"{}\"\ntenants = [\"t\"]\n", hash_token(token))
    };
    std::fs::write(&path, entry("first-token-xxxxxxxx")).unwrap();
    let auth = Auth::open(&AuthConfig { enabled: true, credentials_file: path.clone(), ..Default::default() }).unwrap();
    assert!(auth.authenticate(Some(b"Bearer first-token-xxxxxxxx")).is_ok());
    std::fs::write(&path, entry("second-token-xxxxxxxxxxx")).unwrap();
    assert!(auth.reload().unwrap());
    assert_eq!(auth.authenticate(Some(b"Bearer first-token-xxxxxxxx")), Err(AuthError::Invalid));
    assert!(auth.authenticate(Some(b"Bearer second-token-xxxxxxxxxxx")).is_ok());
    std::fs::write(&path, "not toml [").unwrap();
    assert!(auth.reload().is_err());
    assert!(auth.authenticate(Some(b"Bearer second-token-xxxxxxxxxxx")).is_ok());
}

#[tokio::test]
async fn cluster_secret_guards_internal_endpoints() {
    assert!(ClusterSecret::new("").is_none());
    let secret = ClusterSecret::new("0123456789abcdef-secret").unwrap();
    let app = Router::new()
        .route("/ingester/status", get(|| async { "ok" }))
        .layer(axum::middleware::from_fn_with_state(secret, cluster_secret));
    let status = |h: Vec<(&'static str, &'static str)>| {
        let app = app.clone();
        async move {
            let mut req = Request::get("/ingester/status");
            for (k, v) in h {
                req = req.header(k, v);
            }
            app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap().status()
        }
    };
    assert_eq!(status(vec![]).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(vec![(CLUSTER_SECRET_HEADER, "wrong")]).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(vec![(CLUSTER_SECRET_HEADER, "0123456789abcdef-secret")]).await, StatusCode::OK);
    assert_eq!(status(vec![("Authorization", "Bearer 0123456789abcdef-secret")]).await, StatusCode::OK);
}

#[tokio::test]
async fn failed_passwords_are_rate_limited_per_user_but_verified_clients_keep_working() {
    let auth = creds();
    let app = app(auth.clone());
    let good = basic("graf", "s3cret");
    // A client that logged in before the attack is served from the cache of verified secrets.
    assert_eq!(call(&app, &[("Authorization", &good)]).await.0, StatusCode::OK);
    for _ in 0..MAX_FAILURES {
        assert_eq!(call(&app, &[("Authorization", &basic("graf", "guess"))]).await.0, StatusCode::UNAUTHORIZED);
    }
    // The next guess is refused before any Argon2 check, with a Retry-After.
    let mut req = Request::get("/api/v1/query").header("Authorization", basic("graf", "guess"));
    req = req.header("X-Scope-OrgID", "team-a");
    let resp = app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=FAILURE_WINDOW.as_secs() + 1).contains(&retry), "{retry}");
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["errorType"], "too_many_requests", "{v}");
    assert_eq!(call(&app, &[("Authorization", &good)]).await.0, StatusCode::OK);
    // Bearer tokens and other users are unaffected.
    assert_eq!(call(&app, &[("Authorization", "Bearer token-a-0123456789")]).await.0, StatusCode::OK);
    assert_eq!(call(&app, &[("Authorization", &basic("nobody", "x"))]).await.0, StatusCode::UNAUTHORIZED);
}
