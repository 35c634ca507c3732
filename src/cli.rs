//! Command line: `strata` with no role runs everything in one process.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::FlagOverrides;

const ABOUT: &str = "Strata: a log-fed time-series database for Prometheus metrics.

With no role, strata runs everything in one process: the remote-write push
endpoint, an embedded durable log, thread-per-core ingesters and the PromQL
query API, on one port and one data directory.

Configuration precedence: defaults < TOML file (--config) < STRATA_* environment
variables (sections joined by __, e.g. STRATA_INGESTER__SHARDS=2) < flags.";

#[derive(Debug, Parser)]
#[command(name = "strata", version, about = "A log-fed time-series database for Prometheus metrics", long_about = ABOUT)]
pub struct Cli {
    /// TOML configuration file (see deploy/strata.toml for every option).
    #[arg(long, short = 'c', global = true, env = "STRATA_CONFIG")]
    pub config: Option<PathBuf>,
    /// HTTP listen address [default: 127.0.0.1:9009].
    #[arg(long, global = true)]
    pub listen: Option<SocketAddr>,
    /// Data directory [default: ./data].
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Log filter, e.g. `info` or `strata_ingester=debug` [default: info].
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    #[command(subcommand)]
    pub role: Option<Role>,
}

/// What this process runs.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum Role {
    /// Every role in one process on the embedded log (the default).
    AllInOne,
    /// Cluster: only the push endpoint, producing to Kafka ([kafka]).
    Distributor,
    /// Cluster: consumes the Kafka partitions it owns ([cluster] ingester_id) into files under <data_dir>/ingester-<id>.
    Ingester,
    /// Cluster: only the query API, over the ingesters' files (shared <data_dir>) and heads ([cluster] ingesters).
    Querier,
    /// Print the effective configuration as TOML and exit.
    PrintConfig,
}

impl Cli {
    pub fn flag_overrides(&self) -> FlagOverrides {
        FlagOverrides { listen: self.listen, data_dir: self.data_dir.clone(), log_level: self.log_level.clone() }
    }
}
