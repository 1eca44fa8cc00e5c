//! `cairn bench ...`: benchmarks that anyone can repeat. Each needs only
//! `DATABASE_URL` (it creates and drops its own scratch database), prints its
//! figures, and with `--json` ends with one JSON object of them. Benchmarks
//! measure; tests check behaviour.

pub mod auth;

use crate::config::DatabaseArgs;
use clap::{Args, Subcommand};
use sqlx::PgPool;
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Cost of checking an API token per request (cached, uncached, through the router).
    Auth(BenchArgs),
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
