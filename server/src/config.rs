//! Configuration from flags and environment, parsed and validated once in `main`.
//! Nothing else in Cairn reads the environment for settings.

use clap::{Args, ValueEnum};
use services::datasets::import::{ImportSettings, PathAllowList, UrlAllowList};
use services::sql_source::{HostAllowList, SqlSourceSettings};
use services::training::command::CommandSettings;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the metadata database is.
#[derive(Args, Clone, Debug)]
pub struct DatabaseArgs {
    /// Postgres URL of the metadata database.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/cairn",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Create the database named in DATABASE_URL if it does not exist.
    #[arg(long, env = "CAIRN_CREATE_DB")]
    pub create_db: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Settings of `cairn serve`.
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,

    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(long, env = "CAIRN_BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,

    /// Artifact store: a local folder, or an s3:// / gs:// / az:// URL (`cloud` builds).
    #[arg(long, env = "CAIRN_ARTIFACTS", default_value = ".cairn/artifacts")]
    pub artifacts: String,

    /// Key that encrypts stored secrets (at least 32 characters). `make run` generates one.
    #[arg(long, env = "CAIRN_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<SecretKey>,

    /// Folder with the compiled dashboard assets (pkg/cairn.js, .wasm, .css).
    #[arg(long, env = "CAIRN_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "CAIRN_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Largest dataset file accepted by an upload, in bytes (streamed to disk).
    #[arg(long, env = "CAIRN_MAX_UPLOAD_BYTES", default_value_t = 2 * 1024 * 1024 * 1024)]
    pub max_upload_bytes: u64,

    #[arg(long, env = "CAIRN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// The URL people reach Cairn at; an https:// URL makes session cookies `Secure`.
    #[arg(long, env = "CAIRN_PUBLIC_URL")]
    pub public_url: Option<url::Url>,

    /// Jobs this process runs at once (0: serve only; run `cairn worker` elsewhere).
    #[arg(long, env = "CAIRN_WORKERS", default_value_t = 2)]
    pub workers: usize,

    #[command(flatten)]
    pub sql_sources: SqlSourceArgs,

    #[command(flatten)]
    pub imports: ImportArgs,

    #[command(flatten)]
    pub commands: CommandArgs,

    /// Serve only health, metrics and the prediction routes (`/v2/...`,
    /// `/endpoints/{name}/invocations`, `/api/v1/endpoints/{name}/predict`): no
    /// dashboard, no management API, no workers or scheduler. For serving replicas.
    #[arg(long, env = "CAIRN_SERVING_ONLY")]
    pub serving_only: bool,

    /// Pipeline spec files (YAML or JSON) submitted at start, as the oldest admin,
    /// comma-separated: an unchanged file is the version it already is. `make run`
    /// submits examples/credit-scoring/pipeline.yaml this way.
    #[arg(long = "pipeline", env = "CAIRN_PIPELINES", value_delimiter = ',')]
    pub pipelines: Vec<PathBuf>,

    #[command(flatten)]
    pub serving: ServingArgs,

    #[command(flatten)]
    pub jobs: JobArgs,
}

/// How workers hold their jobs.
#[derive(Args, Clone, Debug)]
pub struct JobArgs {
    /// How long a worker's claim on a job lasts without a heartbeat: a crashed
    /// worker's jobs run again elsewhere after this. Short values are for tests.
    #[arg(long, env = "CAIRN_JOB_LEASE_MS", default_value_t = 30_000, hide = true)]
    pub job_lease_ms: u64,
}

impl Default for JobArgs {
    fn default() -> Self {
        Self { job_lease_ms: 30_000 }
    }
}

impl JobArgs {
    pub fn lease(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.job_lease_ms.max(500))
    }
}

/// The serving log's batching, queue and retention.
#[derive(Args, Clone, Debug)]
pub struct ServingArgs {
    /// Milliseconds between flushes of the serving log (at most this much is lost
    /// if the process dies).
    #[arg(
        long = "serving-log-flush-ms",
        env = "CAIRN_SERVING_LOG_FLUSH_MS",
        default_value_t = 1000,
        value_parser = clap::value_parser!(u64).range(10..=60_000)
    )]
    pub flush_ms: u64,

    /// Requests waiting to be logged; beyond this they are not logged (counted in
    /// cairn_serving_log_dropped_total).
    #[arg(
        long = "serving-log-queue",
        env = "CAIRN_SERVING_LOG_QUEUE",
        default_value_t = 100_000,
        value_parser = clap::value_parser!(u64).range(1..=10_000_000)
    )]
    pub queue: u64,

    /// Days of serving logs kept (older day partitions are dropped by the hourly
    /// cleanup); 0 keeps them forever.
    #[arg(
        long = "serving-log-retention-days",
        env = "CAIRN_SERVING_LOG_RETENTION_DAYS",
        default_value_t = 30
    )]
    pub retention_days: u32,
}

impl Default for ServingArgs {
    fn default() -> Self {
        Self { flush_ms: 1000, queue: 100_000, retention_days: 30 }
    }
}

impl ServingArgs {
    pub fn settings(&self) -> services::serving::logs::LogSettings {
        services::serving::logs::LogSettings {
            flush_interval: std::time::Duration::from_millis(self.flush_ms),
            queue_capacity: usize::try_from(self.queue).unwrap_or(usize::MAX),
            retention_days: self.retention_days,
            ..Default::default()
        }
    }
}

/// Which programs the command trainer may run.
#[derive(Args, Clone, Debug, Default)]
pub struct CommandArgs {
    /// Programs command-trainer runs may start, comma-separated names or absolute
    /// paths (`python3,/opt/venv/bin/python`). Empty (the default) disables the
    /// command trainer. Allowing a program trusts every editor with it.
    #[arg(long = "command-allow", env = "CAIRN_COMMAND_ALLOW", default_value = "", value_delimiter = ',')]
    pub programs: Vec<String>,

    /// The longest timeout a command-trainer run may ask for, in seconds.
    #[arg(
        long = "command-max-timeout-s",
        env = "CAIRN_COMMAND_MAX_TIMEOUT_S",
        default_value_t = 86_400,
        value_parser = clap::value_parser!(u64).range(1..=604_800)
    )]
    pub max_timeout_s: u64,
}

impl CommandArgs {
    pub fn settings(&self) -> CommandSettings {
        CommandSettings {
            allow: self.programs.iter().map(|a| a.trim().to_string()).filter(|a| !a.is_empty()).collect(),
            max_timeout_s: self.max_timeout_s,
        }
    }
}

/// Which server paths and URLs dataset versions may be imported from.
#[derive(Args, Clone, Debug)]
pub struct ImportArgs {
    /// Directories whose files may be imported as dataset versions, comma-separated
    /// absolute paths (subfolders included; symlinks and `..` cannot leave them).
    /// Empty (the default) allows none.
    #[arg(long = "data-path-allow", env = "CAIRN_DATA_PATH_ALLOW", default_value = "")]
    pub path_allow: PathAllowList,

    /// URL prefixes that may be imported from, comma-separated
    /// (`https://data.example.com/exports/`). Empty (the default) allows none.
    #[arg(long = "data-url-allow", env = "CAIRN_DATA_URL_ALLOW", default_value = "")]
    pub url_allow: UrlAllowList,

    /// Seconds a URL import may take to download.
    #[arg(
        long = "data-url-timeout-s",
        env = "CAIRN_DATA_URL_TIMEOUT_S",
        default_value_t = services::datasets::import::DEFAULT_URL_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    pub url_timeout_s: u64,
}

impl Default for ImportArgs {
    fn default() -> Self {
        Self {
            path_allow: PathAllowList::default(),
            url_allow: UrlAllowList::default(),
            url_timeout_s: services::datasets::import::DEFAULT_URL_TIMEOUT.as_secs(),
        }
    }
}

impl ImportArgs {
    /// The settings, with `max_bytes` the upload limit (an import is an upload the
    /// server fetches itself).
    pub fn settings(&self, max_bytes: u64) -> ImportSettings {
        ImportSettings {
            paths: self.path_allow.clone(),
            urls: self.url_allow.clone(),
            max_bytes,
            url_timeout: std::time::Duration::from_secs(self.url_timeout_s),
        }
    }
}

/// Which databases registered SQL data sources may reach, and how much one query may do.
#[derive(Args, Clone, Debug)]
pub struct SqlSourceArgs {
    /// Hosts SQL data sources may point at: comma-separated `host`, `host:port`,
    /// `*.domain` or `*` (IPv6 as `[::1]:5432`). Empty (the default) allows none.
    /// Never list the host of Cairn's own database unless its role cannot read it.
    #[arg(long = "sql-source-allow", env = "CAIRN_SQL_SOURCE_ALLOW", default_value = "")]
    pub allow: HostAllowList,

    /// Most rows one SQL source query may return (more is an error, not a truncation).
    #[arg(
        long = "sql-source-max-rows",
        env = "CAIRN_SQL_SOURCE_MAX_ROWS",
        default_value_t = services::sql_source::DEFAULT_MAX_ROWS,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub max_rows: u64,

    /// Seconds a SQL source query may run before Postgres cancels it.
    #[arg(
        long = "sql-source-timeout-s",
        env = "CAIRN_SQL_SOURCE_TIMEOUT_S",
        default_value_t = services::sql_source::DEFAULT_STATEMENT_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    pub timeout_s: u64,
}

impl Default for SqlSourceArgs {
    fn default() -> Self {
        Self {
            allow: HostAllowList::default(),
            max_rows: services::sql_source::DEFAULT_MAX_ROWS,
            timeout_s: services::sql_source::DEFAULT_STATEMENT_TIMEOUT.as_secs(),
        }
    }
}

impl SqlSourceArgs {
    pub fn settings(&self) -> SqlSourceSettings {
        SqlSourceSettings {
            allow: self.allow.clone(),
            max_rows: self.max_rows,
            statement_timeout: std::time::Duration::from_secs(self.timeout_s),
            ..SqlSourceSettings::default()
        }
    }
}

/// Settings of `cairn worker`: a process that only runs jobs.
#[derive(Args, Clone, Debug)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// The same artifact store as the server's.
    #[arg(long, env = "CAIRN_ARTIFACTS", default_value = ".cairn/artifacts")]
    pub artifacts: String,
    /// Jobs run at once.
    #[arg(long, env = "CAIRN_WORKERS", default_value_t = 4)]
    pub workers: usize,
    /// Queues to take jobs from (default: all that this binary knows).
    #[arg(long, value_delimiter = ',')]
    pub queues: Vec<String>,
    #[arg(long, env = "CAIRN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The same key as the server's: deliveries decrypt webhook secrets, and jobs
    /// reading SQL sources decrypt their connections, with it.
    #[arg(long, env = "CAIRN_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<SecretKey>,
    #[command(flatten)]
    pub sql_sources: SqlSourceArgs,
    #[command(flatten)]
    pub commands: CommandArgs,
    /// The serving log's retention applies in the hourly cleanup, which workers run.
    #[command(flatten)]
    pub serving: ServingArgs,
    #[command(flatten)]
    pub jobs: JobArgs,
}

/// A secret that never appears in logs or `Debug` output.
#[derive(Clone)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<{} characters, redacted>)", self.0.chars().count())
    }
}

impl std::str::FromStr for SecretKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.chars().count() < 32 {
            return Err(format!(
                "must be at least 32 characters (got {}); generate one with `openssl rand -hex 32`",
                s.chars().count()
            ));
        }
        Ok(Self(s.to_string()))
    }
}

/// A configuration problem found before anything starts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "CAIRN_SECRET_KEY is not set. Set it to at least 32 random characters (e.g. `export CAIRN_SECRET_KEY=$(openssl rand -hex 32)`); `make run` does this for you"
    )]
    MissingSecretKey,
    #[error(
        "CAIRN_SITE_ROOT={0} has no pkg/cairn.js: build the dashboard first (`make build`) or point CAIRN_SITE_ROOT at the built site"
    )]
    MissingSite(String),
    #[error("CAIRN_MAX_BODY_BYTES must be between 1 KiB and 10 GiB (got {0})")]
    BodyLimit(usize),
}

/// `ServeArgs` after validation: everything `serve` needs, known to be usable.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub database_url: String,
    pub create_db: bool,
    pub bind: SocketAddr,
    pub artifacts: String,
    pub secret_key: SecretKey,
    pub site_root: PathBuf,
    pub max_body_bytes: usize,
    pub max_upload_bytes: u64,
    pub log_format: LogFormat,
    pub public_url: Option<url::Url>,
    pub workers: usize,
    pub sql_sources: SqlSourceSettings,
    pub imports: ImportSettings,
    pub commands: CommandSettings,
    pub serving_only: bool,
    pub serving: services::serving::logs::LogSettings,
    pub pipelines: Vec<PathBuf>,
    pub job_lease: std::time::Duration,
}

impl ServeArgs {
    pub fn validate(self) -> Result<ServeConfig, ConfigError> {
        let secret_key = self.secret_key.ok_or(ConfigError::MissingSecretKey)?;
        if !self.serving_only && !self.site_root.join("pkg").join("cairn.js").is_file() {
            return Err(ConfigError::MissingSite(self.site_root.display().to_string()));
        }
        if !(1024..=10 * 1024 * 1024 * 1024).contains(&self.max_body_bytes) {
            return Err(ConfigError::BodyLimit(self.max_body_bytes));
        }
        Ok(ServeConfig {
            database_url: self.db.database_url,
            create_db: self.db.create_db,
            bind: self.bind,
            artifacts: self.artifacts,
            secret_key,
            site_root: self.site_root,
            max_body_bytes: self.max_body_bytes,
            max_upload_bytes: self.max_upload_bytes,
            log_format: self.log_format,
            public_url: self.public_url,
            workers: self.workers,
            sql_sources: self.sql_sources.settings(),
            imports: self.imports.settings(self.max_upload_bytes),
            commands: self.commands.settings(),
            serving_only: self.serving_only,
            serving: self.serving.settings(),
            pipelines: self.pipelines,
            job_lease: self.jobs.lease(),
        })
    }
}

fn none_if_empty(s: String) -> String {
    if s.is_empty() { "<none>".to_string() } else { s }
}

impl ServeConfig {
    /// One line a person can read at start-up; no secrets.
    pub fn summary(&self) -> String {
        format!(
            "bind={} database={} artifacts={} site_root={} max_body_bytes={} max_upload_bytes={} workers={} secret_key=<set, {} characters> sql_source_allow={} data_path_allow={} data_url_allow={} command_allow={} serving_only={} serving_log_flush_ms={} serving_log_retention_days={}",
            self.bind,
            services::db::redact_url(&self.database_url),
            self.artifacts,
            self.site_root.display(),
            self.max_body_bytes,
            self.max_upload_bytes,
            self.workers,
            self.secret_key.expose().chars().count(),
            if self.sql_sources.allow.is_empty() {
                "<none>".to_string()
            } else {
                self.sql_sources.allow.to_string()
            },
            none_if_empty(self.imports.paths.to_string()),
            none_if_empty(self.imports.urls.to_string()),
            none_if_empty(self.commands.allow.join(",")),
            self.serving_only,
            self.serving.flush_interval.as_millis(),
            self.serving.retention_days,
        )
    }

    pub fn secure_cookies(&self) -> bool {
        self.public_url.as_ref().is_some_and(|u| u.scheme() == "https")
    }

    /// Leptos' options, built from ours (a shipped binary has no Cargo.toml to read).
    pub fn leptos_options(&self) -> leptos::config::LeptosOptions {
        leptos::config::LeptosOptions::builder()
            .output_name("cairn")
            .site_root(self.site_root.display().to_string())
            .site_pkg_dir("pkg")
            .site_addr(self.bind)
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap checks its definitions (unique argument ids, ...) only when a command
    /// is parsed in a debug build: check every subcommand here, not at start-up.
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        crate::cli::Cli::command().debug_assert();
    }

    #[test]
    fn secret_keys_are_checked_and_never_printed() {
        assert!("short".parse::<SecretKey>().unwrap_err().contains("at least 32"));
        let key: SecretKey = "0123456789abcdef0123456789abcdef".parse().unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains("0123"), "{shown}");
    }

    #[test]
    fn summary_hides_the_password_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pkg")).unwrap();
        std::fs::write(dir.path().join("pkg/cairn.js"), "").unwrap();
        let args = ServeArgs {
            db: DatabaseArgs { database_url: "postgres://me:hunter2@db:5432/cairn".into(), create_db: false },
            bind: "127.0.0.1:0".parse().unwrap(),
            artifacts: "/tmp/a".into(),
            secret_key: Some("k".repeat(40).parse().unwrap()),
            site_root: dir.path().to_path_buf(),
            max_body_bytes: 1 << 20,
            max_upload_bytes: 1 << 30,
            log_format: LogFormat::Text,
            public_url: None,
            workers: 0,
            sql_sources: SqlSourceArgs::default(),
            imports: ImportArgs::default(),
            commands: CommandArgs::default(),
            serving_only: false,
            serving: ServingArgs::default(),
            pipelines: Vec::new(),
            jobs: JobArgs::default(),
        };
        let cfg = args.validate().unwrap();
        let s = cfg.summary();
        assert!(!s.contains("hunter2") && !s.contains("kkkk"), "{s}");
        assert!(s.contains("me:***@db"), "{s}");
    }

    #[test]
    fn sql_source_settings_parse_from_flags_and_refuse_bad_patterns() {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            s: SqlSourceArgs,
        }
        let none = T::try_parse_from(["t"]).unwrap().s.settings();
        assert!(none.allow.is_empty() && !none.allow.allows("127.0.0.1", 5432));
        assert_eq!(none.max_rows, 10_000_000);
        let t = T::try_parse_from([
            "t",
            "--sql-source-allow",
            "db.internal:5432, *.dw.example.com",
            "--sql-source-max-rows",
            "500",
            "--sql-source-timeout-s",
            "30",
        ])
        .unwrap()
        .s
        .settings();
        assert!(t.allow.allows("db.internal", 5432) && t.allow.allows("a.dw.example.com", 1));
        assert!(!t.allow.allows("db.internal", 5433));
        assert_eq!((t.max_rows, t.statement_timeout.as_secs()), (500, 30));
        let err = T::try_parse_from(["t", "--sql-source-allow", "db:99999"]).err().unwrap().to_string();
        assert!(err.contains("1-65535"), "{err}");
        assert!(T::try_parse_from(["t", "--sql-source-max-rows", "0"]).is_err());
    }

    #[test]
    fn import_allow_lists_parse_from_flags_and_refuse_bad_entries() {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            s: ImportArgs,
        }
        let none = T::try_parse_from(["t"]).unwrap().s.settings(100);
        assert!(none.paths.is_empty() && none.urls.is_empty());
        assert_eq!((none.max_bytes, none.url_timeout.as_secs()), (100, 600));
        let t = T::try_parse_from([
            "t",
            "--data-path-allow",
            "/srv/data, /mnt/exports",
            "--data-url-allow",
            "https://data.example.com/exports/",
            "--data-url-timeout-s",
            "30",
        ])
        .unwrap()
        .s
        .settings(100);
        assert_eq!(t.paths.to_string(), "/srv/data,/mnt/exports");
        assert!(t.paths.allows_lexically(std::path::Path::new("/srv/data/x.csv")));
        assert!(t.urls.allows(&url::Url::parse("https://data.example.com/exports/a.csv").unwrap()));
        assert_eq!(t.url_timeout.as_secs(), 30);
        let err = T::try_parse_from(["t", "--data-path-allow", "relative/dir"]).err().unwrap().to_string();
        assert!(err.contains("absolute"), "{err}");
        assert!(T::try_parse_from(["t", "--data-url-allow", "ftp://h/"]).is_err());
    }

    #[test]
    fn missing_site_and_key_say_what_to_do() {
        let args = ServeArgs {
            db: DatabaseArgs { database_url: "postgres://x/y".into(), create_db: false },
            bind: "127.0.0.1:0".parse().unwrap(),
            artifacts: "a".into(),
            secret_key: None,
            site_root: "/nonexistent".into(),
            max_body_bytes: 1 << 20,
            max_upload_bytes: 1 << 30,
            log_format: LogFormat::Text,
            public_url: None,
            workers: 0,
            sql_sources: SqlSourceArgs::default(),
            imports: ImportArgs::default(),
            commands: CommandArgs::default(),
            serving_only: false,
            serving: ServingArgs::default(),
            pipelines: Vec::new(),
            jobs: JobArgs::default(),
        };
        let err = args.clone().validate().unwrap_err().to_string();
        assert!(err.contains("CAIRN_SECRET_KEY") && err.contains("make run"), "{err}");
        let args = ServeArgs { secret_key: Some("k".repeat(32).parse().unwrap()), ..args };
        let err = args.validate().unwrap_err().to_string();
        assert!(err.contains("make build"), "{err}");
    }
}
