//! User accounts: create, list, change role, disable.

use super::audit::{self, Outcome};
use super::{Action, Principal, authorize, password};
use crate::error::ResultExt;
use crate::{AppState, Error, Result, db};
use domain::UserId;
use domain::auth::{CreatedUser, NewUser, User, UserChange, check_password, check_username};
use sqlx::PgPool;

/// Creates a user. Without a password one is generated and returned once.
#[tracing::instrument(skip_all, fields(user.name = %new.username))]
pub async fn create(st: &AppState, actor: &Principal, new: NewUser) -> Result<CreatedUser> {
    if let Err(e) = authorize(actor, Action::ManageUsers) {
        audit::record(&st.db, actor, "user.create", &new.username, Outcome::Denied, "").await?;
        return Err(e);
    }
    insert(&st.db, new, Some(actor)).await
}

/// For the CLI (`cairn user add`), which works on the database with its own trust;
/// `if_missing` makes it a no-op for an existing name (how `make run` seeds the admin).
pub async fn create_from_cli(pool: &PgPool, new: NewUser, if_missing: bool) -> Result<Option<CreatedUser>> {
    if if_missing && db::users::by_username(pool, &new.username).await?.is_some() {
        return Ok(None);
    }
    insert(pool, new, None).await.map(Some)
}

/// `actor` is None for the CLI, which is recorded in the audit log by name.
async fn insert(pool: &PgPool, new: NewUser, actor: Option<&Principal>) -> Result<CreatedUser> {
    check_username(&new.username)?;
    let (pw, generated) = match new.password {
        Some(p) => (p, None),
        None => {
            let p = password::generate();
            (p.clone(), Some(p))
        }
    };
    check_password(&new.username, &pw)?;
    let hash = password::hash(pw).await?;
    let mut tx = pool.begin().await?;
    let row = db::users::insert(&mut *tx, &new.username, &hash, new.role)
        .await
        .on_constraint("app_user_username_key", || {
            Error::Conflict(format!("a user named '{}' already exists", new.username))
        })?;
    let details = format!("role={}", new.role);
    match actor {
        Some(a) => audit::record(&mut *tx, a, "user.create", &new.username, Outcome::Ok, &details).await?,
        None => {
            let details = format!("{details} by=cli");
            audit::record_anonymous(&mut *tx, "user.create", &new.username, Outcome::Ok, None, &details)
                .await?
        }
    }
    tx.commit().await?;
    Ok(CreatedUser { user: row.into_user()?, generated_password: generated })
}

pub async fn list(st: &AppState, actor: &Principal) -> Result<Vec<User>> {
    authorize(actor, Action::ManageUsers)?;
    db::users::list(&st.db).await?.into_iter().map(|r| r.into_user()).collect()
}

/// Changes a user's role or disables them. Nobody changes their own role or
/// disables themselves (an admin cannot lock the last door behind them, and nobody
/// raises themselves); every attempt is audited.
#[tracing::instrument(skip_all, fields(user.id = %id))]
pub async fn change(st: &AppState, actor: &Principal, id: UserId, change: UserChange) -> Result<User> {
    let target = db::users::by_id(&st.db, id).await?.ok_or_else(|| Error::not_found("user", id))?;
    let details = format!(
        "{}{}",
        change.role.map(|r| format!("role={r} ")).unwrap_or_default(),
        change.disabled.map(|d| format!("disabled={d}")).unwrap_or_default()
    );
    let denied = if let Err(e) = authorize(actor, Action::ManageUsers) {
        Some(e)
    } else if id == actor.user_id {
        Some(Error::Forbidden(
            "you cannot change your own role or disable yourself; ask another admin".into(),
        ))
    } else {
        None
    };
    if let Some(e) = denied {
        audit::record(&st.db, actor, "user.change", &target.username, Outcome::Denied, details.trim())
            .await?;
        return Err(e);
    }
    let mut tx = st.db.begin().await?;
    let row = db::users::update(&mut *tx, id, change.role, change.disabled)
        .await?
        .ok_or_else(|| Error::not_found("user", id))?;
    if change.disabled == Some(true) {
        db::sessions::delete_for_user(&mut *tx, id).await?;
    }
    audit::record(&mut *tx, actor, "user.change", &row.username, Outcome::Ok, details.trim()).await?;
    tx.commit().await?;
    // Cached token checks must not outlive a role change or a disable.
    st.tokens.clear();
    row.into_user()
}
