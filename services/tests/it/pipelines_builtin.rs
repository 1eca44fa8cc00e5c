//! The built-in components with real workers (pipeline steps, training runs and
//! batch predictions): the credit-scoring example end to end and again from the
//! cache, a training failure naming the step and the reason, deploy and batch
//! predict, and dataset triggers that start watching pipelines but never the
//! pipeline whose own step made the version.
use crate::support::{eventually, fast_config, user};
use domain::auth::Role;
use domain::pipelines::{RunDetail, RunState, StartRun, StepRun, StepState, Trigger};
use domain::registry::PromotionState;
use serde_json::{Value, json};
use services::auth::Principal;
use services::datasets::{self, Spooled, VersionInput, import::ImportSettings};
use services::lineage::{self, Direction};
use services::pipelines;
use services::queue::JobRegistry;
use services::queue::worker::{self, WorkerHandle};
use services::{AppState, artifacts::ArtifactStore, registry};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::time::Duration;

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn example() -> String {
    std::fs::read_to_string(format!("{REPO}/examples/credit-scoring/pipeline.yaml")).unwrap()
}

fn credit_csv() -> String {
    format!("{REPO}/testdata/credit_data.csv")
}

/// State whose imports allow `dirs`, with workers for steps, training and batch jobs.
async fn setup(pool: PgPool, dirs: &[&str]) -> (AppState, Principal, WorkerHandle) {
    let store = tempfile::tempdir().unwrap().keep();
    let imports = ImportSettings { paths: dirs.join(",").parse().unwrap(), ..Default::default() };
    let st =
        AppState::new(pool, ArtifactStore::open(&store.display().to_string()).unwrap()).with_imports(imports);
    pipelines::register_builtins(&st.db).await.unwrap();
    let p = user(&st.db, Role::Editor).await;
    let registry = services::training::register(JobRegistry::new());
    let registry = services::serving::batch::register(registry);
    let registry = pipelines::register(registry).provide(st.clone());
    let workers = worker::start(st.db.clone(), registry, fast_config("builtins"));
    (st, p, workers)
}

async fn finished(st: &AppState, p: &Principal, run: &RunDetail, within: Duration) -> RunDetail {
    let id = run.summary.run_id;
    let done =
        eventually(within, || async { pipelines::run(st, p, id).await.unwrap().summary.state.is_terminal() })
            .await;
    let detail = pipelines::run(st, p, id).await.unwrap();
    assert!(done, "run did not finish: {detail:#?}");
    detail
}

fn step<'a>(run: &'a RunDetail, name: &str) -> &'a StepRun {
    run.steps.iter().find(|s| s.name == name).unwrap()
}

fn params(pairs: &[(&str, Value)]) -> StartRun {
    StartRun { version: None, parameters: pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect() }
}

#[sqlx::test(migrations = "../migrations")]
async fn the_credit_scoring_example_runs_green_then_from_the_cache(pool: PgPool) {
    let testdata = format!("{REPO}/testdata");
    let (st, p, workers) = setup(pool, &[&testdata]).await;
    let sub = pipelines::submit(&st, &p, &example()).await.unwrap();
    assert!(sub.created);
    let detail = pipelines::get(&st, &p, "credit-scoring").await.unwrap();
    assert_eq!(detail.schedules.len(), 1, "the daily schedule");
    assert_eq!(detail.schedules[0].cron, "0 6 * * *");
    assert_eq!(detail.watched_datasets[0].dataset, "credit");

    // The default path is relative to an allowed directory, as `make run` allows testdata/.
    let start = || params(&[("trials", json!(2))]);
    let run = pipelines::start_run(&st, &p, "credit-scoring", start()).await.unwrap();
    let run = finished(&st, &p, &run, Duration::from_secs(240)).await;
    assert_eq!(run.summary.state, RunState::Succeeded, "{run:#?}");
    for s in &run.steps {
        assert_eq!(s.state, StepState::Succeeded, "{}: {:?}", s.name, s.error);
    }
    let data = &step(&run, "extract").outputs["dataset"];
    assert_eq!((data["dataset"].as_str(), data["version"].as_i64()), (Some("credit"), Some(1)));
    assert_eq!(step(&run, "validate-data").outputs["report"]["verdict"], "pass");
    assert_eq!(step(&run, "prepare").outputs["test"]["dataset"], "credit-prepared-test");
    let best = step(&run, "tune").outputs["best_params"].as_object().unwrap().clone();
    assert!(best.contains_key("n_trees") && best.contains_key("max_depth"), "{best:?}");
    let auc = step(&run, "evaluate").outputs["metrics"]["roc_auc"].as_f64().unwrap();
    assert!(auc >= 0.75, "{auc}");
    assert_eq!(step(&run, "validate-model").outputs["passed"], true);
    let mv = &step(&run, "register-model").outputs["model_version"];
    assert_eq!(mv["uri"], "models:/credit/1");
    let request = &step(&run, "request-promotion").outputs["request"];
    assert_eq!(request["state"], "pending");

    // The registry holds the version with the trained run, and the request waits.
    let v = registry::resolve(&st, &p, "models:/credit/1").await.unwrap();
    assert_eq!(
        v.run_id.map(|r| r.simple().to_string()).as_deref(),
        step(&run, "train").outputs["model"]["run_id"].as_str()
    );
    let requests = registry::promotion::list(&st, &p, None, false, 50).await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].state, PromotionState::Pending);
    assert_eq!(json!(requests[0].promotion_request_id), request["request_id"]);

    // Lineage walks from the registered version back to the imported CSV's version.
    let artifact: domain::ArtifactId = serde_json::from_value(mv["artifact_id"].clone()).unwrap();
    let up = lineage::walk(&st.db, artifact, Direction::Upstream, 20).await.unwrap();
    let data_artifact = data["artifact_id"].as_str().unwrap();
    assert!(up.artifacts.iter().any(|a| a.artifact_id.0.to_string() == data_artifact), "{up:#?}");
    assert!(up.executions.iter().any(|e| e.name == "credit-scoring/train"), "{up:#?}");

    // Again: extract runs (it reads outside Cairn) and finds the same version, so
    // every deterministic step downstream comes from the cache; register-model finds
    // the version it made, and the same candidate's request is the open one.
    let again = pipelines::start_run(&st, &p, "credit-scoring", start()).await.unwrap();
    let again = finished(&st, &p, &again, Duration::from_secs(60)).await;
    assert_eq!(again.summary.state, RunState::Succeeded, "{again:#?}");
    assert_eq!(step(&again, "extract").state, StepState::Succeeded);
    assert_eq!(step(&again, "extract").outputs["dataset"], *data);
    for name in ["validate-data", "prepare", "tune", "train", "evaluate", "validate-model"] {
        let s = step(&again, name);
        assert_eq!(s.state, StepState::Cached, "{name}");
        assert_eq!(s.cached_from.as_ref().unwrap().run_id, run.summary.run_id, "{name}");
    }
    assert_eq!(step(&again, "register-model").outputs["model_version"]["uri"], "models:/credit/1");
    assert_eq!(step(&again, "request-promotion").outputs["request"]["request_id"], request["request_id"]);
    assert_eq!(registry::promotion::list(&st, &p, None, false, 50).await.unwrap().len(), 1);
    // The pipeline's own extract did not start it again through its dataset trigger.
    assert_eq!(pipelines::runs(&st, &p, Some("credit-scoring"), None, 10).await.unwrap().len(), 2);

    // Once an approver moves production, the baseline `models:/credit@production`
    // means another model: validate-model (whose input names it) runs again, the
    // steps before it stay cached.
    let approver = user(&st.db, Role::Approver).await;
    let id: domain::PromotionRequestId = serde_json::from_value(request["request_id"].clone()).unwrap();
    let review =
        domain::registry::NewReview { decision: domain::registry::Decision::Approve, comment: String::new() };
    registry::promotion::review(&st, &approver, id, review).await.unwrap();
    let third = pipelines::start_run(&st, &p, "credit-scoring", start()).await.unwrap();
    let third = finished(&st, &p, &third, Duration::from_secs(60)).await;
    assert_eq!(third.summary.state, RunState::Succeeded, "{third:#?}");
    assert_eq!(step(&third, "train").state, StepState::Cached);
    assert_eq!(step(&third, "validate-model").state, StepState::Succeeded);
    workers.shutdown().await;
}

const FAILING: &str = r#"
name: bad-target
parameters:
  data_path: {type: string}
steps:
  - name: extract
    component: extract
    inputs: {dataset: credit, path: "{{ params.data_path }}"}
  - name: train
    component: train
    inputs:
      dataset: "{{ steps.extract.outputs.dataset }}"
      target: Outcome
      algorithm: logistic_regression
  - name: evaluate
    component: evaluate
    inputs:
      model: "{{ steps.train.outputs.model }}"
      dataset: "{{ steps.extract.outputs.dataset }}"
"#;

#[sqlx::test(migrations = "../migrations")]
async fn a_training_failure_fails_the_run_naming_the_step_and_the_reason(pool: PgPool) {
    let testdata = format!("{REPO}/testdata");
    let (st, p, workers) = setup(pool, &[&testdata]).await;
    pipelines::submit(&st, &p, FAILING).await.unwrap();
    let run = pipelines::start_run(&st, &p, "bad-target", params(&[("data_path", json!(credit_csv()))]))
        .await
        .unwrap();
    let run = finished(&st, &p, &run, Duration::from_secs(60)).await;
    assert_eq!(run.summary.state, RunState::Failed);
    assert_eq!(step(&run, "extract").state, StepState::Succeeded);
    assert_eq!(step(&run, "train").state, StepState::Failed);
    assert_eq!(step(&run, "train").attempt, 1, "a user's mistake is not retried");
    assert_eq!(step(&run, "evaluate").state, StepState::Cancelled);
    let error = run.summary.error.as_deref().unwrap();
    assert!(error.contains("step 'train' failed") && error.contains("Outcome"), "{error}");

    // A path outside the allowed folders is the extract step's failure, with the setting named.
    let run = pipelines::start_run(&st, &p, "bad-target", params(&[("data_path", json!("/etc/passwd"))]))
        .await
        .unwrap();
    let run = finished(&st, &p, &run, Duration::from_secs(30)).await;
    let error = run.summary.error.as_deref().unwrap();
    assert!(error.contains("step 'extract' failed") && error.contains("CAIRN_DATA_PATH_ALLOW"), "{error}");
    let run = pipelines::start_run(&st, &p, "bad-target", params(&[("data_path", json!("nosuch.csv"))]))
        .await
        .unwrap();
    let run = finished(&st, &p, &run, Duration::from_secs(30)).await;
    let error = run.summary.error.as_deref().unwrap();
    assert!(error.contains("`nosuch.csv` is relative and no directory"), "{error}");
    workers.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_new_dataset_version_starts_watchers_but_not_the_pipeline_that_made_it(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("rows.csv");
    std::fs::write(&csv, "a,b\n1,x\n2,y\n3,x\n").unwrap();
    let (st, p, workers) = setup(pool, &[&dir.path().display().to_string()]).await;
    let maker = format!(
        r#"
name: maker
triggers:
  datasets: [{{dataset: rows}}]
steps:
  - name: extract
    component: extract
    inputs: {{dataset: rows, path: "{}"}}
"#,
        csv.display()
    );
    let watcher = r#"
name: watcher
parameters:
  new_version: {type: string, default: ""}
triggers:
  datasets: [{dataset: rows, parameter: new_version}]
steps:
  - name: take
    component: extract
    inputs: {dataset: rows, version: "{{ params.new_version }}"}
  - name: check
    component: validate-data
    inputs: {dataset: "{{ steps.take.outputs.dataset }}", fail_on: never}
"#;
    pipelines::submit(&st, &p, &maker).await.unwrap();
    pipelines::submit(&st, &p, watcher).await.unwrap();

    // The maker's extract creates rows v1: the watcher starts with it, the maker does not.
    let run = pipelines::start_run(&st, &p, "maker", StartRun::default()).await.unwrap();
    let run = finished(&st, &p, &run, Duration::from_secs(30)).await;
    assert_eq!(run.summary.state, RunState::Succeeded, "{run:#?}");
    let runs_of = |name: &'static str| {
        let (st, p) = (st.clone(), p.clone());
        async move { pipelines::runs(&st, &p, Some(name), None, 10).await.unwrap() }
    };
    assert!(eventually(Duration::from_secs(20), || async { runs_of("watcher").await.len() == 1 }).await);
    let triggered = runs_of("watcher").await.remove(0);
    assert_eq!(triggered.trigger, Trigger::Dataset { dataset: "rows".into(), version: 1 });
    let triggered = pipelines::run(&st, &p, triggered.run_id).await.unwrap();
    let triggered = finished(&st, &p, &triggered, Duration::from_secs(30)).await;
    assert_eq!(triggered.summary.state, RunState::Succeeded, "{triggered:#?}");
    assert_eq!(triggered.parameters["new_version"], "rows@1");
    assert_eq!(step(&triggered, "take").outputs["dataset"]["version"], 1);
    // Both trigger jobs would have been queued in the transaction that made v1.
    assert_eq!(runs_of("maker").await.len(), 1);

    // A version someone uploads starts both.
    let ds = datasets::resolve(&st, &p, "rows").await.unwrap();
    let input = VersionInput::upload(Some("rows.csv".into()), BTreeMap::new());
    let v2 =
        datasets::create_version(&st, &p, ds.dataset_id, Spooled::from_bytes(b"a,b\n4,z\n").unwrap(), input)
            .await
            .unwrap();
    assert_eq!(v2.version.version, 2);
    assert!(eventually(Duration::from_secs(20), || async { runs_of("watcher").await.len() == 2 }).await);
    assert!(eventually(Duration::from_secs(20), || async { runs_of("maker").await.len() == 2 }).await);
    // An identical upload is no new version and starts nothing.
    let input = VersionInput::upload(Some("rows.csv".into()), BTreeMap::new());
    let same =
        datasets::create_version(&st, &p, ds.dataset_id, Spooled::from_bytes(b"a,b\n4,z\n").unwrap(), input)
            .await
            .unwrap();
    assert!(!same.created);
    workers.shutdown().await;
}

const SERVE: &str = r#"
name: serve-credit
steps:
  - name: extract
    component: extract
    inputs: {dataset: credit, path: credit_data.csv}
  - name: train
    component: train
    inputs:
      dataset: "{{ steps.extract.outputs.dataset }}"
      target: Status
      algorithm: logistic_regression
  - name: strict
    component: validate-model
    inputs:
      metrics: "{{ steps.train.outputs.metrics }}"
      thresholds: {roc_auc: ">= 0.99", rmse: 0.1}
      fail: false
  - name: register
    component: register-model
    after: [strict]
    inputs: {model: "{{ steps.train.outputs.model }}", name: scorer, alias: staging}
  - name: deploy
    component: deploy
    after: [register]
    inputs: {endpoint: scorer-staging, model: scorer, alias: staging}
  - name: score
    component: batch-predict
    after: [deploy]
    inputs:
      model: "{{ steps.register.outputs.model_version }}"
      dataset: "{{ steps.extract.outputs.dataset }}"
  - name: pinned
    component: deploy
    after: [score]
    inputs: {endpoint: scorer-staging, model_version: "{{ steps.register.outputs.model_version }}"}
"#;

#[sqlx::test(migrations = "../migrations")]
async fn models_are_checked_registered_deployed_and_batch_scored(pool: PgPool) {
    let testdata = format!("{REPO}/testdata");
    let (st, p, workers) = setup(pool, &[&testdata]).await;
    pipelines::submit(&st, &p, SERVE).await.unwrap();
    let run = pipelines::start_run(&st, &p, "serve-credit", StartRun::default()).await.unwrap();
    let run = finished(&st, &p, &run, Duration::from_secs(90)).await;
    assert_eq!(run.summary.state, RunState::Succeeded, "{run:#?}");

    // fail: false reports the failed checks instead of failing the step.
    let strict = step(&run, "strict");
    assert_eq!(strict.outputs["passed"], false);
    let checks = strict.outputs["report"]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2);
    assert!(checks.iter().any(|c| c["check"] == "roc_auc >= 0.99" && c["passed"] == false));
    assert!(
        checks
            .iter()
            .any(|c| c["check"] == "rmse <= 0.1" && c["detail"].as_str().unwrap().contains("no rmse"))
    );

    // The unprotected alias moved at once; the endpoint followed it, then was pinned.
    let v = registry::resolve(&st, &p, "models:/scorer@staging").await.unwrap();
    assert_eq!(v.version, 1);
    assert_eq!(step(&run, "deploy").outputs["endpoint"]["url"], "/api/v1/endpoints/scorer-staging/predict");
    let endpoint = services::serving::get(&st, &p, "scorer-staging").await.unwrap();
    assert_eq!(endpoint.routes.len(), 1);
    assert!(endpoint.routes[0].pinned && endpoint.routes[0].version == Some(1), "{endpoint:#?}");

    // Every row scored, as a version of credit-predictions made by the batch job.
    let predictions = &step(&run, "score").outputs["predictions"];
    assert_eq!(predictions["dataset"], "credit-predictions");
    let ds = datasets::resolve(&st, &p, "credit-predictions").await.unwrap();
    let made = datasets::version(&st, &p, ds.dataset_id, 1).await.unwrap();
    assert_eq!(made.n_rows, 4454);
    assert!(made.columns.iter().any(|c| c.name == "proba_good"));
    workers.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn start_up_submits_specs_as_the_oldest_admin_once(pool: PgPool) {
    let testdata = format!("{REPO}/testdata");
    let (st, _, workers) = setup(pool, &[&testdata]).await;
    // No admin yet: nothing to act as.
    assert!(pipelines::submit_as_admin(&st, &example()).await.unwrap().is_none());
    let admin = user(&st.db, Role::Admin).await;
    let first = pipelines::submit_as_admin(&st, &example()).await.unwrap().unwrap();
    assert!(first.created);
    assert_eq!(first.version.created_by.as_deref(), Some(admin.username.as_str()));
    // A restart with the same file keeps the version and adds no second schedule.
    let again = pipelines::submit_as_admin(&st, &example()).await.unwrap().unwrap();
    assert!(!again.created);
    assert_eq!(again.version.version_id, first.version.version_id);
    assert_eq!(pipelines::get(&st, &admin, "credit-scoring").await.unwrap().schedules.len(), 1);
    workers.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn cancelling_a_run_cancels_the_search_its_step_waits_on(pool: PgPool) {
    let testdata = format!("{REPO}/testdata");
    let (st, p, workers) = setup(pool, &[&testdata]).await;
    let spec = r#"
name: long-search
steps:
  - name: extract
    component: extract
    inputs: {dataset: credit, path: credit_data.csv}
  - name: tune
    component: tune
    inputs:
      dataset: "{{ steps.extract.outputs.dataset }}"
      target: Status
      algorithm: random_forest
      space: {n_trees: {min: 150, max: 300}}
      trials: 40
"#;
    pipelines::submit(&st, &p, spec).await.unwrap();
    let run = pipelines::start_run(&st, &p, "long-search", StartRun::default()).await.unwrap();
    let id = run.summary.run_id;
    let waiting = eventually(Duration::from_secs(30), || async {
        step(&pipelines::run(&st, &p, id).await.unwrap(), "tune").state == StepState::Waiting
    })
    .await;
    assert!(waiting, "{:#?}", pipelines::run(&st, &p, id).await.unwrap());
    let detail = pipelines::run(&st, &p, id).await.unwrap();
    let search: uuid::Uuid =
        step(&detail, "tune").external.as_ref().unwrap()["id"].as_str().unwrap().parse().unwrap();
    let cancelled = pipelines::cancel_run(&st, &p, id).await.unwrap();
    assert_eq!(cancelled.summary.state, RunState::Cancelled);
    let state = services::training::get(&st, &p, search).await.unwrap().summary.state;
    assert_eq!(state, domain::training::TrainingState::Cancelled);
    workers.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_waiting_step_times_out_across_its_polls_and_stops_its_search(pool: PgPool) {
    let testdata = format!("{REPO}/testdata");
    let (st, p, workers) = setup(pool, &[&testdata]).await;
    let spec = r#"
name: slow-search
steps:
  - name: extract
    component: extract
    inputs: {dataset: credit, path: credit_data.csv}
  - name: tune
    component: tune
    timeout: 2s
    inputs:
      dataset: "{{ steps.extract.outputs.dataset }}"
      target: Status
      algorithm: random_forest
      space: {n_trees: {min: 60, max: 80}}
      trials: 30
"#;
    pipelines::submit(&st, &p, spec).await.unwrap();
    let run = pipelines::start_run(&st, &p, "slow-search", StartRun::default()).await.unwrap();
    let id = run.summary.run_id;
    let ended = eventually(Duration::from_secs(60), || async {
        pipelines::run(&st, &p, id).await.unwrap().summary.state.is_terminal()
    })
    .await;
    let detail = pipelines::run(&st, &p, id).await.unwrap();
    assert!(ended, "{detail:#?}");
    assert_eq!(detail.summary.state, RunState::Failed);
    let tune = step(&detail, "tune");
    assert!(tune.error.as_deref().unwrap().contains("timeout of 2 s while waiting"), "{tune:#?}");
    let search: uuid::Uuid = tune.external.as_ref().unwrap()["id"].as_str().unwrap().parse().unwrap();
    let stopped = eventually(Duration::from_secs(20), || async {
        services::training::get(&st, &p, search).await.unwrap().summary.state
            == domain::training::TrainingState::Cancelled
    })
    .await;
    assert!(stopped, "the search goes on after its step timed out");
    workers.shutdown().await;
}
