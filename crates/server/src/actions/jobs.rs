//! Jobs: list, show with live progress, logs, cancel; and starting
//! checks, drills, prune and forget.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::jobs::{JobSpec, Submit};
use crate::store::JobRow;

/// A job as the API and the pages show it: its row and, while it runs,
/// its live progress.
#[derive(Debug, Serialize)]
pub struct JobView<'a> {
    #[serde(flatten)]
    row: &'a JobRow,
    progress: Option<Value>,
}

/// A job with its live figures.
pub fn job_view<'a>(app: &App, j: &'a JobRow) -> JobView<'a> {
    JobView {
        row: j,
        progress: app.jobs.progress(j.id),
    }
}

/// A job or 404.
pub fn find_job(app: &App, id: i64) -> ApiResult<JobRow> {
    app.store
        .job(id)?
        .ok_or_else(|| ApiError::not_found(format!("no job {id}")))
}

/// Starts a job and records it in the audit log.
pub fn start(app: &Arc<App>, who: &str, spec: JobSpec) -> ApiResult<i64> {
    let kind = spec.kind();
    let target = spec.source().map(str::to_string);
    let (id, _) = app.jobs.submit(Submit::manual(spec, who))?;
    app.store.audit(
        who,
        &format!("{kind}.start"),
        target.as_deref(),
        Some(&format!("job {id}")),
    );
    Ok(id)
}
