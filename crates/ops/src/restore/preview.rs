//! The dry run: what a restore would insert, update and delete, per
//! table, and optionally a rehearsal of it.

use std::mem::discriminant;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;
use tresor_core::{
    Approximation, DiffCounts, Engine, PortableType, ReadOptions, RestoreMode, RestorePlan, Row,
    RowBatch, RowKey, RowReceiver, Source, SourceSnapshot, TableName, TableSchema, Target,
    TargetState, diff_keyed, diff_unkeyed,
};
use tresor_repo::Repository;

use super::load::{keep_chosen, money_columns, stream_restored};
use super::rehearsal::{Rehearsal, RehearsalError, rehearse};
use super::{
    AppVersions, Planned, RestoreOptions, SkippedTable, approximations_of, choosing,
    definition_change, extra_tables, in_target, keep_only_missing, leave_out_unheld,
    others_connected, overwritten, plan, plan_drops, references_dropped, refuse_flattened,
    refuse_merging_storage, spelling, takes_safety_snapshot, to_recreate,
};
use crate::error::{OpsError, Result};
use crate::select::{Selected, SelectedTable, TableRows, drop_present};
use crate::snapshot::{Snapshot, TableEntry};

/// What a restore would do to one table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TablePreview {
    /// The table.
    pub name: TableName,
    /// `create` (the table is new), `replace`, `merge`, or `recreate` (a
    /// replace of a table whose definition changed since the backup: it is
    /// created again as the snapshot had it, with its rows).
    pub action: String,
    /// How the table's definition in the target differs from the
    /// snapshot's, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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
#[derive(Clone, Debug, PartialEq, Serialize)]
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
    /// For a whole-database restore: tables the target holds that the
    /// snapshot does not (created after the backup, or renamed). A restore
    /// leaves them as they are.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_tables: Vec<String>,
    /// With `drop_extra_tables`: the tables the snapshot lacks that the
    /// restore drops (rehearsed with the rest), with the rows they hold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<SkippedTable>,
    /// For a row selection: per table, how many rows come and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub selection: Vec<SelectedTable>,
    /// The restore executed and rolled back, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rehearsal: Option<Rehearsal>,
    /// With `only_missing`: tables left alone because they hold data.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedTable>,
    /// The snapshot's and the target's application versions.
    pub app_version: AppVersions,
    /// Whether the target database does not exist yet (the restore
    /// creates it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub creates_database: bool,
    /// Into another engine: per table and column, what cannot be kept as
    /// it was (the type it becomes, what changes), and the objects not
    /// translated; into an older PostgreSQL, what the target rewrites.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub approximations: Vec<Approximation>,
    /// The other clients connected to the target database (the
    /// application still running), where the engine can tell: what they
    /// write while the restore runs is overwritten, and what they write
    /// after its safety snapshot is not in it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_sessions: Vec<tresor_core::OtherSession>,
    /// The restore holds the tables it changes against other sessions'
    /// writes from before its safety snapshot until it commits
    /// ([`Target::hold`]): what they write then waits instead of being
    /// overwritten or missed (see [`sessions_consequence`]).
    ///
    /// [`sessions_consequence`]: crate::sessions_consequence
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub writes_held: bool,
    /// The restore takes a safety snapshot first: it changes tables the
    /// target has (empty or not), and the options ask for one.
    pub safety_snapshot: bool,
}

impl Preview {
    /// The rehearsal's error, when the rehearsal found that the restore
    /// would fail.
    pub fn failure(&self) -> Option<&RehearsalError> {
        self.rehearsal.as_ref().and_then(|r| r.error.as_ref())
    }
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
    let Planned {
        mut plan,
        mut selected,
        app_version,
    } = plan(repo, snapshot, options).await?;
    let state = target.inspect().await?;
    refuse_flattened(&plan, &state, target.engine())?;
    refuse_merging_storage(&plan, options)?;
    let skipped = keep_only_missing(&mut plan, &state, options)?;
    plan_drops(&mut plan, &state, options)?;
    if plan.tables.is_empty() {
        return Ok(Preview {
            snapshot: snapshot.id.clone(),
            mode: options.mode,
            overwrites_data: false,
            tables: Vec::new(),
            extra_tables: Vec::new(),
            dropped: Vec::new(),
            selection: Vec::new(),
            rehearsal: None,
            skipped,
            app_version,
            creates_database: !state.exists,
            approximations: Vec::new(),
            other_sessions: Vec::new(),
            writes_held: false,
            safety_snapshot: false,
        });
    }
    let other_sessions = others_connected(target, &plan, &state).await;
    let mut approximations = approximations_of(&plan, &state, target, options).await?;
    leave_out_unheld(&mut plan, target.engine());
    if let Some(sel) = selected.as_mut() {
        let existing = in_target(&plan, &state);
        drop_present(sel, target_source, &existing).await?;
    }
    let existing = in_target(&plan, &state);
    let live = if existing.is_empty() {
        None
    } else {
        let read = ReadOptions {
            filter: choosing(&plan, &existing),
            lock_wait: plan.lock_wait,
            ..ReadOptions::default()
        };
        Some(target_source.open(&read).await?)
    };
    if let Some(live) = &live {
        spelling::spell_as_target(&mut plan, snapshot.source.engine, live.schema());
        plan.recreate = to_recreate(
            &plan,
            snapshot,
            target.engine(),
            live.schema(),
            selected.is_some(),
        );
    }
    let tables = table_previews(
        repo,
        snapshot,
        &plan,
        &state,
        live.as_deref(),
        selected.as_ref(),
        options.mode,
    )
    .await?;
    if let Some(live) = live {
        live.close().await?;
    }
    let rehearsal = match options.rehearsal {
        Some(limit) => {
            Some(rehearse(repo, snapshot, target, &plan, selected.as_ref(), limit).await?)
        }
        None => None,
    };
    // the values the rehearsal's load wrote in another form
    if let Some(r) = &rehearsal {
        approximations.extend(r.changed_values.iter().cloned());
    }
    let extra_tables = if plan.whole_database {
        extra_tables(&plan, &state)
            .into_iter()
            .filter(|t| !plan.drop.contains(t))
            .map(|t| t.to_string())
            .collect()
    } else {
        Vec::new()
    };
    let dropped: Vec<SkippedTable> = plan
        .drop
        .iter()
        .map(|t| SkippedTable {
            name: t.clone(),
            target_rows: state.table(t).map_or(0, |e| e.rows),
        })
        .collect();
    let safety_snapshot = takes_safety_snapshot(options, &plan, &in_target(&plan, &state));
    Ok(Preview {
        selection: selected.as_ref().map(Selected::report).unwrap_or_default(),
        snapshot: snapshot.id.clone(),
        mode: options.mode,
        overwrites_data: !overwritten(&plan, &state).is_empty()
            || dropped.iter().any(|t| t.target_rows > 0),
        writes_held: safety_snapshot && target.holds_writes(),
        safety_snapshot,
        tables,
        extra_tables,
        dropped,
        rehearsal,
        skipped,
        app_version,
        creates_database: !state.exists,
        approximations,
        other_sessions,
    })
}

/// Per table of `plan`, in load order, what the restore would do to it;
/// `live` reads the target's tables that exist.
async fn table_previews(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    plan: &RestorePlan,
    state: &TargetState,
    live: Option<&dyn SourceSnapshot>,
    selected: Option<&Selected>,
    mode: RestoreMode,
) -> Result<Vec<TablePreview>> {
    let mut tables = Vec::with_capacity(plan.tables.len());
    for name in &plan.tables {
        let (Some(entry), Some(schema)) = (snapshot.table(name), plan.schema.table(name)) else {
            continue;
        };
        let target_rows = state.table(name).map(|e| e.rows);
        let live_schema = live.and_then(|l| l.schema().table(name).cloned());
        let chosen = selected.and_then(|s| s.tables.get(name));
        let differs = live_schema
            .as_ref()
            .filter(|_| plan.recreate.contains(name))
            // a key on a table the restore drops says more than a key added
            .and_then(|l| {
                references_dropped(l, &plan.drop).or_else(|| definition_change(schema, l))
            });
        if let Some(change) = differs {
            // the table is made again as the snapshot had it
            tables.push(TablePreview {
                name: name.clone(),
                action: "recreate".into(),
                note: Some(change),
                snapshot_rows: entry.rows,
                target_rows,
                inserted: entry.rows,
                updated: 0,
                deleted: target_rows.unwrap_or(0),
                unchanged: 0,
            });
            continue;
        }
        let mut counts = match (live, live_schema) {
            (Some(live), Some(live_schema)) => {
                let money = money_columns(schema, snapshot.source.engine, |c| {
                    live_schema
                        .column(c)
                        .is_some_and(|l| l.engine_type == "money")
                });
                let from = snapshot.source.engine;
                live_counts(
                    repo,
                    entry,
                    (schema, from),
                    (live, &live_schema),
                    chosen,
                    &money,
                )
                .await
                .map_err(|e| match e {
                    OpsError::Source(e) => OpsError::Source(e.within(format!("table {name}"))),
                    e => e,
                })?
            }
            _ => DiffCounts {
                inserted: chosen.map_or(entry.rows, |c| c.len()),
                ..DiffCounts::default()
            },
        };
        if let Some(c) = chosen {
            // the target's other rows are not part of a row selection
            counts.deleted = 0;
            counts.unchanged = c.len().saturating_sub(counts.inserted + counts.updated);
        }
        let action = match (target_rows, mode) {
            (None, _) => "create",
            (Some(_), RestoreMode::Replace) => "replace",
            (Some(_), RestoreMode::Merge) => "merge",
        };
        tables.push(TablePreview {
            name: name.clone(),
            action: action.into(),
            note: None,
            snapshot_rows: entry.rows,
            target_rows,
            inserted: counts.inserted,
            updated: counts.updated,
            deleted: if mode == RestoreMode::Merge {
                0
            } else {
                counts.deleted
            },
            unchanged: counts.unchanged
                + if mode == RestoreMode::Merge {
                    counts.deleted
                } else {
                    0
                },
        });
    }
    Ok(tables)
}

/// Inserted, updated, deleted and unchanged rows of one table: the
/// snapshot's rows (those `chosen`, for a row selection) compared with the
/// target's rows now.
async fn live_counts(
    repo: &Arc<Repository>,
    entry: &TableEntry,
    (schema, from): (&TableSchema, Engine),
    (live, live_schema): (&dyn SourceSnapshot, &TableSchema),
    chosen: Option<&TableRows>,
    money: &[usize],
) -> Result<DiffCounts> {
    // SQLite's implicit rowid is no column in another engine:
    // the comparison leaves it out on both sides
    let (compared, own) = without_absent_rowid(schema, live_schema);
    let projection = projection(&compared, live_schema)?;
    // from another engine, values compare as the target's columns hold
    // them (SQLite's 1 is PostgreSQL's true)
    let types: Vec<PortableType> = if from == live.schema().engine {
        Vec::new()
    } else {
        compared
            .stored_columns()
            .map(|c| {
                // SQLite's column by its declared type, as a diff reads it
                live_schema.column(&c.name).map_or_else(
                    || tresor_core::convert::portable_of(c),
                    tresor_core::convert::portable_of,
                )
            })
            .collect()
    };
    let (stx, srx) = mpsc::channel(4);
    let (ftx, frx) = mpsc::channel(4);
    let (otx, orx) = mpsc::channel(4);
    let (ltx, lrx) = mpsc::channel(4);
    let (ptx, prx) = mpsc::channel(4);
    // rows compared by key only when both sides come in the order of that
    // key. Otherwise they are compared as sets of rows: a target whose
    // table has another key, or none (Synapse's `events` in PostgreSQL,
    // keyed in SQLite), and a SQLite table with a text primary key, whose
    // rows the snapshot holds in rowid order, moved into another engine,
    // and a key of another type there (text into an integer sorts
    // otherwise)
    let class = |t: &TableSchema, k: &str| {
        t.column(k)
            .map(|c| discriminant(&tresor_core::convert::portable_of(c)))
    };
    let same_key = compared.row_key == schema.row_key
        && match (&compared.row_key, &live_schema.row_key) {
            (RowKey::Columns { columns: a }, RowKey::Columns { columns: b }) => {
                a == b
                    && a.iter()
                        .all(|k| class(&compared, k) == class(live_schema, k))
            }
            _ => false,
        };
    let diff = async {
        match compared.key_positions().filter(|_| same_key) {
            Some(keys) => diff_keyed(prx, orx, &keys).await,
            None => diff_unkeyed(prx, orx).await,
        }
    };
    let (a, _, _, b, _, d) = tokio::join!(
        stream_restored(repo, entry, chosen, stx),
        keep_chosen(srx, ftx, chosen, money),
        project(frx, otx, &own, &types),
        live.read_table(live_schema, ltx),
        project(lrx, ptx, &projection, &types),
        diff
    );
    a?;
    b?;
    Ok(d?)
}

/// The snapshot's table as compared with a live table of another engine:
/// without hidden columns (SQLite's implicit rowid) the live table lacks,
/// keyed by its primary key instead; and the positions of the columns
/// kept in the snapshot's rows.
fn without_absent_rowid(snapshot: &TableSchema, live: &TableSchema) -> (TableSchema, Vec<usize>) {
    let absent = |c: &tresor_core::Column| c.hidden && live.column(&c.name).is_none();
    let all: Vec<usize> = (0..snapshot.stored_columns().count()).collect();
    if !snapshot.stored_columns().any(absent) {
        return (snapshot.clone(), all);
    }
    let keep: Vec<usize> = snapshot
        .stored_columns()
        .enumerate()
        .filter(|(_, c)| !absent(c))
        .map(|(i, _)| i)
        .collect();
    let mut t = snapshot.clone();
    let dropped: Vec<String> = t
        .columns
        .iter()
        .filter(|c| absent(c))
        .map(|c| c.name.clone())
        .collect();
    t.columns.retain(|c| !dropped.contains(&c.name));
    t.row_key = if t.primary_key.is_empty() || t.primary_key.iter().any(|k| dropped.contains(k)) {
        RowKey::None
    } else {
        RowKey::Columns {
            columns: t.primary_key.clone(),
        }
    };
    (t, keep)
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

/// Rows cut down to the columns at `positions`, each value as a column
/// of `types` holds it ([`tresor_core::convert::comparable`]; as it is
/// without types).
async fn project(
    mut rx: RowReceiver,
    tx: mpsc::Sender<RowBatch>,
    positions: &[usize],
    types: &[PortableType],
) {
    let identity = positions.iter().enumerate().all(|(i, p)| i == *p);
    while let Some(batch) = rx.recv().await {
        let whole = identity && batch.first().is_none_or(|r| r.len() == positions.len());
        let batch = if whole && types.is_empty() {
            batch
        } else {
            batch
                .into_iter()
                .map(|row| {
                    positions
                        .iter()
                        .enumerate()
                        .map(|(i, &p)| match types.get(i) {
                            Some(t) => tresor_core::convert::comparable(&row[p], t),
                            None => row[p].clone(),
                        })
                        .collect::<Row>()
                })
                .collect()
        };
        if tx.send(batch).await.is_err() {
            return;
        }
    }
}
