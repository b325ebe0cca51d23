//! The dashboard: every source's health and restore drills, the
//! repository's size over time, recent jobs.

use std::sync::Arc;

use axum::extract::State;
use serde_json::json;

use crate::actions;
use crate::app::App;
use crate::auth::Viewer;
use crate::store::JobFilter;

use super::render::render;
use super::{PageResult, chart};

pub(super) async fn dashboard(State(app): State<Arc<App>>, Viewer(c): Viewer) -> PageResult {
    let all = app.snapshots().await?;
    let mut sources = Vec::new();
    let mut drill_charts = serde_json::Map::new();
    for name in app.config.sources.keys() {
        let status = actions::sources::source_status(&app, name, &all).await?;
        if let Some(svg) = chart::drill_chart(status.drill_history()) {
            drill_charts.insert(status.name().to_string(), svg.into());
        }
        sources.push(status);
    }
    let stats = app.store.repo_stats(200)?;
    let latest = stats.last().cloned();
    let jobs = app.store.jobs(&JobFilter {
        limit: Some(8),
        ..Default::default()
    })?;
    let dedup = latest.as_ref().and_then(|s| {
        (s.stored_bytes > 0)
            .then(|| format!("{:.1}×", s.logical_bytes as f64 / s.stored_bytes as f64))
    });
    let paused = app
        .store
        .setting(crate::scheduler::GLOBAL_PAUSE)?
        .is_some_and(|v| v == "true");
    Ok(render(
        &app,
        "dashboard.html",
        Some(&c),
        json!({
            "sources": sources,
            "snapshot_count": all.len(),
            "stored_bytes": latest.as_ref().map(|s| s.stored_bytes),
            "logical_bytes": latest.as_ref().map(|s| s.logical_bytes),
            "dedup": dedup,
            "chart": chart::repository_chart(&stats),
            "drill_charts": drill_charts,
            "jobs": jobs.iter().map(|j| actions::jobs::job_view(&app, j)).collect::<Vec<_>>(),
            "scheduler_paused": paused,
            "offsite": actions::offsite::offsite_views(&app)?,
            "maintenance": app.scheduler.board.all().into_iter().filter(|e| e.name.starts_with('[')).collect::<Vec<_>>(),
        }),
    ))
}
