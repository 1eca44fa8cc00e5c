//! Aliases: names pointing at versions. An unprotected alias moves at once; a
//! protected one (production by default) only through an approved promotion
//! request or an approver's rollback. This module is the only writer of
//! `model_alias`, so no API can go around the rule.

use super::{get_version, model_row, policy_of, promotion};
use crate::auth::audit::{self, Outcome};
use crate::auth::{Action, Principal, authorize};
use crate::db::registry::{self as q, ModelRow, NewAliasEvent};
use crate::{AppState, Error, Result, webhooks};
use domain::registry::{AliasInfo, AliasOutcome, NewPromotion, check_alias};
use domain::{ModelVersionId, UserId};
use sqlx::PgConnection;
use uuid::Uuid;

/// Points `alias` at `version`: moved at once when unprotected, otherwise a
/// promotion request is created (or the open one for the same version returned).
pub async fn set_alias(
    st: &AppState,
    p: &Principal,
    model_name: &str,
    alias: &str,
    version: i32,
    comment: &str,
) -> Result<AliasOutcome> {
    authorize(p, Action::Write)?;
    check_alias(alias)?;
    let model = model_row(&st.db, model_name).await?;
    if policy_of(&model).is_protected(alias) {
        let new = NewPromotion { version, alias: alias.to_string(), comment: comment.to_string() };
        let request = promotion::request(st, p, model_name, new).await?;
        return Ok(AliasOutcome::RequestCreated { request });
    }
    let v = get_version(st, p, model_name, version).await?;
    let mut tx = st.db.begin().await?;
    q::lock_model(&mut tx, model.registered_model_id).await?;
    move_alias(&mut tx, &model, alias, v.model_version_id, "set", None, p.user_id).await?;
    let target = format!("{}@{alias}", model.name);
    audit::record(&mut *tx, p, "model.alias.set", &target, Outcome::Ok, &format!("v{version}")).await?;
    tx.commit().await?;
    Ok(AliasOutcome::Moved { alias: alias_info(st, &model, alias).await? })
}

/// Moves (or creates) an alias and records the move; the caller holds the model's
/// row lock and owns the transaction. Returns the version it pointed at before.
pub(crate) async fn move_alias(
    conn: &mut PgConnection,
    model: &ModelRow,
    alias: &str,
    to: ModelVersionId,
    reason: &str,
    request: Option<Uuid>,
    actor: UserId,
) -> Result<Option<Uuid>> {
    let from = q::alias_for_update(conn, model.registered_model_id, alias).await?;
    q::upsert_alias(conn, model.registered_model_id, alias, to.0, actor.0).await?;
    q::insert_alias_event(
        conn,
        &NewAliasEvent {
            model: model.registered_model_id,
            alias,
            from,
            to: Some(to.0),
            reason,
            request,
            actor: actor.0,
        },
    )
    .await?;
    webhooks::emit(
        conn,
        domain::DEFAULT_PROJECT_ID,
        "model.alias.moved",
        &serde_json::json!({ "model": model.name, "alias": alias, "reason": reason,
                             "from_version_id": from, "to_version_id": to.0 }),
    )
    .await?;
    Ok(from)
}

async fn alias_info(st: &AppState, model: &ModelRow, alias: &str) -> Result<AliasInfo> {
    let policy = policy_of(model);
    q::aliases_of(&st.db, &[model.registered_model_id])
        .await?
        .into_iter()
        .find(|a| a.alias.eq_ignore_ascii_case(alias))
        .map(|a| AliasInfo {
            protected: policy.is_protected(&a.alias),
            alias: a.alias,
            version: a.version,
            model_version_id: ModelVersionId(a.model_version_id),
            updated_at: a.updated_at,
        })
        .ok_or_else(|| Error::not_found("alias", format!("{}@{alias}", model.name)))
}

pub async fn get_alias(st: &AppState, p: &Principal, model_name: &str, alias: &str) -> Result<AliasInfo> {
    authorize(p, Action::Read)?;
    let model = model_row(&st.db, model_name).await?;
    alias_info(st, &model, alias).await
}

/// Removes an unprotected alias. A protected one cannot be removed (endpoints follow
/// it): an admin must unprotect it in the model's policy first.
pub async fn delete_alias(st: &AppState, p: &Principal, model_name: &str, alias: &str) -> Result<()> {
    authorize(p, Action::Write)?;
    let model = model_row(&st.db, model_name).await?;
    let target = format!("{}@{alias}", model.name);
    if policy_of(&model).is_protected(alias) {
        audit::record(&st.db, p, "model.alias.delete", &target, Outcome::Denied, "protected").await?;
        return Err(Error::Forbidden(format!(
            "'{alias}' is a protected alias of {}: it cannot be removed (endpoints follow it). \
             Promote or roll back another version instead, or have an admin unprotect it",
            model.name
        )));
    }
    let mut tx = st.db.begin().await?;
    q::lock_model(&mut tx, model.registered_model_id).await?;
    let from = q::alias_for_update(&mut tx, model.registered_model_id, alias)
        .await?
        .ok_or_else(|| Error::not_found("alias", &target))?;
    q::delete_alias(&mut tx, model.registered_model_id, alias).await?;
    q::insert_alias_event(
        &mut tx,
        &NewAliasEvent {
            model: model.registered_model_id,
            alias,
            from: Some(from),
            to: None,
            reason: "delete",
            request: None,
            actor: p.user_id.0,
        },
    )
    .await?;
    audit::record(&mut *tx, p, "model.alias.delete", &target, Outcome::Ok, "").await?;
    tx.commit().await?;
    Ok(())
}

/// Moves `alias` back to the version it pointed at before its latest promotion or
/// set — the incident action: an approver may do it alone, without a request.
pub async fn rollback(st: &AppState, p: &Principal, model_name: &str, alias: &str) -> Result<AliasInfo> {
    let model = model_row(&st.db, model_name).await?;
    let target = format!("{}@{alias}", model.name);
    if let Err(e) = authorize(p, Action::Approve) {
        audit::record(&st.db, p, "model.rollback", &target, Outcome::Denied, "").await?;
        return Err(e);
    }
    let mut tx = st.db.begin().await?;
    q::lock_model(&mut tx, model.registered_model_id).await?;
    let current = q::alias_for_update(&mut tx, model.registered_model_id, alias)
        .await?
        .ok_or_else(|| Error::not_found("alias", &target))?;
    let back = q::rollback_target(&mut tx, model.registered_model_id, alias, current)
        .await?
        .ok_or_else(|| Error::Conflict(format!("{target} has no earlier version to roll back to")))?;
    move_alias(&mut tx, &model, alias, ModelVersionId(back), "rollback", None, p.user_id).await?;
    let info = q::select_versions(&mut *tx, None, None, Some(back), 1).await?;
    let details = info.first().map(|v| format!("to v{}", v.version)).unwrap_or_default();
    audit::record(&mut *tx, p, "model.rollback", &target, Outcome::Ok, &details).await?;
    tx.commit().await?;
    alias_info(st, &model, alias).await
}
