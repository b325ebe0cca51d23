//! Sources: live row counts, schedule control, retention settings.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tresor_ops::RetentionConfig;

use crate::actions::sources::{live_counts, set_global_pause, set_paused};
use crate::app::App;
use crate::auth::{Admin, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::scheduler::{GLOBAL_PAUSE, is_paused, retention_of};

/// `?group=NAME`: count only a table group's tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountsQuery {
    #[serde(default)]
    group: Option<String>,
}

pub async fn counts(
    State(app): State<Arc<App>>,
    _v: Viewer,
    Path(name): Path<String>,
    Query(q): Query<CountsQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(live_counts(&app, &name, q.group.as_deref()).await?))
}

/// Whether a source's schedule is paused.
#[derive(Serialize)]
pub struct Paused {
    source: String,
    paused: bool,
}

/// Whether every schedule is paused.
#[derive(Serialize)]
pub struct SchedulerPaused {
    scheduler_paused: bool,
}

/// A source's retention rules in force.
#[derive(Serialize)]
pub struct Effective {
    source: String,
    effective: Option<RetentionConfig>,
}

pub async fn pause(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<Paused>> {
    set_paused(&app, &c.actor(), &name, true)?;
    Ok(Json(Paused {
        source: name,
        paused: true,
    }))
}

pub async fn resume(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<Paused>> {
    set_paused(&app, &c.actor(), &name, false)?;
    let paused = is_paused(&app.scheduler, &name);
    Ok(Json(Paused {
        source: name,
        paused,
    }))
}

pub async fn pause_all(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
) -> ApiResult<Json<SchedulerPaused>> {
    set_global_pause(&app, &c.actor(), true)?;
    Ok(Json(SchedulerPaused {
        scheduler_paused: true,
    }))
}

pub async fn resume_all(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
) -> ApiResult<Json<SchedulerPaused>> {
    set_global_pause(&app, &c.actor(), false)?;
    Ok(Json(SchedulerPaused {
        scheduler_paused: false,
    }))
}

pub async fn schedule(State(app): State<Arc<App>>, _v: Viewer) -> ApiResult<Json<Value>> {
    let mut out = Vec::new();
    for (name, sc) in &app.config.sources {
        let (state, next_run) = crate::scheduler::shown_state(&app.scheduler, name);
        out.push(json!({
            "name": name,
            "expressions": sc.schedule.expressions(),
            "timezone": app.tz_of(Some(name)).name(),
            "paused": is_paused(&app.scheduler, name),
            "next_run": next_run,
            "state": state,
            "catch_up": sc.catch_up,
            "timeout": sc.timeout,
            "retries": sc.retries,
            "jitter": sc.jitter,
            "last_scheduled_for": app.store.last_scheduled(name)?,
        }));
    }
    let maintenance: Vec<_> = app
        .scheduler
        .board
        .all()
        .into_iter()
        .filter(|e| e.name.starts_with('['))
        .collect();
    Ok(Json(json!({
        "scheduler_paused": app.store.setting(GLOBAL_PAUSE)?.is_some_and(|v| v == "true"),
        "sources": out,
        "maintenance": maintenance,
    })))
}

pub async fn retention(
    State(app): State<Arc<App>>,
    _v: Viewer,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let sc = app.source_config(&name)?;
    let over = app
        .store
        .retention(&name)?
        .and_then(|j| serde_json::from_str::<Value>(&j).ok());
    Ok(Json(json!({
        "source": name,
        "configured": sc.retention,
        "override": over,
        "effective": retention_of(&app.scheduler, &name),
    })))
}

pub async fn set_retention(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
    Path(name): Path<String>,
    Json(r): Json<RetentionConfig>,
) -> ApiResult<Json<Effective>> {
    app.source_config(&name)?;
    r.policy().map_err(ApiError::bad_request)?;
    if r.keep_last == Some(0) {
        return Err(ApiError::bad_request(
            "keep-last = 0 would remove every snapshot",
        ));
    }
    let json = serde_json::to_string(&r).map_err(ApiError::internal)?;
    app.store.set_retention(&name, Some(&json))?;
    app.store
        .audit(&c.actor(), "retention.set", Some(&name), Some(&json));
    Ok(Json(Effective {
        source: name,
        effective: Some(r),
    }))
}

pub async fn clear_retention(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<Effective>> {
    app.source_config(&name)?;
    app.store.set_retention(&name, None)?;
    app.store
        .audit(&c.actor(), "retention.clear", Some(&name), None);
    let effective = retention_of(&app.scheduler, &name);
    Ok(Json(Effective {
        source: name,
        effective,
    }))
}
