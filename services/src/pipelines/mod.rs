//! Pipelines: specs, versions, components, runs and triggers (the use cases the API,
//! the CLI, the dashboard and the trigger jobs call). Execution is in [`runner`].
//!
//! - A **version** is immutable and identified by a digest over its normalised spec
//!   and the component versions it pins; submitting the same spec again returns the
//!   existing version (`created: false`).
//! - **Components** are content-addressed: a command component defined inline gets a
//!   new version only when its definition changes; built-ins are registered at start.
//! - **Triggers**: manual ([`start_run`]), schedules (`schedule` rows of kind
//!   `pipeline.trigger`), new dataset versions ([`dataset_version_created`]), an
//!   HMAC-signed webhook ([`webhook_trigger`]) and monitoring ([`monitor_trigger`]).
//!   Each run records what started it.

pub mod components;
pub mod runner;
pub mod spec;

use crate::auth::{Action, Principal, audit, authorize};
use crate::db::pipelines as sql;
use crate::queue::{self, Job, JobRegistry};
use crate::schedule::{self, ScheduleSpec};
use crate::{AppState, Error, Result};
use domain::pipelines::{
    CachedFrom, CommandComponentSpec, ComponentInfo, ComponentKind, ComponentRef, ComponentSignature,
    DatasetTrigger, MonitorTrigger, NewSchedule, PinnedComponent, PipelineDetail, PipelineSchedule,
    PipelineSummary, PipelineVersion, RunDetail, RunState, RunSummary, ScheduleChange, StartRun, StepRun,
    StepState, Submitted, Trigger, VersionSummary, bind_parameters,
};
use domain::{
    JobId, PipelineId, PipelineRunId, PipelineStepId, PipelineVersionId, ScheduleId, ValidationError,
};
use runner::{StepJob, TriggerJob};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

pub use spec::parse;

tokio::task_local! {
    /// The pipeline whose step is running in this task: dataset versions created
    /// under it (by extract, prepare, a command's dataset output, a batch prediction)
    /// do not start that same pipeline again through its dataset trigger. Set by the
    /// runner around a step, so no use case needs a pipeline argument.
    static ACTING_PIPELINE: Uuid;
}

/// The pipeline whose step the current task runs, if any.
pub fn acting_pipeline() -> Option<Uuid> {
    ACTING_PIPELINE.try_with(|p| *p).ok()
}

/// Runs `f` as work of `pipeline` (see [`acting_pipeline`]).
pub async fn as_pipeline<F: std::future::Future>(pipeline: Option<Uuid>, f: F) -> F::Output {
    match pipeline {
        Some(id) => ACTING_PIPELINE.scope(id, f).await,
        None => f.await,
    }
}

/// Purpose bound to encrypted webhook secrets.
const PURPOSE_WEBHOOK: &str = "pipeline.webhook";

pub fn register(registry: JobRegistry) -> JobRegistry {
    registry.register::<StepJob>().register::<TriggerJob>()
}

fn invalid(errors: Vec<ValidationError>) -> Error {
    match errors.len() {
        1 => errors
            .into_iter()
            .next()
            .map(Error::from)
            .unwrap_or_else(|| Error::Other(anyhow::anyhow!("invalid"))),
        _ => {
            let field = errors[0].field.clone();
            let all: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            ValidationError::new(field, format!("{} problems: {}", errors.len(), all.join("; "))).into()
        }
    }
}

// ---------------------------------------------------------------------------
// Components

/// Registers every built-in (idempotent: an unchanged definition keeps its version).
pub async fn register_builtins(db: &sqlx::PgPool) -> Result<()> {
    let mut tx = db.begin().await?;
    for b in components::BUILTINS {
        let definition = components::builtin_definition(b);
        let signature = serde_json::to_value(b.signature()).map_err(anyhow::Error::from)?;
        sql::upsert_component(
            &mut tx,
            &sql::NewComponentRow {
                name: b.name,
                digest: &spec::digest_json(&definition),
                kind: "builtin",
                description: b.description,
                signature: &signature,
                command: None,
                created_by: None,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn component_info(r: sql::ComponentRow) -> Result<ComponentInfo> {
    Ok(ComponentInfo {
        kind: if r.kind == "builtin" { ComponentKind::Builtin } else { ComponentKind::Command },
        signature: serde_json::from_value(r.signature).map_err(anyhow::Error::from)?,
        command: r.command.and_then(|c| serde_json::from_value(c).ok()),
        name: r.name,
        version: r.version,
        digest: r.digest,
        description: r.description,
        created_at: r.created_at,
    })
}

pub async fn components(st: &AppState, p: &Principal) -> Result<Vec<ComponentInfo>> {
    authorize(p, Action::Read)?;
    sql::components(&st.db).await?.into_iter().map(component_info).collect()
}

fn check_command(name: &str, c: &CommandComponentSpec) -> Result<()> {
    let field = format!("components.{name}.command");
    if c.command.is_empty() || c.command[0].trim().is_empty() {
        return Err(ValidationError::new(
            field,
            "give the program and its arguments, e.g. [python3, score.py]",
        )
        .into());
    }
    if components::builtin(name).is_some() {
        return Err(ValidationError::new(
            format!("components.{name}"),
            format!("'{name}' is the name of a built-in component; choose another name"),
        )
        .into());
    }
    ComponentRef::parse(&format!("components.{name}"), name)?;
    Ok(())
}

/// Registers a command component version (the existing one when unchanged).
pub async fn register_component(
    st: &AppState,
    p: &Principal,
    name: &str,
    c: &CommandComponentSpec,
) -> Result<ComponentInfo> {
    authorize(p, Action::Write)?;
    check_command(name, c)?;
    let mut tx = st.db.begin().await?;
    let row = upsert_command(&mut tx, p, name, c).await?;
    tx.commit().await?;
    component_info(row)
}

async fn upsert_command(
    conn: &mut sqlx::PgConnection,
    p: &Principal,
    name: &str,
    c: &CommandComponentSpec,
) -> Result<sql::ComponentRow> {
    let signature =
        ComponentSignature { inputs: c.inputs.clone(), outputs: c.outputs.clone(), cacheable: true };
    let command = serde_json::to_value(c).map_err(anyhow::Error::from)?;
    let sig = serde_json::to_value(&signature).map_err(anyhow::Error::from)?;
    let digest = spec::digest_json(&json!({ "kind": "command", "name": name, "command": command }));
    Ok(sql::upsert_component(
        conn,
        &sql::NewComponentRow {
            name,
            digest: &digest,
            kind: "command",
            description: &c.description,
            signature: &sig,
            command: Some(&command),
            created_by: Some(p.user_id.0),
        },
    )
    .await?)
}

// ---------------------------------------------------------------------------
// Pipelines and versions

/// Creates the pipeline (or a new version of it) from YAML or JSON text.
#[tracing::instrument(skip_all)]
pub async fn submit(st: &AppState, p: &Principal, text: &str) -> Result<Submitted> {
    authorize(p, Action::Write)?;
    let spec = spec::parse(text)?;
    for (name, c) in &spec.components {
        check_command(name, c)?;
    }
    let mut tx = st.db.begin().await?;
    // Pin every step's component: inline ones are registered first.
    let mut inline: BTreeMap<String, sql::ComponentRow> = BTreeMap::new();
    for (name, c) in &spec.components {
        inline.insert(name.clone(), upsert_command(&mut tx, p, name, c).await?);
    }
    let mut pins: BTreeMap<String, PinnedComponent> = BTreeMap::new();
    let mut lookup_errors: BTreeMap<String, String> = BTreeMap::new();
    for s in &spec.steps {
        let Ok(r) = ComponentRef::parse("component", &s.component) else { continue };
        let row = match inline.get(&r.name) {
            Some(row) if r.version.is_none() || r.version == Some(row.version) => Some(sql::ComponentRow {
                name: row.name.clone(),
                version: row.version,
                digest: row.digest.clone(),
                kind: row.kind.clone(),
                description: row.description.clone(),
                signature: row.signature.clone(),
                command: row.command.clone(),
                created_at: row.created_at,
            }),
            _ => sql::component(&mut *tx, &r.name, r.version).await?,
        };
        match row {
            Some(row) => {
                let pinned = PinnedComponent {
                    name: row.name,
                    version: row.version,
                    digest: row.digest,
                    kind: if row.kind == "builtin" { ComponentKind::Builtin } else { ComponentKind::Command },
                    signature: serde_json::from_value(row.signature).map_err(anyhow::Error::from)?,
                };
                pins.insert(s.name.clone(), pinned);
            }
            None => {
                let known: Vec<&str> = components::BUILTINS.iter().map(|b| b.name).collect();
                lookup_errors.insert(
                    s.component.clone(),
                    match r.version {
                        Some(v) => format!("component '{}' has no version {v}", r.name),
                        None => format!(
                            "no component named '{}'; built-ins are {}, or define it under `components:`",
                            r.name,
                            known.join(", ")
                        ),
                    },
                );
            }
        }
    }
    let by_component: BTreeMap<String, ComponentSignature> = spec
        .steps
        .iter()
        .filter_map(|s| pins.get(&s.name).map(|p| (s.component.clone(), p.signature.clone())))
        .collect();
    spec.check(|r| {
        by_component.get(&r.to_string()).cloned().ok_or_else(|| {
            lookup_errors.get(&r.to_string()).cloned().unwrap_or_else(|| format!("unknown component '{r}'"))
        })
    })
    .map_err(invalid)?;
    if let Some(t) = &spec.triggers {
        for (i, s) in t.schedules.iter().enumerate() {
            schedule::parse_cron(&s.cron)
                .map_err(|e| ValidationError::new(format!("triggers.schedules[{i}].cron"), e.message))?;
            schedule::parse_timezone(&s.timezone)
                .map_err(|e| ValidationError::new(format!("triggers.schedules[{i}].timezone"), e.message))?;
        }
        for (i, d) in t.datasets.iter().enumerate() {
            if let Some(param) = &d.parameter
                && !spec.parameters.contains_key(param)
            {
                return Err(ValidationError::new(
                    format!("triggers.datasets[{i}].parameter"),
                    format!("'{param}' is not a parameter of this pipeline"),
                )
                .into());
            }
        }
    }

    let spec_json = serde_json::to_value(&spec).map_err(anyhow::Error::from)?;
    let pins_json = serde_json::to_value(&pins).map_err(anyhow::Error::from)?;
    let digest = spec::digest_json(&json!({ "spec": spec_json, "components": pins_json }));
    let pipeline = sql::lock_or_create_pipeline(&mut tx, &spec.name, &spec.description, p.user_id.0).await?;
    let existing = sql::version(&mut *tx, pipeline.pipeline_id, None, None, Some(&digest)).await?;
    let created = existing.is_none();
    if created {
        sql::insert_version(
            &mut tx,
            &sql::NewVersionRow {
                pipeline_id: pipeline.pipeline_id,
                spec_text: text,
                spec: &spec_json,
                components: &pins_json,
                digest: &digest,
                created_by: p.user_id.0,
            },
        )
        .await?;
        // The newest version's declared triggers replace the watched datasets; its
        // schedules are added unless one with the same cron and time zone exists.
        let (names, params): (Vec<String>, Vec<Option<String>>) = spec
            .triggers
            .iter()
            .flat_map(|t| t.datasets.iter())
            .map(|d| (d.dataset.clone(), d.parameter.clone()))
            .unzip();
        sql::set_dataset_triggers(&mut tx, pipeline.pipeline_id, &names, &params).await?;
        audit::record(
            &mut *tx,
            p,
            "pipeline.version.create",
            &format!("pipeline:{}", pipeline.pipeline_id),
            audit::Outcome::Ok,
            &spec.name,
        )
        .await?;
    }
    tx.commit().await?;
    if created && let Some(t) = &spec.triggers {
        let current = pipeline_schedules(st, pipeline.pipeline_id).await?;
        for s in &t.schedules {
            if !current.iter().any(|c| c.cron == s.cron && c.timezone == s.timezone) {
                create_schedule(
                    st,
                    p,
                    &pipeline,
                    &NewSchedule {
                        cron: s.cron.clone(),
                        timezone: s.timezone.clone(),
                        parameters: BTreeMap::new(),
                        enabled: true,
                    },
                )
                .await?;
            }
        }
    }
    let row = sql::version(&st.db, pipeline.pipeline_id, None, None, Some(&digest))
        .await?
        .ok_or_else(|| Error::not_found("pipeline version", &digest))?;
    Ok(Submitted { pipeline_id: PipelineId(pipeline.pipeline_id), version: version_dto(row)?, created })
}

/// Submits a spec as the oldest enabled admin: what `cairn serve --pipeline` does at
/// start-up, before anyone could hold a token. An unchanged spec is the version it
/// already is. None when there is no admin yet.
pub async fn submit_as_admin(st: &AppState, text: &str) -> Result<Option<Submitted>> {
    let admin = crate::db::users::list(&st.db)
        .await?
        .into_iter()
        .filter(|u| !u.disabled && u.role == domain::auth::Role::Admin.as_str())
        .min_by_key(|u| u.created_at);
    let Some(row) = admin else { return Ok(None) };
    let p = crate::auth::sessions::principal_of(&row.into_user()?, crate::auth::Via::Cli, None);
    submit(st, &p, text).await.map(Some)
}

fn version_dto(r: sql::VersionRow) -> Result<PipelineVersion> {
    let plan = runner::plan_of(&r)?;
    Ok(PipelineVersion {
        version_id: PipelineVersionId(r.pipeline_version_id),
        pipeline_id: PipelineId(r.pipeline_id),
        version: r.version,
        spec: plan.spec,
        spec_text: r.spec_text,
        digest: r.digest,
        components: plan.components,
        created_by: r.created_by_name,
        created_at: r.created_at,
    })
}

/// A pipeline by name or id.
async fn pipeline_row(st: &AppState, name_or_id: &str) -> Result<sql::PipelineRow> {
    if let Ok(id) = name_or_id.parse::<Uuid>()
        && let Some(row) = sql::pipeline_by_id(&st.db, id).await?
    {
        return Ok(row);
    }
    sql::pipeline_by_name(&st.db, name_or_id).await?.ok_or_else(|| Error::not_found("pipeline", name_or_id))
}

pub async fn list(st: &AppState, p: &Principal) -> Result<Vec<PipelineSummary>> {
    authorize(p, Action::Read)?;
    let rows = sql::list_pipelines(&st.db).await?;
    let last_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.last_run_id).collect();
    let mut last_runs: BTreeMap<Uuid, RunSummary> = BTreeMap::new();
    for id in last_ids {
        if let Some(r) = run_summaries(st, Some(id), None, None, None, 1).await?.into_iter().next() {
            last_runs.insert(r.pipeline_id.0, r);
        }
    }
    let schedules = schedule::list(&st.db, None).await?;
    Ok(rows
        .into_iter()
        .map(|r| PipelineSummary {
            pipeline_id: PipelineId(r.pipeline_id),
            schedules: schedules
                .iter()
                .filter(|s| s.enabled && schedule_pipeline(&s.payload) == Some(r.pipeline_id))
                .map(|s| s.cron.clone())
                .collect(),
            last_run: last_runs.remove(&r.pipeline_id),
            name: r.name,
            description: r.description,
            latest_version: r.latest_version,
            versions: r.versions,
            runs: r.runs,
            created_at: r.created_at,
        })
        .collect())
}

pub async fn get(st: &AppState, p: &Principal, name_or_id: &str) -> Result<PipelineDetail> {
    authorize(p, Action::Read)?;
    let row = pipeline_row(st, name_or_id).await?;
    let versions = sql::versions(&st.db, row.pipeline_id).await?;
    let mut summaries = Vec::with_capacity(versions.len());
    let mut latest = None;
    for v in versions {
        summaries.push(VersionSummary {
            version_id: PipelineVersionId(v.pipeline_version_id),
            version: v.version,
            digest: v.digest.clone(),
            created_by: v.created_by_name.clone(),
            created_at: v.created_at,
        });
        if latest.is_none() {
            latest = Some(version_dto(v)?);
        }
    }
    let latest = latest.ok_or_else(|| Error::not_found("pipeline version", &row.name))?;
    Ok(PipelineDetail {
        pipeline_id: PipelineId(row.pipeline_id),
        latest,
        versions: summaries,
        schedules: pipeline_schedules(st, row.pipeline_id).await?,
        watched_datasets: sql::dataset_triggers(&st.db, row.pipeline_id)
            .await?
            .into_iter()
            .map(|d| DatasetTrigger { dataset: d.dataset_name, parameter: d.parameter })
            .collect(),
        recent_runs: run_summaries(st, None, Some(row.pipeline_id), None, None, 20).await?,
        name: row.name,
        description: row.description,
        created_at: row.created_at,
    })
}

pub async fn version(st: &AppState, p: &Principal, name_or_id: &str, number: i32) -> Result<PipelineVersion> {
    authorize(p, Action::Read)?;
    let row = pipeline_row(st, name_or_id).await?;
    let v = sql::version(&st.db, row.pipeline_id, None, Some(number), None)
        .await?
        .ok_or_else(|| Error::not_found("pipeline version", format!("{}@{number}", row.name)))?;
    version_dto(v)
}

pub async fn delete(st: &AppState, p: &Principal, name_or_id: &str) -> Result<()> {
    authorize(p, Action::Write)?;
    let row = pipeline_row(st, name_or_id).await?;
    for s in pipeline_schedules(st, row.pipeline_id).await? {
        schedule::delete(&st.db, s.schedule_id).await?;
    }
    let mut tx = st.db.begin().await?;
    sql::delete_pipeline(&mut *tx, row.pipeline_id).await?;
    audit::record(
        &mut *tx,
        p,
        "pipeline.delete",
        &format!("pipeline:{}", row.pipeline_id),
        audit::Outcome::Ok,
        &row.name,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Runs

/// A person starts a run (UI, API, CLI).
pub async fn start_run(st: &AppState, p: &Principal, name_or_id: &str, req: StartRun) -> Result<RunDetail> {
    authorize(p, Action::Write)?;
    let row = pipeline_row(st, name_or_id).await?;
    start_run_as(
        st,
        p,
        row.pipeline_id,
        req.version,
        req.parameters,
        Trigger::Manual { user: p.username.clone() },
    )
    .await
}

/// Creates a run of a version (newest when None) with the given trigger, and queues
/// its first steps.
pub async fn start_run_as(
    st: &AppState,
    p: &Principal,
    pipeline_id: Uuid,
    version: Option<i32>,
    parameters: BTreeMap<String, Value>,
    trigger: Trigger,
) -> Result<RunDetail> {
    authorize(p, Action::Write)?;
    let v = sql::version(&st.db, pipeline_id, None, version, None).await?.ok_or_else(|| match version {
        Some(n) => Error::not_found("pipeline version", n),
        None => Error::not_found("pipeline", pipeline_id),
    })?;
    let plan = runner::plan_of(&v)?;
    let params = bind_parameters(&plan.spec.parameters, &parameters).map_err(invalid)?;
    let params = serde_json::to_value(&params).map_err(anyhow::Error::from)?;
    let trigger_json = serde_json::to_value(&trigger).map_err(anyhow::Error::from)?;
    let mut tx = st.db.begin().await?;
    let run_id = sql::insert_run(
        &mut tx,
        &sql::NewRunRow {
            pipeline_id,
            pipeline_version_id: v.pipeline_version_id,
            parameters: &params,
            trigger: &trigger_json,
            rerun_of: match &trigger {
                Trigger::Rerun { run_id, .. } => Some(run_id.0),
                _ => None,
            },
            created_by: Some(p.user_id.0),
        },
    )
    .await?;
    insert_steps(&mut tx, run_id, &plan).await?;
    if let Trigger::Rerun { run_id: from, .. } = &trigger {
        reuse_finished_steps(&mut tx, run_id, from.0).await?;
    }
    runner::advance(&mut tx, run_id).await?;
    audit::record(
        &mut *tx,
        p,
        "pipeline.run.start",
        &format!("pipeline_run:{run_id}"),
        audit::Outcome::Ok,
        &trigger.describe(),
    )
    .await?;
    tx.commit().await?;
    run_detail(st, run_id).await
}

async fn insert_steps(conn: &mut sqlx::PgConnection, run_id: Uuid, plan: &runner::Plan) -> Result<()> {
    for (i, s) in plan.spec.steps.iter().enumerate() {
        let pinned = plan
            .components
            .get(&s.name)
            .ok_or_else(|| Error::Other(anyhow::anyhow!("step '{}' has no pinned component", s.name)))?;
        let deps: Vec<String> = s.dependencies().into_iter().collect();
        sql::insert_step(
            conn,
            run_id,
            &sql::NewStepRow {
                name: &s.name,
                position: i as i32,
                component_name: &pinned.name,
                component_version: pinned.version,
                component_digest: &pinned.digest,
                depends_on: &deps,
                max_attempts: (s.retries.min(20) + 1) as i32,
                timeout_s: s.timeout_s().min(i32::MAX as u64) as i32,
                cache_enabled: s.cache.unwrap_or(true) && pinned.signature.cacheable,
            },
        )
        .await?;
    }
    Ok(())
}

/// A re-run keeps the earlier run's finished steps whose upstream all finished, so
/// it starts again at the step that failed.
async fn reuse_finished_steps(conn: &mut sqlx::PgConnection, run_id: Uuid, from: Uuid) -> Result<()> {
    let old = sql::steps(&mut *conn, from).await?;
    let new = sql::steps(&mut *conn, run_id).await?;
    let ok = |name: &str| {
        old.iter()
            .find(|s| s.name == name)
            .is_some_and(|s| StepState::parse(&s.state).is_some_and(StepState::has_outputs))
    };
    // A step is reusable when it and everything upstream of it has outputs.
    let mut reusable: BTreeMap<&str, bool> = BTreeMap::new();
    for _ in 0..=new.len() {
        for s in &new {
            let r = ok(&s.name)
                && s.depends_on.iter().all(|d| reusable.get(d.as_str()).copied().unwrap_or(false));
            reusable.insert(s.name.as_str(), r);
        }
    }
    for s in &new {
        if reusable.get(s.name.as_str()).copied().unwrap_or(false)
            && let Some(o) = old.iter().find(|o| o.name == s.name)
            && o.component_digest == s.component_digest
        {
            sql::copy_step_as_cached(conn, s.pipeline_step_id, o.pipeline_step_id).await?;
        }
    }
    Ok(())
}

/// Starts a new run of the same version and parameters from the failed step.
pub async fn rerun(st: &AppState, p: &Principal, run_id: PipelineRunId) -> Result<RunDetail> {
    authorize(p, Action::Write)?;
    let old = run_detail(st, run_id.0).await?;
    if !old.summary.state.is_terminal() {
        return Err(Error::Conflict(format!(
            "run {run_id} is still {}; cancel it or wait for it to end before re-running",
            old.summary.state.as_str()
        )));
    }
    start_run_as(
        st,
        p,
        old.summary.pipeline_id.0,
        Some(old.summary.version),
        old.parameters,
        Trigger::Rerun { run_id, user: p.username.clone() },
    )
    .await
}

/// Cancels a run: pending steps never start, running ones are stopped.
pub async fn cancel_run(st: &AppState, p: &Principal, run_id: PipelineRunId) -> Result<RunDetail> {
    authorize(p, Action::Write)?;
    let mut tx = st.db.begin().await?;
    let Some((state, _, _)) = sql::lock_run(&mut tx, run_id.0).await? else {
        return Err(Error::not_found("pipeline run", run_id));
    };
    if RunState::parse(&state).is_some_and(RunState::is_terminal) {
        return Err(Error::Conflict(format!(
            "run {run_id} already ended ({state}); there is nothing to cancel"
        )));
    }
    let reason = format!("cancelled by {}", p.username);
    let active = sql::cancel_steps(&mut tx, run_id.0, &reason).await?;
    sql::set_run_state(&mut tx, run_id.0, "cancelled", Some(&reason)).await?;
    audit::record(
        &mut *tx,
        p,
        "pipeline.run.cancel",
        &format!("pipeline_run:{run_id}"),
        audit::Outcome::Ok,
        "",
    )
    .await?;
    tx.commit().await?;
    for (job, external) in active {
        match queue::cancel(&st.db, JobId(job)).await {
            Ok(_) | Err(Error::NotFound { .. }) | Err(Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        if let Some(external) = &external {
            stop_external(st, p, external).await;
        }
    }
    run_detail(st, run_id.0).await
}

/// Stops the work a waiting step started elsewhere (a training run or search, a
/// batch prediction). Best effort: work that already ended is left as it is.
pub(crate) async fn stop_external(st: &AppState, p: &Principal, external: &Value) {
    if let Some(batch) = external_of(external, "batch_predict_job") {
        match queue::cancel(&st.db, JobId(batch)).await {
            Ok(_) | Err(Error::NotFound { .. }) | Err(Error::Conflict(_)) => {}
            Err(e) => tracing::warn!(error = %e, "could not cancel the step's batch prediction"),
        }
    }
    if let Some(training) = external_of(external, "training_run") {
        match crate::training::cancel(st, p, training).await {
            Ok(()) | Err(Error::Conflict(_)) | Err(Error::NotFound { .. }) => {}
            Err(e) => tracing::warn!(error = %e, "could not cancel the step's training run"),
        }
    }
}

/// The id of a waiting step's external work of `kind` (see the built-ins' `Wait`).
fn external_of(v: &Value, kind: &str) -> Option<Uuid> {
    (v.get("kind").and_then(Value::as_str) == Some(kind))
        .then(|| v.get("id").and_then(Value::as_str).and_then(|s| s.parse().ok()))
        .flatten()
}

pub async fn runs(
    st: &AppState,
    p: &Principal,
    pipeline: Option<&str>,
    state: Option<RunState>,
    limit: i64,
) -> Result<Vec<RunSummary>> {
    authorize(p, Action::Read)?;
    let pipeline_id = match pipeline {
        Some(name) => Some(pipeline_row(st, name).await?.pipeline_id),
        None => None,
    };
    run_summaries(st, None, pipeline_id, state, None, limit.clamp(1, 500)).await
}

async fn run_summaries(
    st: &AppState,
    run_id: Option<Uuid>,
    pipeline_id: Option<Uuid>,
    state: Option<RunState>,
    before: Option<chrono::DateTime<chrono::Utc>>,
    limit: i64,
) -> Result<Vec<RunSummary>> {
    let rows = sql::runs(&st.db, run_id, pipeline_id, state.map(RunState::as_str), before, limit).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.pipeline_run_id).collect();
    let mut counts: BTreeMap<Uuid, BTreeMap<String, i64>> = BTreeMap::new();
    for (run, state, n) in sql::step_counts(&st.db, &ids).await? {
        counts.entry(run).or_default().insert(state, n);
    }
    rows.into_iter().map(|r| summary(r, &mut counts)).collect()
}

fn summary(r: sql::RunRow, counts: &mut BTreeMap<Uuid, BTreeMap<String, i64>>) -> Result<RunSummary> {
    Ok(RunSummary {
        run_id: PipelineRunId(r.pipeline_run_id),
        pipeline_id: PipelineId(r.pipeline_id),
        pipeline: r.pipeline_name,
        version: r.version,
        state: RunState::parse(&r.state).unwrap_or(RunState::Queued),
        trigger: serde_json::from_value(r.trigger).unwrap_or(Trigger::Manual { user: "?".into() }),
        step_counts: counts.remove(&r.pipeline_run_id).unwrap_or_default(),
        error: r.error,
        created_at: r.created_at,
        started_at: r.started_at,
        finished_at: r.finished_at,
    })
}

pub async fn run(st: &AppState, p: &Principal, run_id: PipelineRunId) -> Result<RunDetail> {
    authorize(p, Action::Read)?;
    run_detail(st, run_id.0).await
}

async fn run_detail(st: &AppState, run_id: Uuid) -> Result<RunDetail> {
    let row = sql::runs(&st.db, Some(run_id), None, None, None, 1)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::not_found("pipeline run", run_id))?;
    let version = sql::version(&st.db, row.pipeline_id, Some(row.pipeline_version_id), None, None)
        .await?
        .ok_or_else(|| Error::not_found("pipeline version", row.pipeline_version_id))?;
    let plan = runner::plan_of(&version)?;
    let steps = sql::steps(&st.db, run_id).await?;
    let parameters = serde_json::from_value(row.parameters.clone()).unwrap_or_default();
    let (created_by, rerun_of) = (row.created_by_name.clone(), row.rerun_of);
    let mut counts = BTreeMap::new();
    counts.insert(
        run_id,
        steps.iter().fold(BTreeMap::<String, i64>::new(), |mut m, s| {
            *m.entry(s.state.clone()).or_default() += 1;
            m
        }),
    );
    let summary = summary(row, &mut counts)?;
    Ok(RunDetail {
        summary,
        version_id: PipelineVersionId(version.pipeline_version_id),
        parameters,
        layers: plan.spec.layers(),
        steps: steps
            .into_iter()
            .map(|s| StepRun {
                step_id: PipelineStepId(s.pipeline_step_id),
                component: format!("{}@{}", s.component_name, s.component_version),
                state: StepState::parse(&s.state).unwrap_or(StepState::Pending),
                depends_on: s.depends_on,
                attempt: s.attempt,
                max_attempts: s.max_attempts,
                job_id: s.job_id.map(JobId),
                inputs: serde_json::from_value(s.inputs).unwrap_or_default(),
                outputs: serde_json::from_value(s.outputs).unwrap_or_default(),
                cached_from: s.cached_from.zip(s.cached_from_run).map(|(step, run)| CachedFrom {
                    run_id: PipelineRunId(run),
                    step_id: PipelineStepId(step),
                }),
                external: s.external,
                error: s.error,
                started_at: s.started_at,
                finished_at: s.finished_at,
                name: s.name,
            })
            .collect(),
        created_by,
        rerun_of: rerun_of.map(PipelineRunId),
    })
}

// ---------------------------------------------------------------------------
// Triggers: schedules, datasets, webhooks, monitoring

fn schedule_pipeline(payload: &Value) -> Option<Uuid> {
    payload.get("pipeline_id").and_then(Value::as_str).and_then(|s| s.parse().ok())
}

async fn pipeline_schedules(st: &AppState, pipeline_id: Uuid) -> Result<Vec<PipelineSchedule>> {
    Ok(schedule::list(&st.db, None)
        .await?
        .into_iter()
        .filter(|s| s.kind == TriggerJob::KIND && schedule_pipeline(&s.payload) == Some(pipeline_id))
        .map(|s| PipelineSchedule {
            schedule_id: s.schedule_id,
            parameters: s
                .payload
                .get("parameters")
                .and_then(|p| serde_json::from_value(p.clone()).ok())
                .unwrap_or_default(),
            cron: s.cron,
            timezone: s.timezone,
            enabled: s.enabled,
            next_run_at: s.next_run_at,
            last_run_at: s.last_run_at,
        })
        .collect())
}

async fn create_schedule(
    st: &AppState,
    p: &Principal,
    pipeline: &sql::PipelineRow,
    new: &NewSchedule,
) -> Result<PipelineSchedule> {
    let version = sql::version(&st.db, pipeline.pipeline_id, None, None, None)
        .await?
        .ok_or_else(|| Error::not_found("pipeline version", &pipeline.name))?;
    let plan = runner::plan_of(&version)?;
    bind_parameters(&plan.spec.parameters, &new.parameters).map_err(invalid)?;
    let job = |schedule_id: ScheduleId| TriggerJob {
        pipeline_id: pipeline.pipeline_id,
        user_id: Some(p.user_id.0),
        parameters: new.parameters.clone(),
        trigger: Trigger::Schedule { schedule_id, cron: new.cron.clone() },
    };
    let name = format!("pipeline {} {}", pipeline.name, &Uuid::new_v4().simple().to_string()[..8]);
    let mut spec = ScheduleSpec::for_job(&name, &new.cron, &new.timezone, &job(ScheduleId(Uuid::nil())))?;
    spec.enabled = new.enabled;
    let created = schedule::create(&st.db, None, spec.clone()).await?;
    spec.payload = serde_json::to_value(job(created.schedule_id)).map_err(anyhow::Error::from)?;
    let updated = schedule::update(&st.db, created.schedule_id, spec).await?;
    Ok(PipelineSchedule {
        schedule_id: updated.schedule_id,
        cron: updated.cron,
        timezone: updated.timezone,
        enabled: updated.enabled,
        next_run_at: updated.next_run_at,
        last_run_at: updated.last_run_at,
        parameters: new.parameters.clone(),
    })
}

pub async fn add_schedule(
    st: &AppState,
    p: &Principal,
    name_or_id: &str,
    new: NewSchedule,
) -> Result<PipelineSchedule> {
    authorize(p, Action::Write)?;
    let row = pipeline_row(st, name_or_id).await?;
    let s = create_schedule(st, p, &row, &new).await?;
    audit::record(
        &st.db,
        p,
        "pipeline.schedule.create",
        &format!("schedule:{}", s.schedule_id),
        audit::Outcome::Ok,
        &s.cron,
    )
    .await?;
    Ok(s)
}

async fn own_schedule(
    st: &AppState,
    name_or_id: &str,
    id: ScheduleId,
) -> Result<(sql::PipelineRow, schedule::ScheduleInfo)> {
    let row = pipeline_row(st, name_or_id).await?;
    let s = schedule::get(&st.db, id).await?;
    if s.kind != TriggerJob::KIND || schedule_pipeline(&s.payload) != Some(row.pipeline_id) {
        return Err(Error::not_found("schedule of this pipeline", id));
    }
    Ok((row, s))
}

/// Changes a schedule's cron, time zone, parameters or enabled flag.
pub async fn update_schedule(
    st: &AppState,
    p: &Principal,
    name_or_id: &str,
    id: ScheduleId,
    new: NewSchedule,
) -> Result<PipelineSchedule> {
    authorize(p, Action::Write)?;
    let (row, old) = own_schedule(st, name_or_id, id).await?;
    let version = sql::version(&st.db, row.pipeline_id, None, None, None)
        .await?
        .ok_or_else(|| Error::not_found("pipeline version", &row.name))?;
    bind_parameters(&runner::plan_of(&version)?.spec.parameters, &new.parameters).map_err(invalid)?;
    let job = TriggerJob {
        pipeline_id: row.pipeline_id,
        user_id: Some(p.user_id.0),
        parameters: new.parameters.clone(),
        trigger: Trigger::Schedule { schedule_id: id, cron: new.cron.clone() },
    };
    let mut spec = ScheduleSpec::for_job(&old.name, &new.cron, &new.timezone, &job)?;
    spec.enabled = new.enabled;
    let s = schedule::update(&st.db, id, spec).await?;
    audit::record(
        &st.db,
        p,
        "pipeline.schedule.update",
        &format!("schedule:{id}"),
        audit::Outcome::Ok,
        &s.cron,
    )
    .await?;
    Ok(PipelineSchedule {
        schedule_id: s.schedule_id,
        cron: s.cron,
        timezone: s.timezone,
        enabled: s.enabled,
        next_run_at: s.next_run_at,
        last_run_at: s.last_run_at,
        parameters: new.parameters,
    })
}

/// A pipeline's schedules.
pub async fn schedules(st: &AppState, p: &Principal, name_or_id: &str) -> Result<Vec<PipelineSchedule>> {
    authorize(p, Action::Read)?;
    let row = pipeline_row(st, name_or_id).await?;
    pipeline_schedules(st, row.pipeline_id).await
}

/// Changes only what `change` names (enable/disable from the CLI or the dashboard
/// without restating the cron).
pub async fn change_schedule(
    st: &AppState,
    p: &Principal,
    name_or_id: &str,
    id: ScheduleId,
    change: ScheduleChange,
) -> Result<PipelineSchedule> {
    authorize(p, Action::Write)?;
    let row = pipeline_row(st, name_or_id).await?;
    let current = pipeline_schedules(st, row.pipeline_id)
        .await?
        .into_iter()
        .find(|s| s.schedule_id == id)
        .ok_or_else(|| Error::not_found("schedule of this pipeline", id))?;
    let new = NewSchedule {
        cron: change.cron.unwrap_or(current.cron),
        timezone: change.timezone.unwrap_or(current.timezone),
        parameters: change.parameters.unwrap_or(current.parameters),
        enabled: change.enabled.unwrap_or(current.enabled),
    };
    update_schedule(st, p, name_or_id, id, new).await
}

pub async fn delete_schedule(st: &AppState, p: &Principal, name_or_id: &str, id: ScheduleId) -> Result<()> {
    authorize(p, Action::Write)?;
    own_schedule(st, name_or_id, id).await?;
    schedule::delete(&st.db, id).await?;
    audit::record(&st.db, p, "pipeline.schedule.delete", &format!("schedule:{id}"), audit::Outcome::Ok, "")
        .await?;
    Ok(())
}

/// Called in the transaction that created a dataset version: queues a run of every
/// pipeline watching the dataset, except the pipeline whose run made the version
/// (its own extract step must not start it again).
pub async fn dataset_version_created(
    conn: &mut sqlx::PgConnection,
    dataset: &str,
    version: i32,
    made_by_pipeline: Option<Uuid>,
) -> Result<usize> {
    let watchers = sql::watchers_of(&mut *conn, dataset).await?;
    let mut n = 0;
    for w in watchers {
        if Some(w.pipeline_id) == made_by_pipeline {
            continue;
        }
        let mut parameters = BTreeMap::new();
        if let Some(param) = w.parameter {
            parameters.insert(param, Value::String(format!("{}@{version}", w.dataset_name)));
        }
        let job = TriggerJob {
            pipeline_id: w.pipeline_id,
            user_id: None,
            parameters,
            trigger: Trigger::Dataset { dataset: w.dataset_name.clone(), version },
        };
        queue::enqueue(&mut *conn, &job).await?;
        n += 1;
    }
    Ok(n)
}

/// Creates (or replaces) the pipeline's webhook secret; returned once.
pub async fn create_webhook_secret(st: &AppState, p: &Principal, name_or_id: &str) -> Result<String> {
    authorize(p, Action::Write)?;
    let row = pipeline_row(st, name_or_id).await?;
    let secret = format!("whsec_{}", crate::auth::random_secret());
    let enc = st.secrets()?.encrypt(PURPOSE_WEBHOOK, &secret);
    let mut tx = st.db.begin().await?;
    sql::set_webhook_secret(&mut *tx, row.pipeline_id, &enc).await?;
    audit::record(
        &mut *tx,
        p,
        "pipeline.webhook.secret",
        &format!("pipeline:{}", row.pipeline_id),
        audit::Outcome::Ok,
        "",
    )
    .await?;
    tx.commit().await?;
    Ok(secret)
}

/// Body of a webhook call (all optional).
#[derive(Debug, Default, serde::Deserialize)]
struct WebhookBody {
    #[serde(default)]
    parameters: BTreeMap<String, Value>,
    #[serde(default)]
    source: Option<String>,
}

/// A CI system's signed call: verifies `X-Cairn-Signature: sha256=<hex HMAC of the
/// body>` and queues a run. A bad or missing signature is `Unauthorized` and starts
/// nothing.
pub async fn webhook_trigger(
    st: &AppState,
    name_or_id: &str,
    body: &[u8],
    signature: Option<&str>,
) -> Result<JobId> {
    let unauthorized = || {
        Error::Unauthorized(
            "the webhook signature is missing or does not match; sign the raw body with the pipeline's webhook \
             secret: X-Cairn-Signature: sha256=<hex HMAC-SHA256>"
                .into(),
        )
    };
    let row = pipeline_row(st, name_or_id).await.map_err(|_| unauthorized())?;
    let enc = row.webhook_secret_enc.as_deref().ok_or_else(unauthorized)?;
    let secret = st.secrets()?.decrypt(PURPOSE_WEBHOOK, enc)?;
    let header = signature.ok_or_else(unauthorized)?;
    if !crate::webhooks::verify(secret.as_bytes(), body, header) {
        return Err(unauthorized());
    }
    let parsed: WebhookBody = if body.iter().all(u8::is_ascii_whitespace) {
        WebhookBody::default()
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ValidationError::new("body", format!("the body is not a JSON object with parameters: {e}"))
        })?
    };
    let version = sql::version(&st.db, row.pipeline_id, None, None, None)
        .await?
        .ok_or_else(|| Error::not_found("pipeline version", &row.name))?;
    bind_parameters(&runner::plan_of(&version)?.spec.parameters, &parsed.parameters).map_err(invalid)?;
    let mut tx = st.db.begin().await?;
    let job = queue::enqueue(
        &mut tx,
        &TriggerJob {
            pipeline_id: row.pipeline_id,
            user_id: None,
            parameters: parsed.parameters,
            trigger: Trigger::Webhook { source: parsed.source },
        },
    )
    .await?;
    tx.commit().await?;
    Ok(job)
}

/// Monitoring asks for a run (drift alert → retrain), with its reason.
pub async fn monitor_trigger(
    st: &AppState,
    p: &Principal,
    name_or_id: &str,
    req: MonitorTrigger,
) -> Result<RunDetail> {
    authorize(p, Action::Write)?;
    if req.reason.trim().is_empty() {
        return Err(ValidationError::new("reason", "say why the run is needed (the alert)").into());
    }
    let row = pipeline_row(st, name_or_id).await?;
    start_run_as(
        st,
        p,
        row.pipeline_id,
        None,
        req.parameters,
        Trigger::Monitor { reason: req.reason, alert_id: req.alert_id },
    )
    .await
}
