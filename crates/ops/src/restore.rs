//! Restore: snapshot rows -> target, atomically, after an optional preview
//! and an automatic safety snapshot of whatever the restore overwrites.

use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;
use tresor_core::{
    DatabaseSchema, DiffCounts, ReadOptions, RestoreMode, RestorePlan, RestoreSummary, Row,
    RowBatch, RowKey, RowReceiver, Source, TableFilter, TableName, TableSchema, Target,
    TargetState, diff_keyed, diff_unkeyed, load_order,
};
use tresor_repo::Repository;

use crate::backup::{BackupOptions, backup, restrict_schema};
use crate::error::{OpsError, Result};
use crate::progress::{NoProgress, Progress, forward_counting};
use crate::rows::stream_table;
use crate::snapshot::{Snapshot, Trigger, load_schema};

/// How to restore.
#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    /// Which tables of the snapshot to restore.
    pub tables: TableFilter,
    /// Replace or merge.
    pub mode: RestoreMode,
    /// Take a safety snapshot of the target's overwritten tables first
    /// (needs a source for the target).
    pub safety_snapshot: bool,
    /// The target URL, recorded in the safety snapshot.
    pub target_url: String,
    /// The target's name in `tresor.toml`, if any.
    pub target_name: Option<String>,
    /// Who asked for the restore.
    pub username: Option<String>,
}

/// What a restore would do to one table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TablePreview {
    /// The table.
    pub name: TableName,
    /// `create` (the table is new), `replace` or `merge`.
    pub action: String,
    /// Rows in the snapshot.
    pub snapshot_rows: u64,
    /// Rows in the target now, if the table exists.
    pub target_rows: Option<u64>,
    /// Rows that would be inserted.
    pub inserted: u64,
    /// Rows that would be changed.
    pub updated: u64,
    /// Rows that would be deleted (replace mode only).
    pub deleted: u64,
    /// Rows that stay as they are.
    pub unchanged: u64,
}

/// What a restore would do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Preview {
    /// The snapshot.
    pub snapshot: String,
    /// Replace or merge.
    pub mode: RestoreMode,
    /// Whether the target holds data in a table the restore touches (the
    /// restore then needs confirmation and takes a safety snapshot).
    pub overwrites_data: bool,
    /// Per table, in load order.
    pub tables: Vec<TablePreview>,
}

/// What a restore did.
#[derive(Clone, Debug, Serialize)]
pub struct RestoreOutcome {
    /// The snapshot restored.
    pub snapshot: String,
    /// The safety snapshot taken first, if any.
    pub safety_snapshot: Option<String>,
    /// The target's report.
    pub summary: RestoreSummary,
    /// Rows restored per table, in load order.
    pub tables: Vec<(TableName, u64)>,
}

/// Decides which tables a restore covers and in what order.
///
/// # Errors
/// A filter naming a table the snapshot lacks, or merge mode on a table
/// without a key.
pub async fn plan_restore(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    options: &RestoreOptions,
) -> Result<RestorePlan> {
    let full = load_schema(repo, snapshot).await?;
    let names: Vec<TableName> = full.tables.iter().map(|t| t.name.clone()).collect();
    let missing = options.tables.unmatched_literals(names.iter());
    if !missing.is_empty() {
        return Err(OpsError::NotFound {
            what: format!(
                "snapshot {} has no table named {}",
                snapshot.short_id(),
                missing.join(", ")
            ),
            hint: Some(format!(
                "the snapshot holds: {}",
                names
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        });
    }
    let schema = restrict_schema(&full, |t| options.tables.matches(&t.name));
    if schema.tables.is_empty() {
        return Err(OpsError::InvalidInput {
            what: "the table selection matches no table of the snapshot".into(),
            hint: Some("check --tables; `tresor show SNAPSHOT` lists the tables".into()),
        });
    }
    if options.mode == RestoreMode::Merge
        && let Some(t) = schema.tables.iter().find(|t| t.row_key == RowKey::None)
    {
        return Err(OpsError::InvalidInput {
            what: format!(
                "table {} has no primary key, so rows cannot be merged",
                t.name
            ),
            hint: Some("restore it with --mode replace, or leave it out with --tables".into()),
        });
    }
    let refs: Vec<&TableSchema> = schema.tables.iter().collect();
    let tables = load_order(&refs);
    Ok(RestorePlan {
        whole_database: options.tables.is_all() && !snapshot.partial,
        schema,
        mode: options.mode,
        tables,
    })
}

/// Tables of the plan that hold rows in the target now.
fn overwritten(plan: &RestorePlan, state: &TargetState) -> Vec<TableName> {
    plan.tables
        .iter()
        .filter(|t| state.table(t).is_some_and(|e| e.rows > 0))
        .cloned()
        .collect()
}

/// Computes what a restore would insert, update and delete, without
/// changing anything. `target_source` reads the target's current rows.
///
/// # Errors
/// Repository and database failures.
pub async fn preview(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    target: &dyn Target,
    target_source: &dyn Source,
    options: &RestoreOptions,
) -> Result<Preview> {
    let plan = plan_restore(repo, snapshot, options).await?;
    let state = target.inspect().await?;
    let existing: Vec<TableName> = plan
        .tables
        .iter()
        .filter(|t| state.table(t).is_some())
        .cloned()
        .collect();
    let live = if existing.is_empty() {
        None
    } else {
        let read = ReadOptions {
            filter: TableFilter::exact(existing.clone()),
            ..ReadOptions::default()
        };
        Some(target_source.open(&read).await?)
    };
    let mut tables = Vec::with_capacity(plan.tables.len());
    for name in &plan.tables {
        let (Some(entry), Some(schema)) = (snapshot.table(name), plan.schema.table(name)) else {
            continue;
        };
        let target_rows = state.table(name).map(|e| e.rows);
        let live_schema = live.as_ref().and_then(|l| l.schema().table(name).cloned());
        let counts = match (&live, live_schema) {
            (Some(live), Some(live_schema)) => {
                let projection = projection(schema, &live_schema)?;
                let (stx, srx) = mpsc::channel(4);
                let (ltx, lrx) = mpsc::channel(4);
                let (ptx, prx) = mpsc::channel(4);
                let diff = async {
                    match schema.key_positions() {
                        Some(keys) => diff_keyed(prx, srx, &keys).await,
                        None => diff_unkeyed(prx, srx).await,
                    }
                };
                let (a, b, _, d) = tokio::join!(
                    stream_table(repo, entry, stx),
                    live.read_table(&live_schema, ltx),
                    project(lrx, ptx, &projection),
                    diff
                );
                a?;
                b?;
                d?
            }
            _ => DiffCounts {
                inserted: entry.rows,
                ..DiffCounts::default()
            },
        };
        let action = match (target_rows, options.mode) {
            (None, _) => "create",
            (Some(_), RestoreMode::Replace) => "replace",
            (Some(_), RestoreMode::Merge) => "merge",
        };
        tables.push(TablePreview {
            name: name.clone(),
            action: action.into(),
            snapshot_rows: entry.rows,
            target_rows,
            inserted: counts.inserted,
            updated: counts.updated,
            deleted: if options.mode == RestoreMode::Merge {
                0
            } else {
                counts.deleted
            },
            unchanged: counts.unchanged
                + if options.mode == RestoreMode::Merge {
                    counts.deleted
                } else {
                    0
                },
        });
    }
    if let Some(live) = live {
        live.close().await?;
    }
    Ok(Preview {
        snapshot: snapshot.id.clone(),
        mode: options.mode,
        overwrites_data: !overwritten(&plan, &state).is_empty(),
        tables,
    })
}

/// For each column of the snapshot's table, its position in the live
/// table's rows.
fn projection(snapshot: &TableSchema, live: &TableSchema) -> Result<Vec<usize>> {
    let live_cols: Vec<&str> = live.stored_columns().map(|c| c.name.as_str()).collect();
    let mut missing = Vec::new();
    let positions: Vec<usize> = snapshot
        .stored_columns()
        .filter_map(|c| {
            let p = live_cols.iter().position(|l| *l == c.name);
            if p.is_none() {
                missing.push(c.name.clone());
            }
            p
        })
        .collect();
    if !missing.is_empty() {
        return Err(OpsError::Source(
            tresor_core::SourceError::new(
                tresor_core::ErrorKind::SchemaMismatch,
                format!(
                    "table {} in the target lacks columns {}",
                    snapshot.name,
                    missing.join(", ")
                ),
            )
            .with_hint("restore into a new database, or migrate the target first"),
        ));
    }
    Ok(positions)
}

async fn project(mut rx: RowReceiver, tx: mpsc::Sender<RowBatch>, positions: &[usize]) {
    let identity = positions.iter().enumerate().all(|(i, p)| i == *p);
    while let Some(batch) = rx.recv().await {
        let batch = if identity {
            batch
        } else {
            batch
                .into_iter()
                .map(|row| positions.iter().map(|&p| row[p].clone()).collect::<Row>())
                .collect()
        };
        if tx.send(batch).await.is_err() {
            return;
        }
    }
}

/// Restores `snapshot` into `target`. When the target holds rows in a
/// table the restore touches and `options.safety_snapshot` is set, backs
/// those tables up first (trigger `pre-restore`) through `target_source`.
///
/// # Errors
/// Any failure rolls the target back to what it was.
pub async fn restore(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    target: &dyn Target,
    target_source: Option<&dyn Source>,
    options: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreOutcome> {
    let plan = plan_restore(repo, snapshot, options).await?;
    let state = target.inspect().await?;
    let overwritten = overwritten(&plan, &state);
    let mut safety = None;
    if options.safety_snapshot && !overwritten.is_empty() {
        let Some(source) = target_source else {
            return Err(OpsError::Internal(
                "a safety snapshot needs a source for the target".into(),
            ));
        };
        progress.step("taking a safety snapshot of the tables the restore overwrites");
        let backup_options = BackupOptions {
            source_name: options.target_name.clone(),
            url: options.target_url.clone(),
            read: ReadOptions {
                filter: TableFilter::exact(overwritten),
                ..ReadOptions::default()
            },
            trigger: Trigger::PreRestore,
            reason: Some(format!("before restoring snapshot {}", snapshot.short_id())),
            username: options.username.clone(),
            ..BackupOptions::default()
        };
        let s = backup(repo, source, &backup_options, &NoProgress).await?;
        safety = Some(s.id);
    }

    let lock = repo.lock(tresor_repo::LockKind::Shared).await?;
    progress.step("restoring");
    let result = load(repo, snapshot, target, &plan, progress).await;
    if let Err(e) = lock.release().await {
        tracing::warn!(error = %e, "cannot release repository lock");
    }
    let (summary, tables) = result?;
    Ok(RestoreOutcome {
        snapshot: snapshot.id.clone(),
        safety_snapshot: safety,
        summary,
        tables,
    })
}

async fn load(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    target: &dyn Target,
    plan: &RestorePlan,
    progress: &dyn Progress,
) -> Result<(RestoreSummary, Vec<(TableName, u64)>)> {
    let mut session = target.begin(plan).await?;
    let mut done = Vec::with_capacity(plan.tables.len());
    for name in &plan.tables {
        let (Some(entry), Some(schema)) = (snapshot.table(name), plan.schema.table(name)) else {
            let _ = session.rollback().await;
            return Err(OpsError::Corrupt(format!(
                "table {name} is in the schema but not in the manifest"
            )));
        };
        progress.table_started(name, Some(entry.rows));
        let (tx, rx) = mpsc::channel(4);
        let (ctx, crx) = mpsc::channel(4);
        let (streamed, (), loaded) = tokio::join!(
            stream_table(repo, entry, ctx),
            forward_counting(crx, tx, name, progress),
            session.load_table(schema, rx)
        );
        let rows = match (streamed, loaded) {
            (Err(e), _) => {
                let _ = session.rollback().await;
                return Err(e);
            }
            (_, Err(e)) => {
                let _ = session.rollback().await;
                return Err(e.into());
            }
            (Ok(sent), Ok(written)) if sent != written => {
                let _ = session.rollback().await;
                return Err(OpsError::Internal(format!(
                    "table {name}: {sent} rows sent but the target wrote {written}"
                )));
            }
            (Ok(n), Ok(_)) => n,
        };
        progress.table_finished(name, rows);
        done.push((name.clone(), rows));
    }
    progress.step("committing");
    let summary = session.commit().await?;
    Ok((summary, done))
}

/// The schema a snapshot recorded, restricted to the tables `filter`
/// selects.
pub async fn snapshot_schema(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    filter: &TableFilter,
) -> Result<DatabaseSchema> {
    let full = load_schema(repo, snapshot).await?;
    Ok(restrict_schema(&full, |t| filter.matches(&t.name)))
}

/// Streams all selected tables of a snapshot to a consumer, one after the
/// other, for exports and drills.
pub async fn for_each_table<F, Fut>(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    schema: &DatabaseSchema,
    mut f: F,
) -> Result<()>
where
    F: FnMut(TableSchema, RowReceiver) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let entries: Vec<_> = schema
        .tables
        .iter()
        .filter_map(|t| snapshot.table(&t.name).map(|e| (t.clone(), e.clone())))
        .collect();
    let mut it = futures::stream::iter(entries);
    while let Some((table, entry)) = it.next().await {
        let (tx, rx) = mpsc::channel(4);
        let (a, b) = tokio::join!(stream_table(repo, &entry, tx), f(table, rx));
        b?;
        a?;
    }
    Ok(())
}
