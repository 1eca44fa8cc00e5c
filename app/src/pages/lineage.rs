//! Lineage: the graph around one artifact, both ways (what it was made from, what
//! was made from it), drawn left to right, with a table of the same nodes and links
//! to their pages. Clicking an artifact re-centres the graph on it.

use crate::api::pipelines::get_lineage;
use crate::components::graph::{Graph, GraphEdge, GraphNode};
use crate::components::page::{ErrorBox, Loading, PageHeader};
use domain::lineage::{LineageGraphView, NodeKind};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

fn label(type_name: &str) -> String {
    match type_name {
        "dataset_version" => "dataset version".into(),
        "model_version" => "registered model".into(),
        "model" => "trained model".into(),
        "pipeline_step" => "pipeline step".into(),
        "train" => "training run".into(),
        "register" => "registration".into(),
        "batch_predict" => "batch prediction".into(),
        other => other.replace('_', " "),
    }
}

#[component]
pub fn LineagePage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let reference = move || {
        params
            .with(|p| p.get("id").map(|s| s.to_string()))
            .or_else(|| query.with(|q| q.get("artifact").map(|s| s.to_string())))
            .unwrap_or_default()
    };
    let graph = Resource::new(reference, |r| async move {
        if r.is_empty() { Ok(None) } else { get_lineage(r).await.map(Some) }
    });
    view! {
        <Title text="Lineage" />
        <PageHeader title="Lineage" subtitle="Where an artifact came from and what was built from it: data versions, pipeline steps and their component versions, training runs, models." />
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match graph.await {
                    Ok(Some(g)) => view! { <LineageView graph=g /> }.into_any(),
                    Ok(None) => view! {
                        <section class="panel"><p class="muted">"Open lineage from a pipeline step's outputs, a dataset version or a registered model version."</p></section>
                    }.into_any(),
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn LineageView(graph: LineageGraphView) -> impl IntoView {
    let start = graph.start.clone();
    let start_node = graph.nodes.iter().find(|n| n.id == start).cloned();
    let mut ordered = graph.nodes.clone();
    ordered.sort_by_key(|n| (graph.layers.get(&n.id).copied().unwrap_or(0), n.created_at));
    let nodes: Vec<GraphNode> = ordered
        .iter()
        .map(|n| GraphNode {
            id: n.id.clone(),
            // A step is "pipeline/step": the step in the box, the whole name in the table.
            title: match n.type_name.as_str() {
                "pipeline_step" => n.name.rsplit('/').next().unwrap_or(&n.name).to_string(),
                _ => n.name.clone(),
            },
            subtitle: n.detail.clone().unwrap_or_default(),
            note: match &n.state {
                Some(s) => format!("{} · {s}", label(&n.type_name)),
                None => label(&n.type_name),
            },
            class: format!(
                "{} type-{}{}",
                match n.kind {
                    NodeKind::Artifact => "artifact",
                    NodeKind::Execution => "execution",
                },
                n.type_name,
                if n.id == start { " start" } else { "" }
            ),
            column: graph.layers.get(&n.id).copied().unwrap_or(0),
        })
        .collect();
    let edges: Vec<GraphEdge> =
        graph.edges.iter().map(|e| GraphEdge { from: e.from.clone(), to: e.to.clone() }).collect();
    let by_id: std::collections::BTreeMap<String, domain::lineage::LineageNode> =
        graph.nodes.iter().map(|n| (n.id.clone(), n.clone())).collect();
    let navigate = use_navigate();
    let on_select = Callback::new(move |id: String| {
        let Some(n) = by_id.get(&id) else { return };
        match n.kind {
            NodeKind::Artifact => navigate(&format!("/lineage?artifact={id}"), Default::default()),
            NodeKind::Execution => {
                if let Some(l) = &n.link {
                    navigate(l, Default::default())
                }
            }
        }
    });
    let role = |id: &str, graph: &LineageGraphView| -> String {
        let ins: Vec<String> = graph.edges.iter().filter(|e| e.to == id).map(|e| e.role.clone()).collect();
        let mut v = ins;
        v.sort();
        v.dedup();
        v.join(", ")
    };
    view! {
        {start_node.map(|n| view! {
            <p class="subtitle">"Centred on " <strong>{n.name.clone()}</strong> <span class="muted">{format!(" ({})", label(&n.type_name))}</span>
                {n.link.clone().map(|l| view! { " · " <a href=l>"open its page"</a> })}
            </p>
        })}
        <section class="panel">
            <div class="panel-head">
                <h2>"Graph"</h2>
                <ul class="legend legend-inline">
                    <li><span class="swatch artifact" aria-hidden="true"></span>"artifact (click: centre on it)"</li>
                    <li><span class="swatch execution" aria-hidden="true"></span>"execution (click: open it)"</li>
                    <li><span class="swatch start" aria-hidden="true"></span>"where the walk started"</li>
                </ul>
            </div>
            <Graph nodes edges label="Lineage graph, sources on the left" on_select test_id="lineage-graph" />
        </section>
        <section class="panel">
            <h2>"Nodes"</h2>
            <div class="table-wrap">
                <table class="data" data-testid="lineage-nodes">
                    <thead><tr>
                        <th scope="col">"Kind"</th><th scope="col">"Name"</th><th scope="col">"Detail"</th>
                        <th scope="col">"From (role)"</th><th scope="col">"Created (UTC)"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr></thead>
                    <tbody>
                        {ordered.iter().map(|n| {
                            let centre = (n.kind == NodeKind::Artifact && n.id != graph.start).then(|| format!("/lineage?artifact={}", n.id));
                            view! {
                                <tr class:selected-row=n.id == graph.start>
                                    <td>{label(&n.type_name)}</td>
                                    <td>{match &n.link {
                                        Some(l) => view! { <a href=l.clone()>{n.name.clone()}</a> }.into_any(),
                                        None => view! { <span>{n.name.clone()}</span> }.into_any(),
                                    }}</td>
                                    <td class="mono small break">{n.detail.clone().unwrap_or_default()}</td>
                                    <td class="mono small">{role(&n.id, &graph)}</td>
                                    <td class="num">{n.created_at.format("%Y-%m-%d %H:%M:%S").to_string()}</td>
                                    <td>{centre.map(|c| view! { <a class="small" href=c>"centre here"</a> })}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}
