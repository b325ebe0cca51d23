//! Reading a database's schema from `sqlite_master` and the schema
//! PRAGMAs, inside whatever transaction the caller holds.
//!
//! What lands where:
//! - ordinary tables (also `WITHOUT ROWID`, `STRICT`, tables without a
//!   primary key) are [`TableSchema`]s whose [`TableSchema::ddl`] is the
//!   `sqlite_master.sql` text verbatim, and whose `CREATE INDEX`es are in
//!   [`TableSchema::indexes`] with their DDL;
//! - views, triggers and virtual tables are [`SchemaObject`]s;
//! - `user_version`, `application_id`, `encoding`, `page_size`,
//!   `auto_vacuum`, `journal_mode`, the rows of `sqlite_sequence` and
//!   `sqlite_stat1` are [`DatabaseSchema::settings`].
//!
//! Every table, index and object carries `extra["schema_order"]`, its
//! position in `sqlite_master`, so a restore can recreate them in the same
//! order (which keeps `sqlite3 .dump` output identical).
//!
//! Rows of a rowid table are keyed by the rowid: an `INTEGER PRIMARY KEY`
//! column when one aliases it, otherwise a hidden column named `rowid`
//! (or `_rowid_`, `oid` when a real column already has that name) that
//! carries the rowid so rows restore with their exact rowids.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension};
use serde_json::json;
use tresor_core::{
    Column, Constraint, DatabaseSchema, Engine, ForeignKey, Generated, Index, PortableType, RowKey,
    SchemaObject, SourceError, TableFilter, TableName, TableSchema,
};

use crate::error::SqlResultExt;
use crate::sql::{is_internal, is_virtual_table_sql};

/// Names the hidden rowid column may take, in order of preference.
const ROWID_NAMES: [&str; 3] = ["rowid", "_rowid_", "oid"];

/// `extra` key: position in `sqlite_master`.
pub(crate) const SCHEMA_ORDER: &str = "schema_order";
/// `extra` key: the table is `WITHOUT ROWID`.
pub(crate) const WITHOUT_ROWID: &str = "without_rowid";
/// `extra` key: the hidden rowid column's name.
pub(crate) const ROWID_COLUMN: &str = "rowid_column";
/// Settings key: `sqlite_sequence` rows as `[[name, seq], ...]`.
pub(crate) const SQLITE_SEQUENCE: &str = "sqlite_sequence";
/// Settings key: the statistics tables `ANALYZE` keeps, as
/// `{"sqlite_stat1": [[tbl, idx, stat], ...], "sqlite_stat4": [...]}`;
/// blobs are `{"blob": "<hex>"}`.
pub(crate) const SQLITE_STATS: &str = "sqlite_stats";
/// Settings key: position of `sqlite_stat1` in `sqlite_master`.
pub(crate) const SQLITE_STAT1_ORDER: &str = "sqlite_stat1_order";

/// A schema and what the user should know about it.
pub(crate) struct Captured {
    pub(crate) schema: DatabaseSchema,
    pub(crate) warnings: Vec<String>,
}

/// One row of `sqlite_master`.
struct MasterRow {
    order: i64,
    kind: String,
    name: String,
    tbl_name: String,
    sql: Option<String>,
}

/// Reads the whole schema; tables not selected by `filter` are left out
/// (their indexes too), other objects are always captured.
pub(crate) fn read_schema(
    conn: &Connection,
    filter: &TableFilter,
) -> Result<Captured, SourceError> {
    let master = master_rows(conn)?;
    let mut warnings = Vec::new();
    let mut tables: Vec<TableSchema> = Vec::new();
    let mut objects = Vec::new();
    let mut settings = read_settings(conn)?;
    let mut stats: Vec<String> = Vec::new();
    let mut all_names: Vec<TableName> = Vec::new();
    let shadows = shadow_tables(conn, &master)?;

    for row in &master {
        match row.kind.as_str() {
            "table" if row.name.eq_ignore_ascii_case("sqlite_stat1") => {
                settings.insert(SQLITE_STAT1_ORDER.into(), json!(row.order));
                stats.push(row.name.clone());
            }
            "table" if row.name.to_ascii_lowercase().starts_with("sqlite_stat") => {
                stats.push(row.name.clone());
            }
            "table" if is_internal(&row.name) => {}
            "table" if row.sql.as_deref().is_some_and(is_virtual_table_sql) => {
                // selecting a virtual table selects its storage
                all_names.push(TableName::new(&row.name));
                objects.push(object(row, "virtual_table"));
            }
            "table" => {
                let name = TableName::new(&row.name);
                // the storage of a virtual table is chosen with it
                let owner = shadows.get(&row.name);
                let chosen_by = owner.map_or_else(|| name.clone(), TableName::new);
                if owner.is_none() {
                    all_names.push(name);
                }
                if !filter.matches(&chosen_by) {
                    continue;
                }
                let (mut t, w) = read_table(conn, &row.name, row.sql.clone(), row.order)?;
                if let Some(owner) = owner {
                    t.extra
                        .insert(TableSchema::SHADOW_OF.to_string(), json!(owner));
                }
                warnings.extend(w);
                tables.push(t);
            }
            "index" => {
                let Some(sql) = &row.sql else { continue };
                if let Some(t) = tables.iter_mut().find(|t| t.name.name == row.tbl_name) {
                    attach_index(conn, t, &row.name, sql, row.order)?;
                }
            }
            "view" => objects.push(object(row, "view")),
            "trigger" => objects.push(object(row, "trigger")),
            _ => {}
        }
    }

    let missing = filter.unmatched_literals(&all_names);
    if !missing.is_empty() {
        return Err(tresor_core::no_such_tables(
            &missing,
            &all_names,
            "the database",
        ));
    }

    // AUTOINCREMENT state, in sqlite_sequence's own order.
    if master.iter().any(|r| r.name == "sqlite_sequence") {
        let seq = query_json_rows(conn, "SELECT name, seq FROM sqlite_sequence ORDER BY rowid")?;
        for pair in &seq {
            let (Some(name), Some(n)) = (pair[0].as_str(), pair[1].as_i64()) else {
                continue;
            };
            if let Some(t) = tables.iter_mut().find(|t| t.name.name == name) {
                t.auto_increment = Some(n.saturating_add(1));
            }
        }
        settings.insert(SQLITE_SEQUENCE.into(), serde_json::Value::Array(seq));
    }
    if !stats.is_empty() {
        let mut all = serde_json::Map::new();
        for name in stats {
            let sql = format!(
                "SELECT * FROM main.{} ORDER BY rowid",
                crate::sql::ident(&name)
            );
            all.insert(
                name.to_ascii_lowercase(),
                serde_json::Value::Array(query_json_rows(conn, &sql)?),
            );
        }
        settings.insert(SQLITE_STATS.into(), serde_json::Value::Object(all));
    }

    Ok(Captured {
        schema: DatabaseSchema {
            engine: Engine::SQLITE,
            tables,
            objects,
            settings,
        },
        warnings,
    })
}

/// The tables that are the storage of a virtual table, with its name:
/// those `PRAGMA table_list` calls `shadow` (SQLite knows them from the
/// virtual table's module), each owned by the virtual table whose name,
/// followed by `_`, begins its own.
fn shadow_tables(
    conn: &Connection,
    master: &[MasterRow],
) -> Result<BTreeMap<String, String>, SourceError> {
    let virtual_tables: Vec<&str> = master
        .iter()
        .filter(|r| r.kind == "table" && r.sql.as_deref().is_some_and(is_virtual_table_sql))
        .map(|r| r.name.as_str())
        .collect();
    if virtual_tables.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'shadow'")
        .ctx(|| "cannot list the virtual tables' storage".into())?;
    let shadows: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .ctx(|| "cannot list the virtual tables' storage".into())?;
    Ok(shadows
        .into_iter()
        .filter_map(|name| {
            let owner = virtual_tables
                .iter()
                .filter(|v| {
                    name.len() > v.len() + 1
                        && name.starts_with(*v)
                        && name.as_bytes()[v.len()] == b'_'
                })
                .max_by_key(|v| v.len())?;
            Some((name.clone(), (*owner).to_string()))
        })
        .collect())
}

/// The storage tables of the database's virtual tables, each with the
/// virtual table that owns it.
pub(crate) fn shadow_owners(conn: &Connection) -> Result<BTreeMap<String, String>, SourceError> {
    shadow_tables(conn, &master_rows(conn)?)
}

fn master_rows(conn: &Connection) -> Result<Vec<MasterRow>, SourceError> {
    let mut stmt = conn
        .prepare("SELECT rowid, type, name, tbl_name, sql FROM main.sqlite_master ORDER BY rowid")
        .ctx(|| "cannot read sqlite_master".into())?;
    stmt.query_map([], |r| {
        Ok(MasterRow {
            order: r.get(0)?,
            kind: r.get(1)?,
            name: r.get(2)?,
            tbl_name: r.get(3)?,
            sql: r.get(4)?,
        })
    })
    .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
    .ctx(|| "cannot read sqlite_master".into())
}

fn object(row: &MasterRow, kind: &str) -> SchemaObject {
    let mut extra = BTreeMap::new();
    extra.insert(SCHEMA_ORDER.to_string(), json!(row.order));
    SchemaObject {
        kind: kind.to_string(),
        name: TableName::new(&row.name),
        ddl: row.sql.clone().unwrap_or_default(),
        table: (kind == "trigger").then(|| TableName::new(&row.tbl_name)),
        extra,
    }
}

fn read_settings(conn: &Connection) -> Result<BTreeMap<String, serde_json::Value>, SourceError> {
    let mut s = BTreeMap::new();
    for name in ["user_version", "application_id", "page_size", "auto_vacuum"] {
        let v: i64 = conn
            .pragma_query_value(None, name, |r| r.get(0))
            .ctx(|| format!("cannot read pragma {name}"))?;
        s.insert(name.to_string(), json!(v));
    }
    for name in ["encoding", "journal_mode"] {
        let v: String = conn
            .pragma_query_value(None, name, |r| r.get(0))
            .ctx(|| format!("cannot read pragma {name}"))?;
        s.insert(name.to_string(), json!(v.to_ascii_lowercase()));
    }
    Ok(s)
}

/// Rows of a small internal table as JSON arrays (integers, reals, text,
/// null; blobs as `{"blob": "<hex>"}`).
fn query_json_rows(conn: &Connection, sql: &str) -> Result<Vec<serde_json::Value>, SourceError> {
    let mut stmt = conn.prepare(sql).ctx(|| format!("cannot run {sql}"))?;
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        let mut row = Vec::with_capacity(n);
        for i in 0..n {
            row.push(match r.get_ref(i)? {
                rusqlite::types::ValueRef::Integer(v) => json!(v),
                rusqlite::types::ValueRef::Real(v) => json!(v),
                rusqlite::types::ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
                rusqlite::types::ValueRef::Blob(b) => {
                    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                    json!({ "blob": hex })
                }
                rusqlite::types::ValueRef::Null => serde_json::Value::Null,
            });
        }
        Ok(serde_json::Value::Array(row))
    })
    .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
    .ctx(|| format!("cannot run {sql}"))
}

/// What `pragma_table_list` says about a table.
fn without_rowid(conn: &Connection, name: &str) -> Result<(bool, bool), SourceError> {
    conn.query_row(
        "SELECT wr, strict FROM pragma_table_list WHERE schema = 'main' AND name = ?1",
        [name],
        |r| Ok((r.get::<_, i64>(0)? != 0, r.get::<_, i64>(1)? != 0)),
    )
    .optional()
    .ctx(|| format!("cannot inspect table {name}"))
    .map(Option::unwrap_or_default)
}

/// Reads one ordinary table's schema.
pub(crate) fn read_table(
    conn: &Connection,
    name: &str,
    ddl: Option<String>,
    order: i64,
) -> Result<(TableSchema, Vec<String>), SourceError> {
    let ctx = || format!("cannot inspect table {name}");
    let mut warnings = Vec::new();
    let (wr, strict) = without_rowid(conn, name)?;

    // (column, pk position)
    let mut cols: Vec<(Column, i64)> = Vec::new();
    let mut stmt = conn
        .prepare(
            "SELECT name, type, \"notnull\", dflt_value, pk, hidden \
             FROM pragma_table_xinfo(?1, 'main') ORDER BY cid",
        )
        .ctx(ctx)?;
    let mut rows = stmt.query([name]).ctx(ctx)?;
    while let Some(r) = rows.next().ctx(ctx)? {
        let hidden: i64 = r.get(5).ctx(ctx)?;
        if hidden == 1 {
            continue; // hidden columns of virtual tables
        }
        let mut c = Column::new(
            r.get::<_, String>(0).ctx(ctx)?,
            r.get::<_, String>(1).ctx(ctx)?,
            PortableType::Dynamic,
        );
        c.nullable = r.get::<_, i64>(2).ctx(ctx)? == 0;
        c.default = r.get(3).ctx(ctx)?;
        if hidden == 2 || hidden == 3 {
            c.generated = Some(Generated {
                expression: String::new(),
                stored: hidden == 3,
            });
        }
        cols.push((c, r.get(4).ctx(ctx)?));
    }
    drop(rows);
    drop(stmt);

    let mut pk: Vec<(i64, String)> = cols
        .iter()
        .filter(|(_, p)| *p > 0)
        .map(|(c, p)| (*p, c.name.clone()))
        .collect();
    pk.sort();
    let primary_key: Vec<String> = pk.into_iter().map(|(_, n)| n).collect();

    let index_list = index_list(conn, name)?;
    let mut columns: Vec<Column> = cols.into_iter().map(|(c, _)| c).collect();
    let mut extra = BTreeMap::new();
    extra.insert(SCHEMA_ORDER.to_string(), json!(order));
    if wr {
        extra.insert(WITHOUT_ROWID.to_string(), json!(true));
    }
    if strict {
        extra.insert("strict".to_string(), json!(true));
    }
    let autoincrement = ddl
        .as_deref()
        .is_some_and(|s| s.to_ascii_uppercase().contains("AUTOINCREMENT"));
    if autoincrement {
        extra.insert("autoincrement".to_string(), json!(true));
    }

    let row_key = if wr {
        RowKey::Columns {
            columns: primary_key.clone(),
        }
    } else {
        let alias = (primary_key.len() == 1 && !index_list.iter().any(|i| i.origin == "pk"))
            .then(|| primary_key[0].clone())
            .filter(|k| {
                columns
                    .iter()
                    .any(|c| &c.name == k && c.engine_type.eq_ignore_ascii_case("integer"))
            });
        if let Some(key) = alias {
            if let Some(c) = columns.iter_mut().find(|c| c.name == key) {
                c.identity = true;
                c.nullable = false;
            }
            RowKey::Columns { columns: vec![key] }
        } else if let Some(hidden) = ROWID_NAMES
            .iter()
            .find(|n| !columns.iter().any(|c| c.name.eq_ignore_ascii_case(n)))
        {
            let mut c = Column::new(
                *hidden,
                "INTEGER",
                PortableType::Int {
                    bits: 64,
                    unsigned: false,
                },
            );
            c.nullable = false;
            c.hidden = true;
            columns.insert(0, c);
            extra.insert(ROWID_COLUMN.to_string(), json!(hidden));
            RowKey::Columns {
                columns: vec![(*hidden).to_string()],
            }
        } else {
            warnings.push(format!(
                "table {name}: columns named rowid, _rowid_ and oid hide the rowid, so rows get new rowids on restore"
            ));
            RowKey::None
        }
    };

    let mut constraints = Vec::new();
    for idx in index_list.iter().filter(|i| i.origin == "u") {
        let cols = index_columns(conn, &idx.name)?;
        constraints.push(Constraint {
            name: idx.name.clone(),
            kind: "unique".into(),
            definition: format!(
                "UNIQUE({})",
                crate::sql::ident_list(cols.iter().map(String::as_str))
            ),
            columns: cols,
        });
    }

    // SQLite keeps check constraints only in the table's statement
    if let Some(sql) = &ddl {
        match tresor_core::checks_in_create_table(sql) {
            Some(checks) => constraints.extend(checks.into_iter().map(|(name, expr)| Constraint {
                name,
                kind: "check".into(),
                columns: Vec::new(),
                definition: expr,
            })),
            // one that cannot be read is listed as not created elsewhere
            None if sql.to_ascii_lowercase().contains("check") => constraints.push(Constraint {
                name: "check".into(),
                kind: "check".into(),
                columns: Vec::new(),
                definition: String::new(),
            }),
            None => {}
        }
    }

    // and the expressions of its generated columns
    if let Some(sql) = ddl
        .as_deref()
        .filter(|_| columns.iter().any(|c| c.generated.is_some()))
    {
        for (name, expr) in tresor_core::generated_in_create_table(sql).unwrap_or_default() {
            if let Some(g) = columns
                .iter_mut()
                .find(|c| c.name.eq_ignore_ascii_case(&name))
                .and_then(|c| c.generated.as_mut())
            {
                g.expression = expr;
            }
        }
    }

    // a text column whose check allows only JSON holds JSON
    let text = |c: &Column| {
        matches!(
            tresor_core::convert::declared_type(&c.engine_type),
            PortableType::Text { max_len: None, .. } | PortableType::Dynamic
        )
    };
    for k in constraints.iter().filter(|k| k.kind == "check") {
        let Some(name) = tresor_core::json_valid_column(&k.definition, Engine::SQLITE) else {
            continue;
        };
        if let Some(c) = columns
            .iter_mut()
            .find(|c| c.name.eq_ignore_ascii_case(&name) && text(c))
        {
            c.extra
                .insert(tresor_core::convert::HOLDS_JSON.to_string(), json!(true));
        }
    }

    let foreign_keys = foreign_keys(conn, name)?;

    Ok((
        TableSchema {
            name: TableName::new(name),
            kind: "table".into(),
            columns,
            primary_key,
            row_key,
            constraints,
            indexes: Vec::new(),
            foreign_keys,
            ddl,
            auto_increment: None,
            comment: None,
            extra,
        },
        warnings,
    ))
}

struct IndexListEntry {
    name: String,
    origin: String,
}

fn index_list(conn: &Connection, table: &str) -> Result<Vec<IndexListEntry>, SourceError> {
    let ctx = || format!("cannot list indexes of {table}");
    let mut stmt = conn
        .prepare("SELECT name, origin FROM pragma_index_list(?1, 'main') ORDER BY seq")
        .ctx(ctx)?;
    stmt.query_map([table], |r| {
        Ok(IndexListEntry {
            name: r.get(0)?,
            origin: r.get(1)?,
        })
    })
    .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
    .ctx(ctx)
}

fn index_columns(conn: &Connection, index: &str) -> Result<Vec<String>, SourceError> {
    let ctx = || format!("cannot read index {index}");
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_index_info(?1, 'main') ORDER BY seqno")
        .ctx(ctx)?;
    stmt.query_map([index], |r| {
        Ok(r.get::<_, Option<String>>(0)?
            .unwrap_or_else(|| "(expression)".into()))
    })
    .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
    .ctx(ctx)
}

fn attach_index(
    conn: &Connection,
    table: &mut TableSchema,
    name: &str,
    sql: &str,
    order: i64,
) -> Result<(), SourceError> {
    let (unique, partial): (bool, bool) = conn
        .query_row(
            "SELECT \"unique\", partial FROM pragma_index_list(?1, 'main') WHERE name = ?2",
            [&table.name.name, name],
            |r| Ok((r.get::<_, i64>(0)? != 0, r.get::<_, i64>(1)? != 0)),
        )
        .optional()
        .ctx(|| format!("cannot read index {name}"))?
        .unwrap_or_default();
    let mut extra = BTreeMap::new();
    extra.insert(SCHEMA_ORDER.to_string(), json!(order));
    if partial {
        extra.insert("partial".to_string(), json!(true));
    }
    table.indexes.push(Index {
        name: name.to_string(),
        columns: index_columns(conn, name)?,
        unique,
        ddl: Some(sql.to_string()),
        extra,
    });
    Ok(())
}

fn foreign_keys(conn: &Connection, table: &str) -> Result<Vec<ForeignKey>, SourceError> {
    let ctx = || format!("cannot read foreign keys of {table}");
    let mut stmt = conn
        .prepare(
            "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete \
             FROM pragma_foreign_key_list(?1, 'main') ORDER BY id, seq",
        )
        .ctx(ctx)?;
    let mut rows = stmt.query([table]).ctx(ctx)?;
    let mut out: Vec<(i64, ForeignKey)> = Vec::new();
    while let Some(r) = rows.next().ctx(ctx)? {
        let id: i64 = r.get(0).ctx(ctx)?;
        let to: Option<String> = r.get(3).ctx(ctx)?;
        let from: String = r.get(2).ctx(ctx)?;
        if out.last().is_none_or(|(last, _)| *last != id) {
            let action = |s: String| (s != "NO ACTION").then_some(s);
            out.push((
                id,
                ForeignKey {
                    name: None,
                    columns: Vec::new(),
                    references: TableName::new(r.get::<_, String>(1).ctx(ctx)?),
                    referenced_columns: Vec::new(),
                    on_update: action(r.get(4).ctx(ctx)?),
                    on_delete: action(r.get(5).ctx(ctx)?),
                    ddl: None,
                },
            ));
        }
        if let Some((_, fk)) = out.last_mut() {
            fk.columns.push(from);
            if let Some(to) = to {
                fk.referenced_columns.push(to);
            }
        }
    }
    Ok(out.into_iter().map(|(_, fk)| fk).collect())
}

/// Reads the `schema_order` of a table, index or object.
pub(crate) fn schema_order(extra: &BTreeMap<String, serde_json::Value>) -> i64 {
    extra
        .get(SCHEMA_ORDER)
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(i64::MAX)
}
