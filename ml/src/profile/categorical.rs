//! Accumulators for string and bool columns: missing count and value frequencies.

use domain::profile::TopK;

use super::frequent::{FrequentItems, top_k_of};

#[derive(Debug)]
pub(crate) struct StrAcc {
    count: u64,
    missing: u64,
    values: FrequentItems,
}

impl StrAcc {
    pub(crate) fn new(distinct_limit: usize) -> Self {
        Self { count: 0, missing: 0, values: FrequentItems::new(distinct_limit) }
    }

    pub(crate) fn push(&mut self, values: &[Option<String>]) {
        for v in values {
            match v {
                Some(s) => {
                    self.count += 1;
                    self.values.add(s);
                }
                None => self.missing += 1,
            }
        }
    }

    pub(crate) fn buffered(&self) -> usize {
        self.values.buffered()
    }

    /// (count, missing, distinct, distinct exact, top-k)
    pub(crate) fn finish(self, k: usize) -> (u64, u64, u64, bool, TopK) {
        let (distinct, exact) = self.values.distinct();
        (self.count, self.missing, distinct, exact, self.values.top_k(k, self.count))
    }
}

#[derive(Debug, Default)]
pub(crate) struct BoolAcc {
    trues: u64,
    falses: u64,
    missing: u64,
}

impl BoolAcc {
    pub(crate) fn push(&mut self, values: &[Option<bool>]) {
        for v in values {
            match v {
                Some(true) => self.trues += 1,
                Some(false) => self.falses += 1,
                None => self.missing += 1,
            }
        }
    }

    /// (count, missing, distinct, top-k)
    pub(crate) fn finish(self, k: usize) -> (u64, u64, u64, TopK) {
        let count = self.trues + self.falses;
        // Most frequent first; on a tie "false" sorts before "true".
        let mut values = vec![("false".to_owned(), self.falses), ("true".to_owned(), self.trues)];
        values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        values.retain(|v| v.1 > 0);
        let distinct = values.len() as u64;
        values.truncate(k);
        (count, self.missing, distinct, top_k_of(values, count, 0))
    }
}
