//! Restore drills: proof that a snapshot restores. A drill restores the
//! snapshot into a scratch database of the same engine (a new database on
//! the source's own server, or a configured drill target), compares every
//! table of the scratch database with the snapshot row by row (the
//! comparison a restore preview makes: nothing may be inserted, updated or
//! deleted), measures how long the restore took, and drops the scratch
//! database again, also when something failed.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tresor_repo::Repository;

use crate::engines::Engines;
use crate::error::{OpsError, Result};
use crate::progress::Progress;
use crate::restore::{RestoreOptions, preview, restore};
use crate::snapshot::Snapshot;

/// One table of a drill.
#[derive(Clone, Debug, Serialize)]
pub struct DrillTable {
    /// The table.
    pub name: String,
    /// Rows the snapshot holds.
    pub rows: u64,
    /// Whether the scratch database holds exactly the snapshot's rows.
    pub ok: bool,
    /// What differed, when something did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// What a drill found.
#[derive(Clone, Debug, Serialize)]
pub struct DrillReport {
    /// The snapshot drilled.
    pub snapshot: String,
    /// The scratch database (credentials redacted).
    pub scratch: String,
    /// Per table.
    pub tables: Vec<DrillTable>,
    /// Seconds the restore took: the measured recovery time for this
    /// snapshot.
    pub restore_seconds: f64,
    /// Seconds the comparison took.
    pub verify_seconds: f64,
    /// Logical bytes of the snapshot's rows.
    pub bytes: u64,
    /// Rows restored.
    pub rows: u64,
    /// Whether every table matched.
    pub ok: bool,
    /// Warnings of the restore.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Drills `snapshot` into the scratch database `scratch` (which must not
/// exist: a drill never overwrites anything), then drops it.
///
/// # Errors
/// The scratch database exists or is of another engine, and repository or
/// database failures. A restore that fails or a table that differs is not
/// an error: the report says so (`ok: false`).
pub async fn drill(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    engines: &Engines,
    scratch: &str,
    progress: &dyn Progress,
) -> Result<DrillReport> {
    let target = engines.target(scratch)?;
    if target.engine() != snapshot.source.engine {
        return Err(OpsError::InvalidInput {
            what: format!(
                "a drill restores into the snapshot's own engine ({}), not {}",
                snapshot.source.engine.name(),
                target.engine().name()
            ),
            hint: Some("give a scratch database of the same engine with --target".into()),
        });
    }
    let state = target.inspect().await?;
    if state.exists && !state.tables.is_empty() {
        return Err(OpsError::InvalidInput {
            what: format!(
                "the scratch database {} exists and holds tables",
                tresor_core::redact_url(scratch)
            ),
            hint: Some("a drill only restores into a database it makes itself".into()),
        });
    }
    let source = engines.source(scratch)?;
    progress.step(&format!(
        "restoring snapshot {} into the scratch database",
        snapshot.short_id()
    ));
    let options = RestoreOptions {
        target_url: scratch.to_string(),
        safety_snapshot: false,
        ..RestoreOptions::default()
    };
    let started = Instant::now();
    let restored = restore(
        repo,
        snapshot,
        target.as_ref(),
        Some(source.as_ref()),
        &options,
        progress,
    )
    .await;
    let restore_seconds = started.elapsed().as_secs_f64();
    let result = match restored {
        Err(e) => Err(e),
        Ok(outcome) => {
            progress.step("comparing every table with the snapshot");
            let started = Instant::now();
            let compared =
                preview(repo, snapshot, target.as_ref(), source.as_ref(), &options).await;
            let verify_seconds = started.elapsed().as_secs_f64();
            compared.map(|p| (outcome, p, verify_seconds))
        }
    };
    // the scratch database goes, whatever happened
    let mut warnings = Vec::new();
    if let Err(e) = target.drop_database().await {
        tracing::warn!(error = %e, "cannot drop the scratch database of a drill");
        warnings.push(format!("cannot drop the scratch database: {e}"));
    }
    let (outcome, compared, verify_seconds) = result?;
    let mut tables = Vec::new();
    for entry in &snapshot.tables {
        let found = compared.tables.iter().find(|t| t.name == entry.name);
        let problem = match found {
            None => Some("not restored".to_string()),
            Some(t) if t.inserted + t.updated + t.deleted > 0 || t.unchanged != entry.rows => {
                Some(format!(
                    "{} rows missing, {} differ, {} extra",
                    t.inserted, t.updated, t.deleted
                ))
            }
            Some(_) => None,
        };
        tables.push(DrillTable {
            name: entry.name.to_string(),
            rows: entry.rows,
            ok: problem.is_none(),
            problem,
        });
    }
    Ok(DrillReport {
        snapshot: snapshot.id.clone(),
        scratch: tresor_core::redact_url(scratch),
        ok: tables.iter().all(|t| t.ok),
        tables,
        restore_seconds,
        verify_seconds,
        bytes: snapshot.totals.bytes,
        rows: snapshot.totals.rows,
        warnings: outcome
            .summary
            .warnings
            .into_iter()
            .chain(warnings)
            .collect(),
    })
}

/// The error of a failed drill, naming every table that differed.
pub fn drill_failure(report: &DrillReport) -> OpsError {
    let bad: Vec<String> = report
        .tables
        .iter()
        .filter_map(|t| t.problem.as_ref().map(|p| format!("{}: {p}", t.name)))
        .collect();
    OpsError::Corrupt(format!(
        "restore drill of snapshot {} failed: {}",
        &report.snapshot[..report.snapshot.len().min(8)],
        bad.join("; ")
    ))
}
