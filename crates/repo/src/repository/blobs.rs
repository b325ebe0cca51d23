//! Blobs: packed, indexed and deduplicated on save; found, read and
//! verified on load.

use std::collections::{HashMap, HashSet};

use super::{RepoError, Repository, lock, read, write};
use crate::crypto::BlobId;
use crate::index::{BlobLocation, IndexFile, IndexPack, MAX_PACKS_PER_INDEX, write_index_file};
use crate::pack::{self, BlobType, PackError, PackWriter, pack_path};
use crate::storage::StorageError;

/// The outcome of [`Repository::save_blob`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SavedBlob {
    /// The blob id.
    pub id: BlobId,
    /// False when the blob was already stored (deduplicated).
    pub new: bool,
    /// Bytes added to a pack (0 when deduplicated).
    pub stored_bytes: u64,
}

#[derive(Debug, Default)]
pub(super) struct Packer {
    /// Pack being filled.
    pub(super) current: PackWriter,
    /// Blobs being encoded or sitting in the current or an uploading pack.
    pub(super) reserved: HashSet<BlobId>,
    /// Blobs in stored packs that no index file lists yet.
    pub(super) uploaded: HashMap<BlobId, BlobLocation>,
    /// Stored packs waiting for an index file.
    pub(super) finished: Vec<IndexPack>,
}

impl Repository {
    /// Stores a blob unless an equal one is already stored.
    ///
    /// Deduplicates against the index and against blobs pending in this
    /// handle. Compression and encryption run on the blocking pool; when the
    /// current pack reaches the target size, this call also uploads it.
    ///
    /// # Errors
    /// Storage failures while uploading a full pack; the blobs of a failed
    /// pack can be saved again.
    pub async fn save_blob(
        &self,
        blob_type: BlobType,
        data: Vec<u8>,
    ) -> Result<SavedBlob, RepoError> {
        let id = self.key.blob_id(&data);
        {
            let mut p = lock(&self.packer);
            if p.reserved.contains(&id)
                || p.uploaded.contains_key(&id)
                || read(&self.index).contains(&id)
            {
                crate::buffers::give_buffer(data);
                return Ok(SavedBlob {
                    id,
                    new: false,
                    stored_bytes: 0,
                });
            }
            p.reserved.insert(id);
        }
        let key = self.key.clone();
        let level = self.config.zstd_level;
        let encoded = tokio::task::spawn_blocking(move || {
            let encoded = pack::encode_blob(&key, level, blob_type, id, &data);
            crate::buffers::give_buffer(data);
            encoded
        })
        .await
        .map_err(RepoError::from)
        .and_then(|r| r.map_err(RepoError::from));
        let encoded = match encoded {
            Ok(e) => e,
            Err(e) => {
                lock(&self.packer).reserved.remove(&id);
                return Err(e);
            }
        };
        let stored_bytes = encoded.data.len() as u64;
        let full = {
            let mut p = lock(&self.packer);
            if let Err(e) = p.current.add(&encoded) {
                p.reserved.remove(&id);
                return Err(e.into());
            }
            (p.current.size() >= self.pack_size).then(|| std::mem::take(&mut p.current))
        };
        crate::buffers::give_buffer(encoded.data);
        if let Some(writer) = full {
            self.store_pack(writer).await?;
        }
        Ok(SavedBlob {
            id,
            new: true,
            stored_bytes,
        })
    }

    /// Finalises and uploads one pack, then records it as waiting for an
    /// index file.
    async fn store_pack(&self, writer: PackWriter) -> Result<(), RepoError> {
        let ids: Vec<BlobId> = writer.ids().collect();
        let fin = match writer.finish(&self.key) {
            Ok(fin) => fin,
            Err(e) => {
                // The blobs are lost from this pack: let callers save them again.
                let mut p = lock(&self.packer);
                for id in &ids {
                    p.reserved.remove(id);
                }
                return Err(e.into());
            }
        };
        let size = fin.bytes.len() as u64;
        if let Err(e) = self.storage.write(&pack_path(&fin.id), fin.bytes).await {
            let mut p = lock(&self.packer);
            for id in &ids {
                p.reserved.remove(id);
            }
            return Err(e.into());
        }
        tracing::debug!(pack = %fin.id, blobs = ids.len(), size, "stored pack");
        let index_due = {
            let mut p = lock(&self.packer);
            for e in &fin.entries {
                p.reserved.remove(&e.id);
                p.uploaded.insert(e.id, BlobLocation::new(fin.id, e));
            }
            p.finished.push(IndexPack {
                id: fin.id,
                size,
                blobs: fin.entries,
            });
            p.finished.len() >= MAX_PACKS_PER_INDEX
        };
        if index_due {
            self.write_pending_index().await?;
        }
        Ok(())
    }

    /// Writes one index file for the stored packs not yet indexed, and moves
    /// their blobs into the master index.
    async fn write_pending_index(&self) -> Result<(), RepoError> {
        let packs = std::mem::take(&mut lock(&self.packer).finished);
        if packs.is_empty() {
            return Ok(());
        }
        let file = IndexFile {
            packs,
            ..IndexFile::new()
        };
        match write_index_file(&self.storage, &self.key, &file).await {
            Ok(id) => {
                tracing::debug!(index = %id, packs = file.packs.len(), "stored index file");
                let mut p = lock(&self.packer);
                let mut index = write(&self.index);
                for pack in &file.packs {
                    index.add_pack(pack.id, pack.size, &pack.blobs);
                    for e in &pack.blobs {
                        p.uploaded.remove(&e.id);
                    }
                }
                Ok(())
            }
            Err(e) => {
                lock(&self.packer).finished.extend(file.packs);
                Err(e.into())
            }
        }
    }

    /// Writes an index file for the packs already stored, leaving the pack
    /// being filled alone: after a failed backup, so that running it again
    /// reuses what reached the storage (prune removes it if nothing does).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn flush_index(&self) -> Result<(), RepoError> {
        self.write_pending_index().await
    }

    /// Stores the partly filled pack and writes an index file for every pack
    /// stored by completed [`Repository::save_blob`] calls.
    ///
    /// Pack first, index second: a crash in between leaves an unindexed pack
    /// (removed by prune), never an index entry without its pack.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn flush(&self) -> Result<(), RepoError> {
        let writer = {
            let mut p = lock(&self.packer);
            (!p.current.is_empty()).then(|| std::mem::take(&mut p.current))
        };
        if let Some(writer) = writer {
            self.store_pack(writer).await?;
        }
        self.write_pending_index().await
    }

    /// Reads a blob: range read from its pack, decrypt, decompress, and check
    /// that the content matches the id.
    ///
    /// # Errors
    /// [`RepoError::BlobNotFound`] when no index lists it,
    /// [`RepoError::DamagedBlob`] naming the pack when its bytes are wrong.
    pub async fn load_blob(&self, id: &BlobId) -> Result<Vec<u8>, RepoError> {
        let loc = self
            .blob_location(id)
            .ok_or(RepoError::BlobNotFound { id: *id })?;
        let record = match self
            .storage
            .read_range(
                &pack_path(&loc.pack),
                u64::from(loc.offset),
                u64::from(loc.length),
            )
            .await
        {
            Ok(r) => r,
            Err(StorageError::NotFound { .. }) => {
                return Err(RepoError::DamagedBlob {
                    id: *id,
                    pack: loc.pack,
                    source: Box::new(PackError::Malformed("the pack file is missing".into())),
                });
            }
            Err(e) => {
                // A range past the end fails on some backends: name the
                // truncation rather than a generic storage error.
                let end = u64::from(loc.offset) + u64::from(loc.length);
                return match self.storage.size(&pack_path(&loc.pack)).await {
                    Ok(size) if size < end => Err(RepoError::DamagedBlob {
                        id: *id,
                        pack: loc.pack,
                        source: Box::new(PackError::Malformed(format!(
                            "the pack file is truncated: {size} bytes, blob ends at {end}"
                        ))),
                    }),
                    _ => Err(e.into()),
                };
            }
        };
        if record.len() != loc.length as usize {
            return Err(RepoError::DamagedBlob {
                id: *id,
                pack: loc.pack,
                source: Box::new(PackError::Malformed(format!(
                    "the pack file is truncated: read {} of {} bytes",
                    record.len(),
                    loc.length
                ))),
            });
        }
        let key = self.key.clone();
        let entry = loc.entry(*id);
        tokio::task::spawn_blocking(move || {
            let blob = pack::decode_blob(&key, &entry, &record);
            crate::buffers::give_buffer(record);
            blob
        })
        .await?
        .map_err(|source| RepoError::DamagedBlob {
            id: *id,
            pack: loc.pack,
            source: Box::new(source),
        })
    }
}
