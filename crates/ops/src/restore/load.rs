//! Loading a snapshot's tables into a target session, for a restore or a
//! rehearsal.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tresor_core::{
    Engine, PortableType, RestorePlan, RestoreSummary, RowBatch, TableName, TableSchema, Target,
    TargetHold, Value,
};
use tresor_repo::Repository;

use crate::error::{OpsError, Result};
use crate::progress::{Progress, forward_counting};
use crate::rows::{stream_rows_at, stream_table};
use crate::select::{Selected, TableRows};
use crate::snapshot::{Snapshot, TableEntry};

/// Whether [`load`] ends in a commit or in a rehearsal's rollback.
pub(super) enum Finish {
    /// Commit, in the transaction a [`Target::hold`] began if given.
    Commit(Option<Box<dyn TargetHold>>),
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

/// Positions (among the stored columns) of the PostgreSQL `money` columns
/// of `table` (of a snapshot of `from`) whose values go somewhere that is
/// not a `money` column (`kept(name)` says which are): PostgreSQL keeps an
/// amount as a whole number of cents, which another engine must get as
/// the amount itself (`12.50`, not `1250`).
pub(super) fn money_columns(
    table: &TableSchema,
    from: Engine,
    kept: impl Fn(&str) -> bool,
) -> Vec<usize> {
    if from != Engine::POSTGRES {
        return Vec::new();
    }
    table
        .stored_columns()
        .enumerate()
        .filter(|(_, c)| {
            matches!(&c.portable, PortableType::Other { name } if name == "money") && !kept(&c.name)
        })
        .map(|(i, _)| i)
        .collect()
}

/// The amount `cents` hundredths stand for, as an exact decimal: money's
/// two places in every locale but a few (PostgreSQL's `lc_monetary`).
fn amount(cents: i64) -> Value {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    Value::Decimal(format!("{sign}{}.{:02}", abs / 100, abs % 100))
}

/// Forwards the rows a row selection restores (all rows without one),
/// with the `money` values at `money` turned into amounts; returns how
/// many it forwarded.
pub(super) async fn keep_chosen(
    mut rx: mpsc::Receiver<RowBatch>,
    tx: mpsc::Sender<RowBatch>,
    chosen: Option<&TableRows>,
    money: &[usize],
) -> u64 {
    let mut n = 0u64;
    while let Some(batch) = rx.recv().await {
        let mut batch: RowBatch = match chosen {
            Some(c) => batch.into_iter().filter(|r| c.admits(r)).collect(),
            None => batch,
        };
        for row in &mut batch {
            for &at in money {
                if let Some(v) = row.get_mut(at)
                    && let Value::Int(cents) = *v
                {
                    *v = amount(cents);
                }
            }
        }
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
    let (deadline, held) = match finish {
        Finish::Commit(held) => (None, held),
        Finish::Rehearse(d) => (Some(d), None),
    };
    let mut session = match held {
        Some(h) => h.begin().await?,
        None => target.begin(plan).await?,
    };
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
        let into_postgres = target.engine() == Engine::POSTGRES;
        let money = money_columns(schema, snapshot.source.engine, |_| into_postgres);
        let (streamed, kept, complete, (), loaded) = tokio::join!(
            stream_restored(repo, entry, chosen, ctx),
            keep_chosen(crx, ktx, chosen, &money),
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
    let summary = if deadline.is_none() {
        progress.step("committing");
        session.commit().await?
    } else {
        session.rehearse().await?
    };
    Ok(Loaded::Done {
        summary,
        tables: done,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_becomes_its_amount() {
        for (cents, text) in [
            (1250, "12.50"),
            (-5, "-0.05"),
            (0, "0.00"),
            (-100, "-1.00"),
            (i64::MIN, "-92233720368547758.08"),
            (i64::MAX, "92233720368547758.07"),
        ] {
            assert_eq!(amount(cents), Value::Decimal(text.into()), "{cents}");
        }
    }
}
