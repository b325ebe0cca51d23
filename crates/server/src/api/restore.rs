//! Restore in two steps: a preview (per-table inserted/updated/deleted
//! counts, nothing changed) that returns a preview id, then the restore
//! itself, which needs that id and a confirmation naming the target and
//! the snapshot.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::actions::restore::{
    PreviewRequest, PreviewView, StartRequest, make_preview, start_restore,
};
use crate::app::App;
use crate::auth::Admin;
use crate::error::ApiResult;

pub async fn preview(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
    Json(r): Json<PreviewRequest>,
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
