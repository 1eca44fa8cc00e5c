//! MLflow 3 logged models: `mlflow.<flavor>.log_model` creates one (PENDING), uploads
//! the model's files to its `artifact_location` through the artifact proxy, and
//! finalizes it READY or FAILED; `models:/<model_id>` and `runs:/<run>/<name>` load it
//! back. Files live under `<experiment_id>/models/<model_id>/artifacts/` (see
//! [`super::artifacts`]).

use super::filter::{self, Attributes, Clause, Entity, Op, Value};
use super::{check_key, invalid, now_ms, sorted_unique, token};
use crate::auth::{Action, Principal, authorize};
use crate::db::logged_models::{self as sql, LoggedModelRow, ModelKeyValueRow};
use crate::db::tracking as runs_sql;
use crate::{AppState, Error, Result};
use domain::tracking::{LOGGED_MODEL_STATUSES, LoggedModel, Param, Tag};
use std::collections::HashMap;
use uuid::Uuid;

const MAX_PARAMS: usize = 100;
const MAX_PAGE: usize = 1000;

/// MLflow's spelling of a model id: `m-` and 32 hex digits.
pub fn model_id(id: Uuid) -> String {
    format!("m-{}", id.simple())
}

/// Accepts `m-<hex>` (what Cairn hands out) or a bare UUID.
pub fn parse_model_id(s: &str) -> Result<Uuid> {
    Uuid::try_parse(s.strip_prefix("m-").unwrap_or(s)).map_err(|_| Error::not_found("logged model", s))
}

/// Where the client uploads a model's files (our artifact proxy).
pub fn artifact_location(experiment_id: i64, id: Uuid) -> String {
    format!("mlflow-artifacts:/{experiment_id}/models/{}/artifacts", model_id(id))
}

/// What `create` takes.
#[derive(Clone, Debug, Default)]
pub struct NewLoggedModel {
    pub experiment_id: i64,
    pub name: Option<String>,
    pub source_run_id: Option<Uuid>,
    pub model_type: Option<String>,
    pub tags: Vec<Tag>,
    pub params: Vec<Param>,
}

fn param_map(params: Vec<Param>) -> Result<(Vec<String>, Vec<String>)> {
    if params.len() > MAX_PARAMS {
        return Err(invalid(
            "params",
            format!("at most {MAX_PARAMS} params per request; got {}", params.len()),
        ));
    }
    super::unique_params(params)
}

async fn write_params(
    tx: &mut sqlx::PgConnection,
    id: Uuid,
    keys: &[String],
    values: &[String],
) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    sql::insert_params(&mut *tx, id, keys, values).await?;
    if let Some((key, stored, given)) =
        sql::conflicting_params(&mut *tx, id, keys, values).await?.into_iter().next()
    {
        return Err(invalid(
            "params",
            format!(
                "param {key:?} of model {} is already {stored:?}; params cannot change (got {given:?})",
                model_id(id)
            ),
        ));
    }
    Ok(())
}

#[tracing::instrument(skip_all, fields(experiment.id = new.experiment_id))]
pub async fn create(st: &AppState, p: &Principal, new: NewLoggedModel) -> Result<LoggedModel> {
    authorize(p, Action::Write)?;
    let name = match new.name.filter(|n| !n.is_empty()) {
        Some(n) => {
            check_key("name", &n)?;
            if n.contains('/') {
                return Err(invalid("name", format!("model name {n:?} must not contain '/'")));
            }
            n
        }
        None => format!("model-{}", &Uuid::new_v4().simple().to_string()[..8]),
    };
    let (tag_keys, tag_values) = sorted_unique(new.tags, "tags")?;
    let (param_keys, param_values) = param_map(new.params)?;
    let mut tx = st.db.begin().await?;
    let exp = runs_sql::get_experiment(&mut *tx, new.experiment_id)
        .await?
        .ok_or_else(|| Error::not_found("experiment", new.experiment_id))?;
    if exp.lifecycle != "active" {
        return Err(invalid(
            "experiment_id",
            format!("experiment {} is deleted; restore it first", exp.experiment_id),
        ));
    }
    if let Some(run) = new.source_run_id {
        let rows = runs_sql::get_runs(&mut *tx, &[run]).await?;
        match rows.first() {
            None => return Err(Error::not_found("run", run.simple())),
            Some(r) if r.experiment_id != exp.experiment_id => {
                return Err(invalid(
                    "source_run_id",
                    format!(
                        "run {} belongs to experiment {}, not {}",
                        run.simple(),
                        r.experiment_id,
                        exp.experiment_id
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    let id = sql::insert(
        &mut *tx,
        exp.experiment_id,
        &name,
        new.source_run_id,
        new.model_type.as_deref().unwrap_or(""),
        now_ms(),
    )
    .await?;
    if !tag_keys.is_empty() {
        sql::upsert_tags(&mut *tx, id, &tag_keys, &tag_values).await?;
    }
    write_params(&mut tx, id, &param_keys, &param_values).await?;
    tx.commit().await?;
    get(st, p, id).await
}

pub async fn get(st: &AppState, p: &Principal, id: Uuid) -> Result<LoggedModel> {
    authorize(p, Action::Read)?;
    load(st, sql::get(&st.db, &[id]).await?)
        .await?
        .pop()
        .ok_or_else(|| Error::not_found("logged model", model_id(id)))
}

fn group(rows: Vec<ModelKeyValueRow>) -> HashMap<Uuid, Vec<Tag>> {
    let mut out: HashMap<Uuid, Vec<Tag>> = HashMap::new();
    for r in rows {
        out.entry(r.logged_model_id).or_default().push(Tag { key: r.key, value: r.value });
    }
    out
}

async fn load(st: &AppState, rows: Vec<LoggedModelRow>) -> Result<Vec<LoggedModel>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.logged_model_id).collect();
    let mut tags = group(sql::tags_of(&st.db, &ids).await?);
    let mut params = group(sql::params_of(&st.db, &ids).await?);
    Ok(rows
        .into_iter()
        .map(|r| LoggedModel {
            model_id: model_id(r.logged_model_id),
            experiment_id: r.experiment_id,
            name: r.name,
            source_run_id: r.source_run_id,
            status: r.status,
            status_message: r.status_message,
            model_type: r.model_type,
            artifact_location: artifact_location(r.experiment_id, r.logged_model_id),
            lifecycle: r.lifecycle,
            creation_time: r.creation_time,
            last_update_time: r.update_time,
            tags: tags.remove(&r.logged_model_id).unwrap_or_default(),
            params: params.remove(&r.logged_model_id).unwrap_or_default(),
        })
        .collect())
}

/// Opens a write to an existing, not deleted model.
async fn lock_active(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<()> {
    match sql::lifecycle_for_write(&mut *tx, id).await? {
        None => Err(Error::not_found("logged model", model_id(id))),
        Some(l) if l != "active" => {
            Err(invalid("model_id", format!("logged model {} is deleted", model_id(id))))
        }
        Some(_) => Ok(()),
    }
}

/// Sets the final status (READY or FAILED) once the client has uploaded the files.
pub async fn finalize(st: &AppState, p: &Principal, id: Uuid, status: &str) -> Result<LoggedModel> {
    authorize(p, Action::Write)?;
    if !LOGGED_MODEL_STATUSES.contains(&status) {
        return Err(invalid(
            "status",
            format!("unknown status {status:?}; use one of {}", LOGGED_MODEL_STATUSES.join(", ")),
        ));
    }
    if sql::set_status(&st.db, id, status, now_ms()).await? == 0 {
        return Err(Error::not_found("logged model", model_id(id)));
    }
    get(st, p, id).await
}

pub async fn set_deleted(st: &AppState, p: &Principal, id: Uuid, deleted: bool) -> Result<()> {
    authorize(p, Action::Write)?;
    let lifecycle = if deleted { "deleted" } else { "active" };
    if sql::set_lifecycle(&st.db, id, lifecycle, now_ms()).await? == 0 {
        return Err(Error::not_found("logged model", model_id(id)));
    }
    Ok(())
}

pub async fn set_tags(st: &AppState, p: &Principal, id: Uuid, tags: Vec<Tag>) -> Result<()> {
    authorize(p, Action::Write)?;
    let (keys, values) = sorted_unique(tags, "tags")?;
    let mut tx = st.db.begin().await?;
    lock_active(&mut tx, id).await?;
    sql::upsert_tags(&mut *tx, id, &keys, &values).await?;
    sql::touch(&mut *tx, id, now_ms()).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn delete_tag(st: &AppState, p: &Principal, id: Uuid, key: &str) -> Result<()> {
    authorize(p, Action::Write)?;
    let mut tx = st.db.begin().await?;
    lock_active(&mut tx, id).await?;
    if sql::delete_tag(&mut *tx, id, key).await? == 0 {
        return Err(Error::not_found("tag", key));
    }
    tx.commit().await?;
    Ok(())
}

/// Adds params, all or nothing: a key set before with another value rejects the call.
pub async fn log_params(st: &AppState, p: &Principal, id: Uuid, params: Vec<Param>) -> Result<()> {
    authorize(p, Action::Write)?;
    let (keys, values) = param_map(params)?;
    let mut tx = st.db.begin().await?;
    lock_active(&mut tx, id).await?;
    write_params(&mut tx, id, &keys, &values).await?;
    tx.commit().await?;
    Ok(())
}

/// Records that a run produced these models (MLflow `runs/outputs`): (model, step).
pub async fn log_outputs(st: &AppState, p: &Principal, run_id: Uuid, models: Vec<(Uuid, i64)>) -> Result<()> {
    authorize(p, Action::Write)?;
    let mut tx = st.db.begin().await?;
    if runs_sql::run_lifecycle_for_write(&mut *tx, run_id).await?.is_none() {
        return Err(Error::not_found("run", run_id.simple()));
    }
    let (ids, steps): (Vec<Uuid>, Vec<i64>) = models.into_iter().unzip();
    let found = sql::get(&mut *tx, &ids).await?;
    if let Some(missing) = ids.iter().find(|id| !found.iter().any(|r| r.logged_model_id == **id)) {
        return Err(Error::not_found("logged model", model_id(*missing)));
    }
    sql::insert_outputs(&mut *tx, run_id, &ids, &steps).await?;
    tx.commit().await?;
    Ok(())
}

/// What `search_logged_models` filters by besides params and tags.
pub const MODEL_ATTRIBUTES: Attributes = Attributes {
    numeric: |k| match k {
        "name" | "model_id" | "source_run_id" | "status" | "model_type" => Some(false),
        "creation_timestamp" | "creation_time" | "last_updated_timestamp" => Some(true),
        _ => None,
    },
    names: "name, model_id, source_run_id, status, model_type, creation_timestamp or last_updated_timestamp",
};

fn text_matches(op: Op, have: Option<&str>, want: &Value) -> bool {
    let Some(have) = have else { return false };
    match (op, want) {
        (Op::Eq, Value::Str(w)) => have == w,
        (Op::Ne, Value::Str(w)) => have != w,
        (Op::Like, Value::Str(w)) => like(have, w, false),
        (Op::ILike, Value::Str(w)) => like(have, w, true),
        (Op::In, Value::List(ws)) => ws.iter().any(|w| w == have),
        (Op::NotIn, Value::List(ws)) => !ws.iter().any(|w| w == have),
        (Op::Lt, Value::Str(w)) => have < w.as_str(),
        (Op::Le, Value::Str(w)) => have <= w.as_str(),
        (Op::Gt, Value::Str(w)) => have > w.as_str(),
        (Op::Ge, Value::Str(w)) => have >= w.as_str(),
        _ => false,
    }
}

/// SQL LIKE: `%` any run of characters, `_` one character.
fn like(have: &str, pattern: &str, fold: bool) -> bool {
    let (h, p): (Vec<char>, Vec<char>) = if fold {
        (have.to_lowercase().chars().collect(), pattern.to_lowercase().chars().collect())
    } else {
        (have.chars().collect(), pattern.chars().collect())
    };
    // dp[j]: the first i chars of `h` match the first j chars of `p`.
    let mut dp = vec![false; p.len() + 1];
    dp[0] = true;
    for j in 1..=p.len() {
        dp[j] = dp[j - 1] && p[j - 1] == '%';
    }
    for c in h {
        let mut next = vec![false; p.len() + 1];
        for j in 1..=p.len() {
            next[j] = match p[j - 1] {
                '%' => next[j - 1] || dp[j],
                '_' => dp[j - 1],
                pc => dp[j - 1] && pc == c,
            };
        }
        dp = next;
    }
    dp[p.len()]
}

fn num_matches(op: Op, have: i64, want: &Value) -> bool {
    let Value::Num(w) = want else { return false };
    let h = have as f64;
    match op {
        Op::Eq => h == *w,
        Op::Ne => h != *w,
        Op::Lt => h < *w,
        Op::Le => h <= *w,
        Op::Gt => h > *w,
        Op::Ge => h >= *w,
        _ => false,
    }
}

fn matches(m: &LoggedModel, c: &Clause) -> bool {
    let find = |items: &[Tag]| items.iter().find(|t| t.key == c.key).map(|t| t.value.clone());
    match c.entity {
        Entity::Param => text_matches(c.op, find(&m.params).as_deref(), &c.value),
        Entity::Tag => text_matches(c.op, find(&m.tags).as_deref(), &c.value),
        // Cairn keeps no metrics on logged models (they stay on the run).
        Entity::Metric => false,
        Entity::Attribute => match c.key.as_str() {
            "name" => text_matches(c.op, Some(&m.name), &c.value),
            "model_id" => text_matches(c.op, Some(&m.model_id), &c.value),
            "source_run_id" => {
                text_matches(c.op, m.source_run_id.map(|r| r.simple().to_string()).as_deref(), &c.value)
            }
            "status" => text_matches(c.op, Some(&m.status), &c.value),
            "model_type" => text_matches(c.op, Some(&m.model_type), &c.value),
            "last_updated_timestamp" => num_matches(c.op, m.last_update_time, &c.value),
            _ => num_matches(c.op, m.creation_time, &c.value),
        },
    }
}

/// Active models of the experiments matching `filter` (MLflow's syntax over name,
/// status, source_run_id, params., tags. ...), newest first, offset-paged.
pub async fn search(
    st: &AppState,
    p: &Principal,
    experiment_ids: &[i64],
    filter: Option<&str>,
    max_results: Option<i64>,
    page_token: Option<&str>,
) -> Result<(Vec<LoggedModel>, Option<String>)> {
    authorize(p, Action::Read)?;
    let clauses = filter::parse_for(filter.unwrap_or(""), &MODEL_ATTRIBUTES)?;
    let limit = max_results.map_or(100, |n| n.clamp(1, MAX_PAGE as i64) as usize);
    let offset = match page_token.filter(|t| !t.is_empty()) {
        Some(t) => usize::try_from(token::decode_after(t)?).unwrap_or(0),
        None => 0,
    };
    let models = load(st, sql::of_experiments(&st.db, experiment_ids).await?).await?;
    let mut hits: Vec<LoggedModel> = models
        .into_iter()
        .filter(|m| clauses.iter().all(|c| matches(m, c)))
        .skip(offset)
        .take(limit + 1)
        .collect();
    let next = if hits.len() > limit {
        hits.truncate(limit);
        Some(token::encode_after((offset + limit) as i64))
    } else {
        None
    };
    Ok((hits, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_follows_sql() {
        assert!(like("model", "mod%", false));
        assert!(like("model", "m_del", false));
        assert!(!like("Model", "mod%", false));
        assert!(like("Model", "mod%", true));
        assert!(!like("model", "mod", false));
        assert!(like("", "%", false));
    }

    #[test]
    fn model_ids_round_trip() {
        let id = Uuid::new_v4();
        assert_eq!(parse_model_id(&model_id(id)).unwrap(), id);
        assert!(parse_model_id("m-nothex").is_err());
    }

    #[test]
    fn filters_name_model_attributes() {
        assert!(filter::parse_for("name = 'model' and tags.a != 'b'", &MODEL_ATTRIBUTES).is_ok());
        assert!(filter::parse_for("run_name = 'x'", &MODEL_ATTRIBUTES).is_err());
        assert!(filter::parse_for("creation_timestamp > 5", &MODEL_ATTRIBUTES).is_ok());
    }
}
