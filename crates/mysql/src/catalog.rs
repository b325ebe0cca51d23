//! Schema capture: `SHOW CREATE TABLE` for the exact DDL, and the portable
//! model from `information_schema` (columns, keys, indexes, foreign keys,
//! check constraints), plus views, triggers, routines and events.
//!
//! Everything here is read on the snapshot's connection after the
//! transaction started, so the table definitions are held by metadata
//! locks while the rows are read.

mod columns;
mod constraints;
mod foreign_keys;
mod indexes;
mod objects;
mod tables;

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value as My};
use serde_json::json;
use tresor_core::{DatabaseSchema, Engine, ErrorKind, SourceError, TableFilter};

use crate::error::Context;
use crate::sql::quote;

/// Table name prefix of a restore's work tables; never captured or
/// reported.
pub(crate) const WORK_PREFIX: &str = "__tresor_";

/// Engines whose tables take part in a consistent snapshot.
const TRANSACTIONAL: &[&str] = &["innodb", "rocksdb", "tokudb"];
/// Table name -> its position in the captured tables.
type IndexOf = BTreeMap<String, usize>;

/// Per table, its unique indexes: name, columns, and whether every
/// column is whole (no prefix).
type Uniques = BTreeMap<String, Vec<(String, Vec<String>, bool)>>;

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
    let mut tables = tables::tables(conn, db, filter, &mut warnings).await?;
    let index_of: IndexOf = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.name.clone(), i))
        .collect();

    // check constraints first: MariaDB's JSON columns are LONGTEXT with a
    // json_valid() check named after the column
    let json_cols = constraints::checks(conn, db, mariadb, &index_of, &mut tables).await?;
    columns::columns(conn, db, &index_of, &mut tables, &json_cols).await?;
    let uniques = indexes::indexes(conn, db, &index_of, &mut tables).await?;
    foreign_keys::foreign_keys(conn, db, &index_of, &mut tables).await?;
    tables::definitions(conn, &mut tables, &uniques).await?;

    let mut objects = Vec::new();
    objects::capture_objects(conn, db, filter, &tables, &mut objects).await?;

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
            engine: Engine::MYSQL,
            tables,
            objects,
            settings,
        },
        warnings,
    })
}
