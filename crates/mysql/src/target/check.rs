//! Fitting a snapshot's table onto a table the target already has: its
//! columns as the target reports them, and every way they do not fit.

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use tresor_core::{SourceError, TableSchema};

use crate::catalog::{WORK_PREFIX, text_col};
use crate::convert::base_type;
use crate::error::Context;

/// A target column, as far as compatibility goes.
pub(super) struct TargetColumn {
    pub(super) column_type: String,
    pub(super) charset: Option<String>,
    pub(super) nullable: bool,
    pub(super) has_default: bool,
    pub(super) generated: bool,
    pub(super) auto_increment: bool,
}

/// Normalises a column type for comparison: lowercase, and integer
/// display widths (`int(11)` on MariaDB and MySQL 5, `int` on MySQL 8)
/// dropped, except `tinyint(1)` which tools read as boolean.
fn normalise_type(t: &str) -> String {
    let t = t.trim().to_ascii_lowercase();
    let base = base_type(&t);
    if matches!(
        base.as_str(),
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint"
    ) && t != "tinyint(1)"
        && let (Some(open), Some(close)) = (t.find('('), t.find(')'))
        && open < close
    {
        return format!("{}{}", &t[..open], &t[close + 1..]);
    }
    t
}

/// Columns of the target's tables, by table.
pub(super) async fn target_columns(
    conn: &mut Conn,
    db: &str,
) -> Result<HashMap<String, Vec<(String, TargetColumn)>>, SourceError> {
    let rows: Vec<Row> = conn
        .exec(
            "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, c.CHARACTER_SET_NAME, c.IS_NULLABLE, \
             c.COLUMN_DEFAULT IS NOT NULL, c.EXTRA FROM information_schema.COLUMNS c \
             JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA \
             AND t.TABLE_NAME = c.TABLE_NAME AND t.TABLE_TYPE = 'BASE TABLE' \
             WHERE c.TABLE_SCHEMA = ? ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION",
            (db,),
        )
        .await
        .ctx(|| "cannot read the target's columns".to_string())?;
    let mut out: HashMap<String, Vec<(String, TargetColumn)>> = HashMap::new();
    for mut r in rows {
        let table = text_col(&mut r, 0).unwrap_or_default();
        if table.starts_with(WORK_PREFIX) {
            continue;
        }
        let name = text_col(&mut r, 1).unwrap_or_default();
        let extra = text_col(&mut r, 6).unwrap_or_default().to_ascii_lowercase();
        let col = TargetColumn {
            column_type: text_col(&mut r, 2).unwrap_or_default(),
            charset: text_col(&mut r, 3),
            nullable: text_col(&mut r, 4).as_deref() == Some("YES"),
            has_default: text_col(&mut r, 5).as_deref() == Some("1"),
            generated: extra.contains(" generated") && !extra.contains("default_generated"),
            auto_increment: extra.contains("auto_increment"),
        };
        out.entry(table).or_default().push((name, col));
    }
    Ok(out)
}

/// Adds every way `table` does not fit the target's columns to `out`.
/// Every way the target's existing table does not fit the snapshot's. A
/// table of another engine's snapshot is matched by column names (types
/// are converted on the way in; a value the column cannot hold fails the
/// load, and so the preview's rehearsal), without SQLite's implicit rowid.
pub(super) fn check_compatible(
    table: &TableSchema,
    target: &[(String, TargetColumn)],
    foreign: bool,
    out: &mut Vec<String>,
) {
    let name = &table.name;
    for c in table.stored_columns().filter(|c| !(foreign && c.hidden)) {
        let Some((_, t)) = target.iter().find(|(n, _)| n == &c.name) else {
            out.push(format!("table {name}: column {} is missing", c.name));
            continue;
        };
        if t.generated {
            out.push(format!(
                "table {name}: column {} is generated in the target but stored in the snapshot",
                c.name
            ));
            continue;
        }
        let (want, have) = (
            normalise_type(&c.engine_type),
            normalise_type(&t.column_type),
        );
        if want != have && !foreign {
            out.push(format!(
                "table {name}: column {} is {} in the snapshot but {} in the target",
                c.name, c.engine_type, t.column_type
            ));
        }
        let charset = c.extra.get("charset").and_then(|v| v.as_str());
        if let (Some(a), Some(b)) = (charset, t.charset.as_deref())
            && a != b
        {
            out.push(format!(
                "table {name}: column {} has character set {a} in the snapshot but {b} in the target",
                c.name
            ));
        }
        if c.nullable && !t.nullable {
            out.push(format!(
                "table {name}: column {} allows NULL in the snapshot but not in the target",
                c.name
            ));
        }
    }
    for (col, t) in target {
        let in_snapshot = table.columns.iter().any(|c| &c.name == col);
        if !in_snapshot && !t.nullable && !t.has_default && !t.generated && !t.auto_increment {
            out.push(format!(
                "table {name}: the target's column {col} is not in the snapshot and has no default"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_normalise() {
        assert_eq!(normalise_type("int(11) unsigned"), "int unsigned");
        assert_eq!(normalise_type("INT"), "int");
        assert_eq!(normalise_type("tinyint(1)"), "tinyint(1)");
        assert_eq!(normalise_type("varchar(20)"), "varchar(20)");
    }
}
