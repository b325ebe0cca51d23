//! Overdue drills: a source's `drill-max-age` says how old its last
//! passing restore drill may be. Counted from that drill's end, or, before
//! any drill passed, from the end of the source's first successful backup
//! on this server (a backup nobody has proven restores). `/metrics` shows
//! it; the scheduler checks it every hour and sends one `drill-overdue`
//! notification per overdue stretch, which the next passing drill ends.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tresor_ops::Config;

use super::{Scheduler, nap, sleep_until};
use crate::store::{Store, parse_ts};

/// How often the scheduler looks at a source's drill age.
const CHECK_EVERY: Duration = Duration::from_secs(3600);

/// The settings key remembering the overdue stretch already notified.
fn notified_key(name: &str) -> String {
    format!("drill.overdue-notified.{name}")
}

/// How a source's drills stand against its `drill-max-age`.
#[derive(Clone, Debug)]
pub struct DrillAge {
    /// The source's `drill-max-age`.
    pub limit: Duration,
    /// The last passing drill's end, if one passed.
    pub last_pass: Option<DateTime<Utc>>,
    /// Where the age counts from: the last passing drill, else the first
    /// successful backup; `None` before either.
    pub since: Option<DateTime<Utc>>,
    /// When it is (or was) overdue: `since` plus the limit.
    pub due: Option<DateTime<Utc>>,
}

impl DrillAge {
    /// Whether the drill is overdue at `now`.
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        self.due.is_some_and(|d| now >= d)
    }
}

/// How `name`'s drills stand, or `None` when it sets no `drill-max-age`.
///
/// # Errors
/// The state file cannot be read.
pub fn drill_age(store: &Store, config: &Config, name: &str) -> rusqlite::Result<Option<DrillAge>> {
    let Some(limit) = config.source(name).and_then(|s| s.drill_age_limit()) else {
        return Ok(None);
    };
    let finished = |j: Option<crate::store::JobRow>| {
        j.and_then(|j| j.finished_at).as_deref().and_then(parse_ts)
    };
    let last_pass = finished(store.last_job("drill", name, Some("succeeded"))?);
    let since = match last_pass {
        Some(t) => Some(t),
        None => finished(store.first_job("backup", name, "succeeded")?),
    };
    let due = since.and_then(|s| chrono::Duration::from_std(limit).ok().map(|l| s + l));
    Ok(Some(DrillAge {
        limit,
        last_pass,
        since,
        due,
    }))
}

/// Watches `name`'s drill age until shutdown, notifying once per overdue
/// stretch.
pub(super) async fn overdue_loop(app: &Scheduler, name: &str) {
    loop {
        let now = app.clock.now();
        let age = match drill_age(&app.store, &app.config, name) {
            Ok(Some(age)) => age,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, source = name, "cannot read the drill history");
                if !nap(app, CHECK_EVERY).await {
                    return;
                }
                continue;
            }
        };
        if age.overdue(now)
            && let Some(since) = age.since
        {
            let stretch = crate::store::ts(since);
            let key = notified_key(name);
            if app.store.setting(&key).ok().flatten().as_deref() != Some(stretch.as_str()) {
                let limit = humantime::format_duration(age.limit).to_string();
                let message = match age.last_pass {
                    Some(t) => format!(
                        "no restore drill of {name} has passed since {} (drill-max-age {limit})",
                        t.format("%Y-%m-%d %H:%M UTC")
                    ),
                    None => format!(
                        "no restore drill of {name} has passed since its first backup on {} (drill-max-age {limit})",
                        since.format("%Y-%m-%d %H:%M UTC")
                    ),
                };
                app.events.log(
                    "warn",
                    "restore drill overdue",
                    &[("source", name), ("since", &stretch), ("max_age", &limit)],
                );
                let last = app.store.last_job("drill", name, None).ok().flatten();
                app.notifier.drill_overdue(name, last, &message);
                let _ = app.store.set_setting(&key, &stretch);
            }
        }
        let next = match age.due {
            Some(d) if d > now => d.min(now + CHECK_EVERY),
            _ => now + CHECK_EVERY,
        };
        if !sleep_until(app, next).await {
            return;
        }
    }
}
