//! Login, logout and "who am I", for programs (JSON) and for the login form.

use crate::http::ServerState;
use crate::http::auth::{
    Auth, ClientInfo, MaybeAuth, SESSION_COOKIE, removal_cookie, safe_next, session_cookie,
};
use crate::http::error::{ApiError, ApiJson, ApiResult, ErrorBody};
use axum::Json;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use domain::auth::{Credentials, Me};
use serde::Deserialize;
use services::auth::{Via, sessions};

#[utoipa::path(post, path = "/api/v1/login", tag = "auth", request_body = Credentials,
    responses((status = 200, body = Me, description = "Signed in; the session cookie is set"),
              (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(st): State<ServerState>,
    client: ClientInfo,
    jar: CookieJar,
    ApiJson(creds): ApiJson<Credentials>,
) -> ApiResult<(CookieJar, Json<Me>)> {
    let ip = client.ip.as_deref();
    let s = sessions::login(&st.services, &creds.username, &creds.password, ip, client.user_agent.as_deref())
        .await?;
    let me = sessions::principal_of(&s.user, Via::Session, ip).me();
    Ok((jar.add(session_cookie(s.secret, st.cookies.secure)), Json(me)))
}

#[utoipa::path(post, path = "/api/v1/logout", tag = "auth",
    responses((status = 204, description = "Signed out"), (status = 401, body = ErrorBody)))]
pub async fn logout(
    State(st): State<ServerState>,
    Auth(p): Auth,
    jar: CookieJar,
) -> ApiResult<(CookieJar, StatusCode)> {
    if let Some(c) = jar.get(SESSION_COOKIE) {
        sessions::logout(&st.services, c.value(), &p).await?;
    }
    Ok((jar.remove(removal_cookie()), StatusCode::NO_CONTENT))
}

#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(Auth(p): Auth) -> Json<Me> {
    Json(p.me())
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// The login page's form posts here; it answers with redirects so it works
/// without JavaScript, carrying an error message back to the form.
pub async fn login_form(
    State(st): State<ServerState>,
    client: ClientInfo,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let result = sessions::login(
        &st.services,
        &form.username,
        &form.password,
        client.ip.as_deref(),
        client.user_agent.as_deref(),
    )
    .await;
    match result {
        Ok(s) => (jar.add(session_cookie(s.secret, st.cookies.secure)), Redirect::to(&next)).into_response(),
        Err(e) => {
            let message = if e.is_client_error() {
                e.to_string()
            } else {
                tracing::error!(error = ?e, "login failed");
                "could not sign in because of a server error; try again".to_string()
            };
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("error", &message)
                .append_pair("next", &next)
                .append_pair("username", &form.username)
                .finish();
            Redirect::to(&format!("/login?{q}")).into_response()
        }
    }
}

pub async fn logout_form(State(st): State<ServerState>, MaybeAuth(p): MaybeAuth, jar: CookieJar) -> Response {
    if let (Some(p), Some(c)) = (p, jar.get(SESSION_COOKIE))
        && let Err(e) = sessions::logout(&st.services, c.value(), &p).await
    {
        return ApiError::from(e).into_response();
    }
    (jar.remove(removal_cookie()), Redirect::to("/login")).into_response()
}
