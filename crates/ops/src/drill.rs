//! Restore drills: proof that a snapshot restores. A drill restores the
//! snapshot into a scratch database of the same engine (a new database on
//! the source's own server, or a configured drill target), verifies every
//! table of the scratch database against the snapshot's manifest (row
//! count and content digest, read back as a backup reads them; see
//! `verify`), runs the user's own assertions against it, measures how long
//! the restore took, and drops the scratch database again, also when
//! something failed.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use serde::Serialize;
use tresor_core::TableName;
use tresor_repo::Repository;

use crate::config::DrillAssertion;
use crate::engines::Engines;
use crate::error::{ErrorClass, OpsError, Result};
use crate::progress::Progress;
use crate::restore::{RestoreOptions, restore};
use crate::snapshot::Snapshot;

mod assertions;
mod verify;

pub use assertions::AssertionOutcome;

/// [`DrillTable::check`] of a table whose count and digest were compared
/// with the manifest.
const CHECK_DIGEST: &str = "digest";
/// [`DrillTable::check`] of a table compared row by row with the snapshot.
const CHECK_ROWS: &str = "rows";

/// One table of a drill.
#[derive(Clone, Debug, Serialize)]
pub struct DrillTable {
    /// The table.
    pub name: String,
    /// Rows the snapshot holds.
    pub rows: u64,
    /// Whether the scratch database holds exactly the snapshot's rows.
    pub ok: bool,
    /// How it was checked: `digest` (row count and content digest read
    /// back and compared with the manifest) or `rows` (compared row by row
    /// with the snapshot); none when the restore stopped before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// What differed, when something did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Why a table was compared row by row rather than by its digest, or
    /// that it was read again in key order (the scratch database stored
    /// its rows in another order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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
    /// The user's assertions, in the order configured.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assertions: Vec<AssertionOutcome>,
    /// Seconds the restore took: the measured recovery time for this
    /// snapshot.
    pub restore_seconds: f64,
    /// Seconds the verification and the assertions took.
    pub verify_seconds: f64,
    /// Logical bytes of the snapshot's rows.
    pub bytes: u64,
    /// Rows restored.
    pub rows: u64,
    /// Whether every table matched and every assertion held.
    pub ok: bool,
    /// Warnings of the restore.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Forwards progress, remembering the table being restored, so that a
/// restore that fails on damaged data names it.
struct Tracking<'a> {
    inner: &'a dyn Progress,
    table: Mutex<Option<TableName>>,
}

impl Progress for Tracking<'_> {
    fn table_started(&self, table: &TableName, rows: Option<u64>) {
        *self.table.lock().unwrap_or_else(PoisonError::into_inner) = Some(table.clone());
        self.inner.table_started(table, rows);
    }
    fn rows_done(&self, table: &TableName, rows: u64, bytes: u64) {
        self.inner.rows_done(table, rows, bytes);
    }
    fn table_finished(&self, table: &TableName, rows: u64) {
        self.inner.table_finished(table, rows);
    }
    fn step(&self, message: &str) {
        self.inner.step(message);
    }
}

/// Drills `snapshot` into the scratch database `scratch` (which must not
/// exist: a drill never overwrites anything), runs `assertions` against
/// it, then drops it.
///
/// # Errors
/// The scratch database exists or is of another engine, and repository or
/// database failures. A table that differs, damaged snapshot data that
/// stops the restore (the table is named), or an assertion that does not
/// hold is not an error: the report says so (`ok: false`).
pub async fn drill(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    engines: &Engines,
    scratch: &str,
    assertions: &[DrillAssertion],
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
    let jobs = engines.default_jobs(scratch)?;
    progress.step(&format!(
        "restoring snapshot {} into the scratch database",
        snapshot.short_id()
    ));
    let options = RestoreOptions {
        target_url: scratch.to_string(),
        safety_snapshot: false,
        ..RestoreOptions::default()
    };
    let tracking = Tracking {
        inner: progress,
        table: Mutex::new(None),
    };
    let started = Instant::now();
    let restored = restore(
        repo,
        snapshot,
        target.as_ref(),
        Some(source.as_ref()),
        &options,
        &tracking,
    )
    .await;
    let restore_seconds = started.elapsed().as_secs_f64();
    let checked = match restored {
        // damaged snapshot data fails the drill at the table it is in
        Err(e) => {
            let at = tracking
                .table
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            match at {
                Some(at) if e.class() == ErrorClass::Corrupt => {
                    Ok((unrestored(snapshot, &at, &e), Vec::new(), 0.0, Vec::new()))
                }
                // not the data of a table (the schema, the server)
                _ => Err(e),
            }
        }
        Ok(outcome) => {
            progress.step("verifying every table against the snapshot");
            let started = Instant::now();
            let checked = async {
                let tables = verify::verify(
                    repo,
                    snapshot,
                    jobs,
                    target.as_ref(),
                    source.as_ref(),
                    progress,
                )
                .await?;
                if !assertions.is_empty() {
                    progress.step(&format!("checking {} assertions", assertions.len()));
                }
                let asserted = assertions::run(source.as_ref(), assertions).await;
                Ok::<_, OpsError>((tables, asserted))
            }
            .await;
            let verify_seconds = started.elapsed().as_secs_f64();
            checked.map(|(t, a)| (t, a, verify_seconds, outcome.summary.warnings))
        }
    };
    // the scratch database goes, whatever happened
    let mut dropped = Vec::new();
    if let Err(e) = target.drop_database().await {
        tracing::warn!(error = %e, "cannot drop the scratch database of a drill");
        dropped.push(format!("cannot drop the scratch database: {e}"));
    }
    let (tables, assertions, verify_seconds, warnings) = checked?;
    Ok(DrillReport {
        snapshot: snapshot.id.clone(),
        scratch: tresor_core::redact_url(scratch),
        ok: tables.iter().all(|t| t.ok) && assertions.iter().all(|a| a.ok),
        tables,
        assertions,
        restore_seconds,
        verify_seconds,
        bytes: snapshot.totals.bytes,
        rows: snapshot.totals.rows,
        warnings: warnings.into_iter().chain(dropped).collect(),
    })
}

/// The tables of a restore that stopped on damaged data `e` in table
/// `at`: that one failed, the others were not checked.
fn unrestored(snapshot: &Snapshot, at: &TableName, e: &OpsError) -> Vec<DrillTable> {
    let text = e.to_string();
    snapshot
        .tables
        .iter()
        .map(|entry| {
            let here = *at == entry.name;
            DrillTable {
                name: entry.name.to_string(),
                rows: entry.rows,
                ok: false,
                check: None,
                note: None,
                problem: here.then(|| {
                    let prefix = format!("table {}: ", entry.name);
                    format!(
                        "cannot be restored: {}",
                        text.strip_prefix(&prefix).unwrap_or(&text)
                    )
                }),
            }
        })
        .collect()
}

/// The error of a failed drill, naming every table that differed and every
/// assertion that did not hold.
pub fn drill_failure(report: &DrillReport) -> OpsError {
    let mut bad: Vec<String> = report
        .tables
        .iter()
        .filter_map(|t| t.problem.as_ref().map(|p| format!("table {}: {p}", t.name)))
        .collect();
    let tables_bad = !bad.is_empty();
    bad.extend(
        report
            .assertions
            .iter()
            .filter_map(AssertionOutcome::problem),
    );
    if bad.is_empty() {
        bad.push("the restore stopped".into());
    }
    let what = format!(
        "restore drill of snapshot {} failed: {}",
        &report.snapshot[..report.snapshot.len().min(8)],
        bad.join("; ")
    );
    if tables_bad {
        OpsError::Corrupt(what)
    } else {
        // the snapshot restores as it was taken; the data it holds is not
        // what the user expects
        OpsError::InvalidInput {
            what,
            hint: Some(
                "look at the data the backup read, or at the assertion in tresor.toml".into(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(problem: Option<&str>, assertion_ok: bool) -> DrillReport {
        DrillReport {
            snapshot: "0123456789abcdef".into(),
            scratch: "sqlite:///tmp/tresor_drill_1.db".into(),
            tables: vec![DrillTable {
                name: "users".into(),
                rows: 3,
                ok: problem.is_none(),
                check: Some(CHECK_DIGEST.into()),
                problem: problem.map(str::to_string),
                note: None,
            }],
            assertions: vec![AssertionOutcome {
                name: "admins".into(),
                query: "SELECT count(*) FROM users WHERE admin".into(),
                expect: ">= 1".into(),
                seen: Some("0".into()),
                ok: assertion_ok,
                error: None,
            }],
            restore_seconds: 1.0,
            verify_seconds: 0.1,
            bytes: 10,
            rows: 3,
            ok: false,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn a_failed_drill_names_its_tables_and_assertions() {
        let e = drill_failure(&report(Some("2 rows missing, 0 differ, 0 extra"), false));
        assert_eq!(e.class(), ErrorClass::Corrupt);
        assert_eq!(
            e.to_string(),
            "restore drill of snapshot 01234567 failed: table users: 2 rows missing, 0 differ, \
             0 extra; assertion \"admins\" failed: expected >= 1, got 0"
        );
        // the data restored as it was taken: not damage, and no such hint
        let e = drill_failure(&report(None, false));
        assert_ne!(e.class(), ErrorClass::Corrupt);
        assert!(e.hint().is_some_and(|h| h.contains("assertion")), "{e:?}");
    }
}
