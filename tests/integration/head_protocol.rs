//! The head-read protocol over real HTTP, in one process: two ingesters
//! owning half of a 4-partition log each serve `/internal/v1/head/*`, and
//! the querier's `RemoteHeads` must return exactly what the ingesters hold,
//! reject a misordered ingester list, and name an unreachable ingester.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use strata_common::head::{HeadReader, LabelsRequest, SelectRequest};
use strata_common::labels::owned_partitions;
use strata_common::{Error, Matcher, TenantId};
use strata_distributor::{self as distributor, Distributor, DistributorConfig};
use strata_ingester::{Ingester, IngesterConfig, head_api};
use strata_log::Log;
use strata_log::embedded::{EmbeddedLog, EmbeddedLogConfig};
use strata_querier::RemoteHeads;
use strata_storage::ManifestStore;

use super::harness::{series, snappy, write_request};

async fn serve(router: axum::Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, task)
}

fn request(tenant: &str) -> SelectRequest {
    SelectRequest {
        tenant: TenantId::new(tenant).unwrap(),
        matchers: vec![Matcher::equal("__name__", "proto_test")],
        min_t: 0,
        max_t: i64::MAX,
        with_samples: true,
        steps: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_heads_read_exactly_what_the_ingesters_hold() {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn Log> = EmbeddedLog::open(EmbeddedLogConfig {
        dir: dir.path().join("log"),
        partitions: 4,
        ..EmbeddedLogConfig::default()
    })
    .unwrap();
    let mut registry = Registry::default();
    let config = IngesterConfig { shards: 2, ..IngesterConfig::default() };
    let mut urls = Vec::new();
    let mut servers = Vec::new();
    let mut ingesters = Vec::new();
    for i in 0..2u32 {
        let manifest = Arc::new(ManifestStore::open(&dir.path().join(format!("ingester-{i}"))).unwrap());
        let owned = owned_partitions(4, i, 2);
        let ingester =
            Arc::new(Ingester::start_owning(config.clone(), log.clone(), manifest, owned, &mut registry).unwrap());
        let (url, task) =
            serve(head_api::router(ingester.clone(), head_api::HeadReadLimit::new(4, Duration::from_secs(10)))).await;
        urls.push(url);
        servers.push(task);
        ingesters.push(ingester);
    }
    let push = Arc::new(Distributor::new(DistributorConfig::default(), log.clone(), &mut registry));
    let (push_url, _push_task) = serve(distributor::router(push)).await;
    let mut all: Vec<_> = (0..40)
        .map(|s| series(&[("__name__", "proto_test"), ("s", &s.to_string())], &[(1000, s as f64), (2000, 1.5)]))
        .collect();
    // Some series also carry native histograms (head protocol version 2).
    for (i, ts) in all.iter_mut().enumerate().filter(|(i, _)| i % 7 == 0) {
        ts.histograms = vec![strata_distributor::proto::Histogram {
            count_int: Some(i as u64 + 1),
            sum: 2.5,
            positive_spans: vec![strata_distributor::proto::BucketSpan { offset: 0, length: 1 }],
            positive_deltas: vec![i as i64 + 1],
            timestamp: 3000,
            ..Default::default()
        }];
    }
    let body = snappy(&prost::Message::encode_to_vec(&write_request(all)));
    let status = reqwest::Client::new()
        .post(format!("{push_url}/api/v1/push"))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    for ingester in &ingesters {
        ingester.wait_caught_up().await.unwrap();
    }

    let remote = RemoteHeads::new(&urls, 4, Duration::from_secs(5)).unwrap();
    let tenant = TenantId::default_tenant();
    let got = remote.read(request(tenant.as_str())).await.unwrap();
    assert_eq!(got.series.len(), 40, "every series from one of the two ingesters");
    let mut want = ingesters[0].read(request(tenant.as_str())).await.unwrap().series;
    want.extend(ingesters[1].read(request(tenant.as_str())).await.unwrap().series);
    want.sort_by(|a, b| a.labels.cmp(&b.labels));
    assert_eq!(got.series, want);
    let with_hist: Vec<_> = got.series.iter().filter(|s| !s.histograms.is_empty()).collect();
    assert_eq!(with_hist.len(), 6, "histograms cross the wire");
    assert!(with_hist.iter().all(|s| s.histograms[0].t == 3000 && s.histograms[0].h.integer));
    assert_eq!(got.base_offsets.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    let progress = remote.progress().await.unwrap();
    assert_eq!(progress.iter().map(|p| p.partition).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    let ends = log.end_offsets().await.unwrap();
    assert!(progress.iter().all(|p| p.consumed == ends[p.partition as usize]));
    let values = remote
        .labels(LabelsRequest {
            tenant: tenant.clone(),
            matchers: vec![],
            min_t: 0,
            max_t: i64::MAX,
            name: Some("s".into()),
        })
        .await
        .unwrap()
        .values;
    let mut want_values: Vec<String> = (0..40).map(|s| s.to_string()).collect();
    want_values.sort();
    assert_eq!(values, want_values);
    let other = remote.read(request("someone-else")).await.unwrap();
    assert!(other.series.is_empty(), "tenants stay isolated over the wire");

    // The list in the wrong order: the ownership check refuses to answer.
    let swapped = RemoteHeads::new(&[urls[1].clone(), urls[0].clone()], 4, Duration::from_secs(5)).unwrap();
    let err = swapped.read(request(tenant.as_str())).await.unwrap_err();
    assert!(err.to_string().contains("should own"), "{err}");

    // An ingester that is gone: 503-kind error naming it, not a partial answer.
    servers[1].abort();
    let _ = (&mut servers[1]).await;
    // (A new client: the old one's pooled connection outlives the listener.)
    let remote = RemoteHeads::new(&urls, 4, Duration::from_secs(5)).unwrap();
    let err = remote.read(request(tenant.as_str())).await.unwrap_err();
    assert!(matches!(err, Error::IngesterUnavailable { ingester: 1, .. }), "{err}");
    for ingester in &ingesters {
        let i = ingester.clone();
        tokio::task::spawn_blocking(move || i.shutdown()).await.unwrap();
    }
}
