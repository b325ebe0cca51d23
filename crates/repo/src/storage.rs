//! The storage backend: a thin wrapper around an OpenDAL [`Operator`].
//!
//! Every repository object is written whole. On a local directory the fs
//! service is configured with an `atomic_write_dir` (`<root>/.tmp`), so OpenDAL
//! writes a temporary file, syncs it and renames it over the final name: a
//! crash never leaves a partial object visible under its final name. Memory
//! writes are atomic by construction and S3 `PUT` is atomic per object.

use std::path::Path;
use std::time::SystemTime;

use opendal::{EntryMode, ErrorKind, Operator, services};

/// Name of the directory (inside a local repository) used for atomic writes.
pub(crate) const TMP_DIR: &str = ".tmp";

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
        "invalid repository location {location:?}: {reason} (try: a path, file:///path, memory: or s3://bucket/prefix?region=...)"
    )]
    InvalidUrl {
        /// The location as given.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Any other backend failure.
    #[error("storage {op} of {path:?} failed")]
    Backend {
        /// The operation that failed (`read`, `write`, ...).
        op: &'static str,
        /// Path of the object inside the repository.
        path: String,
        /// The backend error.
        #[source]
        source: Box<opendal::Error>,
    },
}

impl StorageError {
    /// True when the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound { .. })
    }

    /// True when retrying the same operation later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StorageError::Backend { source, .. } if source.is_temporary())
    }

    fn from_opendal(op: &'static str, path: &str, source: opendal::Error) -> Self {
        let path = path.to_owned();
        match source.kind() {
            ErrorKind::NotFound => StorageError::NotFound { path },
            ErrorKind::AlreadyExists | ErrorKind::ConditionNotMatch => {
                StorageError::AlreadyExists { path }
            }
            _ => StorageError::Backend {
                op,
                path,
                source: Box::new(source),
            },
        }
    }
}

/// Size and modification time of a stored object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Length in bytes.
    pub size: u64,
    /// Last modification time, when the backend reports one.
    pub modified: Option<SystemTime>,
}

/// Where repository objects live: a local directory, memory or object storage.
///
/// Cheap to clone (the operator is reference counted). All paths are relative
/// to the repository root and use `/` as separator.
#[derive(Clone, Debug)]
pub struct Storage {
    op: Operator,
    location: String,
}

impl Storage {
    /// Wraps an already configured OpenDAL operator.
    ///
    /// The caller is responsible for the atomicity of its writes; prefer the
    /// dedicated constructors.
    pub fn from_operator(op: Operator, location: impl Into<String>) -> Self {
        Storage {
            op,
            location: location.into(),
        }
    }

    /// A repository in a local directory (created when missing).
    ///
    /// # Errors
    /// Fails when the path is not UTF-8 or the directory cannot be created.
    pub fn local(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        let path = path.as_ref();
        let location = path.display().to_string();
        let root = path.to_str().ok_or_else(|| StorageError::InvalidUrl {
            location: location.clone(),
            reason: "the path is not valid UTF-8".into(),
        })?;
        let tmp = path.join(TMP_DIR);
        let tmp = tmp.to_str().ok_or_else(|| StorageError::InvalidUrl {
            location: location.clone(),
            reason: "the path is not valid UTF-8".into(),
        })?;
        let builder = services::Fs::default().root(root).atomic_write_dir(tmp);
        let op = Operator::new(builder).map_err(|e| StorageError::from_opendal("open", root, e))?;
        Ok(Storage { op, location })
    }

    /// A repository held in memory, for tests and dry runs.
    pub fn memory() -> Self {
        // Building the memory service cannot fail in practice; fall back to the
        // error path of `Operator::new` only to avoid a panic.
        let op = match Operator::new(services::Memory::default()) {
            Ok(op) => op,
            Err(e) => unreachable_memory(&e),
        };
        Storage {
            op,
            location: "memory:".into(),
        }
    }

    /// Opens a repository location given as text.
    ///
    /// Accepted forms: a plain path, `file:///path`, `memory:` and
    /// `s3://bucket/prefix?endpoint=https://...&region=eu-west-1`. S3
    /// credentials come from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`
    /// (and `AWS_SESSION_TOKEN` when set).
    ///
    /// # Errors
    /// [`StorageError::InvalidUrl`] for a malformed or unsupported location.
    pub fn from_url(location: &str) -> Result<Self, StorageError> {
        let invalid = |reason: &str| StorageError::InvalidUrl {
            location: location.to_owned(),
            reason: reason.to_owned(),
        };
        if location.is_empty() {
            return Err(invalid("the location is empty"));
        }
        if location == "memory:" || location == "memory://" {
            return Ok(Storage::memory());
        }
        if let Some(rest) = location.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(invalid("a file URL needs an absolute path (file:///path)"));
            }
            return Storage::local(rest);
        }
        if let Some(rest) = location.strip_prefix("s3://") {
            return Storage::s3(location, rest);
        }
        if let Some((scheme, _)) = location.split_once("://") {
            return Err(invalid(&format!("unsupported scheme {scheme:?}")));
        }
        Storage::local(location)
    }

    fn s3(location: &str, rest: &str) -> Result<Self, StorageError> {
        let invalid = |reason: String| StorageError::InvalidUrl {
            location: location.to_owned(),
            reason,
        };
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let (bucket, prefix) = match path.split_once('/') {
            Some((b, p)) => (b, p.trim_matches('/')),
            None => (path, ""),
        };
        if bucket.is_empty() {
            return Err(invalid("the bucket name is missing".into()));
        }
        let mut builder = services::S3::default()
            .bucket(bucket)
            .root(&format!("/{prefix}"));
        let mut region_set = false;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(invalid(format!("query parameter {pair:?} has no value")));
            };
            if value.is_empty() {
                return Err(invalid(format!("query parameter {key:?} is empty")));
            }
            builder = match key {
                "endpoint" => builder.endpoint(value),
                "region" => {
                    region_set = true;
                    builder.region(value)
                }
                "virtual_host_style" if value == "true" => builder.enable_virtual_host_style(),
                "virtual_host_style" => builder,
                other => return Err(invalid(format!("unknown query parameter {other:?}"))),
            };
        }
        if !region_set {
            let region = std::env::var("AWS_REGION")
                .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|_| "us-east-1".to_owned());
            builder = builder.region(&region);
        }
        if let Ok(id) = std::env::var("AWS_ACCESS_KEY_ID") {
            builder = builder.access_key_id(&id);
        }
        if let Ok(secret) = std::env::var("AWS_SECRET_ACCESS_KEY") {
            builder = builder.secret_access_key(&secret);
        }
        if let Ok(token) = std::env::var("AWS_SESSION_TOKEN") {
            builder = builder.session_token(&token);
        }
        let op = Operator::new(builder).map_err(|e| invalid(e.to_string()))?;
        Ok(Storage {
            op,
            location: format!("s3://{bucket}/{prefix}"),
        })
    }

    /// The location this storage was opened from, for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The underlying OpenDAL operator.
    pub fn operator(&self) -> &Operator {
        &self.op
    }

    /// Reads a whole object.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] when it does not exist.
    pub async fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        self.op
            .read(path)
            .await
            .map(|b| b.to_vec())
            .map_err(|e| StorageError::from_opendal("read", path, e))
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
        self.op
            .read_with(path)
            .range(offset..offset + length)
            .await
            .map(|b| b.to_vec())
            .map_err(|e| StorageError::from_opendal("read", path, e))
    }

    /// Writes a whole object, replacing any previous content atomically.
    ///
    /// # Errors
    /// Any backend failure.
    pub async fn write(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.op
            .write(path, data)
            .await
            .map(|_| ())
            .map_err(|e| StorageError::from_opendal("write", path, e))
    }

    /// Writes an object only when none exists under that name.
    ///
    /// On backends without a conditional write, and on a local directory
    /// (where the atomic rename replaces a target), this is a check followed
    /// by a write: good enough for names that are random or content
    /// addressed, which is how the repository uses it.
    ///
    /// # Errors
    /// [`StorageError::AlreadyExists`] when the object exists.
    pub async fn write_if_not_exists(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        if self.op.info().capability().write_with_if_not_exists {
            return self
                .op
                .write_with(path, data)
                .if_not_exists(true)
                .await
                .map(|_| ())
                .map_err(|e| StorageError::from_opendal("write", path, e));
        }
        if self.exists(path).await? {
            return Err(StorageError::AlreadyExists {
                path: path.to_owned(),
            });
        }
        self.write(path, data).await
    }

    /// Names of the objects directly inside `dir` (not recursive, no
    /// sub-directories), sorted.
    ///
    /// A missing directory lists as empty.
    ///
    /// # Errors
    /// Any backend failure.
    pub async fn list(&self, dir: &str) -> Result<Vec<String>, StorageError> {
        let dir = dir_path(dir);
        let entries = match self.op.list(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StorageError::from_opendal("list", &dir, e)),
        };
        let mut names: Vec<String> = entries
            .into_iter()
            .filter(|e| e.metadata().mode() == EntryMode::FILE)
            .filter_map(|e| e.path().strip_prefix(dir.as_str()).map(str::to_owned))
            .filter(|name| !name.is_empty() && !name.contains('/'))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Paths (relative to `dir`) of every object below `dir`, sorted.
    ///
    /// # Errors
    /// Any backend failure.
    pub async fn list_recursive(&self, dir: &str) -> Result<Vec<String>, StorageError> {
        let dir = dir_path(dir);
        let entries = match self.op.list_with(&dir).recursive(true).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StorageError::from_opendal("list", &dir, e)),
        };
        let mut names: Vec<String> = entries
            .into_iter()
            .filter(|e| e.metadata().mode() == EntryMode::FILE)
            .filter_map(|e| e.path().strip_prefix(dir.as_str()).map(str::to_owned))
            .filter(|name| !name.is_empty())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Deletes an object; deleting a missing object succeeds.
    ///
    /// # Errors
    /// Any backend failure.
    pub async fn delete(&self, path: &str) -> Result<(), StorageError> {
        match self.op.delete(path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::from_opendal("delete", path, e)),
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
        let meta = self
            .op
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
}

fn dir_path(dir: &str) -> String {
    let trimmed = dir.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    }
}

#[cold]
fn unreachable_memory(e: &opendal::Error) -> Operator {
    // The memory builder has no options that can be wrong; if OpenDAL ever
    // changes that, fail loudly instead of silently misbehaving.
    panic!("opendal memory service failed to build: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_roundtrip_and_list() {
        let s = Storage::memory();
        s.write("keys/a", b"1".to_vec()).await.unwrap();
        s.write("keys/b", b"22".to_vec()).await.unwrap();
        s.write("data/ab/abcd", b"333".to_vec()).await.unwrap();
        assert_eq!(s.list("keys").await.unwrap(), vec!["a", "b"]);
        assert_eq!(s.list_recursive("data").await.unwrap(), vec!["ab/abcd"]);
        assert!(s.list("data").await.unwrap().is_empty());
        assert_eq!(s.size("keys/b").await.unwrap(), 2);
        assert_eq!(s.read_range("data/ab/abcd", 1, 2).await.unwrap(), b"33");
        assert!(s.read("nope").await.unwrap_err().is_not_found());
        assert!(!s.exists("nope").await.unwrap());
        assert!(s.list("missing").await.unwrap().is_empty());
        s.delete("keys/a").await.unwrap();
        s.delete("keys/a").await.unwrap();
        assert_eq!(s.list("keys").await.unwrap(), vec!["b"]);
    }

    #[tokio::test]
    async fn write_if_not_exists_refuses_existing() {
        let dir = tempfile::tempdir().unwrap();
        for s in [Storage::memory(), Storage::local(dir.path()).unwrap()] {
            s.write_if_not_exists("locks/x", b"1".to_vec())
                .await
                .unwrap();
            let err = s
                .write_if_not_exists("locks/x", b"2".to_vec())
                .await
                .unwrap_err();
            assert!(matches!(err, StorageError::AlreadyExists { .. }), "{err}");
            assert_eq!(s.read("locks/x").await.unwrap(), b"1");
        }
    }

    #[tokio::test]
    async fn local_write_leaves_no_temp_files_in_listing() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::local(dir.path()).unwrap();
        s.write("index/abc", vec![7; 1000]).await.unwrap();
        s.write("index/abc", vec![8; 10]).await.unwrap();
        assert_eq!(s.list("index").await.unwrap(), vec!["abc"]);
        assert_eq!(s.read("index/abc").await.unwrap(), vec![8; 10]);
        assert!(
            s.list_recursive("")
                .await
                .unwrap()
                .iter()
                .all(|p| p == "index/abc" || p.starts_with(".tmp/"))
        );
    }

    #[test]
    fn from_url_forms() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Storage::from_url("memory:").unwrap().location(), "memory:");
        let url = format!("file://{}", dir.path().display());
        assert!(Storage::from_url(&url).is_ok());
        assert!(Storage::from_url(dir.path().to_str().unwrap()).is_ok());
        for bad in [
            "",
            "ftp://x/y",
            "file://relative",
            "s3://",
            "s3://b/p?region",
            "s3://b?x=1",
        ] {
            let err = Storage::from_url(bad).unwrap_err();
            assert!(
                matches!(err, StorageError::InvalidUrl { .. }),
                "{bad}: {err}"
            );
        }
        let s3 = Storage::from_url(
            "s3://bucket/some/prefix?endpoint=http://127.0.0.1:9000&region=eu-west-1",
        )
        .unwrap();
        assert_eq!(s3.location(), "s3://bucket/some/prefix");
    }
}
