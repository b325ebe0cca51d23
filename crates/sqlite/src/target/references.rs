//! The foreign key check before commit: foreign keys are off during the
//! load (so a parent deleted by a replace cascades nothing), and this
//! check finds every reference the restore broke before anything is
//! committed.
//!
//! What is read depends on what the restore wrote:
//! - a table restored in merge mode with few rows written (a row
//!   selection): the references of those rows, looked up by key;
//! - any other restored table: all its rows (`PRAGMA foreign_key_check`);
//! - a table referencing a restored one: all its rows, except in merge
//!   mode when the reference names the restored table's primary key,
//!   which a merge never removes or changes.
//!
//! Tables neither restored nor referencing one are not read, so a
//! one-customer restore into a large database costs what it touched.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{Connection, OptionalExtension, params_from_iter};
use tresor_core::{ErrorKind, RestoreMode, SourceError, TableSchema, Value};

use super::session::{Inner, actual_name};
use crate::error::SqlResultExt;
use crate::sql::ident;
use crate::value::Bind;

/// Rows of a table beyond which the check reads the whole table rather
/// than the rows written, one by one.
pub(super) const SCOPED_ROWS: usize = 10_000;

/// The keys of the rows a merge wrote into one table, while they are few.
#[derive(Debug, Default)]
pub(crate) struct Written {
    /// The primary key's columns, by name.
    columns: Vec<String>,
    /// Their positions in the snapshot's rows.
    positions: Vec<usize>,
    /// The key of each row written; `None` once more than [`SCOPED_ROWS`].
    keys: Option<Vec<Vec<Value>>>,
}

impl Written {
    /// Starts recording the rows written into `table`, when it has a
    /// primary key.
    pub(super) fn of(table: &TableSchema) -> Option<Written> {
        let stored: Vec<&str> = table.stored_columns().map(|c| c.name.as_str()).collect();
        let positions = table
            .primary_key
            .iter()
            .map(|k| stored.iter().position(|s| s == k))
            .collect::<Option<Vec<usize>>>()?;
        (!positions.is_empty()).then(|| Written {
            columns: table.primary_key.clone(),
            positions,
            keys: Some(Vec::new()),
        })
    }

    /// Gives up the rows: the check reads the whole table.
    pub(super) fn forget(&mut self) {
        self.keys = None;
    }

    /// Notes that `row` was written.
    pub(super) fn push(&mut self, row: &[Value]) {
        let Some(keys) = self.keys.as_mut() else {
            return;
        };
        if keys.len() >= SCOPED_ROWS {
            self.keys = None;
            return;
        }
        keys.push(
            self.positions
                .iter()
                .map(|&p| row.get(p).cloned().unwrap_or(Value::Null))
                .collect(),
        );
    }
}

/// One foreign key of a target table, as SQLite lists it.
struct Reference {
    parent: String,
    from: Vec<String>,
    /// Referenced columns; empty when the key names the parent's primary
    /// key implicitly.
    to: Vec<String>,
}

fn references(conn: &Connection, table: &str) -> Result<Vec<Reference>, SourceError> {
    let ctx = || format!("cannot read the foreign keys of {table}");
    let mut stmt = conn
        .prepare(
            "SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
        )
        .ctx(ctx)?;
    let mut by_id: BTreeMap<i64, Reference> = BTreeMap::new();
    let mut rows = stmt.query([table]).ctx(ctx)?;
    while let Some(r) = rows.next().ctx(ctx)? {
        let id: i64 = r.get(0).ctx(ctx)?;
        let parent: String = r.get(1).ctx(ctx)?;
        let from: String = r.get(2).ctx(ctx)?;
        let to: Option<String> = r.get(3).ctx(ctx)?;
        let e = by_id.entry(id).or_insert_with(|| Reference {
            parent,
            from: Vec::new(),
            to: Vec::new(),
        });
        e.from.push(from);
        if let Some(to) = to {
            e.to.push(to);
        }
    }
    Ok(by_id.into_values().collect())
}

/// The primary key columns of `table`, in key order.
fn primary_key(conn: &Connection, table: &str) -> Result<Vec<String>, SourceError> {
    let ctx = || format!("cannot read the primary key of {table}");
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk")
        .ctx(ctx)?;
    stmt.query_map([table], |r| r.get(0))
        .ctx(ctx)?
        .collect::<Result<_, _>>()
        .ctx(ctx)
}

fn same_columns(a: &[String], b: &[String]) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|x| b.iter().any(|y| x.eq_ignore_ascii_case(y)))
}

/// Violations found: how many, and the first few in words.
#[derive(Default)]
struct Found {
    total: usize,
    first: Vec<String>,
    /// The referencing and the referenced table of the first.
    tables: Option<(String, String)>,
}

impl Found {
    fn add(&mut self, child: &str, parent: &str, what: impl FnOnce() -> String) {
        self.total += 1;
        if self.tables.is_none() {
            self.tables = Some((child.to_string(), parent.to_string()));
        }
        if self.first.len() < 5 {
            self.first.push(what());
        }
    }
}

impl Inner {
    /// Checks every reference the restore can have broken; an error
    /// naming the first few when any is.
    pub(super) fn check_foreign_keys(&self, conn: &Connection) -> Result<(), SourceError> {
        let merge = self.plan.mode == RestoreMode::Merge;
        let ctx = || "cannot check foreign keys".to_string();
        let all: Vec<String> = conn
            .prepare("SELECT name FROM main.sqlite_master WHERE type = 'table' ORDER BY name")
            .ctx(ctx)?
            .query_map([], |r| r.get(0))
            .ctx(ctx)?
            .collect::<Result<_, _>>()
            .ctx(ctx)?;
        let mut restored: BTreeMap<String, Option<&Written>> = BTreeMap::new();
        for t in &self.restored {
            let scoped = self
                .written
                .get(&t.name.name)
                .filter(|w| merge && w.keys.is_some());
            restored.insert(t.name.name.to_lowercase(), scoped);
        }
        let mut whole: BTreeSet<String> = BTreeSet::new();
        let mut scoped: Vec<(String, &Written)> = Vec::new();
        for table in &all {
            match restored.get(&table.to_lowercase()) {
                Some(Some(w)) => scoped.push((table.clone(), w)),
                Some(None) => {
                    whole.insert(table.clone());
                }
                None => {
                    for r in references(conn, table)? {
                        if !restored.contains_key(&r.parent.to_lowercase()) {
                            continue;
                        }
                        let names_key =
                            r.to.is_empty() || same_columns(&r.to, &primary_key(conn, &r.parent)?);
                        if !(merge && names_key) {
                            whole.insert(table.clone());
                        }
                    }
                }
            }
        }
        let mut found = Found::default();
        for table in &whole {
            check_whole(conn, table, &mut found)?;
        }
        for (table, written) in &scoped {
            if !check_rows(conn, table, written, &mut found)? {
                check_whole(conn, table, &mut found)?;
            }
        }
        if found.total == 0 {
            return Ok(());
        }
        let (child, parent) = found.tables.clone().unwrap_or_default();
        let given: Vec<&str> = self.restored.iter().map(|t| t.name.name.as_str()).collect();
        let hint = if restored.contains_key(&child.to_lowercase()) {
            format!(
                "try: restore {parent} too ({}), or restore into a new file",
                tresor_core::tables_too(&given, &parent)
            )
        } else {
            format!(
                "try: restore {child} too ({}), or use --mode merge",
                tresor_core::tables_too(&given, &child)
            )
        };
        Err(SourceError::new(
            ErrorKind::Conflict,
            format!(
                "{} row(s) would point at rows that are missing after the restore (foreign keys), \
                 nothing was changed: {}{}",
                found.total,
                found.first.join("; "),
                if found.total > found.first.len() {
                    "; ..."
                } else {
                    ""
                }
            ),
        )
        .with_hint(hint))
    }
}

/// Every row of `table`, by `PRAGMA foreign_key_check`.
fn check_whole(conn: &Connection, table: &str, found: &mut Found) -> Result<(), SourceError> {
    let ctx = || "cannot check foreign keys".to_string();
    let mut check = conn
        .prepare("SELECT \"table\", rowid, parent FROM pragma_foreign_key_check(?1)")
        .ctx(ctx)?;
    let mut rows = check.query([table]).ctx(ctx)?;
    while let Some(r) = rows.next().ctx(ctx)? {
        let table: String = r.get(0).ctx(ctx)?;
        let rowid: Option<i64> = r.get(1).ctx(ctx)?;
        let parent: String = r.get(2).ctx(ctx)?;
        found.add(&table, &parent, || match rowid {
            Some(id) => format!("{table} row {id} references a missing row of {parent}"),
            None => format!("a row of {table} references a missing row of {parent}"),
        });
    }
    Ok(())
}

/// The references of the rows written into `table`, looked up by key;
/// false when a parent table is missing (the whole-table check then
/// reports it as SQLite would).
fn check_rows(
    conn: &Connection,
    table: &str,
    written: &Written,
    found: &mut Found,
) -> Result<bool, SourceError> {
    let ctx = || format!("cannot check the foreign keys of {table}");
    let keys = written.keys.as_deref().unwrap_or_default();
    for r in references(conn, table)? {
        let Some(parent) = actual_name(conn, "table", &r.parent)? else {
            return Ok(false);
        };
        let to = if r.to.is_empty() {
            primary_key(conn, &parent)?
        } else {
            r.to.clone()
        };
        if to.len() != r.from.len() {
            return Ok(false);
        }
        let key_match: Vec<String> = written
            .columns
            .iter()
            .enumerate()
            .map(|(i, k)| format!("c.{} = ?{}", ident(k), i + 1))
            .collect();
        let not_null: Vec<String> = r
            .from
            .iter()
            .map(|f| format!("c.{} IS NOT NULL", ident(f)))
            .collect();
        let lookup: Vec<String> = r
            .from
            .iter()
            .zip(&to)
            .map(|(f, t)| format!("p.{} = c.{}", ident(t), ident(f)))
            .collect();
        let sql = format!(
            "SELECT 1 FROM main.{} AS c WHERE {} AND {} AND NOT EXISTS \
             (SELECT 1 FROM main.{} AS p WHERE {})",
            ident(table),
            key_match.join(" AND "),
            not_null.join(" AND "),
            ident(&parent),
            lookup.join(" AND ")
        );
        let mut stmt = conn.prepare(&sql).ctx(ctx)?;
        for key in keys {
            let broken = stmt
                .query_row(params_from_iter(key.iter().map(Bind)), |_| Ok(()))
                .optional()
                .ctx(ctx)?;
            if broken.is_some() {
                found.add(table, &parent, || {
                    let shown: Vec<String> = key.iter().map(shown).collect();
                    format!(
                        "{table} row ({}) references a missing row of {parent}",
                        shown.join(", ")
                    )
                });
            }
        }
    }
    Ok(true)
}

/// A key value as the error message shows it.
fn shown(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Text(t) => format!("'{t}'"),
        other => format!("{other:?}"),
    }
}
