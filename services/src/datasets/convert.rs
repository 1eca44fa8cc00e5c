//! Between Arrow (how versions are stored) and `ml::frame::Frame` (what the numerics
//! read). Only the five canonical Arrow types appear in stored versions.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, RecordBatchOptions, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use domain::datasets::ColumnType;
use ml::frame::{Column, ColumnData, Frame};
use std::sync::Arc;

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

/// A frame as a canonical batch: the inverse of [`batch_to_frame`], used to store
/// frames that `ml` computed (prepared splits, whose columns may be new). Every
/// field is nullable, as in ingested versions.
pub fn frame_to_batch(frame: &Frame) -> Result<RecordBatch, String> {
    let mut fields = Vec::with_capacity(frame.columns.len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(frame.columns.len());
    for column in &frame.columns {
        let column_type = column.data.column_type();
        fields.push(Field::new(column.name.clone(), arrow_type(column_type), true));
        let array: ArrayRef = match &column.data {
            ColumnData::Int(v) => Arc::new(Int64Array::from(v.clone())),
            ColumnData::Float(v) => Arc::new(Float64Array::from(v.clone())),
            ColumnData::Bool(v) => Arc::new(BooleanArray::from(v.clone())),
            ColumnData::Str(v) => Arc::new(StringArray::from(v.clone())),
            ColumnData::Timestamp(v) => {
                let DataType::Timestamp(_, tz) = arrow_type(column_type) else {
                    return Err("timestamps map to an Arrow timestamp type".into());
                };
                Arc::new(TimestampMicrosecondArray::from(v.clone()).with_timezone_opt(tz))
            }
        };
        arrays.push(array);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(frame.n_rows()));
    RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), arrays, &options)
        .map_err(|e| format!("building a record batch from a frame: {e}"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_the_round_trip_through_arrow() {
        let frame = Frame::new(vec![
            Column::new("i", ColumnData::Int(vec![Some(1), None, Some(-3)])),
            Column::new("f", ColumnData::Float(vec![Some(0.5), Some(f64::NAN), None])),
            Column::new("b", ColumnData::Bool(vec![None, Some(true), Some(false)])),
            Column::new("s", ColumnData::Str(vec![Some("a".into()), None, Some("".into())])),
            Column::new("t", ColumnData::Timestamp(vec![Some(1_700_000_000_000_000), None, Some(0)])),
        ])
        .unwrap();
        let batch = frame_to_batch(&frame).unwrap();
        let types: Vec<DataType> = batch.schema().fields().iter().map(|f| f.data_type().clone()).collect();
        assert_eq!(types, ColumnType::ALL.map(arrow_type).to_vec());
        let back = batch_to_frame(&batch).unwrap();
        // NaN != NaN, so compare the float column by its bits.
        let bits = |f: &Frame| match &f.columns[1].data {
            ColumnData::Float(v) => v.iter().map(|x| x.map(f64::to_bits)).collect::<Vec<_>>(),
            other => panic!("not float: {other:?}"),
        };
        assert_eq!(bits(&back), bits(&frame));
        for k in [0, 2, 3, 4] {
            assert_eq!(back.columns[k], frame.columns[k]);
        }
    }
}
