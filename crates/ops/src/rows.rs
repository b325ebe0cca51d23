//! Reading a table's rows back out of a snapshot.
//!
//! The runs of a table are followed in order; chunks are fetched a few
//! ahead of the decoder so storage latency overlaps with decoding. The
//! table's digest and row count are recomputed on the way and checked at
//! the end, so a damaged or forged snapshot can never complete a restore
//! silently.

use std::sync::Arc;

use futures::StreamExt;
use tresor_core::codec::{ChunkRows, Reader, TableDigest};
use tresor_core::{BATCH_BYTES, BATCH_ROWS, RowSender};
use tresor_repo::Repository;

use crate::error::{OpsError, Result};
use crate::snapshot::{TableEntry, load_table_data};

/// Chunks fetched ahead of the decoder.
const PREFETCH: usize = 4;

/// Streams the rows of `table` into `tx` in batches; returns the row count.
///
/// # Errors
/// Missing or damaged chunks, and a digest or row count that differs from
/// the manifest ([`OpsError::Corrupt`]). When the receiver goes away the
/// stream stops with [`OpsError::Cancelled`].
pub async fn stream_table(
    repo: &Arc<Repository>,
    table: &TableEntry,
    tx: RowSender,
) -> Result<u64> {
    let data = load_table_data(repo, &table.data).await?;
    let mut chunks = futures::stream::iter(data.runs.into_iter().map(|run| {
        let repo = repo.clone();
        async move { repo.load_blob(&run.chunk).await.map(|bytes| (run, bytes)) }
    }))
    .buffered(PREFETCH);

    let mut digest = TableDigest::new();
    let mut rows = 0u64;
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    let mut batch_bytes = 0usize;
    while let Some(loaded) = chunks.next().await {
        let (run, bytes) = loaded?;
        let mut it = ChunkRows::new(&bytes);
        it.skip_rows(run.first).map_err(|e| corrupt(table, &e))?;
        for _ in 0..run.count {
            let enc = it
                .next()
                .ok_or_else(|| corrupt(table, &"chunk has fewer rows than its run"))?
                .map_err(|e| corrupt(table, &e))?;
            digest.update(enc);
            let mut r = Reader::new(enc);
            let row = r.row().map_err(|e| corrupt(table, &e))?;
            batch_bytes += enc.len();
            batch.push(row);
            rows += 1;
            if batch.len() >= BATCH_ROWS || batch_bytes >= BATCH_BYTES {
                send(&tx, &mut batch).await?;
                batch_bytes = 0;
            }
        }
    }
    if !batch.is_empty() {
        send(&tx, &mut batch).await?;
    }
    if rows != table.rows || digest.finish() != table.digest {
        return Err(OpsError::Corrupt(format!(
            "table {} does not match its snapshot's digest: the repository is damaged or was tampered with",
            table.name
        )));
    }
    Ok(rows)
}

async fn send(tx: &RowSender, batch: &mut Vec<tresor_core::Row>) -> Result<()> {
    let full = std::mem::replace(batch, Vec::with_capacity(BATCH_ROWS));
    tx.send(full).await.map_err(|_| OpsError::Cancelled)
}

fn corrupt(table: &TableEntry, e: &dyn std::fmt::Display) -> OpsError {
    OpsError::Corrupt(format!("table {} has damaged row data: {e}", table.name))
}
