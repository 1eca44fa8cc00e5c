use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use domain::auth::{NewToken, NewUser, Role};
use http_body_util::BodyExt;
use server::http::{CookieSettings, Limits, ServerState, metrics::Metrics};
use services::artifacts::ArtifactStore;
use sqlx::PgPool;
use std::path::PathBuf;
use tower::ServiceExt;

pub const BODY_LIMIT: usize = 64 * 1024;
/// Dataset uploads: above BODY_LIMIT, so tests see the two limits apart.
pub const UPLOAD_LIMIT: u64 = 4 * 1024 * 1024;

/// A test site root with the files the shell references.
fn site_root() -> PathBuf {
    let dir = std::env::temp_dir().join("cairn-test-site");
    std::fs::create_dir_all(dir.join("pkg")).expect("site dir");
    std::fs::write(dir.join("pkg/cairn.css"), "body{}").expect("css");
    dir
}

pub fn state(pool: PgPool) -> ServerState {
    let artifacts = tempfile::tempdir().expect("tempdir").keep();
    let options = leptos::config::LeptosOptions::builder()
        .output_name("cairn")
        .site_root(site_root().display().to_string())
        .site_pkg_dir("pkg")
        .build();
    ServerState {
        leptos_options: options,
        services: services::AppState::new(
            pool,
            ArtifactStore::open(&artifacts.display().to_string()).expect("store"),
        ),
        metrics: Metrics::default(),
        limits: Limits { max_upload_bytes: UPLOAD_LIMIT, ..Limits::new(BODY_LIMIT) },
        cookies: CookieSettings { secure: false },
    }
}

pub fn app(pool: PgPool) -> Router {
    server::http::router(state(pool))
}

pub struct Reply {
    pub status: StatusCode,
    pub set_cookie: Option<String>,
    pub location: Option<String>,
    pub content_type: String,
    pub request_id: Option<String>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The `error.code` of our error envelope.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_string()
    }
}

/// A user with `role` and an API token for them; returns (user id, token secret).
pub async fn user_with_token(pool: &PgPool, name: &str, role: Role) -> (domain::UserId, String) {
    let new = NewUser { username: name.into(), role, password: Some(password_of(name)) };
    let created =
        services::auth::users::create_from_cli(pool, new, false).await.expect("user").expect("new user");
    let token = services::auth::tokens::create_from_cli(
        pool,
        name,
        NewToken { name: "test".into(), expires_in_days: None },
    )
    .await
    .expect("token");
    (created.user.user_id, token.secret)
}

/// Every test user's password (it contains none of the test usernames).
pub fn password_of(_name: &str) -> String {
    "Tr0ub4dor&3-staple-9".to_string()
}

pub async fn send(app: &Router, req: Request<Body>) -> Reply {
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let content_type =
        resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let request_id = resp.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
    let header = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let set_cookie = header("set-cookie");
    let location = header("location");
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    Reply {
        status,
        set_cookie,
        location,
        content_type,
        request_id,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub async fn get(app: &Router, uri: &str) -> Reply {
    send(app, Request::get(uri).body(Body::empty()).expect("request")).await
}

pub async fn get_as(app: &Router, uri: &str, token: &str) -> Reply {
    send(
        app,
        Request::get(uri)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request"),
    )
    .await
}

pub async fn post_json_as(app: &Router, uri: &str, token: &str, body: &str) -> Reply {
    send(
        app,
        Request::post(uri)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request"),
    )
    .await
}

pub async fn post_json(app: &Router, uri: &str, body: &str) -> Reply {
    send(
        app,
        Request::post(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request"),
    )
    .await
}

/// Polls `check` until it returns true or `within` passes; true if it held in time.
pub async fn eventually<F, Fut>(within: std::time::Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
