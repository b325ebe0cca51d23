//! The error type of tresor's operations, sorted by what the user can do.

use tresor_core::{ErrorKind, SourceError};
use tresor_repo::{IndexError, LockError, PruneError, RepoError, StorageError};

/// Shorthand for results of this crate.
pub type Result<T, E = OpsError> = std::result::Result<T, E>;

/// What went wrong in an operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpsError {
    /// The repository layer failed (storage, password, damaged data).
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// A repository lock is held by someone else.
    #[error(transparent)]
    Lock(#[from] tresor_repo::LockError),
    /// Prune stopped before deleting anything.
    #[error(transparent)]
    Prune(#[from] tresor_repo::PruneError),
    /// An export archive is unusable.
    #[error(transparent)]
    Archive(#[from] tresor_archive::ArchiveError),
    /// An archive failed validation; `problems` lists everything found.
    #[error("the archive is damaged or was altered, nothing was imported: {}", summarize(.problems))]
    DamagedArchive {
        /// Every problem found.
        problems: Vec<String>,
    },
    /// A database failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Something the user named does not exist.
    #[error("{what}")]
    NotFound {
        /// What was not found.
        what: String,
        /// What to do.
        hint: Option<String>,
    },
    /// The request itself is wrong.
    #[error("{what}")]
    InvalidInput {
        /// What is wrong.
        what: String,
        /// What to do.
        hint: Option<String>,
    },
    /// Stored data is damaged.
    #[error("{0}")]
    Corrupt(String),
    /// The operation is not possible with this data or version.
    #[error("{0}")]
    Unsupported(String),
    /// The operation was cancelled; nothing was committed.
    #[error("operation cancelled; nothing was changed")]
    Cancelled,
    /// A bug or an impossible state.
    #[error("internal error: {0}")]
    Internal(String),
}

impl OpsError {
    /// What the user can do about it, if anything.
    pub fn hint(&self) -> Option<String> {
        self.raw_hint()
            .map(|h| h.strip_prefix("try: ").map(str::to_string).unwrap_or(h))
    }

    fn raw_hint(&self) -> Option<String> {
        match self {
            OpsError::Source(e) => e.hint().map(str::to_string),
            _ if self.storage().is_some() => self.storage().and_then(StorageError::hint),
            OpsError::Repo(RepoError::Index(
                tresor_repo::IndexError::Crypto { .. } | tresor_repo::IndexError::Malformed { .. },
            )) => Some(
                "rebuild the index from the packs with `tresor repair index` (no data is lost: \
                 every pack lists its own blobs)"
                    .into(),
            ),
            OpsError::Archive(e) => e.hint().map(str::to_string),
            OpsError::NotFound { hint, .. } | OpsError::InvalidInput { hint, .. } => hint.clone(),
            OpsError::Corrupt(_) => {
                Some("run `tresor check --read-data` to see what is damaged".into())
            }
            OpsError::DamagedArchive { .. } => {
                Some("make the archive again with `tresor export`, or use another copy".into())
            }
            _ => None,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            OpsError::Source(e) => e.is_retryable(),
            _ => self.storage().is_some_and(StorageError::is_retryable),
        }
    }

    /// The storage failure behind this error, also when it happened while
    /// taking a lock or during prune.
    fn storage(&self) -> Option<&StorageError> {
        match self {
            OpsError::Repo(RepoError::Storage(e) | RepoError::Index(IndexError::Storage(e)))
            | OpsError::Lock(LockError::Storage(e))
            | OpsError::Prune(
                PruneError::Storage(e)
                | PruneError::Index(IndexError::Storage(e))
                | PruneError::Repo(RepoError::Storage(e) | RepoError::Index(IndexError::Storage(e))),
            ) => Some(e),
            _ => None,
        }
    }

    /// The class of failure, for exit codes and HTTP statuses.
    pub fn class(&self) -> ErrorClass {
        if let Some(e) = self.storage() {
            // a storage failure is one wherever it happened: a lock file
            // that cannot be listed is not a lock held by someone else
            return if e.is_not_found() {
                ErrorClass::NotFound
            } else if e.is_denied() {
                ErrorClass::Auth
            } else {
                ErrorClass::Repository
            };
        }
        match self {
            OpsError::Repo(r) | OpsError::Prune(PruneError::Repo(r)) => repo_class(r),
            OpsError::Lock(_) => ErrorClass::Conflict,
            OpsError::Prune(
                PruneError::Index(_)
                | PruneError::MissingBlobs { .. }
                | PruneError::DamagedBlob { .. },
            ) => ErrorClass::Corrupt,
            OpsError::Prune(_) => ErrorClass::Internal,
            OpsError::Source(e) => match e.kind() {
                ErrorKind::InvalidUrl => ErrorClass::Usage,
                ErrorKind::NotFound => ErrorClass::NotFound,
                // another session holds what the operation needs: a
                // conflict, as a locked repository is
                ErrorKind::SchemaMismatch | ErrorKind::Unsupported | ErrorKind::Conflict => {
                    ErrorClass::Conflict
                }
                ErrorKind::Cancelled => ErrorClass::Cancelled,
                _ => ErrorClass::Database,
            },
            OpsError::Corrupt(_) | OpsError::DamagedArchive { .. } => ErrorClass::Corrupt,
            OpsError::Archive(e) if e.is_damaged() => ErrorClass::Corrupt,
            OpsError::Archive(tresor_archive::ArchiveError::Io { .. }) => ErrorClass::Repository,
            OpsError::Archive(_) => ErrorClass::Usage,
            OpsError::NotFound { .. } => ErrorClass::NotFound,
            OpsError::InvalidInput { .. } => ErrorClass::Usage,
            OpsError::Unsupported(_) => ErrorClass::Conflict,
            OpsError::Cancelled => ErrorClass::Cancelled,
            OpsError::Internal(_) => ErrorClass::Internal,
        }
    }
}

/// The class of a repository failure other than storage.
fn repo_class(e: &RepoError) -> ErrorClass {
    match e {
        RepoError::WrongPassword | RepoError::AppendOnly { .. } => ErrorClass::Auth,
        RepoError::NotARepository { .. } => ErrorClass::NotFound,
        RepoError::DamagedBlob { .. }
        | RepoError::DamagedObject { .. }
        | RepoError::BlobNotFound { .. }
        | RepoError::Config(
            tresor_repo::ConfigError::Crypto(_) | tresor_repo::ConfigError::Malformed(_),
        )
        | RepoError::Index(
            tresor_repo::IndexError::Crypto { .. } | tresor_repo::IndexError::Malformed { .. },
        ) => ErrorClass::Corrupt,
        _ => ErrorClass::Repository,
    }
}

/// Broad classes of failure; the CLI maps them to exit codes and the server
/// to HTTP statuses, each in exactly one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Wrong arguments or input.
    Usage,
    /// Wrong password.
    Auth,
    /// A named thing does not exist.
    NotFound,
    /// The request conflicts with the state (schema mismatch, lock held).
    Conflict,
    /// Damaged or forged data.
    Corrupt,
    /// The database failed.
    Database,
    /// The repository storage failed.
    Repository,
    /// Cancelled.
    Cancelled,
    /// A bug.
    Internal,
}

/// The first few problems, and how many more there are.
fn summarize(problems: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = problems
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > SHOWN {
        s.push_str(&format!("; and {} more", problems.len() - SHOWN));
    }
    s
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn gave_up() -> StorageError {
        StorageError::GaveUp {
            tries: 5,
            elapsed: Duration::from_secs(3),
            last: Box::new(StorageError::NotFound {
                path: "locks/".into(),
            }),
        }
    }

    /// A lock file that could not be listed in an outage was reported as
    /// a conflict (exit 5, "locked") without the storage hint, and prune's
    /// storage failures as internal errors.
    #[test]
    fn storage_failures_are_storage_failures_wherever_they_happen() {
        for e in [
            OpsError::Repo(RepoError::Storage(gave_up())),
            OpsError::Lock(LockError::Storage(gave_up())),
            OpsError::Prune(PruneError::Storage(gave_up())),
            OpsError::Prune(PruneError::Repo(RepoError::Storage(gave_up()))),
            OpsError::Repo(RepoError::Index(IndexError::Storage(gave_up()))),
            OpsError::Prune(PruneError::from(IndexError::Storage(gave_up()))),
        ] {
            assert_eq!(e.class(), ErrorClass::Repository, "{e:?}");
            assert!(e.is_retryable(), "{e:?}");
            assert!(
                e.hint().is_some_and(|h| h.contains("check the network")),
                "{e:?}"
            );
        }
        let missing = OpsError::Lock(LockError::Storage(StorageError::NotFound {
            path: "x".into(),
        }));
        assert_eq!(missing.class(), ErrorClass::NotFound);
        assert_eq!(
            OpsError::Lock(LockError::NotExclusive).class(),
            ErrorClass::Conflict
        );
        assert_eq!(
            OpsError::Prune(PruneError::Repo(RepoError::WrongPassword)).class(),
            ErrorClass::Auth
        );
    }
}
