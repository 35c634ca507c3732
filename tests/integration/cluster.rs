//! Cluster mode end to end: a real Kafka-protocol broker (tansu, started
//! here), one distributor, two ingesters (two glommio shards each) and one
//! querier, as separate `strata` processes sharing a data directory.
//!
//! Writers push like Prometheus does: a request that fails (5xx, timeout,
//! refused connection) is retried until acknowledged. After SIGKILLing an
//! ingester mid-stream, or stopping the broker while pushes keep coming, the
//! querier must return every acknowledged sample exactly once, nothing that
//! was never sent, and no gaps.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use strata_log::kafka::TestBroker;

use super::harness::{Strata, free_port, series, write_request};
use super::stream::{request, verify_exactly_once};

const PARTITIONS: u32 = 4;
const WRITERS: usize = 2;

/// The processes of one cluster (killed on drop).
struct Cluster {
    _dir: tempfile::TempDir,
    broker: TestBroker,
    distributor: Strata,
    ingesters: Vec<Strata>,
    querier: Strata,
    /// The ingesters' base URLs, in `cluster.ingesters` order.
    urls: Vec<String>,
}

/// The config file of process `id` (its `cluster.ingester_id`), the
/// ingesters flushing every `flush_ms`; `extra` is appended.
fn config_flushing(
    dir: &Path,
    broker: &TestBroker,
    ingester_urls: &[String],
    id: usize,
    extra: &str,
    flush_ms: u64,
) -> String {
    let path = dir.join(format!("strata-{id}.toml"));
    let urls: Vec<String> = ingester_urls.iter().map(|u| format!("{u:?}")).collect();
    let toml = format!(
        "[kafka]\nbrokers = {:?}\ntopic = \"strata-e2e\"\npartitions = {PARTITIONS}\nproduce_timeout_ms = 3000\n\n\
         [cluster]\ningesters = [{}]\ningester_id = {id}\nhead_read_timeout_ms = 5000\n\n\
         [ingester]\nshards = 2\nflush_interval_ms = {flush_ms}\nlag_poll_interval_ms = 200\n",
        broker.bootstrap(),
        urls.join(", ")
    );
    std::fs::write(&path, toml + extra).unwrap();
    path.to_str().unwrap().to_string()
}

impl Cluster {
    fn start() -> Cluster {
        Self::start_with("", false)
    }

    /// `extra`: TOML appended to every process's config; `own_dirs`: every
    /// process gets its own data directory (no shared storage).
    fn start_with(extra: &str, own_dirs: bool) -> Cluster {
        Self::start_flushing(extra, own_dirs, 300)
    }

    /// [`Cluster::start_with`], the ingesters flushing every `flush_ms`.
    fn start_flushing(extra: &str, own_dirs: bool, flush_ms: u64) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let broker = TestBroker::start();
        let data = |name: &str| dir.path().join(if own_dirs { name } else { "shared" });
        let listens: Vec<String> = (0..2).map(|_| format!("127.0.0.1:{}", free_port())).collect();
        let urls: Vec<String> = listens.iter().map(|l| format!("http://{l}")).collect();
        let ingesters = (0..2)
            .map(|i| {
                let cfg = config_flushing(dir.path(), &broker, &urls, i, extra, flush_ms);
                Strata::start_at(&listens[i], &data(&format!("ingester-{i}")), &["ingester", "--config", &cfg])
            })
            .collect();
        let cfg = config_flushing(dir.path(), &broker, &urls, 0, extra, flush_ms);
        let distributor = Strata::start(&data("distributor"), &["distributor", "--config", &cfg]);
        let querier = Strata::start(&data("querier"), &["querier", "--config", &cfg]);
        Cluster { _dir: dir, broker, distributor, ingesters, querier, urls }
    }
}

/// Writers that push sequential requests, retrying each until it is
/// acknowledged with 204 (as Prometheus does).
struct Writers {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<i64>>>,
    attempted: Arc<Mutex<Vec<i64>>>,
    /// Failed attempts by status code (0 = no response).
    failures: Arc<Mutex<BTreeMap<u16, usize>>>,
    successes: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<()>>,
}

impl Writers {
    fn start(url: String) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(vec![-1i64; WRITERS]));
        let attempted = Arc::new(Mutex::new(vec![-1i64; WRITERS]));
        let failures = Arc::new(Mutex::new(BTreeMap::new()));
        let successes = Arc::new(AtomicUsize::new(0));
        let threads = (0..WRITERS)
            .map(|w| {
                let (url, stop, acked, attempted, failures, successes) =
                    (url.clone(), stop.clone(), acked.clone(), attempted.clone(), failures.clone(), successes.clone());
                std::thread::spawn(move || {
                    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
                    let mut k = 0;
                    while !stop.load(Ordering::Relaxed) {
                        attempted.lock().unwrap()[w] = k;
                        let r = client
                            .post(&url)
                            .header("Content-Type", "application/x-protobuf")
                            .header("Content-Encoding", "snappy")
                            .body(request("cluster_test", w, k))
                            .send();
                        match r.map(|r| r.status().as_u16()) {
                            Ok(204) => {
                                acked.lock().unwrap()[w] = k;
                                successes.fetch_add(1, Ordering::Relaxed);
                                k += 1;
                            }
                            other => {
                                *failures.lock().unwrap().entry(other.unwrap_or(0)).or_default() += 1;
                                std::thread::sleep(Duration::from_millis(100));
                            }
                        }
                    }
                })
            })
            .collect();
        Writers { stop, acked, attempted, failures, successes, threads }
    }

    /// Waits until `n` more requests have been acknowledged.
    fn wait_for_successes(&self, n: usize, within: Duration) {
        let target = self.successes.load(Ordering::Relaxed) + n;
        let deadline = Instant::now() + within;
        while self.successes.load(Ordering::Relaxed) < target {
            assert!(Instant::now() < deadline, "pushes did not succeed again; failures: {:?}", self.failures);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the writers; returns (acked, attempted) per writer.
    fn finish(self) -> (Vec<i64>, Vec<i64>, BTreeMap<u16, usize>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        let failures = self.failures.lock().unwrap().clone();
        (self.acked.lock().unwrap().clone(), self.attempted.lock().unwrap().clone(), failures)
    }
}

/// SQL on the querier role reads the same files and ingester heads as
/// PromQL: its row count equals the samples PromQL counts.
fn assert_sql_counts_like_promql(querier: &Strata, metric: &str) {
    let q = format!("SELECT count(*) AS n, CAST(max(timestamp) AS BIGINT) AS t FROM {metric}");
    let (status, body) = querier.get("/api/v1/sql", &[("query", &q)]);
    assert_eq!(status, 200, "{body}");
    let row = &body["data"]["rows"][0];
    let (n, last_ms) = (row["n"].as_u64().unwrap(), row["t"].as_i64().unwrap());
    let data = querier.query(&format!("sum(count_over_time({metric}[1d]))"), last_ms as f64 / 1000.0);
    let promql: u64 = data["result"][0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(n > 0);
    assert_eq!(n, promql, "SQL rows against PromQL's count_over_time");
}

/// The querier's `/api/v1/status/tsdb` is the sum of the ingesters' own
/// answers: series counts add up across the disjoint partitions. The heads
/// flush every 300 ms, so each try pushes fresh series and accepts a
/// snapshot the ingesters' answers agree on before and after.
fn assert_tsdb_status_merges_the_ingesters(c: &Cluster) {
    let counts = |s: &Strata| {
        let (status, body) = s.get("/api/v1/status/tsdb", &[]);
        assert_eq!(status, 200, "{body}");
        let by_metric = body["data"]["seriesCountByMetricName"].as_array().unwrap();
        let probe = by_metric.iter().find(|s| s["name"] == "tsdb_probe");
        (body["data"]["headStats"]["numSeries"].as_u64().unwrap(), probe.map_or(0, |s| s["value"].as_u64().unwrap()))
    };
    let sum = || c.ingesters.iter().map(counts).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        let probes = (0..8).map(|i| series(&[("__name__", "tsdb_probe"), ("i", &i.to_string())], &[(now, 1.0)]));
        let probes = probes.collect();
        assert_eq!(c.distributor.push(&write_request(probes)).status().as_u16(), 204);
        let (before, merged, after) = (sum(), counts(&c.querier), sum());
        // A shard's flush can be under way between the three reads (its
        // series move from the active to the frozen memtable and out), so
        // only a snapshot all three agree on counts; one must come. It need
        // not hold all 8 probes: on a loaded machine the 300 ms flushes take
        // some out before the slowest partition's consumer brings the rest
        // (it failed so once, at (2, 2) (2, 2) (0, 0)).
        if before == after && before.1 > 0 && merged == before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the querier's merge never matched the ingesters' sum: {before:?} {merged:?} {after:?}"
        );
    }
    let (status, body) = c.querier.get("/api/v1/status/tsdb", &[("limit", "0")]);
    assert_eq!((status, body["errorType"].as_str()), (400, Some("bad_data")), "{body}");
}

#[test]
fn cluster_sigkill_an_ingester_mid_stream_loses_and_duplicates_nothing() {
    let mut c = Cluster::start();
    let writers = Writers::start(format!("{}/api/v1/push", c.distributor.base));
    writers.wait_for_successes(20, Duration::from_secs(60));

    c.ingesters[1].kill();
    // Pushes go to Kafka, not to ingesters: they keep succeeding.
    writers.wait_for_successes(5, Duration::from_secs(30));
    // A query needs every ingester's head: a clear 503, never a partial answer.
    let (status, body) = c.querier.get("/api/v1/query", &[("query", "count(cluster_test)")]);
    assert_eq!(status, 503, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("ingester 1"), "the error names the ingester: {error}");

    c.ingesters[1].start_again();
    writers.wait_for_successes(10, Duration::from_secs(60));
    let (acked, attempted, failures) = writers.finish();
    assert!(failures.is_empty(), "pushes failed although Kafka was up: {failures:?}");
    verify_exactly_once(&c.querier, "cluster_test", &acked, &attempted);
    assert_sql_counts_like_promql(&c.querier, "cluster_test");
    assert_tsdb_status_merges_the_ingesters(&c);

    // Lag and progress are visible per partition.
    let (status, st) = c.ingesters[0].get("/ingester/status", &[]);
    assert_eq!(status, 200);
    let parts: Vec<u64> =
        st["partitions"].as_array().unwrap().iter().map(|p| p["partition"].as_u64().unwrap()).collect();
    assert_eq!(parts, vec![0, 2], "ingester 0 of 2 owns the even partitions");
    let metrics = reqwest::blocking::get(format!("{}/metrics", c.ingesters[1].base)).unwrap().text().unwrap();
    assert!(metrics.contains("strata_ingester_partition_lag_records{partition=\"3\"}"), "{metrics}");
}

#[test]
fn cluster_rides_out_a_broker_restart() {
    let mut c = Cluster::start();
    let writers = Writers::start(format!("{}/api/v1/push", c.distributor.base));
    writers.wait_for_successes(20, Duration::from_secs(60));

    c.broker.stop();
    let down_since = Instant::now();
    while writers.failures.lock().unwrap().is_empty() {
        assert!(down_since.elapsed() < Duration::from_secs(30), "pushes kept succeeding with the broker down");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    c.broker.restart();
    writers.wait_for_successes(20, Duration::from_secs(90));
    let (acked, attempted, failures) = writers.finish();
    assert!(
        failures.keys().all(|&code| code == 503 || code == 429),
        "during the outage pushes must fail with 503 (or 429), got {failures:?}"
    );
    verify_exactly_once(&c.querier, "cluster_test", &acked, &attempted);
}

#[test]
fn cluster_on_object_storage_survives_losing_an_ingesters_disk() {
    // No shared storage: every process has its own data directory, files
    // reach the querier only through the bucket (moto).
    let s3 = strata_storage::object::test_server::S3Server::start();
    s3.create_bucket("strata");
    let object = format!(
        "\n[storage.object]\nurl = \"s3://strata/cluster\"\nendpoint = \"http://127.0.0.1:{}\"\nregion = \"us-east-1\"\n\
         access_key_id = \"test\"\nsecret_access_key = \"test\"\nallow_http = true\nmanifest_poll_interval_ms = 500\n",
        s3.port
    );
    let mut c =
        Cluster::start_with(&(object + "\n[distributor.limits.defaults]\nmax_exemplars_per_series = 2\n"), true);
    let writers = Writers::start(format!("{}/api/v1/push", c.distributor.base));
    // Exemplars and metadata, in partitions of both ingesters.
    let t0 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 - 60_000;
    for tenant in ["team-a", "team-b", "team-c", "team-d"] {
        super::annotations::push_annotations(&c.distributor, tenant, t0);
    }
    writers.wait_for_successes(20, Duration::from_secs(60));
    // Flushed (every 300 ms): the log no longer replays them, and the
    // annotation snapshot is in the bucket.
    let flushed = |s: &Strata| {
        let text = reqwest::blocking::get(format!("{}/metrics", s.base)).unwrap().text().unwrap();
        text.lines()
            .filter(|l| l.starts_with("strata_ingester_flushes_total{") && l.contains("outcome=\"ok\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let before = flushed(&c.ingesters[1]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while flushed(&c.ingesters[1]) < before + 4.0 {
        assert!(Instant::now() < deadline, "ingester 1 does not flush");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Ingester 1's machine is lost: process and disk.
    c.ingesters[1].kill();
    std::fs::remove_dir_all(&c.ingesters[1].data_dir).unwrap();
    writers.wait_for_successes(5, Duration::from_secs(30));
    c.ingesters[1].start_again();
    writers.wait_for_successes(10, Duration::from_secs(60));
    let (acked, attempted, failures) = writers.finish();
    assert!(failures.is_empty(), "pushes failed although Kafka was up: {failures:?}");
    verify_exactly_once(&c.querier, "cluster_test", &acked, &attempted);
    // Its exemplars and metadata came back with its snapshot from the bucket.
    for tenant in ["team-a", "team-b", "team-c", "team-d"] {
        super::annotations::check_served(&c.querier, tenant, t0);
    }
    // Ingester 1 restored its manifest and files from the bucket (an empty
    // start would refuse to replicate over the bucket's newer manifest and
    // fail every flush); the querier read files only from the bucket.
    let metric = |s: &Strata, name: &str, label: &str| -> f64 {
        let text = reqwest::blocking::get(format!("{}/metrics", s.base)).unwrap().text().unwrap();
        text.lines()
            .filter(|l| l.starts_with(name) && l.contains(label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert!(metric(&c.ingesters[1], "strata_object_store_downloads_total ", "") >= 2.0, "manifest + files restored");
    let failed = metric(&c.ingesters[1], "strata_ingester_flushes_total{", "outcome=\"error\"");
    assert_eq!(failed, 0.0, "no failed flush");
    assert!(metric(&c.querier, "strata_object_store_cache_misses_total ", "") >= 1.0, "files come from the bucket");
}

/// Exemplars and metadata in cluster mode: the distributor writes them to
/// Kafka, the ingesters that own their partitions keep them (bounded by
/// `[distributor.limits]`, which the ingesters read too), and the querier
/// merges every ingester's answer, per tenant. After SIGKILLing an
/// ingester (its heads flush every 300 ms, so its snapshot and the log
/// replay both count) the answers are the same.
#[test]
fn cluster_querier_serves_exemplars_and_metadata_from_the_ingesters() {
    use strata_distributor::proto::MetricMetadata;
    let mut c = Cluster::start_with("\n[distributor.limits.defaults]\nmax_exemplars_per_series = 2\n", false);
    let t0 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 - 60_000;
    for tenant in ["team-a", "team-b"] {
        super::annotations::push_annotations(&c.distributor, tenant, t0);
    }
    // Enough families that both ingesters hold some.
    let families: Vec<MetricMetadata> = (0..8)
        .map(|i| MetricMetadata {
            r#type: 2,
            metric_family_name: format!("family_{i}"),
            help: format!("Family {i}."),
            unit: String::new(),
        })
        .collect();
    let raw = prost::Message::encode_to_vec(&strata_distributor::proto::WriteRequest {
        metadata: families,
        ..Default::default()
    });
    let r = c.distributor.push_raw(&super::harness::snappy(&raw), &[("X-Scope-OrgID", "team-c")]);
    assert_eq!(r.status().as_u16(), 204);
    let check = |c: &Cluster| {
        super::annotations::check_served(&c.querier, "team-a", t0);
        super::annotations::check_served(&c.querier, "team-b", t0);
        let (status, body) = c.querier.get("/api/v1/metadata", &[]);
        assert_eq!((status, body["data"].clone()), (200, serde_json::json!({})), "the default tenant has none");
        let client = reqwest::blocking::Client::new();
        let meta: serde_json::Value = client
            .get(format!("{}/api/v1/metadata", c.querier.base))
            .header("X-Scope-OrgID", "team-c")
            .send()
            .unwrap()
            .json()
            .unwrap();
        let names: Vec<&String> = meta["data"].as_object().unwrap().keys().collect();
        assert_eq!(names.len(), 8, "{meta}");
        assert_eq!(meta["data"]["family_5"], serde_json::json!([{"type": "gauge", "help": "Family 5.", "unit": ""}]));
        let limited: serde_json::Value = client
            .get(format!("{}/api/v1/metadata", c.querier.base))
            .query(&[("limit", "3")])
            .header("X-Scope-OrgID", "team-c")
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(limited["data"].as_object().unwrap().len(), 3, "limit applies to the merged answer");
    };
    check(&c);
    // Both ingesters hold some of team-c's families.
    for ing in &c.ingesters {
        let body = serde_json::json!({"tenant": "team-c", "metric": null, "limit": -1, "limit_per_metric": 0});
        let held: serde_json::Value = reqwest::blocking::Client::new()
            .post(format!("{}/internal/v1/head/metadata", ing.base))
            .json(&body)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let n = held.as_object().unwrap().len();
        assert!((1..8).contains(&n), "an ingester holds {n} of the 8 families: {held}");
    }
    c.ingesters[1].kill();
    let (status, _) = c.querier.get("/api/v1/metadata", &[]);
    assert_eq!(status, 503, "an unreachable ingester is an error, never a partial answer");
    c.ingesters[1].start_again();
    check(&c);
}

/// Pushdown into the ingesters is invisible: queries answered from the
/// heads (streamed answers, samples no step looks at left out by the
/// ingesters) equal the same queries answered from the files after the
/// ingesters flushed everything, bit for bit. The heads hold the data first
/// (no flush for an hour); then the ingesters restart flushing every 300 ms,
/// replay the log and flush it all, and their heads are empty.
#[test]
fn cluster_head_pushdown_answers_like_the_files() {
    let mut c = Cluster::start_flushing("", false, 3_600_000);
    // 160 series × 2 h at 10 s, off the step grid (2.5 s past), one
    // staleness marker: several record batches per ingester answer.
    const BASE: i64 = 1_700_000_002_500;
    let stale = f64::from_bits(0x7ff0_0000_0000_0002);
    for chunk in 0..4 {
        let all = (0..160)
            .map(|i| {
                let samples: Vec<(i64, f64)> = (chunk * 180..(chunk + 1) * 180)
                    .map(|k| {
                        let v = if i == 7 && k == 400 { stale } else { ((i * 7919 + k * 104_729) % 1000) as f64 / 7.0 };
                        (BASE + k * 10_000, v)
                    })
                    .collect();
                let (g, i) = ((i % 5).to_string(), i.to_string());
                series(&[("__name__", "pd_test"), ("g", &g), ("i", &i)], &samples)
            })
            .collect();
        assert_eq!(c.distributor.push(&write_request(all)).status().as_u16(), 204);
    }
    let (start, end) = ((BASE + 3_600_000) as f64 / 1000.0, (BASE + 7_190_000) as f64 / 1000.0);
    let at = (BASE + 3_000_000) as f64 / 1000.0;
    let range = |q: &str, step: &str| (q.to_string(), format!("{start}"), format!("{end}"), step.to_string());
    let queries = [
        range("pd_test", "60"),
        range("sum by (g) (pd_test)", "37"),
        range("count(pd_test > 70)", "120"),
        range("rate(pd_test[1m])", "300"),
        range("max_over_time(pd_test[5m])", "60"),
        range("sum by (g) (rate(pd_test[2m]))", "450"),
        range("timestamp(pd_test)", "90"),
        range("pd_test offset 7m", "90"),
        range(&format!("pd_test @ {at}"), "60"),
        range("max_over_time(pd_test[10m:1m])", "300"),
        range("pd_test", "1"),
        (String::from("pd_test"), format!("{end}"), format!("{end}"), "1".into()),
        (String::from("sum(rate(pd_test[5m]))"), format!("{at}"), format!("{at}"), "1".into()),
    ];
    // Heavy queries run at idle CPU priority (querier and shards): beside
    // busy neighbours the step-1 query takes tens of seconds. This test
    // checks answers, not speed, so it waits longer than reqwest's 30 s.
    let client = reqwest::blocking::Client::builder().timeout(std::time::Duration::from_secs(180)).build().unwrap();
    let run = |q: &(String, String, String, String)| -> serde_json::Value {
        let r = client
            .get(format!("{}/api/v1/query_range", c.querier.base))
            .header("Cache-Control", "no-store")
            .query(&[("query", &q.0), ("start", &q.1), ("end", &q.2), ("step", &q.3)])
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{q:?}");
        let body: serde_json::Value = r.json().unwrap();
        assert!(!body["data"]["result"].as_array().unwrap().is_empty(), "{q:?}: {body}");
        body["data"]["result"].clone()
    };
    let flushed_all = |url: &str| {
        let progress: serde_json::Value =
            client.get(format!("{url}/internal/v1/head/progress")).send().unwrap().json().unwrap();
        progress.as_array().unwrap().iter().all(|p| p["flushed"] == p["consumed"])
    };
    // Samples the querier loaded for `pd_test` at 60 s steps (the first query).
    let loaded = || -> u64 {
        let q = &queries[0];
        let r = client
            .get(format!("{}/api/v1/query_range", c.querier.base))
            .header("Cache-Control", "no-store")
            .query(&[("query", &q.0), ("start", &q.1), ("end", &q.2), ("step", &q.3), ("stats", &"all".into())])
            .send()
            .unwrap();
        let body: serde_json::Value = r.json().unwrap();
        body["data"]["stats"]["samples"]["totalQueryableSamples"].as_u64().unwrap()
    };
    let from_heads: Vec<serde_json::Value> = queries.iter().map(run).collect();
    let loaded_from_heads = loaded();
    assert!(c.urls.iter().any(|u| !flushed_all(u)), "the heads should hold the data");

    for (i, ing) in c.ingesters.iter_mut().enumerate() {
        ing.stop();
        config_flushing(c._dir.path(), &c.broker, &c.urls, i, "", 300);
        ing.start_again();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !c.urls.iter().all(|u| flushed_all(u)) {
        assert!(Instant::now() < deadline, "the ingesters did not flush their replayed heads");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The querier's pooled connections to the restarted ingesters are
    // stale: a first read may fail (503) until it reconnects.
    let warm = (0..20).any(|_| {
        let r = client.get(format!("{}/api/v1/query", c.querier.base)).query(&[("query", "count(pd_test)")]).send();
        r.is_ok_and(|r| r.status().is_success()) || {
            std::thread::sleep(Duration::from_millis(200));
            false
        }
    });
    assert!(warm, "the querier does not reach the restarted ingesters");
    for (q, heads) in queries.iter().zip(&from_heads) {
        assert_eq!(&run(q), heads, "{q:?}: the heads' answer differs from the files'");
    }
    // The ingesters sent about one sample in six (the latest per 60 s step
    // of 10 s samples); the files give the querier every sample in range.
    let loaded_from_files = loaded();
    assert!(
        loaded_from_heads * 4 < loaded_from_files,
        "step hint not applied: {loaded_from_heads} samples from the heads, {loaded_from_files} from the files"
    );
}
