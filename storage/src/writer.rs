//! Writing data files: encoding a sorted set of series into the v1 layout
//! (see `docs/format/v1.md`) and flushing a frozen memtable, one file per
//! tenant, durably (temp file, fsync, rename, directory fsync).
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use roaring::RoaringBitmap;
use strata_common::Timestamp;

use crate::chunk::bits::{put_uvarint, put_varint};
use crate::chunk::{MAX_CHUNK_SAMPLES, encode_chunk};
use crate::format::{FILE_EXT, FORMAT_V1, Footer, HEADER_LEN, MAGIC, Section};
use crate::memtable::FrozenSeries;
use crate::{Error, FileMeta, FrozenMemtable, ManifestStore, PartitionRange, Result};

/// What a flush covers.
#[derive(Debug, Clone)]
pub struct FlushContext {
    /// Log ranges the frozen memtable holds, per partition.
    pub offsets: Vec<PartitionRange>,
    pub level: u32,
}

/// Summary of an encoded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStats {
    pub series: u64,
    pub samples: u64,
    pub min_t: Timestamp,
    pub max_t: Timestamp,
    pub bytes: u64,
}

/// Writes one file per tenant of `frozen` under the data directory, fsyncs
/// them (and their directory), and returns their metadata (not yet committed).
/// Tenants without samples get no file.
pub fn write_files(store: &ManifestStore, frozen: &FrozenMemtable, ctx: &FlushContext) -> Result<Vec<FileMeta>> {
    let mut metas = Vec::new();
    for tenant in frozen.tenants() {
        let series = frozen.series(&tenant);
        if series.is_empty() {
            continue;
        }
        let id = store.allocate_file_id();
        let rel = relative_path(tenant.as_str(), id);
        let stats = write_file(&store.data_dir().join(&rel), &series)?;
        metas.push(FileMeta {
            id,
            path: rel,
            tenant,
            level: ctx.level,
            min_t: stats.min_t,
            max_t: stats.max_t,
            series: stats.series,
            samples: stats.samples,
            bytes: stats.bytes,
            offsets: ctx.offsets.clone(),
        });
    }
    Ok(metas)
}

/// `files/<tenant>/<id>.strata`, relative to the data directory.
pub fn relative_path(tenant: &str, id: u64) -> String {
    format!("files/{tenant}/{id}.{FILE_EXT}")
}

/// Encodes `series` (sorted by labels, unique, each with sorted unique
/// timestamps and at least one sample) and writes them durably to `path`:
/// `<path>.tmp` is written and fsynced, renamed to `path`, and the directory
/// (and its parent, in case it was just created) fsynced.
pub fn write_file(path: &Path, series: &[FrozenSeries<'_>]) -> Result<FileStats> {
    let (bytes, stats) = encode_file(series);
    let dir = path.parent().ok_or_else(|| Error::corrupt(path, "data file path has no parent directory"))?;
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = File::create(&tmp).map_err(Error::io(&tmp))?;
        f.write_all(&bytes).map_err(Error::io(&tmp))?;
        f.sync_all().map_err(Error::io(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(Error::io(path))?;
    sync_dir(dir)?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(stats)
}

/// fsyncs a directory so a rename or create in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(Error::io(dir))
}

/// Per-chunk entry of the series table.
struct ChunkRef {
    min_t: i64,
    max_t: i64,
    count: usize,
    offset: usize,
    len: usize,
}

/// Encodes a whole file in memory (see `docs/format/v1.md`).
pub fn encode_file(series: &[FrozenSeries<'_>]) -> (Vec<u8>, FileStats) {
    debug_assert!(series.windows(2).all(|w| w[0].labels < w[1].labels), "series must be sorted and unique");
    let mut buf = Vec::with_capacity(HEADER_LEN + series.iter().map(|s| s.timestamps.len() * 2).sum::<usize>());
    buf.extend_from_slice(&MAGIC);
    buf.extend_from_slice(&FORMAT_V1.to_le_bytes());

    // Chunks.
    let mut sections = [Section::default(); 4];
    let chunks_start = buf.len();
    let (mut min_t, mut max_t, mut samples) = (i64::MAX, i64::MIN, 0u64);
    let mut chunk_refs: Vec<Vec<ChunkRef>> = Vec::with_capacity(series.len());
    for s in series {
        let n = s.timestamps.len().min(s.values.len());
        let mut refs = Vec::with_capacity(n.div_ceil(MAX_CHUNK_SAMPLES));
        for start in (0..n).step_by(MAX_CHUNK_SAMPLES) {
            let end = (start + MAX_CHUNK_SAMPLES).min(n);
            let offset = buf.len();
            encode_chunk(&s.timestamps[start..end], &s.values[start..end], &mut buf);
            let (lo, hi) = (s.timestamps[start], s.timestamps[end - 1]);
            refs.push(ChunkRef { min_t: lo, max_t: hi, count: end - start, offset, len: buf.len() - offset });
            min_t = min_t.min(lo);
            max_t = max_t.max(hi);
        }
        samples += n as u64;
        chunk_refs.push(refs);
    }
    sections[0] = section(&buf, chunks_start);

    // Symbols: every label name and value, sorted, deduplicated.
    let symbols: BTreeSet<&str> =
        series.iter().flat_map(|s| s.labels.iter()).flat_map(|l| [l.name.as_str(), l.value.as_str()]).collect();
    let symbol_ref: HashMap<&str, u64> = symbols.iter().enumerate().map(|(i, s)| (*s, i as u64)).collect();
    let start = buf.len();
    put_uvarint(&mut buf, symbols.len() as u64);
    for s in &symbols {
        put_uvarint(&mut buf, s.len() as u64);
        buf.extend_from_slice(s.as_bytes());
    }
    sections[1] = section(&buf, start);

    // Series table: count, entry offsets, entries.
    let start = buf.len();
    buf.extend_from_slice(&(series.len() as u64).to_le_bytes());
    let offsets_at = buf.len();
    buf.resize(offsets_at + 8 * series.len(), 0);
    let sym = |s: &str| symbol_ref.get(s).copied().unwrap_or(0); // every label string was collected above
    for (i, (s, refs)) in series.iter().zip(&chunk_refs).enumerate() {
        let rel = (buf.len() - start) as u64;
        buf[offsets_at + 8 * i..offsets_at + 8 * i + 8].copy_from_slice(&rel.to_le_bytes());
        put_uvarint(&mut buf, s.labels.len() as u64);
        for l in s.labels {
            put_uvarint(&mut buf, sym(&l.name));
            put_uvarint(&mut buf, sym(&l.value));
        }
        put_uvarint(&mut buf, refs.len() as u64);
        for c in refs {
            put_varint(&mut buf, c.min_t);
            put_uvarint(&mut buf, c.max_t.wrapping_sub(c.min_t) as u64);
            put_uvarint(&mut buf, c.count as u64);
            put_uvarint(&mut buf, c.offset as u64);
            put_uvarint(&mut buf, c.len as u64);
        }
    }
    sections[2] = section(&buf, start);

    // Postings: name -> value -> bitmap of series ids (positions).
    let mut postings: std::collections::BTreeMap<u64, std::collections::BTreeMap<u64, RoaringBitmap>> =
        Default::default();
    for (id, s) in series.iter().enumerate() {
        for l in s.labels {
            postings.entry(sym(&l.name)).or_default().entry(sym(&l.value)).or_default().insert(id as u32);
        }
    }
    let start = buf.len();
    put_uvarint(&mut buf, postings.len() as u64);
    let mut bitmap = Vec::new();
    for (name, values) in &postings {
        put_uvarint(&mut buf, *name);
        put_uvarint(&mut buf, values.len() as u64);
        for (value, b) in values {
            bitmap.clear();
            // Writing into a Vec cannot fail.
            let _ = b.serialize_into(&mut bitmap);
            put_uvarint(&mut buf, *value);
            put_uvarint(&mut buf, bitmap.len() as u64);
            buf.extend_from_slice(&bitmap);
        }
    }
    sections[3] = section(&buf, start);

    let footer = Footer { sections, min_t, max_t, series: series.len() as u64, samples, version: FORMAT_V1 };
    footer.encode(&mut buf);
    let stats = FileStats { series: series.len() as u64, samples, min_t, max_t, bytes: buf.len() as u64 };
    (buf, stats)
}

fn section(buf: &[u8], start: usize) -> Section {
    Section { offset: start as u64, len: (buf.len() - start) as u64, crc: crc32fast::hash(&buf[start..]) }
}
