//! Run and logged-model artifacts behind MLflow's artifact proxy: paths look like
//! `<experiment_id>/<run_id>/artifacts/<file>` (what `artifact_uri` hands the
//! client) or `<experiment_id>/models/<model_id>/artifacts/<file>` (a logged model's
//! `artifact_location`) and are stored under `mlflow-artifacts/` in the artifact
//! store. A path must name an existing run or model of that experiment and stay
//! inside its prefix: `..`, absolute paths, backslashes and empty segments are refused.

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

/// Checks that `path` lies under an existing run's or logged model's `artifacts/`
/// folder; returns the store key and how many leading segments name that folder.
async fn check_owner_path(st: &AppState, path: &str, need_file: bool) -> Result<(String, usize)> {
    let parts = check_path(path)?;
    if parts.get(1) == Some(&"models") {
        if parts.len() < 4 || parts[3] != "artifacts" || (need_file && parts.len() < 5) {
            return Err(invalid(format!(
                "artifact path {path:?} must look like <experiment_id>/models/<model_id>/artifacts/<file>"
            )));
        }
        let experiment_id: i64 = parts[0].parse().map_err(|_| Error::not_found("experiment", parts[0]))?;
        let id = super::logged_models::parse_model_id(parts[2])?;
        let model = db::logged_models::get(&st.db, &[id]).await?;
        if !model.iter().any(|m| m.experiment_id == experiment_id) {
            return Err(Error::not_found("logged model", parts[2]));
        }
        let key = format!(
            "{ROOT}/{experiment_id}/models/{}/{}",
            super::logged_models::model_id(id),
            parts[3..].join("/")
        );
        return Ok((key, 4));
    }
    Ok((check_run_path(&parts, path, need_file, st).await?, 3))
}

/// Checks that `path` lies under an existing run's `artifacts/` folder.
async fn check_run_path(parts: &[&str], path: &str, need_file: bool, st: &AppState) -> Result<String> {
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
    let (key, _) = check_owner_path(st, path, true).await?;
    st.store.put(&key, bytes).await?;
    Ok(())
}

pub async fn download(st: &AppState, p: &Principal, path: &str) -> Result<Bytes> {
    authorize(p, Action::Read)?;
    let (key, _) = check_owner_path(st, path, true).await?;
    match st.store.get(&key).await {
        Ok(b) => Ok(b),
        Err(object_store::Error::NotFound { .. }) => Err(Error::not_found("artifact", path)),
        Err(e) => Err(e.into()),
    }
}

/// Entries directly under `path` (a run's or model's `artifacts` folder or below it).
pub async fn list(st: &AppState, p: &Principal, path: &str) -> Result<Vec<Entry>> {
    authorize(p, Action::Read)?;
    let (key, root) = check_owner_path(st, path, false).await?;
    let rel_base: Vec<&str> = check_path(path)?.into_iter().skip(root).collect();
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

/// Most entries a run's artifact tree lists (deeper files are still downloadable).
pub const MAX_TREE_ENTRIES: usize = 500;

/// Every file and folder of a run's artifacts, folders first at each level.
pub async fn tree(
    st: &AppState,
    p: &Principal,
    run_id: uuid::Uuid,
) -> Result<Vec<domain::tracking::ArtifactEntry>> {
    let run = super::get_run(st, p, run_id).await?;
    let root = format!("{}/{}/artifacts", run.info.experiment_id, run_id.simple());
    let mut out = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for e in list(st, p, &dir).await? {
            if out.len() >= MAX_TREE_ENTRIES {
                return Ok(out);
            }
            if e.is_dir {
                pending.push(format!("{root}/{}", e.path));
            }
            out.push(domain::tracking::ArtifactEntry { path: e.path, is_dir: e.is_dir, size: e.size });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// An artifact as the run page previews it: text (JSON pretty-printed), an image,
/// or "download it".
pub async fn preview(
    st: &AppState,
    p: &Principal,
    run_id: uuid::Uuid,
    path: &str,
) -> Result<domain::tracking::ArtifactPreview> {
    use base64::Engine;
    use domain::tracking::{ARTIFACT_PREVIEW_BYTES, ArtifactPreview};
    let run = super::get_run(st, p, run_id).await?;
    let bytes =
        download(st, p, &format!("{}/{}/artifacts/{path}", run.info.experiment_id, run_id.simple())).await?;
    let ext = path.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    let image = match ext.as_str() {
        "png" => Some("image/png"),
        "jpg" | "jpeg" => Some("image/jpeg"),
        "gif" => Some("image/gif"),
        "svg" => Some("image/svg+xml"),
        "webp" => Some("image/webp"),
        _ => None,
    };
    if let Some(mime) = image {
        if bytes.len() > ARTIFACT_PREVIEW_BYTES * 4 {
            return Ok(ArtifactPreview::Binary { size: bytes.len() as u64 });
        }
        let data = base64::engine::general_purpose::STANDARD.encode(&bytes);
        return Ok(ArtifactPreview::Image { data_url: format!("data:{mime};base64,{data}") });
    }
    let head = &bytes[..bytes.len().min(ARTIFACT_PREVIEW_BYTES)];
    // A cut may split a UTF-8 character: drop the partial tail, not the preview.
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or(""),
        Err(_) => return Ok(ArtifactPreview::Binary { size: bytes.len() as u64 }),
    };
    let truncated = bytes.len() > head.len();
    let text = if ext == "json" && !truncated {
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| text.to_string())
    } else {
        text.to_string()
    };
    Ok(ArtifactPreview::Text { text, truncated })
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
