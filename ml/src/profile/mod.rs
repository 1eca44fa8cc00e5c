//! Dataset profiling: per-column statistics and charts, and correlations between
//! numeric columns, computed in one streaming pass over a dataset version's batches.
//!
//! ```
//! use domain::datasets::ColumnType;
//! use ml::frame::{Column, ColumnData, Frame};
//! use ml::profile::{ProfileConfig, Profiler};
//!
//! let schema = [("x".to_owned(), ColumnType::Float), ("s".to_owned(), ColumnType::String)];
//! let mut profiler = Profiler::new(&schema, ProfileConfig::default())?;
//! let batch = Frame::new(vec![
//!     Column::new("x", ColumnData::Float(vec![Some(1.0), None, Some(3.0)])),
//!     Column::new("s", ColumnData::Str(vec![Some("a".into()), Some("b".into()), Some("a".into())])),
//! ])?;
//! profiler.push(&batch)?;
//! let profile = profiler.finish();
//! assert_eq!(profile.rows, 3);
//! assert_eq!(profile.columns[0].missing, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Exact and streaming statistics
//!
//! Count, missing, zeros, ±inf, min, max, mean, std (Welford/Chan, merged per batch) and
//! correlations (co-moments merged per batch) are exact at any size. The rest needs the
//! values, and a 5 GB file must not need 5 GB of memory, so each column holds at most:
//!
//! - numeric and timestamp columns: their finite values while there are at most
//!   `exact_row_limit` of them (8 bytes each). Quantiles (numpy 'linear'), histogram
//!   (`np.histogram`) and distinct count are then exact. Past the limit the column
//!   streams: quantiles from a DDSketch (`sketches-ddsketch`: no dependencies,
//!   mergeable, a *relative value* guarantee of 0.5 %, which stays useful for skewed
//!   data where a rank guarantee is not), the histogram from a widening fine grid
//!   re-binned at the end (see `grid.rs`: counts still add up exactly), and the
//!   distinct count from an exact set of up to `distinct_limit` keys, then HyperLogLog
//!   (0.41 % standard error, 64 KiB).
//! - string columns: a value → count map of at most `distinct_limit` entries: exact
//!   counts and distinct count until it is full, then a Misra-Gries heavy-hitters
//!   summary (counts become lower bounds, `TopK::max_error` bounds the error) and
//!   HyperLogLog for the distinct count.
//! - bool columns: two counters.
//!
//! [`Profiler::buffered_values`] reports the largest number of values one column holds,
//! which never exceeds `max(exact_row_limit, distinct_limit)`.
//!
//! Floats: NaN is missing. ±inf is a value (in `count` and `distinct`) but is left out
//! of min, max, mean, std, quantiles, histogram and correlations, which describe the
//! finite values; `NumericStats::pos_inf`/`neg_inf` count them.
//!
//! # Threads
//!
//! Each batch's columns are processed in parallel on rayon's pool, alongside the
//! correlation pairs, and `finish` sorts the columns' buffers in parallel. Callers in
//! async code run `push`/`finish` on a blocking thread.

mod categorical;
mod correlation;
mod distinct;
mod exact;
mod frequent;
mod grid;
mod hll;
mod numeric;

use std::collections::HashMap;

use domain::datasets::ColumnType;
pub use domain::profile::{
    ColumnProfile, ColumnStats, Correlations, DatasetProfile, Histogram, NumericStats, ProfileConfig,
    Quantile, TimestampStats, TopK, ValueCount,
};
use rayon::prelude::*;

use self::categorical::{BoolAcc, StrAcc};
use self::correlation::CorrelationAcc;
use self::numeric::{Limits, NumericAcc, NumericResult};
use crate::frame::{ColumnData, Frame};

/// The quantile levels every numeric column reports.
pub const QUANTILES: [f64; 9] = [0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99];

/// The most histogram bins a config may ask for (the dashboard draws a few dozen).
pub const MAX_HISTOGRAM_BINS: u32 = 10_000;

/// A schema or batch the profiler cannot use.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ProfileError {
    #[error("column `{0}` appears twice in the profiler's schema or a batch: column names must be unique")]
    DuplicateColumn(String),
    #[error(
        "the batch has no column `{0}`: every batch must carry all the columns the profiler was created with"
    )]
    MissingColumn(String),
    #[error(
        "the batch has a column `{0}` that is not in the profiler's schema: every batch must have the same columns"
    )]
    UnexpectedColumn(String),
    #[error(
        "column `{name}` is {got} in this batch but {expected} in the schema: convert it before profiling"
    )]
    TypeMismatch { name: String, expected: ColumnType, got: ColumnType },
    #[error(
        "column `{name}` has {got} rows but the batch has {expected}: all columns of a batch must be equally long"
    )]
    RaggedBatch { name: String, expected: usize, got: usize },
    #[error("invalid profile config: {0}")]
    InvalidConfig(String),
}

/// One column's running statistics.
#[derive(Debug)]
enum Accumulator {
    Int(NumericAcc<i64>),
    Float(NumericAcc<f64>),
    Timestamp(NumericAcc<i64>),
    Bool(BoolAcc),
    Str(StrAcc),
}

impl Accumulator {
    fn new(ty: ColumnType, limits: Limits) -> Self {
        match ty {
            ColumnType::Int => Self::Int(NumericAcc::new(limits)),
            ColumnType::Float => Self::Float(NumericAcc::new(limits)),
            ColumnType::Timestamp => Self::Timestamp(NumericAcc::new(limits)),
            ColumnType::Bool => Self::Bool(BoolAcc::default()),
            ColumnType::String => Self::Str(StrAcc::new(limits.distinct)),
        }
    }

    /// Add a column's batch; the caller has checked that the types agree.
    fn push(&mut self, data: &ColumnData) {
        match (self, data) {
            (Self::Int(acc), ColumnData::Int(v)) | (Self::Timestamp(acc), ColumnData::Timestamp(v)) => {
                acc.push(v)
            }
            (Self::Float(acc), ColumnData::Float(v)) => acc.push(v),
            (Self::Bool(acc), ColumnData::Bool(v)) => acc.push(v),
            (Self::Str(acc), ColumnData::Str(v)) => acc.push(v),
            _ => {}
        }
    }

    fn buffered(&self) -> usize {
        match self {
            Self::Int(acc) | Self::Timestamp(acc) => acc.buffered(),
            Self::Float(acc) => acc.buffered(),
            Self::Bool(_) => 0,
            Self::Str(acc) => acc.buffered(),
        }
    }

    fn finish(self, name: String, column_type: ColumnType, top_k: usize) -> ColumnProfile {
        let column = |count, missing, distinct, distinct_exact, stats| ColumnProfile {
            name,
            column_type,
            count,
            missing,
            distinct,
            distinct_exact,
            stats,
        };
        match self {
            Self::Int(acc) => numeric_profile(acc.finish(&QUANTILES), column),
            Self::Float(acc) => numeric_profile(acc.finish(&QUANTILES), column),
            Self::Timestamp(acc) => {
                let r = acc.finish(&[]);
                let stats = TimestampStats { min: r.min, max: r.max, histogram: r.histogram };
                column(r.count, r.missing, r.distinct, r.distinct_exact, ColumnStats::Timestamp(stats))
            }
            Self::Bool(acc) => {
                let (count, missing, distinct, top) = acc.finish(top_k);
                column(count, missing, distinct, true, ColumnStats::Categorical(top))
            }
            Self::Str(acc) => {
                let (count, missing, distinct, exact, top) = acc.finish(top_k);
                column(count, missing, distinct, exact, ColumnStats::Categorical(top))
            }
        }
    }
}

fn numeric_profile<T: numeric::Sample>(
    r: NumericResult<T>,
    column: impl FnOnce(u64, u64, u64, bool, ColumnStats) -> ColumnProfile,
) -> ColumnProfile {
    let finite = |x: Option<f64>| x.filter(|x| x.is_finite());
    let stats = NumericStats {
        min: finite(r.summary.min()),
        max: finite(r.summary.max()),
        mean: finite(r.summary.mean()),
        std: finite(r.summary.std()),
        zeros: r.zeros,
        pos_inf: r.pos_inf,
        neg_inf: r.neg_inf,
        quantiles: r.quantiles,
        quantiles_exact: r.quantiles_exact,
        histogram: r.histogram,
    };
    column(r.count, r.missing, r.distinct, r.distinct_exact, ColumnStats::Numeric(stats))
}

/// Profiles a dataset from its batches: [`push`](Self::push) each batch, then
/// [`finish`](Self::finish).
#[derive(Debug)]
pub struct Profiler {
    config: ProfileConfig,
    schema: Vec<(String, ColumnType)>,
    /// Column name → schema position.
    index: HashMap<String, usize>,
    accumulators: Vec<Accumulator>,
    /// Schema positions of the int and float columns, in order.
    numeric: Vec<usize>,
    correlations: CorrelationAcc,
    rows: u64,
}

impl Profiler {
    /// A profiler for batches with these columns (in any order, every batch).
    pub fn new(columns: &[(String, ColumnType)], config: ProfileConfig) -> Result<Self, ProfileError> {
        if config.histogram_bins == 0 || config.histogram_bins > MAX_HISTOGRAM_BINS {
            return Err(ProfileError::InvalidConfig(format!(
                "histogram_bins is {}; use 1 to {MAX_HISTOGRAM_BINS}",
                config.histogram_bins
            )));
        }
        if config.distinct_limit == 0 {
            return Err(ProfileError::InvalidConfig("distinct_limit is 0; use at least 1".into()));
        }
        let mut index = HashMap::with_capacity(columns.len());
        for (i, (name, _)) in columns.iter().enumerate() {
            if index.insert(name.clone(), i).is_some() {
                return Err(ProfileError::DuplicateColumn(name.clone()));
            }
        }
        let limits = Limits {
            exact_values: usize::try_from(config.exact_row_limit).unwrap_or(usize::MAX),
            distinct: usize::try_from(config.distinct_limit).unwrap_or(usize::MAX),
            bins: config.histogram_bins as usize,
        };
        let numeric: Vec<usize> =
            columns.iter().enumerate().filter(|(_, (_, ty))| ty.is_numeric()).map(|(i, _)| i).collect();
        Ok(Self {
            config,
            schema: columns.to_vec(),
            index,
            accumulators: columns.iter().map(|(_, ty)| Accumulator::new(*ty, limits)).collect(),
            correlations: CorrelationAcc::new(numeric.len()),
            numeric,
            rows: 0,
        })
    }

    /// Add one batch. It must have exactly the schema's columns, with the same types;
    /// on an error nothing of the batch has been counted.
    pub fn push(&mut self, batch: &Frame) -> Result<(), ProfileError> {
        let data = self.columns_of(batch)?;
        let numeric: Vec<&ColumnData> = self.numeric.iter().filter_map(|&i| data.get(i).copied()).collect();
        let (accumulators, correlations) = (&mut self.accumulators, &mut self.correlations);
        rayon::join(
            || accumulators.par_iter_mut().zip(data.par_iter()).for_each(|(acc, d)| acc.push(d)),
            || {
                correlations.push(|i, centered| match numeric.get(i) {
                    Some(ColumnData::Int(v)) => {
                        centered.fill(v.iter().map(|x| x.map_or(f64::NAN, |x| x as f64)))
                    }
                    Some(ColumnData::Float(v)) => centered.fill(v.iter().map(|x| x.unwrap_or(f64::NAN))),
                    _ => centered.fill(std::iter::empty()),
                })
            },
        );
        self.rows += batch.n_rows() as u64;
        Ok(())
    }

    /// The batch's columns in schema order, after checking names, types and lengths.
    fn columns_of<'a>(&self, batch: &'a Frame) -> Result<Vec<&'a ColumnData>, ProfileError> {
        let rows = batch.n_rows();
        let mut by_name = HashMap::with_capacity(batch.columns.len());
        for c in &batch.columns {
            if !self.index.contains_key(c.name.as_str()) {
                return Err(ProfileError::UnexpectedColumn(c.name.clone()));
            }
            if c.data.len() != rows {
                return Err(ProfileError::RaggedBatch {
                    name: c.name.clone(),
                    expected: rows,
                    got: c.data.len(),
                });
            }
            if by_name.insert(c.name.as_str(), c).is_some() {
                return Err(ProfileError::DuplicateColumn(c.name.clone()));
            }
        }
        let mut data = Vec::with_capacity(self.schema.len());
        for (name, expected) in &self.schema {
            let Some(column) = by_name.get(name.as_str()) else {
                return Err(ProfileError::MissingColumn(name.clone()));
            };
            let got = column.data.column_type();
            if got != *expected {
                return Err(ProfileError::TypeMismatch { name: name.clone(), expected: *expected, got });
            }
            data.push(&column.data);
        }
        Ok(data)
    }

    /// The largest number of values any one column holds in memory: its exact buffer,
    /// exact distinct set or value-count map. At most `max(exact_row_limit,
    /// distinct_limit)`; this is what keeps profiling a large file in bounded memory.
    pub fn buffered_values(&self) -> usize {
        self.accumulators.iter().map(Accumulator::buffered).max().unwrap_or(0)
    }

    /// Rows pushed so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn finish(self) -> DatasetProfile {
        let top_k = self.config.top_k as usize;
        let columns: Vec<ColumnProfile> = self
            .accumulators
            .into_par_iter()
            .zip(self.schema.into_par_iter())
            .map(|(acc, (name, ty))| acc.finish(name, ty, top_k))
            .collect();
        let numeric: Vec<&ColumnProfile> = self.numeric.iter().filter_map(|&i| columns.get(i)).collect();
        let diagonal: Vec<bool> = numeric
            .iter()
            .map(|c| matches!(&c.stats, ColumnStats::Numeric(s) if s.std.is_some_and(|s| s > 0.0)))
            .collect();
        let correlations = Correlations {
            columns: numeric.iter().map(|c| c.name.clone()).collect(),
            pearson: self.correlations.matrix(&diagonal),
        };
        DatasetProfile { rows: self.rows, columns, correlations, config: self.config }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Column;

    fn schema() -> Vec<(String, ColumnType)> {
        vec![("a".into(), ColumnType::Int), ("b".into(), ColumnType::String)]
    }

    #[test]
    fn config_and_schema_are_checked() {
        let bad = ProfileConfig { histogram_bins: 0, ..ProfileConfig::default() };
        assert!(matches!(Profiler::new(&schema(), bad), Err(ProfileError::InvalidConfig(_))));
        let twice = vec![("a".into(), ColumnType::Int), ("a".into(), ColumnType::Float)];
        assert_eq!(
            Profiler::new(&twice, ProfileConfig::default()).unwrap_err(),
            ProfileError::DuplicateColumn("a".into())
        );
    }

    #[test]
    fn batch_columns_may_come_in_any_order() {
        let mut p = Profiler::new(&schema(), ProfileConfig::default()).unwrap();
        let batch = Frame::new(vec![
            Column::new("b", ColumnData::Str(vec![Some("x".into())])),
            Column::new("a", ColumnData::Int(vec![Some(7)])),
        ])
        .unwrap();
        p.push(&batch).unwrap();
        let profile = p.finish();
        assert_eq!(profile.columns[0].name, "a");
        assert_eq!(profile.columns[0].count, 1);
    }
}
