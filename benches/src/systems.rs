//! The systems under test, each started as a real process on loopback in its
//! own temporary data directory: Strata (the binary given), Prometheus with
//! its remote-write receiver, and single-node VictoriaMetrics.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Which system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Strata,
    Prometheus,
    VictoriaMetrics,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Strata => "strata",
            Kind::Prometheus => "prometheus",
            Kind::VictoriaMetrics => "victoriametrics",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "strata" => Kind::Strata,
            "prometheus" => Kind::Prometheus,
            "victoriametrics" | "vm" => Kind::VictoriaMetrics,
            other => bail!("unknown system {other:?} (strata, prometheus, victoriametrics)"),
        })
    }
}

/// A running system; killed on drop.
pub struct System {
    pub kind: Kind,
    pub base: String,
    child: Child,
    _dir: tempfile::TempDir,
    data: PathBuf,
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl System {
    pub fn start(kind: Kind, strata_bin: &Path) -> Result<Self> {
        Self::start_with(kind, strata_bin, "")
    }

    /// Like [`System::start`], with `strata_toml` as Strata's config file.
    pub fn start_with(kind: Kind, strata_bin: &Path, strata_toml: &str) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = match kind {
            Kind::Strata => {
                let mut c = Command::new(strata_bin);
                c.args(["--listen", &listen, "--data-dir"]).arg(&data);
                if !strata_toml.is_empty() {
                    let config = dir.path().join("strata.toml");
                    std::fs::write(&config, strata_toml)?;
                    c.arg("--config").arg(config);
                }
                c.env("RUST_LOG", "warn");
                c
            }
            Kind::Prometheus => {
                let config = dir.path().join("prometheus.yml");
                std::fs::write(&config, "global:\n  scrape_interval: 1h\n")?;
                let mut c = Command::new("prometheus");
                c.arg(format!("--config.file={}", config.display()))
                    .arg(format!("--storage.tsdb.path={}", data.display()))
                    .arg(format!("--web.listen-address={listen}"))
                    .arg("--web.enable-remote-write-receiver")
                    .arg("--log.level=warn");
                c
            }
            Kind::VictoriaMetrics => {
                let mut c = Command::new("victoria-metrics");
                c.arg(format!("-storageDataPath={}", data.display()))
                    .arg(format!("-httpListenAddr={listen}"))
                    .arg("-search.latencyOffset=0s")
                    .arg("-search.disableCache")
                    .arg("-loggerLevel=ERROR");
                c
            }
        };
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {} (is it installed?)", kind.name()))?;
        let sys = System { kind, base: format!("http://{listen}"), child, _dir: dir, data };
        sys.wait_ready()?;
        Ok(sys)
    }

    fn wait_ready(&self) -> Result<()> {
        let path = match self.kind {
            Kind::Strata => "/ready",
            Kind::Prometheus => "/-/ready",
            Kind::VictoriaMetrics => "/health",
        };
        let client = reqwest::blocking::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = client.get(format!("{}{path}", self.base)).send()
                && r.status().is_success()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("{} did not become ready in 60 s", self.kind.name())
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The remote-write URL.
    pub fn write_url(&self) -> String {
        match self.kind {
            Kind::Strata => format!("{}/api/v1/push", self.base),
            Kind::Prometheus | Kind::VictoriaMetrics => format!("{}/api/v1/write", self.base),
        }
    }

    /// Makes everything ingested so far visible to queries.
    pub fn settle(&self) -> Result<()> {
        if self.kind == Kind::VictoriaMetrics {
            reqwest::blocking::get(format!("{}/internal/force_flush", self.base))?;
        }
        Ok(())
    }

    /// Resident memory of the process, in bytes.
    pub fn rss_bytes(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .context("VmRSS missing")?;
        Ok(kb * 1024)
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

impl Drop for System {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
