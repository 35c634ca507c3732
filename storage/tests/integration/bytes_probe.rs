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
    w.iter().map(|(l, t, v)| FrozenSeries::new(l, t, v, &[])).collect()
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

// ---------------------------------------------------------------------------
// The TSBS-like shape (issue 14): where the bytes go, format v4 against v6.
// ---------------------------------------------------------------------------

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use strata_storage::format::{FORMAT_V4, FORMAT_V6};
use strata_storage::writer::FileWriter;

use super::tsbs_data::{self, Series};

/// The 2-hour level-1 window of compaction (`level_windows_ms[0]`).
const WINDOW_MS: i64 = 7_200_000;

/// Writes `series` as one compacted file of `version` (zstd level 3, as
/// compaction) at `path`; returns its size.
fn write_compacted(path: &Path, series: &[Series], version: u32) -> u64 {
    let mut w = FileWriter::with_version(Vec::new(), 3, version).unwrap();
    for (l, t, v) in series {
        w.add_series(l, t, v).unwrap();
    }
    let (bytes, stats) = w.finish().unwrap();
    std::fs::write(path, &bytes).unwrap();
    stats.bytes
}

/// The series cut at 2-hour window edges: what compaction's level 0 → 1
/// writes (one file per window).
fn by_window(w: &[Series]) -> BTreeMap<i64, Vec<Series>> {
    let mut out: BTreeMap<i64, Vec<Series>> = BTreeMap::new();
    for (l, ts, vs) in w {
        let mut start = 0;
        while start < ts.len() {
            let win = ts[start].div_euclid(WINDOW_MS);
            let end = start + ts[start..].iter().take_while(|t| t.div_euclid(WINDOW_MS) == win).count();
            out.entry(win).or_default().push((l.clone(), ts[start..end].to_vec(), vs[start..end].to_vec()));
            start = end;
        }
    }
    out
}

/// Metric family of a series, for the breakdown.
fn family(l: &strata_common::Labels) -> String {
    let name = l.get("__name__").unwrap_or("");
    for p in ["cpu_usage_", "mem_", "net_", "diskio_"] {
        if name.starts_with(p) {
            return format!("{p}*");
        }
    }
    name.to_string()
}

/// The kind of a chunk, looking inside a zstd-wrapped one.
fn chunk_kind(bytes: &[u8]) -> (u8, bool) {
    if bytes[0] != 2 {
        return (bytes[0], false);
    }
    let mut at = 1;
    while bytes[at] & 0x80 != 0 {
        at += 1;
    }
    let raw = zstd::bulk::decompress(&bytes[at + 1..], 1 << 16).unwrap();
    (raw[0], true)
}

#[derive(Default)]
struct Tally {
    bytes: u64,
    samples: u64,
    chunks: u64,
}

/// Prints the sections and the chunk bytes per family and per kind of the files at `paths`.
fn breakdown(label: &str, paths: &[PathBuf], samples: usize) {
    let per = |b: u64| b as f64 / samples as f64;
    let total: u64 = paths.iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
    println!("  {label}: {} files, {total} bytes = {:.3} B/sample", paths.len(), per(total));
    let mut sections = [0u64; 4];
    let mut raw_sections = [0u64; 4];
    let mut fams: BTreeMap<String, Tally> = BTreeMap::new();
    let mut kinds: BTreeMap<String, Tally> = BTreeMap::new();
    for p in paths {
        let file = std::fs::read(p).unwrap();
        let footer = Footer::decode(&file[file.len() - FOOTER_LEN..]).unwrap();
        for (i, s) in footer.sections.iter().enumerate() {
            sections[i] += s.len;
            raw_sections[i] += if s.raw_len > 0 { u64::from(s.raw_len) } else { s.len };
        }
        let r = strata_storage::FileReader::open(p).unwrap();
        for id in 0..r.series_count() {
            let fam = family(&r.labels(id).unwrap());
            for c in r.chunks(id).unwrap() {
                let (kind, z) = chunk_kind(&file[c.offset..c.offset + c.len]);
                let name = ["Gorilla", "decimal", "?", "hist", "float bits"][kind as usize];
                let key = format!("{name}{}", if z { " +zstd" } else { "" });
                for t in [fams.entry(fam.clone()).or_default(), kinds.entry(key).or_default()] {
                    t.bytes += c.len as u64;
                    t.samples += u64::from(c.count);
                    t.chunks += 1;
                }
            }
        }
    }
    let fixed = total - sections.iter().sum::<u64>();
    for (i, name) in SECTION_NAMES.iter().enumerate() {
        println!("    {name:<9} {:>10} bytes {:.3} B/sample (raw {})", sections[i], per(sections[i]), raw_sections[i]);
    }
    println!("    headers+footers {fixed} bytes");
    for (k, t) in fams.iter().chain(kinds.iter()) {
        println!(
            "    {k:<40} {:>10} bytes {:>9} samples {:>7} chunks {:6.3} B/its sample {:.3} B/sample overall",
            t.bytes,
            t.samples,
            t.chunks,
            t.bytes as f64 / t.samples as f64,
            per(t.bytes)
        );
    }
}

/// Bits Chimp (Liakos et al., VLDB 2022; without the 128-value reference
/// window, which finds nothing to reuse in values that never repeat) would
/// spend on `vs` after the first value.
fn chimp_bits(vs: &[f64]) -> u64 {
    const ROUND: [u32; 8] = [0, 8, 12, 16, 18, 20, 22, 24];
    let round = |l: u32| ROUND.iter().rev().find(|&&r| r <= l).copied().unwrap_or(0);
    let (mut bits, mut prev_lead) = (64u64, u32::MAX);
    for w in vs.windows(2) {
        let x = w[0].to_bits() ^ w[1].to_bits();
        let lead = round(x.leading_zeros());
        let trail = x.trailing_zeros();
        bits += if x == 0 {
            2
        } else if trail > 6 {
            2 + 3 + 6 + u64::from(64 - lead - trail)
        } else if lead == prev_lead {
            2 + u64::from(64 - lead)
        } else {
            2 + 3 + u64::from(64 - lead)
        };
        prev_lead = if x == 0 || trail > 6 { prev_lead } else { lead };
    }
    bits
}

/// Bits of the Gorilla (v1) chunk encoding of `vs` in 240-sample chunks, values only.
fn gorilla_value_bits(ts: &[i64], vs: &[f64]) -> u64 {
    let mut with = Vec::new();
    let mut zero = Vec::new();
    for (t, v) in ts.chunks(240).zip(vs.chunks(240)) {
        strata_storage::chunk::encode_chunk(t, v, &mut with);
        strata_storage::chunk::encode_chunk(t, &vec![0.0; v.len()], &mut zero);
    }
    8 * (with.len() - zero.len()) as u64 + 64 * ts.len().div_ceil(240) as u64
}

/// ALP's fallback for doubles that are not decimals (ALP_RD, Afroozeh et
/// al., SIGMOD 2024), estimated: per 1024 values, the right `r` bits stored
/// as is and the left `64 - r` (at most 16) through a dictionary of at most
/// 8 entries (3 bits each) plus exceptions (16 + 16 bits); the best `r`.
fn alp_rd_bits(vs: &[f64]) -> u64 {
    vs.chunks(1024)
        .map(|c| {
            (48..=63u32)
                .map(|r| {
                    let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
                    for v in c {
                        *counts.entry(v.to_bits() >> r).or_default() += 1;
                    }
                    let mut top: Vec<u64> = counts.values().copied().collect();
                    top.sort_unstable_by(|a, b| b.cmp(a));
                    let exceptions: u64 = top.iter().skip(8).sum();
                    c.len() as u64 * (u64::from(r) + 3) + exceptions * 32 + 8 * (64 - u64::from(r))
                })
                .min()
                .unwrap_or(0)
        })
        .sum()
}

/// Full scan of every series of the files through `FileReader`: best of 5, M samples/s.
fn scan_rate(paths: &[PathBuf], samples: usize) -> f64 {
    let readers: Vec<_> = paths.iter().map(|p| strata_storage::FileReader::open(p).unwrap()).collect();
    let mut out = Vec::with_capacity(1024);
    let best = (0..5)
        .map(|_| {
            let t = std::time::Instant::now();
            let mut n = 0;
            let mut sum = 0.0;
            for r in &readers {
                for id in 0..r.series_count() {
                    out.clear();
                    r.samples(id, i64::MIN, i64::MAX, &mut out).unwrap();
                    n += out.len();
                    sum += out.iter().map(|s| s.v).sum::<f64>();
                }
            }
            assert_eq!(n, samples);
            std::hint::black_box(sum);
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min);
    samples as f64 / best / 1e6
}

/// Writes `w` as compaction would (one file per 2-hour window) in v4 and
/// in v6, prints both breakdowns and decode rates, checks every sample.
fn compare_formats(dir: &Path, w: &[Series]) -> (u64, u64) {
    let samples: usize = w.iter().map(|s| s.1.len()).sum();
    let windows = by_window(w);
    let mut totals = Vec::new();
    for (name, version) in [("v4", FORMAT_V4), ("v6", FORMAT_V6)] {
        let paths: Vec<PathBuf> = windows
            .iter()
            .map(|(win, series)| {
                let p = dir.join(format!("{name}-{win}.strata"));
                write_compacted(&p, series, version);
                p
            })
            .collect();
        breakdown(&format!("compacted, format {name}"), &paths, samples);
        println!("    full scan: {:.1} M samples/s", scan_rate(&paths, samples));
        // Every sample, bit for bit.
        let mut got: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
        for p in &paths {
            let r = strata_storage::FileReader::open(p).unwrap();
            let mut out = Vec::new();
            for id in 0..r.series_count() {
                out.clear();
                r.samples(id, i64::MIN, i64::MAX, &mut out).unwrap();
                got.entry(format!("{:?}", r.labels(id).unwrap()))
                    .or_default()
                    .extend(out.iter().map(|s| (s.t, s.v.to_bits())));
            }
        }
        for (l, ts, vs) in w {
            let want: Vec<(i64, u64)> = ts.iter().zip(vs).map(|(&t, v)| (t, v.to_bits())).collect();
            assert_eq!(got[&format!("{l:?}")], want);
        }
        totals.push(paths.iter().map(|p| std::fs::metadata(p).unwrap().len()).sum::<u64>());
    }
    (totals[0], totals[1])
}

/// zstd over blocks of consecutive series' chunks (the alternative to
/// per-chunk zstd), on the v6 chunk encoding without per-chunk zstd: bytes,
/// and the cost of a point read (one series) when its whole block must be
/// decompressed first.
fn block_zstd(w: &[Series], samples: usize) {
    let per = |b: usize| b as f64 / samples as f64;
    let per_series: Vec<Vec<u8>> = w
        .iter()
        .map(|(_, ts, vs)| {
            let (mut out, mut at) = (Vec::new(), 0);
            while at < ts.len() {
                at += strata_storage::chunk::v6::encode_next_chunk_v6(&ts[at..], &vs[at..], &mut out);
            }
            out
        })
        .collect();
    let raw: usize = per_series.iter().map(Vec::len).sum();
    let mut cctx = zstd::bulk::Compressor::new(3).unwrap();
    let mut z = Vec::new();
    let per_chunk: usize = per_series
        .iter()
        .map(|s| {
            strata_storage::chunk::v3::compress_chunk(s, &mut cctx, &mut z);
            z.len()
        })
        .sum();
    println!(
        "  v6 chunk data: raw {raw} ({:.3} B/sample); zstd -3 per series where smaller {per_chunk} ({:.3})",
        per(raw),
        per(per_chunk)
    );
    for group in [16, 64, 256] {
        let blocks: Vec<Vec<u8>> =
            per_series.chunks(group).map(|g| zstd::bulk::compress(&g.concat(), 3).unwrap()).collect();
        let z: usize = blocks.iter().map(Vec::len).sum();
        // Point read: decompress one block (then decode one series, as today).
        let t = std::time::Instant::now();
        let mut n = 0;
        for b in blocks.iter().cycle().take(200) {
            n += zstd::bulk::decompress(b, 1 << 26).unwrap().len();
        }
        let block_us = t.elapsed().as_secs_f64() / 200.0 * 1e6;
        std::hint::black_box(n);
        println!(
            "  zstd -3 per {group} series: {z} ({:.3} B/sample for chunks); a point read first decompresses {:.0} KiB: {block_us:.0} µs",
            per(z),
            (raw / per_series.len() * group) as f64 / 1024.0
        );
    }
}

#[test]
#[ignore = "measurement probe; prints a breakdown of the TSBS-like shape, v4 against v6"]
fn tsbs_breakdown() {
    let hosts: usize = std::env::var("PROBE_HOSTS").ok().and_then(|h| h.parse().ok()).unwrap_or(200);
    // 2 hours, starting an hour into a 2-hour window: two level-1 files,
    // as loadgen's `now - 2 h` start gives (at a random split).
    let t0 = 1_700_000_000_000i64.div_euclid(WINDOW_MS) * WINDOW_MS + WINDOW_MS / 2;
    let w = tsbs_data::workload(hosts, 720, t0);
    let samples: usize = w.iter().map(|s| s.1.len()).sum();
    let per = |b: u64| b as f64 / samples as f64;
    println!("TSBS-like: {hosts} hosts × 51 series × 720 scrapes = {samples} samples, {} series", w.len());

    // Level 0: what a flush writes (v2, one file for everything here).
    let (flush, _) = encode_file(&frozen(&w));
    println!("  flush file (v2, one file): {} bytes = {:.3} B/sample", flush.len(), per(flush.len() as u64));

    // The entropy floor of the cpu random walks and what the codecs spend on them.
    let (mut floor, mut cpu_n, mut gorilla, mut chimp, mut alp) = (0.0f64, 0u64, 0u64, 0u64, 0u64);
    for (l, ts, vs) in w.iter().filter(|s| family(&s.0) == "cpu_usage_*") {
        let _ = l;
        floor += 64.0 + vs.windows(2).map(|p| tsbs_data::walk_step_bits(p[0], p[1])).sum::<f64>();
        cpu_n += vs.len() as u64;
        gorilla += gorilla_value_bits(ts, vs);
        chimp += chimp_bits(vs);
        alp += alp_rd_bits(vs);
    }
    let bps = |bits: f64| bits / cpu_n as f64;
    println!(
        "  cpu gauges ({cpu_n} samples), value bits/sample: entropy floor {:.2}, Gorilla {:.2}, Chimp {:.2}, ALP_RD ≈ {:.2}",
        bps(floor),
        bps(gorilla as f64),
        bps(chimp as f64),
        bps(alp as f64)
    );
    // Packings of the kind-4 deltas of the cpu gauges (1024-sample chunks):
    // one width per chunk, per miniblock of B, patched (PFOR) 64-blocks,
    // and each delta at its own bit length (+ 6 bits to say it).
    let zz = |d: i64| ((d << 1) ^ (d >> 63)) as u64;
    let wid = |x: u64| 64 - x.leading_zeros() as u64;
    let mut costs: BTreeMap<String, u64> = BTreeMap::new();
    for (_, _, vs) in w.iter().filter(|s| family(&s.0) == "cpu_usage_*") {
        for c in vs.chunks(1024) {
            let xs: Vec<i64> = c.iter().map(|v| strata_storage::chunk::v6::ordered(v.to_bits())).collect();
            let ds: Vec<u64> = xs.windows(2).map(|p| zz(p[1].wrapping_sub(p[0]))).collect();
            let maxw = |b: &[u64]| b.iter().map(|&x| wid(x)).max().unwrap_or(0);
            *costs.entry("a one width per chunk".into()).or_default() += 64 + ds.len() as u64 * maxw(&ds);
            for b in [16usize, 32, 64, 128] {
                let bits: u64 = ds.chunks(b).map(|m| 7 + m.len() as u64 * maxw(m)).sum();
                *costs.entry(format!("b miniblocks of {b:>3}")).or_default() += 64 + bits;
            }
            let pfor: u64 = ds
                .chunks(64)
                .map(|m| {
                    let top = maxw(m);
                    (0..=top)
                        .map(|bw| {
                            let e = m.iter().filter(|&&x| wid(x) > bw).count() as u64;
                            14 + 6 + m.len() as u64 * bw + e * (6 + top - bw)
                        })
                        .min()
                        .unwrap_or(0)
                })
                .sum();
            *costs.entry("c patched 64-blocks".into()).or_default() += 64 + pfor;
            *costs.entry("d own length each".into()).or_default() += 64 + ds.iter().map(|&x| wid(x) + 6).sum::<u64>();
        }
    }
    for (k, v) in &costs {
        println!("    cpu kind-4 values, {k}: {:.2} bits/sample", *v as f64 / cpu_n as f64);
    }
    println!(
        "  cpu floor over all samples: {:.3} B/sample ({} bytes)",
        floor / 8.0 / samples as f64,
        (floor / 8.0) as u64
    );

    let dir = tempfile::tempdir().unwrap();
    let (v4, v6) = compare_formats(dir.path(), &w);
    println!(
        "  v4 {v4} → v6 {v6} bytes: {:.3} → {:.3} B/sample ({:+.1} %)",
        per(v4),
        per(v6),
        100.0 * (v6 as f64 / v4 as f64 - 1.0)
    );
    block_zstd(&w, samples);
}

#[test]
#[ignore = "measurement probe; the loadgen (low-entropy) workload, v4 against v6"]
fn loadgen_v4_v6() {
    let w = workload(100, 720);
    let samples: usize = w.iter().map(|s| s.1.len()).sum();
    let per = |b: u64| b as f64 / samples as f64;
    println!("loadgen workload: {samples} samples, {} series", w.len());
    let dir = tempfile::tempdir().unwrap();
    let (v4, v6) = compare_formats(dir.path(), &w);
    println!(
        "  v4 {v4} → v6 {v6} bytes: {:.3} → {:.3} B/sample ({:+.1} %)",
        per(v4),
        per(v6),
        100.0 * (v6 as f64 / v4 as f64 - 1.0)
    );
}
