//! The random stream behind splits, pinned so a stored split can be reproduced by
//! any later release: a seed must mean the same rows forever.
//!
//! - Generator: ChaCha8 (`rand_chacha`, whose output is value-stable across its
//!   releases), keyed with the seed's 8 little-endian bytes followed by 24 zero
//!   bytes. We do not use `SeedableRng::seed_from_u64` or `rand`'s `shuffle`,
//!   whose algorithms are free to change between `rand` versions.
//! - Integers below `n`: rejection sampling on `next_u64` (unbiased).
//! - Shuffle: Fisher–Yates from the last element down.
//!
//! Changing any of this changes every split; `tests::the_stream_is_pinned` guards it.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

pub(crate) struct SplitRng(ChaCha8Rng);

impl SplitRng {
    pub(crate) fn new(seed: u64) -> Self {
        let mut key = [0u8; 32];
        for (k, b) in key.iter_mut().zip(seed.to_le_bytes()) {
            *k = b;
        }
        SplitRng(ChaCha8Rng::from_seed(key))
    }

    /// A uniform integer in `0..n` (`n > 0`; 0 gives 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n <= 1 {
            return 0;
        }
        // 2^64 mod n values at the top of the range would favour small results.
        let rejected = (u64::MAX % n + 1) % n;
        let limit = 0u64.wrapping_sub(rejected);
        loop {
            let x = self.0.next_u64();
            if rejected == 0 || x < limit {
                return x % n;
            }
        }
    }

    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_pinned() {
        // If this fails, every stored split just changed: do not update the numbers,
        // restore the algorithm.
        let mut rng = SplitRng::new(42);
        let draws: Vec<u64> = (0..6).map(|_| rng.below(1000)).collect();
        let mut items: Vec<u32> = (0..10).collect();
        SplitRng::new(7).shuffle(&mut items);
        assert_eq!((draws, items), (PINNED_DRAWS.to_vec(), PINNED_SHUFFLE.to_vec()));
    }

    const PINNED_DRAWS: [u64; 6] = [879, 99, 902, 802, 322, 945];
    const PINNED_SHUFFLE: [u32; 10] = [0, 5, 7, 4, 1, 3, 2, 8, 6, 9];

    #[test]
    fn draws_are_roughly_uniform() {
        let mut rng = SplitRng::new(1);
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[rng.below(10) as usize] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
    }
}
