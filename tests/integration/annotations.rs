//! Exemplars and metric metadata are durable like samples: they travel in
//! the log records (version 5), a SIGKILLed process rebuilds them on
//! replay, a graceful stop (which flushes and empties the log) keeps them
//! in the ingester's annotation snapshot, and they stay bounded per tenant
//! and isolated between tenants.

use serde_json::{Value, json};
use strata_distributor::proto::{Exemplar, Label, MetricMetadata, WriteRequest};

use super::harness::{Strata, series};

fn exemplar(trace: &str, value: f64, t: i64) -> Exemplar {
    Exemplar { labels: vec![Label { name: "trace_id".into(), value: trace.into() }], value, timestamp: t }
}

/// What a real Prometheus sends: exemplars in series of their own, and
/// metadata in a request of its own.
pub fn push_annotations(s: &Strata, tenant: &str, t0: i64) {
    let mut ex = series(&[("__name__", "rpc_seconds_bucket"), ("job", "api"), ("le", "0.5")], &[]);
    ex.exemplars = (0..3).map(|i| exemplar(&format!("trace-{tenant}-{i}"), 0.1 * (i + 1) as f64, t0 + i)).collect();
    let samples = series(&[("__name__", "rpc_seconds_bucket"), ("job", "api"), ("le", "0.5")], &[(t0, 3.0)]);
    let r = s.push_raw(
        &super::harness::snappy(&prost::Message::encode_to_vec(&WriteRequest {
            timeseries: vec![samples, ex],
            ..Default::default()
        })),
        &[("X-Scope-OrgID", tenant)],
    );
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap());
    let meta = MetricMetadata {
        r#type: 3,
        metric_family_name: "rpc_seconds".into(),
        help: format!("RPC latency of {tenant}."),
        unit: "seconds".into(),
    };
    let raw = prost::Message::encode_to_vec(&WriteRequest { metadata: vec![meta], ..Default::default() });
    let r = s.push_raw(&super::harness::snappy(&raw), &[("X-Scope-OrgID", tenant)]);
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap());
}

fn get(s: &Strata, tenant: &str, path: &str, params: &[(&str, &str)]) -> Value {
    let r = reqwest::blocking::Client::new()
        .get(format!("{}{path}", s.base))
        .query(params)
        .header("X-Scope-OrgID", tenant)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json::<Value>().unwrap()["data"].clone()
}

/// Checks what `tenant` is served: its own metadata, and the newest
/// `max_exemplars_per_series` (2) of its 3 exemplars.
pub fn check_served(s: &Strata, tenant: &str, t0: i64) {
    let meta = get(s, tenant, "/api/v1/metadata", &[]);
    assert_eq!(
        meta,
        json!({"rpc_seconds": [{"type": "histogram", "help": format!("RPC latency of {tenant}."), "unit": "seconds"}]})
    );
    let (start, end) = (((t0 - 1000) / 1000).to_string(), ((t0 + 60_000) / 1000).to_string());
    let ex =
        get(s, tenant, "/api/v1/query_exemplars", &[("query", "rpc_seconds_bucket"), ("start", &start), ("end", &end)]);
    assert_eq!(ex.as_array().map(Vec::len), Some(1), "{ex}");
    assert_eq!(ex[0]["seriesLabels"], json!({"__name__": "rpc_seconds_bucket", "job": "api", "le": "0.5"}));
    let traces: Vec<&str> =
        ex[0]["exemplars"].as_array().unwrap().iter().map(|e| e["labels"]["trace_id"].as_str().unwrap()).collect();
    assert_eq!(traces, [format!("trace-{tenant}-1"), format!("trace-{tenant}-2")], "bounded per series: {ex}");
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn exemplars_and_metadata_survive_sigkill_and_graceful_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    std::fs::write(&config, "[distributor.limits.defaults]\nmax_exemplars_per_series = 2\n").unwrap();
    let mut s = Strata::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    let t0 = now_ms() - 60_000;
    for tenant in ["team-a", "team-b"] {
        push_annotations(&s, tenant, t0);
    }
    for tenant in ["team-a", "team-b"] {
        check_served(&s, tenant, t0);
    }
    assert_eq!(get(&s, "nobody", "/api/v1/metadata", &[]), json!({}));
    // A federated read: each series names its tenant; metadata is merged.
    let ex = get(&s, "team-a|team-b", "/api/v1/query_exemplars", &[("query", "rpc_seconds_bucket")]);
    let tenants: Vec<&str> =
        ex.as_array().unwrap().iter().map(|s| s["seriesLabels"]["__tenant_id__"].as_str().unwrap()).collect();
    assert_eq!(tenants, ["team-a", "team-b"], "{ex}");
    let meta = get(&s, "team-a|team-b", "/api/v1/metadata", &[]);
    assert_eq!(meta["rpc_seconds"].as_array().map(Vec::len), Some(2), "{meta}");

    // SIGKILL: nothing flushed, the log replays them.
    s.kill();
    s.start_again();
    for tenant in ["team-a", "team-b"] {
        check_served(&s, tenant, t0);
    }
    // A graceful stop flushes and the log gives its records back: the
    // snapshot written before the flush's commit keeps them.
    s.stop();
    assert!(s.data_dir.join("annotations.snapshot").exists());
    s.start_again();
    for tenant in ["team-a", "team-b"] {
        check_served(&s, tenant, t0);
    }
    // And the snapshot plus a replay of newer records, after a SIGKILL.
    let later = series(&[("__name__", "rpc_seconds_bucket"), ("job", "api"), ("le", "0.5")], &[(t0 + 10, 4.0)]);
    assert_eq!(s.push(&super::harness::write_request(vec![later])).status().as_u16(), 204);
    s.kill();
    s.start_again();
    for tenant in ["team-a", "team-b"] {
        check_served(&s, tenant, t0);
    }
}
