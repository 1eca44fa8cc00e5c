//! Reading stored versions back: preview pages, whole frames for validation, and
//! the per-batch profiling hook of the ingest.

use super::convert::{batch_to_frame, cell_text};
use crate::{Error, Result};
use bytes::Bytes;
use domain::datasets::ColumnInfo;
use ml::frame::Frame;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};

fn parquet_error(e: impl std::fmt::Display) -> Error {
    Error::Other(anyhow::anyhow!("reading a stored dataset version: {e}"))
}

/// Rows `offset..offset+limit` as display text.
pub fn rows(parquet: Bytes, offset: u64, limit: usize) -> Result<Vec<Vec<Option<String>>>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(parquet)
        .map_err(parquet_error)?
        .with_offset(offset as usize)
        .with_limit(limit)
        .with_batch_size(limit.max(1))
        .build()
        .map_err(parquet_error)?;
    let mut out = Vec::with_capacity(limit);
    for batch in reader {
        let frame = batch_to_frame(&batch.map_err(parquet_error)?).map_err(parquet_error)?;
        for i in 0..frame.n_rows() {
            out.push(frame.columns.iter().map(|c| cell_text(&c.data, i)).collect());
        }
    }
    Ok(out)
}

/// A whole stored version as batches of frames.
pub fn frames(parquet: Bytes) -> Result<Vec<Frame>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(parquet)
        .map_err(parquet_error)?
        .with_batch_size(super::ingest::BATCH_ROWS)
        .build()
        .map_err(parquet_error)?;
    reader.map(|b| batch_to_frame(&b.map_err(parquet_error)?).map_err(parquet_error)).collect()
}

/// Feeds the profiler batch by batch during ingest.
#[derive(Default)]
pub struct Profiling {
    rows: u64,
}

impl Profiling {
    pub fn push(&mut self, _columns: &[ColumnInfo], frame: &Frame) -> std::result::Result<(), String> {
        self.rows += frame.n_rows() as u64;
        Ok(())
    }

    pub fn finish(self) -> Value {
        json!({ "n_rows": self.rows })
    }
}
