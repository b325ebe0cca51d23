//! What a restore into another engine cannot keep as it was: per table
//! and column, the type it becomes and what changes, and the objects
//! written in the source engine's SQL that are not translated. The dry
//! run and the server's preview list these before anything is written,
//! and `--strict` refuses a restore that needs any.
//!
//! The rules follow the types the targets give the tables they make
//! (`docs/cross-engine.md`, "Types of tables tresor makes").

use serde::{Deserialize, Serialize};

use crate::convert::portable_of;
use crate::schema::{DatabaseSchema, Engine, PortableType, TableSchema};

/// One approximation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approximation {
    /// The table (or, for an object, the object's name).
    pub table: String,
    /// The column, for a type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// What the snapshot has: the column's type, or the object's kind.
    pub from: String,
    /// What the target gets.
    pub to: String,
    /// What is lost or changed.
    pub note: String,
}

impl std::fmt::Display for Approximation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(c) => write!(
                f,
                "{}.{c}: {} becomes {}: {}",
                self.table, self.from, self.to, self.note
            ),
            None => write!(
                f,
                "{} {}: {}: {}",
                self.from, self.table, self.to, self.note
            ),
        }
    }
}

/// The approximations of making `tables` (which the target does not have)
/// from `schema` in a `target` database, and, for a whole-database
/// restore, the objects that are not translated. Nothing for a restore
/// into the same engine.
pub fn approximations(
    schema: &DatabaseSchema,
    tables: &[&TableSchema],
    target: Engine,
    whole_database: bool,
) -> Vec<Approximation> {
    if schema.engine == target {
        return Vec::new();
    }
    let mut out = Vec::new();
    for t in tables {
        if t.is_large_objects() {
            out.push(Approximation {
                table: t.name.to_string(),
                column: None,
                from: "large objects".into(),
                to: "not restored".into(),
                note: format!(
                    "only PostgreSQL holds large objects; the {} target gets none of them",
                    target.name()
                ),
            });
            continue;
        }
        for c in t.stored_columns().filter(|c| !c.hidden) {
            if let Some((to, note)) = column_rule(&portable_of(c), target) {
                out.push(Approximation {
                    table: t.name.to_string(),
                    column: Some(c.name.clone()),
                    from: c.engine_type.clone(),
                    to: to.to_string(),
                    note: note.to_string(),
                });
            }
            if c.default.is_some() && c.generated.is_none() && !c.identity {
                out.push(Approximation {
                    table: t.name.to_string(),
                    column: Some(c.name.clone()),
                    from: "default".into(),
                    to: "no default".into(),
                    note: "defaults are written in the source engine's SQL and not translated"
                        .into(),
                });
            }
        }
        for k in t.constraints.iter().filter(|k| k.kind == "check") {
            out.push(Approximation {
                table: t.name.to_string(),
                column: None,
                from: "check constraint".into(),
                to: "not created".into(),
                note: format!("{} is written in the source engine's SQL", k.name),
            });
        }
    }
    if whole_database {
        for o in &schema.objects {
            let kind = o.kind.replace('_', " ");
            if matches!(
                o.kind.as_str(),
                "view"
                    | "materialized_view"
                    | "trigger"
                    | "function"
                    | "procedure"
                    | "event"
                    | "rule"
                    | "policy"
                    | "row_security"
                    | "publication"
            ) {
                out.push(Approximation {
                    table: o.name.to_string(),
                    column: None,
                    from: kind,
                    to: "not created".into(),
                    note: "written in the source engine's SQL, which tresor does not translate"
                        .into(),
                });
            }
        }
    }
    out
}

/// The target type and what changes, for a portable type that the
/// target cannot hold as it is.
fn column_rule(p: &PortableType, target: Engine) -> Option<(&'static str, &'static str)> {
    use PortableType as P;
    let dynamic = (
        "text",
        "SQLite's untyped column: every value is stored as its text",
    );
    match target {
        Engine::Postgres => match p {
            P::Enum { .. } => Some(("text", "the labels are kept, but no longer enforced")),
            P::Interval | P::Other { .. } => {
                Some(("text", "stored as the source engine's text form"))
            }
            P::Dynamic => Some(dynamic),
            P::Document => Some(("bytea", "a BSON document, stored as its bytes")),
            _ => None,
        },
        Engine::Mysql => match p {
            P::TimestampTz => Some((
                "datetime(6)",
                "the instant is kept in UTC; the column no longer has a time zone",
            )),
            P::TimeTz => Some(("time(6)", "the offset is dropped")),
            P::Uuid => Some(("char(36)", "stored as text in its dashed form")),
            P::Array { .. } => Some(("json", "the array is stored as a JSON array")),
            P::Document => Some(("json", "the document is stored as JSON")),
            P::Interval | P::Other { .. } => {
                Some(("longtext", "stored as the source engine's text form"))
            }
            P::Dynamic => Some(("longtext", dynamic.1)),
            P::Decimal {
                precision: Some(p), ..
            } if *p > 65 => Some((
                "decimal(65,30)",
                "MySQL holds at most 65 digits: larger values fail the restore",
            )),
            P::Decimal {
                precision: None, ..
            } => Some((
                "decimal(65,30)",
                "an unbounded decimal gets 30 digits after the point",
            )),
            _ => None,
        },
        Engine::Sqlite => match p {
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
            P::Interval | P::Other { .. } => {
                Some(("TEXT", "stored as the source engine's text form"))
            }
            _ => None,
        },
        Engine::Mongodb => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Column, RowKey, TableName};

    #[test]
    fn each_target_names_what_it_cannot_keep() {
        let t = TableSchema {
            name: TableName::new("events"),
            kind: "table".into(),
            columns: vec![
                Column::new(
                    "id",
                    "bigint",
                    PortableType::Int {
                        bits: 64,
                        unsigned: false,
                    },
                ),
                Column::new("at", "timestamptz", PortableType::TimestampTz),
                Column::new(
                    "mood",
                    "mood",
                    PortableType::Enum {
                        labels: vec!["sad".into(), "ok".into()],
                    },
                ),
            ],
            primary_key: vec!["id".into()],
            row_key: RowKey::None,
            constraints: vec![],
            indexes: vec![],
            foreign_keys: vec![],
            ddl: None,
            auto_increment: None,
            comment: None,
            extra: Default::default(),
        };
        let schema = DatabaseSchema {
            engine: Engine::Postgres,
            tables: vec![t.clone()],
            objects: vec![],
            settings: Default::default(),
        };
        let into_mysql = approximations(&schema, &[&t], Engine::Mysql, false);
        assert_eq!(into_mysql.len(), 1, "{into_mysql:?}");
        assert_eq!(into_mysql[0].column.as_deref(), Some("at"));
        assert_eq!(into_mysql[0].to, "datetime(6)");
        let into_sqlite = approximations(&schema, &[&t], Engine::Sqlite, false);
        let cols: Vec<_> = into_sqlite
            .iter()
            .filter_map(|a| a.column.clone())
            .collect();
        assert_eq!(cols, ["at", "mood"]);
        assert!(approximations(&schema, &[&t], Engine::Postgres, true).is_empty());
    }
}
