//! What every use case needs: the pool, the artifact store and facts about this process.

use crate::artifacts::ArtifactStore;
use crate::auth::tokens::TokenCache;
use crate::datasets::import::ImportSettings;
use crate::secrets::{SecretCipher, SecretError};
use crate::serving::{Engine, logs::LogSettings};
use crate::sql_source::SqlSourceSettings;
use crate::training::command::CommandSettings;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::sync::Arc;

/// Cheap to clone (everything inside is reference-counted); handed to axum handlers,
/// Leptos server functions (through context) and workers alike.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: PgPool,
    pub store: ArtifactStore,
    pub started_at: DateTime<Utc>,
    /// Verified API tokens, so a token check rarely touches the database.
    pub tokens: Arc<TokenCache>,
    /// Which SQL data sources may be reached, and the limits of a query.
    /// The default allows none.
    pub sql_sources: Arc<SqlSourceSettings>,
    /// Which server paths and URLs dataset versions may be imported from, and the
    /// size limit. The default allows none.
    pub imports: Arc<ImportSettings>,
    /// Which programs the command trainer may run. The default allows none.
    pub commands: Arc<CommandSettings>,
    /// The endpoints this process serves and its serving log's queue. Predictions
    /// go through it; `serving::start` keeps it current and the log flowing.
    pub serving: Arc<Engine>,
    /// Encrypts stored secrets; None in a process started without `CAIRN_SECRET_KEY`
    /// (tests, a worker not given one), where features that need it fail clearly.
    secrets: Option<SecretCipher>,
}

impl AppState {
    pub fn new(db: PgPool, store: ArtifactStore) -> Self {
        Self {
            db,
            store,
            started_at: Utc::now(),
            tokens: Arc::default(),
            sql_sources: Arc::default(),
            imports: Arc::default(),
            commands: Arc::default(),
            serving: Arc::new(Engine::new(LogSettings::default())),
            secrets: None,
        }
    }

    /// Gives this state the key for stored secrets (from `CAIRN_SECRET_KEY`).
    pub fn with_secrets(mut self, cipher: SecretCipher) -> Self {
        self.secrets = Some(cipher);
        self
    }

    /// Sets the SQL data-source allow-list and limits (from `CAIRN_SQL_SOURCE_*`).
    pub fn with_sql_sources(mut self, settings: SqlSourceSettings) -> Self {
        self.sql_sources = Arc::new(settings);
        self
    }

    /// Sets the path and URL allow-lists of imports (from `CAIRN_DATA_*`).
    pub fn with_imports(mut self, settings: ImportSettings) -> Self {
        self.imports = Arc::new(settings);
        self
    }

    /// Sets the command trainer's allowed programs and limits (from `CAIRN_COMMAND_*`).
    pub fn with_commands(mut self, settings: CommandSettings) -> Self {
        self.commands = Arc::new(settings);
        self
    }

    /// Sets the serving log's flush interval, queue and retention (from
    /// `CAIRN_SERVING_LOG_*`). Call before `serving::start`.
    pub fn with_serving(mut self, logs: LogSettings) -> Self {
        self.serving = Arc::new(Engine::new(logs));
        self
    }

    /// The key for stored secrets, or an error saying the process was started without one.
    pub fn secrets(&self) -> Result<&SecretCipher, SecretError> {
        self.secrets.as_ref().ok_or(SecretError::NoKey)
    }
}
