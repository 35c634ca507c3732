//! `/api/v1/sql` and `/api/v1/export`: formats, errors, tenants, catalog,
//! pushdown in EXPLAIN.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::arrow::ipc::reader::StreamReader;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::*;

/// The text of an EXPLAIN answer (every plan line).
fn plan_text(json: &serde_json::Value) -> String {
    let rows = json["data"]["rows"].as_array().unwrap();
    rows.iter().map(|r| format!("{}: {}\n", r["plan_type"].as_str().unwrap(), r["plan"].as_str().unwrap())).collect()
}

/// The value of metric `name` in an EXPLAIN ANALYZE text.
fn metric(plan: &str, name: &str) -> u64 {
    let at = plan.find(&format!("{name}=")).unwrap_or_else(|| panic!("{name} missing: {plan}"));
    plan[at + name.len() + 1..].chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse().unwrap()
}

fn error_of(body: &[u8]) -> (String, String) {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(json["status"], "error");
    (json["errorType"].as_str().unwrap().to_string(), json["error"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn json_csv_and_arrow_answers_hold_the_same_rows() {
    let app = app();
    let q =
        "SELECT hostname, timestamp, value FROM cpu_usage_user WHERE hostname = 'host_1' ORDER BY timestamp LIMIT 3";
    let json = sql(&app, q).await;
    let rows = json["data"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["hostname"], "host_1");
    assert_eq!(rows[0]["timestamp"], "1970-01-01T00:00:02.500Z");
    assert_eq!(json["data"]["columns"][1]["name"], "timestamp");

    let (status, ct, body) = post(&app, "/api/v1/sql", None, &[("query", q), ("format", "csv")]).await;
    assert_eq!((status, ct.as_str()), (StatusCode::OK, "text/csv; charset=utf-8"));
    let csv = String::from_utf8(body).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "hostname,timestamp,value");
    assert_eq!(lines.len(), 4);
    assert!(lines[1].starts_with("host_1,1970-01-01T00:00:02.500"), "{csv}");

    let (status, ct, body) = post(&app, "/api/v1/sql", None, &[("query", q), ("format", "arrow")]).await;
    assert_eq!((status, ct.as_str()), (StatusCode::OK, "application/vnd.apache.arrow.stream"));
    let batches: Vec<RecordBatch> = StreamReader::try_new(&body[..], None).unwrap().map(|b| b.unwrap()).collect();
    let values: Vec<f64> =
        batches.iter().flat_map(|b| b.column(2).as_primitive::<Float64Type>().values().to_vec()).collect();
    let json_values: Vec<f64> = rows.iter().map(|r| r["value"].as_f64().unwrap()).collect();
    assert_eq!(values, json_values);
}

#[tokio::test]
async fn a_json_body_and_a_plain_text_body_are_accepted() {
    let app = app();
    let req = Request::post("/api/v1/sql?format=csv")
        .header("Content-Type", "application/json")
        .body(Body::from(r#"{"query": "SELECT count(*) AS n FROM mem_free"}"#))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    assert_eq!(std::str::from_utf8(&body).unwrap(), format!("n\n{}\n", SAMPLES as usize * HOSTS));
    let req = Request::post("/api/v1/sql").header("Content-Type", "text/plain").body(Body::from("SELECT 1 AS one"));
    let resp = app.clone().oneshot(req.unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn errors_are_json_with_400_for_planning_and_422_for_execution() {
    let app = app();
    for (q, status, kind, needle) in [
        ("SELEC 1", StatusCode::BAD_REQUEST, "bad_data", "SQL"),
        ("SELECT * FROM no_such_metric", StatusCode::BAD_REQUEST, "bad_data", "no_such_metric"),
        ("SELECT nope FROM cpu_usage_user", StatusCode::BAD_REQUEST, "bad_data", "nope"),
        ("CREATE TABLE t AS SELECT 1", StatusCode::BAD_REQUEST, "bad_data", "DDL"),
        ("COPY (SELECT 1) TO '/tmp/x.csv'", StatusCode::BAD_REQUEST, "bad_data", "DML"),
        ("SELECT CAST(hostname AS INT) FROM cpu_usage_user", StatusCode::UNPROCESSABLE_ENTITY, "execution", "Cast"),
    ] {
        let (got, ct, body) = post(&app, "/api/v1/sql", None, &[("query", q)]).await;
        assert_eq!(ct, "application/json");
        let (t, msg) = error_of(&body);
        assert_eq!((got, t.as_str()), (status, kind), "{q}: {msg}");
        assert!(msg.contains(needle), "{q}: {msg}");
    }
    let (status, _, body) = post(&app, "/api/v1/sql", None, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&body).1.contains("query"));
    let (status, _, _) = post(&app, "/api/v1/sql", None, &[("query", "SELECT 1"), ("format", "xml")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_tables() {
    let app = app();
    let tables = |tenant: Option<&'static str>| {
        let app = app.clone();
        async move {
            let q =
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name";
            let (status, _, body) = post(&app, "/api/v1/sql", tenant, &[("query", q)]).await;
            assert_eq!(status, StatusCode::OK);
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            json["data"]["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["table_name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(tables(None).await, vec!["cpu_usage_user", "mem_free"]);
    assert_eq!(tables(Some("other")).await, vec!["secret_metric"]);
    assert!(tables(Some("nobody")).await.is_empty());
    // Another tenant's table is unknown, on every path.
    let (status, _, _) = post(&app, "/api/v1/sql", None, &[("query", "SELECT * FROM secret_metric")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = post(&app, "/api/v1/export", None, &[("metric", "secret_metric")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, body) =
        post(&app, "/api/v1/sql", Some("other"), &[("query", "SELECT value FROM secret_metric")]).await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["data"]["rows"][0]["value"], 42.0);
    // With multi-tenancy on, no tenant is 401.
    let config = QuerierConfig { multitenancy_enabled: true, ..Default::default() };
    let strict = app_with(config, source());
    let (status, _, _) = post(&strict, "/api/v1/sql", None, &[("query", "SELECT 1")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn information_schema_lists_label_columns_then_timestamp_and_value() {
    let app = app();
    let q = "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'cpu_usage_user' ORDER BY ordinal_position";
    let json = sql(&app, q).await;
    let cols: Vec<(String, String)> = json["data"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["column_name"].as_str().unwrap().into(), r["data_type"].as_str().unwrap().into()))
        .collect();
    let names: Vec<&str> = cols.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(names, vec!["hostname", "region", "timestamp", "value"]);
    assert!(cols[0].1.starts_with("Dictionary(Int32, Utf8)"), "{cols:?}");
    assert!(cols[2].1.starts_with("Timestamp(ms"), "{cols:?}");
    assert_eq!(cols[3].1, "Float64");
}

#[tokio::test]
async fn explain_shows_the_pushed_matchers_and_range_and_analyze_what_was_read() {
    let app = app();
    let q = "SELECT avg(value) FROM cpu_usage_user WHERE hostname = 'host_2' AND region IN ('region-0', 'region-9') \
             AND timestamp >= to_timestamp_millis(600000) AND timestamp < to_timestamp_millis(1200000)";
    let explain = plan_text(&sql(&app, &format!("EXPLAIN {q}")).await);
    assert!(explain.contains(r#"hostname="host_2""#), "{explain}");
    assert!(explain.contains(r#"region=~"region"#) && explain.contains("region-9"), "{explain}");
    // `<` of a millisecond time is exact: the range ends a millisecond before.
    assert!(explain.contains("time_ms=[600000, 1199999]"), "{explain}");
    // Every filter is exact, so DataFusion reads no column to filter again.
    assert!(explain.contains("projection=[value]"), "{explain}");
    assert!(!explain.contains("FilterExec"), "{explain}");
    let analyzed = plan_text(&sql(&app, &format!("EXPLAIN ANALYZE {q}")).await);
    assert_eq!(metric(&analyzed, "series_read"), 1, "{analyzed}");
    assert_eq!(metric(&analyzed, "samples_read"), 60, "{analyzed}");
}

#[tokio::test]
async fn explain_shows_grouped_aggregates_computed_in_the_scan() {
    let app = app();
    let q = "EXPLAIN SELECT hostname, avg(value), count(*) FROM cpu_usage_user \
             WHERE timestamp <= to_timestamp_millis(600000) GROUP BY hostname";
    let explain = plan_text(&sql(&app, q).await);
    assert!(explain.contains("aggregate=[avg(cpu_usage_user.value), count("), "{explain}");
    assert!(explain.contains("group_by=[hostname]"), "{explain}");
    assert!(!explain.contains("mode=Partial"), "{explain}");
    // A filter DataFusion applies again keeps the rows path.
    let q = "EXPLAIN SELECT hostname, avg(value) FROM cpu_usage_user WHERE value > 1 GROUP BY hostname";
    let explain = plan_text(&sql(&app, q).await);
    assert!(explain.contains("FilterExec") && explain.contains("projection="), "{explain}");
    assert!(!explain.contains("aggregate=["), "{explain}");
    let analyzed = plan_text(&sql(&app, "EXPLAIN ANALYZE SELECT dc, sum(value) FROM mem_free GROUP BY dc").await);
    assert_eq!(metric(&analyzed, "series_read"), HOSTS as u64, "{analyzed}");
    // 1,800 samples, shown rounded.
    assert!(analyzed.contains("samples_read=1.80 K"), "{analyzed}");
}

#[tokio::test]
async fn limit_stops_the_scan_early() {
    let app = app();
    let analyzed = plan_text(&sql(&app, "EXPLAIN ANALYZE SELECT * FROM mem_free LIMIT 7").await);
    assert!(analyzed.contains("limit=7"), "{analyzed}");
    // At most one series per scan partition is read, not all five.
    assert!(metric(&analyzed, "series_read") < HOSTS as u64, "{analyzed}");
    let rows = sql(&app, "SELECT * FROM mem_free LIMIT 7").await;
    assert_eq!(rows["data"]["rows"].as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn export_writes_parquet_with_the_rows_of_the_sql_endpoint() {
    let app = app();
    let (status, ct, body) =
        post(&app, "/api/v1/export", None, &[("metric", "cpu_usage_user"), ("start", "600"), ("end", "1200")]).await;
    assert_eq!((status, ct.as_str()), (StatusCode::OK, "application/vnd.apache.parquet"));
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(body)).unwrap().build().unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let names: Vec<String> = batches[0].schema().fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, vec!["hostname", "region", "timestamp", "value"]);
    let expected = sql(
        &app,
        "SELECT count(*) AS n, sum(value) AS s FROM cpu_usage_user \
         WHERE timestamp >= to_timestamp_millis(600000) AND timestamp <= to_timestamp_millis(1200000)",
    )
    .await;
    assert_eq!(rows as u64, expected["data"]["rows"][0]["n"].as_u64().unwrap());
    let sum: f64 = batches.iter().map(|b| b.column(3).as_primitive::<Float64Type>().values().iter().sum::<f64>()).sum();
    assert!((sum - expected["data"]["rows"][0]["s"].as_f64().unwrap()).abs() < 1e-6);
    // host_4 has no region: nulls survive the round trip.
    let nulls: usize = batches.iter().map(|b| b.column(1).null_count()).sum();
    assert_eq!(nulls, rows / HOSTS);
}
