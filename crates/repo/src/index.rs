//! Index files and the in-memory master index.
//!
//! An index file `index/<id>` is `encrypt(zstd(json))` where the JSON is an
//! [`IndexFile`]: a list of packs, each with its size and blob entries. The id
//! is the plain BLAKE3 of the stored bytes. Index files are written only after
//! the packs they list are stored.

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::crypto::{BlobId, CryptoError, MasterKey, ObjectId, PackId};
use crate::pack::{BlobType, PackEntry};
use crate::storage::{Storage, StorageError};

/// Directory of index files.
pub(crate) const INDEX_DIR: &str = "index";
const INDEX_VERSION: u32 = 1;
/// Packs per index file before a writer starts a new one.
pub(crate) const MAX_PACKS_PER_INDEX: usize = 4096;

/// Errors of the index module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// The index file does not authenticate.
    #[error("index file {id} is damaged or forged")]
    Crypto {
        /// Index file id.
        id: ObjectId,
        /// Cause.
        #[source]
        source: CryptoError,
    },
    /// The index file decrypts but cannot be parsed.
    #[error("index file {id} is malformed: {reason}")]
    Malformed {
        /// Index file id.
        id: ObjectId,
        /// What is wrong.
        reason: String,
    },
    /// The index file name is not an id.
    #[error("index file name {0:?} is not an id")]
    BadName(String),
    /// Serialising or compressing an index file failed.
    #[error("cannot encode index file: {0}")]
    Encode(String),
    /// Storage failure.
    #[error("cannot access index files")]
    Storage(#[from] StorageError),
}

/// The content of one index file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IndexFile {
    /// Index layout version (1).
    pub version: u32,
    /// Packs described by this file.
    pub packs: Vec<IndexPack>,
}

/// One pack as listed in an index file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexPack {
    /// Pack id (its file name).
    pub id: PackId,
    /// Size of the pack file in bytes.
    pub size: u64,
    /// Blobs inside the pack.
    pub blobs: Vec<PackEntry>,
}

impl IndexFile {
    /// An empty index file of the current version.
    pub fn new() -> Self {
        IndexFile {
            version: INDEX_VERSION,
            packs: Vec::new(),
        }
    }

    /// Compresses and encrypts for storage.
    pub(crate) fn encode(&self, key: &MasterKey) -> Result<Vec<u8>, IndexError> {
        let json = serde_json::to_vec(self).map_err(|e| IndexError::Encode(e.to_string()))?;
        let packed =
            zstd::bulk::compress(&json, 3).map_err(|e| IndexError::Encode(e.to_string()))?;
        Ok(key.encrypt(&packed))
    }

    /// Decrypts, decompresses and parses a stored index file.
    pub(crate) fn decode(key: &MasterKey, id: ObjectId, bytes: &[u8]) -> Result<Self, IndexError> {
        let packed = key
            .decrypt(bytes)
            .map_err(|source| IndexError::Crypto { id, source })?;
        let json =
            zstd::stream::decode_all(packed.as_slice()).map_err(|e| IndexError::Malformed {
                id,
                reason: format!("zstd: {e}"),
            })?;
        let file: IndexFile = serde_json::from_slice(&json).map_err(|e| IndexError::Malformed {
            id,
            reason: e.to_string(),
        })?;
        if file.version > INDEX_VERSION {
            return Err(IndexError::Malformed {
                id,
                reason: format!(
                    "version {} is newer than supported (try: upgrade tresor)",
                    file.version
                ),
            });
        }
        Ok(file)
    }
}

/// Writes one index file; returns its id.
pub(crate) async fn write_index_file(
    storage: &Storage,
    key: &MasterKey,
    file: &IndexFile,
) -> Result<ObjectId, IndexError> {
    let bytes = file.encode(key)?;
    let id = ObjectId::of(&bytes);
    storage.write(&format!("{INDEX_DIR}/{id}"), bytes).await?;
    Ok(id)
}

/// Ids of every index file in storage.
pub(crate) async fn list_index_files(storage: &Storage) -> Result<Vec<ObjectId>, IndexError> {
    storage
        .list(INDEX_DIR)
        .await?
        .into_iter()
        .map(|name| name.parse().map_err(|_| IndexError::BadName(name)))
        .collect()
}

/// Reads one index file.
pub(crate) async fn read_index_file(
    storage: &Storage,
    key: &MasterKey,
    id: ObjectId,
) -> Result<IndexFile, IndexError> {
    let bytes = storage.read(&format!("{INDEX_DIR}/{id}")).await?;
    IndexFile::decode(key, id, &bytes)
}

/// Reads every index file, a few at a time. Fails on the first damaged one.
pub(crate) async fn read_all_index_files(
    storage: &Storage,
    key: &MasterKey,
) -> Result<Vec<(ObjectId, IndexFile)>, IndexError> {
    let ids = list_index_files(storage).await?;
    futures::stream::iter(ids)
        .map(|id| async move { read_index_file(storage, key, id).await.map(|f| (id, f)) })
        .buffered(8)
        .try_collect()
        .await
}

/// Where a blob is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobLocation {
    /// The pack holding the blob.
    pub pack: PackId,
    /// What the blob holds.
    pub blob_type: BlobType,
    /// Offset of the record in the pack.
    pub offset: u32,
    /// Length of the record in the pack.
    pub length: u32,
    /// Length of the plaintext.
    pub raw_length: u32,
    /// True when the record is zstd-compressed.
    pub compressed: bool,
    /// True when the record holds a data chunk column by column.
    pub columns: bool,
}

impl BlobLocation {
    pub(crate) fn new(pack: PackId, e: &PackEntry) -> Self {
        BlobLocation {
            pack,
            blob_type: e.blob_type,
            offset: e.offset,
            length: e.length,
            raw_length: e.raw_length,
            compressed: e.compressed,
            columns: e.columns,
        }
    }

    pub(crate) fn entry(&self, id: BlobId) -> PackEntry {
        PackEntry {
            blob_type: self.blob_type,
            id,
            offset: self.offset,
            length: self.length,
            raw_length: self.raw_length,
            compressed: self.compressed,
            columns: self.columns,
        }
    }
}

/// Every blob of the repository, from all index files.
///
/// When a blob is listed in several packs (two writers stored it at the same
/// time), the first location seen wins; prune removes the extra copy.
#[derive(Debug, Clone, Default)]
pub struct MasterIndex {
    blobs: HashMap<BlobId, BlobLocation>,
    packs: HashMap<PackId, u64>,
}

impl MasterIndex {
    /// An empty index.
    pub fn new() -> Self {
        MasterIndex::default()
    }

    /// Builds the index from index files.
    pub fn from_files<'a>(files: impl IntoIterator<Item = &'a IndexFile>) -> Self {
        let mut m = MasterIndex::new();
        for f in files {
            m.add_file(f);
        }
        m
    }

    /// Adds every pack of an index file.
    pub fn add_file(&mut self, file: &IndexFile) {
        for p in &file.packs {
            self.add_pack(p.id, p.size, &p.blobs);
        }
    }

    /// Adds one pack.
    pub fn add_pack(&mut self, pack: PackId, size: u64, entries: &[PackEntry]) {
        self.packs.insert(pack, size);
        for e in entries {
            self.blobs
                .entry(e.id)
                .or_insert_with(|| BlobLocation::new(pack, e));
        }
    }

    /// Where a blob is stored.
    pub fn get(&self, id: &BlobId) -> Option<&BlobLocation> {
        self.blobs.get(id)
    }

    /// True when the blob is stored.
    pub fn contains(&self, id: &BlobId) -> bool {
        self.blobs.contains_key(id)
    }

    /// Number of distinct blobs.
    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    /// True when the index holds no blob.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Every indexed pack with its size.
    pub fn packs(&self) -> impl Iterator<Item = (&PackId, &u64)> {
        self.packs.iter()
    }

    /// Every indexed blob.
    pub fn blobs(&self) -> impl Iterator<Item = (&BlobId, &BlobLocation)> {
        self.blobs.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(n: u8, offset: u32) -> PackEntry {
        PackEntry {
            blob_type: BlobType::Data,
            id: BlobId([n; 32]),
            offset,
            length: 10,
            raw_length: 20,
            compressed: true,
            columns: false,
        }
    }

    #[test]
    fn master_index_first_location_wins() {
        let mut f = IndexFile::new();
        f.packs.push(IndexPack {
            id: PackId([1; 32]),
            size: 100,
            blobs: vec![entry(1, 0), entry(2, 10)],
        });
        f.packs.push(IndexPack {
            id: PackId([2; 32]),
            size: 50,
            blobs: vec![entry(2, 0)],
        });
        let m = MasterIndex::from_files([&f]);
        assert_eq!(m.len(), 2);
        assert!(m.contains(&BlobId([1; 32])));
        assert_eq!(m.get(&BlobId([2; 32])).unwrap().pack, PackId([1; 32]));
        assert_eq!(m.packs().count(), 2);
        assert!(!m.contains(&BlobId([3; 32])));
    }

    #[test]
    fn garbage_is_rejected() {
        let key = MasterKey::generate();
        let id = ObjectId([0; 32]);
        assert!(matches!(
            IndexFile::decode(&key, id, b"xx"),
            Err(IndexError::Crypto { .. })
        ));
        let not_zstd = key.encrypt(b"{}");
        assert!(matches!(
            IndexFile::decode(&key, id, &not_zstd),
            Err(IndexError::Malformed { .. })
        ));
        let bad_json = key.encrypt(&zstd::bulk::compress(b"{", 3).unwrap());
        assert!(matches!(
            IndexFile::decode(&key, id, &bad_json),
            Err(IndexError::Malformed { .. })
        ));
    }

    proptest! {
        #[test]
        fn index_roundtrip(packs in proptest::collection::vec((any::<[u8; 32]>(), any::<u64>(), proptest::collection::vec((any::<u8>(), any::<u32>()), 0..10)), 0..10)) {
            let key = MasterKey::generate();
            let file = IndexFile {
                version: 1,
                packs: packs.into_iter().map(|(id, size, blobs)| IndexPack {
                    id: PackId(id),
                    size,
                    blobs: blobs.into_iter().map(|(n, off)| entry(n, off)).collect(),
                }).collect(),
            };
            let bytes = file.encode(&key).unwrap();
            prop_assert_eq!(IndexFile::decode(&key, ObjectId::of(&bytes), &bytes).unwrap(), file);
        }
    }
}
