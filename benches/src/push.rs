//! Sends encoded [`Lanes`] to a system's remote-write endpoint, one task per
//! lane, each lane in order. Lanes are kept within [`WINDOW_MS`] of data
//! time of each other: a lane waits at every window boundary until all
//! lanes reached it. Without that, on hours of data one lane can run more
//! than an hour ahead of another, and Prometheus then refuses the late
//! lane's samples as out of bounds (its head accepts samples no older than
//! its newest minus one hour, and compacts hours behind the newest into
//! read-only blocks). Workloads shorter than the window never wait.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use tokio::sync::Barrier;

use crate::systems::System;
use crate::workload::Lanes;

/// Most data time (ms) one lane may be ahead of another.
pub const WINDOW_MS: i64 = 30 * 60 * 1000;

/// Pushes every request of `lanes`; returns the wall time it took. The
/// first failure is returned once every lane has finished (a failed lane
/// stops sending but keeps meeting the others at the window boundaries).
pub async fn push(sys: &System, lanes: Arc<Lanes>, start_ms: i64) -> Result<Duration> {
    let client = reqwest::Client::new();
    let url = sys.write_url();
    let epoch = move |t: i64| (t - start_ms).max(0) / WINDOW_MS;
    let epochs = lanes.iter().flatten().map(|r| epoch(r.newest_ms)).max().unwrap_or(0);
    let barrier = Arc::new(Barrier::new(lanes.len()));
    let started = Instant::now();
    let tasks = (0..lanes.len()).map(|lane| {
        let (client, url, lanes, barrier) = (client.clone(), url.clone(), lanes.clone(), barrier.clone());
        tokio::spawn(async move {
            let mut at = 0;
            let mut failure = None;
            for req in &lanes[lane] {
                while at < epoch(req.newest_ms) {
                    barrier.wait().await;
                    at += 1;
                }
                if failure.is_none() {
                    failure = send(&client, &url, &req.body).await.err();
                }
            }
            while at < epochs {
                barrier.wait().await;
                at += 1;
            }
            failure.map_or(Ok(()), Err)
        })
    });
    for r in futures::future::join_all(tasks).await {
        r??;
    }
    Ok(started.elapsed())
}

async fn send(client: &reqwest::Client, url: &str, body: &[u8]) -> Result<()> {
    let resp = client
        .post(url)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body.to_vec())
        .send()
        .await?;
    if !resp.status().is_success() {
        let status = resp.status();
        return Err(anyhow!("push failed: {status}: {}", resp.text().await.unwrap_or_default()));
    }
    Ok(())
}
