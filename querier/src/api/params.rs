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

/// Parses a Prometheus API time: unix seconds (float, ms precision) or
/// RFC 3339. Returns milliseconds.
pub fn parse_time(s: &str) -> std::result::Result<Timestamp, String> {
    if let Ok(f) = s.parse::<f64>()
        && f.is_finite()
    {
        let secs = f.trunc();
        let ms = ((f - secs) * 1000.0).round();
        return Ok(secs as i64 * 1000 + ms as i64);
    }
    parse_rfc3339(s).ok_or_else(|| format!("cannot parse \"{s}\" to a valid timestamp"))
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` → ms since the epoch.
fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let (y, mo, d, h, mi, sec) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = &s[start..i.min(start + 3)];
        ms = format!("{frac:0<3}").parse().ok()?;
    }
    let offset_min = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let m = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if *sign == b'+' { m } else { -m }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60) * 1000) + ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
