//! Version 3 bodies: each series' label pairs written only where they differ
//! from the previous series' pair at the same position (a bit mask marks the
//! shared ones), no block compression. The reader expands a v3 body into
//! the v2 body layout, so everything downstream (the series iterator, the
//! memtable's lookup by canonical label bytes) is the same for every
//! version. Layout: `common/docs/format/log-record.md`.
//!
//! Why: remote write sends one sample per series, so a body is mostly label
//! pairs repeated from the previous series (a host's series share all but
//! one or two of their labels). Comparing a pair with the previous series'
//! pair costs a length check and a short `memcmp`; LZ4 over the whole body
//! (v2) cost the push path and the ingester several times more CPU for a
//! similar size.

use crate::varint::{Cursor, put_uvarint};

/// Positions at or above this are always written in full (the mask is one
/// varint of at most 64 bits).
pub(crate) const MAX_SHARED: usize = 64;

/// Where one label pair's parts lie in the body being built.
#[derive(Debug, Clone, Copy)]
struct PairRef {
    name: (u32, u32),
    value: (u32, u32),
}

/// Bytes of a minimal varint.
#[inline]
fn uvarint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Builds a v3 body series by series.
#[derive(Debug, Default)]
pub(crate) struct BodyWriter {
    pub(crate) buf: Vec<u8>,
    /// Size of the same series as a v2 body (what the reader expands to).
    pub(crate) expanded: usize,
    prev: Vec<PairRef>,
    cur: Vec<PairRef>,
    /// The current series' pairs written in full, before the mask is known.
    literal: Vec<u8>,
}

impl BodyWriter {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self { buf: Vec::with_capacity(n), ..Self::default() }
    }

    /// Adds one series: label count, shared mask, the other pairs, samples.
    pub(crate) fn push_series<'a>(
        &mut self,
        labels: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
        samples: &[crate::Sample],
    ) {
        let count = labels.len();
        self.cur.clear();
        self.literal.clear();
        let mut mask = 0u64;
        let mut expanded = uvarint_len(count as u64);
        for (i, (n, v)) in labels.enumerate() {
            expanded += uvarint_len(n.len() as u64) + n.len() + uvarint_len(v.len() as u64) + v.len();
            if i < MAX_SHARED
                && let Some(p) = self.prev.get(i)
                && self.part(p.name) == n.as_bytes()
                && self.part(p.value) == v.as_bytes()
            {
                mask |= 1 << i;
                self.cur.push(*p);
                continue;
            }
            // Offsets relative to `literal` for now; rebased below.
            put_uvarint(&mut self.literal, n.len() as u64);
            let name = (self.literal.len() as u32, n.len() as u32);
            self.literal.extend_from_slice(n.as_bytes());
            put_uvarint(&mut self.literal, v.len() as u64);
            let value = (self.literal.len() as u32, v.len() as u32);
            self.literal.extend_from_slice(v.as_bytes());
            self.cur.push(PairRef { name, value });
        }
        put_uvarint(&mut self.buf, count as u64);
        put_uvarint(&mut self.buf, mask);
        let base = self.buf.len() as u32;
        for (i, p) in self.cur.iter_mut().enumerate() {
            if i >= MAX_SHARED || mask & (1 << i) == 0 {
                p.name.0 += base;
                p.value.0 += base;
            }
        }
        self.buf.extend_from_slice(&self.literal);
        put_uvarint(&mut self.buf, samples.len() as u64);
        self.buf.reserve(samples.len() * 16);
        for s in samples {
            self.buf.extend_from_slice(&s.t.to_le_bytes());
            self.buf.extend_from_slice(&s.v.to_bits().to_le_bytes());
        }
        self.expanded += expanded + uvarint_len(samples.len() as u64) + samples.len() * 16;
        std::mem::swap(&mut self.prev, &mut self.cur);
    }

    fn part(&self, (start, len): (u32, u32)) -> &[u8] {
        &self.buf[start as usize..(start + len) as usize]
    }
}

/// Re-encodes an expanded (v2 layout) body of `series` series as a v3 body
/// (for a version 2 builder whose record also carries histograms, which
/// only version 4 can hold). The body was written by this crate, so it is
/// well formed; a malformed one stops the conversion early.
pub(crate) fn from_expanded(body: &[u8], series: u64) -> Vec<u8> {
    let mut w = BodyWriter::with_capacity(body.len());
    let mut c = Cursor::new(body);
    let mut labels: Vec<(&str, &str)> = Vec::new();
    let mut samples = Vec::new();
    for _ in 0..series {
        let Some(count) = c.uvarint_usize() else { break };
        labels.clear();
        for _ in 0..count {
            let (Some(n), Some(v)) = (c.str(), c.str()) else { return w.buf };
            labels.push((n, v));
        }
        let Some(ns) = c.uvarint_usize() else { break };
        samples.clear();
        for _ in 0..ns {
            let (Some(t), Some(v)) = (c.u64_le(), c.u64_le()) else { return w.buf };
            samples.push(crate::Sample::new(t as i64, f64::from_bits(v)));
        }
        w.push_series(labels.iter().copied(), &samples);
    }
    w.buf
}

/// Expands a v3 `body` of `series` series into `out` (cleared first) in the
/// v2 body layout; `expanded` is the length the header claims. `Err` names
/// what is malformed.
pub(crate) fn expand(body: &[u8], series: u64, expanded: usize, out: &mut Vec<u8>) -> Result<(), &'static str> {
    out.clear();
    out.reserve(expanded.min(body.len().saturating_mul(64)));
    let mut c = Cursor::new(body);
    // Byte ranges of the previous / current series' canonical pairs in `out`.
    let mut prev: Vec<(usize, usize)> = Vec::new();
    let mut cur: Vec<(usize, usize)> = Vec::new();
    for _ in 0..series {
        let count = c.uvarint_usize().ok_or("truncated label count")?;
        let mask = c.uvarint().ok_or("truncated shared-label mask")?;
        let shareable = prev.len().min(MAX_SHARED).min(count);
        if shareable < 64 && mask >> shareable != 0 {
            return Err("shared-label mask names a label the previous series does not have");
        }
        put_uvarint(out, count as u64);
        cur.clear();
        let mut i = 0;
        while i < count {
            if i < MAX_SHARED && mask & (1 << i) != 0 {
                // A run of shared pairs is contiguous in the previous series: one copy.
                let mut j = i + 1;
                while j < shareable && mask & (1 << j) != 0 {
                    j += 1;
                }
                let (from, to) = (prev[i].0, prev[j - 1].1);
                if out.len() + (to - from) > expanded {
                    return Err("body longer than its length");
                }
                let shift = out.len() - from;
                out.extend_from_within(from..to);
                cur.extend(prev[i..j].iter().map(|&(s, e)| (s + shift, e + shift)));
                i = j;
            } else {
                let from = c.pos;
                c.len_prefixed().ok_or("truncated label name")?;
                c.len_prefixed().ok_or("truncated label value")?;
                let start = out.len();
                out.extend_from_slice(&body[from..c.pos]);
                cur.push((start, out.len()));
                if out.len() > expanded {
                    return Err("body longer than its length");
                }
                i += 1;
            }
        }
        let n = c.uvarint_usize().ok_or("truncated sample count")?;
        let samples = c.bytes(n.checked_mul(16).ok_or("sample count out of range")?).ok_or("truncated samples")?;
        put_uvarint(out, n as u64);
        out.extend_from_slice(samples);
        if out.len() > expanded {
            return Err("body longer than its length");
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    if c.pos != body.len() {
        return Err("bytes after the last series");
    }
    if out.len() != expanded {
        return Err("body shorter than its length");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u64::MAX] {
            let mut b = Vec::new();
            put_uvarint(&mut b, v);
            assert_eq!(uvarint_len(v), b.len(), "{v}");
        }
    }

    #[test]
    fn shared_pairs_are_marked_and_expanded() {
        let mut w = BodyWriter::default();
        let a = [("__name__", "cpu"), ("host", "h1"), ("job", "node")];
        let b = [("__name__", "mem"), ("host", "h1"), ("job", "node")];
        let c = [("__name__", "mem"), ("host", "h2")];
        w.push_series(a.into_iter(), &[crate::Sample::new(1, 1.0)]);
        let first = w.buf.len();
        w.push_series(b.into_iter(), &[crate::Sample::new(1, 2.0)]);
        // Second series: count 3, mask 0b110, only __name__ in full.
        assert_eq!(&w.buf[first..first + 2], &[3, 0b110]);
        w.push_series(c.into_iter(), &[]);
        let mut out = Vec::new();
        expand(&w.buf, 3, w.expanded, &mut out).unwrap();
        let mut want = Vec::new();
        for (labels, samples) in [(&a[..], &[(1i64, 1.0f64)][..]), (&b[..], &[(1, 2.0)][..]), (&c[..], &[][..])] {
            put_uvarint(&mut want, labels.len() as u64);
            crate::record::encode_label_pairs(&mut want, labels.iter().copied());
            put_uvarint(&mut want, samples.len() as u64);
            for (t, v) in samples {
                want.extend_from_slice(&t.to_le_bytes());
                want.extend_from_slice(&v.to_bits().to_le_bytes());
            }
        }
        assert_eq!(out, want);
        assert_eq!(w.expanded, want.len());
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let mut out = Vec::new();
        // The first series cannot share anything.
        assert!(expand(&[1, 1, 1, b'a', 1, b'b', 0], 1, 6, &mut out).is_err());
        // A claimed length that does not match.
        assert!(expand(&[1, 0, 1, b'a', 1, b'b', 0], 1, 99, &mut out).is_err());
        assert!(expand(&[1, 0, 1, b'a', 1, b'b', 0], 1, 3, &mut out).is_err());
        // Trailing bytes, truncation.
        assert!(expand(&[1, 0, 1, b'a', 1, b'b', 0, 9], 1, 6, &mut out).is_err());
        assert!(expand(&[1, 0, 1, b'a', 1], 1, 6, &mut out).is_err());
        expand(&[1, 0, 1, b'a', 1, b'b', 0], 1, 6, &mut out).unwrap();
        assert_eq!(out, [1, 1, b'a', 1, b'b', 0]);
    }
}
