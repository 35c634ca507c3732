//! Where the bytes of a compacted file go, on the loadgen `--mode disk`
//! workload (100 hosts × 26 series × 720 scrapes, 10 s apart; the same
//! value generators as `benches/src/workload.rs`), and what an entropy
//! coder (zstd) over the chunk data would save.
//!
//! Run: `cargo test --release -p strata-storage --test integration bytes_probe -- --ignored --nocapture`
use strata_common::Labels;
use strata_storage::FrozenSeries;
use strata_storage::format::{FOOTER_LEN, Footer, SECTION_NAMES};
use strata_storage::writer::encode_file;

pub const BUCKETS: [&str; 8] = ["0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "+Inf"];

fn noise(a: usize, b: usize, c: usize) -> f64 {
    let mut x =
        (a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (b as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F) ^ c as u64;
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// The loadgen workload: (labels, timestamps, values) per series, sorted by labels.
pub fn workload(hosts: usize, scrapes: usize) -> Vec<(Labels, Vec<i64>, Vec<f64>)> {
    let t0 = 1_700_000_000_000i64;
    let ts: Vec<i64> = (0..scrapes).map(|s| t0 + s as i64 * 10_000).collect();
    let mut out = Vec::new();
    for h in 0..hosts {
        let host = format!("host-{h:05}");
        let dc = ["eu-west", "us-east", "ap-south"][h % 3];
        let mut push = |pairs: &[(&str, &str)], v: &dyn Fn(usize) -> f64| {
            let mut p: Vec<(&str, &str)> = pairs.to_vec();
            p.push(("host", &host));
            p.push(("dc", dc));
            let labels = Labels::from_pairs(p).unwrap();
            out.push((labels, ts.clone(), (0..scrapes).map(v).collect()));
        };
        for cpu in 0..10 {
            let c = cpu.to_string();
            push(&[("__name__", "cpu_usage_percent"), ("cpu", &c), ("job", "node")], &|s| {
                (20.0 + 60.0 * noise(h, cpu, s)).round()
            });
        }
        for (i, dev) in ["eth0", "eth1"].iter().enumerate() {
            push(&[("__name__", "node_network_receive_bytes_total"), ("device", dev), ("job", "node")], &|s| {
                s as f64 * (1000.0 + 100.0 * (h % 7) as f64) * (i + 1) as f64
            });
        }
        for (i, (code, method)) in [("200", "GET"), ("200", "POST"), ("500", "GET"), ("500", "POST")].iter().enumerate()
        {
            let rate = if *code == "200" { 10.0 } else { 0.1 };
            push(&[("__name__", "http_requests_total"), ("code", code), ("method", method), ("job", "api")], &|s| {
                (s as f64 * rate * (1 + i + h % 5) as f64).floor()
            });
        }
        for (i, le) in BUCKETS.iter().enumerate() {
            let share = ((i + 1) as f64 / BUCKETS.len() as f64).sqrt();
            push(&[("__name__", "http_request_duration_seconds_bucket"), ("le", le), ("job", "api")], &|s| {
                (s as f64 * 50.0 * share).floor()
            });
        }
        push(&[("__name__", "http_request_duration_seconds_sum"), ("job", "api")], &|s| s as f64 * 50.0 * 0.12);
        push(&[("__name__", "http_request_duration_seconds_count"), ("job", "api")], &|s| s as f64 * 50.0);
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn frozen(w: &[(Labels, Vec<i64>, Vec<f64>)]) -> Vec<FrozenSeries<'_>> {
    w.iter().map(|(l, t, v)| FrozenSeries { labels: l, timestamps: t, values: v, histograms: &[] }).collect()
}

#[test]
#[ignore = "measurement probe; prints a breakdown"]
fn bytes_breakdown() {
    let w = workload(100, 720);
    let samples: usize = w.iter().map(|s| s.1.len()).sum();
    let (file, _) = encode_file(&frozen(&w));
    let footer = Footer::decode(&file[file.len() - FOOTER_LEN..]).unwrap();
    let per = |b: u64| b as f64 / samples as f64;
    println!(
        "{samples} samples, {} series, file {} bytes = {:.3} B/sample",
        w.len(),
        file.len(),
        per(file.len() as u64)
    );
    for (i, s) in footer.sections.iter().enumerate() {
        println!("  {:<9} {:>9} bytes {:.3} B/sample", SECTION_NAMES[i], s.len, per(s.len));
    }
    // Values' share: the same file with every value 0.
    let zeros: Vec<_> = w.iter().map(|(l, t, v)| (l.clone(), t.clone(), vec![0.0; v.len()])).collect();
    let (zf, _) = encode_file(&frozen(&zeros));
    let zc = Footer::decode(&zf[zf.len() - FOOTER_LEN..]).unwrap().sections[0].len;
    let chunks = footer.sections[0].len;
    println!(
        "  chunks without values (timestamps + heads) {zc}, values ≈ {} ({:.3} B/sample)",
        chunks - zc,
        per(chunks - zc)
    );
    // Per metric family.
    let mut fam: std::collections::BTreeMap<String, u64> = Default::default();
    for s in &w {
        let (f, _) = encode_file(&frozen(std::slice::from_ref(s)));
        let c = Footer::decode(&f[f.len() - FOOTER_LEN..]).unwrap().sections[0].len;
        *fam.entry(s.0.get("__name__").unwrap_or("").to_string()).or_default() += c;
    }
    for (k, v) in fam {
        println!("  chunks of {k:<40} {v:>8}");
    }
    // Format v4 (what compaction writes): zstd per chunk and per index
    // section, each where smaller.
    let mut v4 = strata_storage::writer::FileWriter::with_zstd(Vec::new(), Some(3)).unwrap();
    for (l, t, v) in &w {
        v4.add_series(l, t, v).unwrap();
    }
    let (v4, _) = v4.finish().unwrap();
    let f4 = Footer::decode(&v4[v4.len() - FOOTER_LEN..]).unwrap();
    println!("  v4 (zstd -3 per chunk and index section): file {} = {:.3} B/sample", v4.len(), per(v4.len() as u64));
    for (i, s) in f4.sections.iter().enumerate() {
        let raw = if s.raw_len > 0 { format!(" (raw {})", s.raw_len) } else { String::new() };
        println!("    {:<9} {:>9} bytes{raw} {:.3} B/sample", SECTION_NAMES[i], s.len, per(s.len));
    }
    // zstd over the chunk data: per series, and over blocks of series.
    let data = &file[footer.sections[0].offset as usize..(footer.sections[0].offset + chunks) as usize];
    let mut off = 0;
    let mut per_series = Vec::new();
    for s in &w {
        let (f, _) = encode_file(&frozen(std::slice::from_ref(s)));
        let c = Footer::decode(&f[f.len() - FOOTER_LEN..]).unwrap().sections[0].len as usize;
        per_series.push(&data[off..off + c]);
        off += c;
    }
    assert_eq!(off, data.len());
    for level in [3, 9, 19] {
        let z: usize = per_series.iter().map(|c| zstd::bulk::compress(c, level).unwrap().len().min(c.len() + 1)).sum();
        println!("  zstd -{level} per series: {z} ({:.3} B/sample for chunks)", per(z as u64));
        for group in [16, 64, 256] {
            let z: usize =
                per_series.chunks(group).map(|g| zstd::bulk::compress(&g.concat(), level).unwrap().len()).sum();
            println!("  zstd -{level} per {group} series: {z} ({:.3} B/sample for chunks)", per(z as u64));
        }
    }
}

/// Parquet against the custom format on the same samples: bytes/sample and
/// full-decode samples/s (one thread). Columns `series_id u32`, `timestamp
/// i64` (DELTA_BINARY_PACKED), `value f64` (BYTE_STREAM_SPLIT), zstd -3,
/// sorted by (series, time): the layout an Arrow/Parquet-based TSDB uses.
#[test]
#[ignore = "measurement probe; prints Parquet vs v4"]
fn parquet_comparison() {
    use std::sync::Arc;
    use std::time::Instant;

    use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, UInt32Array};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::basic::{Compression, Encoding, ZstdLevel};
    use parquet::file::properties::WriterProperties;

    let w = workload(100, 720);
    let samples: usize = w.iter().map(|s| s.1.len()).sum();
    let per = |b: usize| b as f64 / samples as f64;

    // Strata v4 file (what compaction writes), scanned through FileReader.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.strata");
    let mut f = strata_storage::writer::DurableFile::create_with(&path, Some(3)).unwrap();
    for (l, t, v) in &w {
        f.writer().add_series(l, t, v).unwrap();
    }
    let stats = f.commit().unwrap();
    // The same samples as a v2 file (what flushes write).
    let path2 = dir.path().join("f2.strata");
    let mut f = strata_storage::writer::DurableFile::create(&path2).unwrap();
    for (l, t, v) in &w {
        f.writer().add_series(l, t, v).unwrap();
    }
    let stats2 = f.commit().unwrap();
    let mut out = Vec::with_capacity(1024);
    let best = |f: &mut dyn FnMut() -> f64| (0..7).map(|_| f()).fold(f64::MAX, f64::min);
    let mut scan = |p: &std::path::Path| {
        let reader = strata_storage::FileReader::open(p).unwrap();
        best(&mut || {
            let t = Instant::now();
            let mut n = 0;
            let mut sum = 0.0;
            for id in 0..reader.series_count() {
                out.clear();
                reader.samples(id, i64::MIN, i64::MAX, &mut out).unwrap();
                n += out.len();
                sum += out.iter().map(|s| s.v).sum::<f64>();
            }
            assert_eq!(n, samples);
            std::hint::black_box(sum);
            t.elapsed().as_secs_f64()
        })
    };
    let strata_s = scan(&path);
    let strata2_s = scan(&path2);

    // Parquet.
    let schema = Arc::new(Schema::new(vec![
        Field::new("series_id", DataType::UInt32, false),
        Field::new("timestamp", DataType::Int64, false),
        Field::new("value", DataType::Float64, false),
    ]));
    let ids: Vec<u32> = w.iter().enumerate().flat_map(|(i, s)| std::iter::repeat_n(i as u32, s.1.len())).collect();
    let ts: Vec<i64> = w.iter().flat_map(|s| s.1.iter().copied()).collect();
    let vs: Vec<f64> = w.iter().flat_map(|s| s.2.iter().copied()).collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(UInt32Array::from(ids)), Arc::new(Int64Array::from(ts)), Arc::new(Float64Array::from(vs))],
    )
    .unwrap();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap()))
        .set_column_dictionary_enabled("timestamp".into(), false)
        .set_column_encoding("timestamp".into(), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled("value".into(), false)
        .set_column_encoding("value".into(), Encoding::BYTE_STREAM_SPLIT)
        .build();
    let mut buf = Vec::new();
    let mut pw = ArrowWriter::try_new(&mut buf, schema, Some(props)).unwrap();
    pw.write(&batch).unwrap();
    pw.close().unwrap();
    let pq = bytes::Bytes::from(buf);
    let parquet_s = best(&mut || {
        let t = Instant::now();
        let r = ParquetRecordBatchReaderBuilder::try_new(pq.clone()).unwrap().build().unwrap();
        let mut n = 0;
        let mut sum = 0.0;
        for b in r {
            let b = b.unwrap();
            n += b.num_rows();
            let v = b.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
            sum += v.values().iter().sum::<f64>();
            std::hint::black_box(b.column(1).len());
        }
        assert_eq!(n, samples);
        std::hint::black_box(sum);
        t.elapsed().as_secs_f64()
    });
    println!("{samples} samples, {} series (one file each; labels/index only in Strata's)", w.len());
    println!(
        "  strata v2: {} bytes {:.3} B/sample, decode {:.1} M samples/s",
        stats2.bytes,
        per(stats2.bytes as usize),
        samples as f64 / strata2_s / 1e6
    );
    println!(
        "  strata v4: {} bytes {:.3} B/sample, decode {:.1} M samples/s",
        stats.bytes,
        per(stats.bytes as usize),
        samples as f64 / strata_s / 1e6
    );
    println!(
        "  parquet  : {} bytes {:.3} B/sample, decode {:.1} M samples/s",
        pq.len(),
        per(pq.len()),
        samples as f64 / parquet_s / 1e6
    );
}
