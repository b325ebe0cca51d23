//! Per-source buttons: back up now, restore drill, pause and resume,
//! live row counts; the scheduler's global pause.

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
use super::form::{AdminForm, Empty, OperatorForm};
use super::render::render;

#[derive(Deserialize)]
pub(super) struct BackupForm {
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

pub(super) async fn backup_now(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    OperatorForm(c, f): OperatorForm<BackupForm>,
) -> PageResult {
    let id = actions::snapshots::start_backup(
        &app,
        &c.actor(),
        actions::snapshots::CreateRequest {
            source: name,
            tables: Vec::new(),
            group: f.group.filter(|g| !g.is_empty()),
            reason: f.reason.filter(|r| !r.is_empty()).or(Some("web".into())),
            tags: Vec::new(),
            app_version: None,
        },
    )?;
    Ok(Redirect::to(&format!("/jobs/{id}")).into_response())
}

pub(super) async fn drill(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    OperatorForm(c, _): OperatorForm<Empty>,
) -> PageResult {
    app.source_config(&name)?;
    let id = actions::jobs::start(
        &app,
        &c.actor(),
        crate::jobs::JobSpec::Drill {
            source: name,
            snapshot: None,
        },
    )?;
    Ok(Redirect::to(&format!("/jobs/{id}")).into_response())
}

/// `pause` or `resume` from the path, as "paused?".
pub(super) fn pause_action(action: &str) -> Result<bool, ApiError> {
    match action {
        "pause" => Ok(true),
        "resume" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "unknown action {action:?} (pause or resume)"
        ))),
    }
}

pub(super) async fn source_switch(
    State(app): State<Arc<App>>,
    Path((name, action)): Path<(String, String)>,
    AdminForm(c, _): AdminForm<Empty>,
) -> PageResult {
    actions::sources::set_paused(&app, &c.actor(), &name, pause_action(&action)?)?;
    Ok(Redirect::to("/").into_response())
}

pub(super) async fn scheduler_switch(
    State(app): State<Arc<App>>,
    Path(what): Path<String>,
    AdminForm(c, _): AdminForm<Empty>,
) -> PageResult {
    actions::sources::set_global_pause(&app, &c.actor(), pause_action(&what)?)?;
    Ok(Redirect::to("/").into_response())
}

pub(super) async fn counts(
    State(app): State<Arc<App>>,
    Viewer(c): Viewer,
    Path(name): Path<String>,
) -> PageResult {
    let v = actions::sources::live_counts(&app, &name, None).await?;
    Ok(render(
        &app,
        "message.html",
        Some(&c),
        json!({"title": format!("Live row counts of {name}"), "counts": v, "link": "/", "link_text": "Dashboard"}),
    ))
}
