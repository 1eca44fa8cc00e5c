//! `impute`: fill missing values with a value learned at fit (mean, median, most
//! frequent) or given (constant).

use std::cmp::Ordering;

use domain::datasets::ColumnType;
use domain::prepare::{ImputeFill, ImputeStrategy, Scalar};

use super::columns::{chosen, numbers, unsupported};
use super::error::PrepareError;
use super::time::parse_timestamp;
use super::work::Work;
use crate::frame::ColumnData;

pub(crate) fn fit(
    strategy: &ImputeStrategy,
    columns: &Option<Vec<String>>,
    work: &Work,
) -> Result<Vec<ImputeFill>, PrepareError> {
    let mut fills = Vec::new();
    for name in chosen(columns, work)? {
        let data = &work.column(&name)?.data;
        let no_values = |what| PrepareError::NoValues { column: name.clone(), what };
        let value = match strategy {
            ImputeStrategy::Mean => {
                let values = numbers(&name, data, NEED_NUMBER)?;
                if values.is_empty() {
                    return Err(no_values("mean"));
                }
                Scalar::Float(values.iter().sum::<f64>() / values.len() as f64)
            }
            ImputeStrategy::Median => {
                let mut values = numbers(&name, data, NEED_NUMBER)?;
                values.sort_by(f64::total_cmp);
                Scalar::Float(median(&values).ok_or_else(|| no_values("median"))?)
            }
            ImputeStrategy::MostFrequent => {
                most_frequent(data).ok_or_else(|| no_values("most frequent value"))?
            }
            ImputeStrategy::Constant(value) => constant(&name, data.column_type(), value)?,
        };
        fills.push(ImputeFill { column: name, value });
    }
    Ok(fills)
}

const NEED_NUMBER: &str = "mean and median need an int or float column: use most_frequent or constant";

/// The median of sorted values (the mean of the middle two for an even count).
pub(crate) fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let hi = *sorted.get(n / 2)?;
    if n % 2 == 1 {
        return Some(hi);
    }
    Some((*sorted.get(n / 2 - 1)? + hi) / 2.0)
}

/// The value that occurs most often; on a tie, the smallest.
fn most_frequent(data: &ColumnData) -> Option<Scalar> {
    fn mode<T: Clone>(mut values: Vec<T>, cmp: impl Fn(&T, &T) -> Ordering) -> Option<T> {
        values.sort_by(&cmp);
        let mut best: Option<(usize, &T)> = None;
        let mut start = 0;
        for i in 1..=values.len() {
            let run_ends = match (values.get(i), values.get(start)) {
                (Some(next), Some(first)) => cmp(next, first) != Ordering::Equal,
                _ => true,
            };
            if run_ends {
                if let Some(first) = values.get(start)
                    && best.is_none_or(|(count, _)| i - start > count)
                {
                    best = Some((i - start, first));
                }
                start = i;
            }
        }
        best.map(|(_, v)| v.clone())
    }
    match data {
        ColumnData::Int(v) => mode(v.iter().flatten().copied().collect(), i64::cmp).map(Scalar::Int),
        ColumnData::Timestamp(v) => mode(v.iter().flatten().copied().collect(), i64::cmp).map(Scalar::Int),
        ColumnData::Float(v) => {
            mode(v.iter().flatten().copied().filter(|x| !x.is_nan()).collect(), f64::total_cmp)
                .map(Scalar::Float)
        }
        ColumnData::Bool(v) => mode(v.iter().flatten().copied().collect(), bool::cmp).map(Scalar::Bool),
        ColumnData::Str(v) => mode(v.iter().flatten().cloned().collect(), String::cmp).map(Scalar::Str),
    }
}

/// A user's constant, checked against the column and stored in the form `apply`
/// uses: floats for float columns, microseconds for timestamps.
fn constant(name: &str, kind: ColumnType, value: &Scalar) -> Result<Scalar, PrepareError> {
    let refuse = || {
        let shown = match value {
            Scalar::Str(s) => format!("\"{s}\""),
            Scalar::Int(v) => v.to_string(),
            Scalar::Float(v) => v.to_string(),
            Scalar::Bool(b) => b.to_string(),
        };
        Err(unsupported(name, kind, &format!("it cannot be filled with {shown}")))
    };
    match (kind, value) {
        (ColumnType::Int, Scalar::Int(_) | Scalar::Float(_)) => Ok(value.clone()),
        (ColumnType::Float, Scalar::Float(_)) => Ok(value.clone()),
        (ColumnType::Float, Scalar::Int(v)) => Ok(Scalar::Float(*v as f64)),
        (ColumnType::Bool, Scalar::Bool(_)) | (ColumnType::String, Scalar::Str(_)) => Ok(value.clone()),
        (ColumnType::Timestamp, Scalar::Int(_)) => Ok(value.clone()),
        (ColumnType::Timestamp, Scalar::Str(s)) => match parse_timestamp(s) {
            Some(micros) => Ok(Scalar::Int(micros)),
            None => refuse(),
        },
        _ => refuse(),
    }
}

pub(crate) fn apply(fills: &[ImputeFill], work: &mut Work) -> Result<(), PrepareError> {
    for fill in fills {
        if work.skip(&fill.column) {
            continue;
        }
        let index = work.position(&fill.column)?;
        let Some(column) = work.frame.columns.get(index) else { continue };
        let data = filled(&fill.column, &column.data, &fill.value)?;
        work.set(index, data);
    }
    Ok(())
}

/// The column with its missing values replaced; a float value turns an int column
/// into a float one.
fn filled(name: &str, data: &ColumnData, value: &Scalar) -> Result<ColumnData, PrepareError> {
    Ok(match (data, value) {
        (ColumnData::Int(v), Scalar::Int(x)) => {
            ColumnData::Int(v.iter().map(|o| Some(o.unwrap_or(*x))).collect())
        }
        (ColumnData::Int(v), Scalar::Float(x)) => {
            ColumnData::Float(v.iter().map(|o| Some(o.map_or(*x, |i| i as f64))).collect())
        }
        (ColumnData::Float(v), Scalar::Float(x)) => {
            ColumnData::Float(v.iter().map(|o| Some(o.filter(|f| !f.is_nan()).unwrap_or(*x))).collect())
        }
        (ColumnData::Timestamp(v), Scalar::Int(x)) => {
            ColumnData::Timestamp(v.iter().map(|o| Some(o.unwrap_or(*x))).collect())
        }
        (ColumnData::Bool(v), Scalar::Bool(x)) => {
            ColumnData::Bool(v.iter().map(|o| Some(o.unwrap_or(*x))).collect())
        }
        (ColumnData::Str(v), Scalar::Str(x)) => {
            ColumnData::Str(v.iter().map(|o| Some(o.clone().unwrap_or_else(|| x.clone()))).collect())
        }
        _ => return Err(unsupported(name, data.column_type(), "the stored fill value does not fit it")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_modes() {
        assert_eq!(median(&[1.0, 2.0, 10.0]), Some(2.0));
        assert_eq!(median(&[1.0, 2.0, 4.0, 10.0]), Some(3.0));
        assert_eq!(median(&[]), None);
        let ints = ColumnData::Int(vec![Some(3), Some(1), None, Some(3), Some(1), Some(2)]);
        assert_eq!(most_frequent(&ints), Some(Scalar::Int(1)), "ties go to the smallest");
        let s = ColumnData::Str(vec![Some("b".into()), Some("a".into()), Some("b".into()), None, None]);
        assert_eq!(most_frequent(&s), Some(Scalar::Str("b".into())));
        assert_eq!(most_frequent(&ColumnData::Bool(vec![None])), None);
    }

    #[test]
    fn constants_must_suit_the_column() {
        assert_eq!(constant("x", ColumnType::Float, &Scalar::Int(0)), Ok(Scalar::Float(0.0)));
        assert_eq!(
            constant("t", ColumnType::Timestamp, &Scalar::Str("1970-01-02".into())),
            Ok(Scalar::Int(86_400_000_000))
        );
        let err = constant("home", ColumnType::String, &Scalar::Int(0)).unwrap_err();
        assert_eq!(err.to_string(), "column `home` is string: it cannot be filled with 0");
        let err = constant("age", ColumnType::Int, &Scalar::Str("none".into())).unwrap_err();
        assert_eq!(err.to_string(), "column `age` is int: it cannot be filled with \"none\"");
    }

    #[test]
    fn float_fills_widen_int_columns() {
        let ints = ColumnData::Int(vec![Some(1), None]);
        assert_eq!(
            filled("a", &ints, &Scalar::Float(0.5)),
            Ok(ColumnData::Float(vec![Some(1.0), Some(0.5)]))
        );
        assert_eq!(filled("a", &ints, &Scalar::Int(7)), Ok(ColumnData::Int(vec![Some(1), Some(7)])));
        let floats = ColumnData::Float(vec![Some(f64::NAN), None, Some(2.0)]);
        assert_eq!(
            filled("f", &floats, &Scalar::Float(9.0)),
            Ok(ColumnData::Float(vec![Some(9.0), Some(9.0), Some(2.0)]))
        );
    }
}
