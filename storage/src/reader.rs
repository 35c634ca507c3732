//! Reading data files (formats v1 to v4): memory-mapped, validated on open (header, footer,
//! section bounds and CRCs, symbol table, postings directory), decoded lazily
//! (series entries and chunks only when asked for). The index sections of a
//! v4 file that are zstd-compressed are decompressed once, at open, and kept
//! in memory with the reader.
use std::borrow::Cow;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use roaring::RoaringBitmap;
use strata_common::{HistSample, Label, Labels, Matcher, Sample, Timestamp};

use crate::chunk::bits::Cursor;
use crate::chunk::decode_chunk_range;
use crate::chunk::hist::decode_hist_chunk_range;
use crate::chunk::v2::decode_chunk_range_v2;
use crate::chunk::v3::decode_chunk_range_v3;
use crate::chunk::v6::decode_chunk_range_v6;
use crate::format::{
    FOOTER_LEN, FORMAT_V1, FORMAT_V2, FORMAT_V3, FORMAT_V4, FORMAT_V5, FORMAT_V6, Footer, HEADER_LEN, MAGIC,
    SECTION_CHUNKS, SECTION_NAMES, SECTION_POSTINGS, SECTION_SERIES, SECTION_SYMBOLS,
};
use crate::index::{self, Postings};
use crate::{Error, Result};

/// One label name's postings: (value symbol, bitmap byte range within the
/// postings section) sorted by value.
#[derive(Debug)]
struct NamePostings {
    name: u32,
    values: Vec<(u32, usize, usize)>,
}

/// Location and time range of one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    /// Timestamp of the chunk's first sample.
    pub min_t: Timestamp,
    /// Timestamp of the chunk's last sample.
    pub max_t: Timestamp,
    /// Number of samples in the chunk.
    pub count: u32,
    /// Offset of the chunk in the file.
    pub offset: usize,
    /// Length of the chunk in bytes.
    pub len: usize,
}

/// An open, immutable file.
pub struct FileReader {
    path: PathBuf,
    map: Mmap,
    /// Decompressed copies of the index sections stored compressed (v4).
    unpacked: [Option<Box<[u8]>>; 4],
    footer: Footer,
    symbols: Vec<Box<str>>,
    /// Sorted by name (symbols are sorted, so by symbol ref too).
    postings: Vec<NamePostings>,
    all: RoaringBitmap,
}

impl std::fmt::Debug for FileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileReader").field("path", &self.path).field("footer", &self.footer).finish()
    }
}

impl FileReader {
    /// Maps and validates the file at `path` (see the module docs).
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(Error::io(path))?;
        // SAFETY: data files are immutable once renamed into place: nothing
        // writes to them again, and deletion (unlink) keeps the mapping valid.
        let map = unsafe { Mmap::map(&file) }.map_err(Error::io(path))?;
        let corrupt = |reason: String| Error::corrupt(path, reason);
        let len = map.len();
        if len < HEADER_LEN + FOOTER_LEN {
            return Err(corrupt(format!("file is {len} bytes, shorter than header + footer")));
        }
        if map[..4] != MAGIC {
            return Err(corrupt("bad header magic".into()));
        }
        let version = u32::from_le_bytes([map[4], map[5], map[6], map[7]]);
        if !matches!(version, FORMAT_V1 | FORMAT_V2 | FORMAT_V3 | FORMAT_V4 | FORMAT_V5 | FORMAT_V6) {
            return Err(Error::UnsupportedVersion { path: path.to_path_buf(), version });
        }
        let footer = Footer::decode(&map[len - FOOTER_LEN..]).map_err(corrupt)?;
        if footer.version != version {
            return Err(corrupt(format!("footer version {} != header version {version}", footer.version)));
        }
        for (i, s) in footer.sections.iter().enumerate() {
            let end = s.offset.checked_add(s.len);
            if s.offset < HEADER_LEN as u64 || end.is_none_or(|e| e > (len - FOOTER_LEN) as u64) {
                return Err(corrupt(format!("{} section [{}, +{}) out of bounds", SECTION_NAMES[i], s.offset, s.len)));
            }
            let bytes = &map[s.offset as usize..(s.offset + s.len) as usize];
            if crc32fast::hash(bytes) != s.crc {
                return Err(corrupt(format!("{} section CRC mismatch", SECTION_NAMES[i])));
            }
        }
        let mut unpacked: [Option<Box<[u8]>>; 4] = Default::default();
        for (i, s) in footer.sections.iter().enumerate() {
            if s.raw_len == 0 {
                continue;
            }
            if version < FORMAT_V4 || i == SECTION_CHUNKS {
                return Err(corrupt(format!("{} section marked compressed in a v{version} file", SECTION_NAMES[i])));
            }
            let bytes = &map[s.offset as usize..(s.offset + s.len) as usize];
            let raw = zstd::bulk::decompress(bytes, s.raw_len as usize)
                .ok()
                .filter(|raw| raw.len() == s.raw_len as usize)
                .ok_or_else(|| {
                    corrupt(format!("{} section does not decompress to {} bytes", SECTION_NAMES[i], s.raw_len))
                })?;
            unpacked[i] = Some(raw.into_boxed_slice());
        }
        let series = u32::try_from(footer.series).map_err(|_| corrupt(format!("{} series", footer.series)))?;
        let mut r = FileReader {
            path: path.to_path_buf(),
            map,
            unpacked,
            footer,
            symbols: Vec::new(),
            postings: Vec::new(),
            all: (0..series).collect(),
        };
        r.symbols = r.parse_symbols().ok_or_else(|| corrupt("malformed symbol table".into()))?;
        r.postings = r.parse_postings().ok_or_else(|| corrupt("malformed postings directory".into()))?;
        let series_count = Cursor::new(r.section(SECTION_SERIES)).u64_le();
        if series_count != Some(footer.series) {
            return Err(corrupt(format!("series table count {series_count:?} != footer {}", footer.series)));
        }
        Ok(r)
    }

    /// Section `i`'s bytes, decompressed if it is stored compressed.
    fn section(&self, i: usize) -> &[u8] {
        if let Some(raw) = &self.unpacked[i] {
            return raw;
        }
        let s = self.footer.sections[i];
        // Bounds were validated in `open`.
        &self.map[s.offset as usize..(s.offset + s.len) as usize]
    }

    fn parse_symbols(&self) -> Option<Vec<Box<str>>> {
        let mut c = Cursor::new(self.section(SECTION_SYMBOLS));
        let n = c.uvarint_usize()?;
        let mut out = Vec::with_capacity(n.min(1 << 20));
        for _ in 0..n {
            let len = c.uvarint_usize()?;
            out.push(Box::from(std::str::from_utf8(c.bytes(len)?).ok()?));
        }
        // Symbols must be sorted and unique (lookups binary-search them).
        out.windows(2).all(|w| w[0] < w[1]).then_some(out)
    }

    fn parse_postings(&self) -> Option<Vec<NamePostings>> {
        let mut c = Cursor::new(self.section(SECTION_POSTINGS));
        let n = c.uvarint_usize()?;
        let nsym = self.symbols.len();
        let mut out: Vec<NamePostings> = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            let name = u32::try_from(c.uvarint()?).ok().filter(|&s| (s as usize) < nsym)?;
            let nv = c.uvarint_usize()?;
            let mut values: Vec<(u32, usize, usize)> = Vec::with_capacity(nv.min(1 << 16));
            for _ in 0..nv {
                let value = u32::try_from(c.uvarint()?).ok().filter(|&s| (s as usize) < nsym)?;
                let len = c.uvarint_usize()?;
                let off = c.pos;
                c.bytes(len)?;
                if values.last().is_some_and(|v| v.0 >= value) {
                    return None;
                }
                values.push((value, off, len));
            }
            if out.last().is_some_and(|p| p.name >= name) {
                return None;
            }
            out.push(NamePostings { name, values });
        }
        Some(out)
    }

    fn symbol_ref(&self, s: &str) -> Option<u32> {
        self.symbols.binary_search_by(|x| (**x).cmp(s)).ok().map(|i| i as u32)
    }

    fn symbol(&self, r: u64, series: u32) -> Result<&str> {
        self.symbols
            .get(r as usize)
            .map(|s| &**s)
            .ok_or_else(|| Error::corrupt(&self.path, format!("series {series}: symbol ref {r} out of range")))
    }

    fn name_postings(&self, name: &str) -> Option<&NamePostings> {
        let r = self.symbol_ref(name)?;
        self.postings.binary_search_by_key(&r, |p| p.name).ok().map(|i| &self.postings[i])
    }

    fn bitmap(&self, off: usize, len: usize) -> RoaringBitmap {
        match RoaringBitmap::deserialize_from(&self.section(SECTION_POSTINGS)[off..off + len]) {
            Ok(b) => b,
            Err(e) => {
                // The postings section passed its CRC, so this is a writer bug.
                tracing::error!(path = %self.path.display(), postings_offset = off, error = %e, "undecodable postings bitmap");
                RoaringBitmap::new()
            }
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Smallest sample timestamp in the file.
    pub fn min_t(&self) -> Timestamp {
        self.footer.min_t
    }
    /// Largest sample timestamp in the file.
    pub fn max_t(&self) -> Timestamp {
        self.footer.max_t
    }
    /// Number of series in the file.
    pub fn series_count(&self) -> u32 {
        self.all.len() as u32
    }
    /// Number of samples in the file.
    pub fn sample_count(&self) -> u64 {
        self.footer.samples
    }

    /// Series ids (file-local, in label order) matching all matchers.
    pub fn select(&self, matchers: &[Matcher]) -> RoaringBitmap {
        index::select(self, matchers)
    }

    /// Label names present in the file, sorted.
    pub fn label_names(&self) -> Vec<String> {
        self.postings.iter().map(|p| self.symbols[p.name as usize].to_string()).collect()
    }

    /// Values of label `name` in the file, sorted.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.name_postings(name)
            .map(|p| p.values.iter().map(|v| self.symbols[v.0 as usize].to_string()).collect())
            .unwrap_or_default()
    }

    /// Cursor at the start of series `series`' entry.
    fn entry(&self, series: u32) -> Result<Cursor<'_>> {
        let count = self.series_count();
        if series >= count {
            return Err(Error::NoSuchSeries { path: self.path.clone(), series, count });
        }
        let sec = self.section(SECTION_SERIES);
        let at = 8 + 8 * series as usize;
        let off = Cursor::at(sec, at).u64_le().and_then(|o| usize::try_from(o).ok());
        match off {
            Some(o) if o < sec.len() => Ok(Cursor::at(sec, o)),
            _ => Err(Error::corrupt(&self.path, format!("series {series}: bad entry offset"))),
        }
    }

    fn bad_entry(&self, series: u32) -> Error {
        Error::corrupt(&self.path, format!("series {series}: truncated series entry"))
    }

    /// The labels of series `series`.
    pub fn labels(&self, series: u32) -> Result<Labels> {
        let mut refs = Vec::new();
        self.label_refs(series, &mut refs)?;
        Ok(Labels::from_sorted(refs.into_iter().map(|(n, v)| Label::new(n, v)).collect()))
    }

    /// The labels of series `series` as `(name, value)` pairs borrowed from
    /// the file's symbol table, sorted by name, into `out` (cleared first):
    /// compared without building a [`Labels`] (the same order: lexicographic
    /// over the pairs).
    pub fn label_refs<'a>(&'a self, series: u32, out: &mut Vec<(&'a str, &'a str)>) -> Result<()> {
        let mut c = self.entry(series)?;
        self.read_label_refs(series, &mut c, out)
    }

    fn read_label_refs<'a>(&'a self, series: u32, c: &mut Cursor<'_>, out: &mut Vec<(&'a str, &'a str)>) -> Result<()> {
        out.clear();
        let n = c.uvarint_usize().ok_or_else(|| self.bad_entry(series))?;
        out.reserve(n.min(256));
        for _ in 0..n {
            let name = c.uvarint().ok_or_else(|| self.bad_entry(series))?;
            let value = c.uvarint().ok_or_else(|| self.bad_entry(series))?;
            out.push((self.symbol(name, series)?, self.symbol(value, series)?));
        }
        if !out.windows(2).all(|w| w[0].0 < w[1].0) {
            return Err(Error::corrupt(&self.path, format!("series {series}: labels not sorted")));
        }
        Ok(())
    }

    /// The label names (`name == None`) or the values of label `name` that
    /// occur on the series `ids`, sorted and unique, borrowed from the
    /// symbol table. Reads only the symbol references of each series entry
    /// (no [`Labels`] or strings are built per series): the metadata APIs
    /// and the SQL catalog's column list ask this of every series of a
    /// metric.
    pub fn label_strings_of(&self, ids: &[u32], name: Option<&str>) -> Result<Vec<&str>> {
        let target = match name {
            None => None,
            Some(n) => match self.symbol_ref(n) {
                Some(r) => Some(u64::from(r)),
                None => return Ok(Vec::new()),
            },
        };
        // Names: few, kept sorted and unique as they come. Values: pushed,
        // then sorted once.
        let mut refs: Vec<u64> = Vec::new();
        for &id in ids {
            let mut c = self.entry(id)?;
            let n = c.uvarint_usize().ok_or_else(|| self.bad_entry(id))?;
            let mut prev: Option<u64> = None;
            for _ in 0..n {
                let nm = c.uvarint().ok_or_else(|| self.bad_entry(id))?;
                let value = c.uvarint().ok_or_else(|| self.bad_entry(id))?;
                // Symbols are sorted and unique: name order is symbol-ref order.
                if prev.is_some_and(|p| p >= nm) {
                    return Err(Error::corrupt(&self.path, format!("series {id}: labels not sorted")));
                }
                prev = Some(nm);
                self.symbol(nm, id)?;
                self.symbol(value, id)?;
                match target {
                    None => {
                        if let Err(at) = refs.binary_search(&nm) {
                            refs.insert(at, nm);
                        }
                    }
                    Some(t) if t == nm => refs.push(value),
                    Some(_) => {}
                }
            }
        }
        if target.is_some() {
            refs.sort_unstable();
            refs.dedup();
        }
        // Every ref was checked in range above.
        Ok(refs.into_iter().map(|r| &*self.symbols[r as usize]).collect())
    }

    /// Whether the file may hold native histograms (formats v5 and v6).
    pub fn has_histograms(&self) -> bool {
        self.footer.version >= FORMAT_V5
    }

    /// The chunk index of a series.
    pub fn chunks(&self, series: u32) -> Result<Vec<ChunkMeta>> {
        self.chunk_iter(series)?.collect()
    }

    /// The chunk index of a series, read as it is iterated (nothing allocated).
    fn chunk_iter(&self, series: u32) -> Result<ChunkList<'_>> {
        let mut c = self.entry(series)?;
        let n = c.uvarint_usize().ok_or_else(|| self.bad_entry(series))?;
        for _ in 0..n {
            c.uvarint().ok_or_else(|| self.bad_entry(series))?;
            c.uvarint().ok_or_else(|| self.bad_entry(series))?;
        }
        self.chunk_list_iter(series, c)
    }

    /// The histogram chunk index of a series (empty before format v5).
    pub fn hist_chunks(&self, series: u32) -> Result<Vec<ChunkMeta>> {
        if !self.has_histograms() {
            return Ok(Vec::new());
        }
        let mut c = self.entry(series)?;
        let n = c.uvarint_usize().ok_or_else(|| self.bad_entry(series))?;
        for _ in 0..n {
            c.uvarint().ok_or_else(|| self.bad_entry(series))?;
            c.uvarint().ok_or_else(|| self.bad_entry(series))?;
        }
        self.chunk_list(series, &mut c)?;
        self.chunk_list(series, &mut c)
    }

    /// Appends the series' histogram samples in `[min_t, max_t]` to `out`, in time order.
    pub fn hist_samples(
        &self,
        series: u32,
        min_t: Timestamp,
        max_t: Timestamp,
        out: &mut Vec<HistSample>,
    ) -> Result<()> {
        for (i, c) in self.hist_chunks(series)?.iter().enumerate() {
            if c.max_t < min_t || c.min_t > max_t {
                continue;
            }
            decode_hist_chunk_range(&self.map[c.offset..c.offset + c.len], min_t, max_t, out)
                .map_err(|e| Error::corrupt(&self.path, format!("series {series} histogram chunk {i}: {e}")))?;
        }
        Ok(())
    }

    /// One chunk list of a series entry at the cursor, checked against the chunks section.
    fn chunk_list<'a>(&'a self, series: u32, c: &mut Cursor<'a>) -> Result<Vec<ChunkMeta>> {
        let mut list = self.chunk_list_iter(series, c.clone())?;
        let out = list.by_ref().collect::<Result<Vec<_>>>()?;
        *c = list.c;
        Ok(out)
    }

    /// [`FileReader::chunk_list`] as an iterator: each chunk reference is
    /// read and checked when it is reached.
    fn chunk_list_iter<'a>(&'a self, series: u32, mut c: Cursor<'a>) -> Result<ChunkList<'a>> {
        let left = c.uvarint_usize().ok_or_else(|| self.bad_entry(series))?;
        let sec = self.footer.sections[SECTION_CHUNKS];
        let section = (sec.offset as usize, (sec.offset + sec.len) as usize);
        Ok(ChunkList { reader: self, series, c, left, section })
    }

    /// Whether the series has a chunk overlapping `[min_t, max_t]` (reads the
    /// chunk index only; a chunk's samples span its min/max time, so this is
    /// exact at the chunk edges and true for every chunk that has samples in range).
    pub fn overlaps(&self, series: u32, min_t: Timestamp, max_t: Timestamp) -> Result<bool> {
        for c in self.chunk_iter(series)? {
            let c = c?;
            if c.min_t > max_t {
                break; // chunks are in time order
            }
            if c.max_t >= min_t {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The sample count of the series' chunks overlapping `[min_t, max_t]`
    /// (chunk index only, nothing decoded or allocated): an upper bound of
    /// what [`FileReader::samples`] appends.
    pub fn overlapping_samples(&self, series: u32, min_t: Timestamp, max_t: Timestamp) -> Result<usize> {
        let mut n = 0usize;
        for c in self.chunk_iter(series)? {
            let c = c?;
            if c.min_t > max_t {
                break; // chunks are in time order
            }
            if c.max_t >= min_t {
                n = n.saturating_add(c.count as usize);
            }
        }
        Ok(n)
    }

    /// Appends the series' samples in `[min_t, max_t]` to `out`, in time order.
    /// Decodes only the chunks overlapping the range.
    pub fn samples(&self, series: u32, min_t: Timestamp, max_t: Timestamp, out: &mut Vec<Sample>) -> Result<()> {
        for (i, c) in self.chunk_iter(series)?.enumerate() {
            let c = c?;
            if c.min_t > max_t {
                break; // chunks are in time order
            }
            if c.max_t < min_t {
                continue;
            }
            let bytes = &self.map[c.offset..c.offset + c.len];
            let decoded = match self.footer.version {
                FORMAT_V1 => decode_chunk_range(bytes, min_t, max_t, out),
                FORMAT_V2 => decode_chunk_range_v2(bytes, min_t, max_t, out),
                FORMAT_V6 => decode_chunk_range_v6(bytes, (c.min_t, c.max_t), min_t, max_t, out),
                _ => decode_chunk_range_v3(bytes, min_t, max_t, out),
            };
            decoded.map_err(|e| Error::corrupt(&self.path, format!("series {series} chunk {i}: {e}")))?;
        }
        Ok(())
    }
}

/// A series' chunk references, read and checked one by one
/// ([`FileReader::chunk_list`]).
struct ChunkList<'a> {
    reader: &'a FileReader,
    series: u32,
    c: Cursor<'a>,
    left: usize,
    /// The chunks section's byte range.
    section: (usize, usize),
}

impl Iterator for ChunkList<'_> {
    type Item = Result<ChunkMeta>;

    fn next(&mut self) -> Option<Result<ChunkMeta>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let c = &mut self.c;
        let Some((min_t, span, count, offset, len)) =
            (|| Some((c.varint()?, c.uvarint()?, c.uvarint()?, c.uvarint_usize()?, c.uvarint_usize()?)))()
        else {
            self.left = 0;
            return Some(Err(self.reader.bad_entry(self.series)));
        };
        let in_section = offset >= self.section.0 && offset.checked_add(len).is_some_and(|e| e <= self.section.1);
        if !in_section {
            self.left = 0;
            let reason = format!("series {}: chunk at {offset}+{len} outside chunk section", self.series);
            return Some(Err(Error::corrupt(&self.reader.path, reason)));
        }
        let Ok(count) = u32::try_from(count) else {
            self.left = 0;
            return Some(Err(self.reader.bad_entry(self.series)));
        };
        Some(Ok(ChunkMeta { min_t, max_t: min_t.wrapping_add(span as i64), count, offset, len }))
    }
}

impl Postings for FileReader {
    fn union_values_prefixed(&self, name: &str, prefix: &str, keep: &mut dyn FnMut(&str) -> bool) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        let values = self.name_postings(name).map(|p| p.values.as_slice()).unwrap_or_default();
        // Values are sorted by symbol ref, and symbols are sorted: the values
        // starting with `prefix` are one contiguous run.
        let start = values.partition_point(|v| &*self.symbols[v.0 as usize] < prefix);
        for &(v, off, len) in &values[start..] {
            let value = &self.symbols[v as usize];
            if !value.starts_with(prefix) {
                break;
            }
            if keep(value) {
                out |= self.bitmap(off, len);
            }
        }
        out
    }

    fn all_series(&self) -> Cow<'_, RoaringBitmap> {
        Cow::Borrowed(&self.all)
    }

    fn postings(&self, name: &str, value: &str) -> Option<Cow<'_, RoaringBitmap>> {
        let p = self.name_postings(name)?;
        let v = self.symbol_ref(value)?;
        let i = p.values.binary_search_by_key(&v, |x| x.0).ok()?;
        let (_, off, len) = p.values[i];
        Some(Cow::Owned(self.bitmap(off, len)))
    }

    fn union_values(&self, name: &str, keep: &mut dyn FnMut(&str) -> bool) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        for &(v, off, len) in self.name_postings(name).map(|p| p.values.as_slice()).unwrap_or_default() {
            if keep(&self.symbols[v as usize]) {
                out |= self.bitmap(off, len);
            }
        }
        out
    }
}
