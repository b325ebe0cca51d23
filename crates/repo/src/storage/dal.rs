//! Writes and listings through OpenDAL, and the HTTP client every remote
//! backend shares.

use std::sync::OnceLock;
use std::time::Duration;

use opendal::{Buffer, EntryMode, ErrorKind, Operator};

use super::{MULTIPART_CHUNK, StorageError, TMP_DIR, webdav};

pub(super) async fn dal_put(
    op: &Operator,
    path: &str,
    data: Buffer,
    len: usize,
    only_new: bool,
) -> Result<(), StorageError> {
    let remote = op.info().scheme() != "fs" && op.info().scheme() != "memory";
    if only_new && !op.info().capability().write_with_if_not_exists {
        match op.stat(path).await {
            Ok(_) => {
                return Err(StorageError::AlreadyExists {
                    path: path.to_owned(),
                });
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::from_opendal("stat", path, e)),
        }
    }
    let mut w = op.write_with(path, data);
    if only_new && op.info().capability().write_with_if_not_exists {
        w = w.if_not_exists(true);
    }
    // GCS takes objects of any size tresor writes in one request (up to
    // 5 TiB), and its emulator has no resumable uploads
    if remote && len > MULTIPART_CHUNK && op.info().scheme() != "gcs" {
        w = w.chunk(MULTIPART_CHUNK).concurrent(2);
    }
    w.await
        .map(|_| ())
        .map_err(|e| StorageError::from_opendal("write", path, e))
}

pub(super) async fn webdav_put(
    op: &Operator,
    mover: &webdav::Mover,
    path: &str,
    data: Buffer,
    only_new: bool,
) -> Result<(), StorageError> {
    let mut name = [0u8; 12];
    rand::fill(&mut name[..]);
    let tmp = format!("{TMP_DIR}/{}", hex::encode(name));
    op.write(&tmp, data)
        .await
        .map_err(|e| StorageError::from_opendal("write", path, e))?;
    if let Some((dir, _)) = path.rsplit_once('/') {
        op.create_dir(&format!("{dir}/"))
            .await
            .map_err(|e| StorageError::from_opendal("write", path, e))?;
    }
    let client = http_client().ok_or_else(|| {
        StorageError::from_opendal(
            "write",
            path,
            opendal::Error::new(ErrorKind::Unexpected, "no HTTP client"),
        )
    })?;
    let moved = mover.rename(client, &tmp, path, !only_new).await;
    if !matches!(moved, Ok(true)) {
        let _ = op.delete(&tmp).await;
    }
    match moved {
        Ok(true) => Ok(()),
        Ok(false) => Err(StorageError::AlreadyExists {
            path: path.to_owned(),
        }),
        Err(e) => Err(StorageError::from_opendal("write", path, e)),
    }
}

pub(super) async fn dal_list(
    op: &Operator,
    dir: &str,
    recursive: bool,
) -> Result<Vec<String>, StorageError> {
    let entries = match op.list_with(dir).recursive(recursive).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StorageError::from_opendal("list", dir, e)),
    };
    Ok(entries
        .into_iter()
        .filter(|e| e.metadata().mode() == EntryMode::FILE)
        .filter_map(|e| e.path().strip_prefix(dir).map(str::to_owned))
        .collect())
}

/// The HTTP client every remote backend shares: rustls with ring,
/// connect and read timeouts (a stalled server fails the request, which is
/// then retried), pooled connections.
pub(super) fn http_client() -> Option<&'static reqwest::Client> {
    static CLIENT: OnceLock<Option<reqwest::Client>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(60))
                .pool_idle_timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| tracing::error!(error = %e, "cannot build the HTTP client"))
                .ok()
        })
        .as_ref()
}

/// An OpenDAL HTTP service on the shared client, with a time limit on
/// every request and on every body transfer step.
pub(super) fn with_http(op: Operator) -> Operator {
    let op = op.layer(
        opendal::layers::TimeoutLayer::new()
            .with_timeout(Duration::from_secs(120))
            .with_io_timeout(Duration::from_secs(60)),
    );
    match http_client() {
        Some(c) => op.with_context(opendal::OperationContext::new().with_http_transport(
            opendal::HttpTransporter::new(opendal_http_transport_reqwest::ReqwestTransport::new(
                c.clone(),
            )),
        )),
        None => op,
    }
}
