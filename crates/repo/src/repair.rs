//! Repairing the index: rebuilt from the packs themselves.
//!
//! Every pack ends with its own encrypted header listing the blobs it holds,
//! so a damaged, truncated or lost index file loses nothing: the headers of
//! all packs make a complete index again. New index files are written first
//! and only then the old ones removed, so an interruption leaves at worst
//! both (and a second run finishes the job). A pack whose header does not
//! authenticate is left out and reported; `check --read-data` then names
//! the snapshots that needed it.

use serde::Serialize;

use crate::crypto::{MasterKey, PackId};
use crate::index::{INDEX_DIR, IndexFile, IndexPack, MAX_PACKS_PER_INDEX, write_index_file};
use crate::pack::{DATA_DIR, read_header};
use crate::repository::RepoError;
use crate::storage::Storage;

/// What `repair index` did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RepairReport {
    /// Packs whose headers were read into the new index.
    pub packs: usize,
    /// Blobs the new index lists.
    pub blobs: usize,
    /// Index files written.
    pub index_files_written: usize,
    /// Old index files removed (damaged ones included).
    pub index_files_removed: usize,
    /// Packs left out, with why.
    pub damaged_packs: Vec<String>,
}

/// Rebuilds the index of the repository in `storage` from its packs'
/// headers. The caller holds the exclusive lock.
///
/// # Errors
/// Storage failures (nothing is removed before the new index is written).
pub async fn rebuild_index(storage: &Storage, key: &MasterKey) -> Result<RepairReport, RepoError> {
    let mut report = RepairReport::default();
    let old: Vec<String> = storage.list(INDEX_DIR).await?;
    let mut packs = Vec::new();
    for name in storage.list_recursive(DATA_DIR).await? {
        let Some(id) = name
            .split_once('/')
            .and_then(|(_, f)| f.parse::<PackId>().ok())
        else {
            continue;
        };
        let path = format!("{DATA_DIR}/{name}");
        let bytes = storage.read(&path).await?;
        if PackId::of(&bytes) != id {
            report
                .damaged_packs
                .push(format!("{id}: its content does not match its name"));
            continue;
        }
        match read_header(key, &bytes) {
            Ok(blobs) => {
                report.blobs += blobs.len();
                packs.push(IndexPack {
                    id,
                    size: bytes.len() as u64,
                    blobs,
                });
            }
            Err(e) => report.damaged_packs.push(format!("{id}: {e}")),
        }
    }
    report.packs = packs.len();
    let mut written = Vec::new();
    for chunk in packs.chunks(MAX_PACKS_PER_INDEX) {
        let file = IndexFile {
            packs: chunk.to_vec(),
            ..IndexFile::new()
        };
        written.push(write_index_file(storage, key, &file).await?.to_string());
    }
    report.index_files_written = written.len();
    for name in old.iter().filter(|n| !written.contains(n)) {
        storage.delete(&format!("{INDEX_DIR}/{name}")).await?;
        report.index_files_removed += 1;
    }
    Ok(report)
}
