//! The one error type of the services layer. The edges (REST handlers, server
//! functions, CLI) map it to their own form once; internal details (SQL text, file
//! paths) stay in logs and never reach a client.

use domain::ValidationError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{entity} '{id}' was not found")]
    NotFound { entity: &'static str, id: String },
    /// The request clashes with what is stored (a duplicate name, a stale version).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// A body or file over a configured size limit.
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// Too many attempts; try again after `retry_after_s` seconds.
    #[error("{message}")]
    RateLimited { retry_after_s: u64, message: String },
    /// Something this process cannot do right now, though the request is fine (a
    /// model version that cannot be served, an endpoint not loaded yet).
    #[error("{0}")]
    Unavailable(String),
    #[error("database error")]
    Db(#[from] sqlx::Error),
    #[error("artifact store error")]
    Store(#[from] object_store::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Error {
    pub fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Self::NotFound { entity, id: id.to_string() }
    }

    /// True for errors caused by the caller's input rather than by Cairn.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Db(_) | Self::Store(_) | Self::Other(_) | Self::Unavailable(_))
    }
}

/// Turns a unique/foreign-key violation into a caller-facing error, so the
/// database constraint stays the single source of truth (no check-then-insert).
pub trait ResultExt<T> {
    fn on_constraint(self, name: &str, f: impl FnOnce() -> Error) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn on_constraint(self, name: &str, f: impl FnOnce() -> Error) -> Result<T> {
        self.map_err(|e| match e.into() {
            Error::Db(sqlx::Error::Database(db)) if db.constraint() == Some(name) => f(),
            other => other,
        })
    }
}
