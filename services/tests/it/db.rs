use services::db::{self, PoolSettings, StartupError};
use std::time::Duration;

fn admin_url() -> String {
    std::env::var("DATABASE_URL").expect("DATABASE_URL (make unit sets it)")
}

fn with_database(url: &str, name: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_path(&format!("/{name}"));
    u.to_string()
}

#[tokio::test]
async fn a_malformed_url_says_what_is_expected() {
    let err = db::connect("mysql://nope", PoolSettings::default()).await.unwrap_err();
    assert!(matches!(err, StartupError::BadUrl(_)));
    assert!(err.to_string().contains("postgres://"), "{err}");
}

#[tokio::test]
async fn an_unreachable_server_is_named_without_its_password() {
    // Port 1 on loopback: nothing listens there.
    let settings = PoolSettings { acquire_timeout: Duration::from_secs(2), ..PoolSettings::default() };
    let err = db::connect("postgres://u:secret@127.0.0.1:1/cairn", settings).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StartupError::Unreachable { .. }), "{msg}");
    assert!(msg.contains("127.0.0.1:1") && !msg.contains("secret") && msg.contains("DATABASE_URL"), "{msg}");
}

#[tokio::test]
async fn a_missing_database_is_created_and_migrated_when_asked() {
    let name = format!("cairn_create_{}", uuid::Uuid::new_v4().simple());
    let url = with_database(&admin_url(), &name);
    let settings = PoolSettings { create_database: true, max_connections: 2, ..PoolSettings::default() };
    let pool = db::connect(&url, settings).await.unwrap();
    db::migrate(&pool).await.unwrap();
    // Twice is fine: migrations are idempotent at start-up.
    db::migrate(&pool).await.unwrap();
    assert!(db::ping(&pool).await);
    pool.close().await;
    let admin = sqlx::PgPool::connect(&admin_url()).await.unwrap();
    sqlx::query(&format!("drop database \"{name}\" with (force)")).execute(&admin).await.unwrap();
}

#[test]
fn urls_are_redacted() {
    assert_eq!(db::redact_url("postgres://me:pw@h:5432/db"), "postgres://me:***@h:5432/db");
    assert_eq!(db::redact_url("postgres://me@h/db"), "postgres://me@h/db");
}
