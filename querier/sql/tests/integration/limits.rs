//! The guard rails: cost-based admission from the pushed filters, the
//! memory budget.

use strata_querier::scheduler::SchedulerConfig;

use super::*;

#[tokio::test]
async fn admission_uses_the_pushed_down_estimate() {
    // 1,800 samples in mem_free; a limit of 500 refuses a full scan but
    // admits one host over ten minutes.
    let scheduler = SchedulerConfig { max_query_cost: 500, ..Default::default() };
    let app = app_with(QuerierConfig { scheduler, ..Default::default() }, source());
    let (status, _, body) = post(&app, "/api/v1/sql", None, &[("query", "SELECT avg(value) FROM mem_free")]).await;
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
    assert!(json["error"].as_str().unwrap().contains("estimated cost"), "{json}");
    let narrow = "SELECT avg(value) FROM mem_free WHERE hostname = 'host_1' \
                  AND timestamp BETWEEN to_timestamp_millis(0) AND to_timestamp_millis(600000)";
    sql(&app, narrow).await;
}

#[tokio::test]
async fn the_memory_budget_bounds_datafusion_and_the_answer() {
    let config = QuerierConfig { max_query_memory_bytes: 16 << 10, ..Default::default() };
    let app = app_with(config, source());
    for q in ["SELECT * FROM mem_free", "SELECT * FROM mem_free ORDER BY value DESC"] {
        let (status, _, body) = post(&app, "/api/v1/sql", None, &[("query", q)]).await;
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {json}");
    }
    // Small answers still fit.
    sql(&app, "SELECT count(*) FROM mem_free").await;
}
