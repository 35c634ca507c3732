//! Numeric helpers shared by the operators and the functions: Prometheus's
//! Kahan–Neumaier summation step, its `quantile` interpolation and its
//! `almost.Equal` float comparison.

pub use strata_common::histogram::kahan::kahan_inc;

/// Prometheus `quantile`: linear interpolation between closest ranks.
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // NaNs sort first, as in Prometheus's vectorByValueHeap.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.total_cmp(b),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Prometheus `almost.Equal(a, b, epsilon)`.
pub fn almost_equal_eps(a: f64, b: f64, eps: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    let abs_sum = a.abs() + b.abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < eps * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kahan_keeps_small_terms() {
        let (mut s, mut c) = (1e16, 0.0);
        for _ in 0..10 {
            (s, c) = kahan_inc(1.0, s, c);
        }
        assert_eq!(s + c, 1e16 + 10.0);
    }
}
