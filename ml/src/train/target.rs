//! Checking the target column and turning it into what a model learns from:
//! class indices (classes are the distinct values as text, sorted) or numbers.

use std::collections::BTreeSet;

use domain::datasets::ColumnType;
use domain::training::Task;

use super::error::TrainError;
use crate::frame::{ColumnData, Frame};

pub fn available(frame: &Frame) -> String {
    frame.names().collect::<Vec<_>>().join(", ")
}

/// The target's column in a raw frame, checked for presence, missing values and
/// (regression) type.
pub fn check<'f>(frame: &'f Frame, target: &str, task: Task) -> Result<&'f ColumnData, TrainError> {
    let column = frame
        .column(target)
        .ok_or_else(|| TrainError::UnknownTarget { column: target.into(), available: available(frame) })?;
    let data = &column.data;
    let missing: Vec<usize> = (0..data.len()).filter(|&i| data.is_missing(i)).collect();
    if let Some(&row) = missing.first() {
        return Err(TrainError::TargetMissing { column: target.into(), count: missing.len(), row });
    }
    if task == Task::Regression && !matches!(data.column_type(), ColumnType::Int | ColumnType::Float) {
        return Err(TrainError::NonNumericTarget { column: target.into(), got: data.column_type() });
    }
    Ok(data)
}

/// The sorted distinct values of the target over the given frames; refuses a
/// target with a single value.
pub fn classes(frames: &[&Frame], target: &str) -> Result<Vec<String>, TrainError> {
    let mut set = BTreeSet::new();
    for f in frames {
        if let Some(c) = f.column(target) {
            set.extend((0..c.data.len()).filter_map(|i| c.data.text(i)));
        }
    }
    if set.len() < 2 {
        let value = set.into_iter().next().unwrap_or_default();
        return Err(TrainError::ConstantTarget { column: target.into(), value });
    }
    Ok(set.into_iter().collect())
}

/// Refuses a numeric target with a single value.
pub fn check_varies(frames: &[&Frame], target: &str) -> Result<(), TrainError> {
    let mut first: Option<f64> = None;
    for f in frames {
        let values = f.column(target).and_then(|c| c.data.to_f64()).unwrap_or_default();
        for v in values.into_iter().filter(|v| v.is_finite()) {
            match first {
                None => first = Some(v),
                Some(x) if x != v => return Ok(()),
                Some(_) => {}
            }
        }
    }
    Err(TrainError::ConstantTarget {
        column: target.into(),
        value: first.map(|v| v.to_string()).unwrap_or_default(),
    })
}

/// Class indices of a (prepared) frame's target. A value not in `classes` is a
/// class the training rows never had.
pub fn encode_classes(frame: &Frame, target: &str, classes: &[String]) -> Result<Vec<usize>, TrainError> {
    let column = frame
        .column(target)
        .ok_or_else(|| TrainError::UnknownTarget { column: target.into(), available: available(frame) })?;
    (0..column.data.len())
        .map(|i| {
            let text = column.data.text(i).unwrap_or_default();
            classes
                .binary_search(&text)
                .map_err(|_| TrainError::UnseenClass { column: target.into(), class: text })
        })
        .collect()
}

/// A (prepared) frame's numeric target.
pub fn encode_values(frame: &Frame, target: &str) -> Result<Vec<f64>, TrainError> {
    let column = frame
        .column(target)
        .ok_or_else(|| TrainError::UnknownTarget { column: target.into(), available: available(frame) })?;
    column
        .data
        .to_f64()
        .ok_or_else(|| TrainError::NonNumericTarget { column: target.into(), got: column.data.column_type() })
}
