//! The frame around every page: left navigation, top bar, content.

use leptos::prelude::*;
use leptos_router::components::A;

/// Sections in the left navigation. Only sections that work are listed; later
/// features add theirs here.
const SECTIONS: &[(&str, &str, &str)] = &[
    ("/", "Overview", "M3 12l9-8 9 8M5 10v10h14V10"),
    ("/projects", "Projects", "M3 7h7l2 2h9v11H3z"),
    ("/about", "About", "M12 8v.01M11 12h1v5h1M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18"),
];

#[component]
pub fn Layout(children: Children) -> impl IntoView {
    view! {
        <div class="shell">
            <a class="skip-link" href="#content">"Skip to content"</a>
            <nav class="sidenav" aria-label="Main">
                <a class="brand" href="/">
                    <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
                        <ellipse cx="12" cy="19" rx="8" ry="3" />
                        <ellipse cx="12" cy="12.5" rx="6" ry="2.6" />
                        <ellipse cx="12" cy="7" rx="4" ry="2.2" />
                    </svg>
                    <span>"Cairn"</span>
                </a>
                <ul>
                    {SECTIONS
                        .iter()
                        .map(|(href, label, icon)| {
                            view! {
                                <li>
                                    <A href=*href exact=true>
                                        <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true">
                                            <path d=*icon />
                                        </svg>
                                        <span>{*label}</span>
                                    </A>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </nav>
            <div class="main">
                <main id="content">{children()}</main>
            </div>
        </div>
    }
}
