//! Label names and values from the heads: one shard's active and frozen
//! memtables, and every shard of a running [`Ingester`].

use strata_common::Matcher;
use strata_common::head::{HeadLabelsResponse, LabelsRequest};
use strata_storage::Memtable;

use super::*;
use crate::shard::active::ActiveSeries;
use crate::shard::metrics::IngesterMetrics;
use crate::shard::state::{PartitionState, ShardState};

fn labels_req(tenant: &str, matchers: Vec<Matcher>, name: Option<&str>) -> LabelsRequest {
    LabelsRequest {
        tenant: TenantId::new(tenant).unwrap(),
        matchers,
        min_t: i64::MIN,
        max_t: i64::MAX,
        name: name.map(str::to_string),
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn append(table: &mut Memtable, tenant: &str, labels: &[(&str, &str)], t: i64) {
    table.append(&TenantId::new(tenant).unwrap(), labels, [Sample::new(t, 1.0)].into_iter());
}

#[test]
fn shard_state_unions_active_and_frozen_memtables() {
    let metrics = IngesterMetrics::register(&mut Registry::default());
    let partitions =
        [(0, PartitionState { consumed: 0, flushed: 0, metrics: metrics.partition(0) })].into_iter().collect();
    let mut state = ShardState::new(
        0,
        partitions,
        metrics.shard(0),
        ActiveSeries::new(std::time::Duration::from_secs(60), metrics.active_series.clone()),
        std::sync::Arc::new(crate::annotations::AnnotationStore::new(
            crate::annotations::default_limits(),
            None,
            &mut Registry::default(),
        )),
    );
    append(&mut state.active, "a", &[("__name__", "up"), ("job", "api")], 10);
    append(&mut state.active, "b", &[("__name__", "secret"), ("team", "b")], 10);
    if let Some(p) = state.partitions.get_mut(&0) {
        p.consumed = 5;
    }
    assert!(state.freeze().is_some_and(|job| job.table.is_some()));
    // Same name and a shared value in both tables, plus new ones in the active one.
    append(&mut state.active, "a", &[("__name__", "up"), ("job", "db"), ("zone", "eu")], 20);
    append(&mut state.active, "a", &[("__name__", "up"), ("job", "api")], 30);

    let got = state.labels(&labels_req("a", vec![], None));
    assert_eq!(got.values, strings(&["__name__", "job", "zone"]));
    assert_eq!(got.base_offsets, vec![(0, 0)], "the frozen table is not flushed yet");
    assert_eq!(state.labels(&labels_req("a", vec![], Some("job"))).values, strings(&["api", "db"]));
    let api = vec![Matcher::equal("job", "api")];
    assert_eq!(state.labels(&labels_req("a", api.clone(), None)).values, strings(&["__name__", "job"]));
    let mut early = labels_req("a", api, Some("job"));
    (early.min_t, early.max_t) = (0, 15);
    assert_eq!(state.labels(&early).values, strings(&["api"]), "from the frozen table only");
    early.matchers = vec![Matcher::equal("zone", "eu")];
    assert!(state.labels(&early).values.is_empty(), "zone=eu has no sample before 20");
    // Tenant isolation.
    assert_eq!(state.labels(&labels_req("b", vec![], None)).values, strings(&["__name__", "team"]));
    assert!(state.labels(&labels_req("b", vec![], Some("job"))).values.is_empty());
    assert!(state.labels(&labels_req("c", vec![], None)).values.is_empty());
}

#[test]
fn ingester_lists_labels_of_every_shard() {
    let (_dir, log, manifest) = setup(1 << 20);
    let mut expected = Expected::new();
    append_round(&*log, 0, &mut expected);
    let (ingester, _registry) = start(config(2), &log, &manifest);
    block_on(ingester.wait_caught_up()).unwrap();

    let all_series: Vec<String> = (0..SERIES).map(|k| format!("{k:02}")).collect();
    for tenant in TENANTS {
        let names = block_on(HeadReader::labels(&ingester, labels_req(tenant, vec![], None))).unwrap();
        assert_eq!(names.values, strings(&["__name__", "series"]));
        assert_eq!(names.base_offsets.iter().map(|b| b.0).collect::<Vec<_>>(), [0, 1, 2, 3]);
        let values = block_on(ingester.label_heads(labels_req(tenant, vec![], Some("series")))).unwrap();
        assert_eq!(values.values, all_series, "series of both shards, merged and sorted");
        let some = vec![Matcher::new(strata_common::MatchOp::RegexMatch, "series", "0[13]|17").unwrap()];
        let values = block_on(ingester.label_heads(labels_req(tenant, some, Some("series")))).unwrap();
        assert_eq!(values.values, strings(&["01", "03", "17"]));
    }
    let nobody = block_on(ingester.label_heads(labels_req("nobody", vec![], None))).unwrap();
    assert!(nobody.values.is_empty());

    // After a flush the heads are empty; the base offsets moved past the data.
    block_on(ingester.flush_now()).unwrap();
    let HeadLabelsResponse { values, base_offsets } =
        block_on(ingester.label_heads(labels_req(TENANTS[0], vec![], None))).unwrap();
    assert!(values.is_empty());
    assert_eq!(base_offsets.iter().map(|b| b.1).collect::<Vec<_>>(), end_offsets(&*log));
    ingester.shutdown();
}
