//! Authentication on, against the real binary: every public endpoint
//! refuses requests without credentials (401) and tenants a credential may
//! not use (403), and answers a tenant's credential with that tenant's data
//! only; internal endpoints need the cluster secret; credentials reload
//! without a restart; TLS serves the same API over HTTPS.

use std::path::Path;
use std::time::{Duration, Instant};

use prost::Message;
use serde_json::Value;

use super::harness::{Strata, series, snappy, write_request};
use super::push_query::T0;

const TOKEN_A: &str = "token-a-4f1c9e2b7d3a8e6f";
const TOKEN_B: &str = "token-b-9a8b7c6d5e4f3a2b";
const SECRET: &str = "cluster-secret-0123456789";

fn credentials(with_a: bool) -> String {
    let mut text = String::new();
    if with_a {
        text += &format!(
            "[[credential]]\nname = \"a\"\ntoken_sha256 = \"{}\"\ntenants = [\"team-a\"]\n",
            strata_auth::hash_token(TOKEN_A)
        );
    }
    text += &format!(
        "[[credential]]\nname = \"b\"\ntoken_sha256 = \"{}\"\ntenants = [\"team-b\"]\n\
         [[credential]]\nname = \"grafana\"\nusername = \"grafana\"\npassword_argon2 = \"{}\"\ntenants = [\"team-a\", \"team-b\"]\n",
        strata_auth::hash_token(TOKEN_B),
        strata_auth::hash_password("graf-pass").unwrap()
    );
    text
}

fn config(dir: &Path, creds: &Path, tls: Option<(&Path, &Path)>) -> std::path::PathBuf {
    let mut text = format!(
        "[auth]\nenabled = true\ncredentials_file = \"{}\"\nreload_interval_ms = 100\ncluster_secret = \"{SECRET}\"\n",
        creds.display()
    );
    if let Some((cert, key)) = tls {
        text += &format!("[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n", cert.display(), key.display());
    }
    let path = dir.join("strata.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn push(s: &Strata, auth: Option<&str>, tenant: Option<&str>, metric: &str) -> u16 {
    let body = snappy(
        &write_request(vec![series(
            &[("__name__", metric), ("job", metric), (metric, "x")],
            &[(T0, 1.0), (T0 + 15_000, 2.0)],
        )])
        .encode_to_vec(),
    );
    let mut headers = Vec::new();
    if let Some(a) = auth {
        headers.push(("Authorization", a));
    }
    if let Some(t) = tenant {
        headers.push(("X-Scope-OrgID", t));
    }
    s.push_raw(&body, &headers).status().as_u16()
}

fn get(s: &Strata, path: &str, params: &[(&str, &str)], headers: &[(&str, &str)]) -> (u16, String) {
    let mut r = reqwest::blocking::Client::new().get(format!("{}{path}", s.base)).query(params);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.send().unwrap();
    (resp.status().as_u16(), resp.text().unwrap())
}

/// Every public read endpoint with parameters that would show every series.
fn endpoints() -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let t = ((T0 + 15_000) / 1000).to_string();
    let (start, end) = ((T0 / 1000 - 60).to_string(), (T0 / 1000 + 60).to_string());
    let all = "{__name__=~\".+\"}".to_string();
    vec![
        ("/api/v1/query", vec![("query", all.clone()), ("time", t.clone())]),
        (
            "/api/v1/query_range",
            vec![("query", all.clone()), ("start", start.clone()), ("end", end.clone()), ("step", "15s".into())],
        ),
        ("/api/v1/query_cost", vec![("query", all.clone()), ("time", t.clone())]),
        ("/api/v1/series", vec![("match[]", all.clone()), ("start", start.clone()), ("end", end.clone())]),
        ("/api/v1/labels", vec![("start", start.clone()), ("end", end.clone())]),
        ("/api/v1/label/job/values", vec![("start", start.clone()), ("end", end.clone())]),
        ("/api/v1/label/__name__/values", vec![("start", start), ("end", end)]),
        ("/api/v1/format_query", vec![("query", "up".into())]),
        ("/api/v1/status/buildinfo", vec![]),
        ("/api/v1/status/tsdb", vec![("limit", "100".into())]),
        ("/api/v1/sql", vec![("query", "SELECT table_name FROM information_schema.tables".into())]),
    ]
}

fn params<'a>(p: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    p.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn every_endpoint_authenticates_and_isolates_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials.toml");
    std::fs::write(&creds, credentials(true)).unwrap();
    let conf = config(dir.path(), &creds, None);
    let s = Strata::start(&dir.path().join("data"), &["--config", conf.to_str().unwrap()]);
    let (bearer_a, bearer_b) = (format!("Bearer {TOKEN_A}"), format!("Bearer {TOKEN_B}"));

    // Pushes: the tenant comes from the credential.
    assert_eq!(push(&s, None, None, "a_only"), 401);
    assert_eq!(push(&s, Some("Bearer wrong"), None, "a_only"), 401);
    assert_eq!(push(&s, Some(&bearer_a), Some("team-b"), "a_claims_b"), 403);
    assert_eq!(push(&s, Some(&bearer_a), None, "a_only"), 204);
    assert_eq!(push(&s, Some(&bearer_b), Some("team-b"), "b_only"), 204);

    for (path, p) in endpoints() {
        let p = params(&p);
        // No credentials: 401 in Prometheus's JSON envelope.
        let (status, body) = get(&s, path, &p, &[]);
        assert_eq!(status, 401, "{path}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!((v["status"].as_str(), v["errorType"].as_str()), (Some("error"), Some("unauthorized")), "{path}");
        // Another tenant, alone or federated: 403.
        for tenant in ["team-b", "team-a|team-b"] {
            let (status, body) = get(&s, path, &p, &[("Authorization", &bearer_a), ("X-Scope-OrgID", tenant)]);
            assert_eq!(status, 403, "{path} as {tenant}: {body}");
            assert!(body.contains("\"errorType\":\"forbidden\""), "{path}: {body}");
        }
        // Its own tenant: 200, and nothing of the other tenant shows.
        for (auth, own, other) in [(&bearer_a, "a_only", "b_only"), (&bearer_b, "b_only", "a_only")] {
            let (status, body) = get(&s, path, &p, &[("Authorization", auth)]);
            assert_eq!(status, 200, "{path}: {body}");
            assert!(!body.contains(other) && !body.contains("a_claims_b"), "{path} leaks: {body}");
            if !matches!(path, "/api/v1/format_query" | "/api/v1/status/buildinfo" | "/api/v1/query_cost") {
                assert!(body.contains(own), "{path} misses its own data: {body}");
            }
        }
    }
    // Counting across tenants is impossible: each sees one series.
    let count = "count({__name__=~\".+\"})";
    let t = ((T0 + 15_000) / 1000).to_string();
    for auth in [&bearer_a, &bearer_b] {
        let (status, body) = get(&s, "/api/v1/query", &[("query", count), ("time", &t)], &[("Authorization", auth)]);
        assert_eq!(status, 200);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["data"]["result"][0]["value"][1], "1", "{body}");
    }
    // Basic auth with two tenants picks one with the header (default: the first).
    let graf = "Basic Z3JhZmFuYTpncmFmLXBhc3M="; // grafana:graf-pass
    let q = [("query", "count({__name__=~\".+\"})"), ("time", t.as_str())];
    let (status, body) = get(&s, "/api/v1/query", &q, &[("Authorization", graf), ("X-Scope-OrgID", "team-b")]);
    assert_eq!(status, 200, "{body}");
    let (status, _) = get(&s, "/api/v1/query", &q, &[("Authorization", "Basic Z3JhZmFuYTp3cm9uZw==")]);
    assert_eq!(status, 401, "wrong password");
    // A credential allowed both tenants reads across them (`a|b`, as Mimir):
    // every series carries the tenant it is from.
    let both = [("Authorization", graf), ("X-Scope-OrgID", "team-b|team-a")];
    let by_tenant = [("query", "count by (__tenant_id__) ({__name__=~\".+\"})"), ("time", t.as_str())];
    let (status, body) = get(&s, "/api/v1/query", &by_tenant, &both);
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let mut counts: Vec<(String, String)> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["metric"]["__tenant_id__"].as_str().unwrap().to_string(), r["value"][1].as_str().unwrap().to_string())
        })
        .collect();
    counts.sort();
    assert_eq!(counts, [("team-a".into(), "1".into()), ("team-b".into(), "1".into())], "{body}");
    let only_b = [("query", "{__name__=~\".+\", __tenant_id__=\"team-b\"}"), ("time", t.as_str())];
    let (_, body) = get(&s, "/api/v1/query", &only_b, &both);
    assert!(body.contains("b_only") && !body.contains("a_only"), "{body}");
    let (status, body) = get(&s, "/api/v1/label/__tenant_id__/values", &[], &both);
    assert_eq!((status, body.contains("[\"team-a\",\"team-b\"]")), (200, true), "{body}");
    let sql = [("query", "SELECT 1")];
    let (status, body) = get(&s, "/api/v1/sql", &sql, &both);
    assert_eq!(status, 400, "SQL reads one tenant: {body}");

    // Internal endpoints need the cluster secret; probes stay open.
    for path in ["/metrics", "/ingester/status"] {
        assert_eq!(get(&s, path, &[], &[]).0, 401, "{path}");
        assert_eq!(get(&s, path, &[], &[("Authorization", &bearer_a)]).0, 401, "{path} with a tenant token");
        assert_eq!(get(&s, path, &[], &[("X-Strata-Cluster-Secret", SECRET)]).0, 200, "{path}");
    }
    assert_eq!(get(&s, "/metrics", &[], &[("Authorization", &format!("Bearer {SECRET}"))]).0, 200);
    for path in ["/ready", "/health"] {
        assert_eq!(get(&s, path, &[], &[]).0, 200, "{path}");
    }

    // Revoking a credential takes effect without a restart.
    std::fs::write(&creds, credentials(false)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while push(&s, Some(&bearer_a), None, "a_only") != 401 {
        assert!(Instant::now() < deadline, "revoked token still accepted");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(push(&s, Some(&bearer_b), None, "b_only"), 204);
}

#[test]
fn tls_listener_serves_the_api_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (Debian package openssl) makes the test certificate");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let creds = dir.path().join("credentials.toml");
    std::fs::write(&creds, credentials(true)).unwrap();
    let conf = config(dir.path(), &creds, Some((&cert, &key)));
    let port = super::harness::free_port();
    // The harness polls /ready over plain HTTP; start the process directly.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--config", conf.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let curl = |args: &[&str]| {
        let out = std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&cert)
            .args(args)
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let base = format!("https://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while curl(&[&format!("{base}/ready")]) != "200" {
        assert!(Instant::now() < deadline, "no HTTPS /ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    let query = format!("{base}/api/v1/query?query=up");
    assert_eq!(curl(&[&query]), "401");
    assert_eq!(curl(&["-H", &format!("Authorization: Bearer {TOKEN_A}"), &query]), "200");
    // Plain HTTP on the TLS port gets no HTTP answer.
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/ready")]), "000");
    child.kill().unwrap();
    child.wait().unwrap();
}
