//! Train/test splits. Each returns row indices in ascending order, so the frames
//! built from them keep the data's order; the same data and seed give the same
//! split in every release (see `rng`).

use std::collections::BTreeMap;

use domain::prepare::SplitSpec;

use super::error::PrepareError;
use super::rng::SplitRng;
use super::time::parse_timestamp;
use crate::frame::{ColumnData, Frame};

/// Divide the rows of `frame` into (train, test) row indices.
pub fn split(spec: &SplitSpec, frame: &Frame) -> Result<(Vec<usize>, Vec<usize>), PrepareError> {
    super::spec::validate_split(spec)?;
    let n = frame.n_rows();
    match spec {
        SplitSpec::Random { test_fraction, seed } => {
            let n_test = test_count(*test_fraction, n)?;
            let mut rows: Vec<usize> = (0..n).collect();
            SplitRng::new(*seed).shuffle(&mut rows);
            let (test, train) = rows.split_at(n_test);
            Ok((sorted(train), sorted(test)))
        }
        SplitSpec::Stratified { column, test_fraction, seed } => {
            stratified(frame, column, *test_fraction, *seed)
        }
        SplitSpec::Time { column, before, test_fraction } => {
            by_time(frame, column, before.as_deref(), *test_fraction)
        }
    }
}

fn sorted(rows: &[usize]) -> Vec<usize> {
    let mut rows = rows.to_vec();
    rows.sort_unstable();
    rows
}

/// `ceil(fraction * n)` as scikit-learn's `train_test_split` does, with both
/// sides non-empty.
fn test_count(fraction: f64, n: usize) -> Result<usize, PrepareError> {
    // The small slack keeps 0.2 * 10 = 2.0000000000000004 from becoming 3.
    let n_test = ((fraction * n as f64) - 1e-9).ceil().max(0.0) as usize;
    let detail = || format!("test_fraction {fraction} of {n} rows");
    if n_test == 0 {
        return Err(PrepareError::EmptySplit { side: "test", detail: detail() });
    }
    if n_test >= n {
        return Err(PrepareError::EmptySplit { side: "train", detail: detail() });
    }
    Ok(n_test)
}

fn column<'f>(frame: &'f Frame, name: &str) -> Result<&'f ColumnData, PrepareError> {
    frame.column(name).map(|c| &c.data).ok_or_else(|| super::columns::unknown(name, frame))
}

/// Each class contributes `floor(fraction * n_class)` or one more test rows (the
/// extra rows go to the classes with the largest remainders, ties by class name),
/// so every class keeps its proportion within one row and at least one train row.
fn stratified(
    frame: &Frame,
    name: &str,
    fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>), PrepareError> {
    let data = column(frame, name)?;
    let mut classes: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for row in 0..data.len() {
        let Some(class) = data.text(row) else {
            let need = "a stratified split needs a class on every row";
            return Err(PrepareError::MissingValue { column: name.to_string(), row, need });
        };
        classes.entry(class).or_default().push(row);
    }
    if let Some((class, _)) = classes.iter().find(|(_, rows)| rows.len() == 1) {
        return Err(PrepareError::SingletonClass { column: name.to_string(), class: class.clone() });
    }
    let n_test = test_count(fraction, data.len())?;

    // Whole rows first, then the remainders, largest first.
    let mut counts: Vec<usize> = Vec::with_capacity(classes.len());
    let mut remainders: Vec<(f64, usize)> = Vec::new();
    for (k, rows) in classes.values().enumerate() {
        let ideal = fraction * rows.len() as f64;
        let whole = (ideal.floor() as usize).min(rows.len() - 1);
        counts.push(whole);
        if whole + 1 < rows.len() {
            remainders.push((ideal - whole as f64, k));
        }
    }
    remainders.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let missing = n_test.saturating_sub(counts.iter().sum());
    for &(_, k) in remainders.iter().take(missing) {
        if let Some(c) = counts.get_mut(k) {
            *c += 1;
        }
    }

    let mut rng = SplitRng::new(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (mut rows, count) in classes.into_values().zip(counts) {
        rng.shuffle(&mut rows);
        let (t, r) = rows.split_at(count.min(rows.len()));
        test.extend_from_slice(t);
        train.extend_from_slice(r);
    }
    train.sort_unstable();
    test.sort_unstable();
    Ok((train, test))
}

/// Rows before the cutoff (or the earliest `1 - fraction`) train; the rest test.
fn by_time(
    frame: &Frame,
    name: &str,
    before: Option<&str>,
    fraction: Option<f64>,
) -> Result<(Vec<usize>, Vec<usize>), PrepareError> {
    let data = column(frame, name)?;
    let kind = data.column_type();
    let need_time = "a time split needs a time on every row";
    if let Some(cutoff) = before {
        let ColumnData::Timestamp(values) = data else {
            let need = "a time split with `before` needs a timestamp column".to_string();
            return Err(PrepareError::Unsupported { column: name.to_string(), got: kind, need });
        };
        let cutoff_micros = parse_timestamp(cutoff).ok_or_else(|| bad_cutoff(cutoff))?;
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for (row, v) in values.iter().enumerate() {
            match v {
                Some(t) if *t < cutoff_micros => train.push(row),
                Some(_) => test.push(row),
                None => {
                    return Err(PrepareError::MissingValue {
                        column: name.to_string(),
                        row,
                        need: need_time,
                    });
                }
            }
        }
        let detail = |side| format!("no row of `{name}` is {side} {cutoff}");
        if train.is_empty() {
            return Err(PrepareError::EmptySplit { side: "train", detail: detail("before") });
        }
        if test.is_empty() {
            return Err(PrepareError::EmptySplit { side: "test", detail: detail("at or after") });
        }
        return Ok((train, test));
    }

    let times: Vec<f64> = match data {
        ColumnData::Timestamp(_) | ColumnData::Int(_) | ColumnData::Float(_) => {
            data.to_f64().unwrap_or_default()
        }
        _ => {
            let need = "a time split needs a timestamp, int or float column".to_string();
            return Err(PrepareError::Unsupported { column: name.to_string(), got: kind, need });
        }
    };
    if let Some(row) = times.iter().position(|t| t.is_nan()) {
        return Err(PrepareError::MissingValue { column: name.to_string(), row, need: need_time });
    }
    let n_test = test_count(fraction.unwrap_or(0.0), times.len())?;
    let mut order: Vec<usize> = (0..times.len()).collect();
    // Stable: equal times keep their row order.
    order.sort_by(|&a, &b| times.get(a).unwrap_or(&0.0).total_cmp(times.get(b).unwrap_or(&0.0)));
    let (train, test) = order.split_at(times.len() - n_test);
    Ok((sorted(train), sorted(test)))
}

pub(crate) fn bad_cutoff(cutoff: &str) -> PrepareError {
    PrepareError::Spec(format!(
        "split `before: {cutoff}` is not a timestamp: use RFC 3339, YYYY-MM-DD or YYYY-MM-DD HH:MM:SS (UTC)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Column;

    fn labels(classes: &[(&str, usize)]) -> Frame {
        let mut values = Vec::new();
        for (class, count) in classes {
            values.extend(std::iter::repeat_n(Some(class.to_string()), *count));
        }
        Frame::new(vec![Column::new("y", ColumnData::Str(values))]).unwrap()
    }

    #[test]
    fn random_split_is_deterministic_and_complete() {
        let frame = labels(&[("a", 100)]);
        let spec = SplitSpec::Random { test_fraction: 0.25, seed: 3 };
        let (train, test) = split(&spec, &frame).unwrap();
        assert_eq!((train.len(), test.len()), (75, 25));
        assert_eq!(split(&spec, &frame).unwrap(), (train.clone(), test.clone()));
        let mut all = [train.clone(), test.clone()].concat();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        let other = split(&SplitSpec::Random { test_fraction: 0.25, seed: 4 }, &frame).unwrap();
        assert_ne!(other.1, test);
        // ceil, as scikit-learn: 0.1 of 15 rows is 2 test rows.
        let (_, test) =
            split(&SplitSpec::Random { test_fraction: 0.1, seed: 0 }, &labels(&[("a", 15)])).unwrap();
        assert_eq!(test.len(), 2);
    }

    #[test]
    fn stratified_split_keeps_proportions_within_a_row() {
        let frame = labels(&[("a", 50), ("b", 31), ("c", 7), ("d", 2)]);
        let fraction = 0.3;
        let spec = SplitSpec::Stratified { column: "y".into(), test_fraction: fraction, seed: 11 };
        let (train, test) = split(&spec, &frame).unwrap();
        assert_eq!(test.len(), 27); // ceil(0.3 * 90)
        assert_eq!(train.len() + test.len(), 90);
        let ColumnData::Str(y) = &frame.columns[0].data else { unreachable!() };
        for (class, n) in [("a", 50), ("b", 31), ("c", 7), ("d", 2)] {
            let in_test = test.iter().filter(|&&r| y[r].as_deref() == Some(class)).count();
            let ideal = fraction * n as f64;
            assert!(
                (in_test as f64 - ideal).abs() < 1.0,
                "class {class}: {in_test} test rows, ideal {ideal}"
            );
            assert!(in_test < n, "class {class} keeps a train row");
        }
        assert_eq!(split(&spec, &frame).unwrap(), (train, test));
    }

    #[test]
    fn stratified_split_refuses_singletons_and_missing_classes() {
        let spec = SplitSpec::Stratified { column: "y".into(), test_fraction: 0.2, seed: 0 };
        let err = split(&spec, &labels(&[("a", 10), ("lonely", 1)])).unwrap_err();
        assert_eq!(err, PrepareError::SingletonClass { column: "y".into(), class: "lonely".into() });
        assert!(err.to_string().starts_with("class `lonely` of column `y` has only one row"));
        let frame =
            Frame::new(vec![Column::new("y", ColumnData::Int(vec![Some(1), Some(1), None]))]).unwrap();
        let err = split(&spec, &frame).unwrap_err();
        assert_eq!(
            err.to_string(),
            "column `y` is missing at row 2: a stratified split needs a class on every row"
        );
        let err = split(&SplitSpec::Stratified { column: "z".into(), test_fraction: 0.2, seed: 0 }, &frame);
        assert!(err.unwrap_err().to_string().contains("unknown column `z`"));
    }

    #[test]
    fn time_split_by_cutoff_and_by_fraction() {
        let day = 86_400_000_000i64;
        let times = vec![Some(5 * day), Some(day), Some(3 * day), Some(2 * day), Some(4 * day)];
        let frame = Frame::new(vec![Column::new("t", ColumnData::Timestamp(times))]).unwrap();
        let cut =
            SplitSpec::Time { column: "t".into(), before: Some("1970-01-04".into()), test_fraction: None };
        assert_eq!(split(&cut, &frame).unwrap(), (vec![1, 3], vec![0, 2, 4]));
        let latest = SplitSpec::Time { column: "t".into(), before: None, test_fraction: Some(0.4) };
        assert_eq!(split(&latest, &frame).unwrap(), (vec![1, 2, 3], vec![0, 4]));

        let late =
            SplitSpec::Time { column: "t".into(), before: Some("2000-01-01".into()), test_fraction: None };
        let err = split(&late, &frame).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the split leaves no rows for test: no row of `t` is at or after 2000-01-01"
        );
        let ints = Frame::new(vec![Column::new("t", ColumnData::Int(vec![Some(1), None]))]).unwrap();
        let err = split(&latest, &ints).unwrap_err();
        assert_eq!(err.to_string(), "column `t` is missing at row 1: a time split needs a time on every row");
        let err = split(&cut, &ints).unwrap_err();
        assert!(
            err.to_string()
                .contains("column `t` is int: a time split with `before` needs a timestamp column")
        );
    }

    #[test]
    fn fractions_that_empty_a_side_are_refused() {
        let frame = labels(&[("a", 3)]);
        let err = split(&SplitSpec::Random { test_fraction: 0.9, seed: 0 }, &frame).unwrap_err();
        assert_eq!(err.to_string(), "the split leaves no rows for train: test_fraction 0.9 of 3 rows");
        let err = split(&SplitSpec::Random { test_fraction: 1.5, seed: 0 }, &frame).unwrap_err();
        assert!(err.to_string().contains("test_fraction must be between 0 and 1"), "{err}");
    }
}
