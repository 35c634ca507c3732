//! The HTTP face of the distributor: content negotiation (remote write 1.0
//! or 2.0 by `Content-Type`), tenant, body limits, snappy and protobuf
//! decoding, then prepare and append; remote write 2.0 answers carry the
//! `X-Prometheus-Remote-Write-*-Written` headers in every case.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt;
use strata_common::TenantId;
use strata_common::tenant::TENANT_HEADER;

use super::Distributor;
use super::decode::FlatRequest;
use super::error::PushError;

/// The push routes: `POST /api/v1/push` and `POST /api/v1/write`.
pub fn router(state: Arc<Distributor>) -> Router {
    Router::new().route("/api/v1/push", post(handle_push)).route("/api/v1/write", post(handle_push)).with_state(state)
}

/// The remote write message of a request, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// `prometheus.WriteRequest` (the default without a `proto` parameter).
    V1,
    /// `io.prometheus.write.v2.Request`.
    V2,
}

/// `proto` parameter of remote write 1.0.
pub(crate) const PROTO_V1: &str = "prometheus.WriteRequest";
/// `proto` parameter of remote write 2.0.
pub(crate) const PROTO_V2: &str = "io.prometheus.write.v2.Request";

/// What a push wrote (the `-Written` headers of remote write 2.0).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Written {
    samples: u64,
    histograms: u64,
    exemplars: u64,
}

async fn handle_push(State(d): State<Arc<Distributor>>, headers: HeaderMap, body: Body) -> Response {
    let protocol = check_content_type(&headers);
    let is_v2 = matches!(protocol, Ok(Protocol::V2));
    let mut written = Written::default();
    let result = match protocol {
        Ok(protocol) => match d.handle_http(&headers, body, protocol).await {
            // A partial write is a success of the append that still answers 400.
            Ok((stats, refused)) => {
                written = Written { samples: stats.samples, histograms: stats.histograms, exemplars: stats.exemplars };
                match refused {
                    Some(e) => Err(e),
                    None => Ok(stats),
                }
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let status = match &result {
        Ok(_) => StatusCode::NO_CONTENT,
        Err(e) => e.status(),
    };
    d.metrics.requests.get_or_create(&[("code", status.as_u16())]).inc();
    let mut response = match result {
        Ok(_) => status.into_response(),
        Err(e) => {
            if status.is_server_error() {
                tracing::warn!(error = %e, "push failed");
            } else {
                tracing::debug!(error = %e, status = status.as_u16(), "push rejected");
            }
            (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], e.to_string()).into_response()
        }
    };
    if is_v2 {
        let h = response.headers_mut();
        for (name, n) in [
            ("x-prometheus-remote-write-samples-written", written.samples),
            ("x-prometheus-remote-write-histograms-written", written.histograms),
            ("x-prometheus-remote-write-exemplars-written", written.exemplars),
        ] {
            h.insert(HeaderName::from_static(name), HeaderValue::from(n));
        }
    }
    response
}

impl Distributor {
    async fn handle_http(
        &self,
        headers: &HeaderMap,
        body: Body,
        protocol: Protocol,
    ) -> Result<(super::PushStats, Option<PushError>), PushError> {
        check_content_encoding(headers)?;
        let tenant = self.tenant(headers)?;
        let body = self.read_body(headers, body).await?;
        self.metrics.received_bytes.inc_by(body.len() as u64);
        let raw = self.decompress(&body)?;
        drop(body);
        let req = match protocol {
            Protocol::V1 => FlatRequest::decode(&raw).map_err(PushError::Protobuf)?,
            Protocol::V2 => FlatRequest::decode_v2(&raw).map_err(PushError::ProtobufV2)?,
        };
        let prepared = self.prepare(&tenant, &req)?;
        drop(req);
        drop(raw);
        self.append(prepared).await
    }

    /// The tenant of a request (see `DistributorConfig::multitenancy_enabled`).
    fn tenant(&self, headers: &HeaderMap) -> Result<TenantId, PushError> {
        match headers.get(TENANT_HEADER) {
            Some(v) => {
                let s = v.to_str().map_err(|_| {
                    PushError::InvalidTenant(strata_common::Error::InvalidTenant(
                        String::from_utf8_lossy(v.as_bytes()).into(),
                    ))
                })?;
                TenantId::new(s).map_err(PushError::InvalidTenant)
            }
            None if self.config.multitenancy_enabled => Err(PushError::MissingTenant),
            None => Ok(TenantId::default_tenant()),
        }
    }

    /// Reads the body, refusing more than `max_request_bytes` (by
    /// `Content-Length` up front, and while streaming).
    async fn read_body(&self, headers: &HeaderMap, body: Body) -> Result<Bytes, PushError> {
        let limit = self.config.max_request_bytes;
        let declared =
            headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(PushError::BodyTooLarge { limit });
        }
        let mut stream = body.into_data_stream();
        let mut chunks: Vec<Bytes> = Vec::new();
        let mut total = 0usize;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(PushError::BodyRead)?;
            total += chunk.len();
            if total > limit {
                return Err(PushError::BodyTooLarge { limit });
            }
            chunks.push(chunk);
        }
        Ok(match chunks.len() {
            0 => Bytes::new(),
            1 => chunks.pop().unwrap_or_default(),
            _ => {
                let mut all = Vec::with_capacity(total);
                for c in &chunks {
                    all.extend_from_slice(c);
                }
                Bytes::from(all)
            }
        })
    }

    /// Decompresses the snappy block format, checking the decompressed
    /// length in the snappy header before allocating.
    pub(crate) fn decompress(&self, body: &[u8]) -> Result<Vec<u8>, PushError> {
        let size = snap::raw::decompress_len(body).map_err(PushError::Snappy)?;
        let limit = self.config.max_decompressed_bytes;
        if size > limit {
            return Err(PushError::DecompressedTooLarge { size, limit });
        }
        let mut raw = vec![0u8; size];
        let n = snap::raw::Decoder::new().decompress(body, &mut raw).map_err(PushError::Snappy)?;
        raw.truncate(n);
        Ok(raw)
    }
}

/// Accepts `application/x-protobuf` with `proto=prometheus.WriteRequest`
/// or without a `proto` parameter (remote write 1.0; a missing header
/// counts as that, as in Prometheus's own receiver), or with
/// `proto=io.prometheus.write.v2.Request` (2.0). Anything else is 415.
pub(crate) fn check_content_type(headers: &HeaderMap) -> Result<Protocol, PushError> {
    let Some(v) = headers.get(header::CONTENT_TYPE) else { return Ok(Protocol::V1) };
    let raw = String::from_utf8_lossy(v.as_bytes());
    let mut parts = raw.split(';').map(str::trim);
    let media = parts.next().unwrap_or_default();
    if !media.eq_ignore_ascii_case("application/x-protobuf") {
        return Err(PushError::UnsupportedContentType(raw.into_owned()));
    }
    let mut protocol = Protocol::V1;
    for param in parts {
        if let Some((k, v)) = param.split_once('=')
            && k.trim().eq_ignore_ascii_case("proto")
        {
            protocol = match v.trim().trim_matches('"') {
                PROTO_V1 => Protocol::V1,
                PROTO_V2 => Protocol::V2,
                _ => return Err(PushError::UnsupportedContentType(raw.into_owned())),
            };
        }
    }
    Ok(protocol)
}

/// Accepts `snappy` or no `Content-Encoding` (Prometheus always compresses).
fn check_content_encoding(headers: &HeaderMap) -> Result<(), PushError> {
    match headers.get(header::CONTENT_ENCODING) {
        None => Ok(()),
        Some(v) if v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"snappy") => Ok(()),
        Some(v) => Err(PushError::UnsupportedContentEncoding(String::from_utf8_lossy(v.as_bytes()).into_owned())),
    }
}
