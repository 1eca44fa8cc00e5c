//! Datasets: the list (with "new dataset from a file"), one dataset (versions,
//! upload of a new version, schema editor, validations).

use crate::api::datasets::{
    CreateDataSource, create_dataset, dataset_versions, get_dataset, import_version, list_data_sources,
    list_datasets, load_dataset_schema, save_schema,
};
use crate::components::page::{EmptyState, ErrorBox, Loading, PageHeader, StatCard};
use crate::format;
use crate::upload::upload_file;
use domain::DatasetId;
use domain::datasets::{ColumnType, DatasetSchema, DatasetVersion};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};

pub(crate) fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// Upload state shared by the two upload forms.
#[derive(Clone, Debug, PartialEq)]
enum Upload {
    Idle,
    Sending(f64),
    Failed(String),
}

#[component]
fn ProgressBar(state: RwSignal<Upload>) -> impl IntoView {
    move || {
        match state.get() {
        Upload::Idle => None,
        Upload::Sending(f) => Some(
            view! {
                <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=format!("{:.0}", f * 100.0) data-testid="upload-progress">
                    <div class="progress-fill" style=format!("width:{:.1}%", f * 100.0)></div>
                    <span class="progress-label">{if f >= 1.0 { "Profiling…".to_string() } else { format!("{:.0}% uploaded", f * 100.0) }}</span>
                </div>
            }
            .into_any(),
        ),
        Upload::Failed(m) => Some(view! { <p class="callout callout-alert" role="alert" data-testid="upload-error">{m}</p> }.into_any()),
    }
    }
}

/// Starts an upload of the file in `input_id` as a new version of `dataset`; on
/// success goes to the new (or existing, same-content) version's page.
fn start_upload(input_id: &'static str, dataset: DatasetId, types: String, state: RwSignal<Upload>) {
    let navigate = use_navigate();
    let mut url = format!("/api/v1/datasets/{dataset}/versions");
    if !types.trim().is_empty() {
        url.push_str(&format!(
            "?types={}",
            form_urlencoded::byte_serialize(types.as_bytes()).collect::<String>()
        ));
    }
    state.set(Upload::Sending(0.0));
    let started = upload_file(
        input_id,
        url,
        move |f| state.set(Upload::Sending(f)),
        move |r| match r {
            Ok(made) => {
                state.set(Upload::Idle);
                navigate(
                    &format!("/datasets/{}/versions/{}", dataset, made.version.version),
                    Default::default(),
                );
            }
            Err(m) => state.set(Upload::Failed(m)),
        },
    );
    if let Err(m) = started {
        state.set(Upload::Failed(m));
    }
}

/// Registered Postgres sources that versions can be imported from.
#[component]
fn DataSources() -> impl IntoView {
    let create = ServerAction::<CreateDataSource>::new();
    let sources = Resource::new(move || create.version().get(), |_| list_data_sources());
    view! {
        <section class="panel">
            <h2>"SQL data sources"</h2>
            <leptos::form::ActionForm action=create attr:class="form-row">
                <label><span>"Name"</span><input name="name" required placeholder="warehouse" /></label>
                <label class="grow"><span>"Connection"</span>
                    <input name="connection" required placeholder="postgres://reader:…@db.internal:5432/warehouse or env:WAREHOUSE_URL" />
                </label>
                <button type="submit" class="btn">"Register"</button>
            </leptos::form::ActionForm>
            <p class="hint">"Passwords are stored encrypted with CAIRN_SECRET_KEY; hosts must be in CAIRN_SQL_SOURCE_ALLOW."</p>
            {move || create.value().with(crate::error::error_text).map(|m| view! { <p class="callout callout-alert" role="alert">{m}</p> })}
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match sources.await {
                        Ok(l) if l.is_empty() => view! { <p class="muted">"No sources registered."</p> }.into_any(),
                        Ok(l) => view! {
                            <table class="data">
                                <thead><tr><th scope="col">"Name"</th><th scope="col">"Connection"</th><th scope="col">"Added by"</th></tr></thead>
                                <tbody>{l.into_iter().map(|s| view! {
                                    <tr><td>{s.name}</td><td><code>{s.connection}</code></td><td>{s.created_by.unwrap_or_default()}</td></tr>
                                }).collect_view()}</tbody>
                            </table>
                        }.into_any(),
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
pub fn DatasetsPage() -> impl IntoView {
    let datasets = Resource::new(|| (), |_| list_datasets());
    let name = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let state = RwSignal::new(Upload::Idle);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (n, d) = (name.get_untracked(), description.get_untracked());
        state.set(Upload::Sending(0.0));
        spawn_local(async move {
            match create_dataset(n, d).await {
                Ok(ds) => start_upload("new-dataset-file", ds.dataset_id, String::new(), state),
                Err(e) => state.set(Upload::Failed(e.to_string())),
            }
        });
    };
    view! {
        <Title text="Datasets" />
        <PageHeader title="Datasets" subtitle="Versioned, profiled data: every version is immutable and content-addressed." />
        <section class="panel">
            <h2>"New dataset from a file"</h2>
            <form class="form-row" on:submit=submit data-testid="new-dataset-form">
                <label>
                    <span>"Name"</span>
                    <input name="name" required maxlength="100" placeholder="credit-applications" bind:value=name />
                </label>
                <label class="grow">
                    <span>"Description"</span>
                    <input name="description" placeholder="Where the data comes from" bind:value=description />
                </label>
                <label>
                    <span>"File (CSV, CSV.gz or Parquet)"</span>
                    <input id="new-dataset-file" type="file" required accept=".csv,.gz,.parquet,.pq,text/csv" />
                </label>
                <button type="submit" class="btn btn-primary" disabled=move || matches!(state.get(), Upload::Sending(_))>"Upload"</button>
            </form>
            <ProgressBar state />
        </section>
        <section class="panel">
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match datasets.await {
                        Ok(list) if list.is_empty() => view! {
                            <EmptyState title="No datasets yet" hint="Upload a file above, or with the API:"
                                command="curl -X POST -H \"Authorization: Bearer $CAIRN_TOKEN\" --data-binary @data.csv 'http://127.0.0.1:3000/api/v1/datasets/<name>/versions?file_name=data.csv'" />
                        }.into_any(),
                        Ok(list) => view! {
                            <div class="table-wrap">
                                <table class="data" data-testid="datasets-table">
                                    <thead><tr>
                                        <th scope="col">"Name"</th><th scope="col">"Description"</th>
                                        <th scope="col" class="num">"Versions"</th><th scope="col" class="num">"Rows (latest)"</th>
                                        <th scope="col">"Updated"</th><th scope="col">"Created by"</th>
                                    </tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|d| view! {
                                            <tr>
                                                <td><a href=format!("/datasets/{}", d.dataset_id)>{d.name.clone()}</a></td>
                                                <td class="muted">{d.description.clone()}</td>
                                                <td class="num">{d.version_count}</td>
                                                <td class="num">{d.latest_rows.map(format::count).unwrap_or_else(|| "–".into())}</td>
                                                <td>{when(d.updated_at)}</td>
                                                <td>{d.created_by.clone().unwrap_or_default()}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any(),
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
        <DataSources />
    }
}

fn dataset_id() -> Memo<Option<DatasetId>> {
    let params = use_params_map();
    Memo::new(move |_| params.with(|p| p.get("id").and_then(|s| s.parse().ok())))
}

#[component]
pub fn DatasetPage() -> impl IntoView {
    let id = dataset_id();
    let dataset = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => get_dataset(id).await,
                None => Err(crate::error::AppError::NotFound("no such dataset".into())),
            }
        },
    );
    let versions = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => dataset_versions(id).await,
                None => Ok(vec![]),
            }
        },
    );
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let (d, vs) = match (dataset.await, versions.await) {
                    (Ok(d), Ok(vs)) => (d, vs),
                    (Err(e), _) | (_, Err(e)) => return view! { <ErrorBox error=e /> }.into_any(),
                };
                let latest = vs.first().map(|v| v.version);
                view! {
                    <Title text=d.name.clone() />
                    <nav class="breadcrumbs" aria-label="Breadcrumb"><a href="/datasets">"Datasets"</a> " / " <span>{d.name.clone()}</span></nav>
                    <PageHeader title=d.name.clone() subtitle=d.description.clone() />
                    <section class="cards">
                        <StatCard label="Versions" value=vs.len().to_string() test_id="version-count" />
                        <StatCard label="Rows (latest)" value=vs.first().map(|v| format::count(v.n_rows)).unwrap_or_else(|| "–".into()) />
                        <StatCard label="Columns (latest)" value=vs.first().map(|v| v.n_cols.to_string()).unwrap_or_else(|| "–".into()) />
                        <StatCard label="Stored (latest)" value=vs.first().map(|v| format::bytes(v.parquet_bytes)).unwrap_or_else(|| "–".into()) hint="Parquet" />
                    </section>
                    <NewVersion dataset=d.dataset_id />
                    <ImportVersion dataset=d.dataset_id />
                    <VersionsTable dataset=d.dataset_id versions=vs.clone() />
                    <crate::pages::validation::ValidationsPanel dataset=d.dataset_id versions=vs.iter().map(|v| v.version).collect() />
                    <SchemaEditor dataset=d.dataset_id latest />
                }.into_any()
            })}
        </Suspense>
    }
}

#[component]
fn NewVersion(dataset: DatasetId) -> impl IntoView {
    let state = RwSignal::new(Upload::Idle);
    let types = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        start_upload("version-file", dataset, types.get_untracked(), state);
    };
    view! {
        <section class="panel">
            <h2>"Upload a new version"</h2>
            <form class="form-row" on:submit=submit data-testid="new-version-form">
                <label>
                    <span>"File (CSV, CSV.gz or Parquet)"</span>
                    <input id="version-file" type="file" required accept=".csv,.gz,.parquet,.pq,text/csv" />
                </label>
                <label class="grow">
                    <span>"Type overrides (optional)"</span>
                    <input name="types" placeholder="zip=string, amount=float" bind:value=types />
                </label>
                <button type="submit" class="btn btn-primary" disabled=move || matches!(state.get(), Upload::Sending(_))>"Upload"</button>
            </form>
            <p class="hint">"Uploading the same file again finds the existing version; nothing is stored twice."</p>
            <ProgressBar state />
        </section>
    }
}

/// A version from a registered SQL source, a path on the server or a URL (each
/// limited by the server's allow-lists).
#[component]
fn ImportVersion(dataset: DatasetId) -> impl IntoView {
    let sources = Resource::new(|| (), |_| list_data_sources());
    let kind = RwSignal::new("sql".to_string());
    let source = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let navigate = use_navigate();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut req = domain::imports::ImportRequest::default();
        let value = text.get_untracked();
        match kind.get_untracked().as_str() {
            "path" => req.path = Some(value),
            "url" => req.url = Some(value),
            _ => req.sql = Some(domain::imports::SqlImport { source: source.get_untracked(), query: value }),
        }
        let navigate = navigate.clone();
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match import_version(dataset, req).await {
                Ok(made) => navigate(
                    &format!("/datasets/{dataset}/versions/{}", made.version.version),
                    Default::default(),
                ),
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="panel">
            <h2>"Import a version"</h2>
            <form class="form-row" on:submit=submit data-testid="import-form">
                <label><span>"From"</span>
                    <select bind:value=kind aria-label="import from">
                        <option value="sql">"SQL query"</option>
                        <option value="path">"File on the server"</option>
                        <option value="url">"URL"</option>
                    </select>
                </label>
                {move || (kind.get() == "sql").then(|| view! {
                    <label><span>"Source"</span>
                        <select bind:value=source aria-label="data source">
                            <option value="">"choose…"</option>
                            <Suspense>
                                {move || Suspend::new(async move {
                                    sources.await.unwrap_or_default().into_iter().map(|s| view! {
                                        <option value=s.name.clone()>{s.name.clone()}</option>
                                    }).collect_view()
                                })}
                            </Suspense>
                        </select>
                    </label>
                })}
                <label class="grow">
                    <span>{move || match kind.get().as_str() { "path" => "Path", "url" => "URL", _ => "Query (read-only)" }}</span>
                    <input required bind:value=text placeholder=move || match kind.get().as_str() {
                        "path" => "/data/exports/credit.csv", "url" => "https://data.example.com/credit.csv", _ => "select * from applications",
                    } />
                </label>
                <button type="submit" class="btn" disabled=move || busy.get()>{move || if busy.get() { "Importing…" } else { "Import" }}</button>
            </form>
            <p class="hint">"SQL runs in a read-only transaction with a statement timeout; paths and URLs must be under the server's CAIRN_DATA_PATH_ALLOW / CAIRN_DATA_URL_ALLOW. Register SQL sources on the Datasets page."</p>
            {move || error.get().map(|m| view! { <p class="callout callout-alert" role="alert" data-testid="import-error">{m}</p> })}
        </section>
    }
}

#[component]
fn VersionsTable(dataset: DatasetId, versions: Vec<DatasetVersion>) -> impl IntoView {
    view! {
        <section class="panel">
            <h2>"Versions"</h2>
            {if versions.is_empty() {
                view! { <p class="muted">"No versions yet: upload a file above."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="data" data-testid="versions-table">
                            <thead><tr>
                                <th scope="col">"Version"</th><th scope="col" class="num">"Rows"</th><th scope="col" class="num">"Columns"</th>
                                <th scope="col">"Source"</th><th scope="col" class="num">"Size"</th><th scope="col">"Content hash"</th>
                                <th scope="col">"Created"</th><th scope="col">"By"</th>
                            </tr></thead>
                            <tbody>
                                {versions.into_iter().map(|v| {
                                    let source = v.source_detail.get("file_name").and_then(|f| f.as_str()).map(str::to_string)
                                        .unwrap_or_else(|| v.source_kind.as_str().to_string());
                                    view! {
                                        <tr>
                                            <td><a href=format!("/datasets/{dataset}/versions/{}", v.version)>{format!("v{}", v.version)}</a></td>
                                            <td class="num">{format::count(v.n_rows)}</td>
                                            <td class="num">{v.n_cols}</td>
                                            <td>{source}</td>
                                            <td class="num" title=format!("{} raw", format::bytes(v.raw_bytes))>{format::bytes(v.parquet_bytes)}</td>
                                            <td><code title=v.content_hash.clone()>{v.content_hash[..12.min(v.content_hash.len())].to_string()}</code></td>
                                            <td>{when(v.created_at)}</td>
                                            <td>{v.created_by.clone().unwrap_or_default()}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}

fn parse_opt_f64(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() { None } else { t.parse().ok() }
}

/// Edits the dataset's schema in place: types, required/nullable, categories and
/// ranges. Without a stored schema it starts from one inferred from the latest version.
#[component]
fn SchemaEditor(dataset: DatasetId, latest: Option<i32>) -> impl IntoView {
    let saved = RwSignal::new(0u32);
    let loaded = Resource::new(move || saved.get(), move |_| load_dataset_schema(dataset, latest));
    let draft: RwSignal<Option<DatasetSchema>> = RwSignal::new(None);
    let status = RwSignal::new(None::<Result<String, String>>);
    let save = move |_| {
        let Some(schema) = draft.get_untracked() else { return };
        spawn_local(async move {
            match save_schema(dataset, schema, latest).await {
                Ok(_) => {
                    status.set(Some(Ok("Schema saved.".into())));
                    saved.update(|n| *n += 1);
                }
                Err(e) => status.set(Some(Err(e.to_string()))),
            }
        });
    };
    view! {
        <section class="panel" data-testid="schema-editor">
            <h2>"Schema"</h2>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    let (stored, inferred) = match loaded.await {
                        Ok(x) => x,
                        Err(e) => return view! { <ErrorBox error=e /> }.into_any(),
                    };
                    let note = match (&stored, latest) {
                        (Some(s), _) => format!(
                            "Saved{}{}.",
                            s.updated_by.as_ref().map(|u| format!(" by {u}")).unwrap_or_default(),
                            s.based_on_version.map(|v| format!(", inferred from v{v}")).unwrap_or_default()
                        ),
                        (None, Some(v)) => format!("Inferred from v{v}; not saved yet. Validation uses it until you save one."),
                        (None, None) => "Upload a version to infer a schema.".into(),
                    };
                    let schema = stored.map(|s| s.schema).or(inferred);
                    draft.set(schema.clone());
                    let Some(schema) = schema else { return view! { <p class="muted">{note}</p> }.into_any() };
                    let rows = schema.columns.iter().enumerate().map(|(i, c)| {
                        let set = move |f: Box<dyn Fn(&mut domain::datasets::ColumnSchema)>| {
                            draft.update(|d| if let Some(col) = d.as_mut().and_then(|d| d.columns.get_mut(i)) { f(col) });
                        };
                        let numeric = c.column_type.is_numeric();
                        let cats = c.categories.as_ref().map(|v| v.join(", ")).unwrap_or_default();
                        view! {
                            <tr>
                                <th scope="row">{c.name.clone()}</th>
                                <td>
                                    <select aria-label=format!("type of {}", c.name) on:change=move |ev| {
                                        if let Ok(t) = event_target_value(&ev).parse::<ColumnType>() { set(Box::new(move |c| c.column_type = t)); }
                                    }>
                                        {ColumnType::ALL.into_iter().map(|t| view! { <option value=t.as_str() selected={c.column_type == t}>{t.as_str()}</option> }).collect_view()}
                                    </select>
                                </td>
                                <td class="center"><input type="checkbox" aria-label=format!("{} required", c.name) checked=c.required
                                    on:change=move |ev| { let v = event_target_checked(&ev); set(Box::new(move |c| c.required = v)); } /></td>
                                <td class="center"><input type="checkbox" aria-label=format!("{} may be missing", c.name) checked=c.nullable
                                    on:change=move |ev| { let v = event_target_checked(&ev); set(Box::new(move |c| c.nullable = v)); } /></td>
                                <td>{(!numeric).then(|| view! {
                                    <input class="wide" aria-label=format!("allowed values of {}", c.name) value=cats placeholder="any value"
                                        on:change=move |ev| {
                                            let text = event_target_value(&ev);
                                            let list: Vec<String> = text.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
                                            set(Box::new(move |c| c.categories = (!list.is_empty()).then(|| list.clone())));
                                        } />
                                })}</td>
                                <td>{numeric.then(|| view! {
                                    <input class="narrow" aria-label=format!("minimum of {}", c.name) value=c.min.map(|v| v.to_string()).unwrap_or_default()
                                        on:change=move |ev| { let v = parse_opt_f64(&event_target_value(&ev)); set(Box::new(move |c| c.min = v)); } />
                                })}</td>
                                <td>{numeric.then(|| view! {
                                    <input class="narrow" aria-label=format!("maximum of {}", c.name) value=c.max.map(|v| v.to_string()).unwrap_or_default()
                                        on:change=move |ev| { let v = parse_opt_f64(&event_target_value(&ev)); set(Box::new(move |c| c.max = v)); } />
                                })}</td>
                            </tr>
                        }
                    }).collect_view();
                    view! {
                        <p class="hint">{note}</p>
                        <div class="table-wrap">
                            <table class="data schema">
                                <thead><tr>
                                    <th scope="col">"Column"</th><th scope="col">"Type"</th><th scope="col">"Required"</th>
                                    <th scope="col">"Nullable"</th><th scope="col">"Allowed values"</th><th scope="col">"Min"</th><th scope="col">"Max"</th>
                                </tr></thead>
                                <tbody>{rows}</tbody>
                            </table>
                        </div>
                        <div class="form-actions">
                            <button class="btn btn-primary" on:click=save data-testid="save-schema">"Save schema"</button>
                            {move || status.get().map(|s| match s {
                                Ok(m) => view! { <span class="toast" role="status">{m}</span> }.into_any(),
                                Err(m) => view! { <span class="field-error" role="alert">{m}</span> }.into_any(),
                            })}
                        </div>
                    }.into_any()
                })}
            </Suspense>
        </section>
    }
}
