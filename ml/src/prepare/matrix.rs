//! The hand-off to training: a prepared frame as a dense row-major f64 matrix.

use domain::datasets::ColumnType;

use super::error::PrepareError;
use crate::frame::Frame;

/// Row-major features: row `i` is `data[i * n_cols..(i + 1) * n_cols]`, and
/// column `j` is called `names[j]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    pub n_rows: usize,
    pub n_cols: usize,
    pub data: Vec<f64>,
    pub names: Vec<String>,
}

impl Matrix {
    pub fn row(&self, i: usize) -> Option<&[f64]> {
        if i >= self.n_rows {
            return None;
        }
        self.data.get(i * self.n_cols..(i + 1) * self.n_cols)
    }
}

/// Every column except `target` as features. Fails on a column that is not a
/// number yet (a string or timestamp: the spec lacks an encoding step) or that
/// still has missing values (the spec lacks an impute step); bools become 0/1.
pub fn to_matrix(frame: &Frame, target: Option<&str>) -> Result<Matrix, PrepareError> {
    let mut columns = Vec::new();
    let mut names = Vec::new();
    for c in frame.columns.iter().filter(|c| Some(c.name.as_str()) != target) {
        let got = c.data.column_type();
        let hint = match got {
            ColumnType::String => Some("add one_hot or ordinal for it"),
            ColumnType::Timestamp => Some("add date_parts for it, or drop it"),
            _ => None,
        };
        if let Some(hint) = hint {
            return Err(PrepareError::NonNumeric { column: c.name.clone(), got, hint });
        }
        let values = c.data.to_f64().unwrap_or_default();
        let count = values.iter().filter(|x| !x.is_finite()).count();
        if count > 0 {
            return Err(PrepareError::MissingAfterPrepare { column: c.name.clone(), count });
        }
        columns.push(values);
        names.push(c.name.clone());
    }
    let (n_rows, n_cols) = (frame.n_rows(), columns.len());
    let mut data = Vec::with_capacity(n_rows * n_cols);
    for i in 0..n_rows {
        data.extend(columns.iter().map(|c| c.get(i).copied().unwrap_or(f64::NAN)));
    }
    Ok(Matrix { n_rows, n_cols, data, names })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Column, ColumnData};

    #[test]
    fn builds_row_major_and_refuses_what_training_cannot_use() {
        let frame = Frame::new(vec![
            Column::new("a", ColumnData::Int(vec![Some(1), Some(2)])),
            Column::new("y", ColumnData::Str(vec![Some("p".into()), None])),
            Column::new("b", ColumnData::Bool(vec![Some(true), Some(false)])),
        ])
        .unwrap();
        let m = to_matrix(&frame, Some("y")).unwrap();
        assert_eq!((m.n_rows, m.n_cols, m.names.clone()), (2, 2, vec!["a".to_string(), "b".to_string()]));
        assert_eq!(m.data, [1.0, 1.0, 2.0, 0.0]);
        assert_eq!(m.row(1), Some(&[2.0, 0.0][..]));
        assert_eq!(m.row(2), None);

        let err = to_matrix(&frame, None).unwrap_err();
        assert_eq!(err.to_string(), "column `y` is a string: add one_hot or ordinal for it");
        let gaps =
            Frame::new(vec![Column::new("income", ColumnData::Float(vec![None, Some(f64::NAN), Some(1.0)]))]);
        let err = to_matrix(&gaps.unwrap(), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "column `income` has 2 missing values after preparation: add an impute step"
        );
    }
}
