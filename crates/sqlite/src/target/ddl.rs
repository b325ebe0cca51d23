//! DDL for tables and indexes of snapshots taken from other engines, where
//! the snapshot's own DDL is not SQLite's.

use tresor_core::{Engine, Index, PortableType, TableSchema, TypeChange};

use crate::sql::{ident, ident_list};

/// The declared SQLite type for a portable type, named the way
/// applications' migrations name them (`BOOLEAN`, `VARCHAR(200)`,
/// `DATETIME`, `DECIMAL(10,2)`), so their ORMs read the columns as they
/// would their own. Decimals of up to 15 digits get `DECIMAL` (numeric
/// affinity: stored as SQLite numbers, which hold 15 digits exactly, so
/// `1.50` reads back as `1.5`); longer or unbounded ones stay exact as
/// `TEXT`.
fn declared_type(t: &PortableType) -> String {
    match t {
        PortableType::Bool => "BOOLEAN".into(),
        // only `INTEGER PRIMARY KEY`, spelt so, makes a rowid alias
        PortableType::Int { .. } => "INTEGER".into(),
        PortableType::Float { .. } => "REAL".into(),
        PortableType::Decimal {
            precision: Some(p),
            scale,
        } if *p <= 15 => format!("DECIMAL({p},{})", scale.unwrap_or(0)),
        PortableType::Text {
            max_len: Some(n),
            fixed,
        } => format!("{}({n})", if *fixed { "CHAR" } else { "VARCHAR" }),
        PortableType::Date => "DATE".into(),
        PortableType::Time | PortableType::TimeTz => "TIME".into(),
        PortableType::Timestamp | PortableType::TimestampTz => "DATETIME".into(),
        PortableType::Uuid => "CHAR(36)".into(),
        PortableType::Json => "JSON".into(),
        PortableType::Bytes { .. } | PortableType::Bits { .. } | PortableType::Document => {
            "BLOB".into()
        }
        PortableType::Dynamic => String::new(),
        _ => "TEXT".into(),
    }
}

/// What a column of portable type `p` loses in a table made here from
/// another engine's snapshot (`Target::approximate_type`): the type
/// [`declared_type`] gives it, and what changes.
pub(crate) fn type_change(p: &PortableType) -> Option<TypeChange> {
    use PortableType as P;
    match p {
        P::Decimal {
            precision: Some(p), ..
        } if *p <= 15 => Some((
            "DECIMAL",
            "stored as a number: trailing zeros after the point are dropped",
        )),
        P::Decimal { .. } => Some(("TEXT", "stored as exact decimal text")),
        P::TimestampTz | P::TimeTz => Some((
            "DATETIME",
            "stored as text in UTC; SQLite has no time zones",
        )),
        P::Enum { .. } => Some(("TEXT", "the labels are kept, but no longer enforced")),
        P::Uuid => Some(("CHAR(36)", "stored as text in its dashed form")),
        P::Array { .. } => Some(("TEXT", "the array is stored as JSON text")),
        P::Interval => Some(("TEXT", tresor_core::TEXT_FORM)),
        P::Other { name } => Some(("TEXT", tresor_core::other_type_note(name))),
        _ => None,
    }
}

/// `CREATE TABLE` for `table`, from its portable columns and key.
pub(crate) fn create_table(table: &TableSchema, from: Engine) -> String {
    // a key the source numbered itself (an identity, a serial,
    // `AUTO_INCREMENT`) is SQLite's `INTEGER PRIMARY KEY AUTOINCREMENT`,
    // as Rails and knex make it: its numbers are never given again, and
    // the application sees the column numbered (Directus refused inserts
    // without an id into a plain `INTEGER` key)
    let counter = match table.primary_key.as_slice() {
        [k] => table.column(k).filter(|c| {
            tresor_core::auto_numbered(c) && matches!(c.portable, PortableType::Int { .. })
        }),
        _ => None,
    };
    let mut parts: Vec<String> = tresor_core::made_columns(table, from, Engine::SQLITE)
        .into_iter()
        .map(|(c, generated)| {
            let mut s = ident(&c.name);
            if counter.is_some_and(|k| k.name == c.name) {
                s.push_str(" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT");
                return s;
            }
            // MySQL's `tinyint(1)` is a boolean (Rails reads a SQLite
            // `INTEGER`'s 0 as a value, and Ruby's 0 is true)
            let ty = declared_type(&tresor_core::convert::portable_of(c));
            let ty = ty.as_str();
            if !ty.is_empty() {
                s.push(' ');
                s.push_str(ty);
            }
            if let (Some(expr), Some(g)) = (generated, &c.generated) {
                s.push_str(&format!(
                    " GENERATED ALWAYS AS ({expr}) {}",
                    if g.stored { "STORED" } else { "VIRTUAL" }
                ));
            }
            if !c.nullable {
                s.push_str(" NOT NULL");
            }
            if let Some(d) = tresor_core::portable_default(c) {
                s.push_str(" DEFAULT ");
                s.push_str(&d.sql(false));
            }
            s
        })
        .collect();
    if !table.primary_key.is_empty() && counter.is_none() {
        parts.push(format!(
            "PRIMARY KEY ({})",
            ident_list(table.primary_key.iter().map(String::as_str))
        ));
    }
    let stored = |c: &String| table.column(c).is_some();
    for k in table.constraints.iter().filter(|k| k.kind == "unique") {
        if !k.columns.is_empty() && k.columns.iter().all(stored) {
            parts.push(format!(
                "UNIQUE ({})",
                ident_list(k.columns.iter().map(String::as_str))
            ));
        }
    }
    // checks in the SQL every engine shares (the others are listed as not
    // created)
    for k in table.constraints.iter().filter(|k| k.kind == "check") {
        if let Some(expr) = tresor_core::check_for(table, &k.definition, from, Engine::SQLITE) {
            parts.push(if k.name.is_empty() {
                format!("CHECK ({expr})")
            } else {
                format!("CONSTRAINT {} CHECK ({expr})", ident(&k.name))
            });
        }
    }
    // SQLite resolves a foreign key when it is used, so the referenced
    // table may come later in the restore
    for fk in &table.foreign_keys {
        if fk.columns.is_empty()
            || fk.columns.len() != fk.referenced_columns.len()
            || !fk.columns.iter().all(stored)
        {
            continue;
        }
        let mut clause = format!(
            "FOREIGN KEY ({}) REFERENCES {} ({})",
            ident_list(fk.columns.iter().map(String::as_str)),
            ident(&fk.references.name),
            ident_list(fk.referenced_columns.iter().map(String::as_str))
        );
        for (when, action) in [("DELETE", &fk.on_delete), ("UPDATE", &fk.on_update)] {
            if let Some(a) = action
                .as_deref()
                .filter(|a| matches!(*a, "CASCADE" | "SET NULL" | "SET DEFAULT" | "RESTRICT"))
            {
                clause.push_str(&format!(" ON {when} {a}"));
            }
        }
        parts.push(clause);
    }
    format!(
        "CREATE TABLE {} ({})",
        ident(&table.name.name),
        parts.join(", ")
    )
}

/// `CREATE INDEX` for a plain column index of a table made from `from`'s
/// snapshot, or `None` for expression indexes, kinds of index that only
/// the original engine can spell, and an index over a column not made.
pub(crate) fn create_index(table: &TableSchema, index: &Index, from: Engine) -> Option<String> {
    let made = |c: &String| {
        table
            .column(c)
            .is_some_and(|c| tresor_core::column_made(table, c, from, Engine::SQLITE))
    };
    let columns = index.column_names();
    if columns.is_empty() || !columns.iter().all(made) || index.special_kind().is_some() {
        return None;
    }
    Some(format!(
        "CREATE {}INDEX {} ON {} ({})",
        if index.unique { "UNIQUE " } else { "" },
        ident(&tresor_core::convert::database_wide_index_name(
            from,
            &table.name.name,
            &index.name
        )),
        ident(&table.name.name),
        ident_list(columns.iter().map(String::as_str))
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tresor_core::{Column, RowKey, TableName};

    #[test]
    fn what_a_made_column_loses_matches_the_type_it_gets() {
        let enums = PortableType::Enum {
            labels: vec!["sad".into(), "ok".into()],
        };
        for p in [PortableType::TimestampTz, enums, PortableType::Uuid] {
            let (to, _) = type_change(&p).expect("a change");
            assert!(declared_type(&p).starts_with(to), "{p:?}");
        }
        for p in [
            PortableType::Timestamp,
            PortableType::Json,
            PortableType::Dynamic,
        ] {
            assert!(type_change(&p).is_none(), "{p:?}");
        }
    }

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
            create_table(&t, Engine::POSTGRES),
            "CREATE TABLE \"my table\" (\"id\" INTEGER NOT NULL, \"price\" DECIMAL(10,2), \"pic\" BLOB, PRIMARY KEY (\"id\"))"
        );
    }
}
