//! Writing one table's rows into the repository, fully or incrementally.
//!
//! A full write encodes every row into fresh chunks cut at content-defined
//! row boundaries. An incremental write merges the new rows, in key order,
//! with the parent snapshot's rows: a row whose key and bytes are unchanged
//! is *referenced* where the parent stored it (`[chunk, first, count]`
//! runs), and only inserted and changed rows go into fresh chunks.
//!
//! Two rules bound fragmentation, so every snapshot restores about as fast
//! as a full one and the run list stays a fraction of the row count:
//! - rows of a parent chunk that the parent used less than [`MIN_LIVE`] of
//!   are written fresh, so mostly dead chunks stop being needed and
//!   `prune` can drop them once older snapshots go;
//! - when the parent's runs average fewer than [`FRAGMENT_LIMIT`] rows,
//!   the most fragmented windows of the key range (by runs per row) are
//!   rewritten into fresh, contiguous chunks, at most [`COMPACT_BUDGET`] of
//!   the table's rows per backup, so the cost is spread over many backups
//!   instead of landing on one.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};
use tresor_core::codec::{ChunkBuilder, Reader, TableDigest, decode_values_at, encode_values_at};
use tresor_core::{EncodedBatch, TableName, Value, compare_keys};
use tresor_repo::{BlobId, BlobType, RepoError, Repository, SavedBlob};

use crate::cache::{CacheReader, CacheWriter, row_digest};
use crate::chunker::Chunker;
use crate::error::{OpsError, Result};
use crate::rows::RunReader;
use crate::snapshot::{TableChanges, TableData};

/// Chunks being compressed and uploaded per table at once.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Share of a parent chunk's rows the parent must still use for its rows to
/// be referenced rather than rewritten.
pub const MIN_LIVE: f64 = 0.25;

/// Average rows per run below which a table counts as fragmented.
pub const FRAGMENT_LIMIT: u64 = 4;

/// Share of a table's rows that compaction may rewrite per backup.
pub const COMPACT_BUDGET: f64 = 0.02;

/// Most rows per compaction window (small tables use smaller windows,
/// about 1/64 of the table, at least 64 rows).
const WINDOW_ROWS: u64 = 4096;

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
    /// This table's row cache, under a temporary name until the snapshot
    /// is committed.
    pub cache: Option<std::path::PathBuf>,
}

/// The parent's version of a table, for an incremental write.
pub(crate) struct Parent {
    /// The parent's table data.
    pub data: TableData,
    /// Positions of the key columns in the rows.
    pub key_positions: Vec<usize>,
    /// Where the parent's row cache would be: (repository cache dir,
    /// snapshot id, table, table-data blob).
    pub cache: Option<(std::path::PathBuf, String, TableName, BlobId)>,
}

/// Where and whether to keep a row cache for a keyed table.
pub(crate) struct CacheTarget {
    /// The repository's cache directory.
    pub dir: std::path::PathBuf,
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
    saves: Vec<(usize, SaveHandle)>,
    builder: ChunkBuilder,
    /// Index in `data.chunks` reserved for the chunk being built.
    fresh: Option<usize>,
    data: TableData,
    referenced: HashMap<BlobId, usize>,
    /// The table's digest.
    digest: TableDigest,
    /// Whether the digest is fed whole chunks as they are cut: when every
    /// row is fresh, the chunks are the table's framed rows in order.
    /// Otherwise the caller feeds it row by row.
    digest_chunks: bool,
}

impl TableWriter {
    fn new(repo: Arc<Repository>, chunker: Chunker, digest_chunks: bool) -> Self {
        TableWriter {
            repo,
            chunker,
            slots: Arc::new(Semaphore::new(CHUNKS_IN_FLIGHT)),
            saves: Vec::new(),
            builder: ChunkBuilder::new(),
            fresh: None,
            data: TableData::default(),
            referenced: HashMap::new(),
            digest: TableDigest::new(),
            digest_chunks,
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

    async fn push_fresh(&mut self, enc: &[u8], digest: &[u8; 16]) -> Result<(usize, u64)> {
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
        let row = self.builder.rows() - 1;
        self.extend_or_push(idx, row);
        if self
            .chunker
            .is_boundary_digest(self.builder.len(), enc.len(), digest)
        {
            self.cut().await?;
        }
        Ok((idx, row))
    }

    fn push_ref(&mut self, chunk: BlobId, row: u64, chunk_rows: u64) -> (usize, u64) {
        let idx = *self.referenced.entry(chunk).or_insert_with(|| {
            self.data.chunks.push(chunk);
            self.data.chunk_rows.push(chunk_rows);
            self.data.chunks.len() - 1
        });
        self.extend_or_push(idx, row);
        (idx, row)
    }

    async fn cut(&mut self) -> Result<()> {
        let Some(idx) = self.fresh.take() else {
            return Ok(());
        };
        // the next chunk is built in a buffer a saved chunk gave back
        let (chunk, rows) = self
            .builder
            .take_replacing(tresor_repo::take_buffer(self.chunker.expected_size()));
        if self.digest_chunks {
            self.digest.update_framed(&chunk);
        }
        // the chunk's id is filled in when its save completes (`finish`):
        // `save_blob` hashes the chunk, so it is hashed only once
        self.data.chunk_rows[idx] = rows;
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| OpsError::Internal("chunk slots closed".into()))?;
        let repo = self.repo.clone();
        let save = tokio::spawn(async move {
            let r = repo.save_blob(BlobType::Data, chunk).await;
            drop(permit);
            r
        });
        self.saves.push((idx, save));
        Ok(())
    }

    /// Cuts the last chunk and waits for every upload.
    async fn finish(mut self) -> Result<(TableData, u64, u64, u64, TableDigest)> {
        self.cut().await?;
        let (mut added, mut new_chunks, mut reused) = (0, 0, 0);
        for (idx, s) in self.saves {
            let saved = s
                .await
                .map_err(|e| OpsError::Internal(format!("chunk upload failed: {e}")))??;
            self.data.chunks[idx] = saved.id;
            if saved.new {
                new_chunks += 1;
                added += saved.stored_bytes;
            } else {
                reused += 1;
            }
        }
        reused += self.referenced.len() as u64;
        Ok((self.data, added, new_chunks, reused, self.digest))
    }
}

/// Where a parent row lives, and whether it may be referenced.
#[derive(Clone, Copy)]
pub(crate) struct Location {
    pub chunk: BlobId,
    pub row: u64,
    pub chunk_rows: u64,
}

/// A row of the parent, as the merge sees it.
pub(crate) struct ParentRow {
    pub key: Vec<Value>,
    pub digest: [u8; 16],
    pub location: Location,
    /// Write it fresh even if unchanged: its chunk is mostly dead, or it
    /// lies in a fragmented window being compacted.
    rewrite: bool,
}

/// Row ranges (by position in the parent's row order) to rewrite: the
/// most fragmented windows, within the compaction budget. Empty when the
/// table is not fragmented.
fn compaction_windows(data: &TableData) -> Vec<(u64, u64)> {
    let rows = data.rows();
    if rows == 0 || (data.runs.len() as u64) * FRAGMENT_LIMIT <= rows {
        return Vec::new();
    }
    // windows of about `window` rows, cut at run boundaries
    let window = (rows / 64).clamp(64, WINDOW_ROWS);
    let mut windows: Vec<(u64, u64, u64)> = Vec::new(); // (start, end, runs)
    let (mut start, mut pos, mut runs) = (0u64, 0u64, 0u64);
    for r in &data.runs {
        pos += r[2];
        runs += 1;
        if pos - start >= window {
            windows.push((start, pos, runs));
            start = pos;
            runs = 0;
        }
    }
    if pos > start {
        windows.push((start, pos, runs));
    }
    // most runs per row first
    windows.sort_by(|a, b| (b.2 * (a.1 - a.0)).cmp(&(a.2 * (b.1 - b.0))));
    let budget = ((rows as f64 * COMPACT_BUDGET) as u64).max(window);
    let mut chosen = Vec::new();
    let mut spent = 0u64;
    for (s, e, runs) in windows {
        if spent >= budget || runs * FRAGMENT_LIMIT <= e - s {
            break;
        }
        spent += e - s;
        chosen.push((s, e));
    }
    chosen.sort_unstable();
    chosen
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
            let windows = compaction_windows(&parent.data);
            let mut window = windows.iter().peekable();
            let mut ordinal = 0u64;
            let chunks = parent.data.chunks.clone();
            let chunk_rows = parent.data.chunk_rows.clone();
            let mut flag = |chunk: usize| {
                while window.peek().is_some_and(|w| w.1 <= ordinal) {
                    window.next();
                }
                let in_window = window.peek().is_some_and(|w| w.0 <= ordinal);
                ordinal += 1;
                sparse.get(chunk).copied().unwrap_or(true) || in_window
            };
            let cached = parent
                .cache
                .as_ref()
                .and_then(|(dir, snap, table, data)| CacheReader::open(dir, snap, table, data));
            if let Some(mut cache) = cached {
                tracing::debug!("reading the parent's rows from the local cache");
                let mut batch = Vec::with_capacity(4096);
                while let Some(row) = cache.next_row() {
                    let row = row.map_err(|e| {
                        if let Some((dir, snap, _, _)) = &parent.cache {
                            let _ = std::fs::remove_dir_all(dir.join(snap));
                        }
                        OpsError::Corrupt(format!(
                            "the local row cache was damaged ({e}) and has been removed; run the backup again"
                        ))
                    })?;
                    let (Some(chunk), Some(total)) = (chunks.get(row.chunk), chunk_rows.get(row.chunk)) else {
                        return Err(OpsError::Internal("local cache names an unknown chunk".into()));
                    };
                    batch.push(ParentRow {
                        key: row.key,
                        digest: row.digest,
                        location: Location {
                            chunk: *chunk,
                            row: row.row,
                            chunk_rows: *total,
                        },
                        rewrite: flag(row.chunk),
                    });
                    if batch.len() >= 4096 && tx.send(Ok(std::mem::take(&mut batch))).await.is_err() {
                        return Ok(());
                    }
                }
                let _ = tx.send(Ok(batch)).await;
                return Ok(());
            }
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
                        digest: row_digest(enc),
                        location: Location {
                            chunk: chunks[run.chunk],
                            row,
                            chunk_rows: chunk_rows[run.chunk],
                        },
                        rewrite: flag(run.chunk),
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

/// Pulls parent rows one at a time, in key order: the key and digest of
/// each, read from the local row cache when it holds the parent, from the
/// repository otherwise.
pub(crate) struct ParentCursor {
    rx: mpsc::Receiver<Result<Vec<ParentRow>>>,
    batch: std::vec::IntoIter<ParentRow>,
    pub current: Option<ParentRow>,
}

impl ParentCursor {
    /// A cursor at the parent's first row.
    pub(crate) async fn open(repo: &Arc<Repository>, parent: Parent) -> Result<Self> {
        let mut cursor = ParentCursor {
            rx: spawn_parent_reader(repo, parent),
            batch: Vec::new().into_iter(),
            current: None,
        };
        cursor.advance().await?;
        Ok(cursor)
    }

    pub(crate) async fn advance(&mut self) -> Result<()> {
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
/// With `cache`, also writes the table's row cache for the next backup.
pub(crate) async fn write_table(
    repo: Arc<Repository>,
    mut rx: mpsc::Receiver<EncodedBatch>,
    chunker: Chunker,
    parent: Option<Parent>,
    cache: Option<CacheTarget>,
) -> Result<Written> {
    // a full write hashes whole chunks into the digest; a merge, whose
    // referenced rows are not in fresh chunks, hashes row by row
    let mut w = TableWriter::new(repo.clone(), chunker, parent.is_none());
    let (mut rows, mut bytes) = (0u64, 0u64);
    // the row's key: decoded to merge with the parent's rows, copied as
    // bytes for the row cache
    let mut key: Vec<Value> = Vec::new();
    let mut key_bytes: Vec<u8> = Vec::new();
    let key_positions = parent
        .as_ref()
        .map(|p| p.key_positions.clone())
        .or_else(|| cache.as_ref().map(|c| c.key_positions.clone()));
    let mut cache_writer = cache.as_ref().and_then(|c| CacheWriter::create(&c.dir));
    let mut cursor = match parent {
        Some(p) => Some(ParentCursor::open(&repo, p).await?),
        None => None,
    };
    let mut changes = TableChanges::default();
    let positions = key_positions.as_deref().unwrap_or(&[]);
    let merging = cursor.is_some();
    let unreadable = |e| OpsError::Internal(format!("unreadable row: {e}"));
    while let Some(batch) = rx.recv().await {
        for enc in batch.iter() {
            let enc = enc.map_err(|e| OpsError::Internal(format!("unreadable row batch: {e}")))?;
            bytes += enc.len() as u64;
            rows += 1;
            let row_hash = row_digest(enc);
            if merging {
                w.digest.update(enc);
                decode_values_at(enc, positions, &mut key).map_err(unreadable)?;
            }
            let location = match cursor.as_mut() {
                None => w.push_fresh(enc, &row_hash).await?,
                Some(cursor) => {
                    while cursor
                        .current
                        .as_ref()
                        .is_some_and(|p| compare_keys(&p.key, &key).is_lt())
                    {
                        changes.deleted += 1;
                        cursor.advance().await?;
                    }
                    match cursor.current.take() {
                        Some(p) if compare_keys(&p.key, &key).is_eq() => {
                            let unchanged = p.digest == row_hash;
                            let at = if unchanged && !p.rewrite {
                                w.push_ref(p.location.chunk, p.location.row, p.location.chunk_rows)
                            } else {
                                if !unchanged {
                                    changes.updated += 1;
                                }
                                w.push_fresh(enc, &row_hash).await?
                            };
                            cursor.advance().await?;
                            at
                        }
                        other => {
                            cursor.current = other;
                            changes.inserted += 1;
                            w.push_fresh(enc, &row_hash).await?
                        }
                    }
                }
            };
            let failed = match cache_writer.as_mut() {
                Some(cw) => {
                    encode_values_at(enc, positions, &mut key_bytes).map_err(unreadable)?;
                    cw.push(&key_bytes, &row_hash, location.0, location.1)
                        .is_err()
                }
                None => false,
            };
            // a cache that cannot be written is dropped, not fatal
            if failed && let Some(cw) = cache_writer.take() {
                cw.discard();
            }
        }
    }
    let incremental = cursor.is_some();
    if let Some(cursor) = cursor.as_mut() {
        while cursor.current.is_some() {
            changes.deleted += 1;
            cursor.advance().await?;
        }
    }
    let (data, added, new_chunks, reused_chunks, digest) = w.finish().await?;
    let cache = cache_writer.and_then(|cw| cw.finish().ok());
    Ok(Written {
        rows,
        bytes,
        digest: digest.finish(),
        data,
        added,
        new_chunks,
        reused_chunks,
        changes: incremental.then_some(changes),
        cache,
    })
}
