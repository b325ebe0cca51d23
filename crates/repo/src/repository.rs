//! The repository handle: keys, config, blobs and encrypted objects.

mod blobs;
mod error;
mod keys;

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::config::{CONFIG_PATH, ChunkerParams, Config};
use crate::crypto::{BlobId, CryptoError, MasterKey, ObjectId};
use crate::index::{BlobLocation, MasterIndex, read_all_index_files};
use crate::key::{KEYS_DIR, KdfParams, Password};
use crate::pack::DEFAULT_PACK_SIZE;
use crate::storage::{ObjectLock, Storage, StorageError};

use blobs::Packer;
pub use blobs::SavedBlob;
pub use error::RepoError;
use keys::{open_key_and_config, write_key};

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
    /// S3 Object Lock retention for every object (the bucket must have
    /// Object Lock enabled).
    pub object_lock: Option<ObjectLock>,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            kdf: KdfParams::default(),
            chunker: ChunkerParams::default(),
            zstd_level: DEFAULT_ZSTD_LEVEL,
            object_lock: None,
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

/// An object read by [`Repository::load_named_object`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedObject {
    /// The decrypted (authenticated) content.
    pub data: Vec<u8>,
    /// Whether the object's name is the BLAKE3 of its stored bytes, as for
    /// every object [`Repository::save_object`] wrote. When it is not, only
    /// the content can vouch for the name: the caller must check it.
    pub content_named: bool,
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
    /// With [`InitOptions::object_lock`], every object (the key and the
    /// config included) is written under that retention.
    ///
    /// # Errors
    /// [`RepoError::AlreadyInitialized`] when a config exists;
    /// [`RepoError::ObjectLockDisabled`] (or
    /// [`StorageError::ObjectLockUnsupported`]) when Object Lock is asked
    /// of a bucket (or backend) without it.
    pub async fn init(
        storage: Storage,
        password: &Password,
        options: InitOptions,
    ) -> Result<Self, RepoError> {
        Repository::init_with_key(storage, password, options, MasterKey::generate()).await
    }

    /// Creates a repository that names blobs as `ids_of` does: it takes
    /// `ids_of`'s id key and chunker sizes (ignoring `options.chunker`),
    /// with an encryption key and password of its own. Equal content then
    /// has equal blob ids in both, so copying snapshots from `ids_of` (see
    /// [`Repository::same_blob_ids`]) sends only the blobs the new
    /// repository lacks, decided from the indexes alone. Whoever opens one
    /// cannot read the other.
    ///
    /// # Errors
    /// As [`Repository::init`].
    pub async fn init_with_ids_of(
        storage: Storage,
        password: &Password,
        options: InitOptions,
        ids_of: &Repository,
    ) -> Result<Self, RepoError> {
        let options = InitOptions {
            chunker: ids_of.config.chunker,
            ..options
        };
        Repository::init_with_key(storage, password, options, ids_of.key.with_same_ids()).await
    }

    async fn init_with_key(
        storage: Storage,
        password: &Password,
        options: InitOptions,
        key: MasterKey,
    ) -> Result<Self, RepoError> {
        if storage.exists(CONFIG_PATH).await? {
            return Err(RepoError::AlreadyInitialized {
                location: storage.location().to_owned(),
            });
        }
        let config = Config::new(options.chunker, options.zstd_level)?
            .with_object_lock(options.object_lock)?;
        if let Some(lock) = options.object_lock {
            if !storage.supports_object_lock() {
                return Err(StorageError::ObjectLockUnsupported {
                    location: storage.location().to_owned(),
                }
                .into());
            }
            if storage.bucket_object_lock().await? != Some(true) {
                return Err(RepoError::ObjectLockDisabled {
                    location: storage.location().to_owned(),
                });
            }
            storage.protect_with(lock)?;
        }
        let key_id = write_key(&storage, password, &key, options.kdf).await?;
        match storage
            .write_if_not_exists(CONFIG_PATH, config.encode(&key))
            .await
        {
            Ok(()) => {}
            Err(StorageError::AlreadyExists { .. }) => {
                // (refused when append-only or retained: a stray key file
                // that opens nothing else is harmless)
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
        self.refuse_if_append_only("repair index")?;
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
        if let Some(lock) = config.object_lock
            && let Err(e) = storage.protect_with(lock)
        {
            // a copy of the repository elsewhere stays readable; `check`
            // reports the missing protection
            tracing::warn!(error = %e, "the repository asks for object lock, which this storage cannot give");
        }
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

    /// Fails at once when the storage is append-only: for operations that
    /// delete (`what` names them), so that nothing is half-done.
    ///
    /// # Errors
    /// [`RepoError::AppendOnly`].
    pub fn refuse_if_append_only(&self, what: &'static str) -> Result<(), RepoError> {
        if self.storage.is_append_only() {
            return Err(RepoError::AppendOnly { what });
        }
        Ok(())
    }

    /// The repository config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Id of the key file that opened this handle.
    pub fn key_id(&self) -> ObjectId {
        self.key_id
    }

    /// Seals a small secret that a program keeps outside the repository
    /// (the server's one-time code keys, in its state file) under a key
    /// derived from the master key for `context`: only someone who can
    /// open this repository can read it back.
    ///
    /// # Errors
    /// Never for secrets that fit in memory.
    pub fn seal_secret(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        crate::crypto::seal(&self.key.subkey(context), plaintext)
    }

    /// Opens what [`Repository::seal_secret`] sealed for `context`.
    ///
    /// # Errors
    /// [`CryptoError::Damaged`] when the data was changed, or sealed by
    /// another repository or for another context.
    pub fn open_secret(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        crate::crypto::open(&self.key.subkey(context), sealed)
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

    /// Whether `other` gives equal content the same blob id as this
    /// repository (one was made with [`Repository::init_with_ids_of`] from
    /// the other, or they are the same repository).
    pub fn same_blob_ids(&self, other: &Repository) -> bool {
        const PROBE: &[u8] = b"tresor: do these repositories name blobs alike?";
        self.blob_id(PROBE) == other.blob_id(PROBE)
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

    /// Encrypts and stores an object under a name the caller chose (a
    /// copied snapshot keeps the id it has elsewhere), unless an object of
    /// that name exists. Returns whether it was written. The caller must
    /// make the object bind its own name (see [`NamedObject`]).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn save_object_as(
        &self,
        kind: ObjectKind,
        id: &ObjectId,
        data: &[u8],
    ) -> Result<bool, RepoError> {
        let bytes = self.key.encrypt(data);
        match self
            .storage
            .write_if_not_exists(&format!("{}/{id}", kind.dir()), bytes)
            .await
        {
            Ok(()) => Ok(true),
            Err(StorageError::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads and decrypts an object that may be stored under a name other
    /// than the hash of its bytes ([`Repository::save_object_as`]); says
    /// which, so the caller can check the name against what the
    /// authenticated content says of itself.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] (through [`RepoError::Storage`]) when it does
    /// not exist, [`RepoError::DamagedObject`] when it does not decrypt.
    pub async fn load_named_object(
        &self,
        kind: ObjectKind,
        id: &ObjectId,
    ) -> Result<NamedObject, RepoError> {
        let path = format!("{}/{id}", kind.dir());
        let bytes = self.storage.read(&path).await?;
        let content_named = ObjectId::of(&bytes) == *id;
        let data = self
            .key
            .decrypt(&bytes)
            .map_err(|_| RepoError::DamagedObject { path })?;
        Ok(NamedObject {
            data,
            content_named,
        })
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
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::pack::BlobType;

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
    async fn secrets_open_only_in_their_repository_and_context() {
        let s = Storage::memory();
        let pw = Password::from("pw");
        let repo = Repository::init(s.clone(), &pw, opts()).await.unwrap();
        let sealed = repo.seal_secret("totp", b"hunter2").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        let reopened = Repository::open(s, &pw).await.unwrap();
        assert_eq!(reopened.open_secret("totp", &sealed).unwrap(), b"hunter2");
        assert!(repo.open_secret("other", &sealed).is_err());
        let other = Repository::init(Storage::memory(), &pw, opts())
            .await
            .unwrap();
        assert!(other.open_secret("totp", &sealed).is_err());
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
    async fn a_repository_made_with_the_ids_of_another_names_blobs_alike() {
        let a = Repository::init(Storage::memory(), &"a".into(), opts())
            .await
            .unwrap();
        let b = Repository::init_with_ids_of(Storage::memory(), &"b".into(), opts(), &a)
            .await
            .unwrap();
        let c = Repository::init(Storage::memory(), &"c".into(), opts())
            .await
            .unwrap();
        assert!(a.same_blob_ids(&b) && b.same_blob_ids(&a));
        assert!(!a.same_blob_ids(&c));
        assert_eq!(b.config().chunker, a.config().chunker);
        assert_ne!(b.config().id, a.config().id);
        let in_a = a.save_blob(BlobType::Data, b"rows".to_vec()).await.unwrap();
        let in_b = b.save_blob(BlobType::Data, b"rows".to_vec()).await.unwrap();
        assert_eq!(in_a.id, in_b.id);
        // b's key cannot read a's objects
        let id = a.save_object(ObjectKind::Snapshot, b"{}").await.unwrap();
        let bytes = a.storage().read(&format!("snapshots/{id}")).await.unwrap();
        b.storage()
            .write(&format!("snapshots/{id}"), bytes)
            .await
            .unwrap();
        assert!(matches!(
            b.load_object(ObjectKind::Snapshot, &id).await,
            Err(RepoError::DamagedObject { .. })
        ));
    }

    #[tokio::test]
    async fn objects_saved_under_a_chosen_name() {
        let repo = Repository::init(Storage::memory(), &"pw".into(), opts())
            .await
            .unwrap();
        let hashed = repo
            .save_object(ObjectKind::Snapshot, b"hashed")
            .await
            .unwrap();
        let named = ObjectId::random();
        assert!(
            repo.save_object_as(ObjectKind::Snapshot, &named, b"named")
                .await
                .unwrap()
        );
        assert!(
            !repo
                .save_object_as(ObjectKind::Snapshot, &named, b"again")
                .await
                .unwrap(),
            "an existing object is left alone"
        );
        let loaded = repo
            .load_named_object(ObjectKind::Snapshot, &named)
            .await
            .unwrap();
        assert_eq!(loaded.data, b"named");
        assert!(!loaded.content_named);
        let loaded = repo
            .load_named_object(ObjectKind::Snapshot, &hashed)
            .await
            .unwrap();
        assert_eq!(loaded.data, b"hashed");
        assert!(loaded.content_named);
        // the strict reader refuses a name that is not the hash
        assert!(matches!(
            repo.load_object(ObjectKind::Snapshot, &named).await,
            Err(RepoError::DamagedObject { .. })
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
