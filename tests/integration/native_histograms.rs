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
