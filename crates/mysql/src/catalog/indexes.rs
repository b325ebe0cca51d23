//! Indexes and primary keys.

use std::collections::BTreeMap;

use mysql_async::Conn;
use serde_json::json;
use tresor_core::{Index, SourceError, TableSchema};

use super::{IndexOf, Uniques, req, rows, text_col};

/// The indexes of the `tables`, grouped by (table, index) in sequence
/// order; `PRIMARY` becomes the primary key. Answers the unique ones by
/// table, each with whether it covers whole columns (no prefix).
pub(super) async fn indexes(
    conn: &mut Conn,
    db: &str,
    index_of: &IndexOf,
    tables: &mut [TableSchema],
) -> Result<Uniques, SourceError> {
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
    Ok(uniques)
}
