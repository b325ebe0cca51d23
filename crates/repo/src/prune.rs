//! Garbage collection: remove what no snapshot references.
//!
//! Order of work, chosen so that a crash at any point loses nothing:
//!
//! 1. plan (read every index file, list packs); nothing written;
//! 2. copy the live blobs of sparse packs into new packs, and store them;
//! 3. write new index files describing the kept and the new packs;
//! 4. delete the old index files;
//! 5. delete the packs that are now unneeded.
//!
//! A crash after 3 leaves duplicate index entries (harmless); after 4, packs
//! that no index lists, which the next prune removes.
//!
//! Under S3 Object Lock, what retention still holds is spared in the plan
//! ([`retained`]) and reported in [`PruneReport::locked`]; append-only
//! storage is refused before anything is read.

mod retained;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::crypto::{BlobId, ObjectId, PackId};
use crate::index::{
    INDEX_DIR, IndexError, IndexFile, IndexPack, MAX_PACKS_PER_INDEX, read_all_index_files,
    write_index_file,
};
use crate::lock::LockGuard;
use crate::pack::{DATA_DIR, PackEntry, PackWriter, pack_path};
use crate::repository::{RepoError, Repository};
use crate::storage::{LockedObject, StorageError, TMP_DIR};

/// Errors of prune.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PruneError {
    /// Prune was given a shared lock.
    #[error("prune needs an exclusive lock (try: take it with LockKind::Exclusive)")]
    NotExclusive,
    /// The handle holds blobs not yet in an index file.
    #[error("this repository handle has unflushed blobs (try: flush before prune)")]
    PendingBlobs,
    /// An index file is unreadable: pruning could delete live data.
    #[error("refusing to prune with a damaged index (try: tresor check)")]
    Index(IndexError),
    /// Referenced blobs are in no stored pack.
    #[error("{count} blobs used by snapshots are missing, e.g. {example} (try: tresor check)")]
    MissingBlobs {
        /// How many.
        count: usize,
        /// One of them.
        example: BlobId,
    },
    /// A live blob in a pack to repack is damaged.
    #[error(
        "blob {blob} in pack {pack} is damaged; nothing was deleted (try: tresor check --read-data)"
    )]
    DamagedBlob {
        /// The blob.
        blob: BlobId,
        /// Its pack.
        pack: PackId,
    },
    /// Storage failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Other repository failure.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl From<IndexError> for PruneError {
    /// An index file that cannot be read for a storage failure is not a
    /// damaged index: it stays a storage failure (retryable, with its hint).
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::Storage(s) => PruneError::Storage(s),
            other => PruneError::Index(other),
        }
    }
}

/// How prune behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PruneOptions {
    /// Plan and report only.
    pub dry_run: bool,
    /// Repack a pack when less than this fraction of its bytes is still used
    /// (default 0.8).
    pub repack_threshold: f64,
    /// Delete packs that no index lists only when older than this. `None`
    /// (the default) deletes them all: the exclusive lock proves no backup is
    /// writing.
    pub unreferenced_grace: Option<Duration>,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            dry_run: false,
            repack_threshold: 0.8,
            unreferenced_grace: None,
        }
    }
}

/// What prune did (or would do, in a dry run).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// True when nothing was changed.
    pub dry_run: bool,
    /// Packs listed in the index before.
    pub packs_before: usize,
    /// Packs kept as they are.
    pub packs_kept: usize,
    /// Packs deleted because no referenced blob is in them.
    pub packs_deleted: usize,
    /// Sparse packs whose live blobs were copied into new packs.
    pub packs_repacked: usize,
    /// New packs written by repacking.
    pub packs_written: usize,
    /// Packs no index listed, deleted.
    pub unreferenced_packs_deleted: usize,
    /// Indexed packs missing from storage (only unused blobs), dropped.
    pub missing_packs_dropped: usize,
    /// Blobs copied into new packs.
    pub blobs_repacked: usize,
    /// Index files removed.
    pub index_files_removed: usize,
    /// Index files written.
    pub index_files_written: usize,
    /// Bytes of deleted packs minus bytes of new packs.
    pub bytes_freed: u64,
    /// Temporary files an interrupted write left in `.tmp/` (a killed
    /// process, a full disk), removed.
    pub temp_files_removed: usize,
    /// Objects that would go but stay under S3 Object Lock retention
    /// (with the packs the index files among them list).
    pub locked: Vec<LockedObject>,
    /// Stale lock files removed (among them what backups with
    /// append-only credentials leave).
    pub stale_locks_removed: usize,
}

enum Fate {
    Keep,
    Delete,
    Repack(Vec<PackEntry>),
}

/// Removes unreferenced data. The caller must hold `lock` (exclusive) since
/// before it computed `referenced`, the set of blobs every remaining snapshot
/// uses: a backup finishing between the two would otherwise lose data.
///
/// # Errors
/// [`PruneError::NotExclusive`], [`PruneError::Index`] when an index file is
/// damaged, [`PruneError::MissingBlobs`] when referenced data is already gone.
/// Nothing is deleted in those cases.
pub async fn prune(
    repo: &Repository,
    lock: &LockGuard,
    referenced: &HashSet<BlobId>,
    options: &PruneOptions,
) -> Result<PruneReport, PruneError> {
    if !lock.is_exclusive() {
        return Err(PruneError::NotExclusive);
    }
    if repo.has_pending() {
        return Err(PruneError::PendingBlobs);
    }
    if !options.dry_run {
        repo.refuse_if_append_only("prune")?;
    }
    let storage = repo.storage();
    let key = repo.key();
    let mut report = PruneReport {
        dry_run: options.dry_run,
        ..PruneReport::default()
    };

    // 1. Plan.
    let files = read_all_index_files(storage, key).await?;
    let old_index_ids: Vec<ObjectId> = files.iter().map(|(id, _)| *id).collect();
    let index_files: BTreeMap<ObjectId, Vec<PackId>> = files
        .iter()
        .map(|(id, f)| (*id, f.packs.iter().map(|p| p.id).collect()))
        .collect();
    let mut indexed: BTreeMap<PackId, IndexPack> = BTreeMap::new();
    for (_, file) in files {
        for p in file.packs {
            indexed.entry(p.id).or_insert(p);
        }
    }
    report.packs_before = indexed.len();
    let mut stored: HashSet<PackId> = HashSet::new();
    for name in storage.list_recursive(DATA_DIR).await? {
        if let Some(id) = name.split_once('/').and_then(|(_, f)| f.parse().ok()) {
            stored.insert(id);
        }
    }
    let chosen = choose_copies(&indexed, &stored, referenced)?;
    let mut fates = decide_fates(&indexed, &stored, &chosen, options, &mut report);
    let grace_cutoff = options
        .unreferenced_grace
        .and_then(|g| SystemTime::now().checked_sub(g));
    let mut unreferenced: Vec<PackId> = Vec::new();
    let mut leftovers: Vec<PackId> = stored
        .iter()
        .filter(|id| !indexed.contains_key(id))
        .copied()
        .collect();
    leftovers.sort();
    for id in leftovers {
        let meta = storage.stat(&pack_path(&id)).await?;
        if unused_long_enough(grace_cutoff, meta.modified) {
            report.unreferenced_packs_deleted += 1;
            report.bytes_freed += meta.size;
            unreferenced.push(id);
        }
    }
    let kept_index = retained::spare_retained(
        storage,
        &index_files,
        &indexed,
        &mut fates,
        &mut unreferenced,
        &mut report,
    )
    .await?;
    let index_changes = report.packs_deleted + report.packs_repacked + report.missing_packs_dropped
        > 0
        || old_index_ids.len() > indexed.len().div_ceil(MAX_PACKS_PER_INDEX);
    // temporary files of interrupted writes (nothing writes while the
    // exclusive lock is held; the grace spares a writer that ignores locks)
    let mut temp_files = Vec::new();
    for name in storage.list_recursive(TMP_DIR).await? {
        let path = format!("{TMP_DIR}/{name}");
        let modified = storage.stat(&path).await.ok().and_then(|m| m.modified);
        if unused_long_enough(grace_cutoff, modified) {
            temp_files.push(path);
        }
    }
    report.temp_files_removed = temp_files.len();
    if options.dry_run {
        if index_changes {
            report.index_files_removed = old_index_ids.len() - kept_index.len();
        }
        return Ok(report);
    }
    for path in &temp_files {
        storage.delete(path).await?;
    }

    // 2. Repack.
    let (new_packs, written_bytes) = repack(repo, &fates).await?;
    report.packs_written = new_packs.len();
    report.bytes_freed = report.bytes_freed.saturating_sub(written_bytes);

    // 3. New index files, only when the index changes; then the old ones.
    if index_changes {
        let mut all: Vec<IndexPack> = fates
            .iter()
            .filter(|(_, f)| matches!(f, Fate::Keep))
            .filter_map(|(id, _)| indexed.remove(id))
            .collect();
        all.extend(new_packs);
        report.index_files_written += write_index(repo, all).await?;
        for id in old_index_ids.iter().filter(|id| !kept_index.contains(id)) {
            storage.delete(&format!("{INDEX_DIR}/{id}")).await?;
            report.index_files_removed += 1;
        }
    } else if !new_packs.is_empty() {
        // Unreachable in practice (repacking changes the index), kept for safety.
        report.index_files_written += write_index(repo, new_packs).await?;
    }

    // 4. Packs, once no index names them. One whose retention outlived
    // the plan's look stays unindexed, for the next prune.
    let doomed = fates
        .iter()
        .filter(|(_, f)| matches!(f, Fate::Delete | Fate::Repack(_)))
        .map(|(pid, _)| pid)
        .chain(unreferenced.iter());
    for pid in doomed {
        match storage.delete(&pack_path(pid)).await {
            Ok(()) => {}
            Err(StorageError::Locked { path, until }) => {
                report.locked.push(LockedObject { path, until });
            }
            Err(e) => return Err(e.into()),
        }
    }
    report.stale_locks_removed = repo.remove_stale_locks().await.map_err(|e| match e {
        crate::LockError::Storage(e) => PruneError::Storage(e),
        other => PruneError::Repo(RepoError::Task(other.to_string())),
    })?;

    repo.reload_index().await?;
    Ok(report)
}

/// One live copy of every referenced blob, in a pack that storage holds.
fn choose_copies(
    indexed: &BTreeMap<PackId, IndexPack>,
    stored: &HashSet<PackId>,
    referenced: &HashSet<BlobId>,
) -> Result<HashMap<BlobId, PackId>, PruneError> {
    let mut chosen: HashMap<BlobId, PackId> = HashMap::new();
    for (pid, p) in indexed.iter().filter(|(id, _)| stored.contains(id)) {
        for e in &p.blobs {
            if referenced.contains(&e.id) {
                chosen.entry(e.id).or_insert(*pid);
            }
        }
    }
    if chosen.len() < referenced.len() {
        let mut missing: Vec<BlobId> = referenced
            .iter()
            .filter(|id| !chosen.contains_key(id))
            .copied()
            .collect();
        missing.sort();
        return Err(PruneError::MissingBlobs {
            count: missing.len(),
            example: missing[0],
        });
    }
    Ok(chosen)
}

/// Per stored, indexed pack: kept, deleted (nothing live) or repacked
/// (less live than the threshold); counted into `report`.
fn decide_fates(
    indexed: &BTreeMap<PackId, IndexPack>,
    stored: &HashSet<PackId>,
    chosen: &HashMap<BlobId, PackId>,
    options: &PruneOptions,
    report: &mut PruneReport,
) -> BTreeMap<PackId, Fate> {
    let mut fates: BTreeMap<PackId, Fate> = BTreeMap::new();
    for (pid, p) in indexed {
        if !stored.contains(pid) {
            report.missing_packs_dropped += 1;
            continue;
        }
        let live: Vec<PackEntry> = p
            .blobs
            .iter()
            .filter(|e| chosen.get(&e.id) == Some(pid))
            .copied()
            .collect();
        let total: u64 = p.blobs.iter().map(|e| u64::from(e.length)).sum();
        let used: u64 = live.iter().map(|e| u64::from(e.length)).sum();
        let fate = if live.is_empty() {
            report.packs_deleted += 1;
            report.bytes_freed += p.size;
            Fate::Delete
        } else if (used as f64) < options.repack_threshold * (total as f64) {
            report.packs_repacked += 1;
            report.blobs_repacked += live.len();
            report.bytes_freed += p.size;
            Fate::Repack(live)
        } else {
            report.packs_kept += 1;
            Fate::Keep
        };
        fates.insert(*pid, fate);
    }
    fates
}

/// Whether a file modified at `modified` may go: always without a grace
/// period, else only when known to be older than `cutoff`.
fn unused_long_enough(cutoff: Option<SystemTime>, modified: Option<SystemTime>) -> bool {
    match (cutoff, modified) {
        (None, _) => true,
        (Some(cutoff), Some(m)) => m <= cutoff,
        (Some(_), None) => false,
    }
}

/// Copies the live blobs of the packs to repack into new packs, each
/// record checked (decrypted) on the way; the new packs and their bytes.
async fn repack(
    repo: &Repository,
    fates: &BTreeMap<PackId, Fate>,
) -> Result<(Vec<IndexPack>, u64), PruneError> {
    let (storage, key) = (repo.storage(), repo.key());
    let mut new_packs: Vec<IndexPack> = Vec::new();
    let mut writer = PackWriter::default();
    let mut written_bytes = 0u64;
    for (pid, fate) in fates {
        let Fate::Repack(live) = fate else { continue };
        let bytes = storage.read(&pack_path(pid)).await?;
        for e in live {
            let start = e.offset as usize;
            let record = bytes
                .get(start..start + e.length as usize)
                .filter(|rec| key.decrypt(rec).is_ok())
                .ok_or(PruneError::DamagedBlob {
                    blob: e.id,
                    pack: *pid,
                })?;
            writer.add_record(*e, record).map_err(RepoError::from)?;
            if writer.size() >= repo.pack_size() {
                let fin = std::mem::take(&mut writer)
                    .finish(key)
                    .map_err(RepoError::from)?;
                written_bytes += store(repo, fin, &mut new_packs).await?;
            }
        }
    }
    if !writer.is_empty() {
        let fin = writer.finish(key).map_err(RepoError::from)?;
        written_bytes += store(repo, fin, &mut new_packs).await?;
    }
    Ok((new_packs, written_bytes))
}

/// Writes `packs` into new index files; how many.
async fn write_index(repo: &Repository, packs: Vec<IndexPack>) -> Result<usize, PruneError> {
    let mut written = 0;
    for chunk in packs.chunks(MAX_PACKS_PER_INDEX) {
        let file = IndexFile {
            packs: chunk.to_vec(),
            ..IndexFile::new()
        };
        write_index_file(repo.storage(), repo.key(), &file).await?;
        written += 1;
    }
    Ok(written)
}

async fn store(
    repo: &Repository,
    fin: crate::pack::FinishedPack,
    out: &mut Vec<IndexPack>,
) -> Result<u64, PruneError> {
    let size = fin.bytes.len() as u64;
    repo.storage().write(&pack_path(&fin.id), fin.bytes).await?;
    out.push(IndexPack {
        id: fin.id,
        size,
        blobs: fin.entries,
    });
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlobType, InitOptions, KdfParams, LockKind, Storage};

    async fn repo() -> Repository {
        let opts = InitOptions {
            kdf: KdfParams::insecure_for_tests(),
            ..InitOptions::default()
        };
        Repository::init(Storage::memory(), &"pw".into(), opts)
            .await
            .unwrap()
            .with_pack_size(4096)
    }

    fn blob(i: u32) -> Vec<u8> {
        // Incompressible, distinct content of 1 KiB.
        let mut out = vec![0u8; 1024];
        blake3::Hasher::new()
            .update(&i.to_le_bytes())
            .finalize_xof()
            .fill(&mut out);
        out
    }

    #[tokio::test]
    async fn shared_lock_is_refused() {
        let repo = repo().await;
        let lock = repo.lock(LockKind::Shared).await.unwrap();
        let err = prune(&repo, &lock, &HashSet::new(), &PruneOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, PruneError::NotExclusive));
        lock.release().await.unwrap();
    }

    #[tokio::test]
    async fn deletes_repacks_and_keeps() {
        let repo = repo().await;
        let mut ids = Vec::new();
        for i in 0..40 {
            ids.push(repo.save_blob(BlobType::Data, blob(i)).await.unwrap().id);
        }
        repo.flush().await.unwrap();
        let packs_before = repo.storage().list_recursive(DATA_DIR).await.unwrap().len();
        assert!(packs_before >= 8, "{packs_before}");
        // Keep the first 20 blobs fully and one blob out of the rest.
        let mut keep: HashSet<BlobId> = ids[..20].iter().copied().collect();
        keep.insert(ids[30]);

        let lock = repo.lock(LockKind::Exclusive).await.unwrap();
        let dry = prune(
            &repo,
            &lock,
            &keep,
            &PruneOptions {
                dry_run: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(dry.packs_deleted > 0 && dry.packs_repacked == 1, "{dry:?}");
        assert_eq!(
            repo.storage().list_recursive(DATA_DIR).await.unwrap().len(),
            packs_before
        );

        let r = prune(&repo, &lock, &keep, &PruneOptions::default())
            .await
            .unwrap();
        assert_eq!(r.packs_deleted, dry.packs_deleted);
        assert_eq!(r.packs_written, 1);
        assert!(r.bytes_freed > 0);
        lock.release().await.unwrap();

        for id in &keep {
            assert!(repo.load_blob(id).await.is_ok());
        }
        assert!(matches!(
            repo.load_blob(&ids[35]).await,
            Err(RepoError::BlobNotFound { .. })
        ));
        let report = crate::check(&repo, true, &keep).await;
        assert!(report.is_ok(), "{:?}", report.errors);
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    }

    #[tokio::test]
    async fn missing_referenced_blob_aborts() {
        let repo = repo().await;
        let lock = repo.lock(LockKind::Exclusive).await.unwrap();
        let refs: HashSet<BlobId> = [BlobId([3; 32])].into();
        let err = prune(&repo, &lock, &refs, &PruneOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, PruneError::MissingBlobs { count: 1, .. }));
        lock.release().await.unwrap();
    }
}
