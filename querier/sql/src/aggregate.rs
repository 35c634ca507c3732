//! Grouped aggregates computed inside the scan: the physical optimizer rule
//! [`AggregateIntoScan`] replaces a partial `AggregateExec` that groups a
//! Strata scan's rows by label columns with the scan itself, computing the
//! partial states per series as it decodes them.
//!
//! ```text
//!  AggregateExec(Final) ◀─ Repartition ◀─ AggregateExec(Partial) ◀─ StrataScanExec
//!                      becomes
//!  AggregateExec(Final) ◀─ Repartition ◀─ StrataScanExec (aggregate=[…], group_by=[…])
//! ```
//!
//! A series' label columns are constant over its rows, so its group is
//! looked up once per series instead of once per row, and no row is ever
//! built. The partial states are those DataFusion's own accumulators
//! compute over the same rows in the same order (a series' non-stale
//! samples in time order, series in selection order, each series in the
//! partition its label hash picks): `sum` and `avg` add sequentially from
//! `0.0`, `min`/`max` keep DataFusion's starting values and NaN rule, so
//! the answers are bit for bit the same as without the rule.
//!
//! A single-stage aggregate (one scan partition) becomes a final aggregate
//! over the aggregating scan.
//!
//! Pushed: `GROUP BY` of one or more label columns (no grouping sets), with
//! aggregates `avg`, `sum`, `min`, `max` of `value` and `count` of `value`,
//! `timestamp` or a literal (`count(*)`), none `DISTINCT`, ordered or
//! filtered; directly over the scan (a `WHERE` DataFusion re-applies, or a
//! `LIMIT` in the scan, keeps the rows path).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, DictionaryArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Int32Type, SchemaRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::error::Result;
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use strata_common::sample::is_stale_nan;
use strata_common::{Labels, Sample};

use crate::batch::ColumnKind;
use crate::exec::ScanExec;

/// One aggregate a scan computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggKind {
    /// `avg(value)`: state `[count UInt64, sum Float64]`.
    Avg,
    /// `sum(value)`: state `[sum Float64]`.
    Sum,
    /// `count(…)` of a never-null column or a literal: state `[count Int64]`.
    Count,
    /// `min(value)`: state `[min Float64]`.
    Min,
    /// `max(value)`: state `[max Float64]`.
    Max,
}

impl AggKind {
    fn of(name: &str) -> Option<Self> {
        Some(match name {
            "avg" => Self::Avg,
            "sum" => Self::Sum,
            "count" => Self::Count,
            "min" => Self::Min,
            "max" => Self::Max,
            _ => return None,
        })
    }

    /// The types of the partial state, in DataFusion's order.
    fn state_types(self) -> &'static [DataType] {
        match self {
            Self::Avg => &[DataType::UInt64, DataType::Float64],
            Self::Sum | Self::Min | Self::Max => &[DataType::Float64],
            Self::Count => &[DataType::Int64],
        }
    }
}

/// What an aggregating scan computes: partial states of `aggregates` per
/// distinct combination of the `group_by` labels.
#[derive(Debug, Clone)]
pub struct ScanAggregate {
    /// The labels grouped by, in output order, with their column names.
    pub group_by: Vec<(String, String)>,
    /// The aggregates, in output order, with their names (for `EXPLAIN`).
    pub aggregates: Vec<(AggKind, String)>,
}

impl fmt::Display for ScanAggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let aggs: Vec<&str> = self.aggregates.iter().map(|(_, n)| n.as_str()).collect();
        let groups: Vec<&str> = self.group_by.iter().map(|(_, c)| c.as_str()).collect();
        write!(f, "aggregate=[{}], group_by=[{}]", aggs.join(", "), groups.join(", "))
    }
}

/// The running state of one group: every aggregate is derived from these.
#[derive(Debug, Clone, Copy)]
struct GroupState {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

/// How many series [`GroupTable::add_many`] takes at once.
pub const LANES: usize = 4;

/// The groups of one scan partition, built series by series.
pub struct GroupTable {
    labels: Vec<String>,
    index: HashMap<Vec<Option<String>>, usize>,
    keys: Vec<Vec<Option<String>>>,
    states: Vec<GroupState>,
    min_max: bool,
}

impl GroupTable {
    /// An empty table for `agg`.
    pub fn new(agg: &ScanAggregate) -> Self {
        Self {
            labels: agg.group_by.iter().map(|(l, _)| l.clone()).collect(),
            index: HashMap::new(),
            keys: Vec::new(),
            states: Vec::new(),
            min_max: agg.aggregates.iter().any(|(k, _)| matches!(k, AggKind::Min | AggKind::Max)),
        }
    }

    /// Adds one series' samples (staleness markers are not rows; a series
    /// without rows creates no group, as it would add no row).
    pub fn add(&mut self, labels: &Labels, samples: &[Sample]) {
        let Some(first) = samples.iter().position(|s| !is_stale_nan(s.v)) else { return };
        let g = self.group_of(labels);
        self.add_to(g, &samples[first..]);
    }

    /// Adds up to [`LANES`] series' samples, in order: the same states as
    /// [`GroupTable::add`] of each in turn. When the series fall in distinct
    /// groups, hold no staleness marker and only counts and sums are kept
    /// (`avg`, `sum`, `count`), their sums run interleaved: each group
    /// still adds its values one by one in the same order (the same bits),
    /// but the CPU overlaps the independent additions instead of waiting
    /// for each to finish (a float addition's latency, not the decode, was
    /// what a sequential sum cost).
    pub fn add_many(&mut self, series: &[(&Labels, &[Sample])]) {
        debug_assert!(series.len() <= LANES);
        let lanes = series.len();
        // Every series has a row (usually its first sample), so each makes a group.
        let has_rows = |s: &[Sample]| s.iter().any(|x| !is_stale_nan(x.v));
        if self.min_max || lanes < 2 || !series.iter().all(|(_, s)| has_rows(s)) {
            for (labels, samples) in series {
                self.add(labels, samples);
            }
            return;
        }
        // Groups in series order (their creation order is the sequential one).
        let mut groups = [0usize; LANES];
        for (i, (labels, _)) in series.iter().enumerate() {
            groups[i] = self.group_of(labels);
        }
        let groups = &groups[..lanes];
        let sequential = |t: &mut Self| {
            for (i, (_, samples)) in series.iter().enumerate() {
                t.add_to(groups[i], samples);
            }
        };
        if (1..lanes).any(|i| groups[..i].contains(&groups[i])) {
            // Two series of one group: its sum must see them one after the other.
            return sequential(self);
        }
        let mut sums = [0.0f64; LANES];
        for (i, &g) in groups.iter().enumerate() {
            sums[i] = self.states[g].sum;
        }
        // Staleness markers are noted in the same pass (the additions, not
        // these comparisons, bound the loop); a run holding one is summed
        // again sequentially, skipping them (no state was changed yet).
        let mut stale = false;
        let n = series.iter().map(|(_, s)| s.len()).min().unwrap_or(0);
        if lanes == LANES {
            let [a, b, c, d] = [series[0].1, series[1].1, series[2].1, series[3].1];
            let [mut sa, mut sb, mut sc, mut sd] = sums;
            for (((x, y), z), w) in a[..n].iter().zip(&b[..n]).zip(&c[..n]).zip(&d[..n]) {
                sa += x.v;
                sb += y.v;
                sc += z.v;
                sd += w.v;
                stale |= is_stale_nan(x.v) | is_stale_nan(y.v) | is_stale_nan(z.v) | is_stale_nan(w.v);
            }
            sums = [sa, sb, sc, sd];
        } else {
            for k in 0..n {
                for (sum, (_, s)) in sums.iter_mut().zip(series) {
                    *sum += s[k].v;
                    stale |= is_stale_nan(s[k].v);
                }
            }
        }
        if stale {
            return sequential(self);
        }
        for (i, &g) in groups.iter().enumerate() {
            let st = &mut self.states[g];
            st.sum = sums[i];
            st.count += n as u64;
            // The tails may hold markers: add_to skips them.
            self.add_to(g, &series[i].1[n..]);
        }
    }

    /// The group of a series with `labels`, created if new.
    fn group_of(&mut self, labels: &Labels) -> usize {
        let key: Vec<Option<String>> =
            self.labels.iter().map(|l| labels.get(l).filter(|v| !v.is_empty()).map(str::to_string)).collect();
        match self.index.get(&key) {
            Some(&g) => g,
            None => {
                let g = self.states.len();
                // DataFusion's starting values: sums at 0.0, max at f64::MIN, min at f64::MAX.
                self.states.push(GroupState { count: 0, sum: 0.0, min: f64::MAX, max: f64::MIN });
                self.keys.push(key.clone());
                self.index.insert(key, g);
                g
            }
        }
    }

    /// Adds `samples`' rows (staleness markers skipped) to group `g`, in order.
    fn add_to(&mut self, g: usize, samples: &[Sample]) {
        let st = &mut self.states[g];
        let rows = samples.iter().map(|s| s.v).filter(|v| !is_stale_nan(*v));
        if self.min_max {
            for v in rows {
                st.count += 1;
                st.sum += v;
                // DataFusion's rule: a NaN replaces the current value.
                if !matches!(v.partial_cmp(&st.min), Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)) {
                    st.min = v;
                }
                if !matches!(v.partial_cmp(&st.max), Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)) {
                    st.max = v;
                }
            }
        } else {
            let (mut count, mut sum) = (st.count, st.sum);
            for v in rows {
                count += 1;
                sum += v;
            }
            (st.count, st.sum) = (count, sum);
        }
    }

    /// The groups as one batch of `schema` (group columns, then each
    /// aggregate's state columns).
    pub fn finish(self, agg: &ScanAggregate, schema: SchemaRef) -> Result<RecordBatch> {
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        for i in 0..self.labels.len() {
            let keys: Int32Array =
                self.keys.iter().enumerate().map(|(k, key)| key[i].as_ref().map(|_| k as i32)).collect();
            let values: StringArray = self.keys.iter().map(|key| Some(key[i].as_deref().unwrap_or(""))).collect();
            arrays.push(Arc::new(DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values))?));
        }
        let counts = || self.states.iter().map(|s| s.count);
        let f64s = |f: fn(&GroupState) -> f64| -> ArrayRef {
            Arc::new(Float64Array::from_iter_values(self.states.iter().map(f)))
        };
        for (kind, _) in &agg.aggregates {
            match kind {
                AggKind::Avg => {
                    arrays.push(Arc::new(UInt64Array::from_iter_values(counts())));
                    arrays.push(f64s(|s| s.sum));
                }
                AggKind::Sum => arrays.push(f64s(|s| s.sum)),
                AggKind::Count => arrays.push(Arc::new(Int64Array::from_iter_values(counts().map(|c| c as i64)))),
                AggKind::Min => arrays.push(f64s(|s| s.min)),
                AggKind::Max => arrays.push(f64s(|s| s.max)),
            }
        }
        Ok(RecordBatch::try_new(schema, arrays)?)
    }
}

/// The physical optimizer rule pushing grouped aggregates into Strata scans
/// (see the module docs).
#[derive(Debug, Default)]
pub struct AggregateIntoScan;

impl PhysicalOptimizerRule for AggregateIntoScan {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            Ok(match pushed(&node) {
                Some(scan) => Transformed::yes(scan),
                None => Transformed::no(node),
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        "strata_aggregate_into_scan"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// What replaces `node`: for a partial aggregate the scan can compute, the
/// aggregating scan; for a single-stage one over a one-partition scan, a
/// final aggregate over the aggregating scan.
fn pushed(node: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    let agg = node.downcast_ref::<AggregateExec>()?;
    if *agg.mode() != AggregateMode::Single {
        return pushed_partial(agg);
    }
    if agg.input().output_partitioning().partition_count() != 1 {
        return None;
    }
    let (group, aggs, filters) = (agg.group_expr(), agg.aggr_expr().to_vec(), agg.filter_expr().to_vec());
    let input = agg.input().clone();
    let partial = AggregateExec::try_new(
        AggregateMode::Partial,
        group.clone(),
        aggs.clone(),
        filters.clone(),
        input,
        agg.input_schema(),
    )
    .ok()?;
    let scan = pushed_partial(&partial)?;
    let last =
        AggregateExec::try_new(AggregateMode::Final, group.as_final(), aggs, filters, scan, agg.input_schema()).ok()?;
    (last.schema() == agg.schema()).then(|| Arc::new(last) as Arc<dyn ExecutionPlan>)
}

/// The aggregating scan replacing `agg`, when it is a partial aggregate
/// the scan can compute.
fn pushed_partial(agg: &AggregateExec) -> Option<Arc<dyn ExecutionPlan>> {
    // The scan, possibly wrapped for cooperative scheduling (kept around the replacement).
    let coop = agg.input().downcast_ref::<CooperativeExec>();
    let scan = match coop {
        Some(c) => c.input().downcast_ref::<ScanExec>()?,
        None => agg.input().downcast_ref::<ScanExec>()?,
    };
    let group = agg.group_expr();
    let plain = *agg.mode() == AggregateMode::Partial
        && scan.aggregate().is_none()
        && scan.limit().is_none()
        && agg.limit_options().is_none()
        && group.is_single()
        && !group.expr().is_empty()
        && agg.filter_expr().iter().all(Option::is_none);
    if !plain {
        return None;
    }
    let (cols, input, output) = (scan.columns(), scan.schema(), agg.schema());
    let mut group_by = Vec::new();
    for (i, (e, _)) in group.expr().iter().enumerate() {
        let c = e.downcast_ref::<Column>()?;
        let ColumnKind::Label(label) = cols.get(c.index())? else { return None };
        let field = input.fields().get(c.index())?;
        if output.fields().get(i)?.data_type() != field.data_type()
            || field.data_type() != &DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
        {
            return None;
        }
        group_by.push((label.clone(), field.name().clone()));
    }
    let mut at = group_by.len();
    let mut aggregates = Vec::new();
    for a in agg.aggr_expr() {
        let kind = AggKind::of(a.fun().name())?;
        if a.is_distinct() || !a.order_bys().is_empty() {
            return None;
        }
        let args = a.expressions();
        let [arg] = args.as_slice() else { return None };
        let reads = arg.downcast_ref::<Column>().and_then(|c| cols.get(c.index()));
        let literal = arg.downcast_ref::<Literal>().is_some_and(|l| !l.value().is_null());
        let arg_ok = match (kind, reads) {
            (_, Some(ColumnKind::Value)) => true,
            (AggKind::Count, Some(ColumnKind::Timestamp)) => true,
            (AggKind::Count, None) => literal,
            _ => false,
        };
        if !arg_ok {
            return None;
        }
        for t in kind.state_types() {
            if output.fields().get(at)?.data_type() != t {
                return None;
            }
            at += 1;
        }
        aggregates.push((kind, a.name().to_string()));
    }
    if at != output.fields().len() {
        return None;
    }
    let scan: Arc<dyn ExecutionPlan> = Arc::new(scan.with_aggregate(ScanAggregate { group_by, aggregates }, output));
    Some(if coop.is_some() { Arc::new(CooperativeExec::new(scan)) } else { scan })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::DataType;
    use datafusion::arrow::datatypes::Float64Type;
    use strata_common::sample::stale_nan;
    use strata_common::{Labels, Sample, TenantId};
    use strata_querier::metrics::QuerierMetrics;
    use strata_querier::{MemorySource, QuerierConfig, QuerierState, ReadConsistency};

    use crate::{SqlEngine, SqlRequest};

    /// Six series of `m` in three `dc`s (one without), with a staleness
    /// marker, a NaN, negative values and a series of markers only.
    fn engine() -> SqlEngine {
        let src = MemorySource::new();
        let t = TenantId::default_tenant();
        for h in 0..6i64 {
            let host = format!("h{h}");
            let dc = format!("dc{}", h % 3);
            let mut pairs = vec![("__name__", "m"), ("host", host.as_str())];
            if h != 5 {
                pairs.push(("dc", dc.as_str()));
            }
            let samples: Vec<Sample> = (0..50)
                .map(|k| {
                    let v = match (h, k) {
                        (0, 7) | (5, _) => stale_nan(),
                        (1, 9) => f64::NAN,
                        _ => ((k * 7919 + h * 13) % 1000) as f64 / 7.0 - 50.0,
                    };
                    Sample::new(k * 1000, v)
                })
                .collect();
            src.append(&t, Labels::from_pairs(pairs).unwrap(), &samples).unwrap();
        }
        let st = QuerierState::with_source(QuerierConfig::default(), Arc::new(src), QuerierMetrics::unregistered());
        SqlEngine::new(Arc::new(st))
    }

    /// Every row of the answer as text, floats by their bits.
    async fn answer(engine: &SqlEngine, sql: &str, partitions: usize) -> Vec<String> {
        let req = SqlRequest {
            tenant: TenantId::default_tenant(),
            sql: sql.to_string(),
            consistency: ReadConsistency::Eventual,
            timeout: None,
            partitions: Some(partitions),
        };
        let (_, batches, _) = engine.run(&req).await.unwrap();
        let mut rows = Vec::new();
        for b in &batches {
            for r in 0..b.num_rows() {
                let cells: Vec<String> = b
                    .columns()
                    .iter()
                    .map(|c| match c.data_type() {
                        DataType::Float64 => format!("{:x}", c.as_primitive::<Float64Type>().value(r).to_bits()),
                        _ => {
                            let s = cast(c, &DataType::Utf8).unwrap();
                            let s = s.as_string::<i32>();
                            if s.is_null(r) { "null".into() } else { s.value(r).to_string() }
                        }
                    })
                    .collect();
                rows.push(cells.join(","));
            }
        }
        rows.sort();
        rows
    }

    /// In one or two partitions (where the final merge is deterministic),
    /// the aggregating scan's answer equals the rows path's to the bit,
    /// NaN and staleness markers included; a group of markers only is no
    /// group at all.
    #[tokio::test]
    async fn the_scan_computes_datafusions_partial_states_exactly() {
        let engine = engine();
        for group in ["host", "dc", "dc, host"] {
            let q = |filter: &str| {
                format!(
                    "SELECT {group}, avg(value), sum(value), min(value), max(value), count(*), count(value) \
                     FROM m {filter} GROUP BY {group}"
                )
            };
            // Every series has a host: the filter keeps every row, but
            // DataFusion applies it again (a series without the label
            // would match host!="none"), so the aggregate stays on the rows path.
            let (pushed, rows) = (q(""), q("WHERE host != 'none'"));
            for partitions in [1, 2] {
                let plan = answer(&engine, &format!("EXPLAIN {pushed}"), partitions).await.join("\n");
                assert!(plan.contains("aggregate=["), "{plan}");
                let plan = answer(&engine, &format!("EXPLAIN {rows}"), partitions).await.join("\n");
                assert!(!plan.contains("aggregate=["), "{plan}");
                let (a, b) = (answer(&engine, &pushed, partitions).await, answer(&engine, &rows, partitions).await);
                assert_eq!(a, b, "GROUP BY {group}, {partitions} partitions");
                // h5 holds markers only: no rows, no group.
                assert_eq!(a.len(), if group == "dc" { 3 } else { 5 }, "{a:?}");
            }
        }
    }
}

#[cfg(test)]
mod lanes {
    use strata_common::sample::stale_nan;
    use strata_common::{Labels, Sample};

    use super::{AggKind, GroupTable, LANES, ScanAggregate};

    /// Every group's key and state, floats by their bits.
    fn states(t: &GroupTable) -> Vec<String> {
        t.keys
            .iter()
            .zip(&t.states)
            .map(|(k, s)| {
                let bits = [s.sum, s.min, s.max].map(f64::to_bits);
                format!("{k:?} {} {:x} {:x} {:x}", s.count, bits[0], bits[1], bits[2])
            })
            .collect()
    }

    /// `add_many` of every run of up to [`LANES`] series leaves the same
    /// states, to the bit and in the same group order, as `add` of each
    /// series in turn: distinct and repeated groups, staleness markers,
    /// marker-only and empty series, unequal lengths, with and without
    /// min/max.
    #[test]
    fn interleaved_sums_equal_sequential_ones() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for case in 0..2000 {
            let lanes = 1 + case % LANES;
            let mut series = Vec::new();
            for _ in 0..lanes {
                // Few groups, so some runs repeat one.
                let g = (next() % 6).to_string();
                let labels = Labels::from_pairs([("__name__", "m"), ("g", g.as_str())]).unwrap();
                let len = (next() % 40) as usize;
                let kind = next() % 8;
                let samples: Vec<Sample> = (0..len)
                    .map(|k| {
                        let r = next();
                        let v = match kind {
                            0 if r % 5 == 0 => stale_nan(),
                            1 => stale_nan(),
                            _ => (r >> 11) as f64 / (1u64 << 40) as f64 - 2000.0,
                        };
                        Sample::new(k as i64, v)
                    })
                    .collect();
                series.push((labels, samples));
            }
            let items: Vec<(&Labels, &[Sample])> = series.iter().map(|(l, s)| (l, s.as_slice())).collect();
            for kinds in [vec![AggKind::Avg], vec![AggKind::Sum, AggKind::Min, AggKind::Max]] {
                let agg = ScanAggregate {
                    group_by: vec![("g".into(), "g".into())],
                    aggregates: kinds.into_iter().map(|k| (k, String::new())).collect(),
                };
                // Some groups already hold rows before the run.
                let (mut one, mut many) = (GroupTable::new(&agg), GroupTable::new(&agg));
                for t in [&mut one, &mut many] {
                    t.add(&series[0].0, &[Sample::new(0, 0.1), Sample::new(1, -7.25)]);
                }
                for (l, s) in &items {
                    one.add(l, s);
                }
                many.add_many(&items);
                assert_eq!(states(&one), states(&many), "case {case}");
            }
        }
    }
}
