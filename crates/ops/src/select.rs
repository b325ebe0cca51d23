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
use tresor_core::codec::{Reader, decode_values_at, encode_value};
use tresor_core::{
    BoundPredicate, DatabaseSchema, ForeignKey, ReadOptions, Row, RowFilter, Source, TableFilter,
    TableName, TableSchema, Value,
};
use tresor_repo::{BlobId, Repository};

use crate::error::{OpsError, Result};
use crate::rows::{RunReader, TableCheck};
use crate::snapshot::{Snapshot, load_table_data};

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

/// Where a row is stored in the snapshot: its position in the table's
/// row order, and its chunk and index there.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowAt {
    ordinal: u64,
    pub chunk: BlobId,
    pub row: u64,
}

/// A selected row.
#[derive(Debug)]
struct Chosen {
    need: Need,
    /// Index of the reason in [`TableRows::reasons`].
    why: usize,
    at: RowAt,
}

/// The selected keys of one table.
#[derive(Debug, Default)]
pub(crate) struct TableRows {
    key: Vec<usize>,
    keys: HashMap<Vec<u8>, Chosen>,
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

    /// Where the rows the restore writes are stored, in the table's row
    /// order: a restore reads these rows and no others.
    pub(crate) fn locations(&self) -> Vec<RowAt> {
        let mut at: Vec<RowAt> = self.keys.values().map(|c| c.at).collect();
        at.sort_unstable_by_key(|a| a.ordinal);
        at
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
                for c in t.keys.values() {
                    *per.entry(c.why).or_default() += 1;
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
    // an application that declares no keys (Rails', WordPress') leaves
    // nothing to follow: said, rather than a restore of the chosen rows
    // alone that looks like one with what they depend on
    if selection.with_related
        && !links
            .iter()
            .any(|l| seeds.contains_key(&l.child) || seeds.contains_key(&l.parent))
    {
        let mut chosen: Vec<String> = seeds.keys().map(ToString::to_string).collect();
        chosen.sort();
        return Err(OpsError::InvalidInput {
            what: format!(
                "--with-related follows foreign keys, and no foreign key leads from or to {}: \
                 it would bring no other rows",
                chosen.join(", ")
            ),
            hint: Some(
                "choose the related rows with a --where for each of their tables (--where \
                 'comments: post_id IN (1, 2)'), and leave out --with-related"
                    .into(),
            ),
        });
    }
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
/// the selection. Rows are decoded only as far as the selection looks at
/// them: whole where a `--where` applies, else just the key and the
/// columns of the foreign keys followed.
async fn scan(
    repo: &Arc<Repository>,
    entry: &crate::snapshot::TableEntry,
    name: &TableName,
    key: Vec<usize>,
    seeds: &[BoundPredicate],
    links: &mut [Link],
    rows: &mut TableRows,
) -> Result<()> {
    let mut scan = Scan::new(name, seeds, links);
    let mut needed: Vec<usize> = key.clone();
    for &i in &scan.child_of {
        needed.extend(&links[i].child_cols);
    }
    for &i in &scan.parent_of {
        needed.extend(&links[i].parent_cols);
    }
    needed.sort_unstable();
    needed.dedup();
    let width = needed.last().map_or(0, |p| p + 1);
    rows.key = key;
    let data = load_table_data(repo, &entry.data).await?;
    let chunks = data.chunks.clone();
    let mut reader = RunReader::new(repo, data)?;
    let mut check = TableCheck::default();
    let mut ordinal = 0u64;
    let mut values = Vec::new();
    let mut row: Row = Vec::new();
    let damaged = |e: tresor_core::codec::CodecError| {
        OpsError::Corrupt(format!("table {name}: damaged row data: {e}"))
    };
    while let Some(run) = reader.next_run().await {
        let run = run?;
        let chunk = chunks[run.chunk];
        for (index, enc) in run.rows()? {
            check.update(enc);
            if seeds.is_empty() {
                decode_values_at(enc, &needed, &mut values).map_err(damaged)?;
                row.clear();
                row.resize(width, Value::Null);
                for (&p, v) in needed.iter().zip(values.drain(..)) {
                    row[p] = v;
                }
            } else {
                row = Reader::new(enc).row().map_err(damaged)?;
            }
            let at = RowAt {
                ordinal,
                chunk,
                row: index,
            };
            consider(&mut scan, &row, at, links, rows);
            ordinal += 1;
        }
    }
    check.finish(entry)?;
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

/// What the scan of one table looks at, worked out once per scan.
struct Scan<'a> {
    seeds: &'a [BoundPredicate],
    /// Links whose child is this table and whose rows belong to the parent.
    belongs: Vec<usize>,
    /// Links whose parent is this table.
    parent_of: Vec<usize>,
    /// Links whose child is this table.
    child_of: Vec<usize>,
    /// Encoded values being looked up.
    scratch: Vec<u8>,
}

impl<'a> Scan<'a> {
    fn new(name: &TableName, seeds: &'a [BoundPredicate], links: &[Link]) -> Self {
        let of = |f: &dyn Fn(&Link) -> bool| -> Vec<usize> {
            links
                .iter()
                .enumerate()
                .filter(|(_, l)| f(l))
                .map(|(i, _)| i)
                .collect()
        };
        Scan {
            seeds,
            belongs: of(&|l| &l.child == name && l.belongs),
            parent_of: of(&|l| &l.parent == name),
            child_of: of(&|l| &l.child == name),
            scratch: Vec::new(),
        }
    }
}

/// Encodes the values at `positions` of `row` into `out`; false when one
/// is NULL (a NULL reference references nothing).
fn encode_into(row: &Row, positions: &[usize], out: &mut Vec<u8>) -> bool {
    out.clear();
    for &p in positions {
        match row.get(p) {
            Some(v) if !v.is_null() => encode_value(v, out),
            _ => return false,
        }
    }
    true
}

/// Why a row joins the selection.
enum Why {
    Seed,
    Belongs(usize),
    Required(usize),
}

/// Adds `row` to the selection (or promotes it within) when it joins.
/// A row that joins nothing costs one lookup per foreign key followed and
/// allocates nothing.
fn consider(scan: &mut Scan<'_>, row: &Row, at: RowAt, links: &mut [Link], rows: &mut TableRows) {
    let mut why = None;
    if scan.seeds.iter().any(|p| p.matches(row)) {
        why = Some(Why::Seed);
    } else if let Some(&i) = scan.belongs.iter().find(|&&i| {
        let l = &links[i];
        encode_into(row, &l.child_cols, &mut scan.scratch)
            && l.parents_selected.contains(scan.scratch.as_slice())
    }) {
        why = Some(Why::Belongs(i));
    } else if let Some(&i) = scan.parent_of.iter().find(|&&i| {
        let l = &links[i];
        encode_into(row, &l.parent_cols, &mut scan.scratch)
            && l.children_need.contains(scan.scratch.as_slice())
    }) {
        why = Some(Why::Required(i));
    }
    let Some(why) = why else {
        return;
    };
    let need = match why {
        Why::Seed | Why::Belongs(_) => Need::Restore,
        Why::Required(_) => Need::IfMissing,
    };
    let k = encode(row, &rows.key);
    match rows.keys.get(&k).map(|c| c.need) {
        Some(Need::Restore) => return,
        Some(Need::IfMissing) if need == Need::IfMissing => return,
        _ => {}
    }
    let text = match why {
        Why::Seed => "matches --where".to_string(),
        Why::Belongs(i) => format!("belongs to {} ({})", links[i].parent, links[i].label),
        Why::Required(i) => format!("required by {} ({})", links[i].child, links[i].label),
    };
    let why = reason(rows, text);
    rows.keys.insert(k, Chosen { need, why, at });
    for &i in &scan.child_of {
        if let Some(v) = encode_columns(row, &links[i].child_cols) {
            links[i].children_need.insert(v);
        }
    }
    if need == Need::Restore {
        for &i in &scan.parent_of {
            let l = &mut links[i];
            if l.belongs
                && let Some(v) = encode_columns(row, &l.parent_cols)
            {
                l.parents_selected.insert(v);
            }
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
        .filter(|(n, t)| existing.contains(n) && t.keys.values().any(|c| c.need == Need::IfMissing))
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
                        if rows.keys.get(&k).is_some_and(|c| c.need == Need::IfMissing) {
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
