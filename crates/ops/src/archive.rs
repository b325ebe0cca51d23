//! Portable export archives: a snapshot out as ZIP or tar.zst
//! (`metadata.json` plus one JSON Lines file per table), and such an
//! archive back in as a snapshot after it is validated.
//!
//! Archive writing and reading are synchronous (they sit on `std::io`), so
//! they run on the blocking pool and meet the async repository through
//! bounded channels: memory stays flat whatever the table sizes.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use serde::Serialize;
use tokio::sync::mpsc;
use tresor_archive::{
    ArchiveError, ArchiveFormat, ArchiveMetadata, ArchiveReader, ArchiveWriter, ReadLimits,
};
use tresor_core::{EncodedBatch, RowBatch, TableFilter, TableName};
use tresor_repo::Repository;

use crate::backup::{BackupOptions, TableOutcome, commit, find_parent, os_user, parent_for};
use crate::chunker::Chunker;
use crate::error::{OpsError, Result};
use crate::restore::{for_each_table, snapshot_schema};
use crate::snapshot::{Snapshot, SourceRef, Totals, Trigger};
use crate::writer::write_table;

/// What an export wrote.
#[derive(Clone, Debug, Serialize)]
pub struct ExportSummary {
    /// The snapshot exported.
    pub snapshot: String,
    /// Tables and their row counts.
    pub tables: Vec<(TableName, u64)>,
}

enum Msg {
    Begin(TableName),
    Rows(RowBatch),
    End,
}

/// Writes `snapshot` (the tables `filter` selects) as an archive into `out`
/// and returns `out` when done.
///
/// # Errors
/// Repository failures, damaged snapshot data (every table's digest is
/// checked on the way), and write errors of `out`.
pub async fn export_snapshot<W: Write + Send + 'static>(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    filter: &TableFilter,
    format: ArchiveFormat,
    out: W,
) -> Result<(W, ExportSummary)> {
    let schema = snapshot_schema(repo, snapshot, filter).await?;
    if schema.tables.is_empty() {
        return Err(OpsError::InvalidInput {
            what: "the table selection matches no table of the snapshot".into(),
            hint: Some("`tresor show SNAPSHOT` lists the tables".into()),
        });
    }
    let mut meta = serde_json::to_value(snapshot).map_err(|e| OpsError::Internal(e.to_string()))?;
    meta["id"] = snapshot.id.clone().into();
    let (tx, mut rx) = mpsc::channel::<Msg>(4);
    let writer_schema = schema.clone();
    let writer = tokio::task::spawn_blocking(move || -> std::result::Result<W, ArchiveError> {
        let mut w = ArchiveWriter::new(out, format, meta, &writer_schema)?;
        while let Some(msg) = rx.blocking_recv() {
            match msg {
                Msg::Begin(name) => w.begin_table(&name)?,
                Msg::Rows(rows) => {
                    for r in &rows {
                        w.push_row(r)?;
                    }
                }
                Msg::End => {
                    w.end_table()?;
                }
            }
        }
        w.finish()
    });
    let tables = std::sync::Mutex::new(Vec::new());
    let streamed = for_each_table(repo, snapshot, &schema, |table, mut rows| {
        let tx = tx.clone();
        let tables = &tables;
        async move {
            let closed = || OpsError::Internal("archive writer stopped".into());
            tx.send(Msg::Begin(table.name.clone()))
                .await
                .map_err(|_| closed())?;
            let mut n = 0u64;
            while let Some(batch) = rows.recv().await {
                n += batch.len() as u64;
                tx.send(Msg::Rows(batch)).await.map_err(|_| closed())?;
            }
            tx.send(Msg::End).await.map_err(|_| closed())?;
            if let Ok(mut t) = tables.lock() {
                t.push((table.name, n));
            }
            Ok(())
        }
    })
    .await;
    drop(tx);
    let written = writer
        .await
        .map_err(|e| OpsError::Internal(format!("archive writer failed: {e}")))?;
    // The writer's own error explains a stopped stream better.
    let out = written?;
    streamed?;
    Ok((
        out,
        ExportSummary {
            snapshot: snapshot.id.clone(),
            tables: tables.into_inner().unwrap_or_default(),
        },
    ))
}

/// What an archive holds, after a full validation pass.
#[derive(Clone, Debug, Serialize)]
pub struct ArchiveInfo {
    /// The archive's metadata.
    pub metadata: ArchiveMetadata,
    /// Tables with row counts.
    pub tables: Vec<(TableName, u64)>,
    /// Every problem found; empty when the archive is sound.
    pub problems: Vec<String>,
}

/// Reads and verifies a whole archive (every row, count and digest).
///
/// # Errors
/// Only when the archive cannot be opened at all; other problems are
/// listed in the result.
pub async fn inspect_archive(path: PathBuf, limits: ReadLimits) -> Result<ArchiveInfo> {
    let info =
        tokio::task::spawn_blocking(move || -> std::result::Result<ArchiveInfo, ArchiveError> {
            let mut reader = ArchiveReader::open_with_limits(&path, limits)?;
            let report = reader.validate();
            Ok(ArchiveInfo {
                metadata: reader.metadata().clone(),
                tables: report
                    .tables
                    .iter()
                    .map(|t| (t.name.clone(), t.rows))
                    .collect(),
                problems: report.problems.iter().map(ToString::to_string).collect(),
            })
        })
        .await
        .map_err(|e| OpsError::Internal(format!("archive reader failed: {e}")))??;
    Ok(info)
}

/// How to label an imported snapshot.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Extra tags.
    pub tags: Vec<String>,
    /// Who imported it.
    pub username: Option<String>,
    /// Limits against oversized or hostile archives.
    pub limits: ReadLimits,
}

/// Validates an archive completely, then stores it as a snapshot
/// (trigger `import`). Nothing becomes visible unless every table checks
/// out.
///
/// # Errors
/// [`OpsError::Archive`] naming the first problem (all of them are in the
/// message) when the archive is damaged or forged.
pub async fn import_archive(
    repo: &Arc<Repository>,
    path: PathBuf,
    options: &ImportOptions,
) -> Result<Snapshot> {
    let info = inspect_archive(path.clone(), options.limits).await?;
    if !info.problems.is_empty() {
        return Err(OpsError::DamagedArchive {
            problems: info.problems,
        });
    }
    let meta = info.metadata;
    let schema = meta.schema.clone();
    let snap = &meta.snapshot;
    let text = |k: &str| snap.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let source = snap.get("source");
    let source_text = |k: &str| {
        source
            .and_then(|s| s.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let source_ref = SourceRef {
        name: source_text("name"),
        url: source_text("url").unwrap_or_else(|| format!("archive:{}", path.display())),
        engine: schema.engine,
        server_version: source_text("server_version").unwrap_or_default(),
        database: source_text("database").unwrap_or_default(),
    };
    let time = text("time")
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
    let backup_options = BackupOptions {
        source_name: source_ref.name.clone(),
        url: source_ref.url.clone(),
        ..BackupOptions::default()
    };
    let parent = find_parent(repo, &backup_options, schema.engine).await?;
    let chunker = Chunker::new(repo.config().chunker);

    let lock = repo.lock(tresor_repo::LockKind::Shared).await?;
    let result = async {
        let mut outcomes = Vec::with_capacity(schema.tables.len());
        for table in &schema.tables {
            let (tx, rx) = mpsc::channel(4);
            let reader_path = path.clone();
            let name = table.name.clone();
            let limits = options.limits;
            let reader =
                tokio::task::spawn_blocking(move || -> std::result::Result<u64, ArchiveError> {
                    let mut archive = ArchiveReader::open_with_limits(&reader_path, limits)?;
                    let mut batch = EncodedBatch::new();
                    let mut scratch = Vec::new();
                    let mut n = 0u64;
                    for row in archive.read_table(&name)? {
                        batch.push(&row?, &mut scratch);
                        n += 1;
                        if batch.is_full()
                            && tx
                                .blocking_send(std::mem::replace(&mut batch, EncodedBatch::new()))
                                .is_err()
                        {
                            return Ok(n);
                        }
                    }
                    if !batch.is_empty() {
                        let _ = tx.blocking_send(batch);
                    }
                    Ok(n)
                });
            let p = parent_for(repo, parent.as_ref(), table, None).await?;
            let written = write_table(repo.clone(), rx, chunker, p, None).await;
            let read = reader
                .await
                .map_err(|e| OpsError::Internal(format!("archive reader failed: {e}")))?;
            read?;
            outcomes.push(TableOutcome {
                table: table.name.clone(),
                written: written?,
            });
        }
        let mut labels = std::collections::BTreeMap::new();
        labels.insert("imported-at".to_string(), Utc::now().to_rfc3339());
        if let Some(id) = text("id") {
            labels.insert("original-id".to_string(), id);
        }
        let mut tags: Vec<String> = snap
            .get("tags")
            .and_then(|t| t.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        tags.extend(options.tags.iter().cloned());
        let manifest = Snapshot {
            version: crate::snapshot::MANIFEST_VERSION,
            id: String::new(),
            time,
            end_time: Utc::now(),
            tresor_version: env!("CARGO_PKG_VERSION").to_string(),
            source: source_ref,
            trigger: Trigger::Import,
            reason: text("reason"),
            tags,
            hostname: gethostname::gethostname().to_string_lossy().into_owned(),
            username: options.username.clone().unwrap_or_else(os_user),
            app_version: text("app_version"),
            parent: parent.as_ref().map(|(p, _)| p.id.clone()),
            consistency: text("consistency")
                .unwrap_or_else(|| "imported from an export archive".into()),
            warnings: Vec::new(),
            partial: snap
                .get("partial")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            schema: tresor_repo::BlobId([0; 32]),
            tables: Vec::new(),
            totals: Totals::default(),
            labels,
            copied_from: None,
        };
        commit(repo, &schema, outcomes, manifest, None).await
    }
    .await;
    if let Err(e) = lock.release().await {
        tracing::warn!(error = %e, "cannot release repository lock");
    }
    result
}

/// The archive format for an output file name (`.tar.zst` -> tar.zst,
/// anything else ZIP).
pub fn format_for(path: &std::path::Path) -> ArchiveFormat {
    ArchiveFormat::from_file_name(&path.to_string_lossy())
}
