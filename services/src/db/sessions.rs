//! SQL for `session`.

use super::users::UserRow;
use chrono::{DateTime, Utc};
use domain::UserId;
use sqlx::PgExecutor;

pub async fn insert(
    db: impl PgExecutor<'_>,
    session_hash: &[u8],
    user: UserId,
    ip: Option<&str>,
    user_agent: Option<&str>,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into session (session_hash, user_id, ip, user_agent, expires_at) values ($1, $2, $3, $4, $5)",
        session_hash,
        user.0,
        ip,
        user_agent,
        expires_at
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The session's user, if the session exists, has not expired and the user is enabled.
pub async fn lookup(db: impl PgExecutor<'_>, session_hash: &[u8]) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as!(
        UserRow,
        "select u.user_id, u.username, u.role, u.disabled, u.created_at
         from session s join app_user u using (user_id)
         where s.session_hash = $1 and s.expires_at > now() and not u.disabled",
        session_hash
    )
    .fetch_optional(db)
    .await
}

pub async fn delete(db: impl PgExecutor<'_>, session_hash: &[u8]) -> sqlx::Result<Option<UserId>> {
    let id =
        sqlx::query_scalar!("delete from session where session_hash = $1 returning user_id", session_hash)
            .fetch_optional(db)
            .await?;
    Ok(id.map(UserId))
}

pub async fn delete_for_user(db: impl PgExecutor<'_>, user: UserId) -> sqlx::Result<u64> {
    Ok(sqlx::query!("delete from session where user_id = $1", user.0).execute(db).await?.rows_affected())
}

pub async fn delete_expired(db: impl PgExecutor<'_>) -> sqlx::Result<u64> {
    Ok(sqlx::query!("delete from session where expires_at <= now()").execute(db).await?.rows_affected())
}
