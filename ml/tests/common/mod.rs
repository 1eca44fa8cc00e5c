//! Test helpers: reading the shared CSV data sets into frames.

use ml::frame::{Column, ColumnData, Frame};

/// A data set from the repository's `testdata/` (path relative to this crate, so it works
/// from any checkout).
pub fn data_set(file: &str) -> Frame {
    let path = format!("{}/../testdata/{file}", env!("CARGO_MANIFEST_DIR"));
    read_csv(&path)
}

/// Types inferred per column: int if every present value parses as i64, float if
/// as f64, else string. An empty cell is missing.
pub fn read_csv(path: &str) -> Frame {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let names: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    let mut cells: Vec<Vec<Option<String>>> = vec![Vec::new(); names.len()];
    for record in reader.records() {
        let record = record.unwrap();
        for (column, value) in cells.iter_mut().zip(record.iter()) {
            column.push((!value.is_empty()).then(|| value.to_string()));
        }
    }
    let columns = names
        .into_iter()
        .zip(cells)
        .map(|(name, values)| {
            let present = || values.iter().flatten();
            let data = if present().all(|v| v.parse::<i64>().is_ok()) {
                ColumnData::Int(values.iter().map(|v| v.as_ref().and_then(|v| v.parse().ok())).collect())
            } else if present().all(|v| v.parse::<f64>().is_ok()) {
                ColumnData::Float(values.iter().map(|v| v.as_ref().and_then(|v| v.parse().ok())).collect())
            } else {
                ColumnData::Str(values)
            };
            Column::new(name, data)
        })
        .collect();
    Frame::new(columns).unwrap()
}
