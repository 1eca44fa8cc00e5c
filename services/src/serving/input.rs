//! Prediction inputs, protocol-neutral: the protocols (V2 tensors, records,
//! MLflow dataframes) turn their JSON into named columns of [`Scalar`]s, and
//! [`LoadedModel::frame`](super::engine::LoadedModel::frame) checks them against the
//! model's signature and builds the typed frame the bundle predicts on. Every
//! refusal is a `ValidationError` naming the feature (the field) and the row.

use crate::{Error, Result};
use domain::ValidationError;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use std::fmt;

/// One JSON value of an input: what a cell of any protocol can hold.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Scalar {
    pub fn kind(&self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Bool(_) => "a boolean",
            Scalar::Int(_) | Scalar::Float(_) => "a number",
            Scalar::Str(_) => "a string",
        }
    }

    /// The value as shown in a message (strings quoted, long ones cut).
    pub fn show(&self) -> String {
        match self {
            Scalar::Null => "null".into(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Str(s) if s.chars().count() > 40 => {
                format!("\"{}…\"", s.chars().take(40).collect::<String>())
            }
            Scalar::Str(s) => format!("\"{s}\""),
        }
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number, a string, a boolean or null")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
        Ok(i64::try_from(v).map(Scalar::Int).unwrap_or(Scalar::Float(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

/// A JSON array of scalars, nested arrays flattened in row-major order (V2 tensors
/// may send `[[1], [2]]` for shape `[2, 1]`). `nested` says whether any were.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlatScalars {
    pub values: Vec<Scalar>,
    pub nested: bool,
}

struct FlatVisitor<'a>(&'a mut FlatScalars);

impl<'de> de::DeserializeSeed<'de> for FlatVisitor<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FlatVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of numbers, strings, booleans or nulls")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(next) = seq.next_element::<Nested>()? {
            match next {
                Nested::Value(v) => self.0.values.push(v),
                Nested::List(inner) => {
                    self.0.nested = true;
                    self.0.values.extend(inner.values);
                }
            }
        }
        Ok(())
    }
}

/// An element of a flattened array: a scalar or an inner array.
enum Nested {
    Value(Scalar),
    List(FlatScalars),
}

impl<'de> Deserialize<'de> for Nested {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Nested;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number, a string, a boolean, null or an array of them")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Nested, E> {
                Ok(Nested::Value(Scalar::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Nested, E> {
                Ok(Nested::Value(Scalar::Int(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Nested, E> {
                ScalarVisitor.visit_u64(v).map(Nested::Value)
            }
            fn visit_f64<E>(self, v: f64) -> Result<Nested, E> {
                Ok(Nested::Value(Scalar::Float(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Nested, E> {
                Ok(Nested::Value(Scalar::Str(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Nested, E> {
                Ok(Nested::Value(Scalar::Str(v)))
            }
            fn visit_unit<E>(self) -> Result<Nested, E> {
                Ok(Nested::Value(Scalar::Null))
            }
            fn visit_none<E>(self) -> Result<Nested, E> {
                Ok(Nested::Value(Scalar::Null))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Nested, A::Error> {
                let mut inner = FlatScalars::default();
                FlatVisitor(&mut inner).visit_seq(seq)?;
                Ok(Nested::List(inner))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for FlatScalars {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = FlatScalars::default();
        d.deserialize_seq(FlatVisitor(&mut out))?;
        Ok(out)
    }
}

/// Named columns of equal length, as a protocol read them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Columns {
    pub n_rows: usize,
    pub columns: Vec<(String, Vec<Scalar>)>,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
    ValidationError::new(field, message).into()
}

impl Columns {
    /// Columns of equal length; `field` names the part of the request they came from.
    pub fn new(columns: Vec<(String, Vec<Scalar>)>, field: &str) -> Result<Self> {
        let n_rows = columns.first().map_or(0, |c| c.1.len());
        for (i, (name, values)) in columns.iter().enumerate() {
            if values.len() != n_rows {
                return Err(invalid(
                    name.clone(),
                    format!(
                        "`{name}` has {} values but `{}` has {n_rows}: every feature needs one value per row",
                        values.len(),
                        columns[0].0
                    ),
                ));
            }
            if columns[..i].iter().any(|(n, _)| n == name) {
                return Err(invalid(field, format!("feature `{name}` is given twice")));
            }
        }
        Ok(Self { n_rows, columns })
    }

    /// Records (one map per row) into columns. Every record must have the same keys.
    pub fn from_records(records: Vec<Vec<(String, Scalar)>>, field: &str) -> Result<Self> {
        let mut columns: Vec<(String, Vec<Scalar>)> = Vec::new();
        let n_rows = records.len();
        for (row, record) in records.into_iter().enumerate() {
            if row > 0 && record.len() != columns.len() {
                let missing: Vec<&str> = columns
                    .iter()
                    .map(|c| c.0.as_str())
                    .filter(|n| !record.iter().any(|(k, _)| k == n))
                    .collect();
                let extra: Vec<&str> = record
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .filter(|k| !columns.iter().any(|c| c.0 == *k))
                    .collect();
                return Err(invalid(
                    field,
                    format!(
                        "record {} has different features from record 1 (missing: {}; extra: {}): every record needs the same features",
                        row + 1,
                        if missing.is_empty() { "none".into() } else { missing.join(", ") },
                        if extra.is_empty() { "none".into() } else { extra.join(", ") },
                    ),
                ));
            }
            for (i, (key, value)) in record.into_iter().enumerate() {
                if row == 0 {
                    if columns.iter().any(|c| c.0 == key) {
                        return Err(invalid(field, format!("record 1 has `{key}` twice")));
                    }
                    let mut values = Vec::with_capacity(n_rows);
                    values.push(value);
                    columns.push((key, values));
                    continue;
                }
                // Records usually list keys in the same order: try that position first.
                let pos = if columns.get(i).is_some_and(|c| c.0 == key) {
                    Some(i)
                } else {
                    columns.iter().position(|c| c.0 == key)
                };
                match pos {
                    Some(p) if columns[p].1.len() == row => columns[p].1.push(value),
                    Some(_) => return Err(invalid(field, format!("record {} has `{key}` twice", row + 1))),
                    None => {
                        return Err(invalid(
                            field,
                            format!(
                                "record {} has `{key}`, which record 1 does not: every record needs the same features",
                                row + 1
                            ),
                        ));
                    }
                }
            }
        }
        Ok(Self { n_rows, columns })
    }
}

/// Records as JSON objects, read straight into `(key, Scalar)` pairs (no map per row).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record(pub Vec<(String, Scalar)>);

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Record;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of feature name to value")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some((k, v)) = map.next_entry::<String, Scalar>()? {
                    out.push((k, v));
                }
                Ok(Record(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A JSON array of records read straight into columns: keys are matched against the
/// first record's without allocating (borrowed from the body), so a 1,000-row
/// request costs one name per feature, not one per cell. Records that disagree
/// with the first are reported by [`RecordColumns::into_columns`], naming the record.
#[derive(Debug, Default)]
pub struct RecordColumns {
    columns: Vec<(String, Vec<Scalar>)>,
    rows: usize,
    problem: Option<String>,
}

impl RecordColumns {
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn into_columns(self, field: &str) -> Result<Columns> {
        match self.problem {
            Some(p) => Err(invalid(field, p)),
            None => Ok(Columns { n_rows: self.rows, columns: self.columns }),
        }
    }

    fn push(&mut self, key: std::borrow::Cow<'_, str>, value: Scalar, hint: usize) {
        let row = self.rows;
        if row == 0 {
            if self.columns.iter().any(|c| c.0 == key) {
                self.problem.get_or_insert_with(|| format!("record 1 has `{key}` twice"));
                return;
            }
            self.columns.push((key.into_owned(), vec![value]));
            return;
        }
        let pos = if self.columns.get(hint).is_some_and(|c| c.0 == key) {
            Some(hint)
        } else {
            self.columns.iter().position(|c| c.0 == key)
        };
        match pos {
            Some(p) if self.columns[p].1.len() == row => self.columns[p].1.push(value),
            Some(_) => {
                self.problem.get_or_insert_with(|| format!("record {} has `{key}` twice", row + 1));
            }
            None => {
                self.problem.get_or_insert_with(|| {
                    format!("record {} has `{key}`, which record 1 does not: every record needs the same features", row + 1)
                });
            }
        }
    }

    fn end_record(&mut self) {
        self.rows += 1;
        if self.problem.is_none()
            && let Some((name, _)) = self.columns.iter().find(|c| c.1.len() != self.rows)
        {
            self.problem = Some(format!(
                "record {} has no `{name}`, which record 1 has: every record needs the same features",
                self.rows
            ));
        }
    }
}

struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a feature name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for RecordColumns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Records;
        impl<'de> Visitor<'de> for Records {
            type Value = RecordColumns;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of records (objects of feature name to value)")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RecordColumns, A::Error> {
                let mut out = RecordColumns::default();
                while seq.next_element_seed(OneRecord(&mut out))?.is_some() {}
                Ok(out)
            }
        }
        d.deserialize_seq(Records)
    }
}

struct OneRecord<'a>(&'a mut RecordColumns);

impl<'de> de::DeserializeSeed<'de> for OneRecord<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for OneRecord<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of feature name to value")
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut i = 0;
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            let v: Scalar = map.next_value()?;
            self.0.push(k, v, i);
            i += 1;
        }
        self.0.end_record();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_and_nested_arrays_parse() {
        let f: FlatScalars = serde_json::from_str("[1, 2.5, \"a\", null, true]").unwrap();
        assert_eq!(
            f.values,
            vec![
                Scalar::Int(1),
                Scalar::Float(2.5),
                Scalar::Str("a".into()),
                Scalar::Null,
                Scalar::Bool(true)
            ]
        );
        assert!(!f.nested);
        let f: FlatScalars = serde_json::from_str("[[1], [2]]").unwrap();
        assert_eq!(f.values, vec![Scalar::Int(1), Scalar::Int(2)]);
        assert!(f.nested);
        assert!(serde_json::from_str::<FlatScalars>("[{\"a\": 1}]").is_err());
    }

    #[test]
    fn records_become_columns_and_must_agree() {
        let recs: Vec<Record> = serde_json::from_str(r#"[{"a": 1, "b": "x"}, {"b": "y", "a": 2}]"#).unwrap();
        let cols = Columns::from_records(recs.into_iter().map(|r| r.0).collect(), "records").unwrap();
        assert_eq!(cols.n_rows, 2);
        assert_eq!(cols.columns[0], ("a".to_string(), vec![Scalar::Int(1), Scalar::Int(2)]));
        assert_eq!(cols.columns[1].1, vec![Scalar::Str("x".into()), Scalar::Str("y".into())]);
        let recs: Vec<Record> = serde_json::from_str(r#"[{"a": 1, "b": "x"}, {"a": 2}]"#).unwrap();
        let err = Columns::from_records(recs.into_iter().map(|r| r.0).collect(), "records").unwrap_err();
        assert!(err.to_string().contains("record 2") && err.to_string().contains("missing: b"), "{err}");
        let recs: Vec<Record> = serde_json::from_str(r#"[{"a": 1}, {"c": 2}]"#).unwrap();
        let err = Columns::from_records(recs.into_iter().map(|r| r.0).collect(), "records").unwrap_err();
        assert!(err.to_string().contains("`c`"), "{err}");
        let err = Columns::new(vec![("a".into(), vec![Scalar::Int(1)]), ("b".into(), vec![])], "inputs")
            .unwrap_err();
        assert!(err.to_string().contains("`b` has 0 values but `a` has 1"), "{err}");

        // The same rules when records are read straight into columns.
        let rc: RecordColumns = serde_json::from_str(r#"[{"a": 1, "b": "x"}, {"b": "y", "a": 2}]"#).unwrap();
        let cols = rc.into_columns("records").unwrap();
        assert_eq!(cols.columns[0], ("a".to_string(), vec![Scalar::Int(1), Scalar::Int(2)]));
        let rc: RecordColumns = serde_json::from_str(r#"[{"a": 1, "b": "x"}, {"a": 2}]"#).unwrap();
        let err = rc.into_columns("records").unwrap_err();
        assert!(err.to_string().contains("record 2 has no `b`"), "{err}");
        let rc: RecordColumns = serde_json::from_str(r#"[{"a": 1}, {"a": 2, "c\u0041": 3}]"#).unwrap();
        let err = rc.into_columns("records").unwrap_err();
        assert!(err.to_string().contains("record 2 has `cA`"), "{err}");
    }
}
