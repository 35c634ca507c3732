//! Element-wise math functions (`abs`, `ceil`, `floor`, `exp`, `sqrt`,
//! `ln`, `log2`, `log10`, `sgn`).

use super::{FnDef, Kind};

fn sgn(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x // 0, -0 and NaN stay as they are
    }
}

/// The element-wise math functions.
pub static FUNCTIONS: &[FnDef] = &[
    FnDef { name: "abs", kind: Kind::Elementwise(f64::abs), keep_name: false },
    FnDef { name: "ceil", kind: Kind::Elementwise(f64::ceil), keep_name: false },
    FnDef { name: "floor", kind: Kind::Elementwise(f64::floor), keep_name: false },
    FnDef { name: "exp", kind: Kind::Elementwise(f64::exp), keep_name: false },
    FnDef { name: "sqrt", kind: Kind::Elementwise(f64::sqrt), keep_name: false },
    FnDef { name: "ln", kind: Kind::Elementwise(f64::ln), keep_name: false },
    FnDef { name: "log2", kind: Kind::Elementwise(f64::log2), keep_name: false },
    FnDef { name: "log10", kind: Kind::Elementwise(f64::log10), keep_name: false },
    FnDef { name: "sgn", kind: Kind::Elementwise(sgn), keep_name: false },
];
