//! Gorilla-style chunk encoding of `(timestamp, value)` columns.
//!
//! A chunk holds 1..=[`MAX_CHUNK_SAMPLES`] samples with strictly increasing
//! timestamps. Layout (see `docs/format/v1.md`, "Chunk encoding"):
//!
//! ```text
//! uvarint  sample count n (>= 1)
//! varint   t0 (zigzag)
//! u64 LE   bits of v0
//! bit stream (MSB first, zero-padded to a byte) for samples 1..n:
//!   timestamp: delta-of-delta dod = (t_i - t_{i-1}) - (t_{i-1} - t_{i-2})
//!              (the first delta is a dod against 0), wrapping i64 arithmetic:
//!     '0'                 dod == 0
//!     '10'   + 7 bits     dod in [-2^6, 2^6)     (two's complement; scrape jitter)
//!     '110'  + 14 bits    dod in [-2^13, 2^13)
//!     '1110' + 20 bits    dod in [-2^19, 2^19)
//!     '1111' + 64 bits    anything else
//!   value: x = bits(v_i) XOR bits(v_{i-1})
//!     '0'                 x == 0
//!     '10'  + m bits      x fits the previous window (leading >= L, trailing >= T),
//!                         m = 64 - L - T, the bits between the window edges
//!     '11'  + 5 bits L + 6 bits m (64 stored as 0) + m bits   new window
//! ```
//!
//! Value bits are stored verbatim, so NaN payloads (the staleness marker),
//! signed zeros and infinities round-trip exactly.

pub mod bits;
pub mod hist;
#[cfg(test)]
mod reference;
pub mod v2;
pub mod v3;
pub mod v6;

use strata_common::Sample;

use self::bits::{BitWriter, Cursor, FastBitReader, put_uvarint, put_varint};

/// The most samples one chunk holds.
pub const MAX_CHUNK_SAMPLES: usize = 240;

/// Why a chunk failed to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// The chunk ends before its sample count or bit stream does (or is otherwise malformed).
    #[error("truncated chunk")]
    Truncated,
    /// The chunk claims more samples than a chunk may hold.
    #[error("chunk sample count {0} exceeds the limit")]
    TooManySamples(u64),
}

/// Encodes `ts`/`vs` (same length, 1..=MAX_CHUNK_SAMPLES, strictly increasing
/// timestamps) and appends the chunk to `out`.
pub fn encode_chunk(ts: &[i64], vs: &[f64], out: &mut Vec<u8>) {
    debug_assert_eq!(ts.len(), vs.len());
    debug_assert!(!ts.is_empty() && ts.len() <= MAX_CHUNK_SAMPLES);
    debug_assert!(ts.windows(2).all(|w| w[0] < w[1]), "chunk timestamps must be sorted and unique");
    let n = ts.len().min(vs.len());
    put_uvarint(out, n as u64);
    if n == 0 {
        return;
    }
    put_varint(out, ts[0]);
    out.extend_from_slice(&vs[0].to_bits().to_le_bytes());

    let mut w = BitWriter::new();
    let (mut prev_t, mut prev_delta) = (ts[0], 0i64);
    let mut prev_v = vs[0].to_bits();
    // Current XOR window; leading = 0xff means "no window yet".
    let (mut lead, mut trail) = (0xffu32, 0u32);
    for i in 1..n {
        let delta = ts[i].wrapping_sub(prev_t);
        let dod = delta.wrapping_sub(prev_delta);
        put_dod(&mut w, dod);
        prev_t = ts[i];
        prev_delta = delta;

        let v = vs[i].to_bits();
        let x = v ^ prev_v;
        prev_v = v;
        if x == 0 {
            w.write_bit(false);
            continue;
        }
        let l = x.leading_zeros().min(31);
        let t = x.trailing_zeros();
        if lead != 0xff && l >= lead && t >= trail {
            w.write_bits(0b10, 2);
            w.write_bits(x >> trail, 64 - lead - trail);
        } else {
            lead = l;
            trail = t;
            let m = 64 - l - t;
            w.write_bits(0b11, 2);
            w.write_bits(u64::from(l), 5);
            w.write_bits(u64::from(m & 63), 6);
            w.write_bits(x >> t, m);
        }
    }
    out.extend_from_slice(&w.into_bytes());
}

#[inline]
fn put_dod(w: &mut BitWriter, dod: i64) {
    let fits = |bits: u32| (-(1i64 << (bits - 1))..(1i64 << (bits - 1))).contains(&dod);
    if dod == 0 {
        w.write_bit(false);
    } else if fits(7) {
        w.write_bits(0b10, 2);
        w.write_bits(dod as u64, 7);
    } else if fits(14) {
        w.write_bits(0b110, 3);
        w.write_bits(dod as u64, 14);
    } else if fits(20) {
        w.write_bits(0b1110, 4);
        w.write_bits(dod as u64, 20);
    } else {
        w.write_bits(0b1111, 4);
        w.write_bits(dod as u64, 64);
    }
}

/// The number of samples in an encoded chunk, without decoding it.
pub fn chunk_len(bytes: &[u8]) -> Result<usize, ChunkError> {
    let n = Cursor::new(bytes).uvarint().ok_or(ChunkError::Truncated)?;
    usize::try_from(n).ok().filter(|&n| n <= MAX_CHUNK_SAMPLES).ok_or(ChunkError::TooManySamples(n))
}

/// Decodes a chunk and appends its samples to `out`, in time order.
pub fn decode_chunk(bytes: &[u8], out: &mut Vec<Sample>) -> Result<(), ChunkError> {
    decode_chunk_range(bytes, i64::MIN, i64::MAX, out)
}

/// Decodes a chunk and appends the samples with `min_t <= t <= max_t`.
///
/// Stops at the first timestamp above `max_t` (timestamps within a chunk
/// strictly increase). On an error nothing is appended.
pub fn decode_chunk_range(bytes: &[u8], min_t: i64, max_t: i64, out: &mut Vec<Sample>) -> Result<(), ChunkError> {
    let start = out.len();
    let r = decode_gorilla(bytes, min_t, max_t, out);
    if r.is_err() {
        out.truncate(start);
    }
    r
}

/// [`decode_chunk_range`] with a 64-bit bit reader ([`FastBitReader`]): each
/// field is one load and a few shifts of the next bits, and the truncation
/// check is one comparison after the loop.
#[inline]
fn decode_gorilla(bytes: &[u8], min_t: i64, max_t: i64, out: &mut Vec<Sample>) -> Result<(), ChunkError> {
    let mut c = Cursor::new(bytes);
    let n = c.uvarint().ok_or(ChunkError::Truncated)?;
    if n as usize > MAX_CHUNK_SAMPLES {
        return Err(ChunkError::TooManySamples(n));
    }
    let n = n as usize;
    if n == 0 {
        return Ok(());
    }
    let t0 = c.varint().ok_or(ChunkError::Truncated)?;
    let v0 = c.u64_le().ok_or(ChunkError::Truncated)?;
    if t0 > max_t {
        return Ok(());
    }
    out.reserve(n);
    if t0 >= min_t {
        out.push(Sample::new(t0, f64::from_bits(v0)));
    }
    let mut r = FastBitReader::new(c.remaining());
    let (mut t, mut delta, mut v) = (t0, 0i64, v0);
    // The XOR window: its meaningful bits and its trailing zeros (none before the first '11').
    let (mut width, mut trail) = (64u32, 0u32);
    for _ in 1..n {
        let p = r.peek();
        let dod = if p >> 63 == 0 {
            r.skip(1);
            0
        } else {
            // Arithmetic shifts sign-extend the payload after the prefix.
            match (!p).leading_zeros() {
                1 => {
                    r.skip(2 + 7);
                    ((p << 2) as i64) >> (64 - 7)
                }
                2 => {
                    r.skip(3 + 14);
                    ((p << 3) as i64) >> (64 - 14)
                }
                3 => {
                    r.skip(4 + 20);
                    ((p << 4) as i64) >> (64 - 20)
                }
                _ => {
                    r.skip(4);
                    r.read_long(64) as i64
                }
            }
        };
        delta = delta.wrapping_add(dod);
        t = t.wrapping_add(delta);
        if t > max_t {
            break;
        }

        let p = r.peek();
        if p >> 63 != 0 {
            if (p >> 62) & 1 == 0 {
                // '10': the previous window.
                let x = if width <= FastBitReader::PEEK_BITS - 2 {
                    r.skip(2 + width);
                    (p << 2) >> (64 - width)
                } else {
                    r.skip(2);
                    r.read_long(width)
                };
                v ^= x << trail;
            } else {
                // '11': 5 bits leading zeros, 6 bits width (0 = 64), then the bits.
                let lead = ((p >> 57) & 31) as u32;
                let m = ((p >> 51) & 63) as u32;
                width = if m == 0 { 64 } else { m };
                // A corrupt window could claim more than 64 bits in total.
                trail = 64u32.checked_sub(lead + width).ok_or(ChunkError::Truncated)?;
                r.skip(13);
                v ^= r.read_long(width) << trail;
            }
        } else {
            r.skip(1);
        }
        if t >= min_t {
            out.push(Sample::new(t, f64::from_bits(v)));
        }
    }
    if r.overrun() {
        return Err(ChunkError::Truncated);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use strata_common::sample::{STALE_NAN_BITS, stale_nan};

    fn round_trip(ts: &[i64], vs: &[f64]) -> (Vec<Sample>, usize) {
        let mut buf = Vec::new();
        encode_chunk(ts, vs, &mut buf);
        let mut out = Vec::new();
        decode_chunk(&buf, &mut out).unwrap();
        assert_eq!(chunk_len(&buf).unwrap(), ts.len());
        (out, buf.len())
    }

    fn assert_exact(got: &[Sample], ts: &[i64], vs: &[f64]) {
        assert_eq!(got.len(), ts.len());
        for (s, (&t, &v)) in got.iter().zip(ts.iter().zip(vs)) {
            assert_eq!(s.t, t);
            assert_eq!(s.v.to_bits(), v.to_bits(), "value bits at t={t}");
        }
    }

    #[test]
    fn special_values_round_trip_bit_exact() {
        let ts = [-5_000, -10, 0, 1, 2, 1 << 40, i64::MAX];
        let vs = [stale_nan(), f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0, f64::MIN_POSITIVE];
        let (got, _) = round_trip(&ts, &vs);
        assert_exact(&got, &ts, &vs);
        assert_eq!(got[0].v.to_bits(), STALE_NAN_BITS);
    }

    /// The example in `docs/format/v1.md`.
    #[test]
    fn documented_example_bytes() {
        let mut buf = Vec::new();
        encode_chunk(&[1000, 2000, 3000], &[1.0, 1.0, 2.0], &mut buf);
        let want = [0x03, 0xd0, 0x0f, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0xc1, 0xf4, 0x18, 0x4b, 0xff, 0xe0];
        assert_eq!(buf, want);
    }

    #[test]
    fn extreme_timestamps_round_trip() {
        let ts = [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX];
        let vs = [1.0; 6];
        let (got, _) = round_trip(&ts, &vs);
        assert_exact(&got, &ts, &vs);
    }

    #[test]
    fn range_decode_filters() {
        let ts: Vec<i64> = (0..100).map(|i| i * 10).collect();
        let vs: Vec<f64> = (0..100).map(f64::from).collect();
        let mut buf = Vec::new();
        encode_chunk(&ts, &vs, &mut buf);
        let mut out = Vec::new();
        decode_chunk_range(&buf, 95, 130, &mut out).unwrap();
        assert_eq!(
            out,
            vec![Sample::new(100, 10.0), Sample::new(110, 11.0), Sample::new(120, 12.0), Sample::new(130, 13.0)]
        );
    }

    #[test]
    fn truncation_is_an_error_not_a_panic() {
        let ts: Vec<i64> = (0..50).map(|i| i * 15_000 + i % 7).collect();
        let vs: Vec<f64> = (0..50).map(|i| (i as f64).sin()).collect();
        let mut buf = Vec::new();
        encode_chunk(&ts, &vs, &mut buf);
        for cut in 0..buf.len() {
            let mut out = Vec::new();
            assert!(decode_chunk(&buf[..cut], &mut out).is_err(), "cut at {cut} decoded");
        }
    }

    /// Compression of a realistic counter: 10s scrape interval, one scrape in
    /// ten off by up to ±3 ms (Prometheus aligns smaller jitter away), and
    /// 0..=20 requests per scrape. Also prints a worst-case-ish series: jitter
    /// on every sample and 0..=50 increments, and a noisy one-decimal gauge.
    #[test]
    fn counter_compresses_below_3_bytes_per_sample() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut total_bytes, mut total) = (0usize, 0usize);
        let (mut worst_bytes, mut gauge_bytes) = (0usize, 0usize);
        let (mut t, mut tw) = (1_700_000_000_000i64, 1_700_000_000_000i64);
        let (mut v, mut vw) = (12_345.0f64, 12_345.0f64);
        for _ in 0..20 {
            let (mut ts, mut vs, mut tws, mut vws, mut gs) = (vec![], vec![], vec![], vec![], vec![]);
            for _ in 0..MAX_CHUNK_SAMPLES {
                let jitter = if rnd() % 10 == 0 { (rnd() % 7) as i64 - 3 } else { 0 };
                t += 10_000;
                ts.push(t + jitter);
                v += (rnd() % 21) as f64;
                vs.push(v);
                tw += 10_000 + (rnd() % 5) as i64 - 2;
                tws.push(tw);
                vw += (rnd() % 51) as f64;
                vws.push(vw);
                gs.push(((rnd() % 1000) as f64) / 10.0);
            }
            let (got, len) = round_trip(&ts, &vs);
            assert_exact(&got, &ts, &vs);
            total_bytes += len;
            total += ts.len();
            let (got, len) = round_trip(&tws, &vws);
            assert_exact(&got, &tws, &vws);
            worst_bytes += len;
            let (_, glen) = round_trip(&ts, &gs);
            gauge_bytes += glen;
        }
        let per_sample = total_bytes as f64 / total as f64;
        let worst = worst_bytes as f64 / total as f64;
        let gauge = gauge_bytes as f64 / total as f64;
        println!("counter: {per_sample:.2} B/sample, jittery busy counter: {worst:.2}, noisy gauge: {gauge:.2}");
        assert!(per_sample < 3.0, "{per_sample} B/sample");

        // Perfectly regular timestamps and a constant value: ~2 bits/sample.
        let ts: Vec<i64> = (0..240).map(|i| i * 10_000).collect();
        let (_, len) = round_trip(&ts, &[1.0; 240]);
        assert!(len < 80, "{len} bytes for a constant series");
    }

    proptest! {
        #[test]
        fn prop_round_trip(mut raw in prop::collection::vec((any::<i64>(), any::<u64>()), 1..=MAX_CHUNK_SAMPLES)) {
            raw.sort_by_key(|p| p.0);
            raw.dedup_by_key(|p| p.0);
            let ts: Vec<i64> = raw.iter().map(|p| p.0).collect();
            let vs: Vec<f64> = raw.iter().map(|p| f64::from_bits(p.1)).collect();
            let (got, _) = round_trip(&ts, &vs);
            prop_assert_eq!(got.len(), ts.len());
            for (s, (&t, &v)) in got.iter().zip(ts.iter().zip(&vs)) {
                prop_assert_eq!(s.t, t);
                prop_assert_eq!(s.v.to_bits(), v.to_bits());
            }
        }

        #[test]
        fn prop_round_trip_regular(start in -1_000_000_000_000i64..1_000_000_000_000, step in 1i64..100_000,
                                   jitter in prop::collection::vec(-500i64..500, 1..=MAX_CHUNK_SAMPLES),
                                   vals in prop::collection::vec(prop_oneof![Just(f64::NAN), Just(stale_nan()),
                                       Just(f64::INFINITY), Just(f64::NEG_INFINITY), -1e6f64..1e6], 1..=MAX_CHUNK_SAMPLES)) {
            let n = jitter.len().min(vals.len());
            let step = step.max(1001); // keeps jittered timestamps strictly increasing
            let ts: Vec<i64> = (0..n).map(|i| start + i as i64 * step + jitter[i]).collect();
            let vs = &vals[..n];
            let (got, _) = round_trip(&ts, vs);
            for (s, (&t, &v)) in got.iter().zip(ts.iter().zip(vs)) {
                prop_assert_eq!(s.t, t);
                prop_assert_eq!(s.v.to_bits(), v.to_bits());
            }
            prop_assert_eq!(got.len(), n);
        }
    }
}
