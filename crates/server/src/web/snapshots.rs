//! Snapshot pages: the list, one snapshot, its download, and the restore
//! wizard (preview, confirmation) and deletion.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use serde_json::json;

use crate::actions;
use crate::app::App;
use crate::auth::{Admin, Viewer};
use crate::error::ApiError;

use super::PageResult;
use super::form::AdminForm;
use super::render::render;

pub(super) async fn snapshots(
    State(app): State<Arc<App>>,
    Viewer(c): Viewer,
    Query(q): Query<actions::snapshots::ListQuery>,
) -> PageResult {
    let all = app.snapshots().await?;
    let (_, list) = actions::snapshots::filter(&app, &all, &q)?;
    Ok(render(
        &app,
        "snapshots.html",
        Some(&c),
        json!({
            "snapshots": list.iter().map(|s| actions::snapshots::snapshot_view(s, false)).collect::<Vec<_>>(),
            "sources": app.config.sources.keys().collect::<Vec<_>>(),
            "source": q.source,
            "tag": q.tag,
            "total": all.len(),
        }),
    ))
}

pub(super) async fn snapshot(
    State(app): State<Arc<App>>,
    Viewer(c): Viewer,
    Path(id): Path<String>,
) -> PageResult {
    let s = app.find_snapshot(&id).await?;
    let default_target = app
        .owners
        .owner_of(s.source.name.as_deref(), &s.source.url)
        .map(str::to_string);
    let groups: Vec<&String> = default_target
        .as_deref()
        .and_then(|t| app.config.source(t))
        .map(|sc| sc.groups.keys().collect())
        .unwrap_or_default();
    Ok(render(
        &app,
        "snapshot.html",
        Some(&c),
        json!({
            "s": actions::snapshots::snapshot_view(&s, true),
            "targets": app.config.sources.keys().collect::<Vec<_>>(),
            "default_target": default_target,
            "groups": groups,
            "others": app
                .snapshots()
                .await?
                .iter()
                .rev()
                .filter(|o| o.source.key() == s.source.key() && o.id != s.id && o.trigger.is_backup())
                .take(50)
                .map(|o| json!({"id": o.id, "short_id": o.short_id(), "time": o.time}))
                .collect::<Vec<_>>(),
        }),
    ))
}

#[derive(Deserialize, Default)]
pub(super) struct DownloadQuery {
    format: Option<String>,
}

pub(super) async fn download(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
    Path(id): Path<String>,
    Query(q): Query<DownloadQuery>,
) -> PageResult {
    let format = actions::archives::parse_format(q.format.as_deref())?;
    Ok(actions::archives::stream_archive(&app, &c.actor(), &id, format, &[], None).await?)
}

#[derive(Deserialize)]
pub(super) struct PreviewForm {
    target: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    tables: Option<String>,
    /// One `TABLE: PREDICATE` per line.
    #[serde(default, rename = "where")]
    filters: Option<String>,
    #[serde(default)]
    with_related: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    only_missing: Option<String>,
    #[serde(default)]
    drop_extra_tables: Option<String>,
    /// How long to wait for the application to let go of the tables
    /// (`30s` when empty).
    #[serde(default)]
    lock_wait: Option<String>,
}

pub(super) fn split_list(s: Option<&str>) -> Vec<String> {
    s.unwrap_or("")
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

pub(super) async fn preview(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    AdminForm(c, f): AdminForm<PreviewForm>,
) -> PageResult {
    // a form without a mode restores the default way; an unknown one is
    // refused, never read as replace
    let mode = match f.mode.as_deref().filter(|m| !m.is_empty()) {
        None => tresor_core::RestoreMode::default(),
        Some(m) => m
            .parse()
            .map_err(|e: tresor_core::UnknownRestoreMode| ApiError::bad_request(e.to_string()))?,
    };
    let p = actions::restore::make_preview(
        &app,
        &c,
        crate::jobs::RestoreRequest {
            snapshot: id,
            target: f.target,
            mode,
            tables: split_list(f.tables.as_deref()),
            filters: f
                .filters
                .as_deref()
                .unwrap_or_default()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
            with_related: f.with_related.is_some(),
            group: f.group.filter(|g| !g.is_empty()),
            only_missing: f.only_missing.is_some(),
            drop_extra_tables: f.drop_extra_tables.is_some(),
            app_version: None,
            require_same_app_version: false,
            with_privileges: false,
            strict: false,
            lock_wait: f
                .lock_wait
                .map(|w| w.trim().to_string())
                .filter(|w| !w.is_empty()),
        },
    )
    .await?;
    Ok(render(&app, "preview.html", Some(&c), json!({"p": p})))
}

#[derive(Deserialize)]
pub(super) struct CompareQuery {
    /// Another snapshot, or `live`.
    to: Option<String>,
    /// A row predicate `TABLE: PREDICATE`.
    #[serde(default, rename = "where")]
    filter: Option<String>,
}

/// What changed between this snapshot and another one, or the source now;
/// admins see the changed rows.
pub(super) async fn compare(
    State(app): State<Arc<App>>,
    Viewer(c): Viewer,
    Path(id): Path<String>,
    Query(q): Query<CompareQuery>,
) -> PageResult {
    let s = app.find_snapshot(&id).await?;
    let to = q.to.clone().unwrap_or_else(|| "live".into());
    let query = actions::rows::DiffQuery {
        from: s.id.clone(),
        to: to.clone(),
        source: None,
        tables: None,
        filter: q.filter.clone().filter(|f| !f.trim().is_empty()),
        rows: c.is_admin(),
        limit: Some(200),
    };
    let d = actions::rows::diff_view(&app, &c, &query).await?;
    let all = app.snapshots().await?;
    let others: Vec<serde_json::Value> = all
        .iter()
        .rev()
        .filter(|o| o.source.key() == s.source.key() && o.id != s.id && o.trigger.is_backup())
        .take(50)
        .map(|o| json!({"id": o.id, "short_id": o.short_id(), "time": o.time}))
        .collect();
    Ok(render(
        &app,
        "diff.html",
        Some(&c),
        json!({
            "s": actions::snapshots::snapshot_view(&s, false),
            "to": to,
            "to_short": if to == "live" { "the source now".to_string() } else { d.to[..8.min(d.to.len())].to_string() },
            "filter": q.filter,
            "d": d,
            "others": others,
        }),
    ))
}

#[derive(Deserialize)]
pub(super) struct RestoreForm {
    preview_id: String,
    confirm_target: String,
    confirm_snapshot: String,
}

pub(super) async fn start_restore(
    State(app): State<Arc<App>>,
    AdminForm(c, f): AdminForm<RestoreForm>,
) -> PageResult {
    let id = actions::restore::start_restore(
        &app,
        &c,
        &actions::restore::StartRequest {
            preview_id: f.preview_id,
            confirm: actions::restore::Confirm {
                target: f.confirm_target,
                snapshot: f.confirm_snapshot,
            },
        },
    )?;
    Ok(Redirect::to(&format!("/jobs/{id}")).into_response())
}

#[derive(Deserialize)]
pub(super) struct DeleteForm {
    confirm_id: String,
}

pub(super) async fn delete_snapshot(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    AdminForm(c, f): AdminForm<DeleteForm>,
) -> PageResult {
    let s = app.find_snapshot(&id).await?;
    let typed = f.confirm_id.trim();
    if typed.len() < 8 || !s.id.starts_with(typed) {
        return Err(ApiError::bad_request(
            "type the snapshot's id (its first 8 characters) to delete it",
        )
        .into());
    }
    let deleted = actions::snapshots::delete_snapshot(&app, &c.actor(), typed).await?;
    Ok(render(
        &app,
        "message.html",
        Some(&c),
        json!({"title": "Snapshot deleted", "message": format!("Snapshot {} was deleted. Its data is removed by the next prune.", &deleted[..8]), "link": "/snapshots", "link_text": "Back to snapshots"}),
    ))
}
