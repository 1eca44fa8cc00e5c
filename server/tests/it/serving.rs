//! Serving over HTTP: the endpoint REST API, the three prediction protocols (friendly,
//! Open Inference V2, MLflow invocations) answering with the same model, bad input
//! as 4xx naming the field, the serving-only router, and a hot swap (alias moved)
//! under concurrent load with no failed request.
use crate::support::{self, BODY_LIMIT, get, get_as, post_json_as, send, user_with_token};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use domain::auth::Role;
use ml::train::Bundle;
use serde_json::{Value, json};
use server::http::ServerState;
use services::serving::fixture;
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata");

/// Model `credit`: v1 logistic regression, v2 naive Bayes; `production` → v1.
async fn credit_model(st: &services::AppState) -> (Bundle, Bundle) {
    let (a, b) = tokio::task::spawn_blocking(|| {
        let frame = fixture::read_csv(std::path::Path::new(&format!("{DATA}/credit_data.csv"))).unwrap();
        (
            fixture::credit_bundle(&frame, "logistic_regression", 1).unwrap(),
            fixture::credit_bundle(&frame, "gaussian_nb", 1).unwrap(),
        )
    })
    .await
    .unwrap();
    let (v1, _) = fixture::register_bundle(st, "credit", &a).await.unwrap();
    fixture::register_bundle(st, "credit", &b).await.unwrap();
    fixture::set_alias(st, "credit", "production", v1).await.unwrap();
    (a, b)
}

fn record(age: i64) -> Value {
    json!({"Seniority": 9, "Home": "rent", "Time": 60, "Age": age, "Marital": "married", "Records": "no",
           "Job": "freelance", "Expenses": 73, "Income": 129.0, "Assets": 0.0, "Debt": 0.0, "Amount": 800, "Price": 846})
}

/// Records as columns, in the records' key order.
fn columns(records: &[Value]) -> Vec<(String, Vec<Value>)> {
    let keys: Vec<String> = records[0].as_object().unwrap().keys().cloned().collect();
    keys.iter().map(|k| (k.clone(), records.iter().map(|r| r[k].clone()).collect())).collect()
}

fn v2_datatype(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "BYTES",
        Value::Number(n) if n.is_f64() => "FP64",
        _ => "INT64",
    }
}

fn v2_body(records: &[Value]) -> Value {
    let inputs: Vec<Value> = columns(records)
        .into_iter()
        .map(|(name, data)| json!({"name": name, "shape": [data.len()], "datatype": v2_datatype(&data[0]), "data": data}))
        .collect();
    json!({ "inputs": inputs })
}

/// Replaces the V2 input tensor of the same name.
fn set_input(body: &mut Value, tensor: Value) {
    let inputs = body["inputs"].as_array_mut().unwrap();
    let i = inputs.iter().position(|t| t["name"] == tensor["name"]).unwrap();
    inputs[i] = tensor;
}

struct Setup {
    app: axum::Router,
    state: ServerState,
    editor: String,
    viewer: String,
}

async fn setup(pool: PgPool) -> Setup {
    let (_, editor) = user_with_token(&pool, "ed", Role::Editor).await;
    let (_, viewer) = user_with_token(&pool, "vi", Role::Viewer).await;
    let state = support::state(pool);
    let state = ServerState {
        metrics: server::http::metrics::Metrics::new(Some(state.services.serving.clone())),
        ..state
    };
    credit_model(&state.services).await;
    let app = server::http::router(state.clone());
    let r = post_json_as(&app, "/api/v1/endpoints", &editor, r#"{"name": "credit-api", "model": "credit"}"#)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    Setup { app, state, editor, viewer }
}

#[sqlx::test(migrations = "../migrations")]
async fn the_three_protocols_answer_with_the_same_model(pool: PgPool) {
    let Setup { app, viewer, .. } = setup(pool).await;
    let records = vec![record(30), record(55)];

    // Friendly: records in, predictions + probabilities + request id out.
    let body = json!({ "records": records }).to_string();
    let r = post_json_as(&app, "/api/v1/endpoints/credit-api/predict", &viewer, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let friendly = r.json();
    assert_eq!(friendly["request_id"].as_str(), r.request_id.as_deref(), "the x-request-id header");
    assert_eq!(friendly["model_version"], 1);
    let predictions = friendly["predictions"].clone();
    assert_eq!(predictions.as_array().unwrap().len(), 2);
    let p = &friendly["probabilities"][0];
    assert!((p["bad"].as_f64().unwrap() + p["good"].as_f64().unwrap() - 1.0).abs() < 1e-9, "{p}");

    // V2 metadata: inputs from the signature with V2 datatypes.
    let r = get_as(&app, "/v2/models/credit-api", &viewer).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let meta = r.json();
    let dt = |name: &str| {
        meta["inputs"].as_array().unwrap().iter().find(|i| i["name"] == name).unwrap()["datatype"].clone()
    };
    assert_eq!((dt("Age"), dt("Home"), dt("Income")), (json!("INT64"), json!("BYTES"), json!("FP64")));
    assert_eq!(meta["outputs"][0]["name"], "predict");
    assert_eq!(meta["outputs"][1]["shape"], json!([-1, 2]));
    assert_eq!(meta["versions"], json!(["1"]));
    assert_eq!(get_as(&app, "/v2/models/credit-api/ready", &viewer).await.status, StatusCode::OK);
    assert_eq!(get_as(&app, "/v2/models/credit-api/versions/1/ready", &viewer).await.status, StatusCode::OK);
    assert_eq!(get(&app, "/v2/health/live").await.status, StatusCode::OK, "probes need no token");
    assert_eq!(get(&app, "/v2/health/ready").await.status, StatusCode::OK);

    // V2 inference: one tensor per feature; [n, 1] nested data works too.
    let mut v2 = v2_body(&records);
    set_input(
        &mut v2,
        json!({"name": "Seniority", "shape": [2, 1], "datatype": "INT64", "data": [[9], [9]]}),
    );
    for uri in ["/v2/models/credit-api/infer", "/v2/models/credit-api/versions/1/infer"] {
        let r = post_json_as(&app, uri, &viewer, &v2.to_string()).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.body);
        let out = r.json();
        assert_eq!(out["model_name"], "credit-api");
        assert_eq!(out["model_version"], "1");
        assert_eq!(out["outputs"][0]["name"], "predict");
        assert_eq!(out["outputs"][0]["datatype"], "BYTES");
        assert_eq!(out["outputs"][0]["data"], predictions);
        assert_eq!(out["outputs"][1]["shape"], json!([2, 2]));
        assert_eq!(out["outputs"][1]["parameters"]["classes"], json!(["bad", "good"]));
        assert_eq!(out["outputs"][1]["data"][1].as_f64(), p["good"].as_f64());
    }

    // MLflow's scoring protocol, every input shape.
    let cols = columns(&records);
    let split_data: Vec<Vec<Value>> =
        records.iter().map(|r| cols.iter().map(|(k, _)| r[k].clone()).collect()).collect();
    let by_column: serde_json::Map<String, Value> = cols.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let shapes = [
        json!({"dataframe_split": {"columns": cols.iter().map(|c| c.0.clone()).collect::<Vec<_>>(), "data": split_data}}),
        json!({"dataframe_records": records}),
        json!({"inputs": by_column}),
        json!({"inputs": records}),
        json!({"instances": records}),
    ];
    for body in shapes {
        let r = post_json_as(&app, "/endpoints/credit-api/invocations", &viewer, &body.to_string()).await;
        assert_eq!(r.status, StatusCode::OK, "{body}: {}", r.body);
        assert_eq!(r.json(), json!({ "predictions": predictions }), "{body}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_input_gets_a_4xx_naming_the_field_and_the_endpoint_keeps_serving(pool: PgPool) {
    let Setup { app, viewer, .. } = setup(pool).await;
    let predict = |body: String| {
        let app = app.clone();
        let viewer = viewer.clone();
        async move { post_json_as(&app, "/api/v1/endpoints/credit-api/predict", &viewer, &body).await }
    };
    let mut missing = record(30);
    missing.as_object_mut().unwrap().remove("Job");
    let r = predict(json!({ "records": [missing] }).to_string()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.json()["error"]["field"], "Job");
    let mut wrong = record(30);
    wrong["Age"] = json!("thirty");
    let r = predict(json!({ "records": [wrong] }).to_string()).await;
    assert_eq!(r.json()["error"]["field"], "Age", "{}", r.body);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("\"thirty\""), "{}", r.body);
    let mut extra = record(30);
    extra["Colour"] = json!("red");
    let r = predict(json!({ "records": [extra] }).to_string()).await;
    assert_eq!(
        (r.status, r.json()["error"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("Colour"))
    );
    let r = predict("{\"records\": [".into()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = predict(json!({ "rows": [record(30)] }).to_string()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("records"), "{}", r.body);
    let r = predict(json!({ "records": [] }).to_string()).await;
    assert_eq!(
        (r.status, r.json()["error"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("records"))
    );
    let huge = json!({ "records": vec![record(30); BODY_LIMIT / 100] }).to_string();
    assert!(huge.len() > BODY_LIMIT);
    let r = predict(huge).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert_eq!(r.error_code(), "payload_too_large");
    let r = post_json_as(
        &app,
        "/api/v1/endpoints/nope/predict",
        &viewer,
        &json!({"records": [record(1)]}).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("'nope'"), "{}", r.body);
    let r = support::post_json(
        &app,
        "/api/v1/endpoints/credit-api/predict",
        &json!({"records": [record(1)]}).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // V2: protocol errors as {"error": "..."}.
    let v2 = |body: Value, uri: &'static str| {
        let app = app.clone();
        let viewer = viewer.clone();
        async move { post_json_as(&app, uri, &viewer, &body.to_string()).await }
    };
    let infer = "/v2/models/credit-api/infer";
    let mut body = v2_body(&[record(30)]);
    set_input(&mut body, json!({"name": "Age", "shape": [1, 3], "datatype": "INT64", "data": [30, 31, 32]}));
    let r = v2(body, infer).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["error"].as_str().unwrap().contains("`Age` has shape [1, 3]"), "{}", r.body);
    let mut body = v2_body(&[record(30)]);
    set_input(&mut body, json!({"name": "Age", "shape": [1], "datatype": "FP64", "data": ["old"]}));
    let r = v2(body, infer).await;
    assert!(
        r.status == StatusCode::BAD_REQUEST && r.json()["error"].as_str().unwrap().contains("`Age` is FP64"),
        "{}",
        r.body
    );
    let mut body = v2_body(&[record(30)]);
    set_input(&mut body, json!({"name": "Age", "shape": [1], "datatype": "BYTES", "data": ["30"]}));
    let r = v2(body, infer).await;
    assert!(
        r.status == StatusCode::BAD_REQUEST && r.json()["error"].as_str().unwrap().starts_with("Age: "),
        "{}",
        r.body
    );
    let mut body = v2_body(&[record(30)]);
    set_input(&mut body, json!({"name": "Age", "shape": [2], "datatype": "INT64", "data": [30, 31]}));
    let r = v2(body, infer).await;
    assert!(
        r.json()["error"].as_str().unwrap().contains("every tensor needs one value per row"),
        "{}",
        r.body
    );
    let r = v2(v2_body(&[record(30)]), "/v2/models/nope/infer").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.json()["error"].as_str().unwrap().contains("'nope'"), "{}", r.body);
    let r = v2(v2_body(&[record(30)]), "/v2/models/credit-api/versions/7/infer").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.json()["error"].as_str().unwrap().contains("it serves: 1"), "{}", r.body);
    let r = get(&app, "/v2/models/credit-api").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "models need a token: {}", r.body);

    // MLflow: its error shape.
    let inv = "/endpoints/credit-api/invocations";
    let r = post_json_as(
        &app,
        inv,
        &viewer,
        &json!({"dataframe_records": [record(1)], "instances": [record(1)]}).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error_code"], "BAD_REQUEST");
    let r = post_json_as(
        &app,
        inv,
        &viewer,
        &json!({"dataframe_split": {"columns": ["Age"], "data": [[1]]}}).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["message"].as_str().unwrap().contains("missing feature"), "{}", r.body);

    // After all that, the endpoint still answers.
    let r = predict(json!({ "records": [record(30)] }).to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[sqlx::test(migrations = "../migrations")]
async fn endpoints_are_managed_by_editors_and_documented(pool: PgPool) {
    let Setup { app, editor, viewer, .. } = setup(pool).await;
    let r = post_json_as(&app, "/api/v1/endpoints", &viewer, r#"{"name": "x", "model": "credit"}"#).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = get_as(&app, "/api/v1/endpoints", &viewer).await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    let r = get_as(&app, "/api/v1/endpoints/credit-api", &viewer).await;
    let ep = r.json();
    assert_eq!(ep["routes"][0]["alias"], "production");
    assert_eq!(ep["routes"][0]["version"], 1);
    assert_eq!(ep["routes"][0]["servable"], true);
    assert_eq!(ep["ready"], true);

    let patch = |body: Value| {
        Request::patch("/api/v1/endpoints/credit-api")
            .header("authorization", format!("Bearer {editor}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let r = send(&app, patch(json!({"routes": [{"alias": "production", "traffic_percent": 80}, {"version": 2, "traffic_percent": 30}]}))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "routes");
    assert!(r.body.contains("sum to 100, got 110"), "{}", r.body);
    let r = send(&app, patch(json!({"routes": [{"alias": "production", "traffic_percent": 80}, {"version": 2, "traffic_percent": 20}]}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["routes"][1]["version"], 2);

    let r = get(&app, "/api/v1/openapi.json").await;
    for path in ["/api/v1/endpoints", "/api/v1/endpoints/{name}/predict", "/api/v1/endpoints/{name}/stats"] {
        assert!(r.json()["paths"][path].is_object(), "{path} documented");
    }

    let del = Request::delete("/api/v1/endpoints/credit-api")
        .header("authorization", format!("Bearer {editor}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, del).await.status, StatusCode::NO_CONTENT);
    let r = post_json_as(
        &app,
        "/api/v1/endpoints/credit-api/predict",
        &viewer,
        &json!({"records": [record(1)]}).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_serving_only_replica_answers_predictions_and_nothing_else(pool: PgPool) {
    let Setup { state, viewer, .. } = setup(pool).await;
    let replica = server::http::serving_router(state);
    let r = post_json_as(
        &replica,
        "/api/v1/endpoints/credit-api/predict",
        &viewer,
        &json!({"records": [record(3)]}).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r =
        post_json_as(&replica, "/v2/models/credit-api/infer", &viewer, &v2_body(&[record(3)]).to_string())
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(get(&replica, "/healthz").await.status, StatusCode::OK);
    let r = get_as(&replica, "/api/v1/endpoints", &viewer).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("serving-only"), "{}", r.body);
    let r = get(&replica, "/metrics").await;
    assert!(r.body.contains("cairn_serving_requests_total 2"), "{}", r.body);
    assert!(r.body.contains("cairn_serving_log_dropped_total"), "{}", r.body);
}

/// Concurrent clients predict through a real socket while the alias moves: every
/// request succeeds, and requests sent after the first answer from v2 all get v2.
#[sqlx::test(migrations = "../migrations")]
async fn moving_the_alias_under_load_switches_versions_without_a_failed_request(pool: PgPool) {
    let Setup { state, viewer, editor, .. } = setup(pool.clone()).await;
    let serving = services::serving::start(&state.services).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v1/endpoints/credit-api/predict", listener.local_addr().unwrap());
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve::serve_on(listener, state.clone(), async {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::new();
    let body = json!({ "records": [record(40)] }).to_string();
    let stop = Arc::new(AtomicBool::new(false));
    // (sent at, answered at, status, version) per request.
    let mut loops = Vec::new();
    for _ in 0..8 {
        let (client, url, body, token, stop) =
            (client.clone(), url.clone(), body.clone(), viewer.clone(), stop.clone());
        loops.push(tokio::spawn(async move {
            let mut seen: Vec<(Instant, Instant, u16, i64)> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let r = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                let (status, version) = match r {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let v: Value = r.json().await.unwrap_or(Value::Null);
                        (status, v["model_version"].as_i64().unwrap_or(-1))
                    }
                    Err(_) => (0, -1),
                };
                seen.push((sent, Instant::now(), status, version));
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // let the load start
    let v2 =
        sqlx::query_scalar::<_, uuid::Uuid>("select model_version_id from model_version where version = 2")
            .fetch_one(&pool)
            .await
            .unwrap();
    let moved = Instant::now();
    fixture::set_alias(&state.services, "credit", "production", domain::ModelVersionId(v2)).await.unwrap();
    // Another process moved the alias: this one's refresher (500 ms) must see it.
    let switched = support::eventually(Duration::from_secs(10), || {
        let client = client.clone();
        let (url, body, token) = (url.clone(), body.clone(), viewer.clone());
        async move {
            let r = client
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            match r {
                Ok(r) => r.json::<Value>().await.map(|v| v["model_version"] == 2).unwrap_or(false),
                Err(_) => false,
            }
        }
    })
    .await;
    assert!(switched, "the endpoint did not switch to v2 within 10 s");
    let switch_seen = moved.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await; // more load on v2
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for l in loops {
        all.extend(l.await.unwrap());
    }
    let failed: Vec<_> = all.iter().filter(|r| r.2 != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}",
        failed.len(),
        all.len(),
        &failed[..failed.len().min(5)]
    );
    let first_v2 = all.iter().filter(|r| r.3 == 2).map(|r| r.1).min().expect("v2 answered under load");
    let late_v1 = all.iter().filter(|r| r.0 > first_v2 && r.3 == 1).count();
    assert_eq!(late_v1, 0, "requests sent after the first v2 answer were served by v1");
    assert!(all.iter().any(|r| r.3 == 1), "v1 answered before the move");
    assert!(all.len() > 50, "the load ran ({} requests)", all.len());
    assert!(switch_seen < Duration::from_secs(10));

    // The log has both versions; the REST views read it back.
    let stats_ok = support::eventually(Duration::from_secs(10), || {
        let app = server::http::router(state.clone());
        let editor = editor.clone();
        async move {
            let r = get_as(&app, "/api/v1/endpoints/credit-api/stats?minutes=5", &editor).await;
            let s = r.json();
            let versions: Vec<i64> =
                s["minutes"].as_array().unwrap().iter().filter_map(|m| m["version"].as_i64()).collect();
            versions.contains(&1) && versions.contains(&2) && s["errors"] == 0
        }
    })
    .await;
    assert!(stats_ok, "stats show both versions");
    let app = server::http::router(state.clone());
    let r = get_as(&app, "/api/v1/endpoints/credit-api/requests?limit=3", &viewer).await;
    let recent = r.json();
    assert_eq!(recent.as_array().unwrap().len(), 3, "{}", r.body);
    assert_eq!(recent[0]["records"][0]["Age"], 40);
    assert_eq!(recent[0]["version"], 2);

    let _ = stop_server.send(());
    server.await.unwrap().unwrap();
    serving.shutdown().await;
}
