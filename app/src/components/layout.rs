//! The frame around every signed-in page: left navigation (with the count of
//! promotion requests waiting for the user), top bar with notifications and the user.

use crate::api::get_me;
use crate::api::registry::{get_inbox, mark_notifications_read, notifications};
use crate::components::page::Logo;
use domain::auth::Role;
use domain::registry::{Inbox, Notification};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::use_location;

/// A section of the left navigation and the least role that can use it. Only
/// sections that work are listed; later features add theirs here.
struct Section {
    href: &'static str,
    label: &'static str,
    icon: &'static str,
    min_role: Role,
    /// Shows the number of promotion requests the user may review.
    counts_reviews: bool,
}

const SECTIONS: &[Section] = &[
    Section {
        href: "/",
        label: "Overview",
        icon: "M3 12l9-8 9 8M5 10v10h14V10",
        min_role: Role::Viewer,
        counts_reviews: false,
    },
    Section {
        href: "/experiments",
        label: "Experiments",
        icon: "M9 3h6M10 3v6L4 19a1 1 0 0 0 1 2h14a1 1 0 0 0 1-2l-6-10V3",
        min_role: Role::Viewer,
        counts_reviews: false,
    },
    Section {
        href: "/datasets",
        label: "Datasets",
        icon: "M4 6c0-1.7 3.6-3 8-3s8 1.3 8 3-3.6 3-8 3-8-1.3-8-3zM4 6v12c0 1.7 3.6 3 8 3s8-1.3 8-3V6M4 12c0 1.7 3.6 3 8 3s8-1.3 8-3",
        min_role: Role::Viewer,
        counts_reviews: false,
    },
    Section {
        href: "/pipelines",
        label: "Pipelines",
        icon: "M3 4h6v5H3zM15 4h6v5h-6zM9 15h6v5H9zM9 6.5h6M6 9l5 6M18 9l-5 6",
        min_role: Role::Viewer,
        counts_reviews: false,
    },
    Section {
        href: "/training",
        label: "Training",
        icon: "M4 20V10M10 20V4M16 20v-7M22 20H2",
        min_role: Role::Viewer,
        counts_reviews: false,
    },
    Section {
        href: "/models",
        label: "Models",
        icon: "M12 2l9 5v10l-9 5-9-5V7zM3 7l9 5 9-5M12 12v10",
        min_role: Role::Viewer,
        counts_reviews: false,
    },
    Section {
        href: "/approvals",
        label: "Approvals",
        icon: "M9 12l2 2 4-4M12 3l8 3v6c0 5-3.5 8-8 9-4.5-1-8-4-8-9V6z",
        min_role: Role::Viewer,
        counts_reviews: true,
    },
    Section {
        href: "/endpoints",
        label: "Endpoints",
        icon: "M4 12h4l3-7 4 14 3-7h2",
        min_role: Role::Viewer,
        counts_reviews: false,
    },
    Section {
        href: "/projects",
        label: "Projects",
        icon: "M3 7h7l2 2h9v11H3z",
        min_role: Role::Viewer,
        counts_reviews: false,
    },
    Section {
        href: "/jobs",
        label: "Jobs",
        icon: "M4 6h16M4 12h10M4 18h7M18 14l3 3-3 3",
        min_role: Role::Viewer,
        counts_reviews: false,
    },
    Section {
        href: "/audit",
        label: "Audit",
        icon: "M9 5h10M9 12h10M9 19h10M4 5h.01M4 12h.01M4 19h.01",
        min_role: Role::Admin,
        counts_reviews: false,
    },
    Section {
        href: "/settings",
        label: "Settings",
        icon: "M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM19 12h2M3 12h2M12 3v2M12 19v2M5.6 5.6l1.4 1.4M17 17l1.4 1.4M5.6 18.4 7 17M17 7l1.4-1.4",
        min_role: Role::Viewer,
        counts_reviews: false,
    },
    Section {
        href: "/about",
        label: "About",
        icon: "M12 8v.01M11 12h1v5h1M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18",
        min_role: Role::Viewer,
        counts_reviews: false,
    },
];

/// Bumped by a page after something that changes the user's counts (a review,
/// a withdrawn request), so the navigation re-reads them.
#[derive(Clone, Copy)]
pub struct InboxRefresh(RwSignal<u32>);

impl InboxRefresh {
    /// The navigation's, when the page is inside the layout (take it while
    /// building the component: contexts are not reachable from async tasks).
    pub fn get() -> Option<InboxRefresh> {
        use_context::<InboxRefresh>()
    }

    pub fn bump(self) {
        self.0.update(|n| *n += 1);
    }
}

const BELL: &str = "M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9M10.3 21a1.94 1.94 0 0 0 3.4 0";

#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let me = Resource::new(|| (), |_| get_me());
    let role = move || me.get().and_then(|r| r.ok()).flatten().map(|m| m.role).unwrap_or(Role::Viewer);
    let refresh = RwSignal::new(0u32);
    provide_context(InboxRefresh(refresh));
    // Re-read on every navigation too: a request decided elsewhere shows up on the
    // next page the user opens.
    let location = use_location();
    let inbox = Resource::new(move || (location.pathname.get(), refresh.get()), |_| get_inbox());
    let counts = move || inbox.get().and_then(|r| r.ok()).unwrap_or_default();
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
                            let waiting = counts().pending_reviews;
                            SECTIONS
                                .iter()
                                .filter(|s| role >= s.min_role)
                                .map(|s| {
                                    let badge = (s.counts_reviews && waiting > 0).then(|| view! {
                                        <span class="nav-count" data-testid="approvals-count"
                                            title=format!("{waiting} waiting for your review")>{waiting}</span>
                                    });
                                    view! {
                                        <li>
                                            <A href=s.href exact=true>
                                                <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true">
                                                    <path d=s.icon />
                                                </svg>
                                                <span>{s.label}</span>
                                                {badge}
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
                                            <Bell counts=Signal::derive(counts) refresh />
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

/// The notifications bell: the unread count, and on click the latest
/// notifications (loaded then, in the browser), which are then marked read.
#[component]
fn Bell(counts: Signal<Inbox>, refresh: RwSignal<u32>) -> impl IntoView {
    let open = RwSignal::new(false);
    let items = RwSignal::new(None::<Result<Vec<Notification>, String>>);
    let unread = move || counts.with(|c| c.unread_notifications);
    let toggle = move |_| {
        let opening = !open.get_untracked();
        open.set(opening);
        if !opening {
            return;
        }
        let had_unread = unread() > 0;
        spawn_local(async move {
            items.set(Some(notifications().await.map_err(|e| e.to_string())));
            if had_unread && mark_notifications_read().await.is_ok() {
                refresh.update(|n| *n += 1);
            }
        });
    };
    view! {
        <div class="bell">
            <button type="button" class="btn btn-small bell-button" on:click=toggle
                aria-label=move || format!("Notifications ({} unread)", unread())
                aria-expanded=move || open.get().to_string() data-testid="notifications-button">
                <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true"><path d=BELL /></svg>
                {move || (unread() > 0).then(|| view! { <span class="nav-count" data-testid="unread-count">{unread()}</span> })}
            </button>
            {move || open.get().then(|| view! {
                <div class="bell-panel" role="dialog" aria-label="Notifications" data-testid="notifications">
                    <div class="bell-head"><strong>"Notifications"</strong>
                        <button type="button" class="btn btn-small" on:click=move |_| open.set(false)>"Close"</button></div>
                    {move || match items.get() {
                        None => view! { <p class="muted bell-empty">"Loading…"</p> }.into_any(),
                        Some(Err(e)) => view! { <p class="field-error bell-empty">{e}</p> }.into_any(),
                        Some(Ok(list)) if list.is_empty() => view! {
                            <p class="muted bell-empty">"Nothing yet. You hear here when a promotion you asked for is decided, or one waits for your review."</p>
                        }.into_any(),
                        Some(Ok(list)) => view! {
                            <ul class="bell-list">
                                {list.into_iter().map(|n| view! {
                                    <li class=if n.read { "" } else { "unread" }>
                                        <a href=n.link.clone() on:click=move |_| open.set(false)>{n.title.clone()}</a>
                                        {(!n.body.is_empty()).then(|| view! { <p class="bell-body">{n.body.clone()}</p> })}
                                        <time class="muted">{n.created_at.format("%Y-%m-%d %H:%M UTC").to_string()}</time>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                    }}
                </div>
            })}
        </div>
    }
}
