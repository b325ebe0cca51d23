//! Rehearsing a restore: loading every row into the target and running
//! every check the commit runs, then rolling back, within a time bound.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tresor_core::{RestorePlan, TableName, Target};
use tresor_repo::Repository;

use super::load::{Finish, Loaded, load};
use crate::error::{OpsError, Result};
use crate::progress::NoProgress;
use crate::select::Selected;
use crate::snapshot::Snapshot;

/// How long previews rehearse a restore unless told otherwise.
pub const DEFAULT_REHEARSAL: Duration = Duration::from_secs(300);

/// How a rehearsal ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RehearsalOutcome {
    /// Every row was loaded and every check of the commit passed; the
    /// restore will succeed unless the target changes meanwhile.
    Passed,
    /// The restore would fail; nothing was changed.
    Failed,
    /// The time bound ran out before every table was loaded: the tables
    /// loaded passed, the rest and the final checks were not run.
    Stopped,
}

/// Why a rehearsal failed, as the restore would have reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RehearsalError {
    /// The error message.
    pub message: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The class of failure (for exit codes and HTTP statuses).
    #[serde(skip)]
    pub class: Option<crate::ErrorClass>,
}

/// What rehearsing the restore found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rehearsal {
    /// Passed, failed or stopped.
    pub outcome: RehearsalOutcome,
    /// Seconds it took.
    pub seconds: f64,
    /// The time bound it ran under.
    pub limit_seconds: f64,
    /// Tables loaded completely, in load order (as shown to users).
    pub tables_loaded: Vec<String>,
    /// Tables of the plan not loaded (stopped, or after a failure).
    pub tables_not_loaded: Vec<String>,
    /// The error, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RehearsalError>,
    /// What the target reported (approximations, skipped objects).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Values the target wrote in another form; the preview lists them
    /// with its approximations.
    #[serde(skip)]
    pub changed_values: Vec<tresor_core::Approximation>,
    /// How the target held the rehearsal (and dropped it).
    pub method: String,
}

/// Runs the restore of `plan` into `target` and rolls it back, for at most
/// `limit`. A failure of the restore itself is the rehearsal's outcome;
/// only a failure to read the snapshot is an error.
pub(super) async fn rehearse(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    target: &dyn Target,
    plan: &RestorePlan,
    selected: Option<&Selected>,
    limit: Duration,
) -> Result<Rehearsal> {
    let started = Instant::now();
    let deadline = started + limit;
    let lock = repo.lock(tresor_repo::LockKind::Shared).await?;
    let result = load(
        repo,
        snapshot,
        target,
        plan,
        selected,
        Finish::Rehearse(deadline),
        &NoProgress,
    )
    .await;
    if let Err(e) = lock.release().await {
        tracing::warn!(error = %e, "cannot release repository lock");
    }
    let loaded: Vec<&TableName> = match &result {
        Ok(Loaded::Done { tables, .. } | Loaded::Stopped { tables }) => {
            tables.iter().map(|(t, _)| t).collect()
        }
        Err(_) => Vec::new(),
    };
    let not_loaded = plan
        .tables
        .iter()
        .filter(|t| !loaded.contains(t))
        .map(ToString::to_string)
        .collect();
    let loaded = loaded.iter().map(ToString::to_string).collect();
    let mut rehearsal = Rehearsal {
        outcome: RehearsalOutcome::Passed,
        seconds: started.elapsed().as_secs_f64(),
        limit_seconds: limit.as_secs_f64(),
        tables_loaded: loaded,
        tables_not_loaded: not_loaded,
        error: None,
        warnings: Vec::new(),
        changed_values: Vec::new(),
        method: String::new(),
    };
    match result {
        Ok(Loaded::Done { summary, .. }) => {
            rehearsal.warnings = summary.warnings;
            rehearsal.changed_values = summary.changed_values;
            rehearsal.method = summary.method;
        }
        Ok(Loaded::Stopped { .. }) => rehearsal.outcome = RehearsalOutcome::Stopped,
        // the snapshot itself is unreadable: that is not the target's verdict
        Err(e @ (OpsError::Repo(_) | OpsError::Corrupt(_))) => return Err(e),
        Err(e) => {
            rehearsal.outcome = RehearsalOutcome::Failed;
            rehearsal.error = Some(RehearsalError {
                message: e.to_string(),
                hint: e.hint(),
                class: Some(e.class()),
            });
        }
    }
    Ok(rehearsal)
}
