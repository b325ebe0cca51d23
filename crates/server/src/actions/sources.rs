//! Sources: live row counts, schedule control, retention settings.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};

use crate::app::App;
use crate::error::ApiResult;
use crate::scheduler::source_plan;
use crate::scheduler::{GLOBAL_PAUSE, is_paused};
use tresor_ops::Snapshot;

/// Live row counts per table of a source: the tables its backups take
/// (its `include`/`exclude`), or only a group's.
pub async fn live_counts(app: &App, name: &str, group: Option<&str>) -> ApiResult<Value> {
    let sc = app.source_config(name)?;
    let filter = sc.filter(group)?;
    let url = sc.resolved_url()?;
    let started = Instant::now();
    let target = app.engines.target(&url)?;
    let state = target.inspect().await?;
    let counted: Vec<_> = state
        .tables
        .iter()
        .filter(|t| filter.matches(&t.name))
        .collect();
    let tables: Vec<Value> = counted
        .iter()
        .map(|t| json!({"name": t.name.to_string(), "rows": t.rows}))
        .collect();
    Ok(json!({
        "source": name,
        "group": group,
        "exists": state.exists,
        "tables": tables,
        "total_rows": counted.iter().map(|t| t.rows).sum::<u64>(),
        "took_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }))
}

/// Pauses or resumes one schedule.
pub fn set_paused(app: &App, who: &str, name: &str, paused: bool) -> ApiResult<()> {
    app.source_config(name)?;
    app.store.set_paused(name, paused)?;
    app.store.audit(
        who,
        if paused {
            "schedule.pause"
        } else {
            "schedule.resume"
        },
        Some(name),
        None,
    );
    Ok(())
}

/// Pauses or resumes every schedule.
pub fn set_global_pause(app: &App, who: &str, paused: bool) -> ApiResult<()> {
    app.store
        .set_setting(GLOBAL_PAUSE, if paused { "true" } else { "false" })?;
    app.store.audit(
        who,
        if paused {
            "scheduler.pause"
        } else {
            "scheduler.resume"
        },
        None,
        None,
    );
    Ok(())
}

/// The status of one source.
pub async fn source_status(
    app: &Arc<App>,
    name: &str,
    all: &[Snapshot],
) -> ApiResult<SourceStatus> {
    let sc = app.source_config(name)?;
    let now = app.clock.now();
    let last = all
        .iter()
        .rev()
        .find(|s| s.trigger.is_backup() && app.belongs_to(s, name));
    let last_job = app.store.last_job("backup", name, None)?;
    let plan = source_plan(&app.scheduler, name);
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
    let paused = is_paused(&app.scheduler, name);
    let (schedule_state, shown_next) = crate::scheduler::shown_state(&app.scheduler, name);
    let next_run = if paused {
        None
    } else {
        shown_next.or_else(|| plan.as_ref().and_then(|p| p.next_after(now)))
    };
    Ok(SourceStatus {
        name: name.to_string(),
        url: tresor_core::redact_url(&sc.url),
        engine: app.engines.engine_of(&sc.url).ok(),
        schedule: sc
            .schedule
            .expressions()
            .into_iter()
            .map(str::to_string)
            .collect(),
        timezone: app.tz_of(Some(name)).name(),
        paused,
        next_run,
        health,
        schedule_state,
        last_backup: last.map(|s| LastBackup {
            snapshot: s.id.clone(),
            short_id: s.short_id().to_string(),
            time: s.time,
            rows: s.totals.rows,
            bytes: s.totals.bytes,
            added_bytes: s.totals.added_bytes,
        }),
        last_job: last_job.map(|j| LastJob {
            id: j.id,
            state: j.state,
            finished_at: j.finished_at,
            error: j.error,
        }),
        running_job: running.map(|j| j.id),
        snapshots: all.iter().filter(|s| app.belongs_to(s, name)).count(),
        groups: sc.groups.keys().cloned().collect(),
    })
}

/// The state of one source: its schedule, health and latest backup.
#[derive(Debug, Serialize)]
pub struct SourceStatus {
    name: String,
    url: String,
    engine: Option<tresor_core::Engine>,
    schedule: Vec<String>,
    timezone: &'static str,
    paused: bool,
    next_run: Option<chrono::DateTime<chrono::Utc>>,
    health: &'static str,
    schedule_state: Option<String>,
    last_backup: Option<LastBackup>,
    last_job: Option<LastJob>,
    running_job: Option<i64>,
    snapshots: usize,
    groups: Vec<String>,
}

/// The newest backup of a source.
#[derive(Debug, Serialize)]
struct LastBackup {
    snapshot: String,
    short_id: String,
    time: chrono::DateTime<chrono::Utc>,
    rows: u64,
    bytes: u64,
    added_bytes: u64,
}

/// The newest backup job of a source.
#[derive(Debug, Serialize)]
struct LastJob {
    id: i64,
    state: String,
    finished_at: Option<String>,
    error: Option<String>,
}
