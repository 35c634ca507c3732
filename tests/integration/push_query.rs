//! Push known series through remote write, then assert exact PromQL results
//! (hand-computed) over head data and over flushed files.

use serde_json::{Value, json};

use super::harness::{Strata, series, vector, write_request};

/// Base time of the test data: 2023-11-14T22:13:20Z.
pub const T0: i64 = 1_700_000_000_000;

/// Two counters scraped every 15 s for 5 minutes (0, 10, ..., 200 and twice
/// that), a gauge, and a series that goes stale at T0+100 s.
pub fn push_fixture(s: &Strata) {
    let counter = |k: f64| (0..=20).map(|i| (T0 + i * 15_000, k * 10.0 * i as f64)).collect::<Vec<_>>();
    let req = write_request(vec![
        series(&[("__name__", "http_requests_total"), ("job", "api"), ("instance", "a")], &counter(1.0)),
        series(&[("__name__", "http_requests_total"), ("job", "api"), ("instance", "b")], &counter(2.0)),
        series(&[("__name__", "temperature"), ("job", "sensor"), ("room", "lab")], &[(T0, 21.5), (T0 + 60_000, 22.0)]),
        series(
            &[("__name__", "flappy"), ("job", "api")],
            &[(T0, 1.0), (T0 + 100_000, f64::from_bits(strata_common::sample::STALE_NAN_BITS))],
        ),
    ]);
    let r = s.push(&req);
    assert_eq!(r.status().as_u16(), 204, "push failed: {}", r.text().unwrap_or_default());
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn assert_close(got: &str, want: f64) {
    let g: f64 = got.parse().unwrap();
    assert!((g - want).abs() <= 1e-9 * want.abs().max(1.0), "got {g}, want {want}");
}

/// Runs every assertion; used on head data and again after a flush/restart.
pub fn assert_fixture_results(s: &Strata) {
    let at = secs(T0 + 300_000);
    let m = |inst: &str| json!({"__name__": "http_requests_total", "instance": inst, "job": "api"}).to_string();
    assert_eq!(vector(&s.query("http_requests_total", at)), vec![(m("a"), "200".into()), (m("b"), "400".into())]);
    assert_eq!(
        vector(&s.query("http_requests_total offset 1m", at)),
        vec![(m("a"), "160".into()), (m("b"), "320".into())]
    );
    assert_eq!(vector(&s.query(r#"{__name__=~"http_.*", instance!="b"}"#, at)), vec![(m("a"), "200".into())]);
    assert_eq!(vector(&s.query(r#"http_requests_total{instance=~"a|c"}"#, at)).len(), 1);
    assert_eq!(vector(&s.query(r#"http_requests_total{instance!~"a"}"#, at)), vec![(m("b"), "400".into())]);

    // rate over (T0, T0+300]: 20 samples 15 s apart, extrapolated to the window start.
    let rates = vector(&s.query("rate(http_requests_total[5m])", at));
    assert_eq!(rates.len(), 2);
    assert_eq!(rates[0].0, json!({"instance": "a", "job": "api"}).to_string(), "rate drops __name__");
    assert_close(&rates[0].1, 2.0 / 3.0);
    assert_close(&rates[1].1, 4.0 / 3.0);
    let inc = vector(&s.query("sum(increase(http_requests_total[5m]))", at));
    assert_eq!(inc[0].0, "{}");
    assert_close(&inc[0].1, 600.0);
    let irate = vector(&s.query("max(irate(http_requests_total[1m]))", at));
    assert_close(&irate[0].1, 20.0 / 15.0);

    let by_job = vector(&s.query("sum by (job) (http_requests_total)", at));
    assert_eq!(by_job, vec![(json!({"job": "api"}).to_string(), "600".into())]);
    let without = vector(&s.query("avg without (instance) (http_requests_total)", at));
    assert_eq!(without, vec![(json!({"job": "api"}).to_string(), "300".into())]);
    assert_eq!(vector(&s.query("min(http_requests_total)", at))[0].1, "200");
    assert_eq!(vector(&s.query("count(http_requests_total)", at))[0].1, "2");

    // Arithmetic and comparisons.
    let doubled = vector(&s.query("http_requests_total * 2 - 1", at));
    assert_eq!(doubled[1], (json!({"instance": "b", "job": "api"}).to_string(), "799".into()));
    assert_eq!(vector(&s.query("http_requests_total > 300", at)), vec![(m("b"), "400".into())]);
    let b = vector(&s.query("http_requests_total > bool 300", at));
    assert_eq!(b.iter().map(|x| x.1.as_str()).collect::<Vec<_>>(), ["0", "1"]);
    let ratio = vector(
        &s.query(r#"http_requests_total{instance="b"} / ignoring(instance) http_requests_total{instance="a"}"#, at),
    );
    assert_eq!(ratio, vec![(json!({"job": "api"}).to_string(), "2".into())]);

    // Lookback: the last sample (T0+60 s) is visible for 5 minutes, then gone.
    let temp = json!({"__name__": "temperature", "job": "sensor", "room": "lab"}).to_string();
    assert_eq!(vector(&s.query("temperature", secs(T0 + 60_000 + 299_000))), vec![(temp, "22".into())]);
    assert!(vector(&s.query("temperature", secs(T0 + 60_000 + 301_000))).is_empty());
    // Staleness: the marker at T0+100 s hides the series right away.
    assert_eq!(vector(&s.query("flappy", secs(T0 + 99_000))).len(), 1);
    assert!(vector(&s.query("flappy", secs(T0 + 100_000))).is_empty());

    // Range query: a matrix with one value per step.
    let (status, body) = s.get(
        "/api/v1/query_range",
        &[
            ("query", "sum(http_requests_total)"),
            ("start", &secs(T0).to_string()),
            ("end", &secs(T0 + 60_000).to_string()),
            ("step", "30s"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["resultType"], "matrix");
    assert_eq!(
        body["data"]["result"][0]["values"],
        json!([[1_700_000_000, "0"], [1_700_000_030, "60"], [1_700_000_060, "120"]])
    );
}

/// Metadata endpoints.
fn assert_metadata(s: &Strata) {
    let (status, body) = s.get("/api/v1/labels", &[]);
    assert_eq!(status, 200);
    assert_eq!(body["data"], json!(["__name__", "instance", "job", "room"]));
    let (_, body) = s.get("/api/v1/label/job/values", &[]);
    assert_eq!(body["data"], json!(["api", "sensor"]));
    let (_, body) =
        s.get("/api/v1/series", &[("match[]", "http_requests_total"), ("start", "1699999000"), ("end", "1700001000")]);
    let names: Vec<&Value> = body["data"].as_array().unwrap().iter().map(|s| &s["instance"]).collect();
    assert_eq!(names, [&json!("a"), &json!("b")]);
    let (status, body) = s.get("/api/v1/status/buildinfo", &[]);
    assert_eq!(status, 200);
    assert!(body["data"]["version"].is_string());
}

#[test]
fn push_then_query_head_files_and_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Strata::start(dir.path(), &[]);
    push_fixture(&s);
    assert_fixture_results(&s);
    assert_metadata(&s);
    // SIGKILL and restart: the head is rebuilt by replaying the log.
    s.restart();
    assert_fixture_results(&s);
    assert_metadata(&s);
    // SIGTERM: a clean shutdown, then the same answers again.
    s.stop();
    s.start_again();
    assert_fixture_results(&s);
}

/// Waits (at most 30 s) until the manifest under `data_dir` lists a file.
fn wait_for_a_flush(data_dir: &std::path::Path) {
    let manifest = data_dir.join("MANIFEST.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(&manifest).is_ok_and(|m| m.contains(".strata")) {
        assert!(std::time::Instant::now() < deadline, "no flush happened");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn results_are_exact_across_flushed_files_and_head() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    std::fs::write(&config, "[ingester]\nflush_interval_ms = 100\n").unwrap();
    let s = Strata::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    push_fixture(&s);
    // Wait until the data is in files, then read it back from files only.
    wait_for_a_flush(&dir.path().join("data"));
    assert_fixture_results(&s);
    // Push the same data again: duplicates of (series, timestamp) are not double counted.
    push_fixture(&s);
    assert_fixture_results(&s);
}

#[test]
fn tenants_are_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let s = Strata::start(dir.path(), &[]);
    let req = write_request(vec![series(&[("__name__", "secret"), ("team", "a")], &[(T0, 42.0)])]);
    let body = super::harness::snappy(&prost::Message::encode_to_vec(&req));
    assert_eq!(s.push_raw(&body, &[("X-Scope-OrgID", "team-a")]).status().as_u16(), 204);
    let q = |tenant: Option<&str>| {
        let mut r = reqwest::blocking::Client::new()
            .get(format!("{}/api/v1/query", s.base))
            .query(&[("query", "secret"), ("time", &secs(T0).to_string())]);
        if let Some(t) = tenant {
            r = r.header("X-Scope-OrgID", t);
        }
        r.send().unwrap().json::<Value>().unwrap()["data"]["result"].as_array().unwrap().len()
    };
    assert_eq!(q(Some("team-a")), 1);
    assert_eq!(q(Some("team-b")), 0);
    assert_eq!(q(None), 0);
}

#[test]
fn active_series_are_counted_per_tenant_in_metrics() {
    let dir = tempfile::tempdir().unwrap();
    // A short flush interval: a flush also counts the flushed memtable's series.
    let config = dir.path().join("strata.toml");
    std::fs::write(&config, "[ingester]\nflush_interval_ms = 300\n").unwrap();
    let s = Strata::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    let push = |tenant: &str, hosts: &[&str]| {
        let all = hosts.iter().map(|h| series(&[("__name__", "up"), ("host", h)], &[(T0, 1.0)])).collect();
        let body = super::harness::snappy(&prost::Message::encode_to_vec(&write_request(all)));
        assert_eq!(s.push_raw(&body, &[("X-Scope-OrgID", tenant)]).status().as_u16(), 204);
    };
    push("team-a", &["h1", "h2"]);
    push("team-b", &["h1"]);
    push("team-a", &["h2"]); // a known series again
    let want =
        ["strata_ingester_active_series{tenant=\"team-a\"} 2", "strata_ingester_active_series{tenant=\"team-b\"} 1"];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let metrics = reqwest::blocking::get(format!("{}/metrics", s.base)).unwrap().text().unwrap();
        if want.iter().all(|w| metrics.contains(w)) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "active series not counted:\n{metrics}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn heavy_lane_queries_select_and_answer_exactly_over_files() {
    let dir = tempfile::tempdir().unwrap();
    // Every query costs more than 1: all of them take the heavy lane, whose
    // low-priority threads run the selection (file lookups inline) as well.
    let config = dir.path().join("strata.toml");
    std::fs::write(&config, "[ingester]\nflush_interval_ms = 100\n\n[querier.scheduler]\ncheap_max_cost = 1\n")
        .unwrap();
    let s = Strata::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    push_fixture(&s);
    wait_for_a_flush(&dir.path().join("data"));
    assert_fixture_results(&s);
    // Each shard flushes on its own: the first file in the manifest may hold
    // only one of the two series. Ask until both are read from files; every
    // answer on the way must already be exact.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, body) = s.get(
            "/api/v1/query",
            &[("query", "sum(http_requests_total)"), ("time", &secs(T0 + 300_000).to_string()), ("stats", "all")],
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["stats"]["strata"]["lane"], "heavy", "{body}");
        assert_close(body["data"]["result"][0]["value"][1].as_str().unwrap(), 600.0);
        if body["data"]["stats"]["strata"]["fileSeries"].as_u64().unwrap() >= 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "both series never reached files: {body}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
