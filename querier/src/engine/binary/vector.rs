//! Vector/vector matching. One-to-one matching materializes the smaller
//! side (found by pulling both sides in turn until one ends) as a hash map
//! keyed by the matching signature and streams the other; `group_left` /
//! `group_right` materialize the "one" side; set operators the right side.

use std::collections::HashMap;

use promql_parser::parser::{LabelModifier, PositionRange, VectorMatchCardinality};
use strata_common::Labels;
use strata_common::labels::METRIC_NAME;

use super::elem::{self, Elem, clear, present};
use super::{BinOp, signature};
use crate::engine::ctx::{
    BoxStream, EvalCtx, Reservation, STEP_VALUE_BYTES, SeriesStream, StepSeries, VecStream, collect, labels_bytes,
};
use crate::error::{Error, Result};

/// Builds the operator for `l op r`.
#[allow(clippy::too_many_arguments)]
pub fn build<'a>(
    ctx: &'a EvalCtx,
    op: BinOp,
    pos: PositionRange,
    return_bool: bool,
    matching: Option<LabelModifier>,
    card: VectorMatchCardinality,
    l: BoxStream<'a>,
    r: BoxStream<'a>,
) -> Result<BoxStream<'a>> {
    let one_to_one = matches!(card, VectorMatchCardinality::OneToOne);
    let include = card.labels().map(|l| l.labels.clone()).unwrap_or_default();
    let (stream, (one, held), swapped) = if one_to_one && !op.is_set() {
        match race(ctx, l, r)? {
            (true, left, held, right) => {
                let (out, built) = left_built(ctx, op, pos, return_bool, matching.as_ref(), left, right)?;
                // The outputs move from `built` to the stream's account.
                drop(built);
                let out = VecStream::charged(ctx, out)?;
                drop(held);
                return Ok(Box::new(out));
            }
            (false, right, held, left) => (left, (right, held), false),
        }
    } else if matches!(card, VectorMatchCardinality::OneToMany(_)) {
        let mut l = l;
        (r, collect(ctx, l.as_mut())?, true)
    } else {
        let mut r = r;
        (l, collect(ctx, r.as_mut())?, false)
    };
    let mut rhs: HashMap<Labels, Vec<StepSeries>> = HashMap::new();
    for s in one {
        rhs.entry(signature(&s.labels, matching.as_ref())).or_default().push(s);
    }
    let one_side_duplicates = if op.is_set() { OneSideDuplicates::default() } else { OneSideDuplicates::find(&rhs) };
    Ok(Box::new(VectorVector {
        ctx,
        one_side_duplicates,
        steps: ctx.steps,
        lhs: stream,
        rhs,
        matching,
        op,
        pos,
        return_bool,
        swapped,
        one_to_one,
        include,
        lhs_seen: HashMap::new(),
        or_rest: None,
        pending: Vec::new(),
        held,
    }))
}

/// Pulls both sides in turn until one ends. Returns whether the left side
/// is the smaller, the smaller side, and the other side (buffered prefix
/// plus the rest of its stream).
/// The smaller side's memory stays accounted in the returned reservation.
#[allow(clippy::type_complexity)]
fn race<'a>(
    ctx: &EvalCtx,
    mut l: BoxStream<'a>,
    mut r: BoxStream<'a>,
) -> Result<(bool, Vec<StepSeries>, Reservation, BoxStream<'a>)> {
    let (mut lb, mut rb) = (Vec::new(), Vec::new());
    let (mut lh, mut rh) = (ctx.reservation(), ctx.reservation());
    loop {
        match l.next_series()? {
            None => return Ok((true, lb, lh, Box::new(VecStream::held(rb, rh).chain(r)))),
            Some(s) => {
                lh.grow_series(&s)?;
                lb.push(s);
            }
        }
        match r.next_series()? {
            None => return Ok((false, rb, rh, Box::new(VecStream::held(lb, lh).chain(l)))),
            Some(s) => {
                rh.grow_series(&s)?;
                rb.push(s);
            }
        }
    }
}

/// Buffered series, then the rest of a stream.
struct Prefixed<'a> {
    prefix: VecStream,
    rest: BoxStream<'a>,
}

impl VecStream {
    /// These series, then the rest of `rest`.
    fn chain(self, rest: BoxStream<'_>) -> Prefixed<'_> {
        Prefixed { prefix: self, rest }
    }
}

impl SeriesStream for Prefixed<'_> {
    fn next_series(&mut self) -> Result<Option<StepSeries>> {
        match self.prefix.next_series()? {
            Some(s) => Ok(Some(s)),
            None => self.rest.next_series(),
        }
    }
}

/// Steps at which two series of the "one" side share a match group.
///
/// Prometheus 3 refuses such a step as many-to-many matching as soon as
/// the other side has any sample there, whether or not that sample would
/// have matched the group, so the check cannot wait for a match.
#[derive(Default)]
struct OneSideDuplicates {
    /// Per step, an index into `groups`; empty when there are none at all.
    at: Vec<Option<u32>>,
    /// Match group, first series, second series.
    groups: Vec<(Labels, Labels, Labels)>,
}

impl OneSideDuplicates {
    fn find(one: &HashMap<Labels, Vec<StepSeries>>) -> Self {
        let mut found = Self::default();
        for (sig, series) in one.iter().filter(|(_, s)| s.len() > 1) {
            let steps = series[0].values.len();
            let mut first: Vec<Option<usize>> = vec![None; steps];
            for (k, s) in series.iter().enumerate() {
                for (i, first_at) in first.iter_mut().enumerate() {
                    if !present(s, i) {
                        continue;
                    }
                    match *first_at {
                        None => *first_at = Some(k),
                        Some(f) => {
                            if found.at.is_empty() {
                                found.at = vec![None; steps];
                            }
                            if found.at[i].is_none() {
                                let group = (sig.clone(), series[f].labels.clone(), s.labels.clone());
                                let index = match found.groups.iter().position(|g| g.0 == group.0) {
                                    Some(p) => p,
                                    None => {
                                        found.groups.push(group);
                                        found.groups.len() - 1
                                    }
                                };
                                found.at[i] = Some(index as u32);
                            }
                        }
                    }
                }
            }
        }
        found
    }

    /// The many-to-many error when `other` has a sample at a step where
    /// the one side holds a duplicate.
    fn check(&self, other: &StepSeries, side: &str) -> Result<()> {
        if self.at.is_empty() {
            return Ok(());
        }
        for (i, at) in self.at.iter().enumerate() {
            if let (Some(g), true) = (at, present(other, i)) {
                let (sig, a, b) = &self.groups[*g as usize];
                return Err(duplicate_error(sig, side, a, b));
            }
        }
        Ok(())
    }
}

/// Prometheus 3's many-to-many error. As Prometheus prints them, the two
/// series come in sorted order, each with every label (`__name__` too)
/// inside the braces.
fn duplicate_error(sig: &Labels, side: &str, a: &Labels, b: &Labels) -> Error {
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    let (sig, a, b) = (braced(sig), braced(a), braced(b));
    Error::Execution(format!(
        "found duplicate series for the match group {sig} on the {side} hand-side of the operation: [{a}, {b}];many-to-many matching not allowed: matching labels must be unique on one side"
    ))
}

/// `{__name__="x", a="b"}`: Prometheus's `Labels.String()`.
fn braced(labels: &Labels) -> String {
    let pairs: Vec<String> = labels.iter().map(|l| format!("{}={:?}", l.name, l.value)).collect();
    format!("{{{}}}", pairs.join(", "))
}

fn many_to_one_error() -> Error {
    Error::Execution(
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
    )
}

/// The value of one matched pair, or `None` when filtered out.
fn combine(
    ctx: &EvalCtx,
    op: BinOp,
    pos: PositionRange,
    return_bool: bool,
    l: Elem<'_>,
    r: Elem<'_>,
) -> Option<elem::Out> {
    if let (Elem::F(l), Elem::F(r), false) = (l, r, op.is_trim()) {
        let (v, keep) = op.apply(l, r);
        return match (return_bool, keep) {
            (true, k) if op.is_comparison() => Some(elem::Out::F(f64::from(u8::from(k)))),
            (_, true) => Some(elem::Out::F(v)),
            (_, false) => None,
        };
    }
    elem::combine(ctx, op, pos, return_bool, l, r)
}

/// Prometheus `resultMetric` for one-to-one matching.
fn one_to_one_labels(lhs: &Labels, op: BinOp, return_bool: bool, matching: Option<&LabelModifier>) -> Labels {
    let mut labels = lhs.clone();
    if !op.keeps_name() || return_bool {
        labels.remove(METRIC_NAME);
    }
    match matching {
        Some(LabelModifier::Include(on)) => labels.retain(|l| on.labels.contains(&l.name)),
        Some(LabelModifier::Exclude(ign)) => labels.retain(|l| !ign.labels.contains(&l.name)),
        None => {}
    }
    labels
}

/// One-to-one matching with the left side materialized: streams the right
/// side and fills one output per left series. The returned reservation
/// accounts for the outputs and the per-signature bookkeeping, each
/// reserved before it was allocated.
fn left_built(
    ctx: &EvalCtx,
    op: BinOp,
    pos: PositionRange,
    return_bool: bool,
    matching: Option<&LabelModifier>,
    left: Vec<StepSeries>,
    mut right: BoxStream<'_>,
) -> Result<(Vec<StepSeries>, Reservation)> {
    let mut held = ctx.reservation();
    let mut index: HashMap<Labels, Vec<usize>> = HashMap::new();
    for (i, s) in left.iter().enumerate() {
        index.entry(signature(&s.labels, matching)).or_default().push(i);
    }
    let steps = left.first().map_or(0, |s| s.values.len());
    held.grow(0, (left.len() * std::mem::size_of::<StepSeries>()) as u64)?;
    let mut outputs: Vec<StepSeries> = vec![StepSeries::new(Labels::empty(), Vec::new()); left.len()];
    // Steps at which the left side has any sample: there, as in Prometheus
    // 3, two right series of one match group are an error even when no
    // left series matches them.
    let left_present: Vec<bool> = (0..steps).map(|i| left.iter().any(|s| present(s, i))).collect();
    // Per signature: the first right series seen and the steps it had.
    let mut right_seen: HashMap<Labels, (Labels, Vec<bool>)> = HashMap::new();
    while let Some(r) = right.next_series()? {
        let sig = signature(&r.labels, matching);
        if !right_seen.contains_key(&sig) {
            held.grow(0, 2 * labels_bytes(&sig) + labels_bytes(&r.labels) + steps as u64)?;
        }
        let seen = right_seen.entry(sig.clone()).or_insert_with(|| (r.labels.clone(), vec![false; steps]));
        let candidates = index.get(&sig);
        for i in 0..r.values.len() {
            let Some(rv) = elem::elem(&r, i) else { continue };
            if left_present.get(i) != Some(&true) {
                continue;
            }
            if std::mem::replace(&mut seen.1[i], true) {
                return Err(duplicate_error(&sig, "right", &seen.0, &r.labels));
            }
            let Some(candidates) = candidates else { continue };
            let mut matched = candidates.iter().filter_map(|&j| elem::elem(&left[j], i).map(|lv| (j, lv)));
            let Some((j, lv)) = matched.next() else { continue };
            if matched.next().is_some() {
                return Err(many_to_one_error());
            }
            let out = &mut outputs[j];
            if out.values.is_empty() {
                held.grow(steps as u64, steps as u64 * STEP_VALUE_BYTES)?;
                out.values.resize(steps, None);
            }
            let value = combine(ctx, op, pos, return_bool, lv, rv);
            if let Some(elem::Out::H(h)) = &value {
                held.grow(1, 8 + h.heap_bytes() as u64)?;
            }
            elem::set(out, i, value);
        }
    }
    let out = left
        .into_iter()
        .zip(outputs)
        .filter(|(_, out)| out.has_values())
        .map(|(s, mut out)| {
            out.labels = one_to_one_labels(&s.labels, op, return_bool, matching);
            out
        })
        .collect();
    Ok((out, held))
}

/// Vector ∘ vector: one-to-one, many-to-one / one-to-many, or a set
/// operator. `lhs` is the streamed ("many") side and `rhs` the materialized
/// ("one") side; for `group_right` they are the original right and left.
struct VectorVector<'a> {
    ctx: &'a EvalCtx,
    /// The binary expression (where annotations point).
    pos: PositionRange,
    /// Steps of the grid.
    steps: usize,
    lhs: BoxStream<'a>,
    rhs: HashMap<Labels, Vec<StepSeries>>,
    /// Duplicate match groups of the materialized side (not for set operators).
    one_side_duplicates: OneSideDuplicates,
    /// `group_right`: the streamed side is the original right-hand side.
    swapped: bool,
    one_to_one: bool,
    /// `group_left(...)` / `group_right(...)` labels copied from the one side.
    include: Vec<String>,
    /// Output series produced but not yet returned.
    pending: Vec<StepSeries>,
    matching: Option<LabelModifier>,
    op: BinOp,
    return_bool: bool,
    /// Per signature, the steps a left series already matched (or, for
    /// `or`, had a value at).
    lhs_seen: HashMap<Labels, Vec<bool>>,
    /// For `or`: the right side still to emit once the left is exhausted.
    or_rest: Option<std::vec::IntoIter<StepSeries>>,
    /// Accounts for the materialized side and `lhs_seen`. Output series in
    /// `pending` are not: they are at most one per materialized candidate
    /// of one signature, each as big as that (accounted) candidate.
    held: Reservation,
}

impl VectorVector<'_> {
    /// Reserves a new `lhs_seen` entry before it is allocated.
    fn reserve_seen(&mut self, sig: &Labels) -> Result<()> {
        if self.lhs_seen.contains_key(sig) {
            return Ok(());
        }
        self.held.grow(0, labels_bytes(sig) + self.steps as u64)
    }
}

impl VectorVector<'_> {
    /// Matches one streamed series; pushes its output series to `pending`.
    fn match_series(&mut self, s: StepSeries, sig: Labels) -> Result<()> {
        if !self.rhs.contains_key(&sig) {
            return Ok(());
        }
        self.reserve_seen(&sig)?;
        let Some(candidates) = self.rhs.get(&sig) else { return Ok(()) };
        let steps = s.values.len();
        let mut seen = self.lhs_seen.remove(&sig).unwrap_or_else(|| vec![false; steps]);
        // Output series per matched one-side candidate (their labels may differ).
        let mut outs: Vec<(usize, StepSeries)> = Vec::new();
        for (i, seen_at) in seen.iter_mut().enumerate() {
            let Some(many) = elem::elem(&s, i) else { continue };
            let mut matched = candidates.iter().enumerate().filter_map(|(k, c)| elem::elem(c, i).map(|r| (k, c, r)));
            let Some((k, first, one)) = matched.next() else { continue };
            if let Some((_, second, _)) = matched.next() {
                let side = if self.swapped { "left" } else { "right" };
                return Err(duplicate_error(&sig, side, &first.labels, &second.labels));
            }
            if self.one_to_one && std::mem::replace(seen_at, true) {
                return Err(many_to_one_error());
            }
            let (l, r) = if self.swapped { (one, many) } else { (many, one) };
            let value = combine(self.ctx, self.op, self.pos, self.return_bool, l, r);
            let out = match outs.iter().position(|(c, _)| *c == k) {
                Some(p) => &mut outs[p].1,
                None => {
                    let labels = self.result_labels(&s.labels, &first.labels);
                    outs.push((k, StepSeries::new(labels, vec![None; steps])));
                    // Invariant: an element was pushed on the line above.
                    &mut outs.last_mut().expect("just pushed").1
                }
            };
            elem::set(out, i, value);
        }
        self.lhs_seen.insert(sig, seen);
        self.pending.extend(outs.into_iter().map(|(_, s)| s).filter(StepSeries::has_values));
        Ok(())
    }

    /// Prometheus `resultMetric`: the streamed side's labels, adjusted.
    fn result_labels(&self, many: &Labels, one: &Labels) -> Labels {
        let mut labels = if self.one_to_one {
            one_to_one_labels(many, self.op, self.return_bool, self.matching.as_ref())
        } else {
            let mut labels = many.clone();
            if !self.op.keeps_name() || self.return_bool {
                labels.remove(METRIC_NAME);
            }
            labels
        };
        for name in &self.include {
            match one.get(name) {
                Some(v) => labels.set(name, v),
                None => labels.remove(name),
            }
        }
        labels
    }

    fn set_op(&mut self, mut s: StepSeries, sig: Labels) -> Result<StepSeries> {
        if self.op == BinOp::Or {
            self.reserve_seen(&sig)?;
        }
        let rhs_has = |i: usize| self.rhs.get(&sig).is_some_and(|c| c.iter().any(|c| present(c, i)));
        let steps = s.values.len();
        match self.op {
            BinOp::And | BinOp::Unless => {
                let want = self.op == BinOp::And;
                for i in 0..steps {
                    if present(&s, i) && rhs_has(i) != want {
                        clear(&mut s, i);
                    }
                }
            }
            _ => {
                let seen = self.lhs_seen.entry(sig).or_insert_with(|| vec![false; steps]);
                for (i, seen) in seen.iter_mut().enumerate() {
                    *seen |= present(&s, i);
                }
            }
        }
        Ok(s)
    }
}

impl SeriesStream for VectorVector<'_> {
    fn next_series(&mut self) -> Result<Option<StepSeries>> {
        if let Some(rest) = &mut self.or_rest {
            for mut s in rest.by_ref() {
                let sig = signature(&s.labels, self.matching.as_ref());
                if let Some(seen) = self.lhs_seen.get(&sig) {
                    for (i, &lhs_had) in seen.iter().enumerate() {
                        if lhs_had {
                            clear(&mut s, i);
                        }
                    }
                }
                if s.has_values() {
                    return Ok(Some(s));
                }
            }
            return Ok(None);
        }
        loop {
            if let Some(out) = self.pending.pop() {
                return Ok(Some(out));
            }
            let Some(s) = self.lhs.next_series()? else { break };
            let sig = signature(&s.labels, self.matching.as_ref());
            if self.op.is_set() {
                let out = self.set_op(s, sig)?;
                if out.has_values() {
                    return Ok(Some(out));
                }
            } else {
                let side = if self.swapped { "left" } else { "right" };
                self.one_side_duplicates.check(&s, side)?;
                self.match_series(s, sig)?;
            }
        }
        if self.op == BinOp::Or {
            let rest: Vec<StepSeries> = std::mem::take(&mut self.rhs).into_values().flatten().collect();
            self.or_rest = Some(rest.into_iter());
            return self.next_series();
        }
        Ok(None)
    }
}
