//! The audit log: who did what, when, from where, and whether it was allowed.

use super::{Action, Principal, authorize};
use crate::db::audit::NewAuditEvent;
use crate::{AppState, Result, db};
use domain::auth::{AuditEvent, AuditFilter};
use sqlx::PgExecutor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Denied,
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// Records one event by a known caller (use [`record_anonymous`] before login).
pub async fn record(
    db: impl PgExecutor<'_>,
    actor: &Principal,
    action: &str,
    target: &str,
    outcome: Outcome,
    details: &str,
) -> Result<()> {
    db::audit::insert(
        db,
        NewAuditEvent {
            actor_user_id: Some(actor.user_id),
            actor_name: Some(&actor.username),
            action,
            target,
            outcome: outcome.as_str(),
            ip: actor.ip.as_deref(),
            details,
        },
    )
    .await?;
    Ok(())
}

pub async fn record_anonymous(
    db: impl PgExecutor<'_>,
    action: &str,
    target: &str,
    outcome: Outcome,
    ip: Option<&str>,
    details: &str,
) -> Result<()> {
    db::audit::insert(
        db,
        NewAuditEvent {
            actor_user_id: None,
            actor_name: None,
            action,
            target,
            outcome: outcome.as_str(),
            ip,
            details,
        },
    )
    .await?;
    Ok(())
}

pub async fn list(st: &AppState, p: &Principal, filter: &AuditFilter) -> Result<Vec<AuditEvent>> {
    authorize(p, Action::ReadAudit)?;
    let limit = filter.limit.unwrap_or(domain::auth::AUDIT_PAGE_SIZE).clamp(1, 1000);
    let blank =
        |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let f = AuditFilter {
        action: blank(&filter.action),
        actor: blank(&filter.actor),
        outcome: blank(&filter.outcome),
        before: filter.before,
        limit: Some(limit),
    };
    Ok(db::audit::list(&st.db, &f, limit).await?)
}
