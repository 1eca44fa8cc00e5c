//! The profiler against numpy/pandas on penguins.csv, wine.csv and a synthetic sample
//! (±inf, zeros, bools, timestamps, constant and all-missing columns). The numbers come
//! from `tests/fixtures/profile_reference.py` (see its docstring for the definitions).
//! Every data set is fed whole and in batches of several sizes: exact statistics must
//! match the reference to 1e-9 relative error (counts exactly) however the rows were
//! batched.

#[path = "profile_common/mod.rs"]
mod common;

use common::{close, read_csv, slice};
use domain::datasets::ColumnType;
use ml::profile::{ColumnStats, DatasetProfile, ProfileConfig, Profiler, QUANTILES};
use serde_json::Value;

const REL: f64 = 1e-9;

fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/profile_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn f(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn assert_close(what: &str, got: Option<f64>, want: Option<f64>) {
    match (got, want) {
        (Some(g), Some(w)) => assert!(close(g, w, REL), "{what}: got {g}, want {w}"),
        (g, w) => assert_eq!(g, w, "{what}"),
    }
}

fn assert_histogram(what: &str, got: Option<&ml::profile::Histogram>, want: &Value) {
    let Some(h) = got else {
        assert!(want.is_null(), "{what}: no histogram, want {want}");
        return;
    };
    assert!(h.exact, "{what}");
    let edges: Vec<f64> = want["edges"].as_array().unwrap().iter().map(|e| e.as_f64().unwrap()).collect();
    let counts: Vec<u64> = want["counts"].as_array().unwrap().iter().map(u).collect();
    assert_eq!(h.edges.len(), edges.len(), "{what} edges");
    for (g, w) in h.edges.iter().zip(&edges) {
        assert!(close(*g, *w, 1e-12), "{what} edges: {:?} vs {edges:?}", h.edges);
    }
    assert_eq!(h.counts, counts, "{what} counts");
}

fn check(profile: &DatasetProfile, want: &Value, label: &str) {
    assert_eq!(profile.rows, u(&want["rows"]), "{label} rows");
    let columns = want["columns"].as_array().unwrap();
    assert_eq!(profile.columns.len(), columns.len());
    for (c, w) in profile.columns.iter().zip(columns) {
        let what = format!("{label}/{}", c.name);
        assert_eq!(c.name, w["name"].as_str().unwrap());
        assert_eq!(c.count, u(&w["count"]), "{what} count");
        assert_eq!(c.missing, u(&w["missing"]), "{what} missing");
        assert_eq!(c.distinct, u(&w["distinct"]), "{what} distinct");
        assert!(c.distinct_exact, "{what}");
        match &c.stats {
            ColumnStats::Numeric(s) => {
                assert_close(&format!("{what} min"), s.min, f(&w["min"]));
                assert_close(&format!("{what} max"), s.max, f(&w["max"]));
                assert_close(&format!("{what} mean"), s.mean, f(&w["mean"]));
                assert_close(&format!("{what} std"), s.std, f(&w["std"]));
                assert_eq!(s.zeros, u(&w["zeros"]), "{what} zeros");
                assert_eq!(s.pos_inf, u(&w["pos_inf"]), "{what} +inf");
                assert_eq!(s.neg_inf, u(&w["neg_inf"]), "{what} -inf");
                assert!(s.quantiles_exact);
                let quantiles = w["quantiles"].as_array().unwrap();
                assert_eq!(s.quantiles.len(), quantiles.len(), "{what} quantiles");
                for (g, qw) in s.quantiles.iter().zip(quantiles) {
                    assert_eq!(g.q, qw[0].as_f64().unwrap());
                    assert_close(&format!("{what} q{}", g.q), Some(g.value), f(&qw[1]));
                }
                assert_histogram(&what, s.histogram.as_ref(), &w["histogram"]);
                if let Some(h) = &s.histogram {
                    assert_eq!(h.counts.iter().sum::<u64>(), c.count - s.pos_inf - s.neg_inf, "{what}");
                }
            }
            ColumnStats::Timestamp(s) => {
                assert_eq!(s.min, w["min"].as_i64(), "{what} min");
                assert_eq!(s.max, w["max"].as_i64(), "{what} max");
                assert_histogram(&what, s.histogram.as_ref(), &w["histogram"]);
            }
            ColumnStats::Categorical(top) => {
                let want_top: Vec<(String, u64)> = w["top_k"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| (p[0].as_str().unwrap().to_owned(), u(&p[1])))
                    .collect();
                let got_top: Vec<(String, u64)> =
                    top.values.iter().map(|v| (v.value.clone(), v.count)).collect();
                assert_eq!(got_top, want_top, "{what} top-k");
                assert_eq!(top.other, u(&w["other"]), "{what} other");
                assert!(top.exact);
            }
        }
    }
    let corr = &want["correlations"];
    let names: Vec<&str> = corr["columns"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert_eq!(profile.correlations.columns, names, "{label} correlation columns");
    for (i, row) in corr["pearson"].as_array().unwrap().iter().enumerate() {
        for (j, cell) in row.as_array().unwrap().iter().enumerate() {
            let what = format!("{label} corr({}, {})", names[i], names[j]);
            assert_close(&what, profile.correlations.pearson[i][j], cell.as_f64());
        }
    }
}

fn schema_of(want: &Value) -> Vec<(String, ColumnType)> {
    want["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c["type"].as_str().unwrap().parse().unwrap()))
        .collect()
}

#[test]
fn profiles_match_numpy_and_pandas_in_any_batching() {
    let fixture = fixture();
    assert_eq!(fixture["quantiles"].as_array().unwrap().len(), QUANTILES.len());
    let config = ProfileConfig {
        histogram_bins: fixture["histogram_bins"].as_u64().unwrap() as u32,
        top_k: fixture["top_k"].as_u64().unwrap() as u32,
        ..ProfileConfig::default()
    };
    for want in fixture["datasets"].as_array().unwrap() {
        let name = want["name"].as_str().unwrap();
        let schema = schema_of(want);
        let columns = read_csv(want["path"].as_str().unwrap(), &schema);
        let rows = columns[0].len();
        for batch in [rows, 1, 7, 50, 1000] {
            let mut profiler = Profiler::new(&schema, config).unwrap();
            for start in (0..rows).step_by(batch) {
                profiler.push(&slice(&schema, &columns, start, (start + batch).min(rows))).unwrap();
            }
            let profile = profiler.finish();
            check(&profile, want, &format!("{name} in batches of {batch}"));
        }
    }
}
