//! MLflow's model registry REST API (`registered-models/*`, `model-versions/*`) over
//! `services::registry`, so `mlflow.register_model`, `MlflowClient`'s registry calls
//! and `models:/name/1`, `models:/name@alias` URIs work against Cairn.
//!
//! Cairn's rules hold here too: setting a protected alias (production) creates a
//! promotion request and answers with an error saying so; the deprecated stages map
//! to aliases (Staging → `staging`, Production → `production`).

use super::error::{MlResult, MlflowError};
use super::{MlJson, MlQuery, caller, required};
use crate::http::ServerState;
use crate::http::auth::Auth;
use crate::http::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::registry::{
    AliasOutcome, ModelVersion, NewModelVersion, NewRegisteredModel, RegisteredModel, VersionChange,
};
use serde::Deserialize;
use serde_json::{Value, json};
use services::auth::Principal;
use services::registry::{self as reg, aliases};
use std::collections::BTreeMap;

type A = Result<Auth, ApiError>;

#[derive(Deserialize)]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

fn tag_map(tags: Vec<Tag>) -> BTreeMap<String, String> {
    tags.into_iter().map(|t| (t.key, t.value)).collect()
}

fn ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

/// The deprecated stage MLflow shows for a version: from its aliases.
fn stage(aliases: &[String]) -> &'static str {
    if aliases.iter().any(|a| a.eq_ignore_ascii_case("production")) {
        "Production"
    } else if aliases.iter().any(|a| a.eq_ignore_ascii_case("staging")) {
        "Staging"
    } else {
        "None"
    }
}

fn version_json(v: &ModelVersion) -> Value {
    let tags: Vec<Value> = v.tags.iter().map(|(k, val)| json!({"key": k, "value": val})).collect();
    let mut out = json!({
        "name": v.model_name,
        "version": v.version.to_string(),
        "creation_timestamp": ms(v.created_at),
        "last_updated_timestamp": ms(v.updated_at),
        "current_stage": stage(&v.aliases),
        "description": v.description,
        "source": v.source,
        "status": v.status,
        "status_message": v.not_servable_reason.clone().unwrap_or_default(),
        "tags": tags,
        "aliases": v.aliases,
        "user_id": v.created_by.clone().unwrap_or_default(),
    });
    if let Some(o) = out.as_object_mut() {
        if let Some(run) = v.run_id {
            o.insert("run_id".into(), json!(run.simple().to_string()));
        }
        if let Some(m) = v.logged_model_id {
            o.insert("model_id".into(), json!(services::tracking::logged_models::model_id(m)));
        }
    }
    out
}

fn model_json(m: &RegisteredModel, latest: &[ModelVersion]) -> Value {
    let tags: Vec<Value> = m.tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
    let aliases: Vec<Value> =
        m.aliases.iter().map(|a| json!({"alias": a.alias, "version": a.version.to_string()})).collect();
    json!({
        "name": m.name,
        "creation_timestamp": ms(m.created_at),
        "last_updated_timestamp": ms(m.updated_at),
        "description": m.description,
        "latest_versions": latest.iter().map(version_json).collect::<Vec<_>>(),
        "tags": tags,
        "aliases": aliases,
        "user_id": m.created_by.clone().unwrap_or_default(),
    })
}

async fn model_with_latest(st: &ServerState, p: &Principal, m: &RegisteredModel) -> MlResult<Value> {
    let latest = match m.latest_version {
        Some(v) => vec![reg::get_version(&st.services, p, &m.name, v).await?],
        None => Vec::new(),
    };
    Ok(model_json(m, &latest))
}

fn parse_version(v: &str) -> MlResult<i32> {
    v.trim()
        .parse::<i32>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| MlflowError::invalid(format!("version '{v}' is not a positive integer")))
}

#[derive(Deserialize)]
pub struct CreateModel {
    pub name: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub description: Option<String>,
}

pub async fn create_model(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<CreateModel>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let name = required(b.name.as_deref(), "name")?.to_string();
    let new = NewRegisteredModel {
        name,
        description: b.description.unwrap_or_default(),
        tags: tag_map(b.tags),
        policy: None,
    };
    let m = reg::create_model(&st.services, &p, new).await?;
    Ok(Json(json!({ "registered_model": model_json(&m, &[]) })))
}

#[derive(Deserialize)]
pub struct NameQuery {
    pub name: Option<String>,
}

pub async fn get_model(
    State(st): State<ServerState>,
    a: A,
    MlQuery(q): MlQuery<NameQuery>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let m = reg::get_model(&st.services, &p, required(q.name.as_deref(), "name")?).await?;
    Ok(Json(json!({ "registered_model": model_with_latest(&st, &p, &m).await? })))
}

#[derive(Deserialize)]
pub struct UpdateModel {
    pub name: Option<String>,
    pub description: Option<String>,
}

pub async fn update_model(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<UpdateModel>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let name = required(b.name.as_deref(), "name")?;
    let change = domain::registry::ModelChange { description: b.description, policy: None };
    let m = reg::update_model(&st.services, &p, name, change).await?;
    Ok(Json(json!({ "registered_model": model_with_latest(&st, &p, &m).await? })))
}

#[derive(Deserialize)]
pub struct RenameModel {
    pub name: Option<String>,
    pub new_name: Option<String>,
}

pub async fn rename_model(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<RenameModel>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let m = reg::rename_model(
        &st.services,
        &p,
        required(b.name.as_deref(), "name")?,
        required(b.new_name.as_deref(), "new_name")?,
    )
    .await?;
    Ok(Json(json!({ "registered_model": model_with_latest(&st, &p, &m).await? })))
}

pub async fn delete_model(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<NameQuery>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    reg::delete_model(&st.services, &p, required(b.name.as_deref(), "name")?).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct ModelTag {
    pub name: Option<String>,
    pub key: String,
    #[serde(default)]
    pub value: String,
}

pub async fn set_model_tag(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<ModelTag>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    reg::set_model_tag(&st.services, &p, required(b.name.as_deref(), "name")?, &b.key, &b.value).await?;
    Ok(Json(json!({})))
}

pub async fn delete_model_tag(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<ModelTag>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    reg::delete_model_tag(&st.services, &p, required(b.name.as_deref(), "name")?, &b.key).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, Default)]
pub struct Search {
    pub filter: Option<String>,
    pub max_results: Option<i64>,
    pub page_token: Option<String>,
}

/// One `key op 'value'` clause of the registry's search filter; `AND` joins them.
#[derive(Debug, PartialEq)]
struct Clause {
    key: String,
    op: String,
    value: String,
}

/// The registry's filter language is small: `name = 'x'`, `name LIKE 'x%'`,
/// `name ILIKE`, `run_id = '...'`, `tags.k = 'v'`, joined with AND.
fn parse_filter(filter: &str) -> MlResult<Vec<Clause>> {
    let bad = |why: &str| {
        MlflowError::invalid(format!(
            "cannot read filter \"{filter}\": {why}; write e.g. name = 'credit' or name LIKE 'credit%' (joined with AND)"
        ))
    };
    let mut out = Vec::new();
    let mut rest = filter.trim();
    while !rest.is_empty() {
        // A key may quote a part in backticks (tag.`mlflow.prompt.is_prompt`).
        let mut key_end = None;
        let mut quoted = false;
        for (i, c) in rest.char_indices() {
            if c == '`' {
                quoted = !quoted;
            } else if !quoted && (c.is_whitespace() || "=!<>".contains(c)) {
                key_end = Some(i);
                break;
            }
        }
        let key_end = key_end.ok_or_else(|| bad("no operator"))?;
        let key = rest[..key_end].replace('`', "");
        let key = match key.strip_prefix("tag.") {
            Some(t) => format!("tags.{t}"),
            None => key,
        };
        rest = rest[key_end..].trim_start();
        let op_end = rest.find(['\'', '"']).ok_or_else(|| bad("values must be quoted"))?;
        let op = rest[..op_end].trim().to_ascii_uppercase();
        if !["=", "!=", "LIKE", "ILIKE"].contains(&op.as_str()) {
            return Err(bad(&format!("unsupported operator '{op}'")));
        }
        let quote = rest[op_end..].chars().next().unwrap_or('\'');
        let body = &rest[op_end + 1..];
        let close = body.find(quote).ok_or_else(|| bad("unclosed quote"))?;
        out.push(Clause { key, op, value: body[..close].to_string() });
        rest = body[close + 1..].trim_start();
        if rest.is_empty() {
            break;
        }
        let Some(after) = rest.strip_prefix("AND ").or_else(|| rest.strip_prefix("and ")) else {
            return Err(bad("clauses must be joined with AND"));
        };
        rest = after.trim_start();
    }
    Ok(out)
}

/// SQL LIKE: `%` any run, `_` one character; ILIKE ignores case.
fn like(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if ignore_case {
        (pattern.to_lowercase().chars().collect(), text.to_lowercase().chars().collect())
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    // Classic wildcard matching with backtracking on the last `%`.
    let (mut i, mut j, mut star, mut mark) = (0usize, 0usize, None::<usize>, 0usize);
    while j < t.len() {
        if i < p.len() && (p[i] == '_' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '%' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '%')
}

fn matches(clauses: &[Clause], field: impl Fn(&str) -> Option<String>) -> MlResult<bool> {
    for c in clauses {
        let Some(v) = field(&c.key) else {
            return Err(MlflowError::invalid(format!("cannot filter registry entries by '{}'", c.key)));
        };
        let ok = match c.op.as_str() {
            "=" => v == c.value,
            "!=" => v != c.value,
            "LIKE" => like(&c.value, &v, false),
            _ => like(&c.value, &v, true),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Offset paging: the token is the next offset.
fn page<T>(items: Vec<T>, s: &Search) -> MlResult<(Vec<T>, Option<String>)> {
    let max = s.max_results.unwrap_or(100).clamp(1, 1000) as usize;
    let start = match s.page_token.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => {
            t.parse::<usize>().map_err(|_| MlflowError::invalid(format!("invalid page_token '{t}'")))?
        }
        None => 0,
    };
    let total = items.len();
    let items: Vec<T> = items.into_iter().skip(start).take(max).collect();
    let next = (start + max < total).then(|| (start + max).to_string());
    Ok((items, next))
}

/// `{<key>: items, next_page_token?}`, MLflow's page shape.
fn paged(key: &str, items: Vec<Value>, next: Option<String>) -> Json<Value> {
    let mut body = serde_json::Map::new();
    body.insert(key.into(), Value::Array(items));
    if let Some(n) = next {
        body.insert("next_page_token".into(), json!(n));
    }
    Json(Value::Object(body))
}

async fn search_models_impl(st: &ServerState, p: &Principal, s: Search) -> MlResult<Json<Value>> {
    let clauses = parse_filter(s.filter.as_deref().unwrap_or(""))?;
    let mut found = Vec::new();
    for m in reg::list_models(&st.services, p, None, 1000).await? {
        let keep = matches(&clauses, |k| match k {
            "name" => Some(m.name.clone()),
            k => k.strip_prefix("tags.").map(|t| m.tags.get(t).cloned().unwrap_or_default()),
        })?;
        if keep {
            found.push(m);
        }
    }
    let (models, next) = page(found, &s)?;
    let mut out = Vec::with_capacity(models.len());
    for m in &models {
        out.push(model_with_latest(st, p, m).await?);
    }
    Ok(paged("registered_models", out, next))
}

pub async fn search_models(
    State(st): State<ServerState>,
    a: A,
    MlJson(s): MlJson<Search>,
) -> MlResult<Json<Value>> {
    search_models_impl(&st, &caller(a)?, s).await
}

pub async fn search_models_get(
    State(st): State<ServerState>,
    a: A,
    MlQuery(s): MlQuery<Search>,
) -> MlResult<Json<Value>> {
    search_models_impl(&st, &caller(a)?, s).await
}

async fn search_versions_impl(st: &ServerState, p: &Principal, s: Search) -> MlResult<Json<Value>> {
    let clauses = parse_filter(s.filter.as_deref().unwrap_or(""))?;
    // An exact name narrows the read to one model.
    let exact = clauses.iter().find(|c| c.key == "name" && c.op == "=").map(|c| c.value.clone());
    let names: Vec<String> = match exact {
        Some(n) => vec![n],
        None => reg::list_models(&st.services, p, None, 1000).await?.into_iter().map(|m| m.name).collect(),
    };
    let mut found = Vec::new();
    for name in names {
        let versions = match reg::list_versions(&st.services, p, &name).await {
            Ok(v) => v,
            Err(services::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        for v in versions {
            let keep = matches(&clauses, |k| match k {
                "name" => Some(v.model_name.clone()),
                "run_id" => Some(v.run_id.map(|r| r.simple().to_string()).unwrap_or_default()),
                "source" | "source_path" => Some(v.source.clone()),
                "version_number" | "version" => Some(v.version.to_string()),
                k => k.strip_prefix("tags.").map(|t| v.tags.get(t).cloned().unwrap_or_default()),
            })?;
            if keep {
                found.push(v);
            }
        }
    }
    let (versions, next) = page(found, &s)?;
    Ok(paged("model_versions", versions.iter().map(version_json).collect(), next))
}

pub async fn search_versions(
    State(st): State<ServerState>,
    a: A,
    MlJson(s): MlJson<Search>,
) -> MlResult<Json<Value>> {
    search_versions_impl(&st, &caller(a)?, s).await
}

pub async fn search_versions_get(
    State(st): State<ServerState>,
    a: A,
    MlQuery(s): MlQuery<Search>,
) -> MlResult<Json<Value>> {
    search_versions_impl(&st, &caller(a)?, s).await
}

#[derive(Deserialize)]
pub struct CreateVersion {
    pub name: Option<String>,
    pub source: Option<String>,
    pub run_id: Option<String>,
    pub model_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub description: Option<String>,
}

pub async fn create_version(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<CreateVersion>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let name = required(b.name.as_deref(), "name")?;
    // MLflow 3 names the logged model; older clients give a runs:/ or artifact URI.
    let source = match (b.model_id.as_deref().filter(|m| !m.is_empty()), b.source.as_deref()) {
        (Some(m), _) => format!("models:/{m}"),
        (None, Some(s)) if !s.is_empty() => s.to_string(),
        (None, _) => required(b.run_id.as_deref(), "source")?.to_string(),
    };
    let new = NewModelVersion {
        source,
        description: b.description.unwrap_or_default(),
        tags: tag_map(b.tags),
        pipeline_step: None,
    };
    let v = reg::create_version(&st.services, &p, name, new).await?;
    Ok(Json(json!({ "model_version": version_json(&v) })))
}

#[derive(Deserialize)]
pub struct VersionQuery {
    pub name: Option<String>,
    pub version: Option<String>,
}

impl VersionQuery {
    fn parts(&self) -> MlResult<(&str, i32)> {
        Ok((
            required(self.name.as_deref(), "name")?,
            parse_version(required(self.version.as_deref(), "version")?)?,
        ))
    }
}

pub async fn get_version(
    State(st): State<ServerState>,
    a: A,
    MlQuery(q): MlQuery<VersionQuery>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let (name, version) = q.parts()?;
    let v = reg::get_version(&st.services, &p, name, version).await?;
    Ok(Json(json!({ "model_version": version_json(&v) })))
}

pub async fn download_uri(
    State(st): State<ServerState>,
    a: A,
    MlQuery(q): MlQuery<VersionQuery>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let (name, version) = q.parts()?;
    let v = reg::get_version(&st.services, &p, name, version).await?;
    Ok(Json(json!({ "artifact_uri": reg::download_uri(&st.services, &p, &v).await? })))
}

#[derive(Deserialize)]
pub struct UpdateVersion {
    pub name: Option<String>,
    pub version: Option<String>,
    pub description: Option<String>,
}

pub async fn update_version(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<UpdateVersion>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let name = required(b.name.as_deref(), "name")?;
    let version = parse_version(required(b.version.as_deref(), "version")?)?;
    let change = VersionChange { description: b.description, model_card: None };
    let v = reg::update_version(&st.services, &p, name, version, change).await?;
    Ok(Json(json!({ "model_version": version_json(&v) })))
}

pub async fn delete_version(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<VersionQuery>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let (name, version) = b.parts()?;
    reg::delete_version(&st.services, &p, name, version).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct VersionTag {
    pub name: Option<String>,
    pub version: Option<String>,
    pub key: String,
    #[serde(default)]
    pub value: String,
}

pub async fn set_version_tag(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<VersionTag>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let name = required(b.name.as_deref(), "name")?;
    let version = parse_version(required(b.version.as_deref(), "version")?)?;
    reg::set_version_tag(&st.services, &p, name, version, &b.key, &b.value).await?;
    Ok(Json(json!({})))
}

pub async fn delete_version_tag(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<VersionTag>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let name = required(b.name.as_deref(), "name")?;
    let version = parse_version(required(b.version.as_deref(), "version")?)?;
    reg::delete_version_tag(&st.services, &p, name, version, &b.key).await?;
    Ok(Json(json!({})))
}

/// The answer to moving a protected alias: refused, with the request that was made.
fn protected(outcome: AliasOutcome) -> MlResult<()> {
    match outcome {
        AliasOutcome::Moved { .. } => Ok(()),
        AliasOutcome::RequestCreated { request } => Err(MlflowError {
            status: StatusCode::FORBIDDEN,
            code: "PERMISSION_DENIED",
            message: format!(
                "'{}' is a protected alias of {}: promotion request {} was created for version {} and waits for an \
                 approver (Approvals page, or POST /api/v1/promotions/{}/reviews); the alias moves when it is approved",
                request.alias,
                request.model_name,
                request.promotion_request_id,
                request.version,
                request.promotion_request_id
            ),
        }),
    }
}

#[derive(Deserialize)]
pub struct SetAliasBody {
    pub name: Option<String>,
    pub alias: Option<String>,
    pub version: Option<String>,
}

pub async fn set_alias(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<SetAliasBody>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let name = required(b.name.as_deref(), "name")?;
    let alias = required(b.alias.as_deref(), "alias")?;
    let version = parse_version(required(b.version.as_deref(), "version")?)?;
    protected(
        aliases::set_alias(&st.services, &p, name, alias, version, "requested through the MLflow API")
            .await?,
    )?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct AliasQuery {
    pub name: Option<String>,
    pub alias: Option<String>,
}

pub async fn delete_alias(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<AliasQuery>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    aliases::delete_alias(
        &st.services,
        &p,
        required(b.name.as_deref(), "name")?,
        required(b.alias.as_deref(), "alias")?,
    )
    .await?;
    Ok(Json(json!({})))
}

pub async fn get_alias(
    State(st): State<ServerState>,
    a: A,
    MlQuery(q): MlQuery<AliasQuery>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let name = required(q.name.as_deref(), "name")?;
    let alias = required(q.alias.as_deref(), "alias")?;
    let v = reg::resolve(&st.services, &p, &format!("models:/{name}@{alias}")).await?;
    Ok(Json(json!({ "model_version": version_json(&v) })))
}

/// Stages are aliases in Cairn: Staging → `staging`, Production → `production`.
fn stage_alias(stage: &str) -> MlResult<&'static str> {
    match stage.to_ascii_lowercase().as_str() {
        "staging" => Ok("staging"),
        "production" => Ok("production"),
        other => Err(MlflowError::invalid(format!(
            "stage '{other}': Cairn maps MLflow's deprecated stages to aliases (Staging → @staging, Production → \
             @production); to archive a version, delete its alias instead"
        ))),
    }
}

#[derive(Deserialize)]
pub struct TransitionStage {
    pub name: Option<String>,
    pub version: Option<String>,
    pub stage: Option<String>,
}

pub async fn transition_stage(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<TransitionStage>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let name = required(b.name.as_deref(), "name")?;
    let version = parse_version(required(b.version.as_deref(), "version")?)?;
    let alias = stage_alias(required(b.stage.as_deref(), "stage")?)?;
    protected(
        aliases::set_alias(&st.services, &p, name, alias, version, "stage transition through the MLflow API")
            .await?,
    )?;
    let v = reg::get_version(&st.services, &p, name, version).await?;
    Ok(Json(json!({ "model_version": version_json(&v) })))
}

#[derive(Deserialize)]
pub struct LatestVersions {
    pub name: Option<String>,
    #[serde(default)]
    pub stages: Vec<String>,
}

/// The newest version, or per requested stage the version its alias points at.
pub async fn latest_versions(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<LatestVersions>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let name = required(b.name.as_deref(), "name")?;
    let m = reg::get_model(&st.services, &p, name).await?;
    let mut out = Vec::new();
    if (b.stages.is_empty() || b.stages.iter().any(|s| s.eq_ignore_ascii_case("none")))
        && let Some(v) = m.latest_version
    {
        out.push(reg::get_version(&st.services, &p, name, v).await?);
    }
    for s in
        b.stages.iter().filter(|s| !s.eq_ignore_ascii_case("none") && !s.eq_ignore_ascii_case("archived"))
    {
        let alias = stage_alias(s)?;
        if let Some(a) = m.aliases.iter().find(|a| a.alias.eq_ignore_ascii_case(alias)) {
            out.push(reg::get_version(&st.services, &p, name, a.version).await?);
        }
    }
    Ok(Json(json!({ "model_versions": out.iter().map(version_json).collect::<Vec<_>>() })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_filters_parse_and_match_like_mlflow() {
        let c = parse_filter(
            "name = 'credit' AND tags.team LIKE 'ri%' AND tag.`mlflow.prompt.is_prompt` != 'true'",
        )
        .unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!((c[2].key.as_str(), c[2].op.as_str()), ("tags.mlflow.prompt.is_prompt", "!="));
        assert_eq!((c[1].key.as_str(), c[1].op.as_str(), c[1].value.as_str()), ("tags.team", "LIKE", "ri%"));
        assert!(parse_filter("").unwrap().is_empty());
        assert!(parse_filter("name = credit").is_err());
        assert!(parse_filter("name > 'a'").is_err());
        assert!(
            like("cr%t", "credit", false) && like("%dit", "credit", false) && like("c_edit", "credit", false)
        );
        assert!(!like("Cr%", "credit", false) && like("Cr%", "credit", true));
        assert!(like("%", "", false) && !like("_", "", false));
    }

    #[test]
    fn stages_map_to_aliases() {
        assert_eq!(stage_alias("Production").unwrap(), "production");
        assert_eq!(stage_alias("staging").unwrap(), "staging");
        assert!(stage_alias("Archived").unwrap_err().message.contains("delete its alias"));
        assert_eq!(stage(&["production".into()]), "Production");
        assert_eq!(stage(&[]), "None");
    }
}
