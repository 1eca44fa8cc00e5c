//! The model registry: registered models and their immutable, numbered versions.
//! Aliases and the approval-gated promotion of protected ones live in
//! [`aliases`] and [`promotion`]; every path that moves an alias (REST, the
//! MLflow-compatible API, the CLI, the dashboard) goes through them.
//!
//! A version keeps its own copy of a Cairn bundle under `registry/<version id>/`,
//! so deleting the run it came from never breaks what an endpoint serves.

pub mod aliases;
pub mod promotion;

use crate::auth::audit::{self, Outcome};
use crate::auth::{Action, Principal, authorize};
use crate::db::registry::{self as q, ModelRow, NewModelRow, NewVersionRow, VersionRow};
use crate::db::tracking::KeyValueRow;
use crate::error::ResultExt;
use crate::lineage::{self, EventKind, ExecutionState, NewArtifact, NewExecution};
use crate::{AppState, Error, Result, db, webhooks};
use bytes::Bytes;
use domain::registry::{
    AliasInfo, ModelChange, ModelDetail, ModelFormat, ModelPolicy, ModelRef, ModelVersion, NewModelVersion,
    NewRegisteredModel, RegisteredModel, SourceKind, VersionChange,
};
use domain::training::{GateResult, Signature};
use domain::validation::check_name;
use domain::{ModelVersionId, RegisteredModelId, ValidationError};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// Where a version's bundle copy lives in the artifact store.
pub fn bundle_key(version: ModelVersionId) -> String {
    format!("registry/{}/bundle.cairn.json", version.0.simple())
}

const MODEL_VERSION_ARTIFACT: &str = "model_version";
const REGISTER_EXECUTION: &str = "register";
const MAX_LIST: i64 = 1000;

fn invalid(field: &str, msg: impl Into<String>) -> Error {
    ValidationError::new(field, msg).into()
}

/// A model row's approval policy.
pub(crate) fn policy_of(m: &ModelRow) -> ModelPolicy {
    ModelPolicy {
        protected_aliases: m.protected_aliases.clone(),
        required_approvals: u8::try_from(m.required_approvals).unwrap_or(1),
        require_gates: m.require_gates,
    }
}

pub(crate) fn to_model(
    r: ModelRow,
    tags: &mut HashMap<String, Vec<KeyValueRow>>,
    aliases: &[q::AliasRow],
) -> RegisteredModel {
    let policy = policy_of(&r);
    let aliases = aliases
        .iter()
        .filter(|a| a.registered_model_id == r.registered_model_id)
        .map(|a| AliasInfo {
            alias: a.alias.clone(),
            version: a.version,
            model_version_id: ModelVersionId(a.model_version_id),
            protected: policy.is_protected(&a.alias),
            updated_at: a.updated_at,
        })
        .collect();
    RegisteredModel {
        registered_model_id: RegisteredModelId(r.registered_model_id),
        tags: tags
            .remove(&r.registered_model_id.to_string())
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect(),
        name: r.name,
        description: r.description,
        policy,
        aliases,
        latest_version: r.latest_version,
        version_count: r.version_count,
        pending_requests: r.pending_requests,
        created_by: r.created_by_name,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

fn group(rows: Vec<KeyValueRow>) -> HashMap<String, Vec<KeyValueRow>> {
    let mut out: HashMap<String, Vec<KeyValueRow>> = HashMap::new();
    for r in rows {
        out.entry(r.owner.clone()).or_default().push(r);
    }
    out
}

async fn models_from_rows(st: &AppState, rows: Vec<ModelRow>) -> Result<Vec<RegisteredModel>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.registered_model_id).collect();
    let mut tags = group(q::model_tags_of(&st.db, &ids).await?);
    let aliases = q::aliases_of(&st.db, &ids).await?;
    Ok(rows.into_iter().map(|r| to_model(r, &mut tags, &aliases)).collect())
}

pub(crate) async fn versions_from_rows(st: &AppState, rows: Vec<VersionRow>) -> Result<Vec<ModelVersion>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.model_version_id).collect();
    let mut tags = group(q::version_tags_of(&st.db, &ids).await?);
    let mut aliases = group(q::version_aliases(&st.db, &ids).await?);
    rows.into_iter()
        .map(|r| {
            let key = r.model_version_id.to_string();
            let tags = tags.remove(&key).unwrap_or_default().into_iter().map(|t| (t.key, t.value)).collect();
            let aliases = aliases.remove(&key).unwrap_or_default().into_iter().map(|t| t.key).collect();
            to_version(r, tags, aliases)
        })
        .collect()
}

fn to_version(r: VersionRow, tags: BTreeMap<String, String>, aliases: Vec<String>) -> Result<ModelVersion> {
    let corrupt = |what: &str, e: serde_json::Error| {
        Error::Other(anyhow::anyhow!("model version {} has an unreadable {what}: {e}", r.model_version_id))
    };
    let signature: Option<Signature> =
        r.signature.clone().map(serde_json::from_value).transpose().map_err(|e| corrupt("signature", e))?;
    let gates: Option<Vec<GateResult>> =
        r.gates.clone().map(serde_json::from_value).transpose().map_err(|e| corrupt("gates", e))?;
    let metrics = metrics_from_json(&r.metrics);
    let params: BTreeMap<String, String> =
        serde_json::from_value(r.params.clone()).map_err(|e| corrupt("params", e))?;
    Ok(ModelVersion {
        model_version_id: ModelVersionId(r.model_version_id),
        registered_model_id: RegisteredModelId(r.registered_model_id),
        model_name: r.model_name,
        version: r.version,
        source_kind: SourceKind::parse(&r.source_kind).unwrap_or(SourceKind::Run),
        source: r.source,
        run_id: r.run_id,
        experiment_id: r.experiment_id.map(|e| e.to_string()),
        logged_model_id: r.logged_model_id,
        format: ModelFormat::parse(&r.format).unwrap_or(ModelFormat::Mlflow),
        not_servable_reason: r.not_servable_reason,
        signature,
        metrics,
        params,
        gates,
        gates_passed: r.gates_passed,
        dataset_version_id: r.dataset_version_id,
        description: r.description,
        model_card: r.model_card,
        status: r.status,
        tags,
        aliases,
        created_by: r.created_by_name,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// Metrics are stored as `{key: number | "NaN" | "Infinity" | "-Infinity"}`.
fn metrics_from_json(v: &serde_json::Value) -> BTreeMap<String, f64> {
    let Some(map) = v.as_object() else { return BTreeMap::new() };
    map.iter()
        .filter_map(|(k, v)| {
            let x = match v {
                serde_json::Value::Number(n) => n.as_f64(),
                serde_json::Value::String(s) => match s.as_str() {
                    "NaN" => Some(f64::NAN),
                    "Infinity" => Some(f64::INFINITY),
                    "-Infinity" => Some(f64::NEG_INFINITY),
                    _ => None,
                },
                _ => None,
            }?;
            Some((k.clone(), x))
        })
        .collect()
}

fn metrics_to_json(m: &BTreeMap<String, f64>) -> serde_json::Value {
    serde_json::Value::Object(
        m.iter()
            .map(|(k, v)| {
                let v =
                    serde_json::Number::from_f64(*v).map(serde_json::Value::Number).unwrap_or_else(|| {
                        serde_json::Value::String(
                            if v.is_nan() {
                                "NaN"
                            } else if *v > 0.0 {
                                "Infinity"
                            } else {
                                "-Infinity"
                            }
                            .into(),
                        )
                    });
                (k.clone(), v)
            })
            .collect(),
    )
}

fn check_tags(tags: &BTreeMap<String, String>) -> Result<()> {
    for (k, v) in tags {
        if k.trim().is_empty() || k.len() > 250 {
            return Err(invalid("tags", format!("tag key '{k}' must be 1-250 characters")));
        }
        if v.len() > 5000 {
            return Err(invalid("tags", format!("tag '{k}' is longer than 5000 characters")));
        }
    }
    Ok(())
}

pub async fn create_model(st: &AppState, p: &Principal, new: NewRegisteredModel) -> Result<RegisteredModel> {
    authorize(p, Action::Write)?;
    check_name("name", &new.name)?;
    check_tags(&new.tags)?;
    let policy = new.policy.unwrap_or_default();
    policy.validate()?;
    let mut tx = st.db.begin().await?;
    let id = q::insert_model(
        &mut tx,
        &NewModelRow {
            name: &new.name,
            description: &new.description,
            protected_aliases: &policy.protected_aliases,
            required_approvals: i16::from(policy.required_approvals),
            require_gates: policy.require_gates,
            created_by: p.user_id.0,
        },
    )
    .await
    .on_constraint("registered_model_name_key", || {
        Error::Conflict(format!("a registered model named '{}' already exists; pick another name", new.name))
    })?;
    for (k, v) in &new.tags {
        q::set_model_tag(&mut tx, id, k, v).await?;
    }
    audit::record(&mut *tx, p, "model.create", &new.name, Outcome::Ok, "").await?;
    tx.commit().await?;
    get_model_by_id(st, id).await
}

async fn get_model_by_id(st: &AppState, id: Uuid) -> Result<RegisteredModel> {
    let rows = q::select_models(&st.db, Some(id), None, None, 1).await?;
    models_from_rows(st, rows).await?.pop().ok_or_else(|| Error::not_found("registered model", id))
}

/// The model row by name, for use cases that need its id and policy.
pub(crate) async fn model_row(db: impl sqlx::PgExecutor<'_>, name: &str) -> Result<ModelRow> {
    q::select_models(db, None, Some(name), None, 1)
        .await?
        .pop()
        .ok_or_else(|| Error::not_found("registered model", name))
}

pub async fn get_model(st: &AppState, p: &Principal, name: &str) -> Result<RegisteredModel> {
    authorize(p, Action::Read)?;
    let row = model_row(&st.db, name).await?;
    models_from_rows(st, vec![row]).await?.pop().ok_or_else(|| Error::not_found("registered model", name))
}

/// Models whose name contains `search` (all when None), by name.
pub async fn list_models(
    st: &AppState,
    p: &Principal,
    search: Option<&str>,
    limit: i64,
) -> Result<Vec<RegisteredModel>> {
    authorize(p, Action::Read)?;
    let search = search.map(str::trim).filter(|s| !s.is_empty());
    let rows = q::select_models(&st.db, None, None, search, limit.clamp(1, MAX_LIST)).await?;
    models_from_rows(st, rows).await
}

/// The model page: the model, its versions, the alias history and its requests.
pub async fn model_detail(st: &AppState, p: &Principal, name: &str) -> Result<ModelDetail> {
    let model = get_model(st, p, name).await?;
    let id = model.registered_model_id.0;
    let versions =
        versions_from_rows(st, q::select_versions(&st.db, Some(id), None, None, MAX_LIST).await?).await?;
    let alias_history = q::alias_history(&st.db, id, 50)
        .await?
        .into_iter()
        .map(|e| domain::registry::AliasEvent {
            alias: e.alias,
            from_version: e.from_version,
            to_version: e.to_version,
            reason: e.reason,
            actor: e.actor,
            at: e.created_at,
        })
        .collect();
    let requests =
        promotion::requests_from_rows(st, q::select_requests(&st.db, None, Some(id), None, None, 50).await?)
            .await?;
    Ok(ModelDetail { model, versions, alias_history, requests })
}

/// Description for editors; the approval policy for admins only (it decides who
/// may move production).
pub async fn update_model(
    st: &AppState,
    p: &Principal,
    name: &str,
    change: ModelChange,
) -> Result<RegisteredModel> {
    authorize(p, Action::Write)?;
    if let Some(policy) = &change.policy {
        if let Err(e) = authorize(p, Action::ManageUsers) {
            audit::record(&st.db, p, "model.policy", name, Outcome::Denied, "").await?;
            return Err(Error::Forbidden(format!(
                "changing a model's approval policy needs the admin role ({e})"
            )));
        }
        policy.validate()?;
    }
    let row = model_row(&st.db, name).await?;
    let mut tx = st.db.begin().await?;
    let policy = change.policy.as_ref();
    q::update_model(
        &mut tx,
        row.registered_model_id,
        change.description.as_deref(),
        policy.map(|p| p.protected_aliases.as_slice()),
        policy.map(|p| i16::from(p.required_approvals)),
        policy.map(|p| p.require_gates),
    )
    .await?;
    if let Some(policy) = policy {
        let details = serde_json::to_string(policy).unwrap_or_default();
        audit::record(&mut *tx, p, "model.policy", name, Outcome::Ok, &details).await?;
    }
    tx.commit().await?;
    get_model_by_id(st, row.registered_model_id).await
}

pub async fn rename_model(
    st: &AppState,
    p: &Principal,
    name: &str,
    new_name: &str,
) -> Result<RegisteredModel> {
    authorize(p, Action::Write)?;
    check_name("name", new_name)?;
    let row = model_row(&st.db, name).await?;
    let mut tx = st.db.begin().await?;
    q::rename_model(&mut tx, row.registered_model_id, new_name)
        .await
        .on_constraint("registered_model_name_key", || {
            Error::Conflict(format!("a registered model named '{new_name}' already exists"))
        })?;
    audit::record(&mut *tx, p, "model.rename", name, Outcome::Ok, new_name).await?;
    tx.commit().await?;
    get_model_by_id(st, row.registered_model_id).await
}

/// Deletes a model with its versions. Refused while a protected alias points into it:
/// production must be moved off (or the policy changed by an admin) first.
pub async fn delete_model(st: &AppState, p: &Principal, name: &str) -> Result<()> {
    authorize(p, Action::Write)?;
    let model = get_model(st, p, name).await?;
    if let Some(a) = model.aliases.iter().find(|a| a.protected) {
        return Err(Error::Conflict(format!(
            "model '{name}' cannot be deleted: its protected alias '{}' points at version {}",
            a.alias, a.version
        )));
    }
    let mut tx = st.db.begin().await?;
    q::delete_model(&mut tx, model.registered_model_id.0).await?;
    audit::record(&mut *tx, p, "model.delete", name, Outcome::Ok, "").await?;
    tx.commit().await?;
    Ok(())
}

pub async fn set_model_tag(st: &AppState, p: &Principal, name: &str, key: &str, value: &str) -> Result<()> {
    authorize(p, Action::Write)?;
    check_tags(&BTreeMap::from([(key.to_string(), value.to_string())]))?;
    let row = model_row(&st.db, name).await?;
    let mut tx = st.db.begin().await?;
    q::set_model_tag(&mut tx, row.registered_model_id, key, value).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn delete_model_tag(st: &AppState, p: &Principal, name: &str, key: &str) -> Result<()> {
    authorize(p, Action::Write)?;
    let row = model_row(&st.db, name).await?;
    let mut tx = st.db.begin().await?;
    q::delete_model_tag(&mut tx, row.registered_model_id, key).await?;
    tx.commit().await?;
    Ok(())
}

/// What a version's source turned out to be.
struct Resolved {
    run_id: Option<Uuid>,
    logged_model_id: Option<Uuid>,
    format: ModelFormat,
    not_servable_reason: Option<String>,
    bundle: Option<Bytes>,
    signature: Option<Signature>,
    metrics: BTreeMap<String, f64>,
    params: BTreeMap<String, String>,
    gates: Option<serde_json::Value>,
    gates_passed: Option<bool>,
    dataset_version_id: Option<Uuid>,
    model_artifact_id: Option<Uuid>,
}

/// The run (or MLflow logged model) a source URI names: `runs:/<run>/<path>`, a bare
/// run id, `models:/m-<id>`, or an `mlflow-artifacts:/<exp>/<run>/artifacts/...` URI.
fn parse_source(source: &str) -> Result<(Option<Uuid>, Option<Uuid>)> {
    let s = source.trim();
    let bad = || {
        invalid(
            "source",
            format!(
                "'{source}' is not a model source: give runs:/<run id>/<path>, a run id, or models:/m-<logged model id>"
            ),
        )
    };
    if let Some(rest) = s.strip_prefix("runs:/") {
        let run = rest.split('/').next().unwrap_or_default();
        return Ok((Some(Uuid::try_parse(run).map_err(|_| bad())?), None));
    }
    if let Some(rest) = s.strip_prefix("models:/") {
        let id = rest.trim_end_matches('/');
        let id = id.strip_prefix("m-").unwrap_or(id);
        return Ok((None, Some(Uuid::try_parse(id).map_err(|_| bad())?)));
    }
    if let Some(rest) = s.strip_prefix("mlflow-artifacts:/") {
        let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        if parts.len() >= 3 && parts[1] == "models" {
            return Ok((None, Some(Uuid::try_parse(parts[2].trim_start_matches("m-")).map_err(|_| bad())?)));
        }
        let run = parts.get(1).copied().unwrap_or_default();
        return Ok((Some(Uuid::try_parse(run).map_err(|_| bad())?), None));
    }
    Uuid::try_parse(s).map(|id| (Some(id), None)).map_err(|_| bad())
}

async fn run_facts(st: &AppState, run: Uuid) -> Result<(BTreeMap<String, f64>, BTreeMap<String, String>)> {
    let metrics = db::tracking::latest_metrics_of(&st.db, &[run])
        .await?
        .into_iter()
        .map(|m| (m.key, m.value))
        .collect();
    let params =
        db::tracking::params_of(&st.db, &[run]).await?.into_iter().map(|kv| (kv.key, kv.value)).collect();
    Ok((metrics, params))
}

async fn resolve_source(st: &AppState, p: &Principal, source: &str) -> Result<Resolved> {
    let (mut run_id, logged_model_id) = parse_source(source)?;
    if let Some(model) = logged_model_id {
        let lm = db::logged_models::get(&st.db, &[model])
            .await?
            .pop()
            .filter(|m| m.lifecycle == "active")
            .ok_or_else(|| Error::not_found("logged model", source))?;
        run_id = lm.source_run_id;
    }
    let Some(run) = run_id else {
        // A logged model without a run: registered as an MLflow model.
        return Ok(mlflow_model(logged_model_id, None, BTreeMap::new(), BTreeMap::new()));
    };
    if db::tracking::get_runs(&st.db, &[run]).await?.is_empty() {
        return Err(Error::not_found("run", run.simple()));
    }
    let (metrics, params) = run_facts(st, run).await?;
    if let Some(t) = db::training::get(&st.db, run).await? {
        let Some(path) = t.bundle_path else {
            return Err(invalid(
                "source",
                format!(
                    "training run {} has no model bundle yet (it is {}); register it once it has finished",
                    run.simple(),
                    t.state
                ),
            ));
        };
        let bytes = crate::tracking::artifacts::download(st, p, &path).await?;
        let bundle = parse_bundle(&bytes)?;
        return Ok(Resolved {
            run_id: Some(run),
            logged_model_id,
            format: ModelFormat::Cairn,
            not_servable_reason: None,
            bundle: Some(bytes),
            signature: Some(bundle.signature),
            metrics,
            params,
            gates: t.gates,
            gates_passed: t.gates_passed,
            dataset_version_id: t.dataset_version_id,
            model_artifact_id: t.model_artifact_id,
        });
    }
    let logged = q::run_logged_models(&st.db, run).await?;
    if logged_model_id.is_none() && logged.is_empty() {
        return Err(invalid(
            "source",
            format!(
                "run {} has no model: train it with Cairn, or log one with mlflow.<flavor>.log_model first",
                run.simple()
            ),
        ));
    }
    Ok(mlflow_model(logged_model_id.or_else(|| logged.first().copied()), Some(run), metrics, params))
}

fn mlflow_model(
    logged_model_id: Option<Uuid>,
    run_id: Option<Uuid>,
    metrics: BTreeMap<String, f64>,
    params: BTreeMap<String, String>,
) -> Resolved {
    Resolved {
        run_id,
        logged_model_id,
        format: ModelFormat::Mlflow,
        not_servable_reason: Some(
            "an MLflow model (e.g. from mlflow.sklearn.log_model): Cairn serves Cairn bundles only until ONNX \
             support lands; load it with mlflow.pyfunc.load_model, or train it with Cairn to serve it here"
                .into(),
        ),
        bundle: None,
        signature: None,
        metrics,
        params,
        gates: None,
        gates_passed: None,
        dataset_version_id: None,
        model_artifact_id: None,
    }
}

fn parse_bundle(bytes: &[u8]) -> Result<ml::train::Bundle> {
    ml::train::Bundle::from_bytes(bytes)
        .map_err(|e| invalid("bundle", format!("not a usable Cairn model bundle: {e}")))
}

/// Registers a new version of `model_name` from a run or a logged model.
pub async fn create_version(
    st: &AppState,
    p: &Principal,
    model_name: &str,
    new: NewModelVersion,
) -> Result<ModelVersion> {
    authorize(p, Action::Write)?;
    check_tags(&new.tags)?;
    let model = model_row(&st.db, model_name).await?;
    let resolved = resolve_source(st, p, &new.source).await?;
    let kind = if new.pipeline_step.is_some() { SourceKind::Pipeline } else { SourceKind::Run };
    insert_version(st, p, &model, kind, new.source.trim(), &new.description, &new.tags, resolved).await
}

/// Registers an uploaded Cairn bundle as a new version.
pub async fn create_version_from_bundle(
    st: &AppState,
    p: &Principal,
    model_name: &str,
    file_name: &str,
    bytes: Bytes,
    description: &str,
) -> Result<ModelVersion> {
    authorize(p, Action::Write)?;
    let model = model_row(&st.db, model_name).await?;
    let bundle = parse_bundle(&bytes)?;
    let run_id = bundle.metadata.get("run_id").and_then(|r| Uuid::try_parse(r).ok());
    let resolved = Resolved {
        run_id: None,
        logged_model_id: None,
        format: ModelFormat::Cairn,
        not_servable_reason: None,
        bundle: Some(bytes),
        signature: Some(bundle.signature),
        metrics: BTreeMap::new(),
        params: BTreeMap::new(),
        gates: None,
        gates_passed: None,
        dataset_version_id: None,
        model_artifact_id: None,
    };
    let mut tags = BTreeMap::new();
    if let Some(run) = run_id {
        tags.insert("cairn.bundle.run_id".to_string(), run.to_string());
    }
    let source = format!("upload:{file_name}");
    insert_version(st, p, &model, SourceKind::Upload, &source, description, &tags, resolved).await
}

#[allow(clippy::too_many_arguments)]
async fn insert_version(
    st: &AppState,
    p: &Principal,
    model: &ModelRow,
    kind: SourceKind,
    source: &str,
    description: &str,
    tags: &BTreeMap<String, String>,
    r: Resolved,
) -> Result<ModelVersion> {
    let id = ModelVersionId(Uuid::new_v4());
    // The bundle is written before the row that points at it.
    let (bundle_path, sha) = match &r.bundle {
        Some(bytes) => {
            let key = bundle_key(id);
            st.store.put(&key, bytes.clone()).await?;
            (Some(key), Some(hex(&Sha256::digest(bytes))))
        }
        None => (None, None),
    };
    let signature =
        r.signature.as_ref().map(serde_json::to_value).transpose().map_err(anyhow::Error::from)?;
    let metrics = metrics_to_json(&r.metrics);
    let params = serde_json::to_value(&r.params).map_err(anyhow::Error::from)?;
    let mut tx = st.db.begin().await?;
    q::lock_model(&mut tx, model.registered_model_id).await?;
    let version = q::next_version(&mut tx, model.registered_model_id).await?;
    q::insert_version(
        &mut tx,
        &NewVersionRow {
            model_version_id: id.0,
            model: model.registered_model_id,
            version,
            source_kind: kind.as_str(),
            source,
            run_id: r.run_id,
            logged_model_id: r.logged_model_id,
            format: r.format.as_str(),
            not_servable_reason: r.not_servable_reason.as_deref(),
            bundle_path: bundle_path.as_deref(),
            bundle_sha256: sha.as_deref(),
            signature: signature.as_ref(),
            metrics: &metrics,
            params: &params,
            gates: r.gates.as_ref(),
            gates_passed: r.gates_passed,
            dataset_version_id: r.dataset_version_id,
            model_artifact_id: r.model_artifact_id,
            description,
            created_by: p.user_id.0,
        },
    )
    .await?;
    for (k, v) in tags {
        q::set_version_tag(&mut tx, id.0, k, v).await?;
    }
    record_lineage(&mut tx, &model.name, version, id, sha.as_deref(), r.model_artifact_id).await?;
    let target = format!("{} v{version}", model.name);
    audit::record(&mut *tx, p, "model.version.create", &target, Outcome::Ok, source).await?;
    webhooks::emit(
        &mut tx,
        domain::DEFAULT_PROJECT_ID,
        "model.version.created",
        &serde_json::json!({ "model": model.name, "version": version, "source": source, "by": p.username }),
    )
    .await?;
    tx.commit().await?;
    get_version_by_id(st, id).await
}

/// The version as a lineage artifact, produced by a `register` execution from the
/// training run's model artifact, so lineage walks from a deployment back to data.
async fn record_lineage(
    conn: &mut PgConnection,
    model: &str,
    version: i32,
    id: ModelVersionId,
    sha: Option<&str>,
    trained: Option<Uuid>,
) -> Result<()> {
    let project = domain::DEFAULT_PROJECT_ID;
    let artifact = lineage::record_artifact(
        conn,
        project,
        &NewArtifact {
            type_name: MODEL_VERSION_ARTIFACT.into(),
            name: format!("{model} v{version}"),
            uri: format!("models:/{model}/{version}"),
            content_hash: sha.map(str::to_string),
            properties: serde_json::json!({ "model_version_id": id.0 }),
            external_id: Some(format!("model_version:{}", id.0.simple())),
        },
    )
    .await?;
    let execution = lineage::record_execution(
        conn,
        project,
        &NewExecution {
            type_name: REGISTER_EXECUTION.into(),
            name: format!("register {model} v{version}"),
            state: ExecutionState::Complete,
            properties: serde_json::json!({ "model": model, "version": version }),
            job_id: None,
            external_id: Some(format!("register:{}", id.0.simple())),
        },
    )
    .await?;
    if let Some(trained) = trained {
        lineage::record_event(conn, execution, domain::ArtifactId(trained), EventKind::Input, "model")
            .await?;
    }
    lineage::record_event(conn, execution, artifact, EventKind::Output, "model_version").await?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) async fn get_version_by_id(st: &AppState, id: ModelVersionId) -> Result<ModelVersion> {
    let rows = q::select_versions(&st.db, None, None, Some(id.0), 1).await?;
    versions_from_rows(st, rows).await?.pop().ok_or_else(|| Error::not_found("model version", id))
}

pub async fn get_version(
    st: &AppState,
    p: &Principal,
    model_name: &str,
    version: i32,
) -> Result<ModelVersion> {
    authorize(p, Action::Read)?;
    let model = model_row(&st.db, model_name).await?;
    let rows = q::select_versions(&st.db, Some(model.registered_model_id), Some(version), None, 1).await?;
    versions_from_rows(st, rows)
        .await?
        .pop()
        .ok_or_else(|| Error::not_found("model version", format!("{model_name} v{version}")))
}

pub async fn list_versions(st: &AppState, p: &Principal, model_name: &str) -> Result<Vec<ModelVersion>> {
    authorize(p, Action::Read)?;
    let model = model_row(&st.db, model_name).await?;
    let rows = q::select_versions(&st.db, Some(model.registered_model_id), None, None, MAX_LIST).await?;
    versions_from_rows(st, rows).await
}

/// `models:/name/3`, `models:/name@alias` or `models:/name/latest` → the version.
pub async fn resolve(st: &AppState, p: &Principal, uri: &str) -> Result<ModelVersion> {
    authorize(p, Action::Read)?;
    let r = ModelRef::parse(uri)?;
    let model = model_row(&st.db, r.name()).await?;
    match &r {
        ModelRef::Version { version, .. } => get_version(st, p, &model.name, *version).await,
        ModelRef::Latest { .. } => {
            let latest = model.latest_version.ok_or_else(|| {
                Error::not_found("model version", format!("{} (it has no versions)", model.name))
            })?;
            get_version(st, p, &model.name, latest).await
        }
        ModelRef::Alias { alias, .. } => {
            let a = q::aliases_of(&st.db, &[model.registered_model_id])
                .await?
                .into_iter()
                .find(|a| a.alias.eq_ignore_ascii_case(alias))
                .ok_or_else(|| Error::not_found("alias", format!("{}@{alias}", model.name)))?;
            get_version_by_id(st, ModelVersionId(a.model_version_id)).await
        }
    }
}

/// The stored bundle of a servable version.
pub async fn bundle(st: &AppState, p: &Principal, version: &ModelVersion) -> Result<ml::train::Bundle> {
    authorize(p, Action::Read)?;
    let key = bundle_key(version.model_version_id);
    if let Some(reason) = &version.not_servable_reason {
        return Err(invalid(
            "model",
            format!("{} v{} has no Cairn bundle: {reason}", version.model_name, version.version),
        ));
    }
    let bytes = st.store.get(&key).await?;
    parse_bundle(&bytes)
}

pub async fn update_version(
    st: &AppState,
    p: &Principal,
    model_name: &str,
    version: i32,
    change: VersionChange,
) -> Result<ModelVersion> {
    let v = get_version(st, p, model_name, version).await?;
    authorize(p, Action::Write)?;
    if change.model_card.as_ref().is_some_and(|c| c.len() > 200_000) {
        return Err(invalid("model_card", "must be at most 200,000 characters"));
    }
    let mut tx = st.db.begin().await?;
    q::update_version(
        &mut tx,
        v.model_version_id.0,
        change.description.as_deref(),
        change.model_card.as_deref(),
    )
    .await?;
    if change.model_card.is_some() {
        audit::record(
            &mut *tx,
            p,
            "model.version.card",
            &format!("{model_name} v{version}"),
            Outcome::Ok,
            "",
        )
        .await?;
    }
    tx.commit().await?;
    get_version_by_id(st, v.model_version_id).await
}

pub async fn set_version_tag(
    st: &AppState,
    p: &Principal,
    model_name: &str,
    version: i32,
    key: &str,
    value: &str,
) -> Result<()> {
    let v = get_version(st, p, model_name, version).await?;
    authorize(p, Action::Write)?;
    check_tags(&BTreeMap::from([(key.to_string(), value.to_string())]))?;
    let mut tx = st.db.begin().await?;
    q::set_version_tag(&mut tx, v.model_version_id.0, key, value).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn delete_version_tag(
    st: &AppState,
    p: &Principal,
    model_name: &str,
    version: i32,
    key: &str,
) -> Result<()> {
    let v = get_version(st, p, model_name, version).await?;
    authorize(p, Action::Write)?;
    let mut tx = st.db.begin().await?;
    q::delete_version_tag(&mut tx, v.model_version_id.0, key).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes a version no alias points at (the alias would be left dangling).
pub async fn delete_version(st: &AppState, p: &Principal, model_name: &str, version: i32) -> Result<()> {
    let v = get_version(st, p, model_name, version).await?;
    authorize(p, Action::Write)?;
    if !v.aliases.is_empty() {
        return Err(Error::Conflict(format!(
            "{model_name} v{version} cannot be deleted while the alias '{}' points at it; move the alias first",
            v.aliases.join("', '")
        )));
    }
    let mut tx = st.db.begin().await?;
    q::delete_version(&mut tx, v.model_version_id.0)
        .await
        .on_constraint("model_alias_model_version_id_fkey", || {
            Error::Conflict(format!("{model_name} v{version} is aliased; move the alias first"))
        })?;
    audit::record(&mut *tx, p, "model.version.delete", &format!("{model_name} v{version}"), Outcome::Ok, "")
        .await?;
    tx.commit().await?;
    // The bundle copy goes after the row; a failure here leaves an unreferenced blob.
    if v.format == ModelFormat::Cairn
        && let Err(e) = st.store.delete(&bundle_key(v.model_version_id)).await
    {
        tracing::warn!(error = %e, "could not delete a deleted version's bundle");
    }
    Ok(())
}

/// Where an MLflow client downloads the version's files: the logged model's
/// artifact folder, or the run's artifact path the source named.
pub async fn download_uri(st: &AppState, p: &Principal, v: &ModelVersion) -> Result<String> {
    authorize(p, Action::Read)?;
    if let Some(id) = v.logged_model_id {
        let lm = db::logged_models::get(&st.db, &[id])
            .await?
            .pop()
            .ok_or_else(|| Error::not_found("logged model", id))?;
        return Ok(crate::tracking::logged_models::artifact_location(lm.experiment_id, id));
    }
    let (Some(run), Some(exp)) = (v.run_id, v.experiment_id.as_deref()) else {
        return Err(Error::not_found(
            "model files",
            format!("{} v{} (an uploaded bundle has no MLflow files)", v.model_name, v.version),
        ));
    };
    let path =
        v.source.strip_prefix("runs:/").and_then(|r| r.split_once('/')).map_or("model", |(_, path)| path);
    let path = if v.format == ModelFormat::Cairn { "model" } else { path };
    Ok(format!("mlflow-artifacts:/{exp}/{}/artifacts/{path}", run.simple()))
}

/// The run a `models:/name@alias` baseline refers to (training's `baseline_run`
/// accepts a model reference, so gates compare against the current production).
pub async fn baseline_run(st: &AppState, p: &Principal, reference: &str) -> Result<Uuid> {
    let v = resolve(st, p, reference).await?;
    v.run_id.filter(|_| v.format == ModelFormat::Cairn).ok_or_else(|| {
        invalid(
            "baseline_run",
            format!("{} v{} was not trained by Cairn, so it cannot be a baseline", v.model_name, v.version),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_name_runs_and_logged_models() {
        let run = Uuid::new_v4();
        assert_eq!(parse_source(&format!("runs:/{}/model", run.simple())).unwrap(), (Some(run), None));
        assert_eq!(parse_source(&run.to_string()).unwrap(), (Some(run), None));
        assert_eq!(parse_source(&format!("models:/m-{}", run.simple())).unwrap(), (None, Some(run)));
        assert_eq!(
            parse_source(&format!("mlflow-artifacts:/3/{}/artifacts/model", run.simple())).unwrap(),
            (Some(run), None)
        );
        assert_eq!(
            parse_source(&format!("mlflow-artifacts:/3/models/m-{}/artifacts", run.simple())).unwrap(),
            (None, Some(run))
        );
        let err = parse_source("s3://bucket/model").unwrap_err().to_string();
        assert!(err.contains("runs:/<run id>/<path>"), "{err}");
    }

    #[test]
    fn metrics_keep_non_finite_values() {
        let m = BTreeMap::from([
            ("a".to_string(), 0.5),
            ("b".to_string(), f64::NAN),
            ("c".to_string(), f64::NEG_INFINITY),
        ]);
        let back = metrics_from_json(&metrics_to_json(&m));
        assert_eq!(back["a"], 0.5);
        assert!(back["b"].is_nan());
        assert_eq!(back["c"], f64::NEG_INFINITY);
    }
}
