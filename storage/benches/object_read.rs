//! Whole-file download vs ranged GETs for the querier's object storage
//! cache, against a real S3-compatible server (moto, started here; see
//! `strata_storage::object::test_server`).
//!
//! One file of 1,000 series × 720 samples (2 h at 10 s). A query reading
//! `k` of its series costs, per strategy:
//! - `whole_file`: one GET of the file to the cache directory, open +
//!   validate, decode the `k` series (what `ObjectFileCache` does on a miss);
//! - `ranged`: GET the footer, GET the index sections (symbols, series,
//!   postings), then one ranged GET per series' chunks — request pattern
//!   only, no decoding (in its favour).
//!
//! Run: `cargo bench -p strata-storage --bench object_read` (needs `moto_server`).
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, black_box, criterion_group, criterion_main};
use strata_common::TenantId;
use strata_storage::format::{FOOTER_LEN, Footer, SECTION_SYMBOLS};
use strata_storage::object::test_server::S3Server;
use strata_storage::object::{Bucket, ObjectMetrics};
use strata_storage::{FileReader, FlushContext, ManifestStore, Memtable, PartitionRange, write_files};

const SERIES: usize = 1_000;
const SAMPLES: i64 = 720;

fn bench(c: &mut Criterion) {
    let s3 = S3Server::start();
    s3.create_bucket("bench");
    let bucket = Arc::new(Bucket::connect(&s3.config("bench", "b"), ObjectMetrics::default()).expect("bucket"));
    let dir = tempfile::tempdir().expect("tempdir");
    let ms = ManifestStore::open(dir.path()).expect("manifest");
    let mut m = Memtable::new();
    let tenant = TenantId::new("t").expect("tenant");
    for s in 0..SERIES {
        let id = format!("{s:04}");
        let samples = (0..SAMPLES).map(|i| strata_common::Sample::new(1_700_000_000_000 + i * 10_000, (i * 3) as f64));
        m.append(&tenant, &[("__name__", "requests_total"), ("series", id.as_str())], samples);
    }
    let ctx = FlushContext { offsets: vec![PartitionRange { partition: 0, start: 0, end: 1 }], level: 0 };
    let files = write_files(&ms, &m.freeze(), &ctx).expect("write");
    let rel = files[0].path.clone();
    let local = dir.path().join(&rel);
    bucket.put_file(&rel, &local).expect("upload");
    let bytes = std::fs::read(&local).expect("read");
    let len = bytes.len() as u64;
    let footer = Footer::decode(&bytes[bytes.len() - FOOTER_LEN..]).expect("footer");
    let index_start = footer.sections[SECTION_SYMBOLS].offset;
    let reader = FileReader::open(&local).expect("open");
    println!("file: {len} bytes, index {} bytes", len - FOOTER_LEN as u64 - index_start);

    let cache = tempfile::tempdir().expect("tempdir");
    let mut g = c.benchmark_group("object_read");
    g.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    for k in [1u32, 10, 100] {
        g.bench_with_input(BenchmarkId::new("whole_file", k), &k, |b, &k| {
            b.iter(|| {
                let dest = cache.path().join("f.strata");
                bucket.download(&rel, &dest).expect("download");
                let r = FileReader::open(&dest).expect("open");
                let mut out = Vec::new();
                for id in 0..k {
                    r.samples(id, i64::MIN, i64::MAX, &mut out).expect("samples");
                }
                black_box(out.len())
            })
        });
        g.bench_with_input(BenchmarkId::new("ranged", k), &k, |b, &k| {
            b.iter(|| {
                let mut n = bucket.get_range(&rel, len - FOOTER_LEN as u64..len).expect("footer").len();
                n += bucket.get_range(&rel, index_start..len - FOOTER_LEN as u64).expect("index").len();
                for id in 0..k {
                    let chunks = reader.chunks(id).expect("chunks");
                    let (lo, hi) = (chunks[0].offset, chunks.last().map_or(0, |c| c.offset + c.len));
                    n += bucket.get_range(&rel, lo as u64..hi as u64).expect("chunk").len();
                }
                black_box(n)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
