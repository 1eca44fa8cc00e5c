//! `POST /datasets/{dataset}/versions/{version}/prepare` and `GET .../transform`
//! over HTTP: status codes, roles, spec errors, OpenAPI entries.
use crate::support::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use domain::auth::Role;
use sqlx::PgPool;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata");

const SPEC: &str = r#"{
    "target": "Status",
    "steps": [
        {"op": "impute", "strategy": "median"},
        {"op": "standard_scale"},
        {"op": "one_hot", "columns": ["Home", "Marital", "Records", "Job"]}
    ],
    "split": {"method": "stratified", "column": "Status", "test_fraction": 0.2, "seed": 7}
}"#;

#[sqlx::test(migrations = "../migrations")]
async fn prepare_a_version_and_read_its_transform(pool: PgPool) {
    let app = app(pool.clone());
    let (_, editor) = user_with_token(&pool, "erin", Role::Editor).await;
    let (_, viewer) = user_with_token(&pool, "vic", Role::Viewer).await;
    let r = post_json_as(&app, "/api/v1/datasets", &editor, r#"{"name":"credit"}"#).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let csv = std::fs::read(format!("{DATA}/credit_data.csv")).unwrap();
    let req = Request::post("/api/v1/datasets/credit/versions?file_name=credit_data.csv")
        .header("authorization", format!("Bearer {editor}"))
        .body(Body::from(csv))
        .unwrap();
    let r = send(&app, req).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let uri = "/api/v1/datasets/credit/versions/1/prepare";
    let body = format!(r#"{{"spec": {SPEC}}}"#);
    let r = post_json_as(&app, uri, &editor, &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let made = r.json();
    assert_eq!(made["train"]["created"], true);
    assert_eq!(made["train"]["version"]["dataset_name"], "credit-prepared");
    assert_eq!(made["train"]["version"]["n_rows"], 3563);
    assert_eq!(made["train"]["version"]["source_kind"], "prepared");
    assert_eq!(made["test"]["version"]["dataset_name"], "credit-prepared-test");
    assert_eq!(made["test"]["version"]["n_rows"], 891);
    assert!(made["transform_key"].as_str().unwrap().starts_with("blobs/sha256/"));
    assert!(made["execution"].is_string());

    // The same again: the stored versions, 200.
    let r = post_json_as(&app, uri, &editor, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["train"]["created"], false);
    assert_eq!(
        r.json()["train"]["version"]["dataset_version_id"],
        made["train"]["version"]["dataset_version_id"]
    );

    // YAML, into a named output.
    let yaml = "steps:\n  - op: drop\n    columns: [Price]\n";
    let r = post_json_as(
        &app,
        uri,
        &editor,
        &serde_json::json!({ "spec_yaml": yaml, "output": "credit-small" }).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json()["train"]["version"]["dataset_name"], "credit-small");
    assert_eq!(r.json()["test"], serde_json::Value::Null);

    // Bad specs: 422 naming the problem, field `spec`.
    let bad = |body: serde_json::Value| {
        let (app, editor) = (app.clone(), editor.clone());
        async move { post_json_as(&app, uri, &editor, &body.to_string()).await }
    };
    let r = bad(serde_json::json!({ "spec_yaml": "steps: [\n" })).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.error_code(), "validation_failed");
    assert_eq!(r.json()["error"]["field"], "spec");
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("line"), "{}", r.body);
    let r = bad(serde_json::json!({ "spec": {"steps": [{"op": "one_hot", "columns": ["Colour"]}]} })).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("unknown column `Colour`"), "{}", r.body);
    let r = bad(serde_json::json!({ "spec": {"steps": []}, "spec_yaml": "steps: []" })).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("not both"), "{}", r.body);
    let r = bad(serde_json::json!({})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = bad(serde_json::json!({ "spec": "steps: []" })).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("spec_yaml"), "{}", r.body);

    // Viewers may read the transform but not prepare.
    let r = post_json_as(&app, uri, &viewer, &body).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = post_json_as(&app, "/api/v1/datasets/credit/versions/9/prepare", &editor, &body).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    for name in ["credit-prepared", "credit-prepared-test"] {
        let r = get_as(&app, &format!("/api/v1/datasets/{name}/versions/1/transform"), &viewer).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let t = r.json();
        assert_eq!(t["format_version"], 1);
        assert_eq!(t["target"], "Status");
        let ops: Vec<&str> =
            t["steps"].as_array().unwrap().iter().map(|s| s["op"].as_str().unwrap()).collect();
        assert_eq!(ops, ["impute", "standard_scale", "one_hot"]);
    }
    let r = get_as(&app, "/api/v1/datasets/credit/versions/1/transform", &viewer).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("not from preparation"), "{}", r.body);

    let doc = get(&app, "/api/v1/openapi.json").await.json();
    assert!(doc["paths"]["/api/v1/datasets/{dataset}/versions/{version}/prepare"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/datasets/{dataset}/versions/{version}/transform"]["get"].is_object());
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["TransformColumn"].is_object() && schemas["FittedTransform"].is_object());
    assert!(schemas["ColumnSchema"]["properties"]["required"].is_object(), "the dataset schema's column");
}
