//! Copying snapshots from one repository to another (`tresor copy`): an
//! offsite repository that holds the same snapshots, under the same ids,
//! with its own password and master key.
//!
//! Every blob is decrypted from the source and encrypted again for the
//! destination. Which blobs must travel depends on how the two name blobs:
//!
//! - **Shared ids** (the destination was made with
//!   [`Repository::init_with_ids_of`]): a blob has the same id in both, so
//!   the destination's index alone says what it lacks, and only those
//!   blobs are read from the source.
//! - **Independent ids**: a blob's id in the destination is known only from
//!   its plaintext, so every blob a snapshot names is read from the source
//!   once per run (the run remembers each source id's destination id), the
//!   table-data trees are rewritten with the destination's chunk ids, and
//!   the manifest with its schema and table-data ids. Blobs the
//!   destination already holds are not stored again.
//!
//! Blobs first, then a flush (packs, then index files), then the manifest,
//! under the snapshot's own id: the commit point, as in a backup. A copy
//! killed halfway leaves at most packs no snapshot uses, which the next
//! copy reuses (what reached an index) or prune removes.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use tresor_repo::{BlobId, BlobType, LockKind, ObjectKind, RepoError, Repository};

use crate::error::{OpsError, Result};
use crate::progress::Progress;
use crate::snapshot::{
    CopyOrigin, Snapshot, TableData, list_snapshots, resolve, save_copied_snapshot,
};

/// Blobs moved at once: each is read, decrypted, verified, compressed and
/// encrypted again on the blocking pool.
const COPY_JOBS: usize = 8;

/// Which snapshots of the source to copy. Empty fields select everything;
/// given fields must all match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopySelection {
    /// Snapshots by id prefix, `latest` or `latest:SOURCE` (resolved in the
    /// source repository; one that matches nothing is an error).
    pub snapshots: Vec<String>,
    /// Only snapshots of this source (its name, or its URL).
    pub source: Option<String>,
    /// Only snapshots carrying at least one of these tags.
    pub tags: Vec<String>,
}

/// One snapshot a copy wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CopiedSnapshot {
    /// Its id, the same in both repositories.
    pub id: String,
    /// Its source (name, else URL).
    pub source: String,
    /// When the snapshot was taken.
    pub time: DateTime<Utc>,
    /// Blobs stored in the destination for it.
    pub blobs_sent: u64,
    /// Bytes those blobs take in the destination's packs.
    pub bytes_sent: u64,
}

/// What [`copy_snapshots`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CopyReport {
    /// Snapshots written to the destination, oldest first.
    pub copied: Vec<CopiedSnapshot>,
    /// Ids of selected snapshots the destination already had.
    pub skipped: Vec<String>,
    /// Blobs stored in the destination.
    pub blobs_sent: u64,
    /// Bytes those blobs take in the destination's packs.
    pub bytes_sent: u64,
    /// Blobs the copied snapshots name that the destination already held.
    pub blobs_present: u64,
    /// Blobs read from the source.
    pub blobs_read: u64,
    /// Whether both repositories name blobs alike (the destination was
    /// made with `tresor init --copy-ids-from`): only missing blobs are read.
    pub shared_ids: bool,
}

/// The snapshots of `from` selected by `select` that `to` lacks, oldest
/// first: what a copy would bring over ("behind").
///
/// # Errors
/// A selected id that matches no snapshot of `from`, repository failures.
pub async fn pending_copies(
    from: &Repository,
    to: &Repository,
    select: &CopySelection,
) -> Result<Vec<Snapshot>> {
    same_repository_refused(from, to)?;
    let all = list_snapshots(from).await?;
    let chosen = selected(&all, select)?;
    let present = present_ids(to).await?;
    Ok(chosen
        .into_iter()
        .filter(|s| !present.contains(&s.id))
        .cloned()
        .collect())
}

/// Copies the snapshots of `from` selected by `select` that `to` lacks,
/// oldest first, keeping their ids; each copy records where it came from
/// ([`Snapshot::copied_from`]). Snapshots `to` already has are skipped, so
/// running it again is cheap and finishes what an interrupted run began.
///
/// Takes a shared lock on both repositories (like a backup).
///
/// # Errors
/// Locks held by prune, a selected id that matches nothing, damaged source
/// data (nothing of that snapshot is committed), storage failures. What was
/// stored before a failure is indexed, so the next run reuses it.
pub async fn copy_snapshots(
    from: &Repository,
    to: &Repository,
    select: &CopySelection,
    progress: &dyn Progress,
) -> Result<CopyReport> {
    same_repository_refused(from, to)?;
    let from_lock = from.lock(LockKind::Shared).await?;
    let to_lock = match to.lock(LockKind::Shared).await {
        Ok(l) => l,
        Err(e) => {
            release(from_lock).await;
            return Err(e.into());
        }
    };
    let result = copy_locked(from, to, select, progress).await;
    if let Err(e) = &result
        && !matches!(e, OpsError::Repo(RepoError::Storage(s)) if s.is_full())
        && let Err(e) = to.flush_index().await
    {
        tracing::warn!(error = %e, "cannot index what the failed copy stored");
    }
    release(to_lock).await;
    release(from_lock).await;
    result
}

async fn release(lock: tresor_repo::LockGuard) {
    if let Err(e) = lock.release().await {
        tracing::warn!(error = %e, "cannot release repository lock");
    }
}

fn same_repository_refused(from: &Repository, to: &Repository) -> Result<()> {
    if from.config().id == to.config().id {
        return Err(OpsError::InvalidInput {
            what: "the source and the destination are the same repository".into(),
            hint: Some(
                "give the repository to copy to with --repo, the one to copy from with --from-repo"
                    .into(),
            ),
        });
    }
    Ok(())
}

async fn copy_locked(
    from: &Repository,
    to: &Repository,
    select: &CopySelection,
    progress: &dyn Progress,
) -> Result<CopyReport> {
    let all = list_snapshots(from).await?;
    let chosen = selected(&all, select)?;
    let present = present_ids(to).await?;
    let mut run = Run {
        from,
        to,
        shared: from.same_blob_ids(to),
        mapped: HashMap::new(),
        seen: HashSet::new(),
        report: CopyReport::default(),
    };
    run.report.shared_ids = run.shared;
    let todo: Vec<&Snapshot> = chosen
        .into_iter()
        .filter(|s| {
            let have = present.contains(&s.id);
            if have {
                run.report.skipped.push(s.id.clone());
            }
            !have
        })
        .collect();
    let total = todo.len();
    for (n, s) in todo.into_iter().enumerate() {
        progress.step(&format!(
            "copying snapshot {} of {} ({} of {total})",
            s.short_id(),
            s.source.key(),
            n + 1
        ));
        let before = (run.report.blobs_sent, run.report.bytes_sent);
        let copy = run.snapshot(s, progress).await?;
        to.flush().await?;
        if save_copied_snapshot(to, &copy).await? {
            run.report.copied.push(CopiedSnapshot {
                id: s.id.clone(),
                source: s.source.key().to_string(),
                time: s.time,
                blobs_sent: run.report.blobs_sent - before.0,
                bytes_sent: run.report.bytes_sent - before.1,
            });
        } else {
            // another copy committed it in the meantime
            run.report.skipped.push(s.id.clone());
        }
    }
    Ok(run.report)
}

/// The selected snapshots of `all`, oldest first.
fn selected<'a>(all: &'a [Snapshot], select: &CopySelection) -> Result<Vec<&'a Snapshot>> {
    let mut chosen: Vec<&Snapshot> = if select.snapshots.is_empty() {
        all.iter().collect()
    } else {
        let mut ids = HashSet::new();
        let mut out = Vec::new();
        for spec in &select.snapshots {
            let s = resolve(all, spec)?;
            if ids.insert(&s.id) {
                out.push(s);
            }
        }
        out
    };
    chosen.retain(|s| {
        select
            .source
            .as_deref()
            .is_none_or(|src| s.source.name.as_deref() == Some(src) || s.source.url == src)
            && (select.tags.is_empty() || s.tags.iter().any(|t| select.tags.contains(t)))
    });
    chosen.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
    Ok(chosen)
}

/// Ids of the snapshots `to` holds, from the file names alone.
async fn present_ids(to: &Repository) -> Result<HashSet<String>> {
    Ok(to
        .list_objects(ObjectKind::Snapshot)
        .await?
        .iter()
        .map(|id| id.to_hex())
        .collect())
}

/// The state of one copy run.
struct Run<'a> {
    from: &'a Repository,
    to: &'a Repository,
    /// Whether both repositories name blobs alike.
    shared: bool,
    /// Source blob id -> destination blob id, for every blob this run has
    /// made sure the destination holds (tree blobs: with everything they
    /// name).
    mapped: HashMap<BlobId, BlobId>,
    /// Blobs counted in the report already.
    seen: HashSet<BlobId>,
    report: CopyReport,
}

impl Run<'_> {
    /// Makes sure the destination holds everything `s` names; returns the
    /// manifest to store there.
    async fn snapshot(&mut self, s: &Snapshot, progress: &dyn Progress) -> Result<Snapshot> {
        let mut copy = s.clone();
        copy.schema = self.blob(s.schema, BlobType::Tree).await?;
        for t in &mut copy.tables {
            if let Some(id) = self.mapped.get(&t.data) {
                t.data = *id;
                continue;
            }
            progress.table_started(&t.name, Some(t.rows));
            let source_id = t.data;
            let bytes = self.from.load_blob(&source_id).await?;
            self.report.blobs_read += 1;
            let mut data = TableData::decode(&bytes)?;
            self.chunks(&data.chunks).await?;
            let bytes = if self.shared {
                bytes
            } else {
                for c in &mut data.chunks {
                    *c = *self
                        .mapped
                        .get(c)
                        .ok_or_else(|| OpsError::Internal("a chunk was not copied".into()))?;
                }
                data.encode()
            };
            t.data = self.store(source_id, BlobType::Tree, bytes).await?;
            progress.table_finished(&t.name, t.rows);
        }
        copy.copied_from = Some(CopyOrigin {
            id: s.id.clone(),
            repository: self.from.config().id.to_hex(),
            time: Utc::now(),
        });
        Ok(copy)
    }

    /// Whether the destination is known to hold `id` (a source id) already.
    fn done(&self, id: &BlobId) -> bool {
        self.mapped.contains_key(id) || (self.shared && self.to.has_blob(id))
    }

    /// Brings one blob over unless the destination holds it; returns its
    /// destination id.
    async fn blob(&mut self, id: BlobId, blob_type: BlobType) -> Result<BlobId> {
        if let Some(mapped) = self.mapped.get(&id) {
            return Ok(*mapped);
        }
        if self.done(&id) {
            self.count_present(id);
            return Ok(id);
        }
        let bytes = self.from.load_blob(&id).await?;
        self.report.blobs_read += 1;
        self.store(id, blob_type, bytes).await
    }

    /// Brings the chunks over that the destination lacks, several at once.
    async fn chunks(&mut self, chunks: &[BlobId]) -> Result<()> {
        let mut wanted = Vec::new();
        let mut queued = HashSet::new();
        for id in chunks {
            if self.done(id) {
                self.count_present(*id);
            } else if queued.insert(*id) {
                wanted.push(*id);
            }
        }
        let (from, to) = (self.from, self.to);
        let moved: Vec<(BlobId, tresor_repo::SavedBlob)> = futures::stream::iter(wanted)
            .map(|id| async move {
                let bytes = from.load_blob(&id).await?;
                let saved = to.save_blob(BlobType::Data, bytes).await?;
                Ok::<_, OpsError>((id, saved))
            })
            .buffer_unordered(COPY_JOBS)
            .try_collect()
            .await?;
        self.report.blobs_read += moved.len() as u64;
        for (id, saved) in moved {
            self.record(id, saved)?;
        }
        Ok(())
    }

    /// Stores a blob read from the source (a tree possibly rewritten).
    async fn store(&mut self, id: BlobId, blob_type: BlobType, bytes: Vec<u8>) -> Result<BlobId> {
        let saved = self.to.save_blob(blob_type, bytes).await?;
        self.record(id, saved)
    }

    fn record(&mut self, id: BlobId, saved: tresor_repo::SavedBlob) -> Result<BlobId> {
        if self.shared && saved.id != id {
            return Err(OpsError::Internal(format!(
                "blob {} got another id in the destination, though both repositories name blobs alike",
                id.short()
            )));
        }
        self.mapped.insert(id, saved.id);
        if self.seen.insert(id) {
            if saved.new {
                self.report.blobs_sent += 1;
                self.report.bytes_sent += saved.stored_bytes;
            } else {
                self.report.blobs_present += 1;
            }
        }
        Ok(saved.id)
    }

    fn count_present(&mut self, id: BlobId) {
        if self.seen.insert(id) {
            self.report.blobs_present += 1;
        }
    }
}
