//! Training built-in models (linfa) on a frame: preparation, split, fit,
//! held-out evaluation, permutation importance, gates, and the model bundle.
//!
//! ```text
//! train(frame)  = split (stratified for classification, else random, 20 % test)
//!                 train_split(train rows, test rows)
//! train_split   = fit the transform on the train rows, apply it to both sides,
//!                 fit the model, evaluate on the test rows (metrics, curves,
//!                 slices), permutation importance, gates, bundle
//! ```
//!
//! Everything is deterministic given the request's seed: splits, bootstrap
//! samples, k-means initialisation and importance shuffles draw from seeded,
//! pinned generators, and parallel work draws from per-task seeds.

pub mod bundle;
mod cv;
mod error;
pub mod evaluate;
pub mod gates;
mod importance;
pub mod metrics;
pub mod model;
mod target;
pub mod tree;

use std::collections::BTreeMap;

use domain::datasets::ColumnType;
use domain::prepare::{FittedTransform, SplitSpec, Step, TransformSpec};
use domain::training::{
    Algorithm, Evaluation, Gate, GateResult, OutputSchema, Signature, SignatureColumn, Task,
};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

pub use bundle::{Bundle, BundleOutput, Model, Predictions};
pub use cv::{CrossValidation, cross_validate};
pub use error::TrainError;
pub use gates::check_gates;

use crate::frame::{Column, Frame};
use crate::prepare::{self, Applied, apply_rows};
use crate::profile::{ProfileConfig, Profiler};
use evaluate::Actual;
use model::{FitContext, Labels};

/// What to train. See `domain::training::TrainingSpec` for the user-facing form.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainRequest {
    /// Required for classification and regression, ignored for clustering.
    pub target: Option<String>,
    /// Input columns to use; empty = all. Non-empty prepends a `select` step.
    pub features: Vec<String>,
    /// Its `target` is overwritten with `target`. Without a split, a stratified
    /// (classification) or random 20 % test split seeded with `seed` is used.
    pub prepare: TransformSpec,
    pub algorithm: Algorithm,
    pub seed: u64,
    /// Raw input column whose values define slices of the test rows.
    pub slice_column: Option<String>,
    /// Permutation-importance repeats per raw input column; 0 skips importance.
    pub importance_repeats: usize,
    pub gates: Vec<Gate>,
}

/// How the caller follows and stops a run.
pub struct Hooks<'a> {
    pub cancelled: &'a (dyn Fn() -> bool + Sync),
    pub progress: &'a mut (dyn FnMut(Progress) + Send),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// "preparing", "training", "evaluating", "importance" (cross-validation
    /// prefixes `fold i/k: `).
    pub stage: String,
    /// Of the whole run, in [0, 1].
    pub fraction: f64,
    pub step: Option<i64>,
    /// Per-iteration values where the algorithm has them.
    pub metrics: Vec<(String, f64)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    pub step: i64,
    pub metrics: BTreeMap<String, f64>,
}

#[derive(Clone, Debug)]
pub struct TrainOutcome {
    pub bundle: Bundle,
    /// On the held-out rows, with slices and importance.
    pub evaluation: Evaluation,
    /// The same scalar metrics on the training rows.
    pub train_metrics: BTreeMap<String, f64>,
    /// Random forest: held-out accuracy after each batch of trees; k-means:
    /// training inertia per run. Empty for the other algorithms.
    pub history: Vec<HistoryPoint>,
    pub gates: Vec<GateResult>,
    pub n_train: usize,
    pub n_test: usize,
    /// The raw held-out rows, so a baseline bundle can be evaluated on the same set.
    pub test_frame: Frame,
}

/// The metric that ranks models and that importance measures: ROC AUC for two
/// classes, macro F1 for more, R² for regression, silhouette for clustering.
pub fn primary_metric(task: Task, n_classes: usize) -> &'static str {
    match task {
        Task::Classification if n_classes <= 2 => "roc_auc",
        Task::Classification => "f1_macro",
        Task::Regression => "r2",
        Task::Clustering => "silhouette",
    }
}

const DEFAULT_TEST_FRACTION: f64 = 0.2;

/// Split `frame` (the request's split, or the default one), then [`train_split`].
pub fn train(
    frame: &Frame,
    req: &TrainRequest,
    baseline: Option<&Bundle>,
    hooks: &mut Hooks,
) -> Result<TrainOutcome, TrainError> {
    let task = req.algorithm.task();
    req.algorithm.validate().map_err(TrainError::Algorithm)?;
    let target = resolve_target(req, task)?;
    // Filters keep no state, so they may run before the split too: then a filter
    // such as `label is not null` removes unlabelled rows before they are counted.
    let filtered = prefilter(frame, req, target.as_deref())?;
    let frame = filtered.as_ref().unwrap_or(frame);
    if frame.n_rows() == 0 {
        return Err(TrainError::NoRows { side: "training" });
    }
    if let Some(t) = &target {
        target::check(frame, t, task)?;
    }
    let split = match (&req.prepare.split, &target) {
        (Some(s), _) => s.clone(),
        (None, Some(t)) if task == Task::Classification => {
            SplitSpec::Stratified { column: t.clone(), test_fraction: DEFAULT_TEST_FRACTION, seed: req.seed }
        }
        _ => SplitSpec::Random { test_fraction: DEFAULT_TEST_FRACTION, seed: req.seed },
    };
    report(hooks, "preparing", 0.0, None, Vec::new());
    let (train_rows, test_rows) = prepare::split(&split, frame)?;
    train_split(&frame.take(&train_rows), &frame.take(&test_rows), req, baseline, hooks)
}

/// The rows the spec's filter steps keep (all columns), or None without filters.
fn prefilter(frame: &Frame, req: &TrainRequest, target: Option<&str>) -> Result<Option<Frame>, TrainError> {
    let steps: Vec<Step> =
        req.prepare.steps.iter().filter(|s| matches!(s, Step::Filter { .. })).cloned().collect();
    if steps.is_empty() {
        return Ok(None);
    }
    let spec = TransformSpec { target: target.map(str::to_string), steps, split: None };
    let fitted = prepare::fit(&spec, frame)?;
    Ok(Some(prepare::apply(&fitted, frame)?))
}

/// The target a task uses: required for classification and regression, none for
/// clustering.
fn resolve_target(req: &TrainRequest, task: Task) -> Result<Option<String>, TrainError> {
    if task == Task::Clustering {
        return Ok(None);
    }
    let target = req.target.clone().ok_or(TrainError::NoTarget { task: task.as_str() })?;
    if req.features.contains(&target) {
        return Err(TrainError::TargetIsFeature { column: target });
    }
    Ok(Some(target))
}

/// The request's transform spec, with its target set and without a split.
fn spec_for(req: &TrainRequest, target: Option<&str>) -> TransformSpec {
    let mut spec = req.prepare.clone();
    spec.target = target.map(str::to_string);
    spec.split = None;
    if !req.features.is_empty() {
        spec.steps.insert(0, Step::Select { columns: req.features.clone() });
    }
    spec
}

fn report(hooks: &mut Hooks, stage: &str, fraction: f64, step: Option<i64>, metrics: Vec<(String, f64)>) {
    (hooks.progress)(Progress { stage: stage.to_string(), fraction, step, metrics });
}

fn check_cancelled(hooks: &Hooks) -> Result<(), TrainError> {
    if (hooks.cancelled)() { Err(TrainError::Cancelled) } else { Ok(()) }
}

/// Fit on `train`, evaluate on `test` (both raw frames with the same columns).
pub fn train_split(
    train: &Frame,
    test: &Frame,
    req: &TrainRequest,
    baseline: Option<&Bundle>,
    hooks: &mut Hooks,
) -> Result<TrainOutcome, TrainError> {
    let task = req.algorithm.task();
    req.algorithm.validate().map_err(TrainError::Algorithm)?;
    let target = resolve_target(req, task)?;
    let target = target.as_deref();
    if let Some(t) = target {
        target::check(train, t, task)?;
        target::check(test, t, task)?;
    }
    report(hooks, "preparing", 0.02, None, Vec::new());
    let spec = spec_for(req, target);
    let fitted = prepare::fit(&spec, train)?;
    let train_applied = apply_rows(&fitted, train)?;
    let test_applied = apply_rows(&fitted, test)?;
    if train_applied.frame.n_rows() == 0 {
        return Err(TrainError::NoRows { side: "training" });
    }
    if test_applied.frame.n_rows() == 0 {
        return Err(TrainError::NoRows { side: "test" });
    }
    let x_train = bundle::matrix(&train_applied.frame, target)?;
    let x_test = bundle::matrix(&test_applied.frame, target)?;
    if x_train.ncols() == 0 {
        return Err(TrainError::NoFeatures);
    }

    let (classes, y_train, y_test) = encode(task, target, &train_applied.frame, &test_applied.frame)?;
    check_cancelled(hooks)?;
    report(hooks, "training", 0.05, None, Vec::new());

    let (model, history) = {
        let cancelled = hooks.cancelled;
        let progress = &mut *hooks.progress;
        let mut forward = |fraction: f64, step: Option<i64>, metrics: Vec<(String, f64)>| {
            progress(Progress { stage: "training".into(), fraction: 0.05 + 0.75 * fraction, step, metrics });
        };
        let holdout = match &y_test {
            Targets::Classes(y) => Some((&x_test, y.as_slice())),
            _ => None,
        };
        let mut ctx = FitContext { seed: req.seed, cancelled, report: &mut forward, holdout };
        let labels = match &y_train {
            Targets::Classes(y) => Labels::Classes { y, n_classes: classes.len() },
            Targets::Values(y) => Labels::Values(y),
            Targets::None => Labels::None,
        };
        model::fit(&req.algorithm, &x_train, labels, &mut ctx)?
    };
    check_cancelled(hooks)?;
    report(hooks, "evaluating", 0.8, None, Vec::new());

    let bundle = make_bundle(req, task, fitted, model, train, &classes)?;
    let test_predictions = bundle.model.predict(&x_test, &classes);
    let slices = match &req.slice_column {
        Some(column) => Some((column.as_str(), slice_values(test, column, &test_applied)?)),
        None => None,
    };
    let mut evaluation = evaluate::evaluation(
        &test_predictions,
        &actual(&bundle.model, &x_test, &test_predictions, &y_test),
        slices.as_ref().map(|(c, v)| (*c, v.as_slice())),
    );
    let train_predictions = bundle.model.predict(&x_train, &classes);
    let train_metrics =
        evaluate::scalars(&train_predictions, &actual(&bundle.model, &x_train, &train_predictions, &y_train));

    if req.importance_repeats > 0 {
        check_cancelled(hooks)?;
        let metric = primary_metric(task, classes.len());
        let base = evaluation.metrics.get(metric).copied();
        if let Some(base) = base {
            evaluation.importance = importance::permutation(
                &bundle,
                test,
                metric,
                base,
                req.importance_repeats,
                req.seed,
                hooks,
            )?;
            evaluation.importance_metric = Some(metric.to_string());
        }
    }

    let baseline_eval = baseline.map(|b| evaluate_bundle(b, test, req.slice_column.as_deref()));
    let mut gate_results =
        check_gates(&req.gates, &evaluation, baseline_eval.as_ref().and_then(|r| r.as_ref().ok()));
    if let Some(Err(e)) = &baseline_eval {
        for (gate, result) in req.gates.iter().zip(gate_results.iter_mut()) {
            if matches!(gate, Gate::Baseline { .. }) && !result.passed {
                result.detail = format!("the baseline model could not be evaluated on the test rows: {e}");
            }
        }
    }
    report(hooks, "done", 1.0, None, Vec::new());
    Ok(TrainOutcome {
        bundle,
        evaluation,
        train_metrics,
        history,
        gates: gate_results,
        n_train: x_train.nrows(),
        n_test: x_test.nrows(),
        test_frame: test.clone(),
    })
}

enum Targets {
    Classes(Vec<usize>),
    Values(Vec<f64>),
    None,
}

/// Classes (from the prepared training rows) and both sides' encoded targets.
fn encode(
    task: Task,
    target: Option<&str>,
    train: &Frame,
    test: &Frame,
) -> Result<(Vec<String>, Targets, Targets), TrainError> {
    match (task, target) {
        (Task::Classification, Some(t)) => {
            let classes = target::classes(&[train], t)?;
            let y_train = target::encode_classes(train, t, &classes)?;
            let y_test = target::encode_classes(test, t, &classes)?;
            Ok((classes, Targets::Classes(y_train), Targets::Classes(y_test)))
        }
        (Task::Regression, Some(t)) => {
            target::check_varies(&[train], t)?;
            Ok((
                Vec::new(),
                Targets::Values(target::encode_values(train, t)?),
                Targets::Values(target::encode_values(test, t)?),
            ))
        }
        _ => Ok((Vec::new(), Targets::None, Targets::None)),
    }
}

fn actual<'a>(model: &Model, x: &'a Array2<f64>, predictions: &Predictions, y: &'a Targets) -> Actual<'a> {
    match y {
        Targets::Classes(y) => Actual::Classes(y),
        Targets::Values(y) => Actual::Values(y),
        Targets::None => {
            let inertia = match (model, predictions) {
                (Model::KMeans(m), Predictions::Clusters { cluster }) => {
                    model::inertia(x, m.centroids(), cluster)
                }
                _ => f64::NAN,
            };
            Actual::Features { x: x.as_slice().unwrap_or(&[]), n_cols: x.ncols(), inertia }
        }
    }
}

/// Each prepared row's slice value (text; missing shows as `(missing)`).
fn slice_values(raw: &Frame, column: &str, applied: &Applied) -> Result<Vec<String>, TrainError> {
    let data = &raw
        .column(column)
        .ok_or_else(|| TrainError::UnknownColumn {
            what: "slice",
            column: column.into(),
            available: target::available(raw),
        })?
        .data;
    Ok(applied.rows.iter().map(|&r| data.text(r).unwrap_or_else(|| "(missing)".into())).collect())
}

/// The most distinct values a string input's signature lists.
const MAX_SIGNATURE_CATEGORIES: usize = 100;

fn make_bundle(
    req: &TrainRequest,
    task: Task,
    transform: FittedTransform,
    model: Model,
    train: &Frame,
    classes: &[String],
) -> Result<Bundle, TrainError> {
    let target = transform.target.clone();
    let inputs = transform
        .input
        .iter()
        .filter(|c| Some(&c.name) != target.as_ref())
        .map(|c| {
            let data = train.column(&c.name).map(|col| &col.data);
            let nullable = data.is_some_and(|d| (0..d.len()).any(|i| d.is_missing(i)));
            let categories = match (c.column_type, data) {
                (ColumnType::String, Some(d)) => {
                    let set: std::collections::BTreeSet<String> =
                        (0..d.len()).filter_map(|i| d.text(i)).collect();
                    (set.len() <= MAX_SIGNATURE_CATEGORIES).then(|| set.into_iter().collect())
                }
                _ => None,
            };
            SignatureColumn { name: c.name.clone(), column_type: c.column_type, nullable, categories }
        })
        .collect();
    let output = OutputSchema {
        task,
        name: target.clone().unwrap_or_else(|| "cluster".into()),
        classes: classes.to_vec(),
    };
    let schema: Vec<(String, ColumnType)> =
        transform.input.iter().map(|c| (c.name.clone(), c.column_type)).collect();
    let columns: Vec<Column> =
        transform.input.iter().filter_map(|c| train.column(&c.name).cloned()).collect();
    let mut profiler = Profiler::new(&schema, ProfileConfig::default())
        .map_err(|e| TrainError::Bundle(format!("profiling the training rows: {e}")))?;
    profiler
        .push(&Frame { columns })
        .map_err(|e| TrainError::Bundle(format!("profiling the training rows: {e}")))?;
    Ok(Bundle {
        format_version: Bundle::FORMAT_VERSION,
        algorithm: req.algorithm.clone(),
        task,
        transform,
        signature: Signature { inputs, output },
        model,
        profile: profiler.finish(),
        metadata: BTreeMap::new(),
    })
}

/// A bundle's prediction with the prepared frame and matrix it came from.
struct Scored {
    applied: Applied,
    x: Array2<f64>,
    predictions: Predictions,
}

fn score(bundle: &Bundle, frame: &Frame) -> Result<Scored, TrainError> {
    let applied = apply_rows(&bundle.transform, frame)?;
    let x = bundle::matrix(&applied.frame, bundle.transform.target.as_deref())?;
    let predictions = bundle.model.predict(&x, bundle.classes());
    Ok(Scored { applied, x, predictions })
}

/// Scalar metrics (or the full evaluation) of a bundle on raw rows that carry the target.
fn evaluate_scored(
    bundle: &Bundle,
    frame: &Frame,
    scored: &Scored,
    slice_column: Option<&str>,
) -> Result<Evaluation, TrainError> {
    let y = match (bundle.task, bundle.transform.target.as_deref()) {
        (Task::Classification, Some(t)) => {
            target::check(frame, t, bundle.task)?;
            Targets::Classes(target::encode_classes(&scored.applied.frame, t, bundle.classes())?)
        }
        (Task::Regression, Some(t)) => {
            target::check(frame, t, bundle.task)?;
            Targets::Values(target::encode_values(&scored.applied.frame, t)?)
        }
        _ => Targets::None,
    };
    let slices = match slice_column {
        Some(c) => Some((c, slice_values(frame, c, &scored.applied)?)),
        None => None,
    };
    Ok(evaluate::evaluation(
        &scored.predictions,
        &actual(&bundle.model, &scored.x, &scored.predictions, &y),
        slices.as_ref().map(|(c, v)| (*c, v.as_slice())),
    ))
}

/// Evaluate a stored bundle on raw rows that carry the target column.
pub fn evaluate_bundle(
    bundle: &Bundle,
    test: &Frame,
    slice_column: Option<&str>,
) -> Result<Evaluation, TrainError> {
    let scored = score(bundle, test)?;
    if scored.x.nrows() == 0 {
        return Err(TrainError::NoRows { side: "test" });
    }
    evaluate_scored(bundle, test, &scored, slice_column)
}
