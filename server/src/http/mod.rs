//! The HTTP surface: one router for the dashboard (Leptos SSR + server functions),
//! the REST API under `/api/v1`, and operations endpoints.

pub mod api;
pub mod auth;
pub mod error;
pub mod metrics;
pub mod mlflow;
pub mod ops;
pub mod serving;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRef, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use error::ApiError;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::LeptosRoutes;
use metrics::Metrics;
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Level;

/// Everything a handler can reach. Cheap to clone.
#[derive(Clone, FromRef)]
pub struct ServerState {
    pub leptos_options: LeptosOptions,
    pub services: services::AppState,
    pub metrics: Metrics,
    pub limits: Limits,
    pub cookies: CookieSettings,
}

#[derive(Clone, Copy, Debug)]
pub struct CookieSettings {
    /// Mark cookies `Secure` (when Cairn is served over TLS, per CAIRN_PUBLIC_URL).
    pub secure: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_body_bytes: usize,
    /// Dataset uploads stream to disk, so they get a limit of their own.
    pub max_upload_bytes: u64,
}

impl Limits {
    pub fn new(max_body_bytes: usize) -> Self {
        Self { max_body_bytes, max_upload_bytes: 2 << 30 }
    }

    /// The limit for this request: uploads of dataset versions stream to disk and
    /// may be far larger than JSON bodies.
    fn for_request(&self, req: &Request) -> u64 {
        let path = req.uri().path();
        let upload = req.method() == axum::http::Method::POST
            && path.starts_with("/api/v1/datasets/")
            && path.ends_with("/versions");
        if upload { self.max_upload_bytes } else { self.max_body_bytes as u64 }
    }
}

pub fn router(state: ServerState) -> Router {
    let routes = leptos_axum::generate_route_list(app::App);
    let services = state.services.clone();
    let leptos_context = move || provide_context(services.clone());
    let options = state.leptos_options.clone();

    let app = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/favicon.svg", get(ops::favicon))
        .route("/auth/login", axum::routing::post(api::auth::login_form))
        .route("/auth/logout", axum::routing::post(api::auth::logout_form))
        .nest("/api/v1", api::router())
        .nest("/api/2.0/mlflow", mlflow::router())
        .nest("/ajax-api/2.0/mlflow", mlflow::router())
        .nest("/api/2.0/mlflow-artifacts", mlflow::artifacts_router())
        .nest("/ajax-api/2.0/mlflow-artifacts", mlflow::artifacts_router())
        .merge(serving::router())
        .leptos_routes_with_context(&state, routes, leptos_context, move || app::shell(options.clone()))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed);
    with_layers(app, state)
}

/// `cairn serve --serving-only`: health, metrics and the prediction protocols; no
/// dashboard, no management API.
pub fn serving_router(state: ServerState) -> Router {
    let app = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/api/v1/endpoints/{name}/predict", axum::routing::post(api::endpoints::predict))
        .merge(serving::router())
        .fallback(serving_fallback)
        .method_not_allowed_fallback(method_not_allowed);
    with_layers(app, state)
}

async fn serving_fallback(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "there is no route {method} {} on this serving-only replica: it answers /v2/..., /endpoints/{{name}}/invocations and /api/v1/endpoints/{{name}}/predict",
        uri.path()
    ))
}

/// The layers every route has: authentication, metrics, request id, trace span,
/// panic catcher, body limits.
fn with_layers(app: Router<ServerState>, state: ServerState) -> Router {
    let limit = state.limits.max_body_bytes;
    let limits = state.limits;
    // The middleware gets only what it reads: cloning the whole state (Leptos'
    // options hold strings) on every request showed in the serving profile.
    app.layer(middleware::from_fn_with_state(state.services.clone(), auth::authenticate))
        .layer(middleware::from_fn_with_state(state.metrics.clone(), metrics::track))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        .on_response(log_response)
                        // Failures are logged where they are handled (http::error), once.
                        .on_failure(()),
                )
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(CatchPanicLayer::custom(panic_response))
                .layer(middleware::from_fn_with_state(limits, limit_bodies))
                .layer(DefaultBodyLimit::max(limit)),
        )
        .with_state(state)
}

/// One line per response: INFO, except the prediction routes (DEBUG, see
/// `request_span`), whose span is then a DEBUG span or disabled.
fn log_response<B>(response: &axum::http::Response<B>, latency: Duration, span: &tracing::Span) {
    let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    let status = response.status().as_u16();
    let quiet = span.metadata().is_none_or(|m| *m.level() > Level::INFO);
    if quiet {
        tracing::debug!(latency_us, status, "finished processing request");
    } else {
        tracing::info!(latency_us, status, "finished processing request");
    }
}

fn request_span(req: &Request<Body>) -> tracing::Span {
    if serving::is_serving_path(req.uri().path()) {
        // Thousands a second: a DEBUG span (disabled unless DEBUG is on) still
        // carries the request id when it is.
        let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
        return tracing::debug_span!("request", method = %req.method(), uri = %req.uri().path(), request_id = %request_id);
    }
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
    tracing::info_span!(
        "request",
        method = %req.method(),
        uri = %req.uri().path(),
        route = route.as_deref().unwrap_or("unmatched"),
        request_id = %request_id,
    )
}

/// Rejects a declared body over the limit up front, with our JSON envelope, and
/// caps streamed bodies at the same limit (the extractors turn the cut-off into
/// a 413).
async fn limit_bodies(State(limits): State<Limits>, req: Request, next: Next) -> Response {
    let limit = limits.for_request(&req);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit => ApiError::payload_too_large(limit).into_response(),
        _ => {
            let cap = usize::try_from(limit).unwrap_or(usize::MAX);
            next.run(req.map(|body| Body::new(http_body_util::Limited::new(body, cap)))).await
        }
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "an internal error occurred; the details are in the server log",
    )
    .into_response()
}

/// Unknown API paths get a JSON 404; anything else is a static asset or the
/// dashboard's own "page not found" (also a 404).
async fn fallback(State(state): State<ServerState>, method: Method, uri: Uri, req: Request) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") {
        return ApiError::not_found(format!(
            "there is no API route {method} {path}; the API is described at /api/v1/openapi.json"
        ))
        .into_response();
    }
    // Asset names are stable across builds, so browsers must revalidate them.
    let is_asset = path.starts_with("/pkg/");
    let services = state.services.clone();
    let handler = leptos_axum::file_and_error_handler_with_context::<ServerState, _>(
        move || provide_context(services.clone()),
        app::shell,
    );
    let mut response = handler(uri, State(state), req).await;
    if is_asset && response.headers().get(header::CACHE_CONTROL).is_none() {
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    response
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not accept {method}; see /api/v1/openapi.json for the methods it takes", uri.path()),
    )
}

/// How long a graceful shutdown waits for in-flight requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
