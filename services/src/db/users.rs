//! SQL for `app_user`.

use chrono::{DateTime, Utc};
use domain::UserId;
use domain::auth::{Role, User};
use sqlx::PgExecutor;
use uuid::Uuid;

pub struct UserRow {
    pub user_id: Uuid,
    pub username: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl UserRow {
    /// The role column is constrained by a check, so an unknown value means the
    /// database and the binary disagree: fail loudly rather than guess.
    pub fn into_user(self) -> Result<User, crate::Error> {
        let role: Role = self.role.parse().map_err(|_| {
            anyhow::anyhow!("user {} has unknown role '{}' in the database", self.user_id, self.role)
        })?;
        Ok(User {
            user_id: UserId(self.user_id),
            username: self.username,
            role,
            disabled: self.disabled,
            created_at: self.created_at,
        })
    }
}

pub struct UserWithHash {
    pub user: UserRow,
    pub password_hash: String,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    username: &str,
    password_hash: &str,
    role: Role,
) -> sqlx::Result<UserRow> {
    sqlx::query_as!(
        UserRow,
        "insert into app_user (username, password_hash, role) values ($1, $2, $3)
         returning user_id, username, role, disabled, created_at",
        username,
        password_hash,
        role.as_str()
    )
    .fetch_one(db)
    .await
}

pub async fn by_username(db: impl PgExecutor<'_>, username: &str) -> sqlx::Result<Option<UserWithHash>> {
    let row = sqlx::query!(
        "select user_id, username, role, disabled, created_at, password_hash
         from app_user where lower(username) = lower($1)",
        username
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| UserWithHash {
        user: UserRow {
            user_id: r.user_id,
            username: r.username,
            role: r.role,
            disabled: r.disabled,
            created_at: r.created_at,
        },
        password_hash: r.password_hash,
    }))
}

pub async fn by_id(db: impl PgExecutor<'_>, id: UserId) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as!(
        UserRow,
        "select user_id, username, role, disabled, created_at from app_user where user_id = $1",
        id.0
    )
    .fetch_optional(db)
    .await
}

pub async fn list(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<UserRow>> {
    sqlx::query_as!(
        UserRow,
        "select user_id, username, role, disabled, created_at from app_user order by lower(username)"
    )
    .fetch_all(db)
    .await
}

pub async fn update(
    db: impl PgExecutor<'_>,
    id: UserId,
    role: Option<Role>,
    disabled: Option<bool>,
) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as!(
        UserRow,
        "update app_user set role = coalesce($2, role), disabled = coalesce($3, disabled)
         where user_id = $1
         returning user_id, username, role, disabled, created_at",
        id.0,
        role.map(Role::as_str),
        disabled
    )
    .fetch_optional(db)
    .await
}

pub async fn count(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"select count(*) as "n!" from app_user"#).fetch_one(db).await
}
