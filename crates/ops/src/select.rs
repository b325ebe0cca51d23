//! Restoring chosen rows: the rows `--where` selects and, with
//! `--with-related`, the rows that reference them (a project's tasks, their
//! comments, recursively) and the rows they require (the project's owner),
//! so that what comes back is consistent on its own.
//!
//! The selection is computed on the snapshot alone: each table involved is
//! read from the repository and rows join the selection when they match a
//! predicate, belong to a selected row, or are required by one; tables are
//! read again until nothing new joins (cycles and self-references end
//! there).
//!
//! - *Belongs to*: a row references a selected row through a foreign key
//!   whose columns are all `NOT NULL` (a task cannot exist without its
//!   project, so it belongs to it). A nullable reference (a user's
//!   favourite project) does not make the row part of what it points at.
//! - *Required by*: a selected row references it, through any foreign key
//!   (the project's owner, a comment's author). Required rows are restored
//!   only if the target lacks them, so an owner who still exists keeps
//!   their newer profile, and nothing belonging to a required row comes
//!   along.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;
use tresor_core::codec::encode_value;
use tresor_core::{
    BoundPredicate, DatabaseSchema, ForeignKey, ReadOptions, Row, RowFilter, Source, TableFilter,
    TableName, TableSchema, Value,
};
use tresor_repo::Repository;

use crate::error::{OpsError, Result};
use crate::rows::stream_table;
use crate::snapshot::Snapshot;

/// Which rows of a snapshot to restore.
#[derive(Clone, Debug, Default)]
pub struct RowSelection {
    /// `TABLE: PREDICATE` filters; several on one table select the rows
    /// that match any of them.
    pub filters: Vec<RowFilter>,
    /// Follow foreign keys from the selected rows, down to the rows that
    /// reference them and up to the rows they require.
    pub with_related: bool,
}

/// Why rows of a table are in a selection, for the preview.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SelectionReason {
    /// In words: `matches --where`, `references customers (fk
    /// orders_customer_id_fkey)`, `required by orders (fk ...)`.
    pub why: String,
    /// Rows selected for this reason.
    pub rows: u64,
}

/// The selected rows of one table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SelectedTable {
    /// The table.
    pub table: String,
    /// Rows the restore writes.
    pub rows: u64,
    /// Rows required by others that the target already holds: left as they
    /// are.
    pub already_present: u64,
    /// Why, per reason.
    pub reasons: Vec<SelectionReason>,
}

/// How a selected row is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    /// Inserted, or updated to the snapshot's values.
    Restore,
    /// Inserted only if the target lacks it.
    IfMissing,
}

/// The selected keys of one table.
#[derive(Debug, Default)]
pub(crate) struct TableRows {
    key: Vec<usize>,
    keys: HashMap<Vec<u8>, (Need, usize)>,
    reasons: Vec<String>,
    already_present: u64,
}

impl TableRows {
    /// Rows the restore writes.
    pub(crate) fn len(&self) -> u64 {
        self.keys.len() as u64
    }

    /// Whether the restore writes `row`.
    pub(crate) fn admits(&self, row: &Row) -> bool {
        self.keys.contains_key(&encode(row, &self.key))
    }
}

/// A computed selection: per table, the keys to restore.
#[derive(Debug, Default)]
pub(crate) struct Selected {
    pub tables: BTreeMap<TableName, TableRows>,
}

impl Selected {
    /// What the preview shows.
    pub(crate) fn report(&self) -> Vec<SelectedTable> {
        self.tables
            .iter()
            .map(|(name, t)| {
                let mut per: BTreeMap<usize, u64> = BTreeMap::new();
                for (_, why) in t.keys.values() {
                    *per.entry(*why).or_default() += 1;
                }
                SelectedTable {
                    table: name.to_string(),
                    rows: t.keys.len() as u64,
                    already_present: t.already_present,
                    reasons: per
                        .into_iter()
                        .map(|(i, rows)| SelectionReason {
                            why: t.reasons[i].clone(),
                            rows,
                        })
                        .collect(),
                }
            })
            .collect()
    }
}

fn encode(row: &Row, positions: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    for &p in positions {
        encode_value(row.get(p).unwrap_or(&Value::Null), &mut out);
    }
    out
}

/// The values of `columns` in `row`, encoded; `None` when one is NULL (a
/// NULL reference references nothing).
fn encode_columns(row: &Row, positions: &[usize]) -> Option<Vec<u8>> {
    positions
        .iter()
        .all(|&p| row.get(p).is_some_and(|v| !v.is_null()))
        .then(|| encode(row, positions))
}

/// A foreign key between two tables of the snapshot, by positions.
struct Link {
    child: TableName,
    parent: TableName,
    /// Referencing columns in the child's rows.
    child_cols: Vec<usize>,
    /// Referenced columns in the parent's rows.
    parent_cols: Vec<usize>,
    label: String,
    /// Whether child rows belong to their parent (every referencing column
    /// is NOT NULL), so that selecting a parent brings them along.
    belongs: bool,
    /// Encoded referenced values of parent rows selected to restore: child
    /// rows holding them are selected (down).
    parents_selected: HashSet<Vec<u8>>,
    /// Encoded referencing values of selected child rows: parent rows
    /// holding them are required (up).
    children_need: HashSet<Vec<u8>>,
    /// How many `parents_selected` the child's last scan started with,
    /// and how many `children_need` the parent's: a table is read again
    /// only when a set it joins on grew since (the sets only grow).
    child_saw: usize,
    parent_saw: usize,
}

fn positions(table: &TableSchema, columns: &[String]) -> Option<Vec<usize>> {
    let stored: Vec<&str> = table.stored_columns().map(|c| c.name.as_str()).collect();
    columns
        .iter()
        .map(|c| stored.iter().position(|s| s == c))
        .collect()
}

fn find<'a>(schema: &'a DatabaseSchema, name: &TableName) -> Option<&'a TableSchema> {
    schema.tables.iter().find(|t| &t.name == name).or_else(|| {
        let mut same = schema.tables.iter().filter(|t| t.name.name == name.name);
        match (same.next(), same.next()) {
            (Some(t), None) => Some(t),
            _ => None,
        }
    })
}

fn links(schema: &DatabaseSchema, allowed: &TableFilter) -> Vec<Link> {
    let mut out = Vec::new();
    for child in schema.tables.iter().filter(|t| allowed.matches(&t.name)) {
        for fk in &child.foreign_keys {
            let Some(parent) = find(schema, &fk.references).filter(|p| allowed.matches(&p.name))
            else {
                continue;
            };
            let (Some(child_cols), Some(parent_cols)) = (
                positions(child, &fk.columns),
                positions(parent, &fk.referenced_columns),
            ) else {
                continue;
            };
            let belongs = fk
                .columns
                .iter()
                .all(|c| child.column(c).is_some_and(|c| !c.nullable));
            out.push(Link {
                child: child.name.clone(),
                parent: parent.name.clone(),
                child_cols,
                parent_cols,
                label: fk_label(fk),
                belongs,
                parents_selected: HashSet::new(),
                children_need: HashSet::new(),
                child_saw: 0,
                parent_saw: 0,
            });
        }
    }
    out
}

fn fk_label(fk: &ForeignKey) -> String {
    match &fk.name {
        Some(n) => format!("fk {n}"),
        None => format!("fk ({})", fk.columns.join(", ")),
    }
}

/// Computes which rows of `snapshot` the selection restores.
///
/// # Errors
/// A `--where` on a table the snapshot lacks or a column a table lacks,
/// a selected table without a primary key, repository failures.
pub(crate) async fn select(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    schema: &DatabaseSchema,
    allowed: &TableFilter,
    selection: &RowSelection,
) -> Result<Selected> {
    let mut seeds: BTreeMap<TableName, Vec<BoundPredicate>> = BTreeMap::new();
    for f in &selection.filters {
        let table = schema
            .tables
            .iter()
            .find(|t| f.applies_to(&t.name))
            .ok_or_else(|| OpsError::NotFound {
                what: format!(
                    "--where names table {}, which snapshot {} does not hold",
                    f.table,
                    snapshot.short_id()
                ),
                hint: Some("`tresor show SNAPSHOT` lists its tables".into()),
            })?;
        let bound = f
            .predicate
            .bind(table)
            .map_err(|e| OpsError::InvalidInput {
                what: format!("--where for table {}: {e}", table.name),
                hint: e.hint().map(str::to_string),
            })?;
        seeds.entry(table.name.clone()).or_default().push(bound);
    }
    let mut links = if selection.with_related {
        links(schema, allowed)
    } else {
        Vec::new()
    };
    let mut out = Selected::default();
    let mut dirty: HashSet<TableName> = seeds.keys().cloned().collect();
    while !dirty.is_empty() {
        let mut names: Vec<TableName> = dirty.drain().collect();
        names.sort_by_key(ToString::to_string);
        for name in names {
            let Some(table) = find(schema, &name) else {
                continue;
            };
            let key = table
                .key_positions()
                .ok_or_else(|| OpsError::InvalidInput {
                    what: format!(
                        "table {name} has no primary key, so its rows cannot be chosen one by one"
                    ),
                    hint: Some(
                        "restore the whole table with --tables, or leave it out with --exclude"
                            .into(),
                    ),
                })?;
            let entry = snapshot.table(&name).ok_or_else(|| {
                OpsError::Corrupt(format!(
                    "table {name} is in the schema but not in the manifest"
                ))
            })?;
            for l in links.iter_mut() {
                if l.child == name {
                    l.child_saw = l.parents_selected.len();
                }
                if l.parent == name {
                    l.parent_saw = l.children_need.len();
                }
            }
            scan(
                repo,
                entry,
                &name,
                key,
                seeds.get(&name).map(Vec::as_slice).unwrap_or_default(),
                &mut links,
                out.tables.entry(name.clone()).or_default(),
            )
            .await?;
            // tables whose rows may now join: children of rows restored
            // since they were read, parents of rows selected since
            for l in &links {
                if l.belongs && l.parents_selected.len() > l.child_saw {
                    dirty.insert(l.child.clone());
                }
                if l.children_need.len() > l.parent_saw {
                    dirty.insert(l.parent.clone());
                }
            }
        }
    }
    out.tables.retain(|_, t| !t.keys.is_empty());
    Ok(out)
}

/// Reads one table of the snapshot and adds the rows that now belong to
/// the selection.
async fn scan(
    repo: &Arc<Repository>,
    entry: &crate::snapshot::TableEntry,
    name: &TableName,
    key: Vec<usize>,
    seeds: &[BoundPredicate],
    links: &mut [Link],
    rows: &mut TableRows,
) -> Result<()> {
    rows.key = key;
    let (tx, mut rx) = mpsc::channel(4);
    let read = stream_table(repo, entry, tx);
    let consume = async {
        while let Some(batch) = rx.recv().await {
            for row in batch {
                consider(name, &row, seeds, links, rows);
            }
        }
    };
    let (read, ()) = tokio::join!(read, consume);
    read?;
    Ok(())
}

fn reason(rows: &mut TableRows, why: String) -> usize {
    match rows.reasons.iter().position(|r| *r == why) {
        Some(i) => i,
        None => {
            rows.reasons.push(why);
            rows.reasons.len() - 1
        }
    }
}

/// Adds `row` to the selection (or promotes it within) when it joins.
fn consider(
    name: &TableName,
    row: &Row,
    seeds: &[BoundPredicate],
    links: &mut [Link],
    rows: &mut TableRows,
) {
    let k = encode(row, &rows.key);
    let had = rows.keys.get(&k).map(|(n, _)| *n);
    if had == Some(Need::Restore) {
        return;
    }
    let mut found: Option<(Need, String)> = None;
    if seeds.iter().any(|p| p.matches(row)) {
        found = Some((Need::Restore, "matches --where".to_string()));
    }
    if found.is_none() {
        for l in links.iter().filter(|l| &l.child == name && l.belongs) {
            if encode_columns(row, &l.child_cols).is_some_and(|v| l.parents_selected.contains(&v)) {
                found = Some((
                    Need::Restore,
                    format!("belongs to {} ({})", l.parent, l.label),
                ));
                break;
            }
        }
    }
    if found.is_none() && had.is_none() {
        for l in links.iter().filter(|l| &l.parent == name) {
            if encode_columns(row, &l.parent_cols).is_some_and(|v| l.children_need.contains(&v)) {
                found = Some((
                    Need::IfMissing,
                    format!("required by {} ({})", l.child, l.label),
                ));
                break;
            }
        }
    }
    let Some((need, why)) = found else {
        return;
    };
    let i = reason(rows, why);
    rows.keys.insert(k, (need, i));
    for l in links.iter_mut() {
        if &l.child == name
            && let Some(v) = encode_columns(row, &l.child_cols)
        {
            l.children_need.insert(v);
        }
        if need == Need::Restore
            && l.belongs
            && &l.parent == name
            && let Some(v) = encode_columns(row, &l.parent_cols)
        {
            l.parents_selected.insert(v);
        }
    }
}

/// Drops required rows the target already holds (they stay as they are).
///
/// # Errors
/// Database failures.
pub(crate) async fn drop_present(
    selected: &mut Selected,
    target_source: &dyn Source,
    existing: &[TableName],
) -> Result<()> {
    let wanted: Vec<TableName> = selected
        .tables
        .iter()
        .filter(|(n, t)| {
            existing.contains(n) && t.keys.values().any(|(n, _)| *n == Need::IfMissing)
        })
        .map(|(n, _)| n.clone())
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let live = target_source
        .open(&ReadOptions {
            filter: TableFilter::exact(wanted.clone()),
            ..ReadOptions::default()
        })
        .await?;
    let result = async {
        for name in &wanted {
            let (Some(schema), Some(rows)) =
                (live.schema().table(name), selected.tables.get_mut(name))
            else {
                continue;
            };
            let Some(key) = schema.key_positions() else {
                continue;
            };
            let (tx, mut rx) = mpsc::channel(4);
            let read = live.read_table(schema, tx);
            let consume = async {
                while let Some(batch) = rx.recv().await {
                    for row in batch {
                        let k = encode(&row, &key);
                        if rows
                            .keys
                            .get(&k)
                            .is_some_and(|(n, _)| *n == Need::IfMissing)
                        {
                            rows.keys.remove(&k);
                            rows.already_present += 1;
                        }
                    }
                }
            };
            let (read, ()) = tokio::join!(read, consume);
            read?;
        }
        Ok::<_, OpsError>(())
    }
    .await;
    live.close().await?;
    result
}
