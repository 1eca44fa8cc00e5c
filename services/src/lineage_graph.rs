//! The lineage view's use case: the graph around one artifact in both directions,
//! with each node's dashboard page, so a person can walk from a registered model back
//! to the pipeline run, data and component versions, and forward from a dataset to
//! everything built from it.

use crate::auth::{Action, Principal, authorize};
use crate::lineage::{self, ArtifactInfo, Direction, EventKind, ExecutionInfo};
use crate::{AppState, Error, Result};
use domain::lineage::{LineageGraphView, LineageLink, LineageNode, NodeKind};
use domain::{ArtifactId, DEFAULT_PROJECT_ID, ValidationError};
use serde_json::Value;

/// How far the view walks each way; enough for extract → … → register chains.
pub const DEPTH: i32 = 12;

/// Resolves what a link names: an artifact id, or `<kind>:<the feature's id>` for
/// `dataset_version:<version id>`, `model_version:<version id>`, `model:<run id>`,
/// `file:<object key>`.
pub async fn resolve(st: &AppState, reference: &str) -> Result<ArtifactId> {
    let r = reference.trim();
    if let Ok(id) = r.parse::<uuid::Uuid>() {
        return Ok(ArtifactId(id));
    }
    let bad = || {
        Error::from(ValidationError::new(
            "artifact",
            format!(
                "'{r}' is neither an artifact id nor dataset_version:<id>, model_version:<id>, model:<run id> or file:<key>"
            ),
        ))
    };
    let (kind, id) = r.split_once(':').ok_or_else(bad)?;
    let uuid = || id.parse::<uuid::Uuid>().map_err(|_| bad());
    let (type_name, external) = match kind {
        "dataset_version" => ("dataset_version", uuid()?.to_string()),
        "model_version" => ("model_version", format!("model_version:{}", uuid()?.simple())),
        "model" => ("model", format!("model:{}", uuid()?.simple())),
        "file" => ("file", format!("file:{id}")),
        _ => return Err(bad()),
    };
    lineage::find_artifact(&st.db, DEFAULT_PROJECT_ID, type_name, &external)
        .await?
        .ok_or_else(|| Error::not_found("lineage artifact", r))
}

/// The graph around `reference` (see [`resolve`]), both directions.
pub async fn graph(st: &AppState, p: &Principal, reference: &str) -> Result<LineageGraphView> {
    authorize(p, Action::Read)?;
    let start = resolve(st, reference).await?;
    let g = lineage::walk(&st.db, start, Direction::Both, DEPTH).await?;
    let mut nodes: Vec<LineageNode> = g.artifacts.iter().map(artifact_node).collect();
    nodes.extend(g.executions.iter().map(execution_node));
    let edges: Vec<LineageLink> = g
        .edges
        .iter()
        .map(|e| {
            let (a, x) = (e.artifact_id.to_string(), e.execution_id.to_string());
            let (from, to) = match e.kind {
                EventKind::Input => (a, x),
                EventKind::Output => (x, a),
            };
            LineageLink { from, to, role: e.role.clone() }
        })
        .collect();
    let layers = LineageGraphView::compute_layers(&nodes, &edges);
    Ok(LineageGraphView { start: start.to_string(), nodes, edges, layers })
}

fn str_prop<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// Where a dataset version's bytes came from, as people name it.
fn source_of(p: &Value) -> Option<String> {
    let d = p.get("source_detail")?;
    if let Some(path) = str_prop(d, "path") {
        return Some(format!("from {path}"));
    }
    if let Some(url) = str_prop(d, "url") {
        return Some(format!("from {url}"));
    }
    if let Some(source) = str_prop(d, "source") {
        return Some(format!("SQL on {source}"));
    }
    if let Some(name) = str_prop(d, "file_name") {
        return Some(format!("upload {name}"));
    }
    let input = str_prop(d, "input_dataset")?;
    let split = str_prop(d, "split").unwrap_or("");
    Some(format!(
        "{split} rows prepared from {input} v{}",
        d.get("input_version").and_then(Value::as_i64).unwrap_or(0)
    ))
}

fn short_hash(h: &str) -> String {
    let hex = h.strip_prefix("sha256:").unwrap_or(h);
    format!("sha256:{}", hex.chars().take(10).collect::<String>())
}

fn artifact_node(a: &ArtifactInfo) -> LineageNode {
    let p = &a.properties;
    let link = match a.type_name.as_str() {
        "dataset_version" => {
            let id = str_prop(p, "dataset_id");
            let v = p.get("version").and_then(Value::as_i64);
            id.zip(v).map(|(id, v)| format!("/datasets/{id}/versions/{v}"))
        }
        // `models:/<name>/<version>`.
        "model_version" => a
            .uri
            .strip_prefix("models:/")
            .and_then(|r| r.rsplit_once('/'))
            .map(|(name, v)| format!("/models/{name}/versions/{v}")),
        "model" => str_prop(p, "run_id").map(|r| format!("/training/runs/{r}")),
        _ => None,
    };
    let detail = match a.type_name.as_str() {
        "file" | "model" => a.content_hash.as_deref().map(short_hash).or_else(|| Some(a.uri.clone())),
        "dataset_version" => source_of(p).or_else(|| Some(a.uri.clone()).filter(|u| !u.is_empty())),
        _ => Some(a.uri.clone()).filter(|u| !u.is_empty()),
    };
    LineageNode {
        id: a.artifact_id.to_string(),
        kind: NodeKind::Artifact,
        type_name: a.type_name.clone(),
        name: a.name.clone(),
        detail,
        state: None,
        link,
        created_at: a.created_at,
    }
}

fn execution_node(e: &ExecutionInfo) -> LineageNode {
    let p = &e.properties;
    let (link, detail) = match e.type_name.as_str() {
        "pipeline_step" => (
            str_prop(p, "run_id").map(|r| format!("/pipelines/runs/{r}")),
            str_prop(p, "component").map(|c| match str_prop(p, "component_digest") {
                Some(d) => format!("{c} · {}", short_hash(d)),
                None => c.to_string(),
            }),
        ),
        "train" => (
            str_prop(p, "run_id").map(|r| format!("/training/runs/{r}")),
            str_prop(p, "algorithm").map(str::to_string),
        ),
        "register" => {
            let model = str_prop(p, "model");
            let v = p.get("version").and_then(Value::as_i64);
            (model.zip(v).map(|(m, v)| format!("/models/{m}/versions/{v}")), None)
        }
        _ => (e.job_id.map(|j| format!("/jobs/{j}")), None),
    };
    LineageNode {
        id: e.execution_id.to_string(),
        kind: NodeKind::Execution,
        type_name: e.type_name.clone(),
        name: e.name.clone(),
        detail,
        state: Some(format!("{:?}", e.state).to_lowercase()),
        link,
        created_at: e.created_at,
    }
}
