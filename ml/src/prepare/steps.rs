//! One place that maps a spec step to its fit and a fitted step to its apply.

use domain::prepare::{FittedStep, Step};

use super::error::PrepareError;
use super::work::Work;
use super::{columns, dates, encode, expr, filter, impute, scale};

/// Learn what `step` needs from the current frame.
pub(crate) fn fit(step: &Step, work: &Work) -> Result<FittedStep, PrepareError> {
    Ok(match step {
        Step::Select { columns } => FittedStep::Select { columns: columns::fit_select(columns, work)? },
        Step::Drop { columns } => {
            columns::fit_drop(columns, work)?;
            FittedStep::Drop { columns: columns.clone() }
        }
        Step::Filter { expr } => FittedStep::Filter { expr: expr.clone() },
        Step::Impute { strategy, columns } => {
            FittedStep::Impute { fills: impute::fit(strategy, columns, work)? }
        }
        Step::OneHot { columns, max_categories } => {
            FittedStep::OneHot { columns: encode::fit_one_hot(columns, *max_categories, work)? }
        }
        Step::Ordinal { columns, unknown } => {
            FittedStep::Ordinal { columns: encode::fit_ordinal(columns, work)?, unknown: *unknown }
        }
        Step::StandardScale { columns } => {
            FittedStep::StandardScale { columns: scale::fit_standard(columns, work)? }
        }
        Step::MinMaxScale { columns } => {
            FittedStep::MinMaxScale { columns: scale::fit_min_max(columns, work)? }
        }
        Step::Log { columns, offset } => {
            scale::fit_log(columns, work)?;
            FittedStep::Log { columns: columns.clone(), offset: *offset }
        }
        Step::DateParts { columns, parts, keep } => {
            dates::fit(columns, work)?;
            FittedStep::DateParts { columns: columns.clone(), parts: parts.clone(), keep: *keep }
        }
    })
}

/// Run a fitted step on the current frame.
pub(crate) fn apply(step: &FittedStep, work: &mut Work) -> Result<(), PrepareError> {
    match step {
        FittedStep::Select { columns } => columns::apply_select(columns, work),
        FittedStep::Drop { columns } => columns::apply_drop(columns, work),
        FittedStep::Filter { expr } => {
            // Serving has no label: a filter on it (`status is not null`) is about
            // training rows and does not apply.
            let on_target =
                work.target_absent && expr::parse(expr)?.columns().iter().any(|c| work.is_target(&c.name));
            if !on_target {
                let mask = filter::evaluate(expr, &work.frame)?;
                work.keep_rows(&mask);
            }
        }
        FittedStep::Impute { fills } => impute::apply(fills, work)?,
        FittedStep::OneHot { columns } => encode::apply_one_hot(columns, work)?,
        FittedStep::Ordinal { columns, unknown } => encode::apply_ordinal(columns, *unknown, work)?,
        FittedStep::StandardScale { columns } => scale::apply_standard(columns, work)?,
        FittedStep::MinMaxScale { columns } => scale::apply_min_max(columns, work)?,
        FittedStep::Log { columns, offset } => scale::apply_log(columns, *offset, work)?,
        FittedStep::DateParts { columns, parts, keep } => dates::apply(columns, parts, *keep, work)?,
    }
    Ok(())
}

/// The columns a fitted step reads (so the input must have them). `select` and
/// `drop` read nothing: a column they keep is needed only if it reaches the output.
pub(crate) fn reads(step: &FittedStep) -> Vec<String> {
    match step {
        FittedStep::Select { .. } | FittedStep::Drop { .. } => Vec::new(),
        FittedStep::Filter { expr } => expr::parse(expr)
            .map(|e| e.columns().iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default(),
        FittedStep::Impute { fills } => fills.iter().map(|f| f.column.clone()).collect(),
        FittedStep::OneHot { columns } => columns.iter().map(|c| c.column.clone()).collect(),
        FittedStep::Ordinal { columns, .. } => columns.iter().map(|c| c.column.clone()).collect(),
        FittedStep::StandardScale { columns } => columns.iter().map(|c| c.column.clone()).collect(),
        FittedStep::MinMaxScale { columns } => columns.iter().map(|c| c.column.clone()).collect(),
        FittedStep::Log { columns, .. } | FittedStep::DateParts { columns, .. } => columns.clone(),
    }
}
