//! Training runs end to end against Postgres: submit, run the queued job, read the
//! evaluation, gates, tracked run, bundle and lineage back; searches as child runs;
//! cancellation; the command trainer's contract; and every bad input as a clear
//! error (at submission) or a FAILED run with the reason (found in the data).
use crate::support::{fast_config, user};
use domain::auth::Role;
use domain::datasets::NewDataset;
use domain::prepare::{ImputeStrategy, SplitSpec, Step, TransformSpec};
use domain::training::{
    CommandSpec, ParamRange, SearchMethod, SearchSpec, TrainingDetail, TrainingSpec, TrainingState,
};
use services::auth::Principal;
use services::datasets::{self, Spooled, VersionInput};
use services::lineage::{self, Direction};
use services::queue::JobRegistry;
use services::queue::worker::run_pending;
use services::training::{self, command::CommandSettings};
use services::{AppState, Error, artifacts::ArtifactStore, tracking};
use sqlx::PgPool;
use std::collections::BTreeMap;
use uuid::Uuid;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata");
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/command-trainer");

pub(crate) fn state(pool: PgPool) -> AppState {
    let dir = tempfile::tempdir().unwrap().keep();
    AppState::new(pool, ArtifactStore::open(&dir.display().to_string()).unwrap())
        .with_commands(CommandSettings { allow: vec!["python3".into()], ..Default::default() })
}

async fn dataset(st: &AppState, p: &Principal, name: &str, bytes: &[u8]) {
    let new = NewDataset { name: name.into(), description: String::new(), project_id: None };
    let id = datasets::create(st, p, new).await.unwrap().dataset_id;
    let input = VersionInput::upload(Some(format!("{name}.csv")), BTreeMap::new());
    datasets::create_version(st, p, id, Spooled::from_bytes(bytes).unwrap(), input).await.unwrap();
}

pub(crate) async fn credit(st: &AppState, p: &Principal) {
    dataset(st, p, "credit", &std::fs::read(format!("{DATA}/credit_data.csv")).unwrap()).await;
}

/// Impute, scale and one-hot the credit columns; stratified 20% test split.
fn credit_prep() -> TransformSpec {
    let text: Vec<String> = ["Home", "Marital", "Records", "Job"].map(String::from).to_vec();
    TransformSpec {
        target: Some("Status".into()),
        steps: vec![
            Step::Impute { strategy: ImputeStrategy::Median, columns: None },
            Step::Impute { strategy: ImputeStrategy::MostFrequent, columns: Some(text.clone()) },
            Step::StandardScale { columns: None },
            Step::OneHot { columns: text, max_categories: None },
        ],
        split: Some(SplitSpec::Stratified { column: "Status".into(), test_fraction: 0.2, seed: 7 }),
    }
}

pub(crate) fn spec(algorithm: serde_json::Value) -> TrainingSpec {
    TrainingSpec {
        dataset: "credit".into(),
        version: None,
        experiment: None,
        run_name: None,
        target: Some("Status".into()),
        features: Vec::new(),
        prepare: credit_prep(),
        algorithm,
        seed: 7,
        slice_column: None,
        gates: Vec::new(),
        baseline_run: None,
        cv_folds: None,
        auto_prepare: false,
    }
}

pub(crate) async fn run_jobs(st: &AppState) -> usize {
    let registry = training::register(JobRegistry::new()).provide(st.clone());
    run_pending(&st.db, &registry, &fast_config("trainer")).await.unwrap()
}

async fn detail(st: &AppState, p: &Principal, run_id: &str) -> TrainingDetail {
    training::get(st, p, Uuid::parse_str(run_id).unwrap()).await.unwrap()
}

fn field(err: Error) -> (String, String) {
    match err {
        Error::Validation(v) => (v.field.to_string(), v.message),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn trains_evaluates_gates_and_records_a_random_forest(pool: PgPool) {
    let st = state(pool.clone());
    let p = user(&pool, Role::Editor).await;
    credit(&st, &p).await;
    let mut s = spec(serde_json::json!({"name": "random_forest", "n_trees": 30, "max_depth": 8}));
    s.slice_column = Some("Home".into());
    s.gates = vec!["roc_auc >= 0.7".into(), "accuracy >= 0.99".into(), "slice accuracy >= 0.2".into()];
    let made = training::submit(&st, &p, s).await.unwrap();
    let queued = detail(&st, &p, &made.run_id).await;
    assert_eq!(queued.summary.state, TrainingState::Queued);
    let run_id = Uuid::parse_str(&made.run_id).unwrap();
    assert_eq!(tracking::get_run(&st, &p, run_id).await.unwrap().info.status, "SCHEDULED");

    assert_eq!(run_jobs(&st).await, 1);
    let d = detail(&st, &p, &made.run_id).await;
    assert_eq!(d.summary.state, TrainingState::Finished, "{:?}", d.summary.error);
    let e = d.evaluation.as_ref().unwrap();
    assert!(e.metrics["roc_auc"] > 0.75, "{:?}", e.metrics);
    assert_eq!(e.classes, ["bad", "good"]);
    assert_eq!(e.confusion.iter().flatten().sum::<u64>(), e.n_rows);
    assert!(!e.roc.is_empty() && !e.pr.is_empty() && !e.calibration.is_empty());
    assert!(e.importance.iter().any(|f| f.feature == "Seniority"), "importance over input columns");
    assert!(e.slices.iter().any(|s| s.value == "rent"));
    let passed: Vec<bool> = d.gates.iter().map(|g| g.passed).collect();
    // The worst slice decides a slice gate: here the handful of rows without a Home.
    assert_eq!(passed, [true, false, false], "{:?}", d.gates);
    assert!(d.gates[2].detail.contains("(missing)"), "{:?}", d.gates[2]);
    assert_eq!(d.summary.gates_passed, Some(false));
    assert_eq!(d.summary.primary_metric.as_ref().map(|m| m.0.as_str()), Some("roc_auc"));

    // The tracked run carries params, metrics, tags and the artifacts.
    let run = tracking::get_run(&st, &p, run_id).await.unwrap();
    assert_eq!(run.info.status, "FINISHED");
    let params: BTreeMap<_, _> = run.params.iter().map(|t| (t.key.as_str(), t.value.as_str())).collect();
    assert_eq!(params["algorithm"], "random_forest");
    assert_eq!(params["n_trees"], "30");
    assert_eq!(params["target"], "Status");
    assert!(run.metrics.iter().any(|m| m.key == "roc_auc" && (m.value - e.metrics["roc_auc"]).abs() < 1e-12));
    assert!(run.metrics.iter().any(|m| m.key == "train_accuracy"));

    // The bundle predicts the held-out rows exactly as training evaluated them.
    let bundle = training::bundle(&st, &p, run_id).await.unwrap();
    assert_eq!(bundle.metadata["run_id"], run_id.simple().to_string());
    assert_eq!(bundle.signature.output.classes, ["bad", "good"]);

    // Lineage: model ← train ← dataset version.
    let model = sqlx::query_scalar!("select model_artifact_id from training_run where run_id = $1", run_id)
        .fetch_one(&pool)
        .await
        .unwrap()
        .unwrap();
    let graph = lineage::walk(&st.db, domain::ArtifactId(model), Direction::Upstream, 5).await.unwrap();
    assert!(graph.executions.iter().any(|x| x.type_name == training::EXECUTION_TYPE));
    assert!(graph.artifacts.iter().any(|a| a.type_name == "dataset_version"), "{:?}", graph.artifacts);
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_requests_are_refused_before_anything_is_stored(pool: PgPool) {
    let st = state(pool.clone());
    let p = user(&pool, Role::Editor).await;
    credit(&st, &p).await;
    let cases: Vec<(TrainingSpec, &str, &str)> = vec![
        (
            TrainingSpec {
                target: Some("Sttus".into()),
                ..spec(serde_json::json!({"name": "random_forest"}))
            },
            "target",
            "Sttus",
        ),
        (
            TrainingSpec { target: None, ..spec(serde_json::json!({"name": "random_forest"})) },
            "target",
            "needs a target",
        ),
        (spec(serde_json::json!({"name": "ridge", "alpha": "big"})), "algorithm", "invalid type"),
        (
            spec(serde_json::json!({"name": "random_forest", "n_trees": 0})),
            "algorithm",
            "n_trees must be >= 1",
        ),
        (spec(serde_json::json!({"name": "svm"})), "algorithm", "unknown algorithm"),
        (spec(serde_json::json!("random_forest")), "algorithm", "must be an object"),
        (
            TrainingSpec {
                gates: vec!["auc == 1".into()],
                ..spec(serde_json::json!({"name": "gaussian_nb"}))
            },
            "gates",
            "unknown operator",
        ),
        (
            TrainingSpec {
                features: vec!["Nope".into()],
                ..spec(serde_json::json!({"name": "gaussian_nb"}))
            },
            "features",
            "Nope",
        ),
    ];
    for (s, want_field, want) in cases {
        let (f, m) = field(training::submit(&st, &p, s).await.unwrap_err());
        assert_eq!(f, want_field, "{m}");
        assert!(m.contains(want), "{m} should mention {want}");
    }
    let missing = TrainingSpec { dataset: "nope".into(), ..spec(serde_json::json!({"name": "gaussian_nb"})) };
    assert!(matches!(training::submit(&st, &p, missing).await, Err(Error::NotFound { .. })));
    let viewer = user(&pool, Role::Viewer).await;
    let denied = training::submit(&st, &viewer, spec(serde_json::json!({"name": "gaussian_nb"}))).await;
    assert!(matches!(denied, Err(Error::Forbidden(_))));
    let stored: i64 =
        sqlx::query_scalar!("select count(*) from training_run").fetch_one(&pool).await.unwrap().unwrap();
    assert_eq!(stored, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn data_problems_fail_the_run_with_the_reason(pool: PgPool) {
    let st = state(pool.clone());
    let p = user(&pool, Role::Editor).await;
    credit(&st, &p).await;
    dataset(&st, &p, "flat", b"x,y\n1,a\n2,a\n3,a\n4,a\n5,a\n").await;
    let constant = TrainingSpec {
        dataset: "flat".into(),
        target: Some("y".into()),
        prepare: TransformSpec::default(),
        ..spec(serde_json::json!({"name": "logistic_regression"}))
    };
    let unencoded = TrainingSpec {
        prepare: TransformSpec {
            split: Some(SplitSpec::Random { test_fraction: 0.2, seed: 1 }),
            ..TransformSpec::default()
        },
        ..spec(serde_json::json!({"name": "logistic_regression"}))
    };
    let a = training::submit(&st, &p, constant).await.unwrap();
    let b = training::submit(&st, &p, unencoded).await.unwrap();
    run_jobs(&st).await;
    for (made, want) in [(a, "y"), (b, "one_hot")] {
        let d = detail(&st, &p, &made.run_id).await;
        assert_eq!(d.summary.state, TrainingState::Failed);
        let reason = d.summary.error.unwrap_or_default();
        assert!(reason.contains(want), "{reason} should mention {want}");
        let run = tracking::get_run(&st, &p, Uuid::parse_str(&made.run_id).unwrap()).await.unwrap();
        assert_eq!(run.info.status, "FAILED");
        assert!(run.tags.iter().any(|t| t.key == "cairn.error" && t.value == reason));
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_search_runs_trials_as_child_runs_and_keeps_the_best(pool: PgPool) {
    let st = state(pool.clone());
    let p = user(&pool, Role::Editor).await;
    credit(&st, &p).await;
    let search = SearchSpec {
        base: spec(serde_json::json!({"name": "logistic_regression", "max_iterations": 50})),
        method: SearchMethod::Random,
        space: BTreeMap::from([("alpha".into(), ParamRange::LogUniform { low: 1e-3, high: 100.0 })]),
        n_trials: 4,
        objective: None,
        cv_folds: Some(3),
    };
    let made = training::search::submit(&st, &p, search).await.unwrap();
    assert_eq!(made.trials.len(), 4);
    assert_eq!(run_jobs(&st).await, 4);
    let d = detail(&st, &p, &made.run_id).await;
    assert_eq!(d.summary.state, TrainingState::Finished, "{:?}", d.summary.error);
    assert_eq!(d.objective.as_deref(), Some("roc_auc"));
    assert_eq!(d.trials.len(), 4);
    let values: Vec<f64> = d.trials.iter().map(|t| t.objective.unwrap()).collect();
    assert!(values.windows(2).all(|w| w[0] >= w[1]), "best first: {values:?}");
    assert_eq!(d.best_run_id.as_deref(), Some(d.trials[0].run_id.as_str()));
    assert!(d.trials.iter().all(|t| t.params.contains_key("alpha")));
    assert!(d.evaluation.is_some(), "the search shows its best trial's evaluation");
    // Trials are tracked as child runs of the search's run.
    let child = tracking::get_run(&st, &p, Uuid::parse_str(&made.trials[0]).unwrap()).await.unwrap();
    assert!(child.tags.iter().any(|t| t.key == "mlflow.parentRunId" && t.value == made.run_id));
    assert!(child.metrics.iter().any(|m| m.key == "cv_roc_auc"));

    // A sampled value that cannot be used is refused at submission.
    let bad = SearchSpec {
        base: spec(serde_json::json!({"name": "random_forest"})),
        method: SearchMethod::Grid,
        space: BTreeMap::from([("n_trees".into(), ParamRange::Int { low: -2, high: 3 })]),
        n_trials: 10,
        objective: None,
        cv_folds: None,
    };
    let (f, m) = field(training::search::submit(&st, &p, bad).await.unwrap_err());
    assert_eq!(f, "space");
    assert!(m.contains("trial 1") && m.contains("n_trees"), "{m}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_queued_run_can_be_cancelled(pool: PgPool) {
    let st = state(pool.clone());
    let p = user(&pool, Role::Editor).await;
    credit(&st, &p).await;
    let made = training::submit(&st, &p, spec(serde_json::json!({"name": "gaussian_nb"}))).await.unwrap();
    let id = Uuid::parse_str(&made.run_id).unwrap();
    training::cancel(&st, &p, id).await.unwrap();
    assert_eq!(run_jobs(&st).await, 0);
    let d = detail(&st, &p, &made.run_id).await;
    assert_eq!(d.summary.state, TrainingState::Cancelled);
    assert_eq!(tracking::get_run(&st, &p, id).await.unwrap().info.status, "KILLED");
    assert!(matches!(training::cancel(&st, &p, id).await, Err(Error::Conflict(_))));
}

fn command(params: serde_json::Value, timeout_s: u64) -> CommandSpec {
    CommandSpec {
        dataset: "credit".into(),
        version: None,
        experiment: None,
        run_name: None,
        target: Some("Status".into()),
        command: vec!["python3".into(), format!("{EXAMPLES}/baseline.py")],
        params: params.as_object().cloned().unwrap_or_default(),
        timeout_s,
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn the_command_trainer_keeps_its_contract(pool: PgPool) {
    let st = state(pool.clone());
    let p = user(&pool, Role::Editor).await;
    credit(&st, &p).await;
    let ok =
        training::command::submit(&st, &p, command(serde_json::json!({"note": "hi"}), 60)).await.unwrap();
    let fails = training::command::submit(&st, &p, command(serde_json::json!({"fail": "on purpose"}), 60))
        .await
        .unwrap();
    let no_model =
        training::command::submit(&st, &p, command(serde_json::json!({"no_model": true}), 60)).await.unwrap();
    let mut sleeper = command(serde_json::json!({}), 1);
    sleeper.command = vec![
        "python3".into(),
        "-c".into(),
        "import time; print('sleeping', flush=True); time.sleep(30)".into(),
    ];
    let hangs = training::command::submit(&st, &p, sleeper).await.unwrap();
    run_jobs(&st).await;

    let d = detail(&st, &p, &ok.run_id).await;
    assert_eq!(d.summary.state, TrainingState::Finished, "{:?}", d.summary.error);
    let accuracy = d.train_metrics.as_ref().unwrap()["accuracy"];
    assert!((accuracy - 3200.0 / 4454.0).abs() < 1e-3, "majority class share, got {accuracy}");
    let run_id = Uuid::parse_str(&ok.run_id).unwrap();
    let run = tracking::get_run(&st, &p, run_id).await.unwrap();
    assert!(run.params.iter().any(|t| t.key == "note" && t.value == "hi"));
    let history = tracking::metric_history(&st, &p, run_id, "loss", None, None).await.unwrap();
    assert_eq!(history.metrics.iter().map(|m| m.value).collect::<Vec<_>>(), [0.9, 0.5, 0.3]);
    let live = tracking::metric_history(&st, &p, run_id, "progress", None, None).await.unwrap();
    assert_eq!(live.metrics.len(), 3, "CAIRN_METRIC lines are logged as they arrive");
    let root = format!("{}/{}/artifacts", run.info.experiment_id, run_id.simple());
    let model = tracking::artifacts::download(&st, &p, &format!("{root}/model/model.json")).await.unwrap();
    assert_eq!(&model[..], br#"{"predict": "good"}"#);

    for (made, want) in
        [(fails, "exited with status 1"), (no_model, "wrote no model"), (hangs.clone(), "timeout of 1 s")]
    {
        let d = detail(&st, &p, &made.run_id).await;
        assert_eq!(d.summary.state, TrainingState::Failed);
        let reason = d.summary.error.unwrap_or_default();
        assert!(reason.contains(want), "{reason} should say {want}");
    }
    let d = detail(&st, &p, &hangs.run_id).await;
    assert!(d.summary.error.unwrap_or_default().contains("sleeping"), "the failure shows the last output");

    // Programs are allow-listed; with no list the trainer is off.
    let mut bash = command(serde_json::json!({}), 60);
    bash.command = vec!["bash".into(), "-c".into(), "true".into()];
    let (f, m) = field(training::command::submit(&st, &p, bash.clone()).await.unwrap_err());
    assert_eq!((f.as_str(), m.contains("python3")), ("command", true));
    let off = AppState::new(pool.clone(), st.store.clone());
    assert!(matches!(training::command::submit(&off, &p, bash).await, Err(Error::Forbidden(_))));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_baseline_gate_compares_with_another_runs_model_on_the_same_rows(pool: PgPool) {
    let st = state(pool.clone());
    let p = user(&pool, Role::Editor).await;
    credit(&st, &p).await;
    let first =
        training::submit(&st, &p, spec(serde_json::json!({"name": "logistic_regression"}))).await.unwrap();
    run_jobs(&st).await;
    let baseline_auc = detail(&st, &p, &first.run_id).await.evaluation.unwrap().metrics["roc_auc"];

    let mut s = spec(serde_json::json!({"name": "gaussian_nb"}));
    s.baseline_run = Some(first.run_id.clone());
    s.gates = vec!["roc_auc >= baseline - 0.5%".into(), "roc_auc >= baseline - 50%".into()];
    let second = training::submit(&st, &p, s).await.unwrap();
    run_jobs(&st).await;
    let d = detail(&st, &p, &second.run_id).await;
    assert_eq!(d.summary.state, TrainingState::Finished, "{:?}", d.summary.error);
    let strict = &d.gates[0];
    assert!((strict.threshold.unwrap() - baseline_auc * 0.995).abs() < 1e-9, "{strict:?} vs {baseline_auc}");
    assert_eq!(strict.passed, strict.value.unwrap() >= baseline_auc * 0.995);
    assert!(d.gates[1].passed, "{:?}", d.gates[1]);

    // A baseline that is not a finished training run is refused at submission.
    let mut s = spec(serde_json::json!({"name": "gaussian_nb"}));
    s.baseline_run =
        Some(second.trials.first().cloned().unwrap_or_else(|| Uuid::new_v4().simple().to_string()));
    assert!(matches!(training::submit(&st, &p, s).await, Err(Error::NotFound { .. })));
}
