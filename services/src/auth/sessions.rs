//! Browser sessions: log in with a password, get a random cookie value whose
//! SHA-256 is stored; log out deletes it. Failed logins are rate-limited per user
//! and per address, counted from the audit log so the limit holds across
//! any number of `cairn serve` instances.

use super::audit::{self, Outcome};
use super::{Principal, Via, password, random_secret, sha256};
use crate::{AppState, Error, Result, db};
use chrono::{DateTime, Utc};
use domain::auth::User;
use tokio::sync::OnceCell;

pub const SESSION_TTL: chrono::Duration = chrono::Duration::hours(12);
/// The window over which failed logins are counted.
pub const FAILURE_WINDOW_S: f64 = 15.0 * 60.0;
pub const MAX_FAILURES_PER_USER: i64 = 5;
pub const MAX_FAILURES_PER_ADDRESS: i64 = 20;

/// A session just opened; `secret` goes into the cookie and nowhere else.
pub struct OpenedSession {
    pub secret: String,
    pub user: User,
    pub expires_at: DateTime<Utc>,
}

/// A real argon2 hash to verify against when the user does not exist, so a wrong
/// username takes as long as a wrong password (no user enumeration by timing).
async fn dummy_hash() -> Result<&'static String> {
    static DUMMY: OnceCell<String> = OnceCell::const_new();
    DUMMY.get_or_try_init(|| password::hash("not-a-real-password-at-all".into())).await
}

#[tracing::instrument(skip_all, fields(user.name = %username))]
pub async fn login(
    st: &AppState,
    username: &str,
    password_attempt: &str,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> Result<OpenedSession> {
    let (by_user, by_ip) = db::audit::recent_login_failures(&st.db, username, ip, FAILURE_WINDOW_S).await?;
    if by_user >= MAX_FAILURES_PER_USER || by_ip >= MAX_FAILURES_PER_ADDRESS {
        audit::record_anonymous(&st.db, "login.blocked", username, Outcome::Denied, ip, "too many failures")
            .await?;
        return Err(Error::RateLimited {
            retry_after_s: FAILURE_WINDOW_S as u64,
            message: "too many failed logins; wait 15 minutes and try again, or ask an admin".into(),
        });
    }
    let found = db::users::by_username(&st.db, username).await?;
    let (verified, reason) = match &found {
        Some(u) => {
            let ok = password::verify(password_attempt.to_string(), u.password_hash.clone()).await?;
            match (ok, u.user.disabled) {
                (true, false) => (true, ""),
                (true, true) => (false, "user disabled"),
                (false, _) => (false, "wrong password"),
            }
        }
        None => {
            password::verify(password_attempt.to_string(), dummy_hash().await?.clone()).await?;
            (false, "unknown user")
        }
    };
    let Some(found) = found.filter(|_| verified) else {
        audit::record_anonymous(&st.db, "login.failed", username, Outcome::Failed, ip, reason).await?;
        return Err(Error::Unauthorized("wrong username or password".into()));
    };
    let user = found.user.into_user()?;
    let secret = random_secret();
    let expires_at = Utc::now() + SESSION_TTL;
    let mut tx = st.db.begin().await?;
    db::sessions::insert(&mut *tx, &sha256(&secret), user.user_id, ip, user_agent, expires_at).await?;
    let principal = principal_of(&user, Via::Session, ip);
    audit::record(&mut *tx, &principal, "login.ok", &user.username, Outcome::Ok, "").await?;
    tx.commit().await?;
    Ok(OpenedSession { secret, user, expires_at })
}

/// The caller behind a session cookie, or None if it is unknown or expired.
pub async fn resolve(st: &AppState, secret: &str, ip: Option<&str>) -> Result<Option<Principal>> {
    let Some(row) = db::sessions::lookup(&st.db, &sha256(secret)).await? else {
        return Ok(None);
    };
    Ok(Some(principal_of(&row.into_user()?, Via::Session, ip)))
}

pub async fn logout(st: &AppState, secret: &str, who: &Principal) -> Result<()> {
    let mut tx = st.db.begin().await?;
    db::sessions::delete(&mut *tx, &sha256(secret)).await?;
    audit::record(&mut *tx, who, "logout", &who.username, Outcome::Ok, "").await?;
    tx.commit().await?;
    Ok(())
}

pub fn principal_of(user: &User, via: Via, ip: Option<&str>) -> Principal {
    Principal {
        user_id: user.user_id,
        username: user.username.clone(),
        role: user.role,
        via,
        ip: ip.map(str::to_string),
    }
}
