use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use server::http::{Limits, ServerState, metrics::Metrics};
use services::artifacts::ArtifactStore;
use sqlx::PgPool;
use std::path::PathBuf;
use tower::ServiceExt;

pub const BODY_LIMIT: usize = 64 * 1024;

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
        limits: Limits { max_body_bytes: BODY_LIMIT },
    }
}

pub fn app(pool: PgPool) -> Router {
    server::http::router(state(pool))
}

pub struct Reply {
    pub status: StatusCode,
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

pub async fn send(app: &Router, req: Request<Body>) -> Reply {
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let content_type =
        resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let request_id = resp.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    Reply { status, content_type, request_id, body: String::from_utf8_lossy(&bytes).into_owned() }
}

pub async fn get(app: &Router, uri: &str) -> Reply {
    send(app, Request::get(uri).body(Body::empty()).expect("request")).await
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
