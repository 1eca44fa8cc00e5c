//! Scalar metrics and curves, defined as scikit-learn defines them (the fixtures
//! in `ml/tests/fixtures/training_reference.py` hold its numbers for the same
//! inputs).

use domain::training::{CalibrationBin, CurvePoint};

/// Fraction of rows whose predicted class is the actual one.
pub fn accuracy(actual: &[usize], predicted: &[usize]) -> f64 {
    if actual.is_empty() {
        return f64::NAN;
    }
    actual.iter().zip(predicted).filter(|(a, p)| a == p).count() as f64 / actual.len() as f64
}

/// `counts[actual][predicted]`.
pub fn confusion(actual: &[usize], predicted: &[usize], n_classes: usize) -> Vec<Vec<u64>> {
    let mut m = vec![vec![0u64; n_classes]; n_classes];
    for (&a, &p) in actual.iter().zip(predicted) {
        if let Some(cell) = m.get_mut(a).and_then(|r| r.get_mut(p)) {
            *cell += 1;
        }
    }
    m
}

/// Precision, recall and F1, macro and support-weighted averages, over the
/// classes that occur in `actual` or `predicted` (scikit-learn's default labels;
/// 0/0 counts as 0, its `zero_division` default).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Averages {
    pub precision_macro: f64,
    pub recall_macro: f64,
    pub f1_macro: f64,
    pub precision_weighted: f64,
    pub recall_weighted: f64,
    pub f1_weighted: f64,
}

pub fn averages(actual: &[usize], predicted: &[usize], n_classes: usize) -> Averages {
    let m = confusion(actual, predicted, n_classes);
    let div = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let (mut sums, mut weighted, mut used) = ([0.0; 3], [0.0; 3], 0usize);
    let total = actual.len() as f64;
    for c in 0..n_classes {
        let tp = m[c][c] as f64;
        let support: f64 = m[c].iter().sum::<u64>() as f64;
        let predicted_c: f64 = m.iter().map(|r| r[c]).sum::<u64>() as f64;
        if support == 0.0 && predicted_c == 0.0 {
            continue;
        }
        used += 1;
        let p = div(tp, predicted_c);
        let r = div(tp, support);
        let f = div(2.0 * p * r, p + r);
        for (s, v) in sums.iter_mut().zip([p, r, f]) {
            *s += v;
        }
        for (s, v) in weighted.iter_mut().zip([p, r, f]) {
            *s += v * div(support, total);
        }
    }
    let n = used.max(1) as f64;
    Averages {
        precision_macro: sums[0] / n,
        recall_macro: sums[1] / n,
        f1_macro: sums[2] / n,
        precision_weighted: weighted[0],
        recall_weighted: weighted[1],
        f1_weighted: weighted[2],
    }
}

/// The ROC curve at every distinct score (highest first), from (0, 0) to (1, 1),
/// and its area by the trapezoidal rule (ties count half, as scikit-learn).
/// `None` unless both classes occur.
pub fn roc(positive: &[bool], score: &[f64]) -> Option<(f64, Vec<CurvePoint>)> {
    let (tps, fps) = cumulative(positive, score);
    let (p, n) = (*tps.last()?, *fps.last()?);
    if p == 0.0 || n == 0.0 {
        return None;
    }
    let mut points = vec![CurvePoint { x: 0.0, y: 0.0 }];
    points.extend(tps.iter().zip(&fps).map(|(tp, fp)| CurvePoint { x: fp / n, y: tp / p }));
    let area = points.windows(2).map(|w| (w[1].x - w[0].x) * (w[1].y + w[0].y) / 2.0).sum();
    Some((area, points))
}

/// Average precision (scikit-learn's `average_precision_score`):
/// `sum_n (R_n - R_{n-1}) P_n` over distinct thresholds, and the PR curve
/// (x = recall, y = precision) from recall 0 at precision 1. `None` without positives.
pub fn precision_recall(positive: &[bool], score: &[f64]) -> Option<(f64, Vec<CurvePoint>)> {
    let (tps, fps) = cumulative(positive, score);
    let p = *tps.last()?;
    if p == 0.0 {
        return None;
    }
    let mut points = vec![CurvePoint { x: 0.0, y: 1.0 }];
    let mut ap = 0.0;
    let mut last_recall = 0.0;
    for (tp, fp) in tps.iter().zip(&fps) {
        let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 1.0 };
        let recall = tp / p;
        ap += (recall - last_recall) * precision;
        last_recall = recall;
        points.push(CurvePoint { x: recall, y: precision });
    }
    Some((ap, points))
}

/// True and false positives above each distinct score, highest score first.
fn cumulative(positive: &[bool], score: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut order: Vec<usize> = (0..score.len().min(positive.len())).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    let (mut tps, mut fps) = (Vec::new(), Vec::new());
    let (mut tp, mut fp) = (0.0, 0.0);
    for (i, &row) in order.iter().enumerate() {
        if positive[row] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let last_of_tie = order.get(i + 1).is_none_or(|&next| score[next] != score[row]);
        if last_of_tie {
            tps.push(tp);
            fps.push(fp);
        }
    }
    (tps, fps)
}

/// Mean negative log-likelihood of the actual classes, probabilities clipped to
/// `[eps, 1 - eps]` with `eps` the f64 machine epsilon (scikit-learn's default).
/// `proba` is row-major `n x n_classes`.
pub fn log_loss(actual: &[usize], proba: &[f64], n_classes: usize) -> f64 {
    let eps = f64::EPSILON;
    let total: f64 = actual
        .iter()
        .enumerate()
        .map(|(i, &a)| {
            let p = proba.get(i * n_classes + a).copied().unwrap_or(0.0);
            -p.clamp(eps, 1.0 - eps).ln()
        })
        .sum();
    total / actual.len().max(1) as f64
}

/// Reliability of the positive-class probability in `bins` equal-width bins of
/// [0, 1] (scikit-learn's `calibration_curve`, uniform strategy; empty bins left out).
pub fn calibration(positive: &[bool], score: &[f64], bins: usize) -> Vec<CalibrationBin> {
    let mut sums = vec![(0.0, 0.0, 0u64); bins];
    for (&is_pos, &s) in positive.iter().zip(score) {
        // A probability on a bin edge goes to the upper bin (scikit-learn's
        // `searchsorted` puts it in the lower one; only exact edges differ).
        let b = ((s * bins as f64).floor().max(0.0) as usize).min(bins - 1);
        let bin = &mut sums[b];
        bin.0 += s;
        bin.1 += if is_pos { 1.0 } else { 0.0 };
        bin.2 += 1;
    }
    sums.into_iter()
        .filter(|b| b.2 > 0)
        .map(|(s, p, c)| CalibrationBin { predicted: s / c as f64, observed: p / c as f64, count: c })
        .collect()
}

/// Root mean squared error, mean absolute error and R² (`None` when the actual
/// values are constant).
pub fn regression(actual: &[f64], predicted: &[f64]) -> (f64, f64, Option<f64>) {
    let n = actual.len().max(1) as f64;
    let sse: f64 = actual.iter().zip(predicted).map(|(a, p)| (a - p) * (a - p)).sum();
    let mae = actual.iter().zip(predicted).map(|(a, p)| (a - p).abs()).sum::<f64>() / n;
    let mean = actual.iter().sum::<f64>() / n;
    let sst: f64 = actual.iter().map(|a| (a - mean) * (a - mean)).sum();
    let r2 = (sst > 0.0).then(|| 1.0 - sse / sst);
    ((sse / n).sqrt(), mae, r2)
}

/// Mean silhouette coefficient with Euclidean distances (scikit-learn's
/// `silhouette_score`); a point alone in its cluster scores 0. `None` unless
/// there are between 2 and n - 1 clusters. `x` is row-major with `n_cols` columns.
pub fn silhouette(x: &[f64], n_cols: usize, cluster: &[usize]) -> Option<f64> {
    let n = cluster.len();
    let k = cluster.iter().max().map_or(0, |m| m + 1);
    let mut sizes = vec![0usize; k];
    for &c in cluster {
        sizes[c] += 1;
    }
    let used = sizes.iter().filter(|&&s| s > 0).count();
    if used < 2 || used >= n {
        return None;
    }
    let row = |i: usize| &x[i * n_cols..(i + 1) * n_cols];
    let total: f64 = (0..n)
        .map(|i| {
            let mut sums = vec![0.0; k];
            for j in 0..n {
                if i != j {
                    let d: f64 =
                        row(i).iter().zip(row(j)).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
                    sums[cluster[j]] += d;
                }
            }
            let own = cluster[i];
            if sizes[own] <= 1 {
                return 0.0;
            }
            let a = sums[own] / (sizes[own] - 1) as f64;
            let b = (0..k)
                .filter(|&c| c != own && sizes[c] > 0)
                .map(|c| sums[c] / sizes[c] as f64)
                .fold(f64::INFINITY, f64::min);
            let m = a.max(b);
            if m > 0.0 { (b - a) / m } else { 0.0 }
        })
        .sum();
    Some(total / n as f64)
}

/// At most `max` points of a curve, evenly spaced by index, keeping both ends.
pub fn downsample(points: Vec<CurvePoint>, max: usize) -> Vec<CurvePoint> {
    if points.len() <= max || max < 2 {
        return points;
    }
    let last = points.len() - 1;
    (0..max).map(|i| points[i * last / (max - 1)]).collect()
}

/// At most `max` row indices of `n`, evenly spaced (deterministic sample).
pub fn sample_rows(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    (0..max).map(|i| i * n / max).collect()
}
