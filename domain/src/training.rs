//! Training: what a user asks for (`TrainingSpec`: data, target, algorithm,
//! hyper-parameters), what comes back (`Evaluation`, gate results), and the
//! description a model bundle carries (`Signature`).
//!
//! Hyper-parameters are typed per algorithm (`Algorithm`), tagged by `name`, so a
//! value of the wrong type or an unknown parameter is a serde error that names
//! the field, and [`Algorithm::validate`] names any value out of range. A search
//! samples plain JSON values and goes through the same two checks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::datasets::ColumnType;
use crate::prepare::TransformSpec;

/// What kind of model: decided by the algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Classification,
    Regression,
    Clustering,
}

impl Task {
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
            Task::Clustering => "clustering",
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_logistic_alpha() -> f64 {
    1.0
}
fn default_max_iterations() -> u64 {
    100
}
fn default_alpha() -> f64 {
    1.0
}
fn default_l1_ratio() -> f64 {
    0.5
}
fn default_elastic_iterations() -> u32 {
    1000
}
fn default_tolerance() -> f64 {
    1e-4
}
fn default_min_samples_split() -> usize {
    2
}
fn default_n_trees() -> usize {
    100
}
fn default_feature_fraction() -> f64 {
    0.5
}
fn default_bootstrap_fraction() -> f64 {
    1.0
}
fn default_var_smoothing() -> f64 {
    1e-9
}
fn default_n_clusters() -> usize {
    3
}
fn default_n_runs() -> usize {
    10
}
fn default_kmeans_iterations() -> u64 {
    300
}

/// How a tree measures the quality of a split.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SplitQuality {
    #[default]
    Gini,
    Entropy,
}

/// A built-in algorithm and its hyper-parameters. Every field has a default, so
/// `{"name": "random_forest"}` is a complete request.
///
/// linfa has no k-nearest-neighbours classifier and no gradient boosting; bring
/// those through the command trainer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum Algorithm {
    /// Binary or multinomial (more than two classes) logistic regression, L2
    /// penalty `alpha` (0 = none), L-BFGS.
    LogisticRegression {
        #[serde(default = "default_logistic_alpha")]
        alpha: f64,
        #[serde(default = "default_max_iterations")]
        max_iterations: u64,
        #[serde(default = "default_true")]
        fit_intercept: bool,
    },
    /// Ordinary least squares.
    LinearRegression {
        #[serde(default = "default_true")]
        fit_intercept: bool,
    },
    /// L2-penalised least squares (elastic net with `l1_ratio` 0).
    Ridge {
        #[serde(default = "default_alpha")]
        alpha: f64,
        #[serde(default = "default_true")]
        fit_intercept: bool,
    },
    /// L1-penalised least squares (elastic net with `l1_ratio` 1).
    Lasso {
        #[serde(default = "default_alpha")]
        alpha: f64,
        #[serde(default = "default_true")]
        fit_intercept: bool,
        #[serde(default = "default_elastic_iterations")]
        max_iterations: u32,
        #[serde(default = "default_tolerance")]
        tolerance: f64,
    },
    /// Least squares with `alpha * (l1_ratio * L1 + (1 - l1_ratio) / 2 * L2)`,
    /// scikit-learn's parametrisation.
    ElasticNet {
        #[serde(default = "default_alpha")]
        alpha: f64,
        #[serde(default = "default_l1_ratio")]
        l1_ratio: f64,
        #[serde(default = "default_true")]
        fit_intercept: bool,
        #[serde(default = "default_elastic_iterations")]
        max_iterations: u32,
        #[serde(default = "default_tolerance")]
        tolerance: f64,
    },
    /// A CART classification tree.
    DecisionTree {
        /// `None`: grow until leaves are pure or too small to split.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_depth: Option<usize>,
        #[serde(default = "default_min_samples_split")]
        min_samples_split: usize,
        #[serde(default)]
        criterion: SplitQuality,
    },
    /// Bagged classification trees, each on a bootstrap sample and a random
    /// subset of the features; probabilities are the trees' vote shares.
    RandomForest {
        #[serde(default = "default_n_trees")]
        n_trees: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_depth: Option<usize>,
        /// Fraction of the features each tree sees, in (0, 1].
        #[serde(default = "default_feature_fraction")]
        feature_fraction: f64,
        /// Bootstrap sample size as a fraction of the training rows, in (0, 1].
        #[serde(default = "default_bootstrap_fraction")]
        bootstrap_fraction: f64,
    },
    /// Gaussian naive Bayes.
    GaussianNb {
        /// Added to every variance, as a fraction of the largest one.
        #[serde(default = "default_var_smoothing")]
        var_smoothing: f64,
    },
    /// k-means (k-means++ initialisation, best of `n_runs`).
    KMeans {
        #[serde(default = "default_n_clusters")]
        n_clusters: usize,
        #[serde(default = "default_n_runs")]
        n_runs: usize,
        #[serde(default = "default_kmeans_iterations")]
        max_iterations: u64,
        #[serde(default = "default_tolerance")]
        tolerance: f64,
    },
}

/// One built-in algorithm as the "new run" form lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlgorithmInfo {
    pub name: String,
    pub label: String,
    pub task: Task,
    /// The algorithm with every parameter at its default.
    pub defaults: serde_json::Value,
}

impl Algorithm {
    /// Every algorithm's `name`, in the order the form lists them.
    pub const NAMES: [&'static str; 9] = [
        "logistic_regression",
        "random_forest",
        "decision_tree",
        "gaussian_nb",
        "linear_regression",
        "ridge",
        "lasso",
        "elastic_net",
        "k_means",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::LogisticRegression { .. } => "logistic_regression",
            Algorithm::LinearRegression { .. } => "linear_regression",
            Algorithm::Ridge { .. } => "ridge",
            Algorithm::Lasso { .. } => "lasso",
            Algorithm::ElasticNet { .. } => "elastic_net",
            Algorithm::DecisionTree { .. } => "decision_tree",
            Algorithm::RandomForest { .. } => "random_forest",
            Algorithm::GaussianNb { .. } => "gaussian_nb",
            Algorithm::KMeans { .. } => "k_means",
        }
    }

    pub fn label(name: &str) -> &'static str {
        match name {
            "logistic_regression" => "Logistic regression",
            "linear_regression" => "Linear regression",
            "ridge" => "Ridge regression",
            "lasso" => "Lasso",
            "elastic_net" => "Elastic net",
            "decision_tree" => "Decision tree",
            "random_forest" => "Random forest",
            "gaussian_nb" => "Gaussian naive Bayes",
            "k_means" => "k-means",
            _ => "Unknown",
        }
    }

    pub fn task(&self) -> Task {
        match self {
            Algorithm::LogisticRegression { .. }
            | Algorithm::DecisionTree { .. }
            | Algorithm::RandomForest { .. }
            | Algorithm::GaussianNb { .. } => Task::Classification,
            Algorithm::LinearRegression { .. }
            | Algorithm::Ridge { .. }
            | Algorithm::Lasso { .. }
            | Algorithm::ElasticNet { .. } => Task::Regression,
            Algorithm::KMeans { .. } => Task::Clustering,
        }
    }

    /// The algorithm called `name` with default hyper-parameters.
    pub fn with_defaults(name: &str) -> Result<Algorithm, String> {
        Algorithm::from_params(name, &serde_json::Map::new())
    }

    /// Build from a name and a JSON object of hyper-parameters, then check ranges.
    /// Errors name the parameter: `hyper-parameter alpha: invalid type: string "x", expected f64`.
    pub fn from_params(
        name: &str,
        params: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Algorithm, String> {
        if !Algorithm::NAMES.contains(&name) {
            return Err(format!(
                "unknown algorithm `{name}`; choose one of: {}",
                Algorithm::NAMES.join(", ")
            ));
        }
        let mut object = params.clone();
        object.insert("name".into(), serde_json::Value::String(name.into()));
        let algorithm: Algorithm =
            serde_json::from_value(serde_json::Value::Object(object)).map_err(|e| {
                // serde names unknown fields but not the field of a bad value: find it.
                let culprit = params.iter().find(|(k, v)| {
                    let one = serde_json::json!({ "name": name, k.as_str(): v });
                    serde_json::from_value::<Algorithm>(one).is_err()
                });
                match culprit {
                    Some((k, _)) => format!("hyper-parameter {k} of {name}: {e}"),
                    None => format!("hyper-parameters of {name}: {e}"),
                }
            })?;
        algorithm.validate()?;
        Ok(algorithm)
    }

    /// The hyper-parameters as a JSON object (without `name`), as logged as params.
    pub fn params(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut m)) => {
                m.remove("name");
                m
            }
            _ => serde_json::Map::new(),
        }
    }

    /// Ranges serde cannot express. The message names the parameter and the range.
    pub fn validate(&self) -> Result<(), String> {
        fn at_least(name: &str, v: f64, min: f64) -> Result<(), String> {
            if v.is_finite() && v >= min {
                Ok(())
            } else {
                Err(format!("hyper-parameter {name} must be >= {min}, got {v}"))
            }
        }
        fn fraction(name: &str, v: f64) -> Result<(), String> {
            if v > 0.0 && v <= 1.0 {
                Ok(())
            } else {
                Err(format!("hyper-parameter {name} must be in (0, 1], got {v}"))
            }
        }
        fn positive(name: &str, v: f64) -> Result<(), String> {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("hyper-parameter {name} must be > 0, got {v}"))
            }
        }
        fn count(name: &str, v: u64, min: u64) -> Result<(), String> {
            if v >= min { Ok(()) } else { Err(format!("hyper-parameter {name} must be >= {min}, got {v}")) }
        }
        match *self {
            Algorithm::LogisticRegression { alpha, max_iterations, .. } => {
                at_least("alpha", alpha, 0.0)?;
                count("max_iterations", max_iterations, 1)
            }
            Algorithm::LinearRegression { .. } => Ok(()),
            Algorithm::Ridge { alpha, .. } => at_least("alpha", alpha, 0.0),
            Algorithm::Lasso { alpha, max_iterations, tolerance, .. } => {
                at_least("alpha", alpha, 0.0)?;
                count("max_iterations", max_iterations.into(), 1)?;
                positive("tolerance", tolerance)
            }
            Algorithm::ElasticNet { alpha, l1_ratio, max_iterations, tolerance, .. } => {
                at_least("alpha", alpha, 0.0)?;
                if !(0.0..=1.0).contains(&l1_ratio) {
                    return Err(format!("hyper-parameter l1_ratio must be in [0, 1], got {l1_ratio}"));
                }
                count("max_iterations", max_iterations.into(), 1)?;
                positive("tolerance", tolerance)
            }
            Algorithm::DecisionTree { max_depth, min_samples_split, .. } => {
                if let Some(d) = max_depth {
                    count("max_depth", d as u64, 1)?;
                }
                count("min_samples_split", min_samples_split as u64, 2)
            }
            Algorithm::RandomForest { n_trees, max_depth, feature_fraction, bootstrap_fraction } => {
                count("n_trees", n_trees as u64, 1)?;
                if n_trees > 2000 {
                    return Err(format!("hyper-parameter n_trees must be <= 2000, got {n_trees}"));
                }
                if let Some(d) = max_depth {
                    count("max_depth", d as u64, 1)?;
                }
                fraction("feature_fraction", feature_fraction)?;
                fraction("bootstrap_fraction", bootstrap_fraction)
            }
            Algorithm::GaussianNb { var_smoothing } => at_least("var_smoothing", var_smoothing, 0.0),
            Algorithm::KMeans { n_clusters, n_runs, max_iterations, tolerance } => {
                count("n_clusters", n_clusters as u64, 2)?;
                count("n_runs", n_runs as u64, 1)?;
                count("max_iterations", max_iterations, 1)?;
                positive("tolerance", tolerance)
            }
        }
    }

    /// The catalogue for the "new run" form.
    pub fn catalogue() -> Vec<AlgorithmInfo> {
        Algorithm::NAMES
            .iter()
            .filter_map(|name| {
                let a = Algorithm::with_defaults(name).ok()?;
                Some(AlgorithmInfo {
                    name: name.to_string(),
                    label: Algorithm::label(name).to_string(),
                    task: a.task(),
                    defaults: serde_json::Value::Object(a.params()),
                })
            })
            .collect()
    }
}

/// A validation gate: `metric op threshold`, or relative to a baseline model's
/// value on the same evaluation set, or a floor for every slice.
///
/// Text forms (one per line in the form): `roc_auc >= 0.85`, `rmse <= 30`,
/// `roc_auc >= baseline - 0.5%`, `slice accuracy >= 0.7`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Gate {
    Threshold {
        metric: String,
        op: GateOp,
        value: f64,
    },
    /// Passes when the candidate is no worse than the baseline by more than
    /// `tolerance_pct` percent of the baseline's value ("worse" follows `op`:
    /// `>=` means higher is better).
    Baseline {
        metric: String,
        op: GateOp,
        tolerance_pct: f64,
    },
    /// Every slice's `metric` must satisfy `op value`.
    Slice {
        metric: String,
        op: GateOp,
        value: f64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum GateOp {
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "<")]
    Lt,
}

impl GateOp {
    pub fn as_str(self) -> &'static str {
        match self {
            GateOp::Ge => ">=",
            GateOp::Gt => ">",
            GateOp::Le => "<=",
            GateOp::Lt => "<",
        }
    }

    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            GateOp::Ge => left >= right,
            GateOp::Gt => left > right,
            GateOp::Le => left <= right,
            GateOp::Lt => left < right,
        }
    }

    fn parse(s: &str) -> Option<GateOp> {
        match s {
            ">=" => Some(GateOp::Ge),
            ">" => Some(GateOp::Gt),
            "<=" => Some(GateOp::Le),
            "<" => Some(GateOp::Lt),
            _ => None,
        }
    }
}

impl Gate {
    pub fn metric(&self) -> &str {
        match self {
            Gate::Threshold { metric, .. } | Gate::Baseline { metric, .. } | Gate::Slice { metric, .. } => {
                metric
            }
        }
    }

    /// Parse the text form. The error says what was expected.
    pub fn parse(text: &str) -> Result<Gate, String> {
        let usage = "write a gate as `metric >= 0.85`, `metric >= baseline - 0.5%` or `slice metric >= 0.7` (operators >=, >, <=, <)";
        let tokens: Vec<&str> = text.split_whitespace().collect();
        let (slice, rest) = match tokens.first() {
            Some(&"slice") => (true, &tokens[1..]),
            _ => (false, &tokens[..]),
        };
        let [metric, op, value @ ..] = rest else {
            return Err(format!("gate `{text}`: {usage}"));
        };
        let op =
            GateOp::parse(op).ok_or_else(|| format!("gate `{text}`: unknown operator `{op}`; {usage}"))?;
        let metric = metric.to_string();
        if !metric.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || metric.is_empty() {
            return Err(format!("gate `{text}`: `{metric}` is not a metric name; {usage}"));
        }
        match value {
            ["baseline"] if !slice => Ok(Gate::Baseline { metric, op, tolerance_pct: 0.0 }),
            [v] => {
                let value: f64 =
                    v.parse().map_err(|_| format!("gate `{text}`: `{v}` is not a number; {usage}"))?;
                if !value.is_finite() {
                    return Err(format!("gate `{text}`: the threshold must be a finite number"));
                }
                Ok(if slice {
                    Gate::Slice { metric, op, value }
                } else {
                    Gate::Threshold { metric, op, value }
                })
            }
            ["baseline", "-", pct] if !slice => {
                let tolerance_pct: f64 = pct
                    .strip_suffix('%')
                    .and_then(|p| p.parse().ok())
                    .filter(|p: &f64| p.is_finite() && *p >= 0.0)
                    .ok_or_else(|| {
                        format!("gate `{text}`: `{pct}` is not a percentage such as 0.5%; {usage}")
                    })?;
                Ok(Gate::Baseline { metric, op, tolerance_pct })
            }
            _ => Err(format!("gate `{text}`: {usage}")),
        }
    }

    /// The text form, as [`Gate::parse`] reads it.
    pub fn text(&self) -> String {
        match self {
            Gate::Threshold { metric, op, value } => format!("{metric} {} {value}", op.as_str()),
            Gate::Baseline { metric, op, tolerance_pct } if *tolerance_pct == 0.0 => {
                format!("{metric} {} baseline", op.as_str())
            }
            Gate::Baseline { metric, op, tolerance_pct } => {
                format!("{metric} {} baseline - {tolerance_pct}%", op.as_str())
            }
            Gate::Slice { metric, op, value } => format!("slice {metric} {} {value}", op.as_str()),
        }
    }
}

/// One gate's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GateResult {
    pub gate: String,
    pub passed: bool,
    /// The candidate's value (for a slice gate: the worst slice's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// What it was compared with (threshold, or the baseline's value less the tolerance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    pub detail: String,
}

/// Everything a training run needs. `POST /api/v1/training/runs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TrainingSpec {
    /// Dataset name or id.
    pub dataset: String,
    /// Version number; the latest when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// Experiment name; created when missing. Default: `<dataset>-training`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_name: Option<String>,
    /// Required for classification and regression, ignored for clustering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Input columns to use; all but the target when empty.
    #[serde(default)]
    pub features: Vec<String>,
    /// Preparation (steps and split). Its `target` is set from `target`. Without
    /// a split, a stratified (classification) or random 20% test split is used.
    #[serde(default)]
    pub prepare: TransformSpec,
    /// With no steps in `prepare`: fill missing values (median; most frequent for
    /// text), standardise numbers and one-hot encode text columns, chosen from the
    /// version's column types. What the CLI sends unless given a spec.
    #[serde(default)]
    pub auto_prepare: bool,
    /// Algorithm `name` plus hyper-parameters.
    pub algorithm: serde_json::Value,
    #[serde(default)]
    pub seed: u64,
    /// Categorical input column for per-slice metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice_column: Option<String>,
    /// Gates in text form, e.g. `roc_auc >= 0.85`.
    #[serde(default)]
    pub gates: Vec<String>,
    /// The baseline for `baseline` gates: a finished training run's id, or a
    /// registered model reference such as `models:/credit@production`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_run: Option<String>,
    /// With k >= 2, also run k-fold cross-validation on the training rows and log
    /// each metric's mean and std as `cv_<metric>` and `cv_<metric>_std`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cv_folds: Option<usize>,
}

/// The input columns a model takes, and what it returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Signature {
    pub inputs: Vec<SignatureColumn>,
    pub output: OutputSchema,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignatureColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: ColumnType,
    pub nullable: bool,
    /// For string columns the model was trained with a handful of values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutputSchema {
    pub task: Task,
    /// The target column's name (`cluster` for clustering).
    pub name: String,
    /// Class labels as text, in the order of the probability columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
}

/// A point of a curve (ROC: x = false positive rate, y = true positive rate;
/// PR: x = recall, y = precision; calibration: x = mean predicted, y = observed).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CurvePoint {
    pub x: f64,
    pub y: f64,
}

/// A named curve: one per class for multi-class ROC/PR (one-vs-rest), one for binary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Curve {
    pub label: String,
    /// Area under this curve.
    pub area: f64,
    pub points: Vec<CurvePoint>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CalibrationBin {
    /// Mean predicted probability of the positive class in the bin.
    pub predicted: f64,
    /// Fraction of positives among the bin's rows.
    pub observed: f64,
    pub count: u64,
}

/// One held-out row of a regression: actual, predicted.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Residual {
    pub actual: f64,
    pub predicted: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SliceMetrics {
    pub value: String,
    pub count: u64,
    pub metrics: BTreeMap<String, f64>,
}

/// Permutation importance of one input column: the drop of the primary metric
/// when the column's values are shuffled (mean and std over repeats).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeatureImportance {
    pub feature: String,
    pub mean: f64,
    pub std: f64,
}

/// The evaluation of a model on held-out rows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Evaluation {
    /// Rows evaluated.
    pub n_rows: u64,
    /// Scalar metrics by name (`accuracy`, `f1_macro`, `roc_auc`, `rmse`, ...).
    pub metrics: BTreeMap<String, f64>,
    /// Class labels (classification), indexing `confusion`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// `confusion[actual][predicted]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confusion: Vec<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roc: Vec<Curve>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pr: Vec<Curve>,
    /// Binary only: reliability bins of the positive class.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calibration: Vec<CalibrationBin>,
    /// Regression: actual vs predicted (at most a few thousand rows, sampled).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub residuals: Vec<Residual>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice_column: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slices: Vec<SliceMetrics>,
    /// The metric importance is measured with (higher is better for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance_metric: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub importance: Vec<FeatureImportance>,
}

/// How a search picks trials.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SearchMethod {
    /// Every combination of the ranges' grid points (at most `n_trials` of them).
    Grid,
    /// `n_trials` independent draws.
    #[default]
    Random,
}

/// The values one hyper-parameter may take in a search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ParamRange {
    /// One of these values (any JSON: numbers, strings, booleans, null).
    Choice { values: Vec<serde_json::Value> },
    /// An integer in `[low, high]`.
    Int { low: i64, high: i64 },
    /// A float drawn uniformly from `[low, high]`.
    Uniform { low: f64, high: f64 },
    /// A float whose logarithm is uniform: for penalties and learning rates.
    LogUniform { low: f64, high: f64 },
}

impl ParamRange {
    /// Empty or inverted ranges, non-positive log bounds.
    pub fn validate(&self, name: &str) -> Result<(), String> {
        let bad = |why: &str| Err(format!("search range of {name}: {why}"));
        match *self {
            ParamRange::Choice { ref values } if values.is_empty() => bad("give at least one value"),
            ParamRange::Int { low, high } if low > high => bad("low must not exceed high"),
            ParamRange::Uniform { low, high } if !(low.is_finite() && high.is_finite() && low <= high) => {
                bad("low and high must be finite with low <= high")
            }
            ParamRange::LogUniform { low, high } if !(low > 0.0 && high.is_finite() && low <= high) => {
                bad("log_uniform needs 0 < low <= high")
            }
            _ => Ok(()),
        }
    }
}

fn default_trials() -> usize {
    20
}

/// A hyper-parameter search. `POST /api/v1/training/searches`.
///
/// Every trial is a training run of `base` with the sampled values merged into
/// `base.algorithm`, queued as a job of its own (so trials spread over workers),
/// logged as a child run of the search's run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SearchSpec {
    pub base: TrainingSpec,
    #[serde(default)]
    pub method: SearchMethod,
    pub space: BTreeMap<String, ParamRange>,
    #[serde(default = "default_trials")]
    pub n_trials: usize,
    /// The metric to optimise; default: the task's primary metric. Direction
    /// follows [`higher_is_better`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<String>,
    /// With k >= 2, each trial also runs k-fold cross-validation and is judged by
    /// the folds' mean (logged as `cv_<metric>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cv_folds: Option<usize>,
}

/// The most trials one search may queue.
pub const MAX_TRIALS: usize = 500;

fn default_timeout_s() -> u64 {
    3600
}

/// A run of user code under the command-trainer contract (see `examples/command-trainer`).
/// `POST /api/v1/training/commands`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    pub dataset: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_name: Option<String>,
    /// Passed on as `CAIRN_TARGET`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The program and its arguments, e.g. `["python3", "train.py"]`. The program
    /// must be allowed by the server's `CAIRN_COMMAND_ALLOW`.
    pub command: Vec<String>,
    /// Given to the program as `params.json` and as `CAIRN_PARAM_<NAME>` variables.
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Killed after this many seconds.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u64,
}

/// A training run's lifecycle, as the queue and the trainer see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TrainingState {
    Queued,
    Running,
    Finished,
    Failed,
    Cancelled,
}

impl TrainingState {
    pub fn as_str(self) -> &'static str {
        match self {
            TrainingState::Queued => "queued",
            TrainingState::Running => "running",
            TrainingState::Finished => "finished",
            TrainingState::Failed => "failed",
            TrainingState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<TrainingState> {
        Some(match s {
            "queued" => TrainingState::Queued,
            "running" => TrainingState::Running,
            "finished" => TrainingState::Finished,
            "failed" => TrainingState::Failed,
            "cancelled" => TrainingState::Cancelled,
            _ => return None,
        })
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, TrainingState::Finished | TrainingState::Failed | TrainingState::Cancelled)
    }
}

/// Metrics of one iteration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IterationMetrics {
    pub step: i64,
    pub metrics: BTreeMap<String, f64>,
}

/// A training run (built-in, command or search) as lists show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrainingSummary {
    pub run_id: String,
    pub experiment_id: String,
    pub run_name: String,
    /// `builtin`, `command` or `search`.
    pub kind: String,
    pub state: TrainingState,
    pub stage: String,
    pub progress: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<Task>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_version: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gates_passed: Option<bool>,
    /// The run's headline metric (objective for searches), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_metric: Option<(String, f64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// One trial of a search: its sampled values and its objective.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Trial {
    pub run_id: String,
    pub run_name: String,
    pub state: TrainingState,
    pub params: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Everything the run page shows about a training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrainingDetail {
    pub summary: TrainingSummary,
    /// The request as submitted (`TrainingSpec`, `CommandSpec` or `SearchSpec`).
    pub spec: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_metrics: Option<BTreeMap<String, f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<Evaluation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<GateResult>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<IterationMetrics>,
    /// Run-artifact path of the model bundle (`model/bundle.json.gz` style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_path: Option<String>,
    /// Searches: the objective and the trials, best first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trials: Vec<Trial>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_run_id: Option<String>,
}

/// The reply to a submission.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrainingSubmitted {
    pub run_id: String,
    pub experiment_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Searches: the trials' run ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trials: Vec<String>,
}

/// Whether a bigger value of this metric is better (for choosing the best trial
/// and for baseline gates). Errors and losses are smaller-is-better.
pub fn higher_is_better(metric: &str) -> bool {
    !matches!(metric, "rmse" | "mae" | "mse" | "log_loss" | "inertia" | "brier") && !metric.ends_with("_loss")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_take_defaults_and_name_bad_parameters() {
        let a = Algorithm::with_defaults("random_forest").unwrap();
        assert_eq!(a.task(), Task::Classification);
        assert_eq!(a.params()["n_trees"], 100);

        let mut p = serde_json::Map::new();
        p.insert("alpha".into(), serde_json::json!("x"));
        let err = Algorithm::from_params("ridge", &p).unwrap_err();
        assert!(err.contains("invalid type") && err.contains("ridge"), "{err}");

        p.insert("alpha".into(), serde_json::json!(-1.0));
        let err = Algorithm::from_params("ridge", &p).unwrap_err();
        assert_eq!(err, "hyper-parameter alpha must be >= 0, got -1");

        p.insert("bogus".into(), serde_json::json!(1));
        assert!(Algorithm::from_params("ridge", &p).unwrap_err().contains("bogus"));
        assert!(
            Algorithm::from_params("svm", &serde_json::Map::new()).unwrap_err().contains("unknown algorithm")
        );
        assert_eq!(Algorithm::catalogue().len(), Algorithm::NAMES.len());
    }

    #[test]
    fn gates_parse_and_print() {
        for text in [
            "roc_auc >= 0.85",
            "rmse <= 30",
            "roc_auc >= baseline - 0.5%",
            "slice accuracy > 0.7",
            "r2 >= baseline",
        ] {
            let gate = Gate::parse(text).unwrap();
            assert_eq!(Gate::parse(&gate.text()).unwrap(), gate, "{text}");
        }
        assert_eq!(
            Gate::parse("roc_auc >= baseline - 0.5%").unwrap(),
            Gate::Baseline { metric: "roc_auc".into(), op: GateOp::Ge, tolerance_pct: 0.5 }
        );
        assert!(Gate::parse("roc_auc == 1").unwrap_err().contains("unknown operator"));
        assert!(Gate::parse("roc_auc >= high").unwrap_err().contains("not a number"));
        assert!(Gate::parse("slice acc >= baseline").is_err());
        assert!(GateOp::Le.holds(1.0, 1.0) && !GateOp::Lt.holds(1.0, 1.0));
        assert!(higher_is_better("roc_auc") && !higher_is_better("rmse"));
    }
}
