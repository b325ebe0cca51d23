//! Export archives: a snapshot streamed out as ZIP or tar.zst (never built
//! in memory), and an uploaded archive validated and previewed, then
//! imported as a snapshot.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use futures::StreamExt;
use serde_json::Value;

use crate::actions::archives::{
    DownloadQuery, parse_format, receive_upload, start_import, stream_archive, too_large,
};
use crate::app::App;
use crate::auth::Admin;
use crate::error::{ApiError, ApiResult};

pub async fn download(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
    Path(id): Path<String>,
    Query(q): Query<DownloadQuery>,
) -> ApiResult<Response> {
    let format = parse_format(q.format.as_deref())?;
    let tables: Vec<String> = q
        .tables
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    stream_archive(&app, &c.actor(), &id, format, &tables, q.group.as_deref()).await
}

pub async fn upload(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > app.upload_limit
    {
        return Err(too_large(app.upload_limit));
    }
    let name = headers
        .get("x-file-name")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let stream = body
        .into_data_stream()
        .map(|r| r.map_err(|e| e.to_string()));
    let preview = receive_upload(&app, c.user.id, &c.actor(), name.as_deref(), stream).await?;
    Ok((StatusCode::CREATED, Json(preview)))
}

pub async fn show(
    State(app): State<Arc<App>>,
    _a: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = app
        .uploads
        .info(&id)
        .ok_or_else(|| ApiError::not_found(format!("no upload {id:?}")))?;
    Ok(Json(v))
}

pub async fn import(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<super::JobAccepted>)> {
    let job = start_import(&app, &c, &id)?;
    Ok(super::accepted(job))
}
