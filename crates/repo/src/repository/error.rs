//! What repository operations fail with.

use crate::config::ConfigError;
use crate::crypto::{BlobId, ObjectId, PackId};
use crate::index::IndexError;
use crate::key::KeyError;
use crate::pack::PackError;
use crate::storage::StorageError;

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
    /// The operation deletes, and the storage was opened append-only.
    #[error(
        "{what} deletes from the repository, and it is opened append-only (try: run forget and prune with the full credentials, e.g. `tresor --config admin.toml {what}`)"
    )]
    AppendOnly {
        /// The operation refused (`prune`, `forget`, ...).
        what: &'static str,
    },
    /// Object Lock was asked for, and the bucket cannot give it.
    #[error(
        "the bucket of {location} does not have object lock enabled (try: create the bucket with object lock enabled, e.g. `aws s3api create-bucket --object-lock-enabled-for-bucket`)"
    )]
    ObjectLockDisabled {
        /// The repository location.
        location: String,
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
