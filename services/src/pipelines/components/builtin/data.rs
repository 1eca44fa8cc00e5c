//! extract, validate-data, prepare: dataset versions in, dataset versions out.

use super::{dataset_ref, dataset_value, done, invalid, required, text};
use crate::datasets::{self, import, prepare, validate};
use crate::pipelines::components::{Outcome, StepContext};
use crate::{Error, Result};
use domain::datasets::{CheckStatus, Dataset, NewDataset, NewValidation};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The dataset named `name`, created (in the default project) when missing.
async fn dataset_named(sc: &StepContext<'_>, name: &str) -> Result<Dataset> {
    match datasets::resolve(sc.st, sc.principal, name).await {
        Err(Error::NotFound { .. }) => {}
        other => return other,
    }
    let new = NewDataset {
        name: name.to_string(),
        description: format!("Created by pipeline {}.", sc.pipeline),
        project_id: None,
    };
    match datasets::create(sc.st, sc.principal, new).await {
        // Another run created it meanwhile.
        Err(Error::Conflict(_)) => datasets::resolve(sc.st, sc.principal, name).await,
        other => other,
    }
}

/// A version from a path, a URL or a SQL source; or, given `version` (`name@N`, as
/// a dataset trigger passes it), that existing version as is.
pub(super) async fn extract(sc: &StepContext<'_>) -> Result<Outcome> {
    let name = required(sc, "dataset")?.as_str().unwrap_or_default().trim().to_string();
    if name.is_empty() {
        return Err(invalid("dataset", "give the dataset's name"));
    }
    if let Some(reference) = text(sc, "version") {
        let (ds_name, number) = match reference.rsplit_once('@') {
            Some((n, v)) => (n, v.parse::<i32>().ok()),
            None => (reference, None),
        };
        let number = number.ok_or_else(|| {
            invalid("version", format!("'{reference}' is not name@<version number>, e.g. {name}@3"))
        })?;
        let ds = datasets::resolve(sc.st, sc.principal, ds_name).await?;
        let v = datasets::version(sc.st, sc.principal, ds.dataset_id, number).await?;
        sc.log(format!("using the given version {} v{}", v.dataset_name, v.version)).await?;
        return done([("dataset", dataset_value(&v))]);
    }
    let (path, url, source) = (text(sc, "path"), text(sc, "url"), text(sc, "source"));
    let query = text(sc, "query");
    let given = [path.is_some(), url.is_some(), source.is_some()].iter().filter(|b| **b).count();
    if given != 1 {
        return Err(invalid(
            "path",
            "give exactly one of path, url or source (with query), or version for an existing version",
        ));
    }
    let ds = dataset_named(sc, &name).await?;
    let none = BTreeMap::new;
    let made = if let Some(path) = path {
        let path = match std::path::Path::new(path) {
            p if p.is_absolute() => path.to_string(),
            p => match sc.st.imports.paths.locate(p) {
                Some(found) => found.display().to_string(),
                None => {
                    return Err(invalid(
                        "path",
                        format!(
                            "`{path}` is relative and no directory of {} has it; give an absolute path",
                            import::PATH_ALLOW_SETTING
                        ),
                    ));
                }
            },
        };
        sc.log(format!("importing {path} into {name}")).await?;
        import::from_path(sc.st, sc.principal, ds.dataset_id, &path, none()).await?
    } else if let Some(url) = url {
        sc.log(format!("downloading {url} into {name}")).await?;
        import::from_url(sc.st, sc.principal, ds.dataset_id, url, none()).await?
    } else {
        let source = source.unwrap_or_default();
        let query = query.ok_or_else(|| invalid("query", "give the SQL to run on the source"))?;
        let s = import::resolve_source(sc.st, sc.principal, source).await?;
        sc.log(format!("querying source {} into {name}", s.name)).await?;
        import::from_sql(sc.st, sc.principal, ds.dataset_id, s.data_source_id, query, none()).await?
    };
    let v = &made.version;
    sc.log(if made.created {
        format!("created {} v{} ({} rows, {} columns)", v.dataset_name, v.version, v.n_rows, v.n_cols)
    } else {
        format!("unchanged: the data is {} v{}, which already exists", v.dataset_name, v.version)
    })
    .await?;
    done([("dataset", dataset_value(v))])
}

fn level(s: &str) -> Option<Option<CheckStatus>> {
    match s {
        "fail" => Some(Some(CheckStatus::Fail)),
        "warn" => Some(Some(CheckStatus::Warn)),
        "never" => Some(None),
        _ => None,
    }
}

pub(super) async fn validate(sc: &StepContext<'_>) -> Result<Outcome> {
    let (dataset, version) = dataset_ref(required(sc, "dataset")?, "dataset")?;
    let fail_on = text(sc, "fail_on").unwrap_or("fail");
    let fail_on = level(fail_on).ok_or_else(|| invalid("fail_on", "must be fail, warn or never"))?;
    let baseline_version = match sc.input("baseline") {
        Some(b) => {
            let (id, n) = dataset_ref(b, "baseline")?;
            if id != dataset {
                return Err(invalid("baseline", "must be a version of the same dataset"));
            }
            Some(n)
        }
        None => None,
    };
    let report =
        validate::run(sc.st, sc.principal, dataset, NewValidation { version, baseline_version, drift: None })
            .await?;
    let s = &report.summary;
    let verdict = s.status;
    let against = s.baseline_version.map_or("no baseline (schema only)".to_string(), |b| format!("v{b}"));
    sc.log(format!(
        "{} v{version} against {against}: {} ({} anomalies, {} drifted columns)",
        report.dataset_name,
        verdict.as_str(),
        s.anomalies,
        s.drifted_columns
    ))
    .await?;
    for a in report.body.anomalies.iter().filter(|a| a.severity != CheckStatus::Pass).take(20) {
        sc.log(format!("  {} {}: {}", a.severity.as_str(), a.column, a.message)).await?;
    }
    if fail_on.is_some_and(|level| verdict >= level) {
        let worst: Vec<String> = report
            .body
            .anomalies
            .iter()
            .filter(|a| a.severity == verdict)
            .take(3)
            .map(|a| format!("{}: {}", a.column, a.message))
            .collect();
        return Ok(Outcome::Fail(format!(
            "validation of {} v{version} is {} (validation {}){}",
            report.dataset_name,
            verdict.as_str(),
            s.validation_id,
            if worst.is_empty() {
                String::from(": drifted columns")
            } else {
                format!(": {}", worst.join("; "))
            }
        )));
    }
    done([
        (
            "report",
            json!({
                "validation_id": s.validation_id,
                "verdict": verdict.as_str(),
                "anomalies": s.anomalies,
                "drifted": s.drifted_columns,
                "baseline_version": s.baseline_version,
            }),
        ),
        ("passed", Value::Bool(verdict == CheckStatus::Pass)),
    ])
}

pub(super) async fn prepare(sc: &StepContext<'_>) -> Result<Outcome> {
    let (dataset, version) = dataset_ref(required(sc, "dataset")?, "dataset")?;
    let transform = required(sc, "transform")?;
    let spec = match transform {
        Value::String(s) => s.clone(),
        other => serde_json::to_string(other).map_err(anyhow::Error::from)?,
    };
    let made = prepare::prepare_version(sc.st, sc.principal, dataset, version, &spec, None).await?;
    let Some(test) = &made.test else {
        return Ok(Outcome::Fail(
            "the transform has no split, so there are no test rows: add e.g. `split: {method: stratified, column: \
             <target>, test_fraction: 0.2, seed: 7}`"
                .into(),
        ));
    };
    let (tr, te) = (&made.train.version, &test.version);
    sc.log(format!(
        "prepared: {} v{} ({} rows) and {} v{} ({} rows)",
        tr.dataset_name, tr.version, tr.n_rows, te.dataset_name, te.version, te.n_rows
    ))
    .await?;
    done([("train", dataset_value(tr)), ("test", dataset_value(te))])
}
