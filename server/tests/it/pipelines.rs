//! Pipelines over HTTP: submit (YAML body or `{spec}`), versions, runs with real
//! workers, schedules, the signed webhook (a bad signature starts nothing), the
//! monitoring trigger, components, and errors that name the field.
use crate::support::{self, eventually, get, get_as, post_json_as, send, user_with_token};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use domain::auth::Role;
use server::http::ServerState;
use services::queue::JobRegistry;
use services::queue::worker::{self, WorkerConfig, WorkerHandle};
use services::secrets::SecretCipher;
use services::training::command::CommandSettings;
use sqlx::PgPool;
use std::time::Duration;

pub const SPEC: &str = r#"
name: hello
description: two command steps
parameters:
  n: {type: int, default: 2}
components:
  emit:
    command: [sh, -c, 'echo "{{inputs.n}}" > {{outputs.value}}']
    inputs: {n: {type: int}}
    outputs: {value: {type: int}}
  double:
    command: [sh, -c, 'echo $(( {{inputs.x}} * 2 )) > {{outputs.y}}']
    inputs: {x: {type: int}}
    outputs: {y: {type: int}}
steps:
  - name: a
    component: emit
    inputs: {n: "{{ params.n }}"}
  - name: b
    component: double
    inputs: {x: "{{ steps.a.outputs.value }}"}
    cache: false
"#;

pub fn state(pool: PgPool) -> ServerState {
    let mut st = support::state(pool);
    st.services = st
        .services
        .with_secrets(SecretCipher::from_passphrase("test-secret-key-of-at-least-32-chars").unwrap())
        .with_commands(CommandSettings { allow: vec!["sh".into()], ..Default::default() });
    st
}

/// The router and workers that run pipeline jobs (steps and triggers).
pub async fn start(pool: PgPool) -> (Router, ServerState, WorkerHandle) {
    let st = state(pool);
    services::pipelines::register_builtins(&st.services.db).await.unwrap();
    let registry = services::pipelines::register(JobRegistry::new()).provide(st.services.clone());
    let config = WorkerConfig {
        name: "http-pipelines".into(),
        lease: Duration::from_secs(5),
        heartbeat_interval: Duration::from_millis(200),
        poll_interval: Duration::from_millis(100),
        reap_interval: Duration::from_millis(200),
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        shutdown_grace: Duration::from_secs(2),
        ..WorkerConfig::default()
    };
    let workers = worker::start(st.services.db.clone(), registry, config);
    (server::http::router(st.clone()), st, workers)
}

async fn post_body(app: &Router, uri: &str, token: &str, content_type: &str, body: &str) -> support::Reply {
    send(
        app,
        Request::post(uri)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", content_type)
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

async fn finished(app: &Router, token: &str, run_id: &str) -> serde_json::Value {
    let uri = format!("/api/v1/pipeline-runs/{run_id}");
    let ended = eventually(Duration::from_secs(30), || async {
        let s = get_as(app, &uri, token).await.json()["summary"]["state"].as_str().unwrap_or("").to_string();
        matches!(s.as_str(), "succeeded" | "failed" | "cancelled")
    })
    .await;
    let run = get_as(app, &uri, token).await.json();
    assert!(ended, "the run did not end: {run:#}");
    run
}

async fn run_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from pipeline_run").fetch_one(pool).await.unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn pipelines_are_submitted_run_and_listed(pool: PgPool) {
    let (app, _, workers) = start(pool.clone()).await;
    let (_, editor) = user_with_token(&pool, "ed", Role::Editor).await;
    let (_, viewer) = user_with_token(&pool, "vi", Role::Viewer).await;

    assert_eq!(get(&app, "/api/v1/pipelines").await.status, StatusCode::UNAUTHORIZED);
    let r = post_body(&app, "/api/v1/pipelines", &viewer, "application/yaml", SPEC).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "viewers do not submit: {}", r.body);

    // The YAML file as the body: a new version.
    let r = post_body(&app, "/api/v1/pipelines", &editor, "application/yaml", SPEC).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (r.json()["created"].as_bool(), r.json()["version"]["version"].as_i64()),
        (Some(true), Some(1))
    );
    // The same spec wrapped in JSON: the existing version, 200.
    let body = serde_json::json!({ "spec": SPEC }).to_string();
    let r = post_json_as(&app, "/api/v1/pipelines", &editor, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["created"], false);

    let list = get_as(&app, "/api/v1/pipelines", &viewer).await.json();
    assert_eq!(list[0]["name"], "hello", "{list}");
    let detail = get_as(&app, "/api/v1/pipelines/hello", &viewer).await.json();
    assert_eq!(detail["latest"]["version"], 1, "{detail}");
    let v = get_as(&app, "/api/v1/pipelines/hello/versions/1", &viewer).await;
    assert_eq!((v.status, v.json()["spec"]["steps"][1]["name"].as_str()), (StatusCode::OK, Some("b")));
    let v = get_as(&app, "/api/v1/pipelines/hello/versions/9", &viewer).await;
    assert_eq!(v.status, StatusCode::NOT_FOUND);
    assert_eq!(get_as(&app, "/api/v1/pipelines/nope", &viewer).await.status, StatusCode::NOT_FOUND);

    // A wrong parameter type is refused with the parameter named.
    let r = post_json_as(&app, "/api/v1/pipelines/hello/runs", &editor, r#"{"parameters":{"n":"x"}}"#).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.json()["error"]["field"], "parameters.n", "{}", r.body);

    let r = post_json_as(&app, "/api/v1/pipelines/hello/runs", &editor, r#"{"parameters":{"n":5}}"#).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let run_id = r.json()["summary"]["run_id"].as_str().unwrap().to_string();
    let run = finished(&app, &viewer, &run_id).await;
    assert_eq!(run["summary"]["state"], "succeeded", "{run:#}");
    assert_eq!(run["summary"]["trigger"]["kind"], "manual");
    let b = run["steps"].as_array().unwrap().iter().find(|s| s["name"] == "b").unwrap();
    assert_eq!(b["outputs"]["y"], 10, "{b:#}");

    let runs = get_as(&app, "/api/v1/pipelines/hello/runs?state=succeeded", &viewer).await.json();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    let runs = get_as(&app, "/api/v1/pipeline-runs?state=failed&pipeline=hello", &viewer).await.json();
    assert_eq!(runs.as_array().unwrap().len(), 0, "{runs}");
    let r = get_as(&app, "/api/v1/pipeline-runs?state=sleeping", &viewer).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

    // Re-run an ended run: a new run; cancelling an ended one is a conflict.
    let r = post_json_as(&app, &format!("/api/v1/pipeline-runs/{run_id}/rerun"), &editor, "").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json()["rerun_of"], run_id.as_str());
    let again = r.json()["summary"]["run_id"].as_str().unwrap().to_string();
    finished(&app, &viewer, &again).await;
    let r = post_json_as(&app, &format!("/api/v1/pipeline-runs/{run_id}/cancel"), &editor, "").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);

    // Monitoring's trigger records why.
    let r = post_json_as(&app, "/api/v1/pipelines/hello/monitor-trigger", &editor, r#"{"reason":""}"#).await;
    assert_eq!(
        (r.status, r.json()["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
    );
    let r = post_json_as(
        &app,
        "/api/v1/pipelines/hello/monitor-trigger",
        &editor,
        r#"{"reason":"drift on income","alert_id":"a1"}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json()["summary"]["trigger"]["kind"], "monitor");
    assert_eq!(r.json()["summary"]["trigger"]["reason"], "drift on income");
    finished(&app, &viewer, r.json()["summary"]["run_id"].as_str().unwrap()).await;

    // Components: the inline ones were registered; a new one can be.
    let comps = get_as(&app, "/api/v1/pipeline-components", &viewer).await.json();
    assert!(
        comps.as_array().unwrap().iter().any(|c| c["name"] == "emit" && c["kind"] == "command"),
        "{comps}"
    );
    assert!(comps.as_array().unwrap().iter().any(|c| c["kind"] == "builtin"), "{comps}");
    let r = post_json_as(&app, "/api/v1/pipeline-components/noop", &editor, r#"{"command":["true"]}"#).await;
    assert_eq!((r.status, r.json()["version"].as_i64()), (StatusCode::OK, Some(1)), "{}", r.body);
    let r = post_json_as(&app, "/api/v1/pipeline-components/noop", &editor, r#"{"command":[]}"#).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);

    let r = send(
        &app,
        Request::delete("/api/v1/pipelines/hello")
            .header("authorization", format!("Bearer {editor}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(get_as(&app, "/api/v1/pipelines/hello", &viewer).await.status, StatusCode::NOT_FOUND);
    workers.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_specs_name_the_field_and_the_place(pool: PgPool) {
    let app = server::http::router(state(pool.clone()));
    services::pipelines::register_builtins(&pool).await.unwrap();
    let (_, editor) = user_with_token(&pool, "ed", Role::Editor).await;

    let r = post_body(
        &app,
        "/api/v1/pipelines",
        &editor,
        "application/yaml",
        "name: p\nsteps:\n  - name: [oops\n",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let e = &r.json()["error"];
    assert_eq!(e["field"], "spec");
    assert!(e["message"].as_str().unwrap().contains("line 3"), "{e}");
    assert!(e["message"].as_str().unwrap().contains("column"), "{e}");

    let r = post_body(
        &app,
        "/api/v1/pipelines",
        &editor,
        "text/plain",
        "name: p\nsteps:\n  - name: a\n    component: no-such-thing\n",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("no-such-thing"), "{}", r.body);

    // A cycle is named.
    let cyclic =
        SPEC.replace("inputs: {n: \"{{ params.n }}\"}", "inputs: {n: \"{{ params.n }}\"}\n    after: [b]");
    let r = post_body(&app, "/api/v1/pipelines", &editor, "application/yaml", &cyclic).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("cycle"), "{}", r.body);
    assert_eq!(run_count(&pool).await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn schedules_are_added_changed_and_deleted(pool: PgPool) {
    let app = server::http::router(state(pool.clone()));
    services::pipelines::register_builtins(&pool).await.unwrap();
    let (_, editor) = user_with_token(&pool, "ed", Role::Editor).await;
    let r = post_body(&app, "/api/v1/pipelines", &editor, "application/yaml", SPEC).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let r = post_json_as(&app, "/api/v1/pipelines/hello/schedules", &editor, r#"{"cron":"not cron"}"#).await;
    assert_eq!(
        (r.status, r.json()["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("cron")),
        "{}",
        r.body
    );
    let r = post_json_as(
        &app,
        "/api/v1/pipelines/hello/schedules",
        &editor,
        r#"{"cron":"0 6 * * *","timezone":"Europe/Paris","parameters":{"n":4}}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.json()["schedule_id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["enabled"], true);

    let list = get_as(&app, "/api/v1/pipelines/hello/schedules", &editor).await.json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["timezone"], "Europe/Paris");

    let patch = |body: &'static str| {
        let app = app.clone();
        let (editor, id) = (editor.clone(), id.clone());
        async move {
            send(
                &app,
                Request::patch(format!("/api/v1/pipelines/hello/schedules/{id}"))
                    .header("authorization", format!("Bearer {editor}"))
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await
        }
    };
    let r = patch(r#"{"enabled":false}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let s = r.json();
    assert_eq!(
        (s["enabled"].as_bool(), s["cron"].as_str(), s["parameters"]["n"].as_i64()),
        (Some(false), Some("0 6 * * *"), Some(4))
    );
    let r = patch(r#"{"parameters":{"m":1}}"#).await;
    assert_eq!(
        (r.status, r.json()["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("parameters.m")),
        "{}",
        r.body
    );

    let delete = |uri: String| {
        let app = app.clone();
        let editor = editor.clone();
        async move {
            send(
                &app,
                Request::delete(uri)
                    .header("authorization", format!("Bearer {editor}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
        }
    };
    let r = delete(format!("/api/v1/pipelines/hello/schedules/{id}")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = delete(format!("/api/v1/pipelines/hello/schedules/{id}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_webhook_needs_a_good_signature_and_nothing_else(pool: PgPool) {
    let (app, _, workers) = start(pool.clone()).await;
    let (_, editor) = user_with_token(&pool, "ed", Role::Editor).await;
    let r = post_body(&app, "/api/v1/pipelines", &editor, "application/yaml", SPEC).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let hook = |signature: Option<String>, body: &'static str| {
        let app = app.clone();
        async move {
            let mut req =
                Request::post("/api/v1/pipelines/hello/webhook").header("content-type", "application/json");
            if let Some(s) = signature {
                req = req.header("x-cairn-signature", s);
            }
            send(&app, req.body(Body::from(body)).unwrap()).await
        }
    };
    let body = r#"{"parameters":{"n":7},"source":"ci"}"#;
    // No secret yet: refused like a bad signature.
    let r = hook(Some(services::webhooks::sign(b"guess", body.as_bytes())), body).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);

    let r = post_json_as(&app, "/api/v1/pipelines/hello/webhook-secret", &editor, "").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let secret = r.json()["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));

    for bad in
        [None, Some("sha256=00".to_string()), Some(services::webhooks::sign(b"wrong", body.as_bytes()))]
    {
        let r = hook(bad.clone(), body).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad:?}: {}", r.body);
        assert_eq!(r.error_code(), "unauthorized");
    }
    // Signed over another body: refused.
    let r = hook(Some(services::webhooks::sign(secret.as_bytes(), b"{}")), body).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let jobs: i64 = sqlx::query_scalar("select count(*) from job where kind = 'pipeline.trigger'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((jobs, run_count(&pool).await), (0, 0), "a refused call starts nothing");

    // Signed right, anonymously: accepted, and the run happens.
    let r = hook(Some(services::webhooks::sign(secret.as_bytes(), body.as_bytes())), body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert!(r.json()["job_id"].is_string(), "{}", r.body);
    let started = eventually(Duration::from_secs(20), || async { run_count(&pool).await == 1 }).await;
    assert!(started, "the webhook's trigger job made no run");
    let runs = get_as(&app, "/api/v1/pipeline-runs?pipeline=hello", &editor).await.json();
    assert_eq!(runs[0]["trigger"]["kind"], "webhook", "{runs}");
    assert_eq!(runs[0]["trigger"]["source"], "ci", "{runs}");
    let run = finished(&app, &editor, runs[0]["run_id"].as_str().unwrap()).await;
    assert_eq!(run["parameters"]["n"], 7, "{run:#}");
    assert_eq!(run["summary"]["state"], "succeeded", "{run:#}");

    // A signed body with an unknown parameter is refused (422) and starts nothing.
    let bad_params = r#"{"parameters":{"zzz":1}}"#;
    let r = hook(Some(services::webhooks::sign(secret.as_bytes(), bad_params.as_bytes())), bad_params).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(run_count(&pool).await, 1);
    workers.shutdown().await;
}

/// `cairn pipeline ...` against a real server on port 0 with workers.
#[sqlx::test(migrations = "../migrations")]
async fn the_cli_submits_runs_waits_and_schedules(pool: PgPool) {
    use server::cli::output::OutputFormat;
    use server::cli::pipeline::{
        NameArgs, PipelineCommand as C, RunArgs, RunIdArgs, RunsArgs, ScheduleAddArgs, ScheduleCommand as S,
        ScheduleIdArgs, SubmitArgs,
    };
    use server::cli::remote::{Remote, RemoteArgs};
    let (_, st, workers) = start(pool.clone()).await;
    let (_, editor) = user_with_token(&pool, "ed", Role::Editor).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve::serve_on(listener, st, async {
        let _ = stopped.await;
    }));
    let remote = RemoteArgs { url: url.clone(), token: Some(editor.clone()), output: OutputFormat::Table };
    let cli = |cmd: C| {
        let remote = remote.clone();
        async move { Remote::new(&remote).unwrap().pipeline(OutputFormat::Table, cmd).await }
    };

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pipeline.yaml");
    std::fs::write(&file, SPEC).unwrap();
    let out = cli(C::Submit(SubmitArgs { file: file.clone(), remote: remote.clone() })).await.unwrap();
    assert!(out.starts_with("created hello v1 (2 steps"), "{out}");
    let out = cli(C::Submit(SubmitArgs { file, remote: remote.clone() })).await.unwrap();
    assert!(out.starts_with("unchanged: hello v1"), "{out}");
    let out = cli(C::List(remote.clone())).await.unwrap();
    assert!(out.lines().nth(1).unwrap().starts_with("hello"), "{out}");

    // --wait follows the run to success and prints the steps.
    let run = |params: Vec<&str>| RunArgs {
        name: "hello".into(),
        params: params.into_iter().map(String::from).collect(),
        pipeline_version: None,
        wait: true,
        remote: remote.clone(),
    };
    let out = cli(C::Run(run(vec!["n=4"]))).await.unwrap();
    assert!(out.contains("succeeded"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("b ") && l.contains("succeeded")), "{out}");

    // A failing run: exit code 4 and the failed step named.
    let err = cli(C::Run(run(vec!["n=oops"]))).await.unwrap_err();
    assert_eq!(err.exit_code(), 1, "a mistyped parameter is refused by the server: {err}");
    assert!(err.to_string().contains("parameters.n"), "{err}");
    let bad = SPEC.replace("* 2 ))", "* 2 )); exit 3").replace("name: hello", "name: broken");
    let file = dir.path().join("broken.yaml");
    std::fs::write(&file, bad).unwrap();
    cli(C::Submit(SubmitArgs { file, remote: remote.clone() })).await.unwrap();
    let err = cli(C::Run(RunArgs { name: "broken".into(), ..run(vec![]) })).await.unwrap_err();
    assert_eq!(err.exit_code(), 4, "{err}");
    assert!(err.to_string().contains("step b failed"), "{err}");

    let out =
        cli(C::Runs(RunsArgs { name: Some("hello".into()), state: None, limit: 10, remote: remote.clone() }))
            .await
            .unwrap();
    assert_eq!(out.lines().count(), 2, "header + one run: {out}");
    let run_id = out.lines().nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    let out = cli(C::Status(RunIdArgs { run: run_id.clone(), remote: remote.clone() })).await.unwrap();
    assert!(out.contains("manual by ed") || out.contains("ed"), "{out}");
    let out = cli(C::Rerun(RunIdArgs { run: run_id.clone(), remote: remote.clone() })).await.unwrap();
    assert!(out.starts_with("started run "), "{out}");
    let err = cli(C::Cancel(RunIdArgs { run: run_id, remote: remote.clone() })).await.unwrap_err();
    assert!(err.to_string().starts_with("409"), "{err}");

    // Schedules: add (6 fields, a time zone), list, disable, enable, delete.
    let out = cli(C::Schedule(S::Add(ScheduleAddArgs {
        name: "hello".into(),
        cron: "0 0 6 * * *".into(),
        timezone: "Europe/Paris".into(),
        params: vec![],
        remote: remote.clone(),
    })))
    .await
    .unwrap();
    assert!(out.starts_with("schedule "), "{out}");
    let id = out.split_whitespace().nth(1).unwrap().to_string();
    let out =
        cli(C::Schedule(S::List(NameArgs { name: "hello".into(), remote: remote.clone() }))).await.unwrap();
    assert!(out.contains(&id) && out.contains("Europe/Paris"), "{out}");
    let sid = || ScheduleIdArgs { name: "hello".into(), schedule: id.clone(), remote: remote.clone() };
    assert!(cli(C::Schedule(S::Disable(sid()))).await.unwrap().ends_with("disabled"));
    assert!(cli(C::Schedule(S::Enable(sid()))).await.unwrap().contains("enabled, next "));
    assert_eq!(cli(C::Schedule(S::Delete(sid()))).await.unwrap(), format!("deleted schedule {id}"));
    let err = cli(C::Schedule(S::Delete(sid()))).await.unwrap_err();
    assert!(err.to_string().starts_with("404"), "{err}");

    let out = cli(C::Show(NameArgs { name: "hello".into(), remote: remote.clone() })).await.unwrap();
    assert!(out.contains("a(emit@1) b(double@1)") && out.contains("recent runs"), "{out}");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    workers.shutdown().await;
}
