//! SQL for `audit_event`.

use chrono::{DateTime, Utc};
use domain::UserId;
use domain::auth::{AuditEvent, AuditFilter};
use sqlx::PgExecutor;

pub struct NewAuditEvent<'a> {
    pub actor_user_id: Option<UserId>,
    pub actor_name: Option<&'a str>,
    pub action: &'a str,
    pub target: &'a str,
    pub outcome: &'a str,
    pub ip: Option<&'a str>,
    pub details: &'a str,
}

pub async fn insert(db: impl PgExecutor<'_>, e: NewAuditEvent<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into audit_event (actor_user_id, actor_name, action, target, outcome, ip, details)
         values ($1, $2, $3, $4, $5, $6, $7)",
        e.actor_user_id.map(|u| u.0),
        e.actor_name,
        e.action,
        e.target,
        e.outcome,
        e.ip,
        e.details
    )
    .execute(db)
    .await?;
    Ok(())
}

struct AuditRow {
    audit_id: i64,
    at: DateTime<Utc>,
    actor_name: Option<String>,
    action: String,
    target: String,
    outcome: String,
    ip: Option<String>,
    details: String,
}

/// Newest first; `action` matches a prefix (e.g. "login" finds login.ok and login.failed).
pub async fn list(db: impl PgExecutor<'_>, f: &AuditFilter, limit: i64) -> sqlx::Result<Vec<AuditEvent>> {
    let rows = sqlx::query_as!(
        AuditRow,
        "select audit_id, at, actor_name, action, target, outcome, ip, details
         from audit_event
         where ($1::text is null or action like $1 || '%')
           and ($2::text is null or lower(actor_name) = lower($2))
           and ($3::text is null or outcome = $3)
           and ($4::bigint is null or audit_id < $4)
         order by audit_id desc
         limit $5",
        f.action.as_deref(),
        f.actor.as_deref(),
        f.outcome.as_deref(),
        f.before,
        limit
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AuditEvent {
            audit_id: r.audit_id,
            at: r.at,
            actor: r.actor_name,
            action: r.action,
            target: r.target,
            outcome: r.outcome,
            ip: r.ip,
            details: r.details,
        })
        .collect())
}

/// Failed logins in the window, for this username and for this address.
pub async fn recent_login_failures(
    db: impl PgExecutor<'_>,
    username: &str,
    ip: Option<&str>,
    window_s: f64,
) -> sqlx::Result<(i64, i64)> {
    let r = sqlx::query!(
        r#"select count(*) filter (where lower(target) = lower($1)) as "by_user!",
                  count(*) filter (where ip = $2) as "by_ip!"
           from audit_event
           where action = 'login.failed' and at > now() - make_interval(secs => $3)"#,
        username,
        ip,
        window_s
    )
    .fetch_one(db)
    .await?;
    Ok((r.by_user, r.by_ip))
}
