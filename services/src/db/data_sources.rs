//! SQL for `data_source`: registered Postgres databases that datasets are extracted from.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A row as stored. `url_enc` is ciphertext (`v1:...`); never log or return it.
#[derive(Clone, Debug)]
pub struct DataSourceRow {
    pub data_source_id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub kind: String,
    pub url_enc: Option<String>,
    pub url_env: Option<String>,
    pub display: String,
    pub created_by: Option<Uuid>,
    /// The creator's username (None once the user is deleted).
    pub created_by_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a new row holds; exactly one of `url_enc` and `url_env` is Some.
pub struct NewDataSourceRow<'a> {
    pub project_id: Uuid,
    pub name: &'a str,
    pub url_enc: Option<&'a str>,
    pub url_env: Option<&'a str>,
    pub display: &'a str,
    pub created_by: Uuid,
}

pub async fn insert(db: impl PgExecutor<'_>, new: NewDataSourceRow<'_>) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        "insert into data_source (project_id, name, kind, url_enc, url_env, display, created_by)
         values ($1, $2, 'postgres', $3, $4, $5, $6)
         returning data_source_id",
        new.project_id,
        new.name,
        new.url_enc,
        new.url_env,
        new.display,
        new.created_by,
    )
    .fetch_one(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<DataSourceRow>> {
    sqlx::query_as!(
        DataSourceRow,
        r#"select s.data_source_id, s.project_id, s.name, s.kind, s.url_enc, s.url_env, s.display,
                  s.created_by, u.username as "created_by_name?", s.created_at, s.updated_at
           from data_source s left join app_user u on u.user_id = s.created_by
           where s.data_source_id = $1"#,
        id,
    )
    .fetch_optional(db)
    .await
}

/// Sources of one project (or all), by name.
pub async fn list(db: impl PgExecutor<'_>, project_id: Option<Uuid>) -> sqlx::Result<Vec<DataSourceRow>> {
    sqlx::query_as!(
        DataSourceRow,
        r#"select s.data_source_id, s.project_id, s.name, s.kind, s.url_enc, s.url_env, s.display,
                  s.created_by, u.username as "created_by_name?", s.created_at, s.updated_at
           from data_source s left join app_user u on u.user_id = s.created_by
           where ($1::uuid is null or s.project_id = $1)
           order by lower(s.name), s.data_source_id"#,
        project_id,
    )
    .fetch_all(db)
    .await
}

/// Deletes a source; returns its name, or None when there was none.
pub async fn delete(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("delete from data_source where data_source_id = $1 returning name", id)
        .fetch_optional(db)
        .await
}
