//! What today's Prometheus sends, end to end through the real binary:
//! remote write 2.0 (hand-built from the official message, as the
//! installed Prometheus 2.42 cannot send 2.0), UTF-8 metric and label
//! names queried with Prometheus 3's quoted syntax, partial writes,
//! metadata and exemplars; and a real Prometheus 2.42 remote-writing its
//! scrapes of an OpenMetrics target with exemplars (metadata and exemplars
//! over remote write 1.0).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use prost::Message;
use serde_json::{Value, json};
use strata_distributor::proto::v2::{Exemplar, Histogram, Metadata, Request, Sample, TimeSeries};

use super::harness::{Strata, free_port, snappy};

const V2: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

/// Interns strings as a sender does (`symbols[0]` = "").
#[derive(Default)]
struct Symbols(Vec<String>);

impl Symbols {
    fn r(&mut self, s: &str) -> u32 {
        if self.0.is_empty() {
            self.0.push(String::new());
        }
        match self.0.iter().position(|x| x == s) {
            Some(i) => i as u32,
            None => {
                self.0.push(s.to_string());
                (self.0.len() - 1) as u32
            }
        }
    }

    fn labels(&mut self, pairs: &[(&str, &str)]) -> Vec<u32> {
        let mut pairs = pairs.to_vec();
        pairs.sort();
        pairs.iter().flat_map(|(n, v)| [self.r(n), self.r(v)]).collect()
    }
}

fn push_v2(s: &Strata, req: &Request) -> (u16, [String; 3], String) {
    let r = s.push_raw(
        &snappy(&req.encode_to_vec()),
        &[("Content-Type", V2), ("X-Prometheus-Remote-Write-Version", "2.0.0")],
    );
    let h = |n: &str| r.headers().get(n).map_or("-".into(), |v| v.to_str().unwrap().to_string());
    let written = [
        h("X-Prometheus-Remote-Write-Samples-Written"),
        h("X-Prometheus-Remote-Write-Histograms-Written"),
        h("X-Prometheus-Remote-Write-Exemplars-Written"),
    ];
    (r.status().as_u16(), written, r.text().unwrap())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn remote_write_2_with_utf8_names_partial_writes_metadata_and_exemplars() {
    let dir = tempfile::tempdir().unwrap();
    let s = Strata::start(dir.path(), &[]);
    let t0 = now_ms() - 60_000;
    let mut sym = Symbols::default();
    let duration = |sym: &mut Symbols, service: &str, v: f64| TimeSeries {
        labels_refs: sym.labels(&[("__name__", "http.server.duration"), ("service.name", service)]),
        samples: vec![Sample { value: v, timestamp: t0 }, Sample { value: v + 1.0, timestamp: t0 + 15_000 }],
        metadata: Some(Metadata { r#type: 1, help_ref: sym.r("Time spent serving."), unit_ref: sym.r("seconds") }),
        created_timestamp: t0 - 1_000,
        ..Default::default()
    };
    let mut api = duration(&mut sym, "api", 10.0);
    api.exemplars =
        vec![Exemplar { labels_refs: sym.labels(&[("trace_id", "4bf92f3577b34da6")]), value: 0.25, timestamp: t0 + 1 }];
    let web = duration(&mut sym, "web", 20.0);
    let req = Request { symbols: sym.0, timeseries: vec![api, web] };
    let (status, written, body) = push_v2(&s, &req);
    assert_eq!(status, 204, "{body}");
    assert_eq!(written, ["4", "0", "1"]);

    // Queried with Prometheus 3's quoted names, returned unchanged.
    let at = (t0 + 20_000) as f64 / 1000.0;
    let data = s.query(r#"{"http.server.duration", "service.name"="api"}"#, at);
    assert_eq!(data["result"][0]["metric"], json!({"__name__": "http.server.duration", "service.name": "api"}));
    assert_eq!(data["result"][0]["value"][1], "11");
    let data = s.query(r#"sum by ("service.name") ({"http.server.duration"})"#, at);
    let mut got: Vec<(String, String)> = data["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["metric"]["service.name"].as_str().unwrap().into(), r["value"][1].as_str().unwrap().into()))
        .collect();
    got.sort();
    assert_eq!(got, [("api".into(), "11".into()), ("web".into(), "21".into())]);
    let (status, body) = s.get("/api/v1/series", &[("match[]", r#"{"http.server.duration"}"#)]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert_eq!(body["data"][0]["service.name"], "api");
    let (_, body) = s.get("/api/v1/labels", &[]);
    assert!(body["data"].as_array().unwrap().contains(&json!("service.name")), "{body}");
    let (_, body) = s.get("/api/v1/label/__name__/values", &[]);
    assert_eq!(body["data"], json!(["http.server.duration"]));
    let (_, body) = s.get("/api/v1/label/service.name/values", &[]);
    assert_eq!(body["data"], json!(["api", "web"]));
    // Prometheus's value escaping in the path, for legacy clients.
    let (_, body) = s.get("/api/v1/label/U__service_2e_name/values", &[]);
    assert_eq!(body["data"], json!(["api", "web"]));

    // Metadata in Prometheus's shape, with its filters.
    let (status, body) = s.get("/api/v1/metadata", &[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!({"http.server.duration": [{"type": "counter", "help": "Time spent serving.", "unit": "seconds"}]})
    );
    let (_, body) = s.get("/api/v1/metadata", &[("metric", "nope")]);
    assert_eq!(body["data"], json!({}));
    let (status, body) = s.get("/api/v1/metadata", &[("limit", "x")]);
    assert_eq!((status, body["errorType"].as_str()), (400, Some("bad_data")), "{body}");

    // Exemplars of the series the query selects.
    let (status, body) = s.get(
        "/api/v1/query_exemplars",
        &[
            ("query", r#"rate({"http.server.duration"}[5m])"#),
            ("start", &((t0 - 1000) as f64 / 1000.0).to_string()),
            ("end", &((t0 + 60_000) as f64 / 1000.0).to_string()),
        ],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0]["seriesLabels"], json!({"__name__": "http.server.duration", "service.name": "api"}));
    assert_eq!(body["data"][0]["exemplars"][0]["labels"], json!({"trace_id": "4bf92f3577b34da6"}));
    assert_eq!(body["data"][0]["exemplars"][0]["value"], "0.25");
    let (status, body) = s.get("/api/v1/query_exemplars", &[("query", "sum(")]);
    assert_eq!((status, body["errorType"].as_str()), (400, Some("bad_data")), "{body}");

    // A batch with a native histogram and a float: both are written, and
    // the headers say so.
    let mut sym = Symbols::default();
    let floats = TimeSeries {
        labels_refs: sym.labels(&[("__name__", "queue.depth")]),
        samples: vec![Sample { value: 3.0, timestamp: t0 }],
        ..Default::default()
    };
    let hist = TimeSeries {
        labels_refs: sym.labels(&[("__name__", "latency")]),
        histograms: vec![Histogram {
            count_int: Some(1),
            sum: 0.5,
            schema: 3,
            timestamp: t0,
            positive_spans: vec![strata_distributor::proto::v2::BucketSpan { offset: 0, length: 1 }],
            positive_deltas: vec![1],
            ..Default::default()
        }],
        ..Default::default()
    };
    let (status, written, body) = push_v2(&s, &Request { symbols: sym.0, timeseries: vec![floats, hist] });
    assert_eq!(status, 204, "{body}");
    assert_eq!(written, ["1", "1", "0"]);
    assert_eq!(s.query(r#"{"queue.depth"}"#, at)["result"][0]["value"][1], "3");

    // An unknown message: 415 naming the accepted ones.
    let r = s.push_raw(&snappy(b""), &[("Content-Type", "application/x-protobuf;proto=foo.Bar")]);
    assert_eq!(r.status().as_u16(), 415);
    assert!(r.text().unwrap().contains("io.prometheus.write.v2.Request"));
}

/// Serves one OpenMetrics exposition with an exemplar on every request.
fn openmetrics_target() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let body = "# TYPE shop_orders counter\n# HELP shop_orders Orders placed.\n\
                        shop_orders_total{shop=\"north\"} 42 # {trace_id=\"0af7651916cd43dd\"} 3.5\n# EOF\n";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

/// A real Prometheus (2.42, `--enable-feature=exemplar-storage`,
/// `send_exemplars: true`) scrapes an OpenMetrics target with exemplars and
/// remote-writes to Strata: the samples, the metadata it sends by default
/// and the exemplars all arrive and are served in Prometheus's shapes.
#[test]
fn a_real_prometheus_sends_metadata_and_exemplars() {
    let dir = tempfile::tempdir().unwrap();
    let s = Strata::start(&dir.path().join("strata"), &[]);
    let target = openmetrics_target();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: shop\n    static_configs:\n      \
             - targets: ['{target}']\nremote_write:\n  - url: {}/api/v1/write\n    send_exemplars: true\n    \
             metadata_config:\n      send_interval: 1s\n    queue_config:\n      batch_send_deadline: 1s\n",
            s.base
        ),
    )
    .unwrap();
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("prom").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        .arg("--enable-feature=exemplar-storage")
        .arg("--log.level=error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("prometheus must be installed (apt-get install prometheus; .ci/run does it)");
    let deadline = Instant::now() + Duration::from_secs(90);
    let (mut metadata, mut exemplars) = (Value::Null, Value::Null);
    while Instant::now() < deadline {
        metadata = s.get("/api/v1/metadata", &[("metric", "shop_orders")]).1["data"].clone();
        exemplars = s.get("/api/v1/query_exemplars", &[("query", "shop_orders_total")]).1["data"].clone();
        if metadata.as_object().is_some_and(|m| !m.is_empty()) && exemplars.as_array().is_some_and(|e| !e.is_empty()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    assert_eq!(metadata, json!({"shop_orders": [{"type": "counter", "help": "Orders placed.", "unit": ""}]}));
    assert_eq!(exemplars[0]["seriesLabels"]["__name__"], "shop_orders_total", "{exemplars}");
    assert_eq!(exemplars[0]["seriesLabels"]["shop"], "north");
    assert_eq!(exemplars[0]["exemplars"][0]["labels"], json!({"trace_id": "0af7651916cd43dd"}));
    assert_eq!(exemplars[0]["exemplars"][0]["value"], "3.5");
    let data = s.query("shop_orders_total", now_ms() as f64 / 1000.0);
    assert_eq!(data["result"][0]["value"][1], "42");
}
