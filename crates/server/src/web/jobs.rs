//! Job pages: the list, one job with live progress, cancelling, and the
//! maintenance buttons that start checks and prunes.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use serde_json::json;

use crate::actions;
use crate::app::App;
use crate::auth::Viewer;
use crate::error::ApiError;
use crate::store::JobFilter;

use super::PageResult;
use super::form::{AdminForm, Empty, OperatorForm};
use super::render::render;

pub(super) async fn maintenance(
    State(app): State<Arc<App>>,
    Path(what): Path<String>,
    OperatorForm(c, _): OperatorForm<Empty>,
) -> PageResult {
    let spec = match what.as_str() {
        "check" => crate::jobs::JobSpec::Check { read_data: false },
        "check-data" => crate::jobs::JobSpec::Check { read_data: true },
        "prune" if c.is_admin() => crate::jobs::JobSpec::Prune,
        "prune" => return Err(ApiError::forbidden("prune").into()),
        _ => return Err(ApiError::not_found("no such task").into()),
    };
    let id = actions::jobs::start(&app, &c.actor(), spec)?;
    Ok(Redirect::to(&format!("/jobs/{id}")).into_response())
}

pub(super) async fn offsite_copy(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    OperatorForm(c, _): OperatorForm<Empty>,
) -> PageResult {
    let id = actions::offsite::start_copy(&app, &c.actor(), &name)?;
    Ok(Redirect::to(&format!("/jobs/{id}")).into_response())
}

#[derive(Deserialize, Default)]
pub(super) struct JobsQuery {
    source: Option<String>,
    kind: Option<String>,
    state: Option<String>,
}

pub(super) async fn jobs(
    State(app): State<Arc<App>>,
    Viewer(c): Viewer,
    Query(q): Query<JobsQuery>,
) -> PageResult {
    let rows = app.store.jobs(&JobFilter {
        source: q.source.clone().filter(|s| !s.is_empty()),
        kind: q.kind.clone().filter(|s| !s.is_empty()),
        state: q.state.clone().filter(|s| !s.is_empty()),
        limit: Some(200),
    })?;
    let active = !app.jobs.active().is_empty();
    Ok(render(
        &app,
        "jobs.html",
        Some(&c),
        json!({
            "jobs": rows.iter().map(|j| actions::jobs::job_view(&app, j)).collect::<Vec<_>>(),
            "active": active,
            "q": {"source": q.source, "kind": q.kind, "state": q.state},
            "sources": app.config.sources.keys().collect::<Vec<_>>(),
        }),
    ))
}

pub(super) async fn job(
    State(app): State<Arc<App>>,
    Viewer(c): Viewer,
    Path(id): Path<String>,
) -> PageResult {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request("not a job id"))?;
    let j = actions::jobs::find_job(&app, id)?;
    let logs = app.store.logs(id, 0)?;
    let deliveries: Vec<_> = app
        .store
        .deliveries(500)?
        .into_iter()
        .filter(|d| d.job_id == Some(id))
        .collect();
    Ok(render(
        &app,
        "job.html",
        Some(&c),
        json!({
            "j": actions::jobs::job_view(&app, &j),
            "logs": logs,
            "deliveries": deliveries,
            "active": matches!(j.state.as_str(), "queued" | "running"),
        }),
    ))
}

pub(super) async fn cancel_job(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    AdminForm(c, _): AdminForm<Empty>,
) -> PageResult {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request("not a job id"))?;
    if app.jobs.cancel(id) {
        app.store
            .audit(&c.actor(), "job.cancel", Some(&id.to_string()), None);
    }
    Ok(Redirect::to(&format!("/jobs/{id}")).into_response())
}
