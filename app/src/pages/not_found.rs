//! The page for an address that leads nowhere (HTTP 404).

use crate::api::mark_not_found;
use crate::components::page::PageHeader;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    mark_not_found();
    view! {
        <Title text="Not found" />
        <PageHeader title="Page not found" />
        <section class="panel">
            <p>"Nothing lives at this address. Check the link, or start from the " <a href="/">"Overview"</a> "."</p>
        </section>
    }
}
