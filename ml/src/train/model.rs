//! The fitted models a bundle stores, how each algorithm is fitted, and how a
//! model turns a feature matrix into predictions.
//!
//! linfa's fitted types are stored as they are where they serialise and predict
//! correctly (logistic regression, Gaussian naive Bayes, k-means). The linear
//! models are stored as coefficients and intercept: linfa-elasticnet centres `y`
//! but not `X` when fitting an intercept (scikit-learn centres both), so we centre
//! `X` ourselves and fold the means into the intercept. Trees: see `tree.rs`.

use std::collections::HashMap;

use domain::training::Algorithm;
use linfa::DatasetBase;
use linfa::traits::{Fit, Predict};
use linfa_bayes::{GaussianNb, NaiveBayes};
use linfa_clustering::KMeans;
use linfa_elasticnet::ElasticNet;
use linfa_linear::LinearRegression;
use linfa_logistic::{
    FittedLogisticRegression, LogisticRegression, MultiFittedLogisticRegression, MultiLogisticRegression,
};
use linfa_nn::distance::L2Dist;
use ndarray::{Array1, Array2, Axis};
use rand_xoshiro::Xoshiro256Plus;
use rand_xoshiro::rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

use super::HistoryPoint;
use super::error::TrainError;
use super::tree::{self, Bagging, Growth, Tree};

/// A fitted model. Class indices everywhere refer to the bundle's sorted classes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// Two classes; linfa's probability is that of its positive label.
    LogisticBinary(FittedLogisticRegression<f64, usize>),
    LogisticMulti(MultiFittedLogisticRegression<f64, usize>),
    /// `y = x · coefficients + intercept` (all linear regression algorithms).
    Linear {
        coefficients: Vec<f64>,
        intercept: f64,
    },
    Tree(Tree),
    /// Probabilities are the trees' vote shares.
    Forest {
        trees: Vec<Tree>,
        n_classes: usize,
    },
    GaussianNb {
        model: GaussianNb<f64, usize>,
        n_classes: usize,
    },
    KMeans(KMeans<f64, L2Dist>),
}

/// What a model says about each row of a matrix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Predictions {
    Classes {
        class: Vec<usize>,
        /// Row-major `n x classes.len()`.
        proba: Vec<f64>,
        classes: Vec<String>,
    },
    Values(Vec<f64>),
    Clusters {
        cluster: Vec<usize>,
    },
}

impl Predictions {
    pub fn len(&self) -> usize {
        match self {
            Predictions::Classes { class, .. } => class.len(),
            Predictions::Values(v) => v.len(),
            Predictions::Clusters { cluster } => cluster.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The given rows, in order.
    pub fn take(&self, rows: &[usize]) -> Predictions {
        match self {
            Predictions::Classes { class, proba, classes } => {
                let k = classes.len();
                Predictions::Classes {
                    class: rows.iter().map(|&r| class[r]).collect(),
                    proba: rows.iter().flat_map(|&r| proba[r * k..(r + 1) * k].iter().copied()).collect(),
                    classes: classes.clone(),
                }
            }
            Predictions::Values(v) => Predictions::Values(rows.iter().map(|&r| v[r]).collect()),
            Predictions::Clusters { cluster } => {
                Predictions::Clusters { cluster: rows.iter().map(|&r| cluster[r]).collect() }
            }
        }
    }
}

/// The labels a model learns from.
pub enum Labels<'a> {
    Classes { y: &'a [usize], n_classes: usize },
    Values(&'a [f64]),
    None,
}

/// Where `fit` reports progress and checks for cancellation; `holdout` (features,
/// class indices) lets a forest report held-out accuracy as it grows.
pub struct FitContext<'a, 'h> {
    pub seed: u64,
    pub cancelled: &'a (dyn Fn() -> bool + Sync),
    pub report: &'a mut dyn FnMut(f64, Option<i64>, Vec<(String, f64)>),
    pub holdout: Option<(&'h Array2<f64>, &'h [usize])>,
}

impl FitContext<'_, '_> {
    fn check(&self) -> Result<(), TrainError> {
        if (self.cancelled)() { Err(TrainError::Cancelled) } else { Ok(()) }
    }
}

fn fit_error(algorithm: &'static str) -> impl Fn(String) -> TrainError {
    move |message| TrainError::Fit { algorithm, message }
}

fn classes_of<'a>(labels: &Labels<'a>, algorithm: &'static str) -> Result<(&'a [usize], usize), TrainError> {
    match labels {
        Labels::Classes { y, n_classes } => Ok((y, *n_classes)),
        _ => Err(TrainError::Fit { algorithm, message: "internal error: class labels are missing".into() }),
    }
}

fn values_of<'a>(labels: &Labels<'a>, algorithm: &'static str) -> Result<&'a [f64], TrainError> {
    match labels {
        Labels::Values(y) => Ok(y),
        _ => Err(TrainError::Fit { algorithm, message: "internal error: target values are missing".into() }),
    }
}

/// Fit `algorithm` on `x` (rows x features).
pub fn fit(
    algorithm: &Algorithm,
    x: &Array2<f64>,
    labels: Labels,
    ctx: &mut FitContext,
) -> Result<(Model, Vec<HistoryPoint>), TrainError> {
    let name = algorithm.name();
    let label = Algorithm::label(name);
    let mut history = Vec::new();
    let model = match *algorithm {
        Algorithm::LogisticRegression { alpha, max_iterations, fit_intercept } => {
            let (y, n_classes) = classes_of(&labels, label)?;
            let dataset = DatasetBase::new(x.clone(), Array1::from(y.to_vec()));
            if n_classes == 2 {
                let model = LogisticRegression::default()
                    .alpha(alpha)
                    .max_iterations(max_iterations)
                    .with_intercept(fit_intercept)
                    .fit(&dataset)
                    .map_err(|e| fit_error(label)(e.to_string()))?;
                finite(model.params().iter().chain([&model.intercept()]), label)?;
                Model::LogisticBinary(model)
            } else {
                let model = MultiLogisticRegression::default()
                    .alpha(alpha)
                    .max_iterations(max_iterations)
                    .with_intercept(fit_intercept)
                    .fit(&dataset)
                    .map_err(|e| fit_error(label)(e.to_string()))?;
                finite(model.params().iter().chain(model.intercept().iter()), label)?;
                Model::LogisticMulti(model)
            }
        }
        Algorithm::LinearRegression { fit_intercept } => {
            let y = values_of(&labels, label)?;
            let dataset = DatasetBase::new(x.clone(), Array1::from(y.to_vec()));
            let model = LinearRegression::new().with_intercept(fit_intercept).fit(&dataset).map_err(|e| {
                fit_error(label)(format!(
                    "{e} (collinear features, e.g. a one-hot column for every category? \
                         drop one, or use ridge)"
                ))
            })?;
            let coefficients = model.params().to_vec();
            finite(coefficients.iter().chain([&model.intercept()]), label)?;
            Model::Linear { coefficients, intercept: model.intercept() }
        }
        // scikit-learn's Ridge minimises ||y - Xw||² + alpha ||w||²; the elastic net
        // objective with l1_ratio 0 is that divided by 2n, so its penalty is alpha / n.
        Algorithm::Ridge { alpha, fit_intercept } => {
            let n = x.nrows().max(1) as f64;
            elastic_net(x, values_of(&labels, label)?, alpha / n, 0.0, fit_intercept, 1000, 1e-4, label)?
        }
        Algorithm::Lasso { alpha, fit_intercept, max_iterations, tolerance } => {
            let y = values_of(&labels, label)?;
            elastic_net(x, y, alpha, 1.0, fit_intercept, max_iterations, tolerance, label)?
        }
        Algorithm::ElasticNet { alpha, l1_ratio, fit_intercept, max_iterations, tolerance } => {
            let y = values_of(&labels, label)?;
            elastic_net(x, y, alpha, l1_ratio, fit_intercept, max_iterations, tolerance, label)?
        }
        Algorithm::DecisionTree { max_depth, min_samples_split, criterion } => {
            let (y, n_classes) = classes_of(&labels, label)?;
            let growth = Growth { max_depth, min_samples_split, criterion };
            let features: Vec<usize> = (0..x.ncols()).collect();
            Model::Tree(tree::grow(x.view(), y, n_classes, &features, growth)?)
        }
        Algorithm::RandomForest { n_trees, max_depth, feature_fraction, bootstrap_fraction } => {
            let (y, n_classes) = classes_of(&labels, label)?;
            let growth = Growth { max_depth, min_samples_split: 2, criterion: Default::default() };
            let bagging = Bagging { feature_fraction, bootstrap_fraction, seed: ctx.seed };
            // Ten batches: progress, cancellation and a held-out accuracy curve.
            let batch = n_trees.div_ceil(10).max(1);
            let mut trees: Vec<Tree> = Vec::with_capacity(n_trees);
            while trees.len() < n_trees {
                ctx.check()?;
                let count = batch.min(n_trees - trees.len());
                trees.extend(tree::grow_forest_batch(x, y, n_classes, growth, bagging, trees.len(), count)?);
                let step = trees.len() as i64;
                let mut metrics = Vec::new();
                if let Some((hx, hy)) = ctx.holdout {
                    let forest = Model::Forest { trees: trees.clone(), n_classes };
                    if let Predictions::Classes { class, .. } =
                        forest.predict(hx, &vec![String::new(); n_classes])
                        && !hy.is_empty()
                    {
                        let right = class.iter().zip(hy).filter(|(a, b)| a == b).count();
                        let accuracy = right as f64 / hy.len() as f64;
                        metrics.push(("accuracy".to_string(), accuracy));
                        history.push(HistoryPoint {
                            step,
                            metrics: [("accuracy".to_string(), accuracy)].into_iter().collect(),
                        });
                    }
                }
                (ctx.report)(trees.len() as f64 / n_trees as f64, Some(step), metrics);
            }
            Model::Forest { trees, n_classes }
        }
        Algorithm::GaussianNb { var_smoothing } => {
            let (y, n_classes) = classes_of(&labels, label)?;
            let dataset = DatasetBase::new(x.clone(), Array1::from(y.to_vec()));
            let model = GaussianNb::params()
                .var_smoothing(var_smoothing)
                .fit(&dataset)
                .map_err(|e| fit_error(label)(e.to_string()))?;
            Model::GaussianNb { model, n_classes }
        }
        Algorithm::KMeans { n_clusters, n_runs, max_iterations, tolerance } => {
            if x.nrows() < n_clusters {
                return Err(TrainError::TooFewRows { clusters: n_clusters, rows: x.nrows() });
            }
            let dataset = DatasetBase::from(x.clone());
            let mut best: Option<(f64, KMeans<f64, L2Dist>)> = None;
            // One run at a time (linfa's n_runs would hide the per-run inertia).
            for run in 0..n_runs {
                ctx.check()?;
                let rng = Xoshiro256Plus::seed_from_u64(tree::mix(ctx.seed, run as u64));
                let model = KMeans::params_with_rng(n_clusters, rng)
                    .n_runs(1)
                    .max_n_iterations(max_iterations)
                    .tolerance(tolerance)
                    .fit(&dataset)
                    .map_err(|e| fit_error(label)(e.to_string()))?;
                let assigned = model.predict(x);
                let inertia = inertia(x, model.centroids(), assigned.as_slice().unwrap_or(&[]));
                history.push(HistoryPoint {
                    step: run as i64 + 1,
                    metrics: [("inertia".to_string(), inertia)].into_iter().collect(),
                });
                (ctx.report)(
                    (run + 1) as f64 / n_runs as f64,
                    Some(run as i64 + 1),
                    vec![("inertia".to_string(), inertia)],
                );
                if best.as_ref().is_none_or(|(b, _)| inertia < *b) {
                    best = Some((inertia, model));
                }
            }
            let (_, model) = best.ok_or_else(|| fit_error(label)("no run finished".into()))?;
            finite(model.centroids().iter(), label)?;
            Model::KMeans(model)
        }
    };
    Ok((model, history))
}

fn finite<'v>(mut values: impl Iterator<Item = &'v f64>, algorithm: &'static str) -> Result<(), TrainError> {
    if values.all(|v| v.is_finite()) { Ok(()) } else { Err(TrainError::Diverged { algorithm }) }
}

/// Sum of squared distances to the assigned centroid (scikit-learn's `inertia_`).
pub fn inertia(x: &Array2<f64>, centroids: &Array2<f64>, assigned: &[usize]) -> f64 {
    x.axis_iter(Axis(0))
        .zip(assigned)
        .map(|(row, &c)| row.iter().zip(centroids.row(c)).map(|(a, b)| (a - b) * (a - b)).sum::<f64>())
        .sum()
}

#[allow(clippy::too_many_arguments)]
fn elastic_net(
    x: &Array2<f64>,
    y: &[f64],
    penalty: f64,
    l1_ratio: f64,
    fit_intercept: bool,
    max_iterations: u32,
    tolerance: f64,
    label: &'static str,
) -> Result<Model, TrainError> {
    let means = if fit_intercept {
        x.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(x.ncols()))
    } else {
        Array1::zeros(x.ncols())
    };
    let centred = x - &means.view().insert_axis(Axis(0));
    let dataset = DatasetBase::new(centred, Array1::from(y.to_vec()));
    let model = ElasticNet::params()
        .penalty(penalty)
        .l1_ratio(l1_ratio)
        .with_intercept(fit_intercept)
        .max_iterations(max_iterations)
        .tolerance(tolerance)
        .fit(&dataset)
        .map_err(|e| fit_error(label)(e.to_string()))?;
    let coefficients = model.hyperplane().to_vec();
    let intercept = model.intercept() - means.dot(model.hyperplane());
    finite(coefficients.iter().chain([&intercept]), label)?;
    Ok(Model::Linear { coefficients, intercept })
}

impl Model {
    /// How many feature columns the model reads, where it records that.
    pub fn n_features(&self) -> Option<usize> {
        match self {
            Model::LogisticBinary(m) => Some(m.params().len()),
            Model::LogisticMulti(m) => Some(m.params().nrows()),
            Model::Linear { coefficients, .. } => Some(coefficients.len()),
            Model::KMeans(m) => Some(m.centroids().ncols()),
            Model::Tree(_) | Model::Forest { .. } | Model::GaussianNb { .. } => None,
        }
    }

    /// Predict every row of `x`. `classes` names the class indices (classification).
    pub fn predict(&self, x: &Array2<f64>, classes: &[String]) -> Predictions {
        let k = classes.len();
        let n = x.nrows();
        let from_proba = |proba: Vec<f64>| {
            let class = (0..n).map(|i| tree::argmax(&proba[i * k..(i + 1) * k])).collect();
            Predictions::Classes { class, proba, classes: classes.to_vec() }
        };
        match self {
            Model::LogisticBinary(m) => {
                let p = m.predict_probabilities(x);
                let (pos, neg) = (m.labels().pos.class, m.labels().neg.class);
                let mut proba = vec![0.0; n * k];
                for (i, &pi) in p.iter().enumerate() {
                    if let Some(v) = proba.get_mut(i * k + pos) {
                        *v = pi;
                    }
                    if let Some(v) = proba.get_mut(i * k + neg) {
                        *v = 1.0 - pi;
                    }
                }
                from_proba(proba)
            }
            Model::LogisticMulti(m) => {
                let p = m.predict_probabilities(x);
                let mut proba = vec![0.0; n * k];
                for (i, row) in p.axis_iter(Axis(0)).enumerate() {
                    for (&c, &v) in m.classes().iter().zip(row.iter()) {
                        if let Some(slot) = proba.get_mut(i * k + c) {
                            *slot = v;
                        }
                    }
                }
                from_proba(proba)
            }
            Model::Linear { coefficients, intercept } => Predictions::Values(
                x.axis_iter(Axis(0))
                    .map(|row| row.iter().zip(coefficients).map(|(a, b)| a * b).sum::<f64>() + intercept)
                    .collect(),
            ),
            Model::Tree(t) => {
                let mut proba = Vec::with_capacity(n * k);
                for row in x.axis_iter(Axis(0)) {
                    let leaf = t.leaf(&row.to_vec()).to_vec();
                    proba.extend((0..k).map(|c| leaf.get(c).copied().unwrap_or(0.0)));
                }
                from_proba(proba)
            }
            Model::Forest { trees, .. } => {
                // Count votes, then divide once: shares are exact multiples of 1/n.
                let mut votes = vec![0u32; n * k];
                for (i, row) in x.axis_iter(Axis(0)).enumerate() {
                    let row = row.to_vec();
                    for t in trees {
                        if let Some(v) = votes.get_mut(i * k + t.class(&row)) {
                            *v += 1;
                        }
                    }
                }
                let total = trees.len().max(1) as f64;
                from_proba(votes.into_iter().map(|v| f64::from(v) / total).collect())
            }
            Model::GaussianNb { model, .. } => {
                let jll: HashMap<&usize, Array1<f64>> = model.joint_log_likelihood(x.view());
                let mut proba = vec![f64::NEG_INFINITY; n * k];
                for (&&c, values) in &jll {
                    for (i, v) in values.iter().enumerate() {
                        if let Some(slot) = proba.get_mut(i * k + c) {
                            *slot = *v;
                        }
                    }
                }
                // Softmax of the joint log-likelihoods, shifted by the row maximum so
                // that very unlikely rows do not underflow to 0/0.
                for row in proba.chunks_mut(k.max(1)) {
                    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let sum: f64 = row.iter().map(|v| (v - max).exp()).sum();
                    for v in row.iter_mut() {
                        *v = (*v - max).exp() / sum;
                    }
                }
                from_proba(proba)
            }
            Model::KMeans(m) => {
                let cluster: Array1<usize> = m.predict(x);
                Predictions::Clusters { cluster: cluster.to_vec() }
            }
        }
    }
}
