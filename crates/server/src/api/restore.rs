//! Restore in two steps: a preview (per-table inserted/updated/deleted
//! counts, nothing changed) that returns a preview id, then the restore
//! itself, which needs that id and a confirmation naming the target and
//! the snapshot. Or, for scripts, an archive uploaded, previewed and
//! (with a confirmation field) restored in one multipart request.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use tresor_core::RestoreMode;

use crate::actions::restore::{Confirm, PreviewView, StartRequest, make_preview, start_restore};
use crate::app::App;
use crate::auth::Admin;
use crate::error::{ApiError, ApiResult};

pub async fn preview(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
    Json(r): Json<crate::jobs::RestoreRequest>,
) -> ApiResult<Json<PreviewView>> {
    Ok(Json(make_preview(&app, &c, r).await?))
}

pub async fn start(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
    Json(r): Json<StartRequest>,
) -> ApiResult<(StatusCode, Json<super::JobAccepted>)> {
    let id = start_restore(&app, &c, &r)?;
    Ok(super::accepted(id))
}

/// The form fields of a one-request upload and restore besides the file.
#[derive(Default)]
struct UploadForm {
    target: Option<String>,
    mode: Option<RestoreMode>,
    tables: Vec<String>,
    group: Option<String>,
    only_missing: bool,
    drop_extra_tables: bool,
    app_version: Option<String>,
    require_same_app_version: bool,
    confirm: Option<String>,
}

/// A form field's text (at most 64 KiB, never read further).
async fn text(mut field: axum::extract::multipart::Field<'_>) -> ApiResult<String> {
    let name = field.name().unwrap_or_default().to_string();
    let mut bytes = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| ApiError::bad_request(format!("field {name}: {e}")))?
    {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > 64 * 1024 {
            return Err(ApiError::bad_request(format!("field {name} is too long")));
        }
    }
    String::from_utf8(bytes)
        .map_err(|_| ApiError::bad_request(format!("field {name} is not UTF-8 text")))
}

fn yes(v: &str) -> ApiResult<bool> {
    match v.trim() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        other => Err(ApiError::bad_request(format!(
            "{other:?} is not true or false"
        ))),
    }
}

/// `POST /api/v1/restores/upload` (multipart): an export archive
/// (`backup_file`) uploaded, checked, imported as a snapshot and previewed
/// in one request; with `confirm` naming the target it is restored too
/// (202 with the job), otherwise the answer is the preview to confirm with
/// `POST /api/v1/restores`. `clear_existing_data=true` replaces the
/// tables, `false` merges by primary key (or `mode`).
pub async fn upload_and_restore(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
    mut form: axum::extract::Multipart,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let (f, upload) = read_upload_form(&app, &c, &mut form).await?;
    // the target: named, or the archive's own source, or the only one
    let source_of_archive = upload["snapshot"]["source"].as_str().map(str::to_string);
    let target = match f.target.filter(|t| !t.is_empty()) {
        Some(t) => t,
        None => match source_of_archive.filter(|s| app.config.source(s).is_some()) {
            Some(s) => s,
            None if app.config.sources.len() == 1 => app
                .config
                .sources
                .keys()
                .next()
                .cloned()
                .unwrap_or_default(),
            None => {
                return Err(ApiError::bad_request("name the target source")
                    .hint("send the field target with a configured source's name"));
            }
        },
    };
    let sc = app.source_config(&target)?;
    let upload_id = upload["upload"].as_str().unwrap_or_default().to_string();
    // another application version is refused before anything is imported
    let running = f.app_version.clone().or_else(|| sc.app_version.clone());
    let taken = upload["snapshot"]["app_version"].as_str();
    if f.require_same_app_version && (taken.is_none() || taken != running.as_deref()) {
        app.uploads.remove(&upload_id);
        return Err(ApiError::bad_request(format!(
            "the archive was taken by application version {}, and {target} runs {}",
            taken.unwrap_or("unknown"),
            running.as_deref().unwrap_or("unknown")
        ))
        .hint(
            "upload an archive of the version the target runs, or leave out require_same_app_version",
        ));
    }
    let snapshot = crate::actions::archives::import_and_wait(&app, &c, &upload_id).await?;
    let preview = make_preview(
        &app,
        &c,
        crate::jobs::RestoreRequest {
            snapshot: snapshot.clone(),
            target: target.clone(),
            mode: f.mode.unwrap_or_default(),
            tables: f.tables,
            filters: Vec::new(),
            with_related: false,
            group: f.group,
            only_missing: f.only_missing,
            drop_extra_tables: f.drop_extra_tables,
            app_version: f.app_version,
            require_same_app_version: f.require_same_app_version,
            with_privileges: false,
            strict: false,
            lock_wait: None,
        },
    )
    .await?;
    let preview = serde_json::to_value(&preview).map_err(ApiError::internal)?;
    let mut answer = serde_json::json!({
        "upload": upload,
        "snapshot": snapshot,
        "preview": preview,
    });
    let Some(confirm) = f.confirm else {
        return Ok((StatusCode::OK, Json(answer)));
    };
    if confirm != target {
        return Err(
            ApiError::bad_request("the confirmation does not name this restore's target").hint(
                format!("send confirm={target} to restore, or leave it out to preview"),
            ),
        );
    }
    if let Some(failure) = preview["rehearsal"]["error"]["message"].as_str() {
        return Err(ApiError::new(
            crate::error::Kind::Conflict,
            format!("the restore would fail, so nothing was changed: {failure}"),
        ));
    }
    let job = start_restore(
        &app,
        &c,
        &StartRequest {
            preview_id: preview["preview_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            confirm: Confirm {
                target,
                snapshot: snapshot.clone(),
            },
        },
    )?;
    answer["job"] = job.into();
    Ok((StatusCode::ACCEPTED, Json(answer)))
}

/// The fields of an upload-and-restore form, and the received archive
/// (stored as an upload, not yet imported).
async fn read_upload_form(
    app: &Arc<App>,
    c: &crate::auth::Caller,
    form: &mut axum::extract::Multipart,
) -> ApiResult<(UploadForm, serde_json::Value)> {
    let mut f = UploadForm::default();
    let mut upload = None;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(format!("bad multipart form: {e}")))?
    {
        match field.name().unwrap_or_default() {
            "backup_file" | "file" | "archive" => {
                if upload.is_some() {
                    return Err(ApiError::bad_request("send one backup_file"));
                }
                upload = Some(crate::actions::archives::receive_field(app, c, field).await?);
            }
            "target" => f.target = Some(text(field).await?.trim().to_string()),
            "mode" => {
                let m = text(field).await?;
                f.mode = Some(
                    m.trim()
                        .parse()
                        .map_err(|e: tresor_core::UnknownRestoreMode| {
                            ApiError::bad_request(e.to_string())
                        })?,
                );
            }
            "clear_existing_data" => {
                let clear = yes(&text(field).await?)?;
                f.mode = Some(if clear {
                    RestoreMode::Replace
                } else {
                    RestoreMode::Merge
                });
            }
            "tables" => {
                f.tables = text(field)
                    .await?
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect();
            }
            "group" => f.group = Some(text(field).await?.trim().to_string()),
            "only_missing" => f.only_missing = yes(&text(field).await?)?,
            "drop_extra_tables" => f.drop_extra_tables = yes(&text(field).await?)?,
            "app_version" => {
                f.app_version =
                    Some(text(field).await?.trim().to_string()).filter(|v| !v.is_empty());
            }
            "require_same_app_version" => {
                f.require_same_app_version = yes(&text(field).await?)?;
            }
            "confirm" => f.confirm = Some(text(field).await?.trim().to_string()),
            other => {
                return Err(ApiError::bad_request(format!("unknown field {other:?}")).hint(
                    "fields: backup_file, target, clear_existing_data or mode, tables, group, only_missing, drop_extra_tables, app_version, require_same_app_version, confirm",
                ));
            }
        }
    }
    let Some(upload) = upload else {
        return Err(ApiError::bad_request("the form has no backup_file")
            .hint("send the archive as the multipart field backup_file"));
    };
    Ok((f, upload))
}
