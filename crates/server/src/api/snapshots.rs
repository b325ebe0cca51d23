//! Snapshots: list with filters, show, create (a backup job), delete.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::actions::snapshots::{CreateRequest, ListQuery, delete_snapshot, filter, start_backup};
use crate::actions::snapshots::{SnapshotView, snapshot_view};
use crate::app::App;
use crate::auth::{Admin, Operator, Viewer};
use crate::error::ApiResult;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub async fn list(
    State(app): State<Arc<App>>,
    _v: Viewer,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    let all = app.snapshots().await?;
    let (total, list) = filter(&app, &all, &q)?;
    Ok(Json(SnapshotList {
        total,
        snapshots: list.iter().map(|s| snapshot_view(s, false)).collect(),
    })
    .into_response())
}

/// The answer of `GET /api/v1/snapshots`.
#[derive(Serialize)]
struct SnapshotList<'a> {
    total: usize,
    snapshots: Vec<SnapshotView<'a>>,
}

pub async fn show(
    State(app): State<Arc<App>>,
    _v: Viewer,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let s = app.find_snapshot(&id).await?;
    Ok(Json(snapshot_view(&s, true)).into_response())
}

pub async fn create(
    State(app): State<Arc<App>>,
    Operator(c): Operator,
    Json(r): Json<CreateRequest>,
) -> ApiResult<(StatusCode, Json<super::JobAccepted>)> {
    let id = start_backup(&app, &c.actor(), r)?;
    Ok(super::accepted(id))
}

pub async fn remove(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = delete_snapshot(&app, &c.actor(), &id).await?;
    Ok(Json(json!({
        "deleted": id,
        "note": "the snapshot's data is removed by the next prune"
    })))
}
