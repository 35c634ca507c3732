//! The systems under test, each started as real processes on loopback in its
//! own temporary data directory: Strata all-in-one (the binary given),
//! Strata as a cluster over Kafka (a tansu broker, one distributor, one
//! ingester, one querier), Prometheus with its remote-write receiver, and
//! single-node VictoriaMetrics.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use strata_log::kafka::TestBroker;

/// Which system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Strata,
    StrataKafka,
    Prometheus,
    VictoriaMetrics,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Strata => "strata",
            Kind::StrataKafka => "strata-kafka",
            Kind::Prometheus => "prometheus",
            Kind::VictoriaMetrics => "victoriametrics",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "strata" => Kind::Strata,
            "strata-kafka" => Kind::StrataKafka,
            "prometheus" => Kind::Prometheus,
            "victoriametrics" | "vm" => Kind::VictoriaMetrics,
            other => bail!("unknown system {other:?} (strata, strata-kafka, prometheus, victoriametrics)"),
        })
    }
}

/// One process of a system, restartable with the same command line.
struct Proc {
    program: PathBuf,
    args: Vec<String>,
    /// Where `/ready` (or the system's equivalent) answers.
    base: String,
    child: Child,
}

impl Proc {
    fn spawn(program: &Path, args: Vec<String>, base: String, kind: Kind) -> Result<Self> {
        let child = Command::new(program)
            .args(&args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {} (is it installed?)", kind.name()))?;
        Ok(Self { program: program.to_path_buf(), args, base, child })
    }
}

/// A running system; killed on drop.
pub struct System {
    pub kind: Kind,
    /// Where queries go.
    pub base: String,
    /// Where pushes go.
    write_base: String,
    /// The processes; the first one ingests (restarted by [`System::replay`]).
    procs: Vec<Proc>,
    _broker: Option<TestBroker>,
    _dir: tempfile::TempDir,
    data: PathBuf,
    /// `X-Read-Consistency` sent with Strata's benchmark queries (None: the
    /// server's default).
    pub read_consistency: Option<String>,
}

/// `getconf CLK_TCK` (100 on Linux unless told otherwise).
fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|&t| t > 0.0)
        .unwrap_or(100.0)
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl System {
    pub fn start(kind: Kind, strata_bin: &Path) -> Result<Self> {
        Self::start_with(kind, strata_bin, "")
    }

    /// Like [`System::start`], with `strata_toml` (if not empty) as the
    /// all-in-one Strata's config file.
    pub fn start_with(kind: Kind, strata_bin: &Path, strata_toml: &str) -> Result<Self> {
        Self::start_full(kind, strata_bin, strata_toml, &[])
    }

    /// Like [`System::start_with`], with `prometheus_flags` added to
    /// Prometheus's command line (e.g. `--enable-feature=native-histograms`;
    /// ignored by the other kinds).
    pub fn start_full(kind: Kind, strata_bin: &Path, strata_toml: &str, prometheus_flags: &[&str]) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let listen = format!("127.0.0.1:{}", free_port()?);
        let base = format!("http://{listen}");
        let strata = |role: Option<&str>, listen: &str, config: Option<&Path>| {
            let mut args: Vec<String> = role.map(str::to_string).into_iter().collect();
            args.extend(["--listen".to_string(), listen.to_string(), "--data-dir".to_string()]);
            args.push(data.display().to_string());
            if let Some(c) = config {
                args.extend(["--config".to_string(), c.display().to_string()]);
            }
            args
        };
        let mut broker = None;
        let (procs, write_base) = match kind {
            Kind::Strata => {
                let config = dir.path().join("strata.toml");
                let config = if strata_toml.is_empty() {
                    None
                } else {
                    std::fs::write(&config, strata_toml)?;
                    Some(config.as_path())
                };
                (vec![Proc::spawn(strata_bin, strata(None, &listen, config), base.clone(), kind)?], base.clone())
            }
            Kind::StrataKafka => {
                let b = TestBroker::start();
                let ingester_listen = format!("127.0.0.1:{}", free_port()?);
                let push_listen = format!("127.0.0.1:{}", free_port()?);
                let config = dir.path().join("cluster.toml");
                // One partition per core, as the all-in-one default.
                std::fs::write(
                    &config,
                    format!(
                        "[kafka]\nbrokers = {:?}\ntopic = \"bench\"\npartitions = 2\n\n\
                         [cluster]\ningesters = [\"http://{ingester_listen}\"]\n",
                        b.bootstrap()
                    ),
                )?;
                broker = Some(b);
                let ingester = Proc::spawn(
                    strata_bin,
                    strata(Some("ingester"), &ingester_listen, Some(&config)),
                    format!("http://{ingester_listen}"),
                    kind,
                )?;
                let push = Proc::spawn(
                    strata_bin,
                    strata(Some("distributor"), &push_listen, Some(&config)),
                    format!("http://{push_listen}"),
                    kind,
                )?;
                let querier =
                    Proc::spawn(strata_bin, strata(Some("querier"), &listen, Some(&config)), base.clone(), kind)?;
                (vec![ingester, push, querier], format!("http://{push_listen}"))
            }
            Kind::Prometheus => {
                let config = dir.path().join("prometheus.yml");
                std::fs::write(&config, "global:\n  scrape_interval: 1h\n")?;
                let mut args = vec![
                    format!("--config.file={}", config.display()),
                    format!("--storage.tsdb.path={}", data.display()),
                    format!("--web.listen-address={listen}"),
                    "--web.enable-remote-write-receiver".to_string(),
                    "--log.level=warn".to_string(),
                ];
                args.extend(prometheus_flags.iter().map(|f| f.to_string()));
                (vec![Proc::spawn(Path::new("prometheus"), args, base.clone(), kind)?], base.clone())
            }
            Kind::VictoriaMetrics => {
                let args = vec![
                    format!("-storageDataPath={}", data.display()),
                    format!("-httpListenAddr={listen}"),
                    "-search.latencyOffset=0s".to_string(),
                    "-search.disableCache".to_string(),
                    "-loggerLevel=ERROR".to_string(),
                ];
                (vec![Proc::spawn(Path::new("victoria-metrics"), args, base.clone(), kind)?], base.clone())
            }
        };
        let sys = System { kind, base, write_base, procs, _broker: broker, _dir: dir, data, read_consistency: None };
        for p in &sys.procs {
            sys.wait_ready(&p.base)?;
        }
        Ok(sys)
    }

    /// SIGKILLs the ingesting process and starts it again; returns how long
    /// it took to become ready (replaying everything not yet flushed).
    pub fn replay(&mut self) -> Result<Duration> {
        let p = &mut self.procs[0];
        let _ = p.child.kill();
        p.child.wait()?;
        let started = Instant::now();
        let restarted = Proc::spawn(&p.program, p.args.clone(), p.base.clone(), self.kind)?;
        *p = restarted;
        let base = p.base.clone();
        self.wait_ready(&base)?;
        Ok(started.elapsed())
    }

    fn wait_ready(&self, base: &str) -> Result<()> {
        let path = match self.kind {
            Kind::Strata | Kind::StrataKafka => "/ready",
            Kind::Prometheus => "/-/ready",
            Kind::VictoriaMetrics => "/health",
        };
        let client = reqwest::blocking::Client::new();
        let deadline = Instant::now() + Duration::from_secs(600);
        while Instant::now() < deadline {
            if let Ok(r) = client.get(format!("{base}{path}")).send()
                && r.status().is_success()
            {
                return Ok(());
            }
            // Polled often: the replay it times takes about a second.
            std::thread::sleep(Duration::from_millis(10));
        }
        bail!("{} did not become ready in 600 s", self.kind.name())
    }

    /// The data directory (of the ingesting process).
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// A GET of `path` on the query API, with the benchmark's read
    /// consistency for Strata.
    pub fn query(&self, client: &reqwest::blocking::Client, path: &str) -> reqwest::blocking::RequestBuilder {
        let req = client.get(format!("{}{path}", self.base));
        match (&self.read_consistency, self.kind) {
            (Some(c), Kind::Strata | Kind::StrataKafka) => req.header("X-Read-Consistency", c),
            _ => req,
        }
    }

    /// The remote-write URL.
    pub fn write_url(&self) -> String {
        match self.kind {
            Kind::Strata | Kind::StrataKafka => format!("{}/api/v1/push", self.write_base),
            Kind::Prometheus | Kind::VictoriaMetrics => format!("{}/api/v1/write", self.write_base),
        }
    }

    /// Makes everything ingested so far visible to queries. Strata: one
    /// strong-consistency query, which waits until the ingesters consumed
    /// everything acknowledged (so push + settle = push → queryable).
    pub fn settle(&self) -> Result<()> {
        match self.kind {
            Kind::VictoriaMetrics => {
                reqwest::blocking::get(format!("{}/internal/force_flush", self.base))?;
            }
            Kind::Strata | Kind::StrataKafka => {
                let r = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(600))
                    .build()?
                    .get(format!("{}/api/v1/query", self.base))
                    .query(&[("query", "vector(1)")])
                    .header("X-Read-Consistency", "strong")
                    .send()?;
                if !r.status().is_success() {
                    bail!("{}: settling query failed: {}", self.kind.name(), r.text().unwrap_or_default());
                }
            }
            Kind::Prometheus => {}
        }
        Ok(())
    }

    /// SIGTERM to every process, and waits for each to exit (Strata flushes
    /// its memtables; VictoriaMetrics flushes and closes its storage).
    pub fn stop_gracefully(&mut self) -> Result<()> {
        for p in &mut self.procs {
            // SAFETY: kill(2) on the pid of a child this process started and has not reaped.
            unsafe { libc::kill(p.child.id() as libc::pid_t, libc::SIGTERM) };
            let status = p.child.wait()?;
            if !status.success() {
                eprintln!("{} exited with {status} after SIGTERM", self.kind.name());
            }
        }
        Ok(())
    }

    /// Starts the stopped processes again with the same command lines.
    pub fn start_again(&mut self) -> Result<()> {
        for p in &mut self.procs {
            *p = Proc::spawn(&p.program, p.args.clone(), p.base.clone(), self.kind)?;
        }
        for p in &self.procs {
            self.wait_ready(&p.base)?;
        }
        Ok(())
    }

    /// Peak resident memory (`VmHWM`) of the ingesting process, in bytes.
    pub fn peak_rss_bytes(&self) -> Result<u64> {
        proc_status_kb(self.procs[0].child.id(), "VmHWM:").map(|kb| kb * 1024)
    }

    /// The PID of the process answering queries (the last one started).
    pub fn pid(&self) -> u32 {
        self.procs.last().map_or(0, |p| p.child.id())
    }

    /// Resident memory of the system's processes (not the broker), in bytes.
    pub fn rss_bytes(&self) -> Result<u64> {
        let mut total = 0;
        for p in &self.procs {
            let status = std::fs::read_to_string(format!("/proc/{}/status", p.child.id()))?;
            let kb = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .context("VmRSS missing")?;
            total += kb * 1024;
        }
        Ok(total)
    }

    /// CPU time (user + system) the system's processes (not the broker)
    /// have used so far, in seconds, from `/proc/<pid>/stat`.
    pub fn cpu_seconds(&self) -> Result<f64> {
        let ticks_per_s = clock_ticks_per_second();
        let mut ticks = 0u64;
        for p in &self.procs {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", p.child.id()))?;
            // Fields after the command name (which may hold spaces) start at
            // field 3 (state); utime and stime are fields 14 and 15.
            let rest = stat.rsplit_once(')').context("malformed /proc/<pid>/stat")?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            for i in [11, 12] {
                ticks += fields.get(i).context("short /proc/<pid>/stat")?.parse::<u64>()?;
            }
        }
        Ok(ticks as f64 / ticks_per_s)
    }

    /// Bytes under the data directory.
    pub fn disk_bytes(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            std::fs::read_dir(p)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| match e.metadata() {
                            Ok(m) if m.is_dir() => walk(&e.path()),
                            Ok(m) => m.len(),
                            Err(_) => 0,
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        walk(&self.data)
    }
}

/// A `kB` field of `/proc/<pid>/status`.
fn proc_status_kb(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .with_context(|| format!("{field} missing in /proc/{pid}/status"))
}

impl Drop for System {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}
