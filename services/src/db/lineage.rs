//! SQL for the lineage store (`lineage_*` tables, ML Metadata model).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "lineage_execution_state", rename_all = "lowercase")]
pub enum ExecutionState {
    New,
    Running,
    Complete,
    Failed,
    Cached,
    Cancelled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, sqlx::Type)]
#[sqlx(type_name = "lineage_event_kind", rename_all = "lowercase")]
pub enum EventKind {
    Input,
    Output,
}

#[derive(Clone, Debug)]
pub struct ArtifactRow {
    pub lineage_artifact_id: Uuid,
    pub project_id: Uuid,
    pub type_name: String,
    pub name: String,
    pub uri: String,
    pub content_hash: Option<String>,
    pub properties: serde_json::Value,
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct ExecutionRow {
    pub lineage_execution_id: Uuid,
    pub project_id: Uuid,
    pub type_name: String,
    pub name: String,
    pub state: ExecutionState,
    pub properties: serde_json::Value,
    pub job_id: Option<Uuid>,
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EdgeRow {
    pub execution_id: Uuid,
    pub artifact_id: Uuid,
    pub kind: EventKind,
    pub role: String,
}

pub struct NewArtifactRow<'a> {
    pub project_id: Uuid,
    pub type_name: &'a str,
    pub name: &'a str,
    pub uri: &'a str,
    pub content_hash: Option<&'a str>,
    pub properties: &'a serde_json::Value,
    pub external_id: Option<&'a str>,
}

/// Inserts, or updates the artifact with the same (project, type, external_id), so a
/// retried job records the same node again instead of a duplicate.
pub async fn upsert_artifact(conn: &mut PgConnection, a: &NewArtifactRow<'_>) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        "insert into lineage_artifact (project_id, type, name, uri, content_hash, properties, external_id)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (project_id, type, external_id) do update
         set name = excluded.name, uri = excluded.uri, content_hash = excluded.content_hash,
             properties = excluded.properties
         returning lineage_artifact_id",
        a.project_id,
        a.type_name,
        a.name,
        a.uri,
        a.content_hash,
        a.properties,
        a.external_id,
    )
    .fetch_one(conn)
    .await
}

pub struct NewExecutionRow<'a> {
    pub project_id: Uuid,
    pub type_name: &'a str,
    pub name: &'a str,
    pub state: ExecutionState,
    pub properties: &'a serde_json::Value,
    pub job_id: Option<Uuid>,
    pub external_id: Option<&'a str>,
}

pub async fn upsert_execution(conn: &mut PgConnection, e: &NewExecutionRow<'_>) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        "insert into lineage_execution (project_id, type, name, state, properties, job_id, external_id)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (project_id, type, external_id) do update
         set name = excluded.name, state = excluded.state, properties = excluded.properties,
             job_id = coalesce(excluded.job_id, lineage_execution.job_id)
         returning lineage_execution_id",
        e.project_id,
        e.type_name,
        e.name,
        e.state as ExecutionState,
        e.properties,
        e.job_id,
        e.external_id,
    )
    .fetch_one(conn)
    .await
}

pub async fn set_execution_state(
    conn: &mut PgConnection,
    id: Uuid,
    state: ExecutionState,
) -> sqlx::Result<bool> {
    let r = sqlx::query!(
        "update lineage_execution set state = $2 where lineage_execution_id = $1",
        id,
        state as ExecutionState,
    )
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Links an execution and an artifact; recording the same link twice is a no-op. The
/// event takes the execution's project (an unknown execution fails the not-null check,
/// an unknown artifact the foreign key).
pub async fn insert_event(
    conn: &mut PgConnection,
    execution_id: Uuid,
    artifact_id: Uuid,
    kind: EventKind,
    role: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into lineage_event (project_id, lineage_execution_id, lineage_artifact_id, kind, role)
         values ((select project_id from lineage_execution where lineage_execution_id = $1), $1, $2, $3, $4)
         on conflict (lineage_execution_id, lineage_artifact_id, kind, role) do nothing",
        execution_id,
        artifact_id,
        kind as EventKind,
        role,
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn upsert_context(
    conn: &mut PgConnection,
    project_id: Uuid,
    type_name: &str,
    name: &str,
    properties: &serde_json::Value,
) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        "insert into lineage_context (project_id, type, name, properties)
         values ($1, $2, $3, $4)
         on conflict (project_id, type, name) do update set properties = excluded.properties
         returning lineage_context_id",
        project_id,
        type_name,
        name,
        properties,
    )
    .fetch_one(conn)
    .await
}

pub async fn insert_attribution(
    conn: &mut PgConnection,
    context_id: Uuid,
    artifact_id: Uuid,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into lineage_attribution (lineage_context_id, lineage_artifact_id) values ($1, $2)
         on conflict do nothing",
        context_id,
        artifact_id,
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn insert_association(
    conn: &mut PgConnection,
    context_id: Uuid,
    execution_id: Uuid,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into lineage_association (lineage_context_id, lineage_execution_id) values ($1, $2)
         on conflict do nothing",
        context_id,
        execution_id,
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn artifacts_by_id(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<ArtifactRow>> {
    sqlx::query_as!(
        ArtifactRow,
        "select lineage_artifact_id, project_id, type as type_name, name, uri, content_hash, properties, external_id, created_at
         from lineage_artifact where lineage_artifact_id = any($1)
         order by created_at, lineage_artifact_id",
        ids,
    )
    .fetch_all(db)
    .await
}

pub async fn executions_by_id(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<ExecutionRow>> {
    sqlx::query_as!(
        ExecutionRow,
        r#"select lineage_execution_id, project_id, type as type_name, name, state as "state: ExecutionState", properties,
                  job_id, external_id, created_at
           from lineage_execution where lineage_execution_id = any($1)
           order by created_at, lineage_execution_id"#,
        ids,
    )
    .fetch_all(db)
    .await
}

pub async fn find_artifact(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    type_name: &str,
    external_id: &str,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "select lineage_artifact_id from lineage_artifact where project_id = $1 and type = $2 and external_id = $3",
        project_id,
        type_name,
        external_id,
    )
    .fetch_optional(db)
    .await
}

pub async fn context_artifacts(db: impl PgExecutor<'_>, context_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "select lineage_artifact_id from lineage_attribution where lineage_context_id = $1 order by created_at",
        context_id,
    )
    .fetch_all(db)
    .await
}

pub async fn context_executions(db: impl PgExecutor<'_>, context_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "select lineage_execution_id from lineage_association where lineage_context_id = $1 order by created_at",
        context_id,
    )
    .fetch_all(db)
    .await
}

/// The events upstream of an artifact, at most `max_depth` executions away: the
/// executions that produced it (output edges), their inputs, what produced those...
/// `union` (not `union all`) plus the depth bound keeps a cyclic graph finite.
pub async fn upstream(
    db: impl PgExecutor<'_>,
    artifact_id: Uuid,
    max_depth: i32,
) -> sqlx::Result<Vec<EdgeRow>> {
    sqlx::query_as!(
        EdgeRow,
        r#"with recursive frontier(artifact_id, depth) as (
               select $1::uuid, 0
               union
               select i.lineage_artifact_id, f.depth + 1
               from frontier f
               join lineage_event o on o.lineage_artifact_id = f.artifact_id and o.kind = 'output'
               join lineage_event i on i.lineage_execution_id = o.lineage_execution_id and i.kind = 'input'
               where f.depth < $2
           )
           select distinct e.lineage_execution_id as "execution_id!", e.lineage_artifact_id as "artifact_id!",
                  e.kind as "kind!: EventKind", e.role as "role!"
           from frontier f
           join lineage_event o on o.lineage_artifact_id = f.artifact_id and o.kind = 'output'
           join lineage_event e on e.lineage_execution_id = o.lineage_execution_id
                                and (e.kind = 'input' or e.lineage_event_id = o.lineage_event_id)
           where f.depth < $2"#,
        artifact_id,
        max_depth,
    )
    .fetch_all(db)
    .await
}

/// The mirror of [`upstream`]: executions that consumed the artifact, their outputs,
/// what consumed those...
pub async fn downstream(
    db: impl PgExecutor<'_>,
    artifact_id: Uuid,
    max_depth: i32,
) -> sqlx::Result<Vec<EdgeRow>> {
    sqlx::query_as!(
        EdgeRow,
        r#"with recursive frontier(artifact_id, depth) as (
               select $1::uuid, 0
               union
               select o.lineage_artifact_id, f.depth + 1
               from frontier f
               join lineage_event i on i.lineage_artifact_id = f.artifact_id and i.kind = 'input'
               join lineage_event o on o.lineage_execution_id = i.lineage_execution_id and o.kind = 'output'
               where f.depth < $2
           )
           select distinct e.lineage_execution_id as "execution_id!", e.lineage_artifact_id as "artifact_id!",
                  e.kind as "kind!: EventKind", e.role as "role!"
           from frontier f
           join lineage_event i on i.lineage_artifact_id = f.artifact_id and i.kind = 'input'
           join lineage_event e on e.lineage_execution_id = i.lineage_execution_id
                                and (e.kind = 'output' or e.lineage_event_id = i.lineage_event_id)
           where f.depth < $2"#,
        artifact_id,
        max_depth,
    )
    .fetch_all(db)
    .await
}
