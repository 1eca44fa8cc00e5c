//! Categorical encodings: `one_hot` and `ordinal`. Categories are learned at fit
//! and kept as text, sorted (numerically for int columns), so the encoding does
//! not depend on row order and reads well in a stored transform.

use std::collections::{BTreeMap, HashMap, HashSet};

use domain::prepare::{OneHotColumn, OrdinalColumn, UNKNOWN_CATEGORY_CODE, UnknownCategory};

use super::columns::unsupported;
use super::error::PrepareError;
use super::work::Work;
use crate::frame::{Column, ColumnData};

/// The categories of a column with their counts, in sorted order.
fn categories(name: &str, data: &ColumnData, op: &str) -> Result<Vec<(String, usize)>, PrepareError> {
    fn counted<K: Ord, I: IntoIterator<Item = K>>(
        values: I,
        show: impl Fn(K) -> String,
    ) -> Vec<(String, usize)> {
        let mut counts = BTreeMap::new();
        for v in values {
            *counts.entry(v).or_insert(0usize) += 1;
        }
        counts.into_iter().map(|(k, n)| (show(k), n)).collect()
    }
    let found = match data {
        ColumnData::Str(v) => counted(v.iter().flatten(), |s: &String| s.clone()),
        ColumnData::Int(v) => counted(v.iter().flatten(), |i: &i64| i.to_string()),
        ColumnData::Bool(v) => counted(v.iter().flatten(), |b: &bool| b.to_string()),
        other => {
            let need = format!("{op} needs a string, int or bool column");
            return Err(unsupported(name, other.column_type(), &need));
        }
    };
    if found.is_empty() {
        return Err(PrepareError::NoValues { column: name.to_string(), what: "categories" });
    }
    Ok(found)
}

/// Row `i` as category text, without allocating for strings.
fn category(data: &ColumnData, i: usize) -> Option<std::borrow::Cow<'_, str>> {
    match data {
        ColumnData::Str(v) => v.get(i)?.as_deref().map(std::borrow::Cow::Borrowed),
        ColumnData::Int(v) => v.get(i).copied()?.map(|x| x.to_string().into()),
        ColumnData::Bool(v) => v.get(i).copied()?.map(|b| b.to_string().into()),
        _ => None,
    }
}

pub(crate) fn fit_one_hot(
    columns: &[String],
    max_categories: Option<usize>,
    work: &Work,
) -> Result<Vec<OneHotColumn>, PrepareError> {
    let mut out = Vec::new();
    for name in columns {
        let found = categories(name, &work.column(name)?.data, "one_hot")?;
        let (categories, other) = match max_categories {
            Some(max) if found.len() > max => {
                // The most frequent keep a column (ties: sorted order); the rest share `other`.
                let mut by_count: Vec<&(String, usize)> = found.iter().collect();
                by_count.sort_by_key(|c| std::cmp::Reverse(c.1));
                let kept: HashSet<&str> =
                    by_count.iter().take(max.saturating_sub(1)).map(|(c, _)| c.as_str()).collect();
                found.iter().map(|(c, _)| c.clone()).partition(|c| kept.contains(c.as_str()))
            }
            _ => (found.into_iter().map(|(c, _)| c).collect(), Vec::new()),
        };
        out.push(OneHotColumn { column: name.clone(), categories, other });
    }
    Ok(out)
}

pub(crate) fn one_hot_names(enc: &OneHotColumn) -> Vec<String> {
    let mut names: Vec<String> = enc.categories.iter().map(|c| format!("{}_{c}", enc.column)).collect();
    if !enc.other.is_empty() {
        names.push(format!("{}_other", enc.column));
    }
    names
}

/// Each category gets a 0/1 float column; an unseen category or a missing value
/// is all zeros.
pub(crate) fn apply_one_hot(encodings: &[OneHotColumn], work: &mut Work) -> Result<(), PrepareError> {
    for enc in encodings {
        let index = work.position(&enc.column)?;
        let Some(column) = work.frame.columns.get(index) else { continue };
        let n = column.data.len();
        let slots: HashMap<&str, usize> =
            enc.categories.iter().enumerate().map(|(k, c)| (c.as_str(), k)).collect();
        let other_slot = enc.categories.len();
        let other: HashSet<&str> = enc.other.iter().map(String::as_str).collect();
        let names = one_hot_names(enc);
        let mut values = vec![vec![Some(0.0); n]; names.len()];
        for i in 0..n {
            let Some(cat) = category(&column.data, i) else { continue };
            let slot = match slots.get(cat.as_ref()) {
                Some(&k) => k,
                None if other.contains(cat.as_ref()) => other_slot,
                None => continue,
            };
            if let Some(cell) = values.get_mut(slot).and_then(|v| v.get_mut(i)) {
                *cell = Some(1.0);
            }
        }
        let new =
            names.into_iter().zip(values).map(|(name, v)| Column::new(name, ColumnData::Float(v))).collect();
        work.splice(index, false, new)?;
    }
    Ok(())
}

pub(crate) fn fit_ordinal(columns: &[String], work: &Work) -> Result<Vec<OrdinalColumn>, PrepareError> {
    columns
        .iter()
        .map(|name| {
            let found = categories(name, &work.column(name)?.data, "ordinal")?;
            Ok(OrdinalColumn {
                column: name.clone(),
                categories: found.into_iter().map(|(c, _)| c).collect(),
            })
        })
        .collect()
}

/// Each category becomes its index (an int column); missing stays missing, and an
/// unseen category is -1 or an error, as the spec says.
pub(crate) fn apply_ordinal(
    encodings: &[OrdinalColumn],
    unknown: UnknownCategory,
    work: &mut Work,
) -> Result<(), PrepareError> {
    for enc in encodings {
        if work.skip(&enc.column) {
            continue;
        }
        let index = work.position(&enc.column)?;
        let Some(column) = work.frame.columns.get(index) else { continue };
        let codes: HashMap<&str, i64> =
            enc.categories.iter().enumerate().map(|(k, c)| (c.as_str(), k as i64)).collect();
        let mut out = Vec::with_capacity(column.data.len());
        for i in 0..column.data.len() {
            let code = match category(&column.data, i) {
                None => None,
                Some(cat) => match (codes.get(cat.as_ref()), unknown) {
                    (Some(&code), _) => Some(code),
                    (None, UnknownCategory::Code) => Some(UNKNOWN_CATEGORY_CODE),
                    (None, UnknownCategory::Error) => {
                        return Err(PrepareError::UnknownCategory {
                            column: enc.column.clone(),
                            row: work.input_row(i),
                            value: cat.into_owned(),
                        });
                    }
                },
            };
            out.push(code);
        }
        work.set(index, ColumnData::Int(out));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;

    fn work(data: ColumnData) -> Work {
        let n = data.len();
        Work::new(Frame::new(vec![Column::new("c", data)]).unwrap(), n, None, false)
    }

    #[test]
    fn int_categories_sort_numerically() {
        let w = work(ColumnData::Int(vec![Some(10), Some(9), Some(100), None, Some(9)]));
        let enc = fit_ordinal(&["c".into()], &w).unwrap();
        assert_eq!(enc[0].categories, ["9", "10", "100"]);
    }

    #[test]
    fn max_categories_folds_the_rarest_into_other() {
        let values = ["a", "b", "b", "c", "c", "c", "d", "d", "d", "d"].map(|s| Some(s.to_string()));
        let mut w = work(ColumnData::Str(values.to_vec()));
        let enc = fit_one_hot(&["c".into()], Some(3), &w).unwrap();
        assert_eq!(enc[0].categories, ["c", "d"]);
        assert_eq!(enc[0].other, ["a", "b"]);
        apply_one_hot(&enc, &mut w).unwrap();
        let names: Vec<&str> = w.frame.names().collect();
        assert_eq!(names, ["c_c", "c_d", "c_other"]);
        assert_eq!(
            w.frame.columns[2].data,
            ColumnData::Float([1., 1., 1., 0., 0., 0., 0., 0., 0., 0.].map(Some).to_vec())
        );
    }

    #[test]
    fn unseen_and_missing_categories() {
        let fit_on = work(ColumnData::Str(vec![Some("x".into()), Some("y".into())]));
        let one_hot = fit_one_hot(&["c".into()], None, &fit_on).unwrap();
        let ordinal = fit_ordinal(&["c".into()], &fit_on).unwrap();
        let later = || work(ColumnData::Str(vec![Some("y".into()), Some("z".into()), None]));

        let mut w = later();
        apply_one_hot(&one_hot, &mut w).unwrap();
        assert_eq!(w.frame.columns[0].data, ColumnData::Float(vec![Some(0.0), Some(0.0), Some(0.0)]));
        assert_eq!(w.frame.columns[1].data, ColumnData::Float(vec![Some(1.0), Some(0.0), Some(0.0)]));

        let mut w = later();
        apply_ordinal(&ordinal, UnknownCategory::Code, &mut w).unwrap();
        assert_eq!(w.frame.columns[0].data, ColumnData::Int(vec![Some(1), Some(-1), None]));

        let err = apply_ordinal(&ordinal, UnknownCategory::Error, &mut later()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "column `c`, row 1: category `z` was not seen at fit (use `unknown: code` to encode it as -1)"
        );
    }

    #[test]
    fn refuses_floats_and_empty_columns() {
        let err = fit_one_hot(&["c".into()], None, &work(ColumnData::Float(vec![Some(1.0)]))).unwrap_err();
        assert_eq!(err.to_string(), "column `c` is float: one_hot needs a string, int or bool column");
        let err = fit_ordinal(&["c".into()], &work(ColumnData::Str(vec![None]))).unwrap_err();
        assert_eq!(err.to_string(), "column `c` has no values to learn the categories from");
    }
}
