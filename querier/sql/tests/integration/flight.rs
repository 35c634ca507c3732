//! Flight SQL through arrow-flight's own client: statements, prepared
//! statements, catalog browsing, errors and tenants.

use arrow_flight::sql::CommandGetTables;
use arrow_flight::sql::client::FlightSqlServiceClient;
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use futures::TryStreamExt;
use tonic::transport::Channel;

use super::*;

/// Starts the Flight SQL service over the test data on a free port.
async fn client(tenant: Option<&str>) -> FlightSqlServiceClient<Channel> {
    client_with_auth(tenant, None).await
}

/// [`client`], with `[auth]` on when `auth` is set.
async fn client_with_auth(
    tenant: Option<&str>,
    auth: Option<Arc<strata_auth::Auth>>,
) -> FlightSqlServiceClient<Channel> {
    let st = Arc::new(QuerierState::with_source(QuerierConfig::default(), source(), QuerierMetrics::unregistered()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(strata_sql::flight::serve_listener(SqlEngine::new(st), auth, listener, std::future::pending()));
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    let mut c = FlightSqlServiceClient::new(channel);
    if let Some(t) = tenant {
        c.set_header("x-scope-orgid", t);
    }
    c
}

async fn fetch(c: &mut FlightSqlServiceClient<Channel>, info: arrow_flight::FlightInfo) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    for ep in info.endpoint {
        let stream = c.do_get(ep.ticket.unwrap()).await.unwrap();
        out.extend(stream.try_collect::<Vec<_>>().await.unwrap());
    }
    out
}

#[tokio::test]
async fn statements_and_prepared_statements_answer_like_the_http_endpoint() {
    let mut c = client(None).await;
    let q = "SELECT hostname, count(*) AS n FROM cpu_usage_user GROUP BY hostname ORDER BY hostname";
    let info = c.execute(q.to_string(), None).await.unwrap();
    let batches = fetch(&mut c, info).await;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, HOSTS);
    let n: i64 = batches.iter().map(|b| b.column(1).as_primitive::<Int64Type>().values().iter().sum::<i64>()).sum();
    assert_eq!(n, SAMPLES * HOSTS as i64);
    // Labels arrive as plain strings.
    assert_eq!(batches[0].column(0).as_string::<i32>().value(0), "host_0");

    let mut prepared = c.prepare(q.to_string(), None).await.unwrap();
    let info = prepared.execute().await.unwrap();
    let again = fetch(&mut c, info).await;
    assert_eq!(again, batches);
}

#[tokio::test]
async fn tables_are_browsable_per_tenant_and_errors_carry_codes() {
    let mut c = client(Some("other")).await;
    let req = CommandGetTables { include_schema: true, ..Default::default() };
    let info = c.get_tables(req).await.unwrap();
    let batches = fetch(&mut c, info).await;
    let names: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let col = b.column_by_name("table_name").unwrap().as_string::<i32>();
            (0..b.num_rows()).map(|i| col.value(i).to_string()).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(names, vec!["secret_metric"]);
    let err = c.execute("SELECT * FROM cpu_usage_user".into(), None).await.unwrap_err();
    assert!(err.to_string().contains("cpu_usage_user"), "{err}");
    assert!(err.to_string().contains("InvalidArgument") || err.to_string().contains("invalid argument"), "{err}");
}

#[tokio::test]
async fn credentials_bind_the_tenant_when_auth_is_on() {
    let creds = format!(
        "[[credential]]\nname = \"other-only\"\ntoken_sha256 = \"{}\"\ntenants = [\"other\"]\n",
        strata_auth::hash_token("tok-other")
    );
    let auth = strata_auth::Auth::from_text(&creds).unwrap();
    let q = "SELECT count(*) FROM secret_metric";
    // No credentials, or wrong ones: Unauthenticated.
    for token in [None, Some("Bearer wrong")] {
        let mut c = client_with_auth(Some("other"), Some(auth.clone())).await;
        if let Some(t) = token {
            c.set_header("authorization", t);
        }
        let err = c.execute(q.into(), None).await.unwrap_err().to_string();
        assert!(err.contains("valid authentication credentials"), "{token:?}: {err}");
    }
    // A tenant the credential may not use: PermissionDenied.
    let mut c = client_with_auth(None, Some(auth.clone())).await;
    c.set_header("authorization", "Bearer tok-other");
    c.set_header("x-scope-orgid", "anonymous");
    let err = c.execute("SELECT count(*) FROM cpu_usage_user".into(), None).await.unwrap_err().to_string();
    assert!(err.contains("permission") && err.contains("may not access tenant"), "{err}");
    // Without a tenant header the credential's tenant is used, and its data answers.
    let mut c = client_with_auth(None, Some(auth)).await;
    c.set_header("authorization", "Bearer tok-other");
    let info = c.execute(q.into(), None).await.unwrap();
    let batches = fetch(&mut c, info).await;
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    assert!(batches[0].column(0).as_primitive::<Int64Type>().value(0) > 0);
}
