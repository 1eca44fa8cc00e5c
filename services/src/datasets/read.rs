//! Reading stored versions back: preview pages, whole frames for validation, and
//! the per-batch profiling hook of the ingest.

use super::convert::{batch_to_frame, cell_text};
use crate::{Error, Result};
use bytes::Bytes;
use domain::datasets::ColumnInfo;
use domain::datasets::ColumnType;
use domain::profile::{DatasetProfile, ProfileConfig};
use ml::frame::Frame;
use ml::profile::Profiler;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

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

/// Writes a stored version as CSV with a header row (for user code that reads
/// CSV), streaming batch by batch.
pub fn write_csv(parquet: Bytes, path: &std::path::Path) -> Result<()> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(parquet)
        .map_err(parquet_error)?
        .build()
        .map_err(parquet_error)?;
    let file = std::fs::File::create(path).map_err(|e| Error::Other(e.into()))?;
    let mut writer = arrow_csv::WriterBuilder::new().with_header(true).build(std::io::BufWriter::new(file));
    for batch in reader {
        writer.write(&batch.map_err(parquet_error)?).map_err(parquet_error)?;
    }
    Ok(())
}

/// Feeds the profiler batch by batch during ingest; it is created at the first
/// batch, when the column types are known.
#[derive(Default)]
pub struct Profiling {
    profiler: Option<Profiler>,
}

impl Profiling {
    pub fn push(&mut self, columns: &[ColumnInfo], frame: &Frame) -> std::result::Result<(), String> {
        if self.profiler.is_none() {
            let schema: Vec<(String, ColumnType)> =
                columns.iter().map(|c| (c.name.clone(), c.column_type)).collect();
            self.profiler =
                Some(Profiler::new(&schema, ProfileConfig::default()).map_err(|e| e.to_string())?);
        }
        match &mut self.profiler {
            Some(p) => p.push(frame).map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    pub fn finish(self) -> Option<DatasetProfile> {
        self.profiler.map(Profiler::finish)
    }
}

/// A whole stored version as one frame (validation compares whole columns).
pub fn whole(parquet: Bytes) -> Result<Frame> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(parquet).map_err(parquet_error)?;
    let rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0).max(1);
    let mut reader = builder.with_batch_size(rows).build().map_err(parquet_error)?;
    match reader.next() {
        Some(batch) => batch_to_frame(&batch.map_err(parquet_error)?).map_err(parquet_error),
        None => Ok(Frame::default()),
    }
}
