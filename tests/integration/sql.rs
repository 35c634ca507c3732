//! SQL end to end on the real binary: answers equal PromQL's across a
//! flush, a compaction and a SIGKILL restart; `strata export` writes
//! Parquet that pyarrow and DuckDB read with the SQL endpoint's numbers; a
//! real Flight SQL client (ADBC) runs statements.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::harness::{Strata, free_port, series, write_request};
use super::push_query::T0;

const HOSTS: i64 = 4;
/// Samples per host per push, 10 s apart.
const HALF: i64 = 45;

/// Pushes samples `from..to` of every host: `cpu{hostname="host_h"}` =
/// `h * 1000 + k` at `T0 + k * 10 s + 2.5 s`.
fn push(s: &Strata, from: i64, to: i64) {
    let all = (0..HOSTS)
        .map(|h| {
            let samples: Vec<(i64, f64)> =
                (from..to).map(|k| (T0 + 2_500 + k * 10_000, (h * 1000 + k) as f64)).collect();
            series(&[("__name__", "cpu"), ("hostname", &format!("host_{h}"))], &samples)
        })
        .collect();
    let r = s.push(&write_request(all));
    assert_eq!(r.status().as_u16(), 204, "push failed");
}

fn sql(s: &Strata, q: &str) -> Value {
    let r =
        reqwest::blocking::Client::new().post(format!("{}/api/v1/sql", s.base)).form(&[("query", q)]).send().unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().unwrap();
    assert_eq!(status, 200, "{q}: {body}");
    body["data"]["rows"].clone()
}

/// `(rows, sum of values)` over everything.
fn totals(s: &Strata) -> (u64, f64) {
    let rows = sql(s, "SELECT count(*) AS n, sum(value) AS s FROM cpu");
    (rows[0]["n"].as_u64().unwrap(), rows[0]["s"].as_f64().unwrap())
}

fn expected(samples_per_host: i64) -> (u64, f64) {
    let sum: i64 = (0..HOSTS).flat_map(|h| (0..samples_per_host).map(move |k| h * 1000 + k)).sum();
    ((HOSTS * samples_per_host) as u64, sum as f64)
}

/// The SQL per-host averages and counts over the last 10 minutes before
/// `end_ms` equal `avg_over_time` and `count_over_time`.
fn assert_sql_equals_promql(s: &Strata, end_ms: i64) {
    let q = format!(
        "SELECT hostname, avg(value) AS a, count(*) AS n FROM cpu WHERE timestamp > to_timestamp_millis({}) \
         AND timestamp <= to_timestamp_millis({end_ms}) GROUP BY hostname ORDER BY hostname",
        end_ms - 600_000
    );
    let rows = sql(s, &q);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), HOSTS as usize);
    for (func, col) in [("avg", "a"), ("count", "n")] {
        let data = s.query(&format!("{func}_over_time(cpu[10m])"), end_ms as f64 / 1000.0);
        for r in data["result"].as_array().unwrap() {
            let host = r["metric"]["hostname"].as_str().unwrap();
            let want: f64 = r["value"][1].as_str().unwrap().parse().unwrap();
            let row = rows.iter().find(|x| x["hostname"] == host).unwrap();
            let got = row[col].as_f64().unwrap();
            assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{func} {host}: sql {got} promql {want}");
        }
    }
}

fn metric_value(s: &Strata, prefix: &str) -> f64 {
    let text = reqwest::blocking::get(format!("{}/metrics", s.base)).unwrap().text().unwrap();
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(0.0)
}

#[test]
fn sql_reads_across_flush_compaction_and_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    std::fs::write(
        &config,
        "[ingester]\nflush_interval_ms = 150\n[compaction]\ninterval_ms = 100\nsettle_ms = 200\n\
         delete_delay_ms = 0\nmax_bytes_per_sec = 0\nlevel_windows_ms = [60000, 600000]\n",
    )
    .unwrap();
    let mut s = Strata::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    push(&s, 0, HALF);
    assert_eq!(totals(&s), expected(HALF), "head only");
    let manifest = dir.path().join("data/MANIFEST.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&manifest).is_ok_and(|m| m.contains(".strata")) {
        assert!(Instant::now() < deadline, "no flush happened");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Files plus head, and the first half pushed again: nothing twice.
    push(&s, HALF, 2 * HALF);
    push(&s, 0, HALF);
    assert_eq!(totals(&s), expected(2 * HALF), "files + head");
    let end = T0 + 2 * HALF * 10_000;
    assert_sql_equals_promql(&s, end);
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric_value(&s, "strata_compaction_jobs_total{outcome=\"ok\"}") < 1.0 {
        assert!(Instant::now() < deadline, "no compaction happened");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(totals(&s), expected(2 * HALF), "after compaction");
    s.restart();
    assert_eq!(totals(&s), expected(2 * HALF), "after SIGKILL and restart");
    assert_sql_equals_promql(&s, end);
}

#[test]
fn parquet_export_and_flight_sql_work_with_real_clients() {
    let dir = tempfile::tempdir().unwrap();
    let flight_port = free_port();
    let config = dir.path().join("strata.toml");
    std::fs::write(&config, format!("[sql]\nflight_listen = \"127.0.0.1:{flight_port}\"\n")).unwrap();
    let s = Strata::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    push(&s, 0, 2 * HALF);

    let parquet = dir.path().join("cpu.parquet");
    let (start, end) = (T0 / 1000, T0 / 1000 + 600);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["export", "--metric", "cpu", "--start", &start.to_string(), "--end", &end.to_string()])
        .args(["--url", &s.base, "--output"])
        .arg(&parquet)
        .output()
        .unwrap();
    assert!(out.status.success(), "strata export failed: {}", String::from_utf8_lossy(&out.stderr));

    let want = sql(
        &s,
        &format!(
            "SELECT count(*) AS n, sum(value) AS s, count(DISTINCT hostname) AS h FROM cpu \
             WHERE timestamp >= to_timestamp_millis({}) AND timestamp <= to_timestamp_millis({})",
            start * 1000,
            end * 1000
        ),
    );
    let (n, sum) = (want[0]["n"].as_u64().unwrap(), want[0]["s"].as_f64().unwrap());
    assert_eq!(n, (HOSTS * 60) as u64);
    let per_host = "SELECT hostname, count(*) AS n, sum(value) AS s FROM cpu GROUP BY hostname ORDER BY hostname";
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/sql_clients.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&parquet)
        .arg(format!("grpc://127.0.0.1:{flight_port}"))
        .arg(per_host)
        .output()
        .expect("python3 (with pyarrow, duckdb and adbc-driver-flightsql from PyPI; .ci/run installs them)");
    assert!(out.status.success(), "sql_clients.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    for client in ["pyarrow", "duckdb"] {
        assert_eq!(seen[client]["rows"].as_u64().unwrap(), n, "{client}: {seen}");
        assert!((seen[client]["sum"].as_f64().unwrap() - sum).abs() < 1e-6, "{client}: {seen}");
    }
    assert_eq!(seen["duckdb"]["hosts"], HOSTS);
    assert_eq!(seen["pyarrow"]["columns"], serde_json::json!(["hostname", "timestamp", "value"]));
    // Flight SQL rows equal the HTTP endpoint's.
    let row =
        |h: &Value, n: &Value, s: &Value| (h.as_str().unwrap().to_string(), n.as_u64().unwrap(), s.as_f64().unwrap());
    let http: Vec<_> =
        sql(&s, per_host).as_array().unwrap().iter().map(|r| row(&r["hostname"], &r["n"], &r["s"])).collect();
    let flight: Vec<_> = seen["flight"]["rows"].as_array().unwrap().iter().map(|r| row(&r[0], &r[1], &r[2])).collect();
    assert_eq!(flight, http, "{seen}");
    assert_eq!(http.len(), HOSTS as usize);
}
