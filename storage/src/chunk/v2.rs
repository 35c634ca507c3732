//! Chunk encoding of format version 2: integer columns bit-packed at the
//! narrowest width among three transforms, values scaled to decimal
//! integers when that is exact; Gorilla (the v1 chunk) as the fallback.
//! Layout (see `docs/format/v2.md`, "Chunk encoding v2"):
//!
//! ```text
//! u8 kind
//! kind 0: a v1 chunk (Gorilla: delta-of-delta timestamps, XOR values)
//! kind 1: uvarint n | int block: timestamps | u8 e | int block: m_i
//!         where value_i = m_i / 10^e exactly (bit for bit)
//! kind 2 (formats v3 and v4 only, [`super::v3`]): zstd over a kind 0 or 1 chunk
//! int block: u8 mode | u8 width | varint head(s) | [uvarint len] | packed (MSB first)
//!   mode 0 (offset):  varint base;          packed x_i - base            (n values)
//!   mode 1 (delta):   varint x0;            packed zigzag(x_i - x_{i-1}) (n - 1)
//!   mode 2 (dod):     varint x0, varint d1; packed zigzag(dod_i)         (n - 2)
//!   modes 3 / 4: as 1 / 2, but each value Elias-gamma coded (len bytes)
//!   modes 5-8 (format v6 only, `docs/format/v6.md`): deltas or values less
//!   their minimum and divided by their gcd (5, 6), deltas in 16-value
//!   miniblocks (7), timestamps implied by the chunk reference (8)
//! ```
//! Regular scrapes give width 0 timestamps (0 bits/sample); counters with
//! steady rates give width-0 or narrow dods; small integer gauges pack to
//! their range, or gamma-code their mostly small steps with rare jumps.
//! All arithmetic wraps, so any `i64` sequence round-trips.
use strata_common::Sample;
use strata_common::varint::{unzigzag, zigzag};

use super::bits::{BitWriter, Cursor, FastBitReader, put_uvarint, put_varint};
use super::{ChunkError, MAX_CHUNK_SAMPLES, decode_chunk_range as decode_v1, encode_chunk as encode_v1};

/// The most samples one v2 chunk holds (decimal kind; a Gorilla chunk
/// still holds at most [`MAX_CHUNK_SAMPLES`]). Larger than v1's 240 because
/// a bit-packed chunk's fixed cost (kind, count, block heads, its entry in
/// the series table: ~30 bytes) is no longer small next to its samples.
pub const MAX_CHUNK_SAMPLES_V2: usize = 1024;

/// How many of the samples with values `vs` the next chunk takes: up to
/// [`MAX_CHUNK_SAMPLES_V2`] when they all scale to decimals, else up to
/// [`MAX_CHUNK_SAMPLES`] (a Gorilla chunk, or a decimal one if that prefix scales).
pub fn next_chunk_len(vs: &[f64]) -> usize {
    let long = vs.len().min(MAX_CHUNK_SAMPLES_V2);
    if long > MAX_CHUNK_SAMPLES && decimal_exponent(&vs[..long]).is_some() {
        long
    } else {
        vs.len().min(MAX_CHUNK_SAMPLES)
    }
}

/// Largest decimal exponent tried (values with up to 9 decimal digits).
pub(super) const MAX_EXPONENT: u32 = 9;
/// Mantissas stay within ±2^53 (exact in an f64).
const MAX_MANTISSA: f64 = 9_007_199_254_740_992.0;

/// Deltas per miniblock of the v6 int-block mode 7.
pub(super) const MINIBLOCK: usize = 16;
/// The v6 int-block mode of regular timestamps implied by the chunk reference.
pub(super) const MODE_IMPLIED: u8 = 8;

pub(super) const KIND_GORILLA: u8 = 0;
pub(super) const KIND_DECIMAL: u8 = 1;

fn width(max: u64) -> u32 {
    64 - max.leading_zeros()
}

/// Elias-gamma code length of `v` (coded as `v + 1`); values at or above
/// 2^62 are not gamma-coded (a mode using them is never chosen).
fn gamma_len(v: u64) -> usize {
    if v >= 1 << 62 {
        return usize::MAX / 512;
    }
    2 * (63 - (v + 1).leading_zeros()) as usize + 1
}

fn put_gamma(w: &mut BitWriter, v: u64) {
    let u = v + 1; // callers never pass values >= 2^62
    let z = 63 - u.leading_zeros();
    w.write_bits(0, z);
    w.write_bits(u, z + 1);
}

/// The integer `m` with `m / scale == v` bit for bit (the decoder's exact
/// computation), if there is one within ±2^53.
fn mantissa(v: f64, scale: f64) -> Option<i64> {
    let m = (v * scale).round();
    if m.is_nan() || m.abs() > MAX_MANTISSA {
        return None;
    }
    let m = m as i64;
    ((m as f64 / scale).to_bits() == v.to_bits()).then_some(m)
}

/// The exponent `e` such that every value is `m / 10^e` exactly, if any.
pub(super) fn decimal_exponent(vs: &[f64]) -> Option<u32> {
    let mut e = 0u32;
    'values: for &v in vs {
        while e <= MAX_EXPONENT {
            if mantissa(v, 10f64.powi(e as i32)).is_some() {
                continue 'values;
            }
            e += 1;
        }
        return None;
    }
    // Re-check every value with the final exponent (a larger one can round differently).
    let scale = 10f64.powi(e as i32);
    vs.iter().all(|&v| mantissa(v, scale).is_some()).then_some(e)
}

/// Encodes `ts`/`vs` (strictly increasing timestamps, as many samples as
/// [`next_chunk_len`] allows) in the v2 chunk encoding.
pub fn encode_chunk_v2(ts: &[i64], vs: &[f64], out: &mut Vec<u8>) {
    let n = ts.len().min(vs.len());
    debug_assert!(n <= MAX_CHUNK_SAMPLES_V2);
    match decimal_exponent(&vs[..n]).filter(|_| n > 0) {
        Some(e) => encode_decimal(&ts[..n], &vs[..n], e, out, false),
        None => {
            debug_assert!(n <= MAX_CHUNK_SAMPLES, "a Gorilla chunk holds at most 240 samples");
            out.push(KIND_GORILLA);
            encode_v1(&ts[..n], &vs[..n], out);
        }
    }
}

/// Appends a kind-1 chunk of `ts`/`vs` (every value `m / 10^e` exactly,
/// as [`decimal_exponent`] found), with the v6 int-block modes when `v6`.
pub(super) fn encode_decimal(ts: &[i64], vs: &[f64], e: u32, out: &mut Vec<u8>, v6: bool) {
    let scale = 10f64.powi(e as i32);
    out.push(KIND_DECIMAL);
    put_uvarint(out, ts.len() as u64);
    if v6 {
        put_timestamps_v6(out, ts);
    } else {
        put_ints_with(out, ts, false);
    }
    out.push(e as u8);
    // Every value was checked by `decimal_exponent`.
    let ms: Vec<i64> = vs.iter().map(|&v| mantissa(v, scale).unwrap_or(0)).collect();
    put_ints_with(out, &ms, v6);
}

/// Greatest common divisor (0 when both are 0).
fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The v6 modes' `(min, gcd, packed width)` of `xs`: the values less their
/// minimum, divided by their gcd (1 when they are all equal).
fn min_gcd(xs: impl Iterator<Item = i64> + Clone) -> (i64, u64, u32) {
    let min = xs.clone().min().unwrap_or(0);
    let g = xs.clone().fold(0, |g, x| gcd(g, x.wrapping_sub(min) as u64)).max(1);
    let max = xs.map(|x| x.wrapping_sub(min) as u64 / g).max().unwrap_or(0);
    (min, g, width(max))
}

/// Appends an int block for `xs` (non-empty), choosing the smallest mode:
/// among modes 0-4, plus the v6 modes 5 and 6 when `v6`
/// (`docs/format/v6.md`).
pub(super) fn put_ints_with(out: &mut Vec<u8>, xs: &[i64], v6: bool) {
    let n = xs.len();
    let base = xs.iter().copied().min().unwrap_or(0);
    let offsets: Vec<u64> = xs.iter().map(|&x| x.wrapping_sub(base) as u64).collect();
    let deltas: Vec<u64> = xs.windows(2).map(|w| zigzag(w[1].wrapping_sub(w[0]))).collect();
    let dods: Vec<u64> =
        xs.windows(3).map(|w| zigzag(w[2].wrapping_sub(w[1]).wrapping_sub(w[1].wrapping_sub(w[0])))).collect();
    let max_width = |v: &[u64]| width(v.iter().copied().max().unwrap_or(0));
    let (w0, w1, w2) = (max_width(&offsets), max_width(&deltas), max_width(&dods));
    let vlen = |v: i64| (width(zigzag(v)).max(1) as usize).div_ceil(7);
    let packed = |w: u32, count: usize| (w as usize * count).div_ceil(8);
    // Saturating: 512 or more values at or above 2^62 (each costed near usize::MAX / 512)
    // would otherwise wrap the sum to a small cost and pick a gamma mode they cannot use.
    let gamma = |v: &[u64]| v.iter().map(|&x| gamma_len(x)).fold(0usize, usize::saturating_add).div_ceil(8);
    let d1 = xs.get(1).map_or(0, |x1| x1.wrapping_sub(xs[0]));
    let (g1, g2) = (gamma(&deltas), gamma(&dods));
    // v6: offsets and deltas less their minimum, divided by their gcd.
    let raw_deltas = xs.windows(2).map(|w| w[1].wrapping_sub(w[0]));
    let (ob, og, w6) = if v6 { min_gcd(xs.iter().copied()) } else { (0, 1, 64) };
    let (dmin, dg, w5) = if v6 { min_gcd(raw_deltas.clone()) } else { (0, 1, 64) };
    let uvlen = |v: u64| (width(v).max(1) as usize).div_ceil(7);
    let mut costs = vec![
        packed(w0, n) + vlen(base),
        packed(w1, n - 1) + vlen(xs[0]),
        packed(w2, n.saturating_sub(2)) + vlen(xs[0]) + vlen(d1),
        g1 + vlen(xs[0]) + vlen(g1 as i64) + 1,
        g2 + vlen(xs[0]) + vlen(d1) + vlen(g2 as i64) + 1,
    ];
    // v6 mode 7: zigzag deltas in miniblocks of 16, each with its own width.
    let mini = |d: &[u64]| d.chunks(MINIBLOCK).map(|b| 7 + b.len() * max_width(b) as usize).sum::<usize>().div_ceil(8);
    if v6 {
        costs.push(packed(w5, n - 1) + vlen(xs[0]) + vlen(dmin) + uvlen(dg));
        costs.push(packed(w6, n) + vlen(ob) + uvlen(og));
        let m = mini(&deltas);
        costs.push(m + vlen(xs[0]) + uvlen(m as u64));
    }
    let mode = (0..costs.len()).min_by_key(|&m| costs[m]).unwrap_or(0);
    let mut w = BitWriter::new();
    match mode {
        0 => {
            out.extend_from_slice(&[0, w0 as u8]);
            put_varint(out, base);
            offsets.iter().for_each(|&x| w.write_bits(x, w0));
        }
        1 => {
            out.extend_from_slice(&[1, w1 as u8]);
            put_varint(out, xs[0]);
            deltas.iter().for_each(|&x| w.write_bits(x, w1));
        }
        2 => {
            out.extend_from_slice(&[2, w2 as u8]);
            put_varint(out, xs[0]);
            put_varint(out, d1);
            dods.iter().for_each(|&x| w.write_bits(x, w2));
        }
        3 => {
            out.extend_from_slice(&[3, 0]);
            put_varint(out, xs[0]);
            deltas.iter().for_each(|&x| put_gamma(&mut w, x));
        }
        5 => {
            out.extend_from_slice(&[5, w5 as u8]);
            put_varint(out, xs[0]);
            put_varint(out, dmin);
            put_uvarint(out, dg);
            raw_deltas.for_each(|d| w.write_bits(d.wrapping_sub(dmin) as u64 / dg, w5));
        }
        6 => {
            out.extend_from_slice(&[6, w6 as u8]);
            put_varint(out, ob);
            put_uvarint(out, og);
            xs.iter().for_each(|&x| w.write_bits(x.wrapping_sub(ob) as u64 / og, w6));
        }
        7 => {
            out.extend_from_slice(&[7, 0]);
            put_varint(out, xs[0]);
            for b in deltas.chunks(MINIBLOCK) {
                let bw = max_width(b);
                w.write_bits(u64::from(bw), 7);
                b.iter().for_each(|&x| w.write_bits(x, bw));
            }
        }
        _ => {
            out.extend_from_slice(&[4, 0]);
            put_varint(out, xs[0]);
            put_varint(out, d1);
            dods.iter().for_each(|&x| put_gamma(&mut w, x));
        }
    }
    let bytes = w.into_bytes();
    if matches!(mode, 3 | 4 | 7) {
        put_uvarint(out, bytes.len() as u64);
    }
    out.extend_from_slice(&bytes);
}

/// Appends the v6 int block of mode 8 (regular timestamps implied by the
/// chunk reference) when `ts` are evenly spaced, else the smallest v6 block.
pub(super) fn put_timestamps_v6(out: &mut Vec<u8>, ts: &[i64]) {
    let step = ts.get(1).map_or(0, |t1| t1.wrapping_sub(ts[0]));
    if ts.windows(2).all(|w| w[1].wrapping_sub(w[0]) == step) {
        out.extend_from_slice(&[MODE_IMPLIED, 0]);
    } else {
        put_ints_with(out, ts, true);
    }
}

/// Reads an Elias-gamma code (`put_gamma`); `None` if it claims 63 or
/// more leading zeros. Codes of up to 57 bits take one peek.
#[inline(always)]
fn get_gamma(r: &mut FastBitReader<'_>) -> Option<u64> {
    let p = r.peek();
    let z = p.leading_zeros();
    if 2 * z < FastBitReader::PEEK_BITS {
        // z zeros, then the z + 1 bits of the value + 1 (its top bit set).
        r.skip(2 * z + 1);
        return Some(((p << z) >> (63 - z)) - 1);
    }
    let mut z = 0;
    while r.read(1) == 0 {
        z += 1;
        if z > 62 {
            return None;
        }
    }
    Some(((1u64 << z) | r.read_long(z)) - 1)
}

/// Appends `count` values of `w <= 64` bits each, mapped by `f`.
#[inline(always)]
fn unpack(r: &mut FastBitReader<'_>, w: u32, count: usize, out: &mut Vec<i64>, mut f: impl FnMut(u64) -> i64) {
    if w == 0 {
        out.extend((0..count).map(|_| f(0)));
    } else if w <= FastBitReader::PEEK_BITS {
        out.extend((0..count).map(|_| f(r.read(w))));
    } else {
        out.extend((0..count).map(|_| f(r.read_long(w))));
    }
}

/// Reads an int block of `n` values and sets `out` to the first `limit` of
/// them (all when `limit >= n`; the block is consumed from `c` either way).
/// Modes 5 to 7 only when `v6`; mode 8 only with `span`, the chunk
/// reference's `(min_t, max_t)` (timestamp blocks of v6 chunks).
pub(super) fn get_ints_with(
    c: &mut Cursor<'_>,
    n: usize,
    limit: usize,
    out: &mut Vec<i64>,
    v6: bool,
    span: Option<(i64, i64)>,
) -> Result<(), ChunkError> {
    let t = ChunkError::Truncated;
    let head = c.bytes(2).ok_or(t)?;
    let (mode, w) = (head[0], u32::from(head[1]));
    if w > 64 || mode > if v6 { MODE_IMPLIED } else { 4 } {
        return Err(t);
    }
    let k = limit.min(n);
    out.clear();
    out.reserve(k);
    if mode == MODE_IMPLIED {
        // n evenly spaced timestamps from min_t to max_t.
        let (lo, hi) = span.filter(|_| w == 0).ok_or(t)?;
        let range = hi.wrapping_sub(lo) as u64;
        let steps = n.saturating_sub(1) as u64;
        if (steps == 0 && range != 0) || (steps > 0 && (!range.is_multiple_of(steps) || range == 0)) {
            return Err(t);
        }
        let step = range.checked_div(steps).unwrap_or(0);
        out.extend((0..k as u64).map(|i| lo.wrapping_add(i.wrapping_mul(step) as i64)));
        return Ok(());
    }
    if mode == 7 {
        let first = c.varint().ok_or(t)?;
        let len = c.uvarint_usize().ok_or(t)?;
        let mut r = FastBitReader::new(c.bytes(len).ok_or(t)?);
        if k > 0 {
            out.push(first);
        }
        let mut x = first;
        let mut left = k.saturating_sub(1);
        while left > 0 {
            let bw = r.read(7) as u32;
            if bw > 64 {
                return Err(t);
            }
            let m = left.min(MINIBLOCK);
            unpack(&mut r, bw, m, out, |d| {
                x = x.wrapping_add(unzigzag(d));
                x
            });
            left -= m;
        }
        return if r.overrun() { Err(t) } else { Ok(()) };
    }
    let first = c.varint().ok_or(t)?;
    let second = if mode == 2 || mode == 4 || mode == 5 { c.varint().ok_or(t)? } else { 0 };
    let g = if mode >= 5 { c.uvarint().filter(|&g| g > 0).ok_or(t)? } else { 1 };
    let len = match mode {
        0 | 6 => (n * w as usize).div_ceil(8),
        1 | 5 => (n.saturating_sub(1) * w as usize).div_ceil(8),
        2 => (n.saturating_sub(2) * w as usize).div_ceil(8),
        _ => c.uvarint_usize().ok_or(t)?,
    };
    let bytes = c.bytes(len).ok_or(t)?;
    if k == 0 {
        // The block is consumed; no value is wanted (the delta modes below
        // would push the first one).
        return Ok(());
    }
    let mut r = FastBitReader::new(bytes);
    let rest = k.saturating_sub(1);
    match mode {
        0 => unpack(&mut r, w, k, out, |u| first.wrapping_add(u as i64)),
        6 => unpack(&mut r, w, k, out, |u| first.wrapping_add(u.wrapping_mul(g) as i64)),
        5 => {
            out.push(first);
            let mut x = first;
            unpack(&mut r, w, rest, out, |u| {
                x = x.wrapping_add(second).wrapping_add(u.wrapping_mul(g) as i64);
                x
            });
        }
        1 => {
            out.push(first);
            let mut x = first;
            unpack(&mut r, w, rest, out, |u| {
                x = x.wrapping_add(unzigzag(u));
                x
            });
        }
        2 => {
            let (mut x, mut d) = (first, second);
            out.push(x);
            if k > 1 {
                x = x.wrapping_add(d);
                out.push(x);
            }
            unpack(&mut r, w, k.saturating_sub(2), out, |u| {
                d = d.wrapping_add(unzigzag(u));
                x = x.wrapping_add(d);
                x
            });
        }
        3 => {
            out.push(first);
            let mut x = first;
            for _ in 0..rest {
                x = x.wrapping_add(unzigzag(get_gamma(&mut r).ok_or(t)?));
                out.push(x);
            }
        }
        _ => {
            let (mut x, mut d) = (first, second);
            out.push(x);
            if k > 1 {
                x = x.wrapping_add(d);
                out.push(x);
            }
            for _ in 2..k {
                d = d.wrapping_add(unzigzag(get_gamma(&mut r).ok_or(t)?));
                x = x.wrapping_add(d);
                out.push(x);
            }
        }
    }
    if r.overrun() { Err(t) } else { Ok(()) }
}

/// The samples of a chunk whose timestamps `ts` (strictly increasing) fall
/// in `[min_t, max_t]`: the index range `lo..hi`.
#[inline]
pub(super) fn time_window(ts: &[i64], min_t: i64, max_t: i64) -> (usize, usize) {
    let hi = ts.partition_point(|&t| t <= max_t);
    (ts[..hi].partition_point(|&t| t < min_t), hi)
}

/// Decodes a v2 chunk, appending the samples with `min_t <= t <= max_t`.
pub fn decode_chunk_range_v2(bytes: &[u8], min_t: i64, max_t: i64, out: &mut Vec<Sample>) -> Result<(), ChunkError> {
    let (&kind, rest) = bytes.split_first().ok_or(ChunkError::Truncated)?;
    match kind {
        KIND_GORILLA => decode_v1(rest, min_t, max_t, out),
        KIND_DECIMAL => decode_decimal(rest, None, min_t, max_t, out),
        _ => Err(ChunkError::Truncated),
    }
}

/// The sample count at the start of a kind-1 (or v6 kind-4) chunk body.
pub(super) fn get_count(c: &mut Cursor<'_>) -> Result<usize, ChunkError> {
    let n = c.uvarint().ok_or(ChunkError::Truncated)?;
    if n as usize > MAX_CHUNK_SAMPLES_V2 || n == 0 {
        return Err(ChunkError::TooManySamples(n));
    }
    Ok(n as usize)
}

/// Decodes the body of a kind-1 chunk (after its kind byte), appending the
/// samples with `min_t <= t <= max_t`; the v6 int-block modes only when
/// `v6` is the chunk reference's `(min_t, max_t)` (a v6 chunk).
pub(super) fn decode_decimal(
    rest: &[u8],
    v6: Option<(i64, i64)>,
    min_t: i64,
    max_t: i64,
    out: &mut Vec<Sample>,
) -> Result<(), ChunkError> {
    let mut c = Cursor::new(rest);
    let n = get_count(&mut c)?;
    let (mut ts, mut ms) = (Vec::with_capacity(n), Vec::with_capacity(n));
    get_ints_with(&mut c, n, n, &mut ts, v6.is_some(), v6)?;
    let e = c.bytes(1).ok_or(ChunkError::Truncated)?[0];
    if u32::from(e) > MAX_EXPONENT {
        return Err(ChunkError::Truncated);
    }
    let (lo, hi) = time_window(&ts, min_t, max_t);
    if lo == hi {
        return Ok(());
    }
    // Values after the last timestamp in range are not decoded.
    get_ints_with(&mut c, n, hi, &mut ms, v6.is_some(), None)?;
    let (ts, ms) = (&ts[lo..hi], &ms[lo..hi]);
    if e == 0 {
        // m / 1 is m, bit for bit.
        out.extend(ts.iter().zip(ms).map(|(&t, &m)| Sample::new(t, m as f64)));
    } else {
        let scale = 10f64.powi(i32::from(e));
        out.extend(ts.iter().zip(ms).map(|(&t, &m)| Sample::new(t, m as f64 / scale)));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use strata_common::sample::stale_nan;

    fn round_trip(ts: &[i64], vs: &[f64]) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_chunk_v2(ts, vs, &mut buf);
        let mut out = Vec::new();
        decode_chunk_range_v2(&buf, i64::MIN, i64::MAX, &mut out).unwrap();
        assert_eq!(out.len(), ts.len());
        for ((s, &t), &v) in out.iter().zip(ts).zip(vs) {
            assert_eq!((s.t, s.v.to_bits()), (t, v.to_bits()), "round trip of {ts:?} {vs:?}");
        }
        buf
    }

    #[test]
    fn documented_example_bytes() {
        // Regular 10 s scrapes of a counter growing by 5 each time.
        let buf = round_trip(&[1000, 11000, 21000, 31000], &[1.0, 6.0, 11.0, 16.0]);
        assert_eq!(
            buf,
            vec![
                0x01, // kind 1: decimal
                0x04, // n = 4
                0x02, 0x00, 0xd0, 0x0f, 0xa0, 0x9c, 0x01, // ts: dod, width 0, t0 = 1000, d1 = 10000
                0x00, // e = 0
                0x02, 0x00, 0x02, 0x0a, // values: dod, width 0, m0 = 1, d1 = 5
            ]
        );
    }

    #[test]
    fn decimals_gauges_and_fallbacks_round_trip() {
        let ts: Vec<i64> = (0..240).map(|i| 1_700_000_000_000 + i * 15_000 + (i % 3)).collect();
        let gauge: Vec<f64> = (0..240).map(|i| ((i * 37) % 61) as f64 + 20.0).collect();
        let regular: Vec<i64> = (0..240).map(|i| 1_700_000_000_000 + i * 15_000).collect();
        let len = round_trip(&regular, &gauge).len();
        assert!(len <= 200, "values 20..80 pack in 6 bits, regular timestamps in 0: {len} bytes");
        let decimals: Vec<f64> = (0..240).map(|i| (i as f64) * 0.25 - 7.5).collect();
        round_trip(&ts, &decimals);
        let cents: Vec<f64> = (0..240).map(|i| 0.01 * i as f64 + 0.1).collect();
        round_trip(&ts, &cents);
        let mut special = gauge.clone();
        special[5] = stale_nan();
        special[6] = -0.0;
        assert_eq!(round_trip(&ts[..2], &[1.0, -0.0])[0], KIND_GORILLA, "-0.0 is not the integer 0");
        special[7] = f64::INFINITY;
        assert_eq!(round_trip(&ts, &special)[0], KIND_GORILLA);
        round_trip(&[i64::MIN, -1, 0, i64::MAX], &[1.0, 2.0, 3.0, 4.0]);
        round_trip(&[5], &[0.1]);
        round_trip(&[5, 6], &[1e300, -1e-300]);
    }

    #[test]
    fn gamma_modes_take_small_steps_with_rare_jumps() {
        let regular: Vec<i64> = (0..240).map(|i| 1_700_000_000_000 + i * 15_000).collect();
        let steps: Vec<f64> = (0..240).map(|i| if i % 50 == 0 { 80.0 } else { 20.0 + (i % 3) as f64 }).collect();
        let buf = round_trip(&regular, &steps);
        assert!(buf.len() < 150, "{} bytes (6-bit packing alone needs 180)", buf.len());
        let ts_block = 1 + 1 + 2 + 6 + 4; // kind, n, mode + width, t0, d1
        assert!(buf[ts_block + 1] >= 3, "value block uses a gamma mode: {:?}", &buf[..ts_block + 3]);
    }

    #[test]
    fn long_chunks_only_for_decimals() {
        let ts: Vec<i64> = (0..2000).map(|i| i * 10_000).collect();
        let ints: Vec<f64> = (0..2000).map(|i| (i / 7) as f64).collect();
        assert_eq!(next_chunk_len(&ints), MAX_CHUNK_SAMPLES_V2);
        round_trip(&ts[..1024], &ints[..1024]);
        let mut mixed = ints.clone();
        mixed[700] = f64::NAN;
        assert_eq!(next_chunk_len(&mixed), MAX_CHUNK_SAMPLES);
        assert_eq!(next_chunk_len(&ints[..100]), 100);
    }

    /// Exactly 512 deltas too large for the gamma code, then small ones: the
    /// gamma modes' cost once wrapped around (a panic in debug builds, an
    /// undecodable mode-3 block in release builds).
    #[test]
    fn huge_deltas_never_pick_a_gamma_mode() {
        let mut xs: Vec<i64> = (0..513).map(|i| if i % 2 == 0 { i64::MIN / 2 } else { i64::MAX / 2 }).collect();
        let last = xs[512];
        xs.extend((1..=511).map(|i| last + i * 3 + i % 2));
        for v6 in [false, true] {
            let mut block = Vec::new();
            put_ints_with(&mut block, &xs, v6);
            assert!(!matches!(block[0], 3 | 4), "mode {}", block[0]);
            let mut got = Vec::new();
            get_ints_with(&mut Cursor::new(&block), xs.len(), xs.len(), &mut got, v6, None).unwrap();
            assert_eq!(got, xs);
        }
    }

    #[test]
    fn truncation_is_an_error_not_a_panic() {
        let ts: Vec<i64> = (0..100).map(|i| i * 1000 + (i * i) % 7).collect();
        let vs: Vec<f64> = (0..100).map(|i| (i * i) as f64).collect();
        let mut buf = Vec::new();
        encode_chunk_v2(&ts, &vs, &mut buf);
        for cut in 0..buf.len() {
            let mut out = Vec::new();
            assert!(decode_chunk_range_v2(&buf[..cut], i64::MIN, i64::MAX, &mut out).is_err(), "cut at {cut}");
        }
    }

    proptest! {
        #[test]
        fn prop_round_trip(start in any::<i64>(), steps in prop::collection::vec(1i64..100_000, 0..239),
                           vals in prop::collection::vec(prop_oneof![
                               (-1000i64..1000).prop_map(|x| x as f64),
                               (-100_000i64..100_000).prop_map(|x| x as f64 / 100.0),
                               any::<f64>(),
                           ], 240)) {
            let mut ts = vec![start];
            for s in &steps {
                let next = ts.last().unwrap().wrapping_add(*s);
                if next <= *ts.last().unwrap() { break; }
                ts.push(next);
            }
            round_trip(&ts, &vals[..ts.len()]);
        }
    }
}
