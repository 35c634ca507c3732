//! A histogram as text, as Prometheus's `FloatHistogram.String()` writes
//! it (what `count_values` puts in its label for a histogram sample):
//! `{count:20, sum:10, [-2,-1):2, [-0.001,0.001]:2, (0.5,1]:1}`, the
//! non-empty buckets in value order, numbers as Go's `%g`.

use std::fmt::Write;

use super::Histogram;

/// Go's `%g` of a float: the shortest digits, in exponent form when the
/// exponent is below −4 or at least 6 (`strconv.FormatFloat(v, 'g', -1,
/// 64)` decides with precision 6 for the shortest representation).
pub fn go_g(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    // Shortest round-trip digits and exponent, from Rust's `{:e}`.
    let e = format!("{v:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    format!("{v}")
}

impl Histogram {
    /// Prometheus's `String()` of this histogram (see the module docs).
    pub fn to_prom_string(&self) -> String {
        let mut out = format!("{{count:{}, sum:{}", go_g(self.count), go_g(self.sum));
        for b in self.all_buckets().into_iter().filter(|b| b.count != 0.0) {
            let _ = write!(
                out,
                ", {}{},{}{}:{}",
                if b.lower_inclusive { '[' } else { '(' },
                go_g(b.lower),
                go_g(b.upper),
                if b.upper_inclusive { ']' } else { ')' },
                go_g(b.count)
            );
        }
        out.push('}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_g_formatting() {
        assert_eq!(go_g(0.001), "0.001");
        assert_eq!(go_g(1e-5), "1e-05");
        assert_eq!(go_g(123456.0), "123456");
        assert_eq!(go_g(1234567.0), "1.234567e+06");
        assert_eq!(go_g(-2.5), "-2.5");
        assert_eq!(go_g(f64::INFINITY), "+Inf");
    }
}
