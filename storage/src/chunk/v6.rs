//! Chunk encoding of format v6 (`docs/format/v6.md`): the v3 chunk kinds
//! (0 Gorilla, 1 decimal, 2 zstd) plus
//!
//! - **kind 4, float bits**: the value column as the integers whose order is
//!   the floats' order (the IEEE bit pattern, negative values' magnitude bits
//!   flipped), in an int block like a decimal chunk's mantissas. A
//!   full-precision random walk then costs the bit length of its step in
//!   units of the last place (about its entropy) instead of Gorilla's XOR,
//!   which spreads every carry over the following bits;
//! - **int-block modes 5 and 6** (kinds 1 and 4): deltas (mode 5) or values
//!   (mode 6) less their minimum and divided by their greatest common
//!   divisor. Counters with random increments stop paying for the sign and
//!   the increments' floor; values in whole pages (multiples of 4096) or any
//!   other fixed step stop paying for the step's bits.
//!
//! ```text
//! kind 4: uvarint n (1..=1024) | int block: timestamps | int block: ordered(bits(v_i))
//! ordered(u) = u as i64 if the sign bit is clear, else (u ^ 0x7fff_ffff_ffff_ffff) as i64
//! ```
//! Every bit pattern round-trips (NaN payloads, -0.0, infinities), so kind 4
//! needs no fallback; the writer still keeps Gorilla (kind 0) where that is
//! smaller per sample (e.g. a staleness marker inside a chunk of small steps).
use strata_common::Sample;

use super::bits::Cursor;
use super::v2::{
    KIND_DECIMAL, KIND_GORILLA, MAX_CHUNK_SAMPLES_V2, decimal_exponent, decode_decimal, encode_decimal, get_count,
    get_ints_with, next_chunk_len, put_ints_with, put_timestamps_v6, time_window,
};
use super::v3::decode_zstd_with;
use super::{ChunkError, decode_chunk_range as decode_v1, encode_chunk as encode_v1};

/// Kind 4: the value column as order-preserving integers of the float bits.
pub const KIND_BITS: u8 = 4;

/// The integer whose order is the float's: positive floats keep their bit
/// pattern, negative ones flip their 63 magnitude bits. Its own inverse.
#[inline]
pub fn ordered(bits: u64) -> i64 {
    let i = bits as i64;
    if i < 0 { i ^ i64::MAX } else { i }
}

/// Encodes the next chunk of `ts`/`vs` (same length, non-empty, strictly
/// increasing timestamps) into `out` and returns how many samples it took:
/// up to 1024 as kind 1 when they all scale to decimals; otherwise the
/// smaller per sample of kind 4 over up to 1024 samples and the v2 choice
/// (up to 240 samples, kind 1 or Gorilla).
pub fn encode_next_chunk_v6(ts: &[i64], vs: &[f64], out: &mut Vec<u8>) -> usize {
    let long = ts.len().min(vs.len()).min(MAX_CHUNK_SAMPLES_V2);
    if long == 0 {
        return 0;
    }
    if let Some(e) = decimal_exponent(&vs[..long]) {
        encode_decimal(&ts[..long], &vs[..long], e, out, true);
        return long;
    }
    let start = out.len();
    encode_bits(&ts[..long], &vs[..long], out);
    let bits_len = out.len() - start;
    let short = next_chunk_len(&vs[..long]);
    let mut alt = Vec::new();
    match decimal_exponent(&vs[..short]) {
        Some(e) => encode_decimal(&ts[..short], &vs[..short], e, &mut alt, true),
        None => {
            alt.push(KIND_GORILLA);
            encode_v1(&ts[..short], &vs[..short], &mut alt);
        }
    }
    // Fewer bytes per sample wins (ties: the longer kind-4 chunk).
    if alt.len() * long < bits_len * short {
        out.truncate(start);
        out.extend_from_slice(&alt);
        short
    } else {
        long
    }
}

/// Appends a kind-4 chunk of `ts`/`vs` (1..=1024 samples).
fn encode_bits(ts: &[i64], vs: &[f64], out: &mut Vec<u8>) {
    out.push(KIND_BITS);
    super::bits::put_uvarint(out, ts.len() as u64);
    put_timestamps_v6(out, ts);
    let xs: Vec<i64> = vs.iter().map(|v| ordered(v.to_bits())).collect();
    put_ints_with(out, &xs, true);
}

/// Decodes a v6 chunk that is not zstd-wrapped (kinds 0, 1 and 4) whose
/// chunk reference spans `span` = `(min_t, max_t)`.
fn decode_plain(
    bytes: &[u8],
    span: (i64, i64),
    min_t: i64,
    max_t: i64,
    out: &mut Vec<Sample>,
) -> Result<(), ChunkError> {
    let (&kind, rest) = bytes.split_first().ok_or(ChunkError::Truncated)?;
    match kind {
        KIND_GORILLA => decode_v1(rest, min_t, max_t, out),
        KIND_DECIMAL => decode_decimal(rest, Some(span), min_t, max_t, out),
        KIND_BITS => {
            let mut c = Cursor::new(rest);
            let n = get_count(&mut c)?;
            let (mut ts, mut xs) = (Vec::with_capacity(n), Vec::with_capacity(n));
            get_ints_with(&mut c, n, n, &mut ts, true, Some(span))?;
            let (lo, hi) = time_window(&ts, min_t, max_t);
            if lo == hi {
                return Ok(());
            }
            // Values after the last timestamp in range are not decoded.
            get_ints_with(&mut c, n, hi, &mut xs, true, None)?;
            let samples = ts[lo..hi].iter().zip(&xs[lo..hi]);
            out.extend(samples.map(|(&t, &x)| Sample::new(t, f64::from_bits(ordered(x as u64) as u64))));
            Ok(())
        }
        _ => Err(ChunkError::Truncated),
    }
}

/// Decodes a v6 chunk (kinds 0, 1, 4, or 2: zstd over one of those) whose
/// chunk reference in the series table spans `span` = `(min_t, max_t)`
/// (regular timestamps are implied by it), appending the samples with
/// `min_t <= t <= max_t`.
pub fn decode_chunk_range_v6(
    bytes: &[u8],
    span: (i64, i64),
    min_t: i64,
    max_t: i64,
    out: &mut Vec<Sample>,
) -> Result<(), ChunkError> {
    decode_zstd_with(bytes, min_t, max_t, out, &|b, lo, hi, o| decode_plain(b, span, lo, hi, o))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::chunk::v3::{ZSTD_LEVEL, compress_chunk};
    use proptest::prelude::*;
    use strata_common::sample::stale_nan;

    /// Encodes the whole series chunk by chunk, (optionally zstd-wrapped),
    /// decodes it and checks every bit; returns the chunks.
    fn round_trip(ts: &[i64], vs: &[f64], zstd: bool) -> Vec<Vec<u8>> {
        let mut cctx = zstd::bulk::Compressor::new(ZSTD_LEVEL).unwrap();
        let (mut chunks, mut out, mut at) = (Vec::new(), Vec::new(), 0);
        while at < ts.len() {
            let mut c = Vec::new();
            let n = encode_next_chunk_v6(&ts[at..], &vs[at..], &mut c);
            assert!(n > 0);
            if zstd {
                let mut z = Vec::new();
                compress_chunk(&c, &mut cctx, &mut z);
                c = z;
            }
            let before = out.len();
            decode_chunk_range_v6(&c, (ts[at], ts[at + n - 1]), i64::MIN, i64::MAX, &mut out).unwrap();
            assert_eq!(out.len() - before, n);
            chunks.push(c);
            at += n;
        }
        let got: Vec<(i64, u64)> = out.iter().map(|s| (s.t, s.v.to_bits())).collect();
        let want: Vec<(i64, u64)> = ts.iter().zip(vs).map(|(&t, v)| (t, v.to_bits())).collect();
        assert_eq!(got, want);
        chunks
    }

    /// The examples in `docs/format/v6.md`.
    #[test]
    fn documented_example_bytes() {
        let ts = [1000, 11000, 21000];
        let vs = [1.0, f64::from_bits(0x3ff0_0000_0000_0001), f64::from_bits(0x3ff0_0000_0000_0002)];
        let mut buf = Vec::new();
        encode_bits(&ts, &vs, &mut buf);
        let want = [4, 3, 8, 0, 0, 2, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0xf0, 0x7f, 0x18];
        assert_eq!(buf, want);
        let mut out = Vec::new();
        decode_chunk_range_v6(&buf, (1000, 21000), i64::MIN, i64::MAX, &mut out).unwrap();
        assert_eq!(
            out.iter().map(|s| (s.t, s.v.to_bits())).collect::<Vec<_>>(),
            [(1000, 1f64.to_bits()), (11000, 0x3ff0_0000_0000_0001), (21000, 0x3ff0_0000_0000_0002)]
        );
        // Mode 5: x_0 = 10, d_min = 2000, g = 10, packed 0, 50, 1 in 6 bits.
        let chunk = [1, 4, 8, 0, 0, 5, 6, 0x14, 0xa0, 0x1f, 0x0a, 0x03, 0x20, 0x40];
        out.clear();
        decode_chunk_range_v6(&chunk, (1000, 31000), i64::MIN, i64::MAX, &mut out).unwrap();
        assert_eq!(
            out,
            [
                Sample::new(1000, 10.0),
                Sample::new(11000, 2010.0),
                Sample::new(21000, 4510.0),
                Sample::new(31000, 6520.0)
            ]
        );
    }

    #[test]
    fn ordered_is_monotone_and_its_own_inverse() {
        let vs = [f64::NEG_INFINITY, -1e300, -2.5, -1.0, -f64::MIN_POSITIVE, -0.0, 0.0, 1e-300, 1.0, 2.5, f64::MAX];
        let xs: Vec<i64> = vs.iter().map(|v| ordered(v.to_bits())).collect();
        assert!(xs.windows(2).all(|w| w[0] < w[1]), "{xs:?}");
        for v in vs.iter().chain(&[f64::NAN, stale_nan()]) {
            assert_eq!(ordered(ordered(v.to_bits()) as u64) as u64, v.to_bits());
        }
    }

    /// A full-precision random walk: kind 4 in 1024-sample chunks, within
    /// a few bits of the step's size in units of the last place.
    #[test]
    fn random_walks_take_kind_4_and_beat_gorilla() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut v = 50.0f64;
        let vs: Vec<f64> = (0..3000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                v = (v + (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5).clamp(40.0, 60.0);
                v
            })
            .collect();
        let ts: Vec<i64> = (0..3000).map(|i| 1_700_000_000_000 + i * 10_000).collect();
        let chunks = round_trip(&ts, &vs, false);
        assert!(
            chunks.iter().all(|c| c[0] == KIND_BITS),
            "kinds {:?}",
            chunks.iter().map(|c| c[0]).collect::<Vec<_>>()
        );
        let bytes: usize = chunks.iter().map(Vec::len).sum();
        let mut gorilla = Vec::new();
        for (t, v) in ts.chunks(240).zip(vs.chunks(240)) {
            encode_v1(t, v, &mut gorilla);
        }
        // Steps up to 0.5 at 2^-47 per unit in the last place: 46 bits + sign.
        assert!(bytes * 8 < 48 * 3000, "{bytes} bytes");
        assert!(bytes < gorilla.len() * 9 / 10, "kind 4 {bytes} vs Gorilla {}", gorilla.len());
        round_trip(&ts, &vs, true);
    }

    #[test]
    fn pages_and_counters_use_the_gcd_modes() {
        let ts: Vec<i64> = (0..1024).map(|i| i * 10_000).collect();
        // Whole 4 KiB pages wandering around 8 GiB.
        let pages: Vec<f64> = (0..1024i64).map(|i| ((2_000_000 + (i * 7919) % 5000) * 4096) as f64).collect();
        let c = round_trip(&ts, &pages, false);
        let mut v2 = Vec::new();
        crate::chunk::v2::encode_chunk_v2(&ts, &pages, &mut v2);
        assert_eq!(c.len(), 1);
        assert!(c[0].len() * 10 < v2.len() * 6, "v6 {} vs v2 {} bytes", c[0].len(), v2.len());
        // A counter whose increments are 1000..=1999.
        let mut x = 0i64;
        let counter: Vec<f64> = (0..1024)
            .map(|i| {
                x += 1000 + (i * 7919) % 1000;
                x as f64
            })
            .collect();
        let c = round_trip(&ts, &counter, false);
        // Mode 5 packs the increments less 1000 in 10 bits (1279 bytes); v2's
        // zigzag deltas need 12 (1535 bytes).
        assert!(c[0].len() < 1279 + 30, "{} bytes", c[0].len());
    }

    #[test]
    fn special_values_and_mixed_series_round_trip() {
        let ts: Vec<i64> = (0..2500).map(|i| i * 15_000 + (i % 3)).collect();
        let mut vs: Vec<f64> = (0..2500).map(|i| (i as f64 * 0.37).sin() * 1e3).collect();
        vs[10] = stale_nan();
        vs[11] = -0.0;
        vs[1500] = f64::INFINITY;
        vs[1600] = f64::NEG_INFINITY;
        vs[2000..2300].iter_mut().enumerate().for_each(|(i, v)| *v = i as f64);
        round_trip(&ts, &vs, false);
        round_trip(&ts, &vs, true);
        round_trip(&[i64::MIN, -1, 0, i64::MAX], &[f64::MAX, f64::MIN, 5e-324, -5e-324], false);
        round_trip(&[7], &[0.1], false);
    }

    #[test]
    fn corrupted_chunks_are_errors_not_panics() {
        let regular: Vec<i64> = (0..500).map(|i| i * 10_000).collect();
        let jittered: Vec<i64> = (0..500).map(|i| i * 10_000 + (i * i) % 7).collect();
        let vs: Vec<f64> = (0..500).map(|i| 50.0 + (i as f64 * 0.01).sin()).collect();
        let pages: Vec<f64> = (0..500).map(|i| ((1000 + i % 17) * 4096) as f64).collect();
        let mut out = Vec::new();
        for ts in [&regular, &jittered] {
            let span = (ts[0], ts[499]);
            for v in [&vs, &pages] {
                let c = round_trip(ts, v, false).remove(0);
                for cut in 0..c.len() {
                    let r = decode_chunk_range_v6(&c[..cut], span, i64::MIN, i64::MAX, &mut out);
                    assert!(r.is_err(), "cut at {cut}");
                }
                // Every single-byte change decodes to something or is an error; never a panic.
                for i in 0..c.len().min(64) {
                    for flip in [0x01u8, 0x80, 0xff] {
                        let mut bad = c.clone();
                        bad[i] ^= flip;
                        let _ = decode_chunk_range_v6(&bad, span, i64::MIN, i64::MAX, &mut out);
                    }
                }
            }
        }
        // Implied timestamps need a span that the sample count divides.
        let c = round_trip(&regular, &pages, false).remove(0);
        assert_eq!(&c[..4], &[1, 0xf4, 0x03, 8], "kind 1, n = 500, timestamps mode 8");
        assert!(decode_chunk_range_v6(&c, (0, 4_990_001), i64::MIN, i64::MAX, &mut out).is_err());
        assert!(decode_chunk_range_v6(&c, (5, 5), i64::MIN, i64::MAX, &mut out).is_err());
        let one = round_trip(&[5], &[0.5], false).remove(0);
        assert!(decode_chunk_range_v6(&one, (5, 6), i64::MIN, i64::MAX, &mut out).is_err());
        // Unknown kinds and modes, a zero gcd, widths above 64.
        let span = (0, 0);
        for bad in [
            &[5u8, 1, 8, 0, 0, 0][..],       // kind 5
            &[4, 1, 8, 0, 6, 0, 0, 0],       // mode 6 with gcd 0
            &[4, 1, 8, 0, 0, 65, 0],         // width 65
            &[4, 1, 8, 0, 9, 0, 0],          // mode 9
            &[4, 1, 8, 1, 0, 0, 0],          // mode 8 with a width
            &[4, 2, 8, 0, 7, 0, 0, 1, 0x82], // mode 7, miniblock width 65
            &[4, 1, 8, 0, 8, 0],             // mode 8 for values
        ] {
            let span = if bad[1] == 2 { (0, 10) } else { span };
            assert!(decode_chunk_range_v6(bad, span, i64::MIN, i64::MAX, &mut out).is_err(), "{bad:?}");
        }
        // The v2 and v3 decoders refuse the v6 modes and kind 4.
        let c = round_trip(&jittered, &pages, false).remove(0);
        assert!(crate::chunk::v2::decode_chunk_range_v2(&c, i64::MIN, i64::MAX, &mut out).is_err());
        let c = round_trip(&jittered, &vs, false).remove(0);
        assert_eq!(c[0], KIND_BITS);
        assert!(crate::chunk::v3::decode_chunk_range_v3(&c, i64::MIN, i64::MAX, &mut out).is_err());
    }

    proptest! {
        #[test]
        fn prop_round_trip(start in any::<i64>(), steps in prop::collection::vec(1i64..100_000, 0..2100),
                           walk in prop::collection::vec(-1.0f64..1.0, 2100),
                           specials in prop::collection::vec((0usize..2100, prop_oneof![
                               Just(f64::NAN), Just(stale_nan()), Just(-0.0), Just(f64::INFINITY),
                               any::<f64>(), (-1000i64..1000).prop_map(|x| x as f64 * 4096.0)]), 0..5),
                           zstd in any::<bool>()) {
            let mut ts = vec![start];
            for s in &steps {
                let next = ts.last().unwrap().wrapping_add(*s);
                if next <= *ts.last().unwrap() { break; }
                ts.push(next);
            }
            let mut v = 50.0;
            let mut vs: Vec<f64> = walk[..ts.len()].iter().map(|d| { v += d; v }).collect();
            for (i, x) in specials {
                if i < vs.len() { vs[i] = x; }
            }
            round_trip(&ts, &vs, zstd);
        }
    }
}
