//! Prune under S3 Object Lock: what the plan would delete but the server
//! will not let go yet stays, and the index keeps describing it.

use std::collections::{BTreeMap, HashSet};

use chrono::Utc;

use super::{Fate, PruneError, PruneReport};
use crate::crypto::{ObjectId, PackId};
use crate::index::{INDEX_DIR, IndexPack};
use crate::pack::pack_path;
use crate::storage::{LockedObject, Storage, StorageError};

/// The retention of `path` when it holds now.
async fn held(storage: &Storage, path: &str) -> Result<Option<LockedObject>, StorageError> {
    match storage.retention(path).await {
        Ok(Some(r)) if r.holds_at(Utc::now()) => Ok(Some(LockedObject {
            path: path.to_owned(),
            until: r.until,
        })),
        Ok(_) | Err(StorageError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Spares what retention holds: old index files (and so every pack they
/// list, which must not vanish under them), packs to delete or repack,
/// and unreferenced packs. Adjusts `report`; returns the index files
/// that stay.
pub(super) async fn spare_retained(
    storage: &Storage,
    index_files: &BTreeMap<ObjectId, Vec<PackId>>,
    indexed: &BTreeMap<PackId, IndexPack>,
    fates: &mut BTreeMap<PackId, Fate>,
    unreferenced: &mut Vec<PackId>,
    report: &mut PruneReport,
) -> Result<HashSet<ObjectId>, PruneError> {
    if storage.object_lock().is_none() {
        return Ok(HashSet::new());
    }
    let mut kept_index = HashSet::new();
    // pack -> the retention of an index file that lists it
    let mut spared_packs: BTreeMap<PackId, Option<chrono::DateTime<Utc>>> = BTreeMap::new();
    for (id, packs) in index_files {
        if let Some(l) = held(storage, &format!("{INDEX_DIR}/{id}")).await? {
            for p in packs {
                spared_packs.entry(*p).or_insert(l.until);
            }
            report.locked.push(l);
            kept_index.insert(*id);
        }
    }
    for (pid, fate) in fates.iter_mut() {
        if matches!(fate, Fate::Keep) {
            continue;
        }
        match (held(storage, &pack_path(pid)).await?, spared_packs.get(pid)) {
            (Some(l), _) => report.locked.push(l),
            // free itself, but listed by an index file that must stay
            (None, Some(until)) => report.locked.push(LockedObject {
                path: pack_path(pid),
                until: *until,
            }),
            (None, None) => continue,
        }
        let size = indexed.get(pid).map_or(0, |p| p.size);
        report.bytes_freed = report.bytes_freed.saturating_sub(size);
        match fate {
            Fate::Delete => report.packs_deleted -= 1,
            Fate::Repack(live) => {
                report.packs_repacked -= 1;
                report.blobs_repacked -= live.len();
            }
            Fate::Keep => {}
        }
        report.packs_kept += 1;
        *fate = Fate::Keep;
    }
    let mut still = Vec::new();
    for pid in unreferenced.drain(..) {
        match held(storage, &pack_path(&pid)).await? {
            Some(l) => {
                report.locked.push(l);
                report.unreferenced_packs_deleted -= 1;
                if let Ok(meta) = storage.stat(&pack_path(&pid)).await {
                    report.bytes_freed = report.bytes_freed.saturating_sub(meta.size);
                }
            }
            None => still.push(pid),
        }
    }
    *unreferenced = still;
    Ok(kept_index)
}
