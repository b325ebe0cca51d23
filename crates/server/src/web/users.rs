//! Users and API tokens.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use serde_json::json;

use crate::actions;
use crate::app::App;
use crate::auth::Viewer;
use crate::error::ApiError;

use super::PageResult;
use super::form::{AccountForm, AdminForm, Empty};
use super::render::render;

pub(super) async fn users(State(app): State<Arc<App>>, Viewer(c): Viewer) -> PageResult {
    let users = if c.is_admin() {
        app.store.users()?
    } else {
        Vec::new()
    };
    let tokens = app
        .store
        .tokens(if c.is_admin() { None } else { Some(c.user.id) })?;
    Ok(render(
        &app,
        "users.html",
        Some(&c),
        json!({"users": users, "tokens": tokens, "me": c.user.id, "local": c.user.origin == "local"}),
    ))
}

#[derive(Deserialize)]
pub(super) struct UserForm {
    name: String,
    role: String,
    #[serde(default)]
    password: Option<String>,
}

pub(super) async fn create_user(
    State(app): State<Arc<App>>,
    AdminForm(c, f): AdminForm<UserForm>,
) -> PageResult {
    let (user, password) = actions::admin::add_user(
        &app,
        &c.actor(),
        actions::admin::CreateUser {
            username: f.name,
            role: f.role,
            password: f.password.filter(|p| !p.is_empty()),
        },
    )
    .await?;
    Ok(render(
        &app,
        "message.html",
        Some(&c),
        json!({
            "title": format!("User {} created", user.name),
            "message": password.map_or_else(|| "The user can log in with the password you chose.".to_string(), |p| format!("Their password (shown once): {p}")),
            "link": "/users", "link_text": "Back to users",
        }),
    ))
}

/// A user or token id from the path.
pub(super) fn numeric_id(id: &str, what: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request(format!("not a {what} id")))
}

pub(super) async fn delete_user(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    AdminForm(c, _): AdminForm<Empty>,
) -> PageResult {
    actions::admin::remove_user(&app, &c, numeric_id(&id, "user")?)?;
    Ok(Redirect::to("/users").into_response())
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    current_password: String,
    password: String,
}

pub(super) async fn change_password(
    State(app): State<Arc<App>>,
    AccountForm(c, f): AccountForm<PasswordForm>,
) -> PageResult {
    actions::admin::change_password(&app, &c, c.user.id, f.password, Some(f.current_password))
        .await?;
    Ok(render(
        &app,
        "message.html",
        Some(&c),
        json!({"title": "Password changed", "link": "/users", "link_text": "Back"}),
    ))
}

#[derive(Deserialize)]
pub(super) struct TokenForm {
    name: String,
    scope: String,
    #[serde(default)]
    expires_in: Option<String>,
}

pub(super) async fn create_token(
    State(app): State<Arc<App>>,
    AccountForm(c, f): AccountForm<TokenForm>,
) -> PageResult {
    let v = actions::admin::mint_token(
        &app,
        &c.actor(),
        &c.user,
        c.level,
        &actions::admin::CreateToken {
            name: f.name,
            scope: Some(f.scope),
            expires_in: f.expires_in.filter(|e| !e.is_empty()),
        },
    )?;
    Ok(render(
        &app,
        "message.html",
        Some(&c),
        json!({
            "title": "Token created",
            "message": "Copy it now: it is shown only this once.",
            "secret": v["token"],
            "link": "/users", "link_text": "Back to users and tokens",
        }),
    ))
}

pub(super) async fn revoke_token(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    AccountForm(c, _): AccountForm<Empty>,
) -> PageResult {
    actions::admin::revoke(&app, &c, numeric_id(&id, "token")?)?;
    Ok(Redirect::to("/users").into_response())
}
