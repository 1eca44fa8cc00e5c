//! The job queue over HTTP: start, list, detail, live log stream, cancel, retry.
use crate::support::{app, get_as, post_json_as, state, user_with_token};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use domain::auth::Role;
use http_body_util::BodyExt;
use services::queue::{JobRegistry, worker};
use sqlx::PgPool;
use tower::ServiceExt;

async fn run_queued(pool: &PgPool) -> usize {
    let st = state(pool.clone());
    let registry = services::jobs::builtin::register(JobRegistry::new(), &st.services);
    worker::run_pending(pool, &registry, &worker::WorkerConfig::default()).await.unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_self_check_runs_and_its_log_is_served_and_streamed(pool: PgPool) {
    let app = app(pool.clone());
    let (_, editor) = user_with_token(&pool, "ed", Role::Editor).await;
    let (_, viewer) = user_with_token(&pool, "vi", Role::Viewer).await;

    let r = post_json_as(&app, "/api/v1/jobs", &viewer, r#"{"kind":"system.selfcheck"}"#).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "viewers do not start jobs");
    let r =
        post_json_as(&app, "/api/v1/jobs", &editor, r#"{"kind":"system.selfcheck","payload":{"probes":2}}"#)
            .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.json()["job_id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["state"], "queued");

    let page = get_as(&app, "/api/v1/jobs?state=queued", &viewer).await.json();
    assert_eq!(page["jobs"].as_array().unwrap().len(), 1);
    assert!(page["counts"].as_array().unwrap().iter().any(|c| c["state"] == "queued" && c["count"] == 1));

    assert_eq!(run_queued(&pool).await, 1);
    let detail = get_as(&app, &format!("/api/v1/jobs/{id}"), &viewer).await.json();
    assert_eq!(detail["job"]["state"], "succeeded", "{detail}");
    let lines: Vec<String> =
        detail["log"].as_array().unwrap().iter().map(|l| l["line"].as_str().unwrap().to_string()).collect();
    assert!(lines.iter().any(|l| l.starts_with("probe 2/2: database round trip")), "{lines:?}");
    assert_eq!(lines.last().map(String::as_str), Some("self-check passed"));

    // The stream sends the lines after `after`, the state, then `end`, and closes.
    let req = Request::get(format!("/api/v1/jobs/{id}/log/stream?after=1"))
        .header("authorization", format!("Bearer {viewer}"))
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let body = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(!body.contains("\"line_no\":1,"), "line 1 was skipped: {body}");
    assert!(body.contains("event: line") && body.contains("self-check passed"), "{body}");
    assert!(body.contains("event: state") && body.trim_end().ends_with("data: succeeded"), "{body}");
}

#[sqlx::test(migrations = "../migrations")]
async fn queued_jobs_are_cancelled_and_retried(pool: PgPool) {
    let app = app(pool.clone());
    let (_, editor) = user_with_token(&pool, "ed", Role::Editor).await;
    let r = post_json_as(&app, "/api/v1/jobs", &editor, r#"{"kind":"system.cleanup"}"#).await;
    let id = r.json()["job_id"].as_str().unwrap().to_string();

    let r = post_json_as(&app, &format!("/api/v1/jobs/{id}/retry"), &editor, "").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "a queued job cannot be retried: {}", r.body);
    let r = post_json_as(&app, &format!("/api/v1/jobs/{id}/cancel"), &editor, "").await;
    assert_eq!((r.status, r.json()["state"].as_str()), (StatusCode::OK, Some("cancelled")));
    assert_eq!(run_queued(&pool).await, 0, "a cancelled job does not run");
    let r = post_json_as(&app, &format!("/api/v1/jobs/{id}/retry"), &editor, "").await;
    assert_eq!((r.status, r.json()["state"].as_str()), (StatusCode::OK, Some("queued")));
    assert_eq!(run_queued(&pool).await, 1);
    let r = post_json_as(&app, &format!("/api/v1/jobs/{id}/cancel"), &editor, "").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "finished jobs cannot be cancelled");
    let detail = get_as(&app, &format!("/api/v1/jobs/{id}"), &editor).await.json();
    assert_eq!(detail["log"][0]["line"], "deleted 0 expired sessions");
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_job_requests_say_what_is_wrong(pool: PgPool) {
    let app = app(pool.clone());
    let (_, editor) = user_with_token(&pool, "ed", Role::Editor).await;
    let r = post_json_as(&app, "/api/v1/jobs", &editor, r#"{"kind":"webhook.deliver"}"#).await;
    assert_eq!(
        (r.status, r.json()["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("kind"))
    );
    assert!(r.body.contains("system.selfcheck"), "names the kinds that may be started: {}", r.body);
    let r =
        post_json_as(&app, "/api/v1/jobs", &editor, r#"{"kind":"system.selfcheck","payload":{"probes":0}}"#)
            .await;
    assert_eq!(r.json()["error"]["field"], "payload.probes");
    let r =
        post_json_as(&app, "/api/v1/jobs", &editor, r#"{"kind":"system.selfcheck","payload":{"prob":1}}"#)
            .await;
    assert_eq!(
        (r.status, r.json()["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("payload"))
    );
    let r = get_as(&app, "/api/v1/jobs?state=sleeping", &editor).await;
    assert_eq!(
        (r.status, r.json()["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("state"))
    );
    let r = get_as(&app, "/api/v1/jobs?after=garbage", &editor).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = get_as(&app, "/api/v1/jobs/00000000-0000-4000-8000-00000000dead", &editor).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = get_as(&app, "/api/v1/jobs/00000000-0000-4000-8000-00000000dead/log/stream", &editor).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a stream of nothing is a 404 before it starts");
    let count: i64 = sqlx::query_scalar("select count(*) from job").fetch_one(&pool).await.unwrap();
    assert_eq!(count, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_built_in_schedule_is_listed(pool: PgPool) {
    let app = app(pool.clone());
    let (_, viewer) = user_with_token(&pool, "vi", Role::Viewer).await;
    services::jobs::builtin::ensure_schedules(&pool).await.unwrap();
    services::jobs::builtin::ensure_schedules(&pool).await.unwrap();
    let list = get_as(&app, "/api/v1/schedules", &viewer).await.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "created once: {list:?}");
    assert_eq!(list[0]["name"], "Hourly cleanup");
    assert_eq!(list[0]["kind"], "system.cleanup");
    assert!(list[0]["next_run_at"].is_string());
}

#[sqlx::test(migrations = "../migrations")]
async fn schedules_are_created_paused_resumed_and_deleted(pool: PgPool) {
    let app = app(pool.clone());
    let (_, editor) = user_with_token(&pool, "ed", Role::Editor).await;
    let (_, viewer) = user_with_token(&pool, "vi", Role::Viewer).await;
    let body = r#"{"name":"Nightly check","cron":"0 3 * * *","timezone":"Europe/Berlin","kind":"system.selfcheck","payload":{"probes":3}}"#;
    assert_eq!(post_json_as(&app, "/api/v1/schedules", &viewer, body).await.status, StatusCode::FORBIDDEN);
    let r = post_json_as(&app, "/api/v1/schedules", &editor, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.json()["schedule_id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["timezone"], "Europe/Berlin");
    assert!(r.json()["next_run_at"].is_string());
    assert_eq!(post_json_as(&app, "/api/v1/schedules", &editor, body).await.status, StatusCode::CONFLICT);

    for (bad, field) in [
        (r#"{"name":"x","cron":"every day","kind":"system.cleanup"}"#, "cron"),
        (r#"{"name":"x","cron":"0 3 * * *","timezone":"Mars/Olympus","kind":"system.cleanup"}"#, "timezone"),
        (r#"{"name":"x","cron":"0 3 * * *","kind":"webhook.deliver"}"#, "kind"),
        (
            r#"{"name":"x","cron":"0 3 * * *","kind":"system.selfcheck","payload":{"probes":0}}"#,
            "payload.probes",
        ),
    ] {
        let r = post_json_as(&app, "/api/v1/schedules", &editor, bad).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {}", r.body);
        assert_eq!(r.json()["error"]["field"], field, "{bad}");
    }

    let patch = |body: &'static str| {
        Request::patch(format!("/api/v1/schedules/{id}"))
            .header("authorization", format!("Bearer {editor}"))
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let r = crate::support::send(&app, patch(r#"{"enabled":false}"#)).await;
    assert_eq!((r.status, r.json()["enabled"].as_bool()), (StatusCode::OK, Some(false)));
    assert!(r.json()["next_run_at"].is_null(), "a paused schedule has no next run");
    let r = crate::support::send(&app, patch(r#"{"enabled":true,"cron":"30 4 * * *"}"#)).await;
    assert_eq!(r.json()["cron"], "30 4 * * *");
    assert!(r.json()["next_run_at"].is_string());
    let r = crate::support::send(&app, patch(r#"{"cron":"61 * * * *"}"#)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "a bad cron changes nothing");

    let del = Request::delete(format!("/api/v1/schedules/{id}"))
        .header("authorization", format!("Bearer {editor}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(crate::support::send(&app, del).await.status, StatusCode::NO_CONTENT);
    let list = get_as(&app, "/api/v1/schedules", &viewer).await.json();
    assert_eq!(list.as_array().unwrap().len(), 0);
}
