//! Statistical and change-counting range functions: `stddev_over_time`,
//! `stdvar_over_time`, `quantile_over_time`, `mad_over_time`, `changes`,
//! `resets`, and the regressions `deriv` and `predict_linear`.

use super::{FnDef, Kind, RangeWindow};
use crate::engine::numeric::{kahan_inc, quantile};

/// Population variance with Kahan-compensated running mean (Prometheus).
fn variance(w: &RangeWindow<'_>) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for s in w.samples {
        count += 1.0;
        let delta = s.v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (s.v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

fn stdvar(w: &RangeWindow<'_>) -> Option<f64> {
    Some(variance(w))
}

fn stddev(w: &RangeWindow<'_>) -> Option<f64> {
    Some(variance(w).sqrt())
}

fn quantile_over_time(w: &RangeWindow<'_>) -> Option<f64> {
    let mut values: Vec<f64> = w.samples.iter().map(|s| s.v).collect();
    Some(quantile(w.param, &mut values))
}

fn mad_over_time(w: &RangeWindow<'_>) -> Option<f64> {
    let mut values: Vec<f64> = w.samples.iter().map(|s| s.v).collect();
    if values.iter().any(|v| v.is_nan()) {
        return Some(f64::NAN);
    }
    let median = quantile(0.5, &mut values);
    let mut dev: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
    Some(quantile(0.5, &mut dev))
}

/// Least-squares slope and intercept (at `intercept_t`) with Kahan sums,
/// as Prometheus's `linearRegression`.
fn linear_regression(w: &RangeWindow<'_>, intercept_t: i64) -> (f64, f64) {
    let init_y = w.samples[0].v;
    let const_y = w.samples.iter().all(|s| s.v == init_y);
    if const_y {
        return if init_y.is_infinite() { (f64::NAN, f64::NAN) } else { (0.0, init_y) };
    }
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for s in w.samples {
        n += 1.0;
        let x = (s.t - intercept_t) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(s.v, sy, cy);
        (sxy, cxy) = kahan_inc(x * s.v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov_xy = sxy - sx * sy / n;
    let var_x = sx2 - sx * sx / n;
    let slope = cov_xy / var_x;
    (slope, sy / n - slope * sx / n)
}

fn deriv(w: &RangeWindow<'_>) -> Option<f64> {
    (w.samples.len() >= 2).then(|| linear_regression(w, w.samples[0].t).0)
}

fn predict_linear(w: &RangeWindow<'_>) -> Option<f64> {
    if w.samples.len() < 2 {
        return None;
    }
    let (slope, intercept) = linear_regression(w, w.step_t);
    Some(slope * w.param + intercept)
}

fn changes(w: &RangeWindow<'_>) -> Option<f64> {
    let n = w.samples.windows(2).filter(|p| !(p[0].v == p[1].v || (p[0].v.is_nan() && p[1].v.is_nan()))).count();
    Some(n as f64)
}

fn resets(w: &RangeWindow<'_>) -> Option<f64> {
    Some(w.samples.windows(2).filter(|p| p[1].v < p[0].v).count() as f64)
}

/// The statistics family.
pub static FUNCTIONS: &[FnDef] = &[
    FnDef { name: "stddev_over_time", kind: Kind::Range(stddev), keep_name: false },
    FnDef { name: "stdvar_over_time", kind: Kind::Range(stdvar), keep_name: false },
    FnDef { name: "quantile_over_time", kind: Kind::RangeParam(quantile_over_time), keep_name: false },
    FnDef { name: "mad_over_time", kind: Kind::Range(mad_over_time), keep_name: false },
    FnDef { name: "deriv", kind: Kind::Range(deriv), keep_name: false },
    FnDef { name: "predict_linear", kind: Kind::RangeParamLast(predict_linear), keep_name: false },
    FnDef { name: "changes", kind: Kind::Range(changes), keep_name: false },
    FnDef { name: "resets", kind: Kind::Range(resets), keep_name: false },
];
