//! Numeric rescaling: `standard_scale`, `min_max_scale` and `log`. Each turns its
//! columns into float columns and leaves missing values missing.

use domain::prepare::{MinMaxRange, Standardization};

use super::columns::{chosen, numbers, unsupported};
use super::error::PrepareError;
use super::work::Work;
use crate::frame::ColumnData;

const NEED_NUMBER: &str = "scaling needs an int or float column: encode it first";

pub(crate) fn fit_standard(
    columns: &Option<Vec<String>>,
    work: &Work,
) -> Result<Vec<Standardization>, PrepareError> {
    let mut out = Vec::new();
    for name in chosen(columns, work)? {
        let values = numbers(&name, &work.column(&name)?.data, NEED_NUMBER)?;
        if values.is_empty() {
            return Err(PrepareError::NoValues { column: name, what: "mean" });
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        // Population std (ddof 0), as numpy's default and scikit-learn's scaler. A
        // constant column gets exactly 0, not the rounding noise of `x - mean`.
        let constant = values.iter().all(|&x| Some(&x) == values.first());
        let std =
            if constant { 0.0 } else { (values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt() };
        out.push(Standardization { column: name, mean, std });
    }
    Ok(out)
}

pub(crate) fn apply_standard(columns: &[Standardization], work: &mut Work) -> Result<(), PrepareError> {
    for s in columns {
        // A constant column is only centred.
        let scale = if s.std > 0.0 { s.std } else { 1.0 };
        map_numbers(&s.column, work, |_, x| Ok(Some((x - s.mean) / scale)))?;
    }
    Ok(())
}

pub(crate) fn fit_min_max(
    columns: &Option<Vec<String>>,
    work: &Work,
) -> Result<Vec<MinMaxRange>, PrepareError> {
    let mut out = Vec::new();
    for name in chosen(columns, work)? {
        let values = numbers(&name, &work.column(&name)?.data, NEED_NUMBER)?;
        let min = values.iter().copied().reduce(f64::min);
        let max = values.iter().copied().reduce(f64::max);
        let (Some(min), Some(max)) = (min, max) else {
            return Err(PrepareError::NoValues { column: name, what: "range" });
        };
        out.push(MinMaxRange { column: name, min, max });
    }
    Ok(out)
}

pub(crate) fn apply_min_max(columns: &[MinMaxRange], work: &mut Work) -> Result<(), PrepareError> {
    for r in columns {
        // A constant column is only shifted to 0, as scikit-learn does.
        let range = if r.max > r.min { r.max - r.min } else { 1.0 };
        map_numbers(&r.column, work, |_, x| Ok(Some((x - r.min) / range)))?;
    }
    Ok(())
}

pub(crate) fn fit_log(columns: &[String], work: &Work) -> Result<(), PrepareError> {
    for name in columns {
        numbers(name, &work.column(name)?.data, "log needs an int or float column")?;
    }
    Ok(())
}

pub(crate) fn apply_log(columns: &[String], offset: f64, work: &mut Work) -> Result<(), PrepareError> {
    for name in columns {
        map_numbers(name, work, |row, x| {
            if x + offset > 0.0 {
                return Ok(Some((x + offset).ln()));
            }
            let bound = if offset == 0.0 { 0.0 } else { -offset };
            Err(PrepareError::LogDomain { column: name.clone(), row, value: x, offset, bound })
        })?;
    }
    Ok(())
}

/// Replace an int/float column by `f(input row, value)` as a float column; missing
/// values stay missing. The absent target is skipped.
fn map_numbers(
    name: &str,
    work: &mut Work,
    f: impl Fn(usize, f64) -> Result<Option<f64>, PrepareError>,
) -> Result<(), PrepareError> {
    if work.skip(name) {
        return Ok(());
    }
    let index = work.position(name)?;
    let Some(column) = work.frame.columns.get(index) else { return Ok(()) };
    let values = column.data.to_f64().filter(|_| column.data.column_type().is_numeric());
    let Some(values) = values else {
        return Err(unsupported(name, column.data.column_type(), NEED_NUMBER));
    };
    let mut out = Vec::with_capacity(values.len());
    for (i, x) in values.into_iter().enumerate() {
        out.push(if x.is_nan() { None } else { f(work.input_row(i), x)? });
    }
    work.set(index, ColumnData::Float(out));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Column, Frame};

    fn work(data: ColumnData) -> Work {
        let n = data.len();
        Work::new(Frame::new(vec![Column::new("x", data)]).unwrap(), n, None, false)
    }

    fn floats(w: &Work) -> Vec<Option<f64>> {
        match &w.frame.columns[0].data {
            ColumnData::Float(v) => v.clone(),
            other => panic!("expected floats, got {other:?}"),
        }
    }

    #[test]
    fn standard_scaling_uses_population_std_and_centres_constants() {
        let mut w = work(ColumnData::Int(vec![Some(1), Some(3), None, Some(5)]));
        let s = fit_standard(&None, &w).unwrap();
        assert_eq!(s[0].mean, 3.0);
        assert!((s[0].std - (8.0f64 / 3.0).sqrt()).abs() < 1e-15);
        apply_standard(&s, &mut w).unwrap();
        let out = floats(&w);
        assert!((out[0].unwrap() + 1.224744871391589).abs() < 1e-12);
        assert_eq!(out[1], Some(0.0));
        assert_eq!(out[2], None);

        let mut w = work(ColumnData::Float(vec![Some(0.1); 3]));
        let s = fit_standard(&None, &w).unwrap();
        assert_eq!(s[0].std, 0.0);
        apply_standard(&s, &mut w).unwrap();
        assert!(floats(&w).iter().all(|v| v.unwrap().abs() < 1e-15));
    }

    #[test]
    fn min_max_maps_the_fitted_range_to_unit() {
        let mut w = work(ColumnData::Float(vec![Some(2.0), Some(4.0), Some(f64::NAN), Some(6.0)]));
        let r = fit_min_max(&None, &w).unwrap();
        assert_eq!((r[0].min, r[0].max), (2.0, 6.0));
        apply_min_max(&r, &mut w).unwrap();
        assert_eq!(floats(&w), [Some(0.0), Some(0.5), None, Some(1.0)]);
        let mut later = work(ColumnData::Float(vec![Some(8.0)]));
        apply_min_max(&r, &mut later).unwrap();
        assert_eq!(floats(&later), [Some(1.5)]);
    }

    #[test]
    fn log_names_the_row_outside_its_domain() {
        let mut w = work(ColumnData::Int(vec![Some(0), Some(9), None]));
        apply_log(&["x".into()], 1.0, &mut w).unwrap();
        assert_eq!(floats(&w), [Some(0.0), Some(10f64.ln()), None]);
        let err =
            apply_log(&["x".into()], 0.0, &mut work(ColumnData::Int(vec![Some(3), Some(0)]))).unwrap_err();
        assert_eq!(err.to_string(), "column `x`, row 1: ln(x + 0) needs x > 0, got 0");
        let err = apply_log(&["x".into()], 2.0, &mut work(ColumnData::Float(vec![Some(-2.5)]))).unwrap_err();
        assert_eq!(err.to_string(), "column `x`, row 0: ln(x + 2) needs x > -2, got -2.5");
        let err = fit_log(&["x".into()], &work(ColumnData::Str(vec![None]))).unwrap_err();
        assert_eq!(err.to_string(), "column `x` is string: log needs an int or float column");
    }
}
