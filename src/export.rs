//! `strata export`: fetches one metric over a time range as Parquet from a
//! running Strata (`/api/v1/export`, which reads its files and ingester
//! heads like any query) and writes it to a file.

use std::io::Write;

use anyhow::{Context, Result};

use crate::cli::ExportArgs;
use crate::config::Config;

/// Writes the export to `args.output`; a refused request is an error
/// carrying the server's JSON error.
pub fn run(config: &Config, args: &ExportArgs) -> Result<()> {
    let base = args.url.clone().unwrap_or_else(|| format!("http://{}", config.listen));
    let mut params = vec![("metric", args.metric.as_str())];
    if let Some(s) = &args.start {
        params.push(("start", s));
    }
    if let Some(e) = &args.end {
        params.push(("end", e));
    }
    let client = reqwest::blocking::Client::builder().timeout(None).build().context("building the HTTP client")?;
    let mut req = client.post(format!("{}/api/v1/export", base.trim_end_matches('/'))).form(&params);
    if let Some(t) = &args.tenant {
        req = req.header(strata_common::tenant::TENANT_HEADER, t);
    }
    if let Some(token) = &args.token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().with_context(|| format!("requesting the export from {base}"))?;
    let status = resp.status();
    let body = resp.bytes().context("reading the export")?;
    anyhow::ensure!(status.is_success(), "export failed with {status}: {}", String::from_utf8_lossy(&body));
    let mut f = std::fs::File::create(&args.output).with_context(|| format!("creating {}", args.output.display()))?;
    f.write_all(&body).and_then(|_| f.sync_all()).with_context(|| format!("writing {}", args.output.display()))?;
    eprintln!("wrote {} bytes of Parquet to {}", body.len(), args.output.display());
    Ok(())
}
