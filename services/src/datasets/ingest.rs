//! Turning a file (CSV, CSV.gz or Parquet) into a stored version: type inference,
//! conversion into Cairn's canonical Arrow types, a Parquet copy, and a callback per
//! batch (the profiler). Blocking code: callers run it on the blocking pool.
//!
//! Canonical Arrow types, one per `ColumnType`, so every reader downstream (preview,
//! profile, validation, training) handles five types and nothing else:
//! Int64, Float64, Boolean, Utf8, Timestamp(µs, "+00:00") (an offset, not "UTC":
//! named zones would need arrow's chrono-tz feature).

use super::convert::{arrow_type, batch_to_frame, column_type_of};
use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use domain::datasets::{ColumnInfo, ColumnType, FileFormat};
use ml::frame::Frame;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::{Arc, LazyLock};

/// Rows per batch: large enough to amortise per-batch work, small enough that a
/// batch of a wide table stays a few tens of MB.
pub const BATCH_ROWS: usize = 65_536;

/// Text that means "no value" in a CSV cell.
static NULLS: LazyLock<regex::Regex> = LazyLock::new(|| {
    #[allow(clippy::unwrap_used)] // a literal pattern
    regex::Regex::new(r"^(|NA|N/A|n/a|na|NaN|nan|null|NULL|None)$").unwrap()
});

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the file is empty: upload a CSV with a header row and at least one data row")]
    Empty,
    #[error("the file has a header but no data rows")]
    HeaderOnly,
    #[error("column `{0}` appears twice in the header; rename one of them")]
    DuplicateColumn(String),
    #[error("column {0} has an empty name in the header; give every column a name")]
    EmptyColumnName(usize),
    #[error("the type override names column `{0}`, which the file does not have")]
    UnknownOverride(String),
    #[error("column `{column}`: {message}")]
    Column { column: String, message: String },
    #[error("the file could not be read as {format}: {message}")]
    Parse { format: &'static str, message: String },
    #[error("the file is not gzip-compressed ({0}); upload it as .csv or compress it with gzip")]
    NotGzip(String),
    #[error("{0}")]
    Batch(String),
    #[error("writing the Parquet copy failed: {0}")]
    Write(String),
    #[error("reading the upload failed: {0}")]
    Io(#[from] std::io::Error),
}

impl IngestError {
    fn csv(e: ArrowError) -> Self {
        IngestError::Parse { format: "CSV", message: clean_arrow(e) }
    }
    fn parquet(e: impl std::fmt::Display) -> Self {
        IngestError::Parse { format: "Parquet", message: e.to_string() }
    }
}

/// Arrow prefixes its messages with the error kind ("Parser error: ..."), which
/// says nothing to a person uploading a file.
pub(crate) fn clean_arrow(e: ArrowError) -> String {
    let s = e.to_string();
    for prefix in
        ["Parser error: ", "Csv error: ", "Cast error: ", "Invalid argument error: ", "External error: "]
    {
        if let Some(rest) = s.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    s
}

/// Called with each converted batch before it is written (the profiler).
pub type OnBatch<'a> = dyn FnMut(&[ColumnInfo], &Frame) -> Result<(), IngestError> + 'a;

/// What a stored version holds, as the ingest found it.
#[derive(Debug)]
pub struct Ingested {
    pub columns: Vec<ColumnInfo>,
    pub n_rows: u64,
    pub parquet: tempfile::NamedTempFile,
    pub parquet_bytes: u64,
}

/// Reads `path` (already on local disk) in `format`, applies the type overrides,
/// writes the canonical Parquet copy to a temp file, and hands each batch to
/// `on_batch` (as a `Frame`) before writing it.
pub fn ingest_file(
    path: &Path,
    format: FileFormat,
    overrides: &BTreeMap<String, ColumnType>,
    on_batch: &mut OnBatch<'_>,
) -> Result<Ingested, IngestError> {
    match format {
        FileFormat::Csv => ingest_csv(path, false, overrides, on_batch),
        FileFormat::CsvGz => ingest_csv(path, true, overrides, on_batch),
        FileFormat::Parquet => ingest_parquet(path, overrides, on_batch),
    }
}

fn open_text(path: &Path, gz: bool) -> Result<Box<dyn Read>, IngestError> {
    let mut file = File::open(path)?;
    if gz {
        let mut magic = [0u8; 2];
        let n = file.read(&mut magic)?;
        file.seek(SeekFrom::Start(0))?;
        if n < 2 || magic != [0x1f, 0x8b] {
            return Err(IngestError::NotGzip("it does not start with the gzip signature".into()));
        }
        Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::read::MultiGzDecoder::new(BufReader::new(file)),
        )))
    } else {
        Ok(Box::new(BufReader::with_capacity(1 << 20, file)))
    }
}

fn csv_format() -> arrow_csv::reader::Format {
    arrow_csv::reader::Format::default().with_header(true).with_null_regex(NULLS.clone())
}

/// Column types for a whole CSV file: one full pass, so a value deep in the file
/// that breaks a column's type still turns it into a string column.
fn infer_csv(path: &Path, gz: bool) -> Result<Vec<ColumnInfo>, IngestError> {
    let reader = open_text(path, gz)?;
    let (schema, records) = csv_format().infer_schema(reader, None).map_err(IngestError::csv)?;
    if schema.fields().is_empty() {
        return Err(IngestError::Empty);
    }
    if records == 0 {
        if schema.fields().len() == 1 && schema.field(0).name().is_empty() {
            return Err(IngestError::Empty);
        }
        return Err(IngestError::HeaderOnly);
    }
    let mut seen = HashSet::new();
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (i, f) in schema.fields().iter().enumerate() {
        let name = f.name().trim().to_string();
        if name.is_empty() {
            return Err(IngestError::EmptyColumnName(i + 1));
        }
        if !seen.insert(name.clone()) {
            return Err(IngestError::DuplicateColumn(name));
        }
        let column_type = match f.data_type() {
            DataType::Int64 => ColumnType::Int,
            DataType::Float64 => ColumnType::Float,
            DataType::Boolean => ColumnType::Bool,
            DataType::Date32 | DataType::Timestamp(_, _) => ColumnType::Timestamp,
            _ => ColumnType::String,
        };
        columns.push(ColumnInfo { name, column_type });
    }
    Ok(columns)
}

fn apply_overrides(
    columns: &mut [ColumnInfo],
    overrides: &BTreeMap<String, ColumnType>,
) -> Result<(), IngestError> {
    for (name, ty) in overrides {
        let col = columns
            .iter_mut()
            .find(|c| &c.name == name)
            .ok_or_else(|| IngestError::UnknownOverride(name.clone()))?;
        col.column_type = *ty;
    }
    Ok(())
}

fn canonical_schema(columns: &[ColumnInfo]) -> SchemaRef {
    Arc::new(Schema::new(
        columns.iter().map(|c| Field::new(&c.name, arrow_type(c.column_type), true)).collect::<Vec<_>>(),
    ))
}

fn ingest_csv(
    path: &Path,
    gz: bool,
    overrides: &BTreeMap<String, ColumnType>,
    on_batch: &mut OnBatch<'_>,
) -> Result<Ingested, IngestError> {
    let mut columns = infer_csv(path, gz)?;
    apply_overrides(&mut columns, overrides)?;
    let schema = canonical_schema(&columns);
    let reader = arrow_csv::ReaderBuilder::new(schema.clone())
        .with_format(csv_format())
        .with_batch_size(BATCH_ROWS)
        .build(open_text(path, gz)?)
        .map_err(IngestError::csv)?;
    let mut sink = ParquetSink::new(schema)?;
    for batch in reader {
        let batch = batch.map_err(|e| name_column(IngestError::csv(e), &columns))?;
        sink.push(&columns, batch, on_batch)?;
    }
    sink.finish(columns)
}

/// Arrow names columns by index ("for column 3 at line 5"); people know them by name.
fn name_column(e: IngestError, columns: &[ColumnInfo]) -> IngestError {
    let IngestError::Parse { format, message } = e else { return e };
    let Some(start) = message.find("for column ") else { return IngestError::Parse { format, message } };
    let rest = &message[start + "for column ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Some(col) = digits.parse::<usize>().ok().and_then(|i| columns.get(i)) else {
        return IngestError::Parse { format, message };
    };
    let message = format!(
        "{}for column `{}` ({}){}",
        &message[..start],
        col.name,
        col.column_type,
        &rest[digits.len()..]
    );
    IngestError::Parse { format, message }
}

fn ingest_parquet(
    path: &Path,
    overrides: &BTreeMap<String, ColumnType>,
    on_batch: &mut OnBatch<'_>,
) -> Result<Ingested, IngestError> {
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(File::open(path)?).map_err(IngestError::parquet)?;
    let source_schema = builder.schema().clone();
    let mut seen = HashSet::new();
    let mut columns = Vec::new();
    for f in source_schema.fields() {
        if !seen.insert(f.name().clone()) {
            return Err(IngestError::DuplicateColumn(f.name().clone()));
        }
        let column_type = column_type_of(f.data_type()).ok_or_else(|| IngestError::Column {
            column: f.name().clone(),
            message: format!(
                "the Parquet type {} is not supported; store it as a number, boolean, string or timestamp",
                f.data_type()
            ),
        })?;
        columns.push(ColumnInfo { name: f.name().clone(), column_type });
    }
    if columns.is_empty() {
        return Err(IngestError::Empty);
    }
    apply_overrides(&mut columns, overrides)?;
    let schema = canonical_schema(&columns);
    let reader = builder.with_batch_size(BATCH_ROWS).build().map_err(IngestError::parquet)?;
    let mut sink = ParquetSink::new(schema.clone())?;
    for batch in reader {
        let batch = batch.map_err(|e| IngestError::parquet(clean_arrow(e)))?;
        let cast = cast_batch(&batch, &schema)?;
        sink.push(&columns, cast, on_batch)?;
    }
    if sink.rows == 0 {
        return Err(IngestError::HeaderOnly);
    }
    sink.finish(columns)
}

/// Casts each column to its canonical type; a value the cast cannot carry (e.g.
/// "abc" under an int override) is an error naming the column, not a silent null.
fn cast_batch(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, IngestError> {
    let options = arrow_cast::CastOptions { safe: false, ..Default::default() };
    let mut arrays = Vec::with_capacity(batch.num_columns());
    for (array, field) in batch.columns().iter().zip(schema.fields()) {
        let cast = arrow_cast::cast_with_options(array, field.data_type(), &options)
            .map_err(|e| IngestError::Column { column: field.name().clone(), message: clean_arrow(e) })?;
        arrays.push(cast);
    }
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| IngestError::Batch(clean_arrow(e)))
}

struct ParquetSink {
    writer: ArrowWriter<tempfile::NamedTempFile>,
    rows: u64,
}

impl ParquetSink {
    fn new(schema: SchemaRef) -> Result<Self, IngestError> {
        let file = tempfile::NamedTempFile::new()?;
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let writer =
            ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| IngestError::Write(e.to_string()))?;
        Ok(Self { writer, rows: 0 })
    }

    fn push(
        &mut self,
        columns: &[ColumnInfo],
        batch: RecordBatch,
        on_batch: &mut OnBatch<'_>,
    ) -> Result<(), IngestError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let frame = batch_to_frame(&batch).map_err(IngestError::Batch)?;
        on_batch(columns, &frame)?;
        self.rows += batch.num_rows() as u64;
        self.writer.write(&batch).map_err(|e| IngestError::Write(e.to_string()))
    }

    fn finish(self, columns: Vec<ColumnInfo>) -> Result<Ingested, IngestError> {
        if self.rows == 0 {
            return Err(IngestError::HeaderOnly);
        }
        let n_rows = self.rows;
        let mut file = self.writer.into_inner().map_err(|e| IngestError::Write(e.to_string()))?;
        file.flush()?;
        let parquet_bytes = file.as_file().metadata()?.len();
        Ok(Ingested { columns, n_rows, parquet: file, parquet_bytes })
    }
}
