//! Native histograms over remote write 1.0 through the real binary: the
//! request is accepted whole (the float series pushed next to a histogram is
//! no longer lost), histograms survive a log replay and reach flushed files
//! in format v5. (PromQL over histograms is not implemented yet.)

use strata_distributor::proto::{BucketSpan, Histogram};
use strata_storage::FileReader;

use super::harness::{Strata, series, vector, write_request};
use super::push_query::T0;

fn histogram(i: i64) -> Histogram {
    Histogram {
        count_int: Some(3 + i as u64),
        sum: 4.5 + i as f64,
        schema: 0,
        zero_threshold: 1e-128,
        zero_count_int: Some(1),
        positive_spans: vec![BucketSpan { offset: 0, length: 2 }],
        positive_deltas: vec![1, i],
        timestamp: T0 + i * 15_000,
        ..Default::default()
    }
}

/// Histogram samples of every flushed file under `data`, by metric name.
fn flushed_histograms(data: &std::path::Path) -> Vec<(String, i64, f64)> {
    let mut out = Vec::new();
    let files = data.join("files");
    for tenant in std::fs::read_dir(&files).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(tenant.path()).unwrap().flatten() {
            if f.path().extension().is_none_or(|e| e != "strata") {
                continue;
            }
            let r = FileReader::open(&f.path()).unwrap();
            for id in 0..r.series_count() {
                let mut h = Vec::new();
                r.hist_samples(id, i64::MIN, i64::MAX, &mut h).unwrap();
                let name = r.labels(id).unwrap().get("__name__").unwrap_or_default().to_string();
                out.extend(h.into_iter().map(|s| (name.clone(), s.t, s.h.count)));
            }
        }
    }
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

#[test]
fn histograms_are_accepted_stored_and_flushed_with_their_float_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    std::fs::write(&config, "[ingester]\nflush_interval_ms = 100\n").unwrap();
    let data = dir.path().join("data");
    let mut s = Strata::start(&data, &["--config", config.to_str().unwrap()]);
    let mut lat = series(&[("__name__", "http_request_duration_seconds"), ("job", "api")], &[]);
    lat.histograms = (0..4).map(histogram).collect();
    let up = series(&[("__name__", "up"), ("job", "api")], &[(T0, 1.0)]);
    let r = s.push(&write_request(vec![lat, up]));
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap_or_default());
    let at = (T0 + 60_000) as f64 / 1000.0;
    assert_eq!(vector(&s.query("up", at)).len(), 1, "the float series of the batch is stored");
    let (status, body) = s.get("/api/v1/series", &[("match[]", "http_request_duration_seconds")]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "the histogram series is indexed: {body}");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let want: Vec<(String, i64, f64)> =
        (0..4).map(|i| ("http_request_duration_seconds".to_string(), T0 + i * 15_000, 3.0 + i as f64)).collect();
    while flushed_histograms(&data) != want {
        assert!(
            std::time::Instant::now() < deadline,
            "histograms never reached a file: {:?}",
            flushed_histograms(&data)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // A malformed histogram is a 400 naming the series (a partial write): its
    // valid neighbour in the request is stored.
    let mut bad = series(&[("__name__", "bad"), ("job", "api")], &[]);
    bad.histograms = vec![Histogram { schema: 42, ..histogram(0) }];
    let r = s.push(&write_request(vec![bad, series(&[("__name__", "other")], &[(T0, 1.0)])]));
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap().contains("invalid native histogram in series bad{job=\"api\"}"));
    assert_eq!(vector(&s.query("other", at)).len(), 1);
    // SIGKILL and restart: replaying the log (version 4 records) is clean.
    s.restart();
    assert_eq!(vector(&s.query("up", at)).len(), 1);
}

/// The out-of-order window applies to native histograms as to floats: a
/// histogram older than what the head (and a flushed file) already holds
/// but inside the window is stored and queryable; one older than the
/// window is refused alone (a partial-write 400), its float neighbour kept.
#[test]
fn out_of_order_histograms_inside_the_window_are_stored_and_older_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    std::fs::write(&config, "[distributor]\nout_of_order_window_ms = 3600000\n[ingester]\nflush_interval_ms = 100\n")
        .unwrap();
    let data = dir.path().join("data");
    let s = Strata::start(&data, &["--config", config.to_str().unwrap()]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let at = |t: i64| Histogram { timestamp: t, ..histogram(1) };
    let push = |t: i64, with_float: bool| {
        let mut lat = series(&[("__name__", "ooo_latency"), ("job", "api")], &[]);
        lat.histograms = vec![at(t)];
        let mut batch = vec![lat];
        if with_float {
            batch.push(series(&[("__name__", "ooo_float")], &[(now, 1.0)]));
        }
        s.push(&write_request(batch))
    };
    assert_eq!(push(now - 10_000, false).status().as_u16(), 204);
    // Wait until the newest histogram is in a file: the next one is older
    // than both the head and the file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while flushed_histograms(&data).is_empty() {
        assert!(std::time::Instant::now() < deadline, "never flushed");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(push(now - 1_200_000, false).status().as_u16(), 204, "20 minutes old, inside the window");
    let r = push(now - 7_200_000, true);
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap().contains("sample too old for series ooo_latency{job=\"api\"}"));
    let query_at = now as f64 / 1000.0;
    assert_eq!(vector(&s.query("ooo_float", query_at)).len(), 1, "the float neighbour is kept");
    let count = || vector(&s.query("count_over_time(ooo_latency[3h])", query_at));
    assert_eq!(count(), [("{\"job\":\"api\"}".to_string(), "2".to_string())], "head and file, not the refused one");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while flushed_histograms(&data).len() < 2 {
        assert!(std::time::Instant::now() < deadline, "the out-of-order histogram never reached a file");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(count(), [("{\"job\":\"api\"}".to_string(), "2".to_string())], "from files");
}
