//! A drill's verification: every table of the scratch database read back
//! with the engine's own source reader (what a backup reads), its rows
//! encoded and digested the way a backup digests them, and the count and
//! digest compared with the snapshot's manifest. A backup reads rows in
//! row-key order and the manifest's digest is of the rows in that order,
//! so a table restored whole reads back to the very same digest. Only a
//! table whose stored columns or key differ in the scratch database, or
//! whose digest differs, is compared row by row against the snapshot (a
//! restore preview of that table), which also says what differs.

use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::mpsc;
use tresor_core::codec::TableDigest;
use tresor_core::{
    EncodedBatch, ReadOptions, Source, SourceError, SourceSnapshot, TableFilter, TableName,
    TableSchema, Target,
};
use tresor_repo::Repository;

use super::{CHECK_DIGEST, CHECK_ROWS, DrillTable};
use crate::error::Result;
use crate::progress::Progress;
use crate::restore::{RestoreOptions, preview};
use crate::snapshot::{Snapshot, TableEntry, load_schema};

/// What reading one table of the scratch database found.
enum Read {
    /// Rows and digest as the manifest has them.
    Same,
    /// Different: compared row by row afterwards.
    Differs(String),
    /// Cannot be compared by digest (another layout or key).
    Incomparable,
    /// Not in the scratch database.
    Missing,
}

/// Verifies every table of `snapshot` in the scratch database.
///
/// # Errors
/// The scratch database cannot be read, and repository failures.
pub(super) async fn verify(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    jobs: usize,
    target: &dyn Target,
    source: &dyn Source,
    progress: &dyn Progress,
) -> Result<Vec<DrillTable>> {
    let stored = load_schema(repo, snapshot).await?;
    let snap = source
        .open(&ReadOptions {
            filter: TableFilter::all(),
            jobs,
            ..ReadOptions::default()
        })
        .await?;
    let scratch = snap.schema().clone();
    // each table on a task of its own, so that up to `jobs` tables (and
    // their hashing) use as many threads; the largest first, so that the
    // last one to finish is a small one and no connection idles long
    // while another reads a large table alone
    let snap = Arc::new(snap);
    let reads = futures::stream::iter(largest_first(&snapshot.tables).map(|entry| {
        let (old, new) = (stored.table(&entry.name), scratch.table(&entry.name));
        let snap = snap.clone();
        async move {
            let read = match (old, new) {
                (_, None) => Ok(Read::Missing),
                (Some(old), Some(new)) if comparable(old, new) => {
                    progress.step(&format!("verifying {}", entry.name));
                    let (table, entry) = (new.clone(), entry.clone());
                    tokio::spawn(async move {
                        digest_table(snap.as_ref().as_ref(), &table, &entry).await
                    })
                    .await
                    .unwrap_or_else(|e| Err(task_failed(&e)))
                }
                _ => Ok(Read::Incomparable),
            };
            (entry, read)
        }
    }))
    .buffer_unordered(jobs.max(1))
    .collect::<Vec<_>>()
    .await;
    if let Ok(snap) = Arc::try_unwrap(snap) {
        let _ = snap.close().await;
    }
    let mut tables = Vec::with_capacity(reads.len());
    let mut again = Vec::new();
    for (entry, read) in reads {
        match read? {
            Read::Same => tables.push(DrillTable {
                name: entry.name.to_string(),
                rows: entry.rows,
                ok: true,
                check: Some(CHECK_DIGEST.to_string()),
                problem: None,
                note: None,
            }),
            Read::Missing => tables.push(DrillTable {
                name: entry.name.to_string(),
                rows: entry.rows,
                ok: false,
                check: None,
                problem: Some("not restored".into()),
                note: None,
            }),
            Read::Differs(p) => again.push((entry, Some(p))),
            Read::Incomparable => again.push((entry, None)),
        }
    }
    if !again.is_empty() {
        tables.extend(compare_rows(repo, snapshot, target, source, &again, progress).await?);
    }
    // the snapshot's order, as the report lists them
    tables.sort_by_key(|t| {
        snapshot
            .tables
            .iter()
            .position(|e| e.name.to_string() == t.name)
    });
    Ok(tables)
}

/// `tables` in the order they are read back: the most bytes first.
fn largest_first(tables: &[TableEntry]) -> impl Iterator<Item = &TableEntry> {
    let mut order: Vec<&TableEntry> = tables.iter().collect();
    order.sort_by_key(|e| std::cmp::Reverse(e.bytes));
    order.into_iter()
}

/// Whether rows of `new` read back encoded as a backup of `old` stored
/// them: the same stored columns, of the same types, under the same key.
fn comparable(old: &TableSchema, new: &TableSchema) -> bool {
    let layout = |t: &TableSchema| -> Vec<(String, String)> {
        t.stored_columns()
            .map(|c| (c.name.clone(), c.engine_type.clone()))
            .collect()
    };
    old.row_key == new.row_key && layout(old) == layout(new)
}

/// Reads `table` as a backup does and compares its row count and digest
/// with `entry`.
async fn digest_table(
    snap: &dyn SourceSnapshot,
    table: &TableSchema,
    entry: &TableEntry,
) -> std::result::Result<Read, SourceError> {
    let (tx, mut rx) = mpsc::channel::<EncodedBatch>(4);
    // hashed on a task of its own, beside the read
    let hash = tokio::spawn(async move {
        let mut digest = TableDigest::new();
        let mut rows = 0u64;
        // a batch is framed as a chunk is: hashed whole, as a backup
        // hashes its chunks
        while let Some(batch) = rx.recv().await {
            digest.update_framed(batch.framed());
            rows += batch.rows();
        }
        (rows, digest.finish())
    });
    let read = snap.read_table_encoded(table, tx).await;
    let hashed = hash.await;
    read?;
    let (rows, digest) = hashed.map_err(|e| task_failed(&e))?;
    Ok(if rows != entry.rows {
        Read::Differs(format!(
            "{rows} rows restored, the snapshot holds {}",
            entry.rows
        ))
    } else if digest != entry.digest {
        Read::Differs("the rows' digest differs from the snapshot's".into())
    } else {
        Read::Same
    })
}

fn task_failed(e: &tokio::task::JoinError) -> SourceError {
    SourceError::new(
        tresor_core::ErrorKind::Engine,
        format!("a verification task failed: {e}"),
    )
}

/// Compares `tables` with the snapshot row by row (a restore preview of
/// just them), which names what differs.
async fn compare_rows(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    target: &dyn Target,
    source: &dyn Source,
    tables: &[(&TableEntry, Option<String>)],
    progress: &dyn Progress,
) -> Result<Vec<DrillTable>> {
    let names: Vec<TableName> = tables.iter().map(|(e, _)| e.name.clone()).collect();
    progress.step(&format!(
        "comparing {} row by row with the snapshot",
        names
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let options = RestoreOptions {
        tables: TableFilter::exact(names),
        safety_snapshot: false,
        ..RestoreOptions::default()
    };
    let compared = preview(repo, snapshot, target, source, &options).await?;
    Ok(tables
        .iter()
        .map(|(entry, digest)| {
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
            let note = match digest {
                // a digest is order-dependent: the same rows in another
                // order read back to another digest
                Some(d) if problem.is_none() => format!("{d}, yet every row matches the snapshot"),
                Some(d) => d.clone(),
                None => "its stored columns or key differ from the snapshot's, so its digest \
                         cannot be compared"
                    .to_string(),
            };
            DrillTable {
                name: entry.name.to_string(),
                rows: entry.rows,
                ok: problem.is_none(),
                check: Some(CHECK_ROWS.to_string()),
                problem,
                note: Some(note),
            }
        })
        .collect())
}
