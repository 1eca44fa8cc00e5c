//! Training speed, two ways:
//!
//! 1. **Logistic regression on flights** (~330k rows): predict whether a flight
//!    arrives more than 15 minutes late from month, day, departure delay and time,
//!    distance, carrier and origin (median impute, scale, one-hot; stratified 20%
//!    test split). Timed: reading the file into a frame, and `ml::train::train`
//!    (preparation, fit, evaluation; no permutation importance) — no database.
//! 2. **A 50-trial random search on credit_data** through the real path: a scratch
//!    database, the dataset uploaded, `training::search::submit`, and `workers`
//!    queue workers running the trials as jobs until the search finishes. CPU use
//!    (process CPU time over wall time) shows whether both cores worked.

use super::Report;
use domain::auth::Role;
use domain::datasets::{FileFormat, NewDataset};
use domain::prepare::{ImputeStrategy, SplitSpec, Step, TransformSpec};
use domain::training::{Algorithm, ParamRange, SearchMethod, SearchSpec, TrainingSpec, TrainingState};
use ml::frame::{Column, ColumnData, Frame};
use ml::train::{Hooks, TrainRequest};
use services::datasets::{self, Spooled, VersionInput};
use services::queue::JobRegistry;
use services::queue::worker::{self, WorkerConfig};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Settings {
    pub flights: PathBuf,
    pub credit: PathBuf,
    pub trials: usize,
    pub workers: usize,
}

/// Reads a CSV(.gz) the way an upload does, into one frame.
fn load(path: &Path) -> anyhow::Result<Frame> {
    let name = path.to_string_lossy();
    let format = if name.ends_with(".gz") { FileFormat::CsvGz } else { FileFormat::Csv };
    let ingested =
        services::datasets::ingest::ingest_file(path, format, &BTreeMap::new(), &mut |_, _| Ok(()))?;
    let bytes = std::fs::read(ingested.parquet.path())?;
    Ok(services::datasets::read::whole(bytes.into())?)
}

/// Adds `late` = arr_delay > 15 (missing where arr_delay is).
fn with_late(mut frame: Frame) -> anyhow::Result<Frame> {
    let delay = frame
        .column("arr_delay")
        .and_then(|c| c.data.to_f64())
        .ok_or_else(|| anyhow::anyhow!("the flights file has no numeric arr_delay column"))?;
    let late = delay.iter().map(|d| (!d.is_nan()).then_some(*d > 15.0)).collect();
    frame.columns.push(Column::new("late", ColumnData::Bool(late)));
    Ok(frame)
}

fn flights_request() -> anyhow::Result<TrainRequest> {
    let features = ["month", "day", "dep_delay", "sched_dep_time", "distance", "hour", "carrier", "origin"];
    let text = vec!["carrier".to_string(), "origin".to_string()];
    Ok(TrainRequest {
        target: Some("late".into()),
        features: features.iter().map(|f| f.to_string()).collect(),
        prepare: TransformSpec {
            target: Some("late".into()),
            steps: vec![
                Step::Filter { expr: "late is not null".into() },
                Step::Impute { strategy: ImputeStrategy::Median, columns: None },
                Step::StandardScale { columns: None },
                Step::OneHot { columns: text, max_categories: None },
            ],
            split: Some(SplitSpec::Stratified { column: "late".into(), test_fraction: 0.2, seed: 1 }),
        },
        algorithm: Algorithm::with_defaults("logistic_regression").map_err(anyhow::Error::msg)?,
        seed: 1,
        slice_column: None,
        importance_repeats: 0,
        gates: Vec::new(),
    })
}

/// Seconds of CPU this process has used (user + system), from /proc.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit(')').next()?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

pub async fn run(pool: &PgPool, s: &Settings) -> anyhow::Result<Report> {
    let mut figures = Vec::new();
    let mut notes = Vec::new();

    // 1. Logistic regression on flights, no database.
    let path = s.flights.clone();
    let (load_s, rows, fit_s, auc, n_train) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let t = Instant::now();
        let frame = with_late(load(&path)?)?;
        let load_s = t.elapsed().as_secs_f64();
        let rows = frame.n_rows();
        let request = flights_request()?;
        let t = Instant::now();
        let cancelled = || false;
        let mut progress = |_| {};
        let mut hooks = Hooks { cancelled: &cancelled, progress: &mut progress };
        let outcome = ml::train::train(&frame, &request, None, &mut hooks)?;
        let fit_s = t.elapsed().as_secs_f64();
        let auc = outcome.evaluation.metrics.get("roc_auc").copied().unwrap_or(f64::NAN);
        Ok((load_s, rows, fit_s, auc, outcome.n_train))
    })
    .await??;
    figures.push(("flights_rows", rows as f64, "rows"));
    figures.push(("flights_train_rows", n_train as f64, "rows"));
    figures.push(("flights_load_seconds", load_s, "s (CSV.gz → frame)"));
    figures.push(("flights_logistic_train_seconds", fit_s, "s (prepare + fit + evaluate)"));
    figures.push(("flights_logistic_roc_auc", auc, "held-out"));

    // 2. A random search on credit_data through the queue.
    let dir = tempfile::tempdir()?;
    let store = services::artifacts::ArtifactStore::open(&dir.path().display().to_string())?;
    let st = services::AppState::new(pool.clone(), store);
    let p = bench_user(pool).await?;
    let new = NewDataset { name: "credit".into(), description: String::new(), project_id: None };
    let id = datasets::create(&st, &p, new).await?.dataset_id;
    let bytes = std::fs::read(&s.credit)?;
    let input = VersionInput::upload(Some("credit_data.csv".into()), BTreeMap::new());
    datasets::create_version(&st, &p, id, Spooled::from_bytes(&bytes)?, input).await?;
    let text: Vec<String> = ["Home", "Marital", "Records", "Job"].map(String::from).to_vec();
    let base = TrainingSpec {
        dataset: "credit".into(),
        version: None,
        experiment: None,
        run_name: Some("bench-search".into()),
        target: Some("Status".into()),
        features: Vec::new(),
        prepare: TransformSpec {
            target: Some("Status".into()),
            steps: vec![
                Step::Impute { strategy: ImputeStrategy::Median, columns: None },
                Step::Impute { strategy: ImputeStrategy::MostFrequent, columns: Some(text.clone()) },
                Step::StandardScale { columns: None },
                Step::OneHot { columns: text, max_categories: None },
            ],
            split: Some(SplitSpec::Stratified { column: "Status".into(), test_fraction: 0.2, seed: 3 }),
        },
        algorithm: serde_json::json!({"name": "random_forest"}),
        seed: 3,
        slice_column: None,
        gates: Vec::new(),
        baseline_run: None,
        cv_folds: None,
        auto_prepare: false,
    };
    let search = SearchSpec {
        base,
        method: SearchMethod::Random,
        space: BTreeMap::from([
            ("n_trees".into(), ParamRange::Int { low: 20, high: 120 }),
            ("max_depth".into(), ParamRange::Int { low: 3, high: 14 }),
            ("feature_fraction".into(), ParamRange::Uniform { low: 0.2, high: 1.0 }),
        ]),
        n_trials: s.trials,
        objective: None,
        cv_folds: None,
    };
    let cpu0 = cpu_seconds();
    let t = Instant::now();
    let made = services::training::search::submit(&st, &p, search).await?;
    let registry = services::training::register(JobRegistry::new()).provide(st.clone());
    let workers = worker::start(
        pool.clone(),
        registry,
        WorkerConfig {
            concurrency: s.workers.max(1),
            cpu_slots: s.workers.max(1),
            poll_interval: Duration::from_millis(50),
            ..WorkerConfig::default()
        },
    );
    let run_id = services::tracking::parse_run_id(&made.run_id)?;
    let detail = loop {
        let d = services::training::get(&st, &p, run_id).await?;
        if d.summary.state.is_terminal() {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let search_s = t.elapsed().as_secs_f64();
    let cpu = cpu0.zip(cpu_seconds()).map(|(a, b)| b - a);
    workers.shutdown().await;
    anyhow::ensure!(
        detail.summary.state == TrainingState::Finished,
        "the search ended {}: {:?}",
        detail.summary.state.as_str(),
        detail.summary.error
    );
    let best = detail.trials.first().and_then(|t| t.objective).unwrap_or(f64::NAN);
    figures.push(("search_trials", detail.trials.len() as f64, "random forest trials"));
    figures.push(("search_workers", s.workers as f64, "concurrent trials"));
    figures.push(("search_seconds", search_s, "s (submit → search finished)"));
    figures.push(("search_trials_per_second", detail.trials.len() as f64 / search_s, "trials/s"));
    figures.push(("search_best_roc_auc", best, "held-out"));
    if let Some(cpu) = cpu {
        figures.push(("search_cpu_utilisation", cpu / search_s, "cores busy on average"));
    }
    notes.push(format!("flights file {}; credit_data {}", s.flights.display(), s.credit.display()));
    notes.push(
        "search space: n_trees 20-120, max_depth 3-14, feature_fraction 0.2-1.0 (random, seed 3)".into(),
    );
    Ok(Report {
        title: "cairn bench train: logistic regression on flights, random search on credit_data",
        figures,
        notes,
    })
}

pub(super) async fn bench_user(pool: &PgPool) -> anyhow::Result<services::auth::Principal> {
    let name = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let id: uuid::Uuid = sqlx::query_scalar(
        "insert into app_user (username, password_hash, role) values ($1, 'x', 'editor') returning user_id",
    )
    .bind(&name)
    .fetch_one(pool)
    .await?;
    Ok(services::auth::Principal {
        user_id: domain::UserId(id),
        username: name,
        role: Role::Editor,
        via: services::auth::Via::Cli,
        ip: None,
    })
}
