//! Dataset versions from a SQL source (the test's own database), a server path and a
//! URL (a tiny HTTP server on 127.0.0.1 inside the test: no external network).
use domain::auth::Role;
use domain::datasets::{ColumnType, NewDataset, SourceKind};
use domain::{DataSourceId, DatasetId};
use services::auth::Principal;
use services::datasets::{self, import, import::ImportSettings};
use services::secrets::SecretCipher;
use services::sql_source::{self, NewDataSource, SqlSourceSettings};
use services::{AppState, Error, artifacts::ArtifactStore};
use sqlx::PgPool;
use std::collections::BTreeMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "test-key-test-key-test-key-test-key";

use crate::support::user;

fn state(pool: &PgPool, imports: ImportSettings) -> AppState {
    let dir = tempfile::tempdir().unwrap().keep();
    let o = pool.connect_options();
    let host = format!("{}:{}", o.get_host(), o.get_port());
    let sql = SqlSourceSettings { allow: host.parse().unwrap(), ..SqlSourceSettings::default() };
    AppState::new(pool.clone(), ArtifactStore::open(&dir.display().to_string()).unwrap())
        .with_secrets(SecretCipher::from_passphrase(KEY).unwrap())
        .with_sql_sources(sql)
        .with_imports(imports)
}

async fn source(st: &AppState, p: &Principal, name: &str) -> DataSourceId {
    let db: String = sqlx::query_scalar("select current_database()").fetch_one(&st.db).await.unwrap();
    let o = st.db.connect_options();
    let connection = format!("postgres://{}@{}:{}/{db}", o.get_username(), o.get_host(), o.get_port());
    let new = NewDataSource { project_id: None, name: name.into(), connection };
    sql_source::create(st, p, new).await.unwrap().data_source_id
}

async fn dataset(st: &AppState, p: &Principal, name: &str) -> DatasetId {
    let new = NewDataset { name: name.into(), description: String::new(), project_id: None };
    datasets::create(st, p, new).await.unwrap().dataset_id
}

fn validation(r: services::Result<impl std::fmt::Debug>) -> (String, String) {
    match r {
        Err(Error::Validation(v)) => (v.field, v.message),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

const QUERY: &str = "select id, score, name, ok, at from readings order by id";

async fn readings(pool: &PgPool) {
    sqlx::raw_sql(
        "create table readings (id int4, score numeric(6, 2), name text, ok bool, at timestamptz);
         insert into readings values
           (1, 0.5, 'a', true, '2024-01-01 00:00:00+00'),
           (2, 1.25, 'b', false, '2024-01-02 12:00:00+00'),
           (3, null, null, null, null);",
    )
    .execute(pool)
    .await
    .unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn a_query_becomes_a_typed_version_and_the_same_rows_find_it_again(pool: PgPool) {
    readings(&pool).await;
    let st = state(&pool, ImportSettings::default());
    let ed = user(&pool, Role::Editor).await;
    let src = source(&st, &ed, "warehouse").await;
    let ds = dataset(&st, &ed, "readings").await;

    let made = import::from_sql(&st, &ed, ds, src, QUERY, BTreeMap::new()).await.unwrap();
    assert!(made.created);
    let v = &made.version;
    assert_eq!((v.version, v.n_rows, v.n_cols, v.format.as_str()), (1, 3, 5, "parquet"));
    let types: Vec<(&str, ColumnType)> = v.columns.iter().map(|c| (c.name.as_str(), c.column_type)).collect();
    assert_eq!(
        types,
        [
            ("id", ColumnType::Int),
            ("score", ColumnType::Float),
            ("name", ColumnType::String),
            ("ok", ColumnType::Bool),
            ("at", ColumnType::Timestamp),
        ]
    );
    assert_eq!(v.source_kind, SourceKind::Sql);
    assert_eq!(v.source_detail["source"], "warehouse");
    assert_eq!(v.source_detail["query"], QUERY);
    let artifact = v.lineage_artifact_id.expect("a lineage artifact");
    let (kind, hash, props): (String, Option<String>, serde_json::Value) = sqlx::query_as(
        "select type, content_hash, properties from lineage_artifact where lineage_artifact_id = $1",
    )
    .bind(artifact.0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(props["source"], "sql");
    assert_eq!((kind.as_str(), hash), ("dataset_version", Some(format!("sha256:{}", v.content_hash))));

    let page = datasets::rows(&st, &ed, ds, 1, 0, 10).await.unwrap();
    assert_eq!(page.total, 3);
    let first: Vec<Option<&str>> = page.rows[0].iter().map(|c| c.as_deref()).collect();
    assert_eq!(&first[..4], [Some("1"), Some("0.5"), Some("a"), Some("true")]);
    assert_eq!(page.rows[2][1], None, "NULL stays missing");

    // The same query over unchanged data: the same version, nothing new.
    let again = import::from_sql(&st, &ed, ds, src, QUERY, BTreeMap::new()).await.unwrap();
    assert!(!again.created);
    assert_eq!((again.version.version, &again.version.content_hash), (1, &v.content_hash));

    // Changed data: a new version.
    sqlx::query("insert into readings values (4, 2, 'd', true, now())").execute(&pool).await.unwrap();
    let changed = import::from_sql(&st, &ed, ds, src, QUERY, BTreeMap::new()).await.unwrap();
    assert!(changed.created);
    assert_eq!((changed.version.version, changed.version.n_rows), (2, 4));

    // Overrides apply as they do to uploads.
    let overrides = BTreeMap::from([("id".to_string(), ColumnType::String)]);
    let typed = import::from_sql(&st, &ed, ds, src, QUERY, overrides).await.unwrap();
    assert!(typed.created);
    assert_eq!(typed.version.columns[0].column_type, ColumnType::String);
}

#[sqlx::test(migrations = "../migrations")]
async fn writes_empty_results_and_viewers_store_nothing(pool: PgPool) {
    readings(&pool).await;
    let st = state(&pool, ImportSettings::default());
    let ed = user(&pool, Role::Editor).await;
    let viewer = user(&pool, Role::Viewer).await;
    let src = source(&st, &ed, "warehouse").await;
    let ds = dataset(&st, &ed, "readings").await;

    let (field, msg) = validation(
        import::from_sql(&st, &ed, ds, src, "delete from readings returning id", BTreeMap::new()).await,
    );
    assert_eq!(field, "sql");
    assert!(msg.contains("read-only"), "{msg}");
    let left: i64 = sqlx::query_scalar("select count(*) from readings").fetch_one(&pool).await.unwrap();
    assert_eq!(left, 3);

    let (field, msg) = validation(
        import::from_sql(&st, &ed, ds, src, "select * from readings where false", BTreeMap::new()).await,
    );
    assert_eq!(field, "sql");
    assert!(msg.contains("no rows"), "{msg}");
    let (_, msg) =
        validation(import::from_sql(&st, &ed, ds, src, "select nope from readings", BTreeMap::new()).await);
    assert!(msg.contains("nope"), "{msg}");

    assert!(matches!(
        import::from_sql(&st, &viewer, ds, src, QUERY, BTreeMap::new()).await,
        Err(Error::Forbidden(_))
    ));
    assert!(datasets::versions(&st, &ed, ds).await.unwrap().is_empty());

    // By name or id; an unknown name is a 404.
    assert_eq!(import::resolve_source(&st, &ed, "WAREHOUSE").await.unwrap().data_source_id, src);
    assert_eq!(import::resolve_source(&st, &ed, &src.to_string()).await.unwrap().data_source_id, src);
    assert!(matches!(import::resolve_source(&st, &ed, "nope").await, Err(Error::NotFound { .. })));
}

const CSV: &str = "city,temp\nOslo,3.5\nLima,19\n";

#[sqlx::test(migrations = "../migrations")]
async fn paths_are_read_only_under_the_allow_list(pool: PgPool) {
    let root = tempfile::tempdir().unwrap();
    let allowed = root.path().join("exports");
    std::fs::create_dir(&allowed).unwrap();
    std::fs::write(allowed.join("weather.csv"), CSV).unwrap();
    std::fs::write(root.path().join("secret.csv"), CSV).unwrap();
    let settings =
        ImportSettings { paths: allowed.display().to_string().parse().unwrap(), ..Default::default() };
    let st = state(&pool, settings);
    let ed = user(&pool, Role::Editor).await;
    let ds = dataset(&st, &ed, "weather").await;

    let file = allowed.join("weather.csv").display().to_string();
    let made = import::from_path(&st, &ed, ds, &file, BTreeMap::new()).await.unwrap();
    assert!(made.created);
    let v = made.version;
    assert_eq!((v.n_rows, v.n_cols, v.format.as_str(), v.source_kind), (2, 2, "csv", SourceKind::Path));
    assert_eq!(v.raw_bytes as usize, CSV.len());
    assert!(v.source_detail["path"].as_str().unwrap().ends_with("exports/weather.csv"));
    assert_eq!(v.columns[1].column_type, ColumnType::Float);
    // The same file again: the same version.
    assert!(!import::from_path(&st, &ed, ds, &file, BTreeMap::new()).await.unwrap().created);

    let escape = format!("{}/../secret.csv", allowed.display());
    let outside = root.path().join("secret.csv").display().to_string();
    for bad in [escape, outside] {
        let (field, msg) = validation(import::from_path(&st, &ed, ds, &bad, BTreeMap::new()).await);
        assert_eq!(field, "path");
        assert!(msg.contains("CAIRN_DATA_PATH_ALLOW"), "{msg}");
    }
    let missing = allowed.join("nope.csv").display().to_string();
    let (_, msg) = validation(import::from_path(&st, &ed, ds, &missing, BTreeMap::new()).await);
    assert!(msg.contains("no file"), "{msg}");

    // Switched off: nothing is allowed, and the message names the setting.
    let off = state(&pool, ImportSettings::default());
    let (_, msg) = validation(import::from_path(&off, &ed, ds, &file, BTreeMap::new()).await);
    assert!(msg.contains("switched off") && msg.contains("CAIRN_DATA_PATH_ALLOW"), "{msg}");

    // Over the size limit.
    let small = ImportSettings { max_bytes: 10, ..st.imports.as_ref().clone() };
    let small = state(&pool, small);
    assert!(matches!(
        import::from_path(&small, &ed, ds, &file, BTreeMap::new()).await,
        Err(Error::TooLarge(_))
    ));
    assert_eq!(datasets::versions(&st, &ed, ds).await.unwrap().len(), 1);
}

/// Serves `routes` (path → status line, extra headers, body) over HTTP/1.1 on
/// 127.0.0.1, one request per connection; returns its base URL.
async fn serve(routes: Vec<(&'static str, &'static str, String, &'static str)>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else { return };
            let routes = routes.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&req);
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, headers, body) = routes
                    .iter()
                    .find(|r| r.0 == path)
                    .map(|r| (r.1, r.2.clone(), r.3))
                    .unwrap_or(("404 Not Found", String::new(), "no such file"));
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(resp.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    base
}

#[sqlx::test(migrations = "../migrations")]
async fn urls_are_fetched_only_under_the_allow_list(pool: PgPool) {
    let elsewhere = serve(vec![("/secret.csv", "200 OK", String::new(), CSV)]).await;
    let redirect = format!("Location: {elsewhere}/secret.csv\r\n");
    let base = serve(vec![
        ("/data/weather.csv", "200 OK", String::new(), CSV),
        ("/data/moved.csv", "302 Found", "Location: /data/weather.csv\r\n".into(), ""),
        ("/data/away.csv", "302 Found", redirect, ""),
        ("/private/x.csv", "200 OK", String::new(), CSV),
    ])
    .await;
    let settings = ImportSettings { urls: format!("{base}/data/").parse().unwrap(), ..Default::default() };
    let st = state(&pool, settings);
    let ed = user(&pool, Role::Editor).await;
    let ds = dataset(&st, &ed, "weather").await;

    let url = format!("{base}/data/weather.csv");
    let made = import::from_url(&st, &ed, ds, &url, BTreeMap::new()).await.unwrap();
    assert!(made.created);
    let v = made.version;
    assert_eq!((v.n_rows, v.format.as_str(), v.source_kind), (2, "csv", SourceKind::Url));
    assert_eq!(v.source_detail["url"], url.as_str());
    // A redirect that stays under the list is followed; same bytes, same version.
    let moved = import::from_url(&st, &ed, ds, &format!("{base}/data/moved.csv"), BTreeMap::new()).await;
    assert!(!moved.unwrap().created);

    let (field, msg) =
        validation(import::from_url(&st, &ed, ds, &format!("{base}/private/x.csv"), BTreeMap::new()).await);
    assert_eq!(field, "url");
    assert!(msg.contains("CAIRN_DATA_URL_ALLOW"), "{msg}");
    let (_, msg) =
        validation(import::from_url(&st, &ed, ds, &format!("{base}/data/away.csv"), BTreeMap::new()).await);
    assert!(msg.contains("redirects") && msg.contains("CAIRN_DATA_URL_ALLOW"), "{msg}");
    let (_, msg) =
        validation(import::from_url(&st, &ed, ds, &format!("{base}/data/gone.csv"), BTreeMap::new()).await);
    assert!(msg.contains("404"), "{msg}");

    let off = state(&pool, ImportSettings::default());
    let (_, msg) = validation(import::from_url(&off, &ed, ds, &url, BTreeMap::new()).await);
    assert!(msg.contains("switched off") && msg.contains("CAIRN_DATA_URL_ALLOW"), "{msg}");
    let small = state(&pool, ImportSettings { max_bytes: 10, ..st.imports.as_ref().clone() });
    assert!(matches!(
        import::from_url(&small, &ed, ds, &url, BTreeMap::new()).await,
        Err(Error::TooLarge(_))
    ));
    assert_eq!(datasets::versions(&st, &ed, ds).await.unwrap().len(), 1);
}
