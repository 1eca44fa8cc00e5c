//! The lineage store, in the ML Metadata model: **artifacts** (dataset versions,
//! models, metrics), **executions** (runs, pipeline steps, jobs), **events** saying an
//! artifact was an execution's input or output, and **contexts** (a pipeline run, an
//! experiment) that group artifacts (attributions) and executions (associations).
//!
//! Every feature records its nodes here as it creates them, in its own transaction
//! (the `record_*` functions take `&mut PgConnection`). Recording is idempotent when
//! an `external_id` is given (the feature's own id for the thing), because the jobs
//! that record lineage may run more than once.
//!
//! [`walk`] answers "where did this model come from" (upstream) and "what was built
//! from this dataset" (downstream) with one recursive query per direction.

use crate::db::lineage::{self as q, ArtifactRow, ExecutionRow};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use domain::{ArtifactId, ContextId, ExecutionId, JobId, ProjectId, ValidationError};
use sqlx::{PgConnection, PgPool};
use std::collections::BTreeSet;

pub use crate::db::lineage::{EventKind, ExecutionState};

/// The deepest walk allowed; deeper lineage is cut off (and a cycle cannot loop).
pub const MAX_DEPTH: i32 = 100;

#[derive(Clone, Debug, Default)]
pub struct NewArtifact {
    /// E.g. `dataset_version`, `model_version`, `metrics`.
    pub type_name: String,
    pub name: String,
    pub uri: String,
    /// `sha256:<hex>` of the content, when known.
    pub content_hash: Option<String>,
    pub properties: serde_json::Value,
    /// The owning feature's id for it; recording again with the same id updates.
    pub external_id: Option<String>,
}

#[derive(Clone, Debug)]
pub struct NewExecution {
    /// E.g. `training_run`, `pipeline_step`, `batch_prediction`.
    pub type_name: String,
    pub name: String,
    pub state: ExecutionState,
    pub properties: serde_json::Value,
    pub job_id: Option<JobId>,
    pub external_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ArtifactInfo {
    pub artifact_id: ArtifactId,
    pub project_id: ProjectId,
    pub type_name: String,
    pub name: String,
    pub uri: String,
    pub content_hash: Option<String>,
    pub properties: serde_json::Value,
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<ArtifactRow> for ArtifactInfo {
    fn from(r: ArtifactRow) -> Self {
        Self {
            artifact_id: ArtifactId(r.lineage_artifact_id),
            project_id: ProjectId(r.project_id),
            type_name: r.type_name,
            name: r.name,
            uri: r.uri,
            content_hash: r.content_hash,
            properties: r.properties,
            external_id: r.external_id,
            created_at: r.created_at,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionInfo {
    pub execution_id: ExecutionId,
    pub project_id: ProjectId,
    pub type_name: String,
    pub name: String,
    pub state: ExecutionState,
    pub properties: serde_json::Value,
    pub job_id: Option<JobId>,
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<ExecutionRow> for ExecutionInfo {
    fn from(r: ExecutionRow) -> Self {
        Self {
            execution_id: ExecutionId(r.lineage_execution_id),
            project_id: ProjectId(r.project_id),
            type_name: r.type_name,
            name: r.name,
            state: r.state,
            properties: r.properties,
            job_id: r.job_id.map(JobId),
            external_id: r.external_id,
            created_at: r.created_at,
        }
    }
}

/// An event: `artifact` was an input to, or an output of, `execution`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LineageEdge {
    pub execution_id: ExecutionId,
    pub artifact_id: ArtifactId,
    pub kind: EventKind,
    pub role: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Upstream,
    Downstream,
    Both,
}

/// Nodes and edges around an artifact; the start artifact is always among `artifacts`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LineageGraph {
    pub artifacts: Vec<ArtifactInfo>,
    pub executions: Vec<ExecutionInfo>,
    pub edges: Vec<LineageEdge>,
}

fn check_type(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(ValidationError::new(field, "must not be empty").into());
    }
    Ok(())
}

fn props(v: &serde_json::Value) -> serde_json::Value {
    if v.is_null() { serde_json::json!({}) } else { v.clone() }
}

pub async fn record_artifact(
    conn: &mut PgConnection,
    project: ProjectId,
    a: &NewArtifact,
) -> Result<ArtifactId> {
    check_type("type_name", &a.type_name)?;
    let properties = props(&a.properties);
    let id = q::upsert_artifact(
        conn,
        &q::NewArtifactRow {
            project_id: project.0,
            type_name: &a.type_name,
            name: &a.name,
            uri: &a.uri,
            content_hash: a.content_hash.as_deref(),
            properties: &properties,
            external_id: a.external_id.as_deref(),
        },
    )
    .await?;
    Ok(ArtifactId(id))
}

pub async fn record_execution(
    conn: &mut PgConnection,
    project: ProjectId,
    e: &NewExecution,
) -> Result<ExecutionId> {
    check_type("type_name", &e.type_name)?;
    let properties = props(&e.properties);
    let id = q::upsert_execution(
        conn,
        &q::NewExecutionRow {
            project_id: project.0,
            type_name: &e.type_name,
            name: &e.name,
            state: e.state,
            properties: &properties,
            job_id: e.job_id.map(|j| j.0),
            external_id: e.external_id.as_deref(),
        },
    )
    .await?;
    Ok(ExecutionId(id))
}

pub async fn set_execution_state(
    conn: &mut PgConnection,
    id: ExecutionId,
    state: ExecutionState,
) -> Result<()> {
    if q::set_execution_state(conn, id.0, state).await? {
        Ok(())
    } else {
        Err(Error::not_found("execution", id))
    }
}

/// Records that `artifact` was an input or output of `execution` (idempotent).
pub async fn record_event(
    conn: &mut PgConnection,
    execution: ExecutionId,
    artifact: ArtifactId,
    kind: EventKind,
    role: &str,
) -> Result<()> {
    q::insert_event(conn, execution.0, artifact.0, kind, role).await.map_err(|e| match e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("23502") => {
            Error::not_found("execution", execution)
        }
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => Error::not_found("artifact", artifact),
        e => e.into(),
    })
}

/// Creates the context, or returns the existing one of that type and name.
pub async fn record_context(
    conn: &mut PgConnection,
    project: ProjectId,
    type_name: &str,
    name: &str,
    properties: &serde_json::Value,
) -> Result<ContextId> {
    check_type("type_name", type_name)?;
    check_type("name", name)?;
    Ok(ContextId(q::upsert_context(conn, project.0, type_name, name, &props(properties)).await?))
}

/// Puts an artifact into a context (idempotent).
pub async fn attribute(conn: &mut PgConnection, context: ContextId, artifact: ArtifactId) -> Result<()> {
    q::insert_attribution(conn, context.0, artifact.0)
        .await
        .map_err(|e| fk_not_found(e, "context or artifact"))
}

/// Puts an execution into a context (idempotent).
pub async fn associate(conn: &mut PgConnection, context: ContextId, execution: ExecutionId) -> Result<()> {
    q::insert_association(conn, context.0, execution.0)
        .await
        .map_err(|e| fk_not_found(e, "context or execution"))
}

fn fk_not_found(e: sqlx::Error, what: &'static str) -> Error {
    match e {
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => Error::not_found(what, "given id"),
        e => e.into(),
    }
}

pub async fn get_artifact(db: &PgPool, id: ArtifactId) -> Result<ArtifactInfo> {
    q::artifacts_by_id(db, &[id.0])
        .await?
        .into_iter()
        .next()
        .map(Into::into)
        .ok_or_else(|| Error::not_found("artifact", id))
}

/// The artifact a feature recorded under its own id, if any.
pub async fn find_artifact(
    db: &PgPool,
    project: ProjectId,
    type_name: &str,
    external_id: &str,
) -> Result<Option<ArtifactId>> {
    Ok(q::find_artifact(db, project.0, type_name, external_id).await?.map(ArtifactId))
}

/// Everything attributed to or associated with a context (no edges).
pub async fn context_members(db: &PgPool, id: ContextId) -> Result<LineageGraph> {
    let a = q::context_artifacts(db, id.0).await?;
    let e = q::context_executions(db, id.0).await?;
    Ok(LineageGraph {
        artifacts: q::artifacts_by_id(db, &a).await?.into_iter().map(Into::into).collect(),
        executions: q::executions_by_id(db, &e).await?.into_iter().map(Into::into).collect(),
        edges: Vec::new(),
    })
}

/// The lineage graph around `artifact`, up to `max_depth` executions away in the
/// chosen direction(s).
#[tracing::instrument(skip_all, fields(artifact.id = %artifact, ?direction, max_depth))]
pub async fn walk(
    db: &PgPool,
    artifact: ArtifactId,
    direction: Direction,
    max_depth: i32,
) -> Result<LineageGraph> {
    if !(1..=MAX_DEPTH).contains(&max_depth) {
        return Err(ValidationError::new("depth", format!("must be between 1 and {MAX_DEPTH}")).into());
    }
    let start = get_artifact(db, artifact).await?;
    let mut rows = Vec::new();
    if matches!(direction, Direction::Upstream | Direction::Both) {
        rows.extend(q::upstream(db, artifact.0, max_depth).await?);
    }
    if matches!(direction, Direction::Downstream | Direction::Both) {
        rows.extend(q::downstream(db, artifact.0, max_depth).await?);
    }
    let edges: BTreeSet<LineageEdge> = rows
        .into_iter()
        .map(|r| LineageEdge {
            execution_id: ExecutionId(r.execution_id),
            artifact_id: ArtifactId(r.artifact_id),
            kind: r.kind,
            role: r.role,
        })
        .collect();
    let artifact_ids: Vec<_> = edges
        .iter()
        .map(|e| e.artifact_id.0)
        .filter(|a| *a != artifact.0)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let execution_ids: Vec<_> =
        edges.iter().map(|e| e.execution_id.0).collect::<BTreeSet<_>>().into_iter().collect();
    let mut artifacts = vec![start];
    artifacts.extend(q::artifacts_by_id(db, &artifact_ids).await?.into_iter().map(ArtifactInfo::from));
    let executions = q::executions_by_id(db, &execution_ids).await?.into_iter().map(Into::into).collect();
    Ok(LineageGraph { artifacts, executions, edges: edges.into_iter().collect() })
}
