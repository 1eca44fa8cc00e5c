//! Outbound webhooks: subscriptions, deliveries as jobs, and a delivery log.
//!
//! [`emit`] runs in the caller's transaction: it records one delivery per matching
//! subscription and enqueues a [`DeliverWebhook`] job for each, so an event is sent
//! exactly when the change it announces commits. The job POSTs
//!
//! ```json
//! {"delivery_id": "...", "event": "model.promoted", "created_at": "...", "data": {...}}
//! ```
//!
//! with `X-Cairn-Signature: sha256=<hex HMAC-SHA256(secret, body)>`, `X-Cairn-Event`
//! and `X-Cairn-Delivery` (receivers dedupe on it: delivery is at least once). Any
//! non-2xx answer or transport error is an attempt in the log and a retry with the
//! queue's exponential backoff; after the last attempt the delivery is `failed`.
//! Redirects are not followed, so a subscription cannot bounce Cairn's requests to an
//! address nobody configured.
//!
//! Secrets are stored encrypted under `CAIRN_SECRET_KEY` ([`crate::secrets`], column
//! `secret_enc`). Rows from before that keep a plaintext `secret`; they stay
//! deliverable as they are, and [`encrypt_plaintext_secrets`] (run by `cairn serve` at
//! start-up) converts them, so after one start no plaintext remains.

use crate::db::webhooks::{self as q, DeliveryState};
use crate::queue::{self, EnqueueOptions, Job, JobCtx, JobRegistry, Permanent};
use crate::secrets::{PURPOSE_WEBHOOK_SECRET, SecretCipher, SecretError};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use domain::{DEFAULT_PROJECT_ID, JobId, ProjectId, ValidationError, WebhookDeliveryId, WebhookId};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use sqlx::{PgConnection, PgPool};
use std::time::{Duration, Instant};

pub use crate::db::webhooks::DeliveryState as WebhookDeliveryState;

/// The signature header's name.
pub const SIGNATURE_HEADER: &str = "X-Cairn-Signature";

#[derive(Clone, Debug)]
pub struct NewWebhook {
    /// http(s) URL the events are POSTed to.
    pub url: String,
    /// HMAC key the receiver verifies signatures with.
    pub secret: String,
    /// Event types to send; empty for all.
    pub event_types: Vec<String>,
    pub description: String,
}

/// A subscription as the API sees it. The secret is deliberately absent: it is shown
/// once, by whoever created it.
#[derive(Clone, Debug)]
pub struct WebhookInfo {
    pub webhook_id: WebhookId,
    pub project_id: ProjectId,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<q::WebhookRow> for WebhookInfo {
    fn from(r: q::WebhookRow) -> Self {
        Self {
            webhook_id: WebhookId(r.webhook_id),
            project_id: ProjectId(r.project_id),
            url: r.url,
            event_types: r.event_types,
            description: r.description,
            enabled: r.enabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn validate(new: &NewWebhook) -> Result<()> {
    let url =
        url::Url::parse(&new.url).map_err(|e| ValidationError::new("url", format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ValidationError::new("url", "must be an http:// or https:// URL with a host").into());
    }
    if new.secret.len() < 16 {
        return Err(ValidationError::new("secret", "must be at least 16 characters").into());
    }
    if new.event_types.iter().any(|t| t.trim().is_empty()) {
        return Err(ValidationError::new("event_types", "must not contain empty names").into());
    }
    Ok(())
}

/// Creates a subscription; its secret is stored encrypted with `secrets`
/// (`AppState::secrets()`).
#[tracing::instrument(skip_all)]
pub async fn create(
    db: &PgPool,
    secrets: &SecretCipher,
    project_id: Option<ProjectId>,
    new: NewWebhook,
) -> Result<WebhookInfo> {
    validate(&new)?;
    let project = project_id.unwrap_or(DEFAULT_PROJECT_ID).0;
    let secret_enc = secrets.encrypt(PURPOSE_WEBHOOK_SECRET, &new.secret);
    let row = q::insert(db, project, &new.url, &secret_enc, &new.event_types, &new.description).await?;
    tracing::info!(webhook.id = %row.webhook_id, "created webhook");
    Ok(row.into())
}

pub async fn get(db: &PgPool, id: WebhookId) -> Result<WebhookInfo> {
    q::get(db, id.0).await?.map(Into::into).ok_or_else(|| Error::not_found("webhook", id))
}

pub async fn list(db: &PgPool, project_id: Option<ProjectId>) -> Result<Vec<WebhookInfo>> {
    Ok(q::list(db, project_id.map(|p| p.0)).await?.into_iter().map(Into::into).collect())
}

pub async fn set_enabled(db: &PgPool, id: WebhookId, enabled: bool) -> Result<WebhookInfo> {
    if !q::set_enabled(db, id.0, enabled).await? {
        return Err(Error::not_found("webhook", id));
    }
    get(db, id).await
}

pub async fn delete(db: &PgPool, id: WebhookId) -> Result<()> {
    if q::delete(db, id.0).await? { Ok(()) } else { Err(Error::not_found("webhook", id)) }
}

/// Encrypts the secrets of subscriptions created before secrets were encrypted; returns
/// how many it converted. Idempotent and safe to run from several processes at once
/// (each row is converted only if it still holds the plaintext that was read).
#[tracing::instrument(skip_all)]
pub async fn encrypt_plaintext_secrets(db: &PgPool, secrets: &SecretCipher) -> Result<u64> {
    let mut converted = 0;
    for (id, plain) in q::plaintext_secrets(db).await? {
        let enc = secrets.encrypt(PURPOSE_WEBHOOK_SECRET, &plain);
        if q::encrypt_secret(db, id, &plain, &enc).await? {
            converted += 1;
        }
    }
    if converted > 0 {
        tracing::info!(converted, "encrypted plaintext webhook secrets");
    }
    Ok(converted)
}

/// Queues `event_type` with `data` for every enabled subscription of the project that
/// wants it, in the caller's transaction. Returns the deliveries created.
#[tracing::instrument(skip_all, fields(event = %event_type))]
pub async fn emit(
    conn: &mut PgConnection,
    project_id: ProjectId,
    event_type: &str,
    data: &serde_json::Value,
) -> Result<Vec<WebhookDeliveryId>> {
    let subscribers = q::subscribers(&mut *conn, project_id.0, event_type).await?;
    let mut out = Vec::with_capacity(subscribers.len());
    for webhook_id in subscribers {
        let delivery_id = q::insert_delivery(conn, webhook_id, project_id.0, event_type, data).await?;
        let job = DeliverWebhook { delivery_id: WebhookDeliveryId(delivery_id) };
        let opts = EnqueueOptions { project_id: Some(project_id), ..EnqueueOptions::default() };
        let job_id = queue::enqueue_with(conn, &job, opts).await?;
        q::set_delivery_job(conn, delivery_id, job_id.0).await?;
        out.push(WebhookDeliveryId(delivery_id));
    }
    Ok(out)
}

/// `sha256=<hex>` of the body under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length; `new_from_slice` only fails for fixed-size MACs.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a signature header in constant time (for receivers written in Rust, and tests).
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.strip_prefix("sha256=") else { return false };
    let Ok(sig) = hex::decode(hex_sig) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { return false };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// What deliveries need: the HTTP client, and the key that decrypts stored secrets.
/// Register it with [`install`].
#[derive(Clone, Debug)]
pub struct WebhookClient {
    http: reqwest::Client,
    secrets: Option<SecretCipher>,
}

impl WebhookClient {
    /// `secrets` may be None in a worker started without `CAIRN_SECRET_KEY`: it can
    /// then deliver only subscriptions whose secret is still plaintext.
    pub fn new(timeout: Duration, secrets: Option<SecretCipher>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("cairn-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Other(anyhow::anyhow!("could not build the webhook HTTP client: {e}")))?;
        Ok(Self { http, secrets })
    }

    /// The HMAC key of a delivery: decrypted, or the legacy plaintext.
    fn secret(&self, out: &q::OutgoingRow) -> std::result::Result<String, SecretError> {
        match (&out.secret_enc, &out.secret) {
            (Some(enc), _) => {
                self.secrets.as_ref().ok_or(SecretError::NoKey)?.decrypt(PURPOSE_WEBHOOK_SECRET, enc)
            }
            (None, Some(plain)) => Ok(plain.clone()),
            // The table's check constraint makes this unreachable.
            (None, None) => Err(SecretError::UnknownFormat),
        }
    }
}

/// Adds webhook delivery to a worker's registry, with a client that gives up on a
/// request after `timeout` and decrypts secrets with `secrets` (`AppState::secrets()`).
pub fn install(
    registry: JobRegistry,
    timeout: Duration,
    secrets: Option<SecretCipher>,
) -> Result<JobRegistry> {
    Ok(registry.register::<DeliverWebhook>().provide(WebhookClient::new(timeout, secrets)?))
}

/// Sends one delivery; an attempt per job attempt.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeliverWebhook {
    pub delivery_id: WebhookDeliveryId,
}

#[derive(Serialize)]
struct Envelope<'a> {
    delivery_id: WebhookDeliveryId,
    event: &'a str,
    created_at: DateTime<Utc>,
    data: &'a serde_json::Value,
}

impl Job for DeliverWebhook {
    const KIND: &'static str = "webhook.deliver";
    const QUEUE: &'static str = "webhooks";
    const MAX_ATTEMPTS: i32 = 8;

    async fn run(self, ctx: JobCtx) -> anyhow::Result<()> {
        let db = ctx.db();
        let id = self.delivery_id.0;
        let Some(out) = q::outgoing(db, id).await? else {
            // The subscription was deleted (cascading to its deliveries): nothing to send.
            return Ok(());
        };
        if !out.enabled {
            return Err(Permanent("the webhook was disabled before this delivery was sent".into()).into());
        }
        let client = ctx.require::<WebhookClient>()?;
        let body = serde_json::to_vec(&Envelope {
            delivery_id: self.delivery_id,
            event: &out.event_type,
            created_at: out.created_at,
            data: &out.payload,
        })?;
        let secret = match client.secret(&out) {
            Ok(s) => s,
            Err(e) => {
                // Not retried as a transport failure is: without the right key no attempt
                // can succeed. The log says which setting to fix.
                let message = format!("not sent: {e}");
                q::record_attempt(db, id, ctx.attempt(), None, Some(&message), 0).await?;
                q::set_delivery_state(db, id, DeliveryState::Failed).await?;
                return Err(Permanent(message).into());
            }
        };
        let signature = sign(secret.as_bytes(), &body);
        let started = Instant::now();
        let sent = client
            .http
            .post(&out.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, &signature)
            .header("X-Cairn-Event", &out.event_type)
            .header("X-Cairn-Delivery", self.delivery_id.to_string())
            .body(body)
            .send()
            .await;
        let duration_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        let (status, error) = match sent {
            Ok(r) if r.status().is_success() => (Some(i32::from(r.status().as_u16())), None),
            Ok(r) => {
                (Some(i32::from(r.status().as_u16())), Some(format!("the receiver answered {}", r.status())))
            }
            // Without the URL: it may carry credentials in its query.
            Err(e) => (None, Some(format!("request failed: {}", e.without_url()))),
        };
        q::record_attempt(db, id, ctx.attempt(), status, error.as_deref(), duration_ms).await?;
        match error {
            None => {
                q::set_delivery_state(db, id, DeliveryState::Succeeded).await?;
                Ok(())
            }
            Some(e) => {
                if ctx.is_last_attempt() {
                    q::set_delivery_state(db, id, DeliveryState::Failed).await?;
                }
                Err(anyhow::anyhow!(e))
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct DeliveryInfo {
    pub delivery_id: WebhookDeliveryId,
    pub webhook_id: WebhookId,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub state: DeliveryState,
    pub job_id: Option<JobId>,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<q::DeliveryRow> for DeliveryInfo {
    fn from(r: q::DeliveryRow) -> Self {
        Self {
            delivery_id: WebhookDeliveryId(r.webhook_delivery_id),
            webhook_id: WebhookId(r.webhook_id),
            event_type: r.event_type,
            payload: r.payload,
            state: r.state,
            job_id: r.job_id.map(JobId),
            attempts: r.attempts,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// One HTTP request made for a delivery.
#[derive(Clone, Debug)]
pub struct AttemptInfo {
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
    pub created_at: DateTime<Utc>,
}

/// Newest deliveries of a subscription (the delivery log), at most `limit`.
pub async fn deliveries(db: &PgPool, id: WebhookId, limit: i64) -> Result<Vec<DeliveryInfo>> {
    Ok(q::deliveries(db, id.0, limit.clamp(1, 500)).await?.into_iter().map(Into::into).collect())
}

pub async fn delivery(db: &PgPool, id: WebhookDeliveryId) -> Result<DeliveryInfo> {
    q::delivery(db, id.0).await?.map(Into::into).ok_or_else(|| Error::not_found("webhook delivery", id))
}

pub async fn attempts(db: &PgPool, id: WebhookDeliveryId) -> Result<Vec<AttemptInfo>> {
    Ok(q::attempts(db, id.0)
        .await?
        .into_iter()
        .map(|r| AttemptInfo {
            attempt: r.attempt,
            status_code: r.status_code,
            error: r.error,
            duration_ms: r.duration_ms,
            created_at: r.created_at,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_tampering_does_not() {
        let sig = sign(b"0123456789abcdef", b"{\"a\":1}");
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
        assert!(verify(b"0123456789abcdef", b"{\"a\":1}", &sig));
        assert!(!verify(b"0123456789abcdef", b"{\"a\":2}", &sig));
        assert!(!verify(b"another-secret!!", b"{\"a\":1}", &sig));
    }

    #[test]
    fn known_vector() {
        // RFC 4231 test case 2.
        let sig = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
