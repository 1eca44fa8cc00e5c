//! Permutation importance over the raw input columns: shuffle one column of the
//! raw test rows, re-apply the fitted transform, predict, and measure how much the
//! primary metric drops. Working on raw columns makes a one-hot encoded column one
//! feature, as the user sees it.

use domain::training::{FeatureImportance, higher_is_better};
use rayon::prelude::*;

use super::error::TrainError;
use super::tree::mix;
use super::{Bundle, Hooks, evaluate_scored, report, score};
use crate::frame::{Column, Frame};
use crate::prepare::rng::SplitRng;

pub(super) fn permutation(
    bundle: &Bundle,
    test: &Frame,
    metric: &str,
    base: f64,
    repeats: usize,
    seed: u64,
    hooks: &mut Hooks,
) -> Result<Vec<FeatureImportance>, TrainError> {
    let target = bundle.transform.target.as_deref();
    let columns: Vec<String> = bundle
        .transform
        .input
        .iter()
        .filter(|c| Some(c.name.as_str()) != target)
        .map(|c| c.name.clone())
        .collect();
    let sign = if higher_is_better(metric) { 1.0 } else { -1.0 };
    let cancelled = hooks.cancelled;
    let mut out = Vec::with_capacity(columns.len());
    for (j, name) in columns.iter().enumerate() {
        let Some(position) = test.position(name) else { continue };
        let drops: Vec<f64> = (0..repeats)
            .into_par_iter()
            .map(|r| {
                if cancelled() {
                    return Err(TrainError::Cancelled);
                }
                let mut rows: Vec<usize> = (0..test.n_rows()).collect();
                SplitRng::new(mix(seed, (j * repeats + r) as u64)).shuffle(&mut rows);
                let mut shuffled = test.clone();
                let column = &test.columns[position];
                shuffled.columns[position] = Column::new(column.name.clone(), column.data.take(&rows));
                let scored = score(bundle, &shuffled)?;
                let eval = evaluate_scored(bundle, &shuffled, &scored, None)?;
                Ok(eval.metrics.get(metric).map_or(f64::NAN, |m| sign * (base - m)))
            })
            .collect::<Result<_, _>>()?;
        let n = drops.len().max(1) as f64;
        let mean = drops.iter().sum::<f64>() / n;
        let std = (drops.iter().map(|d| (d - mean) * (d - mean)).sum::<f64>() / n).sqrt();
        out.push(FeatureImportance { feature: name.clone(), mean, std });
        report(hooks, "importance", 0.85 + 0.15 * (j + 1) as f64 / columns.len() as f64, None, Vec::new());
    }
    out.sort_by(|a, b| b.mean.total_cmp(&a.mean).then(a.feature.cmp(&b.feature)));
    Ok(out)
}
