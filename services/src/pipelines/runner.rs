//! Executing runs: each step is a `pipeline.step` job; [`advance`] is the one place
//! that decides what happens next.
//!
//! ```text
//! start_run ─▶ run + steps (pending) ─▶ advance ─┬─ ready step, cache hit ─▶ cached (outputs copied)
//!                                                ├─ condition false / input skipped ─▶ skipped
//!                                                └─ ready step ─▶ queued + job
//! StepJob ─▶ running (fenced by job id + attempt) ─▶ component
//!   Done ─▶ succeeded + lineage ─▶ advance         (one transaction)
//!   Wait ─▶ waiting + a new job polling later (no worker held)
//!   Fail / error ─▶ retry (queued, backoff) or, on the last attempt, failed ─▶ advance
//! ```
//!
//! `advance` runs under the run's row lock, so two steps finishing at once cannot
//! both queue a common successor. Every step write is fenced by its job id and the
//! job's attempt number: a worker whose lease expired (killed, partitioned) cannot
//! record outputs after another worker took the step over, so no output is recorded
//! twice.

use super::components::{self, Outcome, StepContext};
use super::spec::digest_json;
use crate::auth::Principal;
use crate::db::pipelines as sql;
use crate::lineage::{self, EventKind, ExecutionState, NewArtifact, NewExecution};
use crate::queue::{self, EnqueueOptions, Job, JobCtx, Permanent};
use crate::{AppState, Error, Result};
use chrono::Utc;
use domain::pipelines::{
    ComponentKind, Condition, PinnedComponent, PipelineSpec, StepState, Trigger, ValueRef, ValueType,
    parse_ref,
};
use domain::{ArtifactId, JobId, ProjectId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgConnection;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// Lineage types written by the runner.
pub const EXECUTION_TYPE: &str = "pipeline_step";
pub const CONTEXT_TYPE: &str = "pipeline_run";

/// Runs one step (or one poll of a waiting step).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepJob {
    pub step_id: Uuid,
}

impl Job for StepJob {
    const KIND: &'static str = "pipeline.step";
    /// Per step: `retries + 1`, set at enqueue.
    const MAX_ATTEMPTS: i32 = 1;

    async fn run(self, ctx: JobCtx) -> anyhow::Result<()> {
        let st = ctx.require::<AppState>()?;
        run_step(&st, &ctx, self.step_id).await
    }
}

/// Starts a run of a pipeline's newest version: what schedules, dataset triggers and
/// webhooks enqueue, so the run is created by a worker with retries.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TriggerJob {
    pub pipeline_id: Uuid,
    /// The user the run acts for (the schedule's creator; else the pipeline's owner).
    #[serde(default)]
    pub user_id: Option<Uuid>,
    #[serde(default)]
    pub parameters: BTreeMap<String, Value>,
    pub trigger: Trigger,
}

impl Job for TriggerJob {
    const KIND: &'static str = "pipeline.trigger";
    const MAX_ATTEMPTS: i32 = 3;

    async fn run(self, ctx: JobCtx) -> anyhow::Result<()> {
        let st = ctx.require::<AppState>()?;
        let pipeline = sql::pipeline_by_id(&st.db, self.pipeline_id)
            .await?
            .ok_or_else(|| Permanent("the pipeline was deleted".into()))?;
        let user = self.user_id.or(pipeline.created_by);
        let p = match acting_principal(&st, user, ctx.job_id()).await {
            Ok(p) => p,
            Err(e) => return Err(Permanent(e.to_string()).into()),
        };
        match super::start_run_as(&st, &p, self.pipeline_id, None, self.parameters, self.trigger).await {
            Ok(run) => {
                ctx.log(format!("started run {}", run.summary.run_id)).await?;
                Ok(())
            }
            Err(e) if e.is_client_error() => Err(Permanent(e.to_string()).into()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The user a run acts for, through the job.
pub async fn acting_principal(st: &AppState, user: Option<Uuid>, job: JobId) -> Result<Principal> {
    crate::training::lifecycle::principal(st, user, job).await
}

/// Queue priority of a waiting step's polls (default jobs have 0; higher runs first).
const POLL_PRIORITY: i16 = 10;

/// The queue's attempts for a step's job: the step's own (retries + 1) plus one spare.
/// A failure on the step's last attempt fails the job at once (`Permanent`), so the
/// spare is only used when a worker dies mid-step (its lease expires and the reaper
/// re-queues the job): the step is then taken over instead of the job ending
/// `failed` behind the step's back, which would leave the step running forever.
fn job_attempts(step_attempts: i32) -> i32 {
    step_attempts + 1
}

/// A version's parsed spec and pinned components.
pub(crate) struct Plan {
    pub spec: PipelineSpec,
    pub components: BTreeMap<String, PinnedComponent>,
    /// Step name → position in `spec.steps`.
    index: HashMap<String, usize>,
    /// Step name → the steps that depend on it: after a step ends only these can
    /// become ready, and they are fetched by name (an index lookup, not a scan).
    dependents: HashMap<String, Vec<String>>,
}

impl Plan {
    pub fn step(&self, name: &str) -> Option<&domain::pipelines::StepSpec> {
        self.index.get(name).and_then(|i| self.spec.steps.get(*i))
    }
}

pub(crate) fn plan_of(row: &sql::VersionRow) -> Result<Plan> {
    let spec: PipelineSpec = serde_json::from_value(row.spec.clone())
        .map_err(|e| Error::Other(anyhow::anyhow!("stored pipeline spec is unreadable: {e}")))?;
    let components = serde_json::from_value(row.components.clone())
        .map_err(|e| Error::Other(anyhow::anyhow!("stored component pins are unreadable: {e}")))?;
    let index = spec.steps.iter().enumerate().map(|(i, s)| (s.name.clone(), i)).collect();
    let mut dependents: HashMap<String, Vec<String>> = HashMap::new();
    for s in &spec.steps {
        for d in s.dependencies() {
            dependents.entry(d).or_default().push(s.name.clone());
        }
    }
    Ok(Plan { spec, components, index, dependents })
}

/// Parsed plans by version id. Versions are immutable, and `advance` runs after every
/// step: reading and parsing a 1,000-step spec each time made a run quadratic in its
/// steps (`cairn bench pipeline`).
static PLANS: LazyLock<Mutex<HashMap<Uuid, Arc<Plan>>>> = LazyLock::new(Default::default);
/// Versions kept; the whole cache is dropped when full (a miss costs one query).
const PLANS_KEPT: usize = 64;

fn cached_plan(version_id: Uuid) -> Option<Arc<Plan>> {
    PLANS.lock().ok().and_then(|m| m.get(&version_id).cloned())
}

async fn plan_for(conn: &mut PgConnection, pipeline_id: Uuid, version_id: Uuid) -> Result<Arc<Plan>> {
    if let Some(plan) = cached_plan(version_id) {
        return Ok(plan);
    }
    let version = sql::version(&mut *conn, pipeline_id, Some(version_id), None, None)
        .await?
        .ok_or_else(|| Error::not_found("pipeline version", version_id))?;
    let plan = Arc::new(plan_of(&version)?);
    if let Ok(mut m) = PLANS.lock() {
        if m.len() >= PLANS_KEPT {
            m.clear();
        }
        m.insert(version_id, plan.clone());
    }
    Ok(plan)
}

async fn run_step(st: &AppState, ctx: &JobCtx, step_id: Uuid) -> anyhow::Result<()> {
    let job = ctx.job_id().0;
    let attempt = ctx.attempt();
    let Some(step) = sql::step(&st.db, step_id).await? else { return Ok(()) };
    if step.job_id != Some(job) || !sql::start_step(&st.db, step_id, job, attempt).await? {
        // Cancelled, or handed to another job: nothing is this job's to do.
        return Ok(());
    }
    let run = sql::runs(&st.db, Some(step.pipeline_run_id), None, None, None, 1)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Permanent("the run was deleted".into()))?;
    let plan = {
        let mut conn = st.db.acquire().await?;
        plan_for(&mut conn, run.pipeline_id, run.pipeline_version_id).await?
    };
    let pinned = plan
        .components
        .get(&step.name)
        .ok_or_else(|| Permanent(format!("step '{}' has no pinned component", step.name)))?;
    let p = match acting_principal(st, run.created_by, ctx.job_id()).await {
        Ok(p) => p,
        Err(e) => {
            fail(st, &step, job, attempt, &format!("the run cannot act: {e}")).await?;
            return Err(Permanent(e.to_string()).into());
        }
    };
    let inputs: BTreeMap<String, Value> = serde_json::from_value(step.inputs.clone()).unwrap_or_default();
    let timeout = Duration::from_secs(step.timeout_s.max(1) as u64);
    let sc = StepContext {
        st,
        ctx,
        principal: &p,
        pipeline: &run.pipeline_name,
        run_id: run.pipeline_run_id,
        step_id,
        step: &step.name,
        inputs: &inputs,
        external: step.external.as_ref(),
        timeout,
    };
    if step.external.is_none() {
        ctx.log(format!(
            "step '{}' ({}@{}), attempt {attempt} of {}",
            step.name, pinned.name, pinned.version, step.max_attempts
        ))
        .await?;
    }
    // A waiting step's timeout counts from its start, across its polls: a training
    // run that never ends must not hold the pipeline forever.
    let budget = match (&step.external, step.started_at) {
        (Some(_), Some(started)) => {
            let spent = (Utc::now() - started).to_std().unwrap_or_default();
            timeout.saturating_sub(spent)
        }
        _ => timeout,
    };
    let outcome = if budget.is_zero() {
        if let Some(external) = &step.external {
            super::stop_external(st, &p, external).await;
        }
        Ok(Outcome::Fail(format!(
            "the step ran past its timeout of {} s while waiting for its {}",
            timeout.as_secs(),
            step.external.as_ref().and_then(|e| e.get("kind")).and_then(Value::as_str).unwrap_or("work")
        )))
    } else {
        let work = super::as_pipeline(Some(run.pipeline_id), execute(st, pinned, &sc));
        match tokio::time::timeout(budget, work).await {
            Err(_) => Ok(Outcome::Fail(format!("the step ran past its timeout of {} s", timeout.as_secs()))),
            Ok(o) => o,
        }
    };
    let last = attempt >= step.max_attempts || ctx.is_last_attempt();
    match outcome {
        Ok(Outcome::Done(outputs)) => {
            complete(st, &run.pipeline_name, &step, pinned, job, attempt, &inputs, outputs).await?;
            Ok(())
        }
        Ok(Outcome::Wait { external, poll_after }) => {
            let mut tx = st.db.begin().await?;
            let next = queue::enqueue_with(
                &mut tx,
                &StepJob { step_id },
                EnqueueOptions {
                    run_at: Some(Utc::now() + poll_after),
                    // A poll is a few queries: it must not queue behind the trials
                    // or training jobs it waits for (a search queues all its trials).
                    priority: POLL_PRIORITY,
                    max_attempts: Some(job_attempts(step.max_attempts)),
                    ..Default::default()
                },
            )
            .await?;
            if sql::hand_over(&mut tx, step_id, job, attempt, "waiting", next.0, Some(&external), None)
                .await?
            {
                tx.commit().await?;
            }
            Ok(())
        }
        Ok(Outcome::Fail(reason)) if ctx.is_cancelled() => {
            tracing::debug!(%reason, "step cancelled");
            Ok(())
        }
        Ok(Outcome::Fail(reason)) => {
            ctx.log(format!("failed: {reason}")).await?;
            if last {
                fail(st, &step, job, attempt, &reason).await?;
                Err(Permanent(reason).into())
            } else {
                sql::requeue_step(&st.db, step_id, job, attempt, &reason).await?;
                Err(anyhow::anyhow!(reason))
            }
        }
        Err(e) => {
            let reason = e.to_string();
            ctx.log(format!("error: {reason}")).await?;
            if last {
                fail(st, &step, job, attempt, &reason).await?;
                return Err(Permanent(reason).into());
            }
            sql::requeue_step(&st.db, step_id, job, attempt, &reason).await?;
            Err(e.into())
        }
    }
}

async fn execute(st: &AppState, pinned: &PinnedComponent, sc: &StepContext<'_>) -> Result<Outcome> {
    match pinned.kind {
        ComponentKind::Builtin => components::builtin::run(&pinned.name, sc).await,
        ComponentKind::Command => {
            let row =
                sql::component_by_digest(&st.db, &pinned.name, &pinned.digest).await?.ok_or_else(|| {
                    Error::Other(anyhow::anyhow!("component {}@{} is missing", pinned.name, pinned.version))
                })?;
            let spec = row
                .command
                .and_then(|c| serde_json::from_value(c).ok())
                .ok_or_else(|| Error::Other(anyhow::anyhow!("component {} has no command", pinned.name)))?;
            components::command::run(sc, &spec).await
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn complete(
    st: &AppState,
    pipeline: &str,
    step: &sql::StepRow,
    pinned: &PinnedComponent,
    job: Uuid,
    attempt: i32,
    inputs: &BTreeMap<String, Value>,
    outputs: BTreeMap<String, Value>,
) -> Result<()> {
    for name in pinned.signature.outputs.keys() {
        if !outputs.contains_key(name) {
            let reason = format!("the component finished without its declared output '{name}'");
            return fail(st, step, job, attempt, &reason).await;
        }
    }
    let outputs = serde_json::to_value(&outputs).map_err(anyhow::Error::from)?;
    let mut tx = st.db.begin().await?;
    // The run's lock first: `advance` takes it, and a cancel takes it before the steps.
    sql::lock_run(&mut tx, step.pipeline_run_id).await?;
    if !sql::finish_step(&mut tx, step.pipeline_step_id, job, attempt, "succeeded", &outputs, None).await? {
        return Ok(());
    }
    record_lineage(&mut tx, pipeline, step, pinned, inputs, &outputs, ExecutionState::Complete, Some(job))
        .await?;
    advance_after(&mut tx, step.pipeline_run_id, Some(vec![step.name.clone()])).await?;
    tx.commit().await?;
    Ok(())
}

async fn fail(st: &AppState, step: &sql::StepRow, job: Uuid, attempt: i32, reason: &str) -> Result<()> {
    let mut tx = st.db.begin().await?;
    sql::lock_run(&mut tx, step.pipeline_run_id).await?;
    if sql::finish_step(&mut tx, step.pipeline_step_id, job, attempt, "failed", &json!({}), Some(reason))
        .await?
    {
        advance_after(&mut tx, step.pipeline_run_id, Some(vec![step.name.clone()])).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Moves a run forward: settles or queues every step whose dependencies are done,
/// and ends the run when nothing is left. The caller's transaction; takes the run's
/// row lock.
pub(crate) async fn advance(conn: &mut PgConnection, run_id: Uuid) -> Result<()> {
    advance_after(conn, run_id, None).await
}

/// [`advance`] after the named steps ended: only their dependents can have become
/// ready, so only those are looked at (a chain's end no longer scans every pending
/// step).
async fn advance_after(conn: &mut PgConnection, run_id: Uuid, ended: Option<Vec<String>>) -> Result<()> {
    let mut frontier = ended;
    let Some((state, version_id, params)) = sql::lock_run(&mut *conn, run_id).await? else {
        return Ok(());
    };
    if matches!(state.as_str(), "succeeded" | "failed" | "cancelled") {
        return Ok(());
    }
    // The run's row (for the pipeline's name) only when needed: a cache miss of the
    // plan or a cached step's lineage.
    let mut run_row: Option<sql::RunRow> = None;
    let plan = match cached_plan(version_id) {
        Some(plan) => plan,
        None => {
            let run = run_of(&mut *conn, &mut run_row, run_id).await?;
            let pipeline_id = run.pipeline_id;
            plan_for(&mut *conn, pipeline_id, version_id).await?
        }
    };
    let params: BTreeMap<String, Value> = serde_json::from_value(params).unwrap_or_default();
    if state == "queued" {
        sql::set_run_state(&mut *conn, run_id, "running", None).await?;
    }

    // Each pass settles or queues the steps whose dependencies have ended; only a
    // settled step (skipped, cached, failed) can make another ready, so only then is
    // there another pass.
    loop {
        if counts(&mut *conn, run_id).await?.failed_or_cancelled > 0 {
            // A failed run starts nothing new; running steps finish.
            break;
        }
        let candidates: Option<Vec<String>> = frontier
            .as_ref()
            .map(|ended| ended.iter().filter_map(|n| plan.dependents.get(n)).flatten().cloned().collect());
        if candidates.as_ref().is_some_and(Vec::is_empty) {
            break;
        }
        let ready = sql::ready_steps(&mut *conn, run_id, candidates.as_deref()).await?;
        if ready.is_empty() {
            break;
        }
        let mut settled: Vec<String> = Vec::new();
        let mut needed: Vec<String> = ready.iter().flat_map(|s| s.depends_on.iter().cloned()).collect();
        needed.sort();
        needed.dedup();
        let deps = sql::steps_named(&mut *conn, run_id, &needed).await?;
        let by_name: HashMap<&str, &sql::StepRow> = deps.iter().map(|s| (s.name.as_str(), s)).collect();
        let state_of = |n: &str| by_name.get(n).and_then(|s| StepState::parse(&s.state));
        let mut progressed = false;
        for s in &ready {
            let Some(spec) = plan.step(&s.name) else { continue };
            let Some(pinned) = plan.components.get(&s.name) else { continue };
            if let Some(skipped) = s.depends_on.iter().find(|d| state_of(d) == Some(StepState::Skipped)) {
                let reason = format!("skipped: it needs step '{skipped}', which was skipped");
                settle_unrun(&mut *conn, s.pipeline_step_id, "skipped", &json!({}), &reason).await?;
                progressed = true;
                settled.push(s.name.clone());
                continue;
            }
            let outputs_of = |step: &str| -> Option<&Value> { by_name.get(step).map(|s| &s.outputs) };
            let lookup = |r: &ValueRef| -> Option<Value> {
                match r {
                    ValueRef::Param(p) => params.get(p).cloned(),
                    ValueRef::Output { step, output, path } => {
                        let mut v = outputs_of(step)?.get(output)?;
                        for k in path {
                            v = v.get(k)?;
                        }
                        Some(v.clone())
                    }
                }
            };
            // Resolve the inputs.
            let mut inputs = BTreeMap::new();
            let mut problem = None;
            for (name, raw) in &spec.inputs {
                let value = match raw.as_str().and_then(parse_ref) {
                    Some(Ok(r)) => match lookup(&r) {
                        Some(v) => v,
                        None => {
                            problem = Some(format!("input '{name}': {raw} has no value"));
                            break;
                        }
                    },
                    _ => raw.clone(),
                };
                let ty = pinned.signature.inputs.get(name).map(|p| p.ty);
                let value = match (ty, &value) {
                    (Some(ValueType::Dataset), Value::String(reference)) => {
                        match resolve_dataset(&mut *conn, reference).await? {
                            Ok(v) => v,
                            Err(msg) => {
                                problem = Some(format!("input '{name}': {msg}"));
                                break;
                            }
                        }
                    }
                    _ => value,
                };
                inputs.insert(name.clone(), value);
            }
            let inputs_json = serde_json::to_value(&inputs).map_err(anyhow::Error::from)?;
            if let Some(reason) = problem {
                settle_unrun(&mut *conn, s.pipeline_step_id, "failed", &inputs_json, &reason).await?;
                progressed = true;
                settled.push(s.name.clone());
                break;
            }
            if let Some(cond) = &spec.when {
                let verdict = Condition::parse(cond).and_then(|c| c.eval(lookup));
                match verdict {
                    Ok(true) => {}
                    Ok(false) => {
                        let reason = format!("skipped: the condition `{cond}` is false");
                        settle_unrun(&mut *conn, s.pipeline_step_id, "skipped", &inputs_json, &reason)
                            .await?;
                        progressed = true;
                        settled.push(s.name.clone());
                        continue;
                    }
                    Err(e) => {
                        let reason = format!("the condition `{cond}` cannot be evaluated: {e}");
                        settle_unrun(&mut *conn, s.pipeline_step_id, "failed", &inputs_json, &reason).await?;
                        progressed = true;
                        settled.push(s.name.clone());
                        break;
                    }
                }
            }
            let aliases = alias_targets(&mut *conn, &inputs).await?;
            let cache_key = digest_json(
                &json!({ "component": pinned.digest, "inputs": inputs_json, "aliases": aliases }),
            );
            if s.cache_enabled
                && let Some((from, outputs)) = sql::cache_hit(&mut *conn, &cache_key, run_id).await?
            {
                sql::settle_pending(
                    &mut *conn,
                    s.pipeline_step_id,
                    "cached",
                    &inputs_json,
                    &outputs,
                    Some(&cache_key),
                    Some(from),
                    None,
                )
                .await?;
                let pipeline = run_of(&mut *conn, &mut run_row, run_id).await?.pipeline_name.clone();
                record_lineage(conn, &pipeline, s, pinned, &inputs, &outputs, ExecutionState::Cached, None)
                    .await?;
                progressed = true;
                settled.push(s.name.clone());
                continue;
            }
            let queue_name = spec.resources.get("queue").cloned();
            let job = queue::enqueue_with(
                &mut *conn,
                &StepJob { step_id: s.pipeline_step_id },
                EnqueueOptions {
                    max_attempts: Some(job_attempts(s.max_attempts)),
                    queue: queue_name,
                    ..Default::default()
                },
            )
            .await?;
            sql::queue_step(&mut *conn, s.pipeline_step_id, job.0, &inputs_json, &cache_key).await?;
        }
        if !progressed {
            break;
        }
        frontier = Some(settled);
    }

    // End the run when nothing can move any more.
    let c = counts(&mut *conn, run_id).await?;
    if c.active > 0 {
        return Ok(());
    }
    if c.failed > 0 {
        let steps = sql::steps(&mut *conn, run_id).await?;
        let Some(failed) = steps.iter().find(|s| s.state == "failed") else { return Ok(()) };
        let reason = format!(
            "step '{}' failed: {}",
            failed.name,
            failed.error.as_deref().unwrap_or("no reason recorded")
        );
        sql::cancel_steps(&mut *conn, run_id, &format!("not started: step '{}' failed", failed.name)).await?;
        sql::set_run_state(&mut *conn, run_id, "failed", Some(&reason)).await?;
        return Ok(());
    }
    if c.pending == 0 {
        sql::set_run_state(&mut *conn, run_id, "succeeded", None).await?;
    }
    Ok(())
}

/// The run's row, read once per `advance` and only if needed.
async fn run_of<'a>(
    conn: &mut PgConnection,
    slot: &'a mut Option<sql::RunRow>,
    run_id: Uuid,
) -> Result<&'a sql::RunRow> {
    if slot.is_none() {
        *slot = sql::runs(&mut *conn, Some(run_id), None, None, None, 1).await?.into_iter().next();
    }
    slot.as_ref().ok_or_else(|| Error::not_found("pipeline run", run_id))
}

/// Steps of a run per kind of state, from one aggregate query.
struct Counts {
    active: i64,
    pending: i64,
    failed: i64,
    failed_or_cancelled: i64,
}

async fn counts(conn: &mut PgConnection, run_id: Uuid) -> Result<Counts> {
    let mut c = Counts { active: 0, pending: 0, failed: 0, failed_or_cancelled: 0 };
    for (_, state, n) in sql::step_counts(&mut *conn, &[run_id]).await? {
        match StepState::parse(&state) {
            Some(s) if s.is_active() => c.active += n,
            Some(StepState::Pending) => c.pending += n,
            Some(StepState::Failed) => {
                c.failed += n;
                c.failed_or_cancelled += n;
            }
            Some(StepState::Cancelled) => c.failed_or_cancelled += n,
            _ => {}
        }
    }
    Ok(c)
}

/// What each `models:/<name>@<alias>` string among the inputs points at now (empty
/// when there are none), so the cache key changes when an alias moves: a gate against
/// `models:/credit@production` must not reuse a verdict about the previous production.
async fn alias_targets(conn: &mut PgConnection, inputs: &BTreeMap<String, Value>) -> Result<Value> {
    fn collect<'a>(v: &'a Value, out: &mut Vec<(&'a str, &'a str)>) {
        match v {
            Value::String(s) => {
                if let Some((name, alias)) = s.strip_prefix("models:/").and_then(|r| r.split_once('@')) {
                    out.push((name, alias));
                }
            }
            Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
            Value::Object(o) => o.values().for_each(|x| collect(x, out)),
            _ => {}
        }
    }
    let mut refs = Vec::new();
    inputs.values().for_each(|v| collect(v, &mut refs));
    if refs.is_empty() {
        return Ok(Value::Null);
    }
    let (names, aliases): (Vec<String>, Vec<String>) =
        refs.iter().map(|(n, a)| (n.to_string(), a.to_string())).unzip();
    let found = sql::alias_targets(conn, &names, &aliases).await?;
    let mut map = serde_json::Map::new();
    for (name, alias) in refs {
        let target = found
            .iter()
            .find(|(n, a, _)| n.eq_ignore_ascii_case(name) && a.eq_ignore_ascii_case(alias))
            .map(|(_, _, v)| Value::String(v.to_string()))
            .unwrap_or(Value::Null);
        map.insert(format!("models:/{name}@{alias}"), target);
    }
    Ok(Value::Object(map))
}

/// Ends a pending step that will not run: skipped (a false condition, a skipped
/// input) or failed before starting (an input or condition that cannot be resolved).
async fn settle_unrun(
    conn: &mut PgConnection,
    step: Uuid,
    state: &str,
    inputs: &Value,
    reason: &str,
) -> Result<()> {
    sql::settle_pending(conn, step, state, inputs, &json!({}), None, None, Some(reason)).await?;
    Ok(())
}

/// `name`, `name@latest` or `name@3` → the dataset version value.
async fn resolve_dataset(
    conn: &mut PgConnection,
    reference: &str,
) -> Result<std::result::Result<Value, String>> {
    let (name, version) = match reference.rsplit_once('@') {
        Some((n, "latest")) => (n, None),
        Some((n, v)) => match v.parse::<i32>() {
            Ok(v) => (n, Some(v)),
            Err(_) => {
                return Ok(Err(format!("'{reference}': write name, name@latest or name@<version number>")));
            }
        },
        None => (reference, None),
    };
    Ok(match sql::dataset_version_value(conn, name, version).await? {
        Some(v) => Ok(v),
        None => Err(match version {
            Some(v) => format!("dataset '{name}' has no version {v}"),
            None => format!("no dataset named '{name}' with a version; upload one or add an extract step"),
        }),
    })
}

/// Records the step as an execution in the run's context, linked to the artifacts
/// its inputs and outputs name (and `file` outputs as artifacts of their own).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn record_lineage(
    conn: &mut PgConnection,
    pipeline: &str,
    step: &sql::StepRow,
    pinned: &PinnedComponent,
    inputs: &BTreeMap<String, Value>,
    outputs: &Value,
    state: ExecutionState,
    job: Option<Uuid>,
) -> Result<()> {
    let project = ProjectId(domain::DEFAULT_PROJECT_ID.0);
    let execution = lineage::record_execution(
        &mut *conn,
        project,
        &NewExecution {
            type_name: EXECUTION_TYPE.into(),
            name: format!("{pipeline}/{}", step.name),
            state,
            properties: json!({
                "run_id": step.pipeline_run_id,
                "step_id": step.pipeline_step_id,
                "component": format!("{}@{}", pinned.name, pinned.version),
                "component_digest": pinned.digest,
            }),
            job_id: job.map(JobId),
            external_id: Some(format!("pipeline_step:{}", step.pipeline_step_id)),
        },
    )
    .await?;
    let context = lineage::record_context(
        &mut *conn,
        project,
        CONTEXT_TYPE,
        &format!("{pipeline} run {}", step.pipeline_run_id),
        &json!({ "run_id": step.pipeline_run_id, "pipeline": pipeline }),
    )
    .await?;
    lineage::associate(&mut *conn, context, execution).await?;
    for (role, v) in inputs {
        if let Some(a) = artifact_of(&mut *conn, v, pinned.signature.inputs.get(role).map(|p| p.ty)).await? {
            lineage::record_event(&mut *conn, execution, a, EventKind::Input, role).await?;
        }
    }
    if let Some(outs) = outputs.as_object() {
        for (role, v) in outs {
            if let Some(a) =
                artifact_of(&mut *conn, v, pinned.signature.outputs.get(role).map(|p| p.ty)).await?
            {
                lineage::record_event(&mut *conn, execution, a, EventKind::Output, role).await?;
                lineage::attribute(&mut *conn, context, a).await?;
            }
        }
    }
    Ok(())
}

async fn artifact_of(
    conn: &mut PgConnection,
    v: &Value,
    ty: Option<ValueType>,
) -> Result<Option<ArtifactId>> {
    if let Some(id) = v.get("artifact_id").and_then(Value::as_str).and_then(|s| s.parse().ok()) {
        return Ok(Some(ArtifactId(id)));
    }
    if ty == Some(ValueType::File)
        && let Some(key) = v.get("key").and_then(Value::as_str)
    {
        let id = lineage::record_artifact(
            conn,
            ProjectId(domain::DEFAULT_PROJECT_ID.0),
            &NewArtifact {
                type_name: "file".into(),
                name: key.rsplit('/').next().unwrap_or(key).to_string(),
                uri: key.to_string(),
                content_hash: v.get("sha256").and_then(Value::as_str).map(str::to_string),
                properties: v.clone(),
                external_id: Some(format!("file:{key}")),
            },
        )
        .await?;
        return Ok(Some(id));
    }
    Ok(None)
}
