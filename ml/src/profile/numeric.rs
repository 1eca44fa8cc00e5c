//! The accumulator behind int, float and timestamp columns.
//!
//! Count, missing, zeros, infinities, min/max and the Welford summary (mean, std) are
//! exact whatever the size, and merge exactly across batches. Quantiles, histogram and
//! distinct count need the values: they are kept (finite values only) while the column
//! has at most `exact_row_limit` of them, which makes those statistics exact and
//! numpy-identical. The batch that would pass the limit switches the column to
//! streaming: a DDSketch for quantiles, a widening grid for the histogram (see
//! [`super::grid`]), and an exact key set then HyperLogLog for the distinct count; the
//! buffer is fed into them and dropped.

use domain::profile::{Histogram, Quantile};
use sketches_ddsketch::{Config as SketchConfig, DDSketch};

use super::distinct::DistinctCounter;
use super::exact::{equal_edges, histogram_sorted, quantile_sorted};
use super::grid::{FINE_PER_BIN, GridHistogram};
use crate::summary::Summary;

/// Relative accuracy of streaming quantiles: a reported value is within 0.5 % of the
/// value at the true rank.
const SKETCH_ALPHA: f64 = 0.005;
/// DDSketch bins per sign. With α = 0.5 % they span 18 orders of magnitude before the
/// smallest magnitudes are collapsed together; 4096 × 8 bytes per sign at most.
const SKETCH_BINS: u32 = 4096;
/// Magnitudes below this count as zero in the sketch (the crate's default, 1e-9,
/// would flatten columns measured in tiny units).
const SKETCH_MIN_VALUE: f64 = 1e-300;

/// How a value counts.
pub(crate) enum Class {
    Missing,
    Finite,
    PosInf,
    NegInf,
}

/// A column's native value: `i64` (ints, timestamps) or `f64`.
pub(crate) trait Sample: Copy + PartialOrd + Send + Sync {
    fn class(self) -> Class;
    fn to_f64(self) -> f64;
    fn is_zero(self) -> bool;
    /// Equal values get equal keys (−0.0 and 0.0 are one value).
    fn key(self) -> u64;
    fn sort(values: &mut [Self]);
}

impl Sample for i64 {
    fn class(self) -> Class {
        Class::Finite
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn is_zero(self) -> bool {
        self == 0
    }
    fn key(self) -> u64 {
        self as u64
    }
    fn sort(values: &mut [Self]) {
        counting_sort(values).unwrap_or_else(|| values.sort_unstable());
    }
}

/// Sort ints by counting when their range is small next to their number (months,
/// hours, codes, years: most int columns), which takes two passes instead of
/// O(n log n) comparisons. `None` (nothing done) when the range is too wide.
fn counting_sort(values: &mut [i64]) -> Option<()> {
    let (&min, &max) = (values.iter().min()?, values.iter().max()?);
    let range = usize::try_from(max.checked_sub(min)?).ok()?.checked_add(1)?;
    if range > values.len().max(1 << 16) {
        return None;
    }
    let mut counts = vec![0usize; range];
    for &v in values.iter() {
        let i = usize::try_from(v.checked_sub(min)?).ok()?;
        *counts.get_mut(i)? += 1;
    }
    let mut out = values.iter_mut();
    for (offset, &c) in counts.iter().enumerate() {
        let v = min.checked_add(i64::try_from(offset).ok()?)?;
        for slot in out.by_ref().take(c) {
            *slot = v;
        }
    }
    Some(())
}

impl Sample for f64 {
    fn class(self) -> Class {
        if self.is_nan() {
            Class::Missing
        } else if self == f64::INFINITY {
            Class::PosInf
        } else if self == f64::NEG_INFINITY {
            Class::NegInf
        } else {
            Class::Finite
        }
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn is_zero(self) -> bool {
        self == 0.0
    }
    fn key(self) -> u64 {
        (self + 0.0).to_bits()
    }
    fn sort(values: &mut [Self]) {
        counting_sort_integral(values).unwrap_or_else(|| values.sort_unstable_by(f64::total_cmp));
    }
}

/// Float columns read from CSV are often whole numbers in a small range (delays,
/// minutes, grams): sort those by counting too. `None` (nothing done) otherwise.
fn counting_sort_integral(values: &mut [f64]) -> Option<()> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer up to here is exact
    let mut ints = Vec::with_capacity(values.len());
    for &x in values.iter() {
        if x.fract() != 0.0 || x.abs() > EXACT {
            return None;
        }
        ints.push(x as i64);
    }
    counting_sort(&mut ints)?;
    for (slot, i) in values.iter_mut().zip(ints) {
        *slot = i as f64;
    }
    Some(())
}

/// The limits one column works within.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub exact_values: usize,
    pub distinct: usize,
    pub bins: usize,
}

#[derive(Debug)]
enum State<T> {
    /// Every finite value so far.
    Exact(Vec<T>),
    Streaming(Box<Streaming>),
}

struct Streaming {
    quantiles: DDSketch,
    histogram: GridHistogram,
    distinct: DistinctCounter,
}

impl std::fmt::Debug for Streaming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // DDSketch has no Debug; its size is what matters when debugging.
        f.debug_struct("Streaming")
            .field("quantiles", &format_args!("DDSketch({} values)", self.quantiles.count()))
            .field("histogram", &self.histogram)
            .field("distinct", &self.distinct)
            .finish()
    }
}

impl Streaming {
    fn add<T: Sample>(&mut self, x: T) {
        let f = x.to_f64();
        self.quantiles.add(f);
        self.histogram.add(f);
        self.distinct.insert(x.key());
    }
}

#[derive(Debug)]
pub(crate) struct NumericAcc<T> {
    limits: Limits,
    /// Over the finite values.
    summary: Summary,
    missing: u64,
    zeros: u64,
    pos_inf: u64,
    neg_inf: u64,
    min: Option<T>,
    max: Option<T>,
    state: State<T>,
    /// The current batch's finite values, kept to reuse its allocation.
    scratch: Vec<T>,
}

/// A finished numeric column, before it becomes numeric or timestamp statistics.
pub(crate) struct NumericResult<T> {
    pub count: u64,
    pub missing: u64,
    pub distinct: u64,
    pub distinct_exact: bool,
    pub summary: Summary,
    pub zeros: u64,
    pub pos_inf: u64,
    pub neg_inf: u64,
    pub min: Option<T>,
    pub max: Option<T>,
    pub quantiles: Vec<Quantile>,
    pub quantiles_exact: bool,
    pub histogram: Option<Histogram>,
}

impl<T: Sample> NumericAcc<T> {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            summary: Summary::new(),
            missing: 0,
            zeros: 0,
            pos_inf: 0,
            neg_inf: 0,
            min: None,
            max: None,
            state: State::Exact(Vec::new()),
            scratch: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, values: &[Option<T>]) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        for v in values {
            match v.map(Sample::class) {
                None | Some(Class::Missing) => self.missing += 1,
                Some(Class::PosInf) => self.pos_inf += 1,
                Some(Class::NegInf) => self.neg_inf += 1,
                Some(Class::Finite) => {
                    if let Some(x) = *v {
                        self.zeros += u64::from(x.is_zero());
                        scratch.push(x);
                    }
                }
            }
        }
        if !scratch.is_empty() {
            let batch = Summary::of_chunk(scratch.iter().map(|x| x.to_f64()));
            self.summary = self.summary.merge(&batch);
            for &x in &scratch {
                if self.min.is_none_or(|m| x < m) {
                    self.min = Some(x);
                }
                if self.max.is_none_or(|m| x > m) {
                    self.max = Some(x);
                }
            }
            self.absorb(&scratch);
        }
        self.scratch = scratch;
    }

    fn absorb(&mut self, values: &[T]) {
        match &mut self.state {
            State::Exact(buffer) if buffer.len() + values.len() <= self.limits.exact_values => {
                buffer.extend_from_slice(values);
            }
            State::Exact(buffer) => {
                let buffer = std::mem::take(buffer);
                let mut streaming = Box::new(self.start_streaming());
                for &x in buffer.iter().chain(values) {
                    streaming.add(x);
                }
                self.state = State::Streaming(streaming);
            }
            State::Streaming(streaming) => {
                for &x in values {
                    streaming.add(x);
                }
            }
        }
    }

    /// Empty streaming statistics whose grid spans the range seen so far.
    fn start_streaming(&self) -> Streaming {
        let min = self.min.map_or(0.0, Sample::to_f64);
        let max = self.max.map_or(0.0, Sample::to_f64);
        Streaming {
            quantiles: DDSketch::new(SketchConfig::new(SKETCH_ALPHA, SKETCH_BINS, SKETCH_MIN_VALUE)),
            histogram: GridHistogram::new(min, max, self.limits.bins * FINE_PER_BIN),
            distinct: DistinctCounter::new(self.limits.distinct),
        }
    }

    /// Values held in memory: the exact buffer, or the exact distinct key set.
    pub(crate) fn buffered(&self) -> usize {
        match &self.state {
            State::Exact(buffer) => buffer.len(),
            State::Streaming(s) => s.distinct.buffered(),
        }
    }

    pub(crate) fn finish(self, levels: &[f64]) -> NumericResult<T> {
        let finite = self.summary.count();
        let infinite_kinds = u64::from(self.pos_inf > 0) + u64::from(self.neg_inf > 0);
        let (min, max) = (self.min.map(Sample::to_f64), self.max.map(Sample::to_f64));
        let (distinct, distinct_exact, quantiles, quantiles_exact, histogram) = match self.state {
            State::Exact(mut buffer) => {
                T::sort(&mut buffer);
                let sorted = &buffer;
                let distinct = buffer.windows(2).filter(|w| w.first() != w.get(1)).count() as u64
                    + u64::from(!buffer.is_empty());
                let quantiles = levels
                    .iter()
                    .filter_map(|&q| quantile_sorted(sorted, q).map(|value| Quantile { q, value }))
                    .collect();
                let histogram = min.zip(max).and_then(|(lo, hi)| {
                    let edges = equal_edges(lo, hi, self.limits.bins)?;
                    let counts = histogram_sorted(sorted, &edges);
                    Some(Histogram { edges, counts, exact: true })
                });
                (distinct, true, quantiles, true, histogram)
            }
            State::Streaming(s) => {
                let (distinct, exact) = s.distinct.count();
                let quantiles = levels
                    .iter()
                    .filter_map(|&q| {
                        let value = s.quantiles.quantile(q).ok().flatten()?;
                        // The sketch's representative value may sit just outside the
                        // true range.
                        let value = value.clamp(min?, max?);
                        Some(Quantile { q, value })
                    })
                    .collect();
                let histogram = min.zip(max).and_then(|(lo, hi)| s.histogram.rebin(lo, hi, self.limits.bins));
                (distinct, exact, quantiles, false, histogram)
            }
        };
        NumericResult {
            count: finite + self.pos_inf + self.neg_inf,
            missing: self.missing,
            distinct: distinct + infinite_kinds,
            distinct_exact,
            summary: self.summary,
            zeros: self.zeros,
            pos_inf: self.pos_inf,
            neg_inf: self.neg_inf,
            min: self.min,
            max: self.max,
            quantiles,
            quantiles_exact,
            histogram,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEVELS: [f64; 3] = [0.1, 0.5, 0.9];

    #[test]
    fn ints_sort_by_counting_or_comparison() {
        let mut small = vec![5i64, -2, 5, 0, 3, -2];
        i64::sort(&mut small);
        assert_eq!(small, [-2, -2, 0, 3, 5, 5]);
        let mut wide = vec![i64::MAX, i64::MIN, 0, 7];
        i64::sort(&mut wide);
        assert_eq!(wide, [i64::MIN, 0, 7, i64::MAX]);
        let mut empty: Vec<i64> = vec![];
        i64::sort(&mut empty);
        let mut whole = vec![3.0, -0.0, -1.0, 3.0];
        f64::sort(&mut whole);
        assert_eq!(whole, [-1.0, 0.0, 3.0, 3.0]);
        let mut fractional = vec![0.5, -2.25, 1e300];
        f64::sort(&mut fractional);
        assert_eq!(fractional, [-2.25, 0.5, 1e300]);
    }

    #[test]
    fn infinities_and_nan_are_counted_apart_from_the_finite_statistics() {
        let mut acc = NumericAcc::<f64>::new(Limits { exact_values: 100, distinct: 100, bins: 2 });
        acc.push(&[Some(1.0), Some(f64::INFINITY), None, Some(f64::NAN), Some(-0.0), Some(0.0)]);
        acc.push(&[Some(f64::NEG_INFINITY), Some(3.0)]);
        let r = acc.finish(&LEVELS);
        assert_eq!((r.count, r.missing, r.pos_inf, r.neg_inf, r.zeros), (6, 2, 1, 1, 2));
        // 0 (both signs), 1, 3, +inf, -inf
        assert_eq!((r.distinct, r.distinct_exact), (5, true));
        assert_eq!(r.summary.count(), 4);
        assert_eq!(r.summary.mean(), Some(1.0));
        assert_eq!(r.histogram.unwrap().counts, [3, 1]);
    }

    #[test]
    fn switching_to_streaming_keeps_the_buffer_within_the_limit() {
        let limits = Limits { exact_values: 1000, distinct: 500, bins: 10 };
        let mut acc = NumericAcc::<i64>::new(limits);
        for batch in 0..50i64 {
            let values: Vec<Option<i64>> = (0..333).map(|i| Some((batch * 333 + i) % 2000)).collect();
            acc.push(&values);
            assert!(acc.buffered() <= 1000);
        }
        let r = acc.finish(&LEVELS);
        assert!(!r.quantiles_exact);
        assert_eq!(r.count, 50 * 333);
        let h = r.histogram.unwrap();
        assert_eq!(h.counts.iter().sum::<u64>(), 50 * 333);
        assert!(!r.distinct_exact);
        assert!((r.distinct as f64 - 2000.0).abs() < 40.0, "{}", r.distinct);
        let mut all: Vec<f64> = (0..50 * 333).map(|i| (i % 2000) as f64).collect();
        all.sort_by(f64::total_cmp);
        let true_median = quantile_sorted(&all, 0.5).unwrap();
        let median = r.quantiles.get(1).unwrap().value;
        assert!((median - true_median).abs() <= true_median * SKETCH_ALPHA, "{median} vs {true_median}");
    }
}
