//! SQL for the `project` table.

use chrono::{DateTime, Utc};
use domain::{ProjectId, project::Project};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A row as stored; converted to the DTO explicitly so the wire format can change
/// without touching SQL.
pub struct ProjectRow {
    pub project_id: Uuid,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

impl From<ProjectRow> for Project {
    fn from(r: ProjectRow) -> Self {
        Project {
            project_id: ProjectId(r.project_id),
            name: r.name,
            description: r.description,
            created_at: r.created_at,
        }
    }
}

pub async fn list(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<ProjectRow>> {
    sqlx::query_as!(
        ProjectRow,
        "select project_id, name, description, created_at from project order by lower(name)"
    )
    .fetch_all(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: ProjectId) -> sqlx::Result<Option<ProjectRow>> {
    sqlx::query_as!(
        ProjectRow,
        "select project_id, name, description, created_at from project where project_id = $1",
        id.0
    )
    .fetch_optional(db)
    .await
}

pub async fn insert(db: impl PgExecutor<'_>, name: &str, description: &str) -> sqlx::Result<ProjectRow> {
    sqlx::query_as!(
        ProjectRow,
        "insert into project (name, description) values ($1, $2)
         returning project_id, name, description, created_at",
        name,
        description
    )
    .fetch_one(db)
    .await
}
