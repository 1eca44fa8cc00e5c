//! SQL for the home page's numbers.

use sqlx::PgExecutor;

pub struct OverviewRow {
    pub projects: i64,
    pub migrations_applied: i64,
    pub database_bytes: i64,
    pub postgres_version: String,
}

pub async fn read(db: impl PgExecutor<'_>) -> sqlx::Result<OverviewRow> {
    sqlx::query_as!(
        OverviewRow,
        r#"select
             (select count(*) from project) as "projects!",
             (select count(*) from _sqlx_migrations where success) as "migrations_applied!",
             pg_database_size(current_database()) as "database_bytes!",
             current_setting('server_version') as "postgres_version!""#
    )
    .fetch_one(db)
    .await
}
