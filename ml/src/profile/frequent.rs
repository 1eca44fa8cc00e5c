//! Value counts of a string column: exact while the column has at most
//! `distinct_limit` distinct values, then a Misra-Gries heavy-hitters summary.
//!
//! One map serves both: it holds exact counts until it is full; then, instead of
//! growing, it is purged the way Apache DataSketches' frequent-items sketch does it:
//! every count drops by the median count and the ones that reach zero leave. Each purge
//! frees at least half the map in O(size), so the cost per value stays O(1). A stored
//! count is then a lower bound and the true count exceeds it by at most the sum of all
//! decrements (`offset`), which is small for the frequent values top-k reports. From
//! the first purge on, a HyperLogLog (seeded with every value seen until then) keeps
//! the distinct count.

use domain::profile::{TopK, ValueCount};

use foldhash::HashMap;

use super::hll::{HyperLogLog, hash_str};

#[derive(Clone, Debug)]
pub(crate) struct FrequentItems {
    counts: HashMap<String, u64>,
    capacity: usize,
    /// Total decrement applied by purges: the largest error of any count.
    offset: u64,
    /// Present from the first purge on.
    distinct: Option<HyperLogLog>,
}

impl FrequentItems {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { counts: HashMap::default(), capacity: capacity.max(1), offset: 0, distinct: None }
    }

    pub(crate) fn add(&mut self, value: &str) {
        if let Some(c) = self.counts.get_mut(value) {
            // A value in the map has been recorded in the sketch already (when it was
            // first inserted, or when the sketch was seeded).
            *c += 1;
            return;
        }
        if self.counts.len() >= self.capacity {
            self.purge();
        }
        if let Some(sketch) = &mut self.distinct {
            sketch.insert(hash_str(value));
        }
        self.counts.insert(value.to_owned(), 1);
    }

    fn purge(&mut self) {
        if self.distinct.is_none() {
            let mut sketch = HyperLogLog::new();
            for k in self.counts.keys() {
                sketch.insert(hash_str(k));
            }
            self.distinct = Some(sketch);
        }
        let mut counts: Vec<u64> = self.counts.values().copied().collect();
        let mid = counts.len() / 2;
        let decrement = if counts.is_empty() { 1 } else { (*counts.select_nth_unstable(mid).1).max(1) };
        self.counts.retain(|_, c| {
            *c = c.saturating_sub(decrement);
            *c > 0
        });
        self.offset += decrement;
    }

    /// The distinct count and whether it is exact.
    pub(crate) fn distinct(&self) -> (u64, bool) {
        match &self.distinct {
            None => (self.counts.len() as u64, true),
            Some(sketch) => (sketch.estimate(), false),
        }
    }

    pub(crate) fn buffered(&self) -> usize {
        self.counts.len()
    }

    /// The `k` most frequent values; `total` is the column's non-missing count.
    pub(crate) fn top_k(&self, k: usize, total: u64) -> TopK {
        let mut entries: Vec<(&String, u64)> = self.counts.iter().map(|(v, &c)| (v, c)).collect();
        let k = k.min(entries.len());
        if k > 0 && k < entries.len() {
            entries.select_nth_unstable_by(k - 1, |a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        }
        entries.truncate(k);
        entries.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        top_k_of(entries.into_iter().map(|(v, c)| (v.clone(), c)), total, self.offset)
    }
}

/// A [`TopK`] from values already in order; `other` is what they leave of `total`.
pub(crate) fn top_k_of(values: impl IntoIterator<Item = (String, u64)>, total: u64, max_error: u64) -> TopK {
    let values: Vec<ValueCount> =
        values.into_iter().map(|(value, count)| ValueCount { value, count }).collect();
    let listed: u64 = values.iter().map(|v| v.count).sum();
    TopK { values, other: total.saturating_sub(listed), exact: max_error == 0, max_error }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_exact_below_capacity_with_ties_in_value_order() {
        let mut f = FrequentItems::new(10);
        for v in ["b", "a", "c", "a", "b", "d"] {
            f.add(v);
        }
        let top = f.top_k(3, 6);
        let got: Vec<(&str, u64)> = top.values.iter().map(|v| (v.value.as_str(), v.count)).collect();
        assert_eq!(got, [("a", 2), ("b", 2), ("c", 1)]);
        assert_eq!(top.other, 1);
        assert!(top.exact);
        assert_eq!(f.distinct(), (4, true));
    }

    #[test]
    fn heavy_hitters_survive_purges_within_the_error_bound() {
        let mut f = FrequentItems::new(100);
        let mut truth: HashMap<String, u64> = HashMap::default();
        for i in 0..100_000u64 {
            // Every third value is one of five heavy values; the rest are unique.
            let v = if i.is_multiple_of(3) { format!("heavy{}", i % 5) } else { format!("u{i}") };
            *truth.entry(v.clone()).or_default() += 1;
            f.add(&v);
            assert!(f.buffered() <= 100);
        }
        let top = f.top_k(5, 100_000);
        assert!(!top.exact);
        for v in &top.values {
            assert!(v.value.starts_with("heavy"), "{}", v.value);
            let t = truth[&v.value];
            assert!(v.count <= t && t <= v.count + top.max_error, "{} {} {}", v.count, t, top.max_error);
        }
        let (d, exact) = f.distinct();
        assert!(!exact);
        let true_distinct = truth.len() as f64;
        assert!((d as f64 - true_distinct).abs() / true_distinct < 0.02);
    }
}
