//! API tokens: `cairn_` + 256 random bits, shown once, stored as SHA-256. A check
//! is one hash and, on a cache miss, one indexed lookup; hits are served from a
//! short-lived in-process cache so tokens on every request (MLflow logging,
//! predictions) cost microseconds.
//!
//! Cache contract: revoking a token or changing a user evicts it from this
//! process's cache at once; other `cairn serve` instances notice within
//! [`CACHE_TTL`]. `last_used_at` is kept to within a minute.

use super::audit::{self, Outcome};
use super::{Action, Principal, Via, authorize, random_secret, sha256};
use crate::{AppState, Error, Result, db};
use chrono::Utc;
use domain::auth::{ApiToken, CreatedToken, NewToken, Role};
use domain::{TokenId, UserId};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

pub const TOKEN_PREFIX: &str = "cairn_";
pub const CACHE_TTL: Duration = Duration::from_secs(30);
const CACHE_CAPACITY: usize = 10_000;
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

#[derive(Clone)]
struct Cached {
    token_id: TokenId,
    user_id: UserId,
    username: String,
    role: Role,
    fetched: Instant,
}

/// Verified tokens by their hash.
#[derive(Default)]
pub struct TokenCache {
    entries: RwLock<HashMap<[u8; 32], Cached>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache").finish_non_exhaustive()
    }
}

impl TokenCache {
    fn get(&self, hash: &[u8; 32]) -> Option<Cached> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.get(hash).filter(|c| c.fetched.elapsed() < CACHE_TTL).cloned()
    }

    fn insert(&self, hash: [u8; 32], c: Cached) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_CAPACITY {
            entries.retain(|_, c| c.fetched.elapsed() < CACHE_TTL);
            if entries.len() >= CACHE_CAPACITY {
                entries.clear();
            }
        }
        entries.insert(hash, c);
    }

    fn remove(&self, hash: &[u8]) {
        if let Ok(key) = <[u8; 32]>::try_from(hash) {
            self.entries.write().unwrap_or_else(|e| e.into_inner()).remove(&key);
        }
    }

    /// Forget everything (after a role change or a disabled user).
    pub fn clear(&self) {
        self.entries.write().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

fn unauthorized() -> Error {
    Error::Unauthorized(
        "the API token is unknown, revoked or expired; create a new one under Settings › API tokens".into(),
    )
}

/// The caller behind a bearer token.
pub async fn verify(st: &AppState, secret: &str, ip: Option<&str>) -> Result<Principal> {
    if !secret.starts_with(TOKEN_PREFIX) || secret.len() != TOKEN_PREFIX.len() + 43 {
        return Err(unauthorized());
    }
    let hash = sha256(secret);
    let principal = |c: &Cached| Principal {
        user_id: c.user_id,
        username: c.username.clone(),
        role: c.role,
        via: Via::Token(c.token_id),
        ip: ip.map(str::to_string),
    };
    if let Some(c) = st.tokens.get(&hash) {
        return Ok(principal(&c));
    }
    let Some(live) = db::tokens::lookup_live(&st.db, &hash).await? else {
        if let Some((token_id, revoked, expired)) = db::tokens::state_of(&st.db, &hash).await? {
            let reason = if revoked {
                "revoked"
            } else if expired {
                "expired"
            } else {
                "user disabled"
            };
            let target = format!("token {token_id}");
            audit::record_anonymous(&st.db, "token.rejected", &target, Outcome::Denied, ip, reason).await?;
        }
        return Err(unauthorized());
    };
    let role: Role = live
        .role
        .parse()
        .map_err(|_| anyhow::anyhow!("user {} has unknown role '{}'", live.user_id, live.role))?;
    let cached = Cached {
        token_id: TokenId(live.token_id),
        user_id: UserId(live.user_id),
        username: live.username,
        role,
        fetched: Instant::now(),
    };
    if live.last_used_at.is_none_or(|t| Utc::now() - t > TOUCH_EVERY) {
        // Off the request path: a slow write must not slow the caller.
        let pool = st.db.clone();
        let id = cached.token_id;
        tokio::spawn(async move {
            if let Err(e) = db::tokens::touch(&pool, id).await {
                tracing::warn!(error = %e, token.id = %id, "could not record token use");
            }
        });
    }
    let p = principal(&cached);
    st.tokens.insert(hash, cached);
    Ok(p)
}

fn check_new(new: &NewToken) -> Result<()> {
    domain::validation::check_name("name", &new.name)?;
    if new.expires_in_days.is_some_and(|d| !(1..=3650).contains(&d)) {
        return Err(domain::ValidationError::new("expires_in_days", "must be between 1 and 3650").into());
    }
    Ok(())
}

async fn insert(
    pool: &PgPool,
    owner: UserId,
    new: &NewToken,
    actor: Option<&Principal>,
) -> Result<CreatedToken> {
    check_new(new)?;
    let secret = format!("{TOKEN_PREFIX}{}", random_secret());
    let prefix: String = secret.chars().take(TOKEN_PREFIX.len() + 6).collect();
    let expires_at = new.expires_in_days.map(|d| Utc::now() + chrono::Duration::days(i64::from(d)));
    let mut tx = pool.begin().await?;
    let row = db::tokens::insert(&mut *tx, owner, &new.name, &sha256(&secret), &prefix, expires_at).await?;
    let target = format!("token {} of {}", row.token_id, row.username);
    match actor {
        Some(a) => audit::record(&mut *tx, a, "token.create", &target, Outcome::Ok, &new.name).await?,
        None => {
            audit::record_anonymous(&mut *tx, "token.create", &target, Outcome::Ok, None, "by=cli").await?
        }
    }
    tx.commit().await?;
    Ok(CreatedToken { token: row.into(), secret })
}

/// A token for the caller themselves (any role may have tokens).
pub async fn create(st: &AppState, actor: &Principal, new: NewToken) -> Result<CreatedToken> {
    authorize(actor, Action::Read)?;
    insert(&st.db, actor.user_id, &new, Some(actor)).await
}

/// For `cairn token create --user NAME`, which works on the database directly.
pub async fn create_from_cli(pool: &PgPool, username: &str, new: NewToken) -> Result<CreatedToken> {
    let user =
        db::users::by_username(pool, username).await?.ok_or_else(|| Error::not_found("user", username))?;
    insert(pool, UserId(user.user.user_id), &new, None).await
}

/// The caller's tokens; admins may ask for everyone's.
pub async fn list(st: &AppState, actor: &Principal, everyone: bool) -> Result<Vec<ApiToken>> {
    authorize(actor, if everyone { Action::ManageUsers } else { Action::Read })?;
    let owner = (!everyone).then_some(actor.user_id);
    Ok(db::tokens::list(&st.db, owner).await?.into_iter().map(Into::into).collect())
}

/// Revokes a token: one's own, or anyone's for an admin.
pub async fn revoke(st: &AppState, actor: &Principal, id: TokenId) -> Result<ApiToken> {
    let token = db::tokens::get(&st.db, id).await?.ok_or_else(|| Error::not_found("token", id))?;
    let target = format!("token {id} of {}", token.username);
    let own = token.user_id == actor.user_id.0;
    if let Err(e) = authorize(actor, if own { Action::Read } else { Action::ManageUsers }) {
        audit::record(&st.db, actor, "token.revoke", &target, Outcome::Denied, "").await?;
        return Err(e);
    }
    let mut tx = st.db.begin().await?;
    let hash = db::tokens::revoke(&mut *tx, id).await?.ok_or_else(|| Error::not_found("token", id))?;
    audit::record(&mut *tx, actor, "token.revoke", &target, Outcome::Ok, "").await?;
    tx.commit().await?;
    st.tokens.remove(&hash);
    let row = db::tokens::get(&st.db, id).await?.ok_or_else(|| Error::not_found("token", id))?;
    Ok(row.into())
}
