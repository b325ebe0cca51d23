//! The scheduler: one task per scheduled source, plus `[prune]` and
//! `[check]`. Cron expressions are evaluated in the schedule's time zone
//! (croner + chrono-tz), so 06:00 stays 06:00 local time across daylight
//! saving changes. Each run is a job; a failure that may pass is retried
//! with doubling waits. Every backup job, scheduled or not, applies the
//! source's retention rules when it is done.
//!
//! The time of the last scheduled run is kept in the state file, so a run
//! missed while the server was down can be made up once at start-up
//! (`catch-up = true`). Sources with a `drill-max-age` are watched for
//! overdue restore drills (see `overdue`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use serde::Serialize;
use tresor_ops::{RetentionConfig, Schedule, parse_cron, parse_duration};

use tokio_util::sync::CancellationToken;
use tresor_ops::Config;

use crate::clock::Clock;
use crate::events::Events;
use crate::jobs::{JobSpec, Jobs, Submit};
use crate::notify::Notifier;
use crate::store::Store;

mod behind;
mod overdue;

pub use crate::jobs::SCHEDULER;
pub use overdue::drill_age;

/// The settings key of the global pause switch.
pub const GLOBAL_PAUSE: &str = "scheduler.paused";

/// The longest single sleep; the clock is asked again after it.
const MAX_NAP: Duration = Duration::from_secs(60);

/// What the status page shows about one schedule.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ScheduleEntry {
    /// Source name, or `[prune]` / `[check]`.
    pub name: String,
    /// The cron expressions.
    pub expressions: Vec<String>,
    /// Their time zone.
    pub timezone: String,
    /// The next run.
    pub next_run: Option<DateTime<Utc>>,
    /// `waiting`, `running`, `retrying`, `paused`.
    pub state: String,
    /// The job of the current or last run.
    pub job: Option<i64>,
}

/// The schedules' current state, for the status API and pages; clones
/// share it.
#[derive(Clone, Default)]
pub struct ScheduleBoard {
    entries: Arc<Mutex<BTreeMap<String, ScheduleEntry>>>,
}

/// What the scheduler's tasks need, handed down by the server.
#[derive(Clone)]
pub struct Scheduler {
    /// The configuration (sources, `[prune]`, `[check]`).
    pub config: Arc<Config>,
    /// The state file (last runs, pauses, retention overrides).
    pub store: Arc<Store>,
    /// Where "now" comes from.
    pub clock: Clock,
    /// The server's time zone.
    pub tz: Tz,
    /// What the status pages show of each schedule.
    pub board: ScheduleBoard,
    /// Where runs are submitted.
    pub jobs: Jobs,
    /// The event log.
    pub events: Arc<Events>,
    /// Email and webhooks, for what is not a job (an overdue drill).
    pub notifier: Notifier,
    /// Completes when the server stops.
    pub shutdown: CancellationToken,
    /// The primary repository's snapshots (what offsite copies lag).
    pub catalog: Arc<crate::catalog::Catalog>,
    /// The offsite repositories, watched for copies falling behind.
    pub offsites: Arc<crate::offsite::Offsites>,
}

impl Scheduler {
    /// The time zone a source's schedule runs in.
    pub fn tz_of(&self, name: Option<&str>) -> Tz {
        name.and_then(|n| self.config.source(n))
            .and_then(|s| s.timezone.as_deref())
            .and_then(|t| tresor_ops::parse_timezone(t).ok())
            .unwrap_or(self.tz)
    }
}

impl ScheduleBoard {
    fn update(&self, name: &str, f: impl FnOnce(&mut ScheduleEntry)) {
        let mut e = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        f(e.entry(name.to_string()).or_default());
    }

    /// Starts (or restarts) the entry of a schedule, waiting for its first
    /// run.
    fn register(&self, name: &str, schedule: &Schedule, plan: &Plan) {
        self.update(name, |e| {
            e.name = name.to_string();
            e.expressions = schedule.0.clone();
            e.timezone = plan.tz.name().to_string();
            e.state = "waiting".into();
        });
    }

    /// One entry.
    pub fn get(&self, name: &str) -> Option<ScheduleEntry> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Every entry.
    pub fn all(&self) -> Vec<ScheduleEntry> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }
}

/// The parsed schedule of a source or maintenance task.
#[derive(Clone)]
pub struct Plan {
    crons: Vec<Cron>,
    tz: Tz,
}

impl Plan {
    /// Parses expressions (validated at config load, so errors are rare).
    pub fn new(expressions: &[&str], tz: Tz) -> Option<Plan> {
        let crons: Vec<Cron> = expressions
            .iter()
            .filter_map(|e| parse_cron(e).ok())
            .collect();
        (!crons.is_empty()).then_some(Plan { crons, tz })
    }

    /// The first scheduled time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.tz);
        self.crons
            .iter()
            .filter_map(|c| c.find_next_occurrence(&local, false).ok())
            .map(|d| d.with_timezone(&Utc))
            .min()
    }

    /// The last scheduled time at or before `t`.
    pub fn previous(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.tz);
        self.crons
            .iter()
            .filter_map(|c| c.find_previous_occurrence(&local, true).ok())
            .map(|d| d.with_timezone(&Utc))
            .max()
    }
}

/// The plan of a configured source, if it has a schedule.
pub fn source_plan(app: &Scheduler, name: &str) -> Option<Plan> {
    let sc = app.config.source(name)?;
    Plan::new(&sc.schedule.expressions(), app.tz_of(Some(name)))
}

/// Whether runs of `name` are skipped now.
pub fn is_paused(app: &Scheduler, name: &str) -> bool {
    if app
        .store
        .setting(GLOBAL_PAUSE)
        .ok()
        .flatten()
        .is_some_and(|v| v == "true")
    {
        return true;
    }
    match app.store.paused(name).ok().flatten() {
        Some(p) => p,
        None => app.config.source(name).is_some_and(|s| s.paused),
    }
}

/// What a schedule shows now: its state and next run. A paused schedule
/// (itself, or the whole scheduler) between runs says `paused` and has no
/// next run, since none will happen until it is resumed.
pub fn shown_state(app: &Scheduler, name: &str) -> (Option<String>, Option<DateTime<Utc>>) {
    let entry = app.board.get(name);
    let paused = is_paused(app, name);
    match entry {
        Some(e) if paused && e.state == "waiting" => (Some("paused".into()), None),
        Some(e) => (Some(e.state), if paused { None } else { e.next_run }),
        None if paused => (Some("paused".into()), None),
        None => (None, None),
    }
}

/// The retention rules in force for `name`: set at run time, or else
/// from the config.
pub fn retention_of(app: &Scheduler, name: &str) -> Option<RetentionConfig> {
    retention_in_force(&app.store, &app.config, name)
}

/// [`retention_of`] from the state file and the config.
pub fn retention_in_force(store: &Store, config: &Config, name: &str) -> Option<RetentionConfig> {
    if let Ok(Some(json)) = store.retention(name)
        && let Ok(r) = serde_json::from_str::<RetentionConfig>(&json)
    {
        return Some(r);
    }
    config.source(name).and_then(|s| s.retention.clone())
}

/// Starts every schedule's task; they end when the app shuts down.
pub fn spawn(app: &Scheduler) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for name in app.config.sources.keys() {
        if source_plan(app, name).is_some() {
            let (app, name) = (app.clone(), name.clone());
            tasks.push(tokio::spawn(async move { source_loop(&app, &name).await }));
        }
    }
    for (name, sc) in &app.config.sources {
        if let Some(plan) = Plan::new(&sc.drill_times().expressions(), app.tz_of(Some(name))) {
            let app = app.clone();
            let key = format!("{DRILL_PREFIX}{name}");
            let spec = JobSpec::Drill {
                source: name.clone(),
                snapshot: None,
            };
            let timeout = sc.timeout.as_deref().and_then(|t| parse_duration(t).ok());
            let expressions = sc.drill_times().clone();
            tasks.push(tokio::spawn(async move {
                periodic_loop(&app, &key, &expressions, plan, timeout, || spec.clone()).await;
            }));
        }
    }
    for (name, sc) in &app.config.sources {
        if sc.drill_age_limit().is_some() {
            let (app, name) = (app.clone(), name.clone());
            tasks.push(tokio::spawn(async move {
                overdue::overdue_loop(&app, &name).await;
            }));
        }
    }
    for o in app.offsites.all() {
        let key = format!("{OFFSITE_PREFIX}{}", o.name);
        if let Some(plan) = Plan::new(
            &o.config.schedule.expressions(),
            tz_named(app, o.config.timezone.as_deref()),
        ) {
            let (app, schedule) = (app.clone(), o.config.schedule.clone());
            let spec = JobSpec::Copy {
                repository: o.name.clone(),
            };
            tasks.push(tokio::spawn(async move {
                periodic_loop(&app, &key, &schedule, plan, None, || spec.clone()).await;
            }));
        }
        let (app, o) = (app.clone(), o.clone());
        tasks.push(tokio::spawn(async move {
            behind::behind_loop(&app, &o).await;
        }));
    }
    for (key, m) in [
        ("[prune]", &app.config.prune),
        ("[check]", &app.config.check),
    ] {
        if let Some(plan) = Plan::new(
            &m.schedule.expressions(),
            tz_named(app, m.timezone.as_deref()),
        ) {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                maintenance_loop(&app, key, plan).await;
            }));
        }
    }
    tasks
}

/// The zone `name` names, else the server's.
fn tz_named(app: &Scheduler, name: Option<&str>) -> Tz {
    name.and_then(|t| tresor_ops::parse_timezone(t).ok())
        .unwrap_or(app.tz)
}

/// Sleeps until `t` on the app's clock; false when shutting down first.
async fn sleep_until(app: &Scheduler, t: DateTime<Utc>) -> bool {
    loop {
        let d = app.clock.until(t);
        if d.is_zero() {
            return true;
        }
        tokio::select! {
            () = tokio::time::sleep(d.min(MAX_NAP)) => {}
            () = app.shutdown.cancelled() => return false,
        }
    }
}

async fn nap(app: &Scheduler, d: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => true,
        () = app.shutdown.cancelled() => false,
    }
}

async fn source_loop(app: &Scheduler, name: &str) {
    let Some(plan) = source_plan(app, name) else {
        return;
    };
    let Some(sc) = app.config.source(name) else {
        return;
    };
    let jitter = sc.jitter.as_deref().and_then(|j| parse_duration(j).ok());
    app.board.register(name, &sc.schedule, &plan);
    let now = app.clock.now();
    match app.store.last_scheduled(name).ok().flatten() {
        Some(last) if sc.catch_up => {
            if let Some(missed) = plan.next_after(last)
                && missed <= now
                && !is_paused(app, name)
            {
                app.events.log(
                    "info",
                    "running a missed scheduled backup",
                    &[("source", name), ("missed", &missed.to_rfc3339())],
                );
                let _ = app.store.set_last_scheduled(name, now);
                run_scheduled(app, name, missed, "catch-up").await;
            }
        }
        Some(_) => {}
        None => {
            let _ = app.store.set_last_scheduled(name, now);
        }
    }
    loop {
        let Some(next) = plan.next_after(app.clock.now()) else {
            return;
        };
        app.board.update(name, |e| {
            e.next_run = Some(next);
            e.state = if is_paused(app, name) {
                "paused"
            } else {
                "waiting"
            }
            .into();
        });
        if !sleep_until(app, next).await {
            return;
        }
        if let Some(j) = jitter
            && !j.is_zero()
        {
            let ms = u64::try_from(j.as_millis()).unwrap_or(u64::MAX);
            let wait = Duration::from_millis(rand::random_range(0..=ms));
            if !nap(app, wait).await {
                return;
            }
        }
        let _ = app.store.set_last_scheduled(name, next);
        if is_paused(app, name) {
            app.events.log(
                "info",
                "scheduled backup skipped: paused",
                &[("source", name)],
            );
            continue;
        }
        run_scheduled(app, name, next, "scheduled").await;
    }
}

/// Runs one scheduled backup with its retries (the backup job applies
/// the source's retention rules when it is done).
async fn run_scheduled(app: &Scheduler, name: &str, scheduled_for: DateTime<Utc>, trigger: &str) {
    let Some(sc) = app.config.source(name) else {
        return;
    };
    let timeout = sc.timeout.as_deref().and_then(|t| parse_duration(t).ok());
    let backoff = sc
        .retry_backoff
        .as_deref()
        .and_then(|t| parse_duration(t).ok())
        .unwrap_or(Duration::from_secs(60));
    for attempt in 1..=sc.retries.saturating_add(1) {
        let submit = Submit {
            spec: JobSpec::Backup {
                source: name.to_string(),
                tables: Vec::new(),
                group: None,
                reason: Some(format!("{trigger} run")),
                tags: Vec::new(),
                app_version: None,
            },
            trigger: trigger.to_string(),
            started_by: SCHEDULER.to_string(),
            attempt,
            scheduled_for: Some(scheduled_for),
            timeout,
        };
        let Ok((id, rx)) = app.jobs.submit(submit) else {
            return;
        };
        app.board.update(name, |e| {
            e.state = "running".into();
            e.job = Some(id);
        });
        let Ok(outcome) = rx.await else {
            return;
        };
        match outcome.state {
            "succeeded" => {
                app.board.update(name, |e| e.state = "waiting".into());
                return;
            }
            "failed" if outcome.retryable && attempt <= sc.retries => {
                let wait = backoff.saturating_mul(1 << (attempt - 1).min(16));
                app.events.log(
                    "warn",
                    "scheduled backup failed; retrying",
                    &[
                        ("source", name),
                        ("attempt", &attempt.to_string()),
                        ("wait", &humantime::format_duration(wait).to_string()),
                    ],
                );
                app.board.update(name, |e| e.state = "retrying".into());
                if !nap(app, wait).await {
                    return;
                }
            }
            _ => {
                app.board.update(name, |e| e.state = "waiting".into());
                return;
            }
        }
    }
}

/// The board key of a source's drill schedule: `drill:NAME`.
pub const DRILL_PREFIX: &str = "drill:";

/// The schedule board's key prefix of an offsite repository's copies.
pub const OFFSITE_PREFIX: &str = "offsite:";

async fn maintenance_loop(app: &Scheduler, key: &str, plan: Plan) {
    let m = if key == "[prune]" {
        &app.config.prune
    } else {
        &app.config.check
    };
    let timeout = m.timeout.as_deref().and_then(|t| parse_duration(t).ok());
    let read_data = m.read_data;
    periodic_loop(app, key, &m.schedule, plan, timeout, || {
        if key == "[prune]" {
            JobSpec::Prune
        } else {
            JobSpec::Check { read_data }
        }
    })
    .await;
}

/// Runs the job `spec` makes at every time of `plan` (skipped while
/// paused), one at a time, until shutdown.
async fn periodic_loop(
    app: &Scheduler,
    key: &str,
    schedule: &Schedule,
    plan: Plan,
    timeout: Option<Duration>,
    spec: impl Fn() -> JobSpec,
) {
    app.board.register(key, schedule, &plan);
    loop {
        let Some(next) = plan.next_after(app.clock.now()) else {
            return;
        };
        app.board.update(key, |e| e.next_run = Some(next));
        if !sleep_until(app, next).await {
            return;
        }
        // a drill pauses with its source's schedule
        let paused_as = key.strip_prefix(DRILL_PREFIX).unwrap_or(key);
        if is_paused(app, paused_as) {
            continue;
        }
        let submit = Submit {
            spec: spec(),
            trigger: "scheduled".into(),
            started_by: SCHEDULER.into(),
            attempt: 1,
            scheduled_for: Some(next),
            timeout,
        };
        if let Ok((id, rx)) = app.jobs.submit(submit) {
            app.board.update(key, |e| e.job = Some(id));
            let _ = rx.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("date")
            .with_timezone(&Utc)
    }

    #[test]
    fn berlin_twice_a_day_across_the_october_change() {
        let tz: Tz = "Europe/Berlin".parse().expect("tz");
        let plan = Plan::new(&["0 6 * * *", "0 18 * * *"], tz).expect("plan");
        let mut t = utc("2025-10-25T00:00:00Z");
        let mut runs = Vec::new();
        for _ in 0..4 {
            t = plan.next_after(t).expect("next");
            runs.push(t.to_rfc3339());
        }
        assert_eq!(
            runs,
            [
                "2025-10-25T04:00:00+00:00", // 06:00 CEST
                "2025-10-25T16:00:00+00:00", // 18:00 CEST
                "2025-10-26T05:00:00+00:00", // 06:00 CET, after the change
                "2025-10-26T17:00:00+00:00",
            ]
        );
        assert_eq!(
            plan.previous(utc("2025-10-26T12:00:00Z")),
            Some(utc("2025-10-26T05:00:00Z"))
        );
    }

    #[test]
    fn the_skipped_hour_in_march_still_runs_once() {
        let tz: Tz = "Europe/Berlin".parse().expect("tz");
        let plan = Plan::new(&["30 2 * * *"], tz).expect("plan");
        // 2025-03-30 02:30 does not exist in Berlin; the run must not be
        // lost for the day nor happen twice.
        let first = plan.next_after(utc("2025-03-29T12:00:00Z")).expect("next");
        let second = plan.next_after(first).expect("next");
        assert!(second > first);
        assert!(
            second - first <= chrono::Duration::hours(25),
            "{first} {second}"
        );
    }
}
