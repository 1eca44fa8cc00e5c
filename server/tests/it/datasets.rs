//! `/api/v1/datasets` over HTTP: streamed uploads and their limits, roles, schema
//! and validation round trips, OpenAPI entries.
use crate::support::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use domain::auth::Role;
use sqlx::PgPool;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata");

async fn upload(app: &axum::Router, token: &str, uri: &str, body: Vec<u8>) -> Reply {
    let req = Request::post(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "text/csv")
        .body(Body::from(body))
        .unwrap();
    send(app, req).await
}

#[sqlx::test(migrations = "../migrations")]
async fn upload_validate_and_read_back(pool: PgPool) {
    let app = app(pool.clone());
    let (_, editor) = user_with_token(&pool, "erin", Role::Editor).await;
    let (_, viewer) = user_with_token(&pool, "vic", Role::Viewer).await;
    let r = post_json_as(&app, "/api/v1/datasets", &editor, r#"{"name":"wine"}"#).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let csv = std::fs::read(format!("{DATA}/wine.csv")).unwrap();
    // Uploads have their own limit, above the JSON body limit.
    let r = post_json_as(&app, "/api/v1/datasets", &editor, r#"{"name":"big"}"#).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let mut big_csv = String::from("i,x\n");
    for i in 0..10_000 {
        big_csv.push_str(&format!("{i},{}\n", i as f64 * 0.5));
    }
    assert!(big_csv.len() > BODY_LIMIT);
    let r = upload(&app, &editor, "/api/v1/datasets/big/versions", big_csv.into_bytes()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = upload(&app, &editor, "/api/v1/datasets/wine/versions?file_name=wine.csv", csv.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json()["version"]["n_rows"], 178);
    let r = upload(&app, &viewer, "/api/v1/datasets/wine/versions", csv.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Too large for the upload limit: 413 in our envelope, nothing stored.
    let big = vec![b'1'; UPLOAD_LIMIT as usize + 1];
    let r = upload(&app, &editor, "/api/v1/datasets/wine/versions", big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert_eq!(r.error_code(), "payload_too_large");
    let r = get_as(&app, "/api/v1/datasets/wine/versions", &viewer).await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);

    // A second version with a shifted column; validate it against the first.
    let text = String::from_utf8(csv).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().to_string();
    let col = header.split(',').position(|h| h == "alcohol").expect("alcohol column");
    let mut shifted = vec![header];
    for line in lines {
        let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
        cells[col] = format!("{}", cells[col].parse::<f64>().unwrap() + 3.0);
        shifted.push(cells.join(","));
    }
    let r = upload(
        &app,
        &editor,
        "/api/v1/datasets/wine/versions?file_name=wine2.csv",
        shifted.join("\n").into(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let r = get_as(&app, "/api/v1/datasets/wine/schema", &viewer).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["based_on_version"], 2, "inferred from the latest version");
    let bad = r#"{"schema":{"columns":[{"name":"a","type":"int","min":5,"max":1}]}}"#;
    let r = send(
        &app,
        Request::put("/api/v1/datasets/wine/schema")
            .header("authorization", format!("Bearer {editor}"))
            .header("content-type", "application/json")
            .body(Body::from(bad))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("min 5 is greater than max 1"), "{}", r.body);

    let r = post_json_as(&app, "/api/v1/datasets/wine/validations", &editor, r#"{"version":2}"#).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let report = r.json();
    assert_eq!(report["summary"]["baseline_version"], 1);
    assert_eq!(report["summary"]["status"], "fail");
    let alcohol =
        report["drift"].as_array().unwrap().iter().find(|d| d["column"] == "alcohol").unwrap().clone();
    assert_eq!(alcohol["status"], "fail", "{alcohol}");
    assert!(
        report["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "out_of_range" && a["column"] == "alcohol")
    );
    let id = report["summary"]["validation_id"].as_str().unwrap().to_string();
    let r = get_as(&app, &format!("/api/v1/validations/{id}"), &viewer).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = get_as(&app, "/api/v1/datasets/wine/validations", &viewer).await;
    assert_eq!(r.json()[0]["drifted_columns"], 1);

    // Bad input: unknown version, baseline equal to the version.
    let r = post_json_as(&app, "/api/v1/datasets/wine/validations", &editor, r#"{"version":9}"#).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = post_json_as(
        &app,
        "/api/v1/datasets/wine/validations",
        &editor,
        r#"{"version":2,"baseline_version":2}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    let r = get_as(&app, "/api/v1/datasets/wine/versions/1/profile", &viewer).await;
    assert_eq!(r.json()["rows"], 178);
    let r = get_as(&app, "/api/v1/datasets/wine/versions/1/rows?offset=170&limit=50", &viewer).await;
    assert_eq!(r.json()["rows"].as_array().unwrap().len(), 8);
    let r = get_as(&app, "/api/v1/datasets/wine/versions/1/download", &viewer).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.starts_with("PAR1"));

    let doc = get(&app, "/api/v1/openapi.json").await.json();
    for p in [
        "/api/v1/datasets/{dataset}/versions",
        "/api/v1/datasets/{dataset}/validations",
        "/api/v1/datasets/{dataset}/schema",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} is documented");
    }
}
