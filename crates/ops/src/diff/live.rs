//! A snapshot's table against the same table in the live database.
//!
//! When the table still has the columns and key the snapshot stored, the
//! comparison works as an incremental backup does: live rows arrive
//! encoded, and each is matched by key against the snapshot's (key, row
//! digest) pairs, read from the local row cache when it holds the snapshot
//! and from the repository otherwise. A row whose bytes are unchanged is
//! counted without being decoded; only changed rows are decoded on both
//! sides. Otherwise (columns added, dropped or retyped, or no key) both
//! sides are decoded and compared value by value.

use std::sync::Arc;

use tokio::sync::mpsc;
use tresor_core::codec::{Reader, decode_values_at};
use tresor_core::{
    EncodedBatch, Row, RowChange, SourceSnapshot, TableSchema, Value, compare_keys, diff_keyed_rows,
};
use tresor_repo::Repository;

use super::{
    ChangedRow, DiffOptions, Emit, Layout, Selection, TableDiff, TableStatus, diff_unkeyed_tables,
    project,
};
use crate::backup::stored_as;
use crate::cache::row_digest;
use crate::error::{OpsError, Result};
use crate::rows::{ChunkCache, stream_table};
use crate::snapshot::Snapshot;
use crate::writer::{ParentCursor, ParentRow};

/// Compares table `old` of snapshot `from` with the live table `new`.
pub(super) async fn diff_live(
    repo: &Arc<Repository>,
    from: &Snapshot,
    old: &TableSchema,
    new: &TableSchema,
    live: &dyn SourceSnapshot,
    options: &DiffOptions,
    on_row: &mut (dyn FnMut(ChangedRow<'_>) + Send),
) -> Result<TableDiff> {
    let entry = from.table(&old.name).ok_or_else(|| {
        OpsError::Corrupt(format!(
            "table {} is in the schema but not in the manifest",
            old.name
        ))
    })?;
    let mut d = TableDiff::new(&old.name, TableStatus::Unchanged);
    let layout = Layout::of(old, new, &mut d);
    let compared = layout.schema(old);
    let selection = Selection::of(&options.filters, &compared)?;
    let Some(key) = layout.key.clone() else {
        let read_live = |tx| async move { Ok(live.read_table(new, tx).await?) };
        return diff_unkeyed_tables(repo, entry, read_live, &layout, d).await;
    };
    d.keyed = true;
    let mut emit = Emit::new(&old.name, &layout, &key, selection.as_ref(), on_row);
    let cache_dir = crate::cache::repo_dir(&options.cache, &repo.config().id.to_hex());
    // the same stored columns and key on both sides (so the compared
    // layout is the stored one): rows match by key and row digest
    let stored = stored_as(repo, from, old, new, cache_dir.as_deref()).await?;
    let (unchanged, live_rows) = if let Some(parent) = stored {
        let cursor = ParentCursor::open(repo, parent).await?;
        let (tx, rx) = mpsc::channel(4);
        let (read, merged) = tokio::join!(
            live.read_table_encoded(new, tx),
            merge_encoded(repo, cursor, rx, &key, &mut emit)
        );
        let unchanged = merged?;
        (unchanged, read?)
    } else {
        let (ta, ra) = mpsc::channel(4);
        let (tb, rb) = mpsc::channel(4);
        let (pa, qa) = mpsc::channel(4);
        let (pb, qb) = mpsc::channel(4);
        let (x, y, (), (), all) = tokio::join!(
            stream_table(repo, entry, ta),
            live.read_table(new, tb),
            project(ra, pa, &layout, true),
            project(rb, pb, &layout, false),
            diff_keyed_rows(qa, qb, &key, |c| emit.change(&c))
        );
        x?;
        let live_rows = y?;
        (all?.unchanged, live_rows)
    };
    let counts = emit.counts;
    d.inserted = counts.inserted;
    d.updated = counts.updated;
    d.deleted = counts.deleted;
    d.unchanged = selection.is_none().then_some(unchanged);
    d.rows_compared = entry.rows + live_rows;
    d.settle();
    Ok(d)
}

/// Merges encoded live rows with the snapshot's rows by key; returns how
/// many rows are unchanged. Rows whose bytes match are not decoded.
async fn merge_encoded(
    repo: &Arc<Repository>,
    mut stored: ParentCursor,
    mut live: mpsc::Receiver<EncodedBatch>,
    key: &[usize],
    emit: &mut Emit<'_, '_>,
) -> Result<u64> {
    let mut chunks = ChunkCache::new(repo);
    let mut unchanged = 0u64;
    let mut live_key: Vec<Value> = Vec::new();
    let damaged = |e: tresor_core::codec::CodecError| {
        OpsError::Internal(format!("the database sent an unreadable row: {e}"))
    };
    while let Some(batch) = live.recv().await {
        for enc in batch.iter() {
            let enc = enc.map_err(damaged)?;
            decode_values_at(enc, key, &mut live_key).map_err(damaged)?;
            while let Some(gone) = stored
                .current
                .take_if(|p| compare_keys(&p.key, &live_key).is_lt())
            {
                emit.change(&RowChange::Deleted(stored_row(&mut chunks, &gone).await?));
                stored.advance().await?;
            }
            match stored
                .current
                .take_if(|p| compare_keys(&p.key, &live_key).is_eq())
            {
                Some(same) if same.digest == row_digest(enc) => {
                    unchanged += 1;
                    stored.advance().await?;
                }
                Some(before) => {
                    let old = stored_row(&mut chunks, &before).await?;
                    let new = Reader::new(enc).row().map_err(damaged)?;
                    if tresor_core::rows_same(&old, &new) {
                        unchanged += 1;
                    } else {
                        emit.change(&RowChange::Updated { old, new });
                    }
                    stored.advance().await?;
                }
                None => emit.change(&RowChange::Inserted(
                    Reader::new(enc).row().map_err(damaged)?,
                )),
            }
        }
    }
    while let Some(gone) = stored.current.take() {
        emit.change(&RowChange::Deleted(stored_row(&mut chunks, &gone).await?));
        stored.advance().await?;
    }
    Ok(unchanged)
}

/// The snapshot's row at `at`, decoded.
async fn stored_row(chunks: &mut ChunkCache, at: &ParentRow) -> Result<Row> {
    let bytes = chunks.row(&at.location.chunk, at.location.row).await?;
    Reader::new(&bytes)
        .row()
        .map_err(|e| OpsError::Corrupt(format!("damaged row data: {e}")))
}
