//! Reading a table's rows back out of a snapshot.
//!
//! A [`RunReader`] follows the runs of a table in order. Chunks are fetched
//! ahead of use and indexed by row offset once, so a run anywhere in a
//! chunk costs nothing to find. A row-level incremental snapshot
//! interleaves runs of old and fresh chunks; loaded chunks stay cached
//! within [`CACHE_BYTES`], and when the cache is full the chunk needed
//! furthest in the future goes first (the run list tells the future), so
//! each chunk is usually fetched and decrypted once.
//!
//! [`stream_table`] recomputes the table's digest and row count on the way
//! and checks them at the end, so a damaged or forged snapshot can never
//! complete a restore silently.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use tresor_core::codec::{ChunkRows, Reader, TableDigest};
use tresor_core::{BATCH_BYTES, BATCH_ROWS, RowSender};
use tresor_repo::Repository;

use crate::error::{OpsError, Result};
use crate::snapshot::{TableData, TableEntry, load_table_data};

/// Chunk loads in flight ahead of the decoder.
const PREFETCH: usize = 4;

/// Runs looked at ahead of the decoder to start loads.
const LOOKAHEAD: usize = 256;

/// Memory for cached chunks of one table read.
pub const CACHE_BYTES: usize = 64 << 20;

/// A chunk's bytes and where each of its rows starts.
struct Loaded {
    bytes: Vec<u8>,
    /// Start and end of each row's encoding.
    rows: Vec<(u32, u32)>,
}

/// The chunk's buffer goes back to the repository's pool, to hold the next
/// chunk read.
impl Drop for Loaded {
    fn drop(&mut self) {
        tresor_repo::give_buffer(std::mem::take(&mut self.bytes));
    }
}

impl Loaded {
    fn index(bytes: Vec<u8>) -> Result<Loaded> {
        let mut rows = Vec::new();
        let base = bytes.as_ptr() as usize;
        for r in ChunkRows::new(&bytes) {
            let r = r.map_err(|e| damaged(&e))?;
            let start = r.as_ptr() as usize - base;
            rows.push((start as u32, (start + r.len()) as u32));
        }
        Ok(Loaded { bytes, rows })
    }
}

/// Chunks loaded on demand by id, the least recently used going first
/// beyond [`CACHE_BYTES`]: for readers that touch a few rows of many
/// chunks (diffs, row selections) rather than walking runs in order.
pub(crate) struct ChunkCache {
    repo: Arc<Repository>,
    loaded: HashMap<tresor_repo::BlobId, Arc<Loaded>>,
    recent: VecDeque<tresor_repo::BlobId>,
    bytes: usize,
    /// Chunks fetched and decrypted so far.
    pub loads: u64,
}

impl ChunkCache {
    pub fn new(repo: &Arc<Repository>) -> Self {
        ChunkCache {
            repo: repo.clone(),
            loaded: HashMap::new(),
            recent: VecDeque::new(),
            bytes: 0,
            loads: 0,
        }
    }

    /// The encoded row `index` of chunk `id`.
    pub async fn row(&mut self, id: &tresor_repo::BlobId, index: u64) -> Result<Vec<u8>> {
        let chunk = self.chunk(id).await?;
        let (s, e) = usize::try_from(index)
            .ok()
            .and_then(|i| chunk.rows.get(i))
            .copied()
            .ok_or_else(|| damaged(&"a chunk holds fewer rows than its run"))?;
        Ok(chunk.bytes[s as usize..e as usize].to_vec())
    }

    async fn chunk(&mut self, id: &tresor_repo::BlobId) -> Result<Arc<Loaded>> {
        if let Some(l) = self.loaded.get(id) {
            let l = l.clone();
            self.recent.retain(|x| x != id);
            self.recent.push_back(*id);
            return Ok(l);
        }
        let bytes = self.repo.load_blob(id).await?;
        let loaded = Arc::new(
            tokio::task::spawn_blocking(move || Loaded::index(bytes))
                .await
                .map_err(|e| OpsError::Internal(format!("chunk indexing failed: {e}")))??,
        );
        self.loads += 1;
        self.bytes += loaded.bytes.len();
        self.loaded.insert(*id, loaded.clone());
        self.recent.push_back(*id);
        while self.bytes > CACHE_BYTES && self.recent.len() > 1 {
            if let Some(old) = self.recent.pop_front()
                && let Some(l) = self.loaded.remove(&old)
            {
                self.bytes -= l.bytes.len();
            }
        }
        Ok(loaded)
    }
}

/// One run, with its chunk.
pub(crate) struct RunSlice {
    /// Index of the chunk in the table data's chunk list.
    pub chunk: usize,
    /// First row of the run in the chunk.
    pub first: u64,
    /// Rows in the run.
    pub count: u64,
    loaded: Arc<Loaded>,
}

impl RunSlice {
    /// The run's encoded rows with their index in the chunk.
    pub fn rows(&self) -> Result<impl Iterator<Item = (u64, &[u8])>> {
        let end = self
            .first
            .checked_add(self.count)
            .filter(|e| *e <= self.loaded.rows.len() as u64);
        let Some(end) = end else {
            return Err(damaged(&"a chunk holds fewer rows than its run"));
        };
        let bytes = &self.loaded.bytes;
        Ok(self.loaded.rows[self.first as usize..end as usize]
            .iter()
            .enumerate()
            .map(move |(i, &(s, e))| (self.first + i as u64, &bytes[s as usize..e as usize])))
    }
}

fn damaged(e: &dyn std::fmt::Display) -> OpsError {
    OpsError::Corrupt(format!("damaged row data: {e}"))
}

type Load = tokio::task::JoinHandle<Result<(usize, Loaded)>>;

/// Walks the runs of one table.
pub(crate) struct RunReader {
    repo: Arc<Repository>,
    data: TableData,
    next: usize,
    /// For each chunk, the indexes of the runs still to use it.
    uses: Vec<VecDeque<usize>>,
    loaded: HashMap<usize, Arc<Loaded>>,
    loaded_bytes: usize,
    requested: HashSet<usize>,
    loads: VecDeque<Load>,
    scanned: usize,
}

impl RunReader {
    /// A reader over `data`'s runs.
    pub fn new(repo: &Arc<Repository>, data: TableData) -> Result<Self> {
        let mut uses = vec![VecDeque::new(); data.chunks.len()];
        for (i, r) in data.runs.iter().enumerate() {
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
            uses[c].push_back(i);
        }
        Ok(RunReader {
            repo: repo.clone(),
            data,
            next: 0,
            uses,
            loaded: HashMap::new(),
            loaded_bytes: 0,
            requested: HashSet::new(),
            loads: VecDeque::new(),
            scanned: 0,
        })
    }

    /// Starts loads for chunks the next runs need.
    fn prefetch(&mut self) {
        let horizon = (self.next + LOOKAHEAD).min(self.data.runs.len());
        self.scanned = self.scanned.max(self.next);
        while self.scanned < horizon && self.loads.len() < PREFETCH {
            let c = self.data.runs[self.scanned][0] as usize;
            self.scanned += 1;
            if self.loaded.contains_key(&c) || !self.requested.insert(c) {
                continue;
            }
            let repo = self.repo.clone();
            let id = self.data.chunks[c];
            self.loads.push_back(tokio::spawn(async move {
                let bytes = repo.load_blob(&id).await?;
                Ok((
                    c,
                    tokio::task::spawn_blocking(move || Loaded::index(bytes))
                        .await
                        .map_err(|e| OpsError::Internal(format!("chunk indexing failed: {e}")))??,
                ))
            }));
        }
    }

    /// Makes room: drops cached chunks needed furthest ahead.
    fn evict(&mut self, keep: usize) {
        while self.loaded_bytes > CACHE_BYTES && self.loaded.len() > 1 {
            let victim = self
                .loaded
                .keys()
                .copied()
                .filter(|c| *c != keep)
                .max_by_key(|c| self.uses[*c].front().copied().unwrap_or(usize::MAX));
            let Some(v) = victim else { break };
            if let Some(l) = self.loaded.remove(&v) {
                self.loaded_bytes -= l.bytes.len();
            }
            self.requested.remove(&v);
            // a later run may need it again: let the prefetcher find it
            self.scanned = self
                .scanned
                .min(self.uses[v].front().copied().unwrap_or(usize::MAX));
        }
    }

    /// The next run, or `None` at the end.
    pub async fn next_run(&mut self) -> Option<Result<RunSlice>> {
        let [c, first, count] = *self.data.runs.get(self.next)?;
        let c = c as usize;
        self.prefetch();
        while !self.loaded.contains_key(&c) {
            let Some(load) = self.loads.pop_front() else {
                // evicted and not yet requested again
                self.scanned = self.next;
                self.prefetch();
                if self.loads.is_empty() {
                    return Some(Err(OpsError::Internal("chunk loader stalled".into())));
                }
                continue;
            };
            match load.await {
                Ok(Ok((i, l))) => {
                    self.loaded_bytes += l.bytes.len();
                    self.loaded.insert(i, Arc::new(l));
                }
                Ok(Err(e)) => return Some(Err(e)),
                Err(e) => {
                    return Some(Err(OpsError::Internal(format!("chunk loader failed: {e}"))));
                }
            }
            self.prefetch();
        }
        self.uses[c].pop_front();
        self.next += 1;
        let loaded = if self.uses[c].is_empty() {
            self.requested.remove(&c);
            let l = self.loaded.remove(&c);
            if let Some(l) = &l {
                self.loaded_bytes -= l.bytes.len();
            }
            l
        } else {
            let l = self.loaded.get(&c).cloned();
            self.evict(c);
            l
        };
        loaded.map(|loaded| {
            Ok(RunSlice {
                chunk: c,
                first,
                count,
                loaded,
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
    let mut check = TableCheck::default();
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    let mut batch_bytes = 0usize;
    while let Some(run) = reader.next_run().await {
        let run = run.map_err(|e| in_table(table, e))?;
        for (_, enc) in run.rows().map_err(|e| in_table(table, e))? {
            check.update(enc);
            let row = Reader::new(enc)
                .row()
                .map_err(|e| in_table(table, damaged(&e)))?;
            batch_bytes += enc.len();
            batch.push(row);
            if batch.len() >= BATCH_ROWS || batch_bytes >= BATCH_BYTES {
                send(&tx, &mut batch).await?;
                batch_bytes = 0;
            }
        }
    }
    if !batch.is_empty() {
        send(&tx, &mut batch).await?;
    }
    check.finish(table)
}

/// The row count and digest of a table read from a snapshot, checked
/// against its manifest entry at the end, so a damaged or forged snapshot
/// is never read silently.
#[derive(Default)]
pub(crate) struct TableCheck {
    digest: TableDigest,
    rows: u64,
}

impl TableCheck {
    /// Counts the encoded row `enc`, read in stream order.
    pub fn update(&mut self, enc: &[u8]) {
        self.digest.update(enc);
        self.rows += 1;
    }

    /// The rows read, when they are the table's; an error otherwise.
    pub fn finish(self, table: &TableEntry) -> Result<u64> {
        if self.rows != table.rows || self.digest.finish() != table.digest {
            return Err(OpsError::Corrupt(format!(
                "table {} does not match its snapshot's digest: the repository is damaged or was tampered with",
                table.name
            )));
        }
        Ok(self.rows)
    }
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

/// Streams the rows stored at `at` (chunk, row index), in that order,
/// decoded: for a restore of a few chosen rows, which reads the chunks
/// holding them and no others. Chunks are checked against their ids as
/// they load.
pub(crate) async fn stream_rows_at(
    repo: &Arc<Repository>,
    at: impl IntoIterator<Item = (tresor_repo::BlobId, u64)>,
    tx: RowSender,
) -> Result<u64> {
    let mut chunks = ChunkCache::new(repo);
    let mut rows = 0u64;
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    for (chunk, index) in at {
        let enc = chunks.row(&chunk, index).await?;
        batch.push(Reader::new(&enc).row().map_err(|e| damaged(&e))?);
        rows += 1;
        if batch.len() >= BATCH_ROWS {
            send(&tx, &mut batch).await?;
        }
    }
    if !batch.is_empty() {
        send(&tx, &mut batch).await?;
    }
    Ok(rows)
}
