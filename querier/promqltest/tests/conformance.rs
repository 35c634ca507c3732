//! Runs `cases/*.test` (must all pass) and, when `STRATA_TEST_PROMQL_DIR`
//! is set, the files there (counts only).

#![allow(clippy::unwrap_used)]

use std::path::Path;

use strata_promqltest::{Summary, complete_str, run_str};

fn run_dir(dir: &Path) -> Summary {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let mut total = Summary::default();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let s = run_str(&name, &text);
        println!("promqltest {name} — passed {}, failed {}, skipped {}", s.passed, s.failed, s.skipped);
        total.add(s);
    }
    println!("promqltest total — passed {}, failed {}, skipped {}", total.passed, total.failed, total.skipped);
    total
}

#[test]
fn repository_promql_tests_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let s = run_dir(&dir);
    for f in &s.failures {
        println!("FAIL {f}");
    }
    for f in &s.skips {
        println!("SKIP {f}");
    }
    assert!(s.passed > 0, "no cases ran");
    assert_eq!(s.failed, 0, "failures:\n{}", s.failures.join("\n"));
    assert_eq!(s.skipped, 0, "skips:\n{}", s.skips.join("\n"));
}

#[test]
fn upstream_promql_tests_report() {
    let Ok(dir) = std::env::var("STRATA_TEST_PROMQL_DIR") else { return };
    let s = run_dir(Path::new(&dir));
    if std::env::var("STRATA_TEST_PROMQL_VERBOSE").is_ok() {
        for f in &s.failures {
            println!("FAIL {f}");
        }
        for f in &s.skips {
            println!("SKIP {f}");
        }
    }
}

#[test]
fn complete_mode_rewrites_results_and_keeps_the_rest() {
    let text = "load 1m\n  m{a=\"x\"} 1 2 3\n  m{a=\"y\"} 5 _ 7\n\n# kept\neval instant at 2m m\n  m{a=\"x\"} 0\n\neval range from 0 to 2m step 1m m{a=\"y\"} * 2\n\neval instant at 1m scalar(m{a=\"x\"})\n  9\n\neval_fail instant at 0 m +\n";
    let (before, out) = complete_str("t", text);
    assert_eq!((before.passed, before.failed), (1, 3), "{:?}", before.failures);
    let want = "load 1m\n  m{a=\"x\"} 1 2 3\n  m{a=\"y\"} 5 _ 7\n\n# kept\neval instant at 2m m\n  m{a=\"x\"} 3\n  m{a=\"y\"} 7\n\neval range from 0 to 2m step 1m m{a=\"y\"} * 2\n    {a=\"y\"} 10 10 14\n\neval instant at 1m scalar(m{a=\"x\"})\n  2\n\neval_fail instant at 0 m +\n";
    assert_eq!(out, want);
    let after = run_str("t", &out);
    assert_eq!((after.passed, after.failed, after.skipped), (4, 0, 0), "{:?}", after.failures);
}

#[test]
fn annotation_expectations_are_checked() {
    // rate over (-3m, 2m] of 1 2 3: increase 2 extrapolated by 150/120, per
    // second over 300 s; `g` does not end in _total: Prometheus's info.
    let case = |expect: &str| {
        format!(
            "load 1m\n  g{{a=\"x\"}} 1 2 3\n\neval instant at 2m rate(g[5m])\n  {expect}\n  {{a=\"x\"}} 0.008333333333333333\n"
        )
    };
    let info = r#"PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "g""#;
    for (expect, passes) in [
        ("expect info".to_string(), true),
        ("expect no_info".to_string(), false),
        ("expect no_warn".to_string(), true),
        ("expect warn".to_string(), false),
        (format!("expect info msg: {info} (1:6)"), true),
        ("expect info msg: PromQL info: something else".to_string(), false),
        (r#"expect info regex: might not be a counter.*"g" \([0-9]+:[0-9]+\)"#.to_string(), true),
    ] {
        let s = run_str("t", &case(&expect));
        assert_eq!((s.passed, s.failed), (usize::from(passes), usize::from(!passes)), "{expect}: {:?}", s.failures);
    }
}
