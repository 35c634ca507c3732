//! Chunk encoding of formats v3 and v4 (`docs/format/v3.md`): a v2 chunk
//! ([`super::v2`]), or kind 2, the zstd frame of a kind 0 or 1 v2 chunk,
//! chosen per chunk when it is smaller.
//!
//! ```text
//! u8 kind = 2 | uvarint raw_len | zstd frame of a kind 0 or 1 v2 chunk (raw_len bytes)
//! ```
//! Compaction outputs (formats v4 to v6; v6 also wraps its kind 4) write kind-2 chunks; flushes (format v2)
//! never do, and the v2 decoder rejects kind 2.
use strata_common::Sample;

use super::ChunkError;
use super::bits::{Cursor, put_uvarint};
use super::v2::decode_chunk_range_v2;

/// The v3 chunk kind (after v2's 0, Gorilla, and 1, decimal): zstd over a
/// kind 0 or 1 chunk.
const KIND_ZSTD: u8 = 2;

/// Largest uncompressed chunk a kind-2 chunk may claim (a 1024-sample
/// decimal chunk with two 64-bit columns is < 17 KiB).
const MAX_RAW_CHUNK: u64 = 64 << 10;

/// zstd level of compacted (level >= 1) files.
pub const ZSTD_LEVEL: i32 = 3;

/// Sets `out` to the v2 chunk `raw` as kind 2 (zstd with `cctx`) when that
/// is smaller, else to `raw` unchanged.
pub fn compress_chunk(raw: &[u8], cctx: &mut zstd::bulk::Compressor<'static>, out: &mut Vec<u8>) {
    out.clear();
    match cctx.compress(raw) {
        Ok(z) if 1 + uvarint_len(raw.len() as u64) + z.len() < raw.len() => {
            out.push(KIND_ZSTD);
            put_uvarint(out, raw.len() as u64);
            out.extend_from_slice(&z);
        }
        _ => out.extend_from_slice(raw),
    }
}

fn uvarint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

thread_local! {
    /// Per-thread zstd decoder state and output buffer for kind-2 chunks.
    static DCTX: std::cell::RefCell<Option<(zstd::bulk::Decompressor<'static>, Vec<u8>)>> =
        const { std::cell::RefCell::new(None) };
}

/// Decodes a v3 chunk (a v2 chunk, or kind 2: zstd over a kind 0/1 chunk).
pub fn decode_chunk_range_v3(bytes: &[u8], min_t: i64, max_t: i64, out: &mut Vec<Sample>) -> Result<(), ChunkError> {
    decode_zstd_with(bytes, min_t, max_t, out, &decode_chunk_range_v2)
}

/// A chunk decoder (bytes, min_t, max_t, output).
pub type ChunkDecoder<'a> = &'a dyn Fn(&[u8], i64, i64, &mut Vec<Sample>) -> Result<(), ChunkError>;

/// Decodes a chunk with `inner` after undoing kind 2 (zstd) if it is one;
/// the decompressed chunk must not be kind 2 again.
pub fn decode_zstd_with(
    bytes: &[u8],
    min_t: i64,
    max_t: i64,
    out: &mut Vec<Sample>,
    inner: ChunkDecoder<'_>,
) -> Result<(), ChunkError> {
    let (&kind, rest) = bytes.split_first().ok_or(ChunkError::Truncated)?;
    if kind != KIND_ZSTD {
        return inner(bytes, min_t, max_t, out);
    }
    let mut c = Cursor::new(rest);
    let raw_len = c.uvarint().ok_or(ChunkError::Truncated)?;
    if raw_len > MAX_RAW_CHUNK {
        return Err(ChunkError::Truncated);
    }
    let frame = c.remaining();
    DCTX.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let d = zstd::bulk::Decompressor::new().map_err(|_| ChunkError::Truncated)?;
            *slot = Some((d, Vec::with_capacity(MAX_RAW_CHUNK as usize)));
        }
        let Some((d, buf)) = slot.as_mut() else { return Err(ChunkError::Truncated) };
        buf.clear();
        buf.reserve(raw_len as usize);
        let n = d.decompress_to_buffer(frame, buf).map_err(|_| ChunkError::Truncated)?;
        if n as u64 != raw_len || buf.first() == Some(&KIND_ZSTD) {
            return Err(ChunkError::Truncated);
        }
        inner(buf, min_t, max_t, out)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::chunk::v2::encode_chunk_v2;

    #[test]
    fn zstd_chunks_round_trip_and_reject_garbage() {
        let ts: Vec<i64> = (0..1000).map(|i| i * 15_000).collect();
        let vs: Vec<f64> = (0..1000).map(|i| f64::from([3, 917, 42, 605, 88, 231, 999, 17][i % 8]) / 10.0).collect();
        let mut raw = Vec::new();
        encode_chunk_v2(&ts, &vs, &mut raw);
        let (mut cctx, mut z) = (zstd::bulk::Compressor::new(ZSTD_LEVEL).unwrap(), Vec::new());
        compress_chunk(&raw, &mut cctx, &mut z);
        assert_eq!(z[0], KIND_ZSTD);
        assert!(z.len() < raw.len() / 2, "{} vs {}", z.len(), raw.len());
        let mut out = Vec::new();
        decode_chunk_range_v3(&z, i64::MIN, i64::MAX, &mut out).unwrap();
        assert_eq!(
            out.iter().map(|s| (s.t, s.v.to_bits())).collect::<Vec<_>>(),
            ts.iter().zip(&vs).map(|(&t, v)| (t, v.to_bits())).collect::<Vec<_>>()
        );
        // Incompressible chunks stay as they are.
        let mut small = Vec::new();
        encode_chunk_v2(&ts[..3], &vs[..3], &mut small);
        compress_chunk(&small, &mut cctx, &mut z);
        assert_eq!(z, small);
        // Truncations, a wrong length and nesting are errors, not panics.
        for cut in 1..z.len() {
            let _ = decode_chunk_range_v3(&z[..cut], i64::MIN, i64::MAX, &mut out);
        }
        compress_chunk(&raw, &mut cctx, &mut z);
        for cut in 1..z.len() {
            assert!(decode_chunk_range_v3(&z[..cut], i64::MIN, i64::MAX, &mut out).is_err(), "cut {cut}");
        }
        let mut nested = vec![KIND_ZSTD];
        put_uvarint(&mut nested, z.len() as u64);
        nested.extend_from_slice(&zstd::bulk::compress(&z, 3).unwrap());
        assert!(decode_chunk_range_v3(&nested, i64::MIN, i64::MAX, &mut out).is_err());
        assert!(decode_chunk_range_v2(&z, i64::MIN, i64::MAX, &mut out).is_err(), "kind 2 is not a v2 chunk");
    }
}
