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
        drill: drill_status(app, name, now)?,
    })
}

/// Drills kept for the dashboard's chart.
const DRILL_HISTORY: i64 = 30;

/// A source's restore drills: the newest, whether one is overdue, and the
/// restore times of the recent ones; `None` for a source that has no
/// drill schedule, no `drill-max-age` and no drill yet.
fn drill_status(
    app: &App,
    name: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<Option<DrillStatus>> {
    let sc = app.source_config(name)?;
    let jobs = app.store.jobs(&crate::store::JobFilter {
        kind: Some("drill".into()),
        source: Some(name.to_string()),
        limit: Some(DRILL_HISTORY),
        ..Default::default()
    })?;
    let age = crate::scheduler::drill_age(&app.store, &app.config, name)?;
    let schedule: Vec<String> = sc
        .drill_times()
        .expressions()
        .into_iter()
        .map(str::to_string)
        .collect();
    let finished: Vec<&crate::store::JobRow> =
        jobs.iter().filter(|j| j.finished_at.is_some()).collect();
    if finished.is_empty() && age.is_none() && schedule.is_empty() {
        return Ok(None);
    }
    let seconds = |j: &crate::store::JobRow| {
        j.figures
            .as_ref()
            .and_then(|f| f.get("restore_seconds"))
            .and_then(Value::as_f64)
    };
    let mut history: Vec<DrillPoint> = finished
        .iter()
        .filter_map(|j| {
            Some(DrillPoint {
                at: j.finished_at.as_deref().and_then(crate::store::parse_ts)?,
                restore_seconds: seconds(j)?,
                ok: j.state == "succeeded",
            })
        })
        .collect();
    history.reverse();
    Ok(Some(DrillStatus {
        last: finished.first().map(|j| LastDrill {
            id: j.id,
            ok: j.state == "succeeded",
            state: j.state.clone(),
            at: j.finished_at.clone(),
            restore_seconds: seconds(j),
            error: j.error.clone(),
        }),
        overdue: age.as_ref().map(|a| a.overdue(now)),
        max_age: age.map(|a| humantime::format_duration(a.limit).to_string()),
        schedule,
        history,
    }))
}

impl SourceStatus {
    /// The restore times of the source's recent drills, oldest first.
    pub fn drill_history(&self) -> &[DrillPoint] {
        self.drill.as_ref().map_or(&[], |d| &d.history)
    }

    /// The source's name.
    pub fn name(&self) -> &str {
        &self.name
    }
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
    /// Its restore drills.
    #[serde(skip_serializing_if = "Option::is_none")]
    drill: Option<DrillStatus>,
}

/// A source's restore drills.
#[derive(Debug, Serialize)]
struct DrillStatus {
    /// The newest finished drill.
    last: Option<LastDrill>,
    /// Whether the last passing drill is older than `drill-max-age`
    /// (`None` without one).
    overdue: Option<bool>,
    /// `drill-max-age`, as written back by humantime.
    max_age: Option<String>,
    /// When drills run.
    schedule: Vec<String>,
    /// Recent drills with their restore time, oldest first.
    history: Vec<DrillPoint>,
}

/// The newest finished drill of a source.
#[derive(Debug, Serialize)]
struct LastDrill {
    id: i64,
    ok: bool,
    state: String,
    at: Option<String>,
    restore_seconds: Option<f64>,
    error: Option<String>,
}

/// One drill on the dashboard's chart.
#[derive(Clone, Debug, Serialize)]
pub struct DrillPoint {
    /// When it finished.
    pub at: chrono::DateTime<chrono::Utc>,
    /// How long its restore took.
    pub restore_seconds: f64,
    /// Whether it passed.
    pub ok: bool,
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
