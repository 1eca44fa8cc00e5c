//! Sorting a column's finite values, the costliest step of a drift check.
//!
//! An f64's bits, with the sign bit flipped for positives and every bit flipped
//! for negatives, order as unsigned integers exactly as the floats do (-0.0 just
//! before +0.0). Sorting those u64 keys with the standard unstable sort is about
//! 1.5× faster than sorting the floats with `total_cmp`, and on this project's
//! 2-core VM faster than LSD radix sorts too (measured: 1M values in ~23 ms of
//! CPU against ~35 ms for `sort_unstable_by(f64::total_cmp)` and ~55–60 ms for
//! 11-bit and 8-bit (`radsort`) radix sorts, whose scattered writes miss cache).

/// The finite values sorted ascending, and how many values were not finite.
pub fn sorted_finite(values: impl Iterator<Item = f64>, len_hint: usize) -> (Vec<f64>, u64) {
    let mut keys: Vec<u64> = Vec::with_capacity(len_hint);
    let mut missing = 0u64;
    for v in values {
        if v.is_finite() {
            keys.push(key(v));
        } else {
            missing += 1;
        }
    }
    keys.sort_unstable();
    // Same size and alignment: the allocation is reused.
    (keys.into_iter().map(value).collect(), missing)
}

fn key(v: f64) -> u64 {
    let bits = v.to_bits();
    if bits >> 63 == 1 { !bits } else { bits | (1 << 63) }
}

fn value(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_total_cmp_and_skips_non_finite_values() {
        let mut state = 99u64;
        let mut next = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            state
        };
        let special = [
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            f64::MAX,
            f64::MIN,
            1.0,
            -1.0,
        ];
        for n in [0usize, 1, 10, 5_000, 100_000] {
            let mut values: Vec<f64> = (0..n)
                .map(|i| match i % 7 {
                    0 => special[(next() % special.len() as u64) as usize],
                    1 => (next() % 100) as f64 - 50.0, // ties
                    _ => f64::from_bits(next() >> 2) * if next() % 2 == 0 { 1.0 } else { -1.0 },
                })
                .collect();
            values.extend([f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
            let (sorted, missing) = sorted_finite(values.iter().copied(), values.len());
            let mut want: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
            want.sort_by(f64::total_cmp);
            assert_eq!(missing, 3 + values[..n].iter().filter(|v| !v.is_finite()).count() as u64);
            assert_eq!(sorted.len(), want.len());
            assert!(sorted.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "n = {n}");
        }
    }
}
