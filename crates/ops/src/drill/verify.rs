//! A drill's verification: every table of the scratch database read back
//! with the engine's own source reader (what a backup reads), its rows
//! encoded and digested the way a backup digests them, and the count and
//! digest compared with the snapshot's manifest. A backup reads rows in
//! row-key order and the manifest's digest is of the rows in that order,
//! so a table restored whole reads back to the very same digest. The
//! restore wrote each table in that order, so the tables are read in the
//! order the engine stores them (PostgreSQL then neither sorts nor walks
//! an index); a table whose digest differs is read again in key order.
//! Only a table whose stored columns or key differ in the scratch
//! database, or whose digest still differs, is compared row by row against
//! the snapshot (a restore preview of that table), which also says what
//! differs.

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
    /// As many rows, but another digest: other rows, or (read in the
    /// engine's stored order) the same rows in another order.
    DigestDiffers,
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
    // first in the order the engine stores the rows: the restore wrote
    // them in key order, so they read back in it unless something moved
    // them, and the engine need not sort them or walk an index
    let mut reads = digest_tables(
        source,
        TableFilter::all(),
        (jobs, true),
        largest_first(&snapshot.tables),
        &stored,
        progress,
    )
    .await?;
    // a digest that differs in that order is taken again in key order
    let unsure: Vec<&TableEntry> = reads
        .iter()
        .filter(|(_, r)| matches!(r, Ok(Read::DigestDiffers)))
        .map(|(e, _)| *e)
        .collect();
    let reread: Vec<TableName> = unsure.iter().map(|e| e.name.clone()).collect();
    if !unsure.is_empty() {
        let keyed = digest_tables(
            source,
            TableFilter::exact(reread.iter().cloned()),
            (jobs, false),
            unsure.into_iter(),
            &stored,
            progress,
        )
        .await?;
        for (entry, read) in keyed {
            if let Some(slot) = reads.iter_mut().find(|(e, _)| e.name == entry.name) {
                slot.1 = read;
            }
        }
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
                note: reread.contains(&entry.name).then(|| {
                    "stored in another order than its key's: read again in key order".to_string()
                }),
            }),
            Read::Missing => tables.push(DrillTable {
                name: entry.name.to_string(),
                rows: entry.rows,
                ok: false,
                check: None,
                problem: Some("not restored".into()),
                note: None,
            }),
            Read::DigestDiffers => again.push((
                entry,
                Some("the rows' digest differs from the snapshot's".to_string()),
            )),
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

/// Reads the tables `entries` of the scratch database (those `filter`
/// selects), up to `jobs` at once, in the engine's stored order with
/// `stored_order`, and compares each with the snapshot (whose schema is
/// `stored`).
async fn digest_tables<'a>(
    source: &dyn Source,
    filter: TableFilter,
    (jobs, stored_order): (usize, bool),
    entries: impl Iterator<Item = &'a TableEntry>,
    stored: &tresor_core::DatabaseSchema,
    progress: &dyn Progress,
) -> Result<Vec<(&'a TableEntry, std::result::Result<Read, SourceError>)>> {
    let snap = source
        .open(&ReadOptions {
            filter,
            jobs,
            stored_order,
            ..ReadOptions::default()
        })
        .await?;
    let scratch = snap.schema().clone();
    // each table on a task of its own, so that up to `jobs` tables (and
    // their hashing) use as many threads; the largest first, so that the
    // last one to finish is a small one and no connection idles long
    // while another reads a large table alone
    let snap = Arc::new(snap);
    let reads = futures::stream::iter(entries.map(|entry| {
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
    Ok(reads)
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
        Read::DigestDiffers
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
