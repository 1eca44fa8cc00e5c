//! Registered SQL data sources: Postgres databases that dataset versions can be
//! extracted from, queried read-only into Arrow record batches.
//!
//! - **Registration** ([`create`], [`list`], [`get`], [`delete`]) keeps a source's
//!   connection either encrypted under `CAIRN_SECRET_KEY` (a `postgres://` URL) or as
//!   `env:NAME`, an environment variable of the Cairn processes read each time a
//!   query runs. The password is never returned: lists show the URL without it.
//! - **The allow-list** (`CAIRN_SQL_SOURCE_ALLOW`, [`HostAllowList`]) is checked at
//!   registration and again before every query (the list may have shrunk, and an
//!   `env:` source may point elsewhere by now). Empty allows nothing.
//! - **Queries** ([`run_query`]) run in a read-only transaction with a statement
//!   timeout and a row limit, and stream [`arrow_array::RecordBatch`]es
//!   ([`QueryStream`]); the type mapping is in `to_arrow`'s docs.
//!
//! Everything a user can get wrong comes back as `Error::Validation` (HTTP 422) with
//! the field `name`, `connection` or `sql` and a message saying what to change.

mod allow;
mod connection;
mod query;
mod to_arrow;

pub use allow::HostAllowList;
pub use connection::{ALLOW_SETTING, ConnectionSpec};
pub use query::{DEFAULT_BATCH_ROWS, DEFAULT_MAX_ROWS, DEFAULT_STATEMENT_TIMEOUT, QueryLimits, QueryStream};

use crate::auth::audit::{self, Outcome};
use crate::auth::{Action, Principal, authorize};
use crate::db::data_sources::{self as q, DataSourceRow, NewDataSourceRow};
use crate::error::ResultExt;
use crate::secrets::PURPOSE_DATA_SOURCE_URL;
use crate::{AppState, Error, Result};
use chrono::{DateTime, Utc};
use connection::Target;
use domain::validation::check_name;
use domain::{DEFAULT_PROJECT_ID, DataSourceId, ProjectId, UserId};
use std::time::Duration;

/// The operator's settings for SQL sources (`CAIRN_SQL_SOURCE_*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlSourceSettings {
    /// Hosts sources may point at; empty (the default) allows none.
    pub allow: HostAllowList,
    /// The most rows one query may return; a query's own limit is capped by it.
    pub max_rows: u64,
    /// The longest a statement may run; a query's own timeout is capped by it.
    pub statement_timeout: Duration,
    /// How long to wait for a source to accept a connection.
    pub connect_timeout: Duration,
}

impl Default for SqlSourceSettings {
    fn default() -> Self {
        Self {
            allow: HostAllowList::default(),
            max_rows: DEFAULT_MAX_ROWS,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl SqlSourceSettings {
    /// The limits of a query that asks for nothing tighter.
    pub fn default_limits(&self) -> QueryLimits {
        QueryLimits {
            statement_timeout: self.statement_timeout,
            max_rows: self.max_rows,
            batch_rows: DEFAULT_BATCH_ROWS,
        }
    }

    /// `wanted`, capped by these settings (a caller may tighten, never loosen).
    fn cap(&self, wanted: QueryLimits) -> QueryLimits {
        QueryLimits {
            statement_timeout: wanted
                .statement_timeout
                .min(self.statement_timeout)
                .max(Duration::from_millis(1)),
            max_rows: wanted.max_rows.min(self.max_rows),
            batch_rows: wanted.batch_rows.clamp(1, 1 << 20),
        }
    }
}

/// What registering a source takes.
#[derive(Clone)]
pub struct NewDataSource {
    /// None: the default project.
    pub project_id: Option<ProjectId>,
    /// Unique per project, ignoring case.
    pub name: String,
    /// `postgres://user:password@host:port/database[?sslmode=…]`, or `env:NAME` for a
    /// URL kept in an environment variable of the Cairn processes.
    pub connection: String,
}

impl std::fmt::Debug for NewDataSource {
    /// Without the connection: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewDataSource")
            .field("project_id", &self.project_id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A registered source as callers see it: never the password or the ciphertext.
#[derive(Clone, Debug)]
pub struct DataSourceInfo {
    pub data_source_id: DataSourceId,
    pub project_id: ProjectId,
    pub name: String,
    /// `postgres` (the only kind so far).
    pub kind: String,
    /// The URL without its password (`postgres://user@host:5432/db`), or `env:NAME`.
    pub connection: String,
    pub created_by: Option<UserId>,
    /// The creator's username; None once that user is deleted.
    pub created_by_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<DataSourceRow> for DataSourceInfo {
    fn from(r: DataSourceRow) -> Self {
        Self {
            data_source_id: DataSourceId(r.data_source_id),
            project_id: ProjectId(r.project_id),
            name: r.name,
            kind: r.kind,
            connection: r.display,
            created_by: r.created_by.map(UserId),
            created_by_name: r.created_by_name,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl From<DataSourceInfo> for domain::imports::DataSource {
    fn from(s: DataSourceInfo) -> Self {
        Self {
            data_source_id: s.data_source_id,
            project_id: s.project_id,
            name: s.name,
            kind: s.kind,
            connection: s.connection,
            created_by: s.created_by_name,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// Refuses (and audits) a caller without the role for `action`.
async fn authorize_audited(
    st: &AppState,
    p: &Principal,
    action: Action,
    event: &str,
    target: &str,
) -> Result<()> {
    if let Err(e) = authorize(p, action) {
        audit::record(&st.db, p, event, target, Outcome::Denied, "").await?;
        return Err(e);
    }
    Ok(())
}

/// Registers a source (editor and up). Checks the name, that the connection is a
/// `postgres://` URL (or a set `env:` variable holding one) whose host the allow-list
/// admits, and stores the URL encrypted. Connecting is left to the first query, so a
/// source can be registered before its database accepts Cairn.
#[tracing::instrument(skip_all, fields(data_source.name = %new.name))]
pub async fn create(st: &AppState, p: &Principal, new: NewDataSource) -> Result<DataSourceInfo> {
    authorize_audited(st, p, Action::Write, "data_source.create", &new.name).await?;
    check_name("name", &new.name)?;
    let spec = ConnectionSpec::parse(&new.connection)?;
    let allow = &st.sql_sources.allow;
    let (url_enc, url_env, display) = match &spec {
        ConnectionSpec::Url(url) => {
            let target = connection::check_url(url, allow)?;
            let enc = st.secrets()?.encrypt(PURPOSE_DATA_SOURCE_URL, url.trim());
            (Some(enc), None, target.display)
        }
        ConnectionSpec::Env(name) => {
            connection::check_url(&connection::read_env(name)?, allow)?;
            (None, Some(name.as_str()), format!("env:{name}"))
        }
    };
    let project_id = new.project_id.unwrap_or(DEFAULT_PROJECT_ID);
    let mut tx = st.db.begin().await?;
    let id = q::insert(
        &mut *tx,
        NewDataSourceRow {
            project_id: project_id.0,
            name: &new.name,
            url_enc: url_enc.as_deref(),
            url_env,
            display: &display,
            created_by: p.user_id.0,
        },
    )
    .await
    .on_constraint("data_source_name_key", || {
        Error::Conflict(format!(
            "this project already has a data source named '{}'; pick another name",
            new.name
        ))
    })?;
    audit::record(&mut *tx, p, "data_source.create", &new.name, Outcome::Ok, &display).await?;
    let row = q::get(&mut *tx, id).await?.ok_or_else(|| Error::not_found("data source", id))?;
    tx.commit().await?;
    tracing::info!(data_source.id = %id, "registered data source");
    Ok(row.into())
}

/// Sources of a project (all projects with None), by name (viewer and up).
pub async fn list(
    st: &AppState,
    p: &Principal,
    project_id: Option<ProjectId>,
) -> Result<Vec<DataSourceInfo>> {
    authorize(p, Action::Read)?;
    Ok(q::list(&st.db, project_id.map(|p| p.0)).await?.into_iter().map(Into::into).collect())
}

pub async fn get(st: &AppState, p: &Principal, id: DataSourceId) -> Result<DataSourceInfo> {
    authorize(p, Action::Read)?;
    q::get(&st.db, id.0).await?.map(Into::into).ok_or_else(|| Error::not_found("data source", id))
}

/// Removes a source (editor and up). Dataset versions extracted from it stay.
#[tracing::instrument(skip_all, fields(data_source.id = %id))]
pub async fn delete(st: &AppState, p: &Principal, id: DataSourceId) -> Result<()> {
    authorize_audited(st, p, Action::Write, "data_source.delete", &id.to_string()).await?;
    let mut tx = st.db.begin().await?;
    let name = q::delete(&mut *tx, id.0).await?.ok_or_else(|| Error::not_found("data source", id))?;
    audit::record(&mut *tx, p, "data_source.delete", &name, Outcome::Ok, "").await?;
    tx.commit().await?;
    Ok(())
}

/// Runs `sql` against source `id`, read-only, and streams the result as record
/// batches (editor and up: it spends the source's stored credentials on SQL the
/// caller wrote). `limits` may tighten the operator's settings, not loosen them.
/// Each query is audited (`data_source.query`, with the start of the SQL).
#[tracing::instrument(skip_all, fields(data_source.id = %id))]
pub async fn run_query(
    st: &AppState,
    p: &Principal,
    id: DataSourceId,
    sql: &str,
    limits: QueryLimits,
) -> Result<QueryStream> {
    authorize_audited(st, p, Action::Write, "data_source.query", &id.to_string()).await?;
    let row = q::get(&st.db, id.0).await?.ok_or_else(|| Error::not_found("data source", id))?;
    let started = start(st, &row, sql, limits).await;
    let outcome = if started.is_ok() { Outcome::Ok } else { Outcome::Failed };
    audit::record(&st.db, p, "data_source.query", &row.name, outcome, &audit_sql(sql)).await?;
    started
}

/// [`run_query`] without a caller, for background jobs: authorization happened when
/// the job was created (by whoever enqueued it), and that is where it is audited.
#[tracing::instrument(skip_all, fields(data_source.id = %id))]
pub async fn run_query_unattended(
    st: &AppState,
    id: DataSourceId,
    sql: &str,
    limits: QueryLimits,
) -> Result<QueryStream> {
    let row = q::get(&st.db, id.0).await?.ok_or_else(|| Error::not_found("data source", id))?;
    start(st, &row, sql, limits).await
}

async fn start(st: &AppState, row: &DataSourceRow, sql: &str, limits: QueryLimits) -> Result<QueryStream> {
    if sql.trim().is_empty() {
        return Err(domain::ValidationError::new("sql", "must not be empty").into());
    }
    let target = resolve(st, row)?;
    let limits = st.sql_sources.cap(limits);
    Ok(query::start(&target, sql, limits, st.sql_sources.connect_timeout).await?)
}

/// Where a stored source points now: decrypted or read from its variable, and
/// checked against the allow-list as it is now.
fn resolve(st: &AppState, row: &DataSourceRow) -> Result<Target> {
    let url = match (&row.url_enc, &row.url_env) {
        (Some(enc), _) => st.secrets()?.decrypt(PURPOSE_DATA_SOURCE_URL, enc)?,
        (None, Some(name)) => connection::read_env(name)?,
        (None, None) => {
            return Err(Error::Other(anyhow::anyhow!(
                "data source {} has no connection stored",
                row.data_source_id
            )));
        }
    };
    Ok(connection::check_url(&url, &st.sql_sources.allow)?)
}

/// The SQL for the audit log: whitespace folded, at most 500 characters.
fn audit_sql(sql: &str) -> String {
    let folded = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match folded.char_indices().nth(500) {
        Some((i, _)) => format!("{}…", &folded[..i]),
        None => folded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_can_tighten_limits_but_not_loosen_them() {
        let s = SqlSourceSettings {
            max_rows: 100,
            statement_timeout: Duration::from_secs(5),
            ..Default::default()
        };
        let wanted =
            QueryLimits { statement_timeout: Duration::from_secs(60), max_rows: 1_000, batch_rows: 0 };
        let got = s.cap(wanted);
        assert_eq!((got.statement_timeout, got.max_rows, got.batch_rows), (Duration::from_secs(5), 100, 1));
        let tight =
            QueryLimits { statement_timeout: Duration::from_millis(200), max_rows: 10, batch_rows: 4 };
        assert_eq!(s.cap(tight), tight);
    }

    #[test]
    fn audited_sql_is_short_and_on_one_line() {
        assert_eq!(audit_sql("select 1\n  from t"), "select 1 from t");
        let long = "x".repeat(600);
        let a = audit_sql(&long);
        assert_eq!(a.chars().count(), 501);
        assert!(a.ends_with('…'));
    }
}
