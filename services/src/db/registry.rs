//! SQL for the model registry: registered models, versions, aliases, their history
//! and promotion requests with their reviews.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::tracking::KeyValueRow;

pub struct ModelRow {
    pub registered_model_id: Uuid,
    pub name: String,
    pub description: String,
    pub protected_aliases: Vec<String>,
    pub required_approvals: i16,
    pub require_gates: bool,
    pub created_by_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub latest_version: Option<i32>,
    pub version_count: i64,
    pub pending_requests: i64,
}

pub struct NewModelRow<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub protected_aliases: &'a [String],
    pub required_approvals: i16,
    pub require_gates: bool,
    pub created_by: Uuid,
}

pub async fn insert_model(conn: &mut PgConnection, m: &NewModelRow<'_>) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        "insert into registered_model (name, description, protected_aliases, required_approvals, require_gates, created_by)
         values ($1, $2, $3, $4, $5, $6) returning registered_model_id",
        m.name,
        m.description,
        m.protected_aliases,
        m.required_approvals,
        m.require_gates,
        m.created_by
    )
    .fetch_one(conn)
    .await
}

/// Models whose name contains `like` (case-insensitive), by name, or one by id or name.
pub async fn select_models(
    db: impl PgExecutor<'_>,
    id: Option<Uuid>,
    name: Option<&str>,
    like: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<ModelRow>> {
    sqlx::query_as!(
        ModelRow,
        r#"select m.registered_model_id, m.name, m.description, m.protected_aliases, m.required_approvals,
                  m.require_gates, u.username as "created_by_name?", m.created_at, m.updated_at,
                  (select max(version) from model_version v where v.registered_model_id = m.registered_model_id) as latest_version,
                  (select count(*) from model_version v where v.registered_model_id = m.registered_model_id) as "version_count!",
                  (select count(*) from promotion_request r
                    where r.registered_model_id = m.registered_model_id and r.state = 'pending') as "pending_requests!"
             from registered_model m left join app_user u on u.user_id = m.created_by
            where ($1::uuid is null or m.registered_model_id = $1)
              and ($2::text is null or lower(m.name) = lower($2))
              and ($3::text is null or m.name ilike '%' || $3 || '%')
            order by lower(m.name)
            limit $4"#,
        id,
        name,
        like,
        limit
    )
    .fetch_all(db)
    .await
}

/// Locks a model's row: version numbers are dense and aliases move one at a time.
pub async fn lock_model(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    Ok(sqlx::query_scalar!(
        "select 1 as one from registered_model where registered_model_id = $1 for update",
        id
    )
    .fetch_optional(conn)
    .await?
    .is_some())
}

pub async fn update_model(
    conn: &mut PgConnection,
    id: Uuid,
    description: Option<&str>,
    protected_aliases: Option<&[String]>,
    required_approvals: Option<i16>,
    require_gates: Option<bool>,
) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "update registered_model set description = coalesce($2, description),
                protected_aliases = coalesce($3, protected_aliases),
                required_approvals = coalesce($4, required_approvals),
                require_gates = coalesce($5, require_gates)
          where registered_model_id = $1",
        id,
        description,
        protected_aliases,
        required_approvals,
        require_gates
    )
    .execute(conn)
    .await?
    .rows_affected())
}

pub async fn rename_model(conn: &mut PgConnection, id: Uuid, name: &str) -> sqlx::Result<u64> {
    Ok(sqlx::query!("update registered_model set name = $2 where registered_model_id = $1", id, name)
        .execute(conn)
        .await?
        .rows_affected())
}

pub async fn delete_model(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<u64> {
    // Aliases restrict version deletes; a model's own delete takes them first.
    sqlx::query!("delete from model_alias where registered_model_id = $1", id).execute(&mut *conn).await?;
    Ok(sqlx::query!("delete from registered_model where registered_model_id = $1", id)
        .execute(conn)
        .await?
        .rows_affected())
}

pub async fn model_tags_of(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<KeyValueRow>> {
    sqlx::query_as!(
        KeyValueRow,
        r#"select registered_model_id::text as "owner!", key, value from registered_model_tag
            where registered_model_id = any($1) order by key"#,
        ids
    )
    .fetch_all(db)
    .await
}

pub async fn set_model_tag(conn: &mut PgConnection, id: Uuid, key: &str, value: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into registered_model_tag (registered_model_id, key, value) values ($1, $2, $3)
         on conflict (registered_model_id, key) do update set value = excluded.value",
        id,
        key,
        value
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_model_tag(conn: &mut PgConnection, id: Uuid, key: &str) -> sqlx::Result<u64> {
    Ok(sqlx::query!("delete from registered_model_tag where registered_model_id = $1 and key = $2", id, key)
        .execute(conn)
        .await?
        .rows_affected())
}

pub struct AliasRow {
    pub registered_model_id: Uuid,
    pub alias: String,
    pub model_version_id: Uuid,
    pub version: i32,
    pub updated_at: DateTime<Utc>,
}

pub async fn aliases_of(db: impl PgExecutor<'_>, models: &[Uuid]) -> sqlx::Result<Vec<AliasRow>> {
    sqlx::query_as!(
        AliasRow,
        "select a.registered_model_id, a.alias, a.model_version_id, v.version, a.updated_at
           from model_alias a join model_version v using (model_version_id)
          where a.registered_model_id = any($1) order by a.alias",
        models
    )
    .fetch_all(db)
    .await
}

/// The version an alias points at, locking the alias row for a move.
pub async fn alias_for_update(
    conn: &mut PgConnection,
    model: Uuid,
    alias: &str,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "select model_version_id from model_alias where registered_model_id = $1 and lower(alias) = lower($2) for update",
        model,
        alias
    )
    .fetch_optional(conn)
    .await
}

pub async fn upsert_alias(
    conn: &mut PgConnection,
    model: Uuid,
    alias: &str,
    version: Uuid,
    by: Uuid,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into model_alias (registered_model_id, alias, model_version_id, updated_by) values ($1, $2, $3, $4)
         on conflict (registered_model_id, alias)
         do update set model_version_id = excluded.model_version_id, updated_by = excluded.updated_by, updated_at = now()",
        model,
        alias,
        version,
        by
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_alias(conn: &mut PgConnection, model: Uuid, alias: &str) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "delete from model_alias where registered_model_id = $1 and lower(alias) = lower($2)",
        model,
        alias
    )
    .execute(conn)
    .await?
    .rows_affected())
}

pub struct NewAliasEvent<'a> {
    pub model: Uuid,
    pub alias: &'a str,
    pub from: Option<Uuid>,
    pub to: Option<Uuid>,
    pub reason: &'a str,
    pub request: Option<Uuid>,
    pub actor: Uuid,
}

pub async fn insert_alias_event(conn: &mut PgConnection, e: &NewAliasEvent<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into model_alias_event
            (registered_model_id, alias, from_version_id, to_version_id, reason, promotion_request_id, actor_id)
         values ($1, $2, $3, $4, $5, $6, $7)",
        e.model,
        e.alias,
        e.from,
        e.to,
        e.reason,
        e.request,
        e.actor
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub struct AliasEventRow {
    pub alias: String,
    pub from_version: Option<i32>,
    pub to_version: Option<i32>,
    pub reason: String,
    pub actor: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn alias_history(
    db: impl PgExecutor<'_>,
    model: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<AliasEventRow>> {
    sqlx::query_as!(
        AliasEventRow,
        r#"select e.alias, f.version as "from_version?", t.version as "to_version?", e.reason,
                  u.username as "actor?", e.created_at
             from model_alias_event e
             left join model_version f on f.model_version_id = e.from_version_id
             left join model_version t on t.model_version_id = e.to_version_id
             left join app_user u on u.user_id = e.actor_id
            where e.registered_model_id = $1
            order by e.model_alias_event_id desc limit $2"#,
        model,
        limit
    )
    .fetch_all(db)
    .await
}

/// Where a rollback of `alias` goes: the version it pointed at before the latest
/// move (other than a rollback) that brought it to `current`, so repeated rollbacks
/// walk back through the alias's history.
pub async fn rollback_target(
    conn: &mut PgConnection,
    model: Uuid,
    alias: &str,
    current: Uuid,
) -> sqlx::Result<Option<Uuid>> {
    Ok(sqlx::query_scalar!(
        "select from_version_id from model_alias_event
          where registered_model_id = $1 and lower(alias) = lower($2) and to_version_id = $3 and reason <> 'rollback'
          order by model_alias_event_id desc limit 1",
        model,
        alias,
        current
    )
    .fetch_optional(conn)
    .await?
    .flatten())
}

pub struct VersionRow {
    pub model_version_id: Uuid,
    pub registered_model_id: Uuid,
    pub model_name: String,
    pub version: i32,
    pub source_kind: String,
    pub source: String,
    pub run_id: Option<Uuid>,
    pub experiment_id: Option<i64>,
    pub logged_model_id: Option<Uuid>,
    pub format: String,
    pub not_servable_reason: Option<String>,
    pub bundle_path: Option<String>,
    pub bundle_sha256: Option<String>,
    pub signature: Option<Value>,
    pub metrics: Value,
    pub params: Value,
    pub gates: Option<Value>,
    pub gates_passed: Option<bool>,
    pub dataset_version_id: Option<Uuid>,
    pub model_artifact_id: Option<Uuid>,
    pub description: String,
    pub model_card: String,
    pub status: String,
    pub created_by_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Versions of a model (newest first), or one by number or id.
pub async fn select_versions(
    db: impl PgExecutor<'_>,
    model: Option<Uuid>,
    version: Option<i32>,
    id: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<VersionRow>> {
    sqlx::query_as!(
        VersionRow,
        r#"select v.model_version_id, v.registered_model_id, m.name as model_name, v.version, v.source_kind,
                  v.source, v.run_id, r.experiment_id as "experiment_id?", v.logged_model_id, v.format,
                  v.not_servable_reason, v.bundle_path, v.bundle_sha256, v.signature, v.metrics, v.params,
                  v.gates, v.gates_passed, v.dataset_version_id, v.model_artifact_id, v.description,
                  v.model_card, v.status, u.username as "created_by_name?", v.created_at, v.updated_at
             from model_version v
             join registered_model m using (registered_model_id)
             left join run r on r.run_id = v.run_id
             left join app_user u on u.user_id = v.created_by
            where ($1::uuid is null or v.registered_model_id = $1)
              and ($2::int is null or v.version = $2)
              and ($3::uuid is null or v.model_version_id = $3)
            order by v.version desc
            limit $4"#,
        model,
        version,
        id,
        limit
    )
    .fetch_all(db)
    .await
}

pub async fn next_version(conn: &mut PgConnection, model: Uuid) -> sqlx::Result<i32> {
    sqlx::query_scalar!(
        r#"select coalesce(max(version), 0) + 1 as "next!" from model_version where registered_model_id = $1"#,
        model
    )
    .fetch_one(conn)
    .await
}

pub struct NewVersionRow<'a> {
    pub model_version_id: Uuid,
    pub model: Uuid,
    pub version: i32,
    pub source_kind: &'a str,
    pub source: &'a str,
    pub run_id: Option<Uuid>,
    pub logged_model_id: Option<Uuid>,
    pub format: &'a str,
    pub not_servable_reason: Option<&'a str>,
    pub bundle_path: Option<&'a str>,
    pub bundle_sha256: Option<&'a str>,
    pub signature: Option<&'a Value>,
    pub metrics: &'a Value,
    pub params: &'a Value,
    pub gates: Option<&'a Value>,
    pub gates_passed: Option<bool>,
    pub dataset_version_id: Option<Uuid>,
    pub model_artifact_id: Option<Uuid>,
    pub description: &'a str,
    pub created_by: Uuid,
}

pub async fn insert_version(conn: &mut PgConnection, v: &NewVersionRow<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into model_version
            (model_version_id, registered_model_id, version, source_kind, source, run_id, logged_model_id, format,
             not_servable_reason, bundle_path, bundle_sha256, signature, metrics, params, gates, gates_passed,
             dataset_version_id, model_artifact_id, description, created_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
        v.model_version_id,
        v.model,
        v.version,
        v.source_kind,
        v.source,
        v.run_id,
        v.logged_model_id,
        v.format,
        v.not_servable_reason,
        v.bundle_path,
        v.bundle_sha256,
        v.signature,
        v.metrics,
        v.params,
        v.gates,
        v.gates_passed,
        v.dataset_version_id,
        v.model_artifact_id,
        v.description,
        v.created_by
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_version(
    conn: &mut PgConnection,
    id: Uuid,
    description: Option<&str>,
    model_card: Option<&str>,
) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "update model_version set description = coalesce($2, description), model_card = coalesce($3, model_card)
          where model_version_id = $1",
        id,
        description,
        model_card
    )
    .execute(conn)
    .await?
    .rows_affected())
}

pub async fn delete_version(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<u64> {
    Ok(sqlx::query!("delete from model_version where model_version_id = $1", id)
        .execute(conn)
        .await?
        .rows_affected())
}

pub async fn version_tags_of(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<KeyValueRow>> {
    sqlx::query_as!(
        KeyValueRow,
        r#"select model_version_id::text as "owner!", key, value from model_version_tag
            where model_version_id = any($1) order by key"#,
        ids
    )
    .fetch_all(db)
    .await
}

pub async fn set_version_tag(conn: &mut PgConnection, id: Uuid, key: &str, value: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into model_version_tag (model_version_id, key, value) values ($1, $2, $3)
         on conflict (model_version_id, key) do update set value = excluded.value",
        id,
        key,
        value
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_version_tag(conn: &mut PgConnection, id: Uuid, key: &str) -> sqlx::Result<u64> {
    Ok(sqlx::query!("delete from model_version_tag where model_version_id = $1 and key = $2", id, key)
        .execute(conn)
        .await?
        .rows_affected())
}

/// Aliases pointing at each of these versions.
pub async fn version_aliases(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<KeyValueRow>> {
    sqlx::query_as!(
        KeyValueRow,
        r#"select model_version_id::text as "owner!", alias as key, '' as "value!" from model_alias
            where model_version_id = any($1) order by alias"#,
        ids
    )
    .fetch_all(db)
    .await
}

pub struct RequestRow {
    pub promotion_request_id: Uuid,
    pub registered_model_id: Uuid,
    pub model_name: String,
    pub alias: String,
    pub model_version_id: Uuid,
    pub version: i32,
    pub current_version_id: Option<Uuid>,
    pub current_version: Option<i32>,
    pub requested_by: Option<Uuid>,
    pub requested_by_name: Option<String>,
    pub comment: String,
    pub state: String,
    pub required_approvals: i16,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

pub struct NewRequestRow<'a> {
    pub model: Uuid,
    pub alias: &'a str,
    pub version: Uuid,
    pub current: Option<Uuid>,
    pub requested_by: Uuid,
    pub comment: &'a str,
    pub required_approvals: i16,
}

/// Inserts a pending request, or returns None when one for the same candidate and
/// alias is already pending.
pub async fn insert_request(conn: &mut PgConnection, r: &NewRequestRow<'_>) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "insert into promotion_request
            (registered_model_id, alias, model_version_id, current_version_id, requested_by, comment, required_approvals)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (registered_model_id, alias, model_version_id) where state = 'pending' do nothing
         returning promotion_request_id",
        r.model,
        r.alias,
        r.version,
        r.current,
        r.requested_by,
        r.comment,
        r.required_approvals
    )
    .fetch_optional(conn)
    .await
}

pub async fn pending_request_for(
    conn: &mut PgConnection,
    model: Uuid,
    alias: &str,
    version: Uuid,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "select promotion_request_id from promotion_request
          where registered_model_id = $1 and alias = $2 and model_version_id = $3 and state = 'pending'",
        model,
        alias,
        version
    )
    .fetch_optional(conn)
    .await
}

/// Requests filtered by id, model, state and (for an inbox) "not requested by and not
/// yet reviewed by" a user; newest first.
pub async fn select_requests(
    db: impl PgExecutor<'_>,
    id: Option<Uuid>,
    model: Option<Uuid>,
    state: Option<&str>,
    reviewable_by: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<RequestRow>> {
    sqlx::query_as!(
        RequestRow,
        r#"select r.promotion_request_id, r.registered_model_id, m.name as model_name, r.alias, r.model_version_id,
                  v.version, r.current_version_id, c.version as "current_version?", r.requested_by,
                  u.username as "requested_by_name?", r.comment, r.state, r.required_approvals, r.created_at,
                  r.decided_at
             from promotion_request r
             join registered_model m using (registered_model_id)
             join model_version v on v.model_version_id = r.model_version_id
             left join model_version c on c.model_version_id = r.current_version_id
             left join app_user u on u.user_id = r.requested_by
            where ($1::uuid is null or r.promotion_request_id = $1)
              and ($2::uuid is null or r.registered_model_id = $2)
              and ($3::text is null or r.state = $3)
              and ($4::uuid is null or (r.requested_by is distinct from $4 and not exists (
                    select 1 from promotion_review w where w.promotion_request_id = r.promotion_request_id
                       and w.reviewer_id = $4)))
            order by r.created_at desc
            limit $5"#,
        id,
        model,
        state,
        reviewable_by,
        limit
    )
    .fetch_all(db)
    .await
}

pub async fn count_reviewable(db: impl PgExecutor<'_>, user: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from promotion_request r
            where r.state = 'pending' and r.requested_by is distinct from $1
              and not exists (select 1 from promotion_review w
                               where w.promotion_request_id = r.promotion_request_id and w.reviewer_id = $1)"#,
        user
    )
    .fetch_one(db)
    .await
}

/// Locks a request and returns its state (None: no such request).
pub async fn lock_request(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("select state from promotion_request where promotion_request_id = $1 for update", id)
        .fetch_optional(conn)
        .await
}

pub async fn set_request_state(conn: &mut PgConnection, id: Uuid, state: &str) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "update promotion_request set state = $2, decided_at = now() where promotion_request_id = $1 and state = 'pending'",
        id,
        state
    )
    .execute(conn)
    .await?
    .rows_affected())
}

pub struct ReviewRow {
    pub promotion_request_id: Uuid,
    pub reviewer_id: Uuid,
    pub reviewer: String,
    pub decision: String,
    pub comment: String,
    pub created_at: DateTime<Utc>,
}

pub async fn reviews_of(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<ReviewRow>> {
    sqlx::query_as!(
        ReviewRow,
        "select w.promotion_request_id, w.reviewer_id, u.username as reviewer, w.decision, w.comment, w.created_at
           from promotion_review w join app_user u on u.user_id = w.reviewer_id
          where w.promotion_request_id = any($1) order by w.created_at",
        ids
    )
    .fetch_all(db)
    .await
}

pub async fn insert_review(
    conn: &mut PgConnection,
    request: Uuid,
    reviewer: Uuid,
    decision: &str,
    comment: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into promotion_review (promotion_request_id, reviewer_id, decision, comment) values ($1, $2, $3, $4)",
        request,
        reviewer,
        decision,
        comment
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn count_approvals(conn: &mut PgConnection, request: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from promotion_review where promotion_request_id = $1 and decision = 'approve'"#,
        request
    )
    .fetch_one(conn)
    .await
}

/// MLflow logged models a run produced (newest first).
pub async fn run_logged_models(db: impl PgExecutor<'_>, run: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "select logged_model_id from logged_model where source_run_id = $1 and lifecycle = 'active'
          order by creation_time desc",
        run
    )
    .fetch_all(db)
    .await
}
