//! Functions that rewrite labels, order results or look at series
//! presence: `label_replace`, `label_join`, `sort`, `sort_desc`,
//! `sort_by_label`, `sort_by_label_desc`, `absent`, `absent_over_time`.

use std::cmp::Ordering;

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{Call, Expr, StringLiteral, VectorSelector};
use regex::Regex;
use strata_common::Labels;
use strata_common::labels::METRIC_NAME;

use super::{FnDef, Kind};
use crate::engine::ctx::{EvalCtx, SeriesStream, StepSeries, Value, VecStream};
use crate::engine::eval::{RangeInput, eval, unparen};
use crate::error::{Error, Result};

fn arg(call: &Call, i: usize) -> Result<&Expr> {
    call.args
        .args
        .get(i)
        .map(|a| a.as_ref())
        .ok_or_else(|| Error::BadData(format!("missing argument {} of {}", i + 1, call.func.name)))
}

fn string_arg(ctx: &EvalCtx, call: &Call, i: usize) -> Result<String> {
    match eval(ctx, arg(call, i)?)? {
        Value::String(s) => Ok(s),
        _ => Err(Error::BadData(format!("expected a string as argument {} of {}", i + 1, call.func.name))),
    }
}

/// Whether argument `i` (evaluated to `name`) is a valid label name as in
/// Prometheus 3: any non-empty UTF-8 text (a literal whose `\x` or octal
/// escapes make bytes that are not UTF-8 is not).
fn is_label_name_arg(call: &Call, i: usize, name: &str) -> bool {
    let not_utf8 = matches!(
        call.args.args.get(i).map(|a| unparen(a)),
        Some(Expr::StringLiteral(StringLiteral { invalid_utf8: Some(_), .. }))
    );
    !name.is_empty() && !not_utf8
}

fn vector_arg<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Box<dyn SeriesStream + 'a>> {
    match eval(ctx, arg(call, 0)?)? {
        Value::Vector(v) => Ok(v),
        _ => Err(Error::BadData(format!("expected an instant vector as argument 1 of {}", call.func.name))),
    }
}

/// Applies `relabel` to every series' labels.
struct Relabel<'a> {
    inner: Box<dyn SeriesStream + 'a>,
    relabel: Box<dyn Fn(&mut Labels) + 'a>,
}

impl SeriesStream for Relabel<'_> {
    fn next_series(&mut self) -> Result<Option<StepSeries>> {
        let Some(mut s) = self.inner.next_series()? else { return Ok(None) };
        (self.relabel)(&mut s.labels);
        Ok(Some(s))
    }
}

fn label_replace<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
    let inner = vector_arg(ctx, call)?;
    let (dst, repl, src, re) =
        (string_arg(ctx, call, 1)?, string_arg(ctx, call, 2)?, string_arg(ctx, call, 3)?, string_arg(ctx, call, 4)?);
    let re = Regex::new(&format!("^(?s:{re})$"))
        .map_err(|e| Error::BadData(format!("invalid regular expression in label_replace(): {re}: {e}")))?;
    if !is_label_name_arg(call, 1, &dst) {
        return Err(Error::Execution(format!("invalid destination label name in label_replace(): {dst}")));
    }
    let relabel = move |labels: &mut Labels| {
        let value = labels.get(&src).unwrap_or("").to_string();
        if let Some(caps) = re.captures(&value) {
            let mut out = String::new();
            caps.expand(&repl, &mut out);
            labels.set(&dst, &out);
        }
    };
    Ok(Value::Vector(Box::new(Relabel { inner, relabel: Box::new(relabel) })))
}

fn label_join<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
    let inner = vector_arg(ctx, call)?;
    let (dst, sep) = (string_arg(ctx, call, 1)?, string_arg(ctx, call, 2)?);
    let srcs = (3..call.args.args.len()).map(|i| string_arg(ctx, call, i)).collect::<Result<Vec<_>>>()?;
    if let Some((_, src)) = srcs.iter().enumerate().find(|(k, src)| !is_label_name_arg(call, k + 3, src)) {
        return Err(Error::Execution(format!("invalid source label name in label_join(): {src}")));
    }
    if !is_label_name_arg(call, 1, &dst) {
        return Err(Error::Execution(format!("invalid destination label name in label_join(): {dst}")));
    }
    let relabel = move |labels: &mut Labels| {
        let joined: Vec<&str> = srcs.iter().map(|s| labels.get(s).unwrap_or("")).collect();
        let joined = joined.join(&sep);
        labels.set(&dst, &joined);
    };
    Ok(Value::Vector(Box::new(Relabel { inner, relabel: Box::new(relabel) })))
}

/// `sort` / `sort_desc`: orders an instant query's result by value, NaN
/// last either way (as Prometheus); range queries are unaffected.
fn sort_by_value<'a>(ctx: &'a EvalCtx, call: &'a Call, desc: bool) -> Result<Value<'a>> {
    let mut inner = vector_arg(ctx, call)?;
    let (mut all, held) = crate::engine::ctx::collect(ctx, inner.as_mut())?;
    // Histograms are left out (Prometheus sorts floats only).
    for s in &mut all {
        s.drop_hist();
    }
    all.retain(StepSeries::has_values);
    if ctx.steps == 1 {
        all.sort_by(|a, b| {
            let (x, y) = (a.values[0].unwrap_or(f64::NAN), b.values[0].unwrap_or(f64::NAN));
            match (x.is_nan(), y.is_nan()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ if desc => y.total_cmp(&x),
                _ => x.total_cmp(&y),
            }
        });
    }
    Ok(Value::Vector(Box::new(VecStream::held(all, held))))
}

fn sort<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
    sort_by_value(ctx, call, false)
}

fn sort_desc<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
    sort_by_value(ctx, call, true)
}

/// Natural order: digit runs compare as numbers, other runs as text.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[i - 1].is_ascii_digit() {
                out.push(&s[start..i]);
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(&cb) {
        let numeric = x.as_bytes()[0].is_ascii_digit() && y.as_bytes()[0].is_ascii_digit();
        let ord = if numeric {
            let (xt, yt) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
            xt.len().cmp(&yt.len()).then_with(|| xt.cmp(yt))
        } else {
            x.cmp(y)
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    ca.len().cmp(&cb.len())
}

/// `sort_by_label(v, "a", ...)` / `sort_by_label_desc`: natural order of the
/// named labels, then the whole label set.
fn sort_by_labels<'a>(ctx: &'a EvalCtx, call: &'a Call, desc: bool) -> Result<Value<'a>> {
    let mut inner = vector_arg(ctx, call)?;
    let names = (1..call.args.args.len()).map(|i| string_arg(ctx, call, i)).collect::<Result<Vec<_>>>()?;
    let (mut all, held) = crate::engine::ctx::collect(ctx, inner.as_mut())?;
    all.sort_by(|a, b| {
        let ord = names
            .iter()
            .map(|n| natural_cmp(a.labels.get(n).unwrap_or(""), b.labels.get(n).unwrap_or("")))
            .find(|o| *o != Ordering::Equal)
            .unwrap_or_else(|| a.labels.cmp(&b.labels));
        if desc { ord.reverse() } else { ord }
    });
    Ok(Value::Vector(Box::new(VecStream::held(all, held))))
}

fn sort_by_label<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
    sort_by_labels(ctx, call, false)
}

fn sort_by_label_desc<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
    sort_by_labels(ctx, call, true)
}

/// Prometheus `createLabelsForAbsentFunction`: the equality matchers of the
/// selector, minus names that appear twice and minus `__name__`.
fn absent_labels(expr: &Expr) -> Labels {
    let vs: Option<&VectorSelector> = match unparen(expr) {
        Expr::VectorSelector(vs) => Some(vs),
        Expr::MatrixSelector(ms) => Some(&ms.vs),
        _ => None,
    };
    let mut labels = Labels::empty();
    let mut dup: Vec<&str> = Vec::new();
    for m in vs.map(|vs| vs.matchers.matchers.as_slice()).unwrap_or_default() {
        if m.name == METRIC_NAME {
            continue;
        }
        if matches!(m.op, PMatchOp::Equal) && labels.get(&m.name).is_none() && !dup.contains(&m.name.as_str()) {
            labels.set(&m.name, &m.value);
        } else if labels.get(&m.name).is_some() {
            labels.remove(&m.name);
            dup.push(&m.name);
        }
    }
    labels
}

fn absent_series<'a>(labels: Labels, present: &[bool]) -> Value<'a> {
    let values: Vec<Option<f64>> = present.iter().map(|p| (!p).then_some(1.0)).collect();
    let out = StepSeries::new(labels, values);
    let list = if out.has_values() { vec![out] } else { Vec::new() };
    Value::Vector(Box::new(VecStream::new(list)))
}

fn absent<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
    let mut inner = vector_arg(ctx, call)?;
    ctx.hold_steps(1)?;
    let mut present = vec![false; ctx.steps];
    while let Some(s) = inner.next_series()? {
        for (i, (p, v)) in present.iter_mut().zip(&s.values).enumerate() {
            *p |= v.is_some() || s.hist_at(i).is_some();
        }
    }
    Ok(absent_series(absent_labels(arg(call, 0)?), &present))
}

fn absent_over_time<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
    let mut input = RangeInput::new(ctx, arg(call, 0)?)?;
    // `present` and `hits` (the output is this node's step buffer).
    ctx.hold_steps(1 + crate::engine::ctx::STEP_VALUE_BYTES)?;
    let mut present = vec![false; ctx.steps];
    let mut hits = Vec::with_capacity(ctx.steps);
    while input.advance()?.is_some() {
        hits.clear();
        input.per_step(&mut hits, |w, _, _| (!w.is_empty()).then_some(1.0));
        for (p, h) in present.iter_mut().zip(&hits) {
            *p |= h.is_some();
        }
        if !input.hist_samples().is_empty() {
            let hists = input.hist_samples();
            for (i, p) in present.iter_mut().enumerate() {
                let r = input.timing.ref_t(ctx.ts(i));
                *p |= hists.iter().any(|h| h.t > r - input.range && h.t <= r);
            }
        }
    }
    Ok(absent_series(absent_labels(arg(call, 0)?), &present))
}

/// The label and presence functions.
pub static FUNCTIONS: &[FnDef] = &[
    FnDef { name: "label_replace", kind: Kind::Custom(label_replace), keep_name: true },
    FnDef { name: "label_join", kind: Kind::Custom(label_join), keep_name: true },
    FnDef { name: "sort", kind: Kind::Custom(sort), keep_name: true },
    FnDef { name: "sort_desc", kind: Kind::Custom(sort_desc), keep_name: true },
    FnDef { name: "sort_by_label", kind: Kind::Custom(sort_by_label), keep_name: true },
    FnDef { name: "sort_by_label_desc", kind: Kind::Custom(sort_by_label_desc), keep_name: true },
    FnDef { name: "absent", kind: Kind::Custom(absent), keep_name: false },
    FnDef { name: "absent_over_time", kind: Kind::Custom(absent_over_time), keep_name: false },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        assert_eq!(natural_cmp("a9", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("a10", "a10b"), Ordering::Less);
        assert_eq!(natural_cmp("b", "a10"), Ordering::Greater);
        assert_eq!(natural_cmp("x007", "x7"), Ordering::Equal);
    }
}
