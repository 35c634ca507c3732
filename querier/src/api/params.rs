//! Request parameters parsed the way Prometheus parses them: times as unix
//! seconds (float) or RFC 3339, durations as float seconds or Prometheus
//! duration strings (`1h30m`, `15s`, `100ms`).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use strata_common::Timestamp;

use crate::error::{Error, Result};
use crate::format::parse_prom_duration;

/// Form and query-string parameters of one request, in order.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Parses `a=1&b=2` (either a query string or a form body).
    pub fn extend_from_urlencoded(&mut self, s: &str) -> Result<()> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(s).map_err(|e| Error::BadData(format!("invalid form or query string: {e}")))?;
        self.0.extend(pairs);
        Ok(())
    }

    /// The first value of `name` (Go's `FormValue`; empty counts as absent).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// Every value of `name` (e.g. `match[]`).
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// `invalid parameter "<name>": <reason>`.
pub fn invalid_param(name: &str, reason: impl std::fmt::Display) -> Error {
    Error::BadData(format!("invalid parameter \"{name}\": {reason}"))
}

/// Largest magnitude of a time parameter, in seconds (the metadata
/// endpoints' open range, `i64::MAX / 4` milliseconds); larger is an error,
/// never a wrapped value.
const MAX_TIME_SECONDS: f64 = (i64::MAX / 4 / 1000) as f64;

/// Parses a Prometheus API time: float unix seconds, or RFC 3339 (chrono's
/// parser: impossible dates such as February 31 are errors, not rolled
/// over). Returns milliseconds.
pub fn parse_time(s: &str) -> std::result::Result<Timestamp, String> {
    let invalid = || format!("cannot parse \"{s}\" to a valid timestamp");
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() || f.abs() > MAX_TIME_SECONDS {
            return Err(invalid());
        }
        let secs = f.trunc();
        let ms = ((f - secs) * 1000.0).round();
        return Ok(secs as i64 * 1000 + ms as i64);
    }
    chrono::DateTime::parse_from_rfc3339(s).map(|t| t.timestamp_millis()).map_err(|_| invalid())
}

/// Parses a Prometheus API duration: float seconds or a duration string.
/// Returns milliseconds.
pub fn parse_duration(s: &str) -> std::result::Result<i64, String> {
    if let Ok(f) = s.parse::<f64>() {
        let ms = f * 1000.0;
        if !ms.is_finite() || ms.abs() >= i64::MAX as f64 / 1e6 {
            return Err(format!("cannot parse \"{s}\" to a valid duration. It overflows int64"));
        }
        return Ok(ms.round() as i64);
    }
    parse_prom_duration(s).ok_or_else(|| format!("cannot parse \"{s}\" to a valid duration"))
}

/// Rewrites the HTTP layer's plain-text answers to a request it would not
/// read (413: a body over `querier.max_request_bytes`; 414: a URI too long)
/// into Prometheus's JSON error envelope, keeping the status. Installed on
/// the query routes with `axum::middleware::map_response`.
pub async fn json_rejection(resp: Response, max_request_bytes: u64) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let message = match status {
        _ if is_json => return resp,
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!("request body too large: the limit is {max_request_bytes} bytes (querier.max_request_bytes)")
        }
        StatusCode::URI_TOO_LONG => "request URI too long: send the parameters as a POST form".to_string(),
        _ => return resp,
    };
    let body = super::json::error_body(&Error::BadData(message));
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1700000000.123"), Ok(1_700_000_000_123));
        assert_eq!(parse_time("1700000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20.5+01:00"), Ok(1_699_996_400_500));
        assert!(parse_time("yesterday").is_err());
        // Impossible dates and out-of-range numbers are errors, not rolled over.
        assert!(parse_time("2026-02-31T00:00:00Z").is_err());
        assert!(parse_time("2026-13-01T00:00:00Z").is_err());
        assert_eq!(parse_time("2024-02-29T00:00:00Z"), Ok(1_709_164_800_000));
        assert!(parse_time("1e300").is_err());
        assert!(parse_time("NaN").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s"), Ok(15_000));
        assert_eq!(parse_duration("1m"), Ok(60_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("100ms"), Ok(100));
        assert_eq!(parse_duration("0.5"), Ok(500));
        assert!(parse_duration("1m1h").is_err());
        assert!(parse_duration("abc").is_err());
    }
}
