//! A version's lineage as people read it: the steps that made it and the steps
//! that used it, each with its inputs and outputs, from the lineage store.

use super::version_row;
use crate::auth::{Action, Principal, authorize};
use crate::lineage::{self, ArtifactInfo, Direction, EventKind, LineageGraph};
use crate::{AppState, Result};
use domain::datasets::{LineageArtifact, LineageStep, VersionLineage};
use domain::{ArtifactId, DatasetId};
use std::collections::HashMap;

/// Depth of the walk: the producing step's inputs and the consumers' outputs.
const DEPTH: i32 = 2;

fn describe(a: &ArtifactInfo) -> LineageArtifact {
    let link = match a.type_name.as_str() {
        "dataset_version" => {
            let id = a.properties.get("dataset_id").and_then(|v| v.as_str());
            let v = a.properties.get("version").and_then(|v| v.as_i64());
            id.zip(v).map(|(id, v)| format!("/datasets/{id}/versions/{v}"))
        }
        _ => None,
    };
    LineageArtifact { artifact_type: a.type_name.clone(), name: a.name.clone(), link }
}

fn steps(graph: &LineageGraph, start: ArtifactId, kind_of_start: EventKind) -> Vec<LineageStep> {
    let artifacts: HashMap<ArtifactId, &ArtifactInfo> =
        graph.artifacts.iter().map(|a| (a.artifact_id, a)).collect();
    let mut out: Vec<LineageStep> = graph
        .executions
        .iter()
        .filter(|e| {
            graph.edges.iter().any(|x| {
                x.execution_id == e.execution_id && x.artifact_id == start && x.kind == kind_of_start
            })
        })
        .map(|e| {
            let side = |kind: EventKind| {
                graph
                    .edges
                    .iter()
                    .filter(|x| x.execution_id == e.execution_id && x.kind == kind)
                    .filter_map(|x| artifacts.get(&x.artifact_id).map(|a| describe(a)))
                    .collect()
            };
            LineageStep {
                execution_type: e.type_name.clone(),
                name: e.name.clone(),
                state: format!("{:?}", e.state).to_lowercase(),
                created_at: e.created_at,
                inputs: side(EventKind::Input),
                outputs: side(EventKind::Output),
            }
        })
        .collect();
    out.sort_by_key(|s| s.created_at);
    out
}

pub async fn version_lineage(
    st: &AppState,
    p: &Principal,
    dataset: DatasetId,
    version: i32,
) -> Result<VersionLineage> {
    authorize(p, Action::Read)?;
    let row = version_row(st, dataset, version).await?;
    let Some(id) = row.lineage_artifact_id.map(ArtifactId) else { return Ok(VersionLineage::default()) };
    let graph = lineage::walk(&st.db, id, Direction::Both, DEPTH).await?;
    Ok(VersionLineage {
        upstream: steps(&graph, id, EventKind::Output),
        downstream: steps(&graph, id, EventKind::Input),
    })
}
