//! The tables of the database: what `information_schema.TABLES` says of
//! them, and, once every other step filled them in, their `SHOW CREATE
//! TABLE` text and row key.

use std::collections::BTreeMap;

use mysql_async::Conn;
use serde_json::json;
use tresor_core::{RowKey, SourceError, TableFilter, TableName, TableSchema};

use super::{TRANSACTIONAL, Uniques, WORK_PREFIX, req, rows, show_create, text_col};
use crate::sql::quote;

/// The base tables the filter selects (other kinds are warned about, and
/// so are tables outside transactions), without columns or keys yet.
pub(super) async fn tables(
    conn: &mut Conn,
    db: &str,
    filter: &TableFilter,
    warnings: &mut Vec<String>,
) -> Result<Vec<TableSchema>, SourceError> {
    let mut tables: Vec<TableSchema> = Vec::new();
    let mut all = Vec::new();
    for mut r in rows(
        conn,
        "SELECT TABLE_NAME, ENGINE, AUTO_INCREMENT, TABLE_COLLATION, TABLE_COMMENT, CREATE_OPTIONS, \
         TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE <> 'VIEW' \
         ORDER BY TABLE_NAME",
        db,
    )
    .await?
    {
        let name = req(&mut r, 0);
        let tname = TableName::new(name.clone());
        if name.starts_with(WORK_PREFIX) {
            continue;
        }
        all.push(name.clone());
        if !filter.matches(&tname) {
            continue;
        }
        let table_type = req(&mut r, 6);
        if table_type != "BASE TABLE" {
            // MariaDB sequences and system-versioned tables
            warnings.push(format!(
                "{} {name} is not backed up: tresor does not handle this kind of table yet",
                table_type.to_lowercase()
            ));
            continue;
        }
        let engine = text_col(&mut r, 1).unwrap_or_default();
        if !TRANSACTIONAL.contains(&engine.to_ascii_lowercase().as_str()) {
            warnings.push(format!(
                "table {name} uses the {engine} engine, which has no transactions: its rows are \
                 read as they are at the moment the table is read, not at the snapshot's instant \
                 (the transactional tables stay consistent with each other); try: convert it \
                 with ALTER TABLE ... ENGINE=InnoDB, or stop writes to it during backups"
            ));
        }
        let mut extra = BTreeMap::new();
        extra.insert("engine".to_string(), json!(engine));
        let collation = text_col(&mut r, 3);
        if let Some(c) = &collation {
            extra.insert("collation".to_string(), json!(c));
        }
        if let Some(o) = text_col(&mut r, 5).filter(|s| !s.is_empty()) {
            extra.insert("create_options".to_string(), json!(o));
        }
        let comment = text_col(&mut r, 4).filter(|s| !s.is_empty());
        tables.push(TableSchema {
            auto_increment: text_col(&mut r, 2).and_then(|s| s.parse().ok()),
            comment,
            extra,
            ..TableSchema::with_columns(tname, Vec::new())
        });
    }
    let unmatched = filter.unmatched_literals(tables.iter().map(|t| &t.name));
    if !unmatched.is_empty() {
        return Err(tresor_core::no_such_tables(
            &unmatched,
            &all,
            &format!("database {db}"),
        ));
    }
    Ok(tables)
}

/// Each table's `SHOW CREATE TABLE` text, the DDL of its foreign keys and
/// indexes in it, and its row key.
pub(super) async fn definitions(
    conn: &mut Conn,
    tables: &mut [TableSchema],
    uniques: &Uniques,
) -> Result<(), SourceError> {
    for t in tables.iter_mut() {
        let row = show_create(conn, "TABLE", &t.name.name, 1).await?;
        let mut row = row;
        let ddl = req(&mut row, 1);
        for fk in &mut t.foreign_keys {
            if let Some(name) = &fk.name {
                let needle = format!("CONSTRAINT {} FOREIGN KEY", quote(name));
                fk.ddl = ddl
                    .lines()
                    .find(|l| l.trim_start().starts_with(&needle))
                    .map(|l| l.trim().trim_end_matches(',').to_string());
            }
        }
        for idx in &mut t.indexes {
            let needle = format!("KEY {} (", quote(&idx.name));
            idx.ddl = ddl
                .lines()
                .find(|l| l.contains(&needle) && !l.trim_start().starts_with("CONSTRAINT"))
                .map(|l| l.trim().trim_end_matches(',').to_string());
        }
        t.ddl = Some(ddl);
        t.row_key = row_key(t, uniques.get(&t.name.name));
    }
    Ok(())
}

/// The primary key, else the first unique key over stored, non-null,
/// whole (not prefix) columns, else none.
fn row_key(t: &TableSchema, uniques: Option<&Vec<(String, Vec<String>, bool)>>) -> RowKey {
    if !t.primary_key.is_empty() {
        return RowKey::Columns {
            columns: t.primary_key.clone(),
        };
    }
    let usable = |cols: &Vec<String>| {
        cols.iter().all(|c| {
            t.column(c)
                .is_some_and(|col| !col.nullable && col.is_stored_in_rows())
        })
    };
    uniques
        .into_iter()
        .flatten()
        .find(|(_, cols, plain)| *plain && usable(cols))
        .map_or(RowKey::None, |(_, cols, _)| RowKey::Columns {
            columns: cols.clone(),
        })
}
