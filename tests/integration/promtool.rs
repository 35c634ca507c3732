//! The real Prometheus client, `promtool` (Debian package `prometheus`),
//! queries Strata and gets the expected answer.

use std::process::Command;

use super::harness::Strata;
use super::push_query::{T0, push_fixture};

#[test]
fn promtool_query_instant_reads_strata() {
    let dir = tempfile::tempdir().unwrap();
    let s = Strata::start(dir.path(), &[]);
    push_fixture(&s);
    let time = ((T0 + 300_000) / 1000).to_string();
    let out = Command::new("promtool")
        .args(["query", "instant", "--time", &time, &s.base, "sum by (job) (http_requests_total)"])
        .output()
        .expect("promtool must be installed (apt-get install prometheus; .ci/run does it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "promtool failed: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.trim(), format!("{{job=\"api\"}} => 600 @[{time}]"));

    let out = Command::new("promtool")
        .args(["query", "labels", "--start", &(T0 / 1000 - 60).to_string(), "--end", &time, &s.base, "job"])
        .output()
        .expect("promtool");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "api\nsensor");
}
