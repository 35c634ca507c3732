//! Native-histogram ingest and chunk costs against the equivalent classic
//! histogram, on the same data: [`SERIES`] latency histograms, [`BUCKETS`]
//! populated buckets at schema 3 (integer counters growing every 10 s),
//! [`SCRAPES`] scrapes. The classic form of one histogram is `BUCKETS`
//! cumulative `_bucket` series, `le="+Inf"`, `_sum` and `_count`
//! (`BUCKETS + 3` float series).
//!
//! Every group reports throughput in **bucket-samples** (`SERIES × SCRAPES ×
//! BUCKETS` for both forms: the same information), so criterion's elem/s
//! compare directly:
//! - `memtable`: what an ingester does per record sample once the series
//!   exist: `find` by canonical key, then for a native histogram decode it
//!   from the shared histogram encoding (as in a log record) and
//!   `append_histograms`; for classic, `append` one float per series.
//! - `chunk/encode`, `chunk/decode`: one series' [`SCRAPES`] histograms as a
//!   histogram chunk (`chunk::hist`, kind 3) against the `BUCKETS + 3` float
//!   chunks of the classic series.
//!
//! Run: `cargo bench -p strata-storage --bench histograms`.
use std::iter::once;

use criterion::{BatchSize, Criterion, Throughput, black_box, criterion_group, criterion_main};
use strata_common::histogram::{HistSample, Histogram, Span, codec};
use strata_common::record::encode_label_pairs;
use strata_common::varint::Cursor;
use strata_common::{Sample, TenantId};
use strata_storage::Memtable;
use strata_storage::chunk::hist::{decode_hist_chunk_range, encode_hist_chunk};
use strata_storage::chunk::{decode_chunk, encode_chunk};

const SERIES: usize = 100;
const BUCKETS: usize = 32;
/// One full histogram chunk (`MAX_HIST_CHUNK_SAMPLES`).
const SCRAPES: usize = 120;
const FIRST_BUCKET: i32 = -53;

/// Cumulative counts and sums per scrape of series `s`: a bell of request
/// latencies, every bucket growing by at least one per scrape.
fn series_states(s: usize) -> Vec<(Vec<f64>, f64)> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ s as u64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 1000) as f64 / 1000.0
    };
    let mut counts = vec![0.0; BUCKETS];
    let mut sum = 0.0;
    let centre = BUCKETS as f64 / 2.0 + (s % 5) as f64 - 2.0;
    (0..SCRAPES)
        .map(|_| {
            for (j, c) in counts.iter_mut().enumerate() {
                let w = (-((j as f64 - centre) / (BUCKETS as f64 / 5.0)).powi(2)).exp();
                let inc = (1.0 + w * 40.0 * (0.5 + rnd())).floor();
                *c += inc;
                sum += inc * 2f64.powf((FIRST_BUCKET + j as i32) as f64 / 8.0 - 1.0 / 16.0);
            }
            (counts.clone(), sum)
        })
        .collect()
}

fn native(counts: &[f64], sum: f64) -> Histogram {
    Histogram {
        integer: true,
        schema: 3,
        zero_threshold: 2.938_735_877_055_719e-39,
        count: counts.iter().sum(),
        sum,
        positive_spans: vec![Span { offset: FIRST_BUCKET, length: BUCKETS as u32 }],
        positive_buckets: counts.to_vec(),
        ..Default::default()
    }
}

/// The classic series of one histogram: (labels, value per scrape).
/// A series' labels as (name, value) pairs.
type Pairs = Vec<(String, String)>;

fn classic(s: usize, states: &[(Vec<f64>, f64)]) -> Vec<(Pairs, Vec<f64>)> {
    let labels = |name: &str, le: Option<String>| {
        let mut l = vec![
            ("__name__".to_string(), name.to_string()),
            ("instance".to_string(), format!("host-{s}")),
            ("job".to_string(), "api".to_string()),
        ];
        l.extend(le.map(|le| ("le".to_string(), le)));
        l
    };
    let mut out = Vec::new();
    for j in 0..=BUCKETS {
        let le = if j == BUCKETS {
            "+Inf".to_string()
        } else {
            2f64.powf((FIRST_BUCKET + j as i32) as f64 / 8.0).to_string()
        };
        let j = j.min(BUCKETS - 1);
        let values = states.iter().map(|(c, _)| c[..=j].iter().sum()).collect();
        out.push((labels("lat_bucket", Some(le)), values));
    }
    out.push((labels("lat_sum", None), states.iter().map(|(_, s)| *s).collect()));
    out.push((labels("lat_count", None), states.iter().map(|(c, _)| c.iter().sum()).collect()));
    out
}

fn key(labels: &[(String, String)]) -> Vec<u8> {
    let mut k = Vec::new();
    encode_label_pairs(&mut k, labels.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    k
}

fn t(scrape: usize) -> i64 {
    1_700_000_000_000 + scrape as i64 * 10_000
}

fn bench(c: &mut Criterion) {
    let states: Vec<Vec<(Vec<f64>, f64)>> = (0..SERIES).map(series_states).collect();
    let tenant = TenantId::default_tenant();
    let bucket_samples = (SERIES * SCRAPES * BUCKETS) as u64;

    // Native: per series its labels/key and, per scrape, the histogram in the
    // shared encoding (what a log record carries).
    let native_series: Vec<(Pairs, Vec<u8>, Vec<Vec<u8>>)> = states
        .iter()
        .enumerate()
        .map(|(s, st)| {
            let labels = vec![
                ("__name__".to_string(), "lat".to_string()),
                ("instance".to_string(), format!("host-{s}")),
                ("job".to_string(), "api".to_string()),
            ];
            let encoded = st
                .iter()
                .map(|(c, sum)| {
                    let mut b = Vec::new();
                    codec::encode(&native(c, *sum), &mut b);
                    b
                })
                .collect();
            let k = key(&labels);
            (labels, k, encoded)
        })
        .collect();
    let classic_series: Vec<(Pairs, Vec<u8>, Vec<f64>)> = states
        .iter()
        .enumerate()
        .flat_map(|(s, st)| classic(s, st))
        .map(|(labels, values)| {
            let k = key(&labels);
            (labels, k, values)
        })
        .collect();

    let mut g = c.benchmark_group("memtable");
    g.throughput(Throughput::Elements(bucket_samples));
    g.sample_size(20);
    g.bench_function("native/decode+append", |b| {
        b.iter_batched(
            || {
                let mut m = Memtable::new();
                let mut a = m.tenant_appender(&tenant);
                for (labels, _, _) in &native_series {
                    let l: Vec<(&str, &str)> = labels.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                    a.find_or_create(&l);
                }
                m
            },
            |mut m| {
                let mut a = m.tenant_appender(&tenant);
                for scrape in 0..SCRAPES {
                    for (_, k, encoded) in &native_series {
                        // Series were created in setup; the bench measures appends.
                        let r = a.find(k).expect("series exists");
                        let h = codec::decode(&mut Cursor::new(&encoded[scrape])).expect("valid histogram");
                        a.append_histograms(r, once(HistSample::new(t(scrape), h)));
                    }
                }
                m
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("classic/append", |b| {
        b.iter_batched(
            || {
                let mut m = Memtable::new();
                let mut a = m.tenant_appender(&tenant);
                for (labels, _, _) in &classic_series {
                    let l: Vec<(&str, &str)> = labels.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                    a.find_or_create(&l);
                }
                m
            },
            |mut m| {
                let mut a = m.tenant_appender(&tenant);
                for scrape in 0..SCRAPES {
                    for (_, k, values) in &classic_series {
                        let r = a.find(k).expect("series exists");
                        a.append(r, once(Sample::new(t(scrape), values[scrape])));
                    }
                }
                m
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();

    // Chunks of series 0: one histogram chunk against BUCKETS + 3 float chunks.
    let hist: Vec<HistSample> =
        states[0].iter().enumerate().map(|(i, (c, s))| HistSample::new(t(i), native(c, *s))).collect();
    let ts: Vec<i64> = (0..SCRAPES).map(t).collect();
    let floats: Vec<Vec<f64>> = classic(0, &states[0]).into_iter().map(|(_, v)| v).collect();
    let mut hist_chunk = Vec::new();
    encode_hist_chunk(&hist, &mut hist_chunk);
    let float_chunks: Vec<Vec<u8>> = floats
        .iter()
        .map(|v| {
            let mut out = Vec::new();
            encode_chunk(&ts, v, &mut out);
            out
        })
        .collect();
    eprintln!(
        "chunk bytes for {SCRAPES} scrapes of one {BUCKETS}-bucket histogram: native {}, classic {} ({} float chunks)",
        hist_chunk.len(),
        float_chunks.iter().map(Vec::len).sum::<usize>(),
        float_chunks.len()
    );
    let mut g = c.benchmark_group("chunk");
    g.throughput(Throughput::Elements((SCRAPES * BUCKETS) as u64));
    g.bench_function("native/encode", |b| {
        let mut out = Vec::with_capacity(hist_chunk.len() * 2);
        b.iter(|| {
            out.clear();
            encode_hist_chunk(black_box(&hist), &mut out);
            black_box(out.len())
        })
    });
    g.bench_function("classic/encode", |b| {
        let mut out = Vec::with_capacity(4096);
        b.iter(|| {
            for v in &floats {
                out.clear();
                encode_chunk(black_box(&ts), black_box(v), &mut out);
                black_box(out.len());
            }
        })
    });
    g.bench_function("native/decode", |b| {
        let mut out = Vec::with_capacity(SCRAPES);
        b.iter(|| {
            out.clear();
            // The chunk was produced by encode_hist_chunk above.
            decode_hist_chunk_range(black_box(&hist_chunk), i64::MIN, i64::MAX, &mut out).expect("valid chunk");
            black_box(out.len())
        })
    });
    g.bench_function("classic/decode", |b| {
        let mut out = Vec::with_capacity(SCRAPES);
        b.iter(|| {
            for chunk in &float_chunks {
                out.clear();
                // The chunks were produced by encode_chunk above.
                decode_chunk(black_box(chunk), &mut out).expect("valid chunk");
                black_box(out.len());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
