//! Aggregation operators (`sum`, `avg`, `min`, `max`, `count`, `group`,
//! `stddev`, `stdvar`, `quantile`, `count_values`; `topk` / `bottomk` in
//! [`topk`]; `limitk` / `limit_ratio` in [`limit`]) with `by` / `without`. Input series are pulled one at a time; only the output
//! groups (one accumulator per step) are kept in memory.
//!
//! Memory: a group holds only the state its operator needs ([`Layout`]).
//! Once groups hold less per step than an output series (16 bytes per step,
//! `Option<f64>`), the output dominates the peak: `sum by (host)` over 10k
//! series into 1k groups × 40 steps peaks at ~755 KiB, of which 640 KB are
//! output values and ~134 KB output label sets and headers (loadgen
//! dashboard: 9.3× below Prometheus's `peakSamples × 16`). Going further
//! needs a more compact result (values + presence bitmap, timestamps from
//! the grid) through `QueryValue` and the JSON writer.

mod hist;
mod limit;
mod topk;

use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, Expr, LabelModifier, StringLiteral};
use strata_common::Labels;
use strata_common::labels::METRIC_NAME;

use super::annotations::{Annotation, PositionRange};
use super::ctx::{EvalCtx, Reservation, StepSeries, Value, VecStream, labels_bytes, new_series_bytes};
use super::eval::eval as eval_expr;
use super::numeric::{self, kahan_inc};
use crate::error::{Error, Result};

/// The supported aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AggOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Group,
    Stddev,
    Stdvar,
    Quantile,
    Topk,
    Bottomk,
    CountValues,
    Limitk,
    LimitRatio,
}

fn op_of(a: &AggregateExpr) -> Option<AggOp> {
    Some(match a.op.to_string().as_str() {
        "sum" => AggOp::Sum,
        "avg" => AggOp::Avg,
        "min" => AggOp::Min,
        "max" => AggOp::Max,
        "count" => AggOp::Count,
        "group" => AggOp::Group,
        "stddev" => AggOp::Stddev,
        "stdvar" => AggOp::Stdvar,
        "quantile" => AggOp::Quantile,
        "topk" => AggOp::Topk,
        "bottomk" => AggOp::Bottomk,
        "count_values" => AggOp::CountValues,
        "limitk" => AggOp::Limitk,
        "limit_ratio" => AggOp::LimitRatio,
        _ => return None,
    })
}

/// Fails for aggregations the engine does not implement yet.
pub fn check(a: &AggregateExpr) -> Result<()> {
    match op_of(a) {
        Some(_) => Ok(()),
        None => Err(Error::Unsupported(format!("aggregation {}", a.op))),
    }
}

/// Per-step accumulator, as the update rules see it. Groups do not store
/// it as is: [`Layout`] keeps only the fields an operator needs (a `sum` is
/// 8 bytes and one bit per step until it needs a compensation, not 24 bytes).
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    v: f64,
    c: f64,
    /// Values added.
    n: u32,
    /// `avg` switched to an incremental mean because the sum overflowed.
    incremental: bool,
}

impl Acc {
    fn add(&mut self, op: AggOp, x: f64) {
        if matches!(op, AggOp::Stddev | AggOp::Stdvar) && (x.is_nan() || x.is_infinite()) {
            // Prometheus: a NaN or infinite input makes the result NaN.
            self.n = self.n.max(1);
            self.v = f64::NAN;
            return;
        }
        self.n += 1;
        let n = f64::from(self.n);
        if self.n == 1 {
            // stddev/stdvar keep the running mean in `c` and M2 in `v`.
            (self.v, self.c) = if matches!(op, AggOp::Stddev | AggOp::Stdvar) { (0.0, x) } else { (x, 0.0) };
            return;
        }
        match op {
            AggOp::Sum => (self.v, self.c) = kahan_inc(x, self.v, self.c),
            AggOp::Avg => {
                if !self.incremental {
                    let (v, c) = kahan_inc(x, self.v, self.c);
                    if !v.is_infinite() {
                        (self.v, self.c) = (v, c);
                        return;
                    }
                    self.incremental = true;
                    self.v /= n - 1.0;
                    self.c /= n - 1.0;
                }
                let q = (n - 1.0) / n;
                (self.v, self.c) = kahan_inc(x / n, q * self.v, q * self.c);
            }
            AggOp::Min => {
                if self.v > x || self.v.is_nan() {
                    self.v = x;
                }
            }
            AggOp::Max => {
                if self.v < x || self.v.is_nan() {
                    self.v = x;
                }
            }
            AggOp::Stddev | AggOp::Stdvar => {
                let delta = x - self.c;
                self.c += delta / n;
                self.v += delta * (x - self.c);
            }
            AggOp::Count
            | AggOp::Group
            | AggOp::Quantile
            | AggOp::Topk
            | AggOp::Bottomk
            | AggOp::CountValues
            | AggOp::Limitk
            | AggOp::LimitRatio => {}
        }
    }

    fn result(&self, op: AggOp) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let n = f64::from(self.n);
        Some(match op {
            AggOp::Sum => self.v + self.c,
            AggOp::Avg if self.incremental => self.v + self.c,
            AggOp::Avg if self.n == 1 => self.v,
            AggOp::Avg => self.v / n + self.c / n,
            AggOp::Min | AggOp::Max => self.v,
            AggOp::Count | AggOp::CountValues => n,
            AggOp::Group => 1.0,
            AggOp::Stdvar => self.v / n,
            AggOp::Stddev => (self.v / n).sqrt(),
            // Computed from all values, see `eval_quantile` / `topk::eval`.
            AggOp::Quantile | AggOp::Topk | AggOp::Bottomk | AggOp::Limitk | AggOp::LimitRatio => f64::NAN,
        })
    }
}

/// The mean of `values` exactly as Prometheus computes `avg` and
/// `avg_over_time` (Kahan sum, incremental mean once the sum overflows).
pub fn mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut acc = Acc::default();
    for v in values {
        acc.add(AggOp::Avg, v);
    }
    acc.result(AggOp::Avg)
}

/// The output labels of `labels` under the grouping modifier.
/// Copies only the labels kept (a `by` list copies a few strings, not
/// the whole label set).
pub fn group_labels(labels: &Labels, modifier: Option<&LabelModifier>) -> Labels {
    let kept: Vec<strata_common::labels::Label> = match modifier {
        None => return Labels::empty(),
        Some(LabelModifier::Include(keep)) => {
            labels.iter().filter(|l| keep.labels.contains(&l.name)).cloned().collect()
        }
        Some(LabelModifier::Exclude(drop)) => {
            labels.iter().filter(|l| l.name != METRIC_NAME && !drop.labels.contains(&l.name)).cloned().collect()
        }
    };
    // A subset of sorted, unique labels stays sorted and unique.
    Labels::from_sorted(kept)
}

/// Evaluates an aggregation.
pub fn eval<'a>(ctx: &'a EvalCtx, a: &'a AggregateExpr) -> Result<Value<'a>> {
    let op = op_of(a).ok_or_else(|| Error::Unsupported(format!("aggregation {}", a.op)))?;
    let mut input = match eval_expr(ctx, &a.expr)? {
        Value::Vector(s) => s,
        _ => return Err(Error::BadData(format!("expected an instant vector argument to {}", a.op))),
    };
    match op {
        AggOp::Limitk => return limit::limitk(ctx, a, input),
        AggOp::LimitRatio => return limit::limit_ratio(ctx, a, input),
        _ => {}
    }
    if op == AggOp::Quantile {
        return eval_quantile(ctx, a, input.as_mut());
    }
    if matches!(op, AggOp::Topk | AggOp::Bottomk) {
        return topk::eval(ctx, a, input.as_mut(), op == AggOp::Topk);
    }
    // count_values("label", v): the value, formatted, becomes a label. Any
    // non-empty UTF-8 name is valid, as in Prometheus 3; a literal of bytes
    // that are not UTF-8 (`"a\xc5z"`) is not.
    if let (AggOp::CountValues, Some(Expr::StringLiteral(StringLiteral { invalid_utf8: Some(b), .. }))) =
        (op, a.param.as_deref().map(super::eval::unparen))
    {
        return Err(Error::Execution(format!("invalid label name {}", super::annotations::go_q_bytes(b))));
    }
    let value_label = match (op, a.param.as_deref().map(|p| eval_expr(ctx, p)).transpose()?) {
        (AggOp::CountValues, Some(Value::String(l))) if !l.is_empty() => Some(l),
        // Prometheus's execution error, its text included.
        (AggOp::CountValues, Some(Value::String(l))) => {
            return Err(Error::Execution(format!("invalid label name {}", super::annotations::go_q(&l))));
        }
        (AggOp::CountValues, _) => return Err(Error::BadData("count_values needs a string parameter".into())),
        _ => None,
    };
    if let Some(label) = value_label {
        return count_values(ctx, a, input.as_mut(), &label);
    }
    let layout = Layout::new(op, ctx.steps);
    let mut groups: HashMap<Labels, Vec<u64>> = HashMap::new();
    // Histogram sums of `sum` / `avg`, only for groups that see one.
    let mut hists: HashMap<Labels, hist::HistAcc> = HashMap::new();
    let mut held = ctx.reservation();
    while let Some(s) = input.next_series()? {
        ctx.check_deadline()?;
        let key = group_labels(&s.labels, a.modifier.as_ref());
        if let (Some(col), AggOp::Sum | AggOp::Avg) = (&s.hist, op) {
            if !hists.contains_key(&key) {
                held.grow(0, hist::HistAcc::bytes(ctx.steps) + labels_bytes(&key))?;
            }
            let acc = hists.entry(key.clone()).or_insert_with(|| hist::HistAcc::new(ctx.steps));
            let series = acc.series(s.labels.get(strata_common::labels::METRIC_NAME).unwrap_or(""));
            for (i, h) in col.iter().enumerate() {
                if let Some(h) = h {
                    let grown = acc.add(i, h, series);
                    held.grow(0, grown)?;
                }
            }
        }
        if matches!(op, AggOp::Min | AggOp::Max | AggOp::Stddev | AggOp::Stdvar) && s.has_hist() {
            let k = super::annotations::key(12, &[op_name(op)], 0);
            ctx.annotate_once(k, a.expr.position_range(), || Annotation::histogram_ignored_in_aggregation(op_name(op)));
        }
        let state = group_of(&mut groups, &mut held, key, &layout)?;
        let mut added = 0;
        for (i, v) in s.values.iter().enumerate() {
            if let Some(x) = v {
                let mut acc = layout.load(state, i);
                acc.add(op, *x);
                added += layout.store(state, i, &acc);
            }
        }
        if let (Some(col), AggOp::Count | AggOp::Group) = (&s.hist, op) {
            // A histogram counts as a sample.
            for (i, h) in col.iter().enumerate() {
                if h.is_some() {
                    let mut acc = layout.load(state, i);
                    acc.add(op, 0.0);
                    added += layout.store(state, i, &acc);
                }
            }
        }
        if added > 0 {
            held.grow(0, 8 * added as u64)?;
        }
        ctx.recycle(s);
    }
    let mut groups: Vec<(Labels, Vec<u64>)> = groups.into_iter().collect();
    groups.sort_by(|x, y| x.0.cmp(&y.0));
    let pos = a.expr.position_range();
    Ok(Value::Vector(Box::new(GroupStream { ctx, layout, groups: groups.into_iter(), hists, held, pos })))
}

/// Where the per-step state of one group sits in its single `Vec<u64>`:
/// only the columns the operator reads, each `steps` long.
///
/// | op                       | value `v` | compensation / mean `c` | count `n` | bits          | bytes per step |
/// |--------------------------|-----------|-------------------------|-----------|---------------|----------------|
/// | `sum`                    | f64       | f64 (Kahan, lazy)       | –         | seen          | 8 (16) + 1/8   |
/// | `min`, `max`             | f64       | –                       | –         | seen          | 8 + 1/8        |
/// | `count`                  | –         | –                       | u32       | –             | 4              |
/// | `group`                  | –         | –                       | –         | seen          | 1/8            |
/// | `avg`                    | f64       | f64 (Kahan, lazy)       | u32       | incremental   | 12 (20) + 1/8  |
/// | `stddev`, `stdvar`       | f64 (M2)  | f64 (mean)              | u32       | –             | 20             |
///
/// Where there is no count, "seen" stands in for it: the update rules only
/// ask whether a step has a first value, never how many (`n` loads as 0 or 1).
///
/// The Kahan compensation of `sum` and `avg` is allocated lazily, at the end
/// of a group's vector, by the first update that makes one non-zero (bit
/// for bit): sums of integers, the common case of gauges and counters, never
/// need it, so such a group holds 8 bytes and one bit per step.
#[derive(Debug, Clone, Copy)]
struct Layout {
    op: AggOp,
    steps: usize,
    v: Option<usize>,
    /// For `sum` and `avg`: the lazily allocated compensation, at `words`.
    c: Option<usize>,
    n: Option<usize>,
    seen: Option<usize>,
    incremental: Option<usize>,
    /// Words per group when it is created.
    words: usize,
}

impl Layout {
    fn new(op: AggOp, steps: usize) -> Self {
        use AggOp::*;
        let mut words = 0;
        let mut column = |needed: bool, len: usize| {
            let at = words;
            words += if needed { len } else { 0 };
            needed.then_some(at)
        };
        let (bits, halves) = (steps.div_ceil(64), steps.div_ceil(2));
        let counted = matches!(op, Count | Avg | Stddev | Stdvar);
        let v = column(!matches!(op, Count | Group), steps);
        let c = column(matches!(op, Stddev | Stdvar), steps);
        let n = column(counted, halves);
        let seen = column(!counted, bits);
        let incremental = column(op == Avg, bits);
        let c = if matches!(op, Sum | Avg) { Some(words) } else { c };
        Self { op, steps, v, c, n, seen, incremental, words }
    }

    /// Accounted bytes of one group as created (its labels, the state
    /// vector and its header); a lazy compensation column is accounted when
    /// it is allocated.
    fn group_bytes(&self, key: &Labels) -> u64 {
        labels_bytes(key) + (std::mem::size_of::<Vec<u64>>() + self.words * 8) as u64
    }

    /// Accounted bytes of one group's state as it is now.
    fn held_bytes(&self, key: &Labels, state: &[u64]) -> u64 {
        labels_bytes(key) + (std::mem::size_of::<Vec<u64>>() + state.len() * 8) as u64
    }

    fn load(&self, g: &[u64], i: usize) -> Acc {
        // A lazy compensation column not allocated yet reads as 0.
        let f = |col: Option<usize>| col.and_then(|at| g.get(at + i)).map_or(0.0, |w| f64::from_bits(*w));
        let bit = |col: Option<usize>| col.is_some_and(|at| g[at + i / 64] >> (i % 64) & 1 == 1);
        let n = match self.n {
            Some(at) => (g[at + i / 2] >> (32 * (i % 2))) as u32,
            None => u32::from(bit(self.seen)),
        };
        Acc { v: f(self.v), c: f(self.c), n, incremental: bit(self.incremental) }
    }

    /// Stores `acc` at step `i`; returns the words the group grew by (the
    /// lazy compensation column, allocated here when first needed).
    fn store(&self, g: &mut Vec<u64>, i: usize, acc: &Acc) -> usize {
        let mut grown = 0;
        if let Some(at) = self.v {
            g[at + i] = acc.v.to_bits();
        }
        if let Some(at) = self.c {
            if g.len() <= at && acc.c.to_bits() != 0 {
                grown = self.steps;
                g.resize(at + self.steps, 0);
            }
            if let Some(w) = g.get_mut(at + i) {
                *w = acc.c.to_bits();
            }
        }
        if let Some(at) = self.n {
            let shift = 32 * (i % 2);
            let w = &mut g[at + i / 2];
            *w = (*w & !(u64::from(u32::MAX) << shift)) | (u64::from(acc.n) << shift);
        }
        let mut set = |col: Option<usize>, on: bool| {
            if let (Some(at), true) = (col, on) {
                g[at + i / 64] |= 1 << (i % 64);
            }
        };
        set(self.seen, acc.n > 0);
        set(self.incremental, acc.incremental);
        grown
    }
}

/// Emits the groups of an aggregation in label order, each group leaving
/// the memory account as it becomes an output series (so the groups and
/// the output are never both held in full).
struct GroupStream<'a> {
    layout: Layout,
    groups: std::vec::IntoIter<(Labels, Vec<u64>)>,
    /// Histogram sums of the groups that saw histograms (`sum`, `avg`).
    hists: HashMap<Labels, hist::HistAcc>,
    held: Reservation,
    ctx: &'a EvalCtx,
    /// The aggregated expression (where annotations point).
    pos: PositionRange,
}

impl super::ctx::SeriesStream for GroupStream<'_> {
    fn next_series(&mut self) -> Result<Option<StepSeries>> {
        loop {
            let Some((labels, state)) = self.groups.next() else { return Ok(None) };
            let steps = self.layout.steps;
            let mut values: Vec<Option<f64>> =
                (0..steps).map(|i| self.layout.load(&state, i).result(self.layout.op)).collect();
            self.held.shrink(steps as u64, self.layout.held_bytes(&labels, &state));
            let Some(acc) = self.hists.remove(&labels) else { return Ok(Some(StepSeries::new(labels, values))) };
            // A step with floats and histograms has no result at all.
            let mixed: Vec<bool> = (0..steps).map(|i| acc.has(i) && values[i].is_some()).collect();
            for (v, &m) in values.iter_mut().zip(&mixed) {
                if m {
                    *v = None;
                }
            }
            if mixed.iter().any(|&m| m) {
                self.ctx.annotate(self.pos, Annotation::mixed_floats_histograms_agg());
            }
            let hist = acc.finish(self.ctx, self.layout.op == AggOp::Avg, self.pos, |i| mixed[i]);
            let s = StepSeries { labels, values, hist };
            if s.has_values() {
                return Ok(Some(s));
            }
        }
    }
}

/// `count_values("label", v)`: the value, formatted, becomes a label. Groups
/// are keyed by the grouping labels, then by the formatted value, which is
/// written into one reused string (no allocation per sample; only a new
/// group allocates).
fn count_values<'a>(
    ctx: &'a EvalCtx,
    a: &'a AggregateExpr,
    input: &mut dyn super::ctx::SeriesStream,
    label: &str,
) -> Result<Value<'a>> {
    use std::fmt::Write;
    let mut groups: HashMap<Labels, HashMap<String, Vec<u32>>> = HashMap::new();
    let mut held = ctx.reservation();
    let mut text = String::new();
    while let Some(s) = input.next_series()? {
        ctx.check_deadline()?;
        let key = group_labels(&s.labels, a.modifier.as_ref());
        if !groups.contains_key(&key) {
            held.grow(0, labels_bytes(&key))?;
        }
        let by_value = groups.entry(key).or_default();
        for (i, v) in s.values.iter().enumerate() {
            text.clear();
            match (v, s.hist_at(i)) {
                (Some(x), _) => {
                    let _ = write!(text, "{}", crate::format::FormatFloat(*x));
                }
                // A histogram counts under its text (Prometheus's `String()`).
                (None, Some(h)) => text.push_str(&h.to_prom_string()),
                (None, None) => continue,
            }
            let counts = match by_value.get_mut(text.as_str()) {
                Some(c) => c,
                None => {
                    held.grow(ctx.steps as u64, (text.len() + 4 * ctx.steps) as u64)?;
                    by_value.entry(text.clone()).or_insert_with(|| vec![0; ctx.steps])
                }
            };
            counts[i] += 1;
        }
        ctx.recycle(s);
    }
    let mut out: Vec<StepSeries> = Vec::new();
    // Each output series is reserved before it is built (the groups stay
    // held until all are).
    let mut out_held = ctx.reservation();
    // Groups whose label set becomes the same once the value label is set
    // (`count_values by (job) ("job", …)`) add up, as in Prometheus.
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for (key, by_value) in groups {
        for (value, counts) in by_value {
            let mut labels = key.clone();
            labels.set(label, &value);
            if let Some(&k) = index.get(&labels) {
                let into: &mut StepSeries = &mut out[k];
                for (v, &n) in into.values.iter_mut().zip(&counts) {
                    if n > 0 {
                        *v = Some(v.unwrap_or(0.0) + f64::from(n));
                    }
                }
                continue;
            }
            out_held.grow(ctx.steps as u64, new_series_bytes(&labels, ctx.steps))?;
            let values = counts.iter().map(|&n| (n > 0).then_some(f64::from(n))).collect();
            index.insert(labels.clone(), out.len());
            out.push(StepSeries::new(labels, values));
        }
    }
    out.sort_by(|x, y| x.labels.cmp(&y.labels));
    drop(held);
    let out = VecStream::held(out, out_held);
    Ok(Value::Vector(Box::new(out)))
}

/// The state of group `key`, created (and accounted) on first use.
fn group_of<'g>(
    groups: &'g mut HashMap<Labels, Vec<u64>>,
    held: &mut Reservation,
    key: Labels,
    layout: &Layout,
) -> Result<&'g mut Vec<u64>> {
    if !groups.contains_key(&key) {
        held.grow(layout.steps as u64, layout.group_bytes(&key))?;
    }
    Ok(groups.entry(key).or_insert_with(|| vec![0; layout.words]))
}

/// Prometheus's warnings for quantile parameters outside [0, 1]: one for
/// NaN, one for the largest above 1, one for the smallest below 0, about
/// the parameter at `pos`.
pub fn check_quantile_param(ctx: &EvalCtx, phi: &[f64], pos: PositionRange) {
    if phi.iter().all(|q| (0.0..=1.0).contains(q)) {
        return;
    }
    if phi.iter().any(|q| q.is_nan()) {
        ctx.annotate(pos, Annotation::invalid_quantile(f64::NAN));
    }
    let (lo, hi) = phi.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &q| (lo.min(q), hi.max(q)));
    if hi > 1.0 {
        ctx.annotate(pos, Annotation::invalid_quantile(hi));
    }
    if lo < 0.0 {
        ctx.annotate(pos, Annotation::invalid_quantile(lo));
    }
}

/// The PromQL name of a float-only aggregation (for its annotation).
fn op_name(op: AggOp) -> &'static str {
    match op {
        AggOp::Min => "min",
        AggOp::Max => "max",
        AggOp::Stddev => "stddev",
        AggOp::Stdvar => "stdvar",
        _ => "quantile",
    }
}

/// `quantile(φ, v)`: keeps every value of a group per step (the quantile
/// needs them all).
fn eval_quantile<'a>(
    ctx: &'a EvalCtx,
    a: &'a AggregateExpr,
    input: &mut dyn super::ctx::SeriesStream,
) -> Result<Value<'a>> {
    let phi = match a.param.as_deref().map(|p| eval_expr(ctx, p)).transpose()? {
        Some(Value::Scalar(v)) => v,
        _ => return Err(Error::BadData("quantile needs a scalar parameter".into())),
    };
    check_quantile_param(ctx, &phi, a.param.as_deref().map(|p| p.position_range()).unwrap_or_default());
    let mut groups: HashMap<Labels, Vec<Vec<f64>>> = HashMap::new();
    let mut held = ctx.reservation();
    while let Some(s) = input.next_series()? {
        ctx.check_deadline()?;
        if s.has_hist() {
            let k = super::annotations::key(12, &["quantile"], 0);
            ctx.annotate_once(k, a.expr.position_range(), || Annotation::histogram_ignored_in_aggregation("quantile"));
        }
        let key = group_labels(&s.labels, a.modifier.as_ref());
        if !groups.contains_key(&key) {
            held.grow(0, labels_bytes(&key) + (ctx.steps * std::mem::size_of::<Vec<f64>>()) as u64)?;
        }
        let per_step = groups.entry(key).or_insert_with(|| vec![Vec::new(); ctx.steps]);
        // Reserved before the values are appended (a value vector's spare
        // capacity, at most its length, is not).
        let added = s.values.iter().flatten().count() as u64;
        held.grow(added, added * 8)?;
        for (vals, v) in per_step.iter_mut().zip(&s.values) {
            vals.extend(*v);
        }
        ctx.recycle(s);
    }
    let mut out: Vec<StepSeries> = Vec::with_capacity(groups.len());
    let mut out_held = ctx.reservation();
    for (labels, mut per_step) in groups {
        out_held.grow(ctx.steps as u64, new_series_bytes(&labels, ctx.steps))?;
        let values = per_step
            .iter_mut()
            .zip(&phi)
            .map(|(vals, &q)| (!vals.is_empty()).then(|| numeric::quantile(q, vals)))
            .collect();
        out.push(StepSeries::new(labels, values));
    }
    out.sort_by(|x, y| x.labels.cmp(&y.labels));
    drop(held);
    let out = VecStream::held(out, out_held);
    Ok(Value::Vector(Box::new(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compensation_column_is_allocated_only_when_needed() {
        for op in [AggOp::Sum, AggOp::Avg] {
            let layout = Layout::new(op, 3);
            let mut g = vec![0u64; layout.words];
            let add = |g: &mut Vec<u64>, i: usize, x: f64| {
                let mut acc = layout.load(g, i);
                acc.add(op, x);
                layout.store(g, i, &acc)
            };
            // Integers sum exactly: no compensation, 8 bytes per step.
            let grown: usize = [1.0, 2.0, 3.0].into_iter().map(|x| add(&mut g, 0, x)).sum();
            assert_eq!((grown, g.len()), (0, layout.words), "{op:?}");
            // 1e16 + 1 is not representable: Kahan keeps the 1.
            let grown: usize = [1e16, 1.0, 1.0].into_iter().map(|x| add(&mut g, 2, x)).sum();
            assert_eq!((grown, g.len()), (3, layout.words + 3), "{op:?}");
            assert_eq!(add(&mut g, 1, 5.0), 0, "allocated once");
            let result = |i| layout.load(&g, i).result(op).unwrap();
            let want = |sum: f64| if op == AggOp::Sum { sum } else { sum / 3.0 };
            assert_eq!([result(0), result(1), result(2)], [want(6.0), 5.0, want(1e16 + 2.0)], "{op:?}");
        }
    }

    #[test]
    fn avg_survives_overflow() {
        let mut acc = Acc::default();
        for x in [f64::MAX, f64::MAX, f64::MAX] {
            acc.add(AggOp::Avg, x);
        }
        let avg = acc.result(AggOp::Avg).unwrap();
        assert!((avg - f64::MAX).abs() / f64::MAX < 1e-12, "{avg}");
    }
}
