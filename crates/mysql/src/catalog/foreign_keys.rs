//! Foreign keys.

use std::collections::BTreeMap;

use mysql_async::Conn;
use tresor_core::{ForeignKey, SourceError, TableName, TableSchema};

use super::{IndexOf, req, rows, text_col};

/// The foreign keys of the `tables`, columns in order.
pub(super) async fn foreign_keys(
    conn: &mut Conn,
    db: &str,
    index_of: &IndexOf,
    tables: &mut [TableSchema],
) -> Result<(), SourceError> {
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
    Ok(())
}
