//! Command line: `strata` with no role runs everything in one process.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{Config, FlagOverrides};

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
#[derive(Debug, Clone, Subcommand)]
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
    /// Read a bearer token from stdin, print its token_sha256 for the credentials file ([auth]).
    HashToken,
    /// Read a password from stdin, print its password_argon2 (Argon2id) for the credentials file ([auth]).
    HashPassword,
    /// Write one metric over a time range as a Parquet file (labels as columns, timestamp, value), read from a running Strata's /api/v1/export.
    Export(ExportArgs),
}

/// `strata export`: the rows of `SELECT * FROM <metric>` over a time range,
/// as Parquet.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// The metric (table) to export.
    #[arg(long)]
    pub metric: String,
    /// The tenant (X-Scope-OrgID); none means the default tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Start of the range (unix seconds or RFC 3339), inclusive; none means from the first sample.
    #[arg(long)]
    pub start: Option<String>,
    /// End of the range (unix seconds or RFC 3339), inclusive; none means to the last sample.
    #[arg(long)]
    pub end: Option<String>,
    /// The Parquet file to write.
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    /// Base URL of the Strata to read from [default: http://<listen>].
    #[arg(long)]
    pub url: Option<String>,
    /// Bearer token, when the server has [auth] on (from the environment,
    /// so it does not show in process listings).
    #[arg(long, env = "STRATA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl Cli {
    /// Parses the command line. `--help` (and `print-config --help`) end
    /// with every configuration option and its default, generated from the
    /// configuration types themselves, so the list cannot go stale.
    pub fn parse_with_options_help() -> Self {
        let options = options_help();
        let command = Self::command()
            .after_help("Every configuration option, with its default and its environment form: strata --help")
            .after_long_help(options.clone())
            .mut_subcommand("print-config", |c| c.after_long_help(options));
        let matches = command.get_matches();
        Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }

    /// The flags this invocation sets, for the configuration loader.
    pub fn flag_overrides(&self) -> FlagOverrides {
        FlagOverrides { listen: self.listen, data_dir: self.data_dir.clone(), log_level: self.log_level.clone() }
    }
}

/// Every configuration key with its default, as TOML, and how to set it.
fn options_help() -> String {
    let defaults =
        toml::to_string_pretty(&Config::default()).unwrap_or_else(|e| format!("(cannot render the defaults: {e})\n"));
    format!(
        "CONFIGURATION (every option, with its default)

Set each in the TOML file (--config), or in the environment as STRATA_ plus
the key path with sections joined by __: `shards` under [ingester] is
STRATA_INGESTER__SHARDS, `max_query_cost` under [querier.scheduler] is
STRATA_QUERIER__SCHEDULER__MAX_QUERY_COST. deploy/strata.toml explains each
one; the README's Configuration section lists them.

{defaults}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_every_configuration_section_and_the_environment_form() {
        let help = Cli::command().after_long_help(options_help()).render_long_help().to_string();
        for key in [
            "[ingester]",
            "[querier.scheduler]",
            "max_query_cost",
            "[distributor]",
            "STRATA_INGESTER__SHARDS",
            "--config",
        ] {
            assert!(help.contains(key), "{key} missing from --help:\n{help}");
        }
    }
}
