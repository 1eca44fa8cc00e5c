//! Helpers shared by the queue, schedule and webhook tests.
use services::queue::worker::WorkerConfig;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::future::Future;
use std::time::{Duration, Instant};

/// A pool of its own on the test's database, as a separate process would have.
pub async fn separate_pool(pool: &PgPool, max: u32) -> PgPool {
    PgPoolOptions::new().max_connections(max).connect_with((*pool.connect_options()).clone()).await.unwrap()
}

/// Intervals short enough for tests; the protocol is the same as in production.
pub fn fast_config(name: &str) -> WorkerConfig {
    WorkerConfig {
        name: name.into(),
        concurrency: 4,
        batch_size: 4,
        lease: Duration::from_secs(2),
        heartbeat_interval: Duration::from_millis(100),
        poll_interval: Duration::from_millis(100),
        reap_interval: Duration::from_millis(100),
        shutdown_grace: Duration::from_secs(2),
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        cpu_slots: 2,
        ..WorkerConfig::default()
    }
}

/// Polls `check` until it returns true or `within` passes; true if it held in time.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A principal backed by a real user row (datasets, sources and preparations record
/// who made them); a fresh unique name each call.
pub async fn user(pool: &PgPool, role: domain::auth::Role) -> services::auth::Principal {
    let name = format!("{role}-{}", uuid::Uuid::new_v4().simple());
    let id: uuid::Uuid = sqlx::query_scalar(
        "insert into app_user (username, password_hash, role) values ($1, 'x', $2) returning user_id",
    )
    .bind(&name)
    .bind(role.as_str())
    .fetch_one(pool)
    .await
    .unwrap();
    services::auth::Principal {
        user_id: domain::UserId(id),
        username: name,
        role,
        via: services::auth::Via::Cli,
        ip: None,
    }
}
