//! One series' float samples in the head, held in pages that never move.
//!
//! A doubling `Vec` per series copies itself on growth and, for a moment,
//! holds both the old and the new buffer. Head series grow in lock-step
//! (every scrape appends one sample to each), so they all double within
//! seconds of each other: peak memory was about 1.5× the samples' size, and
//! a quarter of a full head was unused capacity. Pages are allocated once
//! and only appended to: the first holds [`FIRST_PAGE`] samples, each next
//! one twice as many up to [`MAX_PAGE`] (so a short series stays small), and
//! nothing is ever copied or freed before the memtable is dropped. Unused
//! capacity is under one page per series.
//!
//! Samples are kept as [`Sample`] pairs, the shape reads return, so a read
//! copies whole runs of a page.
use strata_common::{Sample, Timestamp};

/// Samples in a series' first page.
pub(crate) const FIRST_PAGE: usize = 16;
/// Samples in a full-size page (2 KiB).
pub(crate) const MAX_PAGE: usize = 128;

/// A series' samples in arrival order, in pages.
#[derive(Debug, Default)]
pub(crate) struct SamplePages {
    pages: Vec<Vec<Sample>>,
    len: usize,
}

impl SamplePages {
    /// Appends `s`; returns the bytes allocated for it (a new page, or 0).
    #[inline]
    pub fn push(&mut self, s: Sample) -> usize {
        self.len += 1;
        if let Some(page) = self.pages.last_mut()
            && page.len() < page.capacity()
        {
            page.push(s);
            return 0;
        }
        self.push_page(s)
    }

    #[cold]
    fn push_page(&mut self, s: Sample) -> usize {
        let cap = self.pages.last().map_or(FIRST_PAGE, |p| (p.capacity() * 2).min(MAX_PAGE));
        let mut page = Vec::with_capacity(cap);
        page.push(s);
        let bytes = page.capacity() * size_of::<Sample>();
        self.pages.push(page);
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

    /// The sample appended last.
    #[inline]
    pub fn last(&self) -> Option<&Sample> {
        self.pages.last().and_then(|p| p.last())
    }

    /// The pages, in arrival order (none is empty).
    pub fn pages(&self) -> &[Vec<Sample>] {
        &self.pages
    }

    /// Every sample, in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = &Sample> {
        self.pages.iter().flatten()
    }

    /// Replaces the samples with `samples`, held in one page of exactly
    /// their size (after a sort: the series is no longer appended to).
    pub fn replace(&mut self, mut samples: Vec<Sample>) {
        samples.shrink_to_fit();
        self.len = samples.len();
        self.pages = if samples.is_empty() { Vec::new() } else { vec![samples] };
    }

    /// The runs of samples with timestamps in `[min_t, max_t]`, in order.
    /// Only for samples in increasing time order.
    pub fn sorted_range(&self, min_t: Timestamp, max_t: Timestamp) -> impl Iterator<Item = &[Sample]> {
        // Pages are in time order: those overlapping the range are contiguous.
        let first = self.pages.partition_point(|p| p.last().is_some_and(|s| s.t < min_t));
        let end = self.pages.partition_point(|p| p.first().is_some_and(|s| s.t <= max_t)).max(first);
        self.pages[first..end]
            .iter()
            .map(move |p| {
                let lo = p.partition_point(|s| s.t < min_t);
                &p[lo..p.partition_point(|s| s.t <= max_t).max(lo)]
            })
            .filter(|run| !run.is_empty())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pages_of(ts: &[i64]) -> SamplePages {
        let mut p = SamplePages::default();
        for &t in ts {
            p.push(Sample::new(t, t as f64));
        }
        p
    }

    #[test]
    fn pages_grow_to_a_fixed_size_and_report_their_bytes() {
        let mut p = SamplePages::default();
        let mut bytes = 0;
        for t in 0..1000 {
            bytes += p.push(Sample::new(t, 0.0));
        }
        let caps: Vec<usize> = p.pages().iter().map(Vec::capacity).collect();
        assert_eq!(caps[..4], [16, 32, 64, 128]);
        assert!(caps[4..].iter().all(|&c| c == MAX_PAGE));
        assert_eq!(bytes, caps.iter().sum::<usize>() * 16);
        assert_eq!(p.len(), 1000);
        assert_eq!(p.last().unwrap().t, 999);
        assert_eq!(p.iter().map(|s| s.t).collect::<Vec<_>>(), (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn replace_keeps_one_exact_page() {
        let mut p = pages_of(&[3, 1, 2]);
        p.replace(vec![Sample::new(1, 1.0), Sample::new(3, 3.0)]);
        assert_eq!(p.len(), 2);
        assert_eq!(p.pages().len(), 1);
        p.replace(Vec::new());
        assert!(p.is_empty() && p.pages().is_empty() && p.last().is_none());
    }

    proptest! {
        /// A range read over pages equals filtering the whole series.
        #[test]
        fn sorted_range_equals_a_filter(
            n in 0usize..700,
            step in 1i64..20,
            bounds in (-50i64..15_000, -100i64..15_000),
        ) {
            let ts: Vec<i64> = (0..n as i64).map(|i| i * step).collect();
            let p = pages_of(&ts);
            let (min_t, max_t) = (bounds.0, bounds.0 + bounds.1);
            let got: Vec<i64> = p.sorted_range(min_t, max_t).flatten().map(|s| s.t).collect();
            let want: Vec<i64> = ts.iter().copied().filter(|&t| t >= min_t && t <= max_t).collect();
            prop_assert_eq!(got, want);
            prop_assert!(p.sorted_range(min_t, max_t).all(|run| !run.is_empty()));
        }
    }
}
