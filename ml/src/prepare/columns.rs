//! Choosing columns: `select`, `drop`, and the lookups and type checks every step
//! shares.

use domain::datasets::ColumnType;

use super::error::PrepareError;
use super::work::Work;
use crate::frame::{ColumnData, Frame};

/// The column names of `frame` for messages, shortened past 20.
pub(crate) fn list(frame: &Frame) -> String {
    let names: Vec<&str> = frame.names().collect();
    match names.len() {
        0 => "none".to_string(),
        n if n > 20 => format!("{}, … ({} more)", names.get(..20).unwrap_or_default().join(", "), n - 20),
        _ => names.join(", "),
    }
}

pub(crate) fn unknown(name: &str, frame: &Frame) -> PrepareError {
    PrepareError::UnknownColumn { column: name.to_string(), available: list(frame) }
}

/// The columns a step names, each checked to exist, or (when it names none)
/// every int/float column except the target.
pub(crate) fn chosen(columns: &Option<Vec<String>>, work: &Work) -> Result<Vec<String>, PrepareError> {
    match columns {
        Some(names) => {
            for name in names {
                work.position(name)?;
            }
            Ok(names.clone())
        }
        None => Ok(work
            .frame
            .columns
            .iter()
            .filter(|c| c.data.column_type().is_numeric() && !work.is_target(&c.name))
            .map(|c| c.name.clone())
            .collect()),
    }
}

/// The present values of an int or float column, as f64.
pub(crate) fn numbers(name: &str, data: &ColumnData, need: &str) -> Result<Vec<f64>, PrepareError> {
    match data {
        ColumnData::Int(v) => Ok(v.iter().flatten().map(|&x| x as f64).collect()),
        ColumnData::Float(v) => Ok(v.iter().flatten().copied().filter(|x| !x.is_nan()).collect()),
        other => Err(unsupported(name, other.column_type(), need)),
    }
}

pub(crate) fn unsupported(name: &str, got: ColumnType, need: &str) -> PrepareError {
    PrepareError::Unsupported { column: name.to_string(), got, need: need.to_string() }
}

/// `select`: the listed columns, in order, plus the target when there is one.
pub(crate) fn fit_select(columns: &[String], work: &Work) -> Result<Vec<String>, PrepareError> {
    for name in columns {
        work.position(name)?;
    }
    let mut columns = columns.to_vec();
    if let Some(target) = &work.target
        && !columns.contains(target)
    {
        columns.push(target.clone());
    }
    Ok(columns)
}

/// Columns absent here were dropped later in the fitted transform (so the input
/// check did not ask for them) or are the absent target.
pub(crate) fn apply_select(columns: &[String], work: &mut Work) {
    let mut old = std::mem::take(&mut work.frame.columns);
    for name in columns {
        if let Some(i) = old.iter().position(|c| &c.name == name) {
            work.frame.columns.push(old.swap_remove(i));
        }
    }
}

pub(crate) fn fit_drop(columns: &[String], work: &Work) -> Result<(), PrepareError> {
    for name in columns {
        work.position(name)?;
    }
    Ok(())
}

pub(crate) fn apply_drop(columns: &[String], work: &mut Work) {
    work.frame.columns.retain(|c| !columns.contains(&c.name));
}
