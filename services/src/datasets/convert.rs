//! Between Arrow (how versions are stored) and `ml::frame::Frame` (what the numerics
//! read). Only the five canonical Arrow types appear in stored versions.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use domain::datasets::ColumnType;
use ml::frame::{Column, ColumnData, Frame};

pub fn arrow_type(t: ColumnType) -> DataType {
    match t {
        ColumnType::Int => DataType::Int64,
        ColumnType::Float => DataType::Float64,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::String => DataType::Utf8,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
    }
}

/// Which of our types an Arrow column (e.g. from a Parquet upload or a SQL source)
/// becomes; `None` for nested and binary types.
pub fn column_type_of(t: &DataType) -> Option<ColumnType> {
    Some(match t {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => ColumnType::Int,
        DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => ColumnType::Float,
        DataType::Boolean => ColumnType::Bool,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => ColumnType::String,
        DataType::Dictionary(_, v) if matches!(v.as_ref(), DataType::Utf8 | DataType::LargeUtf8) => {
            ColumnType::String
        }
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) => ColumnType::Timestamp,
        _ => return None,
    })
}

/// A canonical batch as a frame. Errors only if a column is not canonical, which
/// would be a bug in the ingest, so the message is for the log.
pub fn batch_to_frame(batch: &RecordBatch) -> Result<Frame, String> {
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
        let data = match field.data_type() {
            DataType::Int64 => ColumnData::Int(array.as_primitive::<Int64Type>().iter().collect()),
            DataType::Float64 => ColumnData::Float(array.as_primitive::<Float64Type>().iter().collect()),
            DataType::Boolean => ColumnData::Bool(array.as_boolean().iter().collect()),
            DataType::Utf8 => {
                ColumnData::Str(array.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect())
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                ColumnData::Timestamp(array.as_primitive::<TimestampMicrosecondType>().iter().collect())
            }
            other => return Err(format!("column `{}` has non-canonical type {other}", field.name())),
        };
        debug_assert_eq!(data.len(), array.len());
        columns.push(Column::new(field.name().clone(), data));
    }
    Frame::new(columns).map_err(|e| e.to_string())
}

/// Row `i` of a column as display text; timestamps as RFC 3339.
pub fn cell_text(data: &ColumnData, i: usize) -> Option<String> {
    match data {
        ColumnData::Timestamp(v) => v.get(i).copied().flatten().map(|us| {
            chrono::DateTime::from_timestamp_micros(us).map_or_else(|| us.to_string(), |t| t.to_rfc3339())
        }),
        other => other.text(i),
    }
}
