//! Test support: [`TestBroker`] runs a real Kafka-protocol broker (tansu
//! 0.6, sqlite storage) for integration tests, on a free loopback port.
//!
//! Not for production use: compiled only for this crate's tests and with
//! the cargo feature `testing`. The binary is `$STRATA_TEST_TANSU_BIN`, else `tansu` on
//! `PATH`, else `~/.cargo/bin/tansu`; `.ci/run` installs it with
//! `cargo install tansu@0.6.0 --locked --features dynostore,libsql`.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};

use super::KafkaConfig;
use super::client::TracingContext;

/// How long a starting broker may take to answer metadata.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A tansu broker in a temporary directory, killed on drop (test support).
///
/// ```no_run
/// # use strata_log::kafka::TestBroker;
/// let mut broker = TestBroker::start();
/// let config = broker.config("my-topic");
/// broker.restart(); // same port, same storage
/// ```
pub struct TestBroker {
    dir: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
    child: Option<Child>,
}

impl std::fmt::Debug for TestBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestBroker").field("port", &self.port).field("dir", &self.dir.path()).finish()
    }
}

/// Finds the tansu binary (see the module docs); panics with the install hint.
fn tansu_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("STRATA_TEST_TANSU_BIN") {
        return PathBuf::from(p);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|d| d.join("tansu"))
        .find(|p| p.is_file());
    let in_cargo = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/tansu")).filter(|p| p.is_file());
    on_path.or(in_cargo).unwrap_or_else(|| {
        panic!(
            "the tansu broker is not installed (looked at $STRATA_TEST_TANSU_BIN, PATH and ~/.cargo/bin): \
             run .ci/run to install tansu (cargo install tansu@0.6.0 --locked --features dynostore,libsql)"
        )
    })
}

impl TestBroker {
    /// Starts a broker on a free port with fresh sqlite storage and waits
    /// until it answers a metadata request. Panics if it cannot.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new().prefix("strata-tansu-").tempdir().expect("create a temp dir for tansu");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("pick a free port").port();
        let mut broker = Self { dir, port, bin: tansu_bin(), child: None };
        broker.spawn();
        broker
    }

    /// `host:port` to give clients (`bootstrap.servers`).
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A [`KafkaConfig`] for this broker and `topic`, with short timeouts
    /// suited to tests (2 partitions unless changed).
    pub fn config(&self, topic: &str) -> KafkaConfig {
        KafkaConfig {
            brokers: self.bootstrap(),
            topic: topic.into(),
            partitions: 2,
            produce_timeout_ms: 3_000,
            linger_ms: 1,
            fetch_max_wait_ms: 20,
            request_timeout_ms: 5_000,
            ..KafkaConfig::default()
        }
    }

    /// Whether the broker process is running.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Kills the broker (SIGKILL, like a crash) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the broker if running and starts it again on the same port with
    /// the same storage; waits until it answers metadata.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// The broker's log so far (for assertion messages).
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.path().join("tansu.log")) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    fn spawn(&mut self) {
        let log_path = self.dir.path().join("tansu.log");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).expect("open tansu.log");
        let err_log = log.try_clone().expect("clone the tansu.log handle");
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(&self.bin)
            .arg("broker")
            .arg("--storage-engine=sqlite://tansu.db")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start {}: {e}", self.bin.display()));
        self.child = Some(child);
        self.wait_ready();
    }

    /// Waits until the port accepts connections and the broker answers metadata.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if !self.is_running() {
                panic!("tansu exited during startup; its log:\n{}", self.log());
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                panic!("tansu did not listen on {addr} within {READY_TIMEOUT:?}; its log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let client: BaseConsumer<TracingContext> = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("reconnect.backoff.max.ms", "200")
            .create_with_context(TracingContext)
            .expect("create a metadata client");
        while let Err(e) = client.fetch_metadata(None, Duration::from_secs(2)) {
            if Instant::now() > deadline {
                panic!("tansu did not answer metadata within {READY_TIMEOUT:?} ({e}); its log:\n{}", self.log());
            }
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.stop();
    }
}
