//! Prometheus's histogram trim operators, `h </ x` (keep the observations
//! below `x`) and `h >/ x` (keep those above): a port of
//! `FloatHistogram.TrimBuckets` (Prometheus `model/histogram`). A bucket
//! entirely on the kept side stays; one entirely on the other side is
//! emptied; one holding `x` keeps the interpolated share of its count
//! (logarithmically in exponential buckets, linearly in custom buckets and
//! the zero bucket; a bucket with an infinite bound is kept or emptied
//! whole, except the custom `(-Inf, u]` bucket, read as `(0, u]`). When any
//! bucket changed, the count is the kept counts' total and the sum is
//! re-estimated from each kept share's midpoint (the geometric mean of its
//! bounds in exponential buckets).

use super::buckets::{exponential_bound, indexed};
use super::{CUSTOM_BUCKETS_SCHEMA, Histogram};

/// One bucket as `TrimBuckets` sees it.
#[derive(Debug, Clone, Copy)]
struct B {
    lower: f64,
    upper: f64,
    count: f64,
}

impl Histogram {
    /// `self </ rhs` (`upper`) or `self >/ rhs`.
    pub fn trim(&self, rhs: f64, upper: bool) -> Histogram {
        let mut h = self.clone();
        h.integer = false;
        let custom = self.schema == CUSTOM_BUCKETS_SCHEMA;
        let (mut count, mut sum, mut trimmed) = (0.0, 0.0, false);
        let mut seen = [false, false];
        for (k, positive) in [true, false].into_iter().enumerate() {
            let (spans, counts) = if positive {
                (&self.positive_spans, &self.positive_buckets)
            } else {
                (&self.negative_spans, &self.negative_buckets)
            };
            let bounds: Vec<(f64, f64)> =
                indexed(spans, counts).map(|(idx, _)| self.bounds_of(idx, positive)).collect();
            let out = if positive { &mut h.positive_buckets } else { &mut h.negative_buckets };
            for (i, (&c, &(lower, up))) in counts.iter().zip(&bounds).enumerate() {
                if c == 0.0 {
                    continue;
                }
                seen[k] = true;
                let b = B { lower, upper: up, count: c };
                let (all_kept, all_gone) = if upper { (up <= rhs, lower >= rhs) } else { (lower >= rhs, up <= rhs) };
                if all_kept {
                    count += c;
                    sum += midpoint(lower, up, positive, custom) * c;
                } else if !all_gone {
                    let (keep, mid) = bucket_trim(b, rhs, upper, positive, custom);
                    count += keep;
                    sum += mid * keep;
                    if out[i] != keep {
                        out[i] = keep;
                        trimmed = true;
                    }
                } else {
                    out[i] = 0.0;
                    trimmed = true;
                }
            }
        }
        if self.zero_count > 0.0 {
            let zero = B { lower: -self.zero_threshold, upper: self.zero_threshold, count: self.zero_count };
            let (keep, mid) = zero_trim(zero, rhs, seen[1], seen[0], upper);
            if h.zero_count != keep {
                h.zero_count = keep;
                trimmed = true;
            }
            sum += mid * keep;
            count += keep;
        }
        if !trimmed {
            return h;
        }
        h.count = count;
        h.sum = sum;
        h.compact()
    }

    /// `(lower, upper)` of bucket `idx` of a side (Prometheus's bucket
    /// iterators: a negative bucket mirrors the positive one).
    fn bounds_of(&self, idx: i32, positive: bool) -> (f64, f64) {
        if self.schema == CUSTOM_BUCKETS_SCHEMA {
            let bound = |i: i32| {
                if i < 0 {
                    f64::NEG_INFINITY
                } else {
                    self.custom_values.get(i as usize).copied().unwrap_or(f64::INFINITY)
                }
            };
            let (l, u) = (bound(idx - 1), bound(idx));
            return if positive { (l, u) } else { (-u, -l) };
        }
        let (l, u) = (exponential_bound(idx - 1, self.schema), exponential_bound(idx, self.schema));
        if positive { (l, u) } else { (-u, -l) }
    }
}

/// Prometheus's `computeMidpoint`: where the kept observations of
/// `(lower, upper)` are assumed to sit.
fn midpoint(lower: f64, upper: f64, positive: bool, linear: bool) -> f64 {
    if lower.is_infinite() {
        if upper.is_infinite() {
            return 0.0;
        }
        return if upper > 0.0 { upper / 2.0 } else { upper };
    }
    if upper.is_infinite() {
        return lower;
    }
    if linear {
        return (lower + upper) / 2.0;
    }
    let geo = (lower * upper).abs().sqrt();
    if positive { geo } else { -geo }
}

/// Prometheus's `Bucket.FractionBelow`.
fn fraction_below(b: B, v: f64, linear: bool) -> f64 {
    if linear {
        return (v - b.lower) / (b.upper - b.lower);
    }
    let (lo, up, lv) = (b.lower.abs().log2(), b.upper.abs().log2(), v.abs().log2());
    if v > 0.0 { (lv - lo) / (up - lo) } else { 1.0 - (lv - up) / (lo - up) }
}

/// Prometheus's `computeSplit`: the share of `b` at or below `rhs`.
fn split(b: B, rhs: f64, linear: bool) -> f64 {
    if rhs <= b.lower {
        return 0.0;
    }
    if rhs >= b.upper {
        return b.count;
    }
    b.count * fraction_below(b, rhs, linear)
}

/// Prometheus's `computeBucketTrim`: the kept count of a bucket holding
/// `rhs`, and its midpoint.
fn bucket_trim(b: B, rhs: f64, upper: bool, positive: bool, custom: bool) -> (f64, f64) {
    if b.lower == f64::NEG_INFINITY || b.upper == f64::INFINITY {
        return infinite_bucket(b, rhs, upper);
    }
    let under = split(b, rhs, custom);
    if upper {
        (under, midpoint(b.lower, rhs, positive, custom))
    } else {
        (b.count - under, midpoint(rhs, b.upper, positive, custom))
    }
}

/// Prometheus's `handleInfinityBuckets`.
fn infinite_bucket(b: B, rhs: f64, upper: bool) -> (f64, f64) {
    let finite = |x: f64| if x.is_infinite() { 0.0 } else { x };
    if b.lower == f64::NEG_INFINITY {
        if upper {
            if rhs >= b.upper {
                return (b.count, 0.0);
            }
            if rhs > 0.0 && b.upper > 0.0 && b.upper != f64::INFINITY {
                return (b.count * rhs / b.upper, rhs / 2.0);
            }
            if b.upper <= 0.0 {
                return (b.count, rhs);
            }
            return (0.0, finite(b.upper));
        }
        if rhs <= b.lower {
            return (b.count, 0.0);
        }
        if rhs >= 0.0 && b.upper > rhs && b.upper != f64::INFINITY {
            return (b.count * (1.0 - rhs / b.upper), (rhs + b.upper) / 2.0);
        }
        return (0.0, finite(b.upper));
    }
    // The upper bound is +Inf.
    if upper {
        return (0.0, finite(b.lower));
    }
    if rhs >= b.lower {
        return (b.count, rhs);
    }
    (0.0, finite(b.lower))
}

/// Prometheus's `computeZeroBucketTrim`: the zero bucket spans only the
/// side(s) that have buckets.
fn zero_trim(z: B, rhs: f64, has_negative: bool, has_positive: bool, upper: bool) -> (f64, f64) {
    let (mut lower, mut up) = (z.lower, z.upper);
    if has_negative && !has_positive {
        up = 0.0;
    }
    if has_positive && !has_negative {
        lower = 0.0;
    }
    let (fraction, mid) = if upper {
        if rhs <= lower {
            return (0.0, 0.0);
        }
        if rhs >= up {
            return (z.count, (lower + up) / 2.0);
        }
        ((rhs - lower) / (up - lower), (lower + rhs) / 2.0)
    } else {
        if rhs <= lower {
            return (z.count, (lower + up) / 2.0);
        }
        if rhs >= up {
            return (0.0, 0.0);
        }
        ((up - rhs) / (up - lower), (rhs + up) / 2.0)
    };
    (z.count * fraction, mid)
}

#[cfg(test)]
mod tests {
    use super::super::Span;
    use super::*;

    /// Prometheus's native_histograms.test `h_test`.
    fn h_test() -> Histogram {
        Histogram {
            schema: 0,
            sum: 123.75,
            count: 34.0,
            zero_count: 1.0,
            zero_threshold: 0.001,
            positive_spans: vec![Span { offset: 0, length: 4 }],
            positive_buckets: vec![2.0, 4.0, 8.0, 16.0],
            negative_spans: vec![Span { offset: 0, length: 2 }],
            negative_buckets: vec![1.0, 2.0],
            ..Histogram::default()
        }
    }

    #[test]
    fn trims_as_prometheus() {
        let h = h_test();
        // Nothing trimmed: the histogram unchanged (its sum too).
        assert_eq!(h.trim(f64::NEG_INFINITY, false).sum, 123.75);
        assert_eq!(h.trim(f64::INFINITY, true).count, 34.0);
        let gone = h.trim(f64::INFINITY, false);
        assert_eq!((gone.count, gone.sum, gone.positive_buckets.len()), (0.0, 0.0, 0));
        let above0 = h.trim(0.0, false);
        assert_eq!((above0.count, above0.zero_count), (30.5, 0.5));
        assert!((above0.sum - 120.20840280171308).abs() < 1e-9, "{}", above0.sum);
        let below0 = h.trim(0.0, true);
        assert_eq!(below0.count, 3.5);
        assert!((below0.sum - -3.535_783_905_932_737_7).abs() < 1e-9, "{}", below0.sum);
        // Half of (1, 2] lies below √2 on a logarithmic scale.
        let below = h.trim(std::f64::consts::SQRT_2, true);
        assert!((below.count - 8.0).abs() < 1e-9, "{}", below.count);
        assert_eq!(below.positive_buckets.len(), 2);
    }
}
