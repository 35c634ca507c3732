//! The byte encoding of one [`Histogram`], shared by the log record
//! (version 4) and the histogram chunks of data files (format version 5).
//! Documented in `common/docs/format/log-record.md` ("Histogram encoding"):
//!
//! ```text
//! u8   flags: bit 0 integer counts, bits 1-2 reset hint (0 unknown,
//!      1 reset, 2 not reset, 3 gauge); other bits 0
//! v    schema (zigzag varint)
//! u64  zero threshold (f64 bits, LE)
//! u64  sum (f64 bits, LE; the staleness NaN marks a stale sample)
//! integer: uv count, uv zero count     float: u64 count bits, u64 zero count bits
//! per side, positive then negative:
//!   uv  span count; per span: v offset (zigzag), uv length
//!   uv  bucket count; integer: per bucket v delta to the previous bucket's
//!       absolute count (the first against 0); float: per bucket u64 bits
//! uv   custom bound count; per bound u64 f64 bits (schema -53 only, else 0)
//! ```

use super::{Histogram, ResetHint, Span};
use crate::varint::{Cursor, put_uvarint, put_varint};

/// Appends the encoding of `h` to `out`. Integer histograms whose counts
/// are not exact integers (never the case for what ingest accepts) are
/// written as float histograms.
pub fn encode(h: &Histogram, out: &mut Vec<u8>) {
    let integer = h.integer && is_integral(h);
    out.push(u8::from(integer) | ((h.hint as u8) << 1));
    put_varint(out, i64::from(h.schema));
    out.extend_from_slice(&h.zero_threshold.to_bits().to_le_bytes());
    out.extend_from_slice(&h.sum.to_bits().to_le_bytes());
    if integer {
        put_uvarint(out, h.count as u64);
        put_uvarint(out, h.zero_count as u64);
    } else {
        out.extend_from_slice(&h.count.to_bits().to_le_bytes());
        out.extend_from_slice(&h.zero_count.to_bits().to_le_bytes());
    }
    for (spans, buckets) in [(&h.positive_spans, &h.positive_buckets), (&h.negative_spans, &h.negative_buckets)] {
        put_uvarint(out, spans.len() as u64);
        for s in spans {
            put_varint(out, i64::from(s.offset));
            put_uvarint(out, u64::from(s.length));
        }
        put_uvarint(out, buckets.len() as u64);
        let mut prev = 0i64;
        for &b in buckets {
            if integer {
                put_varint(out, (b as i64).wrapping_sub(prev));
                prev = b as i64;
            } else {
                out.extend_from_slice(&b.to_bits().to_le_bytes());
            }
        }
    }
    put_uvarint(out, h.custom_values.len() as u64);
    for v in &h.custom_values {
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
}

/// Whether every count of `h` is a non-negative integer below 2^63.
fn is_integral(h: &Histogram) -> bool {
    let ok = |c: f64| c >= 0.0 && c.fract() == 0.0 && c < 9.2e18;
    ok(h.count) && ok(h.zero_count) && h.positive_buckets.iter().chain(&h.negative_buckets).all(|&c| ok(c))
}

/// Decodes one histogram at the cursor; `None` when truncated or malformed
/// (lengths beyond the remaining bytes, unknown flag bits).
pub fn decode(c: &mut Cursor<'_>) -> Option<Histogram> {
    let flags = *c.bytes(1)?.first()?;
    if flags & !0b111 != 0 {
        return None;
    }
    let integer = flags & 1 == 1;
    let schema = i32::try_from(c.varint()?).ok()?;
    let f64_at = |c: &mut Cursor<'_>| c.u64_le().map(f64::from_bits);
    let zero_threshold = f64_at(c)?;
    let sum = f64_at(c)?;
    let (count, zero_count) =
        if integer { (c.uvarint()? as f64, c.uvarint()? as f64) } else { (f64_at(c)?, f64_at(c)?) };
    let mut sides: [(Vec<Span>, Vec<f64>); 2] = Default::default();
    for (spans, buckets) in &mut sides {
        let n = c.uvarint_usize()?;
        // Each span takes at least two bytes: bound allocations by the input.
        if n > c.remaining().len() / 2 {
            return None;
        }
        for _ in 0..n {
            let offset = i32::try_from(c.varint()?).ok()?;
            let length = u32::try_from(c.uvarint()?).ok()?;
            spans.push(Span { offset, length });
        }
        let n = c.uvarint_usize()?;
        if n > c.remaining().len() {
            return None;
        }
        let mut prev = 0i64;
        for _ in 0..n {
            if integer {
                prev = prev.wrapping_add(c.varint()?);
                buckets.push(prev as f64);
            } else {
                buckets.push(f64_at(c)?);
            }
        }
    }
    let n = c.uvarint_usize()?;
    if n > c.remaining().len() / 8 {
        return None;
    }
    let custom_values = (0..n).map(|_| f64_at(c)).collect::<Option<Vec<f64>>>()?;
    let [(positive_spans, positive_buckets), (negative_spans, negative_buckets)] = sides;
    Some(Histogram {
        integer,
        hint: ResetHint::from_u8(flags >> 1),
        schema,
        zero_threshold,
        zero_count,
        count,
        sum,
        positive_spans,
        positive_buckets,
        negative_spans,
        negative_buckets,
        custom_values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(h: &Histogram) -> Histogram {
        let mut buf = Vec::new();
        encode(h, &mut buf);
        let mut c = Cursor::new(&buf);
        let got = decode(&mut c).unwrap();
        assert!(c.remaining().is_empty());
        got
    }

    /// The documented example, byte for byte (`log-record.md`).
    #[test]
    fn documented_example_bytes() {
        let h = Histogram {
            integer: true,
            hint: ResetHint::NotReset,
            schema: 1,
            zero_threshold: 0.0,
            zero_count: 1.0,
            count: 5.0,
            sum: 7.5,
            positive_spans: vec![Span { offset: -1, length: 2 }],
            positive_buckets: vec![3.0, 1.0],
            ..Histogram::default()
        };
        let mut buf = Vec::new();
        encode(&h, &mut buf);
        let want: Vec<u8> = [
            vec![0x05, 0x02],
            0f64.to_bits().to_le_bytes().to_vec(),
            7.5f64.to_bits().to_le_bytes().to_vec(),
            vec![0x05, 0x01, 0x01, 0x01, 0x02, 0x02, 0x06, 0x03, 0x00, 0x00, 0x00],
        ]
        .concat();
        assert_eq!(buf, want);
        assert_eq!(round_trip(&h), h);
    }

    #[test]
    fn stale_and_custom_round_trip() {
        let s = round_trip(&Histogram::stale_marker());
        assert!(s.is_stale());
        let c = Histogram {
            schema: super::super::CUSTOM_BUCKETS_SCHEMA,
            count: 2.5,
            sum: 3.0,
            hint: ResetHint::Gauge,
            positive_spans: vec![Span { offset: 0, length: 2 }],
            positive_buckets: vec![0.5, 2.0],
            custom_values: vec![1.0, f64::INFINITY],
            ..Histogram::default()
        };
        assert_eq!(round_trip(&c), c);
    }

    #[test]
    fn rejects_truncation_and_bad_flags() {
        let mut buf = Vec::new();
        encode(&Histogram { count: 1.0, positive_buckets: vec![1.0], ..Histogram::default() }, &mut buf);
        for n in 0..buf.len() {
            assert!(decode(&mut Cursor::new(&buf[..n])).is_none(), "prefix {n}");
        }
        buf[0] |= 0x80;
        assert!(decode(&mut Cursor::new(&buf)).is_none());
    }

    proptest! {
        #[test]
        fn prop_round_trip(integer in any::<bool>(), hint in 0u8..4, schema in -4i32..=8,
                           pos in prop::collection::vec(0u32..1000, 0..20),
                           neg in prop::collection::vec(0u32..1000, 0..5),
                           sum in any::<f64>(), offset in -10i32..10) {
            let h = Histogram {
                integer,
                hint: ResetHint::from_u8(hint),
                schema,
                zero_threshold: 1e-128,
                zero_count: 3.0,
                count: 3.0 + pos.iter().chain(&neg).map(|&b| f64::from(b)).sum::<f64>(),
                sum,
                positive_spans: vec![Span { offset, length: pos.len() as u32 }],
                positive_buckets: pos.iter().map(|&b| if integer { f64::from(b) } else { f64::from(b) / 3.0 }).collect(),
                negative_spans: vec![Span { offset: 0, length: neg.len() as u32 }],
                negative_buckets: neg.iter().map(|&b| f64::from(b)).collect(),
                custom_values: vec![],
            };
            let got = round_trip(&h);
            prop_assert_eq!(got.sum.to_bits(), h.sum.to_bits());
            prop_assert_eq!(Histogram { sum: 0.0, integer: false, ..got }, Histogram { sum: 0.0, integer: false, ..h });
        }
    }
}
