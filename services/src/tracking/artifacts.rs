//! Run artifacts behind MLflow's artifact proxy: paths look like
//! `<experiment_id>/<run_id>/artifacts/<file>` (what `artifact_uri` hands the
//! client) and are stored under `mlflow-artifacts/` in the artifact store. A path
//! must name an existing run of that experiment and stay inside its prefix: `..`,
//! absolute paths, backslashes and empty segments are refused.

use crate::auth::{Action, Principal, authorize};
use crate::{AppState, Error, Result, db};
use bytes::Bytes;
use domain::ValidationError;

const ROOT: &str = "mlflow-artifacts";

/// An entry of a listing: path relative to the listed folder's run root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub is_dir: bool,
    pub size: u64,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::Validation(ValidationError::new("path", msg))
}

/// Checks the shape of a path without I/O; returns its segments.
pub fn check_path(path: &str) -> Result<Vec<&str>> {
    if path.starts_with('/') || path.contains('\\') || path.contains('\0') {
        return Err(invalid(format!("artifact path {path:?} must be relative, without backslashes")));
    }
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if parts.iter().any(|p| p.is_empty() || *p == ".." || *p == ".") {
        return Err(invalid(format!("artifact path {path:?} must not contain '..', '.' or empty segments")));
    }
    Ok(parts)
}

/// Checks that `path` lies under an existing run's `artifacts/` folder.
async fn check_run_path(st: &AppState, path: &str, need_file: bool) -> Result<String> {
    let parts = check_path(path)?;
    if parts.len() < 3 || parts[2] != "artifacts" || (need_file && parts.len() < 4) {
        return Err(invalid(format!(
            "artifact path {path:?} must look like <experiment_id>/<run_id>/artifacts/<file>"
        )));
    }
    let experiment_id: i64 = parts[0].parse().map_err(|_| Error::not_found("experiment", parts[0]))?;
    let run_id = super::parse_run_id(parts[1])?;
    let run = db::tracking::get_runs(&st.db, &[run_id]).await?;
    if !run.iter().any(|r| r.experiment_id == experiment_id) {
        return Err(Error::not_found("run", parts[1]));
    }
    Ok(format!("{ROOT}/{experiment_id}/{}/{}", run_id.simple(), parts[2..].join("/")))
}

pub async fn upload(st: &AppState, p: &Principal, path: &str, bytes: Bytes) -> Result<()> {
    authorize(p, Action::Write)?;
    let key = check_run_path(st, path, true).await?;
    st.store.put(&key, bytes).await?;
    Ok(())
}

pub async fn download(st: &AppState, p: &Principal, path: &str) -> Result<Bytes> {
    authorize(p, Action::Read)?;
    let key = check_run_path(st, path, true).await?;
    match st.store.get(&key).await {
        Ok(b) => Ok(b),
        Err(object_store::Error::NotFound { .. }) => Err(Error::not_found("artifact", path)),
        Err(e) => Err(e.into()),
    }
}

/// Entries directly under `path` (a run's `artifacts` folder or below it).
pub async fn list(st: &AppState, p: &Principal, path: &str) -> Result<Vec<Entry>> {
    authorize(p, Action::Read)?;
    let key = check_run_path(st, path, false).await?;
    let rel_base: Vec<&str> = check_path(path)?.into_iter().skip(3).collect();
    Ok(st
        .store
        .list_dir(&key)
        .await?
        .into_iter()
        .map(|(name, is_dir, size)| {
            let mut parts: Vec<String> = rel_base.iter().map(|s| s.to_string()).collect();
            parts.push(name);
            Entry { path: parts.join("/"), is_dir, size }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_their_prefix() {
        assert!(check_path("1/abc/artifacts/model/model.pkl").is_ok());
        for bad in ["/etc/passwd", "1/abc/artifacts/../../x", "1//x", "1/abc/artifacts/./x", "a\\b"] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }
}
