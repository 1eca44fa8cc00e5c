//! `date_parts`: calendar parts of timestamp columns as int columns.

use domain::prepare::DatePart;

use super::columns::unsupported;
use super::error::PrepareError;
use super::time::date_part;
use super::work::Work;
use crate::frame::{Column, ColumnData};

pub(crate) fn fit(columns: &[String], work: &Work) -> Result<(), PrepareError> {
    for name in columns {
        let column = work.column(name)?;
        if !matches!(column.data, ColumnData::Timestamp(_)) {
            return Err(unsupported(name, column.data.column_type(), "date_parts needs a timestamp column"));
        }
    }
    Ok(())
}

/// `<column>_<part>` int columns in the order of `parts`, after the column (kept)
/// or in its place.
pub(crate) fn apply(
    columns: &[String],
    parts: &[DatePart],
    keep: bool,
    work: &mut Work,
) -> Result<(), PrepareError> {
    for name in columns {
        let index = work.position(name)?;
        let Some(column) = work.frame.columns.get(index) else { continue };
        let ColumnData::Timestamp(values) = &column.data else {
            return Err(unsupported(name, column.data.column_type(), "date_parts needs a timestamp column"));
        };
        let mut out: Vec<Vec<Option<i64>>> = vec![Vec::with_capacity(values.len()); parts.len()];
        for (i, v) in values.iter().enumerate() {
            for (part, col) in parts.iter().zip(out.iter_mut()) {
                let value = match v {
                    None => None,
                    Some(micros) => {
                        Some(date_part(*micros, *part).ok_or_else(|| PrepareError::TimestampRange {
                            column: name.clone(),
                            row: work.input_row(i),
                            micros: *micros,
                        })?)
                    }
                };
                col.push(value);
            }
        }
        let new = parts
            .iter()
            .zip(out)
            .map(|(part, v)| Column::new(format!("{name}_{}", part.as_str()), ColumnData::Int(v)))
            .collect();
        work.splice(index, keep, new)?;
    }
    Ok(())
}
