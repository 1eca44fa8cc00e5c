//! Orchestration overhead of the pipeline runner: a pipeline of no-op command steps
//! (`true`), once as a chain (each step after the previous one) and once as a wide
//! fan-out (one root, every other step after it), run by queue workers on a scratch
//! database exactly as `cairn serve` runs them.
//!
//! - **total**: wall time from `start_run` to the run's end;
//! - **work**: what the steps themselves cost: one `true` process, measured here
//!   by spawning it in a loop, times the steps (divided by the workers for the
//!   fan-out, whose steps run side by side);
//! - **overhead per step** = (total − work) / steps: queueing, claiming, the
//!   runner's bookkeeping, outputs and lineage, and `advance`.

use super::Report;
use domain::pipelines::StartRun;
use services::queue::JobRegistry;
use services::queue::worker::{self, WorkerConfig};
use services::training::command::CommandSettings;
use sqlx::PgPool;
use std::time::{Duration, Instant};

pub struct Settings {
    pub steps: usize,
    pub workers: usize,
}

/// The spec: `chain` puts each step after the previous one, otherwise every step
/// but the first follows the first.
pub fn spec(name: &str, steps: usize, chain: bool) -> String {
    let mut s = format!(
        "name: {name}\ncomponents:\n  noop:\n    command: [\"true\"]\nsteps:\n  - name: s0\n    component: noop\n    cache: false\n"
    );
    for i in 1..steps {
        let after = if chain { i - 1 } else { 0 };
        s.push_str(&format!(
            "  - name: s{i}\n    component: noop\n    cache: false\n    after: [s{after}]\n"
        ));
    }
    s
}

/// Seconds one `true` process costs (spawn, run, wait), the median of `n`.
fn noop_cost(n: usize) -> anyhow::Result<f64> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let status = std::process::Command::new("true").status()?;
        anyhow::ensure!(status.success(), "`true` failed");
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(times[times.len() / 2])
}

pub async fn run(pool: &PgPool, s: &Settings) -> anyhow::Result<Report> {
    let dir = tempfile::tempdir()?;
    let st = services::AppState::new(
        pool.clone(),
        services::artifacts::ArtifactStore::open(&dir.path().display().to_string())?,
    )
    .with_commands(CommandSettings { allow: vec!["true".into()], ..Default::default() });
    services::pipelines::register_builtins(pool).await?;
    let p = super::train::bench_user(pool).await?;
    let registry = services::pipelines::register(JobRegistry::new()).provide(st.clone());
    let workers = worker::start(
        pool.clone(),
        registry,
        WorkerConfig {
            name: "bench-pipeline".into(),
            concurrency: s.workers,
            poll_interval: Duration::from_millis(200),
            ..WorkerConfig::default()
        },
    );
    let cost = noop_cost(200)?;
    let steps = s.steps.max(2);
    let mut figures = vec![
        ("steps", steps as f64, ""),
        ("workers", s.workers as f64, "concurrent step jobs"),
        ("noop_process_ms", cost * 1e3, "ms per `true` (spawn + wait)"),
    ];
    for (label, chain) in [("chain", true), ("fanout", false)] {
        let name = format!("bench-{label}");
        services::pipelines::submit(&st, &p, &spec(&name, steps, chain)).await?;
        let t = Instant::now();
        let run = services::pipelines::start_run(&st, &p, &name, StartRun::default()).await?;
        let id = run.summary.run_id;
        let summary = loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let r = services::pipelines::runs(&st, &p, Some(&name), None, 1).await?;
            if let Some(r) = r.into_iter().find(|r| r.run_id == id)
                && r.state.is_terminal()
            {
                break r;
            }
        };
        let total = t.elapsed().as_secs_f64();
        anyhow::ensure!(
            summary.state == domain::pipelines::RunState::Succeeded,
            "the {label} run ended {}: {}",
            summary.state.as_str(),
            summary.error.unwrap_or_default()
        );
        let parallel = if chain { 1.0 } else { s.workers.max(1) as f64 };
        let work = cost * steps as f64 / parallel;
        let (total_key, work_key, per_key) = match label {
            "chain" => ("chain_total_s", "chain_work_s", "chain_overhead_ms_per_step"),
            _ => ("fanout_total_s", "fanout_work_s", "fanout_overhead_ms_per_step"),
        };
        figures.push((total_key, total, "s"));
        figures.push((work_key, work, "s (no-op processes)"));
        figures.push((per_key, (total - work) / steps as f64 * 1e3, "ms per step (goal < 10)"));
    }
    workers.shutdown().await;
    Ok(Report {
        title: "cairn bench pipeline: orchestration overhead of no-op command steps",
        figures,
        notes: vec![
            "a scratch database is created and dropped; steps are `true` with caching off".into(),
            "overhead = (total − no-op process time) / steps; the fan-out's process time is divided by the workers"
                .into(),
        ],
    })
}
