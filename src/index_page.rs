//! `GET /`: a small HTML page naming the server, its version, its role,
//! its readiness and the endpoints this role serves, so a browser pointed
//! at Strata (or an operator with curl) sees what it reached instead of
//! an empty 404.

/// Endpoints served by every role.
const PROCESS: &[(&str, &str)] = &[
    ("GET /metrics", "this process's metrics (Prometheus text format)"),
    ("GET /ready", "200 when ready, 503 with the reason otherwise (also /-/ready)"),
    ("GET /health", "200 while the process is up (also /-/healthy)"),
];

/// The remote-write endpoint (distributor, all-in-one).
const PUSH: &[(&str, &str)] = &[("POST /api/v1/push", "Prometheus remote write 1.0 (also /api/v1/write)")];

/// The Prometheus HTTP query API (querier, all-in-one).
const QUERY: &[(&str, &str)] = &[
    ("GET|POST /api/v1/query", "instant PromQL query"),
    ("GET|POST /api/v1/query_range", "range PromQL query"),
    ("GET|POST /api/v1/query_cost", "the cost estimate and lane a query would get, without running it"),
    ("GET|POST /api/v1/format_query", "the query, pretty-printed"),
    ("GET|POST /api/v1/series", "series matching match[]"),
    ("GET|POST /api/v1/labels", "label names"),
    ("GET /api/v1/label/&lt;name&gt;/values", "values of one label"),
    ("GET /api/v1/status/buildinfo", "version information"),
    (
        "GET /api/v1/status/tsdb",
        "head cardinality: top series counts by metric, label and label pair (a cluster querier merges its ingesters)",
    ),
];

/// The head protocol (ingester, all-in-one in cluster-less form).
const HEAD: &[(&str, &str)] = &[
    ("POST /internal/v1/head/read", "head samples for queriers (Arrow IPC)"),
    ("POST /internal/v1/head/labels", "head label names and values"),
    ("POST /internal/v1/head/estimate", "head series and sample counts for cost estimates"),
    ("GET /internal/v1/head/progress", "per-partition offsets applied to the head"),
];

/// The endpoint groups `role` serves.
fn endpoints(role: &str) -> Vec<(&'static str, &'static [(&'static str, &'static str)])> {
    let mut groups = Vec::new();
    if matches!(role, "all-in-one" | "distributor") {
        groups.push(("Write", PUSH));
    }
    if matches!(role, "all-in-one" | "querier") {
        groups.push(("Query (Prometheus HTTP API)", QUERY));
    }
    if role == "ingester" {
        groups.push(("Head protocol (internal)", HEAD));
    }
    groups.push(("Operations", PROCESS));
    groups
}

/// The page for a process running `role`; `ready` is `None` when ready,
/// else the reason it is not.
pub fn render(role: &str, ready: Option<&str>) -> String {
    let version = env!("CARGO_PKG_VERSION");
    let revision = option_env!("STRATA_GIT_REVISION").unwrap_or("unknown");
    let readiness = match ready {
        None => "ready".to_string(),
        Some(reason) => format!("not ready: {}", escape(reason)),
    };
    let mut out = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Strata</title></head><body>\n\
         <h1>Strata {version}</h1>\n<p>Role: <b>{role}</b> &middot; revision {revision} &middot; {readiness}</p>\n",
        role = escape(role),
        revision = escape(revision),
    );
    for (title, list) in endpoints(role) {
        out.push_str(&format!("<h2>{title}</h2>\n<ul>\n"));
        for (path, what) in list {
            out.push_str(&format!("<li><code>{path}</code>: {what}</li>\n"));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</body></html>\n");
    out
}

/// Minimal HTML escaping for text that is not a constant of this module.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_lists_what_it_serves() {
        let all = render("all-in-one", None);
        assert!(all.contains("<h1>Strata "), "{all}");
        assert!(all.contains("Role: <b>all-in-one</b>"), "{all}");
        assert!(all.contains("/api/v1/push") && all.contains("/api/v1/query_range") && all.contains("/metrics"));
        assert!(!all.contains("/internal/v1/head/read"));
        let ingester = render("ingester", Some("replaying the log"));
        assert!(ingester.contains("not ready: replaying the log"), "{ingester}");
        assert!(ingester.contains("/internal/v1/head/read") && !ingester.contains("/api/v1/query"));
        let distributor = render("distributor", None);
        assert!(distributor.contains("/api/v1/push") && !distributor.contains("/api/v1/query"));
    }

    #[test]
    fn reasons_are_escaped() {
        assert!(render("querier", Some("<script>")).contains("not ready: &lt;script&gt;"));
    }
}
