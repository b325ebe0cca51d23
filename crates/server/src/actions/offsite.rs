//! Offsite repositories: where each stands (for the API, the dashboard and
//! `tresor` clients) and starting a copy by hand.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::jobs::JobSpec;
use crate::offsite::Seen;
use crate::store::JobRow;

/// One offsite repository as the API and the dashboard show it.
#[derive(Debug, Serialize)]
pub struct OffsiteView {
    /// Its `[offsite.NAME]` name.
    pub name: String,
    /// Where it is, without secrets.
    pub location: String,
    /// The sources it takes (all when empty).
    pub sources: Vec<String>,
    /// Whether each backup is copied at once.
    pub after_backup: bool,
    /// Its `max-lag` in seconds.
    pub max_lag_seconds: u64,
    /// How far behind it is, in seconds (0 when up to date).
    pub lag_seconds: i64,
    /// Whether the lag is over `max-lag`.
    pub behind: bool,
    /// What was last seen of it.
    #[serde(flatten)]
    pub seen: Seen,
    /// Its newest copy job.
    pub last_copy: Option<JobRow>,
    /// When a copy last succeeded.
    pub last_success: Option<String>,
}

/// Every offsite repository, as last seen.
///
/// # Errors
/// The state file cannot be read.
pub fn offsite_views(app: &App) -> ApiResult<Vec<OffsiteView>> {
    let now: DateTime<Utc> = app.clock.now();
    app.offsites
        .all()
        .iter()
        .map(|o| {
            let lag = o.lag(now, app.started);
            let limit = o.config.lag_limit();
            Ok(OffsiteView {
                name: o.name.clone(),
                location: o.location.clone(),
                sources: o.config.sources.clone(),
                after_backup: o.config.after_backup,
                max_lag_seconds: limit.as_secs(),
                lag_seconds: lag.num_seconds(),
                behind: lag.to_std().is_ok_and(|l| l > limit),
                seen: o.seen(),
                last_copy: app.store.last_job("copy", &o.name, None)?,
                last_success: app
                    .store
                    .last_job("copy", &o.name, Some("succeeded"))?
                    .and_then(|j| j.finished_at),
            })
        })
        .collect()
}

/// Starts a copy to the offsite repository `name`.
///
/// # Errors
/// 404 for an unknown name; the job cannot be queued.
pub fn start_copy(app: &Arc<App>, who: &str, name: &str) -> ApiResult<i64> {
    if app.offsites.get(name).is_none() {
        return Err(
            ApiError::not_found(format!("no offsite repository named {name:?}")).hint(format!(
                "configured: {}",
                app.offsites
                    .all()
                    .iter()
                    .map(|o| o.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        );
    }
    super::jobs::start(
        app,
        who,
        JobSpec::Copy {
            repository: name.to_string(),
        },
    )
}
