//! Selection estimates from indexes and metadata only (the query
//! scheduler's cost input): postings cardinalities, per-series chunk
//! metadata in files, per-series counts in heads. Never a sample is decoded.
//!
//! A selection matching many series is estimated from an even sample of
//! [`SAMPLED_SERIES`] of them, scaled up, so an estimate costs about the
//! same for 100 or 100,000 series.

use roaring::RoaringBitmap;
use strata_common::Timestamp;
use strata_common::select::SelectEstimate;

/// Series looked at per file or head before an estimate samples.
pub const SAMPLED_SERIES: u64 = 256;

/// Sums `per_series(id) -> (samples, bytes)` over an even sample of `ids`
/// and scales the sums to all of them; a series counts as selected when it
/// has samples.
pub fn sampled(ids: &RoaringBitmap, mut per_series: impl FnMut(u32) -> (u64, u64)) -> SelectEstimate {
    let matched = ids.len();
    let stride = matched.div_ceil(SAMPLED_SERIES).max(1) as usize;
    let (mut looked, mut series, mut samples, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    for id in ids.iter().step_by(stride) {
        let (n, b) = per_series(id);
        looked += 1;
        series += u64::from(n > 0);
        samples += n;
        bytes += b;
    }
    let scale = |x: u64| if looked == 0 { 0 } else { (x as f64 * matched as f64 / looked as f64).round() as u64 };
    SelectEstimate { series: scale(series), samples: scale(samples), bytes: scale(bytes), files: 0 }
}

/// The share of `count` items spread evenly over `span` that fall in
/// `range` (both inclusive), rounded up so an overlap never counts 0.
pub fn overlap_share(count: u64, span: (Timestamp, Timestamp), range: (Timestamp, Timestamp)) -> u64 {
    let (lo, hi) = (span.0.max(range.0), span.1.min(range.1));
    if hi < lo || count == 0 {
        return 0;
    }
    let width = (span.1 - span.0) as f64 + 1.0;
    ((count as f64) * ((hi - lo) as f64 + 1.0) / width).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_shares_are_proportional_and_never_zero_on_overlap() {
        assert_eq!(overlap_share(100, (0, 99), (0, 99)), 100);
        assert_eq!(overlap_share(100, (0, 99), (50, 1000)), 50);
        assert_eq!(overlap_share(100, (0, 99), (99, 99)), 1);
        assert_eq!(overlap_share(100, (0, 99), (100, 200)), 0);
        assert_eq!(overlap_share(0, (0, 99), (0, 99)), 0);
    }

    #[test]
    fn sampling_scales_to_every_matched_series() {
        let ids: RoaringBitmap = (0..10_000).collect();
        let e = sampled(&ids, |id| (if id < 5_000 { 10 } else { 0 }, 5));
        assert_eq!(e.samples, 50_000);
        assert_eq!(e.series, 5_000);
        assert_eq!(e.bytes, 50_000);
        let few: RoaringBitmap = (0..3).collect();
        assert_eq!(sampled(&few, |_| (7, 1)).samples, 21);
    }
}
