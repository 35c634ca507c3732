//! One series' float samples in the head: an open page that takes appends,
//! and sealed pages in a compact form that decodes without bit twiddling.
//!
//! ```text
//!  push ─▶ open page: Vec<Sample>, 16 → 32 → 64 → 128 samples (then reused)
//!            │ full
//!            ▼
//!          sealed page: base, min/max time, length, then
//!            times:  Regular(step)   t[i] = base + i·step     0 B/sample
//!                    Offsets([i32])  t[i] = base + off[i]     4 B/sample
//!                    Raw([i64])                               8 B/sample
//!            values: Ints([i32])     v[i] = int[i] as f64     4 B/sample
//!                    Floats([f64])                            8 B/sample
//! ```
//!
//! A doubling `Vec` per series copied itself on growth and, for a moment,
//! held both buffers; head series grow in lock-step (every scrape appends
//! to each), so they all doubled within seconds of each other, and raw
//! `(i64, f64)` pairs took 16 bytes a sample. Scrapes are regular and most
//! metrics (counters, bytes, histogram buckets) are whole numbers, so a
//! sealed page usually takes 4 bytes a sample, 8 for full-precision
//! gauges. Every form is exact: an integer page is chosen only when each
//! value's bits round-trip (so `-0.0`, NaNs and staleness markers stay
//! floats), and a time form only when every timestamp is reproduced.
//!
//! Decoding is a multiply-add and an integer-to-float conversion per
//! sample, in loops without bounds checks; with a quarter of the memory to
//! read, head reads are at least as fast as copying raw pages
//! (`cargo bench -p strata-storage --bench decode -- head`). A
//! Gorilla-compressed head was measured at stop 16 and reverted: its
//! bit-level decode on the shard threads slowed the queries sharing them.
use strata_common::{Sample, Timestamp};

/// Samples in a series' first open page.
const FIRST_PAGE: usize = 16;
/// Samples in a full-size open page, and at most in a sealed one.
const MAX_PAGE: usize = 128;

/// A series' samples in arrival order.
#[derive(Debug, Default)]
pub(crate) struct SamplePages {
    sealed: Vec<Sealed>,
    open: Vec<Sample>,
    len: usize,
    last_t: Option<Timestamp>,
}

impl SamplePages {
    /// Appends `s`; returns the bytes allocated for it (often 0).
    #[inline]
    pub fn push(&mut self, s: Sample) -> usize {
        self.len += 1;
        self.last_t = Some(s.t);
        if self.open.len() < self.open.capacity() {
            self.open.push(s);
            return 0;
        }
        self.push_full(s)
    }

    #[cold]
    fn push_full(&mut self, s: Sample) -> usize {
        let mut bytes = 0;
        let cap = self.open.capacity();
        if !self.open.is_empty() {
            let page = Sealed::seal(&self.open);
            bytes += page.heap_bytes() + size_of::<Sealed>();
            self.sealed.push(page);
            self.open.clear();
        }
        let want = if cap == 0 { FIRST_PAGE } else { (cap * 2).min(MAX_PAGE) };
        if want > cap {
            self.open.reserve_exact(want);
            bytes += (self.open.capacity() - cap) * size_of::<Sample>();
        }
        self.open.push(s);
        bytes
    }

    /// Number of samples.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no sample was appended.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The timestamp appended last.
    #[inline]
    pub fn last_t(&self) -> Option<Timestamp> {
        self.last_t
    }

    /// Every sample, in arrival order.
    pub fn all(&self) -> Vec<Sample> {
        let mut out = Vec::with_capacity(self.len);
        for page in &self.sealed {
            page.decode(0, page.len(), &mut out);
        }
        out.extend_from_slice(&self.open);
        out
    }

    /// Every sample as timestamp and value columns, in arrival order.
    pub fn columns_into(&self, ts: &mut Vec<Timestamp>, vs: &mut Vec<f64>) {
        ts.clear();
        vs.clear();
        let mut run = Vec::with_capacity(MAX_PAGE);
        for page in &self.sealed {
            run.clear();
            page.decode(0, page.len(), &mut run);
            ts.extend(run.iter().map(|s| s.t));
            vs.extend(run.iter().map(|s| s.v));
        }
        ts.extend(self.open.iter().map(|s| s.t));
        vs.extend(self.open.iter().map(|s| s.v));
    }

    /// Replaces the samples with `samples` (sorted; the series is no longer
    /// appended to), sealed in full pages.
    pub fn replace(&mut self, samples: Vec<Sample>) {
        self.len = samples.len();
        self.last_t = samples.last().map(|s| s.t);
        self.sealed = samples.chunks(MAX_PAGE).map(Sealed::seal).collect();
        self.open = Vec::new();
    }

    /// For samples in increasing time order: the index range of each page's
    /// samples in `[min_t, max_t]`, skipping pages with none.
    fn sorted_runs(&self, min_t: Timestamp, max_t: Timestamp) -> impl Iterator<Item = (Run<'_>, usize, usize)> {
        // Sealed pages are in time order: those overlapping the range are contiguous.
        let first = self.sealed.partition_point(|p| p.max_t < min_t);
        let end = self.sealed.partition_point(|p| p.min_t <= max_t).max(first);
        let sealed = self.sealed[first..end].iter().map(move |p| {
            // Pages inside the range (all but the first and last of a long
            // read) need no search.
            let lo = if p.min_t >= min_t { 0 } else { lower_bound(p.len(), |i| p.t_at(i) < min_t) };
            let hi = if p.max_t <= max_t { p.len() } else { lower_bound(p.len(), |i| p.t_at(i) <= max_t) };
            (Run::Sealed(p), lo, hi.max(lo))
        });
        let open = &self.open;
        let lo = open.partition_point(|s| s.t < min_t);
        let open_run = (Run::Open(open), lo, open.partition_point(|s| s.t <= max_t).max(lo));
        sealed.chain(std::iter::once(open_run)).filter(|(_, lo, hi)| lo < hi)
    }

    /// Whether any sample, in any order, lies in `[min_t, max_t]` (pages
    /// outside the range are skipped by their bounds; nothing is decoded).
    pub fn any_in(&self, min_t: Timestamp, max_t: Timestamp) -> bool {
        let within = |t: Timestamp| t >= min_t && t <= max_t;
        self.sealed.iter().any(|p| p.max_t >= min_t && p.min_t <= max_t && (0..p.len()).any(|i| within(p.t_at(i))))
            || self.open.iter().any(|s| within(s.t))
    }

    /// For samples in increasing time order: how many lie in `[min_t, max_t]`.
    pub fn sorted_count(&self, min_t: Timestamp, max_t: Timestamp) -> usize {
        self.sorted_runs(min_t, max_t).map(|(_, lo, hi)| hi - lo).sum()
    }

    /// For samples in increasing time order: whether any lies in `[min_t, max_t]`.
    pub fn sorted_any(&self, min_t: Timestamp, max_t: Timestamp) -> bool {
        self.sorted_runs(min_t, max_t).next().is_some()
    }

    /// For samples in increasing time order: those in `[min_t, max_t]`.
    pub fn sorted_range(&self, min_t: Timestamp, max_t: Timestamp) -> Vec<Sample> {
        let mut out = Vec::with_capacity(self.sorted_count(min_t, max_t));
        for (run, lo, hi) in self.sorted_runs(min_t, max_t) {
            match run {
                Run::Sealed(p) => p.decode(lo, hi, &mut out),
                Run::Open(s) => out.extend_from_slice(&s[lo..hi]),
            }
        }
        out
    }
}

/// One page's part of a range read.
enum Run<'a> {
    Sealed(&'a Sealed),
    Open(&'a [Sample]),
}

/// The first index in `0..len` where `before` is false (`before` is true
/// for a prefix of the indices).
fn lower_bound(len: usize, before: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if before(mid) { lo = mid + 1 } else { hi = mid }
    }
    lo
}

/// A full page in its compact form.
#[derive(Debug)]
struct Sealed {
    /// The first sample's timestamp.
    base: Timestamp,
    min_t: Timestamp,
    max_t: Timestamp,
    times: Times,
    values: Values,
}

#[derive(Debug)]
enum Times {
    /// `t[i] = base + i * step` (wrapping).
    Regular {
        step: i64,
        len: usize,
    },
    /// `t[i] = base + off[i]`.
    Offsets(Box<[i32]>),
    Raw(Box<[i64]>),
}

#[derive(Debug)]
enum Values {
    /// Whole numbers whose `f64` bits round-trip through `i32`.
    Ints(Box<[i32]>),
    Floats(Box<[f64]>),
}

impl Sealed {
    /// The compact form of `page` (not empty).
    fn seal(page: &[Sample]) -> Self {
        let base = page[0].t;
        let step = page.get(1).map_or(0, |s| s.t.wrapping_sub(base));
        let at = |i: usize| base.wrapping_add((i as i64).wrapping_mul(step));
        let times = if page.iter().enumerate().all(|(i, s)| s.t == at(i)) {
            Times::Regular { step, len: page.len() }
        } else if let Some(offs) = page.iter().map(|s| i32::try_from(s.t.wrapping_sub(base)).ok()).collect() {
            Times::Offsets(offs)
        } else {
            Times::Raw(page.iter().map(|s| s.t).collect())
        };
        let int = |v: f64| Some(v as i32).filter(|&i| f64::from(i).to_bits() == v.to_bits());
        let values = match page.iter().map(|s| int(s.v)).collect() {
            Some(ints) => Values::Ints(ints),
            None => Values::Floats(page.iter().map(|s| s.v).collect()),
        };
        let min_t = page.iter().map(|s| s.t).min().unwrap_or(base);
        let max_t = page.iter().map(|s| s.t).max().unwrap_or(base);
        Self { base, min_t, max_t, times, values }
    }

    fn len(&self) -> usize {
        match &self.times {
            Times::Regular { len, .. } => *len,
            Times::Offsets(o) => o.len(),
            Times::Raw(t) => t.len(),
        }
    }

    fn heap_bytes(&self) -> usize {
        let times = match &self.times {
            Times::Regular { .. } => 0,
            Times::Offsets(o) => o.len() * 4,
            Times::Raw(t) => t.len() * 8,
        };
        times
            + match &self.values {
                Values::Ints(v) => v.len() * 4,
                Values::Floats(v) => v.len() * 8,
            }
    }

    #[inline]
    fn t_at(&self, i: usize) -> Timestamp {
        match &self.times {
            Times::Regular { step, .. } => self.base.wrapping_add((i as i64).wrapping_mul(*step)),
            Times::Offsets(o) => self.base.wrapping_add(i64::from(o[i])),
            Times::Raw(t) => t[i],
        }
    }

    /// Appends samples `lo..hi` to `out`.
    fn decode(&self, lo: usize, hi: usize, out: &mut Vec<Sample>) {
        let base = self.base;
        match &self.times {
            Times::Regular { step, .. } => {
                let step = *step;
                let ts = (lo as i64..hi as i64).map(|i| base.wrapping_add(i.wrapping_mul(step)));
                self.values_into(ts, lo, hi, out);
            }
            Times::Offsets(o) => {
                self.values_into(o[lo..hi].iter().map(|&d| base.wrapping_add(i64::from(d))), lo, hi, out)
            }
            Times::Raw(t) => self.values_into(t[lo..hi].iter().copied(), lo, hi, out),
        }
    }

    /// Appends the samples of `ts` (timestamps `lo..hi`) with values `lo..hi`.
    /// Slices and exact-size iterators, no indexing: each form is a simple
    /// loop without bounds checks.
    #[inline]
    fn values_into(&self, ts: impl Iterator<Item = Timestamp>, lo: usize, hi: usize, out: &mut Vec<Sample>) {
        match &self.values {
            Values::Ints(v) => out.extend(ts.zip(&v[lo..hi]).map(|(t, &x)| Sample::new(t, f64::from(x)))),
            Values::Floats(v) => out.extend(ts.zip(&v[lo..hi]).map(|(t, &x)| Sample::new(t, x))),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pages_of(samples: &[Sample]) -> SamplePages {
        let mut p = SamplePages::default();
        for &s in samples {
            p.push(s);
        }
        p
    }

    fn bits(s: &[Sample]) -> Vec<(i64, u64)> {
        s.iter().map(|s| (s.t, s.v.to_bits())).collect()
    }

    #[test]
    fn open_pages_grow_to_a_fixed_size_then_seal() {
        let mut p = SamplePages::default();
        let mut bytes = 0;
        for t in 0..1000 {
            bytes += p.push(Sample::new(t * 10_000, t as f64));
        }
        assert_eq!(p.sealed.iter().map(Sealed::len).collect::<Vec<_>>()[..5], [16, 32, 64, 128, 128]);
        assert_eq!(p.open.capacity(), MAX_PAGE);
        assert!(p.sealed.iter().all(|s| matches!(s.times, Times::Regular { step: 10_000, .. })));
        assert!(p.sealed.iter().all(|s| matches!(s.values, Values::Ints(_))));
        // Regular whole-number samples: 4 bytes each once sealed.
        assert!(bytes < 1000 * 4 + MAX_PAGE * 16 + p.sealed.len() * size_of::<Sealed>(), "{bytes}");
        assert_eq!(p.len(), 1000);
        assert_eq!(p.last_t(), Some(999 * 10_000));
        assert_eq!(p.all().iter().map(|s| s.t).collect::<Vec<_>>(), (0..1000).map(|t| t * 10_000).collect::<Vec<_>>());
    }

    #[test]
    fn every_value_keeps_its_bits() {
        let special = [0.0, -0.0, f64::NAN, f64::from_bits(0x7ff0_0000_0000_0002), f64::INFINITY, 1e300, 0.5, -7.0];
        for v in special {
            let samples: Vec<Sample> = (0..40).map(|i| Sample::new(i, if i == 20 { v } else { 3.0 })).collect();
            assert_eq!(bits(&pages_of(&samples).all()), bits(&samples), "{v}");
        }
        let extremes = [i32::MIN as f64, i32::MAX as f64, i32::MAX as f64 + 1.0, i32::MIN as f64 - 1.0];
        let samples: Vec<Sample> =
            extremes.iter().cycle().take(50).enumerate().map(|(i, &v)| Sample::new(i as i64, v)).collect();
        assert_eq!(bits(&pages_of(&samples).all()), bits(&samples));
    }

    #[test]
    fn replace_seals_full_pages() {
        let mut p = pages_of(&[Sample::new(3, 1.0), Sample::new(1, 2.0)]);
        let sorted: Vec<Sample> = (0..300).map(|i| Sample::new(i, i as f64 * 0.1)).collect();
        p.replace(sorted.clone());
        assert_eq!(p.len(), 300);
        assert_eq!(p.sealed.len(), 3);
        assert_eq!(bits(&p.sorted_range(i64::MIN, i64::MAX)), bits(&sorted));
        p.replace(Vec::new());
        assert!(p.is_empty() && p.last_t().is_none() && p.all().is_empty());
    }

    /// Timestamps: regular, jittered, huge gaps, out of order; values:
    /// whole, fractional, special.
    fn arb_samples() -> impl Strategy<Value = Vec<Sample>> {
        let t = prop_oneof![
            3 => Just(10_000i64),
            2 => 9_990i64..10_010,
            1 => 0i64..3_000_000_000_000,
            1 => -5_000i64..5_000,
        ];
        let v = prop_oneof![
            3 => (-100i32..100).prop_map(f64::from),
            2 => any::<f64>(),
            1 => Just(f64::from_bits(0x7ff0_0000_0000_0002)),
            1 => Just(-0.0),
        ];
        (proptest::collection::vec((t, v), 0..600), -1_000_000i64..1_000_000).prop_map(|(steps, start)| {
            let mut t = start;
            steps
                .into_iter()
                .map(|(d, v)| {
                    t = t.wrapping_add(d);
                    Sample::new(t, v)
                })
                .collect()
        })
    }

    proptest! {
        /// Whatever the form of each page, every sample comes back with its bits.
        #[test]
        fn pages_return_every_sample_exactly(samples in arb_samples()) {
            let p = pages_of(&samples);
            prop_assert_eq!(p.len(), samples.len());
            prop_assert_eq!(bits(&p.all()), bits(&samples));
            for (min_t, max_t) in [(i64::MIN, i64::MAX), (-1_000, 1_000), (5_000_000, 6_000_000)] {
                prop_assert_eq!(p.any_in(min_t, max_t), samples.iter().any(|s| s.t >= min_t && s.t <= max_t));
            }
            let (mut ts, mut vs) = (Vec::new(), Vec::new());
            p.columns_into(&mut ts, &mut vs);
            prop_assert_eq!(ts, samples.iter().map(|s| s.t).collect::<Vec<_>>());
            prop_assert_eq!(vs.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), samples.iter().map(|s| s.v.to_bits()).collect::<Vec<_>>());
        }

        /// A range read of in-order samples equals filtering them.
        #[test]
        fn sorted_range_equals_a_filter(
            n in 0usize..700,
            step in 1i64..20,
            jitter in proptest::collection::vec(0i64..3, 700),
            bounds in (-50i64..15_000, -100i64..15_000),
        ) {
            let mut t = 0;
            let samples: Vec<Sample> = (0..n).map(|i| {
                t += step + jitter[i] * (i as i64 % 7);
                Sample::new(t, (i % 5) as f64 / 2.0)
            }).collect();
            let p = pages_of(&samples);
            let (min_t, max_t) = (bounds.0, bounds.0 + bounds.1);
            let want: Vec<Sample> = samples.iter().copied().filter(|s| s.t >= min_t && s.t <= max_t).collect();
            prop_assert_eq!(bits(&p.sorted_range(min_t, max_t)), bits(&want));
            prop_assert_eq!(p.sorted_count(min_t, max_t), want.len());
            prop_assert_eq!(p.sorted_any(min_t, max_t), !want.is_empty());
        }
    }
}
