//! Uploading an export archive, checking it, and importing it.

use std::sync::Arc;

use axum::extract::{Multipart, Path, State};
use axum::response::{IntoResponse, Redirect};
use serde_json::json;

use crate::actions;
use crate::app::App;
use crate::auth::Admin;
use crate::error::ApiError;

use super::PageResult;
use super::form::{AdminForm, Empty};
use super::render::render;

pub(super) async fn upload_page(State(app): State<Arc<App>>, Admin(c): Admin) -> PageResult {
    Ok(render(
        &app,
        "upload.html",
        Some(&c),
        json!({"limit": app.upload_limit}),
    ))
}

pub(super) async fn upload(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
    mut form: Multipart,
) -> PageResult {
    let mut csrf_ok = false;
    loop {
        let field = form
            .next_field()
            .await
            .map_err(|e| ApiError::bad_request(format!("bad upload form: {e}")))?;
        let Some(field) = field else { break };
        match field.name() {
            Some("csrf") => {
                let v = field
                    .text()
                    .await
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                c.check_csrf(&v)?;
                csrf_ok = true;
            }
            Some("archive") if csrf_ok => {
                let preview = actions::archives::receive_field(&app, &c, field).await?;
                return Ok(render(
                    &app,
                    "upload.html",
                    Some(&c),
                    json!({"preview": preview, "limit": app.upload_limit}),
                ));
            }
            _ => {}
        }
    }
    Err(ApiError::bad_request("the form had no archive (or no security token before it)").into())
}

pub(super) async fn import_upload(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    AdminForm(c, _): AdminForm<Empty>,
) -> PageResult {
    let job = actions::archives::start_import(&app, &c, &id)?;
    Ok(Redirect::to(&format!("/jobs/{job}")).into_response())
}
