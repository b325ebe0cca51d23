//! The JSON API under `/api/v1`. Every route is listed in
//! [`crate::openapi`] with the permission it needs; the authorization
//! matrix test walks that list.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use serde_json::Value;

use crate::actions::sources::{SourceStatus, source_status};
use crate::app::App;
use crate::auth::Viewer;
use crate::error::ApiResult;
use crate::scheduler::ScheduleEntry;
use crate::store::parse_ts;
use chrono::{DateTime, Utc};
use serde::Serialize;

pub(crate) mod admin;
pub(crate) mod archives;
pub(crate) mod jobs;
pub(crate) mod restore;
pub(crate) mod rows;
pub(crate) mod snapshots;
pub(crate) mod sources;

/// The API's routes.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/openapi.json", get(openapi))
        .route(
            "/api/v1/snapshots",
            get(snapshots::list).post(snapshots::create),
        )
        .route(
            "/api/v1/snapshots/{id}",
            get(snapshots::show).delete(snapshots::remove),
        )
        .route("/api/v1/snapshots/{id}/archive", get(archives::download))
        .route("/api/v1/archives", post(archives::upload))
        .route("/api/v1/archives/{id}", get(archives::show))
        .route("/api/v1/archives/{id}/import", post(archives::import))
        .route("/api/v1/restore/preview", post(restore::preview))
        .route("/api/v1/restores", post(restore::start))
        .route(
            "/api/v1/restores/upload",
            post(restore::upload_and_restore).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/api/v1/diff", get(rows::diff))
        .route("/api/v1/guards", get(rows::guards).post(rows::take))
        .route("/api/v1/guards/{id}", delete(rows::release))
        .route("/api/v1/guards/{id}/close", post(rows::close))
        .route("/api/v1/guards/{id}/undo", post(rows::undo))
        .route("/api/v1/jobs", get(jobs::list))
        .route("/api/v1/jobs/{id}", get(jobs::show))
        .route("/api/v1/jobs/{id}/logs", get(jobs::logs))
        .route("/api/v1/jobs/{id}/cancel", post(jobs::cancel))
        .route("/api/v1/checks", post(jobs::start_check))
        .route("/api/v1/drills", post(jobs::start_drill))
        .route("/api/v1/prune", post(jobs::start_prune))
        .route("/api/v1/forget", post(jobs::start_forget))
        .route("/api/v1/offsite", get(jobs::offsite))
        .route("/api/v1/offsite/{name}/copy", post(jobs::start_copy))
        .route("/api/v1/sources/{name}/counts", get(sources::counts))
        .route("/api/v1/sources/{name}/pause", post(sources::pause))
        .route("/api/v1/sources/{name}/resume", post(sources::resume))
        .route(
            "/api/v1/sources/{name}/retention",
            get(sources::retention)
                .put(sources::set_retention)
                .delete(sources::clear_retention),
        )
        .route("/api/v1/schedule", get(sources::schedule))
        .route("/api/v1/scheduler/pause", post(sources::pause_all))
        .route("/api/v1/scheduler/resume", post(sources::resume_all))
        .route("/api/v1/users", get(admin::users).post(admin::create_user))
        .route("/api/v1/users/{id}", delete(admin::delete_user))
        .route("/api/v1/users/{id}/password", post(admin::set_password))
        .route(
            "/api/v1/tokens",
            get(admin::tokens).post(admin::create_token),
        )
        .route("/api/v1/tokens/{id}", delete(admin::revoke_token))
        .route("/api/v1/auth/token", post(admin::login_token))
        .route("/api/v1/audit", get(admin::audit))
        .route("/api/v1/notifications", get(admin::notifications))
        .route("/api/v1/settings", get(admin::settings))
}

async fn openapi(_v: Viewer) -> axum::Json<Value> {
    axum::Json(crate::openapi::openapi_document())
}

/// `202 Accepted` for a job: its id and where to follow it.
#[derive(Debug, Serialize)]
pub struct JobAccepted {
    job: i64,
    href: String,
}

/// The answer that a job was queued.
pub fn accepted(id: i64) -> (axum::http::StatusCode, axum::Json<JobAccepted>) {
    (
        axum::http::StatusCode::ACCEPTED,
        axum::Json(JobAccepted {
            job: id,
            href: format!("/api/v1/jobs/{id}"),
        }),
    )
}

/// The answer of `GET /api/v1/status`.
#[derive(Serialize)]
struct Status {
    server: ServerStatus,
    repository: RepositoryStatus,
    sources: Vec<SourceStatus>,
    maintenance: Vec<ScheduleEntry>,
}

#[derive(Serialize)]
struct ServerStatus {
    version: &'static str,
    started_at: DateTime<Utc>,
    now: DateTime<Utc>,
    timezone: &'static str,
    scheduler_paused: bool,
    active_jobs: Vec<i64>,
}

#[derive(Serialize)]
struct RepositoryStatus {
    location: String,
    snapshots: usize,
    stored_bytes: Option<i64>,
    logical_bytes: u64,
    measured_at: Option<DateTime<Utc>>,
}

async fn status(State(app): State<Arc<App>>, _v: Viewer) -> ApiResult<axum::Json<Status>> {
    let all = app.snapshots().await?;
    let mut sources = Vec::new();
    for name in app.config.sources.keys() {
        sources.push(source_status(&app, name, &all).await?);
    }
    let stat = app.store.repo_stats(1)?.pop();
    let global_paused = app
        .store
        .setting(crate::scheduler::GLOBAL_PAUSE)?
        .is_some_and(|v| v == "true");
    Ok(axum::Json(Status {
        server: ServerStatus {
            version: env!("CARGO_PKG_VERSION"),
            started_at: app.started,
            now: app.clock.now(),
            timezone: app.tz.name(),
            scheduler_paused: global_paused,
            active_jobs: app.jobs.active(),
        },
        repository: RepositoryStatus {
            location: tresor_core::redact_url(app.repo.storage().location()),
            snapshots: all.len(),
            stored_bytes: stat.as_ref().map(|s| s.stored_bytes),
            logical_bytes: all.iter().map(|s| s.totals.bytes).sum(),
            measured_at: stat.as_ref().and_then(|s| parse_ts(&s.at)),
        },
        sources,
        maintenance: app
            .scheduler
            .board
            .all()
            .into_iter()
            .filter(|e| e.name.starts_with('['))
            .collect(),
    }))
}

/// Parses a numeric path id.
pub fn id_param(Path(id): Path<String>) -> ApiResult<i64> {
    id.parse()
        .map_err(|_| crate::error::ApiError::bad_request(format!("{id:?} is not a numeric id")))
}
