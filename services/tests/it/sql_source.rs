//! SQL data sources against the local Postgres: each test's own database is also the
//! source it registers and queries.
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use domain::DataSourceId;
use domain::auth::Role;
use services::auth::Principal;
use services::secrets::SecretCipher;
use services::sql_source::{self, NewDataSource, QueryLimits, SqlSourceSettings};
use services::{AppState, Error, artifacts::ArtifactStore};
use sqlx::PgPool;
use std::time::Duration;

const KEY: &str = "test-key-test-key-test-key-test-key";
const PASSWORD: &str = "hunter2-never-stored";

use crate::support::user;

/// host:port of the test server, as the pool reaches it.
fn host_port(pool: &PgPool) -> String {
    let o = pool.connect_options();
    format!("{}:{}", o.get_host(), o.get_port())
}

/// A URL for this test's database, with a password the (trust) server ignores.
async fn source_url(pool: &PgPool) -> String {
    let db: String = sqlx::query_scalar("select current_database()").fetch_one(pool).await.unwrap();
    let o = pool.connect_options();
    format!("postgres://{}:{PASSWORD}@{}/{db}", o.get_username(), host_port(pool))
}

fn state(pool: &PgPool, allow: &str) -> AppState {
    let dir = tempfile::tempdir().unwrap().keep();
    let settings = SqlSourceSettings { allow: allow.parse().unwrap(), ..SqlSourceSettings::default() };
    AppState::new(pool.clone(), ArtifactStore::open(&dir.display().to_string()).unwrap())
        .with_secrets(SecretCipher::from_passphrase(KEY).unwrap())
        .with_sql_sources(settings)
}

async fn register(
    st: &AppState,
    p: &Principal,
    name: &str,
    connection: String,
) -> services::Result<DataSourceId> {
    let new = NewDataSource { project_id: None, name: name.into(), connection };
    Ok(sql_source::create(st, p, new).await?.data_source_id)
}

fn limits(timeout: Duration, max_rows: u64, batch_rows: usize) -> QueryLimits {
    QueryLimits { statement_timeout: timeout, max_rows, batch_rows }
}

async fn collect(
    st: &AppState,
    p: &Principal,
    id: DataSourceId,
    sql: &str,
    l: QueryLimits,
) -> services::Result<(arrow_schema::SchemaRef, Vec<RecordBatch>)> {
    let stream = sql_source::run_query(st, p, id, sql, l).await?;
    let schema = stream.schema();
    Ok((schema, stream.collect_all().await?))
}

fn validation(e: Error) -> (String, String) {
    match e {
        Error::Validation(v) => (v.field, v.message),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn micros(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_micros()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_query_streams_typed_arrow_batches(pool: PgPool) {
    sqlx::raw_sql(
        r#"create type mood as enum ('happy', 'sad');
        create table src (
            i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, n numeric(12, 3), b bool,
            t text, vc varchar(10), bp char(3), ts timestamptz, tsn timestamp, d date,
            u uuid, j jsonb, m mood, iv interval, arr int[]
        );
        insert into src values
          (1, 10, 9007199254740993, 1.5, -2.25, 12345.678, true,
           'héllo', 'abc', 'ab', '2024-01-02 03:04:05.123456+00', '2024-01-02 03:04:05', '2024-01-02',
           'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}', 'happy', '1 day 02:03:04', '{1,2,3}'),
          (null, 20, null, null, null, null, null, null, null, null, null, null, null,
           null, null, null, null, null),
          (-3, 30, -1, null, 'NaN', -0.5, false, '', null, null, '1969-12-31 23:59:59.5+00', null,
           '1970-01-01', null, 'null', 'sad', null, '{}');"#,
    )
    .execute(&pool)
    .await
    .unwrap();
    let st = state(&pool, &host_port(&pool));
    let ed = user(&pool, Role::Editor).await;
    let id = register(&st, &ed, "warehouse", source_url(&pool).await).await.unwrap();

    let (schema, batches) =
        collect(&st, &ed, id, "select * from src order by i4", QueryLimits::default()).await.unwrap();
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let types: Vec<(&str, DataType)> =
        schema.fields().iter().map(|f| (f.name().as_str(), f.data_type().clone())).collect();
    assert_eq!(
        types,
        [
            ("i2", DataType::Int64),
            ("i4", DataType::Int64),
            ("i8", DataType::Int64),
            ("f4", DataType::Float64),
            ("f8", DataType::Float64),
            ("n", DataType::Float64),
            ("b", DataType::Boolean),
            ("t", DataType::Utf8),
            ("vc", DataType::Utf8),
            ("bp", DataType::Utf8),
            ("ts", ts.clone()),
            ("tsn", ts.clone()),
            ("d", ts),
            ("u", DataType::Utf8),
            ("j", DataType::Utf8),
            ("m", DataType::Utf8),
            ("iv", DataType::Utf8),
            ("arr", DataType::Utf8),
        ]
    );
    assert!(schema.fields().iter().all(|f| f.is_nullable()));
    assert_eq!(batches.len(), 1);
    let b = &batches[0];
    assert_eq!(b.num_rows(), 3);
    let col = |name: &str| b.column_by_name(name).unwrap().clone();
    let int = |name: &str| col(name).as_primitive::<Int64Type>().clone();
    let float = |name: &str| col(name).as_primitive::<Float64Type>().clone();
    let text = |name: &str, row: usize| {
        let c = col(name);
        let s = c.as_string::<i32>();
        (!s.is_null(row)).then(|| s.value(row).to_string())
    };
    let time = |name: &str| col(name).as_primitive::<TimestampMicrosecondType>().clone();

    assert_eq!(int("i2").value(0), 1);
    assert_eq!(int("i2").value(2), -3);
    assert_eq!(int("i8").value(0), 9_007_199_254_740_993, "no float detour for int8");
    assert_eq!(int("i8").value(2), -1);
    assert_eq!(float("f4").value(0), 1.5);
    assert_eq!(float("f8").value(0), -2.25);
    assert!(float("f8").value(2).is_nan());
    assert_eq!(float("n").value(0), 12345.678);
    assert_eq!(float("n").value(2), -0.5);
    let bools = col("b");
    assert!(bools.as_boolean().value(0) && !bools.as_boolean().value(2));
    assert_eq!(text("t", 0).as_deref(), Some("héllo"));
    assert_eq!(text("t", 2).as_deref(), Some(""), "empty text is not null");
    assert_eq!(text("vc", 0).as_deref(), Some("abc"));
    assert_eq!(text("bp", 0).as_deref(), Some("ab "));
    assert_eq!(time("ts").value(0), micros("2024-01-02T03:04:05.123456Z"));
    assert_eq!(time("ts").value(2), -500_000, "before 1970");
    assert_eq!(time("tsn").value(0), micros("2024-01-02T03:04:05Z"), "timestamp without zone is read as UTC");
    assert_eq!(time("d").value(0), micros("2024-01-02T00:00:00Z"));
    assert_eq!(time("d").value(2), 0);
    assert_eq!(text("u", 0).as_deref(), Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
    assert_eq!(text("j", 0).as_deref(), Some(r#"{"a": [1, 2]}"#));
    assert_eq!(text("j", 2).as_deref(), Some("null"), "JSON null is a value, not SQL NULL");
    assert_eq!(text("m", 0).as_deref(), Some("happy"));
    assert_eq!(text("iv", 0).as_deref(), Some("1 day 02:03:04"), "other types arrive in their text form");
    assert_eq!(text("arr", 0).as_deref(), Some("{1,2,3}"));
    assert_eq!(text("arr", 2).as_deref(), Some("{}"));

    // The all-NULL row (i4 = 20) is null in every other column, whatever its type.
    for (i, field) in schema.fields().iter().enumerate() {
        if field.name() != "i4" {
            assert!(b.column(i).is_null(1), "{} should be null", field.name());
        }
    }
    assert_eq!(b.column_by_name("i4").unwrap().null_count(), 0);
    let tz = time("ts");
    assert_eq!(tz.timezone(), Some("UTC"));
}

#[sqlx::test(migrations = "../migrations")]
async fn batches_limits_and_odd_results(pool: PgPool) {
    let st = state(&pool, &host_port(&pool));
    let ed = user(&pool, Role::Editor).await;
    let id = register(&st, &ed, "numbers", source_url(&pool).await).await.unwrap();
    let t = Duration::from_secs(30);

    let (_, batches) =
        collect(&st, &ed, id, "select g from generate_series(1, 10) g", limits(t, 100, 4)).await.unwrap();
    let sizes: Vec<usize> = batches.iter().map(RecordBatch::num_rows).collect();
    assert_eq!(sizes, [4, 4, 2]);
    let all: Vec<i64> =
        batches.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()).collect();
    assert_eq!(all, (1..=10).collect::<Vec<_>>());

    // Exactly at the limit is fine; one more row is an error, not a truncation.
    collect(&st, &ed, id, "select g from generate_series(1, 5) g", limits(t, 5, 2)).await.unwrap();
    let err =
        collect(&st, &ed, id, "select g from generate_series(1, 6) g", limits(t, 5, 2)).await.unwrap_err();
    let (field, msg) = validation(err);
    assert_eq!(field, "sql");
    assert!(msg.contains("more than 5 rows") && msg.contains("CAIRN_SQL_SOURCE_MAX_ROWS"), "{msg}");

    // An empty result still has its schema; duplicate names are told apart.
    let (schema, batches) =
        collect(&st, &ed, id, "select 1 as a, 'x' as a from pg_class where false;", limits(t, 5, 2))
            .await
            .unwrap();
    assert!(batches.is_empty());
    let names: Vec<_> = schema.fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, ["a", "a_2"]);

    // Settings cap what a caller asks for.
    let mut capped = state(&pool, &host_port(&pool));
    capped.sql_sources = std::sync::Arc::new(SqlSourceSettings {
        allow: host_port(&pool).parse().unwrap(),
        max_rows: 3,
        ..SqlSourceSettings::default()
    });
    let err =
        collect(&capped, &ed, id, "select generate_series(1, 4)", QueryLimits::default()).await.unwrap_err();
    assert!(validation(err).1.contains("more than 3 rows"));
}

#[sqlx::test(migrations = "../migrations")]
async fn the_source_is_read_only_and_errors_say_why(pool: PgPool) {
    sqlx::raw_sql("create table src (a int); insert into src values (1); create sequence some_seq;")
        .execute(&pool)
        .await
        .unwrap();
    let st = state(&pool, &host_port(&pool));
    let ed = user(&pool, Role::Editor).await;
    let id = register(&st, &ed, "ro", source_url(&pool).await).await.unwrap();
    let l = limits(Duration::from_secs(30), 100, 10);

    for write in [
        "insert into src values (2)",
        "insert into src values (3) returning a",
        "create table other (b int)",
        "update src set a = 5",
        "select nextval('some_seq')",
    ] {
        let err = collect(&st, &ed, id, write, l).await.unwrap_err();
        let (field, msg) = validation(err);
        assert_eq!(field, "sql");
        assert!(msg.starts_with("the source is read-only for Cairn: "), "{write}: {msg}");
    }
    let count: i64 = sqlx::query_scalar("select count(*) from src").fetch_one(&pool).await.unwrap();
    assert_eq!(count, 1, "nothing was written");
    let exists: bool =
        sqlx::query_scalar("select to_regclass('other') is not null").fetch_one(&pool).await.unwrap();
    assert!(!exists);

    // Several statements cannot smuggle a COMMIT past the read-only transaction.
    let (_, msg) = validation(
        collect(&st, &ed, id, "select 1; commit; insert into src values (9)", l).await.unwrap_err(),
    );
    assert!(msg.contains("multiple commands"), "{msg}");

    // A syntax error is Postgres' message with its place in the query.
    let (field, msg) =
        validation(collect(&st, &ed, id, "select a\nfrom src\nwher a > 1", l).await.unwrap_err());
    assert_eq!(field, "sql");
    assert!(msg.contains("syntax error at or near \"a\"") && msg.contains("line 3, column 6"), "{msg}");
    let (_, msg) = validation(collect(&st, &ed, id, "select nope from src", l).await.unwrap_err());
    assert!(msg.contains("column \"nope\" does not exist") && msg.contains("line 1, column 8"), "{msg}");

    // The timeout is Postgres' statement_timeout, and the message names it.
    let started = std::time::Instant::now();
    let short = limits(Duration::from_millis(200), 100, 10);
    let (field, msg) = validation(collect(&st, &ed, id, "select pg_sleep(5)", short).await.unwrap_err());
    assert_eq!(field, "sql");
    assert_eq!(msg, "query cancelled after 0.2 s statement_timeout");
    assert!(started.elapsed() < Duration::from_secs(4), "the query was cancelled, not waited for");

    let (_, msg) = validation(collect(&st, &ed, id, "  ", l).await.unwrap_err());
    assert!(msg.contains("must not be empty"));
    let (_, msg) = validation(collect(&st, &ed, id, "set work_mem = '8MB'", l).await.unwrap_err());
    assert!(msg.contains("returns no rows"), "{msg}");
}

#[sqlx::test(migrations = "../migrations")]
async fn connections_are_stored_encrypted_and_never_shown(pool: PgPool) {
    let st = state(&pool, &host_port(&pool));
    let ed = user(&pool, Role::Editor).await;
    let url = source_url(&pool).await;
    let id = register(&st, &ed, "secret-one", url.clone()).await.unwrap();

    let (enc, env, display): (Option<String>, Option<String>, String) =
        sqlx::query_as("select url_enc, url_env, display from data_source where data_source_id = $1")
            .bind(id.0)
            .fetch_one(&pool)
            .await
            .unwrap();
    let enc = enc.unwrap();
    assert!(enc.starts_with("v1:"), "{enc}");
    assert!(!enc.contains(PASSWORD) && !enc.contains("postgres://"), "{enc}");
    assert_eq!(env, None);
    assert!(!display.contains(PASSWORD) && display.contains(&host_port(&pool)), "{display}");

    let info = sql_source::get(&st, &ed, id).await.unwrap();
    assert_eq!(info.connection, display);
    assert_eq!(info.kind, "postgres");
    assert_eq!(info.created_by, Some(ed.user_id));
    assert_eq!(info.created_by_name.as_deref(), Some(ed.username.as_str()));
    let listed = sql_source::list(&st, &ed, None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!format!("{listed:?}").contains(PASSWORD));
    let audit: Vec<String> =
        sqlx::query_scalar("select details from audit_event where action = 'data_source.create'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(audit.len(), 1);
    assert!(!audit[0].contains(PASSWORD));

    // It still connects (the password went along, encrypted and back).
    collect(&st, &ed, id, "select 1", QueryLimits::default()).await.unwrap();

    // Under another key it cannot be read, and the error says why.
    let other = AppState::new(pool.clone(), st.store.clone())
        .with_secrets(SecretCipher::from_passphrase("another-key-another-key-another-key").unwrap())
        .with_sql_sources((*st.sql_sources).clone());
    let err = sql_source::run_query(&other, &ed, id, "select 1", QueryLimits::default()).await.unwrap_err();
    assert!(
        err.to_string().contains("stored secret cannot be decrypted: CAIRN_SECRET_KEY changed?"),
        "{err}"
    );
    // Without any key nothing is registered in plain text.
    let keyless = AppState::new(pool.clone(), st.store.clone()).with_sql_sources((*st.sql_sources).clone());
    let err = register(&keyless, &ed, "no-key", url).await.unwrap_err();
    assert!(err.to_string().contains("CAIRN_SECRET_KEY"), "{err}");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_allow_list_is_checked_at_registration_and_at_query_time(pool: PgPool) {
    let ed = user(&pool, Role::Editor).await;
    let url = source_url(&pool).await;

    let elsewhere = state(&pool, "db.internal, *.warehouse.example.com:6432");
    let (field, msg) = validation(register(&elsewhere, &ed, "x", url.clone()).await.unwrap_err());
    assert_eq!(field, "connection");
    assert!(msg.contains(&host_port(&pool)) && msg.contains("CAIRN_SQL_SOURCE_ALLOW"), "{msg}");
    assert!(!msg.contains(PASSWORD));
    let nothing = state(&pool, "");
    let (_, msg) = validation(register(&nothing, &ed, "x", url.clone()).await.unwrap_err());
    assert!(msg.contains("CAIRN_SQL_SOURCE_ALLOW is empty"), "{msg}");
    let count: i64 = sqlx::query_scalar("select count(*) from data_source").fetch_one(&pool).await.unwrap();
    assert_eq!(count, 0);

    // Registered while allowed; the operator then narrows the list.
    let allowed = state(&pool, &host_port(&pool));
    let id = register(&allowed, &ed, "x", url).await.unwrap();
    let (field, msg) = validation(
        sql_source::run_query(&nothing, &ed, id, "select 1", QueryLimits::default()).await.unwrap_err(),
    );
    assert_eq!(field, "connection");
    assert!(msg.contains("CAIRN_SQL_SOURCE_ALLOW"), "{msg}");

    // Bad URLs and env references are refused with what to do.
    for (bad, why) in [
        ("mysql://u:p@127.0.0.1/db".to_string(), "postgres://"),
        (format!("postgres://u:p@{}/db?host=elsewhere", host_port(&pool)), "`host` is not supported"),
        ("env:DATABASE_URL".to_string(), "Cairn's own settings"),
        ("env:SQLSRC_TEST_SURELY_UNSET".to_string(), "not set"),
    ] {
        let (field, msg) = validation(register(&allowed, &ed, "y", bad.clone()).await.unwrap_err());
        assert_eq!(field, "connection");
        assert!(msg.contains(why), "{bad}: {msg}");
    }

    // A refused connection says where, without the password.
    let dead = format!("postgres://postgres:{PASSWORD}@{}:1/nothing", pool.connect_options().get_host());
    let dead_ok = state(&pool, pool.connect_options().get_host());
    let id = register(&dead_ok, &ed, "dead", dead).await.unwrap();
    let (field, msg) = validation(
        sql_source::run_query(&dead_ok, &ed, id, "select 1", QueryLimits::default()).await.unwrap_err(),
    );
    assert_eq!(field, "connection");
    assert!(msg.starts_with("could not connect to the source at postgres://postgres@"), "{msg}");
    assert!(!msg.contains(PASSWORD), "{msg}");
}

#[sqlx::test(migrations = "../migrations")]
async fn roles_names_and_deletion(pool: PgPool) {
    let st = state(&pool, &host_port(&pool));
    let ed = user(&pool, Role::Editor).await;
    let viewer = user(&pool, Role::Viewer).await;
    let url = source_url(&pool).await;

    let err = register(&st, &viewer, "mine", url.clone()).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
    let denied: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where action = 'data_source.create' and outcome = 'denied'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(denied, 1);

    let id = register(&st, &ed, "Sales", url.clone()).await.unwrap();
    let err = register(&st, &ed, "sales", url.clone()).await.unwrap_err();
    assert!(
        matches!(err, Error::Conflict(ref m) if m.contains("already has a data source named")),
        "{err:?}"
    );
    let (field, _) = validation(register(&st, &ed, " padded ", url).await.unwrap_err());
    assert_eq!(field, "name");

    // Viewers see sources but may not spend their credentials or remove them.
    assert_eq!(sql_source::list(&st, &viewer, None).await.unwrap().len(), 1);
    assert_eq!(sql_source::list(&st, &viewer, Some(domain::DEFAULT_PROJECT_ID)).await.unwrap().len(), 1);
    let err = sql_source::run_query(&st, &viewer, id, "select 1", QueryLimits::default()).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
    assert!(matches!(sql_source::delete(&st, &viewer, id).await, Err(Error::Forbidden(_))));

    // Queries are audited with their SQL; jobs can query without a caller.
    collect(&st, &ed, id, "select   1\n as one", QueryLimits::default()).await.unwrap();
    let details: String = sqlx::query_scalar(
        "select details from audit_event where action = 'data_source.query' and outcome = 'ok'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(details, "select 1 as one");
    let batches = sql_source::run_query_unattended(&st, id, "select 2", QueryLimits::default())
        .await
        .unwrap()
        .collect_all()
        .await
        .unwrap();
    assert_eq!(batches[0].column(0).as_primitive::<Int64Type>().value(0), 2);

    sql_source::delete(&st, &ed, id).await.unwrap();
    assert!(matches!(sql_source::get(&st, &ed, id).await, Err(Error::NotFound { .. })));
    assert!(matches!(sql_source::delete(&st, &ed, id).await, Err(Error::NotFound { .. })));
    let err = sql_source::run_query(&st, &ed, id, "select 1", QueryLimits::default()).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn dropping_the_stream_stops_the_query(pool: PgPool) {
    let st = state(&pool, &host_port(&pool));
    let ed = user(&pool, Role::Editor).await;
    let id = register(&st, &ed, "big", source_url(&pool).await).await.unwrap();
    let mut stream = sql_source::run_query(
        &st,
        &ed,
        id,
        // 1999 rows at once, then a minute's wait inside Postgres.
        "select g, md5(g::text) from generate_series(1, 3000) g where g < 2000 or pg_sleep(60) is not null",
        limits(Duration::from_secs(120), 10_000_000, 1000),
    )
    .await
    .unwrap();
    let first = stream.next_batch().await.unwrap().unwrap();
    assert_eq!(first.num_rows(), 1000);
    drop(stream);
    // The source's backend goes away instead of sleeping on for the whole minute.
    // (Other pool connections keep this check's own text as their last query.)
    let gone = crate::support::eventually(Duration::from_secs(10), || async {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
             where datname = current_database() and query like '%md5(g::text)%' and query not like '%pg_stat_activity%'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        n == 0
    })
    .await;
    let rows: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "select state, left(query, 60) from pg_stat_activity where datname = current_database()",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(gone, "the source query kept running after the stream was dropped: {rows:?}");
}
