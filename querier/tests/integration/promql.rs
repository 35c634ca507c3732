//! Runs `tests/promql/*.test` (must all pass) and, when
//! `STRATA_TEST_PROMQL_DIR` is set, the files there (counts only).

use std::path::Path;

use strata_querier::promqltest::{Summary, run_str};

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
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/promql");
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
