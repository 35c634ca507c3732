//! Bucket bounds and the readings Prometheus takes from a histogram's
//! buckets: iteration in value order, `histogram_quantile` and
//! `histogram_fraction` (Prometheus `promql/quantile.go` semantics:
//! logarithmic interpolation inside exponential buckets, linear inside the
//! zero bucket and custom buckets).

use super::{Histogram, Span};

/// One bucket: `(lower, upper)` with inclusiveness, and its count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Whether `lower` belongs to the bucket.
    pub lower_inclusive: bool,
    /// Whether `upper` belongs to the bucket.
    pub upper_inclusive: bool,
    /// Observations in the bucket.
    pub count: f64,
}

impl Bucket {
    /// Prometheus's JSON boundary rule: 0 `(l,u]`, 1 `[l,u)`, 2 `(l,u)`, 3 `[l,u]`.
    pub fn boundary_rule(&self) -> u8 {
        match (self.lower_inclusive, self.upper_inclusive) {
            (false, true) => 0,
            (true, false) => 1,
            (false, false) => 2,
            (true, true) => 3,
        }
    }
}

/// `(index, count)` of each bucket described by `spans` and `counts`.
pub fn indexed<'a>(spans: &'a [Span], counts: &'a [f64]) -> impl Iterator<Item = (i32, f64)> + 'a {
    let mut idx = 0i32;
    spans
        .iter()
        .enumerate()
        .flat_map(move |(n, s)| {
            idx = if n == 0 { s.offset } else { idx.wrapping_add(s.offset) };
            let start = idx;
            idx = idx.wrapping_add(s.length as i32);
            (0..s.length as i32).map(move |i| start.wrapping_add(i))
        })
        .zip(counts.iter().copied())
}

/// `frac · 2^exp` without intermediate overflow or underflow.
fn ldexp(frac: f64, exp: i32) -> f64 {
    let half = exp / 2;
    frac * 2f64.powi(half) * 2f64.powi(exp - half)
}

/// The upper bound of exponential bucket `idx` at `schema` (Prometheus
/// `getBoundExponential`): `2^(idx · 2^−schema)`, with the last finite
/// bucket ending at `f64::MAX`.
pub fn exponential_bound(idx: i32, schema: i32) -> f64 {
    if schema < 0 {
        let exp = i64::from(idx) << -schema;
        if exp == 1024 {
            return f64::MAX;
        }
        return ldexp(1.0, exp.clamp(-2000, 2000) as i32);
    }
    let frac_idx = idx & ((1 << schema) - 1);
    let frac = 0.5 * 2f64.powf(f64::from(frac_idx) / f64::from(1 << schema));
    let exp = (idx >> schema) + 1;
    if frac == 0.5 && exp == 1025 {
        return f64::MAX;
    }
    ldexp(frac, exp)
}

impl Histogram {
    /// The bounds of positive bucket `idx`.
    fn positive_bounds(&self, idx: i32) -> (f64, f64) {
        if self.uses_custom_buckets() {
            let i = idx.max(0) as usize;
            let lower = if i == 0 {
                f64::NEG_INFINITY
            } else {
                self.custom_values.get(i - 1).copied().unwrap_or(f64::INFINITY)
            };
            let upper = self.custom_values.get(i).copied().unwrap_or(f64::INFINITY);
            return (lower, upper);
        }
        (exponential_bound(idx - 1, self.schema), exponential_bound(idx, self.schema))
    }

    /// Every non-empty-or-empty bucket in value order: negative buckets
    /// (most negative first), the zero bucket when its count is positive,
    /// positive buckets (Prometheus `AllBucketIterator`).
    pub fn all_buckets(&self) -> Vec<Bucket> {
        let mut out = Vec::with_capacity(self.positive_buckets.len() + self.negative_buckets.len() + 1);
        let neg: Vec<(i32, f64)> = indexed(&self.negative_spans, &self.negative_buckets).collect();
        for &(idx, count) in neg.iter().rev() {
            let (l, u) = (exponential_bound(idx - 1, self.schema), exponential_bound(idx, self.schema));
            out.push(Bucket { lower: -u, upper: -l, lower_inclusive: true, upper_inclusive: false, count });
        }
        if self.zero_count > 0.0 {
            out.push(Bucket {
                lower: -self.zero_threshold,
                upper: self.zero_threshold,
                lower_inclusive: true,
                upper_inclusive: true,
                count: self.zero_count,
            });
        }
        for (idx, count) in indexed(&self.positive_spans, &self.positive_buckets) {
            let (lower, upper) = self.positive_bounds(idx);
            out.push(Bucket { lower, upper, lower_inclusive: false, upper_inclusive: true, count });
        }
        out
    }

    /// `histogram_quantile(q, h)`.
    pub fn quantile(&self, q: f64) -> f64 {
        if q < 0.0 {
            return f64::NEG_INFINITY;
        }
        if q > 1.0 {
            return f64::INFINITY;
        }
        if self.count == 0.0 || q.is_nan() {
            return f64::NAN;
        }
        let all = self.all_buckets();
        let forward = self.sum.is_nan() || q < 0.5;
        let rank = if forward { q * self.count } else { (1.0 - q) * self.count };
        let mut count = 0.0;
        let mut bucket = None;
        let iter: Box<dyn Iterator<Item = &Bucket>> =
            if forward { Box::new(all.iter()) } else { Box::new(all.iter().rev()) };
        for b in iter {
            if b.count == 0.0 {
                continue;
            }
            count += b.count;
            bucket = Some(*b);
            if count >= rank {
                break;
            }
        }
        let Some(mut b) = bucket else { return f64::NAN };
        let custom = self.uses_custom_buckets();
        if !custom && b.lower < 0.0 && b.upper > 0.0 {
            if self.negative_buckets.is_empty() && !self.positive_buckets.is_empty() {
                b.lower = 0.0;
            } else if self.positive_buckets.is_empty() && !self.negative_buckets.is_empty() {
                b.upper = 0.0;
            }
        } else if custom {
            if b.lower == f64::NEG_INFINITY {
                if b.upper <= 0.0 {
                    return b.upper;
                }
                b.lower = 0.0;
            } else if b.upper == f64::INFINITY {
                return b.lower;
            }
        }
        let count = count.min(self.count);
        if count < rank {
            // Only NaN observations (counted, in no bucket) get here.
            return if self.sum.is_nan() { f64::NAN } else { b.upper };
        }
        let rank = if forward { rank - (count - b.count) } else { count - rank };
        let fraction = rank / b.count;
        if custom || (b.lower <= 0.0 && b.upper >= 0.0) {
            return b.lower + (b.upper - b.lower) * fraction;
        }
        let (log_lower, log_upper) = (b.lower.abs().log2(), b.upper.abs().log2());
        if b.lower > 0.0 {
            (log_lower + (log_upper - log_lower) * fraction).exp2()
        } else {
            -(log_upper + (log_lower - log_upper) * (1.0 - fraction)).exp2()
        }
    }

    /// `histogram_fraction(lower, upper, h)`: the estimated share of
    /// observations between `lower` and `upper`.
    pub fn fraction(&self, lower: f64, upper: f64) -> f64 {
        if self.count == 0.0 || lower.is_nan() || upper.is_nan() {
            return f64::NAN;
        }
        if lower >= upper {
            return 0.0;
        }
        let custom = self.uses_custom_buckets();
        let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
        let (mut lower_set, mut upper_set) = (false, false);
        for mut b in self.all_buckets() {
            let mut zero_bucket = false;
            // Custom buckets too: a first bucket (-Inf, u] with u >= 0
            // starts at 0.
            if b.lower <= 0.0 && b.upper >= 0.0 {
                zero_bucket = true;
                if self.negative_buckets.is_empty() && !self.positive_buckets.is_empty() {
                    b.lower = 0.0;
                } else if self.positive_buckets.is_empty() && !self.negative_buckets.is_empty() {
                    b.upper = 0.0;
                }
            }
            let linear = |v: f64| {
                if b.lower.is_infinite() {
                    // (-Inf, u]: no interpolation, the whole bucket counts.
                    return b.count;
                }
                if b.upper.is_infinite() {
                    return rank;
                }
                rank + b.count * (v - b.lower) / (b.upper - b.lower)
            };
            let exponential = |v: f64| {
                let (ll, lu, lv) = (b.lower.abs().log2(), b.upper.abs().log2(), v.abs().log2());
                let f = if v > 0.0 { (lv - ll) / (lu - ll) } else { 1.0 - (lv - lu) / (ll - lu) };
                rank + b.count * f
            };
            if !lower_set && b.lower >= lower {
                lower_rank = rank;
                lower_set = true;
            }
            if !upper_set && b.lower >= upper {
                upper_rank = rank;
                upper_set = true;
            }
            if lower_set && upper_set {
                break;
            }
            if !lower_set && b.lower < lower && b.upper > lower {
                lower_rank = if custom || zero_bucket { linear(lower) } else { exponential(lower) };
                lower_set = true;
            }
            if !upper_set && b.lower < upper && b.upper > upper {
                upper_rank = if custom || zero_bucket { linear(upper) } else { exponential(upper) };
                upper_set = true;
            }
            if lower_set && upper_set {
                break;
            }
            rank += b.count;
        }
        // NaN observations (sum NaN) count in no bucket.
        let count =
            if self.sum.is_nan() { self.all_buckets().iter().map(|b| b.count).sum::<f64>() } else { self.count };
        if !lower_set || lower_rank > count {
            lower_rank = count;
        }
        if !upper_set || upper_rank > count {
            upper_rank = count;
        }
        (upper_rank - lower_rank) / self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_bounds() {
        assert_eq!(exponential_bound(0, 0), 1.0);
        assert_eq!(exponential_bound(1, 0), 2.0);
        assert_eq!(exponential_bound(-1, 0), 0.5);
        assert_eq!(exponential_bound(1, -1), 4.0);
        assert!((exponential_bound(1, 1) - 2f64.sqrt()).abs() < 1e-15);
        assert_eq!(exponential_bound(2, 1), 2.0);
        assert_eq!(exponential_bound(1024, 0), f64::MAX);
    }

    fn h() -> Histogram {
        // Schema 0: buckets (0.5,1]:2, (1,2]:4, (2,4]:2; zero bucket 0.
        Histogram {
            schema: 0,
            count: 8.0,
            sum: 12.0,
            positive_spans: vec![Span { offset: 0, length: 3 }],
            positive_buckets: vec![2.0, 4.0, 2.0],
            ..Histogram::default()
        }
    }

    #[test]
    fn quantile_interpolates_logarithmically() {
        let h = h();
        // Median: rank 4 from the top (reverse): top bucket 2, then 2 into (1,2] of 4.
        assert!((h.quantile(0.5) - 2f64.powf(0.5)).abs() < 1e-12);
        assert_eq!(h.quantile(1.0), 4.0);
        assert!(h.quantile(-1.0).is_infinite());
        assert!(Histogram::default().quantile(0.5).is_nan());
    }

    #[test]
    fn fraction_sums_buckets() {
        let h = h();
        assert_eq!(h.fraction(0.0, 1.0), 0.25);
        assert_eq!(h.fraction(1.0, 4.0), 0.75);
        assert_eq!(h.fraction(f64::NEG_INFINITY, f64::INFINITY), 1.0);
        assert!((h.fraction(0.0, 2f64.sqrt()) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn custom_bucket_bounds() {
        let h = Histogram {
            schema: super::super::CUSTOM_BUCKETS_SCHEMA,
            count: 4.0,
            sum: 4.0,
            positive_spans: vec![Span { offset: 0, length: 3 }],
            positive_buckets: vec![1.0, 2.0, 1.0],
            custom_values: vec![1.0, 3.0],
            ..Histogram::default()
        };
        let b = h.all_buckets();
        assert_eq!((b[0].lower, b[0].upper), (f64::NEG_INFINITY, 1.0));
        assert_eq!((b[2].lower, b[2].upper), (3.0, f64::INFINITY));
        assert_eq!(h.quantile(0.5), 2.0);
        assert_eq!(h.quantile(0.99), 3.0);
    }
}
