//! The chunk decoders as they were before the 64-bit bit reader (one bit
//! read at a time, an error as soon as a read passes the end): the
//! reference the fast decoders are property-tested against (test builds only).
#![allow(clippy::unwrap_used)]

use strata_common::Sample;
use strata_common::varint::unzigzag;

use super::ChunkError;
use super::MAX_CHUNK_SAMPLES;
use super::bits::{BitReader, Cursor};
use super::v2::{KIND_DECIMAL, KIND_GORILLA};
use super::v2::{MAX_EXPONENT, MINIBLOCK, MODE_IMPLIED, get_count};
use super::v6::{KIND_BITS, ordered};

fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// The v1 (Gorilla) chunk decoder.
pub(crate) fn decode_v1(bytes: &[u8], min_t: i64, max_t: i64, out: &mut Vec<Sample>) -> Result<(), ChunkError> {
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
    out.reserve(n);
    let mut push = |t: i64, v: u64| {
        if t >= min_t && t <= max_t {
            out.push(Sample::new(t, f64::from_bits(v)));
        }
    };
    push(t0, v0);
    let mut r = BitReader::new(c.remaining());
    let (mut t, mut delta, mut v) = (t0, 0i64, v0);
    let (mut lead, mut trail) = (0u32, 0u32);
    for _ in 1..n {
        let dod = if !r.read_bit().ok_or(ChunkError::Truncated)? {
            0
        } else if !r.read_bit().ok_or(ChunkError::Truncated)? {
            sign_extend(r.read_bits(7).ok_or(ChunkError::Truncated)?, 7)
        } else if !r.read_bit().ok_or(ChunkError::Truncated)? {
            sign_extend(r.read_bits(14).ok_or(ChunkError::Truncated)?, 14)
        } else if !r.read_bit().ok_or(ChunkError::Truncated)? {
            sign_extend(r.read_bits(20).ok_or(ChunkError::Truncated)?, 20)
        } else {
            r.read_bits(64).ok_or(ChunkError::Truncated)? as i64
        };
        delta = delta.wrapping_add(dod);
        t = t.wrapping_add(delta);

        if r.read_bit().ok_or(ChunkError::Truncated)? {
            if r.read_bit().ok_or(ChunkError::Truncated)? {
                lead = r.read_bits(5).ok_or(ChunkError::Truncated)? as u32;
                let mut m = r.read_bits(6).ok_or(ChunkError::Truncated)? as u32;
                if m == 0 {
                    m = 64;
                }
                trail = 64u32.checked_sub(lead + m).ok_or(ChunkError::Truncated)?;
            }
            let m = 64 - lead - trail;
            let x = r.read_bits(m).ok_or(ChunkError::Truncated)?;
            v ^= x << trail;
        }
        push(t, v);
    }
    Ok(())
}

fn get_gamma(r: &mut BitReader<'_>) -> Option<u64> {
    let mut z = 0;
    while !r.read_bit()? {
        z += 1;
        if z > 62 {
            return None;
        }
    }
    let rest = if z == 0 { 0 } else { r.read_bits(z)? };
    Some(((1u64 << z) | rest) - 1)
}
pub(crate) fn get_ints_with(
    c: &mut Cursor<'_>,
    n: usize,
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
    if mode == MODE_IMPLIED {
        // n evenly spaced timestamps from min_t to max_t.
        let (lo, hi) = span.filter(|_| w == 0).ok_or(t)?;
        let range = hi.wrapping_sub(lo) as u64;
        let steps = n.saturating_sub(1) as u64;
        if (steps == 0 && range != 0) || (steps > 0 && (!range.is_multiple_of(steps) || range == 0)) {
            return Err(t);
        }
        let step = range.checked_div(steps).unwrap_or(0);
        out.clear();
        out.extend((0..n as u64).map(|i| lo.wrapping_add(i.wrapping_mul(step) as i64)));
        return Ok(());
    }
    if mode == 7 {
        let first = c.varint().ok_or(t)?;
        let len = c.uvarint_usize().ok_or(t)?;
        let mut r = BitReader::new(c.bytes(len).ok_or(t)?);
        out.clear();
        out.push(first);
        let mut x = first;
        let mut left = n.saturating_sub(1);
        while left > 0 {
            let bw = r.read_bits(7).ok_or(t)? as u32;
            if bw > 64 {
                return Err(t);
            }
            for _ in 0..left.min(MINIBLOCK) {
                let d = if bw == 0 { 0 } else { r.read_bits(bw).ok_or(t)? };
                x = x.wrapping_add(unzigzag(d));
                out.push(x);
            }
            left -= left.min(MINIBLOCK);
        }
        return Ok(());
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
    let mut r = BitReader::new(bytes);
    let mut next = || match mode {
        3 | 4 => get_gamma(&mut r),
        _ if w == 0 => Some(0),
        _ => r.read_bits(w),
    };
    out.clear();
    match mode {
        0 => {
            for _ in 0..n {
                out.push(first.wrapping_add(next().ok_or(t)? as i64));
            }
        }
        6 => {
            for _ in 0..n {
                out.push(first.wrapping_add(next().ok_or(t)?.wrapping_mul(g) as i64));
            }
        }
        5 => {
            let mut x = first;
            out.push(x);
            for _ in 1..n {
                x = x.wrapping_add(second).wrapping_add(next().ok_or(t)?.wrapping_mul(g) as i64);
                out.push(x);
            }
        }
        1 | 3 => {
            let mut x = first;
            out.push(x);
            for _ in 1..n {
                x = x.wrapping_add(unzigzag(next().ok_or(t)?));
                out.push(x);
            }
        }
        _ => {
            let (mut x, mut d) = (first, second);
            out.push(x);
            if n > 1 {
                x = x.wrapping_add(d);
                out.push(x);
            }
            for _ in 2..n {
                d = d.wrapping_add(unzigzag(next().ok_or(t)?));
                x = x.wrapping_add(d);
                out.push(x);
            }
        }
    }
    Ok(())
}
pub(crate) fn decode_decimal(
    rest: &[u8],
    v6: Option<(i64, i64)>,
    min_t: i64,
    max_t: i64,
    out: &mut Vec<Sample>,
) -> Result<(), ChunkError> {
    let mut c = Cursor::new(rest);
    let n = get_count(&mut c)?;
    let (mut ts, mut ms) = (Vec::with_capacity(n), Vec::with_capacity(n));
    get_ints_with(&mut c, n, &mut ts, v6.is_some(), v6)?;
    let e = c.bytes(1).ok_or(ChunkError::Truncated)?[0];
    if u32::from(e) > MAX_EXPONENT {
        return Err(ChunkError::Truncated);
    }
    get_ints_with(&mut c, n, &mut ms, v6.is_some(), None)?;
    let scale = 10f64.powi(i32::from(e));
    out.reserve(n);
    for (&t, &m) in ts.iter().zip(&ms) {
        if t >= min_t && t <= max_t {
            out.push(Sample::new(t, m as f64 / scale));
        }
    }
    Ok(())
}

pub(crate) fn decode_v6_plain(
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
            get_ints_with(&mut c, n, &mut ts, true, Some(span))?;
            get_ints_with(&mut c, n, &mut xs, true, None)?;
            out.reserve(n);
            for (&t, &x) in ts.iter().zip(&xs) {
                if t >= min_t && t <= max_t {
                    out.push(Sample::new(t, f64::from_bits(ordered(x as u64) as u64)));
                }
            }
            Ok(())
        }
        _ => Err(ChunkError::Truncated),
    }
}

/// The fast decoders against the reference ones: bit-exact samples and the
/// same errors, over encoder output of random data (every chunk kind and
/// int-block mode), random time ranges (cutting chunks anywhere), and
/// truncated chunks.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::bits::put_uvarint;
    use crate::chunk::v2::{decode_chunk_range_v2, encode_chunk_v2, get_ints_with as fast_ints, put_ints_with};
    use crate::chunk::v3::{ChunkDecoder, ZSTD_LEVEL, compress_chunk, decode_zstd_with};
    use crate::chunk::v6::{decode_chunk_range_v6, encode_next_chunk_v6};
    use crate::chunk::{MAX_CHUNK_SAMPLES, decode_chunk_range, encode_chunk};
    use proptest::prelude::*;
    use strata_common::sample::stale_nan;

    type Decoded = Result<Vec<(i64, u64)>, ChunkError>;

    fn run(f: impl FnOnce(&mut Vec<Sample>) -> Result<(), ChunkError>) -> Decoded {
        let mut out = vec![Sample::new(-1, 0.5)]; // decoders append
        f(&mut out)?;
        Ok(out[1..].iter().map(|s| (s.t, s.v.to_bits())).collect())
    }

    /// A chunk decoded by both, over the whole range and over `ranges`.
    fn check(
        chunk: &[u8],
        ranges: &[(i64, i64)],
        fast: ChunkDecoder<'_>,
        slow: ChunkDecoder<'_>,
    ) -> Result<(), TestCaseError> {
        let whole = run(|o| slow(chunk, i64::MIN, i64::MAX, o));
        prop_assert!(whole.is_ok(), "reference fails on encoder output: {:?}", whole);
        prop_assert_eq!(run(|o| fast(chunk, i64::MIN, i64::MAX, o)), whole);
        for &(lo, hi) in ranges {
            prop_assert_eq!(run(|o| fast(chunk, lo, hi, o)), run(|o| slow(chunk, lo, hi, o)), "range {}..={}", lo, hi);
        }
        for cut in 0..chunk.len() {
            let (f, s) = (
                run(|o| fast(&chunk[..cut], i64::MIN, i64::MAX, o)),
                run(|o| slow(&chunk[..cut], i64::MIN, i64::MAX, o)),
            );
            prop_assert_eq!(f.is_err(), s.is_err(), "cut at {}: {:?} vs {:?}", cut, f, s);
            if let (Ok(f), Ok(s)) = (f, s) {
                prop_assert_eq!(f, s);
            }
        }
        Ok(())
    }

    /// Time ranges around the chunk's timestamps: cut before, at and after
    /// samples, empty, and outside the chunk.
    fn ranges(ts: &[i64], picks: &[(usize, usize, i64, i64)]) -> Vec<(i64, i64)> {
        let mut out =
            vec![(ts[0], ts[0]), (i64::MIN, ts[0].saturating_sub(1)), (ts[ts.len() - 1].saturating_add(1), i64::MAX)];
        for &(a, b, da, db) in picks {
            let (a, b) = (a % ts.len(), b % ts.len());
            out.push((ts[a.min(b)].saturating_add(da), ts[a.max(b)].saturating_add(db)));
            out.push((i64::MIN, ts[b].saturating_add(db)));
            out.push((ts[a].saturating_add(da), i64::MAX));
        }
        out
    }

    /// Values of one of several shapes (full-precision walk, decimals, pages,
    /// integer counter, random bits), with special values sprinkled in.
    fn values(shape: u8, n: usize, seed: &[f64], specials: &[(usize, f64)]) -> Vec<f64> {
        let mut v = 50.0;
        let mut vs: Vec<f64> = (0..n)
            .map(|i| {
                let d = seed[i % seed.len()];
                match shape % 5 {
                    0 => {
                        v = (v + d).clamp(0.0, 100.0);
                        v
                    }
                    1 => (d * 1000.0).round() / 100.0,
                    2 => ((2_000_000.0 + (d * 1000.0).round()) * 4096.0).floor(),
                    3 => {
                        v += (d.abs() * 20.0).floor();
                        v
                    }
                    _ => f64::from_bits(d.to_bits().rotate_left(i as u32)),
                }
            })
            .collect();
        for &(i, x) in specials {
            if i < n {
                vs[i] = x;
            }
        }
        vs
    }

    fn timestamps(start: i64, steps: &[i64], regular: bool) -> Vec<i64> {
        let mut ts = vec![start];
        for s in steps {
            let step = if regular { 10_000 } else { *s };
            match ts.last().unwrap().checked_add(step) {
                Some(t) => ts.push(t),
                None => break,
            }
        }
        ts
    }

    fn special() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(f64::NAN),
            Just(stale_nan()),
            Just(-0.0),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            any::<f64>()
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn gorilla_matches_the_reference(start in any::<i64>(), steps in prop::collection::vec(prop_oneof![1i64..100, 9_990i64..10_010, 1i64..1 << 40], 0..MAX_CHUNK_SAMPLES),
                                         regular in any::<bool>(), shape in any::<u8>(),
                                         seed in prop::collection::vec(-1.0f64..1.0, 1..64),
                                         specials in prop::collection::vec((0usize..MAX_CHUNK_SAMPLES, special()), 0..6),
                                         picks in prop::collection::vec((any::<usize>(), any::<usize>(), -3i64..3, -3i64..3), 1..4)) {
            let ts = timestamps(start, &steps, regular);
            let vs = values(shape, ts.len(), &seed, &specials);
            let mut chunk = Vec::new();
            encode_chunk(&ts, &vs, &mut chunk);
            check(&chunk, &ranges(&ts, &picks), &decode_chunk_range, &decode_v1)?;
        }

        #[test]
        fn v2_chunks_match_the_reference(start in -1i64 << 50..1 << 50, steps in prop::collection::vec(prop_oneof![1i64..100, 9_990i64..10_010], 0..1023),
                                         regular in any::<bool>(), shape in any::<u8>(),
                                         seed in prop::collection::vec(-1.0f64..1.0, 1..64),
                                         specials in prop::collection::vec((0usize..1024, special()), 0..2),
                                         picks in prop::collection::vec((any::<usize>(), any::<usize>(), -3i64..3, -3i64..3), 1..4)) {
            let ts = timestamps(start, &steps, regular);
            let vs = values(shape, ts.len(), &seed, &specials);
            let n = crate::chunk::v2::next_chunk_len(&vs);
            let mut chunk = Vec::new();
            encode_chunk_v2(&ts[..n], &vs[..n], &mut chunk);
            let slow = |b: &[u8], lo, hi, o: &mut Vec<Sample>| match b.split_first() {
                Some((&KIND_GORILLA, rest)) => decode_v1(rest, lo, hi, o),
                Some((&KIND_DECIMAL, rest)) => decode_decimal(rest, None, lo, hi, o),
                _ => Err(ChunkError::Truncated),
            };
            check(&chunk, &ranges(&ts[..n], &picks), &decode_chunk_range_v2, &slow)?;
        }

        #[test]
        fn v6_chunks_match_the_reference(start in -1i64 << 50..1 << 50, steps in prop::collection::vec(prop_oneof![1i64..100, 9_990i64..10_010, 1i64..1 << 30], 0..1023),
                                         regular in any::<bool>(), shape in any::<u8>(), zstd in any::<bool>(),
                                         seed in prop::collection::vec(-1.0f64..1.0, 1..64),
                                         specials in prop::collection::vec((0usize..1024, special()), 0..3),
                                         picks in prop::collection::vec((any::<usize>(), any::<usize>(), -3i64..3, -3i64..3), 1..4)) {
            let ts = timestamps(start, &steps, regular);
            let vs = values(shape, ts.len(), &seed, &specials);
            let mut chunk = Vec::new();
            let n = encode_next_chunk_v6(&ts, &vs, &mut chunk);
            if zstd {
                let mut z = Vec::new();
                compress_chunk(&chunk, &mut zstd::bulk::Compressor::new(ZSTD_LEVEL).unwrap(), &mut z);
                chunk = z;
            }
            let span = (ts[0], ts[n - 1]);
            let fast = |b: &[u8], lo, hi, o: &mut Vec<Sample>| decode_chunk_range_v6(b, span, lo, hi, o);
            let slow = |b: &[u8], lo, hi, o: &mut Vec<Sample>| {
                decode_zstd_with(b, lo, hi, o, &|b, lo, hi, o| decode_v6_plain(b, span, lo, hi, o))
            };
            check(&chunk, &ranges(&ts[..n], &picks), &fast, &slow)?;
        }

        /// Int blocks of every mode (0-7) read in full and in part.
        #[test]
        fn int_blocks_match_the_reference(xs in prop_oneof![
                                              prop::collection::vec(any::<i64>(), 1..300),
                                              prop::collection::vec(-5i64..5, 1..300),
                                              (any::<i64>(), prop::collection::vec(0i64..1000, 0..300)).prop_map(|(x0, d)| {
                                                  let mut x = x0;
                                                  std::iter::once(x0).chain(d.into_iter().map(|d| { x = x.wrapping_add(d * 4096); x })).collect()
                                              }),
                                              prop::collection::vec(prop_oneof![9 => 0i64..3, 1 => 0i64..1 << 40], 1..300).prop_map(|d| {
                                                  let mut x = 0i64;
                                                  d.into_iter().map(|d| { x = x.wrapping_add(d); x }).collect()
                                              }),
                                          ],
                                          v6 in any::<bool>(), limit in 0usize..400) {
            let mut block = Vec::new();
            put_ints_with(&mut block, &xs, v6);
            let n = xs.len();
            let mut want = Vec::new();
            get_ints_with(&mut Cursor::new(&block), n, &mut want, v6, None).unwrap();
            prop_assert_eq!(&want, &xs);
            let (mut got, mut c) = (Vec::new(), Cursor::new(&block));
            fast_ints(&mut c, n, limit, &mut got, v6, None).unwrap();
            prop_assert_eq!(&got[..], &xs[..limit.min(n)]);
            prop_assert_eq!(c.remaining().len(), 0, "the block is consumed");
            for cut in 0..block.len() {
                let slow = get_ints_with(&mut Cursor::new(&block[..cut]), n, &mut want, v6, None);
                let fast = fast_ints(&mut Cursor::new(&block[..cut]), n, n, &mut got, v6, None);
                prop_assert_eq!(fast.is_err(), slow.is_err(), "cut at {}", cut);
            }
        }
    }

    /// Every int-block mode the writer can pick appears among the blocks the
    /// property test above generates shapes for (so none goes untested).
    #[test]
    fn int_block_shapes_cover_every_mode() {
        let mut seen = [false; 8];
        let shapes: Vec<Vec<i64>> = vec![
            (0..200).map(|i| i * 7 + 3).collect(), // dod width 0 (2)
            (0..200u64).map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as i64).collect(), // offset (0)
            (0..200u64).map(|i| (1 << 40) + (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as i64 * 4096).collect(), // gcd offset (6)
            (0..200).map(|i| i * i / 3).collect(), // dod (2) / delta (1)
            (0..200).map(|i| if i % 50 == 0 { i * 1000 } else { i }).collect(), // gamma (3/4)
            (0..200).map(|i| (i * 37 % 100) * 4096 + (1 << 40)).collect(), // gcd offset (6)
            (0..200)
                .scan(0i64, |x, i| {
                    *x += 1000 + (i * 7919) % 1000;
                    Some(*x)
                })
                .collect(), // gcd delta (5)
            (0..200)
                .scan(0i64, |x, i| {
                    *x += if i < 100 { i % 3 } else { (i * 7919) % 100_000 };
                    Some(*x)
                })
                .collect(),
            (0..200)
                .scan(0i64, |x, i| {
                    *x += if i % 2 == 0 { 1 } else { 1000 + i % 7 };
                    Some(*x)
                })
                .collect(),
            (0..200)
                .scan(0i64, |x, i| {
                    *x += [1, 2, 1, 3][i as usize % 4] * if i > 150 { 1 << 20 } else { 1 };
                    Some(*x)
                })
                .collect(),
        ];
        for xs in &shapes {
            for v6 in [false, true] {
                let mut block = Vec::new();
                put_ints_with(&mut block, xs, v6);
                seen[usize::from(block[0])] = true;
                let (mut got, mut want) = (Vec::new(), Vec::new());
                fast_ints(&mut Cursor::new(&block), xs.len(), xs.len(), &mut got, v6, None).unwrap();
                get_ints_with(&mut Cursor::new(&block), xs.len(), &mut want, v6, None).unwrap();
                assert_eq!(got, want);
                assert_eq!(&got, xs);
            }
        }
        // Mode 8: implied timestamps.
        let mut block = Vec::new();
        crate::chunk::v2::put_timestamps_v6(&mut block, &[10, 20, 30]);
        assert_eq!(block, [MODE_IMPLIED, 0]);
        let mut got = Vec::new();
        fast_ints(&mut Cursor::new(&block), 3, 2, &mut got, true, Some((10, 30))).unwrap();
        assert_eq!(got, [10, 20]);
        assert_eq!(seen, [true; 8], "int-block modes 0-7 seen");
        // The empty Gorilla chunk (count 0) decodes to nothing in both.
        let mut empty = Vec::new();
        put_uvarint(&mut empty, 0);
        assert_eq!(run(|o| decode_chunk_range(&empty, i64::MIN, i64::MAX, o)), Ok(vec![]));
        assert_eq!(run(|o| decode_v1(&empty, i64::MIN, i64::MAX, o)), Ok(vec![]));
    }
}
