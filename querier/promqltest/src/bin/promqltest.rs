//! `promqltest [--complete] [--skips] FILE.test…`: runs promqltest files
//! against the engine and prints each file's counts and failures (and, with
//! `--skips`, why each skipped case was skipped); `--complete` rewrites each
//! file's expected results with the engine's answers (review the diff).

use std::process::ExitCode;

use strata_promqltest::{Summary, complete_str, run_str};

fn main() -> ExitCode {
    let (mut complete, mut skips) = (false, false);
    let mut files = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--complete" => complete = true,
            "--skips" => skips = true,
            "-h" | "--help" => {
                println!("usage: promqltest [--complete] [--skips] FILE.test...");
                return ExitCode::SUCCESS;
            }
            _ => files.push(arg),
        }
    }
    let mut total = Summary::default();
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("{file}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let summary = if complete {
            let (summary, new_text) = complete_str(file, &text);
            if let Err(e) = std::fs::write(file, new_text) {
                eprintln!("{file}: {e}");
                return ExitCode::FAILURE;
            }
            summary
        } else {
            run_str(file, &text)
        };
        println!("{file}: passed {}, failed {}, skipped {}", summary.passed, summary.failed, summary.skipped);
        for f in &summary.failures {
            println!("FAIL {f}");
        }
        if skips {
            for f in &summary.skips {
                println!("SKIP {f}");
            }
        }
        total.add(summary);
    }
    if complete || total.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
