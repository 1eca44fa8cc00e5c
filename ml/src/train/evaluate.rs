//! An [`Evaluation`] from a model's predictions and the actual targets: scalar
//! metrics, confusion matrix, curves, calibration, residuals and per-slice metrics.

use std::collections::BTreeMap;

use domain::training::{Curve, Evaluation, Residual, SliceMetrics};

use super::metrics::{self, downsample, sample_rows};
use super::model::Predictions;

/// The most points a stored ROC or PR curve keeps.
pub const MAX_CURVE_POINTS: usize = 200;
/// The most residuals (regression) an evaluation keeps.
pub const MAX_RESIDUALS: usize = 2000;
/// The most rows silhouette looks at (it is quadratic).
pub const MAX_SILHOUETTE_ROWS: usize = 2000;
/// The most slices reported (the largest ones).
pub const MAX_SLICES: usize = 50;
/// Calibration bins (binary classification).
pub const CALIBRATION_BINS: usize = 10;

/// The actual targets of the evaluated rows.
#[derive(Clone, Debug)]
pub enum Actual<'a> {
    Classes(&'a [usize]),
    Values(&'a [f64]),
    /// Clustering: the feature matrix (row-major, `n_cols` wide) and the centroids'
    /// inertia contribution is computed by the caller.
    Features {
        x: &'a [f64],
        n_cols: usize,
        inertia: f64,
    },
}

/// Scalar metrics only (for training rows, slices and cross-validation folds).
pub fn scalars(predictions: &Predictions, actual: &Actual) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    match (predictions, actual) {
        (Predictions::Classes { class, proba, classes }, Actual::Classes(y)) => {
            let k = classes.len();
            out.insert("accuracy".into(), metrics::accuracy(y, class));
            let a = metrics::averages(y, class, k);
            for (name, v) in [
                ("precision_macro", a.precision_macro),
                ("recall_macro", a.recall_macro),
                ("f1_macro", a.f1_macro),
                ("precision_weighted", a.precision_weighted),
                ("recall_weighted", a.recall_weighted),
                ("f1_weighted", a.f1_weighted),
            ] {
                out.insert(name.into(), v);
            }
            out.insert("log_loss".into(), metrics::log_loss(y, proba, k));
            let (roc, pr) = one_vs_rest(y, proba, classes);
            if let Some(auc) = mean_area(&roc, k) {
                out.insert("roc_auc".into(), auc);
            }
            if let Some(ap) = mean_area(&pr, k) {
                out.insert("pr_auc".into(), ap);
            }
        }
        (Predictions::Values(p), Actual::Values(y)) => {
            let (rmse, mae, r2) = metrics::regression(y, p);
            out.insert("rmse".into(), rmse);
            out.insert("mae".into(), mae);
            if let Some(r2) = r2 {
                out.insert("r2".into(), r2);
            }
        }
        (Predictions::Clusters { cluster }, Actual::Features { x, n_cols, inertia }) => {
            out.insert("inertia".into(), *inertia);
            let rows = sample_rows(cluster.len(), MAX_SILHOUETTE_ROWS);
            let xs: Vec<f64> =
                rows.iter().flat_map(|&r| x[r * n_cols..(r + 1) * n_cols].iter().copied()).collect();
            let cs: Vec<usize> = rows.iter().map(|&r| cluster[r]).collect();
            if let Some(s) = metrics::silhouette(&xs, *n_cols, &cs) {
                out.insert("silhouette".into(), s);
            }
        }
        _ => {}
    }
    out.retain(|_, v| v.is_finite());
    out
}

/// Binary: one curve for the positive class (the second); multi-class: one per
/// class that occurs, one-vs-rest. Each is (class index, area, points).
type Curves = Vec<(usize, f64, Vec<domain::training::CurvePoint>)>;

fn one_vs_rest(y: &[usize], proba: &[f64], classes: &[String]) -> (Curves, Curves) {
    let k = classes.len();
    let targets: Vec<usize> = if k == 2 { vec![1] } else { (0..k).collect() };
    let (mut roc, mut pr) = (Vec::new(), Vec::new());
    for c in targets {
        let positive: Vec<bool> = y.iter().map(|&a| a == c).collect();
        let score: Vec<f64> = (0..y.len()).map(|i| proba[i * k + c]).collect();
        if let Some((area, points)) = metrics::roc(&positive, &score) {
            roc.push((c, area, points));
        }
        if let Some((area, points)) = metrics::precision_recall(&positive, &score) {
            pr.push((c, area, points));
        }
    }
    (roc, pr)
}

/// The binary area, or the macro average over classes (`None` if a class has no
/// curve: scikit-learn refuses to average then).
fn mean_area(curves: &Curves, k: usize) -> Option<f64> {
    let expected = if k == 2 { 1 } else { k };
    if curves.len() != expected {
        return None;
    }
    Some(curves.iter().map(|c| c.1).sum::<f64>() / curves.len() as f64)
}

/// The full evaluation of `predictions` against `actual`; `slices` gives each
/// row's slice value.
pub fn evaluation(
    predictions: &Predictions,
    actual: &Actual,
    slices: Option<(&str, &[String])>,
) -> Evaluation {
    let mut eval = Evaluation {
        n_rows: predictions.len() as u64,
        metrics: scalars(predictions, actual),
        ..Evaluation::default()
    };
    match (predictions, actual) {
        (Predictions::Classes { class, proba, classes }, Actual::Classes(y)) => {
            let k = classes.len();
            eval.classes = classes.clone();
            eval.confusion = metrics::confusion(y, class, k);
            let (roc, pr) = one_vs_rest(y, proba, classes);
            let curve = |(c, area, points): (usize, f64, Vec<_>)| Curve {
                label: classes.get(c).cloned().unwrap_or_default(),
                area,
                points: downsample(points, MAX_CURVE_POINTS),
            };
            eval.roc = roc.into_iter().map(curve).collect();
            eval.pr = pr.into_iter().map(curve).collect();
            if k == 2 {
                let positive: Vec<bool> = y.iter().map(|&a| a == 1).collect();
                let score: Vec<f64> = (0..y.len()).map(|i| proba[i * 2 + 1]).collect();
                eval.calibration = metrics::calibration(&positive, &score, CALIBRATION_BINS);
            }
        }
        (Predictions::Values(p), Actual::Values(y)) => {
            eval.residuals = sample_rows(y.len(), MAX_RESIDUALS)
                .into_iter()
                .map(|i| Residual { actual: y[i], predicted: p[i] })
                .collect();
        }
        _ => {}
    }
    if let Some((column, values)) = slices {
        eval.slice_column = Some(column.to_string());
        eval.slices = slice_metrics(predictions, actual, values);
    }
    eval
}

fn slice_metrics(predictions: &Predictions, actual: &Actual, values: &[String]) -> Vec<SliceMetrics> {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (row, v) in values.iter().enumerate() {
        groups.entry(v.as_str()).or_default().push(row);
    }
    let mut groups: Vec<(&str, Vec<usize>)> = groups.into_iter().collect();
    // Largest first, ties by value; then back in value order for display.
    groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    groups.truncate(MAX_SLICES);
    groups.sort_by(|a, b| a.0.cmp(b.0));
    groups
        .into_iter()
        .map(|(value, rows)| {
            let p = predictions.take(&rows);
            let metrics = match actual {
                Actual::Classes(y) => {
                    let ys: Vec<usize> = rows.iter().map(|&r| y[r]).collect();
                    scalars(&p, &Actual::Classes(&ys))
                }
                Actual::Values(y) => {
                    let ys: Vec<f64> = rows.iter().map(|&r| y[r]).collect();
                    scalars(&p, &Actual::Values(&ys))
                }
                Actual::Features { x, n_cols, .. } => {
                    let xs: Vec<f64> =
                        rows.iter().flat_map(|&r| x[r * n_cols..(r + 1) * n_cols].iter().copied()).collect();
                    let mut m = scalars(&p, &Actual::Features { x: &xs, n_cols: *n_cols, inertia: f64::NAN });
                    m.remove("inertia");
                    m
                }
            };
            SliceMetrics { value: value.to_string(), count: rows.len() as u64, metrics }
        })
        .collect()
}
