//! Restore in two steps: a preview (per-table inserted/updated/deleted
//! counts, nothing changed) that returns a preview id, then the restore
//! itself, which needs that id and a confirmation naming the target and
//! the snapshot.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::jobs::{JobSpec, RestoreRequest};

/// A restore preview as the API and the pages show it.
#[derive(Debug, Serialize)]
pub struct PreviewView {
    preview_id: String,
    snapshot: String,
    short_id: String,
    snapshot_time: chrono::DateTime<chrono::Utc>,
    snapshot_source: String,
    target: String,
    target_url: String,
    mode: String,
    tables_selected: Vec<String>,
    overwrites_data: bool,
    safety_snapshot: bool,
    tables: Vec<PreviewTable>,
    totals: PreviewTotals,
    rehearsal: Option<tresor_ops::Rehearsal>,
    /// For a row selection: per table, the rows chosen and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    selection: Vec<tresor_ops::SelectedTable>,
    /// For a whole-database restore: tables the snapshot lacks (left alone).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    extra_tables: Vec<String>,
    /// With `drop_extra_tables`: the tables the snapshot lacks, dropped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dropped: Vec<tresor_ops::SkippedTable>,
    /// With `only_missing`: the tables left alone because they hold data.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    skipped: Vec<tresor_ops::SkippedTable>,
    /// The snapshot's and the target's application versions.
    app_version: tresor_ops::AppVersions,
    /// The target database does not exist yet; the restore creates it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    creates_database: bool,
    /// Into another engine or an older PostgreSQL: what the target cannot
    /// keep as it was.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    approximations: Vec<tresor_core::Approximation>,
    /// The other clients connected to the target (the application still
    /// running), and what the restore means for what they write.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    other_sessions: Vec<tresor_core::OtherSession>,
    /// With `other_sessions`: what the restore does to their writes
    /// (held from the safety snapshot on until the commit, or overwritten).
    #[serde(skip_serializing_if = "Option::is_none")]
    other_sessions_writes: Option<&'static str>,
    confirm: ConfirmHint,
    expires_in_seconds: u64,
}

/// What a restore would do to one table.
#[derive(Debug, Serialize)]
struct PreviewTable {
    name: String,
    action: String,
    snapshot_rows: u64,
    target_rows: Option<u64>,
    inserted: u64,
    updated: u64,
    deleted: u64,
    unchanged: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// The row changes of all tables.
#[derive(Debug, Serialize)]
struct PreviewTotals {
    inserted: u64,
    updated: u64,
    deleted: u64,
    unchanged: u64,
}

/// What to type to confirm the restore.
#[derive(Debug, Serialize)]
struct ConfirmHint {
    target: String,
    snapshot: String,
}

/// Computes a preview and stores it; shared by the API and the pages.
pub async fn make_preview(
    app: &Arc<App>,
    caller: &Caller,
    r: RestoreRequest,
) -> ApiResult<PreviewView> {
    let snap = app.find_snapshot(&r.snapshot).await?;
    let sc = app.source_config(&r.target)?;
    // the job runs what was previewed: this snapshot, a group as its
    // tables, the mode the preview showed
    let mut job = RestoreRequest {
        snapshot: snap.id.clone(),
        ..r
    };
    if let Some(g) = job.group.take() {
        let owner = app
            .owners
            .owner_of(snap.source.name.as_deref(), &snap.source.url);
        let tables = app
            .config
            .group_tables(&g, [owner, Some(job.target.as_str())])?;
        job.tables.extend(tables);
    }
    let options = job.options(sc, caller.actor(), Some(tresor_ops::DEFAULT_REHEARSAL))?;
    job.mode = options.mode;
    let target = app.engines.target(&options.target_url)?;
    let source = app.engines.source(&options.target_url)?;
    let p =
        tresor_ops::preview(&app.repo, &snap, target.as_ref(), source.as_ref(), &options).await?;
    let id = crate::auth::random_token(12);
    let totals = |f: fn(&tresor_ops::TablePreview) -> u64| p.tables.iter().map(f).sum::<u64>();
    let result = PreviewView {
        preview_id: id.clone(),
        snapshot: snap.id.clone(),
        short_id: snap.short_id().to_string(),
        snapshot_time: snap.time,
        snapshot_source: snap.source.key().to_string(),
        target: job.target.clone(),
        target_url: tresor_core::redact_url(&options.target_url),
        mode: p.mode.to_string(),
        tables_selected: job.tables.clone(),
        overwrites_data: p.overwrites_data,
        safety_snapshot: p.safety_snapshot,
        tables: p
            .tables
            .iter()
            .map(|t| PreviewTable {
                name: t.name.to_string(),
                action: t.action.clone(),
                snapshot_rows: t.snapshot_rows,
                target_rows: t.target_rows,
                inserted: t.inserted,
                updated: t.updated,
                deleted: t.deleted,
                unchanged: t.unchanged,
                note: t.note.clone(),
            })
            .collect(),
        totals: PreviewTotals {
            inserted: totals(|t| t.inserted),
            updated: totals(|t| t.updated),
            deleted: totals(|t| t.deleted),
            unchanged: totals(|t| t.unchanged),
        },
        rehearsal: p.rehearsal.clone(),
        selection: p.selection.clone(),
        extra_tables: p.extra_tables.clone(),
        dropped: p.dropped.clone(),
        skipped: p.skipped.clone(),
        app_version: p.app_version.clone(),
        creates_database: p.creates_database,
        approximations: p.approximations.clone(),
        other_sessions: p.other_sessions.clone(),
        other_sessions_writes: (!p.other_sessions.is_empty())
            .then(|| tresor_ops::sessions_consequence(p.writes_held, false)),
        confirm: ConfirmHint {
            target: job.target.clone(),
            snapshot: snap.short_id().to_string(),
        },
        expires_in_seconds: 3600,
    };
    app.store.create_preview(
        &id,
        caller.user.id,
        &serde_json::to_string(&job).map_err(ApiError::internal)?,
        &serde_json::to_string(&result).map_err(ApiError::internal)?,
    )?;
    app.store.audit(
        &caller.actor(),
        "restore.preview",
        Some(&job.target),
        Some(&format!("snapshot {}", snap.short_id())),
    );
    Ok(result)
}

/// The typed confirmation.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confirm {
    /// The target's name, typed again.
    pub target: String,
    /// The snapshot's id (the first 8 characters or more), typed again.
    pub snapshot: String,
}

/// Starting a restore.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// From the preview.
    pub preview_id: String,
    /// Names the target and the snapshot.
    pub confirm: Confirm,
}

/// Checks the confirmation against the preview and starts the job.
pub fn start_restore(app: &Arc<App>, caller: &Caller, r: &StartRequest) -> ApiResult<i64> {
    let Some((user_id, request, _result, created)) = app.store.preview(&r.preview_id)? else {
        return Err(ApiError::not_found("no such restore preview")
            .hint("run POST /api/v1/restore/preview first; previews are used once and expire after an hour"));
    };
    if user_id != caller.user.id {
        return Err(ApiError::forbidden("use a preview made by someone else"));
    }
    if crate::store::parse_ts(&created)
        .is_none_or(|t| chrono::Utc::now() - t > chrono::Duration::hours(1))
    {
        return Err(ApiError::bad_request("the preview has expired").hint("preview again"));
    }
    let req: RestoreRequest = serde_json::from_str(&request).map_err(ApiError::internal)?;
    let typed_snapshot = r.confirm.snapshot.trim();
    if r.confirm.target.trim() != req.target
        || typed_snapshot.len() < 8
        || !req.snapshot.starts_with(typed_snapshot)
    {
        return Err(ApiError::bad_request(
            "the confirmation does not name this restore's target and snapshot",
        )
        .hint(format!(
            "confirm with target {:?} and snapshot {:?}",
            req.target,
            &req.snapshot[..8.min(req.snapshot.len())]
        )));
    }
    app.store.delete_preview(&r.preview_id)?;
    let (target, snapshot, mode) = (req.target.clone(), req.snapshot.clone(), req.mode);
    let spec = JobSpec::Restore(req);
    let (id, _) = app
        .jobs
        .submit(crate::jobs::Submit::manual(spec, caller.actor()))?;
    app.store.audit(
        &caller.actor(),
        "restore.start",
        Some(&target),
        Some(&format!("snapshot {snapshot} mode {mode} job {id}")),
    );
    Ok(id)
}
