//! Chunk encoding throughput: encodes and decodes full chunks
//! ([`MAX_CHUNK_SAMPLES`] samples) of a realistic counter (10 s interval,
//! occasional millisecond jitter, small integer increments) and of a noisy
//! gauge, reporting samples/s (criterion `Throughput::Elements`).
//!
//! Run: `cargo bench -p strata-storage --bench encoding`
//! (compile check only: `cargo check -p strata-storage --benches`).
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use strata_storage::chunk::{MAX_CHUNK_SAMPLES, decode_chunk, encode_chunk};

fn series(gauge: bool) -> (Vec<i64>, Vec<f64>) {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut t, mut v) = (1_700_000_000_000i64, 1_000.0f64);
    let mut ts = Vec::with_capacity(MAX_CHUNK_SAMPLES);
    let mut vs = Vec::with_capacity(MAX_CHUNK_SAMPLES);
    for _ in 0..MAX_CHUNK_SAMPLES {
        t += 10_000;
        let jitter = if rnd() % 10 == 0 { (rnd() % 7) as i64 - 3 } else { 0 };
        ts.push(t + jitter);
        v = if gauge { (rnd() % 10_000) as f64 / 100.0 } else { v + (rnd() % 21) as f64 };
        vs.push(v);
    }
    (ts, vs)
}

fn bench(c: &mut Criterion) {
    for (name, gauge) in [("counter", false), ("gauge", true)] {
        let (ts, vs) = series(gauge);
        let mut encoded = Vec::new();
        encode_chunk(&ts, &vs, &mut encoded);
        let mut g = c.benchmark_group(format!("chunk/{name}"));
        g.throughput(Throughput::Elements(MAX_CHUNK_SAMPLES as u64));
        g.bench_function("encode", |b| {
            let mut out = Vec::with_capacity(encoded.len() * 2);
            b.iter(|| {
                out.clear();
                encode_chunk(black_box(&ts), black_box(&vs), &mut out);
                black_box(out.len())
            })
        });
        g.bench_function("decode", |b| {
            let mut out = Vec::with_capacity(MAX_CHUNK_SAMPLES);
            b.iter(|| {
                out.clear();
                // The chunk was produced by encode_chunk just above.
                decode_chunk(black_box(&encoded), &mut out).expect("valid chunk");
                black_box(out.len())
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
