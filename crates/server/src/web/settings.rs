//! The settings page: the configuration in force, without secrets.

use std::sync::Arc;

use axum::extract::State;
use serde_json::json;

use crate::actions;
use crate::app::App;
use crate::auth::Viewer;

use super::PageResult;
use super::render::render;

pub(super) async fn settings(State(app): State<Arc<App>>, Viewer(c): Viewer) -> PageResult {
    let audit = if c.is_admin() {
        app.store.audit_log(100)?
    } else {
        Vec::new()
    };
    let settings = actions::admin::settings_json(&app);
    Ok(render(
        &app,
        "settings.html",
        Some(&c),
        json!({
            "settings": settings,
            "settings_text": serde_json::to_string_pretty(&settings).unwrap_or_default(),
            "deliveries": app.store.deliveries(50)?,
            "audit": audit,
            "schedules": app.scheduler.board.all(),
        }),
    ))
}
