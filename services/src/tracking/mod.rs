//! Experiment tracking use cases: the MLflow-compatible API, `/api/v1` and Cairn's own
//! jobs all log and read through these functions (Python-free logging is calling
//! [`log_batch`] directly).

pub mod artifacts;
pub mod filter;
pub mod logged_models;
pub mod token;

use crate::auth::{Action, Principal, authorize};
use crate::db::tracking::{self as sql, ExperimentRow, KeyValueRow, MetricRow, RunRow};
use crate::db::tracking_search::{RunQuery, Sort};
use crate::error::ResultExt;
use crate::{AppState, Error, Result};
use domain::ValidationError;
use domain::tracking::{
    DatasetInput, Experiment, Metric, MetricHistory, Param, RUN_STATUSES, Run, RunInfo, RunPage, RunSearch,
    TAG_RUN_NAME, TAG_USER, Tag, ViewType,
};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// MLflow's own limits per `log-batch` request.
pub const MAX_BATCH_METRICS: usize = 1000;
pub const MAX_BATCH_PARAMS: usize = 100;
pub const MAX_BATCH_TAGS: usize = 100;
const MAX_KEY: usize = 250;
const MAX_PARAM_VALUE: usize = 6000;
const MAX_TAG_VALUE: usize = 8000;
const MAX_PAGE: i64 = 50_000;

pub(crate) fn invalid(field: &str, msg: impl Into<String>) -> Error {
    Error::Validation(ValidationError::new(field, msg))
}

fn millis(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Where the MLflow client must send a run's artifacts (our artifact proxy).
pub fn artifact_uri(experiment_id: i64, run_id: Uuid) -> String {
    format!("mlflow-artifacts:/{experiment_id}/{}/artifacts", run_id.simple())
}

/// Run ids arrive as 32 hex digits (MLflow) or hyphenated UUIDs.
pub fn parse_run_id(s: &str) -> Result<Uuid> {
    Uuid::try_parse(s).map_err(|_| Error::not_found("run", s))
}

pub fn parse_experiment_id(s: &str) -> Result<i64> {
    s.trim().parse().map_err(|_| Error::not_found("experiment", s))
}

pub(crate) fn check_key(field: &str, key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(invalid(field, format!("keys must have 1 to {MAX_KEY} bytes; got {:?}", key)));
    }
    if key.contains("..") || key.starts_with('/') || key.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("invalid key {key:?}: no '..', leading '/' or control characters"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Experiments

fn experiment(row: ExperimentRow, tags: &mut HashMap<String, Vec<Tag>>) -> Experiment {
    let id = row.experiment_id;
    Experiment {
        experiment_id: id,
        name: row.name,
        description: row.description,
        artifact_location: if row.artifact_location.is_empty() {
            format!("mlflow-artifacts:/{id}")
        } else {
            row.artifact_location
        },
        lifecycle: row.lifecycle,
        creation_time: millis(row.created_at),
        last_update_time: millis(row.updated_at),
        tags: tags.remove(&id.to_string()).unwrap_or_default(),
    }
}

fn group(rows: Vec<KeyValueRow>) -> HashMap<String, Vec<Tag>> {
    let mut out: HashMap<String, Vec<Tag>> = HashMap::new();
    for r in rows {
        out.entry(r.owner).or_default().push(Tag { key: r.key, value: r.value });
    }
    out
}

#[tracing::instrument(skip_all, fields(experiment.name = %name))]
pub async fn create_experiment(
    st: &AppState,
    p: &Principal,
    name: &str,
    artifact_location: Option<&str>,
    tags: Vec<Tag>,
) -> Result<i64> {
    authorize(p, Action::Write)?;
    domain::validation::check_name("name", name).map_err(|e| invalid("name", e.message))?;
    let mut tx = st.db.begin().await?;
    let id = sql::insert_experiment(&mut *tx, name, artifact_location.unwrap_or(""))
        .await
        .on_constraint("experiment_name_key", || {
            Error::Conflict(format!("an experiment named '{name}' already exists"))
        })?;
    let (keys, values) = sorted_unique(tags, "tags")?;
    sql::upsert_experiment_tags(&mut *tx, id, &keys, &values).await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn get_experiment(st: &AppState, p: &Principal, id: i64) -> Result<Experiment> {
    authorize(p, Action::Read)?;
    let row = sql::get_experiment(&st.db, id).await?.ok_or_else(|| Error::not_found("experiment", id))?;
    let mut tags = group(sql::experiment_tags(&st.db, &[id]).await?);
    Ok(experiment(row, &mut tags))
}

pub async fn get_experiment_by_name(st: &AppState, p: &Principal, name: &str) -> Result<Experiment> {
    authorize(p, Action::Read)?;
    let row = sql::get_experiment_by_name(&st.db, name)
        .await?
        .ok_or_else(|| Error::not_found("experiment", name))?;
    let mut tags = group(sql::experiment_tags(&st.db, &[row.experiment_id]).await?);
    Ok(experiment(row, &mut tags))
}

/// Experiments in id order, keyset-paged: (page, next page token).
pub async fn search_experiments(
    st: &AppState,
    p: &Principal,
    view: ViewType,
    max_results: Option<i64>,
    page_token: Option<&str>,
) -> Result<(Vec<Experiment>, Option<String>)> {
    authorize(p, Action::Read)?;
    let limit = max_results.unwrap_or(1000).clamp(1, MAX_PAGE);
    let after = match page_token.filter(|t| !t.is_empty()) {
        Some(t) => token::decode_after(t)?,
        None => 0,
    };
    let mut rows = sql::list_experiments(&st.db, &view.lifecycles(), after, limit + 1).await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| token::encode_after(r.experiment_id))
    } else {
        None
    };
    let ids: Vec<i64> = rows.iter().map(|r| r.experiment_id).collect();
    let mut tags = group(sql::experiment_tags(&st.db, &ids).await?);
    Ok((rows.into_iter().map(|r| experiment(r, &mut tags)).collect(), next))
}

pub async fn rename_experiment(st: &AppState, p: &Principal, id: i64, name: &str) -> Result<()> {
    authorize(p, Action::Write)?;
    domain::validation::check_name("new_name", name).map_err(|e| invalid("new_name", e.message))?;
    let n = sql::rename_experiment(&st.db, id, name).await.on_constraint("experiment_name_key", || {
        Error::Conflict(format!("an experiment named '{name}' already exists"))
    })?;
    if n == 0 {
        return Err(Error::not_found("experiment", id));
    }
    Ok(())
}

pub async fn set_experiment_tag(st: &AppState, p: &Principal, id: i64, tag: Tag) -> Result<()> {
    authorize(p, Action::Write)?;
    check_key("key", &tag.key)?;
    sql::get_experiment(&st.db, id).await?.ok_or_else(|| Error::not_found("experiment", id))?;
    sql::upsert_experiment_tags(&st.db, id, &[tag.key], &[tag.value]).await?;
    Ok(())
}

/// Soft delete (or restore) an experiment together with its runs, as MLflow does.
pub async fn set_experiment_deleted(st: &AppState, p: &Principal, id: i64, deleted: bool) -> Result<()> {
    authorize(p, Action::Write)?;
    let lifecycle = if deleted { "deleted" } else { "active" };
    let mut tx = st.db.begin().await?;
    if sql::set_experiment_lifecycle(&mut *tx, id, lifecycle).await? == 0 {
        return Err(Error::not_found("experiment", id));
    }
    sql::set_experiment_runs_lifecycle(&mut *tx, id, lifecycle).await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Runs

/// What `create_run` takes; name and user may also arrive as tags.
#[derive(Clone, Debug, Default)]
pub struct NewRun {
    pub experiment_id: i64,
    pub run_name: Option<String>,
    pub user_id: Option<String>,
    pub start_time: Option<i64>,
    pub tags: Vec<Tag>,
}

#[tracing::instrument(skip_all, fields(experiment.id = new.experiment_id))]
pub async fn create_run(st: &AppState, p: &Principal, new: NewRun) -> Result<Run> {
    authorize(p, Action::Write)?;
    let tag = |k: &str| new.tags.iter().find(|t| t.key == k).map(|t| t.value.clone());
    let name = new
        .run_name
        .clone()
        .filter(|n| !n.is_empty())
        .or_else(|| tag(TAG_RUN_NAME))
        .unwrap_or_else(random_name);
    let user = new
        .user_id
        .clone()
        .filter(|u| !u.is_empty())
        .or_else(|| tag(TAG_USER))
        .unwrap_or_else(|| p.username.clone());
    let mut tags = new.tags;
    if !tags.iter().any(|t| t.key == TAG_RUN_NAME) {
        tags.push(Tag { key: TAG_RUN_NAME.into(), value: name.clone() });
    }
    let (keys, values) = sorted_unique(tags, "tags")?;
    let mut tx = st.db.begin().await?;
    let exp = sql::get_experiment(&mut *tx, new.experiment_id)
        .await?
        .ok_or_else(|| Error::not_found("experiment", new.experiment_id))?;
    if exp.lifecycle != "active" {
        return Err(invalid(
            "experiment_id",
            format!("experiment {} is deleted; restore it first", exp.experiment_id),
        ));
    }
    let row =
        sql::insert_run(&mut *tx, exp.experiment_id, &name, new.start_time.unwrap_or_else(now_ms), &user)
            .await?;
    sql::upsert_tags(&mut *tx, row.run_id, &keys, &values).await?;
    tx.commit().await?;
    get_run(st, p, row.run_id).await
}

fn random_name() -> String {
    format!("run-{}", &Uuid::new_v4().simple().to_string()[..8])
}

pub async fn get_run(st: &AppState, p: &Principal, id: Uuid) -> Result<Run> {
    authorize(p, Action::Read)?;
    load_runs(st, &[id]).await?.pop().ok_or_else(|| Error::not_found("run", id.simple()))
}

/// Runs with their params, tags, latest metrics and inputs, in the order of `ids`.
async fn load_runs(st: &AppState, ids: &[Uuid]) -> Result<Vec<Run>> {
    let rows = sql::get_runs(&st.db, ids).await?;
    let mut params = group(sql::params_of(&st.db, ids).await?);
    let mut tags = group(sql::tags_of(&st.db, ids).await?);
    let mut metrics: HashMap<Uuid, Vec<Metric>> = HashMap::new();
    for MetricRow { run_id, key, value, step, timestamp } in sql::latest_metrics_of(&st.db, ids).await? {
        metrics.entry(run_id).or_default().push(Metric { key, value, step, timestamp });
    }
    let mut inputs: HashMap<Uuid, Vec<DatasetInput>> = HashMap::new();
    for r in sql::inputs_of(&st.db, ids).await? {
        let tags: Vec<Tag> = serde_json::from_value(r.tags).unwrap_or_default();
        inputs.entry(r.run_id).or_default().push(DatasetInput {
            name: r.name,
            digest: r.digest,
            source_type: r.source_type,
            source: r.source,
            schema: r.schema,
            profile: r.profile,
            tags,
        });
    }
    let mut by_id: HashMap<Uuid, RunRow> = rows.into_iter().map(|r| (r.run_id, r)).collect();
    Ok(ids
        .iter()
        .filter_map(|id| by_id.remove(id))
        .map(|r| {
            let key = r.run_id.to_string();
            Run {
                params: params.remove(&key).unwrap_or_default(),
                tags: tags.remove(&key).unwrap_or_default(),
                metrics: metrics.remove(&r.run_id).unwrap_or_default(),
                inputs: inputs.remove(&r.run_id).unwrap_or_default(),
                info: RunInfo {
                    run_id: r.run_id,
                    experiment_id: r.experiment_id,
                    run_name: r.name,
                    status: r.status,
                    start_time: r.start_time,
                    end_time: r.end_time,
                    user_id: r.user_name,
                    lifecycle: r.lifecycle,
                },
            }
        })
        .collect())
}

/// Changes status, end time or name; returns the run's info afterwards.
pub async fn update_run(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    status: Option<&str>,
    end_time: Option<i64>,
    run_name: Option<&str>,
) -> Result<RunInfo> {
    authorize(p, Action::Write)?;
    if let Some(s) = status
        && !RUN_STATUSES.contains(&s)
    {
        return Err(invalid(
            "status",
            format!("unknown status {s:?}; use one of {}", RUN_STATUSES.join(", ")),
        ));
    }
    let name = run_name.filter(|n| !n.is_empty());
    let mut tx = st.db.begin().await?;
    if sql::update_run(&mut *tx, id, status, end_time, name).await? == 0 {
        return Err(Error::not_found("run", id.simple()));
    }
    if let Some(n) = name {
        sql::upsert_tags(&mut *tx, id, &[TAG_RUN_NAME.to_string()], &[n.to_string()]).await?;
    }
    tx.commit().await?;
    Ok(get_run(st, p, id).await?.info)
}

pub async fn set_run_deleted(st: &AppState, p: &Principal, id: Uuid, deleted: bool) -> Result<()> {
    authorize(p, Action::Write)?;
    let lifecycle = if deleted { "deleted" } else { "active" };
    if sql::set_run_lifecycle(&st.db, id, lifecycle).await? == 0 {
        return Err(Error::not_found("run", id.simple()));
    }
    Ok(())
}

/// Tags sorted by key, the last value of a repeated key winning: one row per key
/// (an upsert cannot touch a row twice) and a fixed lock order.
pub(crate) fn sorted_unique(items: Vec<Tag>, field: &str) -> Result<(Vec<String>, Vec<String>)> {
    let mut map = BTreeMap::new();
    for t in items {
        check_key(field, &t.key)?;
        if t.value.len() > MAX_TAG_VALUE {
            return Err(invalid(
                field,
                format!("the value of {:?} is longer than {MAX_TAG_VALUE} bytes", t.key),
            ));
        }
        map.insert(t.key, t.value);
    }
    Ok(map.into_iter().unzip())
}

/// Params checked (key, value length) and sorted by key; a key repeated in one
/// request must repeat its value. Shared by runs and logged models.
pub(crate) fn unique_params(params: Vec<Param>) -> Result<(Vec<String>, Vec<String>)> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for p in params {
        check_key("params", &p.key)?;
        if p.value.len() > MAX_PARAM_VALUE {
            return Err(invalid(
                "params",
                format!("the value of {:?} is longer than {MAX_PARAM_VALUE} bytes", p.key),
            ));
        }
        if let Some(old) = map.get(&p.key)
            && *old != p.value
        {
            return Err(invalid(
                "params",
                format!("param {:?} appears twice with different values ({old:?}, {:?})", p.key, p.value),
            ));
        }
        map.insert(p.key, p.value);
    }
    Ok(map.into_iter().unzip())
}

/// Logs metrics, params and tags into a run, all or nothing, in one transaction:
/// a param that exists with another value rejects the whole batch.
#[tracing::instrument(skip_all, fields(run.id = %run_id, metrics = metrics.len()))]
pub async fn log_batch(
    st: &AppState,
    p: &Principal,
    run_id: Uuid,
    metrics: Vec<Metric>,
    params: Vec<Param>,
    tags: Vec<Tag>,
) -> Result<()> {
    authorize(p, Action::Write)?;
    if metrics.len() > MAX_BATCH_METRICS || params.len() > MAX_BATCH_PARAMS || tags.len() > MAX_BATCH_TAGS {
        return Err(invalid(
            "batch",
            format!(
                "a batch takes at most {MAX_BATCH_METRICS} metrics, {MAX_BATCH_PARAMS} params and {MAX_BATCH_TAGS} tags; got {}, {}, {}",
                metrics.len(),
                params.len(),
                tags.len()
            ),
        ));
    }
    let (param_keys, param_values) = unique_params(params)?;
    let (tag_keys, tag_values) = sorted_unique(tags, "tags")?;

    let mut keys = Vec::with_capacity(metrics.len());
    let mut values = Vec::with_capacity(metrics.len());
    let mut steps = Vec::with_capacity(metrics.len());
    let mut stamps = Vec::with_capacity(metrics.len());
    // The batch's latest point per key, sorted by key (the upsert's lock order).
    let mut latest: BTreeMap<&str, (i64, i64, f64)> = BTreeMap::new();
    for m in &metrics {
        check_key("metrics", &m.key)?;
        let point = (m.step, m.timestamp, m.value);
        latest
            .entry(m.key.as_str())
            .and_modify(|cur| {
                if (point.0, point.1) >= (cur.0, cur.1) {
                    *cur = point;
                }
            })
            .or_insert(point);
    }
    let mut l_keys = Vec::with_capacity(latest.len());
    let mut l_values = Vec::with_capacity(latest.len());
    let mut l_steps = Vec::with_capacity(latest.len());
    let mut l_stamps = Vec::with_capacity(latest.len());
    for (k, (s, t, v)) in latest {
        l_keys.push(k.to_string());
        l_values.push(v);
        l_steps.push(s);
        l_stamps.push(t);
    }
    for m in metrics {
        keys.push(m.key);
        values.push(m.value);
        steps.push(m.step);
        stamps.push(m.timestamp);
    }

    let mut tx = st.db.begin().await?;
    match sql::run_lifecycle_for_write(&mut *tx, run_id).await? {
        None => return Err(Error::not_found("run", run_id.simple())),
        Some(l) if l != "active" => {
            return Err(invalid(
                "run_id",
                format!("run {} is deleted; restore it before logging", run_id.simple()),
            ));
        }
        Some(_) => {}
    }
    if !param_keys.is_empty() {
        sql::insert_params(&mut *tx, run_id, &param_keys, &param_values).await?;
        let clashes = sql::conflicting_params(&mut *tx, run_id, &param_keys, &param_values).await?;
        if let Some((key, stored, given)) = clashes.into_iter().next() {
            return Err(invalid(
                "params",
                format!(
                    "param {key:?} was already logged for run {} with value {stored:?}; params cannot change (got {given:?})",
                    run_id.simple()
                ),
            ));
        }
    }
    if !tag_keys.is_empty() {
        sql::upsert_tags(&mut *tx, run_id, &tag_keys, &tag_values).await?;
    }
    if !keys.is_empty() {
        sql::insert_metrics(&mut *tx, run_id, &keys, &values, &steps, &stamps).await?;
        sql::upsert_latest(&mut *tx, run_id, &l_keys, &l_values, &l_steps, &l_stamps).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn delete_tag(st: &AppState, p: &Principal, run_id: Uuid, key: &str) -> Result<()> {
    authorize(p, Action::Write)?;
    if sql::get_runs(&st.db, &[run_id]).await?.is_empty() {
        return Err(Error::not_found("run", run_id.simple()));
    }
    if sql::delete_tag(&st.db, run_id, key).await? == 0 {
        return Err(Error::not_found("tag", key));
    }
    Ok(())
}

pub async fn log_inputs(st: &AppState, p: &Principal, run_id: Uuid, inputs: Vec<DatasetInput>) -> Result<()> {
    authorize(p, Action::Write)?;
    let mut tx = st.db.begin().await?;
    if sql::run_lifecycle_for_write(&mut *tx, run_id).await?.is_none() {
        return Err(Error::not_found("run", run_id.simple()));
    }
    for i in inputs {
        if i.name.is_empty() || i.digest.is_empty() {
            return Err(invalid("datasets", "every dataset needs a name and a digest"));
        }
        let row = sql::InputRow {
            run_id,
            name: i.name,
            digest: i.digest,
            source_type: i.source_type,
            source: i.source,
            schema: i.schema,
            profile: i.profile,
            tags: serde_json::to_value(&i.tags).map_err(anyhow::Error::from)?,
        };
        sql::insert_input(&mut *tx, run_id, &row).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One metric's history in step order, keyset-paged.
pub async fn metric_history(
    st: &AppState,
    p: &Principal,
    run_id: Uuid,
    key: &str,
    max_results: Option<i64>,
    page_token: Option<&str>,
) -> Result<MetricHistory> {
    authorize(p, Action::Read)?;
    if sql::get_runs(&st.db, &[run_id]).await?.is_empty() {
        return Err(Error::not_found("run", run_id.simple()));
    }
    let limit = max_results.unwrap_or(100_000).clamp(1, 1_000_000);
    let after = match page_token.filter(|t| !t.is_empty()) {
        Some(t) => token::decode_pair(t)?,
        None => (i64::MIN, i64::MIN),
    };
    let mut rows = sql::history(&st.db, run_id, key, after, limit + 1).await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| token::encode_pair(r.step, r.metric_id))
    } else {
        None
    };
    Ok(MetricHistory {
        metrics: rows
            .into_iter()
            .map(|r| Metric { key: r.key, value: r.value, step: r.step, timestamp: r.timestamp })
            .collect(),
        next_page_token: next,
    })
}

/// Runs of the given experiments matching `q.filter`, in `q.order_by` order.
#[tracing::instrument(skip_all)]
pub async fn search_runs(
    st: &AppState,
    p: &Principal,
    experiment_ids: &[i64],
    q: &RunSearch,
) -> Result<RunPage> {
    authorize(p, Action::Read)?;
    let clauses = filter::parse(q.filter.as_deref().unwrap_or(""))?;
    let order: Vec<Sort> = q.order_by.iter().map(|o| filter::parse_order(o)).collect::<Result<_, _>>()?;
    let limit = q.max_results.unwrap_or(1000).clamp(1, MAX_PAGE);
    // Keyset pages when the order allows it (default order, or one metric/param/tag
    // key), so deep pages of a large experiment cost the same as the first; offsets
    // otherwise.
    let keyset = order.is_empty() || (order.len() == 1 && order[0].0 != filter::Entity::Attribute);
    let (offset, after) = match q.page_token.as_deref().filter(|t| !t.is_empty()) {
        None => (0, None),
        Some(t) => match token::decode_keyset(t)? {
            Some(k) if keyset => (0, Some(k)),
            Some(_) => return Err(invalid("page_token", "this page token belongs to another sort order")),
            None => (token::decode_after(t)?, None),
        },
    };
    let query = RunQuery {
        experiment_ids,
        lifecycles: &q.view_type.lifecycles(),
        clauses: &clauses,
        order: &order,
        offset,
        after: after.as_ref(),
        limit: limit + 1,
    };
    let mut hits = crate::db::tracking_search::search_runs(&st.db, &query).await?;
    let next = if hits.len() as i64 > limit {
        hits.truncate(limit as usize);
        match hits.last() {
            Some(h) if keyset => Some(token::encode_keyset(&token::Keyset {
                value: match (h.sort_num, &h.sort_text) {
                    (Some(v), _) => token::SortValue::Num(v),
                    (None, Some(s)) => token::SortValue::Text(s.clone()),
                    (None, None) => token::SortValue::Null,
                },
                start_time: h.start_time,
                run_id: h.run_id,
            })),
            _ => Some(token::encode_after(offset + limit)),
        }
    } else {
        None
    };
    let ids: Vec<Uuid> = hits.iter().map(|h| h.run_id).collect();
    Ok(RunPage { runs: load_runs(st, &ids).await?, next_page_token: next })
}
