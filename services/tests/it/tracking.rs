//! Experiment tracking through `services::tracking`: batches are all-or-nothing,
//! values round-trip exactly, search filters/sorts/pages, concurrent writers to one
//! run do not deadlock.
use domain::auth::Role;
use domain::tracking::{Metric, RunSearch, Tag};
use services::auth::{Principal, Via};
use services::tracking::{self as t, NewRun};
use services::{AppState, Error, artifacts::ArtifactStore};
use sqlx::PgPool;

fn as_role(role: Role) -> Principal {
    Principal {
        user_id: domain::UserId(uuid::Uuid::nil()),
        username: "t".into(),
        role,
        via: Via::Cli,
        ip: None,
    }
}

fn state(pool: PgPool) -> AppState {
    let dir = tempfile::tempdir().unwrap().keep();
    AppState::new(pool, ArtifactStore::open(&dir.display().to_string()).unwrap())
}

fn kv(k: &str, v: &str) -> Tag {
    Tag { key: k.into(), value: v.into() }
}

fn m(k: &str, v: f64, step: i64) -> Metric {
    Metric { key: k.into(), value: v, timestamp: 1000 + step, step }
}

async fn run_in(st: &AppState, exp: i64, name: &str) -> uuid::Uuid {
    let new = NewRun { experiment_id: exp, run_name: Some(name.into()), ..Default::default() };
    t::create_run(st, &as_role(Role::Editor), new).await.unwrap().info.run_id
}

#[sqlx::test(migrations = "../migrations")]
async fn log_batch_round_trips_non_finite_values_and_rejects_changed_params(pool: PgPool) {
    let st = state(pool);
    let ed = as_role(Role::Editor);
    let exp = t::create_experiment(&st, &ed, "exp", None, vec![]).await.unwrap();
    let run = run_in(&st, exp, "r").await;
    let metrics =
        vec![m("a", f64::NAN, 0), m("b", f64::INFINITY, 0), m("c", f64::NEG_INFINITY, 0), m("a", 0.1, 1)];
    t::log_batch(&st, &ed, run, metrics, vec![kv("lr", "0.1")], vec![kv("x", "y")]).await.unwrap();
    let got = t::get_run(&st, &ed, run).await.unwrap();
    let by = |k: &str| got.metrics.iter().find(|m| m.key == k).unwrap().value;
    assert_eq!(by("a"), 0.1, "latest is the greatest step");
    assert_eq!(by("b"), f64::INFINITY);
    assert_eq!(by("c"), f64::NEG_INFINITY);
    let hist = t::metric_history(&st, &ed, run, "a", None, None).await.unwrap();
    assert!(hist.metrics[0].value.is_nan());
    assert_eq!(hist.metrics[1].value, 0.1);

    // Same value again is fine; another value rejects the whole batch.
    t::log_batch(&st, &ed, run, vec![], vec![kv("lr", "0.1")], vec![]).await.unwrap();
    let err = t::log_batch(
        &st,
        &ed,
        run,
        vec![m("d", 1.0, 0)],
        vec![kv("lr", "0.2"), kv("bs", "3")],
        vec![kv("z", "1")],
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Validation(ref v) if v.message.contains("\"lr\"")), "{err:?}");
    let after = t::get_run(&st, &ed, run).await.unwrap();
    assert_eq!(after.params, vec![kv("lr", "0.1")]);
    assert!(!after.metrics.iter().any(|m| m.key == "d"));
    assert!(!after.tags.iter().any(|t| t.key == "z"));
    assert!(t::metric_history(&st, &ed, run, "d", None, None).await.unwrap().metrics.is_empty());

    let err = t::log_batch(&st, &as_role(Role::Viewer), run, vec![], vec![], vec![]).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)));
    let err = t::log_batch(&st, &ed, uuid::Uuid::new_v4(), vec![], vec![], vec![]).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
}

#[sqlx::test(migrations = "../migrations")]
async fn search_filters_orders_and_pages(pool: PgPool) {
    let st = state(pool);
    let ed = as_role(Role::Editor);
    let exp = t::create_experiment(&st, &ed, "search", None, vec![]).await.unwrap();
    for i in 0..5 {
        let run = run_in(&st, exp, &format!("run-{i}")).await;
        let params = vec![kv("lr", &format!("0.{i}")), kv("model", if i % 2 == 0 { "cnn" } else { "mlp" })];
        t::log_batch(&st, &ed, run, vec![m("acc", i as f64 / 10.0, 0)], params, vec![]).await.unwrap();
    }
    let search = |filter: &str, order: &[&str], max: Option<i64>, token: Option<String>| RunSearch {
        filter: Some(filter.into()),
        order_by: order.iter().map(|s| s.to_string()).collect(),
        max_results: max,
        page_token: token,
        ..Default::default()
    };
    let names =
        |p: &domain::tracking::RunPage| p.runs.iter().map(|r| r.info.run_name.clone()).collect::<Vec<_>>();

    let page = t::search_runs(
        &st,
        &ed,
        &[exp],
        &search("metrics.acc >= 0.2 and params.model = 'cnn'", &["metrics.acc DESC"], None, None),
    )
    .await
    .unwrap();
    assert_eq!(names(&page), ["run-4", "run-2"]);

    let first =
        t::search_runs(&st, &ed, &[exp], &search("", &["params.lr ASC"], Some(2), None)).await.unwrap();
    assert_eq!(names(&first), ["run-0", "run-1"]);
    let second = t::search_runs(
        &st,
        &ed,
        &[exp],
        &search("", &["params.lr ASC"], Some(2), first.next_page_token.clone()),
    )
    .await
    .unwrap();
    assert_eq!(names(&second), ["run-2", "run-3"]);
    let third = t::search_runs(
        &st,
        &ed,
        &[exp],
        &search("", &["params.lr ASC"], Some(2), second.next_page_token.clone()),
    )
    .await
    .unwrap();
    assert_eq!(names(&third), ["run-4"]);
    assert!(third.next_page_token.is_none());

    let page = t::search_runs(
        &st,
        &ed,
        &[exp],
        &search(
            "attributes.run_name IN ('run-1', 'run-3') and tags.`mlflow.runName` LIKE 'run-%'",
            &[],
            None,
            None,
        ),
    )
    .await
    .unwrap();
    assert_eq!(page.runs.len(), 2);

    let err =
        t::search_runs(&st, &ed, &[exp], &search("metrics.acc >> 1", &[], None, None)).await.unwrap_err();
    assert!(matches!(err, Error::Validation(ref v) if v.message.contains("position 13")), "{err:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn eight_concurrent_writers_to_one_run_do_not_deadlock(pool: PgPool) {
    let st = state(pool);
    let ed = as_role(Role::Editor);
    let exp = t::create_experiment(&st, &ed, "conc", None, vec![]).await.unwrap();
    let run = run_in(&st, exp, "r").await;
    let mut handles = Vec::new();
    for w in 0..8i64 {
        let st = st.clone();
        let ed = ed.clone();
        handles.push(tokio::spawn(async move {
            for b in 0..5i64 {
                // Keys in different orders per writer: the server must sort them.
                let mut ms: Vec<Metric> =
                    (0..50).map(|k| m(&format!("k{k}"), (w * 100 + b) as f64, w * 100 + b)).collect();
                if w % 2 == 1 {
                    ms.reverse();
                }
                t::log_batch(&st, &ed, run, ms, vec![], vec![]).await?;
            }
            Ok::<_, Error>(())
        }));
    }
    for h in handles {
        h.await.unwrap().unwrap();
    }
    let got = t::get_run(&st, &ed, run).await.unwrap();
    assert_eq!(got.metrics.len(), 50);
    assert!(got.metrics.iter().all(|m| m.step == 704), "latest is the greatest step");
    let hist = t::metric_history(&st, &ed, run, "k7", None, None).await.unwrap();
    assert_eq!(hist.metrics.len(), 40);
}

#[sqlx::test(migrations = "../migrations")]
async fn history_pages_in_step_order(pool: PgPool) {
    let st = state(pool);
    let ed = as_role(Role::Editor);
    let exp = t::create_experiment(&st, &ed, "hist", None, vec![]).await.unwrap();
    let run = run_in(&st, exp, "r").await;
    let ms: Vec<Metric> = (0..10).rev().map(|s| m("loss", s as f64, s)).collect();
    t::log_batch(&st, &ed, run, ms, vec![], vec![]).await.unwrap();
    let first = t::metric_history(&st, &ed, run, "loss", Some(4), None).await.unwrap();
    assert_eq!(first.metrics.iter().map(|m| m.step).collect::<Vec<_>>(), [0, 1, 2, 3]);
    let rest =
        t::metric_history(&st, &ed, run, "loss", Some(100), first.next_page_token.as_deref()).await.unwrap();
    assert_eq!(rest.metrics.len(), 6);
    assert!(rest.next_page_token.is_none());
}

#[sqlx::test(migrations = "../migrations")]
async fn deleting_runs_deletes_their_metric_history(pool: PgPool) {
    let st = state(pool.clone());
    let ed = as_role(Role::Editor);
    let gone = t::create_experiment(&st, &ed, "gone", None, vec![]).await.unwrap();
    let kept = t::create_experiment(&st, &ed, "kept", None, vec![]).await.unwrap();
    for exp in [gone, kept] {
        let run = run_in(&st, exp, "r").await;
        t::log_batch(&st, &ed, run, (0..3).map(|s| m("loss", 1.0, s)).collect(), vec![], vec![])
            .await
            .unwrap();
    }
    let count = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from metric").fetch_one(&pool).await.unwrap()
    };
    assert_eq!(count().await, 6);
    // Nothing in Cairn deletes runs outright yet; the database's cascade must still
    // take the history with them (it is a trigger, not a foreign key, on `metric`).
    sqlx::query("delete from experiment where experiment_id = $1").bind(gone).execute(&pool).await.unwrap();
    assert_eq!(count().await, 3);
}

#[sqlx::test(migrations = "../migrations")]
async fn experiments_are_unique_by_name_and_soft_deleted(pool: PgPool) {
    let st = state(pool);
    let ed = as_role(Role::Editor);
    let id = t::create_experiment(&st, &ed, "Fraud", None, vec![kv("team", "risk")]).await.unwrap();
    let err = t::create_experiment(&st, &ed, "fraud", None, vec![]).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    let e = t::get_experiment_by_name(&st, &ed, "FRAUD").await.unwrap();
    assert_eq!((e.experiment_id, e.tags.clone()), (id, vec![kv("team", "risk")]));
    assert_eq!(e.artifact_location, format!("mlflow-artifacts:/{id}"));
    t::set_experiment_deleted(&st, &ed, id, true).await.unwrap();
    let (active, _) = t::search_experiments(&st, &ed, Default::default(), None, None).await.unwrap();
    assert!(!active.iter().any(|e| e.experiment_id == id));
    t::set_experiment_deleted(&st, &ed, id, false).await.unwrap();
    assert_eq!(t::get_experiment(&st, &ed, id).await.unwrap().lifecycle, "active");
    assert!(matches!(t::get_experiment(&st, &ed, 999).await.unwrap_err(), Error::NotFound { .. }));
}

#[sqlx::test(migrations = "../migrations")]
async fn keyset_pages_match_one_big_page_with_ties_and_missing_values(pool: PgPool) {
    let st = state(pool);
    let ed = as_role(Role::Editor);
    let exp = t::create_experiment(&st, &ed, "keyset", None, vec![]).await.unwrap();
    let values = [Some(1.0), Some(2.0), None, Some(2.0), None, Some(f64::NAN), Some(0.5)];
    for (i, v) in values.iter().enumerate() {
        let run = run_in(&st, exp, &format!("r{i}")).await;
        let metrics = v.map(|v| vec![m("acc", v, 0)]).unwrap_or_default();
        t::log_batch(&st, &ed, run, metrics, vec![kv("p", &format!("{}", i % 3))], vec![]).await.unwrap();
    }
    for order in [
        vec![],
        vec!["metrics.acc DESC".to_string()],
        vec!["metrics.acc".into()],
        vec!["params.p DESC".into()],
        // Offset-paged orders that start with a metric.
        vec!["metrics.acc DESC".into(), "params.p".into()],
        vec!["metrics.acc".into(), "attributes.run_name DESC".into()],
    ] {
        let all = RunSearch { order_by: order.clone(), ..Default::default() };
        let want: Vec<_> = t::search_runs(&st, &ed, &[exp], &all)
            .await
            .unwrap()
            .runs
            .into_iter()
            .map(|r| r.info.run_id)
            .collect();
        assert_eq!(want.len(), values.len());
        if order.first().is_some_and(|o| o.starts_with("metrics.")) {
            // Runs without the metric come last in either direction (r2 and r4).
            let last: std::collections::HashSet<_> = want[values.len() - 2..].iter().collect();
            let missing: Vec<_> = t::search_runs(
                &st,
                &ed,
                &[exp],
                &RunSearch {
                    filter: Some("attributes.run_name IN ('r2', 'r4')".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .runs
            .into_iter()
            .map(|r| r.info.run_id)
            .collect();
            assert_eq!(last, missing.iter().collect(), "order {order:?}");
        }
        let mut got = Vec::new();
        let mut token = None;
        loop {
            let q = RunSearch {
                order_by: order.clone(),
                max_results: Some(2),
                page_token: token,
                ..Default::default()
            };
            let page = t::search_runs(&st, &ed, &[exp], &q).await.unwrap();
            got.extend(page.runs.into_iter().map(|r| r.info.run_id));
            token = page.next_page_token;
            if token.is_none() {
                break;
            }
        }
        assert_eq!(got, want, "order {order:?}");
    }
}
