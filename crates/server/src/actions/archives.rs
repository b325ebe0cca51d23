//! Export archives: a snapshot streamed out as ZIP or tar.zst (never built
//! in memory), and an uploaded archive validated and previewed, then
//! imported as a snapshot.

use std::io::Write;
use std::sync::Arc;

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tresor_archive::{ArchiveFormat, ReadLimits};

use crate::app::App;
use crate::error::{ApiError, ApiResult, Kind};
use crate::jobs::{JobSpec, tables_filter};
use crate::uploads::Upload;

/// Longest row an uploaded archive may hold.
const UPLOAD_MAX_LINE: usize = 64 << 20;
/// Most bytes an uploaded archive may inflate to.
const UPLOAD_MAX_INFLATED: u64 = 64 << 30;

/// Sends what the archive writer produces to the HTTP body in chunks.
/// The writer runs on the blocking pool, so a full channel simply blocks
/// it: a slow client slows the export instead of filling memory.
struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
            self.tx
                .blocking_send(Ok(chunk))
                .map_err(|_| std::io::Error::other("the download was aborted"))?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Which archive to download.
#[derive(Debug, Default, Deserialize)]
pub struct DownloadQuery {
    /// `zip` (default) or `tar.zst`.
    pub format: Option<String>,
    /// Only these tables (comma-separated globs).
    pub tables: Option<String>,
    /// Only the tables of this group of the snapshot's source.
    pub group: Option<String>,
}

/// The archive format named in a query.
pub fn parse_format(s: Option<&str>) -> ApiResult<ArchiveFormat> {
    match s {
        None | Some("" | "zip") => Ok(ArchiveFormat::Zip),
        Some("tar.zst" | "tar-zst" | "tarzst") => Ok(ArchiveFormat::TarZst),
        Some(other) => Err(ApiError::bad_request(format!(
            "unknown archive format {other:?}; use zip or tar.zst"
        ))),
    }
}

/// Streams a snapshot as an export archive; shared by the API and pages.
pub async fn stream_archive(
    app: &Arc<App>,
    who: &str,
    id: &str,
    format: ArchiveFormat,
    tables: &[String],
    group: Option<&str>,
) -> ApiResult<Response> {
    let snap = app.find_snapshot(id).await?;
    let mut tables = tables.to_vec();
    if let Some(g) = group {
        let owner = app
            .owners
            .owner_of(snap.source.name.as_deref(), &snap.source.url);
        tables.extend(app.config.group_tables(g, [owner])?);
    }
    let filter = tables_filter(&tables)?;
    if !snap.tables.iter().any(|t| filter.matches(&t.name)) {
        return Err(ApiError::bad_request(
            "the table selection matches no table of the snapshot",
        ));
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let writer = ChannelWriter {
        tx: tx.clone(),
        buf: Vec::with_capacity(CHUNK),
    };
    let repo = app.repo.clone();
    let export_snap = snap.clone();
    tokio::spawn(async move {
        match tresor_ops::export_snapshot(&repo, &export_snap, &filter, format, writer).await {
            Ok((w, _)) => {
                if !w.buf.is_empty() {
                    let _ = tx.send(Ok(Bytes::from(w.buf))).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "export for a download failed");
                let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let name = tresor_ops::archive_file_name(
        &app.config.export.file_name,
        &snap,
        &app.tz_of(None),
        format.extension(),
    );
    app.store
        .audit(who, "snapshot.download", Some(&snap.id), Some(&name));
    let content_type = match format {
        ArchiveFormat::Zip => "application/zip",
        ArchiveFormat::TarZst => "application/zstd",
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

pub(crate) fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        Kind::TooLarge,
        format!("the upload is larger than the limit of {limit} bytes"),
    )
    .hint(
        "raise [server] upload-limit in tresor.toml, or import with `tresor import` on the server",
    )
}

/// Stores an upload stream in a temporary file, validates it completely,
/// and returns its preview; shared by the API and pages.
/// [`receive_upload`] of a multipart form's file field.
///
/// # Errors
/// As [`receive_upload`].
pub async fn receive_field(
    app: &Arc<App>,
    c: &crate::auth::Caller,
    field: axum::extract::multipart::Field<'_>,
) -> ApiResult<Value> {
    let name = field.file_name().map(str::to_string);
    let stream = futures::StreamExt::map(field, |r| r.map_err(|e| e.to_string()));
    receive_upload(
        app,
        c.user.id,
        &c.actor(),
        name.as_deref(),
        Box::pin(stream),
    )
    .await
}

pub async fn receive_upload(
    app: &Arc<App>,
    user_id: i64,
    who: &str,
    file_name: Option<&str>,
    mut body: impl futures::Stream<Item = Result<Bytes, String>> + Unpin,
) -> ApiResult<Value> {
    let limit = app.upload_limit;
    let suffix = match file_name {
        Some(n) if n.ends_with(".tar.zst") => ".tar.zst",
        _ => ".zip",
    };
    let temp = tempfile::Builder::new()
        .prefix("tresor-upload-")
        .suffix(suffix)
        .tempfile()
        .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))?;
    let (std_file, path) = temp.into_parts();
    let mut file = tokio::fs::File::from_std(std_file);
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            if e.contains("length limit") {
                too_large(limit)
            } else {
                ApiError::bad_request(format!("the upload was interrupted: {e}"))
            }
        })?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(limit));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))?;
    }
    file.flush()
        .await
        .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))?;
    drop(file);
    if size == 0 {
        return Err(ApiError::bad_request("the upload is empty")
            .hint("send the archive file as the request body"));
    }
    // absolute bounds besides the ratio: a small upload holding one huge
    // line must not cost the server that line's size in memory
    let limits = ReadLimits {
        max_inflation_ratio: Some(1000),
        max_inflated_bytes: Some(UPLOAD_MAX_INFLATED),
        max_line_bytes: UPLOAD_MAX_LINE,
    };
    let info = tresor_ops::inspect_archive(path.to_path_buf(), limits).await?;
    if !info.problems.is_empty() {
        app.store.audit(
            who,
            "archive.rejected",
            file_name,
            Some(&info.problems.join("; ")),
        );
        return Err(ApiError::new(
            Kind::Ops(tresor_ops::ErrorClass::Corrupt),
            format!(
                "the archive is damaged or was altered: {}",
                info.problems
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
        .hint("export it again from the original snapshot"));
    }
    let id = crate::auth::random_token(12);
    let snap = &info.metadata.snapshot;
    // the application version it was taken by, and the one its source
    // runs now (when the archive is of a configured source)
    let app_version = snap.get("app_version").and_then(Value::as_str);
    let running = snap
        .get("source")
        .and_then(|s| s.get("name"))
        .and_then(Value::as_str)
        .and_then(|n| app.config.source(n))
        .and_then(|s| s.app_version.as_deref());
    let preview = json!({
        "upload": id,
        "file_name": file_name,
        "size": size,
        "valid": true,
        "format": info.metadata.format,
        "format_version": info.metadata.version,
        "created_at": info.metadata.created_at,
        "tresor_version": info.metadata.tresor_version,
        "snapshot": {
            "id": snap.get("id"),
            "time": snap.get("time"),
            "source": snap.get("source").and_then(|s| s.get("name").or_else(|| s.get("url"))),
            "engine": snap.get("source").and_then(|s| s.get("engine")),
            "app_version": app_version,
        },
        "app_version": {
            "snapshot": app_version,
            "target": running,
            "differs": matches!((app_version, running), (Some(a), Some(b)) if a != b),
        },
        "tables": info.tables.iter().map(|(n, r)| json!({"name": n.to_string(), "rows": r})).collect::<Vec<_>>(),
        "rows": info.tables.iter().map(|(_, r)| r).sum::<u64>(),
        "import": format!("/api/v1/archives/{id}/import"),
    });
    app.uploads.insert(
        id.clone(),
        Upload {
            user_id,
            file: path,
            info: preview.clone(),
        },
    );
    app.store.audit(
        who,
        "archive.upload",
        file_name,
        Some(&format!("upload {id}, {size} bytes")),
    );
    Ok(preview)
}

/// The import of upload `id`, which must be `c`'s.
fn import_spec(app: &App, c: &crate::auth::Caller, id: &str) -> ApiResult<JobSpec> {
    match app.uploads.owner(id) {
        None => Err(ApiError::not_found(format!("no upload {id:?}"))),
        Some(o) if o != c.user.id => Err(ApiError::forbidden("import someone else's upload")),
        Some(_) => Ok(JobSpec::Import {
            upload: id.to_string(),
        }),
    }
}

/// Starts importing an upload.
pub fn start_import(app: &Arc<App>, c: &crate::auth::Caller, id: &str) -> ApiResult<i64> {
    let spec = import_spec(app, c, id)?;
    crate::actions::jobs::start(app, &c.actor(), spec)
}

/// Imports an upload as a snapshot and waits for it; returns the
/// snapshot's id.
///
/// # Errors
/// The import job failed (its error), or the upload is not `c`'s.
pub async fn import_and_wait(
    app: &Arc<App>,
    c: &crate::auth::Caller,
    id: &str,
) -> ApiResult<String> {
    let spec = import_spec(app, c, id)?;
    let (job, done) = app
        .jobs
        .submit(crate::jobs::Submit::manual(spec, c.actor()))?;
    app.store.audit(
        &c.actor(),
        "import.start",
        None,
        Some(&format!("job {job}")),
    );
    let outcome = done
        .await
        .map_err(|_| ApiError::internal("the import job ended without an outcome"))?;
    if outcome.state != "succeeded" {
        return Err(ApiError::new(
            Kind::Ops(tresor_ops::ErrorClass::Corrupt),
            format!(
                "the archive could not be imported ({}): {}",
                outcome.state,
                outcome.error.unwrap_or_default()
            ),
        )
        .hint(format!("see GET /api/v1/jobs/{job}")));
    }
    let row = crate::actions::jobs::find_job(app, job)?;
    row.figures
        .as_ref()
        .and_then(|f| f.get("snapshot"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ApiError::internal("the import job recorded no snapshot"))
}
