//! Hyper-parameter search: which trials to run.
//!
//! Trials are drawn up front from a seeded stream, so a search is reproducible
//! and every trial can be queued at once (trials then spread over all workers).

use std::collections::BTreeMap;

use domain::training::{MAX_TRIALS, ParamRange, SearchMethod};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use serde_json::{Map, Value};

/// Grid points per continuous range (integer ranges use every integer up to this many).
const GRID_POINTS: usize = 5;

/// The hyper-parameter values of each trial, in trial order.
///
/// Grid: the cartesian product of each range's points (choices as given, an
/// integer range's integers or `GRID_POINTS` evenly spread ones, continuous ranges
/// `GRID_POINTS` points, log-spaced for `log_uniform`), cut at `n_trials`.
/// Random: `n_trials` independent draws.
pub fn trials(
    space: &BTreeMap<String, ParamRange>,
    method: SearchMethod,
    n_trials: usize,
    seed: u64,
) -> Result<Vec<Map<String, Value>>, String> {
    if space.is_empty() {
        return Err("the search space is empty: give at least one hyper-parameter range".into());
    }
    if n_trials == 0 || n_trials > MAX_TRIALS {
        return Err(format!("n_trials must be between 1 and {MAX_TRIALS}, got {n_trials}"));
    }
    for (name, range) in space {
        range.validate(name)?;
    }
    Ok(match method {
        SearchMethod::Grid => grid(space, n_trials),
        SearchMethod::Random => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..n_trials)
                .map(|_| space.iter().map(|(name, range)| (name.clone(), draw(range, &mut rng))).collect())
                .collect()
        }
    })
}

fn grid(space: &BTreeMap<String, ParamRange>, limit: usize) -> Vec<Map<String, Value>> {
    let mut out = vec![Map::new()];
    for (name, range) in space {
        let points = grid_points(range);
        let mut next = Vec::with_capacity(out.len() * points.len());
        'outer: for partial in &out {
            for point in &points {
                let mut m = partial.clone();
                m.insert(name.clone(), point.clone());
                next.push(m);
                if next.len() >= limit {
                    break 'outer;
                }
            }
        }
        out = next;
    }
    out.truncate(limit);
    out
}

fn grid_points(range: &ParamRange) -> Vec<Value> {
    match *range {
        ParamRange::Choice { ref values } => values.clone(),
        ParamRange::Int { low, high } => {
            let span = (high - low) as usize + 1;
            if span <= GRID_POINTS * 2 {
                (low..=high).map(Value::from).collect()
            } else {
                let mut v: Vec<i64> = (0..GRID_POINTS)
                    .map(|i| low + ((high - low) as f64 * i as f64 / (GRID_POINTS - 1) as f64).round() as i64)
                    .collect();
                v.dedup();
                v.into_iter().map(Value::from).collect()
            }
        }
        ParamRange::Uniform { low, high } => spread(low, high, |x| x),
        ParamRange::LogUniform { low, high } => spread(low.ln(), high.ln(), f64::exp),
    }
}

fn spread(low: f64, high: f64, map: impl Fn(f64) -> f64) -> Vec<Value> {
    if low == high {
        return vec![Value::from(map(low))];
    }
    (0..GRID_POINTS)
        .map(|i| Value::from(map(low + (high - low) * i as f64 / (GRID_POINTS - 1) as f64)))
        .collect()
}

/// A uniform float in [0, 1).
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn draw(range: &ParamRange, rng: &mut ChaCha8Rng) -> Value {
    match *range {
        ParamRange::Choice { ref values } => {
            let i = (unit(rng) * values.len() as f64) as usize;
            values.get(i.min(values.len() - 1)).cloned().unwrap_or(Value::Null)
        }
        ParamRange::Int { low, high } => {
            let span = (high - low) as u64 + 1;
            Value::from(low + (rng.next_u64() % span) as i64)
        }
        ParamRange::Uniform { low, high } => Value::from(low + (high - low) * unit(rng)),
        ParamRange::LogUniform { low, high } => {
            Value::from((low.ln() + (high.ln() - low.ln()) * unit(rng)).exp())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn space() -> BTreeMap<String, ParamRange> {
        BTreeMap::from([
            ("alpha".to_string(), ParamRange::LogUniform { low: 1e-3, high: 10.0 }),
            ("max_depth".to_string(), ParamRange::Int { low: 2, high: 4 }),
            ("criterion".to_string(), ParamRange::Choice { values: vec![json!("gini"), json!("entropy")] }),
        ])
    }

    #[test]
    fn random_draws_stay_in_range_and_repeat_with_the_seed() {
        let a = trials(&space(), SearchMethod::Random, 50, 7).unwrap();
        assert_eq!(a, trials(&space(), SearchMethod::Random, 50, 7).unwrap());
        assert_ne!(a, trials(&space(), SearchMethod::Random, 50, 8).unwrap());
        for t in &a {
            let alpha = t["alpha"].as_f64().unwrap();
            assert!((1e-3..=10.0).contains(&alpha));
            assert!((2..=4).contains(&t["max_depth"].as_i64().unwrap()));
            assert!(["gini", "entropy"].contains(&t["criterion"].as_str().unwrap()));
        }
        // Both choices and every depth come up in 50 draws.
        assert!(a.iter().any(|t| t["criterion"] == "gini") && a.iter().any(|t| t["criterion"] == "entropy"));
        assert!((2..=4).all(|d| a.iter().any(|t| t["max_depth"] == d)));
    }

    #[test]
    fn grid_is_the_product_cut_at_the_limit() {
        let all = trials(&space(), SearchMethod::Grid, 500, 0).unwrap();
        assert_eq!(all.len(), 5 * 3 * 2);
        let alphas: Vec<f64> = all.iter().map(|t| t["alpha"].as_f64().unwrap()).collect();
        assert!((alphas.iter().cloned().fold(f64::MAX, f64::min) - 1e-3).abs() < 1e-12);
        assert!((alphas.iter().cloned().fold(0.0, f64::max) - 10.0).abs() < 1e-9);
        assert_eq!(trials(&space(), SearchMethod::Grid, 7, 0).unwrap().len(), 7);
    }

    #[test]
    fn bad_spaces_are_refused_with_the_reason() {
        assert!(trials(&BTreeMap::new(), SearchMethod::Random, 5, 0).unwrap_err().contains("empty"));
        let bad = BTreeMap::from([("alpha".to_string(), ParamRange::LogUniform { low: 0.0, high: 1.0 })]);
        assert!(trials(&bad, SearchMethod::Random, 5, 0).unwrap_err().contains("alpha"));
        assert!(trials(&space(), SearchMethod::Random, 0, 0).unwrap_err().contains("n_trials"));
    }
}
