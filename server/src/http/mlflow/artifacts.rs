//! MLflow's artifact proxy (`/api/2.0/mlflow-artifacts/artifacts/...`: upload,
//! download, list) and `artifacts/list` of a run, over `services::tracking::artifacts`.

use super::error::MlResult;
use super::{MlQuery, caller, required};
use crate::http::ServerState;
use crate::http::auth::Auth;
use crate::http::error::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};
use services::tracking::artifacts as arts;

type A = Result<Auth, ApiError>;

pub async fn upload(
    State(st): State<ServerState>,
    a: A,
    Path(path): Path<String>,
    body: Bytes,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    arts::upload(&st.services, &p, &path, body).await?;
    Ok(Json(json!({})))
}

pub async fn download(
    State(st): State<ServerState>,
    a: A,
    Path(path): Path<String>,
) -> MlResult<impl IntoResponse> {
    let p = caller(a)?;
    let bytes = arts::download(&st.services, &p, &path).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes))
}

#[derive(Deserialize)]
pub struct ListQuery {
    pub path: Option<String>,
}

pub async fn list(
    State(st): State<ServerState>,
    a: A,
    MlQuery(q): MlQuery<ListQuery>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let path = required(q.path.as_deref(), "path")?;
    let files: Vec<Value> = arts::list(&st.services, &p, path)
        .await?
        .into_iter()
        .map(|e| file_info(e.path.rsplit('/').next().unwrap_or_default(), e.is_dir, e.size))
        .collect();
    Ok(Json(json!({ "files": files })))
}

#[derive(Deserialize)]
pub struct RunListQuery {
    pub run_id: Option<String>,
    pub run_uuid: Option<String>,
    pub path: Option<String>,
}

/// `mlflow/artifacts/list`: paths relative to the run's artifact root.
pub async fn list_run(
    State(st): State<ServerState>,
    a: A,
    MlQuery(q): MlQuery<RunListQuery>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let run_id =
        services::tracking::parse_run_id(required(q.run_id.as_deref().or(q.run_uuid.as_deref()), "run_id")?)?;
    let run = services::tracking::get_run(&st.services, &p, run_id).await?;
    let dir = format!("{}/{}/artifacts", run.info.experiment_id, run_id.simple());
    let root = services::tracking::artifact_uri(run.info.experiment_id, run_id);
    listing(&st, &p, dir, q.path.as_deref(), &root).await
}

/// One entry of a listing, as MLflow shows it (no size for folders).
fn file_info(path: &str, is_dir: bool, size: u64) -> Value {
    if is_dir {
        json!({"path": path, "is_dir": true})
    } else {
        json!({"path": path, "is_dir": false, "file_size": size})
    }
}

/// The files under `dir` (an artifact root) or its subfolder `sub`, with paths
/// relative to the root, as runs' and logged models' listings answer.
pub(super) async fn listing(
    st: &ServerState,
    p: &services::auth::Principal,
    dir: String,
    sub: Option<&str>,
    root_uri: &str,
) -> MlResult<Json<Value>> {
    let path = match sub.filter(|s| !s.is_empty()) {
        Some(sub) => format!("{dir}/{sub}"),
        None => dir,
    };
    let files: Vec<Value> = arts::list(&st.services, p, &path)
        .await?
        .into_iter()
        .map(|e| file_info(&e.path, e.is_dir, e.size))
        .collect();
    Ok(Json(json!({ "root_uri": root_uri, "files": files })))
}
