//! k-fold cross-validation: stratified folds for classification, shuffled folds
//! otherwise, each fold trained with [`train_split`] (no importance, no gates).

use std::collections::BTreeMap;

use domain::training::Task;

use super::error::TrainError;
use super::tree::mix;
use super::{Hooks, Progress, TrainRequest, resolve_target, target, train_split};
use crate::frame::Frame;
use crate::prepare::rng::SplitRng;

#[derive(Clone, Debug, PartialEq)]
pub struct CrossValidation {
    /// Each fold's held-out scalar metrics.
    pub folds: Vec<BTreeMap<String, f64>>,
    /// Mean and population standard deviation over the folds, for the metrics
    /// every fold has.
    pub mean: BTreeMap<String, f64>,
    pub std: BTreeMap<String, f64>,
}

pub fn cross_validate(
    frame: &Frame,
    req: &TrainRequest,
    k: usize,
    hooks: &mut Hooks,
) -> Result<CrossValidation, TrainError> {
    let task = req.algorithm.task();
    req.algorithm.validate().map_err(TrainError::Algorithm)?;
    let target_name = resolve_target(req, task)?;
    let n = frame.n_rows();
    if k < 2 || k > n {
        return Err(TrainError::Folds { k, rows: n });
    }
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    match (&target_name, task) {
        (Some(t), Task::Classification) => {
            let data = target::check(frame, t, task)?;
            for row in 0..n {
                groups.entry(data.text(row).unwrap_or_default()).or_default().push(row);
            }
        }
        (Some(t), _) => {
            target::check(frame, t, task)?;
            groups.insert(String::new(), (0..n).collect());
        }
        _ => {
            groups.insert(String::new(), (0..n).collect());
        }
    }
    // Deal each class's shuffled rows round-robin, continuing where the previous
    // class stopped, so folds differ in size by at most one row.
    let mut fold_of = vec![0usize; n];
    let mut next = 0usize;
    for (g, rows) in groups.values_mut().enumerate() {
        SplitRng::new(mix(req.seed, g as u64)).shuffle(rows);
        for &row in rows.iter() {
            fold_of[row] = next % k;
            next += 1;
        }
    }
    let mut sub = req.clone();
    sub.importance_repeats = 0;
    sub.gates.clear();
    let mut folds = Vec::with_capacity(k);
    for f in 0..k {
        let (test_rows, train_rows): (Vec<usize>, Vec<usize>) = (0..n).partition(|&r| fold_of[r] == f);
        let cancelled = hooks.cancelled;
        let progress = &mut *hooks.progress;
        let mut forward = |p: Progress| {
            progress(Progress {
                stage: format!("fold {}/{k}: {}", f + 1, p.stage),
                fraction: (f as f64 + p.fraction) / k as f64,
                step: p.step,
                metrics: p.metrics,
            });
        };
        let mut fold_hooks = Hooks { cancelled, progress: &mut forward };
        let outcome =
            train_split(&frame.take(&train_rows), &frame.take(&test_rows), &sub, None, &mut fold_hooks)?;
        folds.push(outcome.evaluation.metrics);
    }
    let (mut mean, mut std) = (BTreeMap::new(), BTreeMap::new());
    if let Some(first) = folds.first() {
        for name in first.keys() {
            let values: Vec<f64> = folds.iter().filter_map(|m| m.get(name).copied()).collect();
            if values.len() == folds.len() {
                let m = values.iter().sum::<f64>() / values.len() as f64;
                let s = (values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / values.len() as f64).sqrt();
                mean.insert(name.clone(), m);
                std.insert(name.clone(), s);
            }
        }
    }
    Ok(CrossValidation { folds, mean, std })
}
