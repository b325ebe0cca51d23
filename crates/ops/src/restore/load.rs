//! Loading a snapshot's tables into a target session, for a restore or a
//! rehearsal.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tresor_core::{RestorePlan, RestoreSummary, RowBatch, TableName, Target};
use tresor_repo::Repository;

use crate::error::{OpsError, Result};
use crate::progress::{Progress, forward_counting};
use crate::rows::{stream_rows_at, stream_table};
use crate::select::{Selected, TableRows};
use crate::snapshot::{Snapshot, TableEntry};

/// Whether [`load`] ends in a commit or in a rehearsal's rollback.
#[derive(Clone, Copy)]
pub(super) enum Finish {
    Commit,
    /// Roll back at the end, and stop loading at the deadline.
    Rehearse(Instant),
}

/// What [`load`] got to.
pub(super) enum Loaded {
    /// Every table loaded; committed or rehearsed.
    Done {
        summary: RestoreSummary,
        tables: Vec<(TableName, u64)>,
    },
    /// A rehearsal's deadline passed; `tables` were loaded completely,
    /// and everything was rolled back.
    Stopped { tables: Vec<(TableName, u64)> },
}

/// Forwards batches until `deadline` (if any); false when it cut the
/// stream short.
async fn forward_until(
    mut rx: mpsc::Receiver<RowBatch>,
    tx: mpsc::Sender<RowBatch>,
    deadline: Option<Instant>,
) -> bool {
    while let Some(batch) = rx.recv().await {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        if tx.send(batch).await.is_err() {
            return true;
        }
    }
    true
}

/// Streams a table's rows for a restore: every row, or for a row selection
/// only the chosen rows, read where the selection found them.
pub(super) async fn stream_restored(
    repo: &Arc<Repository>,
    entry: &TableEntry,
    chosen: Option<&TableRows>,
    tx: mpsc::Sender<RowBatch>,
) -> Result<u64> {
    match chosen {
        None => stream_table(repo, entry, tx).await,
        Some(c) => {
            let at = c.locations().into_iter().map(|a| (a.chunk, a.row));
            stream_rows_at(repo, at, tx).await
        }
    }
}

/// Forwards the rows a row selection restores (all rows without one);
/// returns how many it forwarded.
pub(super) async fn keep_chosen(
    mut rx: mpsc::Receiver<RowBatch>,
    tx: mpsc::Sender<RowBatch>,
    chosen: Option<&TableRows>,
) -> u64 {
    let mut n = 0u64;
    while let Some(batch) = rx.recv().await {
        let batch: RowBatch = match chosen {
            Some(c) => batch.into_iter().filter(|r| c.admits(r)).collect(),
            None => batch,
        };
        if batch.is_empty() {
            continue;
        }
        n += batch.len() as u64;
        if tx.send(batch).await.is_err() {
            break;
        }
    }
    n
}

pub(super) async fn load(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    target: &dyn Target,
    plan: &RestorePlan,
    selected: Option<&Selected>,
    finish: Finish,
    progress: &dyn Progress,
) -> Result<Loaded> {
    let deadline = match finish {
        Finish::Commit => None,
        Finish::Rehearse(d) => Some(d),
    };
    let mut session = target.begin(plan).await?;
    let mut done = Vec::with_capacity(plan.tables.len());
    for name in &plan.tables {
        let (Some(entry), Some(schema)) = (snapshot.table(name), plan.schema.table(name)) else {
            let _ = session.rollback().await;
            return Err(OpsError::Corrupt(format!(
                "table {name} is in the schema but not in the manifest"
            )));
        };
        let chosen = selected.and_then(|s| s.tables.get(name));
        progress.table_started(name, Some(chosen.map_or(entry.rows, |c| c.len())));
        let (tx, rx) = mpsc::channel(4);
        let (ctx, crx) = mpsc::channel(4);
        let (ktx, krx) = mpsc::channel(4);
        let (dtx, drx) = mpsc::channel(1);
        let (streamed, kept, complete, (), loaded) = tokio::join!(
            stream_restored(repo, entry, chosen, ctx),
            keep_chosen(crx, ktx, chosen),
            forward_until(krx, dtx, deadline),
            forward_counting(drx, tx, name, progress),
            session.load_table(schema, rx)
        );
        if !complete {
            session.rollback().await?;
            return Ok(Loaded::Stopped { tables: done });
        }
        let rows = match (streamed, loaded) {
            (Err(e), _) => {
                let _ = session.rollback().await;
                return Err(e);
            }
            (_, Err(e)) => {
                let _ = session.rollback().await;
                return Err(e.into());
            }
            (Ok(_), Ok(written)) if kept != written => {
                let _ = session.rollback().await;
                return Err(OpsError::Internal(format!(
                    "table {name}: {kept} rows sent but the target wrote {written}"
                )));
            }
            (Ok(_), Ok(n)) => n,
        };
        progress.table_finished(name, rows);
        done.push((name.clone(), rows));
    }
    let summary = match finish {
        Finish::Commit => {
            progress.step("committing");
            session.commit().await?
        }
        Finish::Rehearse(_) => session.rehearse().await?,
    };
    Ok(Loaded::Done {
        summary,
        tables: done,
    })
}
