//! SQL for in-app notifications.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

pub struct NotificationRow {
    pub notification_id: Uuid,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub link: String,
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(
    conn: &mut PgConnection,
    users: &[Uuid],
    kind: &str,
    title: &str,
    body: &str,
    link: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into notification (user_id, kind, title, body, link) select u, $2, $3, $4, $5 from unnest($1::uuid[]) u",
        users,
        kind,
        title,
        body,
        link
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Enabled users with one of these roles.
pub async fn users_with_roles(db: impl PgExecutor<'_>, roles: &[String]) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!("select user_id from app_user where role = any($1) and not disabled", roles)
        .fetch_all(db)
        .await
}

pub async fn list(db: impl PgExecutor<'_>, user: Uuid, limit: i64) -> sqlx::Result<Vec<NotificationRow>> {
    sqlx::query_as!(
        NotificationRow,
        "select notification_id, kind, title, body, link, read_at, created_at from notification
          where user_id = $1 order by created_at desc, notification_id limit $2",
        user,
        limit
    )
    .fetch_all(db)
    .await
}

pub async fn unread(db: impl PgExecutor<'_>, user: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from notification where user_id = $1 and read_at is null"#,
        user
    )
    .fetch_one(db)
    .await
}

/// Marks the given notifications (all when `ids` is None) of `user` as read.
pub async fn mark_read(db: impl PgExecutor<'_>, user: Uuid, ids: Option<&[Uuid]>) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "update notification set read_at = now()
          where user_id = $1 and read_at is null and ($2::uuid[] is null or notification_id = any($2))",
        user,
        ids
    )
    .execute(db)
    .await?
    .rows_affected())
}
