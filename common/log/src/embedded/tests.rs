//! Tests of the embedded log: round trips across segment rolls, group
//! commit under concurrency, recovery of torn tails, readers, release.

use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, Instant};

use futures::executor::block_on;

use super::*;
use crate::LogRecord;

fn config(dir: &Path, partitions: u32, segment_bytes: u64) -> EmbeddedLogConfig {
    EmbeddedLogConfig { dir: dir.to_path_buf(), partitions, fsync: FsyncPolicy::Always, segment_bytes }
}

fn payload(p: u32, i: u64) -> Bytes {
    // Varying sizes, some larger than a small segment.
    let len = ((i * 997) % 3000) as usize;
    let mut v = format!("p{p}-r{i}:").into_bytes();
    v.extend(std::iter::repeat_n((i % 251) as u8, len));
    Bytes::from(v)
}

fn read_all(log: &EmbeddedLog, p: u32, from: u64) -> Vec<LogRecord> {
    let end = block_on(log.end_offsets()).unwrap()[p as usize];
    let mut r = log.open_reader(p, from).unwrap();
    let mut out = Vec::new();
    while r.position() < end {
        out.extend(block_on(r.next_batch(7)).unwrap());
    }
    out
}

#[test]
fn round_trip_across_segment_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(config(dir.path(), 3, 4096)).unwrap();
    let mut expected: Vec<Vec<Bytes>> = vec![Vec::new(); 3];
    for i in 0..60u64 {
        let p = (i % 3) as u32;
        let batch: Vec<Bytes> = (0..(i % 4 + 1)).map(|j| payload(p, i * 10 + j)).collect();
        let first = block_on(log.append(p, batch.clone())).unwrap();
        assert_eq!(first, expected[p as usize].len() as u64);
        expected[p as usize].extend(batch);
    }
    assert_eq!(block_on(log.append(1, vec![])).unwrap(), expected[1].len() as u64);
    let ends = block_on(log.end_offsets()).unwrap();
    for p in 0..3u32 {
        assert_eq!(ends[p as usize], expected[p as usize].len() as u64);
        let segs = segment::list_segments(&segment::partition_dir(dir.path(), p)).unwrap();
        assert!(segs.len() > 3, "expected segment rolls, got {segs:?}");
        let got = read_all(&log, p, 0);
        assert_eq!(got.len(), expected[p as usize].len());
        for (i, (r, want)) in got.iter().zip(&expected[p as usize]).enumerate() {
            assert_eq!(r.offset, i as u64);
            assert_eq!(&r.payload, want);
        }
        // Readers can start in the middle of any segment.
        for from in [1u64, 5, 17, ends[p as usize] - 1, ends[p as usize]] {
            let got = read_all(&log, p, from);
            assert_eq!(got.first().map(|r| r.offset).unwrap_or(from), from);
            assert_eq!(got.len() as u64, ends[p as usize] - from);
        }
    }
    assert!(matches!(log.append(3, vec![]).now_or_never_blocking(), Err(Error::NoSuchPartition { partition: 3, .. })));
}

#[test]
fn one_append_of_more_frames_than_iov_max() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(config(dir.path(), 1, 64 << 20)).unwrap();
    let batch: Vec<Bytes> = (0..3000u64).map(|i| if i % 7 == 0 { Bytes::new() } else { payload(0, i) }).collect();
    assert_eq!(block_on(log.append(0, batch.clone())).unwrap(), 0);
    let got = read_all(&log, 0, 0);
    assert_eq!(got.len(), 3000);
    assert!(got.iter().zip(&batch).all(|(r, want)| r.payload == want));
    drop(log);
    let log = EmbeddedLog::open(config(dir.path(), 1, 64 << 20)).unwrap();
    assert_eq!(block_on(log.end_offsets()).unwrap(), vec![3000]);
}

trait BlockOn: std::future::Future + Sized {
    fn now_or_never_blocking(self) -> Self::Output {
        block_on(self)
    }
}
impl<F: std::future::Future> BlockOn for F {}

#[test]
fn concurrent_appenders_get_unique_consecutive_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(config(dir.path(), 2, 64 << 10)).unwrap();
    let threads = 16;
    let per = 50;
    let results: Vec<Vec<(u32, u64, usize, u64)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let log = &log;
                s.spawn(move || {
                    (0..per)
                        .map(|i| {
                            let p = ((t + i) % 2) as u32;
                            let n = (i % 3) + 1;
                            let tag = (t * 1000 + i) as u64;
                            let batch = (0..n).map(|j| Bytes::from(format!("{tag}:{j}"))).collect();
                            let first = block_on(log.append(p, batch)).unwrap();
                            (p, first, n, tag)
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ends = block_on(log.end_offsets()).unwrap();
    let mut seen: Vec<HashSet<u64>> = vec![HashSet::new(); 2];
    for (p, first, n, tag) in results.into_iter().flatten() {
        for j in 0..n as u64 {
            assert!(seen[p as usize].insert(first + j), "offset {} of partition {p} given twice", first + j);
        }
        // The records of one append are contiguous and in order.
        let recs = read_all(&log, p, first);
        for (j, rec) in recs.iter().take(n).enumerate() {
            assert_eq!(rec.payload, Bytes::from(format!("{tag}:{j}")));
        }
    }
    for p in 0..2 {
        assert_eq!(seen[p].len() as u64, ends[p]);
        assert!(seen[p].iter().all(|&o| o < ends[p]));
    }
}

#[test]
fn reopen_preserves_data_and_end_offsets_and_checks_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let ends = {
        let log = EmbeddedLog::open(config(dir.path(), 2, 4096)).unwrap();
        for i in 0..30 {
            block_on(log.append((i % 2) as u32, vec![payload(0, i)])).unwrap();
        }
        // A second open of the same directory is refused while this one lives.
        let err = EmbeddedLog::open(config(dir.path(), 2, 4096)).unwrap_err();
        assert!(err.to_string().contains("in use"), "{err}");
        block_on(log.end_offsets()).unwrap()
    };
    assert_eq!(ends, vec![15, 15]);
    let log = EmbeddedLog::open(config(dir.path(), 2, 4096)).unwrap();
    assert_eq!(block_on(log.end_offsets()).unwrap(), ends);
    let got = read_all(&log, 0, 0);
    assert_eq!(got.len(), 15);
    assert_eq!(got[3].payload, payload(0, 6));
    assert_eq!(block_on(log.append(0, vec![Bytes::from_static(b"more")])).unwrap(), 15);
    drop(log);

    let err = EmbeddedLog::open(config(dir.path(), 4, 4096)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("has 2 partitions") && msg.contains("asks for 4"), "{msg}");
}

/// The crash test: a torn tail (cut frame or garbage) is truncated on open;
/// every complete record survives and offsets continue after the last one.
#[test]
fn recovery_truncates_torn_tails() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, 1 << 20);
    let seg = segment::segment_path(&segment::partition_dir(dir.path(), 0), 0);
    {
        let log = EmbeddedLog::open(cfg.clone()).unwrap();
        for i in 0..10 {
            block_on(log.append(0, vec![payload(0, i)])).unwrap();
        }
    }
    let intact_len = std::fs::metadata(&seg).unwrap().len();

    // 1. Garbage appended after the last frame.
    std::fs::OpenOptions::new().append(true).open(&seg).unwrap().write_all(&[0xAB; 100]).unwrap();
    {
        let log = EmbeddedLog::open(cfg.clone()).unwrap();
        assert_eq!(block_on(log.end_offsets()).unwrap(), vec![10]);
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), intact_len);
        assert_eq!(block_on(log.append(0, vec![Bytes::from_static(b"after-garbage")])).unwrap(), 10);
    }

    // 2. The last frame cut in the middle (a torn write).
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len(len - 5).unwrap();
    {
        let log = EmbeddedLog::open(cfg.clone()).unwrap();
        assert_eq!(block_on(log.end_offsets()).unwrap(), vec![10]);
        assert_eq!(block_on(log.append(0, vec![Bytes::from_static(b"after-cut")])).unwrap(), 10);
    }

    // 3. A plausible header whose payload fails the CRC.
    let mut frame = Vec::new();
    segment::encode_frame(&mut frame, 11, b"flipped");
    let last = frame.len() - 1;
    frame[last] ^= 0xff;
    std::fs::OpenOptions::new().append(true).open(&seg).unwrap().write_all(&frame).unwrap();
    let log = EmbeddedLog::open(cfg).unwrap();
    assert_eq!(block_on(log.end_offsets()).unwrap(), vec![11]);
    let got = read_all(&log, 0, 0);
    assert_eq!(got.len(), 11);
    for (i, r) in got.iter().take(10).enumerate() {
        assert_eq!(r.payload, payload(0, i as u64));
    }
    assert_eq!(got[10].payload, Bytes::from_static(b"after-cut"));
}

/// Readers tail a partition while many threads append across segment rolls
/// and old segments are released: every record is seen once, in order.
#[test]
fn tailing_readers_see_every_record_in_order_under_concurrent_appends() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(config(dir.path(), 1, 8192)).unwrap();
    let (threads, per) = (8u64, 60u64);
    let total = threads * per;
    let positions = [std::sync::atomic::AtomicU64::new(0), std::sync::atomic::AtomicU64::new(0)];
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..2)
            .map(|k| {
                let mut r = log.open_reader(0, 0).unwrap();
                let (log, positions) = (&log, &positions);
                s.spawn(move || {
                    let mut last_per_thread = vec![None::<u64>; threads as usize];
                    while r.position() < total {
                        for rec in block_on(r.next_batch(5)).unwrap() {
                            let text = std::str::from_utf8(&rec.payload[..20]).unwrap();
                            let (t, i) = text.trim_end_matches('.').split_once(':').unwrap();
                            let (t, i): (usize, u64) = (t.parse().unwrap(), i.parse().unwrap());
                            // Each thread's appends are seen in the order it made them.
                            assert!(
                                last_per_thread[t].is_none_or(|l| l + 1 == i),
                                "thread {t}: {i} after {:?}",
                                last_per_thread[t]
                            );
                            last_per_thread[t] = Some(i);
                        }
                        use std::sync::atomic::Ordering::SeqCst;
                        positions[k].store(r.position(), SeqCst);
                        // Let go of what both readers have read.
                        log.release(0, positions[0].load(SeqCst).min(positions[1].load(SeqCst))).unwrap();
                    }
                    r.position()
                })
            })
            .collect();
        for t in 0..threads {
            let log = &log;
            s.spawn(move || {
                for i in 0..per {
                    let mut p = format!("{t}:{i}").into_bytes();
                    p.resize(20, b'.');
                    p.extend(std::iter::repeat_n(b'x', (i * 37 % 900) as usize));
                    block_on(log.append(0, vec![Bytes::from(p)])).unwrap();
                }
            });
        }
        for r in readers {
            assert_eq!(r.join().unwrap(), total);
        }
    });
    assert!(log.start_offsets()[0] > 0, "release removed old segments");
}

#[test]
fn read_buffers_are_reused_only_when_no_record_holds_them() {
    // Several 1 MiB read-ahead chunks in one segment. Every third batch is
    // kept (its records hold slices of the chunk, so the next read must not
    // reuse it); the others are dropped (the buffer is reused).
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(config(dir.path(), 1, 64 << 20)).unwrap();
    let big = |i: u64| {
        let mut v = format!("r{i}:").into_bytes();
        v.extend(std::iter::repeat_n((i % 251) as u8, 20_000 + (i as usize * 37) % 5_000));
        Bytes::from(v)
    };
    let n = 300u64;
    for i in 0..n {
        block_on(log.append(0, vec![big(i)])).unwrap();
    }
    let mut r = log.open_reader(0, 0).unwrap();
    let mut kept = Vec::new();
    let mut batches = 0;
    while r.position() < n {
        let batch = block_on(r.next_batch(13)).unwrap();
        for rec in &batch {
            assert_eq!(rec.payload, big(rec.offset), "record {}", rec.offset);
        }
        batches += 1;
        if batches % 3 == 0 {
            kept.push(batch);
        }
    }
    for rec in kept.iter().flatten() {
        assert_eq!(rec.payload, big(rec.offset), "kept record {} changed under a later read", rec.offset);
    }
}

#[test]
fn reader_wakes_on_append_and_reports_close() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(config(dir.path(), 1, 4096)).unwrap();
    let mut r = log.open_reader(0, 0).unwrap();
    let writer_log = log.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        block_on(writer_log.append(0, vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")])).unwrap();
    });
    let start = Instant::now();
    let batch = block_on(r.next_batch(10)).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(90));
    assert_eq!(
        batch.iter().map(|r| (r.offset, r.payload.clone())).collect::<Vec<_>>(),
        vec![(0, Bytes::from_static(b"a")), (1, Bytes::from_static(b"b"))]
    );
    t.join().unwrap();
    block_on(log.append(0, vec![Bytes::from_static(b"c")])).unwrap();
    drop(log);
    // The log is gone: published records are still handed out, then LogClosed.
    assert_eq!(block_on(r.next_batch(10)).unwrap()[0].payload, Bytes::from_static(b"c"));
    assert!(matches!(block_on(r.next_batch(10)), Err(Error::LogClosed)));
}

#[test]
fn reader_runs_on_a_glommio_executor() {
    use glommio::{LocalExecutorBuilder, Placement};
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(config(dir.path(), 1, 4096)).unwrap();
    let mut r = log.open_reader(0, 0).unwrap();
    let writer_log = log.clone();
    let t = std::thread::spawn(move || {
        for i in 0..20u64 {
            std::thread::sleep(Duration::from_millis(2));
            block_on(writer_log.append(0, vec![payload(0, i)])).unwrap();
        }
    });
    let got = LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(512 << 10)
        .spawn(move || async move {
            let mut got = Vec::new();
            while got.len() < 20 {
                got.extend(r.next_batch(3).await.unwrap());
            }
            got
        })
        .unwrap()
        .join()
        .unwrap();
    t.join().unwrap();
    assert_eq!(got.len(), 20);
    for (i, rec) in got.iter().enumerate() {
        assert_eq!((rec.offset, &rec.payload), (i as u64, &payload(0, i as u64)));
    }
}

#[test]
fn release_deletes_old_segments_and_readers_below_start_fail() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(config(dir.path(), 1, 4096)).unwrap();
    for i in 0..40 {
        block_on(log.append(0, vec![payload(0, i)])).unwrap();
    }
    let pdir = segment::partition_dir(dir.path(), 0);
    let before = segment::list_segments(&pdir).unwrap();
    assert!(before.len() > 4);
    let cut = before[3] + 1; // inside the fourth segment
    log.release(0, cut).unwrap();
    let after = segment::list_segments(&pdir).unwrap();
    assert_eq!(after, before[3..].to_vec());
    assert_eq!(log.start_offsets(), vec![before[3]]);
    match log.reader(0, before[3] - 1) {
        Err(Error::OffsetOutOfRange { partition: 0, start, end: 40, .. }) => assert_eq!(start, before[3]),
        other => panic!("expected OffsetOutOfRange, got {other:?}"),
    }
    assert_eq!(read_all(&log, 0, before[3]).len() as u64, 40 - before[3]);
    // Releasing everything closes the active segment and deletes it: one
    // empty segment is left, starting at the end.
    log.release(0, u64::MAX).unwrap();
    assert_eq!(segment::list_segments(&pdir).unwrap(), vec![40]);
    assert_eq!(partition_bytes(dir.path(), 0), 0);
    assert_eq!(block_on(log.append(0, vec![Bytes::from_static(b"x")])).unwrap(), 40);
    // Reopen keeps the start offset.
    drop(log);
    let log = EmbeddedLog::open(config(dir.path(), 1, 4096)).unwrap();
    assert_eq!(log.start_offsets(), vec![40]);
    assert!(matches!(log.open_reader(0, 0), Err(Error::OffsetOutOfRange { .. })));
    assert_eq!(read_all(&log, 0, 40)[0].payload, Bytes::from_static(b"x"));
}

/// Bytes of every segment file of partition `p`.
fn partition_bytes(dir: &Path, p: u32) -> u64 {
    let pdir = segment::partition_dir(dir, p);
    segment::list_segments(&pdir)
        .unwrap()
        .iter()
        .map(|&b| std::fs::metadata(segment::segment_path(&pdir, b)).unwrap().len())
        .sum()
}

/// Frame bytes of the records `[from, to)` as `payload(p, i)` made them.
fn frame_bytes(p: u32, from: u64, to: u64) -> u64 {
    (from..to).map(|i| (segment::FRAME_HEADER + payload(p, i).len()) as u64).sum()
}

/// A release that reaches into the active segment closes it; the part of it
/// above the release stays readable until released too, and is then deleted.
#[test]
fn release_into_the_active_segment_rolls_it_and_deletes_it_once_covered() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(config(dir.path(), 2, 1 << 20)).unwrap();
    for i in 0..30 {
        block_on(log.append(0, vec![payload(0, i)])).unwrap();
    }
    block_on(log.append(1, vec![payload(1, 0)])).unwrap();
    let pdir = segment::partition_dir(dir.path(), 0);
    assert_eq!(segment::list_segments(&pdir).unwrap(), vec![0]);

    // Released half-way: the active segment is closed but kept; appends go on in a new one.
    log.release(0, 20).unwrap();
    assert_eq!(segment::list_segments(&pdir).unwrap(), vec![0, 30]);
    let got = read_all(&log, 0, 20);
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), (20..30).collect::<Vec<_>>());
    for i in 30..35 {
        assert_eq!(block_on(log.append(0, vec![payload(0, i)])).unwrap(), i);
    }
    // A reader that was at the old end hops to the new segment.
    let got = read_all(&log, 0, 25);
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|r| r.payload == payload(0, r.offset)));

    // Released up to the end: everything is deleted but an empty active segment.
    log.release(0, 35).unwrap();
    assert_eq!(segment::list_segments(&pdir).unwrap(), vec![35]);
    assert_eq!(partition_bytes(dir.path(), 0), 0);
    // Releasing an empty active segment changes nothing; other partitions are untouched.
    log.release(0, 35).unwrap();
    assert_eq!(segment::list_segments(&pdir).unwrap(), vec![35]);
    assert_eq!(partition_bytes(dir.path(), 1), frame_bytes(1, 0, 1));
    assert_eq!(block_on(log.append(0, vec![payload(0, 35)])).unwrap(), 35);
    assert_eq!(read_all(&log, 0, 35)[0].payload, payload(0, 35));
}

/// Steady state: appends and releases that trail them by a lag. After every
/// release the partition holds at most the unreleased records plus one
/// segment; after a restart the records above the release are all there.
#[test]
fn steady_state_space_is_bounded_by_unreleased_records_plus_one_segment() {
    let dir = tempfile::tempdir().unwrap();
    let segment_bytes = 16 << 10;
    let log = EmbeddedLog::open(config(dir.path(), 1, segment_bytes)).unwrap();
    let mut end = 0u64;
    let mut released = 0u64;
    for round in 0..40u64 {
        let batch: Vec<Bytes> = (end..end + 5 + round % 7).map(|i| payload(0, i)).collect();
        end = block_on(log.append(0, batch.clone())).unwrap() + batch.len() as u64;
        // Release all but the last few records, as a flush racing appends does.
        released = released.max(end.saturating_sub(round % 4));
        log.release(0, released).unwrap();
        let held = partition_bytes(dir.path(), 0);
        let unreleased = frame_bytes(0, released, end);
        assert!(
            held <= unreleased + segment_bytes,
            "round {round}: {held} bytes held, {unreleased} unreleased + one segment of {segment_bytes}"
        );
        assert!(held >= unreleased);
    }
    drop(log);
    let log = EmbeddedLog::open(config(dir.path(), 1, segment_bytes)).unwrap();
    assert_eq!(block_on(log.end_offsets()).unwrap(), vec![end]);
    let got = read_all(&log, 0, released);
    assert_eq!(got.len() as u64, end - released);
    assert!(got.iter().all(|r| r.payload == payload(0, r.offset)));
}

/// An I/O error fails the partition: that append and every later one
/// return an error, nothing unsynced is published, other partitions go on.
#[test]
fn io_errors_fail_the_partition_until_it_heals() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(config(dir.path(), 2, 4096)).unwrap();
    block_on(log.append(0, vec![payload(0, 1)])).unwrap();
    // Removing the partition's directory makes the next segment roll fail.
    std::fs::remove_dir_all(segment::partition_dir(dir.path(), 0)).unwrap();
    let err = block_on(log.append(0, vec![Bytes::from(vec![1u8; 5000])])).unwrap_err();
    assert!(matches!(err, Error::LogIo { .. }), "{err}");
    let err = block_on(log.append(0, vec![Bytes::from_static(b"later")])).unwrap_err();
    assert!(err.to_string().contains("heals by itself"), "{err}");
    assert_eq!(block_on(log.end_offsets()).unwrap(), vec![1, 0]);
    assert_eq!(block_on(log.append(1, vec![Bytes::from_static(b"ok")])).unwrap(), 0);
    assert_eq!(block_on(log.end_offsets()).unwrap(), vec![1, 1]);
}

/// A write cut short by a full disk (some bytes of a frame written, then
/// ENOSPC) fails the partition; once space is back it heals, and the frames
/// appended after the heal follow the durable prefix directly (no hole of
/// zeros where the cut frame began), so a reader reads every acknowledged
/// record. Needs root to mount a small tmpfs; skipped otherwise.
#[test]
fn a_partial_write_on_a_full_disk_heals_without_a_hole() {
    let dir = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(dir.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: mounting a tmpfs is not permitted here");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(dir.path());
    let log_dir = dir.path().join("log");
    // Small segments: the active one was created by a roll (opened for
    // writing at its cursor, unlike a segment reopened at start-up).
    let log = EmbeddedLog::open(config(&log_dir, 1, 8 << 10)).unwrap();
    for i in 0..12 {
        block_on(log.append(0, vec![payload(0, i)])).unwrap();
    }
    // Leave a few pages free, then append a record larger than them: the
    // write gets some bytes in before ENOSPC.
    let filler = dir.path().join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    drop(f);
    let len = std::fs::metadata(&filler).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&filler).unwrap().set_len(len - 3 * 4096).unwrap();
    let err = block_on(log.append(0, vec![Bytes::from(vec![7u8; 64 << 10])])).unwrap_err();
    assert!(matches!(err, Error::LogIo { .. }), "{err}");
    std::fs::remove_file(&filler).unwrap();
    // The partition heals by itself (retried every second).
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        match block_on(log.append(0, vec![payload(0, 12)])) {
            Ok(offset) => break offset,
            Err(e) => {
                assert!(Instant::now() < deadline, "the partition did not heal: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    assert_eq!(first, 12, "the cut record was never acknowledged, so its offset is reused");
    for i in 13..16 {
        block_on(log.append(0, vec![payload(0, i)])).unwrap();
    }
    let got = read_all(&log, 0, 0);
    assert_eq!(got.len(), 16);
    assert!(got.iter().all(|r| r.payload == payload(0, r.offset)));
    drop(log);
    // And after a restart.
    let log = EmbeddedLog::open(config(&log_dir, 1, 8 << 10)).unwrap();
    assert_eq!(read_all(&log, 0, 0).len(), 16);
}

#[test]
fn config_defaults_validation_and_serde() {
    let c = EmbeddedLogConfig::default();
    assert_eq!((c.fsync, c.segment_bytes), (FsyncPolicy::Always, 64 << 20));
    assert!(c.validate().unwrap_err().to_string().contains("log.dir"));
    EmbeddedLogConfig { dir: "/x".into(), ..c }.validate().unwrap();
    let c: EmbeddedLogConfig = serde_json::from_str(r#"{"dir":"/x","partitions":4,"fsync":"never"}"#).unwrap();
    assert_eq!((c.partitions, c.fsync, c.segment_bytes), (4, FsyncPolicy::Never, 64 << 20));
    assert!(EmbeddedLogConfig { partitions: 0, ..c.clone() }.validate().is_err());
    assert!(EmbeddedLogConfig { segment_bytes: 10, ..c }.validate().is_err());
}

/// Group-commit throughput: 64 concurrent appenders of 64 KiB records with
/// fsync=always. Run: `cargo test -p strata-common --lib group_commit_throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn group_commit_throughput() {
    let partitions: u32 = std::env::var("LOG_BENCH_PARTITIONS").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let dir = tempfile::tempdir_in(std::env::var("LOG_BENCH_DIR").unwrap_or_else(|_| ".".into())).unwrap();
    let log = EmbeddedLog::open(config(dir.path(), partitions, 64 << 20)).unwrap();
    let appenders = 64;
    let per: usize = std::env::var("LOG_BENCH_PER").ok().and_then(|s| s.parse().ok()).unwrap_or(100);
    let record = Bytes::from(vec![0x5a; 64 << 10]);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..appenders {
            let (log, record) = (&log, record.clone());
            s.spawn(move || {
                for i in 0..per {
                    block_on(log.append(((t + i) % partitions as usize) as u32, vec![record.clone()])).unwrap();
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let n = (appenders * per) as f64;
    println!(
        "group commit, fsync=always, {partitions} partition(s), {appenders} appenders x {per} x 64 KiB: \
         {:.0} appends/s, {:.1} MB/s ({secs:.2}s)",
        n / secs,
        n * 65536.0 / secs / 1e6
    );
}
