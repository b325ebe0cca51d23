//! Schema capture: `SHOW CREATE TABLE` for the exact DDL, and the portable
//! model from `information_schema` (columns, keys, indexes, foreign keys,
//! check constraints), plus views, triggers, routines and events.
//!
//! Everything here is read on the snapshot's connection after the
//! transaction started, so the table definitions are held by metadata
//! locks while the rows are read.

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value as My};
use serde_json::json;
use tresor_core::{
    Column, Constraint, DatabaseSchema, Engine, ErrorKind, ForeignKey, Generated, Index,
    PortableType, RowKey, SchemaObject, SourceError, TableFilter, TableName, TableSchema,
};

use crate::error::Context;
use crate::sql::quote;

/// Table name prefix of a restore's work tables; never captured or
/// reported.
pub(crate) const WORK_PREFIX: &str = "__tresor_";

/// Engines whose tables take part in a consistent snapshot.
const TRANSACTIONAL: &[&str] = &["innodb", "rocksdb", "tokudb"];

/// The captured schema and what the user should know about it.
pub(crate) struct Captured {
    /// The schema.
    pub(crate) schema: DatabaseSchema,
    /// Tables outside the transaction, and similar.
    pub(crate) warnings: Vec<String>,
}

/// Takes column `i` of `row` as text (numbers are formatted).
pub(crate) fn text_col(row: &mut Row, i: usize) -> Option<String> {
    match row.take::<My, usize>(i)? {
        My::NULL => None,
        My::Bytes(b) => Some(match String::from_utf8(b) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }),
        My::Int(i) => Some(i.to_string()),
        My::UInt(u) => Some(u.to_string()),
        My::Float(f) => Some(f.to_string()),
        My::Double(f) => Some(f.to_string()),
        other => Some(format!("{other:?}")),
    }
}

fn req(row: &mut Row, i: usize) -> String {
    text_col(row, i).unwrap_or_default()
}

/// Runs a query with the database name bound as every parameter.
async fn rows(conn: &mut Conn, sql: &str, db: &str) -> Result<Vec<Row>, SourceError> {
    let n = sql.matches('?').count();
    let params: Vec<My> = (0..n).map(|_| My::Bytes(db.as_bytes().to_vec())).collect();
    conn.exec::<Row, _, _>(sql, params)
        .await
        .ctx(|| "cannot read information_schema".to_string())
}

/// Runs a `SHOW CREATE ...` and returns column `col` of its row.
async fn show_create(
    conn: &mut Conn,
    what: &str,
    name: &str,
    col: usize,
) -> Result<Row, SourceError> {
    let sql = format!("SHOW CREATE {what} {}", quote(name));
    let mut got: Vec<Row> = conn.query(sql).await.ctx(|| {
        format!(
            "cannot read the definition of {} {name}",
            what.to_lowercase()
        )
    })?;
    let row = got.pop().ok_or_else(|| {
        SourceError::new(
            ErrorKind::NotFound,
            format!("{} {name} vanished", what.to_lowercase()),
        )
    })?;
    if row.len() <= col {
        return Err(SourceError::new(
            ErrorKind::Engine,
            format!("unexpected SHOW CREATE {what} result"),
        ));
    }
    Ok(row)
}

/// Captures the schema of database `db` (the connection's default
/// database).
pub(crate) async fn capture(
    conn: &mut Conn,
    db: &str,
    filter: &TableFilter,
    mariadb: bool,
) -> Result<Captured, SourceError> {
    let mut warnings = Vec::new();
    let mut tables: Vec<TableSchema> = Vec::new();
    let mut charsets: BTreeMap<(String, String), Option<String>> = BTreeMap::new();

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
        if name.starts_with(WORK_PREFIX) || !filter.matches(&tname) {
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
            name: tname,
            kind: "table".to_string(),
            columns: Vec::new(),
            primary_key: Vec::new(),
            row_key: RowKey::None,
            constraints: Vec::new(),
            indexes: Vec::new(),
            foreign_keys: Vec::new(),
            ddl: None,
            auto_increment: text_col(&mut r, 2).and_then(|s| s.parse().ok()),
            comment,
            extra,
        });
        charsets.insert((name, String::new()), collation);
    }
    let unmatched = filter.unmatched_literals(tables.iter().map(|t| &t.name));
    if !unmatched.is_empty() {
        return Err(SourceError::new(
            ErrorKind::NotFound,
            format!("no table named {} in database {db}", unmatched.join(", ")),
        )
        .with_hint("check the table names; patterns may use * and ?"));
    }
    let index_of: BTreeMap<String, usize> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.name.clone(), i))
        .collect();

    // check constraints first: MariaDB's JSON columns are LONGTEXT with a
    // json_valid() check named after the column
    let check_sql = if mariadb {
        "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
         WHERE CONSTRAINT_SCHEMA = ? ORDER BY TABLE_NAME, CONSTRAINT_NAME"
    } else {
        "SELECT tc.TABLE_NAME, cc.CONSTRAINT_NAME, cc.CHECK_CLAUSE \
         FROM information_schema.TABLE_CONSTRAINTS tc JOIN information_schema.CHECK_CONSTRAINTS cc \
         ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME \
         WHERE tc.CONSTRAINT_TYPE = 'CHECK' AND tc.TABLE_SCHEMA = ? ORDER BY 1, 2"
    };
    let mut json_cols: Vec<(String, String)> = Vec::new();
    for mut r in rows(conn, check_sql, db).await? {
        let table = req(&mut r, 0);
        let name = req(&mut r, 1);
        let clause = req(&mut r, 2);
        let Some(&i) = index_of.get(&table) else {
            continue;
        };
        if mariadb && clause == format!("json_valid({})", quote(&name)) {
            json_cols.push((table.clone(), name.clone()));
        }
        tables[i].constraints.push(Constraint {
            name,
            kind: "check".to_string(),
            columns: Vec::new(),
            definition: clause,
        });
    }

    for mut r in rows(
        conn,
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_DEFAULT, IS_NULLABLE, DATA_TYPE, COLUMN_TYPE, \
         CHARACTER_SET_NAME, COLLATION_NAME, EXTRA, GENERATION_EXPRESSION, COLUMN_COMMENT, \
         NUMERIC_PRECISION, NUMERIC_SCALE, CHARACTER_MAXIMUM_LENGTH \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION",
        db,
    )
    .await?
    {
        let table = req(&mut r, 0);
        let Some(&i) = index_of.get(&table) else { continue };
        let name = req(&mut r, 1);
        let data_type = req(&mut r, 4).to_ascii_lowercase();
        let column_type = req(&mut r, 5);
        let charset = text_col(&mut r, 6);
        let collation = text_col(&mut r, 7);
        let extra_text = req(&mut r, 8);
        let lower_extra = extra_text.to_ascii_lowercase();
        let precision: Option<u32> = text_col(&mut r, 11).and_then(|s| s.parse().ok());
        let scale: Option<u32> = text_col(&mut r, 12).and_then(|s| s.parse().ok());
        let max_len: Option<u64> = text_col(&mut r, 13).and_then(|s| s.parse().ok());
        let is_json = data_type == "json" || json_cols.contains(&(table.clone(), name.clone()));
        let portable = portable_type(&data_type, &column_type, precision, scale, max_len, is_json);
        let mut col = Column::new(name, column_type, portable);
        col.default = text_col(&mut r, 2);
        col.nullable = req(&mut r, 3) == "YES";
        col.identity = lower_extra.contains("auto_increment");
        if lower_extra.contains("virtual generated")
            || lower_extra.contains("stored generated")
            || lower_extra.contains("persistent generated")
        {
            col.generated = Some(Generated {
                expression: req(&mut r, 9),
                stored: !lower_extra.contains("virtual"),
            });
        }
        col.comment = text_col(&mut r, 10).filter(|s| !s.is_empty());
        let table_collation = tables[i]
            .extra
            .get("collation")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        if collation.is_some() && collation != table_collation {
            col.collation = collation.clone();
        }
        col.extra.insert("data_type".to_string(), json!(data_type));
        if let Some(cs) = charset {
            col.extra.insert("charset".to_string(), json!(cs));
        }
        if let Some(c) = collation {
            col.extra.insert("collation".to_string(), json!(c));
        }
        if !extra_text.is_empty() {
            col.extra.insert("extra".to_string(), json!(extra_text));
        }
        tables[i].columns.push(col);
    }

    // indexes, grouped by (table, index) in sequence order
    let mut uniques: BTreeMap<String, Vec<(String, Vec<String>, bool)>> = BTreeMap::new();
    let mut current: Option<(usize, Index, bool)> = None;
    let stats = rows(
        conn,
        "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, INDEX_TYPE \
         FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? \
         ORDER BY TABLE_NAME, INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX",
        db,
    )
    .await?;
    let mut finished: Vec<(usize, Index, bool)> = Vec::new();
    for mut r in stats {
        let table = req(&mut r, 0);
        let Some(&i) = index_of.get(&table) else {
            continue;
        };
        let name = req(&mut r, 1);
        let unique = req(&mut r, 2) == "0";
        let column = text_col(&mut r, 3).unwrap_or_else(|| "(expression)".to_string());
        let sub_part = text_col(&mut r, 4);
        let index_type = req(&mut r, 5);
        let same = matches!(&current, Some((ci, idx, _)) if *ci == i && idx.name == name);
        if !same {
            if let Some(done) = current.take() {
                finished.push(done);
            }
            let mut extra = BTreeMap::new();
            extra.insert("type".to_string(), json!(index_type));
            current = Some((
                i,
                Index {
                    name: name.clone(),
                    columns: Vec::new(),
                    unique,
                    ddl: None,
                    extra,
                },
                true,
            ));
        }
        if let Some((_, idx, plain)) = current.as_mut() {
            if let Some(sp) = sub_part {
                *plain = false;
                idx.extra
                    .entry("sub_parts".to_string())
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .map(|m| m.insert(column.clone(), json!(sp)));
            }
            idx.columns.push(column);
        }
    }
    finished.extend(current.take());
    for (i, idx, plain) in finished {
        if idx.name == "PRIMARY" {
            tables[i].primary_key = idx.columns;
            continue;
        }
        if idx.unique {
            uniques
                .entry(tables[i].name.name.clone())
                .or_default()
                .push((idx.name.clone(), idx.columns.clone(), plain));
        }
        tables[i].indexes.push(idx);
    }

    // foreign keys
    let mut fks: BTreeMap<(usize, String), ForeignKey> = BTreeMap::new();
    for mut r in rows(
        conn,
        "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_SCHEMA, \
         k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, rc.UPDATE_RULE, rc.DELETE_RULE \
         FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS rc \
         ON rc.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND rc.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
         AND rc.TABLE_NAME = k.TABLE_NAME \
         WHERE k.TABLE_SCHEMA = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL \
         ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
        db,
    )
    .await?
    {
        let table = req(&mut r, 0);
        let Some(&i) = index_of.get(&table) else { continue };
        let name = req(&mut r, 1);
        let column = req(&mut r, 2);
        let ref_schema = req(&mut r, 3);
        let ref_table = req(&mut r, 4);
        let ref_column = req(&mut r, 5);
        let on_update = text_col(&mut r, 6);
        let on_delete = text_col(&mut r, 7);
        let fk = fks.entry((i, name.clone())).or_insert_with(|| ForeignKey {
            name: Some(name),
            columns: Vec::new(),
            references: if ref_schema == db {
                TableName::new(ref_table)
            } else {
                TableName::qualified(ref_schema, ref_table)
            },
            referenced_columns: Vec::new(),
            on_delete,
            on_update,
            ddl: None,
        });
        fk.columns.push(column);
        fk.referenced_columns.push(ref_column);
    }
    for ((i, _), fk) in fks {
        tables[i].foreign_keys.push(fk);
    }

    for t in &mut tables {
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

    let mut objects = Vec::new();
    capture_objects(conn, db, filter, &tables, &mut objects).await?;

    let mut settings = BTreeMap::new();
    for mut r in rows(
        conn,
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA \
         WHERE SCHEMA_NAME = ?",
        db,
    )
    .await?
    {
        settings.insert("charset".to_string(), json!(req(&mut r, 0)));
        settings.insert("collation".to_string(), json!(req(&mut r, 1)));
    }
    settings.insert(
        "flavor".to_string(),
        json!(if mariadb { "mariadb" } else { "mysql" }),
    );

    Ok(Captured {
        schema: DatabaseSchema {
            engine: Engine::Mysql,
            tables,
            objects,
            settings,
        },
        warnings,
    })
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

async fn capture_objects(
    conn: &mut Conn,
    db: &str,
    filter: &TableFilter,
    tables: &[TableSchema],
    objects: &mut Vec<SchemaObject>,
) -> Result<(), SourceError> {
    let names: Vec<String> = rows(
        conn,
        "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
        db,
    )
    .await?
    .into_iter()
    .map(|mut r| req(&mut r, 0))
    .collect();
    for name in names {
        if !filter.matches(&TableName::new(name.clone())) {
            continue;
        }
        let mut row = show_create(conn, "VIEW", &name, 3).await?;
        let ddl = req(&mut row, 1);
        let mut extra = BTreeMap::new();
        extra.insert("character_set_client".to_string(), json!(req(&mut row, 2)));
        extra.insert("collation_connection".to_string(), json!(req(&mut row, 3)));
        objects.push(SchemaObject {
            kind: "view".to_string(),
            name: TableName::new(name),
            ddl,
            table: None,
            extra,
        });
    }

    let routines: Vec<(String, String)> = rows(
        conn,
        "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES \
         WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_TYPE, ROUTINE_NAME",
        db,
    )
    .await?
    .into_iter()
    .map(|mut r| (req(&mut r, 0), req(&mut r, 1)))
    .collect();
    for (name, kind) in routines {
        let mut row = show_create(conn, &kind, &name, 4).await?;
        let ddl = text_col(&mut row, 2).ok_or_else(|| {
            SourceError::new(
                ErrorKind::Permission,
                format!("cannot read the body of {} {name}", kind.to_lowercase()),
            )
            .with_hint("grant the backup user SELECT on mysql.proc or SHOW_ROUTINE")
        })?;
        objects.push(SchemaObject {
            kind: kind.to_lowercase(),
            name: TableName::new(name),
            ddl,
            table: None,
            extra: session_extra(&mut row, 1, 3, 4, None),
        });
    }

    let triggers: Vec<(String, String)> = rows(
        conn,
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS \
         WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER",
        db,
    )
    .await?
    .into_iter()
    .map(|mut r| (req(&mut r, 0), req(&mut r, 1)))
    .collect();
    for (name, table) in triggers {
        if !tables.iter().any(|t| t.name.name == table) {
            continue;
        }
        let mut row = show_create(conn, "TRIGGER", &name, 4).await?;
        let ddl = req(&mut row, 2);
        objects.push(SchemaObject {
            kind: "trigger".to_string(),
            name: TableName::new(name),
            ddl,
            table: Some(TableName::new(table)),
            extra: session_extra(&mut row, 1, 3, 4, None),
        });
    }

    let events: Vec<String> = rows(
        conn,
        "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME",
        db,
    )
    .await?
    .into_iter()
    .map(|mut r| req(&mut r, 0))
    .collect();
    for name in events {
        let mut row = show_create(conn, "EVENT", &name, 5).await?;
        let ddl = req(&mut row, 3);
        objects.push(SchemaObject {
            kind: "event".to_string(),
            name: TableName::new(name),
            ddl,
            table: None,
            extra: session_extra(&mut row, 1, 4, 5, Some(2)),
        });
    }
    Ok(())
}

/// The session settings an object was created under, replayed on restore.
fn session_extra(
    row: &mut Row,
    sql_mode: usize,
    charset: usize,
    collation: usize,
    time_zone: Option<usize>,
) -> BTreeMap<String, serde_json::Value> {
    let mut extra = BTreeMap::new();
    extra.insert("sql_mode".to_string(), json!(req(row, sql_mode)));
    extra.insert("character_set_client".to_string(), json!(req(row, charset)));
    extra.insert(
        "collation_connection".to_string(),
        json!(req(row, collation)),
    );
    if let Some(tz) = time_zone {
        extra.insert("time_zone".to_string(), json!(req(row, tz)));
    }
    extra
}

/// The portable type of a column.
fn portable_type(
    data_type: &str,
    column_type: &str,
    precision: Option<u32>,
    scale: Option<u32>,
    max_len: Option<u64>,
    is_json: bool,
) -> PortableType {
    let unsigned = column_type.to_ascii_lowercase().contains("unsigned");
    let int = |bits| PortableType::Int { bits, unsigned };
    if is_json {
        return PortableType::Json;
    }
    match data_type {
        "tinyint" => int(8),
        "smallint" => int(16),
        "mediumint" => int(24),
        "int" | "integer" => int(32),
        "bigint" => int(64),
        "year" => PortableType::Int {
            bits: 16,
            unsigned: false,
        },
        "float" => PortableType::Float { bits: 32 },
        "double" | "real" => PortableType::Float { bits: 64 },
        "decimal" | "numeric" => PortableType::Decimal { precision, scale },
        "bit" => PortableType::Bits {
            len: Some(precision.unwrap_or(1)),
        },
        "date" => PortableType::Date,
        "datetime" => PortableType::Timestamp,
        "timestamp" => PortableType::TimestampTz,
        "time" => PortableType::Time,
        "char" => PortableType::Text {
            max_len,
            fixed: true,
        },
        "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "set" => PortableType::Text {
            max_len,
            fixed: false,
        },
        "binary" => PortableType::Bytes {
            max_len,
            fixed: true,
        },
        "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => PortableType::Bytes {
            max_len,
            fixed: false,
        },
        "enum" => PortableType::Enum {
            labels: enum_labels(column_type),
        },
        other => PortableType::Other {
            name: other.to_string(),
        },
    }
}

/// `enum('a','it''s')` -> `["a", "it's"]`.
fn enum_labels(column_type: &str) -> Vec<String> {
    let Some(start) = column_type.find('(') else {
        return Vec::new();
    };
    let body = &column_type[start + 1..];
    let mut labels = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut label = String::new();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    label.push('\'');
                } else {
                    break;
                }
            } else {
                label.push(c);
            }
        }
        labels.push(label);
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_labels_parse() {
        assert_eq!(
            enum_labels("enum('a','it''s','x,y')"),
            vec!["a".to_string(), "it's".to_string(), "x,y".to_string()]
        );
        assert!(enum_labels("int").is_empty());
    }

    #[test]
    fn portable_types() {
        assert_eq!(
            portable_type("bigint", "bigint(20) unsigned", None, None, None, false),
            PortableType::Int {
                bits: 64,
                unsigned: true
            }
        );
        assert_eq!(
            portable_type("longtext", "longtext", None, None, None, true),
            PortableType::Json
        );
        assert_eq!(
            portable_type("point", "point", None, None, None, false),
            PortableType::Other {
                name: "point".into()
            }
        );
    }
}
