//! A local directory, and memory.
//!
//! Lists, deletes and whole-object reads go through OpenDAL's fs service.
//! Ranged reads (a blob out of a pack, the bulk of every restore) are done
//! here, straight into a buffer from the pool that blob decoding gives back
//! to, instead of a fresh allocation and a copy per blob. Writes are
//! done here: the data goes to a temporary file in `<root>/.tmp`, is
//! synced, then renamed over the final name (so a crash never leaves a
//! partial object visible) or, for a create-if-absent, hard-linked to it
//! (which fails when that name exists, so two writers can never both
//! succeed). A write that fails (a full disk) removes its temporary file
//! on the way out; what a killed process left there goes at the next
//! prune.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use opendal::{Operator, services};

use super::location::invalid;
use super::{StorageError, TMP_DIR};

pub(crate) fn operator(path: &Path) -> Result<Operator, StorageError> {
    let location = path.display().to_string();
    let root = path
        .to_str()
        .ok_or_else(|| invalid(&location, "the path is not valid UTF-8"))?;
    let tmp = path.join(TMP_DIR);
    let tmp = tmp
        .to_str()
        .ok_or_else(|| invalid(&location, "the path is not valid UTF-8"))?;
    let builder = services::Fs::default().root(root).atomic_write_dir(tmp);
    Operator::new(builder).map_err(|e| StorageError::from_opendal("open", root, e))
}

pub(crate) fn memory() -> Operator {
    // The memory service has no settings that can be wrong.
    match Operator::new(services::Memory::default()) {
        Ok(op) => op,
        Err(e) => unreachable_memory(&e),
    }
}

#[cold]
fn unreachable_memory(e: &opendal::Error) -> Operator {
    // If OpenDAL ever changes that, fail loudly instead of silently
    // misbehaving.
    panic!("opendal memory service failed to build: {e}")
}

/// Writes `root/path` holding `data` atomically; with `only_new`, only
/// when it does not exist yet.
pub(crate) async fn write(
    root: &Path,
    path: &str,
    data: Vec<u8>,
    only_new: bool,
) -> Result<(), StorageError> {
    let root = root.to_owned();
    let rel = path.to_owned();
    let joined =
        tokio::task::spawn_blocking(move || write_file(&root, &rel, &data, only_new)).await;
    match joined {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(StorageError::AlreadyExists {
                path: path.to_owned(),
            })
        }
        Ok(Err(e)) => Err(io_error(path, e)),
        Err(e) => Err(io_error(path, std::io::Error::other(e.to_string()))),
    }
}

fn write_file(root: &Path, rel: &str, data: &[u8], only_new: bool) -> std::io::Result<()> {
    let target = root.join(rel);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp_dir = root.join(TMP_DIR);
    std::fs::create_dir_all(&tmp_dir)?;
    let mut name = [0u8; 12];
    rand::fill(&mut name[..]);
    let tmp = tmp_dir.join(format!("new-{}", hex::encode(name)));
    let written = (|| {
        // owner-only: key files hold the wrapped master key, and nothing
        // in a repository is for other local users to read
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        if only_new {
            std::fs::hard_link(&tmp, &target)
        } else {
            std::fs::rename(&tmp, &target)
        }
    })();
    if only_new || written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Reads `length` bytes at `offset` of `root/path`.
pub(crate) async fn read_range(
    root: &Path,
    path: &str,
    offset: u64,
    length: usize,
) -> Result<Vec<u8>, StorageError> {
    let file = root.join(path);
    let joined = tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::FileExt as _;
        let f = std::fs::File::open(&file)?;
        // a damaged index can state any range: check it against the file
        // before making room for it
        let size = f.metadata()?.len();
        if offset.saturating_add(length as u64) > size {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the range ends past the end of the file ({size} bytes)"),
            ));
        }
        let mut buf = crate::buffers::take_buffer(length);
        buf.resize(length, 0);
        match f.read_exact_at(&mut buf, offset) {
            Ok(()) => Ok(buf),
            Err(e) => {
                crate::buffers::give_buffer(buf);
                Err(e)
            }
        }
    })
    .await;
    match joined {
        Ok(Ok(buf)) => Ok(buf),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Err(StorageError::NotFound {
            path: path.to_owned(),
        }),
        Ok(Err(e)) => Err(io_error_in("read", path, e)),
        Err(e) => Err(io_error_in(
            "read",
            path,
            std::io::Error::other(e.to_string()),
        )),
    }
}

fn io_error(path: &str, e: std::io::Error) -> StorageError {
    io_error_in("write", path, e)
}

fn io_error_in(op: &'static str, path: &str, e: std::io::Error) -> StorageError {
    let kind = match e.kind() {
        std::io::ErrorKind::PermissionDenied => opendal::ErrorKind::PermissionDenied,
        _ => opendal::ErrorKind::Unexpected,
    };
    StorageError::from_opendal(
        op,
        path,
        opendal::Error::new(kind, e.to_string()).set_source(e),
    )
}
