//! Page furniture: title row, summary cards, error and empty states.

use crate::error::AppError;
use leptos::prelude::*;

/// Title row: the page name on the left, the primary action (if any) on the right.
#[component]
pub fn PageHeader(
    #[prop(into)] title: String,
    #[prop(optional, into)] subtitle: Option<String>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <header class="page-header">
            <div>
                <h1>{title}</h1>
                {subtitle.map(|s| view! { <p class="subtitle">{s}</p> })}
            </div>
            <div class="actions">{children.map(|c| c())}</div>
        </header>
    }
}

/// One key number with its label and an optional hint below it.
#[component]
pub fn StatCard(
    #[prop(into)] label: String,
    value: String,
    #[prop(optional, into)] hint: Option<String>,
    #[prop(optional)] test_id: Option<&'static str>,
) -> impl IntoView {
    view! {
        <div class="card stat" data-testid=test_id>
            <div class="stat-label">{label}</div>
            <div class="stat-value">{value}</div>
            {hint.map(|h| view! { <div class="stat-hint">{h}</div> })}
        </div>
    }
}

/// An error, said plainly, where the failed content would have been.
#[component]
pub fn ErrorBox(error: AppError) -> impl IntoView {
    view! {
        <div class="callout callout-alert" role="alert">
            <strong>"Could not load this. "</strong>
            <span>{error.to_string()}</span>
        </div>
    }
}

/// What an empty list shows: what to do next, in the UI and from the command line.
#[component]
pub fn EmptyState(title: &'static str, hint: &'static str, command: &'static str) -> impl IntoView {
    view! {
        <div class="empty">
            <p class="empty-title">{title}</p>
            <p>{hint}</p>
            <pre class="code">{command}</pre>
        </div>
    }
}

#[component]
pub fn Loading() -> impl IntoView {
    view! { <div class="loading" aria-busy="true">"Loading…"</div> }
}

/// Cairn's mark: three stacked stones.
#[component]
pub fn Logo(#[prop(default = 22)] size: u32) -> impl IntoView {
    view! {
        <svg viewBox="0 0 24 24" width=size height=size aria-hidden="true">
            <ellipse cx="12" cy="19" rx="8" ry="3" />
            <ellipse cx="12" cy="12.5" rx="6" ry="2.6" />
            <ellipse cx="12" cy="7" rx="4" ry="2.2" />
        </svg>
    }
}
