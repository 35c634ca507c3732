//! `topk(k, v)` / `bottomk(k, v)`, streaming: per group and step a bounded
//! heap of the `k` best candidates; a series is kept only while it is a
//! candidate at some step, so memory follows the output (`groups × steps ×
//! k` candidates plus the candidate series), not the input.
//!
//! Order: NaN ranks last for both; among equal values the earlier series
//! (label order) wins, as a stable sort would. An instant query lists each
//! group's series by rank, as Prometheus does; a range query in input order.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use promql_parser::parser::AggregateExpr;
use strata_common::Labels;

use super::group_labels;
use crate::engine::ctx::{
    EvalCtx, Reservation, SeriesStream, StepSeries, Value, VecStream, labels_bytes, series_bytes,
};
use crate::engine::eval::eval as eval_expr;
use crate::error::{Error, Result};

/// A candidate at one step; the heap's greatest element is the worst one.
#[derive(Debug, Clone, Copy)]
struct Cand {
    v: f64,
    id: usize,
    top: bool,
}

impl Cand {
    /// `Greater`: `self` ranks worse than `o`.
    fn worse(&self, o: &Self) -> Ordering {
        let by_value = match (self.v.is_nan(), o.v.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ if self.top => o.v.total_cmp(&self.v),
            _ => self.v.total_cmp(&o.v),
        };
        by_value.then(self.id.cmp(&o.id))
    }
}

impl PartialEq for Cand {
    fn eq(&self, o: &Self) -> bool {
        self.worse(o) == Ordering::Equal
    }
}
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Cand {
    fn cmp(&self, o: &Self) -> Ordering {
        self.worse(o)
    }
}

/// One group: a heap per step.
struct Group {
    heaps: Vec<BinaryHeap<Cand>>,
}

/// Evaluates `topk` (`top`) or `bottomk`.
pub fn eval<'a>(ctx: &'a EvalCtx, a: &'a AggregateExpr, input: &mut dyn SeriesStream, top: bool) -> Result<Value<'a>> {
    let k = match a.param.as_deref().map(|p| eval_expr(ctx, p)).transpose()? {
        Some(Value::Scalar(v)) => v,
        _ => return Err(Error::BadData(format!("{} needs a scalar parameter", a.op))),
    };
    if k.iter().any(|k| k.is_nan()) {
        return Err(Error::Execution("Parameter value is NaN".into()));
    }
    let k: Vec<usize> = k.iter().map(|k| k.clamp(0.0, u32::MAX as f64) as usize).collect();
    // Candidate series by input position, and how many step heaps hold
    // each (a series leaves both when no heap holds it any more).
    let mut series: HashMap<usize, (StepSeries, u32)> = HashMap::new();
    let mut next_id = 0;
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut held = ctx.reservation();
    let cand_bytes = std::mem::size_of::<Cand>() as u64;
    while let Some(mut s) = input.next_series()? {
        ctx.check_deadline()?;
        // Histograms are not ranked (Prometheus ignores them here, with an info).
        if s.has_hist() {
            let name = if top { "topk" } else { "bottomk" };
            // Prometheus points this one at the aggregation itself.
            let pos = a.pos;
            ctx.annotate(pos, crate::engine::annotations::Annotation::histogram_ignored_in_aggregation(name));
        }
        s.drop_hist();
        let key = group_labels(&s.labels, a.modifier.as_ref());
        let g = match index.get(&key) {
            Some(&g) => g,
            None => {
                let heaps = ctx.steps * std::mem::size_of::<BinaryHeap<Cand>>();
                held.grow(0, labels_bytes(&key) + heaps as u64)?;
                index.insert(key, groups.len());
                groups.push(Group { heaps: (0..ctx.steps).map(|_| BinaryHeap::new()).collect() });
                groups.len() - 1
            }
        };
        let id = next_id;
        next_id += 1;
        let mut held_steps = 0u32;
        for (step, v) in s.values.iter().enumerate() {
            let Some(v) = *v else { continue };
            let cand = Cand { v, id, top };
            let heap = &mut groups[g].heaps[step];
            if heap.len() < k[step] {
                held.grow(1, cand_bytes)?;
                heap.push(cand);
                held_steps += 1;
            } else if heap.peek().is_some_and(|worst| cand < *worst) {
                if let Some(evicted) = heap.pop() {
                    release(&mut series, &mut held, evicted.id);
                }
                heap.push(cand);
                held_steps += 1;
            }
        }
        if held_steps > 0 {
            held.grow(0, series_bytes(&s))?;
            series.insert(id, (s, held_steps));
        } else {
            ctx.recycle(s);
        }
    }
    // Mask each candidate series to the steps where it is in the heap.
    let mut keep: HashMap<usize, Vec<bool>> = HashMap::new();
    let mut rank_order: Vec<usize> = Vec::new();
    for group in &mut groups {
        for (step, heap) in group.heaps.iter_mut().enumerate() {
            let mut cands = std::mem::take(heap).into_vec();
            cands.sort();
            for c in cands {
                if !keep.contains_key(&c.id) {
                    held.grow(0, ctx.steps as u64)?;
                }
                keep.entry(c.id).or_insert_with(|| vec![false; ctx.steps])[step] = true;
                if ctx.steps == 1 {
                    rank_order.push(c.id);
                }
            }
        }
    }
    let order: Vec<usize> = if ctx.steps == 1 {
        rank_order
    } else {
        let mut ids: Vec<usize> = keep.keys().copied().collect();
        ids.sort_unstable();
        ids
    };
    let mut out = Vec::with_capacity(order.len());
    for id in order {
        let Some((mut s, _)) = series.remove(&id) else { continue };
        if let Some(mask) = keep.get(&id) {
            for (v, &kept) in s.values.iter_mut().zip(mask) {
                if !kept {
                    *v = None;
                }
            }
        }
        if s.has_values() {
            out.push(s);
        }
    }
    let out = VecStream::charged(ctx, out)?;
    drop(held);
    Ok(Value::Vector(Box::new(out)))
}

/// One heap dropped series `id`; frees it when no heap holds it any more.
fn release(series: &mut HashMap<usize, (StepSeries, u32)>, held: &mut Reservation, id: usize) {
    let Some((_, refs)) = series.get_mut(&id) else { return };
    *refs = refs.saturating_sub(1);
    if *refs == 0
        && let Some((s, _)) = series.remove(&id)
    {
        held.shrink(s.values.len() as u64, series_bytes(&s));
    }
}
