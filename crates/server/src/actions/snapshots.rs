//! Snapshots: list with filters, show, create (a backup job), delete.

use std::sync::Arc;

use serde::Deserialize;

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::jobs::{JobSpec, Submit};
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tresor_core::Engine;
use tresor_ops::{Snapshot, TableChanges};

/// Filters of the snapshot list.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// Only this source (name or URL).
    pub source: Option<String>,
    /// Only snapshots with this tag.
    pub tag: Option<String>,
    /// Only this trigger (`manual`, `scheduled`, `pre-restore`, ...).
    pub trigger: Option<String>,
    /// Only snapshots taken at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only snapshots taken before this time.
    pub until: Option<String>,
    /// At most this many, newest first (default 100).
    pub limit: Option<usize>,
}

fn time_param(s: &Option<String>, name: &str) -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
    match s {
        None => Ok(None),
        Some(t) => crate::store::parse_ts(t).map(Some).ok_or_else(|| {
            ApiError::bad_request(format!(
                "{name} must be an RFC 3339 time such as 2025-10-25T06:00:00Z"
            ))
        }),
    }
}

/// Filters and orders snapshots, newest first: how many match, and the
/// first `limit` of them.
pub fn filter(
    app: &App,
    all: &[tresor_ops::Snapshot],
    q: &ListQuery,
) -> ApiResult<(usize, Vec<tresor_ops::Snapshot>)> {
    let since = time_param(&q.since, "since")?;
    let until = time_param(&q.until, "until")?;
    let matched: Vec<&tresor_ops::Snapshot> = all
        .iter()
        .rev()
        .filter(|s| {
            q.source.as_ref().is_none_or(|src| {
                s.source.key() == src || s.source.url == *src || app.belongs_to(s, src)
            })
        })
        .filter(|s| q.tag.as_ref().is_none_or(|t| s.tags.contains(t)))
        .filter(|s| q.trigger.as_ref().is_none_or(|t| s.trigger.as_str() == t))
        .filter(|s| since.is_none_or(|t| s.time >= t))
        .filter(|s| until.is_none_or(|t| s.time < t))
        .collect();
    Ok((
        matched.len(),
        matched
            .into_iter()
            .take(q.limit.unwrap_or(100))
            .cloned()
            .collect(),
    ))
}

/// A request for a backup.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// The configured source's name.
    pub source: String,
    /// Only these tables (globs).
    #[serde(default)]
    pub tables: Vec<String>,
    /// Only this table group of the source.
    #[serde(default)]
    pub group: Option<String>,
    /// Why (stored in the snapshot).
    #[serde(default)]
    pub reason: Option<String>,
    /// Extra tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The application's version, recorded with the snapshot (else the
    /// source's `app-version`).
    #[serde(default)]
    pub app_version: Option<String>,
}

/// Starts a backup job; shared by the API and the pages.
pub fn start_backup(app: &Arc<App>, who: &str, r: CreateRequest) -> ApiResult<i64> {
    let sc = app.source_config(&r.source)?;
    if let Some(g) = &r.group {
        sc.filter(Some(g))?;
    }
    if !r.tables.is_empty() && r.group.is_some() {
        return Err(ApiError::bad_request("give tables or group, not both"));
    }
    let spec = JobSpec::Backup {
        source: r.source.clone(),
        tables: r.tables,
        group: r.group,
        reason: r.reason,
        tags: r.tags,
        app_version: r.app_version,
    };
    let (id, _) = app.jobs.submit(Submit::manual(spec, who))?;
    app.store.audit(
        who,
        "backup.start",
        Some(&r.source),
        Some(&format!("job {id}")),
    );
    Ok(id)
}

/// Deletes a snapshot's manifest (its data goes at the next prune).
pub async fn delete_snapshot(app: &Arc<App>, who: &str, spec: &str) -> ApiResult<String> {
    let s = app.find_snapshot(spec).await?;
    if spec.len() < 8 || !s.id.starts_with(spec) {
        return Err(ApiError::bad_request(
            "name the snapshot by its id (at least 8 characters) to delete it",
        ));
    }
    tresor_ops::delete_snapshot(&app.repo, &s.id).await?;
    app.catalog.changed();
    app.store.audit(
        who,
        "snapshot.delete",
        Some(&s.id),
        Some(&format!("source {}", s.source.key())),
    );
    Ok(s.id)
}

/// A snapshot as the API and the pages show it.
#[derive(Debug, Serialize)]
pub struct SnapshotView<'a> {
    id: &'a str,
    short_id: &'a str,
    time: DateTime<Utc>,
    end_time: DateTime<Utc>,
    source: &'a str,
    source_name: Option<&'a str>,
    url: &'a str,
    engine: Engine,
    database: &'a str,
    trigger: &'a str,
    reason: Option<&'a str>,
    tags: &'a [String],
    /// The application version recorded with the snapshot.
    app_version: Option<&'a str>,
    hostname: &'a str,
    username: &'a str,
    tables: u64,
    rows: u64,
    bytes: u64,
    added_bytes: u64,
    partial: bool,
    warnings: &'a [String],
    #[serde(flatten)]
    detail: Option<SnapshotDetail<'a>>,
}

/// What [`SnapshotView`] adds for a single snapshot.
#[derive(Debug, Serialize)]
struct SnapshotDetail<'a> {
    table_list: Vec<TableView<'a>>,
    consistency: &'a str,
    server_version: &'a str,
    tresor_version: &'a str,
    parent: Option<&'a str>,
    labels: &'a BTreeMap<String, String>,
}

/// One table of a snapshot.
#[derive(Debug, Serialize)]
struct TableView<'a> {
    name: String,
    rows: u64,
    bytes: u64,
    added_bytes: u64,
    digest: &'a str,
    changes: Option<&'a TableChanges>,
}

/// A snapshot as the API shows it; `detail` adds its tables and
/// provenance.
pub fn snapshot_view(s: &Snapshot, detail: bool) -> SnapshotView<'_> {
    SnapshotView {
        id: &s.id,
        short_id: s.short_id(),
        time: s.time,
        end_time: s.end_time,
        source: s.source.key(),
        source_name: s.source.name.as_deref(),
        url: &s.source.url,
        engine: s.source.engine,
        database: &s.source.database,
        trigger: s.trigger.as_str(),
        reason: s.reason.as_deref(),
        tags: &s.tags,
        app_version: s.app_version.as_deref(),
        hostname: &s.hostname,
        username: &s.username,
        tables: s.totals.tables,
        rows: s.totals.rows,
        bytes: s.totals.bytes,
        added_bytes: s.totals.added_bytes,
        partial: s.partial,
        warnings: &s.warnings,
        detail: detail.then(|| SnapshotDetail {
            table_list: s
                .tables
                .iter()
                .map(|t| TableView {
                    name: t.name.to_string(),
                    rows: t.rows,
                    bytes: t.bytes,
                    added_bytes: t.added_bytes,
                    digest: &t.digest,
                    changes: t.changes.as_ref(),
                })
                .collect(),
            consistency: &s.consistency,
            server_version: &s.source.server_version,
            tresor_version: &s.tresor_version,
            parent: s.parent.as_deref(),
            labels: &s.labels,
        }),
    }
}
