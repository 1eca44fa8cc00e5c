//! The model registry: the list of registered models, one model (policy,
//! aliases, versions with their actions, promotion requests, alias history) and
//! one version (signature, evidence, lineage, evaluation, model card).
//!
//! Buttons follow the user's role for convenience only; the services decide.

use crate::api::datasets::resolve_dataset;
use crate::api::get_me;
use crate::api::registry::{
    create_model, get_model_detail, get_model_version, list_models, register_version, rollback,
    save_model_card, set_alias,
};
use crate::api::training::training_run;
use crate::components::evaluation::GateTable;
use crate::components::markdown::Markdown;
use crate::components::page::{EmptyState, ErrorBox, Loading, PageHeader, StatCard};
use crate::error::AppError;
use crate::pages::datasets::when;
use crate::pages::training_run::{EvaluationView, HEADLINE};
use domain::auth::Role;
use domain::registry::{
    AliasInfo, AliasOutcome, ModelDetail, ModelFormat, ModelVersion, PromotionRequest, PromotionState,
    RegisteredModel, SourceKind,
};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use std::collections::BTreeMap;

// ---- Shared by the registry pages ----

pub fn promotion_badge(state: PromotionState) -> &'static str {
    match state {
        PromotionState::Pending => "badge badge-warn",
        PromotionState::Approved => "badge badge-ok",
        PromotionState::Rejected => "badge badge-alert",
        PromotionState::Cancelled => "badge badge-queued",
    }
}

/// "1 of 2" approvals so far.
pub fn approvals_text(r: &PromotionRequest) -> String {
    let approved = r.reviews.iter().filter(|v| v.decision == domain::registry::Decision::Approve).count();
    format!("{approved} of {}", r.required_approvals)
}

pub fn version_href(model: &str, version: i32) -> String {
    format!("/models/{model}/versions/{version}")
}

/// Aliases as chips; protected ones (production) stand out with a lock.
pub fn alias_chips(aliases: Vec<(String, bool)>) -> impl IntoView {
    aliases
        .into_iter()
        .map(|(a, protected)| {
            let class = if protected { "chip chip-protected" } else { "chip" };
            let title = if protected { "protected: moves only through an approved request" } else { "" };
            view! { <span class=class title=title>{protected.then(lock)}{a}</span> }
        })
        .collect_view()
}

/// A small padlock for protected aliases (text says it too: the chip's title).
fn lock() -> impl IntoView {
    view! {
        <svg class="lock" viewBox="0 0 24 24" width="11" height="11" aria-hidden="true">
            <path d="M6 11h12v10H6zM8 11V7a4 4 0 0 1 8 0v4" />
        </svg>
    }
}

/// The metrics worth a column: the first two headline metrics any version has.
pub fn metric_columns<'a>(metrics: impl Iterator<Item = &'a BTreeMap<String, f64>> + Clone) -> Vec<String> {
    let mut names: Vec<String> = HEADLINE
        .iter()
        .filter(|h| metrics.clone().any(|m| m.contains_key(**h)))
        .take(2)
        .map(|h| h.to_string())
        .collect();
    if names.is_empty() {
        names = metrics.flat_map(|m| m.keys().cloned()).take(2).collect();
    }
    names
}

pub fn metric_text(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "—".into())
}

/// True for versions made by Cairn's own training (they have a training run page).
pub fn is_training_run(v: &ModelVersion) -> bool {
    v.source_kind == SourceKind::Run && v.format == ModelFormat::Cairn && v.run_id.is_some()
}

/// Where the version came from, as a link to its run when it has one.
pub fn source_link(v: &ModelVersion) -> AnyView {
    match v.run_id {
        Some(run) if is_training_run(v) => {
            let id = run.simple().to_string();
            view! { <a href=format!("/training/runs/{id}") title=v.source.clone()>"training run " <span class="mono">{id[..8].to_string()}</span></a> }
                .into_any()
        }
        Some(run) => {
            let id = run.simple().to_string();
            view! { <a href=format!("/runs/{id}") title=v.source.clone()>"run " <span class="mono">{id[..8].to_string()}</span></a> }
                .into_any()
        }
        None => {
            view! { <span class="mono ellipsis" title=v.source.clone()>{v.source.clone()}</span> }.into_any()
        }
    }
}

/// The format as a badge that also says whether Cairn serves it (the reason in its tooltip).
pub fn format_badges(v: &ModelVersion) -> impl IntoView + use<> {
    let format = v.format.as_str();
    match &v.not_servable_reason {
        None => view! {
            <span class="badge badge-ok nowrap" title=format!("{format} bundle: Cairn can serve it")>{format!("{format} · servable")}</span>
        }
        .into_any(),
        Some(why) => view! {
            <span class="badge badge-warn nowrap" title=why.clone()>{format!("{format} · not servable")}</span>
        }
        .into_any(),
    }
}

pub fn gates_badge(passed: Option<bool>) -> AnyView {
    match passed {
        Some(true) => view! { <span class="badge badge-ok nowrap">"gates passed"</span> }.into_any(),
        Some(false) => view! { <span class="badge badge-alert nowrap">"gates failed"</span> }.into_any(),
        None => view! { <span class="muted nowrap">"no gates"</span> }.into_any(),
    }
}

/// The gate verdict in a table whose column already says "Gates".
fn gates_cell(passed: Option<bool>) -> AnyView {
    match passed {
        Some(true) => view! { <span class="badge badge-ok">"passed"</span> }.into_any(),
        Some(false) => view! { <span class="badge badge-alert">"failed"</span> }.into_any(),
        None => view! { <span class="muted">"none"</span> }.into_any(),
    }
}

fn role_of(me: Result<Option<domain::auth::Me>, AppError>) -> Role {
    me.ok().flatten().map(|m| m.role).unwrap_or(Role::Viewer)
}

// ---- /models ----

#[component]
pub fn ModelsPage() -> impl IntoView {
    let search = RwSignal::new(String::new());
    let created = RwSignal::new(0u32);
    let models = Resource::new(move || (search.get(), created.get()), |(s, _)| list_models(s));
    let me = Resource::new(|| (), |_| get_me());
    view! {
        <Title text="Models" />
        <PageHeader title="Models" subtitle="Registered models, their numbered versions, and which version each alias serves." />
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                (role_of(me.await) >= Role::Editor).then(|| view! { <NewModel created /> })
            })}
        </Suspense>
        <section class="panel">
            <div class="panel-head">
                <h2>"Registered models"</h2>
                <input type="search" class="search" placeholder="Filter by name or description" aria-label="Filter models"
                    on:input=move |ev| search.set(event_target_value(&ev)) prop:value=move || search.get() />
            </div>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match models.await {
                        Ok(list) if list.is_empty() && !search.get_untracked().is_empty() => view! {
                            <p class="muted">"No model matches this filter."</p>
                        }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <EmptyState title="No models registered yet"
                                hint="Create one with “New model”, then register a training run as its first version — or through the API:"
                                command="curl -X POST /api/v1/models -d '{\"name\":\"credit\"}'\ncurl -X POST /api/v1/models/credit/versions -d '{\"source\":\"runs:/<run id>/model\"}'" />
                        }.into_any(),
                        Ok(list) => view! { <ModelTable models=list /> }.into_any(),
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ModelTable(models: Vec<RegisteredModel>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data" data-testid="models-table">
                <thead><tr>
                    <th scope="col">"Name"</th><th scope="col">"Description"</th><th scope="col" class="num">"Latest"</th>
                    <th scope="col" class="num">"Versions"</th><th scope="col">"Aliases"</th><th scope="col" class="num">"Pending"</th>
                    <th scope="col">"Updated (UTC)"</th>
                </tr></thead>
                <tbody>
                    {models.into_iter().map(|m| {
                        let mut aliases = m.aliases.clone();
                        aliases.sort_by_key(|a| (!a.protected, a.alias.clone()));
                        let chips: Vec<(String, bool)> = aliases.iter().map(|a| (format!("{} → v{}", a.alias, a.version), a.protected)).collect();
                        view! {
                            <tr>
                                <td><a href=format!("/models/{}", m.name)><strong>{m.name.clone()}</strong></a></td>
                                <td class="desc">{m.description.clone()}</td>
                                <td class="num">{m.latest_version.map(|v| view! { <a href=version_href(&m.name, v)>{format!("v{v}")}</a> })}</td>
                                <td class="num">{m.version_count}</td>
                                <td><span class="chips">{alias_chips(chips)}</span></td>
                                <td class="num">{if m.pending_requests > 0 {
                                    view! { <span class="badge badge-warn">{format!("{} pending", m.pending_requests)}</span> }.into_any()
                                } else {
                                    view! { <span class="muted">"—"</span> }.into_any()
                                }}</td>
                                <td class="nowrap muted">{when(m.updated_at)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn NewModel(created: RwSignal<u32>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let result = RwSignal::new(None::<Result<String, AppError>>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        spawn_local(async move {
            let made = create_model(name.get_untracked(), description.get_untracked()).await;
            if made.is_ok() {
                name.set(String::new());
                description.set(String::new());
                created.update(|n| *n += 1);
            }
            result.set(Some(made.map(|m| m.name)));
            busy.set(false);
        });
    };
    view! {
        <section class="panel" data-testid="new-model">
            <details>
                <summary><h2 class="inline">"New model"</h2>
                    <span class="muted">" — a name for a line of versions; production is protected by default (one approval, gates required)"</span></summary>
                <form class="form-row" on:submit=submit>
                    <label><span>"Name"</span>
                        <input bind:value=name required maxlength="100" placeholder="credit-risk" aria-label="Model name" /></label>
                    <label class="grow"><span>"Description"</span>
                        <input bind:value=description placeholder="What it predicts, for whom" aria-label="Model description" /></label>
                    <button type="submit" class="btn btn-primary" disabled=move || busy.get()>"Create model"</button>
                </form>
                {move || match result.get() {
                    Some(Ok(n)) => view! { <p class="toast" role="status">"Created " <a href=format!("/models/{n}")><strong>{n.clone()}</strong></a> ". Register its first version there."</p> }.into_any(),
                    Some(Err(e)) => view! { <p class="field-error" role="alert">{e.to_string()}</p> }.into_any(),
                    None => ().into_any(),
                }}
            </details>
        </section>
    }
}

// ---- /models/:name ----

/// A message shown under a version's row (or the page's top) after an action;
/// kept by the page so it survives the reload that follows a change.
#[derive(Clone, Debug, PartialEq)]
struct Flash {
    /// The version row it belongs to; None for the page.
    version: Option<i32>,
    ok: bool,
    text: String,
    link: Option<(String, String)>,
}

impl Flash {
    fn error(version: Option<i32>, e: AppError) -> Flash {
        Flash { version, ok: false, text: e.to_string(), link: None }
    }

    fn view(self) -> impl IntoView {
        let class = match (self.ok, self.version) {
            (true, None) => "toast page-flash",
            (true, Some(_)) => "toast",
            (false, _) => "callout callout-alert",
        };
        let role = if self.ok { "status" } else { "alert" };
        view! {
            <p class=class role=role data-testid="flash">{self.text}
                {self.link.map(|(href, label)| view! { " " <a href=href>{label}</a> })}</p>
        }
    }
}

fn outcome_flash(version: i32, outcome: AliasOutcome) -> Flash {
    match outcome {
        AliasOutcome::Moved { alias } => Flash {
            version: Some(version),
            ok: true,
            text: format!("{} now points at v{}.", alias.alias, alias.version),
            link: None,
        },
        AliasOutcome::RequestCreated { request } => Flash {
            version: Some(version),
            ok: true,
            text: format!(
                "{} is protected: promotion request for v{} created, waiting for {} approval{}.",
                request.alias,
                request.version,
                request.required_approvals,
                if request.required_approvals == 1 { "" } else { "s" }
            ),
            link: Some((format!("/approvals/{}", request.promotion_request_id), "Open the request →".into())),
        },
    }
}

#[component]
pub fn ModelPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.with(|p| p.get("name").unwrap_or_default());
    let reload = RwSignal::new(0u32);
    let detail = Resource::new(move || (name(), reload.get()), |(n, _)| get_model_detail(n));
    let me = Resource::new(|| (), |_| get_me());
    let flash = RwSignal::new(None::<Flash>);
    view! {
        <Title text=move || format!("Model {}", name()) />
        <nav class="breadcrumbs" aria-label="Breadcrumb"><a href="/models">"Models"</a> " › " <span>{name}</span></nav>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                let role = role_of(me.await);
                match detail.await {
                    Ok(d) => view! { <ModelView detail=d role reload flash /> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ModelView(
    detail: ModelDetail,
    role: Role,
    reload: RwSignal<u32>,
    flash: RwSignal<Option<Flash>>,
) -> impl IntoView {
    let m = detail.model.clone();
    let name = StoredValue::new(m.name.clone());
    let policy = m.policy.clone();
    let production = m.aliases.iter().find(|a| a.protected).cloned();
    let pending = detail.requests.iter().filter(|r| r.state == PromotionState::Pending).count();
    let policy_text = format!(
        "{} approval{} · gates {}",
        policy.required_approvals,
        if policy.required_approvals == 1 { "" } else { "s" },
        if policy.require_gates { "required" } else { "not required" }
    );
    let page_flash = move || flash.get().filter(|f| f.version.is_none()).map(Flash::view);
    view! {
        <PageHeader title=m.name.clone() subtitle=if m.description.is_empty() { "No description yet.".to_string() } else { m.description.clone() }>
            <span class="muted">{format!("created by {} · {}", m.created_by.clone().unwrap_or_else(|| "—".into()), when(m.created_at))}</span>
        </PageHeader>
        {page_flash}
        <section class="cards" aria-label="Summary">
            <StatCard label="Versions" value=m.version_count.to_string() hint=m.latest_version.map(|v| format!("latest v{v}")).unwrap_or_else(|| "none yet".into()) />
            <StatCard label=production.as_ref().map(|a| a.alias.clone()).unwrap_or_else(|| policy.protected_aliases.first().cloned().unwrap_or_else(|| "production".into()))
                value=production.as_ref().map(|a| format!("v{}", a.version)).unwrap_or_else(|| "—".into())
                hint=production.as_ref().map(|a| format!("since {}", when(a.updated_at))).unwrap_or_else(|| "nothing promoted yet".into())
                test_id="production-card" />
            <StatCard label="Pending requests" value=pending.to_string() hint="waiting for approval".to_string() />
            <StatCard label="Policy" value=policy.protected_aliases.join(", ") hint=policy_text test_id="policy-card" />
        </section>
        <AliasPanel name=name.get_value() aliases=m.aliases.clone() role reload flash />
        <VersionsPanel detail=detail.clone() role reload flash />
        {(role >= Role::Editor).then(|| view! { <RegisterVersion name=name.get_value() reload flash /> })}
        <RequestsPanel requests=detail.requests.clone() />
        <HistoryPanel detail=detail />
    }
}

#[component]
fn AliasPanel(
    name: String,
    aliases: Vec<AliasInfo>,
    role: Role,
    reload: RwSignal<u32>,
    flash: RwSignal<Option<Flash>>,
) -> impl IntoView {
    let confirming = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let name = StoredValue::new(name);
    let do_rollback = move |alias: String| {
        busy.set(true);
        spawn_local(async move {
            match rollback(name.get_value(), alias.clone()).await {
                Ok(v) => {
                    flash.set(Some(Flash {
                        version: None,
                        ok: true,
                        text: format!("Rolled {alias} back to v{v}."),
                        link: None,
                    }));
                    reload.update(|n| *n += 1);
                }
                Err(e) => flash.set(Some(Flash::error(None, e))),
            }
            confirming.set(None);
            busy.set(false);
        });
    };
    let mut aliases = aliases;
    aliases.sort_by_key(|a| (!a.protected, a.alias.clone()));
    view! {
        <section class="panel" data-testid="aliases">
            <h2>"Aliases"</h2>
            {if aliases.is_empty() {
                view! { <p class="muted">"No aliases yet. Point one at a version with “Set alias” below; protected ones (production) go through a promotion request."</p> }.into_any()
            } else {
                view! {
                    <table class="data">
                        <thead><tr><th scope="col">"Alias"</th><th scope="col">"Version"</th><th scope="col">"Kind"</th><th scope="col">"Since (UTC)"</th><th scope="col"></th></tr></thead>
                        <tbody>
                            {aliases.into_iter().map(|a| {
                                let alias = a.alias.clone();
                                let alias2 = a.alias.clone();
                                let alias3 = a.alias.clone();
                                let can_roll = a.protected && role >= Role::Approver;
                                view! {
                                    <tr data-alias=a.alias.clone()>
                                        <td><span class=if a.protected { "chip chip-protected" } else { "chip" }>{a.alias.clone()}</span></td>
                                        <td><a href=version_href(&name.get_value(), a.version) data-testid=format!("alias-{}", a.alias)>{format!("v{}", a.version)}</a></td>
                                        <td>{if a.protected { "protected (approval required)" } else { "moves at once" }}</td>
                                        <td class="nowrap muted">{when(a.updated_at)}</td>
                                        <td class="actions-cell">
                                            {can_roll.then(|| view! {
                                                {move || if confirming.get().as_deref() == Some(alias.as_str()) {
                                                    let a1 = alias2.clone();
                                                    view! {
                                                        <span class="confirm">
                                                            {format!("Move {} back to the version before v{}? ", alias2, a.version)}
                                                            <button class="btn btn-small btn-danger" disabled=move || busy.get()
                                                                on:click=move |_| do_rollback(a1.clone())>"Confirm roll back"</button>
                                                            " " <button class="btn btn-small" on:click=move |_| confirming.set(None)>"Cancel"</button>
                                                        </span>
                                                    }.into_any()
                                                } else {
                                                    let a1 = alias3.clone();
                                                    view! { <button class="btn btn-small" on:click=move |_| confirming.set(Some(a1.clone()))>"Roll back"</button> }.into_any()
                                                }}
                                            })}
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum RowForm {
    Promote,
    Alias,
}

#[component]
fn VersionsPanel(
    detail: ModelDetail,
    role: Role,
    reload: RwSignal<u32>,
    flash: RwSignal<Option<Flash>>,
) -> impl IntoView {
    let name = StoredValue::new(detail.model.name.clone());
    let protected = StoredValue::new(detail.model.policy.protected_aliases.clone());
    let columns = metric_columns(detail.versions.iter().map(|v| &v.metrics));
    let open = RwSignal::new(None::<(i32, RowForm)>);
    let editor = role >= Role::Editor;
    let span = 6 + columns.len() + usize::from(editor);
    let mut versions = detail.versions.clone();
    versions.sort_by_key(|v| -v.version);
    view! {
        <section class="panel" data-testid="versions">
            <h2>"Versions"</h2>
            {if versions.is_empty() {
                view! { <p class="muted">"No versions yet. Register a finished training run below: it keeps its own copy of the model, its metrics, gates and signature."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="data versions" data-testid="versions-table">
                            <thead><tr>
                                <th scope="col">"Version"</th><th scope="col">"Source"</th><th scope="col">"Format"</th>
                                {columns.iter().map(|c| view! { <th scope="col" class="num">{c.clone()}</th> }).collect_view()}
                                <th scope="col">"Gates"</th><th scope="col">"Aliases"</th><th scope="col">"Created (UTC)"</th>
                                {editor.then(|| view! { <th scope="col"><span class="visually-hidden">"Actions"</span></th> })}
                            </tr></thead>
                            <tbody>
                                {versions.into_iter().map(|v| {
                                    let version = v.version;
                                    let prot = protected.get_value();
                                    let chips: Vec<(String, bool)> = v.aliases.iter().map(|a| (a.clone(), prot.iter().any(|p| p.eq_ignore_ascii_case(a)))).collect();
                                    let row_flash = move || flash.get().filter(|f| f.version == Some(version));
                                    view! {
                                        <tr data-version=version>
                                            <td class="version-cell"><a href=version_href(&name.get_value(), version)><strong>{format!("v{version}")}</strong></a>
                                                {(!v.description.is_empty()).then(|| view! { <span class="sub ellipsis" title=v.description.clone()>{v.description.clone()}</span> })}</td>
                                            <td class="nowrap">{source_link(&v)}</td>
                                            <td>{format_badges(&v)}</td>
                                            {columns.iter().map(|c| view! { <td class="num">{metric_text(v.metrics.get(c).copied())}</td> }).collect_view()}
                                            <td>{gates_cell(v.gates_passed)}</td>
                                            <td><span class="chips">{alias_chips(chips)}</span></td>
                                            <td class="nowrap" title=when(v.created_at)>{v.created_at.format("%Y-%m-%d").to_string()}
                                                <span class="sub">{format!("{} · {}", v.created_at.format("%H:%M"), v.created_by.clone().unwrap_or_else(|| "—".into()))}</span></td>
                                            {editor.then(|| view! {
                                                <td class="actions-cell"><div class="row-actions">
                                                    <button class="btn btn-small" on:click=move |_| open.set(Some((version, RowForm::Promote)))>"Request promotion"</button>
                                                    <button class="btn btn-small" on:click=move |_| open.set(Some((version, RowForm::Alias)))>"Set alias"</button>
                                                </div></td>
                                            })}
                                        </tr>
                                        {move || open.get().filter(|(v, _)| *v == version).map(|(_, form)| view! {
                                            <tr class="row-form"><td colspan=span>
                                                <VersionForm name=name.get_value() version form protected=protected.get_value() open reload flash />
                                            </td></tr>
                                        })}
                                        {move || row_flash().map(|f| view! { <tr class="row-form"><td colspan=span>{f.view()}</td></tr> })}
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

/// The inline form under a version's row: ask for a protected alias, or set any alias.
#[component]
fn VersionForm(
    name: String,
    version: i32,
    form: RowForm,
    protected: Vec<String>,
    open: RwSignal<Option<(i32, RowForm)>>,
    reload: RwSignal<u32>,
    flash: RwSignal<Option<Flash>>,
) -> impl IntoView {
    let alias = RwSignal::new(match form {
        RowForm::Promote => protected.first().cloned().unwrap_or_else(|| "production".into()),
        RowForm::Alias => String::new(),
    });
    let comment = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let name = StoredValue::new(name);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        spawn_local(async move {
            match set_alias(
                name.get_value(),
                alias.get_untracked().trim().to_string(),
                version,
                comment.get_untracked(),
            )
            .await
            {
                Ok(outcome) => {
                    flash.set(Some(outcome_flash(version, outcome)));
                    open.set(None);
                    reload.update(|n| *n += 1);
                }
                Err(e) => flash.set(Some(Flash::error(Some(version), e))),
            }
            busy.set(false);
        });
    };
    let several = protected.len() > 1;
    view! {
        <form class="row-form-inner" on:submit=submit data-testid=match form { RowForm::Promote => "promote-form", RowForm::Alias => "alias-form" }>
            {match form {
                RowForm::Promote => view! {
                    <p class="row-form-title"><strong>{format!("Request promotion of v{version}")}</strong>
                        {(!several).then(|| format!(" to {}", alias.get_untracked()))}
                        <span class="muted">" — an approver other than you decides; the alias moves when it is approved."</span></p>
                    {several.then(|| view! {
                        <label><span>"Alias"</span>
                            <select aria-label="Protected alias" on:change=move |ev| alias.set(event_target_value(&ev))>
                                {protected.iter().map(|p| view! { <option value=p.clone()>{p.clone()}</option> }).collect_view()}
                            </select></label>
                    })}
                    <label class="grow"><span>"Why this version (the approver reads it)"</span>
                        <textarea rows="2" bind:value=comment aria-label="Promotion comment" placeholder="AUC +0.02 on the March data; gates pass"></textarea></label>
                }.into_any(),
                RowForm::Alias => view! {
                    <p class="row-form-title"><strong>{format!("Point an alias at v{version}")}</strong>
                        <span class="muted">" — unprotected aliases move at once; a protected one makes a promotion request."</span></p>
                    <label><span>"Alias"</span><input bind:value=alias required aria-label="Alias name" placeholder="staging" /></label>
                    <label class="grow"><span>"Comment (optional)"</span><input bind:value=comment aria-label="Alias comment" /></label>
                }.into_any(),
            }}
            <div class="form-actions">
                <button type="submit" class="btn btn-primary" disabled=move || busy.get()>
                    {match form { RowForm::Promote => "Request promotion", RowForm::Alias => "Set alias" }}
                </button>
                <button type="button" class="btn" on:click=move |_| open.set(None)>"Cancel"</button>
            </div>
        </form>
    }
}

#[component]
fn RegisterVersion(name: String, reload: RwSignal<u32>, flash: RwSignal<Option<Flash>>) -> impl IntoView {
    let source = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let name = StoredValue::new(name);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match register_version(
                name.get_value(),
                source.get_untracked().trim().to_string(),
                description.get_untracked(),
            )
            .await
            {
                Ok(v) => {
                    flash.set(Some(Flash {
                        version: Some(v.version),
                        ok: true,
                        text: format!("Registered v{} from {}.", v.version, v.source),
                        link: Some((version_href(&v.model_name, v.version), "Open the version →".into())),
                    }));
                    reload.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="panel" data-testid="register-version">
            <h2>"Register a version"</h2>
            <form class="form-row" on:submit=submit>
                <label class="grow"><span>"Source"</span>
                    <input bind:value=source required class="mono" aria-label="Version source" placeholder="run id, runs:/<run id>/model or models:/m-<id>" /></label>
                <label class="grow"><span>"Description (optional)"</span><input bind:value=description aria-label="Version description" /></label>
                <button type="submit" class="btn btn-primary" disabled=move || busy.get()>"Register version"</button>
            </form>
            {move || error.get().map(|m| view! { <p class="callout callout-alert" role="alert">{m}</p> })}
            <p class="hint">"From a script: " <code>"mlflow.register_model(\"runs:/<run id>/model\", \"<name>\")"</code> " or " <code>"POST /api/v1/models/<name>/versions"</code></p>
        </section>
    }
}

/// Promotion requests as a table (the model page and the approvals inbox).
#[component]
pub fn RequestTable(
    requests: Vec<PromotionRequest>,
    #[prop(optional)] test_id: Option<&'static str>,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data" data-testid=test_id.unwrap_or("requests-table")>
                <thead><tr>
                    <th scope="col">"Request"</th><th scope="col">"Requested by"</th><th scope="col">"When (UTC)"</th>
                    <th scope="col">"Comment"</th><th scope="col">"State"</th><th scope="col" class="num">"Approvals"</th>
                </tr></thead>
                <tbody>
                    {requests.into_iter().map(|r| {
                        let href = format!("/approvals/{}", r.promotion_request_id);
                        let change = match r.current_version {
                            Some(c) => format!("v{c} → v{}", r.version),
                            None => format!("→ v{}", r.version),
                        };
                        view! {
                            <tr data-request=r.promotion_request_id.to_string()>
                                <td class="request-cell">
                                    <a href=href data-testid="request-link"><strong>{r.model_name.clone()}</strong>{format!(" v{}", r.version)}</a>
                                    <span class="sub nowrap">{r.alias.clone()}": " {change}</span>
                                </td>
                                <td>{r.requested_by.clone().unwrap_or_else(|| "—".into())}</td>
                                <td class="nowrap">{when(r.created_at)}</td>
                                <td class="desc" title=r.comment.clone()>{r.comment.clone()}</td>
                                <td><span class=promotion_badge(r.state)>{r.state.as_str()}</span></td>
                                <td class="num">{approvals_text(&r)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn RequestsPanel(requests: Vec<PromotionRequest>) -> impl IntoView {
    view! {
        <section class="panel" data-testid="model-requests">
            <h2>"Promotion requests"</h2>
            {if requests.is_empty() {
                view! { <p class="muted">"None yet. “Request promotion” on a version asks the approvers."</p> }.into_any()
            } else {
                view! { <RequestTable requests /> }.into_any()
            }}
        </section>
    }
}

#[component]
fn HistoryPanel(detail: ModelDetail) -> impl IntoView {
    let name = detail.model.name.clone();
    let v = |v: Option<i32>| match v {
        Some(v) => view! { <a href=version_href(&name, v)>{format!("v{v}")}</a> }.into_any(),
        None => view! { <span class="muted">"none"</span> }.into_any(),
    };
    view! {
        <section class="panel" data-testid="alias-history">
            <h2>"Alias history"</h2>
            {if detail.alias_history.is_empty() {
                view! { <p class="muted">"No alias has moved yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="data">
                            <thead><tr><th scope="col">"When (UTC)"</th><th scope="col">"Alias"</th><th scope="col">"From"</th><th scope="col">"To"</th><th scope="col">"Why"</th><th scope="col">"By"</th></tr></thead>
                            <tbody>
                                {detail.alias_history.iter().map(|e| view! {
                                    <tr>
                                        <td class="nowrap muted">{when(e.at)}</td>
                                        <td><span class="chip">{e.alias.clone()}</span></td>
                                        <td>{v(e.from_version)}</td>
                                        <td>{v(e.to_version)}</td>
                                        <td>{e.reason.clone()}</td>
                                        <td>{e.actor.clone().unwrap_or_else(|| "—".into())}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}

// ---- /models/:name/versions/:version ----

#[component]
pub fn ModelVersionPage() -> impl IntoView {
    let params = use_params_map();
    let key = move || {
        params.with(|p| {
            (p.get("name").unwrap_or_default(), p.get("version").and_then(|v| v.parse::<i32>().ok()))
        })
    };
    let version = Resource::new(key, |(name, v)| async move {
        match v {
            Some(v) => get_model_version(name, v).await,
            None => Err(AppError::NotFound("versions are numbers: /models/<name>/versions/<n>".into())),
        }
    });
    let me = Resource::new(|| (), |_| get_me());
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let role = role_of(me.await);
                match version.await {
                    Ok(v) => view! { <VersionView version=v role /> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn VersionView(version: ModelVersion, role: Role) -> impl IntoView {
    let v = version;
    let title = format!("{} v{}", v.model_name, v.version);
    let cards: Vec<(String, f64)> =
        HEADLINE.iter().filter_map(|k| v.metrics.get(*k).map(|x| (k.to_string(), *x))).take(4).collect();
    let chips: Vec<(String, bool)> =
        v.aliases.iter().map(|a| (a.clone(), a.eq_ignore_ascii_case("production"))).collect();
    let evaluation_run = v.run_id.filter(|_| is_training_run(&v)).map(|r| r.simple().to_string());
    let badges = format_badges(&v);
    view! {
        <Title text=title.clone() />
        <nav class="breadcrumbs" aria-label="Breadcrumb">
            <a href="/models">"Models"</a> " › " <a href=format!("/models/{}", v.model_name)>{v.model_name.clone()}</a>
            " › " <span>{format!("v{}", v.version)}</span>
        </nav>
        <PageHeader title=title subtitle=if v.description.is_empty() { format!("registered by {} · {}", v.created_by.clone().unwrap_or_else(|| "—".into()), when(v.created_at)) } else { v.description.clone() }>
            <span class="chips">{alias_chips(chips)}</span>
            {gates_badge(v.gates_passed)}
            {badges}
        </PageHeader>
        {v.not_servable_reason.clone().map(|why| view! { <p class="callout callout-warn">"Not servable by Cairn: " {why}</p> })}
        {(!cards.is_empty()).then(|| view! {
            <section class="cards" aria-label="Headline metrics">
                {cards.into_iter().map(|(k, x)| view! { <StatCard label=k value=format!("{x:.4}") /> }).collect_view()}
            </section>
        })}
        <div class="two-col">
            <ModelCard version=v.clone() role />
            <Lineage version=v.clone() />
        </div>
        {v.signature.clone().map(|s| view! {
            <section class="panel" data-testid="signature">
                <h2>"Signature"</h2>
                <p class="muted">{format!("{} inputs → {} ", s.inputs.len(), s.output.task.as_str())} <code>{s.output.name.clone()}</code>
                    {(!s.output.classes.is_empty()).then(|| view! { " with classes " <span class="chips">{s.output.classes.iter().map(|c| view! { <span class="chip mono">{c.clone()}</span> }).collect_view()}</span> })}
                </p>
                <div class="table-wrap">
                    <table class="data">
                        <thead><tr><th scope="col">"Input"</th><th scope="col">"Type"</th><th scope="col">"Nullable"</th><th scope="col">"Categories seen in training"</th></tr></thead>
                        <tbody>
                            {s.inputs.iter().map(|c| view! {
                                <tr>
                                    <td class="mono">{c.name.clone()}</td>
                                    <td class="mono">{c.column_type.to_string()}</td>
                                    <td>{if c.nullable { "yes" } else { "no" }}</td>
                                    <td class="desc">{c.categories.clone().map(|cs| cs.join(", ")).unwrap_or_default()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            </section>
        })}
        <div class="two-col">
            <section class="panel">
                <h2>"Metrics"</h2>
                <MetricTable metrics=v.metrics.clone() />
            </section>
            <section class="panel">
                <h2>"Parameters"</h2>
                <KeyValues rows=v.params.iter().map(|(k, x)| (k.clone(), x.clone())).collect() numeric=false />
            </section>
        </div>
        {v.gates.clone().filter(|g| !g.is_empty()).map(|g| view! {
            <section class="panel"><h2>"Validation gates"</h2><GateTable gates=g /></section>
        })}
        {evaluation_run.map(|run_id| view! { <RunEvaluation run_id /> })}
    }
}

/// Held-out metrics with their training-set value (`train_<name>`) beside them.
#[component]
fn MetricTable(metrics: BTreeMap<String, f64>) -> impl IntoView {
    let names = ordered_metrics(metrics.keys());
    if names.is_empty() {
        return view! { <p class="muted">"None recorded."</p> }.into_any();
    }
    let has_train = metrics.keys().any(|k| k.starts_with("train_"));
    view! {
        <table class="data kv" data-testid="version-metrics">
            <thead><tr><th scope="col">"Metric"</th><th scope="col" class="num">"Held-out"</th>
                {has_train.then(|| view! { <th scope="col" class="num">"Training set"</th> })}</tr></thead>
            <tbody>
                {names.into_iter().map(|n| view! {
                    <tr>
                        <th scope="row" class="mono">{n.clone()}</th>
                        <td class="num">{metric_text(metrics.get(&n).copied())}</td>
                        {has_train.then(|| view! { <td class="num muted">{metric_text(metrics.get(&format!("train_{n}")).copied())}</td> })}
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// Metric names, headline ones first, without the `train_` copies (shown beside
/// their held-out value); a `train_` metric with no held-out twin stays.
pub fn ordered_metrics<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let all: std::collections::BTreeSet<String> = names.cloned().collect();
    let shown = |n: &String| n.strip_prefix("train_").is_none_or(|base| !all.contains(base));
    let mut out: Vec<String> = HEADLINE.iter().filter(|h| all.contains(**h)).map(|h| h.to_string()).collect();
    out.extend(all.iter().filter(|n| !HEADLINE.contains(&n.as_str()) && shown(n)).cloned());
    out
}

#[component]
fn KeyValues(rows: Vec<(String, String)>, numeric: bool) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="muted">"None recorded."</p> }.into_any();
    }
    view! {
        <table class="data kv">
            <tbody>
                {rows.into_iter().map(|(k, x)| view! {
                    <tr><th scope="row" class="mono">{k}</th><td class=if numeric { "num" } else { "mono" }>{x}</td></tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// The training run's evaluation charts, loaded from the training pages' server function.
#[component]
fn RunEvaluation(run_id: String) -> impl IntoView {
    let detail = Resource::new(move || run_id.clone(), training_run);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                detail.await.ok().and_then(|d| {
                    let train = d.train_metrics.clone().unwrap_or_default();
                    d.evaluation.map(|e| view! { <EvaluationView title="Evaluation of the training run" evaluation=e train /> })
                })
            })}
        </Suspense>
    }
}

#[component]
fn Lineage(version: ModelVersion) -> impl IntoView {
    let v = version;
    let run = v.run_id.map(|r| r.simple().to_string());
    // The dataset version's page needs the dataset's id: ask the training run which
    // dataset it read, then the dataset's id by name (browser side, after load).
    let dataset_link = RwSignal::new(None::<(String, String)>);
    if let (Some(run), true) = (run.clone(), is_training_run(&v)) {
        Effect::new(move |_| {
            let run = run.clone();
            spawn_local(async move {
                let Ok(d) = training_run(run).await else { return };
                let (Some(name), Some(n)) = (d.summary.dataset, d.summary.dataset_version) else { return };
                if let Ok(ds) = resolve_dataset(name.clone()).await {
                    dataset_link.set(Some((
                        format!("/datasets/{}/versions/{n}", ds.dataset_id),
                        format!("{name} v{n}"),
                    )));
                }
            });
        });
    }
    view! {
        <section class="panel" data-testid="lineage">
            <h2>"Lineage"</h2>
            <dl class="kv-list">
                <dt>"Source"</dt><dd class="mono break">{v.source.clone()}</dd>
                <dt>"Run"</dt><dd>{match &run {
                    Some(r) => view! {
                        <a href=format!("/runs/{r}")>"tracked run " <span class="mono">{r[..8].to_string()}</span></a>
                        {is_training_run(&v).then(|| view! { " · " <a href=format!("/training/runs/{r}")>"training run page"</a> })}
                        {v.experiment_id.clone().map(|e| view! { " · " <a href=format!("/experiments/{e}")>{format!("experiment {e}")}</a> })}
                    }.into_any(),
                    None => view! { <span class="muted">"— (not from a run)"</span> }.into_any(),
                }}</dd>
                <dt>"Training data"</dt><dd data-testid="dataset-link">{move || match (dataset_link.get(), v.dataset_version_id) {
                    (Some((href, label)), _) => view! { <a href=href>{label}</a> }.into_any(),
                    (None, Some(id)) => view! { <span class="mono">{id.simple().to_string()}</span> }.into_any(),
                    (None, None) => view! { <span class="muted">"not recorded"</span> }.into_any(),
                }}</dd>
                <dt>"Registered"</dt><dd>{format!("{} by {}", when(v.created_at), v.created_by.clone().unwrap_or_else(|| "—".into()))}</dd>
                <dt>"Graph"</dt><dd><a href=format!("/lineage?artifact=model_version:{}", v.model_version_id) data-testid="lineage-graph-link">"Walk the lineage: data, pipeline steps, components →"</a></dd>
                <dt>"Version id"</dt><dd class="mono">{v.model_version_id.to_string()}</dd>
                <dt>"Reference"</dt><dd class="mono">{format!("models:/{}/{}", v.model_name, v.version)}</dd>
            </dl>
        </section>
    }
}

#[component]
fn ModelCard(version: ModelVersion, role: Role) -> impl IntoView {
    let text = RwSignal::new(version.model_card.clone());
    let draft = RwSignal::new(String::new());
    let editing = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let (name, number) = (StoredValue::new(version.model_name.clone()), version.version);
    let save = move |_| {
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match save_model_card(name.get_value(), number, draft.get_untracked()).await {
                Ok(v) => {
                    text.set(v.model_card);
                    editing.set(false);
                }
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="panel" data-testid="model-card">
            <div class="panel-head">
                <h2>"Model card"</h2>
                {(role >= Role::Editor).then(|| view! {
                    {move || (!editing.get()).then(|| view! {
                        <button class="btn btn-small" on:click=move |_| { draft.set(text.get_untracked()); editing.set(true); }>"Edit"</button>
                    })}
                })}
            </div>
            {move || if editing.get() {
                view! {
                    <div class="stack">
                        <textarea rows="14" class="code" bind:value=draft aria-label="Model card markdown"
                            placeholder="## Intended use\n\n## Training data\n\n## Evaluation\n\n## Limitations"></textarea>
                        <div class="form-actions">
                            <button class="btn btn-primary" disabled=move || busy.get() on:click=save>"Save"</button>
                            <button class="btn" on:click=move |_| editing.set(false)>"Cancel"</button>
                            <span class="hint">"Markdown (tables, lists, links). HTML is shown as text."</span>
                        </div>
                        {move || error.get().map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
                    </div>
                }.into_any()
            } else if text.with(|t| t.trim().is_empty()) {
                view! { <p class="muted">"No model card yet: intended use, training data, evaluation, limitations."</p> }.into_any()
            } else {
                view! { <Markdown text=text test_id="model-card-body" /> }.into_any()
            }}
        </section>
    }
}
