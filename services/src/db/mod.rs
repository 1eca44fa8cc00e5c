//! All SQL in Cairn, one module per aggregate. Functions take an executor (a pool,
//! a connection or `&mut *tx`) so callers decide the transaction.

pub mod audit;
pub mod data_sources;
pub mod datasets;
pub mod jobs;
pub mod lineage;
pub mod logged_models;
pub mod notifications;
pub mod overview;
pub mod pipelines;
pub mod projects;
pub mod registry;
pub mod schedules;
pub mod serving;
pub mod sessions;
pub mod tokens;
pub mod tracking;
pub mod tracking_search;
pub mod training;
pub mod users;
pub mod webhooks;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};
use std::str::FromStr;
use std::time::Duration;

/// Why the database could not be used at start-up; each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(
        "DATABASE_URL is not a valid Postgres URL ({0}); expected e.g. postgres://user@127.0.0.1:5432/cairn"
    )]
    BadUrl(String),
    #[error(
        "could not reach Postgres at {target}: {source}. Is the server running and does DATABASE_URL point at it?"
    )]
    Unreachable { target: String, source: sqlx::Error },
    #[error("could not create database '{name}' at {target}: {source}")]
    CreateDatabase { name: String, target: String, source: sqlx::Error },
    #[error(
        "applying migrations failed: {0}. The database was left as the failed migration found it; fix the cause and start again"
    )]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// How to open the pool.
#[derive(Clone, Copy, Debug)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// Create the database named in the URL when it does not exist yet.
    pub create_database: bool,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self { max_connections: 10, acquire_timeout: Duration::from_secs(5), create_database: false }
    }
}

/// The URL with its password removed, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<unparseable URL>".to_string(),
    }
}

/// Connects, optionally creating the database, and checks the connection works.
pub async fn connect(url: &str, settings: PoolSettings) -> Result<PgPool, StartupError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(StartupError::BadUrl("it must start with postgres:// or postgresql://".into()));
    }
    let options = PgConnectOptions::from_str(url).map_err(|e| StartupError::BadUrl(e.to_string()))?;
    let target = redact_url(url);
    if settings.create_database {
        create_database_if_missing(&options, &target).await?;
    }
    // One direct connection first: a pool reports only "timed out", while this
    // says what is wrong (refused, bad password, no such database).
    sqlx::PgConnection::connect_with(&options)
        .await
        .map_err(|source| StartupError::Unreachable { target: target.clone(), source })?
        .close()
        .await
        .map_err(|source| StartupError::Unreachable { target: target.clone(), source })?;
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .connect_with(options)
        .await
        .map_err(|source| StartupError::Unreachable { target, source })?;
    Ok(pool)
}

async fn create_database_if_missing(options: &PgConnectOptions, target: &str) -> Result<(), StartupError> {
    let name = options.get_database().unwrap_or("postgres").to_string();
    let admin = options.clone().database("postgres");
    let mut conn = sqlx::PgConnection::connect_with(&admin)
        .await
        .map_err(|source| StartupError::Unreachable { target: target.to_string(), source })?;
    let exists: bool =
        sqlx::query_scalar!(r#"select exists(select 1 from pg_database where datname = $1) as "e!""#, name)
            .fetch_one(&mut conn)
            .await
            .map_err(|source| StartupError::Unreachable { target: target.to_string(), source })?;
    if !exists {
        // Identifiers cannot be bound as parameters; quote it the way Postgres does.
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let create = format!("create database {quoted}");
        match sqlx::raw_sql(&create).execute(&mut conn).await {
            Ok(_) => tracing::info!(database = %name, "created database"),
            // Another process created it between our check and our create.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(source) => {
                return Err(StartupError::CreateDatabase { name, target: target.to_string(), source });
            }
        }
    }
    Ok(())
}

/// Drops the database named in `url` (connecting to `postgres` on the same server),
/// disconnecting its sessions. For scratch databases (benchmarks); never the main one.
pub async fn drop_database(url: &str) -> Result<(), StartupError> {
    let options = PgConnectOptions::from_str(url).map_err(|e| StartupError::BadUrl(e.to_string()))?;
    let target = redact_url(url);
    let name = options.get_database().unwrap_or("postgres").to_string();
    let admin = options.clone().database("postgres");
    let mut conn = sqlx::PgConnection::connect_with(&admin)
        .await
        .map_err(|source| StartupError::Unreachable { target: target.clone(), source })?;
    // Identifiers cannot be bound as parameters; quote it the way Postgres does.
    let drop = format!("drop database if exists \"{}\" with (force)", name.replace('"', "\"\""));
    sqlx::raw_sql(&drop)
        .execute(&mut conn)
        .await
        .map_err(|source| StartupError::Unreachable { target, source })?;
    Ok(())
}

/// Applies the migrations embedded in this binary.
pub async fn migrate(pool: &PgPool) -> Result<(), StartupError> {
    sqlx::migrate!("../migrations").run(pool).await?;
    Ok(())
}

/// True when a trivial query succeeds within the pool's acquire timeout.
pub async fn ping(pool: &PgPool) -> bool {
    sqlx::query_scalar!("select 1 as one").fetch_one(pool).await.is_ok()
}
