//! Training: the list of training runs and searches, and the "New training run"
//! form (dataset, target, features, preparation, algorithm and its
//! hyper-parameters, gates; optionally as a hyper-parameter search).

use crate::api::datasets::{dataset_versions, list_datasets};
use crate::api::training::{
    submit_command, submit_search, submit_training, training_algorithms, training_runs,
};
use crate::components::page::{EmptyState, ErrorBox, Loading, PageHeader};
use domain::datasets::{ColumnInfo, ColumnType, Dataset, DatasetVersion};
use domain::prepare::{ImputeStrategy, SplitSpec, Step, TransformSpec};
use domain::training::{
    AlgorithmInfo, CommandSpec, ParamRange, SearchMethod, SearchSpec, Task, TrainingSpec, TrainingState,
    TrainingSummary,
};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub fn state_badge(state: TrainingState) -> &'static str {
    match state {
        TrainingState::Finished => "badge badge-ok",
        TrainingState::Running => "badge badge-running",
        TrainingState::Failed => "badge badge-alert",
        TrainingState::Cancelled => "badge badge-warn",
        TrainingState::Queued => "badge badge-queued",
    }
}

#[component]
pub fn TrainingPage() -> impl IntoView {
    let runs = Resource::new(|| (), |_| training_runs());
    view! {
        <Title text="Training" />
        <PageHeader title="Training" subtitle="Train built-in models on dataset versions, tune them, and check them against gates" />
        <NewTraining />
        <NewCommandRun />
        <section class="panel">
            <h2>"Training runs"</h2>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match runs.await {
                        Ok(list) if list.is_empty() => view! {
                            <EmptyState title="No training runs yet" hint="Start one with the form above, or through the API:"
                                command="curl -X POST /api/v1/training/runs -d '{\"dataset\":\"credit\",\"target\":\"Status\",\"algorithm\":{\"name\":\"random_forest\"}}'" />
                        }.into_any(),
                        Ok(list) => view! { <RunTable runs=list /> }.into_any(),
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn RunTable(runs: Vec<TrainingSummary>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data" data-testid="training-runs">
                <thead><tr>
                    <th>"Run"</th><th>"Kind"</th><th>"Algorithm"</th><th>"Dataset"</th><th>"State"</th>
                    <th class="num">"Headline metric"</th><th>"Gates"</th><th>"By"</th><th>"Created"</th>
                </tr></thead>
                <tbody>
                    {runs.into_iter().map(|r| {
                        let href = format!("/training/runs/{}", r.run_id);
                        let metric = r.primary_metric.clone().map(|(k, v)| format!("{k} {v:.4}")).unwrap_or_else(|| "—".into());
                        let gates = match r.gates_passed {
                            Some(true) => view! { <span class="badge badge-ok">"passed"</span> }.into_any(),
                            Some(false) => view! { <span class="badge badge-alert">"failed"</span> }.into_any(),
                            None => view! { <span class="muted">"—"</span> }.into_any(),
                        };
                        let progress = (r.state == TrainingState::Running).then(|| format!(" {:.0}%", r.progress * 100.0));
                        view! {
                            <tr>
                                <td><a href=href>{r.run_name.clone()}</a></td>
                                <td>{r.kind.clone()}</td>
                                <td class="mono">{r.algorithm.clone().unwrap_or_default()}</td>
                                <td>{match (r.dataset.clone(), r.dataset_version) {
                                    (Some(d), Some(v)) => format!("{d} v{v}"),
                                    _ => "—".into(),
                                }}</td>
                                <td><span class=state_badge(r.state)>{r.state.as_str()}</span>{progress}</td>
                                <td class="num">{metric}</td>
                                <td>{gates}</td>
                                <td>{r.created_by.clone().unwrap_or_default()}</td>
                                <td class="muted">{r.created_at.format("%Y-%m-%d %H:%M").to_string()}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// One hyper-parameter's row in the form: its value, and for a search, its range.
#[derive(Clone, Debug)]
struct ParamRow {
    /// Unique per row ever made: the list is rebuilt (with new signals) when the
    /// algorithm changes, and `<For>` must not keep a row bound to old signals.
    id: u64,
    name: String,
    default: Value,
    value: RwSignal<String>,
    search: RwSignal<bool>,
    low: RwSignal<String>,
    high: RwSignal<String>,
    log: RwSignal<bool>,
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A sensible search range around a default: fractions in (0, 1], counts from a
/// quarter to four times, penalties over four decades.
fn default_range(name: &str, default: &Value) -> (String, String, bool) {
    match default {
        _ if name.ends_with("fraction") || name == "l1_ratio" => ("0.1".into(), "1".into(), false),
        Value::Number(n) if n.is_u64() || n.is_i64() => {
            let d = n.as_f64().unwrap_or(1.0).max(1.0);
            (((d / 4.0).round().max(1.0)).to_string(), (d * 4.0).round().to_string(), false)
        }
        Value::Number(n) => {
            let d = n.as_f64().unwrap_or(1.0);
            if d > 0.0 {
                (format!("{:e}", d / 100.0), format!("{:e}", d * 10.0), true)
            } else {
                ("0".into(), "1".into(), false)
            }
        }
        Value::Null if name == "max_depth" => ("2".into(), "12".into(), false),
        _ => (String::new(), String::new(), false),
    }
}

static NEXT_ROW: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn rows_for(info: &AlgorithmInfo) -> Vec<ParamRow> {
    info.defaults
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let (low, high, log) = default_range(k, v);
                    ParamRow {
                        id: NEXT_ROW.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                        name: k.clone(),
                        default: v.clone(),
                        value: RwSignal::new(value_text(v)),
                        search: RwSignal::new(false),
                        low: RwSignal::new(low),
                        high: RwSignal::new(high),
                        log: RwSignal::new(log),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The typed value of a param's text, guided by its default's JSON type.
fn parse_value(row: &ParamRow, text: &str) -> Result<Value, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(Value::Null);
    }
    match &row.default {
        Value::Bool(_) => match t {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("{}: write true or false", row.name)),
        },
        Value::String(_) => Ok(Value::String(t.to_string())),
        _ => t
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| t.parse::<f64>().map(Value::from))
            .map_err(|_| format!("{}: `{t}` is not a number", row.name)),
    }
}

fn is_integer(row: &ParamRow) -> bool {
    matches!(&row.default, Value::Number(n) if n.is_u64() || n.is_i64()) || row.name == "max_depth"
}

fn range_of(row: &ParamRow) -> Result<ParamRange, String> {
    if let Value::String(_) | Value::Bool(_) = row.default {
        let values = row.low.get_untracked();
        let values: Vec<Value> = values
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| parse_value(row, v))
            .collect::<Result<_, _>>()?;
        return Ok(ParamRange::Choice { values });
    }
    let num = |s: String, what: &str| {
        s.trim().parse::<f64>().map_err(|_| format!("{}: the {what} of the range is not a number", row.name))
    };
    let (low, high) = (num(row.low.get_untracked(), "low end")?, num(row.high.get_untracked(), "high end")?);
    Ok(if is_integer(row) {
        ParamRange::Int { low: low as i64, high: high as i64 }
    } else if row.log.get_untracked() {
        ParamRange::LogUniform { low, high }
    } else {
        ParamRange::Uniform { low, high }
    })
}

/// The preparation the form's options describe.
#[allow(clippy::too_many_arguments)]
fn preparation(
    columns: &[ColumnInfo],
    target: Option<&str>,
    task: Task,
    impute: bool,
    encode: bool,
    scale: bool,
    test_fraction: f64,
    seed: u64,
) -> TransformSpec {
    let text: Vec<String> = columns
        .iter()
        .filter(|c| c.column_type == ColumnType::String && Some(c.name.as_str()) != target)
        .map(|c| c.name.clone())
        .collect();
    let mut steps = Vec::new();
    if impute {
        steps.push(Step::Impute { strategy: ImputeStrategy::Median, columns: None });
        if !text.is_empty() {
            steps.push(Step::Impute { strategy: ImputeStrategy::MostFrequent, columns: Some(text.clone()) });
        }
    }
    if scale {
        steps.push(Step::StandardScale { columns: None });
    }
    if encode && !text.is_empty() {
        steps.push(Step::OneHot { columns: text, max_categories: Some(20) });
    }
    let split = match (task, target) {
        (Task::Classification, Some(t)) => {
            SplitSpec::Stratified { column: t.to_string(), test_fraction, seed }
        }
        _ => SplitSpec::Random { test_fraction, seed },
    };
    TransformSpec { target: target.map(str::to_string), steps, split: Some(split) }
}

#[component]
fn NewTraining() -> impl IntoView {
    let datasets = Resource::new(|| (), |_| list_datasets());
    let algorithms = Resource::new(|| (), |_| training_algorithms());
    view! {
        <section class="panel" data-testid="new-training">
            <details open>
                <summary><h2 class="inline">"New training run"</h2></summary>
                <Suspense fallback=Loading>
                    {move || Suspend::new(async move {
                        match (datasets.await, algorithms.await) {
                            (Ok(ds), _) if ds.is_empty() => view! {
                                <p class="muted">"Upload a dataset first: " <a href="/datasets">"Datasets"</a></p>
                            }.into_any(),
                            (Ok(ds), Ok(algos)) => view! { <TrainingForm datasets=ds algorithms=algos /> }.into_any(),
                            (Err(e), _) | (_, Err(e)) => view! { <ErrorBox error=e /> }.into_any(),
                        }
                    })}
                </Suspense>
            </details>
        </section>
    }
}

#[component]
fn TrainingForm(datasets: Vec<Dataset>, algorithms: Vec<AlgorithmInfo>) -> impl IntoView {
    let dataset = RwSignal::new(datasets.first().map(|d| d.name.clone()).unwrap_or_default());
    let dataset_ids: StoredValue<Vec<(String, domain::DatasetId)>> =
        StoredValue::new(datasets.iter().map(|d| (d.name.clone(), d.dataset_id)).collect());
    // Loaded in the browser only (effects do not run on the server), so the
    // server-rendered form and the hydrating one agree: both start without versions.
    let versions = RwSignal::new(Vec::<DatasetVersion>::new());
    Effect::new(move |_| {
        let name = dataset.get();
        let id = dataset_ids.with_value(|ids| ids.iter().find(|(n, _)| *n == name).map(|(_, id)| *id));
        if let Some(id) = id {
            spawn_local(async move {
                if let Ok(mut vs) = dataset_versions(id).await {
                    vs.sort_by_key(|v| -v.version);
                    versions.set(vs);
                }
            });
        }
    });
    let version = RwSignal::new(String::new());
    let target = RwSignal::new(String::new());
    let excluded = RwSignal::new(Vec::<String>::new());
    let algorithm = RwSignal::new(algorithms.first().map(|a| a.name.clone()).unwrap_or_default());
    let algorithms = StoredValue::new(algorithms);
    let params = RwSignal::new(Vec::<ParamRow>::new());
    Effect::new(move |_| {
        let name = algorithm.get();
        let rows =
            algorithms.with_value(|a| a.iter().find(|x| x.name == name).map(rows_for).unwrap_or_default());
        params.set(rows);
    });
    let task = move || {
        let name = algorithm.get();
        algorithms
            .with_value(|a| a.iter().find(|x| x.name == name).map(|x| x.task))
            .unwrap_or(Task::Classification)
    };
    let (impute, encode, scale) = (RwSignal::new(true), RwSignal::new(true), RwSignal::new(true));
    let test_fraction = RwSignal::new("0.2".to_string());
    let seed = RwSignal::new("42".to_string());
    let slice = RwSignal::new(String::new());
    let gates = RwSignal::new(String::new());
    let yaml = RwSignal::new(String::new());
    let run_name = RwSignal::new(String::new());
    let search = RwSignal::new(false);
    let method = RwSignal::new("random".to_string());
    let n_trials = RwSignal::new("20".to_string());
    let cv_folds = RwSignal::new(String::new());
    let objective = RwSignal::new(String::new());
    let baseline = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let navigate = use_navigate();

    // The chosen version's columns (latest when none is chosen).
    let columns = move || -> Vec<ColumnInfo> {
        let chosen = version.get();
        versions.with(|vs| {
            vs.iter()
                .find(|v| v.version.to_string() == chosen)
                .or_else(|| vs.iter().max_by_key(|v| v.version))
                .map(|v| v.columns.clone())
                .unwrap_or_default()
        })
    };

    let build = move || -> Result<(TrainingSpec, Option<SearchSpec>), String> {
        let cols = columns();
        let tgt = Some(target.get_untracked()).filter(|t| !t.is_empty());
        let task = task();
        if tgt.is_none() && task != Task::Clustering {
            return Err("choose the target column to predict".into());
        }
        let excluded = excluded.get_untracked();
        let features: Vec<String> = if excluded.is_empty() {
            Vec::new()
        } else {
            cols.iter()
                .map(|c| c.name.clone())
                .filter(|n| Some(n) != tgt.as_ref() && !excluded.contains(n))
                .collect()
        };
        let used: Vec<ColumnInfo> = cols
            .iter()
            .filter(|c| features.is_empty() || features.contains(&c.name) || Some(&c.name) == tgt.as_ref())
            .cloned()
            .collect();
        let fraction: f64 = test_fraction
            .get_untracked()
            .trim()
            .parse()
            .ok()
            .filter(|f: &f64| *f > 0.0 && *f < 1.0)
            .ok_or("test fraction must be a number between 0 and 1, e.g. 0.2")?;
        let seed: u64 = seed.get_untracked().trim().parse().map_err(|_| "seed must be a whole number")?;
        let mut algo = Map::new();
        algo.insert("name".into(), Value::String(algorithm.get_untracked()));
        let mut space = BTreeMap::new();
        for row in params.get_untracked() {
            if search.get_untracked() && row.search.get_untracked() {
                space.insert(row.name.clone(), range_of(&row)?);
            } else {
                let v = parse_value(&row, &row.value.get_untracked())?;
                if !v.is_null() || row.default.is_null() {
                    algo.insert(row.name.clone(), v);
                }
            }
        }
        let version_num = version.get_untracked().parse::<i32>().ok();
        let spec = TrainingSpec {
            dataset: dataset.get_untracked(),
            version: version_num,
            experiment: None,
            run_name: Some(run_name.get_untracked()).filter(|n| !n.trim().is_empty()),
            target: tgt.clone(),
            features,
            prepare: preparation(
                &used,
                tgt.as_deref(),
                task,
                impute.get_untracked(),
                encode.get_untracked(),
                scale.get_untracked(),
                fraction,
                seed,
            ),
            algorithm: Value::Object(algo),
            seed,
            slice_column: Some(slice.get_untracked()).filter(|s| !s.is_empty()),
            gates: gates
                .get_untracked()
                .lines()
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(str::to_string)
                .collect(),
            baseline_run: Some(baseline.get_untracked().trim().to_string()).filter(|b| !b.is_empty()),
            cv_folds: None,
            auto_prepare: false,
        };
        if !search.get_untracked() {
            return Ok((spec, None));
        }
        if space.is_empty() {
            return Err("tick \"search\" on at least one hyper-parameter to search over".into());
        }
        let n: usize =
            n_trials.get_untracked().trim().parse().map_err(|_| "trials must be a whole number")?;
        let cv = match cv_folds.get_untracked().trim() {
            "" => None,
            k => Some(k.parse::<usize>().map_err(|_| "folds must be a whole number")?),
        };
        let method = if method.get_untracked() == "grid" { SearchMethod::Grid } else { SearchMethod::Random };
        let search =
            SearchSpec { base: spec.clone(), method, space, n_trials: n, objective: None, cv_folds: cv };
        Ok((spec, Some(search)))
    };

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let built = build();
        let navigate = navigate.clone();
        let (spec, search_spec) = match built {
            Ok(b) => b,
            Err(m) => {
                error.set(Some(m));
                return;
            }
        };
        let text = yaml.get_untracked();
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let result = match search_spec {
                Some(s) => submit_search(serde_json::to_string(&s).unwrap_or_default(), text).await,
                None => submit_training(serde_json::to_string(&spec).unwrap_or_default(), text).await,
            };
            match result {
                Ok(made) => navigate(&format!("/training/runs/{}", made.run_id), Default::default()),
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };

    view! {
        <form on:submit=submit class="stack" data-testid="training-form">
            <div class="form-row">
                <label><span>"Dataset"</span>
                    <select aria-label="dataset" on:change=move |ev| { dataset.set(event_target_value(&ev)); version.set(String::new()); target.set(String::new()); excluded.set(Vec::new()); }>
                        {datasets.iter().map(|d| view! { <option value=d.name.clone()>{d.name.clone()}</option> }).collect_view()}
                    </select>
                </label>
                <label><span>"Version"</span>
                    <select aria-label="version" on:change=move |ev| version.set(event_target_value(&ev))>
                        {move || versions.get().into_iter().map(|v| view! {
                            <option value=v.version.to_string()>{format!("v{} ({} rows)", v.version, v.n_rows)}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label><span>"Algorithm"</span>
                    <select aria-label="algorithm" on:change=move |ev| {
                        let chosen = event_target_value(&ev);
                        if algorithm.get_untracked() != chosen { algorithm.set(chosen) }
                    }>
                        {algorithms.with_value(|a| a.iter().map(|a| view! {
                            <option value=a.name.clone()>{format!("{} — {}", a.label, a.task.as_str())}</option>
                        }).collect_view())}
                    </select>
                </label>
                <label><span>"Target"</span>
                    <select aria-label="target" on:change=move |ev| target.set(event_target_value(&ev)) prop:value=move || target.get()>
                        <option value="">{move || if task() == Task::Clustering { "(none: clustering)" } else { "— choose —" }}</option>
                        {move || columns().into_iter().map(|c| view! {
                            <option value=c.name.clone()>{format!("{} ({})", c.name, c.column_type)}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label><span>"Run name (optional)"</span><input bind:value=run_name placeholder="credit-rf" /></label>
            </div>

            <fieldset class="features">
                <legend>"Features " <span class="muted">"(untick to leave a column out)"</span></legend>
                <div class="checks">
                    {move || {
                        let tgt = target.get();
                        columns().into_iter().filter(|c| c.name != tgt).map(|c| {
                            let name = c.name.clone();
                            let n2 = name.clone();
                            view! {
                                <label class="check">
                                    <input type="checkbox" prop:checked=move || !excluded.get().contains(&name)
                                        on:change=move |ev| {
                                            let on = event_target_checked(&ev);
                                            excluded.update(|x| { x.retain(|n| *n != n2); if !on { x.push(n2.clone()); } });
                                        } />
                                    <span class="mono">{c.name.clone()}</span>
                                </label>
                            }
                        }).collect_view()
                    }}
                </div>
            </fieldset>

            <fieldset>
                <legend>"Preparation"</legend>
                <div class="form-row">
                    <label class="check"><input type="checkbox" bind:checked=impute />"Fill missing values (median; most frequent for text)"</label>
                    <label class="check"><input type="checkbox" bind:checked=encode />"One-hot encode text columns"</label>
                    <label class="check"><input type="checkbox" bind:checked=scale />"Standardise numeric columns"</label>
                    <label><span>"Test fraction"</span><input bind:value=test_fraction size="4" aria-label="test fraction" /></label>
                    <label><span>"Seed"</span><input bind:value=seed size="6" aria-label="seed" /></label>
                </div>
                <details>
                    <summary class="muted">"Or write the preparation spec (YAML; replaces the options above)"</summary>
                    <textarea rows="6" class="code" bind:value=yaml aria-label="preparation spec"></textarea>
                </details>
            </fieldset>

            <fieldset>
                <legend>"Hyper-parameters"</legend>
                <label class="check"><input type="checkbox" bind:checked=search data-testid="search-toggle" />"Hyper-parameter search"</label>
                <table class="data params">
                    <thead><tr><th>"Parameter"</th><th>"Value"</th>
                        {move || search.get().then(|| view! { <th>"Search"</th><th>"From / choices"</th><th>"To"</th><th>"Log"</th> })}
                    </tr></thead>
                    <tbody>
                        <For each=move || params.get() key=|r| r.id let:row>
                            <tr>
                                <td class="mono">{row.name.clone()}</td>
                                <td><input bind:value=row.value aria-label=row.name.clone() placeholder="none" /></td>
                                {move || search.get().then(|| view! {
                                    <td><input type="checkbox" bind:checked=row.search aria-label=format!("search {}", row.name) /></td>
                                    <td><input bind:value=row.low size="8" aria-label=format!("{} from", row.name) /></td>
                                    <td><input bind:value=row.high size="8" aria-label=format!("{} to", row.name) /></td>
                                    <td><input type="checkbox" bind:checked=row.log /></td>
                                })}
                            </tr>
                        </For>
                    </tbody>
                </table>
                {move || search.get().then(|| view! {
                    <div class="form-row">
                        <label><span>"Method"</span>
                            <select bind:value=method aria-label="search method">
                                <option value="random">"random"</option>
                                <option value="grid">"grid"</option>
                            </select>
                        </label>
                        <label><span>"Trials"</span><input bind:value=n_trials size="4" aria-label="trials" /></label>
                        <label><span>"Cross-validation folds (optional)"</span><input bind:value=cv_folds size="4" aria-label="folds" placeholder="e.g. 5" /></label>
                        <label><span>"Objective (default: ROC AUC, macro F1 or R²)"</span><input bind:value=objective aria-label="objective" placeholder="e.g. pr_auc, rmse" /></label>
                    </div>
                })}
            </fieldset>

            <fieldset>
                <legend>"Evaluation"</legend>
                <div class="form-row">
                    <label><span>"Slice metrics by (optional)"</span>
                        <select aria-label="slice column" on:change=move |ev| slice.set(event_target_value(&ev))>
                            <option value="">"— none —"</option>
                            {move || columns().into_iter().filter(|c| c.column_type == ColumnType::String).map(|c| view! {
                                <option value=c.name.clone()>{c.name.clone()}</option>
                            }).collect_view()}
                        </select>
                    </label>
                    <label><span>"Baseline run (for baseline gates)"</span><input bind:value=baseline aria-label="baseline run" placeholder="run id" /></label>
                    <label class="grow"><span>"Validation gates, one per line"</span>
                        <textarea rows="3" class="code" bind:value=gates aria-label="gates"
                            placeholder="roc_auc >= 0.8\nslice accuracy >= 0.6\nroc_auc >= baseline - 0.5%"></textarea>
                    </label>
                </div>
            </fieldset>

            <div class="form-row">
                <button type="submit" class="btn btn-primary" disabled=move || busy.get()>
                    {move || match (busy.get(), search.get()) {
                        (true, _) => "Submitting…",
                        (false, true) => "Start search",
                        (false, false) => "Train",
                    }}
                </button>
            </div>
            {move || error.get().map(|m| view! { <p class="callout callout-alert" role="alert" data-testid="training-error">{m}</p> })}
        </form>
    }
}

/// Runs user code under the command-trainer contract (`examples/command-trainer`).
#[component]
fn NewCommandRun() -> impl IntoView {
    // Loaded in the browser only: a <select>'s options cannot wait in a Suspense
    // (its markers do not survive inside <select>, so hydration would fail).
    let names = RwSignal::new(Vec::<String>::new());
    Effect::new(move |_| {
        spawn_local(async move {
            if let Ok(ds) = list_datasets().await {
                names.set(ds.into_iter().map(|d| d.name).collect());
            }
        });
    });
    let dataset = RwSignal::new(String::new());
    let target = RwSignal::new(String::new());
    let command = RwSignal::new(String::new());
    let params = RwSignal::new("{}".to_string());
    let timeout = RwSignal::new("3600".to_string());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let navigate = use_navigate();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let navigate = navigate.clone();
        let params: Result<Map<String, Value>, String> = serde_json::from_str(&params.get_untracked())
            .map_err(|e| format!("params must be a JSON object such as {{\"C\": 0.5}}: {e}"));
        let timeout_s: Result<u64, String> = timeout
            .get_untracked()
            .trim()
            .parse()
            .map_err(|_| "the timeout must be a whole number of seconds".to_string());
        let (params, timeout_s) = match (params, timeout_s) {
            (Ok(p), Ok(t)) => (p, t),
            (Err(m), _) | (_, Err(m)) => {
                error.set(Some(m));
                return;
            }
        };
        let spec = CommandSpec {
            dataset: dataset.get_untracked(),
            version: None,
            experiment: None,
            run_name: None,
            target: Some(target.get_untracked().trim().to_string()).filter(|t| !t.is_empty()),
            command: command.get_untracked().split_whitespace().map(str::to_string).collect(),
            params,
            timeout_s,
        };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match submit_command(serde_json::to_string(&spec).unwrap_or_default()).await {
                Ok(made) => navigate(&format!("/training/runs/{}", made.run_id), Default::default()),
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="panel" data-testid="new-command">
            <details>
                <summary><h2 class="inline">"Run your own training code"</h2>
                    <span class="muted">" — any program allowed by CAIRN_COMMAND_ALLOW, under the file contract in examples/command-trainer"</span></summary>
                <form on:submit=submit class="stack" data-testid="command-form">
                    <div class="form-row">
                        <label><span>"Dataset"</span>
                            <select aria-label="command dataset" on:change=move |ev| dataset.set(event_target_value(&ev))>
                                <option value="">"— choose —"</option>
                                {move || names.get().into_iter().map(|n| view! {
                                    <option value=n.clone()>{n.clone()}</option>
                                }).collect_view()}
                            </select>
                        </label>
                        <label><span>"Target (optional)"</span><input bind:value=target aria-label="command target" placeholder="Status" /></label>
                        <label><span>"Timeout (s)"</span><input bind:value=timeout size="6" aria-label="timeout" /></label>
                    </div>
                    <label><span>"Command (program and arguments; paths absolute on the worker)"</span>
                        <input bind:value=command class="code" aria-label="command" placeholder="/opt/venv/bin/python /srv/ml/train.py" /></label>
                    <label><span>"Params (JSON object; given as params.json and CAIRN_PARAM_<NAME>)"</span>
                        <textarea rows="2" class="code" bind:value=params aria-label="command params"></textarea></label>
                    <div class="form-row">
                        <button type="submit" class="btn btn-primary" disabled=move || busy.get()>
                            {move || if busy.get() { "Submitting…" } else { "Run" }}
                        </button>
                    </div>
                    {move || error.get().map(|m| view! { <p class="callout callout-alert" role="alert" data-testid="command-error">{m}</p> })}
                </form>
            </details>
        </section>
    }
}
