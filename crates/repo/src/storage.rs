//! The storage backend: where repository objects live.
//!
//! [`Storage`] is one small interface (read, ranged read, write, write if
//! absent, list, delete, stat) over every backend, so the repository above
//! it never knows where it writes:
//!
//! - a local directory and memory ([`local`]), through OpenDAL;
//! - S3 ([`s3`]), Azure Blob ([`azure`]), Google Cloud Storage ([`gcs`])
//!   and WebDAV ([`webdav`]) through OpenDAL's HTTP services, on one shared
//!   reqwest client (rustls, ring);
//! - SFTP ([`sftp`]) spoken by tresor itself: OpenDAL's SFTP service drives
//!   the system `ssh` in batch mode, which can neither log in with a
//!   password nor check the host against a known-hosts file of our choice.
//!
//! Every call goes through the same [`resilience`]: a bound on requests in
//! flight, bandwidth limits per direction, and retries of transient
//! failures with backoff and jitter inside a bounded time. Objects are
//! written whole and atomically: a local write goes to `<root>/.tmp` and is
//! renamed, SFTP writes a temporary name and renames, object stores commit
//! a `PUT` (or a multipart upload, above [`MULTIPART_CHUNK`]) at once.
//!
//! Two protections against an attacker who holds the backup's
//! credentials ("A repository ransomware cannot erase" in
//! `docs/storage.md`): [`StorageOptions::append_only`] makes every write
//! create-only and refuses deletes before asking the server, for
//! credentials that cannot delete anyway; [`Storage::protect_with`] gives
//! every object written to S3 an Object Lock retention ([`retention`]),
//! and turns deletes into versioned deletes that the server refuses while
//! the retention lasts ([`StorageError::Locked`]).
//!
//! URL forms and credentials per backend: `docs/storage.md`.

mod azure;
mod dal;
mod error;
mod gcs;
mod local;
mod location;
mod resilience;
mod retention;
mod s3;
mod sftp;
mod webdav;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use opendal::{Buffer, EntryMode, Operator};
use tokio::sync::Semaphore;

pub use error::StorageError;
pub use resilience::RetryPolicy;
pub use retention::{LockedObject, MAX_OBJECT_LOCK_DAYS, ObjectLock, ObjectLockMode, Retention};

use dal::{dal_list, dal_put, webdav_put, with_http};
use location::{Location, Scheme};
use resilience::{Health, Throttle};

/// Name of the directory (inside a local repository) used for atomic writes.
pub(crate) const TMP_DIR: &str = ".tmp";

/// Objects larger than this are uploaded in parts of this size (S3
/// multipart, Azure blocks), two parts at a time.
pub const MULTIPART_CHUNK: usize = 8 * 1024 * 1024;

/// Requests in flight at once on a remote backend unless configured.
pub const DEFAULT_CONNECTIONS: usize = 8;

/// Size and modification time of a stored object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Length in bytes.
    pub size: u64,
    /// Last modification time, when the backend reports one.
    pub modified: Option<SystemTime>,
}

/// How a [`Storage`] is opened besides its location.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StorageOptions {
    /// Secrets and settings not written in the location, by kebab-case
    /// name (`access-key-id`, `secret-access-key`, `session-token`,
    /// `account-key`, `sas-token`, `credential-path`, `token`, `user`,
    /// `password`, `key-passphrase`, `region`); each backend documents
    /// which it reads. Redacted in `Debug`.
    pub credentials: BTreeMap<String, String>,
    /// Transient failures are retried by this policy (the default when
    /// `None`).
    pub retry: Option<RetryPolicy>,
    /// Requests in flight at once (default [`DEFAULT_CONNECTIONS`] on a
    /// remote backend, unbounded locally).
    pub connections: Option<usize>,
    /// Upload bandwidth limit, bytes per second.
    pub limit_upload: Option<u64>,
    /// Download bandwidth limit, bytes per second.
    pub limit_download: Option<u64>,
    /// The credentials may add objects but not delete or replace them:
    /// every write is create-only (an object already there must hold the
    /// same bytes), and a delete fails with
    /// [`StorageError::AppendOnly`] before any request.
    pub append_only: bool,
}

impl std::fmt::Debug for StorageOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageOptions")
            .field("credentials", &self.credentials.keys().collect::<Vec<_>>())
            .field("retry", &self.retry)
            .field("connections", &self.connections)
            .field("limit_upload", &self.limit_upload)
            .field("limit_download", &self.limit_download)
            .field("append_only", &self.append_only)
            .finish()
    }
}

impl StorageOptions {
    /// A credential by name, when given and not empty.
    pub(crate) fn credential(&self, name: &str) -> Option<String> {
        self.credentials
            .get(name)
            .filter(|v| !v.is_empty())
            .cloned()
    }
}

/// Where repository objects live.
///
/// Cheap to clone (shared). All paths are relative to the repository root
/// and use `/` as separator.
#[derive(Clone)]
pub struct Storage {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    location: String,
    remote: bool,
    retry: RetryPolicy,
    health: Health,
    requests: Option<Semaphore>,
    upload: Option<Throttle>,
    download: Option<Throttle>,
    append_only: bool,
    /// The signed client of an S3 backend, for Object Lock.
    s3: Option<s3::SignedS3>,
    /// The retention every protected write gets, once the repository
    /// config says so.
    object_lock: OnceLock<ObjectLock>,
}

enum Backend {
    /// An OpenDAL operator (memory and the HTTP services).
    Dal(Operator),
    /// A local directory: OpenDAL, plus the root for create-if-absent.
    Local { op: Operator, root: PathBuf },
    /// WebDAV: OpenDAL, plus `MOVE` for atomic placement.
    WebDav { op: Operator, mover: webdav::Mover },
    /// SFTP, spoken by tresor.
    Sftp(sftp::Sftp),
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("location", &self.inner.location)
            .finish_non_exhaustive()
    }
}

impl Storage {
    fn build(backend: Backend, location: String, remote: bool, options: &StorageOptions) -> Self {
        Storage::build_with(backend, None, location, remote, options)
    }

    fn build_with(
        backend: Backend,
        s3: Option<s3::SignedS3>,
        location: String,
        remote: bool,
        options: &StorageOptions,
    ) -> Self {
        let connections = options
            .connections
            .or(remote.then_some(DEFAULT_CONNECTIONS))
            .filter(|n| *n > 0);
        Storage {
            inner: Arc::new(Inner {
                backend,
                location,
                remote,
                retry: options.retry.unwrap_or_default(),
                health: Health::default(),
                requests: connections.map(Semaphore::new),
                upload: options.limit_upload.map(Throttle::new),
                download: options.limit_download.map(Throttle::new),
                append_only: options.append_only,
                s3,
                object_lock: OnceLock::new(),
            }),
        }
    }

    /// Wraps an already configured OpenDAL operator.
    ///
    /// The caller is responsible for the atomicity of its writes; prefer the
    /// dedicated constructors.
    pub fn from_operator(op: Operator, location: impl Into<String>) -> Self {
        Storage::build(
            Backend::Dal(op),
            location.into(),
            true,
            &StorageOptions::default(),
        )
    }

    /// A repository in a local directory (created when missing).
    ///
    /// # Errors
    /// Fails when the path is not UTF-8 or the directory cannot be created.
    pub fn local(path: impl AsRef<std::path::Path>) -> Result<Self, StorageError> {
        let path = path.as_ref();
        let op = local::operator(path)?;
        let location = path.display().to_string();
        Ok(Storage::build(
            Backend::Local {
                op,
                root: path.to_owned(),
            },
            location,
            false,
            &StorageOptions::default(),
        ))
    }

    /// A repository held in memory, for tests and dry runs.
    pub fn memory() -> Self {
        Storage::build(
            Backend::Dal(local::memory()),
            "memory:".into(),
            false,
            &StorageOptions::default(),
        )
    }

    /// Opens a repository location given as text, with default options.
    ///
    /// # Errors
    /// See [`Storage::open`].
    pub fn from_url(location: &str) -> Result<Self, StorageError> {
        Storage::open(location, &StorageOptions::default())
    }

    /// Opens a repository location given as text.
    ///
    /// Accepted forms: a plain path, `file:///path`, `memory:`,
    /// `s3://bucket/prefix?endpoint=...&region=...`,
    /// `azure://container/prefix?account=...`, `gs://bucket/prefix`,
    /// `webdav[s]://[user@]host[:port]/path` and
    /// `sftp://user@host[:port]/path`; each backend's settings and
    /// credentials are in `docs/storage.md`. Nothing is contacted yet
    /// (except an SFTP server, which is logged in to at once).
    ///
    /// # Errors
    /// [`StorageError::InvalidUrl`] for a malformed or unsupported
    /// location or incomplete credentials.
    pub fn open(location: &str, options: &StorageOptions) -> Result<Self, StorageError> {
        let remote = match location::parse(location)? {
            Location::Memory => {
                return Ok(Storage::build(
                    Backend::Dal(local::memory()),
                    "memory:".into(),
                    false,
                    options,
                ));
            }
            Location::Local(path) => {
                let op = local::operator(path.as_ref())?;
                return Ok(Storage::build(
                    Backend::Local {
                        op,
                        root: PathBuf::from(&path),
                    },
                    path,
                    false,
                    options,
                ));
            }
            Location::Remote(remote) => remote,
        };
        let display = remote.display();
        let mut signed = None;
        let backend = match remote.scheme {
            Scheme::Sftp => Backend::Sftp(sftp::Sftp::new(&remote, options, location)?),
            Scheme::WebDav { .. } => {
                let (op, mover) = webdav::operator(&remote, options, location)?;
                Backend::WebDav {
                    op: with_http(op),
                    mover,
                }
            }
            scheme => {
                let op = match scheme {
                    Scheme::S3 => {
                        let (op, s) = s3::operator(&remote, options, location)?;
                        signed = Some(s);
                        op
                    }
                    Scheme::Azure => azure::operator(&remote, options, location)?,
                    _ => gcs::operator(&remote, options, location)?,
                };
                Backend::Dal(with_http(op))
            }
        };
        Ok(Storage::build_with(backend, signed, display, true, options))
    }

    /// The location this storage was opened from, for messages (without
    /// query parameters).
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// True for a backend reached over the network.
    pub fn is_remote(&self) -> bool {
        self.inner.remote
    }

    /// True when opened append-only ([`StorageOptions::append_only`]).
    pub fn is_append_only(&self) -> bool {
        self.inner.append_only
    }

    /// True for an S3 backend, the one that can hold Object Lock.
    pub fn supports_object_lock(&self) -> bool {
        self.inner.s3.is_some()
    }

    /// From now on, every object written (but lock files) gets `lock`'s
    /// retention, and deletes become versioned deletes that the server
    /// refuses while the retention lasts. Set once; later calls are
    /// ignored.
    ///
    /// # Errors
    /// [`StorageError::ObjectLockUnsupported`] on a backend other than S3.
    pub fn protect_with(&self, lock: ObjectLock) -> Result<(), StorageError> {
        if self.inner.s3.is_none() {
            return Err(StorageError::ObjectLockUnsupported {
                location: self.inner.location.clone(),
            });
        }
        let _ = self.inner.object_lock.set(lock);
        Ok(())
    }

    /// The retention protected writes get, when set.
    pub fn object_lock(&self) -> Option<ObjectLock> {
        self.inner.object_lock.get().copied()
    }

    /// Whether the bucket has Object Lock enabled; `None` on a backend
    /// without Object Lock.
    ///
    /// # Errors
    /// Any backend failure.
    pub async fn bucket_object_lock(&self) -> Result<Option<bool>, StorageError> {
        let Some(s3) = &self.inner.s3 else {
            return Ok(None);
        };
        self.call("stat", "", || s3.bucket_lock_enabled())
            .await
            .map(Some)
    }

    /// An object's Object Lock retention; `None` on a backend without
    /// Object Lock.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] when it does not exist.
    pub async fn retention(&self, path: &str) -> Result<Option<Retention>, StorageError> {
        let Some(s3) = &self.inner.s3 else {
            return Ok(None);
        };
        self.call("stat", path, || s3.head(path))
            .await
            .map(|h| Some(h.retention))
    }

    /// Runs one storage request: a permit from the request bound, then the
    /// attempt, retried while it fails transiently.
    async fn call<T, F, Fut>(
        &self,
        op: &'static str,
        path: &str,
        attempt: F,
    ) -> Result<T, StorageError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StorageError>>,
    {
        // the semaphore is never closed, so a permit always comes
        let _permit = match &self.inner.requests {
            Some(s) => s.acquire().await.ok(),
            None => None,
        };
        self.inner
            .retry
            .run(op, path, &self.inner.health, attempt)
            .await
    }

    /// Reads a whole object.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] when it does not exist.
    pub async fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        let data = self
            .call("read", path, || async {
                match &self.inner.backend {
                    Backend::Dal(op) | Backend::Local { op, .. } | Backend::WebDav { op, .. } => op
                        .read(path)
                        .await
                        .map(|b| b.to_vec())
                        .map_err(|e| StorageError::from_opendal("read", path, e)),
                    Backend::Sftp(s) => s.read(path, None).await,
                }
            })
            .await?;
        if let Some(t) = &self.inner.download {
            t.take(data.len()).await;
        }
        Ok(data)
    }

    /// Reads `length` bytes of an object starting at `offset`.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] when it does not exist.
    pub async fn read_range(
        &self,
        path: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>, StorageError> {
        if length == 0 {
            return Ok(Vec::new());
        }
        let data = self
            .call("read", path, || async {
                match &self.inner.backend {
                    Backend::Local { root, .. } => match usize::try_from(length) {
                        Ok(n) => local::read_range(root, path, offset, n).await,
                        Err(_) => Err(StorageError::from_opendal(
                            "read",
                            path,
                            opendal::Error::new(
                                opendal::ErrorKind::Unexpected,
                                "the range is larger than memory can hold",
                            ),
                        )),
                    },
                    Backend::Dal(op) | Backend::WebDav { op, .. } => op
                        .read_with(path)
                        .range(offset..offset + length)
                        .await
                        .map(|b| b.to_vec())
                        .map_err(|e| StorageError::from_opendal("read", path, e)),
                    Backend::Sftp(s) => s.read(path, Some((offset, length))).await,
                }
            })
            .await?;
        if let Some(t) = &self.inner.download {
            t.take(data.len()).await;
        }
        Ok(data)
    }

    /// Writes a whole object, replacing any previous content atomically.
    ///
    /// # Errors
    /// Any backend failure.
    pub async fn write(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.put(path, data, false, true).await
    }

    /// [`Storage::write`] or [`Storage::write_if_not_exists`] of an object
    /// that must stay deletable (a lock file): never under Object Lock.
    pub(crate) async fn write_unprotected(
        &self,
        path: &str,
        data: Vec<u8>,
        only_new: bool,
    ) -> Result<(), StorageError> {
        self.put(path, data, only_new, false).await
    }

    /// Writes an object only when none exists under that name.
    ///
    /// Atomic on every backend but WebDAV: a conditional `PUT` on S3
    /// (`If-None-Match: *`), Azure and GCS; a hard link on a local
    /// directory; a rename that refuses to replace on SFTP. WebDAV (and
    /// memory) check and then write: good enough for names that are
    /// random or content addressed, which is how the repository uses it.
    ///
    /// # Errors
    /// [`StorageError::AlreadyExists`] when the object exists.
    pub async fn write_if_not_exists(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.put(path, data, true, true).await
    }

    async fn put(
        &self,
        path: &str,
        data: Vec<u8>,
        only_new: bool,
        protect: bool,
    ) -> Result<(), StorageError> {
        if self.inner.append_only && !only_new {
            // every name tresor writes is a content hash or random: an
            // object already there holds these bytes, or is not ours to
            // replace
            let buffer = Buffer::from(data.clone());
            return match Box::pin(self.put(path, data, true, protect)).await {
                Err(StorageError::AlreadyExists { .. }) => {
                    match self.same_content(path, &buffer).await {
                        Ok(()) => Ok(()),
                        Err(StorageError::AlreadyExists { .. }) => Err(StorageError::AppendOnly {
                            op: "replace",
                            path: path.to_owned(),
                        }),
                        Err(e) => Err(e),
                    }
                }
                other => other,
            };
        }
        let lock = if protect {
            self.inner.object_lock.get().copied()
        } else {
            None
        };
        if let Some(t) = &self.inner.upload {
            t.take(data.len()).await;
        }
        let len = data.len();
        let data = Buffer::from(data);
        let mut attempt = 0u32;
        self.call("write", path, || {
            attempt += 1;
            let retried = attempt > 1;
            let data = data.clone();
            async move {
                let written = match (&self.inner.backend, &self.inner.s3, lock) {
                    (Backend::Dal(_), Some(s3), Some(lock)) => {
                        s3.put(path, &data.to_vec(), only_new, &lock).await
                    }
                    (backend, _, _) => {
                        self.put_plain(backend, path, data.clone(), len, only_new)
                            .await
                    }
                };
                match written {
                    // a retried create found its own first attempt, which
                    // committed before the connection broke
                    Err(StorageError::AlreadyExists { .. }) if retried => {
                        self.same_content(path, &data).await
                    }
                    other => other,
                }
            }
        })
        .await
        .map_err(|e| match e {
            StorageError::Full { op, path, .. } => StorageError::Full {
                op,
                path,
                size: len as u64,
            },
            other => other,
        })
    }

    async fn put_plain(
        &self,
        backend: &Backend,
        path: &str,
        data: Buffer,
        len: usize,
        only_new: bool,
    ) -> Result<(), StorageError> {
        match backend {
            Backend::Dal(op) => dal_put(op, path, data, len, only_new).await,
            Backend::Local { root, .. } => local::write(root, path, data.to_vec(), only_new).await,
            Backend::WebDav { op, mover } => webdav_put(op, mover, path, data, only_new).await,
            Backend::Sftp(s) => s.write(path, data.to_vec(), only_new).await,
        }
    }

    /// After a retried create-if-absent was refused: success when the
    /// object holds exactly what we wrote, else the refusal.
    async fn same_content(&self, path: &str, data: &Buffer) -> Result<(), StorageError> {
        let stored = match &self.inner.backend {
            Backend::Dal(op) | Backend::Local { op, .. } | Backend::WebDav { op, .. } => op
                .read(path)
                .await
                .map(|b| b.to_vec())
                .map_err(|e| StorageError::from_opendal("read", path, e))?,
            Backend::Sftp(s) => s.read(path, None).await?,
        };
        if stored == data.to_vec() {
            Ok(())
        } else {
            Err(StorageError::AlreadyExists {
                path: path.to_owned(),
            })
        }
    }

    /// Names of the objects directly inside `dir` (not recursive, no
    /// sub-directories), sorted.
    ///
    /// A missing directory lists as empty.
    ///
    /// # Errors
    /// Any backend failure.
    pub async fn list(&self, dir: &str) -> Result<Vec<String>, StorageError> {
        let mut names = self.list_all(dir, false).await?;
        names.retain(|n| !n.contains('/'));
        Ok(names)
    }

    /// Paths (relative to `dir`) of every object below `dir`, sorted.
    ///
    /// # Errors
    /// Any backend failure.
    pub async fn list_recursive(&self, dir: &str) -> Result<Vec<String>, StorageError> {
        self.list_all(dir, true).await
    }

    async fn list_all(&self, dir: &str, recursive: bool) -> Result<Vec<String>, StorageError> {
        let dir = dir_path(dir);
        let mut names = self
            .call("list", &dir, || async {
                match &self.inner.backend {
                    Backend::Dal(op) | Backend::Local { op, .. } | Backend::WebDav { op, .. } => {
                        dal_list(op, &dir, recursive).await
                    }
                    Backend::Sftp(s) => s.list(&dir, recursive).await,
                }
            })
            .await?;
        names.retain(|n| !n.is_empty() && !n.starts_with(&format!("{TMP_DIR}/")));
        names.sort();
        Ok(names)
    }

    /// Deletes an object; deleting a missing object succeeds.
    ///
    /// Under Object Lock ([`Storage::protect_with`]) the object's current
    /// version is deleted for good (not hidden behind a delete marker),
    /// which the server refuses while its retention lasts.
    ///
    /// # Errors
    /// [`StorageError::AppendOnly`] when opened append-only,
    /// [`StorageError::Locked`] when the retention holds, any backend
    /// failure.
    pub async fn delete(&self, path: &str) -> Result<(), StorageError> {
        if let (Some(s3), Some(_)) = (&self.inner.s3, self.inner.object_lock.get()) {
            self.refuse_append_only(path)?;
            let head = match self.call("stat", path, || s3.head(path)).await {
                Ok(h) => h,
                Err(StorageError::NotFound { .. }) => return Ok(()),
                Err(e) => return Err(e),
            };
            if let Some(version) = head.version {
                return self
                    .call("delete", path, || {
                        s3.delete_version(path, &version, head.retention.until)
                    })
                    .await;
            }
        }
        self.delete_unprotected(path).await
    }

    fn refuse_append_only(&self, path: &str) -> Result<(), StorageError> {
        if self.inner.append_only {
            return Err(StorageError::AppendOnly {
                op: "delete",
                path: path.to_owned(),
            });
        }
        Ok(())
    }

    /// Deletes an object that was written unprotected (a lock file): on a
    /// versioned bucket this leaves a delete marker, which retention
    /// never refuses.
    ///
    /// # Errors
    /// [`StorageError::AppendOnly`] when opened append-only, any backend
    /// failure.
    pub(crate) async fn delete_unprotected(&self, path: &str) -> Result<(), StorageError> {
        self.refuse_append_only(path)?;
        self.delete_raw(path).await
    }

    /// Asks the server to delete, even when opened append-only: the
    /// probe of `check`, which wants to see the server refuse.
    pub(crate) async fn delete_raw(&self, path: &str) -> Result<(), StorageError> {
        let done = self
            .call("delete", path, || async {
                match &self.inner.backend {
                    Backend::Dal(op) | Backend::Local { op, .. } | Backend::WebDav { op, .. } => op
                        .delete(path)
                        .await
                        .map_err(|e| StorageError::from_opendal("delete", path, e)),
                    Backend::Sftp(s) => s.delete(path).await,
                }
            })
            .await;
        match done {
            Err(StorageError::NotFound { .. }) => Ok(()),
            other => other,
        }
    }

    /// True when the object exists.
    ///
    /// # Errors
    /// Any backend failure other than "not found".
    pub async fn exists(&self, path: &str) -> Result<bool, StorageError> {
        match self.stat(path).await {
            Ok(_) => Ok(true),
            Err(StorageError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Size in bytes of an object.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] when it does not exist.
    pub async fn size(&self, path: &str) -> Result<u64, StorageError> {
        Ok(self.stat(path).await?.size)
    }

    /// Size and modification time of an object.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] when it does not exist.
    pub async fn stat(&self, path: &str) -> Result<ObjectMeta, StorageError> {
        self.call("stat", path, || async {
            match &self.inner.backend {
                Backend::Dal(op) | Backend::Local { op, .. } | Backend::WebDav { op, .. } => {
                    let meta = op
                        .stat(path)
                        .await
                        .map_err(|e| StorageError::from_opendal("stat", path, e))?;
                    if meta.mode() == EntryMode::DIR {
                        return Err(StorageError::NotFound {
                            path: path.to_owned(),
                        });
                    }
                    Ok(ObjectMeta {
                        size: meta.content_length(),
                        modified: meta.last_modified().map(SystemTime::from),
                    })
                }
                Backend::Sftp(s) => s.stat(path).await,
            }
        })
        .await
    }
}

fn dir_path(dir: &str) -> String {
    let trimmed = dir.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    }
}

#[cfg(test)]
mod tests;
