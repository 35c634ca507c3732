//! [`RemoteHeads`]: the [`HeadReader`] of a cluster querier. It asks every
//! ingester process over HTTP (`strata_common::head::wire`, served by
//! `strata_ingester::head_api`) and merges the answers.
//!
//! Ingester `i` of the configured list owns the partitions
//! [`owned_partitions`]`(partitions, i, n)`. Every answer must carry a base
//! offset (series/labels) or progress for exactly the partitions its
//! ingester owns; anything else means the cluster is misconfigured (ids or
//! list order differ) and is an error, never a silently partial answer. An
//! ingester that cannot be reached, times out or answers 5xx fails the whole
//! read with [`Error::IngesterUnavailable`] (HTTP 503 from the query API).

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::{BoxFuture, try_join_all};
use serde::Serialize;
use serde::de::DeserializeOwned;
use strata_common::head::annotations::{
    EXEMPLARS_PATH, ExemplarSeries, ExemplarsRequest, METADATA_PATH, MetadataMap, MetadataRequest, WireExemplarSeries,
    WireExemplarsRequest, WireMetadata, exemplars_from_wire, merge_exemplars, merge_metadata, metadata_from_wire,
};
use strata_common::head::merge::{merge_label_responses, merge_responses};
use strata_common::head::wire::{
    ESTIMATE_PATH, LABELS_PATH, PROGRESS_PATH, READ_PATH, ReadStreamDecoder, WireLabelsRequest, WireReadRequest,
};
use strata_common::head::{
    HeadLabelsResponse, HeadReadResponse, HeadReader, LabelsRequest, PartitionProgress, SelectEstimate, SelectRequest,
};
use strata_common::ids::PartitionId;
use strata_common::labels::owned_partitions;
use strata_common::tenant::TENANT_HEADER;
use strata_common::tsdb_status::{TSDB_STATUS_PATH, TsdbStatus};
use strata_common::{Error, Result, TenantId};

#[derive(Debug)]
struct RemoteIngester {
    id: usize,
    url: String,
    partitions: Vec<PartitionId>,
}

/// Reads the heads of every ingester of a cluster.
#[derive(Debug)]
pub struct RemoteHeads {
    client: reqwest::Client,
    ingesters: Vec<RemoteIngester>,
}

impl RemoteHeads {
    /// `urls[i]` is the base URL of ingester `i` (e.g. `http://10.0.0.5:9009`);
    /// the log has `partitions` partitions; every request gives up after
    /// `timeout`.
    pub fn new(urls: &[String], partitions: u32, timeout: Duration) -> Result<Self> {
        Self::with_headers(urls, partitions, timeout, reqwest::header::HeaderMap::new())
    }

    /// [`RemoteHeads::new`] sending `headers` with every request (the
    /// cluster secret of internal endpoints).
    pub fn with_headers(
        urls: &[String],
        partitions: u32,
        timeout: Duration,
        headers: reqwest::header::HeaderMap,
    ) -> Result<Self> {
        if urls.is_empty() {
            return Err(Error::InvalidConfig("a querier needs at least one ingester URL (cluster.ingesters)".into()));
        }
        let n = u32::try_from(urls.len()).map_err(|_| Error::InvalidConfig("too many ingesters".into()))?;
        let ingesters = urls
            .iter()
            .enumerate()
            .map(|(i, url)| RemoteIngester {
                id: i,
                url: url.trim_end_matches('/').to_string(),
                partitions: owned_partitions(partitions, i as u32, n),
            })
            .collect();
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| Error::InvalidConfig(format!("building the HTTP client: {e}")))?;
        Ok(Self { client, ingesters })
    }

    fn unavailable(ing: &RemoteIngester, reason: impl std::fmt::Display) -> Error {
        Error::IngesterUnavailable { ingester: ing.id, url: ing.url.clone(), reason: reason.to_string() }
    }

    /// Sends one request to one ingester; returns the body of a 200.
    async fn call(&self, ing: &RemoteIngester, path: &str, body: Option<&impl Serialize>) -> Result<bytes::Bytes> {
        let url = format!("{}{path}", ing.url);
        let req = match body {
            Some(body) => self.client.post(&url).json(body),
            None => self.client.get(&url),
        };
        Self::send(ing, req).await
    }

    /// Sends `req` to `ing`; returns the body of a 2xx (a 5xx or no answer
    /// is the ingester being unavailable, a 4xx a protocol error).
    async fn send(ing: &RemoteIngester, req: reqwest::RequestBuilder) -> Result<bytes::Bytes> {
        let resp = Self::send_streaming(ing, req).await?;
        resp.bytes().await.map_err(|e| Self::unavailable(ing, e))
    }

    /// Sends `req` to `ing`; returns a 2xx answer whose body is still to
    /// be read, or the error of any other status (as [`Self::send`]).
    async fn send_streaming(ing: &RemoteIngester, req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let resp = req.send().await.map_err(|e| Self::unavailable(ing, e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let bytes = resp.bytes().await.map_err(|e| Self::unavailable(ing, e))?;
        let message = String::from_utf8_lossy(&bytes).into_owned();
        if status.is_server_error() {
            Err(Self::unavailable(ing, format!("{status}: {message}")))
        } else {
            Err(Error::HeadProtocol(format!(
                "ingester {} ({}) rejected the request: {status}: {message}",
                ing.id, ing.url
            )))
        }
    }

    /// One ingester's series read, decoded batch by batch as the body
    /// arrives (the encoded answer is never held whole). Dropping the
    /// future (a cancelled query) closes the connection, and the ingester
    /// stops encoding. A body that breaks off is the ingester being
    /// unavailable; one that ends without the stream's end marker a
    /// protocol error.
    async fn read_one(&self, ing: &RemoteIngester, wire: &WireReadRequest) -> Result<HeadReadResponse> {
        let req = self.client.post(format!("{}{READ_PATH}", ing.url)).json(wire);
        let mut resp = Self::send_streaming(ing, req).await?;
        let mut decoder = ReadStreamDecoder::new();
        while let Some(piece) = resp.chunk().await.map_err(|e| Self::unavailable(ing, e))? {
            decoder.push(piece)?;
        }
        let decoded = decoder.finish()?;
        Self::check_partitions(ing, decoded.base_offsets.iter().map(|(p, _)| *p))?;
        Ok(decoded)
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        ing: &RemoteIngester,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T> {
        Self::parse(ing, &self.call(ing, path, body).await?)
    }

    /// `bytes`, an answer of `ing`, as JSON.
    fn parse<T: DeserializeOwned>(ing: &RemoteIngester, bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::HeadProtocol(format!("ingester {} ({}) sent bad JSON: {e}", ing.id, ing.url)))
    }

    /// Every ingester's `/api/v1/status/tsdb` answer for `tenant`, each
    /// with `limit` entries per list.
    pub async fn tsdb_status(&self, tenant: &TenantId, limit: usize) -> Result<Vec<TsdbStatus>> {
        #[derive(serde::Deserialize)]
        struct Answer {
            data: TsdbStatus,
        }
        let calls = self.ingesters.iter().map(|ing| async move {
            let req = self.client.get(format!("{}{TSDB_STATUS_PATH}", ing.url));
            let req = req.query(&[("limit", limit)]).header(TENANT_HEADER, tenant.as_str());
            Ok(Self::parse::<Answer>(ing, &Self::send(ing, req).await?)?.data)
        });
        try_join_all(calls).await
    }

    /// Checks that `answered` are exactly the partitions `ing` owns.
    fn check_partitions(ing: &RemoteIngester, answered: impl Iterator<Item = PartitionId>) -> Result<()> {
        let answered: BTreeSet<PartitionId> = answered.collect();
        let owned: BTreeSet<PartitionId> = ing.partitions.iter().copied().collect();
        if answered == owned {
            return Ok(());
        }
        Err(Error::HeadProtocol(format!(
            "ingester {} ({}) serves partitions {answered:?} but should own {owned:?}: check that cluster.ingesters \
             lists the ingesters in the order of their cluster.ingester_id and that every process sees the same \
             partition count",
            ing.id, ing.url
        )))
    }
}

impl HeadReader for RemoteHeads {
    fn read(&self, req: SelectRequest) -> BoxFuture<'_, Result<HeadReadResponse>> {
        Box::pin(async move {
            let wire = WireReadRequest::from(&req);
            let answers = try_join_all(self.ingesters.iter().map(|ing| self.read_one(ing, &wire))).await?;
            Ok(merge_responses(answers))
        })
    }

    fn labels(&self, req: LabelsRequest) -> BoxFuture<'_, Result<HeadLabelsResponse>> {
        Box::pin(async move {
            let wire = WireLabelsRequest::from(&req);
            let answers = try_join_all(self.ingesters.iter().map(|ing| {
                let wire = &wire;
                async move {
                    let answer: HeadLabelsResponse = self.call_json(ing, LABELS_PATH, Some(wire)).await?;
                    Self::check_partitions(ing, answer.base_offsets.iter().map(|(p, _)| *p))?;
                    Ok::<_, Error>(answer)
                }
            }))
            .await?;
            Ok(merge_label_responses(answers))
        })
    }

    fn estimate(&self, req: SelectRequest) -> BoxFuture<'_, Result<SelectEstimate>> {
        Box::pin(async move {
            let wire = WireReadRequest::from(&req);
            let answers =
                try_join_all(self.ingesters.iter().map(|ing| self.call_json(ing, ESTIMATE_PATH, Some(&wire)))).await?;
            let mut total = SelectEstimate::default();
            for a in answers {
                total.add(a);
            }
            Ok(total)
        })
    }

    fn progress(&self) -> BoxFuture<'_, Result<Vec<PartitionProgress>>> {
        Box::pin(async move {
            let answers = try_join_all(self.ingesters.iter().map(|ing| async move {
                let answer: Vec<PartitionProgress> = self.call_json(ing, PROGRESS_PATH, None::<&()>).await?;
                Self::check_partitions(ing, answer.iter().map(|p| p.partition))?;
                Ok::<_, Error>(answer)
            }))
            .await?;
            let mut all: Vec<PartitionProgress> = answers.into_iter().flatten().collect();
            all.sort_unstable_by_key(|p| p.partition);
            Ok(all)
        })
    }

    fn exemplars(&self, req: ExemplarsRequest) -> BoxFuture<'_, Result<Vec<ExemplarSeries>>> {
        Box::pin(async move {
            let wire = WireExemplarsRequest::from(&req);
            let answers = try_join_all(self.ingesters.iter().map(|ing| async {
                let answer: Vec<WireExemplarSeries> = self.call_json(ing, EXEMPLARS_PATH, Some(&wire)).await?;
                exemplars_from_wire(answer)
            }))
            .await?;
            Ok(merge_exemplars(answers))
        })
    }

    fn metadata(&self, req: MetadataRequest) -> BoxFuture<'_, Result<MetadataMap>> {
        Box::pin(async move {
            let answers = try_join_all(self.ingesters.iter().map(|ing| async {
                let answer: std::collections::BTreeMap<String, Vec<WireMetadata>> =
                    self.call_json(ing, METADATA_PATH, Some(&req)).await?;
                Ok::<_, Error>(metadata_from_wire(answer))
            }))
            .await?;
            Ok(merge_metadata(answers, req.limit, req.limit_per_metric))
        })
    }
}
