//! Reading a table's rows back out of a snapshot.
//!
//! A [`RunReader`] follows the runs of a table in order. Chunks are fetched
//! a few ahead, in order of first use, and kept only while a later run
//! still needs them: a row-level incremental snapshot interleaves runs of
//! old and fresh chunks, and each chunk is fetched and decrypted once.
//!
//! [`stream_table`] recomputes the table's digest and row count on the way
//! and checks them at the end, so a damaged or forged snapshot can never
//! complete a restore silently.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use tresor_core::codec::{ChunkRows, Reader, TableDigest};
use tresor_core::{BATCH_BYTES, BATCH_ROWS, RowSender};
use tresor_repo::Repository;

use crate::error::{OpsError, Result};
use crate::snapshot::{TableData, TableEntry, load_table_data};

/// Chunks fetched ahead of the decoder.
const PREFETCH: usize = 4;

type Loads = Pin<Box<dyn Stream<Item = Result<(usize, Arc<Vec<u8>>)>> + Send>>;

/// One run, with the bytes of its chunk.
pub(crate) struct RunSlice {
    /// Index of the chunk in the table data's chunk list.
    pub chunk: usize,
    /// First row of the run in the chunk.
    pub first: u64,
    /// Rows in the run.
    pub count: u64,
    bytes: Arc<Vec<u8>>,
}

impl RunSlice {
    /// The run's encoded rows with their index in the chunk.
    pub fn rows(&self) -> Result<Vec<(u64, &[u8])>> {
        let mut it = ChunkRows::new(&self.bytes);
        it.skip_rows(self.first).map_err(|e| damaged(&e))?;
        let mut out = Vec::with_capacity(usize::try_from(self.count).unwrap_or(0).min(1 << 16));
        for i in 0..self.count {
            let enc = it
                .next()
                .ok_or_else(|| damaged(&"a chunk holds fewer rows than its run"))?
                .map_err(|e| damaged(&e))?;
            out.push((self.first + i, enc));
        }
        Ok(out)
    }
}

fn damaged(e: &dyn std::fmt::Display) -> OpsError {
    OpsError::Corrupt(format!("damaged row data: {e}"))
}

/// Walks the runs of one table.
pub(crate) struct RunReader {
    data: TableData,
    next: usize,
    loads: Loads,
    loaded: HashMap<usize, Arc<Vec<u8>>>,
    uses_left: Vec<u32>,
}

impl RunReader {
    /// A reader over `data`'s runs.
    pub fn new(repo: &Arc<Repository>, data: TableData) -> Result<Self> {
        let mut uses_left = vec![0u32; data.chunks.len()];
        let mut order = Vec::new();
        for r in &data.runs {
            let c = usize::try_from(r[0])
                .ok()
                .filter(|c| *c < data.chunks.len())
                .ok_or_else(|| {
                    OpsError::Corrupt(format!(
                        "table data names chunk {} of {}",
                        r[0],
                        data.chunks.len()
                    ))
                })?;
            if uses_left[c] == 0 {
                order.push(c);
            }
            uses_left[c] += 1;
        }
        let ids = data.chunks.clone();
        let repo = repo.clone();
        let loads = futures::stream::iter(order)
            .map(move |c| {
                let repo = repo.clone();
                let id = ids[c];
                async move { Ok((c, Arc::new(repo.load_blob(&id).await?))) }
            })
            .buffered(PREFETCH);
        Ok(RunReader {
            data,
            next: 0,
            loads: Box::pin(loads),
            loaded: HashMap::new(),
            uses_left,
        })
    }

    /// The next run, or `None` at the end.
    pub async fn next_run(&mut self) -> Option<Result<RunSlice>> {
        let [c, first, count] = *self.data.runs.get(self.next)?;
        self.next += 1;
        let c = c as usize;
        while !self.loaded.contains_key(&c) {
            match self.loads.next().await {
                Some(Ok((i, bytes))) => {
                    self.loaded.insert(i, bytes);
                }
                Some(Err(e)) => return Some(Err(e)),
                None => return Some(Err(OpsError::Internal("chunk loader ended early".into()))),
            }
        }
        self.uses_left[c] -= 1;
        let bytes = if self.uses_left[c] == 0 {
            self.loaded.remove(&c)
        } else {
            self.loaded.get(&c).cloned()
        };
        bytes.map(|bytes| {
            Ok(RunSlice {
                chunk: c,
                first,
                count,
                bytes,
            })
        })
    }
}

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
    let mut reader = RunReader::new(repo, data)?;
    let mut digest = TableDigest::new();
    let mut rows = 0u64;
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    let mut batch_bytes = 0usize;
    while let Some(run) = reader.next_run().await {
        let run = run.map_err(|e| in_table(table, e))?;
        for (_, enc) in run.rows().map_err(|e| in_table(table, e))? {
            digest.update(enc);
            let row = Reader::new(enc)
                .row()
                .map_err(|e| in_table(table, damaged(&e)))?;
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

fn in_table(table: &TableEntry, e: OpsError) -> OpsError {
    match e {
        OpsError::Corrupt(m) => OpsError::Corrupt(format!("table {}: {m}", table.name)),
        other => other,
    }
}

async fn send(tx: &RowSender, batch: &mut Vec<tresor_core::Row>) -> Result<()> {
    let full = std::mem::replace(batch, Vec::with_capacity(BATCH_ROWS));
    tx.send(full).await.map_err(|_| OpsError::Cancelled)
}
