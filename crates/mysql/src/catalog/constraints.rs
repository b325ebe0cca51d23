//! Check constraints.

use mysql_async::Conn;
use tresor_core::{Constraint, SourceError, TableSchema};

use super::{IndexOf, req, rows};
use crate::sql::quote;

/// The check constraints of the `tables`; on MariaDB also the columns
/// that are JSON (LONGTEXT with a `json_valid()` check named after the
/// column), as (table, column).
pub(super) async fn checks(
    conn: &mut Conn,
    db: &str,
    mariadb: bool,
    index_of: &IndexOf,
    tables: &mut [TableSchema],
) -> Result<Vec<(String, String)>, SourceError> {
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
    Ok(json_cols)
}
