//! SQL for serving: endpoints and routes, the configuration serving processes load
//! (routes resolved through aliases to versions and bundles), the serving log and its
//! day partitions, and feedback labels. The registry's tables are only read here.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// The counter every change a serving process must see bumps (migration 11).
pub async fn generation(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar!("select value from serving_generation").fetch_one(db).await
}

/// One route of one endpoint, resolved to the version it serves now.
pub struct ConfigRow {
    pub endpoint_id: Uuid,
    pub name: String,
    pub log_sample_rate: f64,
    pub model_name: String,
    pub position: i16,
    pub alias: Option<String>,
    pub pinned: bool,
    pub traffic_percent: i16,
    pub shadow: bool,
    pub model_version_id: Option<Uuid>,
    pub version: Option<i32>,
    pub format: Option<String>,
    pub not_servable_reason: Option<String>,
    pub bundle_path: Option<String>,
    pub status: Option<String>,
}

/// Every endpoint's routes (or one endpoint's), resolved (aliases to versions), in
/// route order.
pub async fn config(db: impl PgExecutor<'_>, only: Option<Uuid>) -> sqlx::Result<Vec<ConfigRow>> {
    sqlx::query_as!(
        ConfigRow,
        r#"select e.endpoint_id, e.name, e.log_sample_rate, rm.name as model_name,
                  r.position, r.alias, (r.model_version_id is not null) as "pinned!",
                  r.traffic_percent, r.shadow,
                  mv.model_version_id as "model_version_id?", mv.version as "version?",
                  mv.format as "format?", mv.not_servable_reason, mv.bundle_path,
                  mv.status as "status?"
           from endpoint e
           join registered_model rm on rm.registered_model_id = e.registered_model_id
           join endpoint_route r on r.endpoint_id = e.endpoint_id
           left join model_alias a
                  on r.alias is not null and a.registered_model_id = e.registered_model_id and a.alias = r.alias
           left join model_version mv on mv.model_version_id = coalesce(r.model_version_id, a.model_version_id)
           where $1::uuid is null or e.endpoint_id = $1
           order by e.endpoint_id, r.position"#,
        only
    )
    .fetch_all(db)
    .await
}

pub struct EndpointRow {
    pub endpoint_id: Uuid,
    pub name: String,
    pub description: String,
    pub registered_model_id: Uuid,
    pub model_name: String,
    pub log_sample_rate: f64,
    pub created_by_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn list(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<EndpointRow>> {
    sqlx::query_as!(
        EndpointRow,
        r#"select e.endpoint_id, e.name, e.description, e.registered_model_id, rm.name as model_name,
                  e.log_sample_rate, u.username as "created_by_name?", e.created_at, e.updated_at
           from endpoint e
           join registered_model rm on rm.registered_model_id = e.registered_model_id
           left join app_user u on u.user_id = e.created_by
           order by lower(e.name)"#
    )
    .fetch_all(db)
    .await
}

pub async fn by_name(db: impl PgExecutor<'_>, name: &str) -> sqlx::Result<Option<EndpointRow>> {
    sqlx::query_as!(
        EndpointRow,
        r#"select e.endpoint_id, e.name, e.description, e.registered_model_id, rm.name as model_name,
                  e.log_sample_rate, u.username as "created_by_name?", e.created_at, e.updated_at
           from endpoint e
           join registered_model rm on rm.registered_model_id = e.registered_model_id
           left join app_user u on u.user_id = e.created_by
           where lower(e.name) = lower($1)"#,
        name
    )
    .fetch_optional(db)
    .await
}

/// The endpoint's row, locked for a change of its routes.
pub async fn lock(conn: &mut PgConnection, endpoint_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!("select 1 as one from endpoint where endpoint_id = $1 for update", endpoint_id)
        .fetch_optional(conn)
        .await?;
    Ok(())
}

pub struct NewEndpointRow<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub registered_model_id: Uuid,
    pub project_id: Uuid,
    pub log_sample_rate: f64,
    pub created_by: Uuid,
}

pub async fn insert(db: impl PgExecutor<'_>, n: &NewEndpointRow<'_>) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        "insert into endpoint (name, description, registered_model_id, project_id, log_sample_rate, created_by)
         values ($1, $2, $3, $4, $5, $6) returning endpoint_id",
        n.name,
        n.description,
        n.registered_model_id,
        n.project_id,
        n.log_sample_rate,
        n.created_by
    )
    .fetch_one(db)
    .await
}

pub async fn update(
    db: impl PgExecutor<'_>,
    endpoint_id: Uuid,
    description: Option<&str>,
    log_sample_rate: Option<f64>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update endpoint set description = coalesce($2, description),
                log_sample_rate = coalesce($3, log_sample_rate), updated_at = now()
         where endpoint_id = $1",
        endpoint_id,
        description,
        log_sample_rate
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn delete(db: impl PgExecutor<'_>, endpoint_id: Uuid) -> sqlx::Result<u64> {
    Ok(sqlx::query!("delete from endpoint where endpoint_id = $1", endpoint_id)
        .execute(db)
        .await?
        .rows_affected())
}

/// A route to store: an alias or a pinned version id.
pub struct NewRoute {
    pub alias: Option<String>,
    pub model_version_id: Option<Uuid>,
    pub traffic_percent: i16,
    pub shadow: bool,
}

/// Replaces every route of the endpoint.
pub async fn replace_routes(
    conn: &mut PgConnection,
    endpoint_id: Uuid,
    routes: &[NewRoute],
) -> sqlx::Result<()> {
    sqlx::query!("delete from endpoint_route where endpoint_id = $1", endpoint_id)
        .execute(&mut *conn)
        .await?;
    let positions: Vec<i16> = (0..routes.len()).map(|i| i as i16).collect();
    let aliases: Vec<Option<String>> = routes.iter().map(|r| r.alias.clone()).collect();
    let versions: Vec<Option<Uuid>> = routes.iter().map(|r| r.model_version_id).collect();
    let percents: Vec<i16> = routes.iter().map(|r| r.traffic_percent).collect();
    let shadows: Vec<bool> = routes.iter().map(|r| r.shadow).collect();
    sqlx::query!(
        "insert into endpoint_route (endpoint_id, position, alias, model_version_id, traffic_percent, shadow)
         select $1, p, a, v, t, s
         from unnest($2::smallint[], $3::text[], $4::uuid[], $5::smallint[], $6::bool[]) as r(p, a, v, t, s)",
        endpoint_id,
        &positions,
        &aliases as &[Option<String>],
        &versions as &[Option<Uuid>],
        &percents,
        &shadows
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A registered model found by name for an endpoint.
pub struct ModelRow {
    pub registered_model_id: Uuid,
    pub project_id: Uuid,
    pub name: String,
}

pub async fn model_by_name(db: impl PgExecutor<'_>, name: &str) -> sqlx::Result<Vec<ModelRow>> {
    sqlx::query_as!(
        ModelRow,
        "select registered_model_id, project_id, name from registered_model where lower(name) = lower($1)
         order by created_at limit 2",
        name
    )
    .fetch_all(db)
    .await
}

pub struct VersionRow {
    pub model_version_id: Uuid,
    pub version: i32,
    pub format: String,
    pub not_servable_reason: Option<String>,
    pub bundle_path: Option<String>,
}

pub async fn version(
    db: impl PgExecutor<'_>,
    registered_model_id: Uuid,
    version: i32,
) -> sqlx::Result<Option<VersionRow>> {
    sqlx::query_as!(
        VersionRow,
        "select model_version_id, version, format, not_servable_reason, bundle_path
         from model_version where registered_model_id = $1 and version = $2",
        registered_model_id,
        version
    )
    .fetch_optional(db)
    .await
}

/// The version an alias of a model points at.
pub async fn alias_version(
    db: impl PgExecutor<'_>,
    registered_model_id: Uuid,
    alias: &str,
) -> sqlx::Result<Option<VersionRow>> {
    sqlx::query_as!(
        VersionRow,
        "select mv.model_version_id, mv.version, mv.format, mv.not_servable_reason, mv.bundle_path
         from model_alias a join model_version mv on mv.model_version_id = a.model_version_id
         where a.registered_model_id = $1 and a.alias = $2",
        registered_model_id,
        alias
    )
    .fetch_optional(db)
    .await
}

/// A version's bundle, for batch prediction.
pub async fn version_by_id(
    db: impl PgExecutor<'_>,
    model_version_id: Uuid,
) -> sqlx::Result<Option<VersionRow>> {
    sqlx::query_as!(
        VersionRow,
        "select model_version_id, version, format, not_servable_reason, bundle_path
         from model_version where model_version_id = $1",
        model_version_id
    )
    .fetch_optional(db)
    .await
}

/// The newest version of a model.
pub async fn latest_version(
    db: impl PgExecutor<'_>,
    registered_model_id: Uuid,
) -> sqlx::Result<Option<VersionRow>> {
    sqlx::query_as!(
        VersionRow,
        "select model_version_id, version, format, not_servable_reason, bundle_path
         from model_version where registered_model_id = $1 order by version desc limit 1",
        registered_model_id
    )
    .fetch_optional(db)
    .await
}

/// Version numbers of the given version ids.
pub async fn version_numbers(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, i32)>> {
    let rows = sqlx::query!(
        "select model_version_id, version from model_version where model_version_id = any($1)",
        ids
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.model_version_id, r.version)).collect())
}

// ---------------------------------------------------------------------------
// The serving log.

pub struct NewLogRow<'a> {
    pub endpoint_id: Uuid,
    pub model_version_id: Uuid,
    pub shadow: bool,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub requests: i32,
    pub errors: i32,
    pub row_count: i32,
    pub latency_hist: &'a [i32],
    pub latency_sum_us: i64,
    pub request_data: &'a [u8],
    pub row_data: &'a [u8],
    pub summary: &'a Value,
}

pub async fn insert_log(db: impl PgExecutor<'_>, n: &NewLogRow<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into serving_log (endpoint_id, model_version_id, shadow, started_at, ended_at, requests, errors,
                                  row_count, latency_hist, latency_sum_us, request_data, row_data, summary)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        n.endpoint_id,
        n.model_version_id,
        n.shadow,
        n.started_at,
        n.ended_at,
        n.requests,
        n.errors,
        n.row_count,
        n.latency_hist,
        n.latency_sum_us,
        n.request_data,
        n.row_data,
        n.summary
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The partition holding one UTC day.
pub fn partition_name(day: NaiveDate) -> String {
    format!("serving_log_{}", day.format("%Y%m%d"))
}

/// Creates the day's partition if it does not exist. DDL cannot take bind
/// parameters; the name and bounds come from a date, never from input.
pub async fn create_partition(db: &sqlx::PgPool, day: NaiveDate) -> sqlx::Result<()> {
    let next = day.succ_opt().unwrap_or(day);
    let sql = format!(
        "create table if not exists {} partition of serving_log for values from ('{} 00:00:00+00') to ('{} 00:00:00+00')",
        partition_name(day),
        day.format("%Y-%m-%d"),
        next.format("%Y-%m-%d")
    );
    sqlx::raw_sql(&sql).execute(db).await?;
    Ok(())
}

/// The days that have a partition.
pub async fn partition_days(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<NaiveDate>> {
    let names = sqlx::query_scalar!(
        r#"select c.relname::text as "name!" from pg_inherits i join pg_class c on c.oid = i.inhrelid
           where i.inhparent = 'serving_log'::regclass"#
    )
    .fetch_all(db)
    .await?;
    Ok(names
        .iter()
        .filter_map(|n| n.strip_prefix("serving_log_"))
        .filter_map(|d| NaiveDate::parse_from_str(d, "%Y%m%d").ok())
        .collect())
}

pub async fn drop_partition(db: &sqlx::PgPool, day: NaiveDate) -> sqlx::Result<()> {
    sqlx::raw_sql(&format!("drop table if exists {}", partition_name(day))).execute(db).await?;
    Ok(())
}

/// A log row's columnar payload.
pub struct LogData {
    pub model_version_id: Uuid,
    pub shadow: bool,
    pub started_at: DateTime<Utc>,
    pub request_data: Vec<u8>,
    pub row_data: Vec<u8>,
}

/// Log rows that started in `[from, to)`, oldest first.
pub async fn log_window(
    db: impl PgExecutor<'_>,
    endpoint_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Vec<LogData>> {
    sqlx::query_as!(
        LogData,
        "select model_version_id, shadow, started_at, request_data, row_data from serving_log
         where endpoint_id = $1 and started_at >= $2 and started_at < $3
         order by started_at",
        endpoint_id,
        from,
        to
    )
    .fetch_all(db)
    .await
}

/// The newest log rows holding at least `requests` requests (up to `max_rows` rows).
pub async fn recent_logs(
    db: impl PgExecutor<'_>,
    endpoint_id: Uuid,
    max_rows: i64,
) -> sqlx::Result<Vec<(LogData, i32)>> {
    let rows = sqlx::query!(
        "select model_version_id, shadow, started_at, request_data, row_data, requests from serving_log
         where endpoint_id = $1 order by started_at desc, serving_log_id desc limit $2",
        endpoint_id,
        max_rows
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                LogData {
                    model_version_id: r.model_version_id,
                    shadow: r.shadow,
                    started_at: r.started_at,
                    request_data: r.request_data,
                    row_data: r.row_data,
                },
                r.requests,
            )
        })
        .collect())
}

pub struct StatsRow {
    pub minute: DateTime<Utc>,
    pub model_version_id: Uuid,
    pub shadow: bool,
    pub requests: i32,
    pub errors: i32,
    pub latency_sum_us: i64,
    pub latency_hist: Vec<i32>,
}

/// The counts and latency histograms of the log rows in `[from, to)`, by minute.
pub async fn stats_rows(
    db: impl PgExecutor<'_>,
    endpoint_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Vec<StatsRow>> {
    sqlx::query_as!(
        StatsRow,
        r#"select date_trunc('minute', started_at) as "minute!", model_version_id, shadow, requests, errors,
                  latency_sum_us, latency_hist
           from serving_log where endpoint_id = $1 and started_at >= $2 and started_at < $3
           order by started_at"#,
        endpoint_id,
        from,
        to
    )
    .fetch_all(db)
    .await
}

/// Stores labels, replacing earlier ones for the same request ids.
pub async fn upsert_feedback(
    db: impl PgExecutor<'_>,
    endpoint_id: Uuid,
    request_ids: &[String],
    labels: &[Value],
    created_by: Uuid,
) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "insert into serving_feedback (endpoint_id, request_id, label, created_by)
         select $1, r, l, $4 from unnest($2::text[], $3::jsonb[]) as f(r, l)
         on conflict (endpoint_id, request_id) do update set label = excluded.label, created_by = excluded.created_by",
        endpoint_id,
        request_ids,
        labels,
        created_by
    )
    .execute(db)
    .await?
    .rows_affected())
}

pub struct FeedbackRow {
    pub request_id: String,
    pub label: Value,
}

pub async fn feedback(db: impl PgExecutor<'_>, endpoint_id: Uuid) -> sqlx::Result<Vec<FeedbackRow>> {
    sqlx::query_as!(
        FeedbackRow,
        "select request_id, label from serving_feedback where endpoint_id = $1 order by request_id",
        endpoint_id
    )
    .fetch_all(db)
    .await
}

// ---------------------------------------------------------------------------
// Stand-in for the registry's writes (services::registry, being written in
// parallel): used only by `serving::fixture`, for tests and the benchmark.

pub async fn fixture_model(db: impl PgExecutor<'_>, name: &str) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        "insert into registered_model (name) values ($1)
         on conflict (project_id, lower(name)) do update set name = excluded.name
         returning registered_model_id",
        name
    )
    .fetch_one(db)
    .await
}

pub async fn fixture_version(
    db: impl PgExecutor<'_>,
    registered_model_id: Uuid,
    format: &str,
    not_servable_reason: Option<&str>,
    bundle_path: Option<&str>,
    signature: Option<&Value>,
) -> sqlx::Result<(Uuid, i32)> {
    let r = sqlx::query!(
        "insert into model_version (registered_model_id, version, source_kind, format, not_servable_reason,
                                    bundle_path, signature)
         select $1, coalesce(max(version), 0) + 1, 'upload', $2, $3, $4, $5
         from model_version where registered_model_id = $1
         returning model_version_id, version",
        registered_model_id,
        format,
        not_servable_reason,
        bundle_path,
        signature
    )
    .fetch_one(db)
    .await?;
    Ok((r.model_version_id, r.version))
}

pub async fn fixture_set_alias(
    db: impl PgExecutor<'_>,
    registered_model_id: Uuid,
    alias: &str,
    model_version_id: Uuid,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into model_alias (registered_model_id, alias, model_version_id) values ($1, $2, $3)
         on conflict (registered_model_id, alias) do update set model_version_id = excluded.model_version_id",
        registered_model_id,
        alias,
        model_version_id
    )
    .execute(db)
    .await?;
    Ok(())
}
