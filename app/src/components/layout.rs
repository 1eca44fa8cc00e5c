//! The frame around every signed-in page: left navigation, top bar with the user.

use crate::api::get_me;
use crate::components::page::Logo;
use domain::auth::Role;
use leptos::prelude::*;
use leptos_router::components::A;

/// A section of the left navigation and the least role that can use it. Only
/// sections that work are listed; later features add theirs here.
struct Section {
    href: &'static str,
    label: &'static str,
    icon: &'static str,
    min_role: Role,
}

const SECTIONS: &[Section] = &[
    Section { href: "/", label: "Overview", icon: "M3 12l9-8 9 8M5 10v10h14V10", min_role: Role::Viewer },
    Section {
        href: "/experiments",
        label: "Experiments",
        icon: "M9 3h6M10 3v6L4 19a1 1 0 0 0 1 2h14a1 1 0 0 0 1-2l-6-10V3",
        min_role: Role::Viewer,
    },
    Section {
        href: "/datasets",
        label: "Datasets",
        icon: "M4 6c0-1.7 3.6-3 8-3s8 1.3 8 3-3.6 3-8 3-8-1.3-8-3zM4 6v12c0 1.7 3.6 3 8 3s8-1.3 8-3V6M4 12c0 1.7 3.6 3 8 3s8-1.3 8-3",
        min_role: Role::Viewer,
    },
    Section {
        href: "/training",
        label: "Training",
        icon: "M4 20V10M10 20V4M16 20v-7M22 20H2",
        min_role: Role::Viewer,
    },
    Section {
        href: "/endpoints",
        label: "Endpoints",
        icon: "M4 12h4l3-7 4 14 3-7h2",
        min_role: Role::Viewer,
    },
    Section { href: "/projects", label: "Projects", icon: "M3 7h7l2 2h9v11H3z", min_role: Role::Viewer },
    Section {
        href: "/jobs",
        label: "Jobs",
        icon: "M4 6h16M4 12h10M4 18h7M18 14l3 3-3 3",
        min_role: Role::Viewer,
    },
    Section {
        href: "/audit",
        label: "Audit",
        icon: "M9 5h10M9 12h10M9 19h10M4 5h.01M4 12h.01M4 19h.01",
        min_role: Role::Admin,
    },
    Section {
        href: "/settings",
        label: "Settings",
        icon: "M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM19 12h2M3 12h2M12 3v2M12 19v2M5.6 5.6l1.4 1.4M17 17l1.4 1.4M5.6 18.4 7 17M17 7l1.4-1.4",
        min_role: Role::Viewer,
    },
    Section {
        href: "/about",
        label: "About",
        icon: "M12 8v.01M11 12h1v5h1M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18",
        min_role: Role::Viewer,
    },
];

#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let me = Resource::new(|| (), |_| get_me());
    let role = move || me.get().and_then(|r| r.ok()).flatten().map(|m| m.role).unwrap_or(Role::Viewer);
    view! {
        <div class="shell">
            <a class="skip-link" href="#content">"Skip to content"</a>
            <nav class="sidenav" aria-label="Main">
                <a class="brand" href="/">
                    <Logo />
                    <span>"Cairn"</span>
                </a>
                <Transition>
                    <ul>
                        {move || {
                            let role = role();
                            SECTIONS
                                .iter()
                                .filter(|s| role >= s.min_role)
                                .map(|s| {
                                    view! {
                                        <li>
                                            <A href=s.href exact=true>
                                                <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true">
                                                    <path d=s.icon />
                                                </svg>
                                                <span>{s.label}</span>
                                            </A>
                                        </li>
                                    }
                                })
                                .collect_view()
                        }}
                    </ul>
                </Transition>
            </nav>
            <div class="main">
                <header class="topbar">
                    <Transition>
                        {move || {
                            me.get()
                                .and_then(|r| r.ok())
                                .flatten()
                                .map(|m| {
                                    view! {
                                        <div class="user" data-testid="current-user">
                                            <span class="user-name">{m.username}</span>
                                            <span class="badge badge-queued">{m.role.to_string()}</span>
                                            <form method="post" action="/auth/logout">
                                                <button type="submit" class="btn btn-small">"Sign out"</button>
                                            </form>
                                        </div>
                                    }
                                })
                        }}
                    </Transition>
                </header>
                <main id="content">{children()}</main>
            </div>
        </div>
    }
}
