//! The numbers on the home page.

use crate::auth::{Action, Principal, authorize};
use crate::{AppState, Result, db};
use domain::overview::Overview;

pub async fn read(st: &AppState, p: &Principal) -> Result<Overview> {
    authorize(p, Action::Read)?;
    let row = db::overview::read(&st.db).await?;
    let uptime = chrono::Utc::now().signed_duration_since(st.started_at);
    Ok(Overview {
        projects: row.projects,
        migrations_applied: row.migrations_applied,
        database_bytes: row.database_bytes,
        // "15.20 (Debian 15.20-0+deb12u1)" → "15.20"
        postgres_version: row.postgres_version.split_whitespace().next().unwrap_or_default().to_string(),
        uptime_seconds: uptime.num_seconds().max(0),
    })
}
