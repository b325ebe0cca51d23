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
use tokio::sync::mpsc;
use tresor_core::{
    DatabaseSchema, ReadOptions, Source, SourceSnapshot, TableName, TableSchema, redact_url,
};
use tresor_repo::{LockKind, RepoError, Repository};

use crate::cache::CacheDir;
use crate::chunker::Chunker;
use crate::error::{OpsError, Result};
use crate::progress::{Progress, forward_counting};
use crate::snapshot::{
    Snapshot, SourceRef, TableEntry, Totals, Trigger, list_snapshots, load_schema, load_table_data,
    save_snapshot, save_table_data, save_tree,
};
use crate::writer::{CacheTarget, Parent, Written, write_table};

mod request;

pub use request::{BackupRequest, SourceSpec};

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
    /// Which snapshot to compare with, so only changed rows are stored.
    pub parent: ParentChoice,
    /// Where the local row cache lives.
    pub cache: CacheDir,
}

/// The snapshot a backup compares with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ParentChoice {
    /// The latest snapshot of the same source (the default).
    #[default]
    Latest,
    /// None: store every row (still deduplicated by chunk).
    None,
    /// A given snapshot (id prefix or `latest:SOURCE`).
    Id(String),
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
    let opened = open_source(source, options, progress).await?;
    backup_opened(repo, opened, options, progress).await
}

/// A source's consistent snapshot, opened for [`backup_opened`].
pub struct OpenedSource {
    snap: Box<dyn SourceSnapshot>,
    time: chrono::DateTime<Utc>,
}

impl OpenedSource {
    /// Ends the source's snapshot without backing it up.
    pub async fn close(self) {
        let _ = self.snap.close().await;
    }
}

/// The first half of [`backup`]: opens the source's consistent snapshot,
/// so a caller can do so while it opens the repository (deriving the key
/// from the password takes a moment of CPU; opening a snapshot mostly
/// waits on the server).
///
/// # Errors
/// The source's failures.
pub async fn open_source(
    source: &dyn Source,
    options: &BackupOptions,
    progress: &dyn Progress,
) -> Result<OpenedSource> {
    let time = Utc::now();
    progress.step("opening a consistent snapshot of the source");
    let snap = source.open(&options.read).await?;
    Ok(OpenedSource { snap, time })
}

/// The second half of [`backup`]: stores the snapshot `opened` (made by
/// [`open_source`] with the same `options`) in `repo`, and closes it.
///
/// # Errors
/// As [`backup`].
pub async fn backup_opened(
    repo: &Arc<Repository>,
    opened: OpenedSource,
    options: &BackupOptions,
    progress: &dyn Progress,
) -> Result<Snapshot> {
    let lock = match repo.lock(LockKind::Shared).await {
        Ok(l) => l,
        Err(e) => {
            opened.close().await;
            return Err(e.into());
        }
    };
    let result = run(repo, opened, options, progress).await;
    if let Err(e) = &result
        && !matches!(e, OpsError::Repo(RepoError::Storage(s)) if s.is_full())
    {
        // what reached the storage is indexed, so the next run reuses it
        // instead of uploading it again
        if let Err(e) = repo.flush_index().await {
            tracing::warn!(error = %e, "cannot index what the failed backup stored");
        }
    }
    if let Err(e) = lock.release().await {
        tracing::warn!(error = %e, "cannot release repository lock");
    }
    result
}

async fn run(
    repo: &Arc<Repository>,
    opened: OpenedSource,
    options: &BackupOptions,
    progress: &dyn Progress,
) -> Result<Snapshot> {
    let OpenedSource { snap, time } = opened;
    let schema = snap.schema().clone();
    let info = snap.info().clone();
    // the storage of a virtual table is chosen by the virtual table's name
    let mut names: Vec<_> = schema.tables.iter().map(TableSchema::chosen_by).collect();
    names.dedup();
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
    // a table selection that matches nothing is a mistake, not an empty
    // backup (`--tables 'nosuch*'`, or `--exclude` of everything)
    if !options.read.filter.is_all() && schema.tables.is_empty() {
        let _ = snap.close().await;
        return Err(OpsError::NotFound {
            what: "the table selection matches no table of the source".into(),
            hint: Some(
                "check --tables and --exclude (globs such as users, user_*); `tresor backup` \
                 without them backs up every table"
                    .into(),
            ),
        });
    }

    let chunker = Chunker::new(repo.config().chunker);
    let jobs = options.read.jobs.max(1);
    let parent = match find_parent(repo, options, schema.engine).await {
        Ok(p) => p,
        Err(e) => {
            let _ = snap.close().await;
            return Err(e);
        }
    };
    let snap_ref = &*snap;
    let parent_ref = parent.as_ref();
    let cache_dir = crate::cache::repo_dir(&options.cache, &repo.config().id.to_hex());
    let cache_dir = &cache_dir;
    let outcomes: Vec<Result<TableOutcome>> = futures::stream::iter(schema.tables.iter())
        .map(|table| async move {
            let p = parent_for(repo, parent_ref, table, cache_dir.as_deref()).await?;
            let cache = table.key_positions().and_then(|key_positions| {
                cache_dir
                    .clone()
                    .map(|dir| CacheTarget { dir, key_positions })
            });
            backup_table(repo, snap_ref, table, chunker, p, cache, progress).await
        })
        .buffered(jobs)
        .collect()
        .await;
    let close = snap.close().await;
    let outcomes: Vec<TableOutcome> = outcomes.into_iter().collect::<Result<_>>()?;
    close?;

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
        parent: parent.as_ref().map(|(p, _)| p.id.clone()),
        consistency: info.consistency,
        warnings: info.warnings,
        partial: !options.read.filter.is_all(),
        schema: tresor_repo::BlobId([0; 32]),
        tables: Vec::new(),
        totals: Totals::default(),
        labels: options.labels.clone(),
        copied_from: None,
    };
    progress.step("writing the snapshot manifest");
    commit(repo, &schema, outcomes, manifest, cache_dir.as_deref()).await
}

/// Stores the schema and every table's data blob, then the manifest: the
/// commit point. `manifest` carries everything but the schema, tables and
/// totals, which this fills in.
pub(crate) async fn commit(
    repo: &Arc<Repository>,
    schema: &DatabaseSchema,
    outcomes: Vec<TableOutcome>,
    mut manifest: Snapshot,
    cache_dir: Option<&std::path::Path>,
) -> Result<Snapshot> {
    repo.flush().await?;
    let mut totals = Totals::default();
    let (schema_id, schema_added) = save_tree(repo, schema).await?;
    totals.added_bytes += schema_added;
    let mut caches = Vec::new();
    for o in outcomes {
        let w = o.written;
        let (data, data_added) = save_table_data(repo, &w.data).await?;
        if let Some(path) = w.cache {
            caches.push((o.table.clone(), data, path));
        }
        totals.tables += 1;
        totals.rows += w.rows;
        totals.bytes += w.bytes;
        totals.added_bytes += w.added + data_added;
        totals.new_chunks += w.new_chunks;
        totals.reused_chunks += w.reused_chunks;
        manifest.tables.push(TableEntry {
            name: o.table,
            rows: w.rows,
            bytes: w.bytes,
            digest: w.digest,
            data,
            added_bytes: w.added + data_added,
            changes: w.changes,
        });
    }
    repo.flush().await?;
    manifest.schema = schema_id;
    manifest.totals = totals;
    let saved = save_snapshot(repo, manifest).await;
    match (&saved, cache_dir) {
        (Ok(s), Some(dir)) => crate::cache::commit(dir, &s.id, s.parent.as_deref(), caches),
        _ => {
            for (_, _, path) in caches {
                let _ = std::fs::remove_file(path);
            }
        }
    }
    saved
}

/// The name of the user running this process.
pub(crate) fn os_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".to_string())
}

/// One table's result, ready to commit.
pub(crate) struct TableOutcome {
    pub table: TableName,
    pub written: Written,
}

async fn backup_table(
    repo: &Arc<Repository>,
    snap: &dyn tresor_core::SourceSnapshot,
    table: &TableSchema,
    chunker: Chunker,
    parent: Option<Parent>,
    cache: Option<CacheTarget>,
    progress: &dyn Progress,
) -> Result<TableOutcome> {
    progress.table_started(&table.name, None);
    let (tx, rx) = mpsc::channel(4);
    let writer = tokio::spawn(write_table(repo.clone(), rx, chunker, parent, cache));
    let (ctx, crx) = mpsc::channel(4);
    let (read, ()) = tokio::join!(
        snap.read_table_encoded(table, ctx),
        forward_counting(crx, tx, &table.name, progress)
    );
    let written = writer
        .await
        .map_err(|e| OpsError::Internal(format!("chunk writer failed: {e}")))?;
    // A write failure makes the reader see a closed channel; report the
    // cause, not the symptom.
    let written = match (read, written) {
        (_, Err(e)) => return Err(e),
        (Err(e), _) => return Err(e.into()),
        (Ok(sent), Ok(w)) if sent != w.rows => {
            return Err(OpsError::Internal(format!(
                "table {}: source sent {sent} rows but {} were stored",
                table.name, w.rows
            )));
        }
        (Ok(_), Ok(w)) => w,
    };
    progress.table_finished(&table.name, written.rows);
    Ok(TableOutcome {
        table: table.name.clone(),
        written,
    })
}

/// The parent's data for `table`, when an incremental write is possible:
/// the table has a key and the same stored columns as in the parent.
pub(crate) async fn parent_for(
    repo: &Arc<Repository>,
    parent: Option<&(Snapshot, DatabaseSchema)>,
    table: &TableSchema,
    cache_dir: Option<&std::path::Path>,
) -> Result<Option<Parent>> {
    let Some((snapshot, schema)) = parent else {
        return Ok(None);
    };
    let Some(old) = schema.table(&table.name) else {
        return Ok(None);
    };
    stored_as(repo, snapshot, old, table, cache_dir).await
}

/// Table `old` of `snapshot` as a [`Parent`] for rows of `table` (the
/// same table, read again): when both store the same columns, of the same
/// types, under the same key, a row unchanged since is encoded to the very
/// same bytes, so rows match by key and row digest. The digests come from
/// the local row cache under `cache_dir` when it holds the snapshot.
pub(crate) async fn stored_as(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    old: &TableSchema,
    table: &TableSchema,
    cache_dir: Option<&std::path::Path>,
) -> Result<Option<Parent>> {
    let (Some(entry), Some(key_positions)) = (snapshot.table(&table.name), table.key_positions())
    else {
        return Ok(None);
    };
    let layout = |t: &TableSchema| -> Vec<(String, String)> {
        t.stored_columns()
            .map(|c| (c.name.clone(), c.engine_type.clone()))
            .collect()
    };
    if layout(old) != layout(table) || old.row_key != table.row_key {
        return Ok(None);
    }
    let data = load_table_data(repo, &entry.data).await?;
    let cache = cache_dir.map(|dir| {
        (
            dir.to_path_buf(),
            snapshot.id.clone(),
            table.name.clone(),
            entry.data,
        )
    });
    Ok(Some(Parent {
        data,
        key_positions,
        cache,
    }))
}

/// The latest snapshot of the same source and engine, with its schema.
pub(crate) async fn find_parent(
    repo: &Arc<Repository>,
    options: &BackupOptions,
    engine: tresor_core::Engine,
) -> Result<Option<(Snapshot, DatabaseSchema)>> {
    let all = list_snapshots(repo).await?;
    let key = options
        .source_name
        .clone()
        .unwrap_or_else(|| redact_url(&options.url));
    let parent = match &options.parent {
        ParentChoice::None => return Ok(None),
        ParentChoice::Id(spec) => Some(crate::snapshot::resolve(&all, spec)?.clone()),
        // A complete snapshot is the better parent: a partial one (such as
        // a safety snapshot of a few tables) covers only some tables.
        ParentChoice::Latest => {
            let mut same: Vec<Snapshot> = all
                .into_iter()
                .filter(|s| s.source.key() == key && s.source.engine == engine)
                .collect();
            match same.iter().rposition(|s| !s.partial) {
                Some(i) => Some(same.swap_remove(i)),
                None => same.pop(),
            }
        }
    };
    match parent {
        Some(p) => {
            let schema = load_schema(repo, &p).await?;
            Ok(Some((p, schema)))
        }
        None => Ok(None),
    }
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
