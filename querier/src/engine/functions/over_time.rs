//! `*_over_time` range functions over float samples, and the experimental
//! `ts_of_*_over_time` (the timestamp, in seconds, of the chosen sample).

use super::{FnDef, Kind, RangeWindow};
use crate::engine::aggregate;
use crate::engine::numeric::kahan_inc;

fn sum(w: &RangeWindow<'_>) -> Option<f64> {
    let (s, c) = w.samples.iter().fold((0.0, 0.0), |(s, c), x| kahan_inc(x.v, s, c));
    Some(s + c)
}

fn avg(w: &RangeWindow<'_>) -> Option<f64> {
    aggregate::mean(w.samples.iter().map(|s| s.v))
}

fn min(w: &RangeWindow<'_>) -> Option<f64> {
    w.samples.iter().map(|s| s.v).reduce(|m, v| if m > v || m.is_nan() { v } else { m })
}

fn max(w: &RangeWindow<'_>) -> Option<f64> {
    w.samples.iter().map(|s| s.v).reduce(|m, v| if m < v || m.is_nan() { v } else { m })
}

fn count(w: &RangeWindow<'_>) -> Option<f64> {
    Some(w.samples.len() as f64)
}

fn last(w: &RangeWindow<'_>) -> Option<f64> {
    w.samples.last().map(|s| s.v)
}

fn first(w: &RangeWindow<'_>) -> Option<f64> {
    w.samples.first().map(|s| s.v)
}

fn present(_: &RangeWindow<'_>) -> Option<f64> {
    Some(1.0)
}

/// Seconds of a sample timestamp.
fn secs(t: strata_common::Timestamp) -> f64 {
    t as f64 / 1000.0
}

fn ts_of_last(w: &RangeWindow<'_>) -> Option<f64> {
    w.samples.last().map(|s| secs(s.t))
}

fn ts_of_first(w: &RangeWindow<'_>) -> Option<f64> {
    w.samples.first().map(|s| secs(s.t))
}

/// The timestamp of the last sample holding the extreme value (`better`
/// says whether a value replaces the current one); NaN values lose.
fn ts_of_extreme(w: &RangeWindow<'_>, better: fn(f64, f64) -> bool) -> Option<f64> {
    let first = w.samples.first()?;
    let mut best = *first;
    for s in &w.samples[1..] {
        if best.v.is_nan() || (!s.v.is_nan() && (s.v == best.v || better(s.v, best.v))) {
            best = *s;
        }
    }
    Some(secs(best.t))
}

fn ts_of_min(w: &RangeWindow<'_>) -> Option<f64> {
    ts_of_extreme(w, |v, best| v < best)
}

fn ts_of_max(w: &RangeWindow<'_>) -> Option<f64> {
    ts_of_extreme(w, |v, best| v > best)
}

/// The `*_over_time` functions.
pub static FUNCTIONS: &[FnDef] = &[
    FnDef { name: "sum_over_time", kind: Kind::Range(sum), keep_name: false },
    FnDef { name: "avg_over_time", kind: Kind::Range(avg), keep_name: false },
    FnDef { name: "min_over_time", kind: Kind::Range(min), keep_name: false },
    FnDef { name: "max_over_time", kind: Kind::Range(max), keep_name: false },
    FnDef { name: "count_over_time", kind: Kind::Range(count), keep_name: false },
    FnDef { name: "last_over_time", kind: Kind::Range(last), keep_name: true },
    FnDef { name: "first_over_time", kind: Kind::Range(first), keep_name: true },
    FnDef { name: "present_over_time", kind: Kind::Range(present), keep_name: false },
    FnDef { name: "ts_of_last_over_time", kind: Kind::Range(ts_of_last), keep_name: false },
    FnDef { name: "ts_of_first_over_time", kind: Kind::Range(ts_of_first), keep_name: false },
    FnDef { name: "ts_of_min_over_time", kind: Kind::Range(ts_of_min), keep_name: false },
    FnDef { name: "ts_of_max_over_time", kind: Kind::Range(ts_of_max), keep_name: false },
];
