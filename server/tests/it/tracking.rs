//! `/api/v1` experiment tracking: what the dashboard reads.
use crate::support::{app, get_as, post_json_as, user_with_token};
use axum::http::StatusCode;
use domain::auth::Role;
use serde_json::{Value, json};
use sqlx::PgPool;

async fn mlflow(app: &axum::Router, path: &str, token: &str, body: Value) -> Value {
    let r = post_json_as(app, &format!("/api/2.0/mlflow/{path}"), token, &body.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    r.json()
}

#[sqlx::test(migrations = "../migrations")]
async fn runs_are_listed_sorted_filtered_and_detailed(pool: PgPool) {
    let app = app(pool.clone());
    let (_, ed) = user_with_token(&pool, "ed", Role::Editor).await;
    let (_, vi) = user_with_token(&pool, "vi", Role::Viewer).await;
    let exp = mlflow(&app, "experiments/create", &ed, json!({"name": "v1"})).await;
    let exp_id = exp["experiment_id"].as_str().unwrap().to_string();
    let mut ids = Vec::new();
    for i in 0..3 {
        let run =
            mlflow(&app, "runs/create", &ed, json!({"experiment_id": exp_id, "run_name": format!("r{i}")}))
                .await;
        let id = run["run"]["info"]["run_id"].as_str().unwrap().to_string();
        let metrics: Vec<Value> = (0..3)
            .map(|s| json!({"key": "train/loss", "value": (i * 10 + s) as f64, "timestamp": s, "step": s}))
            .collect();
        mlflow(
            &app,
            "runs/log-batch",
            &ed,
            json!({"run_id": id, "metrics": metrics, "params": [{"key": "lr", "value": format!("{i}")}]}),
        )
        .await;
        ids.push(id);
    }

    let list = get_as(&app, "/api/v1/experiments", &vi).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.json()["experiments"].as_array().unwrap().iter().any(|e| e["name"] == "v1"));

    let uri =
        format!("/api/v1/experiments/{exp_id}/runs?order_by=metrics.%60train%2Floss%60%20DESC&max_results=2");
    let page = get_as(&app, &uri, &vi).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let page = page.json();
    let names: Vec<&str> =
        page["runs"].as_array().unwrap().iter().map(|r| r["info"]["run_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["r2", "r1"]);
    let token = page["next_page_token"].as_str().unwrap();
    let rest = get_as(&app, &format!("{uri}&page_token={token}"), &vi).await.json();
    assert_eq!(rest["runs"][0]["info"]["run_name"], "r0");

    let filtered =
        get_as(&app, &format!("/api/v1/experiments/{exp_id}/runs?filter=params.lr%20%3D%20%271%27"), &vi)
            .await
            .json();
    assert_eq!(filtered["runs"].as_array().unwrap().len(), 1);
    let bad =
        get_as(&app, &format!("/api/v1/experiments/{exp_id}/runs?filter=params.lr%20%3D%3D%20%271%27"), &vi)
            .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("position"), "{}", bad.body);

    let run = get_as(&app, &format!("/api/v1/runs/{}", ids[1]), &vi).await.json();
    assert_eq!(run["params"], json!([{"key": "lr", "value": "1"}]));
    assert_eq!(run["metrics"][0]["value"], json!(12.0));
    let hist = get_as(&app, &format!("/api/v1/runs/{}/metrics/train%2Floss", ids[1]), &vi).await.json();
    assert_eq!(hist["metrics"].as_array().unwrap().len(), 3);

    let missing = get_as(&app, "/api/v1/runs/0123456789abcdef0123456789abcdef", &vi).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let missing = get_as(&app, "/api/v1/experiments/999/runs", &vi).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let doc = get_as(&app, "/api/v1/openapi.json", &vi).await.json();
    assert!(doc["paths"]["/api/v1/experiments/{experiment_id}/runs"].is_object());
}
