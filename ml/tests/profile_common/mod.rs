//! Helpers shared by the profile tests: CSV into frames, float comparison.

#![allow(dead_code)] // each test binary uses a different part

use domain::datasets::ColumnType;
use ml::frame::{Column, ColumnData, Frame};

/// Read a CSV (path relative to the `ml` crate) into one column per `(name, type)`;
/// an empty cell is missing.
pub fn read_csv(path: &str, schema: &[(String, ColumnType)]) -> Vec<ColumnData> {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    let mut reader = csv::Reader::from_path(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    let headers = reader.headers().unwrap().clone();
    let index: Vec<usize> = schema
        .iter()
        .map(|(name, _)| headers.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}")))
        .collect();
    let mut columns: Vec<ColumnData> = schema
        .iter()
        .map(|(_, ty)| match ty {
            ColumnType::Int => ColumnData::Int(vec![]),
            ColumnType::Float => ColumnData::Float(vec![]),
            ColumnType::Bool => ColumnData::Bool(vec![]),
            ColumnType::String => ColumnData::Str(vec![]),
            ColumnType::Timestamp => ColumnData::Timestamp(vec![]),
        })
        .collect();
    for record in reader.records() {
        let record = record.unwrap();
        for (column, &i) in columns.iter_mut().zip(&index) {
            let cell = record.get(i).unwrap();
            let present = !cell.is_empty();
            match column {
                ColumnData::Int(v) | ColumnData::Timestamp(v) => {
                    v.push(present.then(|| cell.parse().unwrap()))
                }
                ColumnData::Float(v) => v.push(present.then(|| cell.parse().unwrap())),
                ColumnData::Bool(v) => v.push(present.then(|| cell.parse().unwrap())),
                ColumnData::Str(v) => v.push(present.then(|| cell.to_owned())),
            }
        }
    }
    columns
}

/// Rows `start..end` of every column as a frame.
pub fn slice(schema: &[(String, ColumnType)], columns: &[ColumnData], start: usize, end: usize) -> Frame {
    let cols = schema
        .iter()
        .zip(columns)
        .map(|((name, _), data)| {
            let data = match data {
                ColumnData::Int(v) => ColumnData::Int(v[start..end].to_vec()),
                ColumnData::Float(v) => ColumnData::Float(v[start..end].to_vec()),
                ColumnData::Bool(v) => ColumnData::Bool(v[start..end].to_vec()),
                ColumnData::Str(v) => ColumnData::Str(v[start..end].to_vec()),
                ColumnData::Timestamp(v) => ColumnData::Timestamp(v[start..end].to_vec()),
            };
            Column::new(name.clone(), data)
        })
        .collect();
    Frame::new(cols).unwrap()
}

/// Equal within `rel` relative error (or 1e-12 absolute, for values near zero).
pub fn close(a: f64, b: f64, rel: f64) -> bool {
    let d = (a - b).abs();
    d <= rel * a.abs().max(b.abs()) || d <= 1e-12
}
