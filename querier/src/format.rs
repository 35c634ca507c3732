//! Prometheus's text forms of numbers, shared by the engine, the HTTP API and
//! the conformance runner: float formatting as Go's
//! `strconv.FormatFloat(v, 'f', -1, 64)` and durations as
//! `model.ParseDuration`.
//!
//! promql-parser's `util::parse_duration` is not used for the latter: it
//! rejects zero durations (`0s`, which promqltest files and Prometheus accept)
//! and silently drops a unit whose count overflows `u32`.

/// Go's `FormatFloat(v, 'f', -1, 64)`: shortest round-trip digits, never an
/// exponent; `NaN`, `+Inf`, `-Inf`.
pub fn format_float(v: f64) -> String {
    FormatFloat(v).to_string()
}

/// [`format_float`] as a `Display`, to write into an existing buffer.
#[derive(Debug, Clone, Copy)]
pub struct FormatFloat(pub f64);

impl std::fmt::Display for FormatFloat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.0;
        if v.is_nan() {
            f.write_str("NaN")
        } else if v == f64::INFINITY {
            f.write_str("+Inf")
        } else if v == f64::NEG_INFINITY {
            f.write_str("-Inf")
        } else {
            // Rust's Display is the shortest round-trip form without exponent.
            write!(f, "{v}")
        }
    }
}

/// Prometheus `model.ParseDuration`: units y, w, d, h, m, s, ms in order.
pub fn parse_prom_duration(s: &str) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("ms", 1),
        ("m", 60_000),
        ("s", 1000),
    ];
    let mut rest = s;
    let mut total: i64 = 0;
    let mut last_rank = usize::MAX;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, mult) = UNITS.iter().find(|(u, _)| rest.starts_with(u))?;
        // Order: y w d h m s ms (ms ranks last even though matched before m).
        let rank = match *unit {
            "y" => 0,
            "w" => 1,
            "d" => 2,
            "h" => 3,
            "m" => 4,
            "s" => 5,
            _ => 6,
        };
        if last_rank != usize::MAX && rank <= last_rank {
            return None;
        }
        last_rank = rank;
        total = total.checked_add(n.checked_mul(*mult)?)?;
        rest = &rest[unit.len()..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_go() {
        assert_eq!(format_float(1.5), "1.5");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(1e-7), "0.0000001");
        assert_eq!(format_float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_float(-0.0), "-0");
        assert_eq!(format_float(f64::NAN), "NaN");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float(100.0), "100");
    }
}
