//! Cost estimates of a planned query, composed through the plan from the
//! sources' [`SelectEstimate`]s (indexes and metadata only, never samples).
//!
//! Per node: the series it outputs, the samples its subtree decodes, the
//! bytes it reads, the step values it computes, the files it touches, and
//! the memory it holds at its peak. The composition mirrors evaluation:
//! - a selector decodes the samples of its window (range-function windows
//!   are within the selection), one series at a time;
//! - every operator computes one value per output series per step of its
//!   grid; a subquery's inner expression runs on the subquery's own grid
//!   (steps = range / subquery step, for the whole outer range), and its
//!   result is buffered before the outer function reads it;
//! - aggregations hold one accumulator per group per step; binary operators
//!   hold their materialized side; `sort`, `topk`-style and the
//!   `histogram_quantile` grouping hold their input.
//!
//! The query's cost, which picks its scheduler lane and is checked against
//! the tenant's limit, is samples decoded + step values computed.

use std::collections::HashMap;

use promql_parser::parser::token::{T_LAND, T_LOR, T_LUNLESS};
use promql_parser::parser::{Expr, LabelModifier, VectorSelector};
use serde::Serialize;
use strata_common::select::SelectEstimate;

use super::plan::{Grid, subquery_grid};

/// Bytes of one step value (`Option<f64>`).
const POINT_BYTES: u64 = 16;
/// Bytes of one decoded sample (`Sample`).
const SAMPLE_BYTES: u64 = 16;
/// Bytes of a series' label set, roughly (14 labels of realistic length).
const LABELS_BYTES: u64 = 600;

/// The estimate of one plan node, its subtree included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeCost {
    /// Series the node outputs (1 for a scalar).
    pub series: u64,
    /// Samples decoded in the subtree.
    pub samples: u64,
    /// Encoded bytes read in the subtree.
    pub bytes: u64,
    /// Step values computed in the subtree.
    pub points: u64,
    /// Files the subtree's selections touch.
    pub files: u64,
    /// Most bytes held at once by the subtree.
    pub peak_memory_bytes: u64,
}

impl NodeCost {
    /// The scheduling cost: samples decoded plus step values computed.
    pub fn cost(&self) -> u64 {
        self.samples.saturating_add(self.points)
    }

    /// The work of `children` (outputs are set by the caller).
    fn sum(children: &[CostNode]) -> Self {
        let mut c = Self::default();
        for ch in children {
            c.samples = c.samples.saturating_add(ch.cost.samples);
            c.bytes = c.bytes.saturating_add(ch.cost.bytes);
            c.points = c.points.saturating_add(ch.cost.points);
            c.files = c.files.saturating_add(ch.cost.files);
            // Operands are evaluated as streams side by side.
            c.peak_memory_bytes = c.peak_memory_bytes.saturating_add(ch.cost.peak_memory_bytes);
        }
        c
    }
}

/// One node of the estimated plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostNode {
    /// What the node does (`sum by (le)`, `rate`, a selector, ...).
    pub node: String,
    /// Its estimate, subtree included.
    #[serde(flatten)]
    pub cost: NodeCost,
    /// Its operands.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<CostNode>,
}

impl CostNode {
    /// Runs of one query evaluated one after the other (the results
    /// cache's misses): their work adds up; their output and peak memory
    /// are those of the largest run.
    pub fn sequence(node: String, runs: Vec<CostNode>) -> Self {
        let mut cost = NodeCost::sum(&runs);
        cost.series = runs.iter().map(|r| r.cost.series).max().unwrap_or(0);
        cost.peak_memory_bytes = runs.iter().map(|r| r.cost.peak_memory_bytes).max().unwrap_or(0);
        Self { node, cost, children: runs }
    }
}

/// Estimates `expr` on `grid`, with each selector's estimate in `selected`
/// (keyed like [`super::plan::Selection::key`]).
pub fn estimate(expr: &Expr, grid: &Grid, selected: &HashMap<usize, SelectEstimate>) -> CostNode {
    let steps = grid_steps(grid);
    match expr {
        Expr::NumberLiteral(n) => leaf(n.val.to_string(), scalar(steps)),
        Expr::StringLiteral(_) => leaf("string".into(), NodeCost::default()),
        Expr::Paren(p) => estimate(&p.expr, grid, selected),
        Expr::Unary(u) => {
            let child = estimate(&u.expr, grid, selected);
            op("-".into(), child.cost.series, steps, vec![child], 0)
        }
        Expr::VectorSelector(vs) => selector(vs, vs.to_string(), steps, selected),
        Expr::MatrixSelector(ms) => selector(&ms.vs, expr.to_string(), steps, selected),
        Expr::Subquery(sq) => {
            let inner_grid = subquery_grid(grid, sq);
            let inner = estimate(&sq.expr, &inner_grid, selected);
            // The inner result is buffered (samples plus labels) before
            // the outer function reads it.
            let inner_points = inner.cost.series.saturating_mul(grid_steps(&inner_grid));
            let held = inner_points.saturating_mul(SAMPLE_BYTES) + inner.cost.series * LABELS_BYTES;
            let series = inner.cost.series;
            let mut node =
                op(format!("subquery [{}:{}]", fmt_ms(sq.range.as_millis()), fmt_step(sq)), series, 0, vec![inner], 0);
            node.cost.peak_memory_bytes = node.cost.peak_memory_bytes.saturating_add(held);
            node
        }
        Expr::Call(call) => {
            let children: Vec<CostNode> = call.args.args.iter().map(|a| estimate(a, grid, selected)).collect();
            let input = children.iter().map(|c| c.cost.series).max().unwrap_or(0);
            let name = call.func.name;
            let series = match name {
                "vector" | "time" | "scalar" | "absent" | "absent_over_time" | "pi" => 1,
                // Buckets of one histogram become one series; a dozen is typical.
                "histogram_quantile" | "histogram_fraction" => input.div_ceil(12).max(1),
                _ => input,
            };
            let holds_input = matches!(name, "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc")
                || name.starts_with("histogram_");
            let held = if holds_input { input.saturating_mul(steps * POINT_BYTES + LABELS_BYTES) } else { 0 };
            op(name.to_string(), series, steps.max(1), children, held)
        }
        Expr::Aggregate(a) => {
            let mut children = Vec::with_capacity(2);
            if let Some(p) = &a.param {
                children.push(estimate(p, grid, selected));
            }
            let input_node = estimate(&a.expr, grid, selected);
            let input = input_node.cost.series;
            children.push(input_node);
            let groups = match &a.modifier {
                None => 1,
                Some(LabelModifier::Include(l)) if l.labels.is_empty() => 1,
                // Unknown without value counts: assume the square root of
                // the input per grouping label (10 labels of 1,000 hosts: all).
                Some(LabelModifier::Include(l)) => {
                    input.min((input as f64).sqrt().ceil() as u64 * l.labels.len() as u64).max(1)
                }
                Some(LabelModifier::Exclude(_)) => input,
            };
            let op_name = a.op.to_string();
            let (series, held) = match op_name.as_str() {
                // Keep up to k series per group, or every value.
                "topk" | "bottomk" | "limitk" | "limit_ratio" | "quantile" | "count_values" => {
                    (input, input.saturating_mul(steps * POINT_BYTES + LABELS_BYTES))
                }
                _ => (groups, groups.saturating_mul(steps * 24 + LABELS_BYTES)),
            };
            let modifier = match &a.modifier {
                None => String::new(),
                Some(LabelModifier::Include(l)) => format!(" by ({})", l.labels.join(", ")),
                Some(LabelModifier::Exclude(l)) => format!(" without ({})", l.labels.join(", ")),
            };
            // Every input value is folded once.
            let mut node = op(format!("{op_name}{modifier}"), series, steps, children, held);
            node.cost.points = node.cost.points.saturating_add(input.saturating_mul(steps));
            node
        }
        Expr::Binary(b) => {
            let lhs = estimate(&b.lhs, grid, selected);
            let rhs = estimate(&b.rhs, grid, selected);
            let (l, r) = (lhs.cost.series, rhs.cost.series);
            let vectors = l > 0 && r > 0 && !is_scalar(&b.lhs) && !is_scalar(&b.rhs);
            let series = match b.op.id() {
                T_LOR => l.saturating_add(r),
                T_LAND | T_LUNLESS => l,
                _ if vectors => l.min(r).max(1),
                _ => l.max(r),
            };
            // The right-hand side is materialized to match against.
            let held = if vectors { r.saturating_mul(steps * POINT_BYTES + LABELS_BYTES) } else { 0 };
            op(b.op.to_string(), series, steps, vec![lhs, rhs], held)
        }
        Expr::Extension(_) => leaf("extension".into(), NodeCost::default()),
    }
}

/// Whether `expr` is a scalar (a literal, possibly in parentheses or negated).
fn is_scalar(expr: &Expr) -> bool {
    match expr {
        Expr::NumberLiteral(_) => true,
        Expr::Paren(p) => is_scalar(&p.expr),
        Expr::Unary(u) => is_scalar(&u.expr),
        Expr::Call(c) => matches!(c.func.name, "scalar" | "time" | "pi"),
        _ => false,
    }
}

fn grid_steps(grid: &Grid) -> u64 {
    if grid.end < grid.start { 0 } else { ((grid.end - grid.start) / grid.step.max(1)) as u64 + 1 }
}

fn scalar(steps: u64) -> NodeCost {
    NodeCost { series: 1, points: steps, peak_memory_bytes: steps * 8, ..Default::default() }
}

fn leaf(node: String, cost: NodeCost) -> CostNode {
    CostNode { node, cost, children: Vec::new() }
}

/// A selector: its selection's estimate, one series' samples held at a time.
fn selector(vs: &VectorSelector, node: String, steps: u64, selected: &HashMap<usize, SelectEstimate>) -> CostNode {
    let est = selected.get(&(vs as *const VectorSelector as usize)).copied().unwrap_or_default();
    let per_series = est.samples.checked_div(est.series).unwrap_or(0);
    leaf(
        node,
        NodeCost {
            series: est.series,
            samples: est.samples,
            bytes: est.bytes,
            points: est.series.saturating_mul(steps),
            files: est.files,
            peak_memory_bytes: per_series * SAMPLE_BYTES + steps * POINT_BYTES + LABELS_BYTES,
        },
    )
}

/// An operator computing `steps` values for each of its `series` outputs,
/// holding `held` bytes on top of its operands.
fn op(node: String, series: u64, steps: u64, children: Vec<CostNode>, held: u64) -> CostNode {
    let mut cost = NodeCost::sum(&children);
    cost.series = series;
    cost.points = cost.points.saturating_add(series.saturating_mul(steps));
    cost.peak_memory_bytes = cost.peak_memory_bytes.saturating_add(held);
    CostNode { node, cost, children }
}

fn fmt_ms(ms: u128) -> String {
    promql_parser::util::display_duration(&std::time::Duration::from_millis(ms as u64))
}

fn fmt_step(sq: &promql_parser::parser::SubqueryExpr) -> String {
    sq.step.map(|d| fmt_ms(d.as_millis())).unwrap_or_default()
}
