//! Repository verification.
//!
//! Structure: config, keys, every index file, every indexed pack present with
//! the right size, every referenced blob indexed; packs that no index lists
//! are warnings (left by an interrupted backup). With `read_data`, every
//! indexed pack is read in full: its BLAKE3 must match its name, its header
//! must agree with the index, and every blob must decrypt, decompress and hash
//! to its id.
//!
//! Then the protection the repository is configured with
//! ([`protection`]): Object Lock on the bucket and on every object, and
//! credentials opened append-only that really cannot delete.

mod protection;

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::StreamExt;
use serde::Serialize;

use crate::config::{CONFIG_PATH, Config};
use crate::crypto::{BlobId, PackId};
use crate::index::{list_index_files, read_index_file};
use crate::key::{KEYS_DIR, KeyFile};
use crate::pack::{self, DATA_DIR, PackEntry, pack_path};
use crate::repository::Repository;
use crate::storage::StorageError;

/// A pack that is missing or whose bytes are wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DamagedPack {
    /// The pack.
    pub pack: PackId,
    /// What is wrong, in words.
    pub reason: String,
    /// Every blob the index lists in this pack.
    pub blobs: Vec<BlobId>,
    /// The blobs that cannot be read back (all of them when the pack is
    /// missing or its header is unreadable).
    pub unreadable_blobs: Vec<BlobId>,
}

/// The outcome of [`check`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// Problems that mean data is or may be lost.
    pub errors: Vec<String>,
    /// Harmless findings (leftovers that prune removes).
    pub warnings: Vec<String>,
    /// Missing or damaged packs, with the blobs they held.
    pub damaged_packs: Vec<DamagedPack>,
    /// Referenced blobs that no index lists.
    pub missing_blobs: Vec<BlobId>,
    /// Packs in storage that no index lists.
    pub unreferenced_packs: Vec<PackId>,
    /// Index files read.
    pub index_files: usize,
    /// Packs listed in the index.
    pub packs: usize,
    /// Distinct blobs listed in the index.
    pub blobs: usize,
    /// Packs read in full (with `read_data`).
    pub packs_read: usize,
    /// Bytes read in full (with `read_data`).
    pub bytes_read: u64,
}

impl CheckReport {
    /// True when no error was found (warnings allowed).
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Every blob that cannot be read back: referenced-but-missing blobs and
    /// blobs of damaged packs. The caller maps them to snapshots.
    pub fn unreadable_blobs(&self) -> HashSet<BlobId> {
        let mut out: HashSet<BlobId> = self.missing_blobs.iter().copied().collect();
        for d in &self.damaged_packs {
            out.extend(d.unreadable_blobs.iter().copied());
        }
        out
    }

    fn damaged(&mut self, pack: PackId, reason: String, blobs: &[PackEntry], bad: Vec<BlobId>) {
        self.errors.push(format!("pack {pack}: {reason}"));
        self.damaged_packs.push(DamagedPack {
            pack,
            reason,
            blobs: blobs.iter().map(|e| e.id).collect(),
            unreadable_blobs: bad,
        });
    }
}

struct IndexedPack {
    size: u64,
    blobs: Vec<PackEntry>,
}

/// Checks the repository. Never fails: every problem, including storage
/// errors, ends up in the report.
///
/// `referenced` is the set of blobs the snapshots use (empty to skip that
/// part). With `read_data` every indexed pack is downloaded and verified.
pub async fn check(
    repo: &Repository,
    read_data: bool,
    referenced: &HashSet<BlobId>,
) -> CheckReport {
    let mut report = CheckReport::default();
    let storage = repo.storage();

    check_config_and_keys(repo, &mut report).await;
    protection::check_protection(repo, &mut report).await;

    // Index files.
    let (indexed, blob_ids) = read_indexes(repo, &mut report).await;
    report.packs = indexed.len();
    report.blobs = blob_ids.len();

    // Packs in storage.
    let mut stored: HashSet<PackId> = HashSet::new();
    match storage.list_recursive(DATA_DIR).await {
        Ok(names) => {
            for name in names {
                match parse_pack_name(&name) {
                    Some(id) => {
                        stored.insert(id);
                    }
                    None => report
                        .warnings
                        .push(format!("unexpected file data/{name} (not a pack name)")),
                }
            }
        }
        Err(e) => report.errors.push(format!("cannot list packs: {e}")),
    }

    let sizes: HashMap<PackId, Result<u64, StorageError>> =
        futures::stream::iter(indexed.keys().filter(|id| stored.contains(id)).copied())
            .map(|id| async move { (id, storage.size(&pack_path(&id)).await) })
            .buffer_unordered(16)
            .collect()
            .await;

    for (id, p) in &indexed {
        if !stored.contains(id) {
            let all = p.blobs.iter().map(|e| e.id).collect();
            report.damaged(*id, "pack file is missing".into(), &p.blobs, all);
            continue;
        }
        match sizes.get(id) {
            Some(Ok(size)) if *size == p.size => {}
            Some(Ok(size)) => {
                let all = p.blobs.iter().map(|e| e.id).collect();
                report.damaged(
                    *id,
                    format!("pack file has {size} bytes, the index says {}", p.size),
                    &p.blobs,
                    all,
                );
            }
            Some(Err(e)) => report.errors.push(format!("pack {id}: {e}")),
            None => {}
        }
    }

    let mut unreferenced: Vec<PackId> = stored
        .iter()
        .filter(|id| !indexed.contains_key(id))
        .copied()
        .collect();
    unreferenced.sort();
    for id in &unreferenced {
        report.warnings.push(format!(
            "unreferenced pack {id} (left by an interrupted backup; removed by prune)"
        ));
    }
    report.unreferenced_packs = unreferenced;

    let mut missing: Vec<BlobId> = referenced
        .iter()
        .filter(|id| !blob_ids.contains(id))
        .copied()
        .collect();
    missing.sort();
    for id in &missing {
        report.errors.push(format!(
            "blob {id} is used by a snapshot but is in no index"
        ));
    }
    report.missing_blobs = missing;

    if read_data {
        read_packs(repo, &indexed, &stored, &mut report).await;
    }
    report
}

/// The config decrypts with the key, and every key file parses and is
/// named after its content.
async fn check_config_and_keys(repo: &Repository, report: &mut CheckReport) {
    let storage = repo.storage();
    match storage.read(CONFIG_PATH).await {
        Ok(bytes) => {
            if let Err(e) = Config::decode(repo.key(), &bytes) {
                report.errors.push(format!("config: {e}"));
            }
        }
        Err(e) => report.errors.push(format!("config: {e}")),
    }

    match storage.list(KEYS_DIR).await {
        Ok(names) if names.is_empty() => report.errors.push("no key file found".into()),
        Ok(names) => {
            for name in names {
                let parsed = storage
                    .read(&format!("{KEYS_DIR}/{name}"))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|b| {
                        if crate::ObjectId::of(&b).to_hex() != name {
                            return Err("its name does not match its content (renamed, copied \
                                 from elsewhere or planted); remove it with `tresor key remove`"
                                .into());
                        }
                        KeyFile::from_json(&b).map_err(|e| e.to_string())
                    });
                if let Err(e) = parsed {
                    report.errors.push(format!("key file {name}: {e}"));
                }
            }
        }
        Err(e) => report.errors.push(format!("cannot list keys: {e}")),
    }
}

/// Every index file's packs (the first listing of a pack wins; a size
/// that disagrees is an error), and every blob they index.
async fn read_indexes(
    repo: &Repository,
    report: &mut CheckReport,
) -> (BTreeMap<PackId, IndexedPack>, HashSet<BlobId>) {
    let mut indexed: BTreeMap<PackId, IndexedPack> = BTreeMap::new();
    let mut blob_ids: HashSet<BlobId> = HashSet::new();
    match list_index_files(repo.storage()).await {
        Ok(ids) => {
            report.index_files = ids.len();
            for id in ids {
                match read_index_file(repo.storage(), repo.key(), id).await {
                    Ok(file) => {
                        for p in file.packs {
                            blob_ids.extend(p.blobs.iter().map(|e| e.id));
                            if let Some(prev) = indexed.get(&p.id) {
                                if prev.size != p.size {
                                    report.errors.push(format!(
                                        "pack {}: index files disagree on its size ({} vs {})",
                                        p.id, prev.size, p.size
                                    ));
                                }
                                continue;
                            }
                            indexed.insert(
                                p.id,
                                IndexedPack {
                                    size: p.size,
                                    blobs: p.blobs,
                                },
                            );
                        }
                    }
                    Err(e) => report.errors.push(e.to_string()),
                }
            }
        }
        Err(e) => report.errors.push(format!("cannot list index files: {e}")),
    }
    (indexed, blob_ids)
}

/// Downloads every indexed pack that storage holds and is not already
/// known damaged, and verifies each record, two packs at a time.
async fn read_packs(
    repo: &Repository,
    indexed: &BTreeMap<PackId, IndexedPack>,
    stored: &HashSet<PackId>,
    report: &mut CheckReport,
) {
    let (storage, key) = (repo.storage(), repo.key());
    let damaged: HashSet<PackId> = report.damaged_packs.iter().map(|d| d.pack).collect();
    let to_read: Vec<(PackId, &IndexedPack)> = indexed
        .iter()
        .filter(|(id, _)| stored.contains(id) && !damaged.contains(id))
        .map(|(id, p)| (*id, p))
        .collect();
    let mut results = futures::stream::iter(to_read)
        .map(|(id, p)| async move {
            let outcome = match storage.read(&pack_path(&id)).await {
                Ok(bytes) => {
                    let key = key.clone();
                    let blobs = p.blobs.clone();
                    let len = bytes.len() as u64;
                    tokio::task::spawn_blocking(move || verify_pack(&key, id, &bytes, &blobs))
                        .await
                        .map_err(|e| format!("verification task failed: {e}"))
                        .map(|r| (len, r))
                }
                Err(e) => Err(e.to_string()),
            };
            (id, p, outcome)
        })
        .buffer_unordered(2);
    while let Some((id, p, outcome)) = results.next().await {
        match outcome {
            Ok((len, Ok(()))) => {
                report.packs_read += 1;
                report.bytes_read += len;
            }
            Ok((len, Err((reason, bad)))) => {
                report.packs_read += 1;
                report.bytes_read += len;
                report.damaged(id, reason, &p.blobs, bad);
            }
            Err(reason) => {
                let all = p.blobs.iter().map(|e| e.id).collect();
                report.damaged(id, reason, &p.blobs, all);
            }
        }
    }
    report.damaged_packs.sort_by_key(|d| d.pack);
}

fn parse_pack_name(name: &str) -> Option<PackId> {
    let (prefix, file) = name.split_once('/')?;
    let id: PackId = file.parse().ok()?;
    (id.to_hex()[..2] == *prefix).then_some(id)
}

/// Verifies one whole pack against its name and its index entries. On
/// failure returns the reason and the blobs that cannot be read.
fn verify_pack(
    key: &crate::MasterKey,
    id: PackId,
    bytes: &[u8],
    blobs: &[PackEntry],
) -> Result<(), (String, Vec<BlobId>)> {
    let mut reasons = Vec::new();
    if PackId::of(bytes) != id {
        reasons.push("content does not match the pack id (bytes changed)".to_owned());
    }
    match pack::read_header(key, bytes) {
        Ok(header) => {
            let header: HashSet<PackEntry> = header.into_iter().collect();
            let absent = blobs.iter().filter(|e| !header.contains(e)).count();
            if absent > 0 {
                reasons.push(format!(
                    "{absent} index entries do not match the pack header"
                ));
            }
        }
        Err(e) => reasons.push(format!("header: {e}")),
    }
    let mut bad = Vec::new();
    for e in blobs {
        let start = e.offset as usize;
        let end = start + e.length as usize;
        let ok = bytes
            .get(start..end)
            .is_some_and(|rec| pack::decode_blob(key, e, rec).is_ok());
        if !ok {
            bad.push(e.id);
        }
    }
    if !bad.is_empty() {
        reasons.push(format!(
            "{} of {} blobs are unreadable",
            bad.len(),
            blobs.len()
        ));
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err((reasons.join("; "), bad))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlobType, InitOptions, KdfParams, Storage};

    #[test]
    fn pack_names() {
        let id = PackId([0xab; 32]);
        assert_eq!(parse_pack_name(&format!("ab/{id}")), Some(id));
        assert_eq!(parse_pack_name(&format!("cd/{id}")), None);
        assert_eq!(parse_pack_name("ab/xyz"), None);
        assert_eq!(parse_pack_name("abc"), None);
    }

    #[tokio::test]
    async fn healthy_repository_checks_clean() {
        let opts = InitOptions {
            kdf: KdfParams::insecure_for_tests(),
            ..InitOptions::default()
        };
        let repo = Repository::init(Storage::memory(), &"pw".into(), opts)
            .await
            .unwrap();
        let mut refs = HashSet::new();
        for i in 0..10u8 {
            refs.insert(
                repo.save_blob(BlobType::Data, vec![i; 1000])
                    .await
                    .unwrap()
                    .id,
            );
        }
        repo.flush().await.unwrap();
        let r = check(&repo, true, &refs).await;
        assert!(r.is_ok(), "{:?}", r.errors);
        assert_eq!(
            (r.packs, r.blobs, r.packs_read, r.index_files),
            (1, 10, 1, 1)
        );
        // Index entry damage is caught by comparing with the header.
        refs.insert(BlobId([1; 32]));
        let r = check(&repo, false, &refs).await;
        assert_eq!(r.missing_blobs, vec![BlobId([1; 32])]);
    }
}
