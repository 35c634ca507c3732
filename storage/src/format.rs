//! Constants and the fixed-size footer of the data file format
//! (documented byte by byte in `storage/docs/format/v1.md`, `v2.md`, `v3.md`,
//! `v4.md`, `v5.md`, `v6.md`).
use crate::chunk::bits::Cursor;

/// First four bytes of every data file, and last four of its footer.
pub const MAGIC: [u8; 4] = *b"STRT";
/// Format version 1 (Gorilla chunks); still read.
pub const FORMAT_V1: u32 = 1;
/// Format version 2 (bit-packed decimal chunks, `chunk::v2`): the layout of
/// v1 with another chunk encoding. This build writes it for flushes.
pub const FORMAT_V2: u32 = 2;
/// Format version 3: v2 plus zstd-compressed chunks (chunk kind 2); still read.
pub const FORMAT_V3: u32 = 3;
/// Format version 4: v3 plus zstd-compressed index sections (symbols,
/// series, postings). This build writes it for compaction outputs (level >= 1).
pub const FORMAT_V4: u32 = 4;
/// Format version 5: v4 plus histogram chunks (kind 3) referenced from a
/// second chunk list per series entry. Written for files that hold native
/// histograms (flushes and compactions alike).
pub const FORMAT_V5: u32 = 5;
/// Format version 6: v5 plus chunk kind 4 (float bits as ordered integers)
/// and int-block modes 5 and 6 (minimum and gcd). This build writes it for
/// compaction outputs (level >= 1), with or without histograms.
pub const FORMAT_V6: u32 = 6;
/// The newest format version this build writes (for compaction outputs;
/// flushes write [`FORMAT_V2`], or [`FORMAT_V5`] when they hold histograms).
pub const FORMAT_CURRENT: u32 = FORMAT_V6;
/// Largest uncompressed index section a v4 file may hold compressed.
pub const MAX_COMPRESSED_SECTION_RAW: u64 = u32::MAX as u64;
/// Header: magic + u32 LE version.
pub const HEADER_LEN: usize = 8;
/// Footer length in bytes (see [`Footer`]).
pub const FOOTER_LEN: usize = 140;
/// File name extension of data files.
pub const FILE_EXT: &str = "strata";

/// Section indexes in the footer, in file order.
pub const SECTION_CHUNKS: usize = 0;
/// Index of the symbols section (sorted label names and values).
pub const SECTION_SYMBOLS: usize = 1;
/// Index of the series section (labels and chunk references per series).
pub const SECTION_SERIES: usize = 2;
/// Index of the postings section (a bitmap of series per label pair).
pub const SECTION_POSTINGS: usize = 3;
/// Section names by index, for error messages.
pub const SECTION_NAMES: [&str; 4] = ["chunks", "symbols", "series", "postings"];

/// Where one section lies and its checksum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Section {
    /// Offset of the section's first byte in the file.
    pub offset: u64,
    /// Length of the section as stored, in bytes.
    pub len: u64,
    /// CRC32 (IEEE, as `crc32fast`) of the section bytes (as stored).
    pub crc: u32,
    /// 0: stored as is. Otherwise (format v4, index sections only) the
    /// stored bytes are one zstd frame that decompresses to `raw_len` bytes.
    pub raw_len: u32,
}

/// The footer: the last [`FOOTER_LEN`] bytes of a file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footer {
    /// The four sections, by `SECTION_*` index.
    pub sections: [Section; 4],
    /// Smallest sample timestamp in the file.
    pub min_t: i64,
    /// Largest sample timestamp in the file.
    pub max_t: i64,
    /// Number of series.
    pub series: u64,
    /// Number of samples.
    pub samples: u64,
    /// Format version (the same as in the header).
    pub version: u32,
}

impl Footer {
    /// Appends the encoded footer (including its CRC and magic) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        for s in &self.sections {
            out.extend_from_slice(&s.offset.to_le_bytes());
            out.extend_from_slice(&s.len.to_le_bytes());
            out.extend_from_slice(&s.crc.to_le_bytes());
            out.extend_from_slice(&s.raw_len.to_le_bytes());
        }
        out.extend_from_slice(&self.min_t.to_le_bytes());
        out.extend_from_slice(&self.max_t.to_le_bytes());
        out.extend_from_slice(&self.series.to_le_bytes());
        out.extend_from_slice(&self.samples.to_le_bytes());
        out.extend_from_slice(&self.version.to_le_bytes());
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&MAGIC);
        debug_assert_eq!(out.len() - start, FOOTER_LEN);
    }

    /// Decodes and checks a footer (exactly [`FOOTER_LEN`] bytes).
    pub fn decode(b: &[u8]) -> Result<Self, String> {
        if b.len() != FOOTER_LEN {
            return Err(format!("footer is {} bytes, want {FOOTER_LEN}", b.len()));
        }
        if b[FOOTER_LEN - 4..] != MAGIC {
            return Err("bad footer magic".into());
        }
        let mut c = Cursor::new(b);
        let mut f = Footer::default();
        let short = || "short footer".to_string();
        for s in &mut f.sections {
            s.offset = c.u64_le().ok_or_else(short)?;
            s.len = c.u64_le().ok_or_else(short)?;
            s.crc = c.u32_le().ok_or_else(short)?;
            s.raw_len = c.u32_le().ok_or_else(short)?;
        }
        f.min_t = c.u64_le().ok_or_else(short)? as i64;
        f.max_t = c.u64_le().ok_or_else(short)? as i64;
        f.series = c.u64_le().ok_or_else(short)?;
        f.samples = c.u64_le().ok_or_else(short)?;
        f.version = c.u32_le().ok_or_else(short)?;
        let body_len = c.pos;
        let crc = c.u32_le().ok_or_else(short)?;
        if crc != crc32fast::hash(&b[..body_len]) {
            return Err("footer CRC mismatch".into());
        }
        Ok(f)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn footer_round_trip_and_crc() {
        let f = Footer {
            sections: [
                Section { offset: 8, len: 100, crc: 1, raw_len: 0 },
                Section { offset: 108, len: 10, crc: 2, raw_len: 0 },
                Section { offset: 118, len: 20, crc: 3, raw_len: 77 },
                Section { offset: 138, len: 30, crc: 4, raw_len: 0 },
            ],
            min_t: -5,
            max_t: 99,
            series: 3,
            samples: 42,
            version: FORMAT_V1,
        };
        let mut buf = Vec::new();
        f.encode(&mut buf);
        assert_eq!(buf.len(), FOOTER_LEN);
        assert_eq!(Footer::decode(&buf).unwrap(), f);
        buf[20] ^= 1;
        assert!(Footer::decode(&buf).unwrap_err().contains("CRC"));
    }
}
