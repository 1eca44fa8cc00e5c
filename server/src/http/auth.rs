//! Authentication at the edge: every request gets a `CurrentUser` from its bearer
//! token or session cookie; cookie-authenticated writes must come from our own
//! origin (CSRF); page views without a session are sent to the login page.
//! What a caller may do is decided in `services::auth`, not here.

use super::error::ApiError;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use services::auth::{CurrentUser, Principal, Via};
use std::net::SocketAddr;

pub const SESSION_COOKIE: &str = "cairn_session";

/// Paths anyone may fetch without signing in.
fn is_public(path: &str) -> bool {
    // The V2 health probes are for load balancers, like /healthz; they say nothing
    // about models.
    matches!(
        path,
        "/healthz"
            | "/readyz"
            | "/metrics"
            | "/favicon.svg"
            | "/login"
            | "/api/v1/openapi.json"
            | "/v2/health/live"
            | "/v2/health/ready"
    ) || path.starts_with("/pkg/")
        || path.starts_with("/auth/")
        || path == "/api/v1/login"
}

pub fn client_ip(req: &Request) -> Option<String> {
    ip_of(req.extensions())
}

fn ip_of(ext: &axum::http::Extensions) -> Option<String> {
    ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string())
}

/// Where a request came from, for sessions and the audit log.
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect());
        Ok(ClientInfo { ip: ip_of(&parts.extensions), user_agent })
    }
}

/// The caller if signed in, without requiring it.
pub struct MaybeAuth(pub Option<Principal>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeAuth {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybeAuth(parts.extensions.get::<CurrentUser>().and_then(|c| c.0.clone())))
    }
}

pub async fn authenticate(
    State(st): State<services::AppState>,
    jar: CookieJar,
    mut req: Request,
    next: Next,
) -> Response {
    let ip = client_ip(&req);
    let principal = if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let Some(token) = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) else {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the Authorization header must be `Bearer <token>`",
            )
            .into_response();
        };
        match services::auth::tokens::verify(&st, token.trim(), ip.as_deref()).await {
            Ok(p) => Some(p),
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else if let Some(cookie) = jar.get(SESSION_COOKIE) {
        match services::auth::sessions::resolve(&st, cookie.value(), ip.as_deref()).await {
            Ok(p) => p,
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else {
        None
    };

    let cookie_write = !req.method().is_safe() && principal.as_ref().is_none_or(|p| p.via == Via::Session);
    if cookie_write
        && (principal.is_some() || req.uri().path().starts_with("/auth/"))
        && let Err(e) = check_same_origin(req.headers(), req.uri())
    {
        return e.into_response();
    }

    if principal.is_none() && is_page_view(req.method(), req.uri().path()) {
        let next_path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        return Redirect::to(&format!("/login?next={}", urlencode(next_path))).into_response();
    }
    req.extensions_mut().insert(CurrentUser(principal));
    next.run(req).await
}

fn is_page_view(method: &Method, path: &str) -> bool {
    (method == Method::GET || method == Method::HEAD)
        && !is_public(path)
        && !path.starts_with("/api/")
        && !path.starts_with("/ajax-api/")
        && !super::serving::is_serving_path(path)
}

/// Cookie-authenticated writes must come from a page of ours. Browsers send
/// `Sec-Fetch-Site` (and `Origin` on every POST); other clients should use tokens.
fn check_same_origin(headers: &HeaderMap, uri: &axum::http::Uri) -> Result<(), ApiError> {
    let forbidden = |m: &str| ApiError::new(StatusCode::FORBIDDEN, "csrf", m.to_string());
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return if site == "same-origin" || site == "none" {
            Ok(())
        } else {
            Err(forbidden("cross-site request refused: this action must be sent from Cairn's own pages"))
        };
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    // HTTP/2 carries the host in the URI's authority rather than a Host header.
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    match (origin, host) {
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or(origin);
            if origin_host.eq_ignore_ascii_case(host) {
                Ok(())
            } else {
                Err(forbidden("cross-origin request refused: the Origin header does not match this server"))
            }
        }
        _ => Err(forbidden(
            "the request has no Origin header; browsers send one, and programs should use an API token (Authorization: Bearer)",
        )),
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Where to go after logging in: only paths on this server (no `//evil.example`).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n.to_string(),
        _ => "/".to_string(),
    }
}

pub fn session_cookie(secret: String, secure: bool) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, secret))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .max_age(cookie::time::Duration::seconds(services::auth::sessions::SESSION_TTL.num_seconds()))
        .build()
}

pub fn removal_cookie() -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, "")).path("/").build()
}

/// A handler argument that requires a signed-in caller (401 otherwise).
pub struct Auth(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<CurrentUser>() {
            Some(CurrentUser(Some(p))) => Ok(Auth(p.clone())),
            _ => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "sign in first: send `Authorization: Bearer <token>` (create one under Settings › API tokens) or log in",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(safe_next(Some("/projects?x=1")), "/projects?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn same_origin_rules() {
        let uri = axum::http::Uri::from_static("/api/v1/projects");
        let mut h = HeaderMap::new();
        assert!(check_same_origin(&h, &uri).is_err(), "no headers");
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:3000"));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:3000"));
        assert!(check_same_origin(&h, &uri).is_ok());
        h.insert(header::ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert!(check_same_origin(&h, &uri).is_err());
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(check_same_origin(&h, &uri).is_ok(), "Sec-Fetch-Site wins when present");
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(check_same_origin(&h, &uri).is_err());

        // HTTP/2: no Host header, the authority is in the URI.
        let mut h2 = HeaderMap::new();
        h2.insert(header::ORIGIN, HeaderValue::from_static("https://cairn.example"));
        let abs = axum::http::Uri::from_static("https://cairn.example/api/v1/projects");
        assert!(check_same_origin(&h2, &abs).is_ok());
        assert!(check_same_origin(&h2, &uri).is_err());
    }
}
