//! SQL for `webhook`, `webhook_delivery` and `webhook_delivery_attempt`.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "webhook_delivery_state", rename_all = "lowercase")]
pub enum DeliveryState {
    Pending,
    Succeeded,
    Failed,
}

#[derive(Clone, Debug)]
pub struct WebhookRow {
    pub webhook_id: Uuid,
    pub project_id: Uuid,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    url: &str,
    secret_enc: &str,
    event_types: &[String],
    description: &str,
) -> sqlx::Result<WebhookRow> {
    sqlx::query_as!(
        WebhookRow,
        "insert into webhook (project_id, url, secret_enc, event_types, description)
         values ($1, $2, $3, $4, $5)
         returning webhook_id, project_id, url, event_types, description, enabled, created_at, updated_at",
        project_id,
        url,
        secret_enc,
        event_types,
        description,
    )
    .fetch_one(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<WebhookRow>> {
    sqlx::query_as!(
        WebhookRow,
        "select webhook_id, project_id, url, event_types, description, enabled, created_at, updated_at
         from webhook where webhook_id = $1",
        id,
    )
    .fetch_optional(db)
    .await
}

pub async fn list(db: impl PgExecutor<'_>, project_id: Option<Uuid>) -> sqlx::Result<Vec<WebhookRow>> {
    sqlx::query_as!(
        WebhookRow,
        "select webhook_id, project_id, url, event_types, description, enabled, created_at, updated_at
         from webhook where ($1::uuid is null or project_id = $1)
         order by created_at, webhook_id",
        project_id,
    )
    .fetch_all(db)
    .await
}

pub async fn set_enabled(db: impl PgExecutor<'_>, id: Uuid, enabled: bool) -> sqlx::Result<bool> {
    let r = sqlx::query!("update webhook set enabled = $2 where webhook_id = $1", id, enabled)
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn delete(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<bool> {
    let r = sqlx::query!("delete from webhook where webhook_id = $1", id).execute(db).await?;
    Ok(r.rows_affected() == 1)
}

/// Enabled subscriptions of a project that want `event_type` (an empty list wants all).
pub async fn subscribers(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    event_type: &str,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "select webhook_id from webhook
         where project_id = $1 and enabled and (cardinality(event_types) = 0 or $2 = any(event_types))
         order by webhook_id",
        project_id,
        event_type,
    )
    .fetch_all(db)
    .await
}

pub async fn insert_delivery(
    conn: &mut PgConnection,
    webhook_id: Uuid,
    project_id: Uuid,
    event_type: &str,
    payload: &serde_json::Value,
) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        "insert into webhook_delivery (webhook_id, project_id, event_type, payload)
         values ($1, $2, $3, $4) returning webhook_delivery_id",
        webhook_id,
        project_id,
        event_type,
        payload,
    )
    .fetch_one(conn)
    .await
}

pub async fn set_delivery_job(conn: &mut PgConnection, delivery_id: Uuid, job_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "update webhook_delivery set job_id = $2 where webhook_delivery_id = $1",
        delivery_id,
        job_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A delivery with what is needed to send it.
pub struct OutgoingRow {
    pub webhook_delivery_id: Uuid,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub url: String,
    /// Legacy plaintext secret (rows made before encryption and not converted yet).
    pub secret: Option<String>,
    /// The secret encrypted under `CAIRN_SECRET_KEY` (`v1:...`).
    pub secret_enc: Option<String>,
    pub enabled: bool,
}

pub async fn outgoing(db: impl PgExecutor<'_>, delivery_id: Uuid) -> sqlx::Result<Option<OutgoingRow>> {
    sqlx::query_as!(
        OutgoingRow,
        "select d.webhook_delivery_id, d.event_type, d.payload, d.created_at, w.url, w.secret, w.secret_enc, w.enabled
         from webhook_delivery d join webhook w using (webhook_id)
         where d.webhook_delivery_id = $1",
        delivery_id,
    )
    .fetch_optional(db)
    .await
}

/// Subscriptions whose secret is still stored in plain text: (id, secret).
pub async fn plaintext_secrets(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<(Uuid, String)>> {
    let rows = sqlx::query!(
        r#"select webhook_id, secret as "secret!" from webhook where secret is not null order by webhook_id"#
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.webhook_id, r.secret)).collect())
}

/// Replaces a plaintext secret by its encryption, unless the row changed meanwhile.
pub async fn encrypt_secret(
    db: impl PgExecutor<'_>,
    id: Uuid,
    plaintext: &str,
    secret_enc: &str,
) -> sqlx::Result<bool> {
    let r = sqlx::query!(
        "update webhook set secret = null, secret_enc = $3 where webhook_id = $1 and secret = $2",
        id,
        plaintext,
        secret_enc,
    )
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn record_attempt(
    db: impl PgExecutor<'_>,
    delivery_id: Uuid,
    attempt: i32,
    status_code: Option<i32>,
    error: Option<&str>,
    duration_ms: i32,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into webhook_delivery_attempt (webhook_delivery_id, attempt, status_code, error, duration_ms)
         values ($1, $2, $3, $4, $5)",
        delivery_id,
        attempt,
        status_code,
        error,
        duration_ms,
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn set_delivery_state(
    db: impl PgExecutor<'_>,
    delivery_id: Uuid,
    state: DeliveryState,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update webhook_delivery set state = $2 where webhook_delivery_id = $1",
        delivery_id,
        state as DeliveryState,
    )
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Clone, Debug)]
pub struct DeliveryRow {
    pub webhook_delivery_id: Uuid,
    pub webhook_id: Uuid,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub state: DeliveryState,
    pub job_id: Option<Uuid>,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn deliveries(
    db: impl PgExecutor<'_>,
    webhook_id: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<DeliveryRow>> {
    sqlx::query_as!(
        DeliveryRow,
        r#"select d.webhook_delivery_id, d.webhook_id, d.event_type, d.payload, d.state as "state: DeliveryState",
                  d.job_id, (select count(*) from webhook_delivery_attempt a
                             where a.webhook_delivery_id = d.webhook_delivery_id) as "attempts!",
                  d.created_at, d.updated_at
           from webhook_delivery d
           where d.webhook_id = $1
           order by d.created_at desc, d.webhook_delivery_id desc
           limit $2"#,
        webhook_id,
        limit,
    )
    .fetch_all(db)
    .await
}

pub async fn delivery(db: impl PgExecutor<'_>, delivery_id: Uuid) -> sqlx::Result<Option<DeliveryRow>> {
    sqlx::query_as!(
        DeliveryRow,
        r#"select d.webhook_delivery_id, d.webhook_id, d.event_type, d.payload, d.state as "state: DeliveryState",
                  d.job_id, (select count(*) from webhook_delivery_attempt a
                             where a.webhook_delivery_id = d.webhook_delivery_id) as "attempts!",
                  d.created_at, d.updated_at
           from webhook_delivery d
           where d.webhook_delivery_id = $1"#,
        delivery_id,
    )
    .fetch_optional(db)
    .await
}

#[derive(Clone, Debug)]
pub struct AttemptRow {
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
    pub created_at: DateTime<Utc>,
}

pub async fn attempts(db: impl PgExecutor<'_>, delivery_id: Uuid) -> sqlx::Result<Vec<AttemptRow>> {
    sqlx::query_as!(
        AttemptRow,
        "select attempt, status_code, error, duration_ms, created_at
         from webhook_delivery_attempt where webhook_delivery_id = $1
         order by attempt, created_at",
        delivery_id,
    )
    .fetch_all(db)
    .await
}
