//! The command line. Local commands (`serve`, `migrate`) work on the database
//! directly; remote commands act on a running Cairn through its REST API, print a
//! table or `--output json`, and exit with a code scripts can trust:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the request was refused (4xx/5xx, message printed) or start-up failed |
//! | 2 | the command line was wrong |
//! | 3 | the server could not be reached |

pub mod model;
pub mod output;
pub mod pipeline;
pub mod remote;

use crate::config::{DatabaseArgs, LogFormat, ServeArgs};
use clap::{Args, Parser, Subcommand};
use output::OutputFormat;
use remote::{Remote, RemoteArgs, RemoteError};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "cairn",
    version,
    about = "Cairn: an MLOps platform in one binary",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the dashboard and the API (migrates the database first).
    Serve(ServeArgs),
    /// Run background jobs only (scale out: any number, on any machine that reaches
    /// the same Postgres and artifact store).
    Worker(crate::config::WorkerArgs),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Show the build and the numbers of a running Cairn.
    Status(RemoteArgs),
    /// Projects: list and create.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Users (works on the database directly).
    #[command(subcommand)]
    User(UserCommand),
    /// API tokens (works on the database directly).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Train a built-in model on a dataset version (queued on the workers), e.g.
    /// `cairn train --dataset credit --target Status --algorithm random_forest --wait`.
    Train(TrainArgs),
    /// The model registry: register versions, set aliases, request, review and roll
    /// back promotions (a protected alias moves only through an approved request).
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// Pipelines: submit specs, run them (`--wait` follows a run), runs, schedules.
    #[command(subcommand)]
    Pipeline(pipeline::PipelineCommand),
    /// Benchmarks: print their figures (`--json` for a machine-readable last line).
    #[command(subcommand)]
    Bench(crate::bench::BenchCommand),
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Dataset name or id.
    #[arg(long)]
    pub dataset: String,
    /// Version number (default: the latest).
    #[arg(long)]
    pub dataset_version: Option<i32>,
    /// The column to predict (none for k-means).
    #[arg(long)]
    pub target: Option<String>,
    /// Built-in algorithm, e.g. random_forest, logistic_regression, ridge, k_means.
    #[arg(long)]
    pub algorithm: String,
    /// A hyper-parameter, `name=value` (repeatable), e.g. `--param n_trees=200`.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Input columns to use (repeatable; default: all but the target).
    #[arg(long = "feature")]
    pub features: Vec<String>,
    /// A preparation spec file (YAML or JSON). Without one, missing values are
    /// filled, numbers standardised and text columns one-hot encoded.
    #[arg(long)]
    pub prepare: Option<std::path::PathBuf>,
    /// A validation gate (repeatable), e.g. `--gate "roc_auc >= 0.85"`.
    #[arg(long = "gate")]
    pub gates: Vec<String>,
    /// Categorical column for per-slice metrics.
    #[arg(long)]
    pub slice: Option<String>,
    #[arg(long)]
    pub experiment: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Wait for the run to end, printing its progress, and exit non-zero unless it
    /// finished with every gate passed.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user. The password is read from stdin when it is piped in; otherwise
    /// one is generated and printed once.
    Add(UserAddArgs),
}

#[derive(Args, Debug)]
pub struct UserAddArgs {
    pub name: String,
    #[arg(long, value_parser = parse_role)]
    pub role: domain::auth::Role,
    /// Do nothing (and print nothing) when the user exists already.
    #[arg(long)]
    pub if_missing: bool,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an API token for a user and print it once.
    Create(TokenCreateArgs),
}

#[derive(Args, Debug)]
pub struct TokenCreateArgs {
    #[arg(long)]
    pub user: String,
    #[arg(long, default_value = "cli")]
    pub name: String,
    /// Days until it expires (none: never).
    #[arg(long)]
    pub expires_days: Option<u32>,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

fn parse_role(s: &str) -> Result<domain::auth::Role, String> {
    s.parse().map_err(|e: domain::ValidationError| e.message)
}

#[derive(Subcommand, Debug)]
pub enum ProjectCommand {
    /// List projects.
    List(RemoteArgs),
    /// Create a project.
    Create(CreateProjectArgs),
}

#[derive(Args, Debug)]
pub struct CreateProjectArgs {
    /// Project name (unique, case-insensitive).
    pub name: String,
    #[arg(long, default_value = "")]
    pub description: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run(cli))
}

pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => {
            crate::telemetry::init(args.log_format);
            let cfg = match args.validate() {
                Ok(cfg) => cfg,
                Err(e) => return fail(&e),
            };
            match crate::serve::run(cfg).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
        Command::Migrate(db) => local(migrate(db)).await,
        Command::Worker(args) => {
            crate::telemetry::init(args.log_format);
            local(crate::serve::run_worker(args)).await
        }
        Command::Status(remote) => remote_cmd(&remote, |r, out| async move { r.status(out).await }).await,
        Command::Project(ProjectCommand::List(remote)) => {
            remote_cmd(&remote, |r, out| async move { r.list_projects(out).await }).await
        }
        Command::User(UserCommand::Add(args)) => local(user_add(args)).await,
        Command::Bench(cmd) => {
            crate::telemetry::init_with(LogFormat::Text, "warn");
            local(crate::bench::run(cmd)).await
        }
        Command::Token(TokenCommand::Create(args)) => local(token_create(args)).await,
        Command::Train(args) => {
            let wait = args.wait;
            let spec = match train_spec(&args) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            remote_cmd(&args.remote, |r, out| async move { r.train(out, spec, wait).await }).await
        }
        Command::Model(cmd) => {
            let remote = cmd.remote().clone();
            remote_cmd(&remote, |r, out| async move { r.model(out, cmd).await }).await
        }
        Command::Pipeline(cmd) => {
            let remote = cmd.remote().clone();
            remote_cmd(&remote, |r, out| async move { r.pipeline(out, cmd).await }).await
        }
        Command::Project(ProjectCommand::Create(args)) => {
            let (name, description) = (args.name, args.description);
            remote_cmd(&args.remote, |r, out| async move { r.create_project(out, name, description).await })
                .await
        }
    }
}

/// The request `cairn train` sends. Parameter values are read as JSON when they
/// parse (numbers, true/false, null), else as text.
fn train_spec(args: &TrainArgs) -> Result<domain::training::TrainingSpec, String> {
    let mut algorithm = serde_json::Map::new();
    algorithm.insert("name".into(), serde_json::Value::String(args.algorithm.clone()));
    for p in &args.params {
        let (k, v) = p.split_once('=').ok_or_else(|| format!("--param {p}: write it as name=value"))?;
        let value =
            serde_json::from_str(v.trim()).unwrap_or_else(|_| serde_json::Value::String(v.trim().into()));
        algorithm.insert(k.trim().to_string(), value);
    }
    let prepare = match &args.prepare {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("--prepare {}: {e}", path.display()))?;
            ml::prepare::parse_spec(&text).map_err(|e| format!("--prepare {}: {e}", path.display()))?
        }
        None => domain::prepare::TransformSpec::default(),
    };
    Ok(domain::training::TrainingSpec {
        dataset: args.dataset.clone(),
        version: args.dataset_version,
        experiment: args.experiment.clone(),
        run_name: args.name.clone(),
        target: args.target.clone(),
        features: args.features.clone(),
        auto_prepare: args.prepare.is_none(),
        prepare,
        algorithm: serde_json::Value::Object(algorithm),
        seed: args.seed,
        slice_column: args.slice.clone(),
        gates: args.gates.clone(),
        baseline_run: None,
        cv_folds: None,
    })
}

async fn local(f: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    crate::telemetry::init(LogFormat::Text);
    match f.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Connects and migrates, so local commands work on a fresh database too.
async fn open_db(db: &DatabaseArgs) -> anyhow::Result<sqlx::PgPool> {
    let pool = services::db::connect(
        &db.database_url,
        services::db::PoolSettings {
            create_database: db.create_db,
            max_connections: 2,
            ..Default::default()
        },
    )
    .await?;
    services::db::migrate(&pool).await?;
    Ok(pool)
}

async fn user_add(args: UserAddArgs) -> anyhow::Result<()> {
    use std::io::{IsTerminal, Read};
    let pool = open_db(&args.db).await?;
    let mut password = None;
    if !std::io::stdin().is_terminal() {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        let s = s.trim_end_matches(['\n', '\r']).to_string();
        if !s.is_empty() {
            password = Some(s);
        }
    }
    let new = domain::auth::NewUser { username: args.name.clone(), role: args.role, password };
    if let Some(created) = services::auth::users::create_from_cli(&pool, new, args.if_missing).await? {
        println!("created user {} with role {}", created.user.username, created.user.role);
        if let Some(p) = created.generated_password {
            println!("password: {p}");
            println!("(shown once: store it now)");
        }
    }
    Ok(())
}

async fn token_create(args: TokenCreateArgs) -> anyhow::Result<()> {
    let pool = open_db(&args.db).await?;
    let new = domain::auth::NewToken { name: args.name, expires_in_days: args.expires_days };
    let created = services::auth::tokens::create_from_cli(&pool, &args.user, new).await?;
    println!("{}", created.secret);
    eprintln!(
        "token '{}' for {} created; the secret above is shown once",
        created.token.name, created.token.username
    );
    Ok(())
}

async fn migrate(db: DatabaseArgs) -> anyhow::Result<()> {
    open_db(&db).await?;
    println!("migrations applied to {}", services::db::redact_url(&db.database_url));
    Ok(())
}

async fn remote_cmd<F, Fut>(args: &RemoteArgs, f: F) -> ExitCode
where
    F: FnOnce(Remote, OutputFormat) -> Fut,
    Fut: std::future::Future<Output = Result<String, RemoteError>>,
{
    let remote = match Remote::new(args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match f(remote, args.output).await {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(1)
}
