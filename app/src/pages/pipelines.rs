//! Pipelines: the list with a "New pipeline" form; one pipeline (its DAG, a run form
//! generated from the parameters, schedules, watched datasets, versions, runs); and
//! the live run view (the DAG coloured by step state over server-sent events, a
//! step's inputs, outputs, error and live log).

use crate::api::get_me;
use crate::api::pipelines::{
    add_pipeline_schedule, cancel_pipeline_run, delete_pipeline_schedule, get_pipeline, get_pipeline_run,
    get_pipeline_version, list_pipeline_runs, list_pipelines, rerun_pipeline_run, start_pipeline_run,
    submit_pipeline, update_pipeline_schedule,
};
use crate::components::graph::{Graph, GraphEdge, GraphNode};
use crate::components::page::{EmptyState, ErrorBox, Loading, PageHeader, StatCard};
use crate::error::AppError;
use crate::live::{follow_job_log, follow_pipeline_run};
use chrono::{DateTime, Utc};
use domain::auth::Role;
use domain::jobs::{Job, LogLine};
use domain::pipelines::{
    ParameterSpec, PipelineDetail, PipelineSchedule, RunDetail, RunState, RunSummary, StepRun, StepState,
    ValueType,
};
use domain::{PipelineRunId, ScheduleId};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};
use serde_json::Value;
use std::collections::BTreeMap;

pub fn when(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|| "—".into())
}

fn short(id: impl ToString) -> String {
    id.to_string().chars().take(8).collect()
}

pub fn run_badge(s: RunState) -> &'static str {
    match s {
        RunState::Succeeded => "badge badge-ok",
        RunState::Running => "badge badge-running",
        RunState::Failed => "badge badge-alert",
        RunState::Cancelled => "badge badge-warn",
        RunState::Queued => "badge badge-queued",
    }
}

fn step_badge(s: StepState) -> String {
    format!("badge step-badge state-{}", s.as_str())
}

fn span(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Option<String> {
    let s = start?;
    let e = end.unwrap_or_else(Utc::now);
    Some(crate::format::duration_ms((e - s).num_milliseconds().max(0)))
}

fn run_duration(r: &RunSummary) -> String {
    match span(r.started_at, r.finished_at) {
        Some(d) if r.finished_at.is_none() => format!("{d} so far"),
        Some(d) => d,
        None => "—".into(),
    }
}

/// Steps done out of all, from the per-state counts.
fn progress(r: &RunSummary) -> String {
    let total: i64 = r.step_counts.values().sum();
    let done: i64 = r
        .step_counts
        .iter()
        .filter(|(k, _)| StepState::parse(k).is_some_and(StepState::is_terminal))
        .map(|(_, n)| n)
        .sum();
    format!("{done}/{total}")
}

fn role_signal() -> Signal<Role> {
    // Buttons follow the role for convenience only: read it in the browser, after
    // hydration, so server and browser render the same first page.
    let me = LocalResource::new(get_me);
    Signal::derive(move || me.get().and_then(|r| r.ok()).flatten().map(|m| m.role).unwrap_or(Role::Viewer))
}

/// A multi-problem validation message ("3 problems: a; b; c") as separate lines.
#[component]
fn Problems(error: AppError) -> impl IntoView {
    let lines: Vec<String> = match &error {
        AppError::Invalid { field, message } => match message.split_once(" problems: ") {
            Some((_, rest)) => rest.split("; ").map(str::to_string).collect(),
            None => vec![format!("{field}: {message}")],
        },
        e => vec![e.to_string()],
    };
    // "f: f refers to…" reads better as "f refers to…".
    let lines: Vec<String> = lines
        .into_iter()
        .map(|l| match l.split_once(": ") {
            Some((f, m)) if m.starts_with(f) => m.to_string(),
            _ => l,
        })
        .collect();
    view! {
        <div class="callout callout-alert" role="alert" data-testid="form-error">
            <strong>{if lines.len() > 1 { format!("{} problems:", lines.len()) } else { "Not accepted:".to_string() }}</strong>
            <ul class="problems">{lines.into_iter().map(|l| view! { <li class="mono">{l}</li> }).collect_view()}</ul>
        </div>
    }
}

const EXAMPLE: &str = r#"name: hello
parameters:
  n: {type: int, default: 3}
components:
  emit:
    command: [sh, -c, 'echo "{{inputs.n}}" > {{outputs.value}}']
    inputs: {n: {type: int}}
    outputs: {value: {type: int}}
steps:
  - name: emit
    component: emit
    inputs: {n: "{{ params.n }}"}
"#;

// ---------------------------------------------------------------------------
// The list

#[component]
pub fn PipelinesPage() -> impl IntoView {
    let role = role_signal();
    let list = Resource::new(|| (), |_| list_pipelines());
    let show_form = RwSignal::new(false);
    let filter = RwSignal::new(String::new());
    view! {
        <Title text="Pipelines" />
        <PageHeader title="Pipelines" subtitle="DAGs of versioned components: runs, schedules, triggers and their lineage.">
            {move || (role.get() >= Role::Editor).then(|| view! {
                <button class="btn btn-primary" on:click=move |_| show_form.update(|s| *s = !*s)>"New pipeline"</button>
            })}
        </PageHeader>
        {move || show_form.get().then(|| view! { <NewPipelineForm /> })}
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(list) if list.is_empty() => view! {
                        <section class="panel">
                            <EmptyState
                                title="No pipelines yet"
                                hint="Create one with New pipeline (paste a pipeline.yaml), or from the command line:"
                                command="cairn pipeline submit examples/credit-scoring/pipeline.yaml"
                            />
                        </section>
                    }.into_any(),
                    Ok(list) => view! {
                        <section class="panel">
                            <div class="panel-head">
                                <h2>{match list.len() { 1 => "1 pipeline".to_string(), n => format!("{n} pipelines") }}</h2>
                                <input type="search" class="search" placeholder="Filter by name" aria-label="Filter pipelines by name"
                                    prop:value=move || filter.get() on:input=move |ev| filter.set(event_target_value(&ev)) />
                            </div>
                            <div class="table-wrap">
                                <table class="data" data-testid="pipelines-table">
                                    <thead><tr>
                                        <th scope="col">"Pipeline"</th><th scope="col">"Latest version"</th>
                                        <th scope="col">"Schedules"</th><th scope="col">"Last run"</th>
                                        <th scope="col">"When (UTC)"</th><th scope="col" class="num">"Runs"</th>
                                    </tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|p| {
                                            let href = format!("/pipelines/{}", p.name);
                                            let lower = p.name.to_lowercase();
                                            let hidden = move || !lower.contains(&filter.get().trim().to_lowercase());
                                            view! {
                                                <tr class:hidden=hidden>
                                                    <td>
                                                        <a href=href><strong>{p.name.clone()}</strong></a>
                                                        {(!p.description.is_empty()).then(|| view! { <div class="muted small">{p.description.clone()}</div> })}
                                                    </td>
                                                    <td class="num">{format!("v{}", p.latest_version)}<span class="muted">{format!(" of {}", p.versions)}</span></td>
                                                    <td class="mono">{if p.schedules.is_empty() { "—".to_string() } else { p.schedules.join(", ") }}</td>
                                                    <td>{match &p.last_run {
                                                        Some(r) => view! {
                                                            <a href=format!("/pipelines/runs/{}", r.run_id)><span class=run_badge(r.state)>{r.state.as_str()}</span></a>
                                                        }.into_any(),
                                                        None => view! { <span class="muted">"never run"</span> }.into_any(),
                                                    }}</td>
                                                    <td class="num">{when(p.last_run.as_ref().map(|r| r.created_at))}</td>
                                                    <td class="num">{p.runs}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        </section>
                    }.into_any(),
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn NewPipelineForm() -> impl IntoView {
    let text = RwSignal::new(EXAMPLE.to_string());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<AppError>);
    let navigate = use_navigate();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            match submit_pipeline(text.get_untracked()).await {
                Ok(s) => navigate(&format!("/pipelines/{}", s.version.spec.name), Default::default()),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="panel" data-testid="new-pipeline">
            <h2>"New pipeline (or a new version)"</h2>
            <p class="muted">"The spec as YAML or JSON. Submitting a spec whose name exists adds a version; an identical spec changes nothing."</p>
            <form on:submit=submit class="stack-form">
                <label class="visually-hidden" for="pipeline-spec">"Pipeline spec"</label>
                <textarea
                    id="pipeline-spec"
                    name="spec"
                    class="mono spec-editor"
                    rows="16"
                    spellcheck="false"
                    prop:value=move || text.get()
                    on:input=move |ev| text.set(event_target_value(&ev))
                ></textarea>
                {move || error.get().map(|e| view! { <Problems error=e /> })}
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" disabled=move || busy.get()>
                        {move || if busy.get() { "Submitting…" } else { "Submit pipeline" }}
                    </button>
                </div>
            </form>
        </section>
    }
}

// ---------------------------------------------------------------------------
// One pipeline

/// DAG boxes for a spec without a run: every step neutral.
fn spec_graph(detail: &PipelineDetail) -> (Vec<GraphNode>, Vec<GraphEdge>) {
    let spec = &detail.latest.spec;
    let layers = spec.layers();
    let nodes = spec
        .steps
        .iter()
        .map(|s| {
            let pinned = detail.latest.components.get(&s.name);
            GraphNode {
                id: s.name.clone(),
                title: s.name.clone(),
                subtitle: pinned
                    .map(|p| format!("{}@{}", p.name, p.version))
                    .unwrap_or_else(|| s.component.clone()),
                note: s.when.as_ref().map(|w| format!("when {w}")).unwrap_or_default(),
                class: "state-none".into(),
                column: layers.get(&s.name).copied().unwrap_or(0),
            }
        })
        .collect();
    let edges = spec
        .steps
        .iter()
        .flat_map(|s| s.dependencies().into_iter().map(move |d| GraphEdge { from: d, to: s.name.clone() }))
        .collect();
    (nodes, edges)
}

#[component]
pub fn PipelinePage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.with(|p| p.get("name").map(|s| s.to_string()).unwrap_or_default());
    let role = role_signal();
    // Bumped after a schedule change so the detail re-reads.
    let refresh = RwSignal::new(0u32);
    // What the last schedule action said; kept here, outside the Transition, so it
    // survives the re-render after the reload.
    let flash = RwSignal::new(None::<Result<String, AppError>>);
    let detail = Resource::new(move || (name(), refresh.get()), |(n, _)| get_pipeline(n));
    view! {
        <Title text=move || name() />
        <nav class="breadcrumbs" aria-label="Breadcrumb"><a href="/pipelines">"Pipelines"</a> " › " <span>{name}</span></nav>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(d) => view! { <PipelineView detail=d role refresh flash /> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn PipelineView(
    detail: PipelineDetail,
    role: Signal<Role>,
    refresh: RwSignal<u32>,
    flash: RwSignal<Option<Result<String, AppError>>>,
) -> impl IntoView {
    let name = detail.name.clone();
    let (nodes, edges) = spec_graph(&detail);
    let last = detail.recent_runs.first().cloned();
    let cards = view! {
        <section class="cards">
            <StatCard label="Latest version" value=format!("v{}", detail.latest.version) hint=match detail.versions.len() { 1 => "1 version".to_string(), n => format!("{n} versions") } />
            <StatCard label="Steps" value=detail.latest.spec.steps.len().to_string() />
            <StatCard label="Schedules" value=detail.schedules.iter().filter(|s| s.enabled).count().to_string() hint=format!("{} in all", detail.schedules.len()) />
            <StatCard label="Last run" value=last.as_ref().map(|r| r.state.as_str().to_string()).unwrap_or_else(|| "—".into()) hint=when(last.as_ref().map(|r| r.created_at)) />
        </section>
    };
    view! {
        <PageHeader title=name.clone() subtitle=detail.description.clone()>
            <a class="btn" href="#run-form">"Run…"</a>
        </PageHeader>
        {cards}
        <section class="panel">
            <div class="panel-head">
                <h2>{format!("DAG (v{})", detail.latest.version)}</h2>
                <span class="muted small">"left to right: a step starts when the steps it reads from have finished"</span>
            </div>
            <Graph nodes edges label=format!("Steps of {name}") test_id="pipeline-dag" />
        </section>
        <div class="two-col">
            <RunForm name=name.clone() parameters=detail.latest.spec.parameters.clone() role />
            <section class="panel" aria-labelledby="watched-h">
                <h2 id="watched-h">"Watched datasets"</h2>
                {if detail.watched_datasets.is_empty() {
                    view! { <p class="muted">"None: add " <code>"triggers: {datasets: [{dataset: name}]}"</code> " to the spec to run on new data."</p> }.into_any()
                } else {
                    view! {
                        <ul class="plain-list" data-testid="watched">
                            {detail.watched_datasets.iter().map(|d| view! {
                                <li><span class="mono">{d.dataset.clone()}</span>
                                    {d.parameter.clone().map(|p| view! { <span class="muted">{format!(" → parameter {p}")}</span> })}
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            </section>
        </div>
        <Schedules name=name.clone() schedules=detail.schedules.clone() role refresh flash />
        <Runs name=name.clone() />
        <Versions name=name.clone() detail=detail.clone() />
    }
}

/// One input per declared parameter, typed, with the default filled in.
#[component]
fn RunForm(name: String, parameters: BTreeMap<String, ParameterSpec>, role: Signal<Role>) -> impl IntoView {
    let initial: BTreeMap<String, String> = parameters
        .iter()
        .map(|(k, p)| {
            let v = match &p.default {
                None => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            };
            (k.clone(), v)
        })
        .collect();
    let values = RwSignal::new(initial);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<AppError>);
    let navigate = use_navigate();
    let name = StoredValue::new(name);
    let types: BTreeMap<String, ValueType> = parameters.iter().map(|(k, p)| (k.clone(), p.ty)).collect();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        error.set(None);
        // Empty fields are left out: the default applies, or the service says the
        // parameter is required. Text is sent as text; the service converts.
        let obj: serde_json::Map<String, Value> = values
            .get_untracked()
            .into_iter()
            .filter(|(k, v)| !v.is_empty() || types.get(k) == Some(&ValueType::String))
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let body = Value::Object(obj).to_string();
        let navigate = navigate.clone();
        spawn_local(async move {
            match start_pipeline_run(name.get_value(), None, body).await {
                Ok(r) => navigate(&format!("/pipelines/runs/{}", r.summary.run_id), Default::default()),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let fields = parameters
        .into_iter()
        .map(|(k, p)| {
            let key = k.clone();
            let value = move || values.with(|v| v.get(&key).cloned().unwrap_or_default());
            let set = {
                let k = k.clone();
                move |s: String| values.update(|v| {
                    v.insert(k.clone(), s);
                })
            };
            let id = format!("param-{k}");
            let hint = format!(
                "{}{}{}",
                p.ty,
                if p.default.is_none() { " · required" } else { "" },
                if p.description.is_empty() { String::new() } else { format!(" · {}", p.description) }
            );
            let input = match p.ty {
                ValueType::Bool => {
                    let set = set.clone();
                    view! {
                        <select id=id.clone() name=k.clone() on:change=move |ev| set(event_target_value(&ev))>
                            <option value="true" selected=value() == "true">"true"</option>
                            <option value="false" selected=value() != "true">"false"</option>
                        </select>
                    }
                    .into_any()
                }
                ValueType::Int | ValueType::Float => {
                    let set = set.clone();
                    view! {
                        <input id=id.clone() name=k.clone() type="number" class="num"
                            step=if p.ty == ValueType::Int { "1" } else { "any" }
                            prop:value=value on:input=move |ev| set(event_target_value(&ev)) />
                    }
                    .into_any()
                }
                ValueType::Json | ValueType::Metrics | ValueType::File => {
                    let set = set.clone();
                    view! {
                        <textarea id=id.clone() name=k.clone() class="mono" rows="3"
                            prop:value=value on:input=move |ev| set(event_target_value(&ev))></textarea>
                    }
                    .into_any()
                }
                _ => {
                    let set = set.clone();
                    view! {
                        <input id=id.clone() name=k.clone() type="text" class="mono"
                            placeholder=match p.ty { ValueType::Dataset => "dataset name, name@latest or name@3", ValueType::Model => "training run id or models:/name@alias", _ => "" }
                            prop:value=value on:input=move |ev| set(event_target_value(&ev)) />
                    }
                    .into_any()
                }
            };
            view! {
                <div class="field">
                    <label for=id.clone()><span class="mono">{k.clone()}</span>" "<span class="muted small">{hint}</span></label>
                    {input}
                </div>
            }
        })
        .collect_view();
    view! {
        <section class="panel" id="run-form" data-testid="run-form">
            <h2>"Run"</h2>
            <form on:submit=submit class="stack-form">
                {fields}
                {move || error.get().map(|e| view! { <Problems error=e /> })}
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" disabled=move || busy.get() || role.get() < Role::Editor>
                        {move || if busy.get() { "Starting…" } else { "Start run" }}
                    </button>
                    {move || (role.get() < Role::Editor).then(|| view! { <span class="muted small">"Starting runs needs the editor role."</span> })}
                </div>
            </form>
        </section>
    }
}

#[component]
fn Schedules(
    name: String,
    schedules: Vec<PipelineSchedule>,
    role: Signal<Role>,
    refresh: RwSignal<u32>,
    flash: RwSignal<Option<Result<String, AppError>>>,
) -> impl IntoView {
    let name = StoredValue::new(name);
    let cron = RwSignal::new(String::new());
    let tz = RwSignal::new("UTC".to_string());
    // The row being edited, with its draft cron and time zone.
    let editing = RwSignal::new(None::<ScheduleId>);
    let draft_cron = RwSignal::new(String::new());
    let draft_tz = RwSignal::new(String::new());
    let confirm_delete = RwSignal::new(None::<ScheduleId>);
    let done = move |r: Result<String, AppError>| {
        let ok = r.is_ok();
        flash.set(Some(r));
        if ok {
            editing.set(None);
            confirm_delete.set(None);
            refresh.update(|n| *n += 1);
        }
    };
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        spawn_local(async move {
            let r = add_pipeline_schedule(
                name.get_value(),
                cron.get_untracked(),
                tz.get_untracked(),
                String::new(),
            )
            .await
            .map(|s| format!("Schedule {} ({}) added.", s.cron, s.timezone));
            done(r);
        });
    };
    let update = move |s: PipelineSchedule,
                       cron: String,
                       timezone: String,
                       enabled: bool,
                       what: &'static str| {
        spawn_local(async move {
            let params = serde_json::to_string(&s.parameters).unwrap_or_default();
            let r =
                update_pipeline_schedule(name.get_value(), s.schedule_id, cron, timezone, params, enabled)
                    .await
                    .map(|s| format!("Schedule {} ({}) {what}.", s.cron, s.timezone));
            done(r);
        });
    };
    let can_edit = move || role.get() >= Role::Editor;
    let empty = schedules.is_empty();
    let rows = schedules
        .into_iter()
        .map(|s| {
            let id = s.schedule_id;
            let s = StoredValue::new(s);
            let label = s.with_value(|s| format!("{} ({})", s.cron, s.timezone));
            view! {
                <tr data-testid="schedule-row">
                    {move || if editing.get() == Some(id) {
                        view! {
                            <td><input class="mono" aria-label="Cron" prop:value=move || draft_cron.get() on:input=move |ev| draft_cron.set(event_target_value(&ev)) /></td>
                            <td><input aria-label="Time zone" prop:value=move || draft_tz.get() on:input=move |ev| draft_tz.set(event_target_value(&ev)) /></td>
                        }.into_any()
                    } else {
                        view! {
                            <td class="mono">{s.with_value(|s| s.cron.clone())}</td>
                            <td>{s.with_value(|s| s.timezone.clone())}</td>
                        }.into_any()
                    }}
                    <td>{s.with_value(|s| if s.enabled {
                        view! { <span class="badge badge-ok">"enabled"</span> }.into_any()
                    } else {
                        view! { <span class="badge badge-queued">"disabled"</span> }.into_any()
                    })}</td>
                    <td class="num">{s.with_value(|s| when(s.next_run_at))}</td>
                    <td class="num">{s.with_value(|s| when(s.last_run_at))}</td>
                    <td class="mono small">{s.with_value(|s| if s.parameters.is_empty() { "defaults".to_string() } else { serde_json::to_string(&s.parameters).unwrap_or_default() })}</td>
                    <td class="row-actions">
                        {move || can_edit().then(|| if editing.get() == Some(id) {
                            view! {
                                <button class="btn btn-small btn-primary" on:click=move |_| {
                                    let sv = s.get_value();
                                    let enabled = sv.enabled;
                                    update(sv, draft_cron.get_untracked(), draft_tz.get_untracked(), enabled, "saved")
                                }>"Save"</button>
                                <button class="btn btn-small" on:click=move |_| editing.set(None)>"Cancel"</button>
                            }.into_any()
                        } else if confirm_delete.get() == Some(id) {
                            view! {
                                <span class="small">"Delete this schedule?"</span>
                                <button class="btn btn-small btn-danger" on:click=move |_| {
                                    spawn_local(async move {
                                        let r = delete_pipeline_schedule(name.get_value(), id).await.map(|_| "Schedule deleted.".to_string());
                                        done(r);
                                    });
                                }>"Delete"</button>
                                <button class="btn btn-small" on:click=move |_| confirm_delete.set(None)>"Keep"</button>
                            }.into_any()
                        } else {
                            let label = label.clone();
                            view! {
                                <button class="btn btn-small" aria-label=format!("Edit schedule {label}") on:click=move |_| {
                                    s.with_value(|s| { draft_cron.set(s.cron.clone()); draft_tz.set(s.timezone.clone()); });
                                    editing.set(Some(id));
                                }>"Edit"</button>
                                <button class="btn btn-small" on:click=move |_| {
                                    let sv = s.get_value();
                                    let (c, t, en) = (sv.cron.clone(), sv.timezone.clone(), !sv.enabled);
                                    update(sv, c, t, en, if en { "enabled" } else { "disabled" })
                                }>{s.with_value(|s| if s.enabled { "Disable" } else { "Enable" })}</button>
                                <button class="btn btn-small" on:click=move |_| confirm_delete.set(Some(id))>"Delete…"</button>
                            }.into_any()
                        })}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="panel" aria-labelledby="schedules-h" data-testid="schedules">
            <h2 id="schedules-h">"Schedules"</h2>
            {move || can_edit().then(|| view! {
                <form class="form-row" on:submit=add>
                    <label><span>"Cron"</span><input name="cron" class="mono" required placeholder="0 3 * * *" prop:value=move || cron.get() on:input=move |ev| cron.set(event_target_value(&ev)) /></label>
                    <label><span>"Time zone"</span><input name="timezone" placeholder="UTC" prop:value=move || tz.get() on:input=move |ev| tz.set(event_target_value(&ev)) /></label>
                    <button type="submit" class="btn">"Add schedule"</button>
                </form>
            })}
            {move || flash.get().map(|r| match r {
                Ok(m) => view! { <p class="callout callout-ok" role="status" data-testid="schedule-message">{m}</p> }.into_any(),
                Err(e) => view! { <p class="field-error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
            <div class="table-wrap">
                <table class="data" data-testid="schedules-table">
                    <thead><tr>
                        <th scope="col">"Cron"</th><th scope="col">"Time zone"</th><th scope="col">"State"</th>
                        <th scope="col">"Next run (UTC)"</th><th scope="col">"Last run (UTC)"</th><th scope="col">"Parameters"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            {empty.then(|| view! { <p class="muted">"No schedules: add a cron expression above (time zones like Europe/Paris), or declare " <code>"triggers: {schedules: [{cron: '0 3 * * *'}]}"</code> " in the spec."</p> })}
        </section>
    }
}

#[component]
fn Runs(name: String) -> impl IntoView {
    let filter = RwSignal::new(String::new());
    let name = StoredValue::new(name);
    let runs = Resource::new(move || filter.get(), move |f| list_pipeline_runs(name.get_value(), f));
    view! {
        <section class="panel" aria-labelledby="runs-h">
            <div class="panel-head">
                <h2 id="runs-h">"Runs"</h2>
                <label class="inline-label">
                    <span>"State"</span>
                    <select data-testid="run-state-filter" on:change=move |ev| filter.set(event_target_value(&ev))>
                        <option value="">"any"</option>
                        {RunState::ALL.into_iter().map(|s| view! { <option value=s.as_str()>{s.as_str()}</option> }).collect_view()}
                    </select>
                </label>
            </div>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match runs.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No runs match. Start one with the Run form above."</p> }.into_any(),
                        Ok(list) => view! { <RunTable runs=list /> }.into_any(),
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn RunTable(runs: Vec<RunSummary>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data" data-testid="runs-table">
                <thead><tr>
                    <th scope="col">"Run"</th><th scope="col">"Version"</th><th scope="col">"State"</th>
                    <th scope="col">"Trigger"</th><th scope="col" class="num">"Steps done"</th>
                    <th scope="col">"Created (UTC)"</th><th scope="col">"Duration"</th><th scope="col">"Error"</th>
                </tr></thead>
                <tbody>
                    {runs.into_iter().map(|r| view! {
                        <tr>
                            <td class="mono"><a href=format!("/pipelines/runs/{}", r.run_id)>{short(r.run_id)}</a></td>
                            <td class="num">{format!("v{}", r.version)}</td>
                            <td><span class=run_badge(r.state)>{r.state.as_str()}</span></td>
                            <td>{r.trigger.describe()}</td>
                            <td class="num">{progress(&r)}</td>
                            <td class="num">{when(Some(r.created_at))}</td>
                            <td class="num">{run_duration(&r)}</td>
                            <td class="error-cell">{r.error.clone().unwrap_or_default()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn Versions(name: String, detail: PipelineDetail) -> impl IntoView {
    let shown = RwSignal::new(Some(detail.latest.version));
    let name = StoredValue::new(name);
    let latest = StoredValue::new(detail.latest.clone());
    let spec = Resource::new(
        move || shown.get(),
        move |v| async move {
            match v {
                None => Ok(None),
                Some(v) if v == latest.with_value(|l| l.version) => Ok(Some(latest.get_value())),
                Some(v) => get_pipeline_version(name.get_value(), v).await.map(Some),
            }
        },
    );
    view! {
        <section class="panel" aria-labelledby="versions-h">
            <h2 id="versions-h">"Versions"</h2>
            <div class="table-wrap">
                <table class="data" data-testid="versions-table">
                    <thead><tr>
                        <th scope="col">"Version"</th><th scope="col">"Digest"</th><th scope="col">"Created by"</th>
                        <th scope="col">"Created (UTC)"</th><th scope="col"><span class="visually-hidden">"Spec"</span></th>
                    </tr></thead>
                    <tbody>
                        {detail.versions.into_iter().map(|v| {
                            let n = v.version;
                            view! {
                                <tr class:selected-row=move || shown.get() == Some(n)>
                                    <td class="num">{format!("v{n}")}</td>
                                    <td class="mono">{v.digest.chars().take(19).collect::<String>()}</td>
                                    <td>{v.created_by.clone().unwrap_or_else(|| "—".into())}</td>
                                    <td class="num">{when(Some(v.created_at))}</td>
                                    <td><button class="btn btn-small" on:click=move |_| shown.set(if shown.get_untracked() == Some(n) { None } else { Some(n) })>
                                        {move || if shown.get() == Some(n) { "Hide spec" } else { "View spec" }}
                                    </button></td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match spec.await {
                        Ok(Some(v)) => view! {
                            <h3 class="sub">{format!("Spec of v{}", v.version)}</h3>
                            <pre class="code spec" data-testid="version-spec">{v.spec_text}</pre>
                            <h3 class="sub">"Pinned components"</h3>
                            <table class="data kv">
                                <tbody>
                                    {v.components.into_iter().map(|(step, c)| view! {
                                        <tr><th scope="row" class="mono">{step}</th><td class="mono">{format!("{}@{}", c.name, c.version)}</td><td class="mono muted">{c.digest.chars().take(19).collect::<String>()}</td></tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                        Ok(None) => ().into_any(),
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

// ---------------------------------------------------------------------------
// A run, live

fn run_graph(run: &RunDetail) -> (Vec<GraphNode>, Vec<GraphEdge>) {
    let nodes = run
        .steps
        .iter()
        .map(|s| {
            let mut note = s.state.as_str().to_string();
            if let Some(d) = span(s.started_at, s.finished_at) {
                note.push_str(&format!(" · {d}"));
            }
            if let Some(c) = &s.cached_from {
                note.push_str(&format!(" · from {}", short(c.run_id)));
            }
            if s.max_attempts > 1 && s.attempt > 1 {
                note.push_str(&format!(" · try {}/{}", s.attempt, s.max_attempts));
            }
            GraphNode {
                id: s.name.clone(),
                title: s.name.clone(),
                subtitle: s.component.clone(),
                note,
                class: format!("state-{}", s.state.as_str()),
                column: run.layers.get(&s.name).copied().unwrap_or(0),
            }
        })
        .collect();
    let edges = run
        .steps
        .iter()
        .flat_map(|s| s.depends_on.iter().map(move |d| GraphEdge { from: d.clone(), to: s.name.clone() }))
        .collect();
    (nodes, edges)
}

#[component]
pub fn PipelineRunPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| s.parse::<PipelineRunId>().ok()));
    let detail = Resource::new(id, |id| async move {
        match id {
            Some(id) => get_pipeline_run(id).await,
            None => Err(AppError::NotFound("that is not a pipeline run id".into())),
        }
    });
    view! {
        <Title text="Pipeline run" />
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(d) => view! { <RunView detail=d /> }.into_any(),
                    Err(e) => view! {
                        <nav class="breadcrumbs" aria-label="Breadcrumb"><a href="/pipelines">"Pipelines"</a></nav>
                        <ErrorBox error=e />
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The step to open first: the failed one, else a running one, else none.
fn default_step(r: &RunDetail) -> Option<String> {
    r.failed_step().or_else(|| r.steps.iter().find(|s| s.state.is_active())).map(|s| s.name.clone())
}

#[component]
fn RunView(detail: RunDetail) -> impl IntoView {
    let run_id = detail.summary.run_id;
    let pipeline = detail.summary.pipeline.clone();
    let selected = RwSignal::new(default_step(&detail));
    let picked = RwSignal::new(false);
    let run = RwSignal::new(detail);
    let role = role_signal();
    // Bumped to (re)open the stream, e.g. after a cancel.
    let generation = RwSignal::new(0u32);
    Effect::new(move |_| {
        generation.track();
        let sub = follow_pipeline_run(run_id, move |d: RunDetail| {
            // Until the user picks a step, the panel follows the one that matters:
            // the failed step, else a running one.
            if !picked.get_untracked()
                && let Some(s) = default_step(&d)
                && selected.get_untracked().as_ref() != Some(&s)
            {
                selected.set(Some(s));
            }
            run.set(d);
        });
        on_cleanup(move || {
            if let Some(s) = sub {
                s.close()
            }
        });
    });
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<AppError>);
    let navigate = use_navigate();
    let cancel = move |_| {
        busy.set(true);
        spawn_local(async move {
            match cancel_pipeline_run(run_id).await {
                Ok(d) => {
                    run.set(d);
                    generation.update(|g| *g += 1);
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let rerun = move |_| {
        busy.set(true);
        let navigate = navigate.clone();
        spawn_local(async move {
            match rerun_pipeline_run(run_id).await {
                Ok(d) => navigate(&format!("/pipelines/runs/{}", d.summary.run_id), Default::default()),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let state = move || run.with(|r| r.summary.state);
    let graph = move || {
        let (nodes, edges) = run.with(run_graph);
        view! {
            <Graph
                nodes
                edges
                label="Steps of this run, coloured by state"
                selected=Signal::derive(move || selected.get())
                on_select=Callback::new(move |s: String| {
                    picked.set(true);
                    selected.set(Some(s))
                })
                test_id="run-dag"
            />
        }
    };
    // The log follows (step, job) only, so run updates do not restart its stream.
    let log_key = Memo::new(move |_| {
        selected.get().and_then(|n| {
            run.with(|r| {
                r.steps
                    .iter()
                    .find(|s| s.name == n)
                    .map(|s| (n.clone(), s.job_id, s.cached_from.as_ref().map(|c| c.run_id)))
            })
        })
    });
    let pipeline_href = format!("/pipelines/{pipeline}");
    view! {
        <nav class="breadcrumbs" aria-label="Breadcrumb">
            <a href="/pipelines">"Pipelines"</a> " › " <a href=pipeline_href.clone()>{pipeline.clone()}</a> " › " <span>{format!("Run {}", short(run_id))}</span>
        </nav>
        <header class="page-header">
            <div>
                <h1>{pipeline.clone()} <span class="muted">{format!(" run {}", short(run_id))}</span></h1>
                <p class="subtitle" data-testid="run-trigger">{move || run.with(|r| {
                    let mut s = r.summary.trigger.describe();
                    s.push_str(&format!(" · v{} · created {}", r.summary.version, when(Some(r.summary.created_at))));
                    s
                })}</p>
            </div>
            <div class="actions">
                <span class=move || format!("{} badge-large", run_badge(state())) data-testid="run-state">{move || state().as_str()}</span>
                {move || (!state().is_terminal() && role.get() >= Role::Editor).then(|| view! {
                    <button class="btn" disabled=move || busy.get() on:click=cancel>"Cancel run"</button>
                })}
                {move || (state() == RunState::Failed && role.get() >= Role::Editor).then(|| {
                    let rerun = rerun.clone();
                    view! { <button class="btn btn-primary" disabled=move || busy.get() on:click=rerun>"Re-run from failed step"</button> }
                })}
            </div>
        </header>
        {move || error.get().map(|e| view! { <p class="callout callout-alert" role="alert">{e.to_string()}</p> })}
        {move || run.with(|r| r.rerun_of).map(|o| view! {
            <p class="callout callout-info">"Re-run of " <a class="mono" href=format!("/pipelines/runs/{o}")>{short(o)}</a> ": finished steps reused, starting at the step that failed."</p>
        })}
        <section class="cards">
            <div class="card stat"><div class="stat-label">"Steps done"</div><div class="stat-value" data-testid="run-progress">{move || run.with(|r| progress(&r.summary))}</div></div>
            <div class="card stat"><div class="stat-label">"Duration"</div><div class="stat-value">{move || run.with(|r| run_duration(&r.summary))}</div></div>
            <div class="card stat"><div class="stat-label">"Cached steps"</div><div class="stat-value">{move || run.with(|r| r.steps.iter().filter(|s| s.state == StepState::Cached).count().to_string())}</div></div>
            <div class="card stat"><div class="stat-label">"Started by"</div><div class="stat-hint">{move || run.with(|r| r.created_by.clone().unwrap_or_else(|| "—".into()))}</div></div>
        </section>
        {move || run.with(|r| r.summary.error.clone()).map(|e| view! {
            <div class="callout callout-alert" role="alert"><strong>"Run failed: "</strong><span class="mono">{e}</span></div>
        })}
        <section class="panel">
            <div class="panel-head">
                <h2>"Steps"</h2>
                <span class="muted small">"click a step for its inputs, outputs and log"</span>
            </div>
            {graph}
            <StateLegend />
        </section>
        {move || selected.get().and_then(|name| run.with(|r| r.steps.iter().find(|s| s.name == name).cloned())).map(|step| view! {
            <StepPanel step />
        })}
        {move || log_key.get().map(|(name, job, cached)| view! {
            <section class="panel" aria-label=format!("Log of {name}") data-testid="step-log-panel">
                <h2>"Log " <span class="mono muted">{name.clone()}</span></h2>
                {match job {
                    Some(j) => view! { <StepLog job_id=j /> }.into_any(),
                    None => match cached {
                        Some(src) => view! { <p class="muted">"Cached: this step did not run here; its log is in "<a href=format!("/pipelines/runs/{src}")>{format!("run {}", short(src))}</a>"."</p> }.into_any(),
                        None => view! { <p class="muted">"No log yet: the step has not started."</p> }.into_any(),
                    },
                }}
            </section>
        })}
        <section class="panel">
            <h2>"Parameters"</h2>
            {move || run.with(|r| {
                if r.parameters.is_empty() {
                    view! { <p class="muted">"None."</p> }.into_any()
                } else {
                    view! {
                        <table class="data kv" data-testid="run-parameters">
                            <tbody>
                                {r.parameters.iter().map(|(k, v)| view! {
                                    <tr><th scope="row" class="mono">{k.clone()}</th><td class="mono">{plain(v)}</td></tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }
            })}
        </section>
    }
}

#[component]
fn StateLegend() -> impl IntoView {
    view! {
        <ul class="legend state-legend" aria-label="Step states">
            {StepState::ALL.into_iter().map(|s| view! {
                <li><span class=format!("swatch state-{}", s.as_str()) aria-hidden="true"></span>{s.as_str()}</li>
            }).collect_view()}
        </ul>
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// An input or output value with links to where it lives.
#[component]
fn ValueCell(value: Value) -> impl IntoView {
    let s = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_string);
    let lineage = |r: String| {
        view! { " " <a class="small" href=format!("/lineage?artifact={}", urlencode(&r))>"lineage"</a> }
    };
    let artifact = s("artifact_id");
    if let (Some(ds), Some(v)) = (s("dataset_id"), value.get("version").and_then(Value::as_i64)) {
        let label = format!("{} v{v}", s("dataset").unwrap_or_else(|| "dataset".into()));
        return view! {
            <a href=format!("/datasets/{ds}/versions/{v}")>{label}</a>
            {artifact.map(lineage)}
        }
        .into_any();
    }
    if let Some(uri) = s("uri") {
        if let (Some(name), Some(v)) = (s("name"), value.get("version").and_then(Value::as_i64)) {
            return view! {
                <a href=format!("/models/{name}/versions/{v}")>{format!("{name} v{v}")}</a>
                {s("version_id").map(|id| lineage(format!("model_version:{id}")))}
            }
            .into_any();
        }
        if let Some(run) = s("run_id") {
            return view! {
                <a href=format!("/training/runs/{run}")>{format!("model of training run {}", short(&run))}</a>
                {artifact.or(Some(format!("model:{run}"))).map(lineage)}
                <div class="mono muted small">{uri}</div>
            }
            .into_any();
        }
    }
    if let Some(key) = s("key") {
        let size = value.get("size").and_then(Value::as_i64).map(crate::format::bytes).unwrap_or_default();
        return view! {
            <span class="mono">{key.rsplit('/').next().unwrap_or(&key).to_string()}</span>
            <span class="muted small">{format!(" {size}")}</span>
            {lineage(format!("file:{key}"))}
            <div class="mono muted small break">{key.clone()}</div>
        }
        .into_any();
    }
    // Metrics: one name and value per line, at most 4 decimals, rather than raw JSON.
    if let Some(map) = value.as_object().filter(|m| !m.is_empty() && m.values().all(Value::is_number)) {
        let rows: Vec<(String, String)> =
            map.iter().map(|(k, v)| (k.clone(), crate::format::stat(v.as_f64()))).collect();
        return view! {
            <span class="metric-list mono">
                {rows.into_iter().map(|(k, v)| view! { <span class="nowrap">{k}" "<strong>{v}</strong></span> }).collect_view()}
            </span>
        }
        .into_any();
    }
    view! { <span class="mono break">{plain(&value)}</span> }.into_any()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

#[component]
fn Ports(title: &'static str, values: BTreeMap<String, Value>, test_id: &'static str) -> impl IntoView {
    view! {
        <div>
            <h3 class="sub">{title}</h3>
            {if values.is_empty() {
                view! { <p class="muted">"None."</p> }.into_any()
            } else {
                view! {
                    <table class="data kv" data-testid=test_id>
                        <tbody>
                            {values.into_iter().map(|(k, v)| view! {
                                <tr><th scope="row" class="mono">{k}</th><td><ValueCell value=v /></td></tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </div>
    }
}

#[component]
fn StepPanel(step: StepRun) -> impl IntoView {
    let duration = span(step.started_at, step.finished_at).unwrap_or_else(|| "—".into());
    view! {
        <section class="panel step-panel" data-testid="step-panel" aria-label=format!("Step {}", step.name)>
            <div class="panel-head">
                <h2><span class="mono">{step.name.clone()}</span>" "<span class="muted small mono">{step.component.clone()}</span></h2>
                <span class=step_badge(step.state) data-testid="step-state">{step.state.as_str()}</span>
            </div>
            <dl class="kv-list">
                {(step.state != StepState::Cached).then(|| view! {
                    <dt>"Attempt"</dt><dd class="tnum" data-testid="step-attempt">{format!("{} of {}", step.attempt, step.max_attempts)}</dd>
                    <dt>"Duration"</dt><dd class="tnum">{duration.clone()}</dd>
                    <dt>"Started (UTC)"</dt><dd class="tnum">{when(step.started_at)}</dd>
                })}
                {(!step.depends_on.is_empty()).then(|| view! { <dt>"After"</dt><dd class="mono">{step.depends_on.join(", ")}</dd> })}
                {step.cached_from.clone().map(|c| view! {
                    <dt>"Cached"</dt>
                    <dd><span class="badge state-cached step-badge" data-testid="cached-badge">"cached"</span>
                        " outputs reused from "
                        <a class="mono" href=format!("/pipelines/runs/{}", c.run_id)>{format!("run {}", short(c.run_id))}</a>
                        " (same component version, inputs and parameters)"
                    </dd>
                })}
                {step.external.clone().map(|x| {
                    let kind = x.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
                    let id = x.get("id").and_then(Value::as_str).unwrap_or("").to_string();
                    view! {
                        <dt>"Work"</dt>
                        <dd>{if kind == "training_run" {
                            view! { <a href=format!("/training/runs/{id}")>{format!("training run {}", short(&id))}</a> }.into_any()
                        } else {
                            view! { <span class="mono">{x.to_string()}</span> }.into_any()
                        }}</dd>
                    }
                })}
                {step.job_id.map(|j| view! { <dt>"Job"</dt><dd><a class="mono" href=format!("/jobs/{j}")>{short(j)}</a></dd> })}
            </dl>
            {step.error.clone().map(|e| view! {
                <div class="callout callout-alert" role="alert" data-testid="step-error"><strong>"Error: "</strong><span class="mono">{e}</span></div>
            })}
            <div class="two-col">
                <Ports title="Inputs" values=step.inputs.clone() test_id="step-inputs" />
                <Ports title="Outputs" values=step.outputs.clone() test_id="step-outputs" />
            </div>
        </section>
    }
}

/// The step's job log, followed live until the job ends.
#[component]
fn StepLog(job_id: domain::JobId) -> impl IntoView {
    let lines = RwSignal::new(Vec::<LogLine>::new());
    let job_state = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        let sub = follow_job_log(
            job_id,
            0,
            move |l: LogLine| {
                lines.update(|ls| {
                    if ls.last().is_none_or(|last| last.line_no < l.line_no) {
                        ls.push(l)
                    }
                })
            },
            move |j: Job| job_state.set(Some(j.state)),
        );
        on_cleanup(move || {
            if let Some(s) = sub {
                s.close()
            }
        });
    });
    view! {
        <pre class="log" data-testid="step-log" aria-live="polite">
            {move || lines.with(|ls| ls.iter().map(|l| format!("{:>4}  {}  {}\n", l.line_no, l.at.format("%H:%M:%S%.3f"), l.line)).collect::<String>())}
        </pre>
        {move || lines.with(|l| l.is_empty()).then(|| view! { <p class="muted">"No log lines yet."</p> })}
        <p class="muted small"><a href=format!("/jobs/{job_id}")>"Open the job"</a>{move || job_state.get().map(|s| format!(" · job {s}"))}</p>
    }
}
