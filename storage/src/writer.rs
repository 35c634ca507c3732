//! Writing data files: encoding a sorted stream of series into the current
//! layout (format v2, `docs/format/v2.md`, for flushes, v5 when they hold
//! histograms; format v6, `docs/format/v6.md` = v5 plus float-bits chunks,
//! min/gcd and miniblock int blocks and implied regular timestamps, with
//! zstd-compressed chunks and index sections, for compaction outputs) and
//! flushing a frozen memtable, one file per tenant, durably (temp file,
//! fsync, rename, directory fsync).
//!
//! [`FileWriter`] streams: chunks go to the output as each series is added;
//! only the index (labels and chunk references per series, symbols and
//! postings) is kept until [`FileWriter::finish`]. Its memory is therefore
//! bounded by the number of series and their labels, not by the samples,
//! which is what lets compaction write files of any size.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use roaring::RoaringBitmap;
use strata_common::{HistSample, Labels, Timestamp};

use crate::chunk::MAX_CHUNK_SAMPLES;
use crate::chunk::bits::{put_uvarint, put_varint};
use crate::chunk::hist::{MAX_HIST_CHUNK_SAMPLES, encode_hist_chunk};
use crate::chunk::v2::{encode_chunk_v2, next_chunk_len};
use crate::chunk::v3::compress_chunk;
use crate::chunk::v6::encode_next_chunk_v6;
use crate::durable;
use crate::fault::FaultPoint;
use crate::format::{
    FILE_EXT, FOOTER_LEN, FORMAT_V2, FORMAT_V4, FORMAT_V5, FORMAT_V6, Footer, HEADER_LEN, MAGIC,
    MAX_COMPRESSED_SECTION_RAW, Section,
};
use crate::memtable::{FloatScratch, FrozenSeries};
use crate::{Error, FileMeta, FrozenMemtable, ManifestStore, PartitionRange, Result};

/// What a flush covers.
#[derive(Debug, Clone)]
pub struct FlushContext {
    /// Log ranges the frozen memtable holds, per partition.
    pub offsets: Vec<PartitionRange>,
    /// Level of the files written (0 for flushes).
    pub level: u32,
}

/// Summary of an encoded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStats {
    /// Number of series.
    pub series: u64,
    /// Number of samples.
    pub samples: u64,
    /// Smallest sample timestamp.
    pub min_t: Timestamp,
    /// Largest sample timestamp.
    pub max_t: Timestamp,
    /// File size in bytes.
    pub bytes: u64,
}

/// Writes one file per tenant of `frozen` under the data directory, fsyncs
/// them (and their directory), and returns their metadata (not yet committed).
/// Tenants without samples get no file.
///
/// On error, the files this call already wrote are removed again (they are
/// not referenced yet), so a flush failing on a full disk leaves nothing.
pub fn write_files(store: &ManifestStore, frozen: &FrozenMemtable, ctx: &FlushContext) -> Result<Vec<FileMeta>> {
    let mut metas = Vec::new();
    let result = write_files_into(store, frozen, ctx, &mut metas);
    if result.is_err() {
        remove_files(store, &metas);
        metas.clear();
    }
    result.map(|()| metas)
}

/// Removes written but uncommitted files (after a failed flush or commit).
pub fn remove_files(store: &ManifestStore, files: &[FileMeta]) {
    for f in files {
        let path = store.data_dir().join(&f.path);
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %e, "removing an uncommitted data file failed");
        }
    }
}

fn write_files_into(
    store: &ManifestStore,
    frozen: &FrozenMemtable,
    ctx: &FlushContext,
    metas: &mut Vec<FileMeta>,
) -> Result<()> {
    for tenant in frozen.tenants() {
        let series = frozen.series(&tenant);
        if series.is_empty() {
            continue;
        }
        let id = store.allocate_file_id();
        let rel = relative_path(tenant.as_str(), id);
        let path = store.data_dir().join(&rel);
        let stats = write_file(&path, &series)?;
        let meta = FileMeta {
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
            merge_order: None,
        };
        metas.push(meta);
        store.fault(FaultPoint::DataFileWritten, &path)?;
    }
    Ok(())
}

/// `files/<tenant>/<id>.strata`, relative to the data directory.
pub fn relative_path(tenant: &str, id: u64) -> String {
    format!("files/{tenant}/{id}.{FILE_EXT}")
}

/// Encodes `series` (sorted by labels, unique, each with sorted unique
/// timestamps and at least one sample) and writes them durably to `path`
/// (see [`DurableFile`]).
pub fn write_file(path: &Path, series: &[FrozenSeries<'_>]) -> Result<FileStats> {
    // Float-only files stay format v2; files with histograms are v5.
    let histograms = series.iter().any(|s| !s.histograms.is_empty());
    let mut out = DurableFile::create_for(path, None, histograms)?;
    let mut scratch = FloatScratch::default();
    for s in series {
        let (ts, vs) = s.floats(&mut scratch);
        out.writer().add_series_with_histograms(s.labels, ts, vs, s.histograms).map_err(Error::io(out.tmp_path()))?;
    }
    out.commit()
}

/// A data file being written: `<path>.tmp` through a [`FileWriter`]; on
/// [`DurableFile::commit`] it is fsynced, renamed to `path`, and the
/// directory (and its parent, in case it was just created) fsynced. Dropped
/// or failed before the rename, the temp file is removed (so a flush that
/// fails on a full disk does not keep the disk full); only a crash leaves
/// it behind, for [`ManifestStore::open`]'s cleanup.
pub struct DurableFile {
    path: PathBuf,
    tmp: TmpGuard,
    writer: FileWriter<BufWriter<File>>,
}

/// Removes the temp file on drop unless disarmed.
struct TmpGuard {
    path: PathBuf,
    armed: bool,
}

impl Drop for TmpGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl DurableFile {
    /// A format v2 file (flushes).
    pub fn create(path: &Path) -> Result<Self> {
        Self::create_with(path, None)
    }

    /// A format v6 file (compaction outputs: v6 chunks, zstd-compressed
    /// chunks and index sections at `zstd_level`), or v2 if `None`.
    pub fn create_with(path: &Path, zstd_level: Option<i32>) -> Result<Self> {
        Self::create_for(path, zstd_level, false)
    }

    /// As [`Self::create_with`]; without a zstd level, format v5 when
    /// `histograms` (series may
    /// then carry native histograms).
    pub fn create_for(path: &Path, zstd_level: Option<i32>, histograms: bool) -> Result<Self> {
        let dir = path.parent().ok_or_else(|| Error::corrupt(path, "data file path has no parent directory"))?;
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        let tmp = TmpGuard { path: durable::tmp_path(path), armed: true };
        let file = File::create(&tmp.path).map_err(Error::io(&tmp.path))?;
        let writer = FileWriter::start(BufWriter::with_capacity(1 << 20, file), zstd_level, histograms)
            .map_err(Error::io(&tmp.path))?;
        Ok(Self { path: path.to_path_buf(), tmp, writer })
    }

    /// The writer to add series with.
    pub fn writer(&mut self) -> &mut FileWriter<BufWriter<File>> {
        &mut self.writer
    }

    /// Where the file is written until [`DurableFile::commit`].
    pub fn tmp_path(&self) -> &Path {
        &self.tmp.path
    }

    /// Finishes the file and makes it durable under its final name. On
    /// error the temp file is removed.
    pub fn commit(self) -> Result<FileStats> {
        let Self { path, mut tmp, writer } = self;
        let (buf, stats) = writer.finish().map_err(Error::io(&tmp.path))?;
        let file = buf.into_inner().map_err(|e| Error::io(&tmp.path)(e.into_error()))?;
        durable::persist(file, &tmp.path, &path)?;
        tmp.armed = false;
        Ok(stats)
    }

    /// Removes the unfinished temp file (as dropping does).
    pub fn abort(self) {
        drop(self);
    }
}

/// Per-chunk entry of the series table.
struct ChunkRef {
    min_t: i64,
    max_t: i64,
    count: usize,
    offset: u64,
    len: usize,
}

/// Streams series into the current layout (see the module docs for its memory).
pub struct FileWriter<W: Write> {
    out: W,
    /// Bytes written so far (= the offset of the next byte).
    pos: u64,
    chunks_crc: crc32fast::Hasher,
    series: Vec<(Labels, Vec<ChunkRef>)>,
    /// Histogram chunk references per series (formats v5 and v6).
    hist_refs: Vec<Vec<ChunkRef>>,
    chunk: Vec<u8>,
    /// zstd compressor and output buffer: set in compressed files (v6 compaction outputs, or v4/v5 by request).
    zstd: Option<(zstd::bulk::Compressor<'static>, Vec<u8>)>,
    version: u32,
    min_t: i64,
    max_t: i64,
    samples: u64,
}

impl<W: Write> FileWriter<W> {
    /// Writes the header of a format v2 file (flushes: no entropy coder, fast).
    pub fn new(out: W) -> std::io::Result<Self> {
        Self::with_zstd(out, None)
    }

    /// Writes the header of a format v6 file whose chunks and index sections
    /// are zstd-compressed at `level` (each when that is smaller;
    /// `docs/format/v4.md`, `v6.md`), or of a v2 file when `level` is `None`.
    pub fn with_zstd(out: W, level: Option<i32>) -> std::io::Result<Self> {
        Self::start(out, level, false)
    }

    fn start(out: W, level: Option<i32>, histograms: bool) -> std::io::Result<Self> {
        let version = match (histograms, level.is_some()) {
            (_, true) => FORMAT_V6,
            (true, false) => FORMAT_V5,
            (false, false) => FORMAT_V2,
        };
        Self::start_version(out, level, version)
    }

    /// A writer of an older compressed format, for measurements and
    /// fixtures: `FORMAT_V4` (float-only) or `FORMAT_V5` with zstd at
    /// `level`; any other version gets the current choice.
    pub fn with_version(out: W, level: i32, version: u32) -> std::io::Result<Self> {
        match version {
            FORMAT_V4 | FORMAT_V5 => Self::start_version(out, Some(level), version),
            _ => Self::start(out, Some(level), false),
        }
    }

    fn start_version(mut out: W, level: Option<i32>, version: u32) -> std::io::Result<Self> {
        let zstd = level.map(|l| zstd::bulk::Compressor::new(l).map(|c| (c, Vec::new()))).transpose()?;
        out.write_all(&MAGIC)?;
        out.write_all(&version.to_le_bytes())?;
        Ok(Self {
            zstd,
            version,
            out,
            pos: HEADER_LEN as u64,
            chunks_crc: crc32fast::Hasher::new(),
            series: Vec::new(),
            hist_refs: Vec::new(),
            chunk: Vec::with_capacity(4096),
            min_t: i64::MAX,
            max_t: i64::MIN,
            samples: 0,
        })
    }

    /// Number of series added so far.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.pos
    }

    /// A writer of a file whose series may carry native histograms: format
    /// v6 with a zstd `level`, else v5 (`docs/format/v5.md`); as
    /// [`Self::with_zstd`], and series may carry native histograms
    /// ([`Self::add_series_with_histograms`]).
    pub fn with_histograms(out: W, level: Option<i32>) -> std::io::Result<Self> {
        Self::start(out, level, true)
    }

    /// Whether this writer accepts histograms (a format v5 or v6 file).
    pub fn takes_histograms(&self) -> bool {
        self.version >= FORMAT_V5
    }

    /// Appends one series with native-histogram samples (format v5 and v6
    /// writers only; strictly increasing timestamps). Histogram chunks follow the
    /// series' float chunks in the chunks section.
    pub fn add_series_with_histograms(
        &mut self,
        labels: &Labels,
        ts: &[i64],
        vs: &[f64],
        hist: &[HistSample],
    ) -> std::io::Result<()> {
        debug_assert!(hist.is_empty() || self.takes_histograms(), "histograms need a v5 writer");
        debug_assert!(hist.windows(2).all(|w| w[0].t < w[1].t), "histogram timestamps must be sorted and unique");
        self.add_floats(labels, ts, vs, !hist.is_empty())?;
        if !self.takes_histograms() {
            return Ok(());
        }
        let mut refs = Vec::with_capacity(hist.len().div_ceil(MAX_HIST_CHUNK_SAMPLES));
        for run in hist.chunks(MAX_HIST_CHUNK_SAMPLES) {
            self.chunk.clear();
            encode_hist_chunk(run, &mut self.chunk);
            self.out.write_all(&self.chunk)?;
            self.chunks_crc.update(&self.chunk);
            let (lo, hi) = (run[0].t, run[run.len() - 1].t);
            refs.push(ChunkRef { min_t: lo, max_t: hi, count: run.len(), offset: self.pos, len: self.chunk.len() });
            self.pos += self.chunk.len() as u64;
            self.min_t = self.min_t.min(lo);
            self.max_t = self.max_t.max(hi);
        }
        self.samples += hist.len() as u64;
        self.hist_refs.push(refs);
        Ok(())
    }

    /// Appends one series. Series must come in strictly increasing label
    /// order; timestamps must be strictly increasing; at least one sample.
    pub fn add_series(&mut self, labels: &Labels, ts: &[i64], vs: &[f64]) -> std::io::Result<()> {
        self.add_floats(labels, ts, vs, false)?;
        if self.takes_histograms() {
            self.hist_refs.push(Vec::new());
        }
        Ok(())
    }

    fn add_floats(&mut self, labels: &Labels, ts: &[i64], vs: &[f64], has_hist: bool) -> std::io::Result<()> {
        debug_assert!(self.series.last().is_none_or(|(l, _)| l < labels), "series must be sorted and unique");
        let n = ts.len().min(vs.len());
        debug_assert!(n > 0 || has_hist, "a series needs at least one sample");
        let mut refs = Vec::with_capacity(n.div_ceil(MAX_CHUNK_SAMPLES));
        let mut start = 0;
        while start < n {
            self.chunk.clear();
            let end = if self.version == FORMAT_V6 {
                start + encode_next_chunk_v6(&ts[start..n], &vs[start..n], &mut self.chunk)
            } else {
                let end = start + next_chunk_len(&vs[start..n]);
                encode_chunk_v2(&ts[start..end], &vs[start..end], &mut self.chunk);
                end
            };
            if let Some((cctx, z)) = &mut self.zstd {
                compress_chunk(&self.chunk, cctx, z);
                std::mem::swap(&mut self.chunk, z);
            }
            self.out.write_all(&self.chunk)?;
            self.chunks_crc.update(&self.chunk);
            let (lo, hi) = (ts[start], ts[end - 1]);
            refs.push(ChunkRef { min_t: lo, max_t: hi, count: end - start, offset: self.pos, len: self.chunk.len() });
            self.pos += self.chunk.len() as u64;
            self.min_t = self.min_t.min(lo);
            self.max_t = self.max_t.max(hi);
            start = end;
        }
        self.samples += n as u64;
        self.series.push((labels.clone(), refs));
        Ok(())
    }

    /// Writes the symbols, series and postings sections and the footer;
    /// returns the output (flushed) and the file's summary.
    pub fn finish(mut self) -> std::io::Result<(W, FileStats)> {
        let mut sections = [Section::default(); 4];
        sections[0] = Section {
            offset: HEADER_LEN as u64,
            len: self.pos - HEADER_LEN as u64,
            crc: self.chunks_crc.clone().finalize(),
            raw_len: 0,
        };
        let series = &self.series;

        // Symbols: every label name and value, sorted, deduplicated.
        let symbols: BTreeSet<&str> =
            series.iter().flat_map(|(l, _)| l.iter()).flat_map(|l| [l.name.as_str(), l.value.as_str()]).collect();
        let symbol_ref: HashMap<&str, u64> = symbols.iter().enumerate().map(|(i, s)| (*s, i as u64)).collect();
        let mut symbols_raw = Vec::new();
        put_uvarint(&mut symbols_raw, symbols.len() as u64);
        for s in &symbols {
            put_uvarint(&mut symbols_raw, s.len() as u64);
            symbols_raw.extend_from_slice(s.as_bytes());
        }

        // Series table: count, entry offsets, entries.
        let mut series_raw = Vec::new();
        series_raw.extend_from_slice(&(series.len() as u64).to_le_bytes());
        let offsets_at = series_raw.len();
        series_raw.resize(offsets_at + 8 * series.len(), 0);
        let sym = |s: &str| symbol_ref.get(s).copied().unwrap_or(0); // every label string was collected above
        for (i, (labels, refs)) in series.iter().enumerate() {
            let rel = series_raw.len() as u64;
            series_raw[offsets_at + 8 * i..offsets_at + 8 * i + 8].copy_from_slice(&rel.to_le_bytes());
            put_uvarint(&mut series_raw, labels.len() as u64);
            for l in labels.iter() {
                put_uvarint(&mut series_raw, sym(&l.name));
                put_uvarint(&mut series_raw, sym(&l.value));
            }
            let hist = self.hist_refs.get(i).filter(|_| self.version >= FORMAT_V5);
            for refs in std::iter::once(refs).chain(hist) {
                put_uvarint(&mut series_raw, refs.len() as u64);
                for c in refs {
                    put_varint(&mut series_raw, c.min_t);
                    put_uvarint(&mut series_raw, c.max_t.wrapping_sub(c.min_t) as u64);
                    put_uvarint(&mut series_raw, c.count as u64);
                    put_uvarint(&mut series_raw, c.offset);
                    put_uvarint(&mut series_raw, c.len as u64);
                }
            }
        }

        // Postings: name -> value -> bitmap of series ids (positions).
        let mut postings: BTreeMap<u64, BTreeMap<u64, RoaringBitmap>> = BTreeMap::new();
        for (id, (labels, _)) in series.iter().enumerate() {
            for l in labels.iter() {
                postings.entry(sym(&l.name)).or_default().entry(sym(&l.value)).or_default().insert(id as u32);
            }
        }
        let mut postings_raw = Vec::new();
        put_uvarint(&mut postings_raw, postings.len() as u64);
        let mut bitmap = Vec::new();
        for (name, values) in &postings {
            put_uvarint(&mut postings_raw, *name);
            put_uvarint(&mut postings_raw, values.len() as u64);
            for (value, b) in values {
                bitmap.clear();
                // Writing into a Vec cannot fail.
                let _ = b.serialize_into(&mut bitmap);
                put_uvarint(&mut postings_raw, *value);
                put_uvarint(&mut postings_raw, bitmap.len() as u64);
                postings_raw.extend_from_slice(&bitmap);
            }
        }

        // v4 (a zstd level is set): each index section as one zstd frame
        // when that is smaller (`docs/format/v4.md`).
        let mut pos = self.pos;
        for (i, raw) in [symbols_raw, series_raw, postings_raw].into_iter().enumerate() {
            let (stored, raw_len) = match self.zstd.as_mut().map(|(cctx, _)| cctx.compress(&raw)).transpose()? {
                Some(z) if z.len() < raw.len() && raw.len() as u64 <= MAX_COMPRESSED_SECTION_RAW => {
                    (z, raw.len() as u32)
                }
                _ => (raw, 0),
            };
            self.out.write_all(&stored)?;
            sections[i + 1] = Section { offset: pos, len: stored.len() as u64, crc: crc32fast::hash(&stored), raw_len };
            pos += stored.len() as u64;
        }

        let (min_t, max_t, samples) = (self.min_t, self.max_t, self.samples);
        let footer = Footer { sections, min_t, max_t, series: series.len() as u64, samples, version: self.version };
        let mut buf = Vec::with_capacity(FOOTER_LEN);
        footer.encode(&mut buf);
        self.out.write_all(&buf)?;
        self.out.flush()?;
        let bytes = pos + buf.len() as u64;
        let stats = FileStats { series: series.len() as u64, samples, min_t, max_t, bytes };
        Ok((self.out, stats))
    }
}

/// Encodes a whole file in memory (see `docs/format/v2.md`).
pub fn encode_file(series: &[FrozenSeries<'_>]) -> (Vec<u8>, FileStats) {
    let cap = HEADER_LEN + series.iter().map(|s| s.float_count() * 2).sum::<usize>();
    // Writing into a Vec cannot fail.
    let encode = || -> std::io::Result<(Vec<u8>, FileStats)> {
        let mut w = FileWriter::new(Vec::with_capacity(cap))?;
        let mut scratch = FloatScratch::default();
        for s in series {
            let (ts, vs) = s.floats(&mut scratch);
            w.add_series(s.labels, ts, vs)?;
        }
        w.finish()
    };
    encode().unwrap_or_else(|_| (Vec::new(), FileStats { series: 0, samples: 0, min_t: 0, max_t: 0, bytes: 0 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_abandoned_or_failed_file_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("files/t/1.strata");
        let f = DurableFile::create(&path).expect("create");
        let tmp = f.tmp_path().to_path_buf();
        assert!(tmp.exists());
        drop(f);
        assert!(!tmp.exists() && !path.exists(), "dropped without commit");
        // A commit that fails (its directory vanished) removes the temp file too.
        let mut f = DurableFile::create(&path).expect("create");
        f.writer().add_series(&Labels::from_pairs([("__name__", "m")]).expect("labels"), &[1], &[1.0]).expect("add");
        let tmp = f.tmp_path().to_path_buf();
        std::fs::remove_dir_all(dir.path().join("files")).expect("remove dir");
        assert!(f.commit().is_err());
        assert!(!tmp.exists());
    }
}
