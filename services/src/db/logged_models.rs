//! SQL for MLflow 3 logged models, their tags and params, and the models a run output.

use sqlx::PgExecutor;
use uuid::Uuid;

pub struct LoggedModelRow {
    pub logged_model_id: Uuid,
    pub experiment_id: i64,
    pub name: String,
    pub source_run_id: Option<Uuid>,
    pub status: String,
    pub status_message: String,
    pub model_type: String,
    pub lifecycle: String,
    pub creation_time: i64,
    pub update_time: i64,
}

pub struct ModelKeyValueRow {
    pub logged_model_id: Uuid,
    pub key: String,
    pub value: String,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    experiment_id: i64,
    name: &str,
    source_run_id: Option<Uuid>,
    model_type: &str,
    now_ms: i64,
) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        "insert into logged_model (experiment_id, name, source_run_id, model_type, creation_time, update_time)
         values ($1, $2, $3, $4, $5, $5) returning logged_model_id",
        experiment_id,
        name,
        source_run_id,
        model_type,
        now_ms
    )
    .fetch_one(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<LoggedModelRow>> {
    sqlx::query_as!(
        LoggedModelRow,
        "select logged_model_id, experiment_id, name, source_run_id, status, status_message, model_type,
                lifecycle, creation_time, update_time
         from logged_model where logged_model_id = any($1)",
        ids
    )
    .fetch_all(db)
    .await
}

/// Active models of the given experiments, newest first (the order MLflow lists them
/// in); the caller filters and pages.
pub async fn of_experiments(
    db: impl PgExecutor<'_>,
    experiment_ids: &[i64],
) -> sqlx::Result<Vec<LoggedModelRow>> {
    sqlx::query_as!(
        LoggedModelRow,
        "select logged_model_id, experiment_id, name, source_run_id, status, status_message, model_type,
                lifecycle, creation_time, update_time
         from logged_model where experiment_id = any($1) and lifecycle = 'active'
         order by creation_time desc, logged_model_id",
        experiment_ids
    )
    .fetch_all(db)
    .await
}

/// Locks the model row (shared) so it is not deleted under a write; its lifecycle.
pub async fn lifecycle_for_write(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("select lifecycle from logged_model where logged_model_id = $1 for key share", id)
        .fetch_optional(db)
        .await
}

pub async fn set_status(db: impl PgExecutor<'_>, id: Uuid, status: &str, now_ms: i64) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "update logged_model set status = $2, update_time = $3 where logged_model_id = $1",
        id,
        status,
        now_ms
    )
    .execute(db)
    .await?
    .rows_affected())
}

pub async fn set_lifecycle(
    db: impl PgExecutor<'_>,
    id: Uuid,
    lifecycle: &str,
    now_ms: i64,
) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "update logged_model set lifecycle = $2, update_time = $3 where logged_model_id = $1",
        id,
        lifecycle,
        now_ms
    )
    .execute(db)
    .await?
    .rows_affected())
}

pub async fn touch(db: impl PgExecutor<'_>, id: Uuid, now_ms: i64) -> sqlx::Result<()> {
    sqlx::query!("update logged_model set update_time = $2 where logged_model_id = $1", id, now_ms)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn upsert_tags(
    db: impl PgExecutor<'_>,
    id: Uuid,
    keys: &[String],
    values: &[String],
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into logged_model_tag (logged_model_id, key, value)
         select $1, k, v from unnest($2::text[], $3::text[]) as t(k, v)
         on conflict (logged_model_id, key) do update set value = excluded.value",
        id,
        keys,
        values
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn delete_tag(db: impl PgExecutor<'_>, id: Uuid, key: &str) -> sqlx::Result<u64> {
    Ok(sqlx::query!("delete from logged_model_tag where logged_model_id = $1 and key = $2", id, key)
        .execute(db)
        .await?
        .rows_affected())
}

/// Inserts params that are not there yet; existing keys keep their value (the caller
/// compares with [`conflicting_params`]).
pub async fn insert_params(
    db: impl PgExecutor<'_>,
    id: Uuid,
    keys: &[String],
    values: &[String],
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into logged_model_param (logged_model_id, key, value)
         select $1, k, v from unnest($2::text[], $3::text[]) as t(k, v)
         on conflict (logged_model_id, key) do nothing",
        id,
        keys,
        values
    )
    .execute(db)
    .await?;
    Ok(())
}

/// (key, stored value, given value) for params already set to another value.
pub async fn conflicting_params(
    db: impl PgExecutor<'_>,
    id: Uuid,
    keys: &[String],
    values: &[String],
) -> sqlx::Result<Vec<(String, String, String)>> {
    let rows = sqlx::query!(
        r#"select p.key as "key!", p.value as "stored!", t.v as "given!"
           from unnest($2::text[], $3::text[]) as t(k, v)
           join logged_model_param p on p.logged_model_id = $1 and p.key = t.k
           where p.value <> t.v order by p.key"#,
        id,
        keys,
        values
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.key, r.stored, r.given)).collect())
}

pub async fn tags_of(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<ModelKeyValueRow>> {
    sqlx::query_as!(
        ModelKeyValueRow,
        "select logged_model_id, key, value from logged_model_tag where logged_model_id = any($1) order by key",
        ids
    )
    .fetch_all(db)
    .await
}

pub async fn params_of(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<ModelKeyValueRow>> {
    sqlx::query_as!(
        ModelKeyValueRow,
        "select logged_model_id, key, value from logged_model_param where logged_model_id = any($1) order by key",
        ids
    )
    .fetch_all(db)
    .await
}

pub async fn insert_outputs(
    db: impl PgExecutor<'_>,
    run: Uuid,
    models: &[Uuid],
    steps: &[i64],
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into run_model_output (run_id, logged_model_id, step)
         select $1, m, s from unnest($2::uuid[], $3::bigint[]) as t(m, s)
         on conflict (run_id, logged_model_id) do update set step = excluded.step",
        run,
        models,
        steps
    )
    .execute(db)
    .await?;
    Ok(())
}
