//! Grafana's Prometheus data source, replayed: the calls it makes for its
//! health check, the metric browser, variable queries and the query
//! inspector go to Strata and to a real Prometheus (Debian's 2.42) holding
//! the same data, and the status codes and JSON shapes must agree; where
//! the data decides the answer (label names, values, series), the answers
//! must be equal.
//!
//! Two calls need Prometheus 3 and are checked against what it documents
//! instead: 2.42 ignores `limit` on the metadata endpoints (Strata honours
//! it with the truncation warning) and has no `/api/v1/format_query`.

use std::io::Read;

use serde_json::Value;

use super::reference::{POINTS, STEP_MS, start_both_with_the_dataset};

/// The structure of a JSON value: objects keep their keys, arrays the
/// distinct shapes of their elements, leaves only their type.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => {
            let mut distinct: Vec<Value> = Vec::new();
            for s in a.iter().map(shape) {
                if !distinct.contains(&s) {
                    distinct.push(s);
                }
            }
            Value::Array(distinct)
        }
        Value::String(_) => "string".into(),
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "bool".into(),
        Value::Null => Value::Null,
    }
}

/// A call: method, path, parameters, and whether the two answers must be
/// equal (not just alike).
type Call<'a> = (&'a str, &'a str, Vec<(&'a str, String)>, bool);

/// One call as Grafana makes it: GET with query parameters, or POST with a
/// form body. Returns (status, JSON body).
fn call(base: &str, method: &str, path: &str, params: &[(&str, String)]) -> (u16, Value) {
    let client = reqwest::blocking::Client::new();
    let url = format!("{base}{path}");
    let req = match method {
        "GET" => client.get(&url).query(params),
        _ => client.post(&url).form(params),
    };
    let r = req.header("User-Agent", "Grafana/11.0.0").send().unwrap();
    let status = r.status().as_u16();
    let body = r.json::<Value>().unwrap_or(Value::Null);
    (status, body)
}

#[test]
fn grafana_call_sequence_matches_prometheus() {
    let (t0, prom, _dir, strata) = start_both_with_the_dataset();

    let secs = |ms: i64| format!("{}", ms / 1000);
    let (start, end) = (secs(t0), secs(t0 + POINTS * STEP_MS));
    let range = |extra: &[(&'static str, &str)]| {
        let mut p: Vec<(&str, String)> = vec![("start", start.clone()), ("end", end.clone())];
        p.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        p
    };
    let calls: Vec<Call> = vec![
        // The data source's "Save & test".
        ("GET", "/api/v1/query", vec![("query", "1+1".into()), ("time", "4".into())], true),
        ("POST", "/api/v1/query", vec![("query", "1+1".into()), ("time", "4".into())], true),
        // Feature detection.
        ("GET", "/api/v1/status/buildinfo", vec![], false),
        // The metric browser and variable queries: POST first, GET as the fallback.
        ("POST", "/api/v1/labels", range(&[]), true),
        ("GET", "/api/v1/labels", range(&[]), true),
        ("GET", "/api/v1/labels", range(&[("match[]", "temperature")]), true),
        ("GET", "/api/v1/label/__name__/values", range(&[]), true),
        ("GET", "/api/v1/label/instance/values", range(&[("match[]", "http_requests_total{job=\"api\"}")]), true),
        ("POST", "/api/v1/series", range(&[("match[]", "temperature")]), true),
        ("GET", "/api/v1/series", range(&[("match[]", "{__name__=~\"temp.*\"}")]), true),
        // Panels and the query inspector.
        (
            "POST",
            "/api/v1/query_range",
            range(&[("query", "sum by (job) (rate(http_requests_total[5m]))"), ("step", "60")]),
            false,
        ),
        ("POST", "/api/v1/query", vec![("query", "up{".into()), ("time", end.clone())], false),
        ("GET", "/api/v1/label/__name__/values", vec![("match[]", "{".into())], false),
    ];
    for (method, path, params, equal) in &calls {
        let what = format!("{method} {path} {params:?}");
        let (s_status, s_body) = call(&strata.base, method, path, params);
        let (p_status, p_body) = call(&prom.base, method, path, params);
        assert_eq!(s_status, p_status, "{what}: status: strata {s_body} prometheus {p_body}");
        if *equal {
            assert_eq!(s_body, p_body, "{what}");
        } else if s_status == 200 {
            assert_eq!(shape(&s_body), shape(&p_body), "{what}: shapes differ: strata {s_body} prometheus {p_body}");
        } else {
            // Errors: the same envelope and error type; messages may be worded differently.
            assert_eq!(s_body["status"], "error", "{what}: {s_body}");
            assert_eq!(s_body["errorType"], p_body["errorType"], "{what}: strata {s_body} prometheus {p_body}");
        }
    }

    // `limit` (Prometheus 3): the first N of the full answer, and a warning.
    let (_, names) = call(&prom.base, "GET", "/api/v1/label/__name__/values", &range(&[]));
    let names = names["data"].as_array().unwrap().clone();
    assert!(names.len() > 2, "{names:?}");
    let (status, limited) = call(&strata.base, "GET", "/api/v1/label/__name__/values", &range(&[("limit", "2")]));
    assert_eq!(status, 200);
    assert_eq!(limited["data"].as_array().unwrap()[..], names[..2]);
    assert_eq!(limited["warnings"], serde_json::json!(["results truncated due to limit"]));
    let (_, series) =
        call(&strata.base, "GET", "/api/v1/series", &range(&[("match[]", "temperature"), ("limit", "1")]));
    assert_eq!(series["data"].as_array().unwrap().len(), 1, "{series}");

    // format_query (Prometheus 2.44+), as the query inspector's "Format query" uses it.
    let (status, formatted) =
        call(&strata.base, "GET", "/api/v1/format_query", &[("query", "sum(rate(x[5m]))by(job)".into())]);
    assert_eq!(status, 200, "{formatted}");
    assert_eq!(formatted["data"], "sum by (job) (rate(x[5m]))");

    // Compression with a real client's negotiation: gzip when offered, same JSON once unzipped.
    let answer = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/label/__name__/values", strata.base))
        .query(&range(&[]))
        .header("Accept-Encoding", "gzip")
        .send()
        .unwrap();
    assert_eq!(answer.headers()["content-encoding"], "gzip");
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(answer.bytes().unwrap().as_ref()).read_to_string(&mut unzipped).unwrap();
    let unzipped: Value = serde_json::from_str(&unzipped).unwrap();
    assert_eq!(unzipped["data"], Value::Array(names));
}
