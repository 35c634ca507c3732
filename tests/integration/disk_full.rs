//! A full disk costs availability only until space returns: the data
//! directory on a real, small tmpfs (mounted by the test; skipped with a
//! message where mounting is not permitted), filled to the last page while
//! pushes stream in. Pushes get 503 and `/ready` is not 200 while writes
//! fail, failed flushes leave no temporary files, and once the filler is
//! deleted pushes succeed again without a restart, with every acknowledged
//! sample present exactly once (also after a SIGKILL and replay).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::harness::Strata;
use super::stream::{request, verify_exactly_once};

/// A tmpfs mounted on a temporary directory; unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (after saying why) where mounting is not permitted.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => {
                eprintln!("SKIPPED: cannot mount a tmpfs (needs root): {}", String::from_utf8_lossy(&o.stderr).trim());
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount: {e}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the filesystem of `path` to the last page; returns the filler.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    for chunk in [1 << 20, 4096] {
        let buf = vec![0xabu8; chunk];
        while f.write_all(&buf).is_ok() {}
    }
    path
}

/// Temporary files left behind: a `.tmp` seen again and again. A flush in
/// flight (every 500 ms here, while pushes go on) has one for a moment, and
/// its name changes with the next file id; a leftover stays.
fn leftover_tmp_files(dir: &Path) -> Vec<PathBuf> {
    let mut left = tmp_files(dir);
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        let now = tmp_files(dir);
        left.retain(|p| now.contains(p));
    }
    left
}

fn tmp_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".tmp") {
                out.push(p);
            }
        }
    }
    out
}

fn ready_status(s: &Strata) -> (u16, String) {
    let r = reqwest::blocking::get(format!("{}/ready", s.base)).unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

fn failed_flushes(s: &Strata) -> u64 {
    let text = reqwest::blocking::get(format!("{}/metrics", s.base)).unwrap().text().unwrap();
    text.lines()
        .filter(|l| l.starts_with("strata_ingester_flushes_total{") && l.contains("outcome=\"error\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[test]
fn full_disk_heals_without_restart_and_loses_nothing() {
    let Some(fs) = Tmpfs::mount("48m") else { return };
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("strata.toml");
    std::fs::write(
        &conf,
        "[log]\npartitions = 2\nsegment_bytes = 1048576\n[ingester]\nshards = 1\nflush_interval_ms = 500\n",
    )
    .unwrap();
    let data = fs.path().join("data");
    let mut s = Strata::start(&data, &["--config", conf.to_str().unwrap()]);
    let metric = "disk_full_stream";
    let mut k: i64 = 0;
    let push = |k: i64| s.push_raw(&request(metric, 0, k), &[]).status().as_u16();

    // Healthy: everything is acknowledged.
    while k < 20 {
        assert_eq!(push(k), 204);
        k += 1;
    }
    let filler = fill(fs.path());

    // Full: pushes fail with 503 (retryable), /ready says why, flushes fail
    // and leave no temporary file behind.
    let mut refused = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while refused < 5 {
        assert!(Instant::now() < deadline, "the full disk never showed: {refused} refusals");
        match push(k) {
            204 => k += 1,
            503 => refused += 1,
            other => panic!("push on a full disk answered {other}, expected 503"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Pushes that still fit in the log's last page leave unflushed data, so
    // a flush usually fails too (not guaranteed: it may have run before the
    // disk filled); its temporary files must be gone either way.
    let flush_deadline = Instant::now() + Duration::from_secs(5);
    while failed_flushes(&s) == 0 && Instant::now() < flush_deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("failed flushes while full: {}", failed_flushes(&s));
    let attempted_while_full = k;
    let (status, reason) = ready_status(&s);
    assert_eq!(status, 503, "/ready while writes fail: {reason}");
    assert!(reason.contains("disk full"), "{reason}");
    assert_eq!(leftover_tmp_files(&data), Vec::<PathBuf>::new(), "failed flushes left temporary files");

    // Space returns: pushes succeed again, by themselves, within 30 s.
    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    loop {
        match push(k) {
            204 => break,
            503 => assert!(freed.elapsed() < Duration::from_secs(30), "still 503 30 s after space returned"),
            other => panic!("push after space returned answered {other}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("pushes succeeded again {:?} after space returned", freed.elapsed());
    k += 1;
    while k < attempted_while_full + 20 {
        assert_eq!(push(k), 204);
        k += 1;
    }
    let ready_deadline = Instant::now() + Duration::from_secs(30);
    while ready_status(&s).0 != 200 {
        assert!(Instant::now() < ready_deadline, "/ready still not 200: {}", ready_status(&s).1);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(leftover_tmp_files(&data), Vec::<PathBuf>::new(), "flushes left temporary files");
    verify_exactly_once(&s, metric, &[k - 1], &[k - 1]);

    // What was acknowledged is durable: a SIGKILL and a replay keep it.
    s.restart();
    verify_exactly_once(&s, metric, &[k - 1], &[k - 1]);
    drop(s);
}
