//! DDL for tables and indexes of snapshots taken from other engines, where
//! the snapshot's own DDL is not SQLite's.

use tresor_core::{Index, PortableType, TableSchema};

use crate::sql::{ident, ident_list};

/// The declared SQLite type for a portable type. Exact decimals become
/// TEXT (a NUMERIC column would turn `1.50` into the float `1.5`).
fn declared_type(t: &PortableType) -> &'static str {
    match t {
        PortableType::Bool | PortableType::Int { .. } => "INTEGER",
        PortableType::Float { .. } => "REAL",
        PortableType::Bytes { .. } | PortableType::Bits { .. } | PortableType::Document => "BLOB",
        PortableType::Dynamic => "",
        _ => "TEXT",
    }
}

/// `CREATE TABLE` for `table`, from its portable columns and key.
pub(crate) fn create_table(table: &TableSchema) -> String {
    let mut parts: Vec<String> = table
        .columns
        .iter()
        .filter(|c| !c.hidden && c.is_stored_in_rows())
        .map(|c| {
            let mut s = ident(&c.name);
            let ty = declared_type(&c.portable);
            if !ty.is_empty() {
                s.push(' ');
                s.push_str(ty);
            }
            if !c.nullable {
                s.push_str(" NOT NULL");
            }
            s
        })
        .collect();
    if !table.primary_key.is_empty() {
        parts.push(format!(
            "PRIMARY KEY ({})",
            ident_list(table.primary_key.iter().map(String::as_str))
        ));
    }
    format!(
        "CREATE TABLE {} ({})",
        ident(&table.name.name),
        parts.join(", ")
    )
}

/// `CREATE INDEX` for a plain column index, or `None` for expression
/// indexes that only the original engine can spell.
pub(crate) fn create_index(table: &TableSchema, index: &Index) -> Option<String> {
    if index.columns.is_empty() || index.columns.iter().any(|c| table.column(c).is_none()) {
        return None;
    }
    Some(format!(
        "CREATE {}INDEX {} ON {} ({})",
        if index.unique { "UNIQUE " } else { "" },
        ident(&index.name),
        ident(&table.name.name),
        ident_list(index.columns.iter().map(String::as_str))
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tresor_core::{Column, RowKey, TableName};

    #[test]
    fn foreign_tables_get_sqlite_ddl() {
        let mut id = Column::new(
            "id",
            "bigint",
            PortableType::Int {
                bits: 64,
                unsigned: false,
            },
        );
        id.nullable = false;
        let t = TableSchema {
            name: TableName::qualified("public", "my table"),
            kind: "table".into(),
            columns: vec![
                id,
                Column::new(
                    "price",
                    "numeric(10,2)",
                    PortableType::Decimal {
                        precision: Some(10),
                        scale: Some(2),
                    },
                ),
                Column::new(
                    "pic",
                    "bytea",
                    PortableType::Bytes {
                        max_len: None,
                        fixed: false,
                    },
                ),
            ],
            primary_key: vec!["id".into()],
            row_key: RowKey::Columns {
                columns: vec!["id".into()],
            },
            constraints: vec![],
            indexes: vec![],
            foreign_keys: vec![],
            ddl: None,
            auto_increment: None,
            comment: None,
            extra: Default::default(),
        };
        assert_eq!(
            create_table(&t),
            "CREATE TABLE \"my table\" (\"id\" INTEGER NOT NULL, \"price\" TEXT, \"pic\" BLOB, PRIMARY KEY (\"id\"))"
        );
    }
}
