//! Element-wise math functions: `abs`, `ceil`, `floor`, `exp`, `sqrt`,
//! `ln`, `log2`, `log10`, `sgn`, trigonometry, `deg`, `rad`, `pi`, `round`,
//! `clamp`, `clamp_min`, `clamp_max`; the scalar `min_of` and `max_of`
//! (experimental in Prometheus).

use promql_parser::parser::Call;

use super::{FnDef, Kind};
use crate::engine::ctx::{EvalCtx, Value};
use crate::engine::eval::eval;
use crate::error::{Error, Result};

fn sgn(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x // 0, -0 and NaN stay as they are
    }
}

/// Go's `math.Max`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}

/// Go's `math.Min`: NaN wins.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) }
}

/// `round(v, to_nearest)`: Prometheus rounds half up.
fn round(x: f64, args: &[f64]) -> Option<f64> {
    let inv = 1.0 / args[0];
    Some((x * inv + 0.5).floor() / inv)
}

fn clamp(x: f64, args: &[f64]) -> Option<f64> {
    let (lo, hi) = (args[0], args[1]);
    (hi >= lo || lo.is_nan() || hi.is_nan()).then(|| go_max(lo, go_min(hi, x)))
}

fn clamp_min(x: f64, args: &[f64]) -> Option<f64> {
    Some(go_max(args[0], x))
}

fn clamp_max(x: f64, args: &[f64]) -> Option<f64> {
    Some(go_min(args[0], x))
}

/// `min_of(a, b)` / `max_of(a, b)` of two scalars, per step (Go's
/// `math.Min` / `math.Max`: NaN wins). The result is written over the
/// first argument's step vector (nothing new to hold).
fn scalar_pair<'a>(ctx: &'a EvalCtx, call: &'a Call, f: fn(f64, f64) -> f64) -> Result<Value<'a>> {
    let name = call.func.name;
    let scalar = |i: usize| match call.args.args.get(i).map(|a| eval(ctx, a)).transpose()? {
        Some(Value::Scalar(v)) => Ok(v),
        _ => Err(Error::BadData(format!("expected a scalar as argument {} of {name}", i + 1))),
    };
    let (mut a, b) = (scalar(0)?, scalar(1)?);
    for (x, y) in a.iter_mut().zip(b) {
        *x = f(*x, y);
    }
    Ok(Value::Scalar(a))
}

fn min_of<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
    scalar_pair(ctx, call, go_min)
}

fn max_of<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
    scalar_pair(ctx, call, go_max)
}

const fn simple(name: &'static str, f: fn(f64) -> f64) -> FnDef {
    FnDef { name, kind: Kind::Elementwise(f), keep_name: false }
}

/// The element-wise math functions.
pub static FUNCTIONS: &[FnDef] = &[
    simple("abs", f64::abs),
    simple("ceil", f64::ceil),
    simple("floor", f64::floor),
    simple("exp", f64::exp),
    simple("sqrt", f64::sqrt),
    simple("ln", f64::ln),
    simple("log2", f64::log2),
    simple("log10", f64::log10),
    simple("sgn", sgn),
    simple("sin", f64::sin),
    simple("cos", f64::cos),
    simple("tan", f64::tan),
    simple("asin", f64::asin),
    simple("acos", f64::acos),
    simple("atan", f64::atan),
    simple("sinh", f64::sinh),
    simple("cosh", f64::cosh),
    simple("tanh", f64::tanh),
    simple("asinh", f64::asinh),
    simple("acosh", f64::acosh),
    simple("atanh", f64::atanh),
    simple("deg", f64::to_degrees),
    simple("rad", f64::to_radians),
    FnDef { name: "pi", kind: Kind::Constant(std::f64::consts::PI), keep_name: false },
    FnDef { name: "round", kind: Kind::ElementwiseArgs { f: round, defaults: &[1.0] }, keep_name: false },
    FnDef {
        name: "clamp",
        kind: Kind::ElementwiseArgs { f: clamp, defaults: &[f64::NAN, f64::NAN] },
        keep_name: false,
    },
    FnDef { name: "clamp_min", kind: Kind::ElementwiseArgs { f: clamp_min, defaults: &[f64::NAN] }, keep_name: false },
    FnDef { name: "clamp_max", kind: Kind::ElementwiseArgs { f: clamp_max, defaults: &[f64::NAN] }, keep_name: false },
    FnDef { name: "min_of", kind: Kind::Custom(min_of), keep_name: false },
    FnDef { name: "max_of", kind: Kind::Custom(max_of), keep_name: false },
];
