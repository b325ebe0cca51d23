//! Check constraints.

use mysql_async::Conn;
use tresor_core::{Constraint, SourceError, TableSchema};

use super::{IndexOf, req, rows};

/// The check constraints of the `tables`; on MariaDB also the columns
/// that are JSON (LONGTEXT with a `json_valid()` check of the column), as
/// (table, column).
///
/// MariaDB names the check of its `JSON` alias after the column, but the
/// name does not follow a renamed column (`RENAME COLUMN data_json TO
/// data` keeps the check `data_json`), and `SHOW CREATE TABLE` prints a
/// column's check without its name, so the same column comes back from a
/// restore with a check named after it. Only the clause decides, so that
/// a column is JSON in the source and in its restore alike.
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
        if mariadb && let Some(column) = json_checked(&clause) {
            json_cols.push((table.clone(), column));
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

/// The column a check clause `json_valid(`column`)` (as MariaDB prints it)
/// checks.
fn json_checked(clause: &str) -> Option<String> {
    let quoted = clause
        .strip_prefix("json_valid(`")
        .or_else(|| clause.strip_prefix("JSON_VALID(`"))?
        .strip_suffix("`)")?;
    // a backtick inside the name is doubled; a lone one ends it early
    let name = quoted.replace("``", "`");
    (name.matches('`').count() * 2 == quoted.matches('`').count()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::json_checked;

    #[test]
    fn json_checks_name_their_column_whatever_the_check_is_called() {
        assert_eq!(
            json_checked("json_valid(`content`)").as_deref(),
            Some("content")
        );
        assert_eq!(json_checked("JSON_VALID(`a``b`)").as_deref(), Some("a`b"));
        assert_eq!(json_checked("json_valid(`a`) and json_valid(`b`)"), None);
        assert_eq!(json_checked("json_valid(`a` )"), None);
        assert_eq!(json_checked("`a` > 0"), None);
    }
}
