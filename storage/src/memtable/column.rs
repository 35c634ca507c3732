//! One head series' float samples, compressed as they arrive: sealed
//! Gorilla blocks of up to [`BLOCK_SAMPLES`] samples plus an open tail.
//!
//! Raw `(i64, f64)` columns cost 16 bytes per sample, and more while a
//! doubling `Vec` copies itself; they were most of an ingester's peak
//! memory. The tail takes appends into plain vectors; when it holds
//! [`BLOCK_SAMPLES`] samples it is encoded with the level-0 chunk codec
//! ([`crate::chunk::encode_chunk`], `docs/format/v1.md`) into a block and
//! cleared, keeping its capacity. Blocks are memory only; nothing here is
//! an on-disk format.
//!
//! Every block holds strictly increasing timestamps: an out-of-order tail
//! is sorted and deduplicated (the sample written last wins) before it is
//! sealed. Blocks, then the tail, stay in arrival order, so sorting all
//! samples stably and keeping the last of equal timestamps still lets the
//! sample written last win across blocks. While the series' samples arrive
//! in time order (`sorted`, tracked by the caller) the blocks and the tail
//! follow each other in time and are read by range.

use strata_common::sample::sort_dedup_samples;
use strata_common::{Sample, Timestamp};

use crate::chunk::{decode_chunk, decode_chunk_range, encode_chunk};

/// Samples per sealed block (Prometheus's head chunks hold 120 too).
pub(crate) const BLOCK_SAMPLES: usize = 120;

/// One sealed, encoded block.
#[derive(Debug)]
struct Block {
    min_t: Timestamp,
    max_t: Timestamp,
    len: u32,
    bytes: Box<[u8]>,
}

impl Block {
    /// Decodes the samples in `[min_t, max_t]` (all of them for the full range).
    fn decode_into(&self, min_t: Timestamp, max_t: Timestamp, out: &mut Vec<Sample>) {
        let r = if min_t <= self.min_t && max_t >= self.max_t {
            decode_chunk(&self.bytes, out)
        } else {
            decode_chunk_range(&self.bytes, min_t, max_t, out)
        };
        // The block was encoded by this process a moment ago.
        debug_assert!(r.is_ok(), "a head block failed to decode: {r:?}");
    }
}

/// Float samples of one series (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct FloatColumn {
    blocks: Vec<Block>,
    sealed: usize,
    ts: Vec<Timestamp>,
    vs: Vec<f64>,
}

impl FloatColumn {
    /// Samples held (duplicates included until [`FloatColumn::rebuild_sorted`]).
    pub fn len(&self) -> usize {
        self.sealed + self.ts.len()
    }

    /// Appends one sample; returns the growth of the heap bytes it holds.
    #[inline]
    pub fn push(&mut self, t: Timestamp, v: f64) -> usize {
        let before = self.ts.capacity();
        self.ts.push(t);
        self.vs.push(v);
        // `vs` grows in lock-step with `ts` (same pushes, same growth policy).
        let mut grown = (self.ts.capacity() - before) * (size_of::<Timestamp>() + size_of::<f64>());
        if self.ts.len() == BLOCK_SAMPLES {
            grown += self.seal();
        }
        grown
    }

    /// Encodes the tail into a block and clears it; returns the block's bytes.
    #[cold]
    fn seal(&mut self) -> usize {
        if !self.ts.windows(2).all(|w| w[0] < w[1]) {
            let mut samples: Vec<Sample> = self.ts.iter().zip(&self.vs).map(|(&t, &v)| Sample::new(t, v)).collect();
            sort_dedup_samples(&mut samples);
            self.ts.clear();
            self.vs.clear();
            self.ts.extend(samples.iter().map(|s| s.t));
            self.vs.extend(samples.iter().map(|s| s.v));
        }
        let bytes = self.encode_tail();
        self.ts.clear();
        self.vs.clear();
        bytes
    }

    /// Encodes the (sorted, unique) tail into a new block; returns its bytes.
    fn encode_tail(&mut self) -> usize {
        let (Some(&min_t), Some(&max_t)) = (self.ts.first(), self.ts.last()) else {
            return 0;
        };
        let mut out = Vec::with_capacity(16 + self.ts.len() * 9);
        encode_chunk(&self.ts, &self.vs, &mut out);
        let bytes = out.into_boxed_slice();
        let held = bytes.len() + size_of::<Block>();
        self.sealed += self.ts.len();
        self.blocks.push(Block { min_t, max_t, len: self.ts.len() as u32, bytes });
        held
    }

    /// Every sample in arrival order (blocks first, then the tail).
    pub fn all(&self, out: &mut Vec<Sample>) {
        out.reserve(self.len());
        for b in &self.blocks {
            b.decode_into(Timestamp::MIN, Timestamp::MAX, out);
        }
        out.extend(self.ts.iter().zip(&self.vs).map(|(&t, &v)| Sample::new(t, v)));
    }

    /// Replaces the contents with `samples` (sorted, unique timestamps).
    pub fn rebuild_sorted(&mut self, samples: &[Sample]) {
        *self = Self::default();
        for chunk in samples.chunks(BLOCK_SAMPLES) {
            self.ts.extend(chunk.iter().map(|s| s.t));
            self.vs.extend(chunk.iter().map(|s| s.v));
            if chunk.len() == BLOCK_SAMPLES {
                self.encode_tail();
                self.ts.clear();
                self.vs.clear();
            }
        }
    }

    /// The blocks that may hold samples in `[min_t, max_t]` (sorted columns:
    /// blocks follow each other in time).
    fn blocks_in(&self, min_t: Timestamp, max_t: Timestamp) -> &[Block] {
        let lo = self.blocks.partition_point(|b| b.max_t < min_t);
        let hi = self.blocks.partition_point(|b| b.min_t <= max_t);
        &self.blocks[lo..hi.max(lo)]
    }

    /// The tail's samples in `[min_t, max_t]` as an index range (sorted columns).
    fn tail_in(&self, min_t: Timestamp, max_t: Timestamp) -> std::ops::Range<usize> {
        let lo = self.ts.partition_point(|&t| t < min_t);
        let hi = self.ts.partition_point(|&t| t <= max_t);
        lo..hi.max(lo)
    }

    /// Appends the samples in `[min_t, max_t]`, in time order (sorted columns).
    pub fn sorted_in(&self, min_t: Timestamp, max_t: Timestamp, out: &mut Vec<Sample>) {
        for b in self.blocks_in(min_t, max_t) {
            b.decode_into(min_t, max_t, out);
        }
        let r = self.tail_in(min_t, max_t);
        out.extend(self.ts[r.clone()].iter().zip(&self.vs[r]).map(|(&t, &v)| Sample::new(t, v)));
    }

    /// Whether a sample lies in `[min_t, max_t]` (sorted columns).
    pub fn sorted_any_in(&self, min_t: Timestamp, max_t: Timestamp) -> bool {
        if !self.tail_in(min_t, max_t).is_empty() {
            return true;
        }
        let mut scratch = Vec::new();
        self.blocks_in(min_t, max_t).iter().any(|b| {
            if min_t <= b.min_t || max_t >= b.max_t {
                return true; // the range holds the block's first or last sample
            }
            scratch.clear();
            b.decode_into(min_t, max_t, &mut scratch);
            !scratch.is_empty()
        })
    }

    /// About how many samples lie in `[min_t, max_t]` (sorted columns):
    /// exact for the tail and for blocks wholly inside the range, the
    /// time-proportional share of a block the range cuts (never decodes).
    pub fn sorted_count_in(&self, min_t: Timestamp, max_t: Timestamp) -> u64 {
        let blocks: u64 = self
            .blocks_in(min_t, max_t)
            .iter()
            .map(|b| {
                if min_t <= b.min_t && max_t >= b.max_t {
                    u64::from(b.len)
                } else {
                    crate::estimate::overlap_share(u64::from(b.len), (b.min_t, b.max_t), (min_t, max_t))
                }
            })
            .sum();
        blocks + self.tail_in(min_t, max_t).len() as u64
    }

    /// Whether any sample lies in `[min_t, max_t]`, in any order (scans).
    pub fn unsorted_any_in(&self, min_t: Timestamp, max_t: Timestamp) -> bool {
        if self.ts.iter().any(|&t| t >= min_t && t <= max_t) {
            return true;
        }
        let mut scratch = Vec::new();
        self.blocks.iter().filter(|b| b.max_t >= min_t && b.min_t <= max_t).any(|b| {
            scratch.clear();
            b.decode_into(min_t, max_t, &mut scratch);
            !scratch.is_empty()
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn col(samples: &[(i64, f64)]) -> FloatColumn {
        let mut c = FloatColumn::default();
        for &(t, v) in samples {
            c.push(t, v);
        }
        c
    }

    fn all(c: &FloatColumn) -> Vec<(i64, u64)> {
        let mut out = Vec::new();
        c.all(&mut out);
        out.iter().map(|s| (s.t, s.v.to_bits())).collect()
    }

    #[test]
    fn seals_blocks_and_reads_every_sample_back_bit_exact() {
        let input: Vec<(i64, f64)> = (0..1000)
            .map(|i| {
                let v = match i % 7 {
                    0 => f64::NAN,
                    1 => -0.0,
                    2 => f64::INFINITY,
                    _ => (i as f64).sin() * 1e6,
                };
                (1_000_000 + i * 10_000 + (i % 3), v)
            })
            .collect();
        let c = col(&input);
        assert_eq!(c.len(), 1000);
        assert_eq!(c.blocks.len(), 1000 / BLOCK_SAMPLES);
        let want: Vec<(i64, u64)> = input.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(all(&c), want);

        // Every range, against a filter of the input.
        for (lo, hi) in [
            (0, i64::MAX),
            (1_000_000, 1_000_000),
            (1_500_000, 3_333_333),
            (5_000_000, 20_000_000),
            (9_990_000, 9_990_002),
        ] {
            let mut got = Vec::new();
            c.sorted_in(lo, hi, &mut got);
            let want: Vec<(i64, u64)> =
                input.iter().filter(|(t, _)| *t >= lo && *t <= hi).map(|&(t, v)| (t, v.to_bits())).collect();
            assert_eq!(got.iter().map(|s| (s.t, s.v.to_bits())).collect::<Vec<_>>(), want, "[{lo}, {hi}]");
            assert_eq!(c.sorted_any_in(lo, hi), !want.is_empty());
            let n = c.sorted_count_in(lo, hi);
            assert!(n.abs_diff(want.len() as u64) <= 2, "[{lo}, {hi}]: estimated {n}, exact {}", want.len());
        }
        // A range between two samples of one block holds nothing.
        assert!(!c.sorted_any_in(1_000_001, 1_009_999));
        assert!(!c.unsorted_any_in(1_000_001, 1_009_999));
    }

    #[test]
    fn an_out_of_order_tail_is_sorted_before_sealing_and_the_last_write_wins() {
        let mut input: Vec<(i64, f64)> = (0..BLOCK_SAMPLES as i64).rev().map(|i| (i, i as f64)).collect();
        input[0] = (5, 500.0); // an earlier duplicate of t=5, overwritten later by (5, 5.0)
        let mut c = col(&input);
        assert_eq!(c.blocks.len(), 1, "sealed despite the disorder");
        c.push(5, 55.0); // in the tail, written after the block: wins
        let mut got = Vec::new();
        c.all(&mut got);
        sort_dedup_samples(&mut got);
        assert_eq!(got.len(), BLOCK_SAMPLES - 1);
        assert_eq!(got[5], Sample::new(5, 55.0));
        assert_eq!(got[6], Sample::new(6, 6.0));
        assert!(c.unsorted_any_in(118, 118) && !c.unsorted_any_in(119, 200), "t=119 was overwritten by the duplicate");
    }

    #[test]
    fn rebuild_keeps_blocks_full_and_the_rest_in_the_tail() {
        let samples: Vec<Sample> = (0..250).map(|i| Sample::new(i * 15, i as f64 * 0.5)).collect();
        let mut c = col(&[(99_999, 1.0)]);
        c.rebuild_sorted(&samples);
        assert_eq!((c.blocks.len(), c.ts.len(), c.len()), (2, 10, 250));
        let mut got = Vec::new();
        c.sorted_in(i64::MIN, i64::MAX, &mut got);
        assert_eq!(got, samples);
    }
}
