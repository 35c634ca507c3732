//! `double_exponential_smoothing(v range-vector, sf, tf)` (Prometheus 3's
//! experimental successor of `holt_winters`): Holt's linear smoothing of
//! each window's float samples with smoothing factor `sf` and trend factor
//! `tf`, both strictly between 0 and 1.

use promql_parser::parser::Call;

use super::{FnDef, Kind};
use crate::engine::ctx::{EvalCtx, SeriesStream, StepSeries, Value};
use crate::engine::eval::{RangeInput, eval};
use crate::error::{Error, Result};

fn scalar(ctx: &EvalCtx, call: &Call, i: usize) -> Result<Vec<f64>> {
    match call.args.args.get(i).map(|a| eval(ctx, a)).transpose()? {
        Some(Value::Scalar(v)) => Ok(v),
        _ => Err(Error::BadData(format!("expected a scalar as argument {} of {}", i + 1, call.func.name))),
    }
}

fn smoothing<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
    let range = call.args.args.first().ok_or_else(|| Error::BadData("missing argument 1".into()))?;
    let input = RangeInput::new(ctx, range)?;
    let (sf, tf) = (scalar(ctx, call, 1)?, scalar(ctx, call, 2)?);
    let pos = range.position_range();
    Ok(Value::Vector(Box::new(Smoothing { input, sf, tf, pos })))
}

struct Smoothing<'a> {
    input: RangeInput<'a>,
    sf: Vec<f64>,
    tf: Vec<f64>,
    /// The range argument (where annotations point).
    pos: promql_parser::parser::PositionRange,
}

impl SeriesStream for Smoothing<'_> {
    fn next_series(&mut self) -> Result<Option<StepSeries>> {
        let ctx = self.input.ctx;
        while let Some(labels) = self.input.advance()? {
            let mut values = ctx.step_values();
            let mut error = None;
            let mut step = 0;
            let (sf, tf) = (&self.sf, &self.tf);
            // Histograms in a window with floats are ignored, with an info.
            let hists = self.input.hist_samples();
            let mut mixed = false;
            self.input.per_step(&mut values, |w, start, r| {
                let (sf, tf) = (sf[step], tf[step]);
                step += 1;
                if !hists.is_empty() && !w.is_empty() && !mixed {
                    mixed = hists.iter().any(|h| h.t > start && h.t <= r);
                }
                if w.len() < 2 {
                    return None;
                }
                if sf <= 0.0 || sf >= 1.0 {
                    error = Some(format!("invalid smoothing factor. Expected: 0 < sf < 1, got: {sf}"));
                } else if tf <= 0.0 || tf >= 1.0 {
                    error = Some(format!("invalid trend factor. Expected: 0 < tf < 1, got: {tf}"));
                }
                Some(smooth(w.iter().map(|s| s.v), sf, tf))
            });
            if let Some(e) = error {
                return Err(Error::BadData(e));
            }
            if mixed {
                let name = labels.get(strata_common::labels::METRIC_NAME).unwrap_or("");
                let a = crate::engine::annotations::Annotation::histogram_ignored_in_mixed_range(name);
                ctx.annotate(self.pos, a);
            }
            let mut s = StepSeries::new(labels, values);
            if s.has_values() {
                s.labels.remove(strata_common::labels::METRIC_NAME);
                return Ok(Some(s));
            }
            ctx.recycle(s);
        }
        Ok(None)
    }
}

/// Prometheus `funcDoubleExponentialSmoothing` over at least two values.
fn smooth(mut values: impl Iterator<Item = f64>, sf: f64, tf: f64) -> f64 {
    let (Some(first), Some(second)) = (values.next(), values.next()) else { return f64::NAN };
    let (mut s0, mut s1, mut b) = (0.0, first, second - first);
    for (i, x) in (1..).zip(std::iter::once(second).chain(values)) {
        // calcTrendValue: the first trend is the initial difference.
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let next = sf * x + (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, next);
    }
    s1
}

/// `double_exponential_smoothing`.
pub static FUNCTIONS: &[FnDef] =
    &[FnDef { name: "double_exponential_smoothing", kind: Kind::Custom(smoothing), keep_name: false }];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_smoothed_to_itself() {
        let line = (0..10).map(|i| 5.0 + 2.0 * f64::from(i));
        assert!((smooth(line, 0.3, 0.4) - 23.0).abs() < 1e-9);
    }
}
