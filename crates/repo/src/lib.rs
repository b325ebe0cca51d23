//! The blob layer of a tresor repository.
//!
//! A repository is a directory (local, memory, S3, Azure Blob, Google Cloud
//! Storage, WebDAV or SFTP) of encrypted objects:
//!
//! - [`Storage`] reads and writes whole objects atomically, retrying
//!   transient failures ([`RetryPolicy`]) within bounds on requests and
//!   bandwidth ([`StorageOptions`]).
//! - [`MasterKey`] encrypts everything (XChaCha20-Poly1305) and names blobs
//!   ([`BlobId`], keyed BLAKE3 of the plaintext); [`KeyFile`]s wrap it under
//!   passwords with Argon2id.
//! - [`Repository`] stores blobs: dedup against the [`MasterIndex`] -> zstd ->
//!   encrypt -> pack files of ~16 MiB -> index files. It also stores generic
//!   encrypted objects (snapshot manifests) and manages keys.
//! - [`LockGuard`] (shared or exclusive locks), [`check()`], [`prune()`] and the
//!   pure retention logic of [`forget`](apply_policy) complete the layer.
//!
//! The on-disk format is described in `docs/format.md`.
//!
//! ```
//! # async fn demo() -> Result<(), tresor_repo::RepoError> {
//! use tresor_repo::{BlobType, InitOptions, KdfParams, Password, Repository, Storage};
//!
//! let options = InitOptions { kdf: KdfParams::insecure_for_tests(), ..InitOptions::default() };
//! let repo = Repository::init(Storage::memory(), &Password::from("secret"), options).await?;
//! let saved = repo.save_blob(BlobType::Data, b"some rows".to_vec()).await?;
//! repo.flush().await?;
//! assert_eq!(repo.load_blob(&saved.id).await?, b"some rows");
//! # Ok(())
//! # }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

#![forbid(unsafe_code)]

mod buffers;
mod check;
mod config;
mod crypto;
mod forget;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod index;
mod key;
mod lock;
mod pack;
mod prune;
mod repair;
mod repository;
mod storage;

pub use buffers::{give_buffer, take_buffer};
pub use check::{CheckReport, DamagedPack, check};
pub use config::{ChunkerParams, Config, ConfigError, FORMAT_VERSION};
pub use crypto::{BlobId, CryptoError, MasterKey, ObjectId, PackId};
pub use forget::{
    ForgetGroup, ForgetResult, KeepReason, RetentionPolicy, SnapshotInfo, apply_policy,
    apply_policy_in,
};
pub use index::{BlobLocation, IndexError, IndexFile, IndexPack, MasterIndex};
pub use key::{KdfParams, KeyError, KeyFile, KeyInfo, MAX_KDF, Password};
pub use lock::{LockError, LockGuard, LockInfo, LockKind, LockOptions};
pub use pack::{BlobType, DEFAULT_PACK_SIZE, PackEntry, PackError};
pub use prune::{PruneError, PruneOptions, PruneReport, prune};
pub use repair::RepairReport;
pub use repository::{
    DEFAULT_ZSTD_LEVEL, InitOptions, NamedObject, ObjectKind, RepoError, Repository, SavedBlob,
};
pub use storage::{
    DEFAULT_CONNECTIONS, LockedObject, MAX_OBJECT_LOCK_DAYS, MULTIPART_CHUNK, ObjectLock,
    ObjectLockMode, ObjectMeta, Retention, RetryPolicy, Storage, StorageError, StorageOptions,
};
