//! Guarded operations and their undo.
//!
//! A *guard* is a snapshot taken right before a risky operation (trigger
//! `guard`, label `guard=before`); when tresor runs the operation itself it
//! also records the state right after (`guard=after`, `guard-of=ID`). Guard
//! snapshots are never chosen by `latest` and retention keeps them like
//! safety snapshots, until released.
//!
//! *Undo* reverts what happened since a guard, for the guarded tables only,
//! by key: rows the operation deleted come back, rows it changed get their
//! old values, rows it inserted go. A row that changed again after the
//! operation (it differs from the after-state) is a *conflict*: it is left
//! as it is now and reported, unless forced. Without an after-state (a
//! guard taken through the API and never closed) every difference from the
//! guard is reverted, and conflicts cannot be told apart.
//!
//! The undo is computed as a snapshot of its own (label `guard=undo`): the
//! current rows with the reverted ones put back, built in one streaming
//! merge of the guard, the after-state and a safety snapshot of the tables
//! as they are now; that snapshot is then restored like any other, with a
//! preview that rehearses it, atomically.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use tokio::sync::mpsc;
use tresor_core::{
    DatabaseSchema, Engine, ReadOptions, RestoreMode, Row, RowReceiver, RowSender, Source,
    SourceError, SourceInfo, SourceSnapshot, TableFilter, TableName, TableSchema, Target, Value,
    compare_keys, rows_same,
};
use tresor_repo::Repository;

use crate::backup::{BackupOptions, ParentChoice, backup};
use crate::error::{OpsError, Result};
use crate::progress::{NoProgress, Progress};
use crate::restore::{Preview, RestoreOptions, RestoreOutcome, preview, restore};
use crate::rows::stream_table;
use crate::snapshot::{Snapshot, Trigger, delete_snapshot, load_schema};

/// The label that marks guard snapshots and their role.
pub const GUARD_LABEL: &str = "guard";
/// The label of an after-state naming its guard.
pub const GUARD_OF_LABEL: &str = "guard-of";

/// What a guard covers.
#[derive(Clone, Debug, Default)]
pub struct GuardOptions {
    /// The source's name in `tresor.toml`, if it has one.
    pub source_name: Option<String>,
    /// The source URL.
    pub url: String,
    /// The tables guarded.
    pub tables: TableFilter,
    /// The operation, in words (the command line run).
    pub reason: Option<String>,
    /// Who took it.
    pub username: Option<String>,
}

fn guard_backup(options: &GuardOptions, role: &str, of: Option<&str>) -> BackupOptions {
    let mut labels = BTreeMap::from([(GUARD_LABEL.to_string(), role.to_string())]);
    if let Some(of) = of {
        labels.insert(GUARD_OF_LABEL.to_string(), of.to_string());
    }
    BackupOptions {
        source_name: options.source_name.clone(),
        url: options.url.clone(),
        read: ReadOptions {
            filter: options.tables.clone(),
            ..ReadOptions::default()
        },
        trigger: Trigger::Guard,
        reason: options.reason.clone(),
        username: options.username.clone(),
        labels,
        ..BackupOptions::default()
    }
}

/// Takes a guard: a snapshot of the guarded tables as they are before the
/// operation.
///
/// # Errors
/// As [`backup`].
pub async fn take_guard(
    repo: &Arc<Repository>,
    source: &dyn Source,
    options: &GuardOptions,
    progress: &dyn Progress,
) -> Result<Snapshot> {
    backup(
        repo,
        source,
        &guard_backup(options, "before", None),
        progress,
    )
    .await
}

/// Records the state right after the guarded operation, so that an undo
/// can tell later changes (conflicts) from the operation's own.
///
/// # Errors
/// As [`backup`].
pub async fn close_guard(
    repo: &Arc<Repository>,
    source: &dyn Source,
    guard: &Snapshot,
    options: &GuardOptions,
) -> Result<Snapshot> {
    let options = GuardOptions {
        tables: TableFilter::exact(guard.tables.iter().map(|t| t.name.clone())),
        ..options.clone()
    };
    let mut b = guard_backup(&options, "after", Some(&guard.id));
    b.parent = ParentChoice::Id(guard.id.clone());
    backup(repo, source, &b, &NoProgress).await
}

/// Whether a snapshot is a guard taken before an operation.
pub fn is_guard(s: &Snapshot) -> bool {
    s.trigger == Trigger::Guard && s.labels.get(GUARD_LABEL).is_some_and(|r| r == "before")
}

/// The after-state recorded for `guard`, if any.
pub fn guard_after<'a>(all: &'a [Snapshot], guard: &Snapshot) -> Option<&'a Snapshot> {
    all.iter().rev().find(|s| {
        s.labels.get(GUARD_OF_LABEL) == Some(&guard.id)
            && s.labels.get(GUARD_LABEL).is_some_and(|r| r == "after")
    })
}

/// Removes a guard and what belongs to it (after-state, undo snapshots);
/// their data goes at the next prune. Returns the ids removed.
///
/// # Errors
/// Repository failures.
pub async fn release_guard(
    repo: &Arc<Repository>,
    all: &[Snapshot],
    guard: &Snapshot,
) -> Result<Vec<String>> {
    repo.refuse_if_append_only("guard release")?;
    let mut ids = vec![guard.id.clone()];
    ids.extend(
        all.iter()
            .filter(|s| s.labels.get(GUARD_OF_LABEL) == Some(&guard.id))
            .map(|s| s.id.clone()),
    );
    for id in &ids {
        delete_snapshot(repo, id).await?;
    }
    Ok(ids)
}

/// How to undo.
#[derive(Clone, Debug, Default)]
pub struct UndoOptions {
    /// Which of the guarded tables (all when everything matches).
    pub tables: TableFilter,
    /// Revert conflicting rows too (rows changed again after the
    /// operation).
    pub force: bool,
    /// Only preview, rehearsing for at most this long; change nothing.
    pub dry_run: Option<Duration>,
    /// The target's URL and name (for the safety snapshot's source).
    pub target_url: String,
    /// The target's name in `tresor.toml`.
    pub target_name: Option<String>,
    /// Who asked.
    pub username: Option<String>,
}

/// What an undo does to one table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UndoTable {
    /// The table.
    pub table: String,
    /// Rows put back to the guard's state (re-inserted, changed back, or
    /// removed).
    pub reverted: u64,
    /// Rows changed again after the operation and left as they are (or,
    /// with force, reverted too).
    pub conflicts: u64,
    /// The first conflicting keys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflict_keys: Vec<String>,
    /// The table has no primary key: reverted as a whole.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub whole_table: bool,
}

/// What an undo did, or would do.
#[derive(Clone, Debug, Serialize)]
pub struct UndoReport {
    /// The guard undone.
    pub guard: String,
    /// Whether the operation's after-state was recorded (without it,
    /// conflicts cannot be detected).
    pub conflicts_detectable: bool,
    /// Per table.
    pub tables: Vec<UndoTable>,
    /// The snapshot of the tables as they were before the undo.
    pub safety_snapshot: Option<String>,
    /// The preview (dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<Preview>,
    /// The restore's report (when not a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored: Option<RestoreOutcome>,
    /// Snapshots the undo would have removed once done (its plan, a dry
    /// run's safety snapshot) that an append-only repository keeps.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<String>,
}

impl UndoReport {
    /// Rows left alone because they changed again.
    pub fn conflicts(&self) -> u64 {
        self.tables.iter().map(|t| t.conflicts).sum()
    }
}

/// Reverts what happened since `guard` in `target`.
///
/// # Errors
/// A guard that is not one, repository and database failures; a failing
/// restore changes nothing.
pub async fn undo(
    repo: &Arc<Repository>,
    all: &[Snapshot],
    guard: &Snapshot,
    target: &dyn Target,
    target_source: &dyn Source,
    options: &UndoOptions,
    progress: &dyn Progress,
) -> Result<UndoReport> {
    if guard.trigger != Trigger::Guard || !is_guard(guard) {
        return Err(OpsError::InvalidInput {
            what: format!("snapshot {} is not a guard", guard.short_id()),
            hint: Some("`tresor snapshots` lists guards among the safety snapshots".into()),
        });
    }
    let tables: Vec<TableName> = guard
        .tables
        .iter()
        .filter(|t| options.tables.matches(&t.name))
        .map(|t| t.name.clone())
        .collect();
    if tables.is_empty() {
        return Err(OpsError::InvalidInput {
            what: format!("guard {} covers none of the tables named", guard.short_id()),
            hint: Some(format!(
                "it guards: {}",
                guard
                    .tables
                    .iter()
                    .map(|t| t.name.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        });
    }
    let after = guard_after(all, guard).cloned();
    progress.step("taking a safety snapshot of the guarded tables as they are now");
    let now = backup(
        repo,
        target_source,
        &BackupOptions {
            source_name: options.target_name.clone(),
            url: options.target_url.clone(),
            read: ReadOptions {
                filter: TableFilter::exact(tables.clone()),
                ..ReadOptions::default()
            },
            trigger: Trigger::PreRestore,
            reason: Some(format!("before undoing guard {}", guard.short_id())),
            username: options.username.clone(),
            ..BackupOptions::default()
        },
        &NoProgress,
    )
    .await?;
    let result = undo_from(
        repo,
        guard,
        after.as_ref(),
        &now,
        &tables,
        target,
        target_source,
        options,
        progress,
    )
    .await;
    match result {
        Ok(mut report) => {
            if options.dry_run.is_some() {
                // a dry run leaves nothing behind (but what an
                // append-only repository cannot remove)
                if discard(repo, &now.id, &mut report.kept).await? {
                    report.safety_snapshot = None;
                }
            }
            Ok(report)
        }
        Err(e) => {
            let _ = discard(repo, &now.id, &mut Vec::new()).await;
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn undo_from(
    repo: &Arc<Repository>,
    guard: &Snapshot,
    after: Option<&Snapshot>,
    now: &Snapshot,
    tables: &[TableName],
    target: &dyn Target,
    target_source: &dyn Source,
    options: &UndoOptions,
    progress: &dyn Progress,
) -> Result<UndoReport> {
    let guard_schema = load_schema(repo, guard).await?;
    let after_schema = match after {
        Some(a) => Some(load_schema(repo, a).await?),
        None => None,
    };
    let now_schema = load_schema(repo, now).await?;
    let schema = DatabaseSchema {
        tables: guard_schema
            .tables
            .iter()
            .filter(|t| tables.contains(&t.name))
            .cloned()
            .collect(),
        ..guard_schema.clone()
    };
    let report = Arc::new(Mutex::new(BTreeMap::new()));
    let source = UndoSource {
        inner: Arc::new(UndoInner {
            repo: repo.clone(),
            guard: guard.clone(),
            after: after.cloned(),
            now: now.clone(),
            schema,
            after_schema,
            now_schema,
            force: options.force,
            report: report.clone(),
        }),
    };
    progress.step("computing the undo");
    let mut labels = BTreeMap::from([(GUARD_LABEL.to_string(), "undo".to_string())]);
    labels.insert(GUARD_OF_LABEL.to_string(), guard.id.clone());
    let plan = backup(
        repo,
        &source,
        &BackupOptions {
            source_name: options.target_name.clone(),
            url: options.target_url.clone(),
            trigger: Trigger::Guard,
            reason: Some(format!("undo of guard {}", guard.short_id())),
            username: options.username.clone(),
            labels,
            parent: ParentChoice::Id(now.id.clone()),
            ..BackupOptions::default()
        },
        &NoProgress,
    )
    .await?;
    let tables_report: Vec<UndoTable> = report
        .lock()
        .map_err(|_| OpsError::Internal("undo report poisoned".into()))?
        .values()
        .cloned()
        .collect();
    let restore_options = RestoreOptions {
        tables: TableFilter::exact(tables.iter().cloned()),
        mode: RestoreMode::Replace,
        safety_snapshot: false,
        target_url: options.target_url.clone(),
        target_name: options.target_name.clone(),
        username: options.username.clone(),
        rehearsal: options.dry_run,
        rows: None,
        only_missing: false,
        ..RestoreOptions::default()
    };
    let mut out = UndoReport {
        guard: guard.id.clone(),
        conflicts_detectable: after.is_some(),
        tables: tables_report,
        safety_snapshot: Some(now.id.clone()),
        preview: None,
        restored: None,
        kept: Vec::new(),
    };
    let result = if options.dry_run.is_some() {
        preview(repo, &plan, target, target_source, &restore_options)
            .await
            .map(|p| out.preview = Some(p))
    } else {
        progress.step("restoring the guarded tables");
        restore(
            repo,
            &plan,
            target,
            Some(target_source),
            &restore_options,
            progress,
        )
        .await
        .map(|o| out.restored = Some(o))
    };
    // the plan has done its job either way
    discard(repo, &plan.id, &mut out.kept).await?;
    result?;
    Ok(out)
}

/// Removes a snapshot an undo only needed for a while; an append-only
/// repository keeps it, and its id goes to `kept` instead (removed by a
/// `forget` with the full credentials). Answers whether it was removed.
async fn discard(repo: &Repository, id: &str, kept: &mut Vec<String>) -> Result<bool> {
    if repo.storage().is_append_only() {
        kept.push(id.to_string());
        return Ok(false);
    }
    delete_snapshot(repo, id).await?;
    Ok(true)
}

/// The undo as a source of rows: each guarded table's rows as they must
/// be after the undo.
struct UndoSource {
    inner: Arc<UndoInner>,
}

struct UndoInner {
    repo: Arc<Repository>,
    guard: Snapshot,
    after: Option<Snapshot>,
    now: Snapshot,
    schema: DatabaseSchema,
    after_schema: Option<DatabaseSchema>,
    now_schema: DatabaseSchema,
    force: bool,
    report: Arc<Mutex<BTreeMap<String, UndoTable>>>,
}

#[async_trait]
impl Source for UndoSource {
    fn engine(&self) -> Engine {
        self.inner.guard.source.engine
    }

    async fn open(&self, _options: &ReadOptions) -> Result<Box<dyn SourceSnapshot>, SourceError> {
        Ok(Box::new(UndoSnapshot {
            info: SourceInfo {
                server_version: self.inner.now.source.server_version.clone(),
                database: self.inner.now.source.database.clone(),
                consistency: "computed from a guard, its after-state and the tables as they were"
                    .into(),
                warnings: Vec::new(),
            },
            inner: self.inner.clone(),
        }))
    }
}

struct UndoSnapshot {
    info: SourceInfo,
    inner: Arc<UndoInner>,
}

/// Pulls rows one at a time from a batched channel.
struct Cursor {
    rx: Option<RowReceiver>,
    batch: std::vec::IntoIter<Row>,
    row: Option<Row>,
}

impl Cursor {
    async fn new(rx: Option<RowReceiver>) -> Cursor {
        let mut c = Cursor {
            rx,
            batch: Vec::new().into_iter(),
            row: None,
        };
        c.next().await;
        c
    }

    async fn next(&mut self) {
        loop {
            if let Some(r) = self.batch.next() {
                self.row = Some(r);
                return;
            }
            let Some(rx) = self.rx.as_mut() else {
                self.row = None;
                return;
            };
            match rx.recv().await {
                Some(b) => self.batch = b.into_iter(),
                None => {
                    self.row = None;
                    return;
                }
            }
        }
    }
}

/// Column positions of `table` in rows of `other` (same names); missing
/// columns read as NULL.
fn projection(table: &TableSchema, other: Option<&TableSchema>) -> Option<Vec<Option<usize>>> {
    let other = other?;
    let cols: Vec<&str> = other.stored_columns().map(|c| c.name.as_str()).collect();
    Some(
        table
            .stored_columns()
            .map(|c| cols.iter().position(|o| *o == c.name))
            .collect(),
    )
}

fn project(row: &Row, p: &[Option<usize>]) -> Row {
    p.iter()
        .map(|i| i.and_then(|i| row.get(i).cloned()).unwrap_or(Value::Null))
        .collect()
}

fn key_text(row: &Row, key: &[usize], table: &TableSchema) -> String {
    let names: Vec<&str> = table.stored_columns().map(|c| c.name.as_str()).collect();
    key.iter()
        .map(|&i| {
            format!(
                "{}={}",
                names.get(i).unwrap_or(&"?"),
                // plain text where the value has one (an unsigned key was
                // `{"$uint":1}`)
                row.get(i)
                    .map(|v| {
                        tresor_core::convert::to_text(v)
                            .unwrap_or_else(|| tresor_core::json::value_to_json(v).to_string())
                    })
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl UndoSnapshot {
    /// Streams one snapshot's rows of `name` projected onto the guard's
    /// layout, or nothing when that snapshot lacks the table.
    fn side(
        &self,
        snap: Option<&Snapshot>,
        schema: Option<&DatabaseSchema>,
        table: &TableSchema,
    ) -> (
        Option<RowReceiver>,
        Option<tokio::task::JoinHandle<Result<u64>>>,
    ) {
        let (Some(snap), Some(schema)) = (snap, schema) else {
            return (None, None);
        };
        let (Some(entry), Some(t)) = (snap.table(&table.name), schema.table(&table.name)) else {
            return (None, None);
        };
        let Some(p) = projection(table, Some(t)) else {
            return (None, None);
        };
        let (tx, rx) = mpsc::channel(4);
        let (ptx, prx) = mpsc::channel(4);
        let repo = self.inner.repo.clone();
        let entry = entry.clone();
        let task = tokio::spawn(async move {
            let read = stream_table(&repo, &entry, tx);
            let proj = async {
                let mut rx = rx;
                while let Some(batch) = rx.recv().await {
                    let batch: Vec<Row> = batch.iter().map(|r| project(r, &p)).collect();
                    if ptx.send(batch).await.is_err() {
                        break;
                    }
                }
            };
            let (r, ()) = tokio::join!(read, proj);
            r
        });
        (Some(prx), Some(task))
    }
}

#[async_trait]
impl SourceSnapshot for UndoSnapshot {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn schema(&self) -> &DatabaseSchema {
        &self.inner.schema
    }

    async fn read_table(&self, table: &TableSchema, rows: RowSender) -> Result<u64, SourceError> {
        let inner = &self.inner;
        let mut report = UndoTable {
            table: table.name.to_string(),
            ..UndoTable::default()
        };
        let to_err = |e: OpsError| SourceError::new(tresor_core::ErrorKind::Data, e.to_string());
        let (g_rx, g_task) = self.side(Some(&inner.guard), Some(&inner.schema), table);
        let (a_rx, a_task) = self.side(inner.after.as_ref(), inner.after_schema.as_ref(), table);
        let (n_rx, n_task) = self.side(Some(&inner.now), Some(&inner.now_schema), table);
        let Some(key) = table.key_positions() else {
            // no key: the table goes back to the guard's rows as a whole
            report.whole_table = true;
            let mut g = Cursor::new(g_rx).await;
            let mut sent = 0u64;
            while let Some(row) = g.row.take() {
                rows.send(vec![row])
                    .await
                    .map_err(|_| SourceError::cancelled())?;
                sent += 1;
                g.next().await;
            }
            for t in [g_task, a_task, n_task].into_iter().flatten() {
                t.await
                    .map_err(|e| SourceError::data(format!("undo reader failed: {e}")))?
                    .map_err(to_err)?;
            }
            self.record(report);
            return Ok(sent);
        };
        let has_after = inner.after.is_some();
        let (mut g, mut a, mut n) = (
            Cursor::new(g_rx).await,
            Cursor::new(a_rx).await,
            Cursor::new(n_rx).await,
        );
        let mut batch = Vec::with_capacity(tresor_core::BATCH_ROWS);
        let mut sent = 0u64;
        let k = |r: &Row| {
            key.iter()
                .map(|&i| r.get(i).cloned().unwrap_or(Value::Null))
                .collect::<Vec<_>>()
        };
        loop {
            let keys: Vec<Vec<Value>> = [&g.row, &a.row, &n.row]
                .into_iter()
                .flatten()
                .map(k)
                .collect();
            let Some(min) = keys.into_iter().min_by(|x, y| compare_keys(x, y)) else {
                break;
            };
            let take = |c: &mut Cursor| -> Option<Row> {
                if c.row
                    .as_ref()
                    .is_some_and(|r| compare_keys(&k(r), &min).is_eq())
                {
                    c.row.take()
                } else {
                    None
                }
            };
            let (before, later, current) = (take(&mut g), take(&mut a), take(&mut n));
            let same = |x: &Option<Row>, y: &Option<Row>| match (x, y) {
                (None, None) => true,
                (Some(x), Some(y)) => rows_same(x, y),
                _ => false,
            };
            let out = if has_after {
                if same(&before, &later) {
                    // the operation did not touch it: as it is now
                    current
                } else if same(&current, &later) {
                    if !same(&current, &before) {
                        report.reverted += 1;
                    }
                    before
                } else {
                    report.conflicts += 1;
                    if report.conflict_keys.len() < 20
                        && let Some(r) = current.as_ref().or(later.as_ref()).or(before.as_ref())
                    {
                        report.conflict_keys.push(key_text(r, &key, table));
                    }
                    if inner.force { before } else { current }
                }
            } else {
                if !same(&current, &before) {
                    report.reverted += 1;
                }
                before
            };
            if let Some(row) = out {
                batch.push(row);
                sent += 1;
                if batch.len() >= tresor_core::BATCH_ROWS {
                    rows.send(std::mem::take(&mut batch))
                        .await
                        .map_err(|_| SourceError::cancelled())?;
                }
            }
            if g.row.is_none() {
                g.next().await;
            }
            if a.row.is_none() {
                a.next().await;
            }
            if n.row.is_none() {
                n.next().await;
            }
        }
        if !batch.is_empty() {
            rows.send(batch)
                .await
                .map_err(|_| SourceError::cancelled())?;
        }
        for t in [g_task, a_task, n_task].into_iter().flatten() {
            t.await
                .map_err(|e| SourceError::data(format!("undo reader failed: {e}")))?
                .map_err(to_err)?;
        }
        self.record(report);
        Ok(sent)
    }

    async fn close(self: Box<Self>) -> Result<(), SourceError> {
        Ok(())
    }
}

impl UndoSnapshot {
    fn record(&self, report: UndoTable) {
        if let Ok(mut r) = self.inner.report.lock() {
            r.insert(report.table.clone(), report);
        }
    }
}
