//! Jobs: list, show with live progress, logs, cancel; and starting
//! checks, drills, prune and forget.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tresor_ops::RetentionConfig;

use super::{JobAccepted, accepted, id_param};
use crate::actions::jobs::{JobView, find_job, job_view, start};
use crate::app::App;
use crate::auth::{Admin, Operator, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::jobs::JobSpec;
use crate::store::JobFilter;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    kind: Option<String>,
    source: Option<String>,
    state: Option<String>,
    limit: Option<i64>,
}

pub async fn list(
    State(app): State<Arc<App>>,
    _v: Viewer,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    let rows = app.store.jobs(&JobFilter {
        kind: q.kind,
        source: q.source,
        state: q.state,
        limit: Some(q.limit.unwrap_or(50).clamp(1, 1000)),
    })?;
    Ok(Json(JobList {
        jobs: rows.iter().map(|j| job_view(&app, j)).collect(),
    })
    .into_response())
}

/// The answer of `GET /api/v1/jobs`.
#[derive(Serialize)]
struct JobList<'a> {
    jobs: Vec<JobView<'a>>,
}

pub async fn show(
    State(app): State<Arc<App>>,
    _v: Viewer,
    id: Path<String>,
) -> ApiResult<Response> {
    let j = find_job(&app, id_param(id)?)?;
    Ok(Json(job_view(&app, &j)).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    /// Only lines after this id (for polling).
    after: Option<i64>,
}

pub async fn logs(
    State(app): State<Arc<App>>,
    _v: Viewer,
    id: Path<String>,
    Query(q): Query<LogQuery>,
) -> ApiResult<Json<Value>> {
    let j = find_job(&app, id_param(id)?)?;
    let lines = app.store.logs(j.id, q.after.unwrap_or(0))?;
    Ok(Json(json!({"job": j.id, "state": j.state, "lines": lines})))
}

pub async fn cancel(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
    id: Path<String>,
) -> ApiResult<Json<Value>> {
    let j = find_job(&app, id_param(id)?)?;
    if !app.jobs.cancel(j.id) {
        return Err(ApiError::new(
            crate::error::Kind::Conflict,
            format!("job {} is not running (it is {})", j.id, j.state),
        ));
    }
    app.store
        .audit(&c.actor(), "job.cancel", Some(&j.id.to_string()), None);
    Ok(Json(json!({"job": j.id, "cancelling": true})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    #[serde(default)]
    read_data: bool,
}

pub async fn start_check(
    State(app): State<Arc<App>>,
    Operator(c): Operator,
    body: Option<Json<CheckRequest>>,
) -> ApiResult<(StatusCode, Json<JobAccepted>)> {
    let r = body.map(|b| b.0).unwrap_or_default();
    let id = start(
        &app,
        &c.actor(),
        JobSpec::Check {
            read_data: r.read_data,
        },
    )?;
    Ok(accepted(id))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillRequest {
    source: String,
    #[serde(default)]
    snapshot: Option<String>,
}

pub async fn start_drill(
    State(app): State<Arc<App>>,
    Operator(c): Operator,
    Json(r): Json<DrillRequest>,
) -> ApiResult<(StatusCode, Json<JobAccepted>)> {
    app.source_config(&r.source)?;
    let id = start(
        &app,
        &c.actor(),
        JobSpec::Drill {
            source: r.source,
            snapshot: r.snapshot,
        },
    )?;
    Ok(accepted(id))
}

/// The answer of `GET /api/v1/offsite`.
#[derive(Serialize)]
pub struct Offsite {
    repositories: Vec<crate::actions::offsite::OffsiteView>,
}

pub async fn offsite(State(app): State<Arc<App>>, _v: Viewer) -> ApiResult<Json<Offsite>> {
    Ok(Json(Offsite {
        repositories: crate::actions::offsite::offsite_views(&app)?,
    }))
}

pub async fn start_copy(
    State(app): State<Arc<App>>,
    Operator(c): Operator,
    Path(name): Path<String>,
) -> ApiResult<(StatusCode, Json<JobAccepted>)> {
    let id = crate::actions::offsite::start_copy(&app, &c.actor(), &name)?;
    Ok(accepted(id))
}

pub async fn start_prune(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
) -> ApiResult<(StatusCode, Json<JobAccepted>)> {
    let id = start(&app, &c.actor(), JobSpec::Prune)?;
    Ok(accepted(id))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgetRequest {
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    ids: Vec<String>,
    #[serde(default)]
    retention: Option<RetentionConfig>,
}

pub async fn start_forget(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
    Json(r): Json<ForgetRequest>,
) -> ApiResult<(StatusCode, Json<JobAccepted>)> {
    if let Some(s) = &r.source {
        app.source_config(s)?;
    }
    // without rules, each source's rules in force apply
    let configured = |name: &str| {
        crate::scheduler::retention_of(&app.scheduler, name).is_some_and(|r| !r.is_empty())
    };
    let has_rules = match (&r.retention, &r.source) {
        (Some(ret), _) => !ret.is_empty(),
        (None, Some(s)) => configured(s),
        (None, None) => app.config.sources.keys().any(|s| configured(s)),
    };
    if r.ids.is_empty() && !has_rules {
        return Err(ApiError::bad_request(
            "give snapshot ids or retention rules (or a source that has rules)",
        ));
    }
    let retention = r.retention;
    let id = start(
        &app,
        &c.actor(),
        JobSpec::Forget {
            source: r.source,
            ids: r.ids,
            retention,
        },
    )?;
    Ok(accepted(id))
}
