//! Distinct counting for a numeric or timestamp column once its exact buffer is gone:
//! an exact set of value keys up to `distinct_limit`, then HyperLogLog.

use foldhash::HashSet;

use super::hll::{HyperLogLog, mix64};

#[derive(Clone, Debug)]
pub(crate) enum DistinctCounter {
    Exact { keys: HashSet<u64>, limit: usize },
    Sketch(HyperLogLog),
}

impl DistinctCounter {
    pub(crate) fn new(limit: usize) -> Self {
        Self::Exact { keys: HashSet::default(), limit }
    }

    /// Record a value by its key (equal values, equal keys).
    pub(crate) fn insert(&mut self, key: u64) {
        match self {
            Self::Exact { keys, limit } => {
                if keys.len() < *limit || keys.contains(&key) {
                    keys.insert(key);
                } else {
                    let mut sketch = HyperLogLog::new();
                    for &k in keys.iter() {
                        sketch.insert(mix64(k));
                    }
                    sketch.insert(mix64(key));
                    *self = Self::Sketch(sketch);
                }
            }
            Self::Sketch(sketch) => sketch.insert(mix64(key)),
        }
    }

    /// The distinct count and whether it is exact.
    pub(crate) fn count(&self) -> (u64, bool) {
        match self {
            Self::Exact { keys, .. } => (keys.len() as u64, true),
            Self::Sketch(sketch) => (sketch.estimate(), false),
        }
    }

    /// Keys held in memory (0 once it is a sketch of fixed size).
    pub(crate) fn buffered(&self) -> usize {
        match self {
            Self::Exact { keys, .. } => keys.len(),
            Self::Sketch(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_exact_up_to_the_limit_then_estimates() {
        let mut d = DistinctCounter::new(100);
        for i in 0..100u64 {
            d.insert(i);
            d.insert(i);
        }
        assert_eq!(d.count(), (100, true));
        assert_eq!(d.buffered(), 100);
        for i in 0..10_000u64 {
            d.insert(i);
        }
        let (n, exact) = d.count();
        assert!(!exact);
        assert!((n as f64 - 10_000.0).abs() < 200.0, "{n}");
        assert_eq!(d.buffered(), 0);
    }
}
