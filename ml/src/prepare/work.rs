//! The frame a transform is working on, plus what every step needs to know about
//! it: which input row each row came from (for messages and for serving, which
//! must tell which requests a filter dropped) and whether the target is absent.

use super::error::PrepareError;
use crate::frame::{Column, ColumnData, Frame};

pub(crate) struct Work {
    pub frame: Frame,
    /// The input row each current row came from.
    pub rows: Vec<usize>,
    pub target: Option<String>,
    /// Applying at serving time, without the label column: steps skip it.
    pub target_absent: bool,
}

impl Work {
    pub(crate) fn new(frame: Frame, n_rows: usize, target: Option<String>, target_absent: bool) -> Self {
        Work { frame, rows: (0..n_rows).collect(), target, target_absent }
    }

    pub(crate) fn is_target(&self, name: &str) -> bool {
        self.target.as_deref() == Some(name)
    }

    /// Should a step leave this column alone because it is the absent target?
    pub(crate) fn skip(&self, name: &str) -> bool {
        self.target_absent && self.is_target(name)
    }

    /// The input row of current row `i`, for messages.
    pub(crate) fn input_row(&self, i: usize) -> usize {
        self.rows.get(i).copied().unwrap_or(i)
    }

    pub(crate) fn position(&self, name: &str) -> Result<usize, PrepareError> {
        self.frame.position(name).ok_or_else(|| super::columns::unknown(name, &self.frame))
    }

    pub(crate) fn column(&self, name: &str) -> Result<&Column, PrepareError> {
        let i = self.position(name)?;
        self.frame.columns.get(i).ok_or_else(|| super::columns::unknown(name, &self.frame))
    }

    /// Replace the data of the column at `index`.
    pub(crate) fn set(&mut self, index: usize, data: ColumnData) {
        if let Some(c) = self.frame.columns.get_mut(index) {
            c.data = data;
        }
    }

    /// Replace the column at `index` by `new` columns (none removes it), failing
    /// if one of them is named like a column that stays.
    pub(crate) fn splice(&mut self, index: usize, keep: bool, new: Vec<Column>) -> Result<(), PrepareError> {
        let mut taken: std::collections::HashSet<&str> = self
            .frame
            .columns
            .iter()
            .enumerate()
            .filter(|(i, _)| keep || *i != index)
            .map(|(_, c)| c.name.as_str())
            .collect();
        for c in &new {
            if !taken.insert(c.name.as_str()) {
                return Err(PrepareError::NameClash { column: c.name.clone() });
            }
        }
        let len = self.frame.columns.len();
        let range = if keep {
            (index + 1).min(len)..(index + 1).min(len)
        } else {
            index.min(len)..(index + 1).min(len)
        };
        self.frame.columns.splice(range, new);
        Ok(())
    }

    /// Keep the rows where `mask` is true, in place (no value is copied).
    pub(crate) fn keep_rows(&mut self, mask: &[bool]) {
        fn retain<T>(values: &mut Vec<T>, mask: &[bool]) {
            let mut keep = mask.iter();
            values.retain(|_| keep.next().copied().unwrap_or(false));
        }
        if mask.iter().all(|k| *k) {
            return;
        }
        for c in &mut self.frame.columns {
            match &mut c.data {
                ColumnData::Int(v) | ColumnData::Timestamp(v) => retain(v, mask),
                ColumnData::Float(v) => retain(v, mask),
                ColumnData::Bool(v) => retain(v, mask),
                ColumnData::Str(v) => retain(v, mask),
            }
        }
        retain(&mut self.rows, mask);
    }
}
