//! Test support (this crate's tests and those of the ingester and the
//! binary): a real S3-compatible server, moto in server mode (`moto_server`
//! from PyPI `moto[server]`; `.ci/run` installs it), started on a free
//! loopback port and killed on drop. Override the binary with
//! `STRATA_TEST_MOTO_SERVER`. Panics on failure: it is only for tests.
#![allow(clippy::unwrap_used)] // test support: failing loudly is the point
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::ObjectStorageConfig;

/// A running moto server.
#[derive(Debug)]
pub struct S3Server {
    pub port: u16,
    child: Child,
}

impl S3Server {
    /// Starts a server on a free port.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts a server on `port` and waits until it accepts connections.
    pub fn start_on(port: u16) -> Self {
        // `moto_server` where it is on PATH, else `python3 -m moto.server`
        // (same program; pip may put the script outside PATH).
        let command: Vec<String> = match std::env::var("STRATA_TEST_MOTO_SERVER") {
            Ok(bin) => vec![bin],
            Err(_) if on_path("moto_server") => vec!["moto_server".into()],
            Err(_) => vec!["python3".into(), "-m".into(), "moto.server".into()],
        };
        let child = Command::new(&command[0])
            .args(&command[1..])
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?} (pip install 'moto[server]'; .ci/run does): {e}"));
        let server = Self { port, child };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{command:?} did not listen on {port} within 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// Creates `bucket` (unsigned PUT: moto accepts it).
    pub fn create_bucket(&self, bucket: &str) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200"), "create bucket: {resp}");
    }

    /// A config for `s3://<bucket>/<prefix>` on this server.
    pub fn config(&self, bucket: &str, prefix: &str) -> ObjectStorageConfig {
        config(self.port, bucket, prefix)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn on_path(bin: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn endpoint(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// A test config: small parts so multipart uploads are exercised, short
/// timeouts and few retries so an unreachable server fails fast.
pub fn config(port: u16, bucket: &str, prefix: &str) -> ObjectStorageConfig {
    ObjectStorageConfig {
        url: format!("s3://{bucket}/{prefix}"),
        endpoint: Some(endpoint(port)),
        region: Some("us-east-1".into()),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        allow_http: true,
        multipart_threshold_bytes: 5 * 1024 * 1024,
        multipart_part_bytes: 5 * 1024 * 1024,
        request_timeout_ms: 5_000,
        max_retries: 1,
        manifest_poll_interval_ms: 50,
        gc_grace_ms: 1_000,
        ..Default::default()
    }
}

/// A TCP proxy in front of a server that can be switched off, closing
/// every open connection: an S3 endpoint that becomes unreachable and
/// comes back, without losing the server's state.
#[derive(Debug)]
pub struct Proxy {
    pub port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    /// Forwards a free loopback port to `upstream` (up at start).
    pub fn start(upstream: u16) -> Self {
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, conns2) = (up.clone(), conns.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: connection closed
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { continue };
                let mut list = conns2.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(server.try_clone().unwrap());
                for (mut from, mut to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)]
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Self { port, up, conns }
    }

    /// Switches forwarding on or off (off also closes open connections).
    pub fn set_up(&self, on: bool) {
        self.up.store(on, std::sync::atomic::Ordering::SeqCst);
        if !on {
            for c in self.conns.lock().unwrap().drain(..) {
                let _ = c.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}
