//! Diffs: what changed between two snapshots, or between a snapshot and
//! the database as it is now, table by table and, for tables with a key,
//! row by row.
//!
//! Both sides stream in key order and meet in a merge-join, so no table is
//! ever held in memory. Between two snapshots, rows both sides share (the
//! same row of the same stored chunk, as row-level incremental backups
//! share them) are skipped without being read, so a diff costs what
//! changed, not what is there.

mod live;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;
use tresor_core::codec::Reader;
use tresor_core::{
    BoundPredicate, DiffCounts, ReadOptions, Row, RowChange, RowFilter, Source, TableFilter,
    TableName, TableSchema, compare_keys, diff_unkeyed,
};
use tresor_repo::{BlobId, Repository};

use crate::cache::CacheDir;
use crate::error::{OpsError, Result};
use crate::rows::{ChunkCache, stream_table};
use crate::snapshot::{Snapshot, TableEntry, load_schema, load_table_data};

/// What to compare.
#[derive(Clone, Debug, Default)]
pub struct DiffOptions {
    /// Which tables.
    pub tables: TableFilter,
    /// Row predicates (`--where`): a table with predicates compares only
    /// the rows that match one of them (on either side); tables without
    /// one compare every row.
    pub filters: Vec<RowFilter>,
    /// Where the local row cache lives: a diff against the live database
    /// reads the snapshot's keys and row digests from it when it holds
    /// the snapshot.
    pub cache: CacheDir,
}

/// The newer side of a diff.
pub enum DiffTarget<'a> {
    /// Another snapshot.
    Snapshot(&'a Snapshot),
    /// The database as it is now, read through its source.
    Live(&'a dyn Source),
}

/// How a table differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TableStatus {
    /// Only the newer side has it.
    Added,
    /// Only the older side has it.
    Removed,
    /// Rows or columns differ.
    Changed,
    /// Nothing differs.
    Unchanged,
}

/// The difference of one table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableDiff {
    /// The table.
    pub table: String,
    /// Added, removed, changed or unchanged.
    pub status: TableStatus,
    /// Whether rows were compared by key (tables without one compare as
    /// multisets and list no rows).
    pub keyed: bool,
    /// Rows only the newer side has (all rows of an added table).
    pub inserted: u64,
    /// Keys whose values differ.
    pub updated: u64,
    /// Rows only the older side has (all rows of a removed table).
    pub deleted: u64,
    /// Rows that are the same (not counted when row predicates apply,
    /// since shared rows are not read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchanged: Option<u64>,
    /// Columns only the newer side has.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns_added: Vec<String>,
    /// Columns only the older side has.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns_removed: Vec<String>,
    /// Columns whose type changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns_retyped: Vec<String>,
    /// Rows read and compared.
    pub rows_compared: u64,
    /// Rows both snapshots share, skipped without reading them.
    pub rows_skipped: u64,
}

impl TableDiff {
    fn new(table: &TableName, status: TableStatus) -> Self {
        TableDiff {
            table: table.to_string(),
            status,
            keyed: false,
            inserted: 0,
            updated: 0,
            deleted: 0,
            unchanged: None,
            columns_added: Vec::new(),
            columns_removed: Vec::new(),
            columns_retyped: Vec::new(),
            rows_compared: 0,
            rows_skipped: 0,
        }
    }

    fn settle(&mut self) {
        let changed = self.inserted + self.updated + self.deleted > 0
            || !self.columns_added.is_empty()
            || !self.columns_removed.is_empty()
            || !self.columns_retyped.is_empty();
        if matches!(self.status, TableStatus::Unchanged | TableStatus::Changed) {
            self.status = if changed {
                TableStatus::Changed
            } else {
                TableStatus::Unchanged
            };
        }
    }

    /// Between two engines every column's type is spelled in its own way
    /// (SQLite's dynamic `INTEGER`, PostgreSQL's `bigint`) and a table
    /// without a key has SQLite's hidden `rowid` on one side only. The
    /// values were compared as the newer side holds them, so neither is a
    /// change worth a line of its own: columns are not listed as retyped,
    /// and hidden columns not as added or removed.
    fn across_engines(&mut self, old: &TableSchema, new: &TableSchema) {
        let hidden =
            |t: &TableSchema, name: &String| t.columns.iter().any(|c| &c.name == name && c.hidden);
        self.columns_retyped.clear();
        self.columns_removed.retain(|name| !hidden(old, name));
        self.columns_added.retain(|name| !hidden(new, name));
        self.settle();
    }
}

/// One changed row, as a diff hands it out.
pub struct ChangedRow<'a> {
    /// The table.
    pub table: &'a TableName,
    /// The columns both sides have, in the rows' order.
    pub columns: &'a [String],
    /// Positions of the key columns in the rows.
    pub key: &'a [usize],
    /// What changed.
    pub change: &'a RowChange,
}

impl ChangedRow<'_> {
    /// The key values of the change's row.
    pub fn key_values(&self) -> Vec<tresor_core::Value> {
        let row = self.change.row();
        self.key
            .iter()
            .map(|&i| row.get(i).cloned().unwrap_or(tresor_core::Value::Null))
            .collect()
    }

    /// For an update: the columns whose values differ, with old and new
    /// values.
    pub fn changed_columns(&self) -> Vec<(&str, &tresor_core::Value, &tresor_core::Value)> {
        let RowChange::Updated { old, new } = self.change else {
            return Vec::new();
        };
        self.columns
            .iter()
            .zip(old.iter().zip(new))
            .filter(|(_, (a, b))| !a.same(b))
            .map(|(c, (a, b))| (c.as_str(), a, b))
            .collect()
    }
}

impl ChangedRow<'_> {
    /// The change as JSON: `{"table", "change": "insert"|"delete", "key",
    /// "row"}`, or for an update `{"table", "change": "update", "key",
    /// "columns": {name: {"old", "new"}}}` with only the columns that
    /// changed; values in the typed JSON of export archives.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::{Map, Value as Json, json};
        use tresor_core::json::value_to_json;
        let row = self.change.row();
        let key: Map<String, Json> = self
            .key
            .iter()
            .filter_map(|&i| Some((self.columns.get(i)?.clone(), value_to_json(row.get(i)?))))
            .collect();
        let object = |r: &Row| -> Json {
            Json::Object(
                self.columns
                    .iter()
                    .zip(r)
                    .map(|(n, v)| (n.clone(), value_to_json(v)))
                    .collect(),
            )
        };
        let table = self.table.to_string();
        match self.change {
            RowChange::Inserted(r) => {
                json!({"table": table, "change": "insert", "key": key, "row": object(r)})
            }
            RowChange::Deleted(r) => {
                json!({"table": table, "change": "delete", "key": key, "row": object(r)})
            }
            RowChange::Updated { .. } => {
                let columns: Map<String, Json> = self
                    .changed_columns()
                    .into_iter()
                    .map(|(n, old, new)| {
                        (
                            n.to_string(),
                            json!({"old": value_to_json(old), "new": value_to_json(new)}),
                        )
                    })
                    .collect();
                json!({"table": table, "change": "update", "key": key, "columns": columns})
            }
        }
    }
}

/// Where the columns of one side sit in the rows both sides are compared
/// as.
struct Layout {
    columns: Vec<String>,
    from_old: Vec<usize>,
    from_new: Vec<usize>,
    key: Option<Vec<usize>>,
    identity: bool,
    /// Per compared column retyped since the snapshot (into another
    /// engine, or by a migration): the new column's type, which both
    /// sides' values are compared as ([`tresor_core::convert::comparable`],
    /// as a restore's preview compares them), so that SQLite's text
    /// `2026-12-07 14:15:58` and PostgreSQL's timestamp of that time, or
    /// `1` and `true`, are the same value.
    types: Vec<Option<tresor_core::PortableType>>,
}

impl Layout {
    fn of(old: &TableSchema, new: &TableSchema, diff: &mut TableDiff) -> Layout {
        let old_cols: Vec<&tresor_core::Column> = old.stored_columns().collect();
        let new_cols: Vec<&tresor_core::Column> = new.stored_columns().collect();
        let mut columns = Vec::new();
        let (mut from_old, mut from_new) = (Vec::new(), Vec::new());
        let mut types = Vec::new();
        for (i, c) in old_cols.iter().enumerate() {
            match new_cols.iter().position(|n| n.name == c.name) {
                Some(j) => {
                    let retyped = new_cols[j].portable != c.portable
                        || new_cols[j].engine_type != c.engine_type;
                    if retyped {
                        diff.columns_retyped.push(c.name.clone());
                    }
                    types.push(retyped.then(|| tresor_core::convert::portable_of(new_cols[j])));
                    columns.push(c.name.clone());
                    from_old.push(i);
                    from_new.push(j);
                }
                None => diff.columns_removed.push(c.name.clone()),
            }
        }
        diff.columns_added.extend(
            new_cols
                .iter()
                .filter(|n| !old_cols.iter().any(|c| c.name == n.name))
                .map(|n| n.name.clone()),
        );
        let key = match (&old.row_key, &new.row_key) {
            (
                tresor_core::RowKey::Columns { columns: a },
                tresor_core::RowKey::Columns { columns: b },
            ) if a == b => a
                .iter()
                .map(|k| columns.iter().position(|c| c == k))
                .collect::<Option<Vec<usize>>>(),
            _ => None,
        };
        let identity = from_old.iter().enumerate().all(|(i, p)| i == *p)
            && from_new.iter().enumerate().all(|(i, p)| i == *p)
            && from_old.len() == old_cols.len()
            && from_new.len() == new_cols.len();
        let identity = identity && types.iter().all(Option::is_none);
        Layout {
            columns,
            from_old,
            from_new,
            key,
            identity,
            types,
        }
    }

    /// The table schema rows are compared in (predicates bind to it).
    fn schema(&self, old: &TableSchema) -> TableSchema {
        let mut t = old.clone();
        t.columns
            .retain(|c| !c.is_stored_in_rows() || self.columns.contains(&c.name));
        t
    }

    fn project(&self, row: Row, old_side: bool) -> Row {
        if self.identity {
            return row;
        }
        let from = if old_side {
            &self.from_old
        } else {
            &self.from_new
        };
        from.iter()
            .zip(&self.types)
            .map(|(&i, t)| match (row.get(i), t) {
                (Some(v), Some(t)) => tresor_core::convert::comparable(v, t),
                (Some(v), None) => v.clone(),
                (None, _) => tresor_core::Value::Null,
            })
            .collect()
    }
}

/// The predicates of one table, bound to its compared layout.
struct Selection(Vec<BoundPredicate>);

impl Selection {
    fn of(filters: &[RowFilter], table: &TableSchema) -> Result<Option<Selection>> {
        let bound = filters
            .iter()
            .filter(|f| f.applies_to(&table.name))
            .map(|f| {
                f.predicate.bind(table).map_err(|e| OpsError::InvalidInput {
                    what: format!("--where for table {}: {e}", table.name),
                    hint: e.hint().map(str::to_string),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((!bound.is_empty()).then_some(Selection(bound)))
    }

    fn admits(&self, change: &RowChange) -> bool {
        let hit = |r: &Row| self.0.iter().any(|p| p.matches(r));
        match change {
            RowChange::Inserted(r) | RowChange::Deleted(r) => hit(r),
            RowChange::Updated { old, new } => hit(old) || hit(new),
        }
    }
}

/// Hands the changes of one keyed table on: those the row predicates
/// admit are counted and passed to the caller.
struct Emit<'a, 'f> {
    table: &'a TableName,
    layout: &'a Layout,
    key: &'a [usize],
    selection: Option<&'a Selection>,
    on_row: &'a mut (dyn FnMut(ChangedRow<'_>) + Send + 'f),
    counts: DiffCounts,
}

impl<'a, 'f> Emit<'a, 'f> {
    fn new(
        table: &'a TableName,
        layout: &'a Layout,
        key: &'a [usize],
        selection: Option<&'a Selection>,
        on_row: &'a mut (dyn FnMut(ChangedRow<'_>) + Send + 'f),
    ) -> Self {
        Emit {
            table,
            layout,
            key,
            selection,
            on_row,
            counts: DiffCounts::default(),
        }
    }

    fn change(&mut self, change: &RowChange) {
        if self.selection.is_some_and(|s| !s.admits(change)) {
            return;
        }
        match change {
            RowChange::Inserted(_) => self.counts.inserted += 1,
            RowChange::Deleted(_) => self.counts.deleted += 1,
            RowChange::Updated { .. } => self.counts.updated += 1,
        }
        (self.on_row)(ChangedRow {
            table: self.table,
            columns: &self.layout.columns,
            key: self.key,
            change,
        });
    }
}

/// Compares `from` with `to`, table by table, handing every changed row of
/// a keyed table to `on_row` as it is found (in key order). Tables come
/// out sorted by name.
///
/// # Errors
/// Repository and database failures, damaged data, and `--where`
/// predicates that do not fit their table.
pub async fn diff(
    repo: &Arc<Repository>,
    from: &Snapshot,
    to: DiffTarget<'_>,
    options: &DiffOptions,
    on_row: &mut (dyn FnMut(ChangedRow<'_>) + Send),
) -> Result<Vec<TableDiff>> {
    check_filters(options)?;
    let old_schema = load_schema(repo, from).await?;
    let old_tables: BTreeMap<TableName, &TableSchema> = old_schema
        .tables
        .iter()
        .filter(|t| options.tables.matches(&t.chosen_by()))
        .map(|t| (t.name.clone(), t))
        .collect();
    match to {
        DiffTarget::Snapshot(to) => {
            let new_schema = load_schema(repo, to).await?;
            let new_tables: BTreeMap<TableName, &TableSchema> = new_schema
                .tables
                .iter()
                .filter(|t| options.tables.matches(&t.chosen_by()))
                .map(|t| (t.name.clone(), t))
                .collect();
            let mut out = Vec::new();
            for name in union(&old_tables, &new_tables, &options.filters)? {
                let d = match (old_tables.get(&name), new_tables.get(&name)) {
                    (Some(_), None) => removed(&name, from.table(&name)),
                    (None, Some(_)) => added(&name, to.table(&name).map(|e| e.rows)),
                    (Some(o), Some(n)) => {
                        let (Some(eo), Some(en)) = (from.table(&name), to.table(&name)) else {
                            return Err(OpsError::Corrupt(format!(
                                "table {name} is in the schema but not in the manifest"
                            )));
                        };
                        let mut d = diff_stored(repo, o, n, eo, en, options, on_row).await?;
                        if old_schema.engine != new_schema.engine {
                            d.across_engines(o, n);
                        }
                        d
                    }
                    (None, None) => continue,
                };
                out.push(d);
            }
            Ok(out)
        }
        DiffTarget::Live(source) => {
            let read = ReadOptions {
                filter: options.tables.clone(),
                ..ReadOptions::default()
            };
            let live = source.open(&read).await?;
            let new_tables: BTreeMap<TableName, TableSchema> = live
                .schema()
                .tables
                .iter()
                .map(|t| (t.name.clone(), t.clone()))
                .collect();
            let new_refs: BTreeMap<TableName, &TableSchema> =
                new_tables.iter().map(|(k, v)| (k.clone(), v)).collect();
            let mut out = Vec::new();
            let result = async {
                for name in union(&old_tables, &new_refs, &options.filters)? {
                    let d = match (old_tables.get(&name), new_tables.get(&name)) {
                        (Some(_), None) => removed(&name, from.table(&name)),
                        (None, Some(_)) => added(&name, None),
                        (Some(o), Some(n)) => {
                            let mut d =
                                live::diff_live(repo, from, o, n, live.as_ref(), options, on_row)
                                    .await?;
                            if old_schema.engine != live.schema().engine {
                                d.across_engines(o, n);
                            }
                            d
                        }
                        (None, None) => continue,
                    };
                    out.push(d);
                }
                Ok::<_, OpsError>(())
            }
            .await;
            live.close().await?;
            result.map(|()| out)
        }
    }
}

/// `--where` must name tables the diff looks at.
fn check_filters(options: &DiffOptions) -> Result<()> {
    if let Some(f) = options
        .filters
        .iter()
        .find(|f| !options.tables.matches(&f.table))
    {
        return Err(OpsError::InvalidInput {
            what: format!("--where names table {}, which --tables leaves out", f.table),
            hint: Some("add the table to --tables, or drop its --where".into()),
        });
    }
    Ok(())
}

/// Every table of either side, by name; `--where` must name one of them.
fn union(
    a: &BTreeMap<TableName, &TableSchema>,
    b: &BTreeMap<TableName, &TableSchema>,
    filters: &[RowFilter],
) -> Result<Vec<TableName>> {
    let mut names: Vec<TableName> = a.keys().chain(b.keys()).cloned().collect();
    names.sort_by_key(ToString::to_string);
    names.dedup();
    if let Some(f) = filters
        .iter()
        .find(|f| !names.iter().any(|n| f.applies_to(n)))
    {
        return Err(OpsError::NotFound {
            what: format!("--where names table {}, which neither side has", f.table),
            hint: Some(format!(
                "the tables are: {}",
                names
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        });
    }
    Ok(names)
}

fn removed(name: &TableName, entry: Option<&TableEntry>) -> TableDiff {
    let mut d = TableDiff::new(name, TableStatus::Removed);
    d.deleted = entry.map_or(0, |e| e.rows);
    d
}

fn added(name: &TableName, rows: Option<u64>) -> TableDiff {
    let mut d = TableDiff::new(name, TableStatus::Added);
    d.inserted = rows.unwrap_or(0);
    d
}

/// Two stored versions of a table.
async fn diff_stored(
    repo: &Arc<Repository>,
    old: &TableSchema,
    new: &TableSchema,
    old_entry: &TableEntry,
    new_entry: &TableEntry,
    options: &DiffOptions,
    on_row: &mut (dyn FnMut(ChangedRow<'_>) + Send),
) -> Result<TableDiff> {
    let mut d = TableDiff::new(&old.name, TableStatus::Unchanged);
    let layout = Layout::of(old, new, &mut d);
    let compared = layout.schema(old);
    let selection = Selection::of(&options.filters, &compared)?;
    if old_entry.data == new_entry.data && d.columns_retyped.is_empty() {
        // the very same rows
        d.keyed = layout.key.is_some();
        d.rows_skipped = old_entry.rows;
        d.unchanged = selection.is_none().then_some(old_entry.rows);
        return Ok(d);
    }
    let Some(key) = layout.key.clone() else {
        let read_new = |tx| stream_table(repo, new_entry, tx);
        return diff_unkeyed_tables(repo, old_entry, read_new, &layout, d).await;
    };
    d.keyed = true;
    let old_data = load_table_data(repo, &old_entry.data).await?;
    let new_data = load_table_data(repo, &new_entry.data).await?;
    let mut a = Side::new(old_data.resolved_runs()?, true);
    let mut b = Side::new(new_data.resolved_runs()?, false);
    let mut cache = ChunkCache::new(repo);
    let mut emit = Emit::new(&old.name, &layout, &key, selection.as_ref(), on_row);
    loop {
        match (a.at(), b.at()) {
            (None, None) => break,
            (Some(pa), Some(pb)) if pa == pb => {
                let n = a.left().min(b.left());
                a.advance(n);
                b.advance(n);
                emit.counts.unchanged += n;
                d.rows_skipped += n;
            }
            (Some(_), None) => {
                let row = a.take(&mut cache, &layout).await?;
                d.rows_compared += 1;
                emit.change(&RowChange::Deleted(row));
            }
            (None, Some(_)) => {
                let row = b.take(&mut cache, &layout).await?;
                d.rows_compared += 1;
                emit.change(&RowChange::Inserted(row));
            }
            (Some(_), Some(_)) => {
                let ka = key_of(a.peek(&mut cache, &layout).await?, &key);
                let kb = key_of(b.peek(&mut cache, &layout).await?, &key);
                match compare_keys(&ka, &kb) {
                    Ordering::Less => {
                        let row = a.take(&mut cache, &layout).await?;
                        d.rows_compared += 1;
                        emit.change(&RowChange::Deleted(row));
                    }
                    Ordering::Greater => {
                        let row = b.take(&mut cache, &layout).await?;
                        d.rows_compared += 1;
                        emit.change(&RowChange::Inserted(row));
                    }
                    Ordering::Equal => {
                        let ra = a.take(&mut cache, &layout).await?;
                        let rb = b.take(&mut cache, &layout).await?;
                        d.rows_compared += 2;
                        if tresor_core::rows_same(&ra, &rb) {
                            emit.counts.unchanged += 1;
                        } else {
                            emit.change(&RowChange::Updated { old: ra, new: rb });
                        }
                    }
                }
            }
        }
    }
    let counts = emit.counts;
    d.inserted = counts.inserted;
    d.updated = counts.updated;
    d.deleted = counts.deleted;
    d.unchanged = selection.is_none().then_some(counts.unchanged);
    d.settle();
    Ok(d)
}

fn key_of(row: &Row, key: &[usize]) -> Vec<tresor_core::Value> {
    key.iter()
        .map(|&i| row.get(i).cloned().unwrap_or(tresor_core::Value::Null))
        .collect()
}

/// One side of a stored-table diff: a position in its runs, and the row
/// there once read.
struct Side {
    runs: Vec<crate::snapshot::Run>,
    run: usize,
    offset: u64,
    current: Option<Row>,
    old: bool,
}

impl Side {
    fn new(runs: Vec<crate::snapshot::Run>, old: bool) -> Self {
        let mut s = Side {
            runs,
            run: 0,
            offset: 0,
            current: None,
            old,
        };
        s.skip_empty();
        s
    }

    fn skip_empty(&mut self) {
        while self
            .runs
            .get(self.run)
            .is_some_and(|r| self.offset >= r.count)
        {
            self.offset -= self.runs[self.run].count;
            self.run += 1;
        }
    }

    /// The stored row the side is at: chunk and row index.
    fn at(&self) -> Option<(BlobId, u64)> {
        let r = self.runs.get(self.run)?;
        Some((r.chunk, r.first + self.offset))
    }

    /// Rows left in the current run.
    fn left(&self) -> u64 {
        self.runs.get(self.run).map_or(0, |r| r.count - self.offset)
    }

    fn advance(&mut self, n: u64) {
        self.offset += n;
        self.current = None;
        self.skip_empty();
    }

    async fn peek(&mut self, cache: &mut ChunkCache, layout: &Layout) -> Result<&Row> {
        if self.current.is_none() {
            let (chunk, index) = self
                .at()
                .ok_or_else(|| OpsError::Internal("diff read past the last run".into()))?;
            let bytes = cache.row(&chunk, index).await?;
            let row = Reader::new(&bytes)
                .row()
                .map_err(|e| OpsError::Corrupt(format!("damaged row data: {e}")))?;
            self.current = Some(layout.project(row, self.old));
        }
        self.current
            .as_ref()
            .ok_or_else(|| OpsError::Internal("diff lost its row".into()))
    }

    async fn take(&mut self, cache: &mut ChunkCache, layout: &Layout) -> Result<Row> {
        self.peek(cache, layout).await?;
        let row = self
            .current
            .take()
            .ok_or_else(|| OpsError::Internal("diff lost its row".into()))?;
        self.advance(1);
        Ok(row)
    }
}

/// Tables without a key: compared as multisets of rows. `read_new`
/// streams the newer side (another snapshot, or the live table) and
/// answers how many rows it sent.
async fn diff_unkeyed_tables<F>(
    repo: &Arc<Repository>,
    old_entry: &TableEntry,
    read_new: impl FnOnce(tresor_core::RowSender) -> F,
    layout: &Layout,
    mut d: TableDiff,
) -> Result<TableDiff>
where
    F: std::future::Future<Output = Result<u64>>,
{
    let (ta, ra) = mpsc::channel(4);
    let (tb, rb) = mpsc::channel(4);
    let (pa, qa) = mpsc::channel(4);
    let (pb, qb) = mpsc::channel(4);
    let (x, y, (), (), counts) = tokio::join!(
        stream_table(repo, old_entry, ta),
        read_new(tb),
        project(ra, pa, layout, true),
        project(rb, pb, layout, false),
        diff_unkeyed(qa, qb)
    );
    x?;
    let new_rows = y?;
    let counts = counts?;
    d.inserted = counts.inserted;
    d.deleted = counts.deleted;
    d.unchanged = Some(counts.unchanged);
    d.rows_compared = old_entry.rows + new_rows;
    d.settle();
    Ok(d)
}

async fn project(
    mut rx: mpsc::Receiver<tresor_core::RowBatch>,
    tx: mpsc::Sender<tresor_core::RowBatch>,
    layout: &Layout,
    old_side: bool,
) {
    while let Some(batch) = rx.recv().await {
        let batch = batch
            .into_iter()
            .map(|r| layout.project(r, old_side))
            .collect();
        if tx.send(batch).await.is_err() {
            return;
        }
    }
}
