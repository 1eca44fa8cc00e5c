//! Authentication and authorization over HTTP: every route × every role, CSRF,
//! logins, sessions, tokens, and the audit trail they leave.
use crate::support::{Reply, app, get, get_as, password_of, post_json, post_json_as, send, user_with_token};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use domain::auth::Role;
use sqlx::PgPool;

async fn audit_count(pool: &PgPool, action: &str, outcome: &str) -> i64 {
    sqlx::query_scalar::<_, i64>("select count(*) from audit_event where action = $1 and outcome = $2")
        .bind(action)
        .bind(outcome)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn call(app: &Router, method: &str, uri: &str, token: Option<&str>, body: Option<&str>) -> Reply {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = match body {
        Some(b) if uri.starts_with("/api/v1/") => {
            req = req.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        Some(b) => {
            req = req.header("content-type", "application/x-www-form-urlencoded");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    send(app, req.body(body).unwrap()).await
}

/// (method, uri, body, least role, success status)
type RouteCase = (&'static str, String, Option<&'static str>, Option<Role>, StatusCode);

/// Every route, with the least role that may call it (None: public), for each
/// caller from anonymous to admin: 401 without credentials, 403 below the role,
/// success at or above it.
#[sqlx::test(migrations = "../migrations")]
async fn every_route_by_every_role(pool: PgPool) {
    let app = app(pool.clone());
    let mut tokens = vec![(None, None)];
    for role in Role::ALL {
        let (_, t) = user_with_token(&pool, role.as_str(), role).await;
        tokens.push((Some(role), Some(t)));
    }
    let (victim, _) = user_with_token(&pool, "victim", Role::Viewer).await;
    let victim_token: String = sqlx::query_scalar("select token_id::text from api_token where user_id = $1")
        .bind(victim.0)
        .fetch_one(&pool)
        .await
        .unwrap();

    // A cancelled job: cancelling it again is allowed (and changes nothing), reading it works.
    let job = sqlx::query_scalar::<_, uuid::Uuid>(
        "insert into job (kind, payload, state) values ('system.cleanup', '{}', 'cancelled') returning job_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();

    // (method, uri, body, least role, success status); `{n}` becomes a fresh number.
    let routes: Vec<RouteCase> = vec![
        ("GET", "/healthz".into(), None, None, StatusCode::OK),
        ("GET", "/readyz".into(), None, None, StatusCode::OK),
        ("GET", "/metrics".into(), None, None, StatusCode::OK),
        ("GET", "/api/v1/openapi.json".into(), None, None, StatusCode::OK),
        ("GET", "/login".into(), None, None, StatusCode::OK),
        ("GET", "/api/v1/status".into(), None, Some(Role::Viewer), StatusCode::OK),
        ("GET", "/api/v1/me".into(), None, Some(Role::Viewer), StatusCode::OK),
        ("GET", "/api/v1/projects".into(), None, Some(Role::Viewer), StatusCode::OK),
        (
            "GET",
            "/api/v1/projects/00000000-0000-4000-8000-000000000001".into(),
            None,
            Some(Role::Viewer),
            StatusCode::OK,
        ),
        (
            "POST",
            "/api/v1/projects".into(),
            Some(r#"{"name":"p-{n}"}"#),
            Some(Role::Editor),
            StatusCode::CREATED,
        ),
        ("GET", "/api/v1/tokens".into(), None, Some(Role::Viewer), StatusCode::OK),
        (
            "POST",
            "/api/v1/tokens".into(),
            Some(r#"{"name":"t-{n}"}"#),
            Some(Role::Viewer),
            StatusCode::CREATED,
        ),
        ("GET", "/api/v1/tokens?all=true".into(), None, Some(Role::Admin), StatusCode::OK),
        ("DELETE", format!("/api/v1/tokens/{victim_token}"), None, Some(Role::Admin), StatusCode::OK),
        ("GET", "/api/v1/users".into(), None, Some(Role::Admin), StatusCode::OK),
        (
            "POST",
            "/api/v1/users".into(),
            Some(r#"{"username":"u-{n}","role":"viewer"}"#),
            Some(Role::Admin),
            StatusCode::CREATED,
        ),
        (
            "PATCH",
            format!("/api/v1/users/{victim}"),
            Some(r#"{"role":"editor"}"#),
            Some(Role::Admin),
            StatusCode::OK,
        ),
        ("GET", "/api/v1/audit".into(), None, Some(Role::Admin), StatusCode::OK),
        ("POST", "/api/v1/logout".into(), None, Some(Role::Viewer), StatusCode::NO_CONTENT),
        ("GET", "/api/v1/jobs".into(), None, Some(Role::Viewer), StatusCode::OK),
        (
            "POST",
            "/api/v1/jobs".into(),
            Some(r#"{"kind":"system.cleanup"}"#),
            Some(Role::Editor),
            StatusCode::CREATED,
        ),
        ("GET", format!("/api/v1/jobs/{job}"), None, Some(Role::Viewer), StatusCode::OK),
        (
            "GET",
            format!("/api/v1/jobs/{job}/log/stream?after=999999"),
            None,
            Some(Role::Viewer),
            StatusCode::OK,
        ),
        ("POST", format!("/api/v1/jobs/{job}/cancel"), None, Some(Role::Editor), StatusCode::OK),
        ("GET", "/api/v1/schedules".into(), None, Some(Role::Viewer), StatusCode::OK),
        (
            "POST",
            "/api/v1/schedules".into(),
            Some(r#"{"name":"s-{n}","cron":"0 3 * * *","kind":"system.cleanup"}"#),
            Some(Role::Editor),
            StatusCode::CREATED,
        ),
        ("POST", "/api/jobs".into(), Some("query[limit]=5"), Some(Role::Viewer), StatusCode::OK),
        ("POST", "/api/schedules".into(), Some(""), Some(Role::Viewer), StatusCode::OK),
        // Server functions behind the dashboard.
        ("POST", "/api/overview".into(), Some(""), Some(Role::Viewer), StatusCode::OK),
        ("POST", "/api/projects".into(), Some(""), Some(Role::Viewer), StatusCode::OK),
        (
            "POST",
            "/api/projects/create".into(),
            Some("name=sf-{n}&description="),
            Some(Role::Editor),
            StatusCode::OK,
        ),
        ("POST", "/api/tokens".into(), Some(""), Some(Role::Viewer), StatusCode::OK),
        ("POST", "/api/users".into(), Some(""), Some(Role::Admin), StatusCode::OK),
        (
            "POST",
            "/api/users/create".into(),
            Some("username=sfu-{n}&role=viewer"),
            Some(Role::Admin),
            StatusCode::OK,
        ),
        ("POST", "/api/audit".into(), Some("filter[limit]=5"), Some(Role::Admin), StatusCode::OK),
    ];
    let mut n = 0;
    for (method, uri, body, least, ok) in &routes {
        for (role, token) in &tokens {
            n += 1;
            let body = body.map(|b| b.replace("{n}", &n.to_string()));
            let r = call(&app, method, uri, token.as_deref(), body.as_deref()).await;
            let expected = match (least, role) {
                (None, _) => *ok,
                (Some(_), None) => StatusCode::UNAUTHORIZED,
                (Some(least), Some(role)) if role < least => StatusCode::FORBIDDEN,
                _ => *ok,
            };
            assert_eq!(r.status, expected, "{method} {uri} as {role:?}: {}", r.body);
        }
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn signed_out_page_views_go_to_the_login_page(pool: PgPool) {
    let app = app(pool);
    let r = get(&app, "/projects?x=1").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location.as_deref(), Some("/login?next=%2Fprojects%3Fx%3D1"));
}

async fn login(app: &Router, user: &str, password: &str) -> Reply {
    post_json(app, "/api/v1/login", &serde_json::json!({"username": user, "password": password}).to_string())
        .await
}

fn cookie_of(r: &Reply) -> String {
    let c = r.set_cookie.clone().expect("set-cookie");
    assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Path=/"), "{c}");
    c.split(';').next().unwrap().to_string()
}

#[sqlx::test(migrations = "../migrations")]
async fn login_sessions_logout_and_the_audit_trail(pool: PgPool) {
    let app = app(pool.clone());
    user_with_token(&pool, "ana", Role::Editor).await;

    let r = login(&app, "ana", "wrong-password-123").await;
    assert_eq!((r.status, r.error_code().as_str()), (StatusCode::UNAUTHORIZED, "unauthorized"));
    assert!(r.set_cookie.is_none());
    let r = login(&app, "nobody", "wrong-password-123").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"]["message"], "wrong username or password", "no user enumeration");
    assert_eq!(audit_count(&pool, "login.failed", "failed").await, 2);

    let r = login(&app, "ANA", &password_of("ana")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["role"], "editor");
    let cookie = cookie_of(&r);
    assert_eq!(audit_count(&pool, "login.ok", "ok").await, 1);

    let me =
        send(&app, Request::get("/api/v1/me").header("cookie", &cookie).body(Body::empty()).unwrap()).await;
    assert_eq!(me.json()["username"], "ana");
    assert_eq!(me.json()["via"], "session");

    // Logout ends the session.
    let r = send(
        &app,
        Request::post("/api/v1/logout")
            .header("cookie", &cookie)
            .header("origin", "http://cairn.test")
            .header("host", "cairn.test")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let me =
        send(&app, Request::get("/api/v1/me").header("cookie", &cookie).body(Body::empty()).unwrap()).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(audit_count(&pool, "logout", "ok").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn expired_sessions_are_refused(pool: PgPool) {
    let app = app(pool.clone());
    user_with_token(&pool, "ana", Role::Viewer).await;
    let cookie = cookie_of(&login(&app, "ana", &password_of("ana")).await);
    sqlx::query("update session set expires_at = now() - interval '1 second'").execute(&pool).await.unwrap();
    let me =
        send(&app, Request::get("/api/v1/me").header("cookie", &cookie).body(Body::empty()).unwrap()).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrations = "../migrations")]
async fn failed_logins_are_rate_limited_per_user(pool: PgPool) {
    let app = app(pool.clone());
    user_with_token(&pool, "ana", Role::Viewer).await;
    for _ in 0..5 {
        assert_eq!(login(&app, "ana", "wrong-password-123").await.status, StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused while the limit holds.
    let r = login(&app, "ana", &password_of("ana")).await;
    assert_eq!((r.status, r.error_code().as_str()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert_eq!(audit_count(&pool, "login.blocked", "denied").await, 1);
    // Other users are not affected.
    user_with_token(&pool, "bob", Role::Viewer).await;
    assert_eq!(login(&app, "bob", &password_of("bob")).await.status, StatusCode::OK);
}

#[sqlx::test(migrations = "../migrations")]
async fn cookie_writes_must_come_from_our_origin(pool: PgPool) {
    let app = app(pool.clone());
    let (_, token) = user_with_token(&pool, "ed", Role::Editor).await;
    let cookie = cookie_of(&login(&app, "ed", &password_of("ed")).await);
    let post = |origin: Option<&str>, fetch_site: Option<&str>, name: &str| {
        let mut req = Request::post("/api/v1/projects")
            .header("cookie", &cookie)
            .header("host", "cairn.test")
            .header("content-type", "application/json");
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(s) = fetch_site {
            req = req.header("sec-fetch-site", s);
        }
        req.body(Body::from(format!(r#"{{"name":"{name}"}}"#))).unwrap()
    };
    let r = send(&app, post(None, None, "a")).await;
    assert_eq!((r.status, r.error_code().as_str()), (StatusCode::FORBIDDEN, "csrf"));
    let r = send(&app, post(Some("https://evil.example"), None, "b")).await;
    assert_eq!((r.status, r.error_code().as_str()), (StatusCode::FORBIDDEN, "csrf"));
    let r = send(&app, post(Some("http://cairn.test"), Some("cross-site"), "c")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(&app, post(Some("http://cairn.test"), None, "d")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = send(&app, post(None, Some("same-origin"), "e")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // Bearer tokens are exempt: no cookie, no ambient authority.
    let r = post_json_as(&app, "/api/v1/projects", &token, r#"{"name":"f"}"#).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let names: Vec<String> =
        sqlx::query_scalar("select name from project order by name").fetch_all(&pool).await.unwrap();
    assert_eq!(names, ["d", "default", "e", "f"], "the refused writes changed nothing");
}

#[sqlx::test(migrations = "../migrations")]
async fn revoked_and_expired_tokens_are_refused(pool: PgPool) {
    let app = app(pool.clone());
    let (_, admin) = user_with_token(&pool, "root", Role::Admin).await;
    let (_, t) = user_with_token(&pool, "ana", Role::Viewer).await;
    assert_eq!(get_as(&app, "/api/v1/me", &t).await.status, StatusCode::OK);

    let tokens = get_as(&app, "/api/v1/tokens", &t).await.json();
    let id = tokens[0]["token_id"].as_str().unwrap().to_string();
    assert!(tokens[0]["prefix"].as_str().unwrap().starts_with("cairn_"));
    let r = send(
        &app,
        Request::delete(format!("/api/v1/tokens/{id}"))
            .header("authorization", format!("Bearer {t}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "one's own token may be revoked: {}", r.body);
    assert!(r.json()["revoked_at"].is_string());
    // Revocation takes effect at once, cache or not.
    let r = get_as(&app, "/api/v1/me", &t).await;
    assert_eq!((r.status, r.error_code().as_str()), (StatusCode::UNAUTHORIZED, "unauthorized"));
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("revoked or expired"));
    assert_eq!(audit_count(&pool, "token.rejected", "denied").await, 1);

    let created =
        post_json_as(&app, "/api/v1/tokens", &admin, r#"{"name":"short","expires_in_days":1}"#).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let secret = created.json()["secret"].as_str().unwrap().to_string();
    sqlx::query("update api_token set expires_at = now() - interval '1 second' where name = 'short'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(get_as(&app, "/api/v1/me", &secret).await.status, StatusCode::UNAUTHORIZED);

    for bad in ["Bearer nope", "Basic abc", "Bearer cairn_0000000000000000000000000000000000000000000"] {
        let r =
            send(&app, Request::get("/api/v1/me").header("authorization", bad).body(Body::empty()).unwrap())
                .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad}");
    }
    let r = post_json_as(&app, "/api/v1/tokens", &admin, r#"{"name":"x","expires_in_days":0}"#).await;
    assert_eq!(
        (r.status, r.json()["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("expires_in_days"))
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn nobody_raises_their_own_role(pool: PgPool) {
    let app = app(pool.clone());
    let (viewer, vt) = user_with_token(&pool, "ana", Role::Viewer).await;
    let (admin, at) = user_with_token(&pool, "root", Role::Admin).await;
    let patch = |id: domain::UserId, token: &str, body: &str| {
        Request::patch(format!("/api/v1/users/{id}"))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let r = send(&app, patch(viewer, &vt, r#"{"role":"admin"}"#)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(&app, patch(admin, &at, r#"{"role":"viewer"}"#)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "not even an admin changes their own role");
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("another admin"));
    assert_eq!(audit_count(&pool, "user.change", "denied").await, 2);
    let role: String = sqlx::query_scalar("select role from app_user where username = 'ana'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(role, "viewer", "nothing changed");

    // An admin changes someone else's role; the viewer's cached token sees it at once.
    assert_eq!(
        post_json_as(&app, "/api/v1/projects", &vt, r#"{"name":"x"}"#).await.status,
        StatusCode::FORBIDDEN
    );
    let r = send(&app, patch(viewer, &at, r#"{"role":"editor"}"#)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        post_json_as(&app, "/api/v1/projects", &vt, r#"{"name":"x"}"#).await.status,
        StatusCode::CREATED
    );
    // Disabling a user ends their access.
    let r = send(&app, patch(viewer, &at, r#"{"disabled":true}"#)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(get_as(&app, "/api/v1/me", &vt).await.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrations = "../migrations")]
async fn users_are_created_with_a_password_policy(pool: PgPool) {
    let app = app(pool.clone());
    let (_, at) = user_with_token(&pool, "root", Role::Admin).await;
    let r =
        post_json_as(&app, "/api/v1/users", &at, r#"{"username":"bo","role":"editor","password":"short"}"#)
            .await;
    assert_eq!(
        (r.status, r.json()["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("password"))
    );
    let r = post_json_as(&app, "/api/v1/users", &at, r#"{"username":"bo","role":"boss"}"#).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "unknown role: {}", r.body);
    let r = post_json_as(&app, "/api/v1/users", &at, r#"{"username":"bo","role":"editor"}"#).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let pw = r.json()["generated_password"].as_str().unwrap().to_string();
    assert_eq!(login(&app, "bo", &pw).await.status, StatusCode::OK);
    let r = post_json_as(&app, "/api/v1/users", &at, r#"{"username":"BO","role":"editor"}"#).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let stored: String = sqlx::query_scalar("select password_hash from app_user where username = 'bo'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(stored.starts_with("$argon2id$"));
}

#[sqlx::test(migrations = "../migrations")]
async fn the_login_form_redirects(pool: PgPool) {
    let app = app(pool.clone());
    user_with_token(&pool, "ana", Role::Viewer).await;
    let form = |body: String| {
        Request::post("/auth/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", "http://cairn.test")
            .header("host", "cairn.test")
            .body(Body::from(body))
            .unwrap()
    };
    let pw: String = url::form_urlencoded::byte_serialize(password_of("ana").as_bytes()).collect();
    let ok = send(&app, form(format!("username=ana&password={pw}&next=%2Fprojects"))).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.location.as_deref(), Some("/projects"));
    assert!(ok.set_cookie.is_some());
    let bad = send(&app, form("username=ana&password=nope-nope-nope&next=%2F%2Fevil.example".into())).await;
    assert_eq!(bad.status, StatusCode::SEE_OTHER);
    let loc = bad.location.unwrap();
    assert!(loc.starts_with("/login?error=wrong+username+or+password&next=%2F&"), "{loc}");
    // A login form posted from another site is refused.
    let mut cross = form(format!("username=ana&password={pw}"));
    cross.headers_mut().insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(send(&app, cross).await.status, StatusCode::FORBIDDEN);
}
