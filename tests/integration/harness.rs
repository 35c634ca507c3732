//! Starts the real binary on a free port with a temporary data directory,
//! and speaks remote write and the query API to it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prost::Message;
use serde_json::Value;
use strata_distributor::proto::{Label, Sample, TimeSeries, WriteRequest};

/// A running `strata` all-in-one process; SIGKILLed on drop.
pub struct Strata {
    pub base: String,
    pub data_dir: PathBuf,
    child: Option<Child>,
    extra_args: Vec<String>,
    listen: String,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Strata {
    /// Starts on a new temporary data directory (kept by the caller's `TempDir`).
    pub fn start(data_dir: &Path, extra_args: &[&str]) -> Strata {
        Self::start_at(&format!("127.0.0.1:{}", free_port()), data_dir, extra_args)
    }

    /// Starts listening on `listen` (a cluster's processes must know each
    /// other's addresses before they start); `extra_args` may name a role.
    pub fn start_at(listen: &str, data_dir: &Path, extra_args: &[&str]) -> Strata {
        let listen = listen.to_string();
        let mut s = Strata {
            base: format!("http://{listen}"),
            data_dir: data_dir.to_path_buf(),
            child: None,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            listen,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["--listen", &self.listen, "--data-dir"])
            .arg(&self.data_dir)
            .args(&self.extra_args)
            .env("RUST_LOG", std::env::var("STRATA_TEST_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn strata");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Waits for `/ready` (log replay finished).
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::blocking::Client::new();
        while Instant::now() < deadline {
            if let Ok(r) = client.get(format!("{}/ready", self.base)).send()
                && r.status().is_success()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("strata did not become ready within 60 s");
    }

    /// SIGKILL: no shutdown hooks, no flush.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL strata");
            c.wait().expect("reap strata");
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let status = c.wait().expect("wait strata");
            assert!(status.success(), "strata exited with {status}");
        }
    }

    /// SIGKILL, then start again on the same data directory and port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Starts a stopped process again on the same data directory and port.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "still running");
        self.spawn();
    }

    pub fn push(&self, req: &WriteRequest) -> reqwest::blocking::Response {
        self.push_raw(&snappy(&req.encode_to_vec()), &[])
    }

    pub fn push_raw(&self, body: &[u8], headers: &[(&str, &str)]) -> reqwest::blocking::Response {
        let mut r = reqwest::blocking::Client::new().post(format!("{}/api/v1/push", self.base));
        let defaults = [
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ];
        for (k, v) in
            defaults.iter().filter(|(k, _)| !headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(k))).chain(headers)
        {
            r = r.header(*k, *v);
        }
        r.body(body.to_vec()).send().expect("push request")
    }

    /// GET an API path with query parameters; returns (status, JSON body).
    pub fn get(&self, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let r = reqwest::blocking::Client::new()
            .get(format!("{}{path}", self.base))
            .query(params)
            .send()
            .expect("query request");
        let status = r.status().as_u16();
        (status, r.json().expect("JSON body"))
    }

    /// Instant query at `time` (seconds); asserts success and returns `data`.
    pub fn query(&self, expr: &str, time: f64) -> Value {
        let (status, body) = self.get("/api/v1/query", &[("query", expr), ("time", &time.to_string())]);
        assert_eq!(status, 200, "query {expr} failed: {body}");
        body["data"].clone()
    }
}

impl Drop for Strata {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).unwrap()
}

/// One series with samples `(t_ms, v)`.
pub fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    let mut labels: Vec<Label> =
        labels.iter().map(|(n, v)| Label { name: n.to_string(), value: v.to_string() }).collect();
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    TimeSeries {
        labels,
        samples: samples.iter().map(|&(timestamp, value)| Sample { value, timestamp }).collect(),
        ..Default::default()
    }
}

pub fn write_request(series: Vec<TimeSeries>) -> WriteRequest {
    WriteRequest { timeseries: series, ..Default::default() }
}

/// The result vector of an instant query as sorted (labels-as-string, value) pairs.
pub fn vector(data: &Value) -> Vec<(String, String)> {
    assert_eq!(data["resultType"], "vector", "not a vector: {data}");
    let mut out: Vec<(String, String)> = data["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["metric"].to_string(), s["value"][1].as_str().unwrap().to_string()))
        .collect();
    out.sort();
    out
}
