//! The `strata` binary: sets the global allocator, parses the command line,
//! loads the configuration, starts logging and the tokio runtime, and runs
//! the chosen role (all-in-one when none is given).

mod cli;
mod config;
mod export;
mod index_page;
mod process_metrics;
mod roles;
mod server;
mod tls;

use anyhow::Result;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Role};
use config::Config;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<()> {
    let cli = Cli::parse_with_options_help();
    let config = Config::load(cli.config.as_deref(), cli.flag_overrides())?;
    init_logging(&config);
    let role = cli.role.unwrap_or(Role::AllInOne);
    match role {
        Role::PrintConfig => {
            print!("{}", toml::to_string_pretty(&config)?);
            Ok(())
        }
        Role::HashToken | Role::HashPassword => {
            let mut secret = String::new();
            std::io::stdin().read_line(&mut secret)?;
            let secret = secret.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(!secret.is_empty(), "no secret on stdin");
            let hash = match role {
                Role::HashToken => strata_auth::hash_token(secret),
                _ => strata_auth::hash_password(secret).map_err(anyhow::Error::msg)?,
            };
            println!("{hash}");
            Ok(())
        }
        Role::Export(args) => export::run(&config, &args),
        role => {
            let mut rt = tokio::runtime::Builder::new_multi_thread();
            if config.http_threads > 0 {
                rt.worker_threads(config.http_threads);
            }
            let rt = rt.enable_all().build()?;
            match role {
                Role::Distributor => rt.block_on(roles::distributor::run(config)),
                Role::Ingester => rt.block_on(roles::ingester::run(config)),
                Role::Querier => rt.block_on(roles::querier::run(config)),
                Role::AllInOne | Role::PrintConfig | Role::HashToken | Role::HashPassword | Role::Export(_) => {
                    rt.block_on(roles::all_in_one::run(config))
                }
            }
        }
    }
}

fn init_logging(config: &Config) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log_level));
    // Colour codes only for a person at a terminal, never in files or journals.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if config.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}
