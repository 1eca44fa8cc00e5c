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

pub mod output;
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
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Show the build and the numbers of a running Cairn.
    Status(RemoteArgs),
    /// Projects: list and create.
    #[command(subcommand)]
    Project(ProjectCommand),
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
        Command::Migrate(db) => {
            crate::telemetry::init(LogFormat::Text);
            match migrate(db).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
        Command::Status(remote) => remote_cmd(&remote, |r, out| async move { r.status(out).await }).await,
        Command::Project(ProjectCommand::List(remote)) => {
            remote_cmd(&remote, |r, out| async move { r.list_projects(out).await }).await
        }
        Command::Project(ProjectCommand::Create(args)) => {
            let (name, description) = (args.name, args.description);
            remote_cmd(&args.remote, |r, out| async move { r.create_project(out, name, description).await })
                .await
        }
    }
}

async fn migrate(db: DatabaseArgs) -> anyhow::Result<()> {
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
