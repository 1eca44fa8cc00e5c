//! A lineage graph as the dashboard draws it: artifacts (datasets, models, files) and
//! executions (pipeline steps, training runs) as nodes, input/output events as
//! directed edges (artifact → execution for an input, execution → artifact for an
//! output), each node with the page that shows it and a left-to-right column.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Artifact,
    Execution,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LineageNode {
    /// The lineage artifact or execution id.
    pub id: String,
    pub kind: NodeKind,
    /// `dataset_version`, `model`, `model_version`, `file`, `pipeline_step`, `train`, ...
    pub type_name: String,
    pub name: String,
    /// A second line: a component version, a URI, a short hash.
    pub detail: Option<String>,
    /// Executions: `complete`, `failed`, ...
    pub state: Option<String>,
    /// The dashboard page for this node, when there is one.
    pub link: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LineageLink {
    pub from: String,
    pub to: String,
    /// The input or output name (`dataset`, `model`, `report`).
    pub role: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LineageGraphView {
    /// The node the walk started from.
    pub start: String,
    pub nodes: Vec<LineageNode>,
    pub edges: Vec<LineageLink>,
    /// Node id → column (0 = the oldest sources), for a left-to-right drawing.
    pub layers: BTreeMap<String, usize>,
}

impl LineageGraphView {
    /// Columns by longest path from the sources along the edges (every edge points
    /// forward in time, so the graph is acyclic; a cycle is cut after `nodes` rounds).
    pub fn compute_layers(nodes: &[LineageNode], edges: &[LineageLink]) -> BTreeMap<String, usize> {
        let mut depth: BTreeMap<String, usize> = nodes.iter().map(|n| (n.id.clone(), 0)).collect();
        for _ in 0..=nodes.len() {
            let mut changed = false;
            for e in edges {
                let d = depth.get(&e.from).copied().unwrap_or(0) + 1;
                if let Some(t) = depth.get_mut(&e.to)
                    && *t < d
                {
                    *t = d;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        depth
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str) -> LineageNode {
        LineageNode {
            id: id.into(),
            kind: NodeKind::Artifact,
            type_name: "file".into(),
            name: id.into(),
            detail: None,
            state: None,
            link: None,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn layers_follow_the_longest_path() {
        let nodes: Vec<_> = ["a", "x", "b", "y", "c"].into_iter().map(node).collect();
        let e = |f: &str, t: &str| LineageLink { from: f.into(), to: t.into(), role: String::new() };
        let edges = vec![e("a", "x"), e("x", "b"), e("b", "y"), e("a", "y"), e("y", "c")];
        let l = LineageGraphView::compute_layers(&nodes, &edges);
        assert_eq!((l["a"], l["x"], l["b"], l["y"], l["c"]), (0, 1, 2, 3, 4));
    }
}
