use crate::support::{BODY_LIMIT, app, get, get_as, post_json_as, send, user_with_token};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use domain::auth::Role;
use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn health_and_readiness(pool: PgPool) {
    let app = app(pool.clone());
    let r = get(&app, "/healthz").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "ok");
    let r = get(&app, "/readyz").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["database"], "ok");

    // With the database gone, readiness fails (and says why) while liveness holds.
    pool.close().await;
    let r = get(&app, "/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.error_code(), "database_unavailable");
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
}

#[sqlx::test(migrations = "../migrations")]
async fn home_page_renders_numbers_from_postgres(pool: PgPool) {
    let app = app(pool.clone());
    let (_, token) = user_with_token(&pool, "ana", Role::Viewer).await;
    sqlx::query("insert into project (name) values ('a'), ('b')").execute(&pool).await.unwrap();
    let r = get_as(&app, "/", &token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.content_type.starts_with("text/html"), "{}", r.content_type);
    // The default project plus the two above.
    let card = r.body.find("data-testid=\"stat-projects\"").expect("projects card rendered");
    let value = &r.body[card..];
    let start = value.find("stat-value\">").expect("value") + "stat-value\">".len();
    assert_eq!(&value[start..start + 1], "3", "{}", &value[..300.min(value.len())]);
    assert!(r.body.contains("/pkg/cairn.js"), "hydration script referenced");
}

#[sqlx::test(migrations = "../migrations")]
async fn pages_render_and_unknown_pages_are_404(pool: PgPool) {
    let app = app(pool.clone());
    let (_, token) = user_with_token(&pool, "ana", Role::Admin).await;
    for path in ["/projects", "/about", "/settings", "/audit"] {
        let r = get_as(&app, path, &token).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
    }
    let about = get_as(&app, "/about", &token).await;
    assert!(about.body.contains(env!("CARGO_PKG_VERSION")), "version shown");
    let r = get_as(&app, "/definitely/not/here", &token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("Page not found"));
    // The login page needs no session.
    let r = get(&app, "/login").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Sign in"));
}

#[sqlx::test(migrations = "../migrations")]
async fn unknown_api_routes_are_json_404s(pool: PgPool) {
    let app = app(pool.clone());
    let (_, token) = user_with_token(&pool, "ana", Role::Viewer).await;
    for path in ["/api/v1/nothing", "/api/v2/x", "/api"] {
        let r = get_as(&app, path, &token).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.error_code(), "not_found");
        assert!(r.json()["error"]["message"].as_str().unwrap().contains("openapi.json"));
    }
    let r = send(&app, Request::delete("/api/v1/projects").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.error_code(), "method_not_allowed");
}

#[sqlx::test(migrations = "../migrations")]
async fn projects_round_trip(pool: PgPool) {
    let app = app(pool.clone());
    let (_, token) = user_with_token(&pool, "ed", Role::Editor).await;
    let r = post_json_as(&app, "/api/v1/projects", &token, r#"{"name":"fraud","description":"cards"}"#).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.json()["project_id"].as_str().unwrap().to_string();
    let r = get_as(&app, &format!("/api/v1/projects/{id}"), &token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["name"], "fraud");
    let list = get_as(&app, "/api/v1/projects", &token).await.json();
    let names: Vec<_> = list.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["default", "fraud"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_input_gets_clear_errors_and_changes_nothing(pool: PgPool) {
    let app = app(pool.clone());
    let (_, t) = user_with_token(&pool, "ed", Role::Editor).await;
    let count = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from project").fetch_one(&pool).await.unwrap()
    };
    let before = count().await;

    let r = post_json_as(&app, "/api/v1/projects", &t, r#"{"name": "x",,}"#).await;
    assert_eq!((r.status, r.error_code().as_str()), (StatusCode::BAD_REQUEST, "invalid_json"));
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("line 1 column"), "{}", r.body);

    let r = post_json_as(&app, "/api/v1/projects", &t, r#"{"nom": "x"}"#).await;
    assert_eq!((r.status, r.error_code().as_str()), (StatusCode::BAD_REQUEST, "invalid_body"));
    assert!(r.body.contains("nom"), "names the unknown field: {}", r.body);

    let r = send(
        &app,
        Request::post("/api/v1/projects")
            .header("authorization", format!("Bearer {t}"))
            .body(Body::from(r#"{"name":"x"}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let r = post_json_as(&app, "/api/v1/projects", &t, r#"{"name": "   "}"#).await;
    assert_eq!((r.status, r.error_code().as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"));
    assert_eq!(r.json()["error"]["field"], "name");

    let r = post_json_as(&app, "/api/v1/projects", &t, r#"{"name": "DEFAULT"}"#).await;
    assert_eq!((r.status, r.error_code().as_str()), (StatusCode::CONFLICT, "conflict"));

    let big = format!(r#"{{"name":"big","description":"{}"}}"#, "x".repeat(BODY_LIMIT + 1));
    let r = post_json_as(&app, "/api/v1/projects", &t, &big).await;
    assert_eq!((r.status, r.error_code().as_str()), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));

    let r = get_as(&app, "/api/v1/projects/not-a-uuid", &t).await;
    assert_eq!((r.status, r.error_code().as_str()), (StatusCode::BAD_REQUEST, "invalid_path"));
    let r = get_as(&app, "/api/v1/projects/6f1c2c4e-0000-4000-8000-000000000000", &t).await;
    assert_eq!((r.status, r.error_code().as_str()), (StatusCode::NOT_FOUND, "not_found"));

    assert_eq!(count().await, before, "nothing was written");
}

#[sqlx::test(migrations = "../migrations")]
async fn streamed_bodies_over_the_limit_are_refused(pool: PgPool) {
    let app = app(pool.clone());
    let (_, t) = user_with_token(&pool, "ed", Role::Editor).await;
    // No content-length: the body is cut off while being read.
    let chunks: Vec<Result<String, std::io::Error>> =
        (0..(BODY_LIMIT / 1024 + 2)).map(|_| Ok("x".repeat(1024))).collect();
    let body = Body::from_stream(futures::stream::iter(chunks));
    let r = send(
        &app,
        Request::post("/api/v1/projects")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {t}"))
            .body(body)
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
}

#[sqlx::test(migrations = "../migrations")]
async fn openapi_document_describes_the_api(pool: PgPool) {
    let app = app(pool);
    let r = get(&app, "/api/v1/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK, "public");
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/projects",
        "/api/v1/projects/{project_id}",
        "/api/v1/status",
        "/api/v1/login",
        "/api/v1/logout",
        "/api/v1/me",
        "/api/v1/users",
        "/api/v1/users/{user_id}",
        "/api/v1/tokens",
        "/api/v1/tokens/{token_id}",
        "/api/v1/audit",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    assert!(doc["paths"]["/api/v1/projects"]["post"]["responses"]["413"].is_object());
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}

#[sqlx::test(migrations = "../migrations")]
async fn metrics_count_requests_by_route_and_status(pool: PgPool) {
    let app = app(pool.clone());
    let (_, t) = user_with_token(&pool, "ana", Role::Viewer).await;
    get_as(&app, "/api/v1/projects", &t).await;
    get_as(&app, "/api/v1/projects", &t).await;
    get_as(&app, "/api/v1/nowhere", &t).await;
    let r = get(&app, "/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    let line = r
        .body
        .lines()
        .find(|l| {
            l.starts_with("cairn_http_requests_total")
                && l.contains("route=\"/api/v1/projects\"")
                && l.contains("status=\"200\"")
        })
        .unwrap_or_else(|| panic!("no counter line in:\n{}", r.body));
    assert!(line.ends_with(" 2"), "{line}");
    assert!(r.body.contains("route=\"unmatched\""), "unrouted requests share one label");
    assert!(r.body.contains("cairn_http_request_duration_seconds_bucket"));
}

#[sqlx::test(migrations = "../migrations")]
async fn request_ids_are_set_or_propagated(pool: PgPool) {
    let app = app(pool);
    let r = get(&app, "/healthz").await;
    let id = r.request_id.expect("x-request-id set");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let r =
        send(&app, Request::get("/healthz").header("x-request-id", "abc-123").body(Body::empty()).unwrap())
            .await;
    assert_eq!(r.request_id.as_deref(), Some("abc-123"));
}

#[sqlx::test(migrations = "../migrations")]
async fn server_functions_answer_the_dashboard(pool: PgPool) {
    let app = app(pool.clone());
    let (_, t) = user_with_token(&pool, "ana", Role::Viewer).await;
    let call = |token: Option<String>| {
        let mut req =
            Request::post("/api/overview").header("content-type", "application/x-www-form-urlencoded");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        req.body(Body::empty()).unwrap()
    };
    let r = send(&app, call(Some(t))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["projects"], 1);
    let r = send(&app, call(None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
}
