//! SQL for `api_token`.

use chrono::{DateTime, Utc};
use domain::auth::ApiToken;
use domain::{TokenId, UserId};
use sqlx::PgExecutor;
use uuid::Uuid;

pub struct TokenRow {
    pub token_id: Uuid,
    pub user_id: Uuid,
    pub username: String,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<TokenRow> for ApiToken {
    fn from(r: TokenRow) -> Self {
        ApiToken {
            token_id: TokenId(r.token_id),
            user_id: UserId(r.user_id),
            username: r.username,
            name: r.name,
            prefix: r.prefix,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        }
    }
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    user: UserId,
    name: &str,
    token_hash: &[u8],
    prefix: &str,
    expires_at: Option<DateTime<Utc>>,
) -> sqlx::Result<TokenRow> {
    sqlx::query_as!(
        TokenRow,
        r#"with t as (
             insert into api_token (user_id, name, token_hash, prefix, expires_at) values ($1, $2, $3, $4, $5)
             returning token_id, user_id, name, prefix, created_at, expires_at, last_used_at, revoked_at)
           select t.token_id as "token_id!", t.user_id as "user_id!", u.username, t.name as "name!",
                  t.prefix as "prefix!", t.created_at as "created_at!", t.expires_at, t.last_used_at, t.revoked_at
           from t join app_user u using (user_id)"#,
        user.0,
        name,
        token_hash,
        prefix,
        expires_at
    )
    .fetch_one(db)
    .await
}

/// What a token check needs: the token and its user, if the token is live.
pub struct LiveToken {
    pub token_id: Uuid,
    pub user_id: Uuid,
    pub username: String,
    pub role: String,
    pub last_used_at: Option<DateTime<Utc>>,
}

pub async fn lookup_live(db: impl PgExecutor<'_>, token_hash: &[u8]) -> sqlx::Result<Option<LiveToken>> {
    sqlx::query_as!(
        LiveToken,
        "select t.token_id, t.user_id, u.username, u.role, t.last_used_at
         from api_token t join app_user u using (user_id)
         where t.token_hash = $1 and t.revoked_at is null
           and (t.expires_at is null or t.expires_at > now()) and not u.disabled",
        token_hash
    )
    .fetch_optional(db)
    .await
}

/// Why a token was refused, for the audit log (never for the caller).
pub async fn state_of(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
) -> sqlx::Result<Option<(Uuid, bool, bool)>> {
    let row = sqlx::query!(
        r#"select token_id, revoked_at is not null as "revoked!",
                  coalesce(expires_at <= now(), false) as "expired!"
           from api_token where token_hash = $1"#,
        token_hash
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.token_id, r.revoked, r.expired)))
}

pub async fn touch(db: impl PgExecutor<'_>, id: TokenId) -> sqlx::Result<()> {
    sqlx::query!("update api_token set last_used_at = now() where token_id = $1", id.0).execute(db).await?;
    Ok(())
}

pub async fn list(db: impl PgExecutor<'_>, user: Option<UserId>) -> sqlx::Result<Vec<TokenRow>> {
    sqlx::query_as!(
        TokenRow,
        "select t.token_id, t.user_id, u.username, t.name, t.prefix, t.created_at, t.expires_at,
                t.last_used_at, t.revoked_at
         from api_token t join app_user u using (user_id)
         where $1::uuid is null or t.user_id = $1
         order by t.revoked_at is not null, t.created_at desc",
        user.map(|u| u.0)
    )
    .fetch_all(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: TokenId) -> sqlx::Result<Option<TokenRow>> {
    sqlx::query_as!(
        TokenRow,
        "select t.token_id, t.user_id, u.username, t.name, t.prefix, t.created_at, t.expires_at,
                t.last_used_at, t.revoked_at
         from api_token t join app_user u using (user_id)
         where t.token_id = $1",
        id.0
    )
    .fetch_optional(db)
    .await
}

/// Revokes and returns the token's hash so caches can forget it.
pub async fn revoke(db: impl PgExecutor<'_>, id: TokenId) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar!(
        "update api_token set revoked_at = coalesce(revoked_at, now()) where token_id = $1 returning token_hash",
        id.0
    )
    .fetch_optional(db)
    .await
}
