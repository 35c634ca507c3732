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

    /// Waits for `/ready` (log replay finished). On failure the panic says
    /// what `/ready` last answered, whether the process exited, and (if `gdb`
    /// is installed) where its threads were, so a CI log shows why.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            match client.get(format!("{}/ready", self.base)).send() {
                Ok(r) if r.status().is_success() => return,
                Ok(r) => last = format!("{}: {}", r.status(), r.text().unwrap_or_default()),
                Err(e) => last = format!("{e}"),
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("strata exited with {status} before it was ready; /ready last said: {last}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let stacks = self.child.as_ref().map(|c| thread_stacks(c.id())).unwrap_or_default();
        panic!("strata did not become ready within 60 s; /ready last said: {last}\n{stacks}");
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

/// Every thread's backtrace of process `pid`, by `gdb` if it is installed
/// (a diagnostic for a process that hangs; empty otherwise).
fn thread_stacks(pid: u32) -> String {
    Command::new("gdb")
        .args(["-p", &pid.to_string(), "-batch", "-nx", "-ex", "thread apply all bt 30"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}
