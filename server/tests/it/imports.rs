//! `/api/v1/data-sources` and `POST /api/v1/datasets/{dataset}/versions/import`.
use crate::support::{get_as, post_json_as, send, state, user_with_token};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use domain::auth::Role;
use serde_json::json;
use services::datasets::import::ImportSettings;
use services::secrets::SecretCipher;
use services::sql_source::SqlSourceSettings;
use sqlx::PgPool;

/// The router with a secret key, this test's database host allowed as a SQL source,
/// and `dir` allowed for path imports.
fn app(pool: &PgPool, dir: &std::path::Path) -> axum::Router {
    let o = pool.connect_options();
    let host = format!("{}:{}", o.get_host(), o.get_port());
    let mut st = state(pool.clone());
    st.services = st
        .services
        .with_secrets(SecretCipher::from_passphrase("server-test-key-server-test-key-0").unwrap())
        .with_sql_sources(SqlSourceSettings { allow: host.parse().unwrap(), ..Default::default() })
        .with_imports(ImportSettings {
            paths: dir.display().to_string().parse().unwrap(),
            ..Default::default()
        });
    server::http::router(st)
}

async fn connection(pool: &PgPool) -> String {
    let db: String = sqlx::query_scalar("select current_database()").fetch_one(pool).await.unwrap();
    let o = pool.connect_options();
    format!("postgres://{}:hunter2@{}:{}/{db}", o.get_username(), o.get_host(), o.get_port())
}

async fn delete_as(app: &axum::Router, uri: &str, token: &str) -> crate::support::Reply {
    let req = Request::delete(uri).header("authorization", format!("Bearer {token}")).body(Body::empty());
    send(app, req.unwrap()).await
}

#[sqlx::test(migrations = "../migrations")]
async fn data_sources_are_listed_registered_and_removed_by_role(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&pool, dir.path());
    let (_, editor) = user_with_token(&pool, "eddie", Role::Editor).await;
    let (_, viewer) = user_with_token(&pool, "vera", Role::Viewer).await;
    let body = json!({"name": "warehouse", "connection": connection(&pool).await}).to_string();

    let r = post_json_as(&app, "/api/v1/data-sources", &viewer, &body).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = post_json_as(&app, "/api/v1/data-sources", &editor, &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let made = r.json();
    assert_eq!(made["name"], "warehouse");
    assert_eq!(made["created_by"], "eddie");
    assert!(!r.body.contains("hunter2"), "the password is never shown: {}", r.body);
    let r = post_json_as(&app, "/api/v1/data-sources", &editor, &body).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let bad = json!({"name": "x", "connection": "postgres://u@elsewhere.example.com/db"}).to_string();
    let r = post_json_as(&app, "/api/v1/data-sources", &editor, &bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);

    let r = get_as(&app, "/api/v1/data-sources", &viewer).await;
    assert_eq!(r.status, StatusCode::OK);
    let list = r.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(!r.body.contains("hunter2"));

    let r = delete_as(&app, "/api/v1/data-sources/warehouse", &viewer).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let id = made["data_source_id"].as_str().unwrap();
    let r = delete_as(&app, &format!("/api/v1/data-sources/{id}"), &editor).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = delete_as(&app, "/api/v1/data-sources/warehouse", &editor).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}

#[sqlx::test(migrations = "../migrations")]
async fn versions_are_imported_from_sql_and_paths(pool: PgPool) {
    sqlx::raw_sql(
        "create table sales (region text, amount float8); insert into sales values ('n', 1.5), ('s', 2);",
    )
    .execute(&pool)
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sales.csv"), "region,amount\nn,1.5\ns,2\n").unwrap();
    let app = app(&pool, dir.path());
    let (_, editor) = user_with_token(&pool, "eddie", Role::Editor).await;
    let (_, viewer) = user_with_token(&pool, "vera", Role::Viewer).await;
    let src = json!({"name": "warehouse", "connection": connection(&pool).await}).to_string();
    assert_eq!(post_json_as(&app, "/api/v1/data-sources", &editor, &src).await.status, StatusCode::CREATED);
    let r = post_json_as(&app, "/api/v1/datasets", &editor, r#"{"name": "sales"}"#).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let uri = "/api/v1/datasets/sales/versions/import";
    let sql =
        json!({"sql": {"source": "warehouse", "query": "select region, amount from sales order by region"}})
            .to_string();
    let r = post_json_as(&app, uri, &editor, &sql).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let v = r.json()["version"].clone();
    assert_eq!((v["version"].as_i64(), v["n_rows"].as_i64()), (Some(1), Some(2)));
    assert_eq!(v["source_kind"], "sql");
    assert_eq!(v["columns"][1], json!({"name": "amount", "type": "float"}));
    // Again: the same content, 200 and the same version.
    let r = post_json_as(&app, uri, &editor, &sql).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (r.json()["created"].as_bool(), r.json()["version"]["version"].as_i64()),
        (Some(false), Some(1))
    );

    // With type overrides.
    let typed = json!({"sql": {"source": "warehouse", "query": "select region, amount from sales"}, "types": "amount=string"})
        .to_string();
    let r = post_json_as(&app, uri, &editor, &typed).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json()["version"]["columns"][1]["type"], "string");

    let path = json!({"path": dir.path().join("sales.csv").display().to_string()}).to_string();
    let r = post_json_as(&app, uri, &editor, &path).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json()["version"]["source_kind"], "path");

    // Refusals: a viewer, a path outside the list, URLs (none allowed), a write,
    // two sources at once, none at all.
    assert_eq!(post_json_as(&app, uri, &viewer, &sql).await.status, StatusCode::FORBIDDEN);
    let cases = [
        (json!({"path": "/etc/passwd"}), "CAIRN_DATA_PATH_ALLOW"),
        (json!({"url": "https://example.com/x.csv"}), "CAIRN_DATA_URL_ALLOW"),
        (json!({"sql": {"source": "warehouse", "query": "delete from sales returning 1"}}), "read-only"),
        (json!({"path": "/a", "url": "https://h/"}), "only one"),
        (json!({}), "say where"),
        (json!({"path": "/a", "types": "nope"}), "column=type"),
    ];
    for (body, expect) in cases {
        let r = post_json_as(&app, uri, &editor, &body.to_string()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.body);
        let msg = r.json()["error"]["message"].as_str().unwrap_or_default().to_string();
        assert!(msg.contains(expect), "{body}: {msg}");
    }
    let r = post_json_as(&app, "/api/v1/datasets/nope/versions/import", &editor, &sql).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let missing = json!({"sql": {"source": "nope", "query": "select 1"}}).to_string();
    assert_eq!(post_json_as(&app, uri, &editor, &missing).await.status, StatusCode::NOT_FOUND);
    let n: i64 = sqlx::query_scalar("select count(*) from sales").fetch_one(&pool).await.unwrap();
    assert_eq!(n, 2);

    let r = get_as(&app, "/api/v1/datasets/sales/versions", &viewer).await;
    assert_eq!(r.json().as_array().unwrap().len(), 3);
    let doc = get_as(&app, "/api/v1/openapi.json", &viewer).await.json();
    assert!(doc["paths"]["/api/v1/datasets/{dataset}/versions/import"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/data-sources"]["get"].is_object());
    assert!(doc["components"]["schemas"]["ImportRequest"].is_object());
}
