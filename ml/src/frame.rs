//! An in-memory columnar table: the shape every `ml` algorithm (profiling, drift,
//! preparation, training) reads. Services convert Arrow/Parquet batches into it, so
//! `ml` stays free of I/O crates. A large dataset arrives as a sequence of frames
//! (batches) with the same columns; streaming algorithms take them one at a time.

use domain::datasets::ColumnType;

/// One column's values; `None` is a missing value. For `Float`, NaN is also
/// treated as missing by the statistics.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnData {
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    Str(Vec<Option<String>>),
    /// Microseconds since the Unix epoch, UTC.
    Timestamp(Vec<Option<i64>>),
}

impl ColumnData {
    pub fn len(&self) -> usize {
        match self {
            ColumnData::Int(v) | ColumnData::Timestamp(v) => v.len(),
            ColumnData::Float(v) => v.len(),
            ColumnData::Bool(v) => v.len(),
            ColumnData::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn column_type(&self) -> ColumnType {
        match self {
            ColumnData::Int(_) => ColumnType::Int,
            ColumnData::Float(_) => ColumnType::Float,
            ColumnData::Bool(_) => ColumnType::Bool,
            ColumnData::Str(_) => ColumnType::String,
            ColumnData::Timestamp(_) => ColumnType::Timestamp,
        }
    }

    /// Is row `i` missing (None, or NaN in a float column)?
    pub fn is_missing(&self, i: usize) -> bool {
        match self {
            ColumnData::Int(v) | ColumnData::Timestamp(v) => v[i].is_none(),
            ColumnData::Float(v) => v[i].is_none_or(f64::is_nan),
            ColumnData::Bool(v) => v[i].is_none(),
            ColumnData::Str(v) => v[i].is_none(),
        }
    }

    /// Values as f64 for numeric-like columns (int, float, bool as 0/1, timestamp
    /// as microseconds); missing becomes NaN. `None` for strings.
    pub fn to_f64(&self) -> Option<Vec<f64>> {
        Some(match self {
            ColumnData::Int(v) | ColumnData::Timestamp(v) => {
                v.iter().map(|x| x.map_or(f64::NAN, |x| x as f64)).collect()
            }
            ColumnData::Float(v) => v.iter().map(|x| x.unwrap_or(f64::NAN)).collect(),
            ColumnData::Bool(v) => {
                v.iter().map(|x| x.map_or(f64::NAN, |b| if b { 1.0 } else { 0.0 })).collect()
            }
            ColumnData::Str(_) => return None,
        })
    }

    /// The value of row `i` as display text; `None` when missing.
    pub fn text(&self, i: usize) -> Option<String> {
        if self.is_missing(i) {
            return None;
        }
        Some(match self {
            ColumnData::Int(v) | ColumnData::Timestamp(v) => v[i]?.to_string(),
            ColumnData::Float(v) => v[i]?.to_string(),
            ColumnData::Bool(v) => v[i]?.to_string(),
            ColumnData::Str(v) => v[i].clone()?,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub data: ColumnData,
}

impl Column {
    pub fn new(name: impl Into<String>, data: ColumnData) -> Self {
        Self { name: name.into(), data }
    }
}

/// A table: named columns of equal length.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frame {
    pub columns: Vec<Column>,
}

/// Building a frame whose columns disagree in length, or name a column twice.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum FrameError {
    #[error("column `{name}` has {got} rows but the frame has {expected}")]
    Ragged { name: String, expected: usize, got: usize },
    #[error("column `{0}` appears twice")]
    Duplicate(String),
}

impl Frame {
    pub fn new(columns: Vec<Column>) -> Result<Self, FrameError> {
        let expected = columns.first().map_or(0, |c| c.data.len());
        let mut seen = std::collections::HashSet::new();
        for c in &columns {
            if c.data.len() != expected {
                return Err(FrameError::Ragged { name: c.name.clone(), expected, got: c.data.len() });
            }
            if !seen.insert(c.name.as_str()) {
                return Err(FrameError::Duplicate(c.name.clone()));
            }
        }
        Ok(Self { columns })
    }

    pub fn n_rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.data.len())
    }

    pub fn n_cols(&self) -> usize {
        self.columns.len()
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_reject_ragged_and_duplicate_columns() {
        let a = Column::new("a", ColumnData::Int(vec![Some(1), None]));
        let b = Column::new("b", ColumnData::Float(vec![Some(1.0)]));
        assert!(matches!(Frame::new(vec![a.clone(), b]), Err(FrameError::Ragged { .. })));
        assert_eq!(Frame::new(vec![a.clone(), a.clone()]), Err(FrameError::Duplicate("a".into())));
        let f = Frame::new(vec![a]).unwrap();
        assert_eq!(f.n_rows(), 2);
        assert!(f.columns[0].data.is_missing(1));
        assert_eq!(f.columns[0].data.to_f64().unwrap()[0], 1.0);
    }
}
