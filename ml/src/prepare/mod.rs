//! Data preparation: fit a [`TransformSpec`] on a training split, store the
//! [`FittedTransform`], and apply exactly that to test data and serving requests.
//!
//! Training/serving symmetry is the point: everything a step learns (means,
//! categories, ranges) is learned once, at fit, from the training rows only, and
//! kept in the `FittedTransform` (plain data in `domain::prepare`, stored inside
//! model bundles and dataset versions). `apply` never learns anything, always
//! produces the same columns in the same order, and refuses input whose columns
//! or types differ from what fit saw.
//!
//! ```text
//! prepare(spec, frame) = split(spec.split, frame)  -> train rows, test rows
//!                        fit(spec, train)           -> fitted (+ prepared train)
//!                        apply(fitted, test)        -> prepared test
//! ```
//!
//! Filters run at fit and apply alike; at serving time, without the target
//! column, a filter that reads the target is skipped. [`apply_rows`] tells which
//! input rows survived, so serving can answer for the others.

mod columns;
mod dates;
mod encode;
mod error;
mod expr;
mod filter;
mod impute;
mod matrix;
pub(crate) mod rng;
mod scale;
mod spec;
mod split;
mod steps;
mod time;
mod work;

use std::collections::HashSet;

use domain::prepare::{ColumnSchema, FittedTransform, TransformSpec};

pub use error::PrepareError;
pub use matrix::{Matrix, to_matrix};
pub use spec::{parse_spec, spec_from_json, spec_from_yaml, validate};
pub use split::split;

use crate::frame::{Column, Frame};
use work::Work;

/// The outcome of [`prepare`]: the fitted transform and both prepared splits.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    pub fitted: FittedTransform,
    pub train: Frame,
    /// `None` when the spec has no split.
    pub test: Option<Frame>,
}

/// A prepared frame and, for each of its rows, the row of the input it came from
/// (filters drop rows).
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    pub frame: Frame,
    pub rows: Vec<usize>,
}

/// Split, fit on the train rows, and apply to both sides.
pub fn prepare(spec: &TransformSpec, frame: &Frame) -> Result<Prepared, PrepareError> {
    validate(spec)?;
    let Some(split_spec) = &spec.split else {
        let (fitted, train) = fit_and_transform(spec, frame)?;
        return Ok(Prepared { fitted, train: train.frame, test: None });
    };
    let (train_rows, test_rows) = split(split_spec, frame)?;
    let (fitted, train) = fit_and_transform(spec, &frame.take(&train_rows))?;
    let test = apply(&fitted, &frame.take(&test_rows))?;
    Ok(Prepared { fitted, train: train.frame, test: Some(test) })
}

/// Learn every step's statistics from `frame` (the training rows).
pub fn fit(spec: &TransformSpec, frame: &Frame) -> Result<FittedTransform, PrepareError> {
    Ok(fit_and_transform(spec, frame)?.0)
}

/// Fit, and keep the transformed frame that fitting produces anyway (each step
/// fits on the output of the previous one).
fn fit_and_transform(
    spec: &TransformSpec,
    frame: &Frame,
) -> Result<(FittedTransform, Applied), PrepareError> {
    validate(spec)?;
    if let Some(target) = &spec.target
        && frame.position(target).is_none()
    {
        return Err(columns::unknown(target, frame));
    }
    let mut work = Work::new(frame.clone(), frame.n_rows(), spec.target.clone(), false);
    // Which input columns the transform needs: those a step reads while they still
    // hold the input's values, and those that reach the output untouched.
    let mut originals: HashSet<String> = frame.names().map(str::to_string).collect();
    let mut used: HashSet<String> = HashSet::new();
    let mut steps = Vec::with_capacity(spec.steps.len());
    for (i, step) in spec.steps.iter().enumerate() {
        let fitted = steps::fit(step, &work).map_err(|e| e.in_step(i, step.op()))?;
        steps::apply(&fitted, &mut work).map_err(|e| e.in_step(i, step.op()))?;
        used.extend(steps::reads(&fitted).into_iter().filter(|c| originals.contains(c)));
        originals.retain(|c| work.frame.position(c).is_some());
        steps.push(fitted);
    }
    used.extend(originals);
    let fitted = FittedTransform {
        format_version: FittedTransform::FORMAT_VERSION,
        target: spec.target.clone(),
        input: frame.columns.iter().filter(|c| used.contains(&c.name)).map(schema).collect(),
        steps,
        output: work.frame.columns.iter().map(schema).collect(),
    };
    Ok((fitted, Applied { frame: work.frame, rows: work.rows }))
}

fn schema(c: &Column) -> ColumnSchema {
    ColumnSchema { name: c.name.clone(), column_type: c.data.column_type() }
}

/// Apply a fitted transform: the same steps with the statistics learned at fit.
pub fn apply(fitted: &FittedTransform, frame: &Frame) -> Result<Frame, PrepareError> {
    Ok(apply_rows(fitted, frame)?.frame)
}

/// [`apply`], also returning which input row each output row came from.
pub fn apply_rows(fitted: &FittedTransform, frame: &Frame) -> Result<Applied, PrepareError> {
    if fitted.format_version != FittedTransform::FORMAT_VERSION {
        return Err(PrepareError::Spec(format!(
            "this fitted transform has format version {}, but this release reads version {}: fit it again",
            fitted.format_version,
            FittedTransform::FORMAT_VERSION
        )));
    }
    // Only the columns fit used, in fit's order: extra columns are ignored, so the
    // output never depends on what else the caller sent.
    let mut columns = Vec::with_capacity(fitted.input.len());
    let mut target_absent = false;
    for want in &fitted.input {
        match frame.column(&want.name) {
            None if fitted.target.as_ref() == Some(&want.name) => target_absent = true,
            None => {
                return Err(PrepareError::MissingColumn {
                    column: want.name.clone(),
                    expected: want.column_type,
                });
            }
            Some(c) if c.data.column_type() != want.column_type => {
                return Err(PrepareError::WrongType {
                    column: want.name.clone(),
                    expected: want.column_type,
                    got: c.data.column_type(),
                });
            }
            Some(c) => columns.push(c.clone()),
        }
    }
    let mut work = Work::new(Frame { columns }, frame.n_rows(), fitted.target.clone(), target_absent);
    for (i, step) in fitted.steps.iter().enumerate() {
        steps::apply(step, &mut work).map_err(|e| e.in_step(i, step.op()))?;
    }

    let expected: Vec<&ColumnSchema> = fitted
        .output
        .iter()
        .filter(|c| !(target_absent && fitted.target.as_ref() == Some(&c.name)))
        .collect();
    let got: Vec<ColumnSchema> = work.frame.columns.iter().map(schema).collect();
    if got.len() != expected.len() || got.iter().zip(&expected).any(|(g, e)| g != *e) {
        let show = |cols: Vec<&ColumnSchema>| {
            cols.iter().map(|c| format!("{} {}", c.name, c.column_type)).collect::<Vec<_>>().join(", ")
        };
        return Err(PrepareError::OutputMismatch {
            expected: show(expected),
            got: show(got.iter().collect()),
        });
    }
    Ok(Applied { frame: work.frame, rows: work.rows })
}

/// The feature columns a fitted transform produces (its output without the
/// target), in matrix order.
pub fn feature_names(fitted: &FittedTransform) -> Vec<String> {
    fitted.output.iter().filter(|c| fitted.target.as_ref() != Some(&c.name)).map(|c| c.name.clone()).collect()
}
