//! Writing one table's rows into the repository, fully or incrementally.
//!
//! A full write encodes every row into fresh chunks cut at content-defined
//! row boundaries. An incremental write merges the new rows, in key order,
//! with the parent snapshot's rows: a row whose key and bytes are unchanged
//! is *referenced* where the parent stored it (`[chunk, first, count]`
//! runs), and only inserted and changed rows go into fresh chunks.
//!
//! Two rules bound fragmentation, so every snapshot restores about as fast
//! as a full one:
//! - a run of referenced rows shorter than [`MIN_RUN`] is written fresh
//!   instead, so the run list stays a small fraction of the row count;
//! - rows of a parent chunk that the parent itself used less than
//!   [`MIN_LIVE`] of are written fresh, so old, mostly dead chunks stop
//!   being needed and `prune` can drop them once older snapshots go.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};
use tresor_core::codec::{ChunkBuilder, Reader, TableDigest, encode_row};
use tresor_core::{RowReceiver, Value, compare_keys};
use tresor_repo::{BlobId, BlobType, RepoError, Repository, SavedBlob};

use crate::chunker::Chunker;
use crate::error::{OpsError, Result};
use crate::rows::RunReader;
use crate::snapshot::{TableChanges, TableData};

/// Chunks being compressed and uploaded per table at once.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Shortest run of referenced rows worth keeping as a reference.
pub const MIN_RUN: usize = 16;

/// Share of a parent chunk's rows the parent must still use for its rows to
/// be referenced rather than rewritten.
pub const MIN_LIVE: f64 = 0.5;

/// What writing a table produced.
pub(crate) struct Written {
    pub rows: u64,
    pub bytes: u64,
    pub digest: String,
    pub data: TableData,
    pub added: u64,
    pub new_chunks: u64,
    pub reused_chunks: u64,
    pub changes: Option<TableChanges>,
}

/// The parent's version of a table, for an incremental write.
pub(crate) struct Parent {
    /// The parent's table data.
    pub data: TableData,
    /// Positions of the key columns in the rows.
    pub key_positions: Vec<usize>,
}

type SaveHandle = tokio::task::JoinHandle<std::result::Result<SavedBlob, RepoError>>;

/// Builds a table's [`TableData`]: fresh rows into new chunks, referenced
/// rows as runs into existing ones.
struct TableWriter {
    repo: Arc<Repository>,
    chunker: Chunker,
    slots: Arc<Semaphore>,
    saves: Vec<SaveHandle>,
    builder: ChunkBuilder,
    /// Index in `data.chunks` reserved for the chunk being built.
    fresh: Option<usize>,
    data: TableData,
    referenced: HashMap<BlobId, usize>,
}

impl TableWriter {
    fn new(repo: Arc<Repository>, chunker: Chunker) -> Self {
        TableWriter {
            repo,
            chunker,
            slots: Arc::new(Semaphore::new(CHUNKS_IN_FLIGHT)),
            saves: Vec::new(),
            builder: ChunkBuilder::new(),
            fresh: None,
            data: TableData::default(),
            referenced: HashMap::new(),
        }
    }

    fn extend_or_push(&mut self, chunk: usize, row: u64) {
        if let Some(last) = self.data.runs.last_mut()
            && last[0] == chunk as u64
            && last[1] + last[2] == row
        {
            last[2] += 1;
            return;
        }
        self.data.runs.push([chunk as u64, row, 1]);
    }

    async fn push_fresh(&mut self, enc: &[u8]) -> Result<()> {
        let idx = match self.fresh {
            Some(i) => i,
            None => {
                self.data.chunks.push(BlobId([0; 32]));
                self.data.chunk_rows.push(0);
                let i = self.data.chunks.len() - 1;
                self.fresh = Some(i);
                i
            }
        };
        self.builder.push_encoded(enc);
        self.extend_or_push(idx, self.builder.rows() - 1);
        if self.chunker.is_boundary(self.builder.len(), enc) {
            self.cut().await?;
        }
        Ok(())
    }

    fn push_ref(&mut self, chunk: BlobId, row: u64, chunk_rows: u64) {
        let idx = *self.referenced.entry(chunk).or_insert_with(|| {
            self.data.chunks.push(chunk);
            self.data.chunk_rows.push(chunk_rows);
            self.data.chunks.len() - 1
        });
        self.extend_or_push(idx, row);
    }

    async fn cut(&mut self) -> Result<()> {
        let Some(idx) = self.fresh.take() else {
            return Ok(());
        };
        let (chunk, rows) = self.builder.take();
        let id = self.repo.blob_id(&chunk);
        self.data.chunks[idx] = id;
        self.data.chunk_rows[idx] = rows;
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| OpsError::Internal("chunk slots closed".into()))?;
        let repo = self.repo.clone();
        self.saves.push(tokio::spawn(async move {
            let r = repo.save_blob(BlobType::Data, chunk).await;
            drop(permit);
            r
        }));
        Ok(())
    }

    /// Cuts the last chunk and waits for every upload.
    async fn finish(mut self) -> Result<(TableData, u64, u64, u64)> {
        self.cut().await?;
        let (mut added, mut new_chunks, mut reused) = (0, 0, 0);
        for s in self.saves {
            let saved = s
                .await
                .map_err(|e| OpsError::Internal(format!("chunk upload failed: {e}")))??;
            if saved.new {
                new_chunks += 1;
                added += saved.stored_bytes;
            } else {
                reused += 1;
            }
        }
        reused += self.referenced.len() as u64;
        Ok((self.data, added, new_chunks, reused))
    }
}

/// Where a parent row lives, and whether it may be referenced.
#[derive(Clone, Copy)]
struct Location {
    chunk: BlobId,
    row: u64,
    chunk_rows: u64,
}

/// A row of the parent, as the merge sees it.
struct ParentRow {
    key: Vec<Value>,
    enc: Vec<u8>,
    location: Location,
    /// Its chunk is mostly dead: rewrite instead of referencing.
    sparse: bool,
}

/// Unchanged rows waiting to prove they form a run of at least
/// [`MIN_RUN`] rows.
#[derive(Default)]
struct PendingRefs {
    rows: Vec<(Vec<u8>, Location)>,
    /// The last location committed as a reference, to extend directly.
    tail: Option<Location>,
}

fn follows(a: Location, b: Location) -> bool {
    a.chunk == b.chunk && a.row + 1 == b.row
}

impl PendingRefs {
    async fn unchanged(&mut self, w: &mut TableWriter, enc: &[u8], loc: Location) -> Result<()> {
        if self.rows.is_empty()
            && let Some(tail) = self.tail
            && follows(tail, loc)
        {
            w.push_ref(loc.chunk, loc.row, loc.chunk_rows);
            self.tail = Some(loc);
            return Ok(());
        }
        if let Some((_, last)) = self.rows.last()
            && !follows(*last, loc)
        {
            self.flush_fresh(w).await?;
        }
        self.rows.push((enc.to_vec(), loc));
        if self.rows.len() >= MIN_RUN {
            for (_, l) in self.rows.drain(..) {
                w.push_ref(l.chunk, l.row, l.chunk_rows);
                self.tail = Some(l);
            }
        }
        Ok(())
    }

    /// Writes a too-short run of unchanged rows as fresh rows.
    async fn flush_fresh(&mut self, w: &mut TableWriter) -> Result<()> {
        for (enc, _) in std::mem::take(&mut self.rows) {
            w.push_fresh(&enc).await?;
        }
        self.tail = None;
        Ok(())
    }

    async fn fresh(&mut self, w: &mut TableWriter, enc: &[u8]) -> Result<()> {
        self.flush_fresh(w).await?;
        w.push_fresh(enc).await
    }
}

/// Reads the parent's rows (key, bytes, location) into a channel.
fn spawn_parent_reader(
    repo: &Arc<Repository>,
    parent: Parent,
) -> mpsc::Receiver<Result<Vec<ParentRow>>> {
    let (tx, rx) = mpsc::channel(4);
    let repo = repo.clone();
    tokio::spawn(async move {
        let result = async {
            let mut used = vec![0u64; parent.data.chunks.len()];
            for r in &parent.data.runs {
                if let Some(u) = used.get_mut(r[0] as usize) {
                    *u += r[2];
                }
            }
            let sparse: Vec<bool> = used
                .iter()
                .zip(&parent.data.chunk_rows)
                .map(|(&u, &total)| total > 0 && (u as f64) < MIN_LIVE * total as f64)
                .collect();
            let chunks = parent.data.chunks.clone();
            let chunk_rows = parent.data.chunk_rows.clone();
            let mut reader = RunReader::new(&repo, parent.data)?;
            while let Some(run) = reader.next_run().await {
                let run = run?;
                let mut batch = Vec::with_capacity(run.count.min(4096) as usize);
                for (row, enc) in run.rows()? {
                    let values = Reader::new(enc).row().map_err(|e| {
                        OpsError::Corrupt(format!("parent snapshot has damaged rows: {e}"))
                    })?;
                    let key = parent
                        .key_positions
                        .iter()
                        .map(|&p| values.get(p).cloned().unwrap_or(Value::Null))
                        .collect();
                    batch.push(ParentRow {
                        key,
                        enc: enc.to_vec(),
                        location: Location {
                            chunk: chunks[run.chunk],
                            row,
                            chunk_rows: chunk_rows[run.chunk],
                        },
                        sparse: sparse[run.chunk],
                    });
                }
                if tx.send(Ok(batch)).await.is_err() {
                    return Ok(());
                }
            }
            Ok::<(), OpsError>(())
        }
        .await;
        if let Err(e) = result {
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}

/// Pulls parent rows one at a time.
struct ParentCursor {
    rx: mpsc::Receiver<Result<Vec<ParentRow>>>,
    batch: std::vec::IntoIter<ParentRow>,
    current: Option<ParentRow>,
}

impl ParentCursor {
    async fn advance(&mut self) -> Result<()> {
        loop {
            if let Some(r) = self.batch.next() {
                self.current = Some(r);
                return Ok(());
            }
            match self.rx.recv().await {
                Some(Ok(b)) => self.batch = b.into_iter(),
                Some(Err(e)) => return Err(e),
                None => {
                    self.current = None;
                    return Ok(());
                }
            }
        }
    }
}

/// Writes all rows from `rx`; incrementally against `parent` when given.
pub(crate) async fn write_table(
    repo: Arc<Repository>,
    mut rx: RowReceiver,
    chunker: Chunker,
    parent: Option<Parent>,
) -> Result<Written> {
    let mut w = TableWriter::new(repo.clone(), chunker);
    let mut digest = TableDigest::new();
    let (mut rows, mut bytes) = (0u64, 0u64);
    let mut enc = Vec::new();

    let Some(parent) = parent else {
        while let Some(batch) = rx.recv().await {
            for row in &batch {
                enc.clear();
                encode_row(row, &mut enc);
                digest.update(&enc);
                bytes += enc.len() as u64;
                rows += 1;
                w.push_fresh(&enc).await?;
            }
        }
        let (data, added, new_chunks, reused_chunks) = w.finish().await?;
        return Ok(Written {
            rows,
            bytes,
            digest: digest.finish(),
            data,
            added,
            new_chunks,
            reused_chunks,
            changes: None,
        });
    };

    let key_positions = parent.key_positions.clone();
    let mut cursor = ParentCursor {
        rx: spawn_parent_reader(&repo, parent),
        batch: Vec::new().into_iter(),
        current: None,
    };
    cursor.advance().await?;
    let mut pending = PendingRefs::default();
    let mut changes = TableChanges::default();
    let mut key = Vec::with_capacity(key_positions.len());
    while let Some(batch) = rx.recv().await {
        for row in &batch {
            enc.clear();
            encode_row(row, &mut enc);
            digest.update(&enc);
            bytes += enc.len() as u64;
            rows += 1;
            key.clear();
            key.extend(
                key_positions
                    .iter()
                    .map(|&p| row.get(p).cloned().unwrap_or(Value::Null)),
            );
            loop {
                match &cursor.current {
                    Some(p) if compare_keys(&p.key, &key).is_lt() => {
                        changes.deleted += 1;
                        cursor.advance().await?;
                    }
                    _ => break,
                }
            }
            match cursor.current.take() {
                Some(p) if compare_keys(&p.key, &key).is_eq() => {
                    if p.enc == enc {
                        if p.sparse {
                            pending.fresh(&mut w, &enc).await?;
                        } else {
                            pending.unchanged(&mut w, &enc, p.location).await?;
                        }
                    } else {
                        changes.updated += 1;
                        pending.fresh(&mut w, &enc).await?;
                    }
                    cursor.advance().await?;
                }
                other => {
                    cursor.current = other;
                    changes.inserted += 1;
                    pending.fresh(&mut w, &enc).await?;
                }
            }
        }
    }
    while cursor.current.is_some() {
        changes.deleted += 1;
        cursor.advance().await?;
    }
    pending.flush_fresh(&mut w).await?;
    let (data, added, new_chunks, reused_chunks) = w.finish().await?;
    Ok(Written {
        rows,
        bytes,
        digest: digest.finish(),
        data,
        added,
        new_chunks,
        reused_chunks,
        changes: Some(changes),
    })
}
