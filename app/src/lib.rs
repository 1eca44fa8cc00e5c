//! The dashboard: pages, components and the server functions they call.
//!
//! Architecture invariants:
//! - Components only present. Data arrives through `Resource`s over server functions
//!   in [`api`]; each server function is an adapter that calls one `services`
//!   function (compiled only with the `ssr` feature).
//! - No `#[cfg(feature = "ssr")]` in page or component files; server-only helpers
//!   live in [`ssr`].
#![recursion_limit = "256"]

pub mod api;
pub mod components;
pub mod error;
pub mod format;
pub mod live;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod upload;

use components::layout::Layout;
use leptos::prelude::*;
use leptos_meta::{Link, Meta, MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::path;
use pages::{
    about::AboutPage, approvals::ApprovalsPage, approvals::PromotionPage, audit::AuditPage,
    dataset_version::DatasetVersionPage, datasets::DatasetPage, datasets::DatasetsPage,
    endpoints::EndpointPage, endpoints::EndpointsPage, experiments::ComparePage, experiments::ExperimentPage,
    experiments::ExperimentsPage, experiments::RunPage, home::HomePage, jobs::JobPage, jobs::JobsPage,
    lineage::LineagePage, login::LoginPage, models::ModelPage, models::ModelVersionPage, models::ModelsPage,
    not_found::NotFound, pipelines::PipelinePage, pipelines::PipelineRunPage, pipelines::PipelinesPage,
    projects::ProjectsPage, settings::SettingsPage, training::TrainingPage, training_run::TrainingRunPage,
    validation::ValidationPage,
};

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="cairn" href="/pkg/cairn.css" />
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg" />
        <Meta name="color-scheme" content="light dark" />
        <Title formatter=|page: String| if page.is_empty() { "Cairn".to_string() } else { format!("{page} · Cairn") } />
        <Router>
            <Routes fallback=|| view! { <Layout><NotFound /></Layout> }>
                <Route path=path!("/login") view=LoginPage />
                <ParentRoute path=path!("") view=|| view! { <Layout><leptos_router::components::Outlet /></Layout> }>
                    <Route path=path!("") view=HomePage />
                    <Route path=path!("/projects") view=ProjectsPage />
                    <Route path=path!("/experiments") view=ExperimentsPage />
                    <Route path=path!("/experiments/:id") view=ExperimentPage />
                    <Route path=path!("/runs/:id") view=RunPage />
                    <Route path=path!("/compare") view=ComparePage />
                    <Route path=path!("/datasets") view=DatasetsPage />
                    <Route path=path!("/datasets/:id") view=DatasetPage />
                    <Route path=path!("/datasets/:id/versions/:version") view=DatasetVersionPage />
                    <Route path=path!("/datasets/:id/validations/:vid") view=ValidationPage />
                    <Route path=path!("/pipelines") view=PipelinesPage />
                    <Route path=path!("/pipelines/runs/:id") view=PipelineRunPage />
                    <Route path=path!("/pipelines/:name") view=PipelinePage />
                    <Route path=path!("/lineage") view=LineagePage />
                    <Route path=path!("/lineage/:id") view=LineagePage />
                    <Route path=path!("/training") view=TrainingPage />
                    <Route path=path!("/training/runs/:id") view=TrainingRunPage />
                    <Route path=path!("/models") view=ModelsPage />
                    <Route path=path!("/models/:name") view=ModelPage />
                    <Route path=path!("/models/:name/versions/:version") view=ModelVersionPage />
                    <Route path=path!("/approvals") view=ApprovalsPage />
                    <Route path=path!("/approvals/:id") view=PromotionPage />
                    <Route path=path!("/endpoints") view=EndpointsPage />
                    <Route path=path!("/endpoints/:name") view=EndpointPage />
                    <Route path=path!("/jobs") view=JobsPage />
                    <Route path=path!("/jobs/:id") view=JobPage />
                    <Route path=path!("/settings") view=SettingsPage />
                    <Route path=path!("/audit") view=AuditPage />
                    <Route path=path!("/about") view=AboutPage />
                </ParentRoute>
            </Routes>
        </Router>
    }
}
