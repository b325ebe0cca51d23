//! The JSON API under `/api/v1`. Every route is listed in
//! [`crate::openapi`] with the permission it needs; the authorization
//! matrix test walks that list.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};
use tresor_ops::Snapshot;

use crate::app::App;
use crate::auth::Viewer;
use crate::error::ApiResult;
use crate::scheduler::{is_paused, source_plan};
use crate::store::parse_ts;

pub(crate) mod admin;
pub(crate) mod archives;
pub(crate) mod jobs;
pub(crate) mod restore;
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
        .route("/api/v1/jobs", get(jobs::list))
        .route("/api/v1/jobs/{id}", get(jobs::show))
        .route("/api/v1/jobs/{id}/logs", get(jobs::logs))
        .route("/api/v1/jobs/{id}/cancel", post(jobs::cancel))
        .route("/api/v1/checks", post(jobs::start_check))
        .route("/api/v1/drills", post(jobs::start_drill))
        .route("/api/v1/prune", post(jobs::start_prune))
        .route("/api/v1/forget", post(jobs::start_forget))
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
        .fallback(not_found)
}

async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        crate::error::ApiError::not_found(format!("no API endpoint {}", uri.path()))
            .hint("GET /api/v1/openapi.json lists every endpoint")
            .into_response()
    } else {
        crate::web::not_found_page()
    }
}

async fn openapi(_v: Viewer) -> axum::Json<Value> {
    axum::Json(crate::openapi::openapi_document())
}

/// A snapshot as the API shows it.
pub fn snapshot_json(s: &Snapshot, detail: bool) -> Value {
    let mut v = json!({
        "id": s.id,
        "short_id": s.short_id(),
        "time": s.time,
        "end_time": s.end_time,
        "source": s.source.key(),
        "source_name": s.source.name,
        "url": s.source.url,
        "engine": s.source.engine,
        "database": s.source.database,
        "trigger": s.trigger.as_str(),
        "reason": s.reason,
        "tags": s.tags,
        "hostname": s.hostname,
        "username": s.username,
        "tables": s.totals.tables,
        "rows": s.totals.rows,
        "bytes": s.totals.bytes,
        "added_bytes": s.totals.added_bytes,
        "partial": s.partial,
        "warnings": s.warnings,
    });
    if detail {
        v["table_list"] = s
            .tables
            .iter()
            .map(|t| {
                json!({
                    "name": t.name.to_string(),
                    "rows": t.rows,
                    "bytes": t.bytes,
                    "added_bytes": t.added_bytes,
                    "digest": t.digest,
                    "changes": t.changes.as_ref().map(|c| json!({"inserted": c.inserted, "updated": c.updated, "deleted": c.deleted})),
                })
            })
            .collect();
        v["consistency"] = s.consistency.clone().into();
        v["server_version"] = s.source.server_version.clone().into();
        v["tresor_version"] = s.tresor_version.clone().into();
        v["parent"] = s.parent.clone().into();
        v["labels"] = json!(s.labels);
    }
    v
}

/// The status of one source.
pub async fn source_status(app: &Arc<App>, name: &str, all: &[Snapshot]) -> ApiResult<Value> {
    let sc = app.source_config(name)?;
    let now = app.clock.now();
    let last = all
        .iter()
        .rev()
        .find(|s| s.trigger.is_backup() && s.source.name.as_deref() == Some(name));
    let last_job = app.store.last_job("backup", name, None)?;
    let plan = source_plan(app, name);
    let entry = app.schedules.get(name);
    let running = app
        .store
        .jobs(&crate::store::JobFilter {
            source: Some(name.to_string()),
            state: Some("running".into()),
            limit: Some(1),
            ..Default::default()
        })?
        .pop();
    let health = match (&last_job, last) {
        (Some(j), _) if j.state == "failed" => "failing",
        (_, None) => "never",
        (_, Some(s)) => {
            // Stale: the newest snapshot is older than the scheduled run
            // before the latest one (a whole run was missed).
            let stale = plan.as_ref().and_then(|p| {
                let prev = p.previous(now)?;
                let before = p.previous(prev - chrono::Duration::seconds(1))?;
                Some(s.time < before)
            });
            if stale == Some(true) { "stale" } else { "ok" }
        }
    };
    let next_run = entry
        .as_ref()
        .and_then(|e| e.next_run)
        .or_else(|| plan.as_ref().and_then(|p| p.next_after(now)));
    Ok(json!({
        "name": name,
        "url": tresor_core::redact_url(&sc.url),
        "engine": app.engines.engine_of(&sc.url).ok(),
        "schedule": sc.schedule.expressions(),
        "timezone": app.tz_of(Some(name)).name(),
        "paused": is_paused(app, name),
        "next_run": next_run,
        "health": health,
        "schedule_state": entry.map(|e| e.state),
        "last_backup": last.map(|s| json!({
            "snapshot": s.id, "short_id": s.short_id(), "time": s.time,
            "rows": s.totals.rows, "bytes": s.totals.bytes, "added_bytes": s.totals.added_bytes,
        })),
        "last_job": last_job.map(|j| json!({
            "id": j.id, "state": j.state, "finished_at": j.finished_at, "error": j.error,
        })),
        "running_job": running.map(|j| j.id),
        "snapshots": all.iter().filter(|s| s.source.name.as_deref() == Some(name)).count(),
        "groups": sc.groups.keys().collect::<Vec<_>>(),
    }))
}

async fn status(State(app): State<Arc<App>>, _v: Viewer) -> ApiResult<axum::Json<Value>> {
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
    Ok(axum::Json(json!({
        "server": {
            "version": env!("CARGO_PKG_VERSION"),
            "started_at": app.started,
            "now": app.clock.now(),
            "timezone": app.tz.name(),
            "scheduler_paused": global_paused,
            "active_jobs": app.jobs.active(),
        },
        "repository": {
            "location": tresor_core::redact_url(app.repo.storage().location()),
            "snapshots": all.len(),
            "stored_bytes": stat.as_ref().map(|s| s.stored_bytes),
            "logical_bytes": all.iter().map(|s| s.totals.bytes).sum::<u64>(),
            "measured_at": stat.as_ref().and_then(|s| parse_ts(&s.at)),
        },
        "sources": sources,
        "maintenance": app.schedules.all().into_iter().filter(|e| e.name.starts_with('[')).collect::<Vec<_>>(),
    })))
}

/// Parses a numeric path id.
pub fn id_param(Path(id): Path<String>) -> ApiResult<i64> {
    id.parse()
        .map_err(|_| crate::error::ApiError::bad_request(format!("{id:?} is not a numeric id")))
}
