//! Counter and gauge rate functions: `rate`, `increase`, `delta`
//! (Prometheus 3 extrapolation over the left-open range) and `irate`,
//! `idelta` (last two samples).

use super::{FnDef, Kind, RangeWindow};

/// Prometheus `extrapolatedRate` for float samples.
fn extrapolated_rate(w: &RangeWindow<'_>, is_counter: bool, is_rate: bool) -> Option<f64> {
    let s = w.samples;
    if s.len() < 2 {
        return None;
    }
    let (first, last) = (s[0], s[s.len() - 1]);
    let mut result = last.v - first.v;
    if is_counter && w.may_reset {
        // A drop is a counter reset: the counter restarted from zero.
        let mut prev = first.v;
        for cur in &s[1..] {
            if cur.v < prev {
                result += prev;
            }
            prev = cur.v;
        }
    }
    let mut to_start = (first.t - w.range_start) as f64 / 1000.0;
    let mut to_end = (w.range_end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg_gap = sampled / (s.len() - 1) as f64;
    // Extrapolate to a boundary only if a sample is missing there by at most
    // 10% more than the average gap; otherwise assume the series starts or
    // ends half a gap beyond the outermost sample.
    let threshold = avg_gap * 1.1;
    if to_start >= threshold {
        to_start = avg_gap / 2.0;
    }
    if is_counter && result > 0.0 && first.v >= 0.0 {
        // Counters never go negative: do not extrapolate past the zero point.
        let to_zero = sampled * (first.v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_gap / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= w.range as f64 / 1000.0;
    }
    Some(result * factor)
}

/// Prometheus `instantValue`: from the last two samples.
fn instant_value(w: &RangeWindow<'_>, is_rate: bool) -> Option<f64> {
    let s = w.samples;
    if s.len() < 2 {
        return None;
    }
    let (prev, last) = (s[s.len() - 2], s[s.len() - 1]);
    let mut v = if is_rate && last.v < prev.v { last.v } else { last.v - prev.v };
    let interval = last.t - prev.t;
    if interval == 0 {
        return None;
    }
    if is_rate {
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

fn rate(w: &RangeWindow<'_>) -> Option<f64> {
    extrapolated_rate(w, true, true)
}

fn increase(w: &RangeWindow<'_>) -> Option<f64> {
    extrapolated_rate(w, true, false)
}

fn delta(w: &RangeWindow<'_>) -> Option<f64> {
    extrapolated_rate(w, false, false)
}

fn irate(w: &RangeWindow<'_>) -> Option<f64> {
    instant_value(w, true)
}

fn idelta(w: &RangeWindow<'_>) -> Option<f64> {
    instant_value(w, false)
}

/// The rate family.
pub static FUNCTIONS: &[FnDef] = &[
    FnDef { name: "rate", kind: Kind::Range(rate), keep_name: false },
    FnDef { name: "increase", kind: Kind::Range(increase), keep_name: false },
    FnDef { name: "delta", kind: Kind::Range(delta), keep_name: false },
    FnDef { name: "irate", kind: Kind::Range(irate), keep_name: false },
    FnDef { name: "idelta", kind: Kind::Range(idelta), keep_name: false },
];

#[cfg(test)]
mod tests {
    use super::*;
    use strata_common::Sample;

    fn window(samples: &[Sample], start: i64, end: i64) -> RangeWindow<'_> {
        RangeWindow {
            samples,
            range_start: start,
            range_end: end,
            range: end - start,
            step_t: end,
            param: f64::NAN,
            may_reset: true,
        }
    }

    #[test]
    fn rate_extrapolates_and_handles_resets() {
        // 10,20,...,60 every 10s inside (0, 60s]: counter with no reset.
        let s: Vec<Sample> = (1..=6).map(|i| Sample::new(i * 10_000, i as f64 * 10.0)).collect();
        let w = window(&s, 0, 60_000);
        // Zero point is exactly 10s before the first sample: increase = 60.
        assert_eq!(increase(&w), Some(60.0));
        assert_eq!(rate(&w), Some(1.0));
        // A reset from 30 to 5: increase counts the 30 before the reset.
        let s = [Sample::new(10_000, 10.0), Sample::new(20_000, 30.0), Sample::new(30_000, 5.0)];
        assert_eq!(irate(&window(&s, 0, 30_000)), Some(0.5));
        assert_eq!(idelta(&window(&s, 0, 30_000)), Some(-25.0));
    }
}
