//! Approvals: the inbox (what waits for me, every request by state) and one
//! promotion request with everything needed to decide it: the candidate against
//! what the alias serves now (metrics with deltas, gates, parameters, evaluation
//! charts, training-data drift, lineage), the reviews, and the decision.

use crate::api::get_me;
use crate::api::registry::{cancel_promotion, promotion, promotions, review};
use crate::api::training::training_run;
use crate::components::drift::DriftTable;
use crate::components::evaluation::{ConfusionMatrix, CurveChart, GateTable, ResidualChart};
use crate::components::layout::InboxRefresh;
use crate::components::page::{EmptyState, ErrorBox, Loading, PageHeader, StatCard};
use crate::error::AppError;
use crate::pages::datasets::when;
use crate::pages::models::{
    RequestTable, approvals_text, format_badges, gates_badge, is_training_run, metric_text, ordered_metrics,
    promotion_badge, source_link, version_href,
};
use crate::pages::training_run::HEADLINE;
use domain::auth::Me;
use domain::drift::DriftStatus;
use domain::registry::{Decision, ModelVersion, PromotionDetail, PromotionState};
use domain::training::higher_is_better;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use std::collections::BTreeSet;

const STATES: [(&str, &str); 5] = [
    ("", "all"),
    ("pending", "pending"),
    ("approved", "approved"),
    ("rejected", "rejected"),
    ("cancelled", "cancelled"),
];

#[component]
pub fn ApprovalsPage() -> impl IntoView {
    let mine = Resource::new(|| (), |_| promotions(String::new(), true));
    let filter = RwSignal::new(String::new());
    let all = Resource::new(move || filter.get(), |f| promotions(f, false));
    view! {
        <Title text="Approvals" />
        <PageHeader title="Approvals" subtitle="Promotion requests: a protected alias (production) moves only when approvers other than the requester agree." />
        <section class="panel" data-testid="waiting">
            <h2>"Waiting for you"</h2>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match mine.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="muted" data-testid="nothing-waiting">"Nothing waits for your review. Requests you may decide (as an approver, not your own) appear here."</p>
                        }.into_any(),
                        Ok(list) => view! { <RequestTable requests=list test_id="waiting-table" /> }.into_any(),
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
        <section class="panel" data-testid="all-requests">
            <div class="panel-head">
                <h2>"All requests"</h2>
                <label class="inline-form"><span class="muted">"State"</span>
                    <select aria-label="Request state" on:change=move |ev| filter.set(event_target_value(&ev))>
                        {STATES.iter().map(|(v, l)| view! { <option value=*v>{*l}</option> }).collect_view()}
                    </select>
                </label>
            </div>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match all.await {
                        Ok(list) if list.is_empty() => view! {
                            <EmptyState title="No promotion requests" hint="On a model's page, “Request promotion” on a version asks the approvers. From a script:"
                                command="curl -X POST /api/v1/models/credit/promotions -d '{\"version\": 3, \"comment\": \"better recall\"}'" />
                        }.into_any(),
                        Ok(list) => view! { <RequestTable requests=list test_id="all-table" /> }.into_any(),
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
pub fn PromotionPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let reload = RwSignal::new(0u32);
    let detail = Resource::new(move || (id(), reload.get()), |(id, _)| promotion(id));
    let me = Resource::new(|| (), |_| get_me());
    let flash = RwSignal::new(None::<String>);
    view! {
        <Title text="Promotion request" />
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                let me = me.await.ok().flatten();
                match detail.await {
                    Ok(d) => view! { <RequestView detail=d me reload flash /> }.into_any(),
                    Err(e) => view! {
                        <nav class="breadcrumbs" aria-label="Breadcrumb"><a href="/approvals">"Approvals"</a></nav>
                        <ErrorBox error=e />
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn RequestView(
    detail: PromotionDetail,
    me: Option<Me>,
    reload: RwSignal<u32>,
    flash: RwSignal<Option<String>>,
) -> impl IntoView {
    let r = detail.request.clone();
    let cand = detail.candidate.clone();
    let cur = detail.current.clone();
    let title = format!("Promote {} v{} to {}", r.model_name, r.version, r.alias);
    let is_requester = me.as_ref().is_some_and(|m| Some(m.user_id) == r.requested_by_id);
    let pending = r.state == PromotionState::Pending;
    let drifted = detail
        .training_drift
        .iter()
        .filter(|d| matches!(d.status, DriftStatus::Warn | DriftStatus::Fail))
        .count();
    let headline = |v: &ModelVersion| {
        HEADLINE
            .iter()
            .find_map(|k| v.metrics.get(*k).map(|x| format!("{k} {x:.4}")))
            .unwrap_or_else(|| "no metrics".into())
    };
    let why_not = if pending && !detail.can_review {
        Some(match &me {
            _ if is_requester => "You asked for this promotion: another approver decides.".to_string(),
            Some(m) if m.role < domain::auth::Role::Approver => {
                format!("Only approvers decide promotions; you are signed in as {}.", m.role)
            }
            _ => "You have already reviewed this request.".to_string(),
        })
    } else {
        None
    };
    let id = r.promotion_request_id.to_string();
    view! {
        <Title text=title.clone() />
        <nav class="breadcrumbs" aria-label="Breadcrumb">
            <a href="/approvals">"Approvals"</a> " › " <a href=format!("/models/{}", r.model_name)>{r.model_name.clone()}</a>
            " › " <span>{format!("v{} → {}", r.version, r.alias)}</span>
        </nav>
        <PageHeader title=title subtitle=format!(
            "Requested by {} · {} · needs {} approval{}",
            r.requested_by.clone().unwrap_or_else(|| "—".into()), when(r.created_at), r.required_approvals,
            if r.required_approvals == 1 { "" } else { "s" })>
            <span class=format!("{} badge-large", promotion_badge(r.state)) data-testid="request-state">{r.state.as_str()}</span>
        </PageHeader>
        {move || flash.get().map(|m| view! { <p class="toast" role="status" data-testid="decision-result">{m}</p> })}
        {detail.gates_block.clone().map(|b| view! { <p class="callout callout-alert" role="alert" data-testid="gates-block">{b}</p> })}
        {(!r.comment.is_empty()).then(|| view! {
            <blockquote class="request-comment"><strong>{r.requested_by.clone().unwrap_or_default()}</strong>": " {r.comment.clone()}</blockquote>
        })}
        <section class="cards" aria-label="Summary">
            <StatCard label=format!("Candidate v{}", cand.version) value=headline(&cand) hint=format!("{} · {}", cand.format.as_str(), if cand.gates_passed == Some(false) { "gates failed" } else { "gates ok" }) test_id="candidate-card" />
            <StatCard label=cur.as_ref().map(|c| format!("Current v{} ({})", c.version, r.alias)).unwrap_or_else(|| format!("Current {}", r.alias))
                value=cur.as_ref().map(headline).unwrap_or_else(|| "nothing yet".into())
                hint=cur.as_ref().map(|_| "what approving replaces".to_string()).unwrap_or_else(|| "this is the first promotion".into()) test_id="current-card" />
            <StatCard label="Approvals" value=approvals_text(&r) hint=r.decided_at.map(|t| format!("decided {}", when(t))).unwrap_or_else(|| "any rejection rejects".into()) test_id="approvals-card" />
            <StatCard label="Training-data drift" value=if detail.training_drift.is_empty() { "—".to_string() } else { format!("{drifted} of {}", detail.training_drift.len()) }
                hint=if detail.training_drift.is_empty() { "not compared".to_string() } else { "columns drifted".to_string() } />
        </section>
        <div class="two-col decide">
            <section class="panel" data-testid="metrics-compare">
                <h2>"Metrics on held-out rows"</h2>
                <MetricsCompare candidate=cand.clone() current=cur.clone() />
            </section>
            <div class="stack">
                {detail.can_review.then(|| view! { <DecisionBox id=id.clone() reload flash /> })}
                {why_not.map(|w| view! { <p class="callout callout-info" data-testid="why-no-review">{w}</p> })}
                {(pending && is_requester).then(|| view! { <Withdraw id=id.clone() reload flash /> })}
                <Reviews detail=detail.clone() />
            </div>
        </div>
        <section class="panel">
            <h2>"Validation gates"</h2>
            <div class="two-col flat">
                <div><h3>{cur.as_ref().map(|c| format!("Current v{}", c.version)).unwrap_or_else(|| "Current".into())}</h3>
                    {match cur.as_ref().and_then(|c| c.gates.clone()) {
                        Some(g) if !g.is_empty() => view! { <GateTable gates=g /> }.into_any(),
                        _ => view! { <p class="muted">"No gates."</p> }.into_any(),
                    }}</div>
                <div><h3>{format!("Candidate v{}", cand.version)} " " {gates_badge(cand.gates_passed)}</h3>
                    {match cand.gates.clone() {
                        Some(g) if !g.is_empty() => view! { <GateTable gates=g /> }.into_any(),
                        _ => view! { <p class="muted">"No gates."</p> }.into_any(),
                    }}</div>
            </div>
        </section>
        <section class="panel" data-testid="params-diff">
            <h2>"Parameters"</h2>
            <ParamsDiff candidate=cand.clone() current=cur.clone() />
        </section>
        {(is_training_run(&cand) || cur.as_ref().is_some_and(is_training_run)).then(|| view! {
            <section class="panel" data-testid="evaluation-compare">
                <h2>"Evaluation on held-out rows"</h2>
                <div class="two-col flat">
                    {match cur.clone() {
                        Some(c) => view! { <SideEvaluation version=c label="Current" /> }.into_any(),
                        None => view! { <div><h3>"Current"</h3><p class="muted">"Nothing to compare with."</p></div> }.into_any(),
                    }}
                    <SideEvaluation version=cand.clone() label="Candidate" />
                </div>
            </section>
        })}
        <section class="panel" data-testid="training-drift">
            <h2>"Training data: candidate against current"</h2>
            {if detail.training_drift.is_empty() {
                view! { <p class="muted">{detail.training_drift_note.clone().unwrap_or_else(|| "No drift computed.".into())}</p> }.into_any()
            } else {
                view! {
                    <p class="hint">"The current version's training data is the reference; a column drifts when a distance statistic reaches its threshold."</p>
                    <DriftTable drift=detail.training_drift.clone() />
                }.into_any()
            }}
        </section>
        <section class="panel" data-testid="lineage-compare">
            <h2>"Lineage"</h2>
            <table class="data compare">
                <thead><tr><th scope="col"></th>
                    <th scope="col">{cur.as_ref().map(|c| format!("Current v{}", c.version)).unwrap_or_else(|| "Current".into())}</th>
                    <th scope="col">{format!("Candidate v{}", cand.version)}</th></tr></thead>
                <tbody>
                    <tr><th scope="row">"Version"</th>
                        <td>{cur.as_ref().map(|c| view! { <a href=version_href(&c.model_name, c.version)>{format!("{} v{}", c.model_name, c.version)}</a> })}</td>
                        <td><a href=version_href(&cand.model_name, cand.version)>{format!("{} v{}", cand.model_name, cand.version)}</a></td></tr>
                    <tr><th scope="row">"Source"</th><td>{cur.as_ref().map(source_link)}</td><td>{source_link(&cand)}</td></tr>
                    <tr><th scope="row">"Format"</th><td>{cur.as_ref().map(format_badges)}</td><td>{format_badges(&cand)}</td></tr>
                    <tr><th scope="row">"Training data"</th>
                        <td class="mono">{cur.as_ref().and_then(|c| c.dataset_version_id).map(|d| d.simple().to_string()[..12].to_string())}</td>
                        <td class="mono">{cand.dataset_version_id.map(|d| d.simple().to_string()[..12].to_string())}</td></tr>
                    <tr><th scope="row">"Registered"</th>
                        <td>{cur.as_ref().map(|c| format!("{} by {}", when(c.created_at), c.created_by.clone().unwrap_or_default()))}</td>
                        <td>{format!("{} by {}", when(cand.created_at), cand.created_by.clone().unwrap_or_default())}</td></tr>
                </tbody>
            </table>
        </section>
    }
}

/// Both versions' metrics and the change, marked better or worse by the metric's direction.
#[component]
fn MetricsCompare(candidate: ModelVersion, current: Option<ModelVersion>) -> impl IntoView {
    let names =
        ordered_metrics(candidate.metrics.keys().chain(current.iter().flat_map(|c| c.metrics.keys())));
    if names.is_empty() {
        return view! { <p class="muted">"Neither version recorded metrics."</p> }.into_any();
    }
    view! {
        <table class="data compare" data-testid="metrics-table">
            <thead><tr><th scope="col">"Metric"</th>
                <th scope="col" class="num">{current.as_ref().map(|c| format!("Current v{}", c.version)).unwrap_or_else(|| "Current".into())}</th>
                <th scope="col" class="num">{format!("Candidate v{}", candidate.version)}</th><th scope="col" class="num">"Change"</th></tr></thead>
            <tbody>
                {names.into_iter().map(|n| {
                    let a = current.as_ref().and_then(|c| c.metrics.get(&n).copied());
                    let b = candidate.metrics.get(&n).copied();
                    let delta = a.zip(b).map(|(a, b)| b - a);
                    let (class, arrow) = match delta {
                        Some(d) if d.abs() < 1e-9 => ("num delta-same", "="),
                        Some(d) if (d > 0.0) == higher_is_better(&n) => ("num delta-better", "▲ better"),
                        Some(_) => ("num delta-worse", "▼ worse"),
                        None => ("num muted", ""),
                    };
                    view! {
                        <tr data-metric=n.clone()>
                            <th scope="row" class="mono">{n.clone()}</th>
                            <td class="num">{metric_text(a)}</td>
                            <td class="num">{metric_text(b)}</td>
                            <td class=class>{delta.map(|d| format!("{d:+.4} ")).unwrap_or_else(|| "—".into())}<span class="delta-word">{arrow}</span></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn ParamsDiff(candidate: ModelVersion, current: Option<ModelVersion>) -> impl IntoView {
    let names: BTreeSet<String> =
        candidate.params.keys().chain(current.iter().flat_map(|c| c.params.keys())).cloned().collect();
    if names.is_empty() {
        return view! { <p class="muted">"Neither version recorded parameters."</p> }.into_any();
    }
    let value = |v: Option<&ModelVersion>, n: &str| v.and_then(|v| v.params.get(n).cloned());
    let differ = names.iter().filter(|n| value(current.as_ref(), n) != value(Some(&candidate), n)).count();
    view! {
        <p class="hint">{if current.is_none() { "Nothing to compare with yet.".to_string() } else if differ == 0 { "Same parameters.".to_string() } else { format!("{differ} parameter{} differ (highlighted).", if differ == 1 { "" } else { "s" }) }}</p>
        <div class="table-wrap">
            <table class="data compare">
                <thead><tr><th scope="col">"Parameter"</th>
                    <th scope="col">{current.as_ref().map(|c| format!("Current v{}", c.version)).unwrap_or_else(|| "Current".into())}</th>
                    <th scope="col">{format!("Candidate v{}", candidate.version)}</th></tr></thead>
                <tbody>
                    {names.into_iter().map(|n| {
                        let a = value(current.as_ref(), &n);
                        let b = value(Some(&candidate), &n);
                        let differs = current.is_some() && a != b;
                        view! {
                            <tr class=if differs { "differs" } else { "" }>
                                <th scope="row" class="mono">{n.clone()}</th>
                                <td class="mono break">{a.unwrap_or_else(|| "—".into())}</td>
                                <td class="mono break">{b.unwrap_or_else(|| "—".into())}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// One side's evaluation charts, from its training run.
#[component]
fn SideEvaluation(version: ModelVersion, label: &'static str) -> impl IntoView {
    let heading = format!("{label} v{}", version.version);
    let run = version.run_id.filter(|_| is_training_run(&version)).map(|r| r.simple().to_string());
    let detail = Resource::new(
        move || run.clone(),
        |run| async move {
            match run {
                Some(r) => training_run(r).await.map(Some),
                None => Ok(None),
            }
        },
    );
    view! {
        <div class="side-eval" data-testid=format!("{}-evaluation", label.to_lowercase())>
            <h3>{heading}</h3>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match detail.await {
                        Ok(Some(d)) => match d.evaluation {
                            Some(e) => view! {
                                <p class="hint">{format!("{} held-out rows", e.n_rows)}</p>
                                <div class="side-charts">
                                    {(!e.roc.is_empty()).then(|| view! {
                                        <CurveChart title="ROC curve" x_label="false positive rate" y_label="true positive rate" curves=e.roc.clone() diagonal=true test_id="roc-chart" />
                                    })}
                                    {(!e.pr.is_empty()).then(|| view! {
                                        <CurveChart title="Precision–recall" x_label="recall" y_label="precision" curves=e.pr.clone() test_id="pr-chart" />
                                    })}
                                    {(!e.residuals.is_empty()).then(|| view! { <ResidualChart residuals=e.residuals.clone() /> })}
                                    {(!e.confusion.is_empty()).then(|| view! { <ConfusionMatrix classes=e.classes.clone() matrix=e.confusion.clone() /> })}
                                </div>
                            }.into_any(),
                            None => view! { <p class="muted">"The run has no evaluation."</p> }.into_any(),
                        },
                        Ok(None) => view! { <p class="muted">"Not a Cairn training run: no evaluation charts."</p> }.into_any(),
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })}
            </Suspense>
        </div>
    }
}

#[component]
fn Reviews(detail: PromotionDetail) -> impl IntoView {
    let reviews = detail.request.reviews.clone();
    view! {
        <section class="panel" data-testid="reviews">
            <h2>{format!("Reviews ({})", approvals_text(&detail.request))}</h2>
            {if reviews.is_empty() {
                view! { <p class="muted">"No reviews yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="reviews">
                        {reviews.into_iter().map(|v| {
                            let (class, word) = match v.decision {
                                Decision::Approve => ("badge badge-ok", "approved"),
                                Decision::Reject => ("badge badge-alert", "rejected"),
                            };
                            view! {
                                <li>
                                    <div><strong>{v.reviewer.clone()}</strong> " " <span class=class>{word}</span>
                                        " " <time class="muted">{when(v.at)}</time></div>
                                    {(!v.comment.is_empty()).then(|| view! { <p class="review-comment">{v.comment.clone()}</p> })}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn DecisionBox(id: String, reload: RwSignal<u32>, flash: RwSignal<Option<String>>) -> impl IntoView {
    let comment = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<AppError>);
    let inbox = InboxRefresh::get();
    let id = StoredValue::new(id);
    let decide = move |decision: Decision| {
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match review(id.get_value(), decision.as_str().to_string(), comment.get_untracked()).await {
                Ok(r) => {
                    flash.set(Some(match r.state {
                        PromotionState::Approved => {
                            format!("Approved: {} {} now points at v{}.", r.model_name, r.alias, r.version)
                        }
                        PromotionState::Rejected => "Rejected: the requester has been told why.".to_string(),
                        _ => format!(
                            "Your approval is recorded ({}); another approver must agree.",
                            approvals_text(&r)
                        ),
                    }));
                    reload.update(|n| *n += 1);
                    if let Some(i) = inbox {
                        i.bump();
                    }
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="panel decision" data-testid="decision">
            <h2>"Your decision"</h2>
            <label class="stack-label"><span>"Comment (required to reject; the requester reads it)"</span>
                <textarea rows="3" bind:value=comment aria-label="Review comment" placeholder="Metrics hold on the new data; drift is small."></textarea></label>
            <div class="form-actions">
                <button type="button" class="btn btn-primary" disabled=move || busy.get() on:click=move |_| decide(Decision::Approve)>"Approve"</button>
                <button type="button" class="btn btn-danger" disabled=move || busy.get() on:click=move |_| decide(Decision::Reject)>"Reject"</button>
            </div>
            {move || error.get().map(|e| view! { <p class="field-error" role="alert" data-testid="decision-error">{e.to_string()}</p> })}
        </section>
    }
}

#[component]
fn Withdraw(id: String, reload: RwSignal<u32>, flash: RwSignal<Option<String>>) -> impl IntoView {
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let inbox = InboxRefresh::get();
    let id = StoredValue::new(id);
    let withdraw = move |_| {
        busy.set(true);
        spawn_local(async move {
            match cancel_promotion(id.get_value()).await {
                Ok(_) => {
                    flash.set(Some("Withdrawn: the request is cancelled.".into()));
                    reload.update(|n| *n += 1);
                    if let Some(i) = inbox {
                        i.bump();
                    }
                }
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    view! {
        <div class="panel" data-testid="withdraw">
            <p class="muted">"You asked for this promotion. Changed your mind?"</p>
            <button type="button" class="btn" disabled=move || busy.get() on:click=withdraw>"Withdraw request"</button>
            {move || error.get().map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
        </div>
    }
}
