//! Outbound webhooks against a receiver on 127.0.0.1 inside the test.
use crate::support::{eventually, fast_config};
use domain::DEFAULT_PROJECT_ID;
use services::queue::{self, JobRegistry, JobState, worker};
use services::secrets::SecretCipher;
use services::webhooks::{self, NewWebhook, WebhookDeliveryState};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Debug)]
struct Received {
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A minimal HTTP/1.1 receiver answering every request with `status`.
async fn receiver(status: u16) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let sink = sink.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let n = sock.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let headers: HashMap<String, String> = head
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                while buf.len() < head_end + len {
                    let n = sock.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                sink.lock().unwrap().push(Received { headers, body: buf[head_end..].to_vec() });
                let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = sock.write_all(reply.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (url, got)
}

/// The key every test encrypts with, as `CAIRN_SECRET_KEY` would give it.
fn cipher() -> SecretCipher {
    SecretCipher::from_passphrase("test-key-test-key-test-key-test-key").unwrap()
}

fn registry() -> JobRegistry {
    webhooks::install(JobRegistry::new(), Duration::from_secs(5), Some(cipher())).unwrap()
}

const SECRET: &str = "a-test-secret-of-some-length";

async fn subscribe(pool: &PgPool, url: &str, events: &[&str]) -> domain::WebhookId {
    let new = NewWebhook {
        url: url.into(),
        secret: SECRET.into(),
        event_types: events.iter().map(|s| s.to_string()).collect(),
        description: String::new(),
    };
    webhooks::create(pool, &cipher(), None, new).await.unwrap().webhook_id
}

#[sqlx::test(migrations = "../migrations")]
async fn a_delivery_is_signed_with_hmac_sha256(pool: PgPool) {
    let (url, got) = receiver(200).await;
    let hook = subscribe(&pool, &url, &["model.promoted"]).await;
    let (other_url, other_got) = receiver(200).await;
    subscribe(&pool, &other_url, &["dataset.created"]).await;

    let mut tx = pool.begin().await.unwrap();
    let data = serde_json::json!({"model": "fraud", "version": 3});
    let ids = webhooks::emit(&mut tx, DEFAULT_PROJECT_ID, "model.promoted", &data).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(ids.len(), 1, "only the subscriber of this event gets it");

    let w = worker::start(pool.clone(), registry(), fast_config("hooks"));
    let ok = eventually(Duration::from_secs(15), || async {
        webhooks::delivery(&pool, ids[0]).await.unwrap().state == WebhookDeliveryState::Succeeded
    })
    .await;
    w.shutdown().await;
    assert!(ok);

    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    let expected = webhooks::sign(SECRET.as_bytes(), &req.body);
    assert_eq!(req.headers.get("x-cairn-signature"), Some(&expected));
    assert!(webhooks::verify(SECRET.as_bytes(), &req.body, &expected));
    assert_eq!(req.headers.get("x-cairn-event").map(String::as_str), Some("model.promoted"));
    assert_eq!(req.headers.get("x-cairn-delivery"), Some(&ids[0].to_string()));
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["event"], "model.promoted");
    assert_eq!(body["data"], data);
    assert!(other_got.lock().unwrap().is_empty());

    let attempts = webhooks::attempts(&pool, ids[0]).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (attempts[0].attempt, attempts[0].status_code, attempts[0].error.clone()),
        (1, Some(200), None)
    );
    let log = webhooks::deliveries(&pool, hook, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].attempts, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_failing_target_is_retried_then_recorded_as_failed(pool: PgPool) {
    let (url, got) = receiver(503).await;
    subscribe(&pool, &url, &[]).await;
    let mut tx = pool.begin().await.unwrap();
    let ids =
        webhooks::emit(&mut tx, DEFAULT_PROJECT_ID, "run.finished", &serde_json::json!({})).await.unwrap();
    tx.commit().await.unwrap();

    let mut config = fast_config("hooks");
    config.backoff_base = Duration::from_millis(20);
    config.backoff_max = Duration::from_millis(80);
    let w = worker::start(pool.clone(), registry(), config);
    let failed = eventually(Duration::from_secs(30), || async {
        webhooks::delivery(&pool, ids[0]).await.unwrap().state == WebhookDeliveryState::Failed
    })
    .await;
    w.shutdown().await;
    assert!(failed);

    let max = <webhooks::DeliverWebhook as queue::Job>::MAX_ATTEMPTS;
    let attempts = webhooks::attempts(&pool, ids[0]).await.unwrap();
    assert_eq!(attempts.len(), max as usize);
    assert_eq!(attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(), (1..=max).collect::<Vec<_>>());
    assert!(
        attempts.iter().all(|a| a.status_code == Some(503) && a.error.as_deref().unwrap().contains("503"))
    );
    assert_eq!(got.lock().unwrap().len(), max as usize);
    let delivery = webhooks::delivery(&pool, ids[0]).await.unwrap();
    let job = queue::get(&pool, delivery.job_id.unwrap()).await.unwrap();
    assert_eq!(job.state, JobState::Failed);
    assert!(job.last_error.unwrap().contains("503"));
}

#[sqlx::test(migrations = "../migrations")]
async fn subscriptions_are_validated(pool: PgPool) {
    let mut new = NewWebhook {
        url: "ftp://example.invalid/x".into(),
        secret: SECRET.into(),
        event_types: vec![],
        description: String::new(),
    };
    assert!(matches!(
        webhooks::create(&pool, &cipher(), None, new.clone()).await,
        Err(services::Error::Validation(_))
    ));
    new.url = "http://127.0.0.1:9/x".into();
    new.secret = "short".into();
    assert!(matches!(
        webhooks::create(&pool, &cipher(), None, new).await,
        Err(services::Error::Validation(_))
    ));

    // A disabled subscription gets no deliveries; a deleted one is gone.
    let id = subscribe(&pool, "http://127.0.0.1:9/x", &[]).await;
    assert!(!webhooks::set_enabled(&pool, id, false).await.unwrap().enabled);
    let mut tx = pool.begin().await.unwrap();
    let none =
        webhooks::emit(&mut tx, DEFAULT_PROJECT_ID, "run.finished", &serde_json::json!({})).await.unwrap();
    tx.commit().await.unwrap();
    assert!(none.is_empty());
    assert_eq!(webhooks::list(&pool, Some(DEFAULT_PROJECT_ID)).await.unwrap().len(), 1);
    webhooks::delete(&pool, id).await.unwrap();
    assert!(webhooks::list(&pool, None).await.unwrap().is_empty());
    assert!(matches!(webhooks::get(&pool, id).await, Err(services::Error::NotFound { .. })));
}

/// Emits one event to every subscriber and runs a worker with `registry` until the
/// delivery is no longer pending; returns its final state.
async fn deliver_one(
    pool: &PgPool,
    registry: JobRegistry,
) -> (domain::WebhookDeliveryId, WebhookDeliveryState) {
    let mut tx = pool.begin().await.unwrap();
    let ids =
        webhooks::emit(&mut tx, DEFAULT_PROJECT_ID, "run.finished", &serde_json::json!({})).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(ids.len(), 1);
    let w = worker::start(pool.clone(), registry, fast_config("hooks"));
    let done = eventually(Duration::from_secs(15), || async {
        webhooks::delivery(pool, ids[0]).await.unwrap().state != WebhookDeliveryState::Pending
    })
    .await;
    w.shutdown().await;
    assert!(done, "the delivery stayed pending");
    (ids[0], webhooks::delivery(pool, ids[0]).await.unwrap().state)
}

#[sqlx::test(migrations = "../migrations")]
async fn secrets_are_stored_encrypted_and_still_sign(pool: PgPool) {
    let (url, got) = receiver(200).await;
    let id = subscribe(&pool, &url, &[]).await;
    let (plain, enc): (Option<String>, Option<String>) =
        sqlx::query_as("select secret, secret_enc from webhook where webhook_id = $1")
            .bind(id.0)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(plain, None, "no plaintext column value");
    let enc = enc.unwrap();
    assert!(enc.starts_with("v1:") && !enc.contains(SECRET), "{enc}");

    let (_, state) = deliver_one(&pool, registry()).await;
    assert_eq!(state, WebhookDeliveryState::Succeeded);
    let got = got.lock().unwrap().clone();
    let req = &got[0];
    assert!(webhooks::verify(SECRET.as_bytes(), &req.body, &req.headers["x-cairn-signature"]));
}

#[sqlx::test(migrations = "../migrations")]
async fn plaintext_secrets_from_before_still_sign_and_are_encrypted_at_start(pool: PgPool) {
    let (url, got) = receiver(200).await;
    // A row as the previous version wrote it.
    let id: uuid::Uuid =
        sqlx::query_scalar("insert into webhook (url, secret) values ($1, $2) returning webhook_id")
            .bind(&url)
            .bind(SECRET)
            .fetch_one(&pool)
            .await
            .unwrap();
    // Delivered as it is, even by a worker without a key.
    let no_key = webhooks::install(JobRegistry::new(), Duration::from_secs(5), None).unwrap();
    let (_, state) = deliver_one(&pool, no_key).await;
    assert_eq!(state, WebhookDeliveryState::Succeeded);
    let body = got.lock().unwrap()[0].clone();
    assert!(webhooks::verify(SECRET.as_bytes(), &body.body, &body.headers["x-cairn-signature"]));

    // `cairn serve` converts it at start-up, once.
    assert_eq!(webhooks::encrypt_plaintext_secrets(&pool, &cipher()).await.unwrap(), 1);
    assert_eq!(webhooks::encrypt_plaintext_secrets(&pool, &cipher()).await.unwrap(), 0);
    let (plain, enc): (Option<String>, Option<String>) =
        sqlx::query_as("select secret, secret_enc from webhook where webhook_id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(plain, None);
    assert!(!enc.unwrap().contains(SECRET));
    let (_, state) = deliver_one(&pool, registry()).await;
    assert_eq!(state, WebhookDeliveryState::Succeeded);
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    assert!(webhooks::verify(SECRET.as_bytes(), &got[1].body, &got[1].headers["x-cairn-signature"]));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_worker_with_another_key_fails_the_delivery_and_says_why(pool: PgPool) {
    let (url, got) = receiver(200).await;
    subscribe(&pool, &url, &[]).await;
    let other = SecretCipher::from_passphrase("another-key-another-key-another-key").unwrap();
    let wrong = webhooks::install(JobRegistry::new(), Duration::from_secs(5), Some(other)).unwrap();
    let (id, state) = deliver_one(&pool, wrong).await;
    assert_eq!(state, WebhookDeliveryState::Failed);
    assert!(got.lock().unwrap().is_empty(), "nothing was sent unsigned or wrongly signed");
    let attempts = webhooks::attempts(&pool, id).await.unwrap();
    assert_eq!(attempts.len(), 1, "not retried: another attempt cannot succeed");
    let error = attempts[0].error.clone().unwrap();
    assert!(error.contains("stored secret cannot be decrypted: CAIRN_SECRET_KEY changed?"), "{error}");

    // Without any key the message names the setting.
    let no_key = webhooks::install(JobRegistry::new(), Duration::from_secs(5), None).unwrap();
    let (id, state) = deliver_one(&pool, no_key).await;
    assert_eq!(state, WebhookDeliveryState::Failed);
    let error = webhooks::attempts(&pool, id).await.unwrap()[0].error.clone().unwrap();
    assert!(error.contains("CAIRN_SECRET_KEY"), "{error}");
}
