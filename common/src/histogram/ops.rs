//! Histogram arithmetic as PromQL needs it (Prometheus
//! `model/histogram/float_histogram.go` semantics): addition and
//! subtraction at the smaller schema and the larger zero threshold, scaling,
//! compaction, and counter-reset detection.

use std::collections::BTreeMap;

use super::buckets::{exponential_bound, indexed};
use super::{Histogram, ResetHint, Span};

/// Why two histograms cannot be combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// One uses custom buckets and the other exponential ones.
    #[error("vector contains a mix of histograms with exponential and custom buckets schemas")]
    MixedSchemas,
    /// Both use custom buckets, with different bounds.
    #[error("vector contains histograms with incompatible custom buckets")]
    IncompatibleCustomBounds,
}

/// The bucket index at `target` schema holding bucket `idx` at `origin`.
pub(super) fn target_idx(idx: i32, origin: i32, target: i32) -> i32 {
    ((idx - 1) >> (origin - target)) + 1
}

/// The index among `bounds` (a subset of `src`) of custom bucket `idx`
/// of a histogram with bounds `src` (`bounds.len()`: the `+Inf` bucket).
pub(super) fn custom_target(src: &[f64], idx: i32, bounds: &[f64]) -> i32 {
    match src.get(idx.max(0) as usize) {
        Some(&upper) => bounds.partition_point(|&b| b < upper) as i32,
        None => bounds.len() as i32,
    }
}

/// The bounds in both sorted lists.
pub fn intersect(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().copied().filter(|x| b.contains(x)).collect()
}

/// Buckets of one side as an ordered map of index to count.
pub(super) type Side = BTreeMap<i32, f64>;

impl Histogram {
    /// One side's buckets at `schema` (< = own schema), dropping those
    /// entirely inside a zero bucket of `threshold` (their counts are
    /// returned, to be added to the zero bucket).
    pub(super) fn side_at(&self, positive: bool, schema: i32, threshold: f64) -> (Side, f64) {
        let (spans, counts) = if positive {
            (&self.positive_spans, &self.positive_buckets)
        } else {
            (&self.negative_spans, &self.negative_buckets)
        };
        let mut out = Side::new();
        let mut into_zero = 0.0;
        for (idx, c) in indexed(spans, counts) {
            if !self.uses_custom_buckets() && threshold > self.zero_threshold {
                // A bucket whose upper bound is at most the new threshold moves into the zero bucket.
                if exponential_bound(idx, self.schema) <= threshold {
                    into_zero += c;
                    continue;
                }
            }
            let t = if self.uses_custom_buckets() { idx } else { target_idx(idx, self.schema, schema) };
            *out.entry(t).or_insert(0.0) += c;
        }
        (out, into_zero)
    }

    /// Rebuilds spans and counts of one side from `side`, skipping buckets
    /// whose count is exactly zero when `drop_empty`.
    pub(super) fn set_side(&mut self, positive: bool, side: &Side, drop_empty: bool) {
        let mut spans: Vec<Span> = Vec::new();
        let mut counts = Vec::with_capacity(side.len());
        let mut next: Option<i32> = None;
        for (&idx, &c) in side {
            if drop_empty && c == 0.0 {
                continue;
            }
            match (next, spans.last_mut()) {
                (Some(n), Some(last)) if n == idx => last.length += 1,
                (Some(n), _) => spans.push(Span { offset: idx - n, length: 1 }),
                (None, _) => spans.push(Span { offset: idx, length: 1 }),
            }
            next = Some(idx + 1);
            counts.push(c);
        }
        if positive {
            self.positive_spans = spans;
            self.positive_buckets = counts;
        } else {
            self.negative_spans = spans;
            self.negative_buckets = counts;
        }
    }

    /// The zero threshold both `self` and `other` can be expressed with.
    fn common_threshold(&self, other: &Histogram) -> f64 {
        self.zero_threshold.max(other.zero_threshold)
    }

    /// This custom-bucket histogram with its buckets merged into the
    /// coarser `bounds` (a subset of its own bounds; Prometheus reconciles
    /// mismatched custom bounds to their intersection): each bucket goes to
    /// the first bound at or above its own upper bound, or to `+Inf`.
    pub fn to_custom_bounds(&self, bounds: &[f64]) -> Histogram {
        let mut side = Side::new();
        for (idx, c) in indexed(&self.positive_spans, &self.positive_buckets) {
            *side.entry(custom_target(&self.custom_values, idx, bounds)).or_insert(0.0) += c;
        }
        let mut out = Histogram { custom_values: bounds.to_vec(), ..self.clone() };
        out.set_side(true, &side, false);
        out
    }

    /// `self` and `other` with custom bounds reconciled to their
    /// intersection when they differ (both returned unchanged otherwise).
    pub fn reconcile_custom(&self, other: &Histogram) -> Option<(Histogram, Histogram)> {
        if !self.uses_custom_buckets() || !other.uses_custom_buckets() || self.custom_values == other.custom_values {
            return None;
        }
        let bounds = intersect(&self.custom_values, &other.custom_values);
        Some((self.to_custom_bounds(&bounds), other.to_custom_bounds(&bounds)))
    }

    /// Whether `self` and `other` have the same bucket layout (schema, zero
    /// threshold, custom bounds, spans) and their spans are in the form
    /// [`Histogram::set_side`] writes (no empty span, a gap before every span
    /// after the first): then bucket `i` of one is bucket `i` of the other,
    /// and combining them bucket by bucket gives what the general path gives,
    /// spans included. The usual case of two samples of one series.
    fn same_layout(&self, other: &Histogram) -> bool {
        fn canonical(spans: &[Span], counts: usize) -> bool {
            spans.iter().all(|s| s.length > 0)
                && spans.iter().skip(1).all(|s| s.offset > 0)
                && spans.iter().map(|s| s.length as usize).sum::<usize>() == counts
        }
        self.schema == other.schema
            && self.zero_threshold == other.zero_threshold
            && self.custom_values == other.custom_values
            && self.positive_spans == other.positive_spans
            && self.negative_spans == other.negative_spans
            && self.positive_buckets.len() == other.positive_buckets.len()
            && self.negative_buckets.len() == other.negative_buckets.len()
            && canonical(&self.positive_spans, self.positive_buckets.len())
            && canonical(&self.negative_spans, self.negative_buckets.len())
    }

    /// `self + sign · other`, at the smaller schema and the larger zero threshold.
    fn combine(&self, other: &Histogram, sign: f64) -> Result<Histogram, OpError> {
        if self.same_layout(other) {
            let zip = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x + sign * y).collect();
            return Ok(Histogram {
                integer: false,
                hint: self.hint,
                schema: self.schema,
                zero_threshold: self.zero_threshold,
                // As the general path: its moved-into-zero counts are 0 here.
                zero_count: self.zero_count + sign * other.zero_count + 0.0,
                count: self.count + sign * other.count,
                sum: self.sum + sign * other.sum,
                positive_spans: self.positive_spans.clone(),
                positive_buckets: zip(&self.positive_buckets, &other.positive_buckets),
                negative_spans: self.negative_spans.clone(),
                negative_buckets: zip(&self.negative_buckets, &other.negative_buckets),
                custom_values: self.custom_values.clone(),
            });
        }
        self.combine_general(other, sign)
    }

    /// [`Histogram::combine`] for any two layouts.
    fn combine_general(&self, other: &Histogram, sign: f64) -> Result<Histogram, OpError> {
        let custom = self.uses_custom_buckets();
        if custom != other.uses_custom_buckets() {
            return Err(OpError::MixedSchemas);
        }
        if let Some((a, b)) = self.reconcile_custom(other) {
            return a.combine(&b, sign);
        }
        let schema = self.schema.min(other.schema);
        let threshold = self.common_threshold(other);
        let mut out = Histogram {
            integer: false,
            hint: self.hint,
            schema,
            zero_threshold: threshold,
            count: self.count + sign * other.count,
            sum: self.sum + sign * other.sum,
            custom_values: self.custom_values.clone(),
            ..Histogram::default()
        };
        let mut zero = self.zero_count + sign * other.zero_count;
        for positive in [true, false] {
            let (mut a, za) = self.side_at(positive, schema, threshold);
            let (b, zb) = other.side_at(positive, schema, threshold);
            zero += za + sign * zb;
            for (idx, c) in b {
                *a.entry(idx).or_insert(0.0) += sign * c;
            }
            out.set_side(positive, &a, false);
        }
        out.zero_count = zero;
        Ok(out)
    }

    /// `self + other` (the result keeps `self`'s reset hint).
    pub fn add(&self, other: &Histogram) -> Result<Histogram, OpError> {
        self.combine(other, 1.0)
    }

    /// `self - other`.
    pub fn sub(&self, other: &Histogram) -> Result<Histogram, OpError> {
        self.combine(other, -1.0)
    }

    /// Every count and the sum multiplied by `f`.
    pub fn scale(&self, f: f64) -> Histogram {
        let mut out = self.clone();
        out.integer = false;
        out.count *= f;
        out.sum *= f;
        out.zero_count *= f;
        out.positive_buckets.iter_mut().chain(out.negative_buckets.iter_mut()).for_each(|c| *c *= f);
        out
    }

    /// The same histogram with buckets whose count is exactly zero removed
    /// and adjacent spans merged (Prometheus `Compact(0)`).
    pub fn compact(&self) -> Histogram {
        let mut out = self.clone();
        for positive in [true, false] {
            let (side, _) = self.side_at(positive, self.schema, self.zero_threshold);
            out.set_side(positive, &side, true);
        }
        out
    }

    /// This histogram at the smaller `schema` (buckets merged).
    pub fn to_schema(&self, schema: i32) -> Histogram {
        if self.uses_custom_buckets() || schema >= self.schema {
            return self.clone();
        }
        let mut out = self.clone();
        out.schema = schema;
        for positive in [true, false] {
            let (side, _) = self.side_at(positive, schema, self.zero_threshold);
            out.set_side(positive, &side, false);
        }
        out
    }

    /// Whether a counter reset happened between `prev` and `self`
    /// (Prometheus `DetectReset`): the hint decides when it is `Reset` or
    /// `NotReset`; otherwise any count, the zero bucket or any bucket
    /// (compared at `self`'s schema and zero threshold) going down, a finer
    /// schema, a narrower zero bucket or changed custom bounds is a reset.
    pub fn detect_reset(&self, prev: &Histogram) -> bool {
        match self.hint {
            ResetHint::Reset => return true,
            ResetHint::NotReset => return false,
            ResetHint::Unknown | ResetHint::Gauge => {}
        }
        if self.count < prev.count {
            return true;
        }
        if self.same_layout(prev) {
            let down = |cur: &[f64], prev: &[f64]| prev.iter().zip(cur).any(|(p, c)| p > c);
            return down(&self.positive_buckets, &prev.positive_buckets)
                || down(&self.negative_buckets, &prev.negative_buckets)
                || self.zero_count < prev.zero_count;
        }
        self.detect_reset_general(prev)
    }

    /// [`Histogram::detect_reset`] for any two layouts, after the hint and
    /// the count.
    fn detect_reset_general(&self, prev: &Histogram) -> bool {
        if self.uses_custom_buckets() != prev.uses_custom_buckets() {
            return true;
        }
        if let Some((cur, prev)) = self.reconcile_custom(prev) {
            // Different custom bounds: a reset if a reconciled bucket went down.
            return cur.detect_reset(&prev);
        }
        if self.schema > prev.schema || self.zero_threshold < prev.zero_threshold {
            return true;
        }
        let (mut prev_zero, threshold) = (prev.zero_count, self.zero_threshold);
        for positive in [true, false] {
            let (prev_side, into_zero) = prev.side_at(positive, self.schema, threshold);
            prev_zero += into_zero;
            let (cur_side, _) = self.side_at(positive, self.schema, threshold);
            if prev_side.iter().any(|(idx, &c)| c > cur_side.get(idx).copied().unwrap_or(0.0)) {
                return true;
            }
        }
        self.zero_count < prev_zero
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(schema: i32, offset: i32, buckets: &[f64]) -> Histogram {
        let total: f64 = buckets.iter().sum();
        Histogram {
            schema,
            count: total,
            sum: total,
            positive_spans: vec![Span { offset, length: buckets.len() as u32 }],
            positive_buckets: buckets.to_vec(),
            ..Histogram::default()
        }
    }

    #[test]
    fn add_reduces_to_the_smaller_schema() {
        // Schema 1 buckets 1,2 ((1,√2], (√2,2]) are bucket 1 ((1,2]) at schema 0.
        let a = h(1, 1, &[1.0, 2.0]);
        let b = h(0, 1, &[4.0]);
        let s = a.add(&b).unwrap();
        assert_eq!(s.schema, 0);
        assert_eq!(s.positive_spans, vec![Span { offset: 1, length: 1 }]);
        assert_eq!(s.positive_buckets, vec![7.0]);
        assert_eq!(s.count, 7.0);
        let d = b.sub(&a).unwrap();
        assert_eq!(d.positive_buckets, vec![1.0]);
    }

    #[test]
    fn mixed_custom_and_exponential_is_an_error() {
        let c = Histogram { schema: super::super::CUSTOM_BUCKETS_SCHEMA, custom_values: vec![1.0], ..h(0, 0, &[1.0]) };
        assert_eq!(c.add(&h(0, 0, &[1.0])), Err(OpError::MixedSchemas));
        // Different custom bounds are reconciled to their intersection
        // (here none: everything lands in the +Inf bucket).
        let c2 = Histogram { custom_values: vec![2.0], ..c.clone() };
        let s = c.add(&c2).unwrap();
        assert!(s.custom_values.is_empty());
        assert_eq!(s.positive_buckets, vec![2.0]);
    }

    #[test]
    fn detects_resets() {
        let a = h(0, 0, &[1.0, 2.0]);
        assert!(!h(0, 0, &[1.0, 3.0]).detect_reset(&a));
        assert!(h(0, 0, &[0.0, 5.0]).detect_reset(&a), "a bucket went down");
        assert!(h(1, 0, &[1.0, 3.0]).detect_reset(&a), "finer schema");
        assert!(!h(-1, 0, &[1.0, 3.0]).detect_reset(&a), "coarser schema");
        let hinted = Histogram { hint: ResetHint::NotReset, ..h(0, 0, &[0.0, 0.0]) };
        assert!(!hinted.detect_reset(&a));
        let hinted = Histogram { hint: ResetHint::Reset, ..h(0, 0, &[5.0, 5.0]) };
        assert!(hinted.detect_reset(&a));
    }

    #[test]
    fn compact_drops_empty_buckets() {
        let c = h(0, 0, &[1.0, 0.0, 0.0, 2.0]).compact();
        assert_eq!(c.positive_spans, vec![Span { offset: 0, length: 1 }, Span { offset: 2, length: 1 }]);
        assert_eq!(c.positive_buckets, vec![1.0, 2.0]);
    }

    /// Spans as [`Histogram::set_side`] writes them, from (offset, length)
    /// draws: a first span anywhere, a gap of at least one before the others.
    fn spans_strategy() -> impl proptest::strategy::Strategy<Value = Vec<Span>> {
        use proptest::prelude::*;
        (-5i32..5, prop::collection::vec((1i32..4, 1u32..4), 0..4)).prop_map(|(first, rest)| {
            rest.iter()
                .enumerate()
                .map(|(i, &(gap, length))| Span { offset: if i == 0 { first } else { gap }, length })
                .collect()
        })
    }

    proptest::proptest! {
        /// Histograms of one layout: the bucket-by-bucket fast paths of
        /// `add`, `sub` and `detect_reset` give exactly what the general
        /// (map-based) paths give, spans and counts included.
        #[test]
        fn same_layout_fast_paths_match_the_general_paths(
            pos in spans_strategy(),
            neg in spans_strategy(),
            schema in -2i32..4,
            custom in proptest::bool::ANY,
            seed in proptest::collection::vec(0u32..50, 64),
            seed2 in proptest::collection::vec(0u32..50, 64),
        ) {
            let mk = |seed: &[u32], shift: usize| {
                let n = |spans: &[Span]| spans.iter().map(|s| s.length as usize).sum::<usize>();
                let counts = |k: usize, off: usize| -> Vec<f64> {
                    (0..k).map(|i| f64::from(seed[(i + off + shift) % seed.len()])).collect()
                };
                let (pb, nb) = (counts(n(&pos), 0), counts(n(&neg), 17));
                let (custom_values, neg_spans, nb) = if custom {
                    // Custom buckets: positive side only, bounds for every index.
                    let last = indexed(&pos, &pb).map(|(i, _)| i).max().unwrap_or(0).max(0);
                    ((0..=last).map(|b| f64::from(b) + 1.0).collect(), Vec::new(), Vec::new())
                } else {
                    (Vec::new(), neg.clone(), nb)
                };
                let pos = if custom { pos.iter().enumerate().map(|(i, s)| Span { offset: if i == 0 { s.offset.abs() } else { s.offset }, ..*s }).collect() } else { pos.clone() };
                Histogram {
                    schema: if custom { super::super::CUSTOM_BUCKETS_SCHEMA } else { schema },
                    zero_threshold: 0.001,
                    zero_count: f64::from(seed[shift % seed.len()]),
                    count: pb.iter().chain(&nb).sum::<f64>() + f64::from(seed[shift % seed.len()]),
                    sum: 12.5 + shift as f64,
                    positive_spans: pos,
                    positive_buckets: pb,
                    negative_spans: neg_spans,
                    negative_buckets: nb,
                    custom_values,
                    ..Histogram::default()
                }
            };
            let (a, b) = (mk(&seed, 0), mk(&seed2, 3));
            proptest::prop_assert!(a.same_layout(&b));
            for sign in [1.0, -1.0] {
                proptest::prop_assert_eq!(a.combine(&b, sign), a.combine_general(&b, sign));
            }
            let general = |cur: &Histogram, prev: &Histogram| cur.count < prev.count || cur.detect_reset_general(prev);
            proptest::prop_assert_eq!(a.detect_reset(&b), general(&a, &b));
            proptest::prop_assert_eq!(b.detect_reset(&a), general(&b, &a));
            let grown = a.add(&b).unwrap_or_else(|_| a.clone());
            proptest::prop_assert_eq!(grown.detect_reset(&a), general(&grown, &a));
        }
    }
}
