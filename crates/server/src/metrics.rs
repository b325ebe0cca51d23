//! Prometheus metrics at `/metrics` (needs a token, like everything but
//! `/healthz`): per source the last successful backup's time, duration
//! and size, and failures; the last restore drill and whether one is
//! overdue; jobs running; snapshots; per offsite repository what it
//! lacks, how far behind it is and its copies' outcomes; notification
//! failures.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::auth::Viewer;
use crate::error::ApiResult;
use crate::store::parse_ts;

fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders the metrics text.
///
/// Longer than the house limit on purpose: it reads top to bottom as the
/// exposition it writes, one metric family after another in the order a
/// scraper shows them; split up, the order would live in no one place.
pub async fn metrics(State(app): State<Arc<App>>, _v: Viewer) -> ApiResult<Response> {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, lines: Vec<String>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for l in lines {
            let _ = writeln!(out, "{name}{l}");
        }
    };
    let names: Vec<String> = app.config.sources.keys().cloned().collect();
    let mut last_success = Vec::new();
    let mut duration = Vec::new();
    let mut bytes = Vec::new();
    let mut added = Vec::new();
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    let mut last_failed = Vec::new();
    let (mut drill_success, mut drill_failed, mut drill_restore, mut drill_overdue) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let now = app.clock.now();
    for n in &names {
        let l = format!("{{source=\"{}\"}}", label(n));
        if let Some(j) = app.store.last_job("backup", n, Some("succeeded"))? {
            if let Some(t) = j.finished_at.as_deref().and_then(parse_ts) {
                last_success.push(format!("{l} {}", t.timestamp()));
            }
            if let (Some(a), Some(b)) = (
                j.started_at.as_deref().and_then(parse_ts),
                j.finished_at.as_deref().and_then(parse_ts),
            ) {
                let secs = (b - a).num_milliseconds() as f64 / 1000.0;
                duration.push(format!("{l} {secs}"));
            }
            if let Some(f) = &j.figures {
                let get = |k: &str| f.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
                bytes.push(format!("{l} {}", get("bytes")));
                added.push(format!("{l} {}", get("added_bytes")));
                rows.push(format!("{l} {}", get("rows")));
            }
        }
        failures.push(format!(
            "{l} {}",
            app.store.count_jobs("backup", n, "failed")?
        ));
        let failed_now = app
            .store
            .last_job("backup", n, None)?
            .is_some_and(|j| j.state == "failed");
        last_failed.push(format!("{l} {}", u8::from(failed_now)));
        if let Some(j) = app.store.last_job("drill", n, None)? {
            drill_failed.push(format!("{l} {}", u8::from(j.state == "failed")));
        }
        if let Some(age) = crate::scheduler::drill_age(&app.store, &app.config, n)? {
            drill_overdue.push(format!("{l} {}", u8::from(age.overdue(now))));
        }
        if let Some(j) = app.store.last_job("drill", n, Some("succeeded"))? {
            if let Some(t) = j.finished_at.as_deref().and_then(parse_ts) {
                drill_success.push(format!("{l} {}", t.timestamp()));
            }
            if let Some(secs) = j
                .figures
                .as_ref()
                .and_then(|f| f.get("restore_seconds"))
                .and_then(serde_json::Value::as_f64)
            {
                drill_restore.push(format!("{l} {secs}"));
            }
        }
    }
    family(
        "tresor_backup_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the last successful backup.",
        last_success,
    );
    family(
        "tresor_backup_last_duration_seconds",
        "gauge",
        "Duration of the last successful backup.",
        duration,
    );
    family(
        "tresor_backup_last_bytes",
        "gauge",
        "Table data bytes of the last successful backup.",
        bytes,
    );
    family(
        "tresor_backup_last_added_bytes",
        "gauge",
        "Bytes the last successful backup added to the repository.",
        added,
    );
    family(
        "tresor_backup_last_rows",
        "gauge",
        "Rows in the last successful backup.",
        rows,
    );
    family(
        "tresor_backup_failures_total",
        "counter",
        "Failed backup jobs (each attempt counts).",
        failures,
    );
    family(
        "tresor_backup_last_failed",
        "gauge",
        "1 when the newest backup job of the source failed.",
        last_failed,
    );
    family(
        "tresor_drill_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the last restore drill that passed.",
        drill_success,
    );
    family(
        "tresor_drill_last_restore_seconds",
        "gauge",
        "How long the last passing drill's restore took.",
        drill_restore,
    );
    family(
        "tresor_drill_last_failed",
        "gauge",
        "1 when the newest restore drill of the source failed.",
        drill_failed,
    );
    family(
        "tresor_drill_overdue",
        "gauge",
        "1 when the source's last passing restore drill is older than its drill-max-age (sources with one).",
        drill_overdue,
    );
    family(
        "tresor_jobs_active",
        "gauge",
        "Jobs queued or running.",
        vec![format!(" {}", app.jobs.active().len())],
    );
    if let Some(s) = app.store.repo_stats(1)?.pop() {
        family(
            "tresor_repository_snapshots",
            "gauge",
            "Snapshots in the repository.",
            vec![format!(" {}", s.snapshots)],
        );
        family(
            "tresor_repository_stored_bytes",
            "gauge",
            "Bytes the repository occupies in storage.",
            vec![format!(" {}", s.stored_bytes)],
        );
    }
    let (mut pending, mut lag, mut copies, mut reachable, mut copy_ok, mut copy_failed) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for o in app.offsites.all() {
        let l = format!("{{repository=\"{}\"}}", label(&o.name));
        let seen = o.seen();
        if let Some(st) = &seen.status {
            pending.push(format!("{l} {}", st.pending.len()));
            copies.push(format!("{l} {}", st.copies));
        }
        lag.push(format!("{l} {}", o.lag(now, app.started).num_seconds()));
        reachable.push(format!(
            "{l} {}",
            u8::from(seen.checked_at.is_some() && seen.error.is_none())
        ));
        if let Some(t) = app
            .store
            .last_job("copy", &o.name, Some("succeeded"))?
            .and_then(|j| j.finished_at)
            .as_deref()
            .and_then(parse_ts)
        {
            copy_ok.push(format!("{l} {}", t.timestamp()));
        }
        copy_failed.push(format!(
            "{l} {}",
            app.store.count_jobs("copy", &o.name, "failed")?
        ));
    }
    family(
        "tresor_offsite_pending_snapshots",
        "gauge",
        "Snapshots of the primary repository the offsite repository lacks (as last seen).",
        pending,
    );
    family(
        "tresor_offsite_lag_seconds",
        "gauge",
        "Age of the oldest snapshot not copied yet (or time unreachable); 0 when up to date.",
        lag,
    );
    family(
        "tresor_offsite_snapshots",
        "gauge",
        "Snapshots the offsite repository holds (as last seen).",
        copies,
    );
    family(
        "tresor_offsite_reachable",
        "gauge",
        "1 when the offsite repository answered the last look.",
        reachable,
    );
    family(
        "tresor_offsite_last_copy_success_timestamp_seconds",
        "gauge",
        "Unix time of the last successful copy job.",
        copy_ok,
    );
    family(
        "tresor_offsite_copy_failures_total",
        "counter",
        "Failed copy jobs.",
        copy_failed,
    );
    family(
        "tresor_notification_failures_total",
        "counter",
        "Notifications given up after every attempt failed.",
        vec![format!(" {}", app.store.failed_deliveries()?)],
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}
