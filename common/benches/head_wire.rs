//! Encoding and decoding a heavy head-read answer (`strata_common::head::wire`):
//! what an ingester spends turning its heads into an Arrow IPC stream and a
//! querier turning it back into series, for a dashboard aggregation whose
//! data sits in the heads: 1,000 TSBS-like series (12 labels each) × 6 h at
//! 10 s (2,160 samples each, 2.16 M samples, random-walk floats).
//!
//! `cargo bench -p strata-common --bench head_wire`
//!
//! `step_hint_60s_then_encode` (clone, drop what a 60 s step grid of an
//! instant selector does not look at, encode) is read against `clone_only`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strata_common::head::wire::{ReadStreamEncoder, decode_read_response, encode_read_response, encode_read_stream};
use strata_common::head::{HeadReadResponse, HeadSeries, StepHint};
use strata_common::{Labels, Sample};

const SERIES: usize = 1_000;
const SAMPLES: usize = 2_160;

fn answer() -> HeadReadResponse {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let series = (0..SERIES)
        .map(|i| {
            let host = format!("host_{i}");
            let pairs = [
                ("__name__", "cpu_usage_user".to_string()),
                ("arch", "x64".into()),
                ("datacenter", format!("dc{}", i % 7)),
                ("hostname", host.clone()),
                ("instance", format!("{host}:9100")),
                ("job", "node".into()),
                ("os", "Ubuntu16.10".into()),
                ("rack", format!("{}", i % 100)),
                ("region", format!("region{}", i % 9)),
                ("service", format!("{}", i % 20)),
                ("service_environment", "production".into()),
                ("team", "SF".into()),
            ];
            let mut v = 50.0;
            let samples = (0..SAMPLES)
                .map(|k| {
                    v = (v + next() - 0.5).clamp(0.0, 100.0);
                    Sample::new(1_700_000_000_000 + k as i64 * 10_000, v)
                })
                .collect();
            HeadSeries { labels: Labels::from_pairs(pairs).expect("labels"), samples, histograms: Vec::new() }
        })
        .collect();
    let mut r = HeadReadResponse { series, base_offsets: vec![(0, 1)] };
    r.series.sort_by(|a, b| a.labels.cmp(&b.labels));
    r
}

fn bench(c: &mut Criterion) {
    let answer = answer();
    let encoded = encode_read_response(&answer).expect("encode");
    let mut g = c.benchmark_group("head_wire_1000x2160");
    g.sample_size(20);
    g.throughput(Throughput::Elements((SERIES * SAMPLES) as u64));
    g.bench_function("encode", |b| b.iter(|| black_box(encode_read_response(&answer).expect("encode"))));
    // What an ingester does: each piece goes to the connection as it is
    // encoded (here: dropped), no whole-answer buffer.
    g.bench_function("encode_streamed", |b| {
        b.iter(|| {
            let encoder = ReadStreamEncoder::for_response(&answer).expect("encoder");
            let mut bytes = 0;
            encode_read_stream(&answer, encoder, |piece| {
                bytes += piece.len();
                Ok(())
            })
            .expect("encode");
            black_box(bytes)
        })
    });
    g.bench_function("decode", |b| b.iter(|| black_box(decode_read_response(&encoded).expect("decode"))));
    // `avg by (hostname) (cpu_usage_user)` at a 60 s step: the ingester keeps
    // the latest sample per step (one in six) before encoding.
    let steps = StepHint {
        first: 1_700_000_000_000 + 300_000,
        last: 1_700_000_000_000 + (SAMPLES as i64 - 1) * 10_000,
        step: 60_000,
        range: 300_000,
        latest_only: true,
    };
    g.bench_function("step_hint_60s_then_encode", |b| {
        b.iter(|| {
            let mut a = answer.clone();
            a.retain_steps(&steps);
            black_box(encode_read_response(&a).expect("encode"))
        })
    });
    g.bench_function("clone_only", |b| b.iter(|| black_box(answer.clone())));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
