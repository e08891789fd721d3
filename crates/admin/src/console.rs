//! The management console: a small front end embedded in the binary (`crates/admin/assets/`: one HTML shell,
//! one stylesheet, vanilla JavaScript modules; `cargo build` alone builds it), served under `/admin/` behind the
//! admin API's own guard (401 with the Basic challenge, 403 for everyone but the administrators). Each page is
//! the shell with its title, its navigation entry marked `aria-current` and its module; the modules speak only
//! to `/admin/api/v1/` on the same listener. Every answer carries a strict Content-Security-Policy (no inline
//! script or style, nothing from another origin, no framing).

use axum::extract::Path;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// The Content-Security-Policy of every page and asset.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A console page: its path under `/admin/`, navigation label, title and module.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// The path segment after `/admin/` (`""` for the overview).
    pub slug: &'static str,
    /// The navigation label and `<h1>`.
    pub title: &'static str,
    /// The module under `assets/` that renders it.
    pub module: &'static str,
}

const fn page_of(slug: &'static str, title: &'static str, module: &'static str) -> Page {
    Page { slug, title, module }
}

/// Every page, in navigation order.
pub const PAGES: [Page; 8] = [
    page_of("", "Overview", "overview.js"),
    page_of("apis", "APIs", "apis.js"),
    page_of("consent", "AAD consent", "consent.js"),
    page_of("oauth", "OAuth", "oauth.js"),
    page_of("lockouts", "Lockouts", "lockouts.js"),
    page_of("inspect", "Token inspector", "inspect.js"),
    page_of("live", "Live", "live.js"),
    page_of("audit", "Audit", "audit.js"),
];

const SHELL: &str = include_str!("../assets/shell.html");
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// The embedded assets: name, content type, bytes.
const ASSETS: [(&str, &str, &str); 11] = [
    ("console.css", CSS, include_str!("../assets/console.css")),
    ("common.js", JS, include_str!("../assets/common.js")),
    ("charts.js", JS, include_str!("../assets/charts.js")),
    ("overview.js", JS, include_str!("../assets/overview.js")),
    ("apis.js", JS, include_str!("../assets/apis.js")),
    ("consent.js", JS, include_str!("../assets/consent.js")),
    ("oauth.js", JS, include_str!("../assets/oauth.js")),
    ("lockouts.js", JS, include_str!("../assets/lockouts.js")),
    ("inspect.js", JS, include_str!("../assets/inspect.js")),
    ("live.js", JS, include_str!("../assets/live.js")),
    ("audit.js", JS, include_str!("../assets/audit.js")),
];

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The shell for `page`: title, navigation (a list of links, the current one marked) and module.
pub fn render(page: &Page) -> String {
    let nav: String = PAGES
        .iter()
        .map(|p| {
            let current = if p.slug == page.slug {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!(
                "<li><a href=\"/admin/{}\"{current}>{}</a></li>",
                p.slug,
                escape(p.title)
            )
        })
        .collect();
    SHELL
        .replace("{{title}}", &escape(page.title))
        .replace("{{nav}}", &nav)
        .replace("{{module}}", page.module)
}

/// Adds the headers every console answer carries.
fn strict(mut response: Response, content_type: &'static str) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    response
}

async fn page(slug: Option<Path<String>>) -> Response {
    let slug = slug.map(|Path(s)| s).unwrap_or_default();
    match PAGES.iter().find(|p| p.slug == slug) {
        Some(page) => strict(render(page).into_response(), "text/html; charset=utf-8"),
        None => not_found().await,
    }
}

async fn not_found() -> Response {
    strict(
        (
            StatusCode::NOT_FOUND,
            "<!doctype html><title>Not found</title><p>No such console page. <a href=\"/admin/\">Overview</a>",
        )
            .into_response(),
        "text/html; charset=utf-8",
    )
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => strict((*body).into_response(), content_type),
        None => strict(
            (StatusCode::NOT_FOUND, "not found").into_response(),
            "text/plain; charset=utf-8",
        ),
    }
}

/// The console's routes (`/admin`, `/admin/`, `/admin/{page}`, `/admin/assets/{name}`, and a 404 page for
/// anything else under `/admin/`), without the guard: the caller layers the admin API's guard over them.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/admin", get(|| async { Redirect::permanent("/admin/") }))
        .route("/admin/", get(|| page(None)))
        .route("/admin/assets/{name}", get(asset))
        .route("/admin/{page}", get(|p: Path<String>| page(Some(p))))
        .fallback(not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_has_its_module_embedded_and_marks_itself_current_only() {
        for page in &PAGES {
            assert!(ASSETS.iter().any(|(n, _, _)| *n == page.module), "{}", page.module);
            let html = render(page);
            assert_eq!(html.matches("aria-current=\"page\"").count(), 1, "{}", page.title);
            assert!(html.contains(&format!("<a href=\"/admin/{}\" aria-current=\"page\">", page.slug)));
            assert!(html.contains(&format!("src=\"/admin/assets/{}\"", page.module)));
            assert!(!html.contains("{{"), "every placeholder filled");
            assert!(!html.contains("<script>"), "no inline script (the CSP forbids it)");
            assert!(!html.contains(" style="), "no inline style (the CSP forbids it)");
        }
    }

    #[test]
    fn every_script_module_imports_only_embedded_modules() {
        for (name, _, body) in ASSETS.iter().filter(|(n, _, _)| n.ends_with(".js")) {
            for line in body.lines().filter(|l| l.starts_with("import ")) {
                let Some(from) = line.split('\'').nth(1) else {
                    panic!("{name}: {line}");
                };
                let module = from.trim_start_matches("./");
                assert!(ASSETS.iter().any(|(n, _, _)| *n == module), "{name} imports {from}");
            }
        }
    }
}
