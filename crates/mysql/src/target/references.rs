//! Foreign keys across the edge of a restore. Rows load with foreign key
//! checks off, and turning them on again checks nothing that is already
//! there, so a key between a restored table and one the restore leaves
//! alone is checked here, against the loaded rows, before the point of no
//! return: restoring `shop_product` alone while an order line points at a
//! product made since the backup would otherwise leave that line pointing
//! at nothing. (Keys among restored tables hold as they held in the
//! snapshot.)

use std::collections::{BTreeMap, HashMap, HashSet};

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use tresor_core::{ErrorKind, SourceError};

use crate::catalog::{WORK_PREFIX, text_col};
use crate::error::Context;
use crate::sql::quote;

/// One foreign key of the database, as `information_schema` lists it.
#[derive(Default)]
struct Key {
    child: String,
    parent: String,
    columns: Vec<String>,
    referenced: Vec<String>,
}

/// Fails when a foreign key between a table in `restored` and one outside
/// it would be left pointing at nothing. `works` maps a restored table to
/// the work table its rows are in until the swap; `replaced` are the
/// restored tables made again because their definition changed (their
/// keys today are not the snapshot's, and go with the old table). `conn`
/// is the restore's transaction when there is one: its reads so far were
/// all locking ones (`DELETE`, inserts, `FOR UPDATE`), so these queries
/// are its first consistent read and see the work tables the other
/// connection committed.
pub(super) async fn check(
    conn: &mut Conn,
    db: &str,
    restored: &HashSet<String>,
    replaced: &[String],
    works: &HashMap<String, String>,
) -> Result<(), SourceError> {
    let tables: HashSet<String> = super::table_names(conn, db).await?.into_iter().collect();
    let rows: Vec<mysql_async::Row> = conn
        .exec(
            "SELECT CONSTRAINT_NAME, TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, \
                    REFERENCED_COLUMN_NAME \
             FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = ? AND REFERENCED_TABLE_SCHEMA = ? \
               AND REFERENCED_TABLE_NAME IS NOT NULL \
             ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
            (db, db),
        )
        .await
        .ctx(|| "cannot list the foreign keys".to_string())?;
    let mut keys: BTreeMap<(String, String), Key> = BTreeMap::new();
    for mut r in rows {
        let name = text_col(&mut r, 0).unwrap_or_default();
        let child = text_col(&mut r, 1).unwrap_or_default();
        let key = keys.entry((child.clone(), name)).or_default();
        key.child = child;
        key.columns.push(text_col(&mut r, 2).unwrap_or_default());
        key.parent = text_col(&mut r, 3).unwrap_or_default();
        key.referenced.push(text_col(&mut r, 4).unwrap_or_default());
    }
    let here = |t: &str| works.get(t).cloned().unwrap_or_else(|| t.to_string());
    for ((_, name), k) in keys {
        // work tables' own keys, and keys on both or neither side
        if k.child.starts_with(WORK_PREFIX) || k.parent.starts_with(WORK_PREFIX) {
            continue;
        }
        if restored.contains(&k.child) == restored.contains(&k.parent)
            || replaced.contains(&k.child)
            || !(restored.contains(&k.parent) || tables.contains(&k.parent))
        {
            // (a key that already points at a missing table is not this
            // restore's doing)
            continue;
        }
        let set: Vec<String> = k
            .columns
            .iter()
            .map(|c| format!("c.{} IS NOT NULL", quote(c)))
            .collect();
        let on: Vec<String> = k
            .columns
            .iter()
            .zip(&k.referenced)
            .map(|(c, p)| format!("p.{} = c.{}", quote(p), quote(c)))
            .collect();
        let sql = format!(
            "SELECT COUNT(*) FROM {} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})",
            quote(&here(&k.child)),
            set.join(" AND "),
            quote(&here(&k.parent)),
            on.join(" AND ")
        );
        let orphans: Option<u64> = conn
            .query_first(sql)
            .await
            .ctx(|| format!("cannot check foreign key {name} of table {}", k.child))?;
        let orphans = orphans.unwrap_or(0);
        if orphans > 0 {
            let keep = if restored.contains(&k.parent) {
                &k.child
            } else {
                &k.parent
            };
            return Err(SourceError::new(
                ErrorKind::Conflict,
                format!(
                    "foreign key {name} of table {}: {orphans} row(s) would point at rows {} does not have ({}) after the restore",
                    k.child,
                    k.parent,
                    k.columns.join(", ")
                ),
            )
            .with_hint(format!(
                "try: restore {keep} too ({}), or use --mode merge",
                tresor_core::tables_too(&restored.iter().collect::<Vec<_>>(), keep)
            )));
        }
    }
    Ok(())
}
