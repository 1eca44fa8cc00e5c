//! `/api/v1/training/...` over HTTP: submit, run, read back; errors with the right
//! status and field; roles; OpenAPI entries.
use crate::support::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use domain::auth::Role;
use services::queue::{JobRegistry, worker};
use sqlx::PgPool;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata");

const RUN: &str = r#"{
    "dataset": "credit", "target": "Status", "seed": 3,
    "algorithm": {"name": "logistic_regression", "alpha": 0.5},
    "prepare": {
        "steps": [
            {"op": "impute", "strategy": "median"},
            {"op": "impute", "strategy": "most_frequent", "columns": ["Home", "Marital", "Job"]},
            {"op": "standard_scale"},
            {"op": "one_hot", "columns": ["Home", "Marital", "Records", "Job"]}
        ],
        "split": {"method": "stratified", "column": "Status", "test_fraction": 0.2, "seed": 3}
    },
    "gates": ["roc_auc >= 0.8"]
}"#;

#[sqlx::test(migrations = "../migrations")]
async fn train_over_http_and_read_the_run(pool: PgPool) {
    let st = state(pool.clone());
    let app = server::http::router(st.clone());
    let (_, editor) = user_with_token(&pool, "erin", Role::Editor).await;
    let (_, viewer) = user_with_token(&pool, "vic", Role::Viewer).await;
    let r = post_json_as(&app, "/api/v1/datasets", &editor, r#"{"name":"credit"}"#).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let csv = std::fs::read(format!("{DATA}/credit_data.csv")).unwrap();
    let req = Request::post("/api/v1/datasets/credit/versions?file_name=credit_data.csv")
        .header("authorization", format!("Bearer {editor}"))
        .body(Body::from(csv))
        .unwrap();
    assert_eq!(send(&app, req).await.status, StatusCode::CREATED);

    let algos = get_as(&app, "/api/v1/training/algorithms", &viewer).await;
    assert_eq!(algos.status, StatusCode::OK);
    assert!(
        algos.json().as_array().unwrap().iter().any(|a| a["name"] == "k_means" && a["task"] == "clustering")
    );

    let r = post_json_as(&app, "/api/v1/training/runs", &viewer, RUN).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "viewers do not train");
    let r = post_json_as(&app, "/api/v1/training/runs", &editor, RUN).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let run_id = r.json()["run_id"].as_str().unwrap().to_string();
    let registry = services::training::register(JobRegistry::new()).provide(st.services.clone());
    assert_eq!(worker::run_pending(&pool, &registry, &worker::WorkerConfig::default()).await.unwrap(), 1);

    let d = get_as(&app, &format!("/api/v1/training/runs/{run_id}"), &viewer).await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    let d = d.json();
    assert_eq!(d["summary"]["state"], "finished", "{d}");
    assert!(d["evaluation"]["metrics"]["roc_auc"].as_f64().unwrap() > 0.8);
    assert_eq!(d["gates"][0]["passed"], true);
    assert_eq!(d["summary"]["gates_passed"], true);
    let list = get_as(&app, "/api/v1/training/runs", &viewer).await.json();
    assert_eq!(list[0]["run_id"], run_id);
    // The tracked run is reachable through the MLflow API too.
    let r = get_as(&app, &format!("/api/2.0/mlflow/runs/get?run_id={run_id}"), &viewer).await;
    assert_eq!(r.json()["run"]["info"]["status"], "FINISHED", "{}", r.body);

    let r = post_json_as(&app, &format!("/api/v1/training/runs/{run_id}/cancel"), &editor, "").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_training_requests_get_clear_errors(pool: PgPool) {
    let app = app(pool.clone());
    let (_, editor) = user_with_token(&pool, "erin", Role::Editor).await;
    let r = post_json_as(&app, "/api/v1/datasets", &editor, r#"{"name":"iris"}"#).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let csv = std::fs::read(format!("{DATA}/iris.csv")).unwrap();
    let req = Request::post("/api/v1/datasets/iris/versions?file_name=iris.csv")
        .header("authorization", format!("Bearer {editor}"))
        .body(Body::from(csv))
        .unwrap();
    assert_eq!(send(&app, req).await.status, StatusCode::CREATED);
    let cases = [
        (
            r#"{"dataset":"iris","target":"target","algorithm":{"name":"decision_tree","max_depth":"deep"}}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "max_depth",
        ),
        (
            r#"{"dataset":"iris","target":"nope","algorithm":{"name":"decision_tree"}}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "nope",
        ),
        (
            r#"{"dataset":"iris","target":"target","algorithm":{"name":"decision_tree"},"gates":["accuracy >> 1"]}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "operator",
        ),
        (
            r#"{"dataset":"nope","target":"target","algorithm":{"name":"decision_tree"}}"#,
            StatusCode::NOT_FOUND,
            "nope",
        ),
        (
            r#"{"dataset":"iris","target":"target","algorithm":{"name":"decision_tree"},"bogus":1}"#,
            StatusCode::BAD_REQUEST,
            "bogus",
        ),
        (
            r#"{"base":{"dataset":"iris","target":"target","algorithm":{"name":"decision_tree"}},"space":{}}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty",
        ),
    ];
    for (body, status, needle) in cases {
        let uri =
            if body.contains("\"base\"") { "/api/v1/training/searches" } else { "/api/v1/training/runs" };
        let r = post_json_as(&app, uri, &editor, body).await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert!(r.body.contains(needle), "{body}: {}", r.body);
    }
    let r = post_json_as(
        &app,
        "/api/v1/training/commands",
        &editor,
        r#"{"dataset":"iris","command":["python3","train.py"]}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "the command trainer is off by default: {}", r.body);
    assert!(r.body.contains("CAIRN_COMMAND_ALLOW"));

    let doc = get(&app, "/api/v1/openapi.json").await.json();
    for path in [
        "/api/v1/training/runs",
        "/api/v1/training/runs/{run_id}",
        "/api/v1/training/searches",
        "/api/v1/training/commands",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} in the OpenAPI document");
    }
}
