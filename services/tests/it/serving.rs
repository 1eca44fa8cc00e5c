//! Serving against Postgres: endpoints and routes, predictions checked against the
//! signature, alias moves picked up by the engine, traffic splits and shadows, the
//! serving log (written in batches, read back columnar, statistics, recent
//! requests), retention, and feedback.
use crate::support::{eventually, user};
use domain::auth::Role;
use domain::serving::{EndpointChange, Feedback, NewEndpoint, RouteSpec};
use ml::train::Bundle;
use services::auth::Principal;
use services::serving::{self, Columns, RequestMeta, Scalar, fixture};
use services::{AppState, Error, artifacts::ArtifactStore};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata");

fn state(pool: PgPool) -> AppState {
    let dir = tempfile::tempdir().unwrap().keep();
    AppState::new(pool, ArtifactStore::open(&dir.display().to_string()).unwrap()).with_serving(
        serving::logs::LogSettings { flush_interval: Duration::from_millis(50), ..Default::default() },
    )
}

/// Two credit models (logistic regression, naive Bayes), trained once per test.
async fn bundles() -> (Bundle, Bundle) {
    tokio::task::spawn_blocking(|| {
        let frame = fixture::read_csv(std::path::Path::new(&format!("{DATA}/credit_data.csv"))).unwrap();
        let a = fixture::credit_bundle(&frame, "logistic_regression", 1).unwrap();
        let b = fixture::credit_bundle(&frame, "gaussian_nb", 1).unwrap();
        (a, b)
    })
    .await
    .unwrap()
}

/// Model `credit` with v1 (logistic) and v2 (naive Bayes), `production` → v1.
async fn credit_model(st: &AppState) -> (Bundle, Bundle) {
    let (a, b) = bundles().await;
    let (v1, _) = fixture::register_bundle(st, "credit", &a).await.unwrap();
    fixture::register_bundle(st, "credit", &b).await.unwrap();
    fixture::set_alias(st, "credit", "production", v1).await.unwrap();
    (a, b)
}

fn record(overrides: &[(&str, Scalar)]) -> Vec<(String, Scalar)> {
    let mut r: Vec<(String, Scalar)> = vec![
        ("Seniority".into(), Scalar::Int(9)),
        ("Home".into(), Scalar::Str("rent".into())),
        ("Time".into(), Scalar::Int(60)),
        ("Age".into(), Scalar::Int(30)),
        ("Marital".into(), Scalar::Str("married".into())),
        ("Records".into(), Scalar::Str("no".into())),
        ("Job".into(), Scalar::Str("freelance".into())),
        ("Expenses".into(), Scalar::Int(73)),
        ("Income".into(), Scalar::Float(129.0)),
        ("Assets".into(), Scalar::Float(0.0)),
        ("Debt".into(), Scalar::Float(0.0)),
        ("Amount".into(), Scalar::Int(800)),
        ("Price".into(), Scalar::Int(846)),
    ];
    for (k, v) in overrides {
        match r.iter_mut().find(|(n, _)| n == k) {
            Some(slot) => slot.1 = v.clone(),
            None => r.push((k.to_string(), v.clone())),
        }
    }
    r.retain(|(_, v)| *v != Scalar::Str("<drop>".into()));
    r
}

fn rows(n: usize) -> Columns {
    Columns::from_records(
        (0..n).map(|i| record(&[("Age", Scalar::Int(20 + (i % 50) as i64))])).collect(),
        "records",
    )
    .unwrap()
}

async fn endpoint(st: &AppState, p: &Principal, name: &str, routes: Option<Vec<RouteSpec>>) {
    serving::create(
        st,
        p,
        NewEndpoint { name: name.into(), model: "credit".into(), routes, ..Default::default() },
    )
    .await
    .unwrap();
}

async fn predict(st: &AppState, p: &Principal, name: &str, input: Columns) -> Result<serving::Served, Error> {
    let ep = st.serving.endpoint(name)?;
    serving::predict(st, p, &ep, None, input, RequestMeta::now(uuid::Uuid::new_v4().to_string())).await
}

fn field(e: Error) -> (String, String) {
    match e {
        Error::Validation(v) => (v.field, v.message),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn an_endpoint_predicts_what_the_bundle_predicts_and_checks_its_input(pool: PgPool) {
    let st = state(pool.clone());
    let editor = user(&pool, Role::Editor).await;
    let viewer = user(&pool, Role::Viewer).await;
    let (a, _) = credit_model(&st).await;
    endpoint(&st, &editor, "credit-api", None).await;

    let ep = serving::get(&st, &viewer, "CREDIT-API").await.unwrap();
    assert_eq!(ep.routes.len(), 1);
    assert_eq!((ep.routes[0].alias.as_deref(), ep.routes[0].version), (Some("production"), Some(1)));
    assert!(ep.ready && ep.routes[0].servable, "{ep:?}");
    assert_eq!(ep.urls.v2_infer, "/v2/models/credit-api/infer");

    // A viewer may predict; the answer is the bundle's own.
    let input = rows(3);
    let served = predict(&st, &viewer, "credit-api", input.clone()).await.unwrap();
    assert_eq!(served.model.version, 1);
    let frame = served.model.frame(input).unwrap();
    assert_eq!(served.output.predictions, a.predict(&frame).unwrap().predictions);
    assert_eq!(served.n_rows, 3);

    // Bad input names the feature and the row.
    let bad =
        |overrides: &[(&str, Scalar)]| Columns::from_records(vec![record(overrides)], "records").unwrap();
    let (f, m) = field(
        predict(&st, &viewer, "credit-api", bad(&[("Age", Scalar::Str("old".into()))])).await.unwrap_err(),
    );
    assert_eq!(f, "Age");
    assert!(m.contains("row 1") && m.contains("expected an integer") && m.contains("\"old\""), "{m}");
    let (f, m) =
        field(predict(&st, &viewer, "credit-api", bad(&[("Colour", Scalar::Int(1))])).await.unwrap_err());
    assert_eq!(f, "Colour");
    assert!(m.contains("unknown feature `Colour`") && m.contains("Seniority (int)"), "{m}");
    let (f, m) = field(
        predict(&st, &viewer, "credit-api", bad(&[("Job", Scalar::Str("<drop>".into()))])).await.unwrap_err(),
    );
    assert_eq!(f, "Job");
    assert!(m.contains("missing feature `Job`"), "{m}");
    let (f, m) = field(
        predict(&st, &viewer, "credit-api", bad(&[("Status", Scalar::Str("good".into()))]))
            .await
            .unwrap_err(),
    );
    assert_eq!(f, "Status");
    assert!(m.contains("target"), "{m}");
    let (f, m) =
        field(predict(&st, &viewer, "credit-api", bad(&[("Age", Scalar::Float(30.5))])).await.unwrap_err());
    assert_eq!(f, "Age");
    assert!(m.contains("30.5"), "{m}");
    // A column without missing values in training refuses null.
    let strict = a.signature.inputs.iter().find(|c| !c.nullable).unwrap().name.clone();
    let (f, m) = field(
        predict(&st, &viewer, "credit-api", bad(&[(strict.as_str(), Scalar::Null)])).await.unwrap_err(),
    );
    assert_eq!(f, strict);
    assert!(m.contains("missing (null or NaN) on row 1"), "{m}");
    // One-hot encodes a category never seen in training as all zeros: served.
    predict(&st, &viewer, "credit-api", bad(&[("Home", Scalar::Str("castle".into()))])).await.unwrap();

    assert!(matches!(st.serving.endpoint("nope"), Err(Error::NotFound { .. })));
    let ep = st.serving.endpoint("credit-api").unwrap();
    let e = serving::predict(&st, &viewer, &ep, Some(7), rows(1), RequestMeta::now("x".into()))
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::NotFound { .. }) && e.to_string().contains("it serves: 1"), "{e}");
}

#[sqlx::test(migrations = "../migrations")]
async fn endpoint_changes_are_checked_audited_and_need_an_editor(pool: PgPool) {
    let st = state(pool.clone());
    let editor = user(&pool, Role::Editor).await;
    let viewer = user(&pool, Role::Viewer).await;
    credit_model(&st).await;
    fixture::register_unservable(&st, "credit", "an MLflow sklearn model; ONNX support has not landed")
        .await
        .unwrap();
    let new = |name: &str, routes| NewEndpoint {
        name: name.into(),
        model: "credit".into(),
        routes,
        ..Default::default()
    };

    let e = serving::create(&st, &viewer, new("x", None)).await.unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)), "{e:?}");
    let route = |alias: Option<&str>, version: Option<i32>, pct: u8, shadow: bool| RouteSpec {
        alias: alias.map(String::from),
        version,
        traffic_percent: pct,
        shadow,
    };
    let (f, m) = field(
        serving::create(
            &st,
            &editor,
            new("x", Some(vec![route(Some("production"), None, 60, false), route(None, Some(2), 30, false)])),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(f, "routes");
    assert!(m.contains("sum to 100, got 90"), "{m}");
    let (_, m) = field(
        serving::create(&st, &editor, new("x", Some(vec![route(None, Some(9), 100, false)])))
            .await
            .unwrap_err(),
    );
    assert!(m.contains("no version 9"), "{m}");
    let (_, m) = field(
        serving::create(&st, &editor, new("x", Some(vec![route(None, Some(3), 100, false)])))
            .await
            .unwrap_err(),
    );
    assert!(m.contains("cannot be served") && m.contains("ONNX"), "{m}");
    let e = serving::create(&st, &editor, NewEndpoint { model: "nope".into(), ..new("x", None) })
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    let (f, _) = field(serving::create(&st, &editor, new("a b", None)).await.unwrap_err());
    assert_eq!(f, "name");

    endpoint(&st, &editor, "credit-api", None).await;
    let e = serving::create(&st, &editor, new("Credit-API", None)).await.unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e:?}");

    // A canary: 90 % production, 10 % v2; a shadow copy of everything to v2.
    let changed = serving::change(
        &st,
        &editor,
        "credit-api",
        EndpointChange {
            routes: Some(vec![
                route(Some("production"), None, 90, false),
                route(None, Some(2), 10, false),
                route(Some("shadow"), None, 100, true),
            ]),
            log_sample_rate: Some(0.5),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let shown: Vec<(Option<i32>, u8, bool, bool)> =
        changed.routes.iter().map(|r| (r.version, r.traffic_percent, r.shadow, r.servable)).collect();
    assert_eq!(shown, [(Some(1), 90, false, true), (Some(2), 10, false, true), (None, 100, true, false)]);
    assert!(changed.routes[2].not_servable_reason.as_deref().unwrap().contains("@shadow"), "{changed:?}");
    assert!(changed.ready, "a shadow route that cannot serve does not make the endpoint unready");
    assert_eq!(changed.log_sample_rate, 0.5);
    let e = serving::change(&st, &viewer, "credit-api", EndpointChange::default()).await.unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)));

    // The alias moved to a version Cairn cannot serve: reported, and answered 503.
    let v3 =
        sqlx::query_scalar::<_, uuid::Uuid>("select model_version_id from model_version where version = 3")
            .fetch_one(&pool)
            .await
            .unwrap();
    fixture::set_alias(&st, "credit", "production", domain::ModelVersionId(v3)).await.unwrap();
    st.serving.refresh(&st).await.unwrap();
    let ep = serving::get(&st, &viewer, "credit-api").await.unwrap();
    assert!(!ep.ready && ep.routes[0].not_servable_reason.as_deref().unwrap().contains("ONNX"), "{ep:?}");
    let live = st.serving.endpoint("credit-api").unwrap();
    let e = live.routes[0].model("credit-api").unwrap_err();
    assert!(
        matches!(&e, Error::Unavailable(m) if m.contains("@production (v3)") && m.contains("ONNX")),
        "{e:?}"
    );

    let actions: Vec<String> = sqlx::query_scalar(
        "select action from audit_event where action like 'endpoint.%' order by created_at",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(actions, ["endpoint.create", "endpoint.update"]);
    serving::delete(&st, &editor, "credit-api").await.unwrap();
    assert!(
        matches!(st.serving.endpoint("credit-api"), Err(Error::NotFound { .. })),
        "deleting unloads it here"
    );
    assert!(serving::list(&st, &viewer).await.unwrap().is_empty());
}

#[sqlx::test(migrations = "../migrations")]
async fn moving_the_alias_switches_versions_and_traffic_splits_by_percent(pool: PgPool) {
    let st = state(pool.clone());
    let editor = user(&pool, Role::Editor).await;
    credit_model(&st).await;
    endpoint(&st, &editor, "credit-api", None).await;
    assert_eq!(predict(&st, &editor, "credit-api", rows(1)).await.unwrap().model.version, 1);
    let generation = st.serving.generation();

    // An alias move made elsewhere (another process, SQL) is seen at the next refresh.
    let v2 =
        sqlx::query_scalar::<_, uuid::Uuid>("select model_version_id from model_version where version = 2")
            .fetch_one(&pool)
            .await
            .unwrap();
    let before = st.serving.table();
    fixture::set_alias(&st, "credit", "production", domain::ModelVersionId(v2)).await.unwrap();
    assert!(st.serving.refresh(&st).await.unwrap());
    assert!(st.serving.generation() > generation);
    assert!(!st.serving.refresh(&st).await.unwrap(), "nothing changed since");
    assert_eq!(predict(&st, &editor, "credit-api", rows(1)).await.unwrap().model.version, 2);
    let with_v2 = st.serving.table();

    let route = |version: i32, pct: u8| RouteSpec {
        alias: None,
        version: Some(version),
        traffic_percent: pct,
        shadow: false,
    };
    serving::change(
        &st,
        &editor,
        "credit-api",
        EndpointChange { routes: Some(vec![route(1, 50), route(2, 50)]), ..Default::default() },
    )
    .await
    .unwrap();
    // Versions are immutable: a loaded bundle is reused by the next table.
    let model_of = |t: &serving::engine::Table, i: usize| {
        t.endpoints().next().unwrap().routes[i].model.as_ref().unwrap().clone()
    };
    assert!(!Arc::ptr_eq(&model_of(&before, 0), &model_of(&with_v2, 0)));
    assert!(Arc::ptr_eq(&model_of(&with_v2, 0), &model_of(&st.serving.table(), 1)));
    let mut counts = [0; 3];
    for _ in 0..200 {
        counts[predict(&st, &editor, "credit-api", rows(1)).await.unwrap().model.version as usize] += 1;
    }
    assert!(counts[1] > 60 && counts[2] > 60, "a 50/50 split gave {counts:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_log_stores_requests_columnar_with_errors_shadows_and_stats(pool: PgPool) {
    let st = state(pool.clone());
    let editor = user(&pool, Role::Editor).await;
    credit_model(&st).await;
    let routes = vec![
        RouteSpec { alias: Some("production".into()), version: None, traffic_percent: 100, shadow: false },
        RouteSpec { alias: None, version: Some(2), traffic_percent: 100, shadow: true },
    ];
    endpoint(&st, &editor, "credit-api", Some(routes)).await;
    let handle = serving::start(&st).await;

    let mut ids = Vec::new();
    for i in 0..30 {
        let ep = st.serving.endpoint("credit-api").unwrap();
        let meta = RequestMeta::now(format!("req-{i}"));
        serving::predict(&st, &editor, &ep, None, rows(1 + i % 3), meta).await.unwrap();
        ids.push(format!("req-{i}"));
    }
    let bad = Columns::from_records(vec![record(&[("Age", Scalar::Str("old".into()))])], "records").unwrap();
    predict(&st, &editor, "credit-api", bad).await.unwrap_err();
    let stats = &st.serving.logs.stats;
    // 31 answered or refused + 30 shadow copies.
    assert!(
        eventually(Duration::from_secs(10), || async {
            stats.written_requests.load(std::sync::atomic::Ordering::Relaxed) == 61
        })
        .await,
        "written {:?}",
        stats
    );
    handle.shutdown().await;

    let ep = serving::get(&st, &editor, "credit-api").await.unwrap();
    let now = chrono::Utc::now();
    let window =
        serving::logs::read_window(&st, ep.endpoint_id, now - chrono::Duration::hours(1), now).await.unwrap();
    assert_eq!(window.requests(), 61);
    let live_rows: usize = window.batches.iter().filter(|b| !b.shadow).map(|b| b.rows.num_rows()).sum();
    assert_eq!(live_rows, (0..30).map(|i| 1 + i % 3).sum::<usize>());
    let b = window.batches.iter().find(|b| !b.shadow).unwrap();
    let schema = b.rows.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(&names[..3], ["request", "Seniority", "Home"]);
    assert!(names.contains(&"prediction") && names.contains(&"proba_good"), "{names:?}");

    let recent = serving::recent_requests(&st, &editor, "credit-api", 5).await.unwrap();
    assert_eq!(recent.len(), 5);
    assert!(recent.windows(2).all(|w| w[0].at >= w[1].at), "newest first");
    let failed = recent.iter().find(|r| r.status == 422).expect("the refused request is logged");
    assert!(failed.error.as_deref().unwrap().contains("Age"), "{failed:?}");
    let ok = serving::recent_requests(&st, &editor, "credit-api", 100).await.unwrap();
    let r = ok.iter().find(|r| r.request_id == "req-29" && !r.shadow).unwrap();
    assert_eq!(r.records.len(), 3);
    assert_eq!(r.records[0]["Home"], "rent");
    assert!(r.predictions.iter().all(|p| p == "good" || p == "bad"), "{r:?}");
    assert!(ok.iter().any(|r| r.request_id == "req-29" && r.shadow && r.version == Some(2)));

    let s = serving::stats(&st, &editor, "credit-api", 60).await.unwrap();
    assert_eq!((s.requests, s.errors), (31, 1));
    assert!(s.p50_ms.unwrap() > 0.0 && s.p99_ms.unwrap() >= s.p50_ms.unwrap());
    assert!(s.minutes.iter().any(|m| m.shadow && m.version == Some(2) && m.requests == 30));

    // The per-feature summary aggregated at flush time.
    let summary: serde_json::Value =
        sqlx::query_scalar("select summary from serving_log where not shadow order by started_at limit 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(summary["columns"]["Age"]["hist"]["counts"].is_array(), "{summary}");
    assert!(summary["columns"]["Home"]["values"]["rent"].as_u64().unwrap() > 0, "{summary}");

    // Feedback by request id; sending a label again replaces it.
    let fb = |id: &str, label: serde_json::Value| Feedback { request_id: id.into(), label };
    let got = serving::feedback(
        &st,
        &editor,
        "credit-api",
        vec![fb("req-1", "good".into()), fb("unknown", 1.into())],
    )
    .await
    .unwrap();
    assert_eq!(got.accepted, 2);
    serving::feedback(&st, &editor, "credit-api", vec![fb("req-1", "bad".into())]).await.unwrap();
    let labels = services::db::serving::feedback(&pool, ep.endpoint_id.0).await.unwrap();
    assert_eq!(labels.len(), 2);
    assert_eq!(labels.iter().find(|l| l.request_id == "req-1").unwrap().label, "bad");
    let (f, _) = field(
        serving::feedback(&st, &editor, "credit-api", vec![fb("x", serde_json::json!([1]))])
            .await
            .unwrap_err(),
    );
    assert_eq!(f, "[0].label");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_full_queue_drops_and_counts_and_sampling_skips(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap().keep();
    // No flusher runs and the queue holds 2: the rest is dropped and counted.
    let st = AppState::new(pool.clone(), ArtifactStore::open(&dir.display().to_string()).unwrap())
        .with_serving(serving::logs::LogSettings { queue_capacity: 2, ..Default::default() });
    let editor = user(&pool, Role::Editor).await;
    credit_model(&st).await;
    endpoint(&st, &editor, "credit-api", None).await;
    for _ in 0..5 {
        predict(&st, &editor, "credit-api", rows(1)).await.unwrap();
    }
    let stats = &st.serving.logs.stats;
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!((stats.queued.load(Relaxed), stats.dropped.load(Relaxed)), (2, 3));

    serving::change(
        &st,
        &editor,
        "credit-api",
        EndpointChange { log_sample_rate: Some(0.0), ..Default::default() },
    )
    .await
    .unwrap();
    for _ in 0..5 {
        predict(&st, &editor, "credit-api", rows(1)).await.unwrap();
    }
    assert_eq!(stats.queued.load(Relaxed) + stats.dropped.load(Relaxed), 5, "sample rate 0 logs nothing");
}

#[sqlx::test(migrations = "../migrations")]
async fn retention_drops_old_day_partitions(pool: PgPool) {
    let st = state(pool.clone());
    let today = chrono::Utc::now().date_naive();
    for days_ago in [0u64, 29, 30, 31, 45] {
        services::db::serving::create_partition(&pool, today - chrono::Days::new(days_ago)).await.unwrap();
    }
    let dropped = serving::logs::apply_retention(&st, today).await.unwrap();
    assert_eq!(dropped, [today - chrono::Days::new(45), today - chrono::Days::new(31)]);
    let mut left = services::db::serving::partition_days(&pool).await.unwrap();
    left.sort();
    assert_eq!(left, [today - chrono::Days::new(30), today - chrono::Days::new(29), today]);
}

#[sqlx::test(migrations = "../migrations")]
async fn batch_prediction_writes_a_predictions_version_with_lineage(pool: PgPool) {
    use domain::serving::NewBatchPrediction;
    use services::datasets::{self, Spooled, VersionInput};
    use services::lineage::{self, Direction};
    use services::queue::{JobRegistry, worker::run_pending};
    let st = state(pool.clone());
    let editor = user(&pool, Role::Editor).await;
    let (a, _) = credit_model(&st).await;
    fixture::register_unservable(&st, "credit", "an MLflow model").await.unwrap();
    let new =
        domain::datasets::NewDataset { name: "credit".into(), description: String::new(), project_id: None };
    let id = datasets::create(&st, &editor, new).await.unwrap().dataset_id;
    let bytes = std::fs::read(format!("{DATA}/credit_data.csv")).unwrap();
    let input = VersionInput::upload(Some("credit.csv".into()), Default::default());
    let v1 = datasets::create_version(&st, &editor, id, Spooled::from_bytes(&bytes).unwrap(), input)
        .await
        .unwrap();

    let req = |model: &str| NewBatchPrediction {
        model: model.into(),
        dataset: "credit".into(),
        ..Default::default()
    };
    let viewer = user(&pool, Role::Viewer).await;
    assert!(matches!(
        serving::batch::submit(&st, &viewer, req("models:/credit@production")).await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        serving::batch::submit(&st, &editor, req("models:/credit/9")).await,
        Err(Error::NotFound { .. })
    ));
    let (f, m) = field(serving::batch::submit(&st, &editor, req("models:/credit/3")).await.unwrap_err());
    assert!(f == "model" && m.contains("an MLflow model"), "{m}");
    let (f, _) = field(serving::batch::submit(&st, &editor, req("credit")).await.unwrap_err());
    assert_eq!(f, "model");

    let sub = serving::batch::submit(&st, &editor, req("models:/credit@production")).await.unwrap();
    assert_eq!(sub.output_dataset, "credit-predictions");
    let registry = serving::batch::register(JobRegistry::new()).provide(st.clone());
    assert_eq!(run_pending(&st.db, &registry, &crate::support::fast_config("w")).await.unwrap(), 1);

    let out = datasets::resolve(&st, &editor, "credit-predictions").await.unwrap();
    let version = datasets::version(&st, &editor, out.dataset_id, 1).await.unwrap();
    assert_eq!(version.n_rows, v1.version.n_rows);
    assert_eq!(version.source_kind, domain::datasets::SourceKind::Predicted);
    let names: Vec<&str> = version.columns.iter().map(|c| c.name.as_str()).collect();
    assert!(
        names.starts_with(&["Status", "Seniority"])
            && names.ends_with(&["prediction", "proba_bad", "proba_good"]),
        "{names:?}"
    );

    // The stored predictions are the bundle's.
    let location =
        services::db::training::version_location(&pool, version.dataset_version_id.0).await.unwrap().unwrap();
    let stored = datasets::read::whole(st.store.get(&location.storage_key).await.unwrap()).unwrap();
    let raw = fixture::read_csv(std::path::Path::new(&format!("{DATA}/credit_data.csv"))).unwrap();
    let expected = serving::batch::predictions_frame(&a, raw).unwrap();
    assert_eq!(stored.column("prediction"), expected.column("prediction"));

    let graph = lineage::walk(&st.db, v1.version.lineage_artifact_id.unwrap(), Direction::Downstream, 3)
        .await
        .unwrap();
    assert!(graph.executions.iter().any(|x| x.type_name == "batch_predict"), "{:?}", graph.executions);
    assert!(
        graph.artifacts.iter().any(|x| Some(x.artifact_id) == version.lineage_artifact_id),
        "{:?}",
        graph.artifacts
    );
}
