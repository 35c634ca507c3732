//! The all-in-one configuration: composes the role configs unchanged and
//! loads them with one precedence, documented once:
//!
//! defaults < TOML file (`--config`) < `STRATA_*` environment < flags.
//!
//! Environment variables name a field by its TOML path with `__` between
//! sections: `STRATA_DATA_DIR=/var/lib/strata`,
//! `STRATA_INGESTER__SHARDS=2`, `STRATA_LOG__FSYNC=never`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use strata_auth::AuthConfig;
use strata_distributor::DistributorConfig;
use strata_ingester::shard::IngesterConfig;
use strata_log::embedded::EmbeddedLogConfig;
use strata_log::kafka::KafkaConfig;
use strata_querier::QuerierConfig;
use strata_sql::SqlConfig;
use strata_storage::compaction::CompactionConfig;
use strata_storage::object::StorageConfig;

/// Default HTTP address: loopback only until auth is configured.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9009";

/// Everything `strata` can be configured with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP listen address for the push endpoint, the query API, `/metrics`,
    /// `/ready` and `/health`.
    pub listen: SocketAddr,
    /// Data directory: the embedded log (`log/`), files (`files/`) and the
    /// manifest live under it.
    pub data_dir: PathBuf,
    /// Log filter in `tracing` syntax (`info`, `strata_ingester=debug`, ...);
    /// `RUST_LOG` overrides it.
    pub log_level: String,
    /// Log lines as JSON instead of text.
    pub log_json: bool,
    /// Worker threads of the tokio runtime serving HTTP (0 = one per core).
    pub http_threads: usize,
    /// Require `X-Scope-OrgID` on pushes and queries (401 without it). In
    /// the all-in-one process, enabling it here or in either `[distributor]`
    /// or `[querier]` enables it for both, so reads and writes never disagree.
    pub multitenancy_enabled: bool,
    /// The embedded log of the all-in-one process (its `dir` defaults to
    /// `<data_dir>/log`).
    pub log: EmbeddedLogConfig,
    /// The Kafka log of the cluster roles (`distributor`, `ingester`,
    /// `querier`).
    pub kafka: KafkaConfig,
    /// How the cluster roles find each other.
    pub cluster: ClusterConfig,
    /// The push endpoint.
    pub distributor: DistributorConfig,
    /// The thread-per-core ingester.
    pub ingester: IngesterConfig,
    /// The query engine and HTTP API.
    pub querier: QuerierConfig,
    /// Where files and the manifest live beyond the data directory
    /// (`[storage.object]`: S3-compatible object storage; off by default).
    pub storage: StorageConfig,
    /// Background compaction and retention of the data directory.
    pub compaction: CompactionConfig,
    /// Authentication and tenant binding (off by default).
    pub auth: AuthConfig,
    /// TLS on the HTTP listener (off by default).
    pub tls: crate::tls::TlsConfig,
    /// SQL: the Arrow Flight SQL listener (`/api/v1/sql` is always on).
    pub sql: SqlConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            // Invariant: the constant is a valid socket address literal.
            listen: DEFAULT_LISTEN.parse().expect("valid default listen address"),
            data_dir: PathBuf::from("./data"),
            log_level: "info".to_string(),
            log_json: false,
            http_threads: 0,
            multitenancy_enabled: false,
            // 0: one partition per ingester shard for a new log, the stored
            // count for an existing one (see `resolve_log_partitions`).
            log: EmbeddedLogConfig { partitions: 0, ..EmbeddedLogConfig::default() },
            kafka: KafkaConfig::default(),
            cluster: ClusterConfig::default(),
            distributor: DistributorConfig::default(),
            ingester: IngesterConfig::default(),
            querier: QuerierConfig::default(),
            storage: StorageConfig::default(),
            compaction: CompactionConfig::default(),
            auth: AuthConfig::default(),
            tls: crate::tls::TlsConfig::default(),
            sql: SqlConfig::default(),
        }
    }
}

/// The cluster roles' topology (the `[cluster]` table).
///
/// Ingester `i` owns the log partitions `p` with `p % N == i`, `N` =
/// `ingesters.len()`, and keeps its manifest and files in
/// `<data_dir>/ingester-<i>/`; queriers read every such directory (shared
/// storage) and ask each ingester for what it has not flushed yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Base URLs of the ingesters (`http://host:port`), in ingester-id
    /// order. Their number is the ingester count; every process of the
    /// cluster must be given the same list.
    pub ingesters: Vec<String>,
    /// This ingester's id, its position in `ingesters` (for example a
    /// StatefulSet ordinal, `STRATA_CLUSTER__INGESTER_ID`).
    pub ingester_id: u32,
    /// A querier's head reads from an ingester fail (503) after this long.
    pub head_read_timeout_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self { ingesters: Vec::new(), ingester_id: 0, head_read_timeout_ms: 30_000 }
    }
}

impl ClusterConfig {
    /// The ingester count (at least one).
    pub fn ingester_count(&self) -> u32 {
        u32::try_from(self.ingesters.len()).unwrap_or(u32::MAX).max(1)
    }

    /// Where ingester `id` keeps its manifest and files under `data_dir`.
    pub fn ingester_dir(data_dir: &Path, id: u32) -> PathBuf {
        data_dir.join(format!("ingester-{id}"))
    }

    /// Checks the fields a cluster role needs.
    pub fn validate(&self) -> Result<()> {
        for url in &self.ingesters {
            anyhow::ensure!(
                url.starts_with("http://") || url.starts_with("https://"),
                "cluster.ingesters: {url:?} is not an http:// or https:// URL"
            );
        }
        if !self.ingesters.is_empty() {
            anyhow::ensure!(
                (self.ingester_id as usize) < self.ingesters.len(),
                "cluster.ingester_id = {} but cluster.ingesters lists only {} ingesters",
                self.ingester_id,
                self.ingesters.len()
            );
        }
        anyhow::ensure!(self.head_read_timeout_ms > 0, "cluster.head_read_timeout_ms must be > 0");
        Ok(())
    }
}

/// The `STRATA_*` environment as configuration. Two kinds of `STRATA_`
/// variables are not configuration and are skipped: `STRATA_CONFIG` (the
/// `--config` flag) and `STRATA_TEST_*` (reserved for test tooling, e.g.
/// `STRATA_TEST_TANSU_BIN`). Any other unknown key is an error.
fn config_env() -> Env {
    Env::prefixed("STRATA_")
        .filter(|key| key != "config" && !key.as_str().to_ascii_lowercase().starts_with("test_"))
        .split("__")
}

/// Values given as command-line flags (they win over everything else).
#[derive(Debug, Default, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
}

impl Config {
    /// Loads defaults, then `file`, then the environment, then `flags`.
    pub fn load(file: Option<&Path>, flags: FlagOverrides) -> Result<Self> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            anyhow::ensure!(file.exists(), "config file {} does not exist", file.display());
            fig = fig.merge(Toml::file(file));
        }
        let fig = fig.merge(config_env()).merge(Serialized::defaults(flags));
        let mut config: Config = fig.extract().context("invalid configuration")?;
        if config.log.dir.as_os_str().is_empty() {
            config.log.dir = config.data_dir.join("log");
        }
        config.resolve_log_partitions()?;
        config.resolve_multitenancy();
        config.validate()?;
        Ok(config)
    }

    /// `log.partitions = 0` (the default) means: the count of the log that
    /// already exists, or one partition per ingester shard for a new log. On
    /// one machine more partitions than shards only cost throughput: each
    /// group commit fsyncs every partition it touched, and smaller records
    /// compress worse.
    fn resolve_log_partitions(&mut self) -> Result<()> {
        if self.log.partitions == 0 {
            let stored = strata_log::embedded::stored_partitions(&self.log.dir)
                .with_context(|| format!("reading the log in {}", self.log.dir.display()))?;
            self.log.partitions = match stored {
                Some(n) => n,
                None => u32::try_from(self.ingester.wanted_shards()).unwrap_or(u32::MAX),
            };
        }
        Ok(())
    }

    /// Multi-tenancy on anywhere means on everywhere (the stricter choice).
    fn resolve_multitenancy(&mut self) {
        let on =
            self.multitenancy_enabled || self.distributor.multitenancy_enabled || self.querier.multitenancy_enabled;
        self.multitenancy_enabled = on;
        self.distributor.multitenancy_enabled = on;
        self.querier.multitenancy_enabled = on;
    }

    /// Checks every section.
    pub fn validate(&self) -> Result<()> {
        self.log.validate().context("[log]")?;
        self.distributor.validate().context("[distributor]")?;
        self.ingester.validate().context("[ingester]")?;
        self.querier.validate().context("[querier]")?;
        self.storage.validate().map_err(anyhow::Error::msg).context("[storage]")?;
        self.compaction.validate().map_err(anyhow::Error::msg).context("[compaction]")?;
        self.sql.validate().context("[sql]")?;
        self.kafka.validate().context("[kafka]")?;
        self.cluster.validate().context("[cluster]")?;
        self.auth.validate().map_err(anyhow::Error::msg).context("[auth]")?;
        self.tls.validate().context("[tls]")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the closure's error type
    fn precedence_file_env_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("strata.toml");
        std::fs::write(&file, "data_dir = \"/from/file\"\nlog_level = \"debug\"\n[ingester]\nshards = 1\n").unwrap();
        figment::Jail::expect_with(|jail| {
            jail.set_env("STRATA_LOG_LEVEL", "warn");
            let flags = FlagOverrides { listen: Some("127.0.0.1:1234".parse().unwrap()), ..Default::default() };
            let c = Config::load(Some(&file), flags).unwrap();
            assert_eq!(c.data_dir, PathBuf::from("/from/file"));
            assert_eq!(c.log_level, "warn");
            assert_eq!(c.listen.port(), 1234);
            assert_eq!(c.ingester.shards, 1);
            assert_eq!(c.log.dir, PathBuf::from("/from/file/log"));
            assert_eq!(c.log.partitions, 1, "one partition per shard for a new log");
            Ok(())
        });
    }

    #[test]
    fn deploy_examples_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Config::load(Some(&path), FlagOverrides::default())
                    .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
                n += 1;
            }
        }
        assert!(n > 0, "no example configs in deploy/");
    }

    #[test]
    fn existing_log_keeps_its_partition_count() {
        let dir = tempfile::tempdir().unwrap();
        let log_dir = dir.path().join("log");
        let log = strata_log::embedded::EmbeddedLog::open(EmbeddedLogConfig {
            dir: log_dir.clone(),
            partitions: 5,
            ..EmbeddedLogConfig::default()
        })
        .unwrap();
        drop(log);
        let flags = FlagOverrides { data_dir: Some(dir.path().to_path_buf()), ..Default::default() };
        assert_eq!(Config::load(None, flags).unwrap().log.partitions, 5);
    }

    #[test]
    fn multitenancy_anywhere_is_multitenancy_everywhere() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mt.toml");
        std::fs::write(&file, "[querier]\nmultitenancy_enabled = true\n").unwrap();
        let c = Config::load(Some(&file), FlagOverrides::default()).unwrap();
        assert!(c.multitenancy_enabled && c.distributor.multitenancy_enabled && c.querier.multitenancy_enabled);
        let c = Config::load(None, FlagOverrides::default()).unwrap();
        assert!(!c.multitenancy_enabled && !c.distributor.multitenancy_enabled && !c.querier.multitenancy_enabled);
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the closure's error type
    fn non_config_strata_variables_are_ignored_but_typos_are_not() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("STRATA_TEST_TANSU_BIN", "/usr/bin/tansu");
            jail.set_env("STRATA_CONFIG", "/nonexistent.toml");
            jail.set_env("STRATA_INGESTER__SHARDS", "3");
            assert_eq!(Config::load(None, FlagOverrides::default()).unwrap().ingester.shards, 3);
            jail.set_env("STRATA_INGESTR__SHARDS", "3");
            assert!(Config::load(None, FlagOverrides::default()).is_err());
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "listne = \"127.0.0.1:1\"\n").unwrap();
        assert!(Config::load(Some(&file), FlagOverrides::default()).is_err());
    }
}
