//! SQL answers equal PromQL answers for the same raw-sample questions.

use super::*;

/// `avg(value)` and `count(*)` per host over `(end - 10m, end]` equal
/// `avg_over_time` and `count_over_time` of `[10m]` at `end`; `sum`,
/// `min`, `max` likewise.
#[tokio::test]
async fn window_aggregates_equal_the_over_time_functions() {
    let app = app();
    let end = OFFSET + 200 * STEP + 1_234;
    let start = end - 600_000;
    let q = format!(
        "SELECT hostname, avg(value) AS a, count(*) AS n, sum(value) AS s, min(value) AS lo, max(value) AS hi \
         FROM cpu_usage_user WHERE timestamp > to_timestamp_millis({start}) AND timestamp <= to_timestamp_millis({end}) \
         GROUP BY hostname ORDER BY hostname"
    );
    let rows = sql(&app, &q).await["data"]["rows"].as_array().unwrap().clone();
    assert_eq!(rows.len(), HOSTS);
    for (func, col) in [("avg", "a"), ("count", "n"), ("sum", "s"), ("min", "lo"), ("max", "hi")] {
        let prom = promql(&app, &format!("{func}_over_time(cpu_usage_user[10m])"), end).await;
        assert_eq!(prom.len(), HOSTS, "{func}");
        for (labels, v) in prom {
            let host = labels["hostname"].as_str().unwrap();
            let row = rows.iter().find(|r| r["hostname"] == host).unwrap();
            let got = row[col].as_f64().unwrap();
            assert!((got - v).abs() <= 1e-9 * v.abs().max(1.0), "{func} {host}: sql {got} promql {v}");
        }
    }
}

/// A whole-range count equals `count_over_time` over a range covering
/// everything, and `count(DISTINCT hostname)` the number of series.
#[tokio::test]
async fn row_counts_equal_count_over_time() {
    let app = app();
    let total = sql(&app, "SELECT count(*) AS n, count(DISTINCT hostname) AS h FROM mem_free").await;
    assert_eq!(total["data"]["rows"][0]["n"], (SAMPLES as usize * HOSTS) as u64);
    assert_eq!(total["data"]["rows"][0]["h"], HOSTS as u64);
    let end = OFFSET + SAMPLES * STEP;
    let prom = promql(&app, "sum(count_over_time(mem_free[2h]))", end).await;
    assert_eq!(prom[0].1, (SAMPLES as usize * HOSTS) as f64);
}

/// Label filters (pushed down) give the same rows as PromQL matchers,
/// including a series without the label.
#[tokio::test]
async fn label_filters_match_promql_matchers() {
    let app = app();
    let end = OFFSET + 100 * STEP;
    let cases = [
        ("region = 'region-0'", "region=\"region-0\""),
        ("region IN ('region-0', 'region-1')", "region=~\"region-0|region-1\""),
        ("hostname ~ '^host_[13]$'", "hostname=~\"host_[13]\""),
        ("region IS NULL", "region=\"\""),
        ("region != 'region-0'", "region!=\"region-0\",region!=\"\""),
    ];
    for (filter, matcher) in cases {
        let q = format!(
            "SELECT hostname, count(*) AS n FROM cpu_usage_user WHERE {filter} AND timestamp <= to_timestamp_millis({end}) \
             GROUP BY hostname ORDER BY hostname"
        );
        let rows = sql(&app, &q).await["data"]["rows"].as_array().unwrap().clone();
        let mut prom = promql(&app, &format!("count_over_time(cpu_usage_user{{{matcher}}}[1h])"), end).await;
        prom.sort_by(|a, b| a.0["hostname"].as_str().cmp(&b.0["hostname"].as_str()));
        let sql_rows: Vec<(String, f64)> =
            rows.iter().map(|r| (r["hostname"].as_str().unwrap().to_string(), r["n"].as_f64().unwrap())).collect();
        let prom_rows: Vec<(String, f64)> =
            prom.iter().map(|(l, v)| (l["hostname"].as_str().unwrap().to_string(), *v)).collect();
        assert!(!sql_rows.is_empty(), "{filter}");
        assert_eq!(sql_rows, prom_rows, "{filter} vs {matcher}");
    }
}

/// Grouped aggregates computed inside the scan give DataFusion's own
/// answer over the rows: `abs` (a no-op on this data, whose values are not
/// negative) keeps the same statement on the rows path. Grouping by
/// `region` puts several series in a group, and host_4 (no region) in the
/// null group. Sums are compared to 1e-12 relative: with more than two
/// scan partitions the final merge adds the partitions' sums in the order
/// they arrive, on either path.
#[tokio::test]
async fn aggregates_in_the_scan_equal_the_rows_path_exactly() {
    let app = app();
    let end = OFFSET + 300 * STEP;
    for group in ["hostname", "region", "region, hostname"] {
        let q = |v: &str| {
            format!(
                "SELECT {group}, avg({v}) AS a, sum({v}) AS s, min({v}) AS lo, max({v}) AS hi, count(*) AS n \
                 FROM cpu_usage_user WHERE timestamp < to_timestamp_millis({end}) GROUP BY {group} ORDER BY {group}"
            )
        };
        let (pushed, rows) = (q("value"), q("abs(value)"));
        assert!(sql(&app, &format!("EXPLAIN {pushed}")).await.to_string().contains("aggregate=["));
        assert!(!sql(&app, &format!("EXPLAIN {rows}")).await.to_string().contains("aggregate=["));
        let (a, b) = (sql(&app, &pushed).await, sql(&app, &rows).await);
        let (a, b) = (a["data"]["rows"].as_array().unwrap(), b["data"]["rows"].as_array().unwrap());
        assert!(!a.is_empty());
        assert_eq!(a.len(), b.len(), "GROUP BY {group}");
        for (x, y) in a.iter().zip(b) {
            for col in ["hostname", "region", "lo", "hi", "n"] {
                assert_eq!(x[col], y[col], "GROUP BY {group}: {col}");
            }
            for col in ["a", "s"] {
                let (p, r) = (x[col].as_f64().unwrap(), y[col].as_f64().unwrap());
                assert!((p - r).abs() <= 1e-12 * r.abs().max(1.0), "GROUP BY {group}: {col} {p} vs {r}");
            }
        }
    }
}
