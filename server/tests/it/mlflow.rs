//! The MLflow REST API 2.0 as the `mlflow` client speaks it (calls written by hand
//! from the MLflow REST reference; the real client is not run here yet).
use crate::support::{app, get_as, post_json_as, user_with_token};
use axum::http::StatusCode;
use domain::auth::Role;
use serde_json::{Value, json};
use sqlx::PgPool;

const API: &str = "/api/2.0/mlflow";

async fn post(app: &axum::Router, path: &str, token: &str, body: Value) -> crate::support::Reply {
    post_json_as(app, &format!("{API}/{path}"), token, &body.to_string()).await
}

async fn ok(app: &axum::Router, path: &str, token: &str, body: Value) -> Value {
    let r = post(app, path, token, body).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    r.json()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_client_session_round_trips(pool: PgPool) {
    let app = app(pool.clone());
    let (_, tok) = user_with_token(&pool, "ed", Role::Editor).await;

    let exp = ok(
        &app,
        "experiments/create",
        &tok,
        json!({"name": "mnist", "tags": [{"key": "team", "value": "cv"}]}),
    )
    .await;
    let exp_id = exp["experiment_id"].as_str().unwrap().to_string();
    let got =
        get_as(&app, &format!("{API}/experiments/get-by-name?experiment_name=mnist"), &tok).await.json();
    assert_eq!(got["experiment"]["experiment_id"], exp_id.as_str());
    assert_eq!(got["experiment"]["lifecycle_stage"], "active");

    let parent = ok(
        &app,
        "runs/create",
        &tok,
        json!({"experiment_id": exp_id, "start_time": 1000, "tags": [{"key": "mlflow.runName", "value": "parent"}, {"key": "mlflow.user", "value": "ana"}]}),
    )
    .await;
    let parent_id = parent["run"]["info"]["run_id"].as_str().unwrap().to_string();
    assert_eq!(parent["run"]["info"]["run_name"], "parent");
    assert_eq!(parent["run"]["info"]["user_id"], "ana");
    assert_eq!(
        parent["run"]["info"]["artifact_uri"],
        format!("mlflow-artifacts:/{exp_id}/{parent_id}/artifacts")
    );
    let child = ok(
        &app,
        "runs/create",
        &tok,
        json!({"experiment_id": exp_id, "run_name": "child", "tags": [{"key": "mlflow.parentRunId", "value": parent_id}]}),
    )
    .await;
    let child_id = child["run"]["info"]["run_id"].as_str().unwrap().to_string();

    ok(
        &app,
        "runs/log-batch",
        &tok,
        json!({"run_id": child_id,
               "metrics": [{"key": "loss", "value": "NaN", "timestamp": 5, "step": 0},
                           {"key": "loss", "value": 0.25, "timestamp": 6, "step": 1},
                           {"key": "up", "value": "Infinity", "timestamp": 5, "step": 0},
                           {"key": "down", "value": "-Infinity", "timestamp": 5, "step": 0}],
               "params": [{"key": "lr", "value": "0.01"}],
               "tags": [{"key": "note", "value": "hi"}]}),
    )
    .await;
    ok(
        &app,
        "runs/log-metric",
        &tok,
        json!({"run_id": child_id, "key": "acc", "value": 0.5, "timestamp": 7, "step": 2}),
    )
    .await;
    ok(&app, "runs/log-parameter", &tok, json!({"run_id": child_id, "key": "bs", "value": "32"})).await;
    ok(&app, "runs/set-tag", &tok, json!({"run_id": child_id, "key": "gone", "value": "x"})).await;
    ok(&app, "runs/delete-tag", &tok, json!({"run_id": child_id, "key": "gone"})).await;
    ok(
        &app,
        "runs/log-inputs",
        &tok,
        json!({"run_id": child_id, "datasets": [{"tags": [{"key": "mlflow.data.context", "value": "train"}],
               "dataset": {"name": "mnist", "digest": "abc", "source_type": "local", "source": "{}"}}]}),
    )
    .await;

    let run = get_as(&app, &format!("{API}/runs/get?run_id={child_id}"), &tok).await.json();
    let data = &run["run"]["data"];
    let metric = |k: &str| {
        data["metrics"].as_array().unwrap().iter().find(|m| m["key"] == k).unwrap()["value"].clone()
    };
    assert_eq!(metric("loss"), json!(0.25));
    assert_eq!(metric("up"), json!("Infinity"));
    assert_eq!(metric("down"), json!("-Infinity"));
    assert_eq!(metric("acc"), json!(0.5));
    assert_eq!(data["params"], json!([{"key": "bs", "value": "32"}, {"key": "lr", "value": "0.01"}]));
    assert!(!data["tags"].as_array().unwrap().iter().any(|t| t["key"] == "gone"));
    assert_eq!(run["run"]["inputs"]["dataset_inputs"][0]["dataset"]["digest"], "abc");

    let hist = get_as(&app, &format!("{API}/metrics/get-history?run_id={child_id}&metric_key=loss"), &tok)
        .await
        .json();
    assert_eq!(
        hist["metrics"],
        json!([{"key": "loss", "value": "NaN", "timestamp": 5, "step": 0},
                                       {"key": "loss", "value": 0.25, "timestamp": 6, "step": 1}])
    );

    // Nested runs are found through the parent tag.
    let found = ok(
        &app,
        "runs/search",
        &tok,
        json!({"experiment_ids": [exp_id], "filter": format!("tags.mlflow.parentRunId = '{parent_id}'")}),
    )
    .await;
    assert_eq!(found["runs"].as_array().unwrap().len(), 1);
    assert_eq!(found["runs"][0]["info"]["run_id"], child_id.as_str());

    let upd =
        ok(&app, "runs/update", &tok, json!({"run_id": child_id, "status": "FINISHED", "end_time": 99}))
            .await;
    assert_eq!(upd["run_info"]["status"], "FINISHED");
    assert_eq!(upd["run_info"]["end_time"], 99);
    ok(&app, "runs/delete", &tok, json!({"run_id": child_id})).await;
    let active = ok(&app, "runs/search", &tok, json!({"experiment_ids": [exp_id]})).await;
    assert_eq!(active["runs"].as_array().unwrap().len(), 1);
    ok(&app, "runs/restore", &tok, json!({"run_id": child_id})).await;
    ok(&app, "experiments/update", &tok, json!({"experiment_id": exp_id, "new_name": "mnist-2"})).await;
    let list = ok(&app, "experiments/search", &tok, json!({"max_results": 10})).await;
    assert!(list["experiments"].as_array().unwrap().iter().any(|e| e["name"] == "mnist-2"));

    // The ajax prefix the MLflow UI uses serves the same API.
    let r = get_as(&app, &format!("/ajax-api/2.0/mlflow/runs/get?run_id={child_id}"), &tok).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[sqlx::test(migrations = "../migrations")]
async fn errors_use_mlflow_codes_and_statuses(pool: PgPool) {
    let app = app(pool.clone());
    let (_, tok) = user_with_token(&pool, "ed", Role::Editor).await;
    let (_, viewer) = user_with_token(&pool, "vi", Role::Viewer).await;
    let exp = ok(&app, "experiments/create", &tok, json!({"name": "e"})).await;
    let exp_id = exp["experiment_id"].as_str().unwrap().to_string();
    let run = ok(&app, "runs/create", &tok, json!({"experiment_id": exp_id})).await;
    let run_id = run["run"]["info"]["run_id"].as_str().unwrap().to_string();

    let code = |r: &crate::support::Reply| r.json()["error_code"].as_str().unwrap_or_default().to_string();

    let r = get_as(&app, &format!("{API}/runs/get?run_id=0123456789abcdef0123456789abcdef"), &tok).await;
    assert_eq!((r.status, code(&r)), (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST".into()));
    let r = get_as(&app, &format!("{API}/experiments/get?experiment_id=424242"), &tok).await;
    assert_eq!((r.status, code(&r)), (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST".into()));
    let r = post(&app, "runs/log-batch", &tok, json!({"run_id": "nope", "metrics": []})).await;
    assert_eq!((r.status, code(&r)), (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST".into()));

    ok(&app, "runs/log-parameter", &tok, json!({"run_id": run_id, "key": "lr", "value": "0.1"})).await;
    let r = post(
        &app,
        "runs/log-batch",
        &tok,
        json!({"run_id": run_id, "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": 0}], "params": [{"key": "lr", "value": "0.2"}]}),
    )
    .await;
    assert_eq!(
        (r.status, code(&r)),
        (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE".into()),
        "{}",
        r.body
    );
    let got = get_as(&app, &format!("{API}/runs/get?run_id={run_id}"), &tok).await.json();
    assert_eq!(got["run"]["data"]["metrics"], json!([]), "a rejected batch writes nothing");

    let r = post(
        &app,
        "runs/search",
        &tok,
        json!({"experiment_ids": [exp_id], "filter": "metrics.acc > 1 and params.x ~ 'y'"}),
    )
    .await;
    assert_eq!((r.status, code(&r)), (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE".into()));
    assert!(r.json()["message"].as_str().unwrap().contains("position 29"), "{}", r.body);

    let r = post(
        &app,
        "runs/log-metric",
        &viewer,
        json!({"run_id": run_id, "key": "m", "value": 1, "timestamp": 1}),
    )
    .await;
    assert_eq!((r.status, code(&r)), (StatusCode::FORBIDDEN, "PERMISSION_DENIED".into()));
    let r = post(&app, "experiments/create", &tok, json!({"name": "E"})).await;
    assert_eq!((r.status, code(&r)), (StatusCode::BAD_REQUEST, "RESOURCE_ALREADY_EXISTS".into()));
    let r = post(&app, "experiments/search", &tok, json!({"filter": "name = 'e'"})).await;
    assert_eq!((r.status, code(&r)), (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE".into()));
    let r = post_json_as(&app, &format!("{API}/runs/log-batch"), &tok, "{not json").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = crate::support::get(&app, &format!("{API}/runs/get?run_id={run_id}")).await;
    assert_eq!((r.status, code(&r)), (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED".into()));
    let r = get_as(&app, &format!("{API}/no/such"), &tok).await;
    assert_eq!((r.status, code(&r)), (StatusCode::NOT_FOUND, "ENDPOINT_NOT_FOUND".into()));
}

#[sqlx::test(migrations = "../migrations")]
async fn eight_clients_log_batches_to_one_run_without_errors(pool: PgPool) {
    let app = app(pool.clone());
    let (_, tok) = user_with_token(&pool, "ed", Role::Editor).await;
    let exp = ok(&app, "experiments/create", &tok, json!({"name": "c"})).await;
    let run = ok(&app, "runs/create", &tok, json!({"experiment_id": exp["experiment_id"]})).await;
    let run_id = run["run"]["info"]["run_id"].as_str().unwrap().to_string();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (app, tok, run_id) = (app.clone(), tok.clone(), run_id.clone());
        tasks.push(async move {
            let mut statuses = Vec::new();
            for b in 0..4 {
                let metrics: Vec<Value> = (0..100)
                    .map(|k| json!({"key": format!("m{}", (k * (w + 1)) % 100), "value": k, "timestamp": b, "step": w * 10 + b}))
                    .collect();
                let r = post(&app, "runs/log-batch", &tok, json!({"run_id": run_id, "metrics": metrics})).await;
                statuses.push((r.status, r.body));
            }
            statuses
        });
    }
    // One task, eight interleaved clients: the router's future is not Send, and the
    // requests still run concurrently on eight database connections.
    for statuses in futures::future::join_all(tasks).await {
        for (status, body) in statuses {
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    let hist =
        get_as(&app, &format!("{API}/metrics/get-history?run_id={run_id}&metric_key=m0"), &tok).await.json();
    assert!(!hist["metrics"].as_array().unwrap().is_empty());
}

#[sqlx::test(migrations = "../migrations")]
async fn artifacts_upload_download_list_and_stay_inside_the_run(pool: PgPool) {
    use axum::body::Body;
    use axum::http::Request;
    let app = app(pool.clone());
    let (_, tok) = user_with_token(&pool, "ed", Role::Editor).await;
    let exp = ok(&app, "experiments/create", &tok, json!({"name": "a"})).await;
    let run = ok(&app, "runs/create", &tok, json!({"experiment_id": exp["experiment_id"]})).await;
    let uri = run["run"]["info"]["artifact_uri"].as_str().unwrap().to_string();
    let root = uri.strip_prefix("mlflow-artifacts:/").unwrap().to_string();
    let put = |path: String, body: &'static str| {
        Request::put(format!("/api/2.0/mlflow-artifacts/artifacts/{path}"))
            .header("authorization", format!("Bearer {tok}"))
            .body(Body::from(body))
            .unwrap()
    };
    let r = crate::support::send(&app, put(format!("{root}/model/conf.json"), "{\"a\": 1}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = get_as(&app, &format!("/api/2.0/mlflow-artifacts/artifacts/{root}/model/conf.json"), &tok).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "{\"a\": 1}"));
    let l =
        get_as(&app, &format!("/api/2.0/mlflow-artifacts/artifacts?path={root}/model"), &tok).await.json();
    assert_eq!(l["files"], json!([{"path": "conf.json", "is_dir": false, "file_size": 8}]));
    let run_id = run["run"]["info"]["run_id"].as_str().unwrap();
    let l = get_as(&app, &format!("{API}/artifacts/list?run_id={run_id}"), &tok).await.json();
    assert_eq!(l["files"], json!([{"path": "model", "is_dir": true}]));

    let r = crate::support::send(&app, put(format!("{root}/../../escape.txt"), "x")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r =
        crate::support::send(&app, put("1/0123456789abcdef0123456789abcdef/artifacts/x".into(), "x")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}

/// What `mlflow.sklearn.log_model` sends (recorded against a real `mlflow server`
/// 3.17.2, see end2end/mlflow/README.md), then what `runs:/` and `models:/` loading reads.
#[sqlx::test(migrations = "../migrations")]
async fn logged_models_follow_the_log_model_call_sequence(pool: PgPool) {
    use axum::body::Body;
    use axum::http::{Method, Request};
    let app = app(pool.clone());
    let (_, tok) = user_with_token(&pool, "ed", Role::Editor).await;
    let req = |method: Method, uri: String, body: Value| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {tok}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let exp = ok(&app, "experiments/create", &tok, json!({"name": "lm"})).await;
    let exp_id = exp["experiment_id"].as_str().unwrap().to_string();
    let run = ok(&app, "runs/create", &tok, json!({"experiment_id": exp_id})).await;
    let run_id = run["run"]["info"]["run_id"].as_str().unwrap().to_string();

    let created = ok(
        &app,
        "logged-models",
        &tok,
        json!({"experiment_id": exp_id, "name": "model", "source_run_id": run_id,
               "params": [{"key": "C", "value": "1.0"}],
               "tags": [{"key": "mlflow.source.type", "value": "LOCAL"}]}),
    )
    .await;
    let info = &created["model"]["info"];
    let model_id = info["model_id"].as_str().unwrap().to_string();
    assert_eq!(info["status"], "LOGGED_MODEL_PENDING");
    assert_eq!(info["source_run_id"], run_id.as_str());
    assert_eq!(info["experiment_id"], exp_id.as_str());
    assert_eq!(info["artifact_uri"], format!("mlflow-artifacts:/{exp_id}/models/{model_id}/artifacts"));
    assert_eq!(created["model"]["data"]["params"], json!([{"key": "C", "value": "1.0"}]));

    ok(&app, "runs/outputs", &tok, json!({"run_id": run_id, "models": [{"model_id": model_id, "step": 0}]}))
        .await;
    let root = format!("{exp_id}/models/{model_id}/artifacts");
    let put = Request::put(format!("/api/2.0/mlflow-artifacts/artifacts/{root}/MLmodel"))
        .header("authorization", format!("Bearer {tok}"))
        .body(Body::from("flavors: {}"))
        .unwrap();
    assert_eq!(crate::support::send(&app, put).await.status, StatusCode::OK);
    let r = crate::support::send(
        &app,
        req(
            Method::PATCH,
            format!("{API}/logged-models/{model_id}"),
            json!({"model_id": model_id, "status": "LOGGED_MODEL_READY"}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["model"]["info"]["status"], "LOGGED_MODEL_READY");

    let r = crate::support::send(
        &app,
        req(
            Method::PATCH,
            format!("{API}/logged-models/{model_id}/tags"),
            json!({"tags": [{"key": "team", "value": "cv"}]}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = crate::support::send(
        &app,
        req(Method::DELETE, format!("{API}/logged-models/{model_id}/tags/mlflow.source.type"), json!({})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    ok(
        &app,
        &format!("logged-models/{model_id}/params"),
        &tok,
        json!({"params": [{"key": "l1", "value": "0"}]}),
    )
    .await;

    // `runs:/<run>/model` resolves through a search by name in the run's experiment.
    let found = ok(
        &app,
        "logged-models/search",
        &tok,
        json!({"experiment_ids": [exp_id], "filter": "name = 'model'"}),
    )
    .await;
    assert_eq!(found["models"].as_array().unwrap().len(), 1);
    let got = get_as(&app, &format!("{API}/logged-models/{model_id}"), &tok).await.json();
    assert_eq!(got["model"]["info"]["tags"], json!([{"key": "team", "value": "cv"}]));
    assert_eq!(
        got["model"]["data"]["params"],
        json!([{"key": "C", "value": "1.0"}, {"key": "l1", "value": "0"}])
    );
    let l = get_as(&app, &format!("/api/2.0/mlflow-artifacts/artifacts?path={root}"), &tok).await.json();
    assert_eq!(l["files"], json!([{"path": "MLmodel", "is_dir": false, "file_size": 11}]));
    let r = get_as(&app, &format!("/api/2.0/mlflow-artifacts/artifacts/{root}/MLmodel"), &tok).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "flavors: {}"));

    // Bad input in MLflow's codes.
    let code = |r: &crate::support::Reply| r.json()["error_code"].as_str().unwrap_or_default().to_string();
    let r = get_as(&app, &format!("{API}/logged-models/m-0123456789abcdef0123456789abcdef"), &tok).await;
    assert_eq!((r.status, code(&r).as_str()), (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST"));
    let r = crate::support::send(
        &app,
        req(Method::PATCH, format!("{API}/logged-models/{model_id}"), json!({"status": "DONE"})),
    )
    .await;
    assert_eq!((r.status, code(&r).as_str()), (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"));
    let r = post(
        &app,
        &format!("logged-models/{model_id}/params"),
        &tok,
        json!({"params": [{"key": "C", "value": "2"}]}),
    )
    .await;
    assert_eq!((r.status, code(&r).as_str()), (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"));
    let r = post(&app, "logged-models", &tok, json!({"experiment_id": "999999", "name": "x"})).await;
    assert_eq!((r.status, code(&r).as_str()), (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST"));
    let r =
        post(&app, "logged-models/search", &tok, json!({"experiment_ids": [exp_id], "filter": "name = "}))
            .await;
    assert_eq!((r.status, code(&r).as_str()), (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"));
    let put = Request::put(format!("/api/2.0/mlflow-artifacts/artifacts/{root}/../../../x"))
        .header("authorization", format!("Bearer {tok}"))
        .body(Body::from("x"))
        .unwrap();
    assert_eq!(crate::support::send(&app, put).await.status, StatusCode::BAD_REQUEST);
}
