//! In-app notifications: what the dashboard's bell shows. Written inside the
//! transaction of the change they announce, so a rolled-back change notifies nobody.

use crate::auth::{Action, Principal, authorize};
use crate::{Result, db};
use domain::NotificationId;
use domain::auth::Role;
use domain::registry::Notification;
use sqlx::PgConnection;
use uuid::Uuid;

/// One notification for one user.
pub struct Notice<'a> {
    pub kind: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub link: &'a str,
}

pub async fn notify(conn: &mut PgConnection, users: &[Uuid], n: &Notice<'_>) -> Result<()> {
    if users.is_empty() {
        return Ok(());
    }
    db::notifications::insert(conn, users, n.kind, n.title, n.body, n.link).await?;
    Ok(())
}

/// Everyone who may approve (approvers and admins), except `except`.
pub async fn approvers(conn: &mut PgConnection, except: Option<Uuid>) -> Result<Vec<Uuid>> {
    let roles: Vec<String> =
        Role::ALL.into_iter().filter(|r| *r >= Action::Approve.min_role()).map(|r| r.to_string()).collect();
    let mut users = db::notifications::users_with_roles(&mut *conn, &roles).await?;
    users.retain(|u| Some(*u) != except);
    Ok(users)
}

pub async fn list(st: &crate::AppState, p: &Principal, limit: i64) -> Result<Vec<Notification>> {
    authorize(p, Action::Read)?;
    let rows = db::notifications::list(&st.db, p.user_id.0, limit.clamp(1, 200)).await?;
    Ok(rows
        .into_iter()
        .map(|r| Notification {
            notification_id: NotificationId(r.notification_id),
            kind: r.kind,
            title: r.title,
            body: r.body,
            link: r.link,
            read: r.read_at.is_some(),
            created_at: r.created_at,
        })
        .collect())
}

/// Marks the caller's notifications read (all of them when `ids` is None).
pub async fn mark_read(st: &crate::AppState, p: &Principal, ids: Option<Vec<NotificationId>>) -> Result<u64> {
    authorize(p, Action::Read)?;
    let ids: Option<Vec<Uuid>> = ids.map(|v| v.into_iter().map(|i| i.0).collect());
    Ok(db::notifications::mark_read(&st.db, p.user_id.0, ids.as_deref()).await?)
}
