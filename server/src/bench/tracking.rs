//! Experiment tracking end to end over a real socket, as the MLflow client talks to
//! it: `runs/log-batch` ingest (1000 metrics per request, several clients writing
//! to one run at once, which must give 0 errors), `metrics/get-history` of a long
//! curve, and `runs/search` sorted by a metric over an experiment of many runs.

use super::Report;
use crate::http::{CookieSettings, Limits, ServerState, metrics::Metrics};
use domain::auth::{NewToken, NewUser, Role};
use serde_json::{Value, json};
use services::artifacts::ArtifactStore;
use sqlx::PgPool;
use std::time::Instant;

pub struct Settings {
    pub clients: usize,
    pub batches_per_client: usize,
    pub history_steps: usize,
    pub runs: usize,
    pub metrics_per_run: usize,
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let r = http.post(format!("{base}/api/2.0/mlflow/{path}")).bearer_auth(token).json(&body).send().await?;
    let status = r.status();
    let v: Value = r.json().await?;
    anyhow::ensure!(status.is_success(), "{path}: {status} {v}");
    Ok(v)
}

pub async fn run(pool: &PgPool, s: &Settings) -> anyhow::Result<Report> {
    let new =
        NewUser { username: "bench".into(), role: Role::Editor, password: Some("Tr0ub4dor&3-staple".into()) };
    services::auth::users::create_from_cli(pool, new, false).await?;
    let token = services::auth::tokens::create_from_cli(
        pool,
        "bench",
        NewToken { name: "bench".into(), expires_in_days: None },
    )
    .await?
    .secret;
    let artifacts = std::env::temp_dir().join(format!("cairn-bench-{}", uuid::Uuid::new_v4().simple()));
    let state = ServerState {
        leptos_options: leptos::config::LeptosOptions::builder().output_name("cairn").build(),
        services: services::AppState::new(
            pool.clone(),
            ArtifactStore::open(&artifacts.display().to_string())?,
        ),
        metrics: Metrics::default(),
        limits: Limits::new(16 << 20),
        cookies: CookieSettings { secure: false },
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(crate::serve::serve_on(listener, state, std::future::pending()));
    let http = reqwest::Client::new();

    let exp = call(&http, &base, &token, "experiments/create", json!({"name": "bench"})).await?;
    let exp_id = exp["experiment_id"].as_str().unwrap_or_default().to_string();
    let run = call(&http, &base, &token, "runs/create", json!({"experiment_id": exp_id})).await?;
    let run_id = run["run"]["info"]["run_id"].as_str().unwrap_or_default().to_string();

    // Ingest: every client writes 1000-point batches into the same run. The request
    // bodies are encoded before the clock starts: on this shared machine the client's
    // JSON encoding would otherwise compete with the server it measures.
    let encode = Instant::now();
    let mut bodies = Vec::new();
    for c in 0..s.clients {
        let mut mine = Vec::new();
        for b in 0..s.batches_per_client {
            let step = (c * s.batches_per_client + b) as i64;
            let metrics: Vec<Value> = (0..1000)
                .map(|k| json!({"key": format!("m{}", k % 50), "value": k as f64 * 0.5, "timestamp": step, "step": step}))
                .collect();
            mine.push(serde_json::to_vec(&json!({"run_id": run_id, "metrics": metrics}))?);
        }
        bodies.push(mine);
    }
    let encode_s = encode.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for mine in bodies {
        let (http, url, token) =
            (http.clone(), format!("{base}/api/2.0/mlflow/runs/log-batch"), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut errors = 0usize;
            for body in mine {
                let sent = http
                    .post(&url)
                    .bearer_auth(&token)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => {
                        errors += 1;
                        let status = r.status();
                        let body = r.text().await.unwrap_or_default();
                        tracing::warn!(%status, %body, "log-batch failed");
                    }
                    Err(e) => {
                        errors += 1;
                        tracing::warn!(error = %e, "log-batch failed");
                    }
                }
            }
            errors
        }));
    }
    let mut errors = 0;
    for task in tasks {
        errors += task.await?;
    }
    let ingest_s = t.elapsed().as_secs_f64();
    let points = (s.clients * s.batches_per_client * 1000) as f64;

    // A long curve, then its history read back in one page.
    let long = call(&http, &base, &token, "runs/create", json!({"experiment_id": exp_id})).await?;
    let long_id = long["run"]["info"]["run_id"].as_str().unwrap_or_default().to_string();
    for chunk in (0..s.history_steps).collect::<Vec<_>>().chunks(1000) {
        let metrics: Vec<Value> = chunk
            .iter()
            .map(|&i| json!({"key": "loss", "value": 1.0 / (i as f64 + 1.0), "timestamp": i, "step": i}))
            .collect();
        call(&http, &base, &token, "runs/log-batch", json!({"run_id": long_id, "metrics": metrics})).await?;
    }
    let t = Instant::now();
    let url = format!(
        "{base}/api/2.0/mlflow/metrics/get-history?run_id={long_id}&metric_key=loss&max_results={}",
        s.history_steps
    );
    // Parsed into typed points, as a client would, rather than a `Value` tree.
    #[derive(serde::Deserialize)]
    struct History {
        metrics: Vec<domain::tracking::Metric>,
    }
    let hist: History = http.get(url).bearer_auth(&token).send().await?.json().await?;
    let history_ms = t.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(hist.metrics.len() == s.history_steps, "history came back short");

    // Many runs, then the first page sorted by one metric.
    let search_exp = call(&http, &base, &token, "experiments/create", json!({"name": "search"})).await?;
    let search_id = search_exp["experiment_id"].as_str().unwrap_or_default().to_string();
    // Filled with SQL rather than the API (one request per run takes hours at
    // 100,000 runs), in chunks so no one statement holds millions of rows.
    let fill = Instant::now();
    let search_exp_id: i64 = search_id.parse()?;
    const CHUNK: usize = 10_000;
    for first in (0..s.runs).step_by(CHUNK) {
        let n = CHUNK.min(s.runs - first);
        services::db::tracking::bench_fill_experiment(
            pool,
            search_exp_id,
            first as i64,
            n as i64,
            s.metrics_per_run as i32,
        )
        .await?;
    }
    services::db::tracking::analyze_tracking(pool).await?;
    let fill_s = fill.elapsed().as_secs_f64();
    let t = Instant::now();
    let page = call(
        &http,
        &base,
        &token,
        "runs/search",
        json!({"experiment_ids": [search_id], "order_by": ["metrics.m3 DESC"], "max_results": 100}),
    )
    .await?;
    let search_ms = t.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(page["runs"].as_array().map(Vec::len) == Some(100.min(s.runs)), "search came back short");

    server.abort();
    let _ = std::fs::remove_dir_all(&artifacts);
    Ok(Report {
        title: "cairn bench tracking: MLflow REST over a real socket",
        figures: vec![
            ("ingest_clients", s.clients as f64, "clients writing to one run"),
            ("ingest_points", points, "metric points"),
            ("ingest_points_per_second", points / ingest_s, "points/s"),
            ("ingest_errors", errors as f64, ""),
            ("ingest_client_encode_seconds", encode_s, "s (request bodies, before the clock)"),
            ("history_steps", s.history_steps as f64, ""),
            ("get_history_ms", history_ms, "ms (one page, client-side time)"),
            ("search_runs", s.runs as f64, "runs"),
            ("search_fill_seconds", fill_s, "s (runs and metrics written with SQL, then analyze)"),
            ("search_first_page_sorted_by_metric_ms", search_ms, "ms (100 runs, client-side time)"),
        ],
        notes: vec![
            "1000 metrics per log-batch request over 50 keys; a scratch database is created and dropped"
                .into(),
            "times include JSON encoding and the HTTP round trip on localhost; log-batch bodies are encoded before the clock starts"
                .into(),
            "the search experiment is filled with SQL (services::db::tracking::bench_fill_experiment), not the API".into(),
        ],
    })
}
