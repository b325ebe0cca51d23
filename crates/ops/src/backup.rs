//! Backup: source rows -> row codec -> chunker -> repository -> manifest.
//!
//! Each table is read by the source on the current task while a spawned
//! task encodes and cuts its rows into chunks; chunks are compressed and
//! encrypted on the blocking pool by the repository. Up to `jobs` tables
//! move at once. The manifest is written last, after a flush, so a crash
//! at any point leaves no visible snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use futures::StreamExt;
use tokio::sync::{Semaphore, mpsc};
use tresor_core::codec::{ChunkBuilder, TableDigest};
use tresor_core::{DatabaseSchema, ReadOptions, RowReceiver, Source, TableSchema, redact_url};
use tresor_repo::{BlobId, BlobType, LockKind, Repository};

use crate::chunker::Chunker;
use crate::error::{OpsError, Result};
use crate::progress::{Progress, forward_counting};
use crate::snapshot::{
    Run, Snapshot, SourceRef, TableData, TableEntry, Totals, Trigger, save_snapshot, save_tree,
};

/// Chunks being compressed and uploaded per table at once.
const CHUNKS_IN_FLIGHT: usize = 4;

/// What to back up and how to label it.
#[derive(Clone, Debug, Default)]
pub struct BackupOptions {
    /// The source's name in `tresor.toml`, if it has one.
    pub source_name: Option<String>,
    /// The source URL (stored without its password).
    pub url: String,
    /// Tables and parallelism.
    pub read: ReadOptions,
    /// What started it.
    pub trigger: Trigger,
    /// Why, in the user's words.
    pub reason: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// The application's version, if known.
    pub app_version: Option<String>,
    /// Who started it; the OS user when `None`.
    pub username: Option<String>,
    /// Extra labels stored in the manifest.
    pub labels: BTreeMap<String, String>,
}

/// Takes a snapshot of `source` into `repo`.
///
/// # Errors
/// Source failures, a filter naming a table that does not exist, and
/// repository failures. Nothing becomes visible unless it succeeds.
pub async fn backup(
    repo: &Arc<Repository>,
    source: &dyn Source,
    options: &BackupOptions,
    progress: &dyn Progress,
) -> Result<Snapshot> {
    let lock = repo.lock(LockKind::Shared).await?;
    let result = run(repo, source, options, progress).await;
    if let Err(e) = lock.release().await {
        tracing::warn!(error = %e, "cannot release repository lock");
    }
    result
}

async fn run(
    repo: &Arc<Repository>,
    source: &dyn Source,
    options: &BackupOptions,
    progress: &dyn Progress,
) -> Result<Snapshot> {
    let time = Utc::now();
    progress.step("opening a consistent snapshot of the source");
    let snap = source.open(&options.read).await?;
    let schema = snap.schema().clone();
    let info = snap.info().clone();
    let names: Vec<_> = schema.tables.iter().map(|t| t.name.clone()).collect();
    let missing = options.read.filter.unmatched_literals(names.iter());
    if !missing.is_empty() {
        let _ = snap.close().await;
        return Err(OpsError::NotFound {
            what: format!("no table named {} in the source", missing.join(", ")),
            hint: Some(format!(
                "the source has: {}",
                names
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        });
    }

    let chunker = Chunker::new(repo.config().chunker);
    let jobs = options.read.jobs.max(1);
    let snap_ref = &*snap;
    let outcomes: Vec<Result<TableOutcome>> = futures::stream::iter(schema.tables.iter())
        .map(|table| backup_table(repo, snap_ref, table, chunker, progress))
        .buffered(jobs)
        .collect()
        .await;
    let close = snap.close().await;
    let outcomes: Vec<TableOutcome> = outcomes.into_iter().collect::<Result<_>>()?;
    close?;

    repo.flush().await?;
    let mut tables = Vec::with_capacity(outcomes.len());
    let mut totals = Totals::default();
    let (schema_id, schema_added) = save_tree(repo, &schema).await?;
    totals.added_bytes += schema_added;
    for o in outcomes {
        let (data, data_added) = save_tree(repo, &TableData { runs: o.runs }).await?;
        totals.tables += 1;
        totals.rows += o.rows;
        totals.bytes += o.bytes;
        totals.added_bytes += o.added + data_added;
        totals.new_chunks += o.new_chunks;
        totals.reused_chunks += o.reused_chunks;
        tables.push(TableEntry {
            name: o.table,
            rows: o.rows,
            bytes: o.bytes,
            digest: o.digest,
            data,
            added_bytes: o.added + data_added,
            changes: None,
        });
    }
    repo.flush().await?;

    let manifest = Snapshot {
        version: crate::snapshot::MANIFEST_VERSION,
        id: String::new(),
        time,
        end_time: Utc::now(),
        tresor_version: env!("CARGO_PKG_VERSION").to_string(),
        source: SourceRef {
            name: options.source_name.clone(),
            url: redact_url(&options.url),
            engine: schema.engine,
            server_version: info.server_version,
            database: info.database,
        },
        trigger: options.trigger,
        reason: options.reason.clone(),
        tags: options.tags.clone(),
        hostname: gethostname::gethostname().to_string_lossy().into_owned(),
        username: options.username.clone().unwrap_or_else(os_user),
        app_version: options.app_version.clone(),
        parent: None,
        consistency: info.consistency,
        warnings: info.warnings,
        partial: !options.read.filter.is_all(),
        schema: schema_id,
        tables,
        totals,
        labels: options.labels.clone(),
    };
    progress.step("writing the snapshot manifest");
    save_snapshot(repo, manifest).await
}

/// The name of the user running this process.
pub(crate) fn os_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".to_string())
}

struct TableOutcome {
    table: tresor_core::TableName,
    rows: u64,
    bytes: u64,
    digest: String,
    runs: Vec<Run>,
    added: u64,
    new_chunks: u64,
    reused_chunks: u64,
}

async fn backup_table(
    repo: &Arc<Repository>,
    snap: &dyn tresor_core::SourceSnapshot,
    table: &TableSchema,
    chunker: Chunker,
    progress: &dyn Progress,
) -> Result<TableOutcome> {
    progress.table_started(&table.name, None);
    let (tx, rx) = mpsc::channel(4);
    let (ctx, crx) = mpsc::channel(4);
    let writer = tokio::spawn(write_table(repo.clone(), rx, chunker));
    let (read, ()) = tokio::join!(
        snap.read_table(table, ctx),
        forward_counting(crx, tx, &table.name, progress)
    );
    let written = writer
        .await
        .map_err(|e| OpsError::Internal(format!("chunk writer failed: {e}")))?;
    // A write failure makes the reader see a closed channel; report the
    // cause, not the symptom.
    let mut out = match (read, written) {
        (_, Err(e)) => return Err(e),
        (Err(e), _) => return Err(e.into()),
        (Ok(sent), Ok(out)) if sent != out.rows => {
            return Err(OpsError::Internal(format!(
                "table {}: source sent {sent} rows but {} were stored",
                table.name, out.rows
            )));
        }
        (Ok(_), Ok(out)) => out,
    };
    out.table = table.name.clone();
    progress.table_finished(&table.name, out.rows);
    Ok(out)
}

/// Encodes rows into chunks and stores them, several chunks in flight.
async fn write_table(
    repo: Arc<Repository>,
    mut rx: RowReceiver,
    chunker: Chunker,
) -> Result<TableOutcome> {
    let mut builder = ChunkBuilder::new();
    let mut digest = TableDigest::new();
    let mut out = TableOutcome {
        table: tresor_core::TableName::new(""),
        rows: 0,
        bytes: 0,
        digest: String::new(),
        runs: Vec::new(),
        added: 0,
        new_chunks: 0,
        reused_chunks: 0,
    };
    let slots = Arc::new(Semaphore::new(CHUNKS_IN_FLIGHT));
    let mut saves = Vec::new();
    let mut enc = Vec::new();
    while let Some(batch) = rx.recv().await {
        for row in &batch {
            enc.clear();
            tresor_core::codec::encode_row(row, &mut enc);
            builder.push_encoded(&enc);
            digest.update(&enc);
            out.bytes += enc.len() as u64;
            out.rows += 1;
            if chunker.is_boundary(builder.len(), &enc) {
                let (chunk, n) = builder.take();
                saves.push(save_chunk(&repo, &slots, chunk, n, &mut out.runs).await?);
            }
        }
    }
    if !builder.is_empty() {
        let (chunk, n) = builder.take();
        saves.push(save_chunk(&repo, &slots, chunk, n, &mut out.runs).await?);
    }
    for s in saves {
        let saved = s
            .await
            .map_err(|e| OpsError::Internal(format!("chunk upload failed: {e}")))??;
        if saved.new {
            out.new_chunks += 1;
            out.added += saved.stored_bytes;
        } else {
            out.reused_chunks += 1;
        }
    }
    out.digest = digest.finish();
    Ok(out)
}

type SaveHandle =
    tokio::task::JoinHandle<std::result::Result<tresor_repo::SavedBlob, tresor_repo::RepoError>>;

async fn save_chunk(
    repo: &Arc<Repository>,
    slots: &Arc<Semaphore>,
    chunk: Vec<u8>,
    rows: u64,
    runs: &mut Vec<Run>,
) -> Result<SaveHandle> {
    let id: BlobId = repo.blob_id(&chunk);
    runs.push(Run {
        chunk: id,
        first: 0,
        count: rows,
    });
    let permit = slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| OpsError::Internal("chunk slots closed".into()))?;
    let repo = repo.clone();
    Ok(tokio::spawn(async move {
        let r = repo.save_blob(BlobType::Data, chunk).await;
        drop(permit);
        r
    }))
}

/// Restricts a schema to the tables `keep` selects.
pub(crate) fn restrict_schema(
    schema: &DatabaseSchema,
    keep: impl Fn(&TableSchema) -> bool,
) -> DatabaseSchema {
    DatabaseSchema {
        engine: schema.engine,
        tables: schema.tables.iter().filter(|t| keep(t)).cloned().collect(),
        objects: schema.objects.clone(),
        settings: schema.settings.clone(),
    }
}
