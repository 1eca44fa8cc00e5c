//! Serving throughput and latency, on loopback, with the load generator in the same
//! process (sharing the cores with the server, as the issue asks):
//!
//! 1. 1-row predictions through the friendly API at concurrency 32 (keep-alive):
//!    peak requests/s with the serving log on, then off (the log's cost).
//! 2. Server-side latency p50/p99 at half of peak (paced clients), from the engine's
//!    histogram (validation + prediction + log hand-off, measured in the handler).
//! 3. 1,000-row requests: rows/s.
//! 4. `serving::logs::read_window` over 1M logged 1-row requests × 20 features,
//!    written through the log's own encoder into a scratch database.
//!
//! The model: logistic regression on credit_data (impute, scale, one-hot). No queue
//! workers or scheduler run: the server only serves.

use super::Report;
use crate::http::{CookieSettings, Limits, ServerState, metrics::Metrics};
use domain::auth::{NewToken, NewUser, Role};
use domain::serving::{EndpointChange, NewEndpoint};
use ml::frame::{Column, ColumnData, Frame};
use services::artifacts::ArtifactStore;
use services::serving::{self, LoadedModel, fixture, logs};
use sqlx::PgPool;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Settings {
    pub credit: PathBuf,
    pub seconds: f64,
    pub concurrency: usize,
    pub logged_requests: usize,
    pub features: usize,
}

struct Load {
    ok: u64,
    failed: u64,
    seconds: f64,
}

/// `concurrency` clients posting `body` until `seconds` pass; with `pace`, each
/// client sends at most one request per `pace`.
async fn load(
    url: &str,
    token: &str,
    body: &str,
    concurrency: usize,
    seconds: f64,
    pace: Option<Duration>,
) -> Load {
    let client =
        reqwest::Client::builder().pool_max_idle_per_host(concurrency * 2).build().unwrap_or_default();
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(concurrency);
    let start = Instant::now();
    for i in 0..concurrency {
        let (client, stop, ok, failed) = (client.clone(), stop.clone(), ok.clone(), failed.clone());
        let (url, token, body) =
            (url.to_string(), format!("Bearer {token}"), bytes::Bytes::from(body.to_string()));
        tasks.push(tokio::spawn(async move {
            let mut tick = pace.map(|p| {
                // Spread the clients' phases so paced requests do not arrive in bursts.
                let start = tokio::time::Instant::now() + p.mul_f64(i as f64 / concurrency.max(1) as f64);
                let mut t = tokio::time::interval_at(start, p);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
            while !stop.load(Ordering::Relaxed) {
                if let Some(t) = tick.as_mut() {
                    t.tick().await;
                }
                let r = client
                    .post(&url)
                    .header("authorization", &token)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    for t in tasks {
        let _ = t.await;
    }
    Load { ok: ok.load(Ordering::Relaxed), failed: failed.load(Ordering::Relaxed), seconds: elapsed }
}

fn record(age: usize) -> serde_json::Value {
    serde_json::json!({"Seniority": 9, "Home": "rent", "Time": 60, "Age": 20 + age % 50, "Marital": "married",
        "Records": "no", "Job": "freelance", "Expenses": 73, "Income": 129.0, "Assets": 0.0, "Debt": 0.0,
        "Amount": 800, "Price": 846})
}

/// The engine histogram's growth between two snapshots.
fn delta(after: &[u64], before: &[u64]) -> Vec<u64> {
    after.iter().zip(before).map(|(a, b)| a - b).collect()
}

pub async fn run(pool: &PgPool, s: &Settings) -> anyhow::Result<Report> {
    let mut figures = Vec::new();
    let mut notes = Vec::new();
    let dir = tempfile::tempdir()?;
    let st = services::AppState::new(pool.clone(), ArtifactStore::open(&dir.path().display().to_string())?);
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
    let p = services::auth::tokens::verify(&st, &token, None).await?;

    let credit = s.credit.clone();
    let bundle = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let frame = fixture::read_csv(&credit)?;
        fixture::credit_bundle(&frame, "logistic_regression", 1)
    })
    .await??;
    let (v1, _) = fixture::register_bundle(&st, "credit", &bundle).await?;
    fixture::set_alias(&st, "credit", "production", v1).await?;
    serving::create(
        &st,
        &p,
        NewEndpoint { name: "credit".into(), model: "credit".into(), ..Default::default() },
    )
    .await?;
    let handle = serving::start(&st).await;

    let state = ServerState {
        leptos_options: leptos::config::LeptosOptions::builder().output_name("cairn").build(),
        metrics: Metrics::new(Some(st.serving.clone())),
        services: st.clone(),
        limits: Limits::new(64 << 20),
        cookies: CookieSettings { secure: false },
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/api/v1/endpoints/credit/predict", listener.local_addr()?);
    let server = tokio::spawn(crate::serve::serve_on(listener, state, std::future::pending()));

    let one = serde_json::json!({ "records": [record(30)] }).to_string();
    let thousand = serde_json::json!({ "records": (0..1000).map(record).collect::<Vec<_>>() }).to_string();

    // Warm-up: connections, allocator, caches.
    load(&url, &token, &one, s.concurrency, 1.0, None).await;

    let set_logging = |rate: f64| {
        let (st, p) = (st.clone(), p.clone());
        async move {
            serving::change(
                &st,
                &p,
                "credit",
                EndpointChange { log_sample_rate: Some(rate), ..Default::default() },
            )
            .await
        }
    };

    // 1. Peak, log off then on (alternated twice, best of each).
    let mut peak_on: f64 = 0.0;
    let mut peak_off: f64 = 0.0;
    let mut failed = 0;
    for _ in 0..2 {
        set_logging(0.0).await?;
        let l = load(&url, &token, &one, s.concurrency, s.seconds / 2.0, None).await;
        peak_off = peak_off.max(l.ok as f64 / l.seconds);
        failed += l.failed;
        set_logging(1.0).await?;
        let l = load(&url, &token, &one, s.concurrency, s.seconds / 2.0, None).await;
        peak_on = peak_on.max(l.ok as f64 / l.seconds);
        failed += l.failed;
    }
    figures.push(("one_row_requests_per_second_log_on", peak_on, "req/s (concurrency 32, keep-alive)"));
    figures.push(("one_row_requests_per_second_log_off", peak_off, "req/s"));
    figures.push(("serving_log_cost_percent", (1.0 - peak_on / peak_off) * 100.0, "% of throughput"));

    // 2. Latency at half of peak, log on.
    let target = peak_on / 2.0;
    let pace = Duration::from_secs_f64(s.concurrency as f64 / target);
    let before = st.serving.latency.snapshot();
    let l = load(&url, &token, &one, s.concurrency, s.seconds, Some(pace)).await;
    failed += l.failed;
    let hist = delta(&st.serving.latency.snapshot(), &before);
    let p50 = serving::engine::percentile_us(&hist, 0.5).unwrap_or(f64::NAN);
    let p99 = serving::engine::percentile_us(&hist, 0.99).unwrap_or(f64::NAN);
    figures.push(("half_peak_requests_per_second", l.ok as f64 / l.seconds, "req/s (paced)"));
    figures.push(("half_peak_server_p50_ms", p50 / 1000.0, "ms (handler: validate + predict + log)"));
    figures.push(("half_peak_server_p99_ms", p99 / 1000.0, "ms"));

    // 3. 1,000-row requests.
    let before = st.serving.latency.snapshot();
    let c = s.concurrency.min(8);
    let l = load(&url, &token, &thousand, c, s.seconds, None).await;
    failed += l.failed;
    let hist = delta(&st.serving.latency.snapshot(), &before);
    figures.push((
        "thousand_row_rows_per_second",
        l.ok as f64 * 1000.0 / l.seconds,
        "rows/s (concurrency 8)",
    ));
    figures.push((
        "thousand_row_server_p50_ms",
        serving::engine::percentile_us(&hist, 0.5).unwrap_or(f64::NAN) / 1000.0,
        "ms",
    ));
    figures.push(("failed_requests", failed as f64, ""));

    handle.shutdown().await;
    let log = &st.serving.logs.stats;
    figures.push(("log_written_requests", log.written_requests.load(Ordering::Relaxed) as f64, ""));
    figures.push(("log_dropped_requests", log.dropped.load(Ordering::Relaxed) as f64, "(queue full)"));
    server.abort();

    // 4. read_window over 1M logged requests.
    let (write_s, read_s, read_n) = read_window(&st, s.logged_requests, s.features).await?;
    figures.push(("window_write_seconds", write_s, "s (encode + insert, setup)"));
    figures.push(("read_window_seconds", read_s, "s (best of 3)"));
    figures.push(("read_window_requests", read_n as f64, "requests"));
    figures.push(("read_window_features", s.features as f64, "float features"));

    notes.push(format!(
        "credit_data {}; logistic regression; the load generator (reqwest, keep-alive) shares the cores with the server",
        s.credit.display()
    ));
    notes.push("no queue workers or scheduler run; latency is measured in the handler (engine histogram, ±9 % buckets)".into());
    Ok(Report {
        title: "cairn bench serving: predictions over loopback, the serving log, read_window",
        figures,
        notes,
    })
}

/// Writes `n` logged 1-row requests × `features` float features (10,000 per flush
/// batch) through the log's encoder, then times reading them back.
async fn read_window(
    st: &services::AppState,
    n: usize,
    features: usize,
) -> anyhow::Result<(f64, f64, usize)> {
    let names: Vec<String> = (0..features).map(|i| format!("f{i}")).collect();
    let model = {
        let names = names.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<LoadedModel> {
            let rows = 2000;
            let mut rng = fastrand::Rng::with_seed(7);
            let mut columns: Vec<Column> = names
                .iter()
                .map(|n| {
                    Column::new(n.clone(), ColumnData::Float((0..rows).map(|_| Some(rng.f64())).collect()))
                })
                .collect();
            let y: Vec<Option<String>> =
                (0..rows).map(|i| Some(if i % 2 == 0 { "a" } else { "b" }.to_string())).collect();
            columns.push(Column::new("y", ColumnData::Str(y)));
            let frame = Frame::new(columns)?;
            let request = ml::train::TrainRequest {
                target: Some("y".into()),
                features: Vec::new(),
                prepare: domain::prepare::TransformSpec::default(),
                algorithm: domain::training::Algorithm::with_defaults("logistic_regression")
                    .map_err(anyhow::Error::msg)?,
                seed: 1,
                slice_column: None,
                importance_repeats: 0,
                gates: Vec::new(),
            };
            let cancelled = || false;
            let mut progress = |_| {};
            let mut hooks = ml::train::Hooks { cancelled: &cancelled, progress: &mut progress };
            let bundle = ml::train::train(&frame, &request, None, &mut hooks)?.bundle;
            Ok(LoadedModel::new(domain::ModelVersionId(uuid::Uuid::new_v4()), 1, "synthetic".into(), bundle))
        })
        .await??
    };
    let model = Arc::new(model);
    let endpoint = domain::EndpointId(uuid::Uuid::new_v4());
    let start = chrono::Utc::now() - chrono::Duration::minutes(30);
    let per_batch = 10_000;
    let t = Instant::now();
    let mut written = 0;
    let mut batch_no = 0i64;
    while written < n {
        let size = per_batch.min(n - written);
        let (model, names) = (model.clone(), names.clone());
        let at = start + chrono::Duration::milliseconds(batch_no * 1000);
        let encoded = tokio::task::spawn_blocking(move || {
            let mut rng = fastrand::Rng::with_seed(batch_no as u64);
            let records: Vec<logs::LogRecord> = (0..size)
                .map(|i| {
                    let columns = names
                        .iter()
                        .map(|n| Column::new(n.clone(), ColumnData::Float(vec![Some(rng.f64())])))
                        .collect();
                    let frame = Frame { columns };
                    let output = model.predict(&frame).ok().map(Arc::new);
                    logs::LogRecord {
                        endpoint_id: endpoint,
                        model: model.clone(),
                        shadow: false,
                        request_id: uuid::Uuid::new_v4().to_string(),
                        received_at_us: at.timestamp_micros() + i as i64 * 100,
                        latency_us: 50 + (i % 100) as u32,
                        status: 200,
                        error: None,
                        input: Some(Arc::new(frame)),
                        output,
                    }
                })
                .collect();
            logs::encode(&records)
        })
        .await??;
        logs::write_encoded(st, &encoded).await?;
        written += size;
        batch_no += 1;
    }
    let write_s = t.elapsed().as_secs_f64();
    let mut best = f64::INFINITY;
    let mut count = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let w =
            logs::read_window(st, endpoint, start - chrono::Duration::minutes(1), chrono::Utc::now()).await?;
        best = best.min(t.elapsed().as_secs_f64());
        count = w.requests();
    }
    Ok((write_s, best, count))
}
