//! What can go wrong with storage, sorted for retries, messages and hints.

use std::time::Duration;

use opendal::ErrorKind;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The object does not exist.
    #[error("object {path} not found")]
    NotFound {
        /// Path of the object inside the repository.
        path: String,
    },
    /// A conditional write found the object already present.
    #[error("object {path} already exists")]
    AlreadyExists {
        /// Path of the object inside the repository.
        path: String,
    },
    /// The repository location could not be understood.
    #[error(
        "invalid repository location {location:?}: {reason} (try: a path, file:///path, memory:, s3://bucket/prefix, azure://container/prefix, gs://bucket/prefix, webdav://host/path or sftp://user@host/path; see docs/storage.md)"
    )]
    InvalidUrl {
        /// The location as given.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Any other backend failure.
    #[error("storage {op} of {path:?} failed: {}", first_line(source))]
    Backend {
        /// The operation that failed (`read`, `write`, ...).
        op: &'static str,
        /// Path of the object inside the repository.
        path: String,
        /// The backend error.
        #[source]
        source: Box<opendal::Error>,
        /// What the user should check, for failures that retrying cannot fix.
        hint: Option<&'static str>,
    },
    /// The storage has no room left (a full disk or quota): retrying
    /// cannot help until space is freed.
    #[error("the repository's storage is full: no space left to {op} {path:?} ({} more needed for this object)", human_bytes(*size))]
    Full {
        /// The operation that failed.
        op: &'static str,
        /// Path of the object inside the repository.
        path: String,
        /// Bytes of the object that did not fit.
        size: u64,
    },
    /// The storage was opened append-only, and this would delete or
    /// replace an object.
    #[error(
        "cannot {op} {path:?}: the repository is opened append-only (try: run forget and prune with the full credentials, e.g. `tresor --config admin.toml prune`)"
    )]
    AppendOnly {
        /// What was refused (`delete`, `replace`).
        op: &'static str,
        /// Path of the object inside the repository.
        path: String,
    },
    /// The object is under S3 Object Lock retention: the server refuses
    /// to delete it before the date.
    #[error("object {path} is under object lock{}", until.map(|u| format!(" until {}", u.format("%Y-%m-%d %H:%M:%S UTC"))).unwrap_or_default())]
    Locked {
        /// Path of the object inside the repository.
        path: String,
        /// When its retention ends, when the server said.
        until: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Object Lock was asked of a backend that has none.
    #[error(
        "{location} cannot hold object lock: only S3 buckets can (try: an s3:// repository on a bucket created with object lock enabled)"
    )]
    ObjectLockUnsupported {
        /// The repository location.
        location: String,
    },
    /// A transient failure that outlasted the retries.
    #[error("gave up after {tries} attempts in {}s: {last}", elapsed.as_secs())]
    GaveUp {
        /// Attempts made.
        tries: u32,
        /// Time spent.
        elapsed: Duration,
        /// The last failure.
        last: Box<StorageError>,
    },
    /// A transient failure while an earlier request of the same command
    /// had already given up: tried once, not retried, so that a command
    /// fails within about one retry time rather than one per request.
    #[error("the storage is still failing (an earlier request gave up after retrying): {last}")]
    StillDown {
        /// The failure.
        last: Box<StorageError>,
    },
}

fn human_bytes(n: u64) -> String {
    const MIB: u64 = 1 << 20;
    if n >= MIB {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

/// Whether a backend failure says the storage is out of space: a full
/// disk or quota on a local directory or SFTP server (`ENOSPC`,
/// `EDQUOT`), or HTTP 507 Insufficient Storage from a WebDAV server.
fn is_out_of_space(e: &opendal::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            )
        {
            return true;
        }
        cause = c.source();
    }
    let text = e.to_string();
    [
        "No space left on device",
        "Disk quota exceeded",
        "Insufficient Storage",
        " 507 ",
    ]
    .iter()
    .any(|w| text.contains(w))
}

fn first_line(e: &opendal::Error) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.chars().take(300).collect()
}

impl StorageError {
    /// True when the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound { .. })
    }

    /// True when retrying the same operation later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            StorageError::Backend { source, .. } => {
                source.is_temporary() || source.kind() == ErrorKind::RateLimited
            }
            StorageError::GaveUp { .. } | StorageError::StillDown { .. } => true,
            _ => false,
        }
    }

    /// True when the object is under object lock retention.
    pub fn is_locked(&self) -> bool {
        matches!(self, StorageError::Locked { .. })
    }

    /// True when the storage has no space left.
    pub fn is_full(&self) -> bool {
        match self {
            StorageError::Full { .. } => true,
            StorageError::GaveUp { last, .. } | StorageError::StillDown { last } => last.is_full(),
            _ => false,
        }
    }

    /// True when the backend refused the credentials or the permission.
    pub fn is_denied(&self) -> bool {
        match self {
            StorageError::Backend { source, .. } => source.kind() == ErrorKind::PermissionDenied,
            StorageError::GaveUp { last, .. } | StorageError::StillDown { last } => {
                last.is_denied()
            }
            StorageError::AppendOnly { .. } => true,
            _ => false,
        }
    }

    /// What the user should check, when the failure says.
    pub fn hint(&self) -> Option<String> {
        match self {
            StorageError::Backend { hint, .. } => hint.map(str::to_owned),
            StorageError::Full { .. } => Some(
                "free space where the repository lives (or raise its quota), then run the command again: `tresor prune` removes what a failed backup wrote, `tresor forget` then `prune` older snapshots"
                    .into(),
            ),
            StorageError::GaveUp { last, .. } | StorageError::StillDown { last }
                if last.is_full() =>
            {
                last.hint()
            }
            StorageError::GaveUp { .. } | StorageError::StillDown { .. } => Some(
                "the storage kept failing: check the network and the server's health, then run the command again (what was written and indexed is kept and reused)"
                    .into(),
            ),
            _ => None,
        }
    }

    /// The whole error with its backend detail, for logs.
    pub fn detail(&self) -> String {
        match self {
            StorageError::Backend { source, .. } => format!("{self} ({source})"),
            _ => self.to_string(),
        }
    }

    pub(super) fn still_down(self) -> Self {
        StorageError::StillDown {
            last: Box::new(self),
        }
    }

    pub(super) fn gave_up(self, tries: u32, elapsed: Duration) -> Self {
        if tries <= 1 {
            return self;
        }
        StorageError::GaveUp {
            tries,
            elapsed,
            last: Box::new(self),
        }
    }

    pub(crate) fn from_opendal(op: &'static str, path: &str, source: opendal::Error) -> Self {
        let path = path.to_owned();
        match source.kind() {
            ErrorKind::NotFound => StorageError::NotFound { path },
            ErrorKind::AlreadyExists | ErrorKind::ConditionNotMatch => {
                StorageError::AlreadyExists { path }
            }
            _ if is_out_of_space(&source) => StorageError::Full { op, path, size: 0 },
            _ => {
                let hint = hint_for(&source);
                StorageError::Backend {
                    op,
                    path,
                    source: Box::new(source),
                    hint,
                }
            }
        }
    }
}

/// The hint for a permanent failure, from its kind and the server's words.
fn hint_for(e: &opendal::Error) -> Option<&'static str> {
    let text = e.to_string();
    let says = |w: &str| text.contains(w);
    if says("NoSuchBucket") || says("ContainerNotFound") || says("bucket does not exist") {
        return Some(
            "the bucket (or container) does not exist: check its name, or create it first (tresor does not create buckets)",
        );
    }
    if says("AuthorizationHeaderMalformed")
        || says("PermanentRedirect")
        || says("IncorrectEndpoint")
        || says("region")
    {
        return Some("the bucket lives in another region: check ?region= (or AWS_REGION)");
    }
    match e.kind() {
        ErrorKind::PermissionDenied => Some(
            "the server refused the credentials or the permission: check the access key and secret (or key file, password, token), and that they may read and write this bucket and path; an append-only credential cannot delete (run forget and prune with the full one)",
        ),
        ErrorKind::ConfigInvalid => {
            Some("check the repository location and its settings (docs/storage.md)")
        }
        _ if e.is_temporary() => None,
        ErrorKind::Unexpected if says("dns error") || says("Connection refused") => {
            Some("the server cannot be reached: check the endpoint and that the server is running")
        }
        _ => None,
    }
}
