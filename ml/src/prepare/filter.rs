//! Evaluating a filter expression over a frame, with SQL's three-valued logic: a
//! comparison with a missing value is unknown, `not unknown` is unknown, and only
//! rows where the whole expression is true are kept. `is null` is never unknown.
//!
//! Binding checks every column exists and every literal suits the column's type
//! before any row is looked at, so a typo fails the same way on an empty frame.

use std::cmp::Ordering;

use domain::datasets::ColumnType;

use super::error::PrepareError;
use super::expr::{self, CmpOp, Expr, LitValue, Literal, Name};
use super::time::parse_timestamp;
use crate::frame::{ColumnData, Frame};

/// Which rows of `frame` satisfy the expression `text`.
pub(crate) fn evaluate(text: &str, frame: &Frame) -> Result<Vec<bool>, PrepareError> {
    let parsed = expr::parse(text)?;
    let values = eval(text, &parsed, frame)?;
    Ok(values.into_iter().map(|v| v == Some(true)).collect())
}

fn eval(text: &str, e: &Expr, frame: &Frame) -> Result<Vec<Option<bool>>, PrepareError> {
    Ok(match e {
        Expr::And(a, b) => {
            let (a, b) = (eval(text, a, frame)?, eval(text, b, frame)?);
            a.into_iter()
                .zip(b)
                .map(|p| match p {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                })
                .collect()
        }
        Expr::Or(a, b) => {
            let (a, b) = (eval(text, a, frame)?, eval(text, b, frame)?);
            a.into_iter()
                .zip(b)
                .map(|p| match p {
                    (Some(true), _) | (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                })
                .collect()
        }
        Expr::Not(inner) => eval(text, inner, frame)?.into_iter().map(|v| v.map(|b| !b)).collect(),
        Expr::IsNull { column, negated } => {
            let data = column_data(text, column, frame)?;
            (0..data.len()).map(|i| Some(data.is_missing(i) != *negated)).collect()
        }
        Expr::Compare { column, op, value } => {
            let data = column_data(text, column, frame)?;
            let key = bind(text, column, data, *op, value)?;
            (0..data.len()).map(|i| compare(data, i, &key).map(|o| op.holds(o))).collect()
        }
        Expr::In { column, values, negated } => {
            let data = column_data(text, column, frame)?;
            let keys = values
                .iter()
                .map(|v| bind(text, column, data, CmpOp::Eq, v))
                .collect::<Result<Vec<_>, _>>()?;
            (0..data.len())
                .map(|i| {
                    if data.is_missing(i) {
                        return None;
                    }
                    let found = keys.iter().any(|k| compare(data, i, k) == Some(Ordering::Equal));
                    Some(found != *negated)
                })
                .collect()
        }
    })
}

fn column_data<'f>(text: &str, column: &Name, frame: &'f Frame) -> Result<&'f ColumnData, PrepareError> {
    match frame.column(&column.name) {
        Some(c) => Ok(&c.data),
        None => {
            let available = super::columns::list(frame);
            let message = format!("unknown column `{}` (the columns are: {available})", column.name);
            Err(expr::error(text, column.offset, message))
        }
    }
}

/// A literal converted to the column's type, ready to compare row values with.
enum Key {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Micros(i64),
}

fn bind(text: &str, column: &Name, data: &ColumnData, op: CmpOp, lit: &Literal) -> Result<Key, PrepareError> {
    let kind = data.column_type();
    let mismatch = |hint: &str| {
        let message =
            format!("column `{}` is {kind} but is compared with {}{hint}", column.name, lit.value.describe());
        Err(expr::error(text, lit.offset, message))
    };
    match (kind, &lit.value) {
        (ColumnType::Int, LitValue::Int(v)) => Ok(Key::Int(*v)),
        (ColumnType::Float, LitValue::Int(v)) => Ok(Key::Float(*v as f64)),
        (ColumnType::Int | ColumnType::Float, LitValue::Float(v)) => Ok(Key::Float(*v)),
        (ColumnType::String, LitValue::Str(s)) => Ok(Key::Str(s.clone())),
        (ColumnType::String, _) => mismatch(": quote the value"),
        (ColumnType::Bool, LitValue::Bool(b)) if matches!(op, CmpOp::Eq | CmpOp::Ne) => Ok(Key::Bool(*b)),
        (ColumnType::Bool, LitValue::Bool(_)) => {
            let message = format!("column `{}` is bool: only = and != apply to it", column.name);
            Err(expr::error(text, lit.offset, message))
        }
        (ColumnType::Timestamp, LitValue::Str(s)) => match parse_timestamp(s) {
            Some(micros) => Ok(Key::Micros(micros)),
            None => {
                let message = format!(
                    "\"{s}\" is not a timestamp: use RFC 3339, YYYY-MM-DD or YYYY-MM-DD HH:MM:SS (UTC)"
                );
                Err(expr::error(text, lit.offset, message))
            }
        },
        (ColumnType::Timestamp, _) => mismatch(": write the time as a quoted date, e.g. \"2013-06-01\""),
        _ => mismatch(""),
    }
}

/// Row `i` compared with the key; `None` when the row is missing.
fn compare(data: &ColumnData, i: usize, key: &Key) -> Option<Ordering> {
    match (data, key) {
        (ColumnData::Int(v), Key::Int(k)) => Some(v.get(i).copied()??.cmp(k)),
        (ColumnData::Int(v), Key::Float(k)) => (v.get(i).copied()?? as f64).partial_cmp(k),
        (ColumnData::Float(v), Key::Float(k)) => v.get(i).copied()??.partial_cmp(k),
        (ColumnData::Str(v), Key::Str(k)) => Some(v.get(i)?.as_deref()?.cmp(k.as_str())),
        (ColumnData::Bool(v), Key::Bool(k)) => Some(v.get(i).copied()??.cmp(k)),
        (ColumnData::Timestamp(v), Key::Micros(k)) => Some(v.get(i).copied()??.cmp(k)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Column;

    fn frame() -> Frame {
        Frame::new(vec![
            Column::new("age", ColumnData::Int(vec![Some(17), Some(18), Some(40), None, Some(65)])),
            Column::new(
                "home",
                ColumnData::Str(vec![
                    Some("rent".into()),
                    Some("own".into()),
                    Some("rent".into()),
                    Some("own".into()),
                    None,
                ]),
            ),
            Column::new(
                "income",
                ColumnData::Float(vec![Some(50.0), Some(150.0), Some(f64::NAN), Some(20.0), Some(300.0)]),
            ),
            Column::new(
                "vip",
                ColumnData::Bool(vec![Some(true), Some(false), None, Some(false), Some(true)]),
            ),
            Column::new(
                "seen",
                ColumnData::Timestamp(vec![
                    Some(parse_timestamp("2013-01-01").unwrap()),
                    Some(parse_timestamp("2013-06-01T12:00:00Z").unwrap()),
                    Some(parse_timestamp("2013-12-31 23:59:59").unwrap()),
                    None,
                    Some(parse_timestamp("2014-01-01").unwrap()),
                ]),
            ),
        ])
        .unwrap()
    }

    fn rows(text: &str) -> Vec<usize> {
        let mask = evaluate(text, &frame()).unwrap_or_else(|e| panic!("{text}: {e}"));
        mask.iter().enumerate().filter(|(_, k)| **k).map(|(i, _)| i).collect()
    }

    #[test]
    fn comparisons_and_logic_follow_sql() {
        assert_eq!(rows("age >= 18"), [1, 2, 4]);
        // Row 4 has no `home`, but `unknown or true` is true.
        assert_eq!(rows("age >= 18 and (home = \"rent\" or income > 100)"), [1, 2, 4]);
        // Missing values: unknown, so neither `x > 100` nor `not (x > 100)` keeps them.
        assert_eq!(rows("income > 100"), [1, 4]);
        assert_eq!(rows("not (income > 100)"), [0, 3]);
        assert_eq!(rows("income is null or income > 100"), [1, 2, 4]);
        assert_eq!(rows("home is not null and age is not null"), [0, 1, 2]);
        assert_eq!(rows("home in ('own', 'boat')"), [1, 3]);
        assert_eq!(rows("home not in ('own')"), [0, 2]);
        assert_eq!(rows("age in (17, 65.0)"), [0, 4]);
        assert_eq!(rows("vip = true"), [0, 4]);
        assert_eq!(rows("vip != true"), [1, 3]);
        assert_eq!(rows("seen < '2013-06-01T12:00:00Z'"), [0]);
        assert_eq!(rows("seen >= \"2014-01-01\" or seen <= '2013-01-01'"), [0, 4]);
        assert_eq!(rows("age > 17.5 and age < 41"), [1, 2]);
        assert_eq!(rows("home < 'p'"), [1, 3]);
        // Unknown or true is true; unknown and false is false.
        assert_eq!(rows("income > 100 or age = 40"), [1, 2, 4]);
        assert_eq!(rows("not (income > 100 and age = 18)"), [0, 2, 3, 4]);
    }

    #[test]
    fn binding_errors_name_the_column_and_point_at_it() {
        let cases: [(&str, usize, &str); 6] = [
            ("agee > 1", 0, "unknown column `agee` (the columns are: age, home, income, vip, seen)"),
            ("age > 1 and hom = 'x'", 12, "unknown column `hom`"),
            ("home = 3", 7, "column `home` is string but is compared with number 3: quote the value"),
            ("age = 'x'", 6, "column `age` is int but is compared with string \"x\""),
            ("vip > false", 6, "column `vip` is bool: only = and != apply to it"),
            ("seen > 'last week'", 7, "\"last week\" is not a timestamp"),
        ];
        for (text, offset, message) in cases {
            match evaluate(text, &frame()) {
                Err(PrepareError::Filter { offset: got, message: m, .. }) => {
                    assert_eq!(got, offset, "{text}: {m}");
                    assert!(m.contains(message), "{text}: {m}");
                }
                other => panic!("{text}: expected an error, got {other:?}"),
            }
        }
    }
}
