//! The live run view's stream: `run` events with the whole run, then `end`.
use crate::support::{get_as, state, user_with_token};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use domain::auth::Role;
use domain::pipelines::{RunState, StartRun};
use http_body_util::BodyExt;
use services::training::command::CommandSettings;
use sqlx::PgPool;
use tower::ServiceExt;

const SPEC: &str = "name: streamed\ncomponents:\n  one:\n    command: [sh, -c, 'echo 1 > {{outputs.v}}']\n    outputs: {v: {type: int}}\nsteps:\n  - {name: a, component: one}\n  - {name: b, component: one, after: [a]}\n";

#[sqlx::test(migrations = "../migrations")]
async fn a_run_streams_its_state_then_ends(pool: PgPool) {
    let mut st = state(pool.clone());
    st.services =
        st.services.with_commands(CommandSettings { allow: vec!["sh".into()], ..Default::default() });
    let app = server::http::router(st.clone());
    let (editor_id, _) = user_with_token(&pool, "ed", Role::Editor).await;
    let (_, viewer) = user_with_token(&pool, "vi", Role::Viewer).await;
    let editor = services::auth::Principal {
        user_id: editor_id,
        username: "ed".into(),
        role: Role::Editor,
        via: services::auth::Via::Cli,
        ip: None,
    };
    services::pipelines::submit(&st.services, &editor, SPEC).await.unwrap();
    let run =
        services::pipelines::start_run(&st.services, &editor, "streamed", StartRun::default()).await.unwrap();
    let id = run.summary.run_id;
    let cancelled = services::pipelines::cancel_run(&st.services, &editor, id).await.unwrap();
    assert_eq!(cancelled.summary.state, RunState::Cancelled);

    let req = Request::get(format!("/api/v1/pipelines/runs/{id}/events"))
        .header("authorization", format!("Bearer {viewer}"))
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let body = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert_eq!(body.matches("event: run").count(), 1, "one run event for an unchanging run: {body}");
    let data = body
        .lines()
        .find_map(|l| l.strip_prefix("data: ").filter(|d| d.starts_with('{')))
        .expect("a run event's data");
    let sent: domain::pipelines::RunDetail = serde_json::from_str(data).unwrap();
    assert_eq!((sent.summary.run_id, sent.steps.len()), (id, 2));
    assert!(body.contains("event: end") && body.trim_end().ends_with("data: cancelled"), "{body}");

    let r = get_as(&app, "/api/v1/pipelines/runs/00000000-0000-4000-8000-00000000dead/events", &viewer).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a stream of nothing is a 404 before it starts");
    let r = get_as(&app, "/api/v1/pipelines/runs/not-a-run/events", &viewer).await;
    assert!(r.status.is_client_error(), "{}", r.status);
}
