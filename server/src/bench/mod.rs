//! `cairn bench ...`: benchmarks that anyone can repeat. Each needs only
//! `DATABASE_URL` (it creates and drops its own scratch database; `drift` and
//! `profile` need none), prints its figures, and with `--json` ends with one JSON object of
//! them. Benchmarks measure; tests check behaviour.

pub mod auth;
pub mod drift;
pub mod pipeline;
pub mod profile;
pub mod serving;
pub mod tracking;
pub mod train;

use crate::config::DatabaseArgs;
use clap::{Args, Subcommand};
use sqlx::PgPool;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Cost of checking an API token per request (cached, uncached, through the router).
    Auth(BenchArgs),
    /// Jobs per second through the Postgres queue: enqueue, claim and complete no-op jobs.
    Queue(QueueBenchArgs),
    /// MLflow-style tracking over HTTP: log-batch ingest, get-history, runs/search.
    Tracking(TrackingBenchArgs),
    /// Drift statistics (PSI, KS + p-value, JS) on generated numeric columns; no database.
    Drift(DriftBenchArgs),
    /// Ingest (type inference, canonical Parquet) + profile of a file, as an upload does; no database.
    Profile(ProfileBenchArgs),
    /// Training: logistic regression on flights; a random search on credit_data run by queue workers.
    Train(TrainBenchArgs),
    /// Pipelines: orchestration overhead per step of a 1,000-step pipeline of no-op
    /// command steps, as a chain and as a wide fan-out.
    Pipeline(PipelineBenchArgs),
    /// Serving: 1-row and 1,000-row predictions over loopback (log on/off), latency at
    /// half of peak, and reading 1M logged requests back.
    Serving(ServingBenchArgs),
}

#[derive(Args, Debug)]
pub struct PipelineBenchArgs {
    /// Steps of each pipeline.
    #[arg(long, default_value_t = 1_000)]
    pub steps: usize,
    /// Step jobs run at once.
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    #[command(flatten)]
    pub bench: BenchArgs,
}

#[derive(Args, Debug)]
pub struct ServingBenchArgs {
    /// The credit_data CSV the model is trained on.
    #[arg(long, default_value = "testdata/credit_data.csv")]
    pub credit: PathBuf,
    /// Seconds of load per measurement.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Concurrent clients for 1-row requests.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Logged requests written for the read_window measurement.
    #[arg(long, default_value_t = 1_000_000)]
    pub logged_requests: usize,
    /// Float features of each logged request.
    #[arg(long, default_value_t = 20)]
    pub features: usize,
    #[command(flatten)]
    pub bench: BenchArgs,
}

#[derive(Args, Debug)]
pub struct TrainBenchArgs {
    /// The flights CSV(.gz) for the logistic regression.
    #[arg(long, default_value = "../shared/data/flights.csv.gz")]
    pub flights: PathBuf,
    /// The credit_data CSV for the search.
    #[arg(long, default_value = "testdata/credit_data.csv")]
    pub credit: PathBuf,
    /// Trials of the random search.
    #[arg(long, default_value_t = 50)]
    pub trials: usize,
    /// Trials run at once (queue worker concurrency).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    #[command(flatten)]
    pub bench: BenchArgs,
}

#[derive(Args, Debug)]
pub struct ProfileBenchArgs {
    /// CSV, CSV.gz or Parquet file (relative to the current directory, or absolute).
    #[arg(long, default_value = "../shared/data/flights.csv.gz")]
    pub file: PathBuf,
    /// Times each measurement is repeated (best and median are reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Instead of --file: generate a CSV of this many rows of mixed columns in a temp
    /// dir (deleted afterwards) and report peak memory against its size.
    #[arg(long)]
    pub synthetic_rows: Option<usize>,
    /// Columns of the synthetic CSV.
    #[arg(long, default_value_t = 20)]
    pub synthetic_columns: usize,
    /// Seed of the synthetic CSV.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// End with one JSON object of the figures.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct DriftBenchArgs {
    /// Rows of the current data.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: usize,
    /// Rows of the baseline the reference is prepared from.
    #[arg(long, default_value_t = 1_000_000)]
    pub baseline_rows: usize,
    /// Numeric columns (half of them drifted).
    #[arg(long, default_value_t = 20)]
    pub columns: usize,
    /// Histogram bins for the JS divergence.
    #[arg(long, default_value_t = 20)]
    pub bins: usize,
    /// Keep at most this many sorted baseline values per column for KS.
    #[arg(long)]
    pub max_reference_sample: Option<usize>,
    /// Times the drift check is repeated (the best run is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// End with one JSON object of the figures.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct TrackingBenchArgs {
    /// Clients writing 1000-metric batches to the same run at once.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Batches each client sends.
    #[arg(long, default_value_t = 25)]
    pub batches: usize,
    /// Steps of the curve read back with metrics/get-history.
    #[arg(long, default_value_t = 100_000)]
    pub history_steps: usize,
    /// Runs in the experiment that runs/search sorts (the target is 100000).
    #[arg(long, default_value_t = 2_000)]
    pub runs: usize,
    /// Metrics per run in that experiment.
    #[arg(long, default_value_t = 20)]
    pub metrics_per_run: usize,
    #[command(flatten)]
    pub bench: BenchArgs,
}

#[derive(Args, Debug)]
pub struct QueueBenchArgs {
    /// No-op jobs to run.
    #[arg(long, default_value_t = 10_000)]
    pub jobs: usize,
    /// Worker processes' worth of workers (each with its own connection pool).
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    #[command(flatten)]
    pub bench: BenchArgs,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// End with one JSON object of the figures.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Auth(args) => {
            let scratch = Scratch::create(&args.db.database_url).await?;
            let result = auth::run(&scratch.pool).await;
            scratch.drop().await?;
            let report = result?;
            report.print(args.json);
            Ok(())
        }
        BenchCommand::Tracking(args) => {
            let scratch = Scratch::create(&args.bench.db.database_url).await?;
            let settings = tracking::Settings {
                clients: args.clients,
                batches_per_client: args.batches,
                history_steps: args.history_steps,
                runs: args.runs,
                metrics_per_run: args.metrics_per_run,
            };
            let result = tracking::run(&scratch.pool, &settings).await;
            scratch.drop().await?;
            result?.print(args.bench.json);
            Ok(())
        }
        BenchCommand::Drift(args) => {
            let settings = drift::Settings {
                rows: args.rows,
                baseline_rows: args.baseline_rows,
                columns: args.columns,
                bins: args.bins,
                max_reference_sample: args.max_reference_sample,
                runs: args.runs,
                seed: args.seed,
            };
            // CPU-bound for seconds: off the async runtime's threads.
            let report = tokio::task::spawn_blocking(move || drift::run(&settings)).await??;
            report.print(args.json);
            Ok(())
        }
        BenchCommand::Profile(args) => {
            let settings = profile::Settings {
                file: args.file,
                runs: args.runs,
                synthetic_rows: args.synthetic_rows,
                synthetic_columns: args.synthetic_columns,
                seed: args.seed,
            };
            // Blocking file I/O and CPU work for seconds: off the async runtime's threads.
            let report = tokio::task::spawn_blocking(move || profile::run(&settings)).await??;
            report.print(args.json);
            Ok(())
        }
        BenchCommand::Train(args) => {
            let scratch = Scratch::create(&args.bench.db.database_url).await?;
            let settings = train::Settings {
                flights: args.flights,
                credit: args.credit,
                trials: args.trials,
                workers: args.workers,
            };
            let result = train::run(&scratch.pool, &settings).await;
            scratch.drop().await?;
            result?.print(args.bench.json);
            Ok(())
        }
        BenchCommand::Pipeline(args) => {
            let scratch = Scratch::create(&args.bench.db.database_url).await?;
            let settings = pipeline::Settings { steps: args.steps, workers: args.workers };
            let result = pipeline::run(&scratch.pool, &settings).await;
            scratch.drop().await?;
            result?.print(args.bench.json);
            Ok(())
        }
        BenchCommand::Serving(args) => {
            let scratch = Scratch::create(&args.bench.db.database_url).await?;
            let settings = serving::Settings {
                credit: args.credit,
                seconds: args.seconds,
                concurrency: args.concurrency,
                logged_requests: args.logged_requests,
                features: args.features,
            };
            let result = serving::run(&scratch.pool, &settings).await;
            scratch.drop().await?;
            result?.print(args.bench.json);
            Ok(())
        }
        BenchCommand::Queue(args) => {
            let r = services::queue::bench::run_scratch(&args.bench.db.database_url, args.jobs, args.workers)
                .await?;
            Report {
                title: "cairn bench queue: no-op jobs through the Postgres queue",
                figures: vec![
                    ("jobs", r.jobs as f64, ""),
                    ("workers", r.workers as f64, ""),
                    ("concurrency_per_worker", r.concurrency_per_worker as f64, ""),
                    ("enqueue_seconds", r.enqueue_seconds, "s"),
                    ("run_seconds", r.run_seconds, "s (claim + run + complete)"),
                    ("jobs_per_second", r.jobs_per_second, "jobs/s"),
                ],
                notes: vec!["a scratch database is created and dropped; each worker has its own pool".into()],
            }
            .print(args.bench.json);
            Ok(())
        }
    }
}

/// A database that exists for one benchmark run.
pub struct Scratch {
    pub pool: PgPool,
    url: String,
}

impl Scratch {
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("cairn_bench_{}", uuid::Uuid::new_v4().simple());
        let mut url = url::Url::parse(admin_url)?;
        url.set_path(&format!("/{name}"));
        let settings = services::db::PoolSettings {
            create_database: true,
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
        };
        let pool = services::db::connect(url.as_str(), settings).await?;
        services::db::migrate(&pool).await?;
        Ok(Self { pool, url: url.to_string() })
    }

    pub async fn drop(self) -> anyhow::Result<()> {
        self.pool.close().await;
        services::db::drop_database(&self.url).await?;
        Ok(())
    }
}

/// Named figures, printed as `name: value unit` lines and optionally as JSON.
pub struct Report {
    pub title: &'static str,
    pub figures: Vec<(&'static str, f64, &'static str)>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn print(&self, json: bool) {
        println!("{}", self.title);
        for (name, value, unit) in &self.figures {
            println!("  {name:<40} {value:>12.2} {unit}");
        }
        for n in &self.notes {
            println!("  note: {n}");
        }
        if json {
            let obj: serde_json::Map<String, serde_json::Value> =
                self.figures.iter().map(|(k, v, _)| (k.to_string(), serde_json::json!(v))).collect();
            println!("{}", serde_json::Value::Object(obj));
        }
    }
}
