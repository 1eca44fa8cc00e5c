//! Training on real data sets (testdata/) and metrics on fixed vectors, checked
//! against scikit-learn (fixtures/training_reference.py → training_reference.json).

mod common;

use std::time::Instant;

use domain::prepare::{ImputeStrategy, SplitSpec, Step, TransformSpec};
use domain::training::{Algorithm, Gate, GateOp, Task};
use ml::frame::{Column, ColumnData, Frame};
use ml::train::metrics;
use ml::train::{
    Bundle, Hooks, Predictions, Progress, TrainError, TrainOutcome, TrainRequest, check_gates,
    cross_validate, evaluate_bundle, primary_metric, train, train_split,
};
use serde_json::Value;

fn reference() -> Value {
    serde_json::from_str(include_str!("fixtures/training_reference.json")).unwrap()
}

fn request(target: Option<&str>, algorithm: &str, steps: Vec<Step>) -> TrainRequest {
    TrainRequest {
        target: target.map(str::to_string),
        features: Vec::new(),
        prepare: TransformSpec { target: None, steps, split: None },
        algorithm: Algorithm::with_defaults(algorithm).unwrap(),
        seed: 7,
        slice_column: None,
        importance_repeats: 0,
        gates: Vec::new(),
    }
}

fn with_hooks<T>(f: impl FnOnce(&mut Hooks) -> T) -> (T, Vec<Progress>) {
    let cancelled = || false;
    let mut seen = Vec::new();
    let mut progress = |p: Progress| seen.push(p);
    let out = f(&mut Hooks { cancelled: &cancelled, progress: &mut progress });
    (out, seen)
}

fn run(frame: &Frame, req: &TrainRequest) -> Result<TrainOutcome, TrainError> {
    with_hooks(|h| train(frame, req, None, h)).0
}

/// Train on scikit-learn's split of `file` (its test indices from the fixture).
fn run_on_reference_split(file: &str, name: &str, req: &TrainRequest) -> TrainOutcome {
    let frame = common::data_set(file);
    let test: Vec<usize> = serde_json::from_value(reference()[name]["test"].clone()).unwrap();
    let train_rows: Vec<usize> = (0..frame.n_rows()).filter(|r| test.binary_search(r).is_err()).collect();
    with_hooks(|h| train_split(&frame.take(&train_rows), &frame.take(&test), req, None, h)).0.unwrap()
}

fn scale() -> Step {
    Step::StandardScale { columns: None }
}

fn credit_steps() -> Vec<Step> {
    vec![
        Step::Impute { strategy: ImputeStrategy::Median, columns: None },
        scale(),
        Step::OneHot {
            columns: vec!["Home".into(), "Marital".into(), "Records".into(), "Job".into()],
            max_categories: None,
        },
    ]
}

fn close(got: f64, want: &Value, what: &str) {
    let want = want.as_f64().unwrap_or_else(|| panic!("{what}: no reference"));
    assert!((got - want).abs() <= 1e-9, "{what}: got {got}, scikit-learn says {want}");
}

fn ints(v: &Value) -> Vec<usize> {
    serde_json::from_value(v.clone()).unwrap()
}
fn floats(v: &Value) -> Vec<f64> {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn metrics_match_scikit_learn() {
    let r = reference();
    for (case, k) in [("binary", 2usize), ("multiclass", 3)] {
        let m = &r["metrics"][case];
        let y = ints(&m["y"]);
        let pred = ints(&m["pred"]);
        let proba: Vec<f64> = if k == 2 {
            floats(&m["score"]).iter().flat_map(|p| [1.0 - p, *p]).collect()
        } else {
            floats(&m["proba"])
        };
        close(metrics::accuracy(&y, &pred), &m["accuracy"], "accuracy");
        let a = metrics::averages(&y, &pred, k);
        close(a.precision_macro, &m["precision_macro"], "precision_macro");
        close(a.recall_macro, &m["recall_macro"], "recall_macro");
        close(a.f1_macro, &m["f1_macro"], "f1_macro");
        close(a.precision_weighted, &m["precision_weighted"], "precision_weighted");
        close(a.recall_weighted, &m["recall_weighted"], "recall_weighted");
        close(a.f1_weighted, &m["f1_weighted"], "f1_weighted");
        close(metrics::log_loss(&y, &proba, k), &m["log_loss"], &format!("{case} log_loss"));
        let classes: Vec<usize> = if k == 2 { vec![1] } else { (0..k).collect() };
        let (mut auc, mut ap) = (0.0, 0.0);
        for &c in &classes {
            let positive: Vec<bool> = y.iter().map(|&v| v == c).collect();
            let score: Vec<f64> = (0..y.len()).map(|i| proba[i * k + c]).collect();
            auc += metrics::roc(&positive, &score).unwrap().0 / classes.len() as f64;
            ap += metrics::precision_recall(&positive, &score).unwrap().0 / classes.len() as f64;
        }
        close(auc, &m["roc_auc"], &format!("{case} roc_auc"));
        close(ap, &m["average_precision"], &format!("{case} average_precision"));
    }
    let m = &r["metrics"]["regression"];
    let (rmse, mae, r2) = metrics::regression(&floats(&m["y"]), &floats(&m["pred"]));
    close(rmse, &m["rmse"], "rmse");
    close(mae, &m["mae"], "mae");
    close(r2.unwrap(), &m["r2"], "r2");
    let m = &r["metrics"]["clustering"];
    close(
        metrics::silhouette(&floats(&m["x"]), 2, &ints(&m["labels"])).unwrap(),
        &m["silhouette"],
        "silhouette",
    );
}

#[test]
fn breast_cancer_logistic_regression_matches_scikit_learn() {
    let req = request(Some("target"), "logistic_regression", vec![scale()]);
    let out = run_on_reference_split("breast_cancer.csv", "breast_cancer", &req);
    let auc = out.evaluation.metrics["roc_auc"];
    let sk = reference()["breast_cancer"]["roc_auc"].as_f64().unwrap();
    println!("breast_cancer logistic ROC AUC: ours {auc:.6}, scikit-learn {sk:.6}");
    assert!(auc >= 0.98, "{auc}");
    assert_eq!(out.evaluation.classes, ["0", "1"]);
    assert_eq!(out.n_test, 114);
    assert_eq!(out.evaluation.calibration.iter().map(|b| b.count).sum::<u64>(), 114);
    assert!(out.evaluation.roc[0].points.len() <= 201);
}

#[test]
fn credit_logistic_regression_with_preparation_matches_scikit_learn() {
    let req = request(Some("Status"), "logistic_regression", credit_steps());
    let out = run_on_reference_split("credit_data.csv", "credit_data", &req);
    let auc = out.evaluation.metrics["roc_auc"];
    let sk = reference()["credit_data"]["roc_auc"].as_f64().unwrap();
    println!("credit_data logistic ROC AUC: ours {auc:.6}, scikit-learn {sk:.6}");
    assert!(auc >= 0.80, "{auc}");
    assert!((auc - sk).abs() < 0.01, "ours {auc}, scikit-learn {sk}");
}

#[test]
fn diabetes_linear_regression_matches_scikit_learn() {
    let req = request(Some("target"), "linear_regression", Vec::new());
    let out = run_on_reference_split("diabetes.csv", "diabetes", &req);
    let r2 = out.evaluation.metrics["r2"];
    let sk = reference()["diabetes"]["r2"].as_f64().unwrap();
    println!("diabetes linear regression R²: ours {r2:.6}, scikit-learn {sk:.6}");
    assert!((r2 - sk).abs() <= 0.05, "ours {r2}, scikit-learn {sk}");
    assert!(out.evaluation.residuals.len() == out.n_test);
}

fn penguin_steps() -> Vec<Step> {
    vec![
        Step::Impute { strategy: ImputeStrategy::Median, columns: None },
        scale(),
        Step::OneHot { columns: vec!["island".into(), "sex".into()], max_categories: None },
    ]
}

#[test]
fn every_algorithm_trains_and_predicts() {
    let iris = common::data_set("iris.csv");
    let penguins = common::data_set("penguins.csv");
    let diabetes = common::data_set("diabetes.csv");
    for name in ["logistic_regression", "decision_tree", "random_forest", "gaussian_nb"] {
        let out = run(&iris, &request(Some("target"), name, vec![scale()])).unwrap();
        let f1 = out.evaluation.metrics["f1_macro"];
        assert!(f1 > 0.85, "{name} on iris: f1_macro {f1}");
        assert_eq!(out.evaluation.roc.len(), 3, "{name}");
        let out = run(&penguins, &request(Some("species"), name, penguin_steps())).unwrap();
        let acc = out.evaluation.metrics["accuracy"];
        // Naive Bayes suffers from the one-hot columns (near-zero variance within a class).
        let floor = if name == "gaussian_nb" { 0.65 } else { 0.9 };
        assert!(acc > floor, "{name} on penguins: accuracy {acc}");
        let predicted = out.bundle.predict(&out.test_frame).unwrap();
        let Predictions::Classes { proba, classes, .. } = &predicted.predictions else { panic!("{name}") };
        assert_eq!(classes, &["Adelie", "Chinstrap", "Gentoo"]);
        for row in proba.chunks(3) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{name}: {row:?}");
        }
    }
    for name in ["linear_regression", "ridge", "lasso", "elastic_net"] {
        let out = run(&diabetes, &request(Some("target"), name, vec![scale()])).unwrap();
        let r2 = out.evaluation.metrics["r2"];
        assert!(r2 > 0.2, "{name}: r2 {r2}");
        assert!(out.train_metrics["rmse"] > 0.0);
    }
    let mut req = request(None, "k_means", vec![scale()]);
    req.features = ["sepal_length", "sepal_width", "petal_length", "petal_width"].map(String::from).to_vec();
    let out = run(&iris, &req).unwrap();
    assert!(out.evaluation.metrics["silhouette"] > 0.3, "{:?}", out.evaluation.metrics);
    assert_eq!(out.history.len(), 10);
    assert_eq!(out.bundle.signature.output.name, "cluster");
    assert_eq!(out.bundle.signature.inputs.len(), 4);
}

#[test]
fn ridge_lasso_and_elastic_net_use_scikit_learns_parametrisation() {
    // With standardised features, ridge at alpha 0 is least squares, and a huge
    // alpha shrinks every coefficient to (nearly) zero: the intercept is the mean.
    let diabetes = common::data_set("diabetes.csv");
    let r2 = |name: &str, params: serde_json::Value| {
        let mut req = request(Some("target"), name, vec![scale()]);
        req.algorithm = Algorithm::from_params(name, params.as_object().unwrap()).unwrap();
        run(&diabetes, &req).unwrap().evaluation.metrics["r2"]
    };
    let ols = r2("linear_regression", serde_json::json!({}));
    assert!((r2("ridge", serde_json::json!({"alpha": 0.0})) - ols).abs() < 1e-3);
    assert!(
        (r2("elastic_net", serde_json::json!({"alpha": 1e-6, "max_iterations": 100000, "tolerance": 1e-10}))
            - ols)
            .abs()
            < 1e-3
    );
    assert!(r2("lasso", serde_json::json!({"alpha": 1000.0})) <= 0.0);
}

#[test]
fn a_bundle_survives_bytes_and_predicts_the_same() {
    let credit = common::data_set("credit_data.csv");
    for name in ["random_forest", "logistic_regression", "gaussian_nb", "decision_tree"] {
        let mut req = request(Some("Status"), name, credit_steps());
        req.slice_column = Some("Home".into());
        let out = run(&credit, &req).unwrap();
        let before = out.bundle.predict(&out.test_frame).unwrap();
        let bytes = out.bundle.to_bytes().unwrap();
        println!("{name} bundle on credit_data: {} bytes (gzip JSON)", bytes.len());
        let back = Bundle::from_bytes(&bytes).unwrap();
        let after = back.predict(&out.test_frame).unwrap();
        assert_eq!(before, after, "{name}");
        let eval = evaluate_bundle(&back, &out.test_frame, Some("Home")).unwrap();
        assert_eq!(eval.metrics, out.evaluation.metrics, "{name}");
        assert_eq!(eval.slices, out.evaluation.slices, "{name}");
        assert_eq!(back.profile, out.bundle.profile);
    }
    let mut req = request(Some("target"), "ridge", Vec::new());
    req.features = vec!["bmi".into(), "bp".into()];
    let diabetes = common::data_set("diabetes.csv");
    let out = run(&diabetes, &req).unwrap();
    let back = Bundle::from_bytes(&out.bundle.to_bytes().unwrap()).unwrap();
    // Serving input without the target and with extra columns.
    let serving = Frame::new(vec![
        Column::new("bp", ColumnData::Float(vec![Some(90.0), Some(100.0)])),
        Column::new("bmi", ColumnData::Float(vec![Some(25.0), Some(32.0)])),
        Column::new("extra", ColumnData::Int(vec![Some(1), Some(2)])),
    ])
    .unwrap();
    assert_eq!(back.predict(&serving).unwrap(), out.bundle.predict(&serving).unwrap());
    assert_eq!(back.signature.inputs.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["bmi", "bp"]);
}

#[test]
fn a_bundle_of_another_format_version_is_refused() {
    let iris = common::data_set("iris.csv");
    let out = run(&iris, &request(Some("target"), "gaussian_nb", Vec::new())).unwrap();
    let mut bundle = out.bundle;
    bundle.format_version = 99;
    let err = Bundle::from_bytes(&bundle.to_bytes().unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "this model bundle has format version 99, but this release reads version 1: train the model again"
    );
    assert!(Bundle::from_bytes(b"{\"x\": 1}").unwrap_err().to_string().contains("not a model bundle"));
}

#[test]
fn random_forest_is_fast_deterministic_and_reports_history() {
    let credit = common::data_set("credit_data.csv");
    let req = request(Some("Status"), "random_forest", credit_steps());
    let start = Instant::now();
    let (out, progress) = with_hooks(|h| train(&credit, &req, None, h));
    let out = out.unwrap();
    let elapsed = start.elapsed();
    println!(
        "random forest (100 trees) on credit_data: {elapsed:?}, ROC AUC {:.4}",
        out.evaluation.metrics["roc_auc"]
    );
    assert!(elapsed.as_secs_f64() < 30.0, "{elapsed:?}");
    assert!(out.evaluation.metrics["roc_auc"] > 0.8);
    assert_eq!(out.history.len(), 10);
    assert_eq!(out.history.last().unwrap().step, 100);
    assert!(progress.iter().any(|p| p.stage == "training" && p.step == Some(100)));
    assert!(progress.windows(2).all(|w| w[0].fraction <= w[1].fraction));
    let again = run(&credit, &req).unwrap();
    let (first, second) =
        (out.bundle.predict(&out.test_frame).unwrap(), again.bundle.predict(&again.test_frame).unwrap());
    assert!(first == second, "the same seed gave another forest");
}

#[test]
fn importance_slices_and_gates() {
    let penguins = common::data_set("penguins.csv");
    let mut req = request(Some("species"), "logistic_regression", penguin_steps());
    req.importance_repeats = 3;
    req.slice_column = Some("island".into());
    req.gates = vec![
        Gate::parse("accuracy >= 0.9").unwrap(),
        Gate::parse("log_loss <= 0.000001").unwrap(),
        Gate::parse("roc_auc >= baseline - 1%").unwrap(),
        Gate::parse("slice accuracy >= 0.5").unwrap(),
        Gate::parse("r2 >= 0.5").unwrap(),
    ];
    let out = run(&penguins, &req).unwrap();
    let eval = &out.evaluation;
    assert_eq!(eval.importance_metric.as_deref(), Some("f1_macro"));
    assert_eq!(eval.importance.len(), 7, "{:?}", eval.importance);
    assert!(eval.importance[0].mean > 0.05, "{:?}", eval.importance);
    assert_eq!(
        eval.slices.iter().map(|s| s.value.as_str()).collect::<Vec<_>>(),
        ["Biscoe", "Dream", "Torgersen"]
    );
    assert_eq!(eval.slices.iter().map(|s| s.count).sum::<u64>(), out.n_test as u64);
    let passed: Vec<bool> = out.gates.iter().map(|g| g.passed).collect();
    assert_eq!(passed, [true, false, false, true, false], "{:#?}", out.gates);
    assert_eq!(out.gates[2].detail, "no baseline model was given to compare with");
    assert!(out.gates[4].detail.contains("was not computed"), "{}", out.gates[4].detail);

    // The same model as its own baseline passes the baseline gate.
    let (again, _) = with_hooks(|h| train(&penguins, &req, Some(&out.bundle), h));
    let again = again.unwrap();
    assert!(again.gates[2].passed, "{:?}", again.gates[2]);
    let results = check_gates(
        &[Gate::Baseline { metric: "accuracy".into(), op: GateOp::Ge, tolerance_pct: 0.0 }],
        &again.evaluation,
        Some(&out.evaluation),
    );
    assert!(results[0].passed);
}

#[test]
fn cross_validation_folds_every_row_once() {
    let iris = common::data_set("iris.csv");
    let req = request(Some("target"), "gaussian_nb", Vec::new());
    let (cv, _) = with_hooks(|h| cross_validate(&iris, &req, 5, h));
    let cv = cv.unwrap();
    assert_eq!(cv.folds.len(), 5);
    assert!(cv.mean["accuracy"] > 0.9 && cv.std["accuracy"] < 0.1, "{:?}", cv.mean);
    let (err, _) = with_hooks(|h| cross_validate(&iris, &req, 1, h));
    assert_eq!(err.unwrap_err().to_string(), "cross-validation needs 2 <= k <= rows (150), got k = 1");
}

#[test]
fn primary_metrics() {
    assert_eq!(primary_metric(Task::Classification, 2), "roc_auc");
    assert_eq!(primary_metric(Task::Classification, 3), "f1_macro");
    assert_eq!(primary_metric(Task::Regression, 0), "r2");
    assert_eq!(primary_metric(Task::Clustering, 0), "silhouette");
}

fn err(frame: &Frame, req: &TrainRequest) -> String {
    run(frame, req).unwrap_err().to_string()
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let credit = common::data_set("credit_data.csv");
    let iris = common::data_set("iris.csv");

    let e = err(&iris, &request(Some("species"), "logistic_regression", vec![]));
    assert!(e.starts_with("there is no target column `species` (the columns are: sepal_length,"), "{e}");
    let e = err(&iris, &request(None, "logistic_regression", vec![]));
    assert_eq!(e, "a classification model needs a target column: choose the column to predict");

    let constant = Frame::new(vec![
        Column::new("x", ColumnData::Float((0..10).map(|i| Some(i as f64)).collect())),
        Column::new("y", ColumnData::Str(vec![Some("a".into()); 10])),
    ])
    .unwrap();
    let e = err(&constant, &request(Some("y"), "gaussian_nb", vec![]));
    assert!(e.contains("single value `a`") && e.contains("nothing to learn"), "{e}");

    let mut gaps = iris.clone();
    if let ColumnData::Int(v) = &mut gaps.columns[4].data {
        v[3] = None;
        v[9] = None;
    }
    let e = err(&gaps, &request(Some("target"), "gaussian_nb", vec![]));
    assert!(e.starts_with("the target `target` is missing on 2 rows (the first is row 3)"), "{e}");
    assert!(e.contains("`target is not null`"), "the error says how to fix it: {e}");
    // ... and that fix works: the filter runs before the split and the check.
    let filter = vec![Step::Filter { expr: "target is not null".into() }];
    let fixed = run(&gaps, &request(Some("target"), "gaussian_nb", filter)).unwrap();
    assert_eq!(fixed.n_train + fixed.n_test, 148);

    let mut lonely = iris.clone();
    if let ColumnData::Int(v) = &mut lonely.columns[4].data {
        v[0] = Some(9);
    }
    let e = err(&lonely, &request(Some("target"), "gaussian_nb", vec![]));
    assert!(e.starts_with("class `9` of column `target` has only one row"), "{e}");

    let e = err(&credit, &request(Some("Status"), "logistic_regression", vec![scale()]));
    assert_eq!(e, "column `Home` is a string: add one_hot or ordinal for it");
    let no_impute = vec![
        scale(),
        Step::OneHot {
            columns: vec!["Home".into(), "Marital".into(), "Records".into(), "Job".into()],
            max_categories: None,
        },
    ];
    let e = err(&credit, &request(Some("Status"), "logistic_regression", no_impute));
    assert!(
        e.starts_with("column `Income` has")
            && e.ends_with("missing values after preparation: add an impute step"),
        "{e}"
    );

    let e = err(&credit, &request(Some("Status"), "linear_regression", credit_steps()));
    assert!(e.starts_with("the target `Status` is string, but regression needs a numeric"), "{e}");

    let mut req = request(Some("target"), "random_forest", vec![]);
    req.algorithm = Algorithm::RandomForest {
        n_trees: 0,
        max_depth: None,
        feature_fraction: 0.5,
        bootstrap_fraction: 1.0,
    };
    assert_eq!(err(&iris, &req), "hyper-parameter n_trees must be >= 1, got 0");

    let mut req = request(Some("target"), "gaussian_nb", vec![]);
    req.features = vec!["target".into()];
    assert!(err(&iris, &req).contains("also listed as a feature"));
    req.features = vec!["sepal_length".into()];
    req.slice_column = Some("nope".into());
    assert!(err(&iris, &req).starts_with("there is no slice column `nope`"));

    let mut req =
        request(Some("target"), "gaussian_nb", vec![Step::Filter { expr: "sepal_length > 100".into() }]);
    req.prepare.split = Some(SplitSpec::Random { test_fraction: 0.2, seed: 1 });
    assert_eq!(err(&iris, &req), "no training rows are left after preparation: the filters removed them all");

    // A class the training rows never saw.
    let rows: Vec<usize> = (0..150).collect();
    let (train_rows, test_rows) = (&rows[..100], &rows[95..]);
    let e = with_hooks(|h| {
        train_split(
            &iris.take(train_rows),
            &iris.take(test_rows),
            &request(Some("target"), "gaussian_nb", vec![]),
            None,
            h,
        )
    })
    .0
    .unwrap_err();
    assert!(
        e.to_string().starts_with(
            "class `2` of the target `target` appears in the test rows but not in the training rows"
        ),
        "{e}"
    );

    let cancelled = || true;
    let mut progress = |_: Progress| {};
    let mut hooks = Hooks { cancelled: &cancelled, progress: &mut progress };
    let e = train(&iris, &request(Some("target"), "random_forest", vec![]), None, &mut hooks).unwrap_err();
    assert!(matches!(e, TrainError::Cancelled));
}
