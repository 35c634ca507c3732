//! Prometheus itself is the reference: the same remote-write payload goes to
//! a real Prometheus (`--web.enable-remote-write-receiver`, Debian package)
//! and to Strata, and every query of the supported subset must return the
//! same series with the same values from both.
//!
//! The Debian package is Prometheus 2.42; Strata follows Prometheus 3 where
//! they differ, so the comparison stays where both agree:
//! - 2.x ranges are left-closed, 3.x left-open: queries are evaluated at
//!   instants off the 15 s sample grid;
//! - 3.x clamps `rate`'s extrapolation to the series start before bounding it
//!   by the counter's zero point (2.x does it the other way round), which only
//!   matters where a window's first sample is close to zero (series start,
//!   or right after a reset to 0): evaluation starts 10 minutes after the
//!   data does, and counter resets drop to 40% rather than to 0. (The
//!   upstream `promqltest` cases cover the 3.x behaviour there.)

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prost::Message;
use serde_json::Value;
use strata_distributor::proto::TimeSeries;

use super::harness::{Strata, free_port, series, snappy, write_request};

/// A real Prometheus server in a temporary directory; killed on drop.
pub struct Prometheus {
    /// `http://host:port`.
    pub base: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts a fresh Prometheus accepting remote write.
    pub fn start() -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 1h\n").unwrap();
        let listen = format!("127.0.0.1:{}", free_port());
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={listen}"))
            .arg("--web.enable-remote-write-receiver")
            .arg("--log.level=error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("prometheus must be installed (apt-get install prometheus; .ci/run does it)");
        let p = Prometheus { base: format!("http://{listen}"), child, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !reqwest::blocking::get(format!("{}/-/ready", p.base)).is_ok_and(|r| r.status().is_success()) {
            assert!(Instant::now() < deadline, "prometheus did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        p
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const STEP_MS: i64 = 15_000;
pub const POINTS: i64 = 120; // 30 minutes

/// Counters with resets and gaps, gauges, and a series that goes stale.
pub fn dataset(t0: i64) -> Vec<TimeSeries> {
    let mut out = Vec::new();
    for (j, job) in ["api", "web"].iter().enumerate() {
        for inst in 0..3i64 {
            let inst_s = format!("10.0.0.{inst}:9100");
            for (c, code) in ["200", "500"].iter().enumerate() {
                let mut v = 0.0;
                let samples: Vec<(i64, f64)> = (0..POINTS)
                    .filter(|i| (i + inst) % 17 != 0) // missed scrapes
                    .map(|i| {
                        v += ((i * 7 + inst * 3 + c as i64) % 11) as f64 + if c == 0 { 5.0 } else { 0.25 };
                        if (i + j as i64 * 13) % 47 == 46 {
                            v *= 0.4; // counter reset (see the module docs on why not to 0)
                        }
                        (t0 + i * STEP_MS, v)
                    })
                    .collect();
                out.push(series(
                    &[("__name__", "http_requests_total"), ("job", job), ("instance", &inst_s), ("code", code)],
                    &samples,
                ));
            }
            let temps: Vec<(i64, f64)> = (0..POINTS)
                .map(|i| (t0 + i * STEP_MS, 15.0 + ((i * (inst + 2) + j as i64 * 5) % 13) as f64 * 0.75))
                .collect();
            out.push(series(
                &[
                    ("__name__", "temperature"),
                    ("job", job),
                    ("instance", &inst_s),
                    ("room", &format!("r{}", inst % 2)),
                ],
                &temps,
            ));
        }
    }
    let stale = f64::from_bits(strata_common::sample::STALE_NAN_BITS);
    let mut flappy: Vec<(i64, f64)> = (0..40).map(|i| (t0 + i * STEP_MS, i as f64)).collect();
    flappy.push((t0 + 40 * STEP_MS, stale));
    flappy.extend((60..80).map(|i| (t0 + i * STEP_MS, i as f64)));
    out.push(series(&[("__name__", "flappy"), ("job", "api")], &flappy));
    out
}

const QUERIES: &[&str] = &[
    "http_requests_total",
    r#"http_requests_total{code="500", instance=~"10\\.0\\.0\\.[12]:9100"}"#,
    r#"{__name__=~"temp.*", room!~"r1|x"}"#,
    "http_requests_total offset 3m",
    "rate(http_requests_total[5m])",
    "rate(http_requests_total[1m])",
    "irate(http_requests_total[2m])",
    "increase(http_requests_total[10m])",
    "sum by (job) (rate(http_requests_total[5m]))",
    "sum without (instance, code) (increase(http_requests_total[3m]))",
    "avg by (room) (temperature)",
    "max by (job) (temperature)",
    "min without (room) (temperature)",
    "count by (code) (http_requests_total)",
    "sum(temperature)",
    "temperature > 20",
    "temperature <= bool 20",
    "temperature * 2 + 1",
    "-temperature % 7",
    "2 ^ (temperature / 10)",
    "1 - temperature / 100",
    "rate(http_requests_total[5m]) > 0.5",
    r#"rate(http_requests_total{code="500"}[5m]) / ignoring(code) rate(http_requests_total{code="200"}[5m])"#,
    "temperature / on(job, instance) group_left sum by (job, instance) (http_requests_total)",
    "sum by (job) (rate(http_requests_total[5m])) / on(job) max by (job) (temperature)",
    "temperature != on(instance, job, room) temperature",
    "flappy",
    "flappy offset 1m",
];

pub fn push(url: &str, body: &[u8]) {
    let r = reqwest::blocking::Client::new()
        .post(url)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body.to_vec())
        .send()
        .unwrap();
    assert!(r.status().is_success(), "push to {url}: {}", r.status());
}

fn query(base: &str, path: &str, params: &[(&str, String)]) -> Value {
    let r = reqwest::blocking::Client::new().get(format!("{base}{path}")).query(params).send().unwrap();
    let body: Value = r.json().unwrap();
    assert_eq!(body["status"], "success", "{base}{path} {params:?}: {body}");
    body["data"].clone()
}

/// (labels JSON, values) sorted, for vectors and matrices alike.
fn normalize(data: &Value) -> Vec<(String, Vec<(f64, String)>)> {
    let mut out: Vec<_> = data["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let values = match s.get("values") {
                Some(v) => v.as_array().unwrap().clone(),
                None => vec![s["value"].clone()],
            };
            let values = values.iter().map(|p| (p[0].as_f64().unwrap(), p[1].as_str().unwrap().to_string())).collect();
            (s["metric"].to_string(), values)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn same_value(a: &str, b: &str) -> bool {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) if x.is_finite() && y.is_finite() => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    }
}

fn assert_same(what: &str, strata: &Value, prom: &Value) {
    assert_eq!(strata["resultType"], prom["resultType"], "{what}: result type");
    let (s, p) = (normalize(strata), normalize(prom));
    let labels = |v: &[(String, Vec<(f64, String)>)]| v.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
    assert_eq!(labels(&s), labels(&p), "{what}: series differ");
    for ((l, sv), (_, pv)) in s.iter().zip(&p) {
        assert_eq!(sv.len(), pv.len(), "{what} {l}: points differ: strata {sv:?} prometheus {pv:?}");
        for ((st, sval), (pt, pval)) in sv.iter().zip(pv) {
            assert!(
                (st - pt).abs() < 1e-6 && same_value(sval, pval),
                "{what} {l}: strata ({st}, {sval}) prometheus ({pt}, {pval})"
            );
        }
    }
}

/// A real Prometheus and a Strata (on a temporary directory, returned to
/// keep it) that both received [`dataset`], which starts two hours ago
/// at `t0` (returned).
pub fn start_both_with_the_dataset() -> (i64, Prometheus, tempfile::TempDir, Strata) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let t0 = (now - 2 * 3_600_000) / 60_000 * 60_000;
    let body = snappy(&write_request(dataset(t0)).encode_to_vec());
    let prom = Prometheus::start();
    let dir = tempfile::tempdir().unwrap();
    let strata = Strata::start(dir.path(), &[]);
    push(&format!("{}/api/v1/write", prom.base), &body);
    push(&format!("{}/api/v1/push", strata.base), &body);
    (t0, prom, dir, strata)
}

#[test]
fn same_answers_as_prometheus() {
    let (t0, prom, _dir, strata) = start_both_with_the_dataset();

    let secs = |ms: i64| format!("{:.3}", ms as f64 / 1000.0);
    // Off-grid instants: 7.5 s after a sample, inside and after the data.
    let instants: Vec<i64> = [41, 45, 62, 100, 119, 125, 135].iter().map(|i| t0 + i * STEP_MS + 7_500).collect();
    for q in QUERIES {
        for &t in &instants {
            let params = [("query", q.to_string()), ("time", secs(t))];
            let s = query(&strata.base, "/api/v1/query", &params);
            let p = query(&prom.base, "/api/v1/query", &params);
            assert_same(&format!("{q} @ {}", secs(t)), &s, &p);
        }
        let params = [
            ("query", q.to_string()),
            ("start", secs(t0 + 602_500)),
            ("end", secs(t0 + POINTS * STEP_MS + 400_000)),
            ("step", "37".into()),
        ];
        let s = query(&strata.base, "/api/v1/query_range", &params);
        let p = query(&prom.base, "/api/v1/query_range", &params);
        assert_same(&format!("range {q}"), &s, &p);
    }
    // Metadata over the same data.
    let range = [("start", secs(t0)), ("end", secs(t0 + POINTS * STEP_MS))];
    assert_eq!(query(&strata.base, "/api/v1/labels", &range), query(&prom.base, "/api/v1/labels", &range));
    assert_eq!(
        query(&strata.base, "/api/v1/label/instance/values", &range),
        query(&prom.base, "/api/v1/label/instance/values", &range)
    );
    let series_params = [("match[]", "temperature".to_string()), range[0].clone(), range[1].clone()];
    assert_eq!(
        query(&strata.base, "/api/v1/series", &series_params),
        query(&prom.base, "/api/v1/series", &series_params)
    );
}
