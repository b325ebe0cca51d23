//! The repository handle: keys, config, blobs and encrypted objects.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use futures::StreamExt;

use crate::config::{CONFIG_PATH, ChunkerParams, Config, ConfigError};
use crate::crypto::{BlobId, MasterKey, ObjectId, PackId};
use crate::index::{
    BlobLocation, IndexError, IndexFile, IndexPack, MAX_PACKS_PER_INDEX, MasterIndex,
    read_all_index_files, write_index_file,
};
use crate::key::{KEYS_DIR, KdfParams, KeyError, KeyFile, KeyInfo, Password};
use crate::pack::{self, BlobType, DEFAULT_PACK_SIZE, PackError, PackWriter, pack_path};
use crate::storage::{Storage, StorageError};

/// Errors of repository operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    /// Storage failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// There is no repository at this location.
    #[error("no repository at {location} (try: tresor init, or check the repository location)")]
    NotARepository {
        /// The location.
        location: String,
    },
    /// `init` found an existing repository.
    #[error("a repository already exists at {location}")]
    AlreadyInitialized {
        /// The location.
        location: String,
    },
    /// No key file opens with the password.
    #[error("wrong password or no key matches (try: check TRESOR_PASSWORD or --password-file)")]
    WrongPassword,
    /// A key file problem.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A config problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An index problem.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// Encoding a blob failed.
    #[error(transparent)]
    Pack(#[from] PackError),
    /// The blob is in no index.
    #[error("blob {id} is not in the repository index (try: tresor check)")]
    BlobNotFound {
        /// The blob.
        id: BlobId,
    },
    /// The blob was found but its bytes are damaged.
    #[error("blob {id} in pack {pack} is damaged (try: tresor check --read-data)")]
    DamagedBlob {
        /// The blob.
        id: BlobId,
        /// The pack that holds it.
        pack: PackId,
        /// What went wrong.
        #[source]
        source: Box<PackError>,
    },
    /// An encrypted object is damaged.
    #[error("object {path} is damaged or forged (try: tresor check)")]
    DamagedObject {
        /// Path of the object.
        path: String,
    },
    /// The key to remove opened this handle.
    #[error(
        "key {id} is the one in use and cannot be removed (try: open the repository with another password)"
    )]
    KeyInUse {
        /// The key id.
        id: ObjectId,
    },
    /// Removing the key would lock everyone out.
    #[error("refusing to remove the last key (try: tresor key add first)")]
    LastKey,
    /// No key file with this id.
    #[error("key {id} not found (try: tresor key list)")]
    KeyNotFound {
        /// The key id.
        id: ObjectId,
    },
    /// A background task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
}

impl From<tokio::task::JoinError> for RepoError {
    fn from(e: tokio::task::JoinError) -> Self {
        RepoError::Task(e.to_string())
    }
}

/// The zstd level of a new repository unless chosen otherwise: data chunks
/// are compressed column by column, which at level 2 stores fewer bytes
/// than rows at level 3 do, in less time (`BENCHMARKS.md`).
pub const DEFAULT_ZSTD_LEVEL: i32 = 2;

/// Parameters of a new repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitOptions {
    /// Argon2id cost of the first key.
    pub kdf: KdfParams,
    /// Chunker sizes written to the config.
    pub chunker: ChunkerParams,
    /// Zstd level for blobs.
    pub zstd_level: i32,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            kdf: KdfParams::default(),
            chunker: ChunkerParams::default(),
            zstd_level: DEFAULT_ZSTD_LEVEL,
        }
    }
}

/// Directories that hold generic encrypted JSON objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ObjectKind {
    /// Snapshot manifests in `snapshots/`.
    Snapshot,
}

impl ObjectKind {
    /// The directory name.
    pub fn dir(self) -> &'static str {
        match self {
            ObjectKind::Snapshot => "snapshots",
        }
    }
}

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
struct Packer {
    /// Pack being filled.
    current: PackWriter,
    /// Blobs being encoded or sitting in the current or an uploading pack.
    reserved: HashSet<BlobId>,
    /// Blobs in stored packs that no index file lists yet.
    uploaded: HashMap<BlobId, BlobLocation>,
    /// Stored packs waiting for an index file.
    finished: Vec<IndexPack>,
}

/// An open repository.
///
/// Share it as `Arc<Repository>`: every method takes `&self`, and
/// [`Repository::save_blob`] may be called from many tasks at once. Blobs are
/// compressed and encrypted on the tokio blocking pool, so that work runs in
/// parallel across calls. Call [`Repository::flush`] before writing anything
/// that refers to saved blobs (such as a snapshot).
pub struct Repository {
    storage: Storage,
    key: MasterKey,
    key_id: ObjectId,
    config: Config,
    pack_size: usize,
    index: RwLock<MasterIndex>,
    packer: Mutex<Packer>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("location", &self.storage.location())
            .field("key_id", &self.key_id)
            .field("config", &self.config)
            .field("pack_size", &self.pack_size)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(PoisonError::into_inner)
}

impl Repository {
    /// Creates a repository: one key file for `password`, then the config
    /// (written last: it marks the repository as initialised).
    ///
    /// # Errors
    /// [`RepoError::AlreadyInitialized`] when a config exists.
    pub async fn init(
        storage: Storage,
        password: &Password,
        options: InitOptions,
    ) -> Result<Self, RepoError> {
        if storage.exists(CONFIG_PATH).await? {
            return Err(RepoError::AlreadyInitialized {
                location: storage.location().to_owned(),
            });
        }
        let config = Config::new(options.chunker, options.zstd_level)?;
        let key = MasterKey::generate();
        let key_id = write_key(&storage, password, &key, options.kdf).await?;
        match storage
            .write_if_not_exists(CONFIG_PATH, config.encode(&key))
            .await
        {
            Ok(()) => {}
            Err(StorageError::AlreadyExists { .. }) => {
                let _ = storage.delete(&format!("{KEYS_DIR}/{key_id}")).await;
                return Err(RepoError::AlreadyInitialized {
                    location: storage.location().to_owned(),
                });
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Repository::new(
            storage,
            key,
            key_id,
            config,
            MasterIndex::new(),
        ))
    }

    /// Opens a repository with a password and loads its index.
    ///
    /// Tries every key file; each try costs one Argon2id derivation.
    ///
    /// # Errors
    /// [`RepoError::NotARepository`], [`RepoError::WrongPassword`],
    /// [`ConfigError::TooNew`] (through [`RepoError::Config`]) when the
    /// repository needs a newer tresor.
    pub async fn open(storage: Storage, password: &Password) -> Result<Self, RepoError> {
        let (key, key_id, config) = open_key_and_config(&storage, password).await?;
        let files = read_all_index_files(&storage, &key).await?;
        let index = MasterIndex::from_files(files.iter().map(|(_, f)| f));
        Ok(Repository::new(storage, key, key_id, config, index))
    }

    /// Opens a repository whose index may be damaged, without reading the
    /// index (for [`Repository::rebuild_index`]). Nothing else should be
    /// done with it before the index is rebuilt.
    ///
    /// # Errors
    /// As [`Repository::open`], minus the index.
    pub async fn open_without_index(
        storage: Storage,
        password: &Password,
    ) -> Result<Self, RepoError> {
        let (key, key_id, config) = open_key_and_config(&storage, password).await?;
        Ok(Repository::new(
            storage,
            key,
            key_id,
            config,
            MasterIndex::new(),
        ))
    }

    /// Rebuilds the index from the headers of every pack, replacing the
    /// index files (new ones first, then the old ones go); then loads it. Hold the
    /// exclusive lock.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn rebuild_index(&self) -> Result<crate::RepairReport, RepoError> {
        let report = crate::repair::rebuild_index(&self.storage, &self.key).await?;
        self.reload_index().await?;
        Ok(report)
    }

    fn new(
        storage: Storage,
        key: MasterKey,
        key_id: ObjectId,
        config: Config,
        index: MasterIndex,
    ) -> Self {
        Repository {
            storage,
            key,
            key_id,
            config,
            pack_size: DEFAULT_PACK_SIZE,
            index: RwLock::new(index),
            packer: Mutex::new(Packer::default()),
        }
    }

    /// Sets the target pack size (default 16 MiB, clamped to 1 byte..1 GiB);
    /// a pack is stored once its records reach this size.
    #[must_use]
    pub fn with_pack_size(mut self, bytes: usize) -> Self {
        self.pack_size = bytes.clamp(1, 1 << 30);
        self
    }

    /// The storage backend.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The repository config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Id of the key file that opened this handle.
    pub fn key_id(&self) -> ObjectId {
        self.key_id
    }

    pub(crate) fn key(&self) -> &MasterKey {
        &self.key
    }

    pub(crate) fn pack_size(&self) -> usize {
        self.pack_size
    }

    /// True when this handle holds blobs not yet written to an index file.
    pub(crate) fn has_pending(&self) -> bool {
        let p = lock(&self.packer);
        !p.current.is_empty()
            || !p.reserved.is_empty()
            || !p.uploaded.is_empty()
            || !p.finished.is_empty()
    }

    /// The id a blob with this plaintext has in this repository.
    pub fn blob_id(&self, plaintext: &[u8]) -> BlobId {
        self.key.blob_id(plaintext)
    }

    /// True when the blob is stored (indexed, or in a pack of this handle not
    /// yet indexed, or being saved right now).
    pub fn has_blob(&self, id: &BlobId) -> bool {
        let p = lock(&self.packer);
        p.reserved.contains(id) || p.uploaded.contains_key(id) || read(&self.index).contains(id)
    }

    /// Where an indexed blob is stored.
    pub fn blob_location(&self, id: &BlobId) -> Option<BlobLocation> {
        if let Some(loc) = read(&self.index).get(id) {
            return Some(*loc);
        }
        lock(&self.packer).uploaded.get(id).copied()
    }

    /// Number of blobs in the loaded index.
    pub fn indexed_blob_count(&self) -> usize {
        read(&self.index).len()
    }

    /// Re-reads every index file (after another process changed the
    /// repository, or after prune).
    ///
    /// # Errors
    /// Storage failures and damaged index files.
    pub async fn reload_index(&self) -> Result<(), RepoError> {
        let files = read_all_index_files(&self.storage, &self.key).await?;
        let index = MasterIndex::from_files(files.iter().map(|(_, f)| f));
        let _p = lock(&self.packer);
        *write(&self.index) = index;
        Ok(())
    }

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
        tokio::task::spawn_blocking(move || pack::decode_blob(&key, &entry, &record))
            .await?
            .map_err(|source| RepoError::DamagedBlob {
                id: *id,
                pack: loc.pack,
                source: Box::new(source),
            })
    }

    /// Encrypts and stores a JSON (or any) object; returns its id, the BLAKE3
    /// of the stored (encrypted) bytes.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn save_object(&self, kind: ObjectKind, data: &[u8]) -> Result<ObjectId, RepoError> {
        let bytes = self.key.encrypt(data);
        let id = ObjectId::of(&bytes);
        self.storage
            .write(&format!("{}/{id}", kind.dir()), bytes)
            .await?;
        Ok(id)
    }

    /// Reads, verifies and decrypts an object.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] (through [`RepoError::Storage`]) when it does
    /// not exist, [`RepoError::DamagedObject`] when its bytes are wrong.
    pub async fn load_object(&self, kind: ObjectKind, id: &ObjectId) -> Result<Vec<u8>, RepoError> {
        let path = format!("{}/{id}", kind.dir());
        let bytes = self.storage.read(&path).await?;
        if ObjectId::of(&bytes) != *id {
            return Err(RepoError::DamagedObject { path });
        }
        self.key
            .decrypt(&bytes)
            .map_err(|_| RepoError::DamagedObject { path })
    }

    /// Ids of every object of a kind, sorted. Names that are not ids are
    /// skipped with a warning.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn list_objects(&self, kind: ObjectKind) -> Result<Vec<ObjectId>, RepoError> {
        Ok(self
            .storage
            .list(kind.dir())
            .await?
            .into_iter()
            .filter_map(|name| match name.parse() {
                Ok(id) => Some(id),
                Err(_) => {
                    tracing::warn!(
                        dir = kind.dir(),
                        name,
                        "ignoring a file that is not an object id"
                    );
                    None
                }
            })
            .collect())
    }

    /// Deletes an object (no error when it is already gone).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn delete_object(&self, kind: ObjectKind, id: &ObjectId) -> Result<(), RepoError> {
        Ok(self.storage.delete(&format!("{}/{id}", kind.dir())).await?)
    }

    /// Adds a key file for another password; returns its id.
    ///
    /// # Errors
    /// Storage failures, invalid Argon2 parameters.
    pub async fn add_key(
        &self,
        password: &Password,
        kdf: KdfParams,
    ) -> Result<ObjectId, RepoError> {
        write_key(&self.storage, password, &self.key, kdf).await
    }

    /// Every key file, with the one in use marked.
    ///
    /// # Errors
    /// Storage failures and malformed key files.
    pub async fn list_keys(&self) -> Result<Vec<KeyInfo>, RepoError> {
        let mut out = Vec::new();
        for name in self.storage.list(KEYS_DIR).await? {
            let Ok(id) = name.parse::<ObjectId>() else {
                continue;
            };
            let kf = KeyFile::from_json(&self.storage.read(&format!("{KEYS_DIR}/{name}")).await?)?;
            out.push(KeyInfo {
                id,
                created: kf.created,
                hostname: kf.hostname,
                username: kf.username,
                current: id == self.key_id,
            });
        }
        out.sort_by_key(|k| k.created);
        Ok(out)
    }

    /// Removes a key file.
    ///
    /// # Errors
    /// [`RepoError::KeyInUse`] for the key of this handle,
    /// [`RepoError::LastKey`] for the only key, [`RepoError::KeyNotFound`].
    pub async fn remove_key(&self, id: &ObjectId) -> Result<(), RepoError> {
        let keys = self.list_keys().await?;
        if !keys.iter().any(|k| k.id == *id) {
            return Err(RepoError::KeyNotFound { id: *id });
        }
        if *id == self.key_id {
            return Err(RepoError::KeyInUse { id: *id });
        }
        if keys.len() <= 1 {
            return Err(RepoError::LastKey);
        }
        self.storage.delete(&format!("{KEYS_DIR}/{id}")).await?;
        Ok(())
    }
}

async fn write_key(
    storage: &Storage,
    password: &Password,
    key: &MasterKey,
    kdf: KdfParams,
) -> Result<ObjectId, RepoError> {
    let password = password.clone();
    let master = key.clone();
    let kf =
        tokio::task::spawn_blocking(move || KeyFile::create(&password, &master, kdf)).await??;
    let json = kf.to_json();
    let id = ObjectId::of(&json);
    storage.write(&format!("{KEYS_DIR}/{id}"), json).await?;
    Ok(id)
}

/// The master key (the first key file `password` opens) and the config.
async fn open_key_and_config(
    storage: &Storage,
    password: &Password,
) -> Result<(MasterKey, ObjectId, Config), RepoError> {
    let config_bytes = match storage.read(CONFIG_PATH).await {
        Ok(b) => b,
        Err(StorageError::NotFound { .. }) => {
            return Err(RepoError::NotARepository {
                location: storage.location().to_owned(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let (key, key_id) = find_key(storage, password).await?;
    let config = Config::decode(&key, &config_bytes)?;
    Ok((key, key_id, config))
}

async fn find_key(
    storage: &Storage,
    password: &Password,
) -> Result<(MasterKey, ObjectId), RepoError> {
    let names = storage.list(KEYS_DIR).await?;
    let mut files = Vec::new();
    for name in names {
        let Ok(id) = name.parse::<ObjectId>() else {
            continue;
        };
        match storage.read(&format!("{KEYS_DIR}/{name}")).await {
            // a key file is named by the hash of its bytes: one renamed or
            // copied over another is not what it claims to be
            Ok(bytes) if ObjectId::of(&bytes) != id => tracing::warn!(
                key = %id,
                "skipping a key file whose name does not match its content (tresor check names it)"
            ),
            Ok(bytes) => match KeyFile::from_json(&bytes) {
                Ok(kf) => files.push((id, kf)),
                Err(e) => tracing::warn!(key = %id, error = %e, "skipping malformed key file"),
            },
            Err(StorageError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // the cheapest derivations first: a planted key file with the highest
    // cost the bounds allow is tried only after the usual ones
    files.sort_by_key(|(_, kf)| (u64::from(kf.m_cost_kib) * u64::from(kf.t_cost), kf.created));
    // Derivations run on the blocking pool, two at a time (Argon2 is memory hungry).
    let mut attempts = futures::stream::iter(files.into_iter().map(|(id, kf)| {
        let password = password.clone();
        async move {
            let r = tokio::task::spawn_blocking(move || kf.open(&password)).await;
            (id, r)
        }
    }))
    .buffered(2);
    while let Some((id, r)) = attempts.next().await {
        match r? {
            Ok(key) => return Ok((key, id)),
            Err(KeyError::WrongPassword) => {}
            Err(e) => tracing::warn!(key = %id, error = %e, "skipping unusable key file"),
        }
    }
    Err(RepoError::WrongPassword)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> InitOptions {
        InitOptions {
            kdf: KdfParams::insecure_for_tests(),
            ..InitOptions::default()
        }
    }

    #[tokio::test]
    async fn init_twice_fails_and_open_works() {
        let s = Storage::memory();
        let pw = Password::from("pw");
        let repo = Repository::init(s.clone(), &pw, opts()).await.unwrap();
        assert!(matches!(
            Repository::init(s.clone(), &pw, opts()).await,
            Err(RepoError::AlreadyInitialized { .. })
        ));
        let opened = Repository::open(s.clone(), &pw).await.unwrap();
        assert_eq!(opened.config(), repo.config());
        assert_eq!(opened.key_id(), repo.key_id());
    }

    #[tokio::test]
    async fn save_dedups_within_pending_pack() {
        let repo = Repository::init(Storage::memory(), &"pw".into(), opts())
            .await
            .unwrap();
        let a = repo
            .save_blob(BlobType::Data, b"abc".to_vec())
            .await
            .unwrap();
        let b = repo
            .save_blob(BlobType::Data, b"abc".to_vec())
            .await
            .unwrap();
        assert!(a.new && !b.new);
        assert_eq!(a.id, b.id);
        assert!(repo.has_blob(&a.id));
        repo.flush().await.unwrap();
        assert_eq!(repo.load_blob(&a.id).await.unwrap(), b"abc");
        assert_eq!(repo.indexed_blob_count(), 1);
    }

    /// After a failed backup: the stored packs become reusable by another
    /// handle, the half-filled one is not written.
    #[tokio::test]
    async fn flush_index_indexes_stored_packs_only() {
        let s = Storage::memory();
        let repo = Repository::init(s.clone(), &"pw".into(), opts())
            .await
            .unwrap()
            .with_pack_size(1);
        let stored = repo
            .save_blob(BlobType::Data, b"stored".to_vec())
            .await
            .unwrap();
        let repo = repo.with_pack_size(1 << 20);
        let pending = repo
            .save_blob(BlobType::Data, b"pending".to_vec())
            .await
            .unwrap();
        repo.flush_index().await.unwrap();
        let other = Repository::open(s, &"pw".into()).await.unwrap();
        assert!(other.has_blob(&stored.id));
        assert!(!other.has_blob(&pending.id));
        assert_eq!(other.load_blob(&stored.id).await.unwrap(), b"stored");
    }

    /// A key file copied under another name (here: over a name of its
    /// own making) is skipped when opening and named by check.
    #[tokio::test]
    async fn a_key_file_under_a_wrong_name_is_skipped() {
        let s = Storage::memory();
        let repo = Repository::init(s.clone(), &"pw".into(), opts())
            .await
            .unwrap();
        let good = format!("{KEYS_DIR}/{}", repo.key_id());
        let bytes = s.read(&good).await.unwrap();
        let forged = ObjectId::random();
        s.write(&format!("{KEYS_DIR}/{forged}"), bytes)
            .await
            .unwrap();
        s.delete(&good).await.unwrap();
        assert!(matches!(
            Repository::open(s.clone(), &"pw".into()).await,
            Err(RepoError::WrongPassword)
        ));
        let report = crate::check(&repo, false, &HashSet::new()).await;
        assert!(
            report
                .errors
                .iter()
                .any(|e| e.contains("does not match its content")),
            "{:?}",
            report.errors
        );
    }

    #[tokio::test]
    async fn key_management() {
        let s = Storage::memory();
        let repo = Repository::init(s.clone(), &"one".into(), opts())
            .await
            .unwrap();
        assert!(matches!(
            repo.remove_key(&repo.key_id()).await,
            Err(RepoError::KeyInUse { .. })
        ));
        let second = repo
            .add_key(&"two".into(), KdfParams::insecure_for_tests())
            .await
            .unwrap();
        let keys = repo.list_keys().await.unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.iter().filter(|k| k.current).count(), 1);
        let via_two = Repository::open(s.clone(), &"two".into()).await.unwrap();
        assert_eq!(via_two.key_id(), second);
        assert!(matches!(
            via_two.remove_key(&second).await,
            Err(RepoError::KeyInUse { .. })
        ));
        via_two.remove_key(&repo.key_id()).await.unwrap();
        assert!(matches!(
            Repository::open(s.clone(), &"one".into()).await,
            Err(RepoError::WrongPassword)
        ));
        assert!(matches!(
            via_two.remove_key(&ObjectId([0; 32])).await,
            Err(RepoError::KeyNotFound { .. })
        ));
    }

    #[tokio::test]
    async fn objects_roundtrip_and_detect_damage() {
        let s = Storage::memory();
        let repo = Repository::init(s.clone(), &"pw".into(), opts())
            .await
            .unwrap();
        let id = repo
            .save_object(ObjectKind::Snapshot, br#"{"a":1}"#)
            .await
            .unwrap();
        assert_eq!(
            repo.list_objects(ObjectKind::Snapshot).await.unwrap(),
            vec![id]
        );
        assert_eq!(
            repo.load_object(ObjectKind::Snapshot, &id).await.unwrap(),
            br#"{"a":1}"#
        );
        let path = format!("snapshots/{id}");
        let mut bytes = s.read(&path).await.unwrap();
        bytes[5] ^= 1;
        s.write(&path, bytes).await.unwrap();
        assert!(matches!(
            repo.load_object(ObjectKind::Snapshot, &id).await,
            Err(RepoError::DamagedObject { .. })
        ));
        repo.delete_object(ObjectKind::Snapshot, &id).await.unwrap();
        assert!(
            repo.list_objects(ObjectKind::Snapshot)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
