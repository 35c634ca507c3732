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
    /// Read a bearer token from stdin, print its token_sha256 for the credentials file ([auth]).
    HashToken,
    /// Read a password from stdin, print its password_argon2 (Argon2id) for the credentials file ([auth]).
    HashPassword,
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
