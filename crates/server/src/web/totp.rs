//! The account's one-time code (TOTP): set it up (the secret and its QR
//! code are shown this once), confirm it with a code, remove it; admins
//! reset another user's.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use serde_json::json;

use crate::actions;
use crate::app::App;
use crate::auth::Viewer;

use super::PageResult;
use super::form::{AccountForm, AdminForm, Empty};
use super::render::render;
use super::users::numeric_id;

pub(super) async fn page(State(app): State<Arc<App>>, Viewer(c): Viewer) -> PageResult {
    let row = app.store.totp(c.user.id)?;
    Ok(render(
        &app,
        "totp.html",
        Some(&c),
        json!({
            "local": c.user.origin == "local",
            "enabled": row.as_ref().is_some_and(|r| r.confirmed),
            "required": crate::auth::must_enroll(&app, &c),
        }),
    ))
}

pub(super) async fn start(
    State(app): State<Arc<App>>,
    AccountForm(c, _): AccountForm<Empty>,
) -> PageResult {
    let e = actions::totp::enroll(&app, &c)?;
    Ok(render(
        &app,
        "totp.html",
        Some(&c),
        json!({
            "local": true,
            "enrolling": true,
            "secret": e.secret,
            "uri": e.uri,
            "qr": e.qr_svg.map(|svg| format!(
                "data:image/svg+xml;base64,{}",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, svg)
            )),
        }),
    ))
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    #[serde(default)]
    code: String,
}

pub(super) async fn confirm(
    State(app): State<Arc<App>>,
    AccountForm(c, f): AccountForm<CodeForm>,
) -> PageResult {
    actions::totp::confirm(&app, &c, &f.code)?;
    Ok(render(
        &app,
        "message.html",
        Some(&c),
        json!({
            "title": "One-time code set up",
            "message": "From now on, signing in asks for the code your app shows after the password.",
            "link": "/", "link_text": "To the dashboard",
        }),
    ))
}

pub(super) async fn remove(
    State(app): State<Arc<App>>,
    AccountForm(c, f): AccountForm<CodeForm>,
) -> PageResult {
    actions::totp::remove(&app, &c, c.user.id, Some(&f.code))?;
    Ok(Redirect::to("/account/totp").into_response())
}

pub(super) async fn reset(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    AdminForm(c, _): AdminForm<Empty>,
) -> PageResult {
    let user = actions::totp::remove(&app, &c, numeric_id(&id, "user")?, None)?;
    Ok(render(
        &app,
        "message.html",
        Some(&c),
        json!({
            "title": format!("One-time code of {} removed", user.name),
            "message": format!("{} signs in with the password alone until they set up a new code.", user.name),
            "link": "/users", "link_text": "Back to users",
        }),
    ))
}
