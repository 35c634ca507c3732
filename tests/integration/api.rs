//! Bad input gets a precise status code and message, and loses nothing.

use serde_json::json;

use super::harness::{Strata, series, snappy, write_request};
use super::push_query::T0;

#[test]
fn push_rejects_bad_input_with_precise_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    std::fs::write(&config, "[distributor]\nmax_request_bytes = 4096\n").unwrap();
    let s = Strata::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);

    let dup = write_request(vec![series(&[("__name__", "ok"), ("dup-label", "x"), ("dup-label", "y")], &[(T0, 1.0)])]);
    let r = s.push(&dup);
    assert_eq!(r.status().as_u16(), 400);
    let msg = r.text().unwrap();
    assert!(msg.contains("duplicate label name \"dup-label\""), "message does not name the label: {msg}");

    let no_name = write_request(vec![series(&[("job", "x")], &[(T0, 1.0)])]);
    assert_eq!(s.push(&no_name).status().as_u16(), 400);

    assert_eq!(s.push_raw(b"not snappy at all", &[]).status().as_u16(), 400);
    let r = s.push_raw(&snappy(b"x"), &[("Content-Type", "application/json")]);
    assert_eq!(r.status().as_u16(), 415);
    assert_eq!(s.push_raw(&[0u8; 8192], &[]).status().as_u16(), 413);
    assert_eq!(s.push_raw(b"x", &[("X-Scope-OrgID", "bad/tenant")]).status().as_u16(), 400);

    // A partial write: the invalid series is refused (400 naming it and
    // the counts), its valid neighbours are stored.
    let mixed = write_request(vec![
        series(&[("__name__", "good")], &[(T0, 1.0)]),
        series(&[("job", "no-name")], &[(T0, 1.0), (T0 + 1, 2.0)]),
        series(&[("__name__", "good too"), ("k.x", "v")], &[(T0, 2.0)]),
    ]);
    let r = s.push(&mixed);
    assert_eq!(r.status().as_u16(), 400);
    let msg = r.text().unwrap();
    assert!(msg.contains("invalid series {job=\"no-name\"}: missing metric name"), "{msg}");
    assert!(msg.contains("rejected 2 sample(s)") && msg.contains("wrote 2 sample(s) of 2 series"), "{msg}");
    let data = s.query("good", T0 as f64 / 1000.0);
    assert_eq!(data["result"][0]["value"][1], json!("1"));
    let data = s.query(r#"{"good too"}"#, T0 as f64 / 1000.0);
    assert_eq!(data["result"][0]["metric"], json!({"__name__": "good too", "k.x": "v"}));
    // The 2 samples here and the 1 of `no_name` above.
    let text = reqwest::blocking::get(format!("{}/metrics", s.base)).unwrap().text().unwrap();
    assert!(text.contains("strata_distributor_samples_rejected_total{reason=\"missing_metric_name\"} 3"), "{text}");
}

#[test]
fn query_errors_use_the_prometheus_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let s = Strata::start(dir.path(), &[]);
    let (status, body) = s.get("/api/v1/query", &[("query", "sum(")]);
    assert_eq!(status, 400);
    assert_eq!(body["status"], "error");
    assert_eq!(body["errorType"], "bad_data");
    let (status, body) = s.get("/api/v1/query_range", &[("query", "up"), ("start", "10"), ("end", "5"), ("step", "1")]);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errorType"], "bad_data");
    let (status, body) = s.get("/api/v1/query", &[]);
    assert_eq!(status, 400, "{body}");
}

/// Logs written to a pipe (a file, a journal) carry no terminal colour
/// codes, and `/metrics` carries the process metrics.
#[test]
fn a_started_process_logs_without_colour_and_serves_its_pages() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", super::harness::free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["--listen", &listen, "--data-dir", dir.path().to_str().unwrap(), "--log-level", "info"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        let serving = line.contains("strata serving");
        lines.push(line);
        if serving || lines.len() > 200 {
            break;
        }
    }
    // The process metrics sit beside Strata's own, in one exposition.
    // `strata_ready` turns 1 once the (empty) log replay is seen caught up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let metrics = loop {
        let text = reqwest::blocking::get(format!("http://{listen}/metrics")).unwrap().text().unwrap();
        if text.contains("strata_ready{role=\"all-in-one\"} 1") || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    // `GET /` names the server, its role and readiness, and its endpoints.
    let index = reqwest::blocking::get(format!("http://{listen}/")).unwrap();
    assert_eq!(index.status(), 200);
    assert!(index.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let index = index.text().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(lines.iter().any(|l| l.contains("strata serving")), "{lines:#?}");
    assert!(lines.iter().all(|l| !l.contains('\u{1b}')), "{lines:#?}");
    for name in
        ["process_resident_memory_bytes ", "process_cpu_seconds_total ", "strata_build_info{", "strata_querier_"]
    {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    assert_eq!(metrics.matches("# EOF").count(), 1);
    for part in ["<h1>Strata ", "Role: <b>all-in-one</b>", "ready", "/api/v1/query_range", "/api/v1/push"] {
        assert!(index.contains(part), "{part} missing from GET /: {index}");
    }
}
