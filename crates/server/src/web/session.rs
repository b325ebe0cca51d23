//! Logging in and out with a session cookie.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use crate::actions;
use crate::app::App;
use crate::auth::{MaybeCaller, is_loopback_host, random_token, session_cookie, token_hash};
use crate::error::ApiError;

use super::PageResult;
use super::form::{Empty, ViewerForm};
use super::render::render;

#[derive(Deserialize, Default)]
pub(super) struct NextQuery {
    next: Option<String>,
}

pub(super) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") => n.to_string(),
        _ => "/".to_string(),
    }
}

pub(super) async fn login_page(
    State(app): State<Arc<App>>,
    MaybeCaller(c): MaybeCaller,
    Query(q): Query<NextQuery>,
) -> Response {
    if c.is_some() {
        return Redirect::to(&safe_next(q.next.as_deref())).into_response();
    }
    render(
        &app,
        "login.html",
        None,
        json!({"next": safe_next(q.next.as_deref())}),
    )
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

pub(super) async fn login(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let Ok(user) = actions::admin::check_login(&app, &f.username, &f.password).await else {
        {
            return (
                StatusCode::UNAUTHORIZED,
                render(
                    &app,
                    "login.html",
                    None,
                    json!({"error": "wrong user name or password", "next": safe_next(f.next.as_deref()), "username": f.username}),
                ),
            )
                .into_response();
        }
    };
    let sid = random_token(32);
    let csrf = random_token(24);
    let life =
        chrono::Duration::from_std(app.session_lifetime).unwrap_or(chrono::Duration::hours(12));
    if let Err(e) = app
        .store
        .create_session(&token_hash(&sid), user.id, &csrf, Utc::now() + life)
    {
        return crate::error::error_page(&e.into());
    }
    let secure = app.config.server.secure_cookies && !is_loopback_host(&headers);
    (
        [(
            header::SET_COOKIE,
            session_cookie(&sid, life.num_seconds(), secure),
        )],
        Redirect::to(&safe_next(f.next.as_deref())),
    )
        .into_response()
}

pub(super) async fn logout(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    _: ViewerForm<Empty>,
) -> PageResult {
    if let Some(sid) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(';')
                .filter_map(|kv| kv.trim().split_once('='))
                .find(|(k, _)| *k == crate::auth::SESSION_COOKIE)
                .map(|(_, v)| v.to_string())
        })
    {
        app.store
            .delete_session(&token_hash(&sid))
            .map_err(ApiError::from)?;
    }
    Ok((
        [(header::SET_COOKIE, session_cookie("", 0, false))],
        Redirect::to("/login"),
    )
        .into_response())
}
