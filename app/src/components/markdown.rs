//! Markdown written by users (model cards), rendered to HTML that cannot run
//! anything: raw HTML is shown as text and links may only use safe schemes, so a
//! card is safe to put into the page with `inner_html`.

use leptos::prelude::*;
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, html};

/// Schemes a link or image may use; anything else (javascript:, data:, vbscript:)
/// becomes `#`. Relative links and fragments have no scheme and pass.
const SAFE_SCHEMES: [&str; 4] = ["http", "https", "mailto", "ftp"];

fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    // Browsers ignore leading spaces and control characters, and tabs or newlines
    // inside a scheme: judge the URL the way they read it.
    let cleaned: String = url.chars().filter(|c| !c.is_whitespace() && !c.is_control()).collect();
    let scheme_end = cleaned.find([':', '/', '?', '#']);
    match scheme_end {
        Some(i) if cleaned[i..].starts_with(':') => {
            let scheme = cleaned[..i].to_ascii_lowercase();
            if SAFE_SCHEMES.contains(&scheme.as_str()) { url } else { CowStr::Borrowed("#") }
        }
        _ => url,
    }
}

/// HTML of a markdown text (CommonMark with tables, strikethrough and task lists).
pub fn to_html(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        // Shown as typed, escaped by the HTML writer.
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Link { link_type, dest_url: safe_url(dest_url), title, id })
        }
        Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Image { link_type, dest_url: safe_url(dest_url), title, id })
        }
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

/// Rendered markdown in a `.markdown` block.
#[component]
pub fn Markdown(
    #[prop(into)] text: Signal<String>,
    #[prop(optional)] test_id: Option<&'static str>,
) -> impl IntoView {
    view! { <div class="markdown" data-testid=test_id inner_html=move || text.with(|t| to_html(t))></div> }
}

#[cfg(test)]
mod tests {
    use super::to_html;

    #[test]
    fn renders_markdown_with_tables() {
        let html = to_html("# Credit\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- [x] done\n\n**bold** ~~gone~~");
        assert!(html.contains("<h1>Credit</h1>"), "{html}");
        assert!(html.contains("<table>") && html.contains("<td>1</td>"), "{html}");
        assert!(html.contains("<strong>bold</strong>") && html.contains("<del>gone</del>"), "{html}");
        assert!(html.contains("checkbox"), "{html}");
    }

    #[test]
    fn raw_html_is_shown_as_text_and_scripts_never_run() {
        let html = to_html("<script>alert(1)</script>\n\nhi <img src=x onerror=alert(2)> there");
        assert!(!html.contains("<script") && !html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(2)&gt;"), "{html}");
    }

    #[test]
    fn only_safe_link_schemes_survive() {
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " java\tscript:alert(1)",
            "data:text/html,x",
            "vbscript:x",
        ] {
            let html = to_html(&format!("[x](<{bad}>) ![i](<{bad}>)"));
            assert!(
                !html.to_ascii_lowercase().contains("script:") && !html.contains("data:"),
                "{bad}: {html}"
            );
            assert!(html.contains("href=\"#\""), "{bad}: {html}");
        }
        let html = to_html("[a](https://example.org/x) [b](/models/credit) [c](#top) [d](mailto:me@x.org)");
        for ok in ["https://example.org/x", "/models/credit", "#top", "mailto:me@x.org"] {
            assert!(html.contains(&format!("href=\"{ok}\"")), "{ok}: {html}");
        }
    }
}
