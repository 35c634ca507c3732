//! Segment files and record framing of the embedded log (layout in the
//! parent module's docs): naming, frame encoding, the recovery scan that
//! finds a torn tail, and positioning by offset.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes of a frame header: `u32 len`, `u32 crc`, `u64 offset`.
pub(crate) const FRAME_HEADER: usize = 16;

/// Largest payload accepted (and believed while scanning).
pub(crate) const MAX_PAYLOAD: usize = 256 << 20;

/// File name suffix of segments.
const SEGMENT_SUFFIX: &str = ".seg";

/// `<dir>/p-<partition:05>`.
pub(crate) fn partition_dir(dir: &Path, partition: u32) -> PathBuf {
    dir.join(format!("p-{partition:05}"))
}

/// `<partition dir>/<base_offset:020>.seg`.
pub(crate) fn segment_path(partition_dir: &Path, base: u64) -> PathBuf {
    partition_dir.join(format!("{base:020}{SEGMENT_SUFFIX}"))
}

/// CRC-32 (IEEE) of the little-endian offset followed by the payload, so a
/// frame copied to the wrong position does not verify.
pub(crate) fn frame_crc(offset: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&offset.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// [`frame_crc`] from the CRC of the payload alone (`crc32fast::hash`), so
/// appenders can checksum payloads on their own threads before the writer
/// knows the offset.
pub(crate) fn frame_crc_from(offset: u64, payload_crc: u32, payload_len: usize) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&offset.to_le_bytes());
    h.combine(&crc32fast::Hasher::new_with_initial_len(payload_crc, payload_len as u64));
    h.finalize()
}

/// The header of a frame, given `crc32fast::hash(payload)`.
pub(crate) fn frame_header(offset: u64, payload_len: usize, payload_crc: u32) -> [u8; FRAME_HEADER] {
    debug_assert!(payload_len <= MAX_PAYLOAD);
    let mut h = [0u8; FRAME_HEADER];
    h[0..4].copy_from_slice(&(payload_len as u32).to_le_bytes());
    h[4..8].copy_from_slice(&frame_crc_from(offset, payload_crc, payload_len).to_le_bytes());
    h[8..16].copy_from_slice(&offset.to_le_bytes());
    h
}

/// Appends one frame to `out`.
#[cfg(test)]
pub(crate) fn encode_frame(out: &mut Vec<u8>, offset: u64, payload: &[u8]) {
    out.extend_from_slice(&frame_header(offset, payload.len(), crc32fast::hash(payload)));
    out.extend_from_slice(payload);
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameHeader {
    pub len: usize,
    pub crc: u32,
    pub offset: u64,
}

impl FrameHeader {
    pub(crate) fn parse(b: &[u8; FRAME_HEADER]) -> Self {
        let [l0, l1, l2, l3, c0, c1, c2, c3, o @ ..] = *b;
        Self {
            len: u32::from_le_bytes([l0, l1, l2, l3]) as usize,
            crc: u32::from_le_bytes([c0, c1, c2, c3]),
            offset: u64::from_le_bytes(o),
        }
    }
}

/// The base offsets of the segments in `partition_dir`, ascending. Files
/// that are not segments are ignored.
pub(crate) fn list_segments(partition_dir: &Path) -> io::Result<Vec<u64>> {
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(partition_dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(SEGMENT_SUFFIX)
            && stem.len() == 20
            && let Ok(base) = stem.parse::<u64>()
        {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// What a recovery scan of a segment found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Complete, verified records from the start of the segment.
    pub records: u64,
    /// Bytes they occupy; everything after is a torn tail.
    pub valid_len: u64,
    /// The file's length.
    pub file_len: u64,
    /// Why the scan stopped before `file_len`, if it did.
    pub torn: Option<String>,
}

/// Reads the whole segment, verifying each frame's length, offset
/// (`base + index`) and CRC, and stops at the first that fails.
pub(crate) fn scan(file: &File, base: u64) -> io::Result<Scan> {
    let file_len = file.metadata()?.len();
    let mut r = io::BufReader::with_capacity(1 << 20, file);
    let mut pos = 0u64;
    let mut records = 0u64;
    let mut payload = Vec::new();
    let torn = loop {
        if pos == file_len {
            break None;
        }
        let mut hdr = [0u8; FRAME_HEADER];
        if file_len - pos < FRAME_HEADER as u64 {
            break Some(format!("partial frame header at byte {pos}"));
        }
        r.read_exact(&mut hdr)?;
        let h = FrameHeader::parse(&hdr);
        let expected = base + records;
        if h.len > MAX_PAYLOAD {
            break Some(format!("frame length {} at byte {pos} is implausible", h.len));
        }
        if h.offset != expected {
            break Some(format!("frame at byte {pos} has offset {} instead of {expected}", h.offset));
        }
        if file_len - pos - (FRAME_HEADER as u64) < h.len as u64 {
            break Some(format!("partial frame payload at byte {pos}"));
        }
        payload.resize(h.len, 0);
        r.read_exact(&mut payload)?;
        if frame_crc(h.offset, &payload) != h.crc {
            break Some(format!("CRC mismatch in frame at byte {pos} (offset {expected})"));
        }
        pos += (FRAME_HEADER + h.len) as u64;
        records += 1;
    };
    Ok(Scan { records, valid_len: pos, file_len, torn })
}

/// The byte position of the frame with offset `target` in a segment starting
/// at `base`, reading headers only. All frames below `target` must be
/// complete (they are below the published end). Reaching the end of the file
/// first returns the file's length (the target is the next offset to write).
pub(crate) fn find_position(file: &File, base: u64, target: u64) -> io::Result<u64> {
    let mut pos = 0u64;
    let mut next = base;
    let mut hdr = [0u8; FRAME_HEADER];
    while next < target {
        match read_full_at(file, &mut hdr, pos)? {
            0 => return Ok(pos),
            n if n < FRAME_HEADER => {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("partial frame header at byte {pos}")));
            }
            _ => {}
        }
        let h = FrameHeader::parse(&hdr);
        if h.offset != next || h.len > MAX_PAYLOAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("frame at byte {pos} has offset {} (length {}), expected offset {next}", h.offset, h.len),
            ));
        }
        pos += (FRAME_HEADER + h.len) as u64;
        next += 1;
    }
    Ok(pos)
}

/// Reads into `buf` at `pos` until it is full or the file ends; returns the
/// bytes read.
pub(crate) fn read_full_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], pos + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// fsyncs a directory so that file creations and renames in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn frame_round_trip_and_scan_stops_at_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = segment_path(dir.path(), 10);
        let mut buf = Vec::new();
        encode_frame(&mut buf, 10, b"hello");
        encode_frame(&mut buf, 11, b"");
        encode_frame(&mut buf, 12, &[7u8; 1000]);
        let good = buf.len() as u64;
        encode_frame(&mut buf, 13, b"torn");
        buf.truncate(buf.len() - 2);
        std::fs::File::create(&path).unwrap().write_all(&buf).unwrap();
        let f = File::open(&path).unwrap();
        let s = scan(&f, 10).unwrap();
        assert_eq!((s.records, s.valid_len), (3, good));
        assert!(s.torn.unwrap().contains("partial"));
        assert_eq!(find_position(&f, 10, 12).unwrap(), (FRAME_HEADER * 2 + 5) as u64);
        assert_eq!(list_segments(dir.path()).unwrap(), vec![10]);
    }

    #[test]
    fn combined_crc_equals_direct_crc() {
        for (offset, payload) in [(0u64, &b""[..]), (7, b"x"), (u64::MAX, &[3u8; 5000][..])] {
            let direct = frame_crc(offset, payload);
            assert_eq!(frame_crc_from(offset, crc32fast::hash(payload), payload.len()), direct);
        }
    }

    #[test]
    fn scan_detects_crc_and_offset_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        let mut buf = Vec::new();
        encode_frame(&mut buf, 0, b"abc");
        let first = buf.len() as u64;
        encode_frame(&mut buf, 1, b"def");
        let n = buf.len();
        buf[n - 1] ^= 1;
        std::fs::write(&path, &buf).unwrap();
        let s = scan(&File::open(&path).unwrap(), 0).unwrap();
        assert_eq!(s.valid_len, first);
        assert!(s.torn.unwrap().contains("CRC"));
        let s = scan(&File::open(&path).unwrap(), 5).unwrap();
        assert_eq!(s.records, 0);
        assert!(s.torn.unwrap().contains("offset"));
    }
}
