//! SQL throughput over Strata's own files, against DuckDB over the same
//! rows exported to Parquet (issue 15's targets):
//!
//! - full scan: `SELECT hostname, avg(value) FROM cpu_usage_user GROUP BY
//!   hostname` over `HOSTS` hosts × 6 h at 10 s (TSBS-like: 13 labels per
//!   series), in samples per second per core (wall time × cores used); the
//!   same through the rows path (the aggregate kept out of the scan);
//! - one host, one hour: `avg(value)` with `hostname = …` and a timestamp
//!   range, median latency.
//!
//! The data is written as level-0 files (one per 2 h, as flushes leave
//! them) through the storage crate, read by the querier's `StorageSource`
//! with an empty head. The same rows are exported with `/api/v1/export`'s
//! statement and, when `python3 -c 'import duckdb'` works, DuckDB runs the
//! same aggregate over the Parquet file with the same thread count.
//!
//! Run: `cargo bench -p strata-sql --bench sql_scan` (env `HOSTS`, default
//! 1000; `THREADS`, default all cores; `RUNS`, default 5; `ROUNDS`, default
//! 1: rounds of the Strata full scan followed by DuckDB's, each with its
//! time ratio; `ONLY_FULL` set: only the full scan, for profiling).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use strata_common::head::{
    HeadLabelsResponse, HeadReadResponse, HeadReader, LabelsRequest, PartitionProgress, SelectEstimate, SelectRequest,
};
use strata_common::{Sample, TenantId};
use strata_querier::metrics::QuerierMetrics;
use strata_querier::{QuerierConfig, QuerierState, ReadConsistency, StorageSource};
use strata_sql::format::Format;
use strata_sql::{SqlEngine, SqlRequest};
use strata_storage::{FlushContext, ManifestStore, Memtable, PartitionRange, Store, StoreSet, write_files};

const STEP: i64 = 10_000;
const SCRAPES: i64 = 6 * 360;
const T0: i64 = 1_700_000_000_000;

/// A head with nothing in it.
struct EmptyHead;

impl HeadReader for EmptyHead {
    fn read(&self, _: SelectRequest) -> BoxFuture<'_, strata_common::Result<HeadReadResponse>> {
        Box::pin(async { Ok(HeadReadResponse { series: Vec::new(), base_offsets: vec![(0, 1)] }) })
    }
    fn labels(&self, _: LabelsRequest) -> BoxFuture<'_, strata_common::Result<HeadLabelsResponse>> {
        Box::pin(async { Ok(HeadLabelsResponse { values: Vec::new(), base_offsets: vec![(0, 1)] }) })
    }
    fn estimate(&self, _: SelectRequest) -> BoxFuture<'_, strata_common::Result<SelectEstimate>> {
        Box::pin(async { Ok(SelectEstimate::default()) })
    }
    fn progress(&self) -> BoxFuture<'_, strata_common::Result<Vec<PartitionProgress>>> {
        Box::pin(async { Ok(vec![PartitionProgress { partition: 0, consumed: 1, flushed: 1 }]) })
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// TSBS-like labels of host `h`.
fn host_labels(h: usize) -> Vec<(String, String)> {
    let regions = [
        "us-east-1",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "eu-central-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-northeast-1",
        "sa-east-1",
    ];
    let region = regions[h % 9];
    let mut l = vec![
        ("__name__".to_string(), "cpu_usage_user".to_string()),
        ("arch".into(), ["x64", "x86"][h % 2].into()),
        ("cpu".into(), "cpu-total".into()),
        ("datacenter".into(), format!("{region}{}", ["a", "b", "c"][h % 3])),
        ("hostname".into(), format!("host_{h}")),
        ("instance".into(), format!("host_{h}:9100")),
        ("job".into(), "node".into()),
        ("os".into(), ["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"][h % 3].into()),
        ("rack".into(), (h % 100).to_string()),
        ("region".into(), region.into()),
        ("service".into(), (h % 20).to_string()),
        ("service_environment".into(), ["production", "staging", "test"][h % 3].into()),
        ("service_version".into(), (h % 2).to_string()),
        ("team".into(), ["SF", "NYC", "LON", "CHI"][h % 4].into()),
    ];
    l.sort();
    l
}

/// Writes the data set as one level-0 file per 2 h window.
fn write_data(dir: &std::path::Path, hosts: usize) -> Arc<ManifestStore> {
    let ms = Arc::new(ManifestStore::open(dir).unwrap());
    let t = TenantId::default_tenant();
    let window = SCRAPES / 3;
    for w in 0..3 {
        let mut m = Memtable::new();
        for h in 0..hosts {
            let labels = host_labels(h);
            let pairs: Vec<(&str, &str)> = labels.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            let mut v = (h * 37 % 100) as f64;
            let samples = (w * window..(w + 1) * window).map(|k| {
                v = (v + ((k * 7919 + h as i64 * 13) % 200) as f64 / 100.0 - 1.0).clamp(0.0, 100.0);
                Sample::new(T0 + k * STEP, v)
            });
            m.append(&t, &pairs, samples.collect::<Vec<_>>().into_iter());
        }
        let ctx = FlushContext { offsets: vec![PartitionRange { partition: 0, start: 0, end: 1 }], level: 0 };
        let files = write_files(&ms, &m.freeze(), &ctx).unwrap();
        ms.commit_flush(files, &[(0, 1)]).unwrap();
    }
    ms
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `(hostname, avg)` rows of a full-scan answer, sorted, with the exact bits.
fn answer(batches: &[datafusion::arrow::array::RecordBatch]) -> Vec<(String, u64)> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::{DataType, Float64Type};
    let mut out = Vec::new();
    for b in batches {
        let hosts = datafusion::arrow::compute::cast(b.column(0), &DataType::Utf8).unwrap();
        let avgs = b.column(1).as_primitive::<Float64Type>();
        for (h, a) in hosts.as_string::<i32>().iter().zip(avgs.values()) {
            out.push((h.unwrap().to_string(), a.to_bits()));
        }
    }
    out.sort();
    out
}

fn main() {
    let hosts = env("HOSTS", 1000);
    let threads = env("THREADS", std::thread::available_parallelism().map_or(1, |n| n.get()));
    let runs = env("RUNS", 5).max(1);
    let rounds = env("ROUNDS", 1).max(1);
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let ms = write_data(dir.path(), hosts);
    let samples = hosts as f64 * SCRAPES as f64;
    eprintln!("wrote {hosts} hosts x {SCRAPES} samples = {samples} samples in {:?}", t.elapsed());

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build().unwrap();
    let stores = Arc::new(StoreSet::single(Arc::new(Store::new(ms))));
    let source = Arc::new(StorageSource::new(stores, Arc::new(EmptyHead), None, Duration::from_secs(1)));
    let config = QuerierConfig { query_timeout_ms: 600_000, ..Default::default() };
    let state = Arc::new(QuerierState::with_source(config, source, QuerierMetrics::unregistered()));
    let engine = SqlEngine::new(state);
    let req = |sql: &str, partitions: Option<usize>| SqlRequest {
        tenant: TenantId::default_tenant(),
        sql: sql.to_string(),
        consistency: ReadConsistency::Eventual,
        timeout: None,
        partitions,
    };
    let run = |sql: &str, partitions: Option<usize>| {
        let t = Instant::now();
        let (_, batches, _) = rt.block_on(engine.run(&req(sql, partitions))).unwrap();
        (t.elapsed(), batches)
    };

    let full = "SELECT hostname, avg(value) FROM cpu_usage_user GROUP BY hostname";
    let (_, batches) = run(full, Some(threads));
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), hosts);
    let full_t = median((0..runs).map(|_| run(full, Some(threads)).0).collect());
    let per_core = samples / full_t.as_secs_f64() / threads as f64;
    println!("strata full scan: {full_t:?} median of {runs}, {threads} threads: {per_core:.3e} samples/s/core");
    if std::env::var_os("ONLY_FULL").is_some() {
        return; // profiling the full scan alone
    }

    // The same answer through the rows path: `abs` (a no-op on this data)
    // keeps the aggregate out of the scan, so DataFusion groups every row.
    let rows = "SELECT hostname, avg(abs(value)) FROM cpu_usage_user GROUP BY hostname";
    assert_eq!(answer(&run(full, Some(threads)).1), answer(&run(rows, Some(threads)).1), "pushed vs rows path");
    let rows_t = median((0..runs).map(|_| run(rows, Some(threads)).0).collect());
    let per_core = samples / rows_t.as_secs_f64() / threads as f64;
    println!("strata full scan, rows path: {rows_t:?} median of {runs}: {per_core:.3e} samples/s/core");

    let h = hosts / 2;
    let one = format!(
        "SELECT avg(value) FROM cpu_usage_user WHERE hostname = 'host_{h}' AND timestamp >= to_timestamp_millis({}) \
         AND timestamp < to_timestamp_millis({})",
        T0 + 3 * 3_600_000,
        T0 + 4 * 3_600_000
    );
    let _ = run(&one, None);
    let one_t = median((0..runs.max(20)).map(|_| run(&one, None).0).collect());
    println!("strata one host, 1 h: {one_t:?} median of {}", runs.max(20));

    // The same rows as Parquet, for DuckDB.
    let (schema, batches, _) = rt.block_on(engine.run(&req("SELECT * FROM cpu_usage_user", Some(1)))).unwrap();
    let parquet = dir.path().join("cpu_usage_user.parquet");
    std::fs::write(&parquet, Format::Parquet.encode(&schema, &batches).unwrap()).unwrap();
    let script = format!(
        "import duckdb, time, statistics\n\
         con = duckdb.connect()\ncon.execute('SET threads TO {threads}')\n\
         q = \"SELECT hostname, avg(value) FROM read_parquet('{p}') GROUP BY hostname\"\n\
         con.execute(q).fetchall()\n\
         ts = []\n\
         for _ in range({runs}):\n    t = time.perf_counter(); con.execute(q).fetchall(); ts.append(time.perf_counter() - t)\n\
         m = statistics.median(ts)\n\
         print(f'duckdb full scan: {{m*1000:.1f}} ms median of {runs}, {threads} threads: {{{samples}/m/{threads}:.3e}} samples/s/core')\n\
         print(m)\n",
        p = parquet.display()
    );
    // Rounds of the Strata full scan then DuckDB's, so each ratio compares
    // medians taken seconds apart (the machine is shared: its load moves).
    for round in 1..=rounds {
        let strata = median((0..runs).map(|_| run(full, Some(threads)).0).collect());
        let per_core = samples / strata.as_secs_f64() / threads as f64;
        println!("round {round}: strata full scan: {strata:?} median of {runs}: {per_core:.3e} samples/s/core");
        match std::process::Command::new("python3").arg("-c").arg(&script).output() {
            Ok(o) if o.status.success() => {
                let out = String::from_utf8_lossy(&o.stdout);
                let mut lines = out.lines();
                println!("round {round}: {}", lines.next().unwrap_or(""));
                if let Some(m) = lines.next().and_then(|l| l.trim().parse::<f64>().ok()) {
                    println!("round {round}: strata / duckdb time = {:.2}", strata.as_secs_f64() / m);
                }
            }
            Ok(o) => println!("duckdb: not measured ({})", String::from_utf8_lossy(&o.stderr).trim()),
            Err(e) => println!("duckdb: not measured (python3: {e})"),
        }
    }
}
