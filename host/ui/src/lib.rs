//! The master's web UI: a few static files (one HTML page, one style sheet, plain JavaScript
//! modules, no build step) compiled into the binary with `include_str!`, and the routes that
//! serve them. The page reads everything else from the master's own endpoints (the operator
//! event stream, `/master/roles`, `/master/modules`, `/metrics/snapshot`) and a task's
//! sandbox from its agent's `/files`.
//!
//! **Invariant:** no IO and no state: what is served is fixed at compile time, so the UI needs
//! nothing at run time (no network, no files).

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The URL prefix of every asset but the page itself.
pub const ASSET_PREFIX: &str = "/ui/";

/// One file of the UI: its name under [`ASSET_PREFIX`], content type and text.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every asset the page loads.
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../assets/style.css"),
    },
    Asset {
        name: "app.js",
        content_type: JS,
        body: include_str!("../assets/app.js"),
    },
    Asset {
        name: "model.js",
        content_type: JS,
        body: include_str!("../assets/model.js"),
    },
    Asset {
        name: "pages.js",
        content_type: JS,
        body: include_str!("../assets/pages.js"),
    },
];

/// The page, served at `/`.
pub const INDEX: &str = include_str!("../assets/index.html");

/// What the page may load and reach: its own scripts and styles only (no inline script, so an
/// injected task name cannot run), fetches to the master and, for sandboxes, to any agent.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self' http: https:; frame-ancestors 'none'; base-uri 'none'; \
                   form-action 'none'";

/// An asset by its name under [`ASSET_PREFIX`].
pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// `GET /` (the page) and `GET /ui/<asset>`, for a router of any state.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { page() }))
        .route("/ui/{name}", get(serve_asset))
}

fn page() -> Response {
    let mut response = answer("text/html; charset=utf-8", INDEX);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}

async fn serve_asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match asset(&name) {
        Some(a) => answer(a.content_type, a.body),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("no UI asset named '{name}'"),
        )
            .into_response(),
    }
}

fn answer(content_type: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            // Small files, revalidated on every load: a new binary's UI shows at once.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_assets_that_exist() {
        let mut referenced = 0;
        for text in std::iter::once(INDEX).chain(ASSETS.iter().map(|a| a.body)) {
            for (i, _) in text.match_indices(ASSET_PREFIX) {
                let rest = &text[i + ASSET_PREFIX.len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                    .collect();
                assert!(asset(&name).is_some(), "'{name}' is not an asset");
                referenced += 1;
            }
        }
        assert!(referenced >= 2);
        for a in ASSETS {
            assert!(
                INDEX.contains(a.name)
                    || ASSETS
                        .iter()
                        .any(|b| b.body.contains(&format!("./{}", a.name))),
                "{} is served but never loaded",
                a.name
            );
        }
    }

    #[test]
    fn the_page_has_no_inline_script() {
        assert!(!INDEX.contains("<script>"));
        assert!(!INDEX.contains("onclick"));
    }
}
