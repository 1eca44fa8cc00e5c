//! Postgres result columns to Arrow arrays.
//!
//! sqlx asks Postgres for every result column in *binary* format, so each type needs
//! its own decoder; the ones here are small and exact (no float detours for
//! integers, correctly rounded numerics, no chrono arithmetic that could panic on
//! `infinity`). Mapping:
//!
//! | Postgres | Arrow |
//! |---|---|
//! | int2, int4, int8 | Int64 |
//! | float4, float8, numeric | Float64 (numeric rounded to nearest; NaN and ±Infinity kept) |
//! | bool | Boolean |
//! | timestamp, timestamptz, date | Timestamp(Microsecond, "UTC"); a `timestamp` without zone is read as UTC |
//! | text, varchar, bpchar, name, json, jsonb, xml, uuid, enums | Utf8 |
//! | anything else (interval, arrays, inet, money, …) | Utf8, from a `::text` cast Cairn adds ([`Decoder::needs_text_cast`]) |
//!
//! NULL is null in every column; every field is nullable.

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use sqlx::postgres::{PgTypeInfo, PgTypeKind, PgValueFormat, PgValueRef};
use sqlx::{TypeInfo, ValueRef};
use std::collections::HashSet;
use std::sync::Arc;

/// Microseconds from 1970-01-01 to 2000-01-01, Postgres' epoch.
const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// How to read one result column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decoder {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Bool,
    /// timestamp and timestamptz share the binary form: µs since 2000-01-01.
    Timestamp,
    Date,
    /// Binary form is the UTF-8 text: text, varchar, bpchar, name, json, xml, enums.
    Text,
    Jsonb,
    Uuid,
    /// A type with no decoder here: the query is wrapped to cast it to text.
    TextCast,
}

// Built-in type OIDs (stable across Postgres versions: pg_type.dat).
const BOOL: u32 = 16;
const NAME: u32 = 19;
const INT8: u32 = 20;
const INT2: u32 = 21;
const INT4: u32 = 23;
const TEXT: u32 = 25;
const JSON: u32 = 114;
const XML: u32 = 142;
const FLOAT4: u32 = 700;
const FLOAT8: u32 = 701;
const UNKNOWN: u32 = 705;
const BPCHAR: u32 = 1042;
const VARCHAR: u32 = 1043;
const DATE: u32 = 1082;
const TIMESTAMP: u32 = 1114;
const TIMESTAMPTZ: u32 = 1184;
const NUMERIC: u32 = 1700;
const UUID: u32 = 2950;
const JSONB: u32 = 3802;

impl Decoder {
    pub(crate) fn for_type(t: &PgTypeInfo) -> Self {
        match t.kind() {
            // A domain travels in its base type's binary form.
            PgTypeKind::Domain(base) => return Self::for_type(base),
            // An enum's binary form is its label.
            PgTypeKind::Enum(_) => return Self::Text,
            _ => {}
        }
        match t.oid().map(|o| o.0) {
            Some(INT2) => Self::Int2,
            Some(INT4) => Self::Int4,
            Some(INT8) => Self::Int8,
            Some(FLOAT4) => Self::Float4,
            Some(FLOAT8) => Self::Float8,
            Some(NUMERIC) => Self::Numeric,
            Some(BOOL) => Self::Bool,
            Some(TIMESTAMP | TIMESTAMPTZ) => Self::Timestamp,
            Some(DATE) => Self::Date,
            Some(TEXT | VARCHAR | BPCHAR | NAME | UNKNOWN | JSON | XML) => Self::Text,
            Some(JSONB) => Self::Jsonb,
            Some(UUID) => Self::Uuid,
            _ => Self::TextCast,
        }
    }

    /// True when this column must reach Cairn as text (see the module docs).
    pub(crate) fn needs_text_cast(self) -> bool {
        self == Self::TextCast
    }

    fn data_type(self) -> DataType {
        match self {
            Self::Int2 | Self::Int4 | Self::Int8 => DataType::Int64,
            Self::Float4 | Self::Float8 | Self::Numeric => DataType::Float64,
            Self::Bool => DataType::Boolean,
            Self::Timestamp | Self::Date => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Self::Text | Self::Jsonb | Self::Uuid | Self::TextCast => DataType::Utf8,
        }
    }
}

/// A result column as Cairn reads it.
#[derive(Clone, Debug)]
pub(crate) struct ColumnSpec {
    pub name: String,
    /// The Postgres type name, for messages.
    pub pg_type: String,
    pub decoder: Decoder,
}

impl ColumnSpec {
    pub(crate) fn new(name: &str, t: &PgTypeInfo) -> Self {
        Self { name: name.to_string(), pg_type: t.name().to_string(), decoder: Decoder::for_type(t) }
    }
}

/// The Arrow schema of a result. Duplicate column names (`select 1 as a, 2 as a`)
/// get `_2`, `_3`… so the schema can be written to Parquet and addressed by name.
pub(crate) fn schema(columns: &[ColumnSpec]) -> SchemaRef {
    let mut seen = HashSet::new();
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| {
            let mut name = c.name.clone();
            let mut n = 1;
            while !seen.insert(name.clone()) {
                n += 1;
                name = format!("{}_{n}", c.name);
            }
            Field::new(name, c.decoder.data_type(), true)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// Why a value could not be read.
#[derive(Debug, thiserror::Error)]
#[error("column `{column}` ({pg_type}): {message}")]
pub(crate) struct DecodeError {
    pub column: String,
    pub pg_type: String,
    pub message: String,
}

enum Builder {
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Text(StringBuilder),
}

impl Builder {
    fn new(decoder: Decoder, capacity: usize) -> Self {
        match decoder.data_type() {
            DataType::Int64 => Self::Int(Int64Builder::with_capacity(capacity)),
            DataType::Float64 => Self::Float(Float64Builder::with_capacity(capacity)),
            DataType::Boolean => Self::Bool(BooleanBuilder::with_capacity(capacity)),
            DataType::Timestamp(..) => {
                Self::Timestamp(TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"))
            }
            _ => Self::Text(StringBuilder::with_capacity(capacity, capacity * 16)),
        }
    }

    fn append_null(&mut self) {
        match self {
            Self::Int(b) => b.append_null(),
            Self::Float(b) => b.append_null(),
            Self::Bool(b) => b.append_null(),
            Self::Timestamp(b) => b.append_null(),
            Self::Text(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Int(b) => Arc::new(b.finish()),
            Self::Float(b) => Arc::new(b.finish()),
            Self::Bool(b) => Arc::new(b.finish()),
            Self::Timestamp(b) => Arc::new(b.finish()),
            Self::Text(b) => Arc::new(b.finish()),
        }
    }
}

/// Accumulates rows into record batches of a fixed number of rows.
pub(crate) struct BatchBuilder {
    columns: Vec<ColumnSpec>,
    schema: SchemaRef,
    builders: Vec<Builder>,
    rows: usize,
    capacity: usize,
}

impl BatchBuilder {
    pub(crate) fn new(columns: Vec<ColumnSpec>, schema: SchemaRef, capacity: usize) -> Self {
        let builders = columns.iter().map(|c| Builder::new(c.decoder, capacity)).collect();
        Self { columns, schema, builders, rows: 0, capacity }
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Appends one row; `value(i)` is column i's raw value.
    pub(crate) fn append_row<'r>(
        &mut self,
        mut value: impl FnMut(usize) -> Result<PgValueRef<'r>, sqlx::Error>,
    ) -> Result<(), DecodeError> {
        for (i, (spec, builder)) in self.columns.iter().zip(self.builders.iter_mut()).enumerate() {
            let err = |message: String| DecodeError {
                column: spec.name.clone(),
                pg_type: spec.pg_type.clone(),
                message,
            };
            let v = value(i).map_err(|e| err(e.to_string()))?;
            if v.is_null() {
                builder.append_null();
                continue;
            }
            if v.format() != PgValueFormat::Binary {
                return Err(err("the server sent text where Cairn asked for binary".into()));
            }
            let bytes = v.as_bytes().map_err(|e| err(e.to_string()))?;
            append(spec.decoder, builder, bytes).map_err(err)?;
        }
        self.rows += 1;
        Ok(())
    }

    /// The rows appended since the last call, as one batch (builders start afresh).
    pub(crate) fn finish(&mut self) -> Result<RecordBatch, arrow_schema::ArrowError> {
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows));
        self.rows = 0;
        // Builders keep their capacity after `finish`; re-create to release a large
        // batch's buffers to the next batch's owner instead.
        self.builders = self.columns.iter().map(|c| Builder::new(c.decoder, self.capacity)).collect();
        RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)
    }
}

fn append(decoder: Decoder, builder: &mut Builder, bytes: &[u8]) -> Result<(), String> {
    match (decoder, builder) {
        (Decoder::Int2, Builder::Int(b)) => b.append_value(i64::from(i16::from_be_bytes(fixed(bytes)?))),
        (Decoder::Int4, Builder::Int(b)) => b.append_value(i64::from(i32::from_be_bytes(fixed(bytes)?))),
        (Decoder::Int8, Builder::Int(b)) => b.append_value(i64::from_be_bytes(fixed(bytes)?)),
        (Decoder::Float4, Builder::Float(b)) => b.append_value(f64::from(f32::from_be_bytes(fixed(bytes)?))),
        (Decoder::Float8, Builder::Float(b)) => b.append_value(f64::from_be_bytes(fixed(bytes)?)),
        (Decoder::Numeric, Builder::Float(b)) => b.append_value(numeric_to_f64(bytes)?),
        (Decoder::Bool, Builder::Bool(b)) => b.append_value(fixed::<1>(bytes)?[0] != 0),
        (Decoder::Timestamp, Builder::Timestamp(b)) => b.append_value(timestamp_micros(bytes)?),
        (Decoder::Date, Builder::Timestamp(b)) => b.append_value(date_micros(bytes)?),
        (Decoder::Text | Decoder::TextCast, Builder::Text(b)) => {
            b.append_value(String::from_utf8_lossy(bytes))
        }
        (Decoder::Jsonb, Builder::Text(b)) => match bytes.split_first() {
            Some((1, json)) => b.append_value(String::from_utf8_lossy(json)),
            _ => return Err("unknown jsonb binary version".into()),
        },
        (Decoder::Uuid, Builder::Text(b)) => {
            b.append_value(uuid::Uuid::from_bytes(fixed(bytes)?).hyphenated().to_string())
        }
        _ => return Err("internal mismatch between decoder and builder".into()),
    }
    Ok(())
}

fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], String> {
    bytes.try_into().map_err(|_| format!("expected {N} bytes, got {}", bytes.len()))
}

/// `timestamp`/`timestamptz` binary (µs since 2000-01-01) to µs since 1970-01-01.
fn timestamp_micros(bytes: &[u8]) -> Result<i64, String> {
    let pg = i64::from_be_bytes(fixed(bytes)?);
    if pg == i64::MAX || pg == i64::MIN {
        return Err(infinity("timestamp"));
    }
    pg.checked_add(PG_EPOCH_UNIX_MICROS).ok_or_else(|| "timestamp out of range".to_string())
}

/// `date` binary (days since 2000-01-01) to µs since 1970-01-01 at midnight UTC.
fn date_micros(bytes: &[u8]) -> Result<i64, String> {
    let days = i32::from_be_bytes(fixed(bytes)?);
    if days == i32::MAX || days == i32::MIN {
        return Err(infinity("date"));
    }
    i64::from(days)
        .checked_mul(MICROS_PER_DAY)
        .and_then(|m| m.checked_add(PG_EPOCH_UNIX_MICROS))
        .ok_or_else(|| "date out of range of a microsecond timestamp".to_string())
}

fn infinity(what: &str) -> String {
    format!(
        "holds ±infinity, which an Arrow {what} cannot; map it in the query, e.g. `nullif(col, 'infinity')`"
    )
}

const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;

/// `numeric` binary to the nearest f64. The wire form is base-10000 digits
/// (`ndigits`, `weight` of the first digit, `sign`, `dscale`, then the digits); they
/// are written out as a decimal string and parsed, which rounds correctly however
/// many digits there are.
fn numeric_to_f64(bytes: &[u8]) -> Result<f64, String> {
    let word = |i: usize| -> Result<u16, String> {
        bytes
            .get(i * 2..i * 2 + 2)
            .and_then(|b| b.try_into().ok())
            .map(u16::from_be_bytes)
            .ok_or_else(|| "truncated numeric".to_string())
    };
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(word(1)? as i16);
    let sign = word(2)?;
    let negative = match sign {
        NUMERIC_POS => false,
        NUMERIC_NEG => true,
        NUMERIC_NAN => return Ok(f64::NAN),
        NUMERIC_PINF => return Ok(f64::INFINITY),
        NUMERIC_NINF => return Ok(f64::NEG_INFINITY),
        other => return Err(format!("unknown numeric sign {other:#06x}")),
    };
    if ndigits == 0 {
        return Ok(0.0);
    }
    let mut text = String::with_capacity(ndigits * 4 + 8);
    if negative {
        text.push('-');
    }
    for i in 0..ndigits {
        let d = word(4 + i)?;
        if d > 9999 {
            return Err(format!("numeric digit {d} out of range"));
        }
        if i == 0 {
            text.push_str(&d.to_string());
        } else {
            text.push_str(&format!("{d:04}"));
        }
    }
    // The digits form an integer D; the value is D × 10000^(weight − ndigits + 1).
    let exponent = 4 * (weight - ndigits as i64 + 1);
    text.push_str(&format!("e{exponent}"));
    text.parse::<f64>().map_err(|e| format!("numeric not readable as a float: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes like Postgres' `numeric_send` for the tests.
    fn numeric(sign: u16, weight: i16, digits: &[u16]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(digits.len() as u16).to_be_bytes());
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());
        for d in digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    #[test]
    fn numerics_decode_to_the_nearest_float() {
        // 12345.678 = [1, 2345, 6780] with weight 1.
        assert_eq!(numeric_to_f64(&numeric(NUMERIC_POS, 1, &[1, 2345, 6780])).unwrap(), 12345.678);
        assert_eq!(numeric_to_f64(&numeric(NUMERIC_NEG, 0, &[42])).unwrap(), -42.0);
        // 0.000123 = [0001, 2300] with weight −1; [123] at weight −2 is 0.00000123.
        assert_eq!(numeric_to_f64(&numeric(NUMERIC_POS, -1, &[1, 2300])).unwrap(), 0.000123);
        assert_eq!(numeric_to_f64(&numeric(NUMERIC_POS, -2, &[123])).unwrap(), 0.00000123);
        // 1e100 = [1] with weight 25.
        assert_eq!(numeric_to_f64(&numeric(NUMERIC_POS, 25, &[1])).unwrap(), 1e100);
        assert_eq!(numeric_to_f64(&numeric(NUMERIC_POS, 0, &[])).unwrap(), 0.0);
        assert!(numeric_to_f64(&numeric(NUMERIC_NAN, 0, &[])).unwrap().is_nan());
        assert_eq!(numeric_to_f64(&numeric(NUMERIC_PINF, 0, &[])).unwrap(), f64::INFINITY);
        assert_eq!(numeric_to_f64(&numeric(NUMERIC_NINF, 0, &[])).unwrap(), f64::NEG_INFINITY);
        // 0.1 + 0.2 written exactly must round to the float nearest 0.3.
        assert_eq!(numeric_to_f64(&numeric(NUMERIC_POS, -1, &[3000])).unwrap(), 0.3);
    }

    #[test]
    fn malformed_numerics_are_errors_not_panics() {
        assert!(numeric_to_f64(&[]).is_err());
        assert!(numeric_to_f64(&numeric(NUMERIC_POS, 0, &[1])[..9]).is_err());
        assert!(numeric_to_f64(&numeric(0x1234, 0, &[1])).is_err());
        assert!(numeric_to_f64(&numeric(NUMERIC_POS, 0, &[10000])).is_err());
    }

    #[test]
    fn timestamps_and_dates_shift_to_the_unix_epoch() {
        assert_eq!(timestamp_micros(&0i64.to_be_bytes()).unwrap(), 946_684_800_000_000);
        assert_eq!(timestamp_micros(&(-PG_EPOCH_UNIX_MICROS).to_be_bytes()).unwrap(), 0);
        assert_eq!(date_micros(&1i32.to_be_bytes()).unwrap(), 946_684_800_000_000 + MICROS_PER_DAY);
        assert_eq!(date_micros(&(-10957i32).to_be_bytes()).unwrap(), 0, "1970-01-01");
        assert!(timestamp_micros(&i64::MAX.to_be_bytes()).unwrap_err().contains("infinity"));
        assert!(date_micros(&i32::MIN.to_be_bytes()).unwrap_err().contains("infinity"));
        assert!(timestamp_micros(&[0, 1]).is_err());
    }

    #[test]
    fn duplicate_names_get_suffixes() {
        let col = |n: &str| ColumnSpec { name: n.into(), pg_type: "INT4".into(), decoder: Decoder::Int4 };
        let s = schema(&[col("a"), col("a"), col("b"), col("a")]);
        let names: Vec<_> = s.fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["a", "a_2", "b", "a_3"]);
        assert!(s.fields().iter().all(|f| f.is_nullable() && f.data_type() == &DataType::Int64));
    }
}
