//! Histogram chunks (data file format v5, `docs/format/v5.md`): up to
//! [`MAX_HIST_CHUNK_SAMPLES`] native-histogram samples of one series.
//!
//! ```text
//! u8       kind = 3 (histogram chunk)
//! uvarint  n, the sample count (1..=120)
//! varint   t_0 (zigzag); then n-1 × uvarint t_i - t_{i-1} (> 0)
//! n ×      one histogram in the shared histogram encoding
//!          (`common/docs/format/log-record.md`, "Histogram encoding")
//! ```
//!
//! No entropy coder: a histogram is already varint- and delta-coded, and a
//! series' histograms are usually a small share of a file.

use strata_common::histogram::{HistSample, codec};
use strata_common::varint::{Cursor, put_uvarint, put_varint};

use super::ChunkError;

/// The kind byte of a histogram chunk.
pub const KIND_HISTOGRAM: u8 = 3;

/// The most samples one histogram chunk holds.
pub const MAX_HIST_CHUNK_SAMPLES: usize = 120;

/// Appends a chunk of `samples` (1..=MAX, strictly increasing timestamps).
pub fn encode_hist_chunk(samples: &[HistSample], out: &mut Vec<u8>) {
    debug_assert!(!samples.is_empty() && samples.len() <= MAX_HIST_CHUNK_SAMPLES);
    out.push(KIND_HISTOGRAM);
    put_uvarint(out, samples.len() as u64);
    let mut prev = None;
    for s in samples {
        match prev {
            None => put_varint(out, s.t),
            Some(p) => put_uvarint(out, s.t.wrapping_sub(p) as u64),
        }
        prev = Some(s.t);
    }
    for s in samples {
        codec::encode(&s.h, out);
    }
}

/// Appends the chunk's samples with `min_t <= t <= max_t` to `out`.
pub fn decode_hist_chunk_range(
    bytes: &[u8],
    min_t: i64,
    max_t: i64,
    out: &mut Vec<HistSample>,
) -> Result<(), ChunkError> {
    let mut c = Cursor::new(bytes);
    if c.bytes(1) != Some(&[KIND_HISTOGRAM][..]) {
        return Err(ChunkError::Truncated);
    }
    let n = c.uvarint().ok_or(ChunkError::Truncated)?;
    if n as usize > MAX_HIST_CHUNK_SAMPLES {
        return Err(ChunkError::TooManySamples(n));
    }
    let mut ts = Vec::with_capacity(n as usize);
    for i in 0..n {
        let t = if i == 0 {
            c.varint().ok_or(ChunkError::Truncated)?
        } else {
            ts.last().copied().unwrap_or(0i64).wrapping_add(c.uvarint().ok_or(ChunkError::Truncated)? as i64)
        };
        ts.push(t);
    }
    for t in ts {
        let h = codec::decode(&mut c).ok_or(ChunkError::Truncated)?;
        if t >= min_t && t <= max_t {
            out.push(HistSample::new(t, h));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use strata_common::histogram::{Histogram, Span};

    use super::*;

    /// The example of `docs/format/v5.md`, byte for byte.
    #[test]
    fn documented_example_bytes() {
        let h = Histogram {
            integer: true,
            count: 1.0,
            sum: 2.0,
            positive_spans: vec![Span { offset: 0, length: 1 }],
            positive_buckets: vec![1.0],
            ..Histogram::default()
        };
        let mut buf = Vec::new();
        encode_hist_chunk(&[HistSample::new(1, h)], &mut buf);
        let want = [
            &[0x03, 0x01, 0x02, 0x01, 0x00][..],
            &[0; 8],
            &[0, 0, 0, 0, 0, 0, 0, 0x40],
            &[0x01, 0x00, 0x01, 0x00, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00],
        ]
        .concat();
        assert_eq!(buf, want);
    }

    #[test]
    fn round_trip_and_range() {
        let h = |n: f64| Histogram {
            integer: true,
            count: n,
            sum: n,
            positive_spans: vec![Span { offset: 0, length: 1 }],
            positive_buckets: vec![n],
            ..Histogram::default()
        };
        let samples: Vec<HistSample> = (0..10).map(|i| HistSample::new(1000 + i * 15, h(i as f64))).collect();
        let mut buf = Vec::new();
        encode_hist_chunk(&samples, &mut buf);
        let mut out = Vec::new();
        decode_hist_chunk_range(&buf, i64::MIN, i64::MAX, &mut out).unwrap();
        assert_eq!(out, samples);
        out.clear();
        decode_hist_chunk_range(&buf, 1015, 1030, &mut out).unwrap();
        assert_eq!(out.iter().map(|s| s.t).collect::<Vec<_>>(), vec![1015, 1030]);
        for cut in 0..buf.len() {
            assert!(decode_hist_chunk_range(&buf[..cut], 0, i64::MAX, &mut Vec::new()).is_err());
        }
    }
}
