//! Diffs, guards and undo over HTTP (see [`crate::actions::rows`]).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::actions::rows::{DiffQuery, DiffView, GuardRequest, GuardView, UndoRequest};
use crate::app::App;
use crate::auth::{Admin, Operator, Viewer};
use crate::error::ApiResult;
use crate::jobs::off_thread;

pub async fn diff(
    State(app): State<Arc<App>>,
    Viewer(c): Viewer,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Json<DiffView>> {
    Ok(Json(crate::actions::rows::diff_view(&app, &c, &q).await?))
}

pub async fn guards(
    State(app): State<Arc<App>>,
    Viewer(_): Viewer,
) -> ApiResult<Json<Vec<GuardView>>> {
    Ok(Json(crate::actions::rows::list(&app).await?))
}

pub async fn take(
    State(app): State<Arc<App>>,
    Operator(c): Operator,
    Json(r): Json<GuardRequest>,
) -> ApiResult<(StatusCode, Json<GuardView>)> {
    let view =
        off_thread(move || async move { crate::actions::rows::take(&app, &c, &r).await }).await??;
    Ok((StatusCode::CREATED, Json(view)))
}

pub async fn close(
    State(app): State<Arc<App>>,
    Operator(c): Operator,
    Path(id): Path<String>,
) -> ApiResult<Json<GuardView>> {
    let view = off_thread(move || async move { crate::actions::rows::close(&app, &c, &id).await })
        .await??;
    Ok(Json(view))
}

pub async fn release(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let removed = crate::actions::rows::release(&app, &c, &id).await?;
    Ok(Json(serde_json::json!({ "released": removed })))
}

pub async fn undo(
    State(app): State<Arc<App>>,
    Admin(c): Admin,
    Path(id): Path<String>,
    Json(r): Json<UndoRequest>,
) -> ApiResult<Response> {
    let out =
        off_thread(
            move || async move { Box::pin(crate::actions::rows::undo(&app, &c, &id, &r)).await },
        )
        .await??;
    Ok(match out {
        Ok(report) => Json(report).into_response(),
        Err(job) => super::accepted(job).into_response(),
    })
}
