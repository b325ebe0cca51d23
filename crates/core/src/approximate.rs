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

/// What a column of a type the target engine lacks (portable type
/// `Other { name }`) becomes there: stored as text, in a form that
/// depends on the type.
pub fn other_type_note(name: &str) -> &'static str {
    match name {
        "money" => {
            "each amount is stored as decimal text with two places (12.50), not in the \
             source's currency format"
        }
        "citext" => {
            "stored as text and compared case-sensitively: values that matched only \
             ignoring case (in keys, unique columns, references) no longer do"
        }
        n if n.ends_with(".citext") => other_type_note("citext"),
        n if is_spatial(n) => {
            "stored as hex text of MySQL's internal form (a 4-byte SRID, then the WKB): \
             PostGIS reads it with ST_GeomFromWKB(decode(substr(col, 9), 'hex'))"
        }
        _ => TEXT_FORM,
    }
}

/// What a value of another engine's type becomes as text.
pub const TEXT_FORM: &str = "stored as the source engine's text form";

/// Whether `name` is one of MySQL's spatial types.
pub fn is_spatial(name: &str) -> bool {
    matches!(
        name,
        "geometry"
            | "point"
            | "linestring"
            | "polygon"
            | "multipoint"
            | "multilinestring"
            | "multipolygon"
            | "geometrycollection"
            | "geomcollection"
    )
}

/// [`Approximation::to`] of what the target does not make.
const NOT_CREATED: &str = "not created";

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
    /// For values the target writes in another form (see
    /// [`ValueChanges`](crate::ValueChanges)): how many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<u64>,
}

impl std::fmt::Display for Approximation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.column, self.values) {
            (Some(c), Some(n)) => write!(
                f,
                "{}.{c}: {n} {} {} {} {}: {}",
                self.table,
                if n == 1 { "value" } else { "values" },
                self.from,
                if n == 1 { "becomes" } else { "become" },
                self.to,
                self.note
            ),
            // a column that is not made at all
            (Some(c), None) if self.to == NOT_CREATED => write!(
                f,
                "{}.{c}: {} {}: {}",
                self.table, self.from, self.to, self.note
            ),
            (Some(c), None) => write!(
                f,
                "{}.{c}: {} becomes {}: {}",
                self.table, self.from, self.to, self.note
            ),
            (None, _) => write!(
                f,
                "{} {}: {}: {}",
                self.from, self.table, self.to, self.note
            ),
        }
    }
}

/// The type a target engine gives a column it cannot make as the
/// snapshot had it, and what changes (both shown to the user).
pub type TypeChange = (&'static str, &'static str);

/// The approximations of making `tables` (which the target does not have)
/// from `schema` in a `target` database, whose engine answers
/// `type_change` for each column (its [`Target::approximate_type`]), and,
/// for a whole-database restore, the objects that are not translated.
/// Nothing for a restore into the same engine.
///
/// [`Target::approximate_type`]: crate::Target::approximate_type
pub fn approximations(
    schema: &DatabaseSchema,
    tables: &[&TableSchema],
    target: Engine,
    type_change: &dyn Fn(&PortableType) -> Option<TypeChange>,
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
                values: None,
            });
            continue;
        }
        if let Some(owner) = t.shadow_of() {
            out.push(Approximation {
                table: t.name.to_string(),
                column: None,
                from: "virtual table storage".into(),
                to: "not restored".into(),
                note: format!(
                    "it holds the index of the virtual table {owner}, which only {} has; \
                     rebuild the application's search index in the {} target",
                    schema.engine.name(),
                    target.name()
                ),
                values: None,
            });
            continue;
        }
        for c in t.stored_columns().filter(|c| !c.hidden) {
            if let Some((to, note)) = type_change(&portable_of(c)) {
                out.push(Approximation {
                    table: t.name.to_string(),
                    column: Some(c.name.clone()),
                    from: c.engine_type.clone(),
                    to: to.to_string(),
                    note: note.to_string(),
                    values: None,
                });
            }
            if crate::defaults::default_lost(c) {
                out.push(Approximation {
                    table: t.name.to_string(),
                    column: Some(c.name.clone()),
                    from: "default".into(),
                    to: "no default".into(),
                    note: "defaults are written in the source engine's SQL and not translated"
                        .into(),
                    values: None,
                });
            }
        }
        let lost = |c: &crate::schema::Column| !crate::column_made(t, c, schema.engine, target);
        for c in t.columns.iter().filter(|c| lost(c)) {
            out.push(Approximation {
                table: t.name.to_string(),
                column: Some(c.name.clone()),
                from: "generated column".into(),
                to: NOT_CREATED.into(),
                note: "its expression is written in the source engine's SQL beyond what tresor \
                       translates, and its values are computed, not kept in the snapshot"
                    .into(),
                values: None,
            });
        }
        // an index over a column that is not made is not made either, nor
        // one over an expression, written in the source engine's SQL
        for i in t.indexes.iter().filter(|i| i.special_kind().is_none()) {
            let columns = i.column_names();
            let note = if let Some(c) = columns
                .iter()
                .find(|c| t.column_folded(c).is_some_and(&lost))
            {
                format!("{}: its column {c} is not created", i.name)
            } else if let Some(e) = columns.iter().find(|c| t.column_folded(c).is_none()) {
                format!(
                    "{}: it indexes the expression {e}, written in {}'s SQL, which tresor does \
                     not translate",
                    i.name,
                    schema.engine.name()
                )
            } else {
                continue;
            };
            out.push(Approximation {
                table: t.name.to_string(),
                column: None,
                from: if i.unique { "unique index" } else { "index" }.into(),
                to: NOT_CREATED.into(),
                note,
                values: None,
            });
        }
        for i in &t.indexes {
            if let Some(kind) = i.special_kind() {
                out.push(Approximation {
                    table: t.name.to_string(),
                    column: None,
                    from: format!("{kind} index"),
                    to: NOT_CREATED.into(),
                    note: format!(
                        "{}: only {} has that kind of index; the {} target gets none in its place",
                        i.name,
                        schema.engine.name(),
                        target.name()
                    ),
                    values: None,
                });
            }
        }
        // a check of what the target's type holds anyway (JSON, a
        // boolean's 0 or 1) is that type's own
        for k in t.constraints.iter().filter(|k| {
            k.kind == "check"
                && !crate::check_implied_by_type(t, &k.definition, schema.engine, target)
                && crate::check_for(t, &k.definition, schema.engine, target).is_none()
        }) {
            out.push(Approximation {
                table: t.name.to_string(),
                column: None,
                from: "check constraint".into(),
                to: "not created".into(),
                note: if k.name.is_empty() {
                    format!(
                        "{}: written in the source engine's SQL beyond what tresor translates",
                        k.definition
                    )
                } else {
                    format!(
                        "{} is written in the source engine's SQL beyond what tresor translates",
                        k.name
                    )
                },
                values: None,
            });
        }
    }
    if whole_database {
        // a trigger belongs to its table: one the target keeps (made by
        // the application's own migrations there) keeps its own triggers
        let kept = |o: &crate::schema::SchemaObject| {
            o.kind == "trigger"
                && o.table
                    .as_ref()
                    .is_some_and(|n| !tables.iter().any(|t| &t.name == n))
        };
        for o in schema.objects.iter().filter(|o| !kept(o)) {
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
                    | "virtual_table"
            ) {
                let note = if o.kind == "virtual_table" {
                    format!(
                        "made by a module of {} that other engines do not have",
                        schema.engine.name()
                    )
                } else {
                    "written in the source engine's SQL, which tresor does not translate".into()
                };
                out.push(Approximation {
                    table: o.name.to_string(),
                    column: None,
                    from: kind,
                    to: "not created".into(),
                    note,
                    values: None,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Column, RowKey, TableName};

    #[test]
    fn the_target_engine_names_what_it_cannot_keep() {
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
            engine: Engine::POSTGRES,
            tables: vec![t.clone()],
            objects: vec![],
            settings: Default::default(),
        };
        let no_zones = |p: &PortableType| {
            matches!(p, PortableType::TimestampTz).then_some(("datetime", "no time zone"))
        };
        let into = approximations(&schema, &[&t], Engine::MYSQL, &no_zones, false);
        assert_eq!(into.len(), 1, "{into:?}");
        assert_eq!(into[0].column.as_deref(), Some("at"));
        assert_eq!(into[0].from, "timestamptz");
        assert_eq!(into[0].to, "datetime");
        assert_eq!(
            into[0].to_string(),
            "events.at: timestamptz becomes datetime: no time zone"
        );
        assert!(approximations(&schema, &[&t], Engine::POSTGRES, &no_zones, true).is_empty());

        // a trigger is listed with its table, not where the target keeps
        // the table (and its own triggers)
        let mut with_trigger = schema.clone();
        with_trigger.objects.push(crate::schema::SchemaObject {
            kind: "trigger".into(),
            name: TableName::new("events_stamp"),
            ddl: "CREATE TRIGGER events_stamp ...".into(),
            table: Some(TableName::new("events")),
            extra: Default::default(),
        });
        let none = |_: &PortableType| None;
        let made = approximations(&with_trigger, &[&t], Engine::MYSQL, &none, true);
        assert_eq!(
            made.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "trigger events_stamp: not created: written in the source engine's SQL, which \
              tresor does not translate"
            ]
        );
        assert!(approximations(&with_trigger, &[], Engine::MYSQL, &none, true).is_empty());

        // a generated column is made in another engine when its expression
        // is in the SQL they share; when not, it is not made, nor is an
        // index over it: said so
        let mut g = t;
        let text = PortableType::Text {
            max_len: None,
            fixed: false,
        };
        let bigint = PortableType::Int {
            bits: 64,
            unsigned: false,
        };
        g.columns
            .push(Column::computed("twice", "bigint", bigint, "(id * 2)"));
        g.columns.push(Column::computed(
            "full",
            "text",
            text,
            "((mood)::text || 'x'::text)",
        ));
        g.indexes.push(crate::schema::Index {
            name: "events_full".into(),
            columns: vec!["full".into()],
            unique: false,
            ddl: None,
            extra: Default::default(),
        });
        let into = approximations(
            &schema,
            &[&g],
            Engine::SQLITE,
            &|_: &PortableType| None,
            false,
        );
        assert_eq!(
            into.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "events.full: generated column not created: its expression is written in \
                 the source engine's SQL beyond what tresor translates, and its values are \
                 computed, not kept in the snapshot",
                "index events: not created: events_full: its column full is not created"
            ]
        );
    }
}
