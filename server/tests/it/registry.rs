//! The registry over every path a client has — REST, the MLflow-compatible API and
//! the CLI — against a real server on port 0: none of them moves a protected alias
//! without an approved request; approvers (not requesters, not viewers) decide.
use crate::support;
use domain::auth::Role;
use server::cli::model::{AliasArgs, ModelCommand, ReviewArgs, RollbackArgs};
use server::cli::output::OutputFormat;
use server::cli::remote::{Remote, RemoteArgs, RemoteError};
use services::queue::{JobRegistry, worker};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

fn args(url: &str, token: &str) -> RemoteArgs {
    RemoteArgs { url: url.to_string(), token: Some(token.to_string()), output: OutputFormat::Table }
}

async fn cli(url: String, token: String, cmd: ModelCommand) -> Result<String, RemoteError> {
    Remote::new(&args(&url, &token)).unwrap().model(OutputFormat::Table, cmd).await
}

#[sqlx::test(migrations = "../migrations")]
async fn no_path_moves_a_protected_alias_without_an_approved_request(pool: PgPool) {
    let (_, editor) = support::user_with_token(&pool, "erin", Role::Editor).await;
    let (_, approver) = support::user_with_token(&pool, "abe", Role::Approver).await;
    let (_, viewer) = support::user_with_token(&pool, "vic", Role::Viewer).await;
    let state = support::state(pool.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(server::serve::serve_on(listener, state.clone(), async {
        let _ = rx.await;
    }));
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, token: &str| {
        http.request(method, format!("{url}{path}")).header("authorization", format!("Bearer {token}"))
    };

    // A trained model to register.
    let r = call(reqwest::Method::POST, "/api/v1/datasets", &editor)
        .json(&serde_json::json!({"name": "credit"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let csv = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/credit_data.csv")).unwrap();
    let r = call(reqwest::Method::POST, "/api/v1/datasets/credit/versions?file_name=credit.csv", &editor)
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let spec = serde_json::json!({"dataset": "credit", "target": "Status", "auto_prepare": true,
                                  "algorithm": {"name": "gaussian_nb"}});
    let r = call(reqwest::Method::POST, "/api/v1/training/runs", &editor).json(&spec).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let run_id = r.json::<serde_json::Value>().await.unwrap()["run_id"].as_str().unwrap().to_string();
    let jobs = services::training::register(JobRegistry::new()).provide(state.services.clone());
    assert_eq!(worker::run_pending(&pool, &jobs, &worker::WorkerConfig::default()).await.unwrap(), 1);

    // REST: create, register, and ask for production.
    let r = call(reqwest::Method::POST, "/api/v1/models", &viewer)
        .json(&serde_json::json!({"name": "credit"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "viewers do not register models");
    let r = call(reqwest::Method::POST, "/api/v1/models", &editor)
        .json(&serde_json::json!({"name": "credit"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body = serde_json::json!({"source": format!("runs:/{run_id}/model")});
    let r = call(reqwest::Method::POST, "/api/v1/models/credit/versions", &editor)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!((v["version"].as_i64(), v["format"].as_str()), (Some(1), Some("cairn")), "{v}");

    let r = call(reqwest::Method::PUT, "/api/v1/models/credit/aliases/production", &editor)
        .json(&serde_json::json!({"version": 1, "comment": "first model"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "a protected alias makes a request");
    let out: serde_json::Value = r.json().await.unwrap();
    assert_eq!(out["outcome"], "request_created", "{out}");
    let request = out["request"]["promotion_request_id"].as_str().unwrap().to_string();
    let production =
        || call(reqwest::Method::GET, "/api/v1/models/credit/aliases/production", &viewer).send();
    assert_eq!(production().await.unwrap().status(), 404);

    // MLflow: the same refusal, naming the request.
    let r = call(reqwest::Method::POST, "/api/2.0/mlflow/registered-models/alias", &editor)
        .json(&serde_json::json!({"name": "credit", "alias": "production", "version": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error_code"], "PERMISSION_DENIED");
    assert!(e["message"].as_str().unwrap().contains(&request), "{e}");
    assert_eq!(production().await.unwrap().status(), 404);

    // CLI: the alias verb makes (the same) request; editors and viewers cannot approve.
    let alias = |token: &str| {
        cli(
            url.clone(),
            token.to_string(),
            ModelCommand::Alias(AliasArgs {
                name: "credit".into(),
                alias: "production".into(),
                model_version: 1,
                comment: String::new(),
                remote: args(&url, token),
            }),
        )
    };
    let text = alias(&editor).await.unwrap();
    assert!(text.contains("protected") && text.contains(&request), "{text}");
    let review = |token: &str| {
        cli(
            url.clone(),
            token.to_string(),
            ModelCommand::Review(ReviewArgs {
                request: request.clone(),
                reject: false,
                comment: "ok".into(),
                remote: args(&url, token),
            }),
        )
    };
    for token in [&editor, &viewer] {
        match review(token).await {
            Err(RemoteError::Api { status: 403, .. }) => {}
            other => panic!("only approvers approve: {other:?}"),
        }
    }
    assert_eq!(production().await.unwrap().status(), 404);
    let rollback = |token: &str| {
        cli(
            url.clone(),
            token.to_string(),
            ModelCommand::Rollback(RollbackArgs {
                name: "credit".into(),
                alias: "production".into(),
                remote: args(&url, token),
            }),
        )
    };
    assert!(matches!(rollback(&editor).await, Err(RemoteError::Api { status: 403, .. })));

    // The approver decides; now production points at v1.
    let text = review(&approver).await.unwrap();
    assert!(text.contains("approved"), "{text}");
    let a: serde_json::Value = production().await.unwrap().json().await.unwrap();
    assert_eq!(a["version"], 1, "{a}");
    let r = call(reqwest::Method::GET, "/api/v1/inbox", &approver).send().await.unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["pending_reviews"], 0);

    // Bad input: clear statuses and messages.
    let r = call(reqwest::Method::PUT, "/api/v1/models/credit/aliases/staging", &editor)
        .json(&serde_json::json!({"version": 9}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = call(reqwest::Method::PUT, "/api/v1/models/credit/aliases/staging", &editor)
        .json(&serde_json::json!({"version": "one"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a body of the wrong shape");
    let r = call(reqwest::Method::POST, "/api/v1/models/credit/versions", &editor)
        .json(&serde_json::json!({"source": "s3://bucket/model"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error"]["field"], "source", "{e}");
    let r = call(reqwest::Method::POST, "/api/v1/models/credit/versions/upload", &editor)
        .body("not a bundle")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let doc: serde_json::Value = call(reqwest::Method::GET, "/api/v1/openapi.json", &viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/api/v1/models/{name}/aliases/{alias}"]["put"].is_object());

    stop.send(()).unwrap();
    handle.await.unwrap().unwrap();
}
