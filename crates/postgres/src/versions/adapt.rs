//! Rewriting a snapshot's definitions for a server that lacks what they
//! use: each rewrite records the approximation it makes, and what cannot
//! be rewritten is refused.

use std::collections::HashMap;

use serde_json::json;
use tresor_core::{Approximation, Column, PortableType, SchemaObject, TableName, TableSchema};

use super::{Conversion, Feature, Fit, Scoped, ServerVersion, TargetServer};
use crate::catalog::column_sql;
use crate::types::ident;

/// The built-in multirange types and their range types.
const MULTIRANGES: &[(&str, &str)] = &[
    ("int4multirange", "int4range"),
    ("int8multirange", "int8range"),
    ("nummultirange", "numrange"),
    ("datemultirange", "daterange"),
    ("tsmultirange", "tsrange"),
    ("tstzmultirange", "tstzrange"),
];

/// One pass over a schema for one target.
pub(super) struct Adapter<'a> {
    pub(super) source: Option<ServerVersion>,
    pub(super) target: TargetServer,
    pub(super) privileges: bool,
    pub(super) fit: &'a mut Fit,
    /// Constraints left out, as (the table they are declared on, name).
    pub(super) dropped: Vec<(TableName, String)>,
}

impl Adapter<'_> {
    pub(super) fn run(mut self) {
        let mut tables = std::mem::take(&mut self.fit.schema.tables);
        for t in &mut tables {
            self.table(t);
        }
        self.fit.schema.tables = tables;
        // the constraints and indexes of partitions belong to their root's
        // restore
        let roots: HashMap<TableName, TableName> = self
            .fit
            .schema
            .objects
            .iter()
            .filter(|o| o.kind == "partition")
            .filter_map(|o| Some((o.name.clone(), o.table.clone()?)))
            .collect();
        let objects = std::mem::take(&mut self.fit.schema.objects);
        let mut kept: Vec<SchemaObject> = Vec::with_capacity(objects.len());
        for mut o in objects {
            let scope = o.table.as_ref().map(|t| roots.get(t).unwrap_or(t).clone());
            if self.object(&mut o, scope.as_ref()) {
                kept.push(o);
            }
        }
        // no comments on the constraints that are not created
        let dropped = std::mem::take(&mut self.dropped);
        kept.retain(|o| {
            o.kind != "comment"
                || !dropped.iter().any(|(t, name)| {
                    o.table.as_ref() == Some(t)
                        && o.ddl
                            .starts_with(&format!("COMMENT ON CONSTRAINT {} ON ", pg_ident(name)))
                })
        });
        self.fit.schema.objects = kept;
    }

    /// Whether the restore rewrites what `feature` makes: the target lacks
    /// it and the snapshot's server may have had it.
    fn rewrites(&self, feature: Feature) -> bool {
        !self.target.version.has(feature) && self.source.is_none_or(|s| s.has(feature))
    }

    fn note(
        &mut self,
        scope: Option<&TableName>,
        table: String,
        column: Option<&str>,
        from: &str,
        to: &str,
        note: String,
    ) {
        self.fit.approximations.push(Scoped {
            table: scope.cloned(),
            approximation: Approximation {
                table,
                column: column.map(str::to_string),
                from: from.to_string(),
                to: to.to_string(),
                note,
                values: None,
            },
        });
    }

    /// [`Self::note`] for a column of `table`.
    fn note_column(&mut self, table: &TableName, column: &str, from: &str, to: &str, note: String) {
        self.note(Some(table), table.to_string(), Some(column), from, to, note);
    }

    fn table(&mut self, t: &mut TableSchema) {
        let mut rewritten = Vec::new();
        let name = t.name.clone();
        for c in &mut t.columns {
            if self.column(&name, c) {
                rewritten.push(c.clone());
            }
        }
        if let Some(ddl) = &mut t.ddl
            && !rewritten.is_empty()
        {
            *ddl = rewrite_column_lines(ddl, &rewritten);
        }
        let mut constraints = std::mem::take(&mut t.constraints);
        constraints.retain_mut(|k| {
            let what = format!("{} constraint", k.kind);
            self.definition(&name, &name, (&what, &k.name), &mut k.definition)
        });
        t.constraints = constraints;
        if let Some(pk) = t.extra.get("primary_key_constraint").cloned() {
            let pk_name = pk.get("name").and_then(|v| v.as_str()).unwrap_or_default();
            let mut def = pk
                .get("definition")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            if !self.definition(&name, &name, ("primary key", pk_name), &mut def) {
                t.extra.remove("primary_key_constraint");
            }
        }
        let mut keys = std::mem::take(&mut t.foreign_keys);
        keys.retain_mut(|fk| {
            let fk_name = fk.name.clone().unwrap_or_default();
            match &mut fk.ddl {
                Some(d) => self.definition(&name, &name, ("foreign key", &fk_name), d),
                None => true,
            }
        });
        t.foreign_keys = keys;
        for i in &mut t.indexes {
            if let Some(d) = &mut i.ddl {
                self.index(&name, &name, &i.name, d);
            }
        }
    }

    /// Rewrites column `c` of `table`; answers whether it changed.
    fn column(&mut self, table: &TableName, c: &mut Column) -> bool {
        let mut changed = false;
        if self.rewrites(Feature::Multirange) {
            changed |= self.multirange(table, c);
        }
        if self.rewrites(Feature::Xid8) && c.engine_type.starts_with("xid8") {
            if c.engine_type == "xid8" {
                self.retype(
                    table,
                    c,
                    "numeric(20,0)",
                    Conversion::ToDecimal,
                    Feature::Xid8,
                    "the transaction ids are kept as numbers",
                );
                c.portable = PortableType::Decimal {
                    precision: Some(20),
                    scale: Some(0),
                };
                changed = true;
            } else {
                self.refuse(table, c, Feature::Xid8);
            }
        }
        if self.rewrites(Feature::InfiniteInterval)
            && c.engine_type.starts_with("interval")
            && !c.engine_type.ends_with("[]")
        {
            // no rewrite: an infinite value fails the load, named
            let check = Conversion::FiniteInterval {
                target: self.target.version.major(),
            };
            self.fit
                .conversions
                .entry(table.clone())
                .or_default()
                .push((c.name.clone(), check));
        }
        if self.rewrites(Feature::VirtualGenerated)
            && let Some(g) = c.generated.as_mut().filter(|g| !g.stored)
        {
            g.stored = true;
            let note = format!(
                "{}: the values are computed on write and stored",
                self.target.lacks(Feature::VirtualGenerated)
            );
            self.note_column(
                table,
                &c.name,
                "virtual generated column",
                "stored generated column",
                note,
            );
            changed = true;
        }
        if let Some(method) = c
            .extra
            .get("compression")
            .and_then(|v| v.as_str())
            .map(str::to_string)
        {
            let no_methods = !self.target.version.has(Feature::Compression);
            if method == "lz4" && (no_methods || !self.target.lz4) {
                let why = if no_methods {
                    self.target.lacks(Feature::Compression)
                } else {
                    "the target server is built without lz4".to_string()
                };
                self.note_column(
                    table,
                    &c.name,
                    "COMPRESSION lz4",
                    "the server's default compression",
                    why,
                );
            }
            if no_methods || (method == "lz4" && !self.target.lz4) {
                c.extra.remove("compression");
                changed = true;
            }
        }
        if self.rewrites(Feature::BuiltinUuid)
            && let Some(d) = c.default.as_mut()
            && let Some(qualified) = qualify_call(d, "gen_random_uuid(", "public")
        {
            *d = qualified;
            self.fit.pgcrypto = Some("public".into());
            let note = format!(
                "{}: the extension pgcrypto (in schema public) provides it",
                self.target.lacks(Feature::BuiltinUuid)
            );
            self.note_column(
                table,
                &c.name,
                "default gen_random_uuid()",
                "public.gen_random_uuid()",
                note,
            );
            changed = true;
        }
        changed
    }

    /// A multirange column becomes an array of its ranges; arrays of
    /// multiranges are refused.
    fn multirange(&mut self, table: &TableName, c: &mut Column) -> bool {
        let range = c
            .extra
            .get("multirange_of")
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .or_else(|| {
                MULTIRANGES
                    .iter()
                    .find(|(m, _)| *m == c.engine_type)
                    .map(|(_, r)| (*r).to_string())
            });
        match range {
            Some(range) => {
                let to = format!("{range}[]");
                self.retype(
                    table,
                    c,
                    &to,
                    Conversion::MultirangeToArray,
                    Feature::Multirange,
                    "the ranges are kept as an array of them",
                );
                c.portable = PortableType::Array {
                    element: Box::new(PortableType::Other { name: range }),
                };
                true
            }
            None if c.engine_type.contains("multirange") => {
                self.refuse(table, c, Feature::Multirange);
                false
            }
            None => false,
        }
    }

    fn retype(
        &mut self,
        table: &TableName,
        c: &mut Column,
        to: &str,
        conversion: Conversion,
        feature: Feature,
        kept: &str,
    ) {
        let note = format!("{}: {kept}", self.target.lacks(feature));
        self.note_column(table, &c.name, &c.engine_type, to, note);
        c.engine_type = to.to_string();
        c.extra.insert("base_type".into(), json!(to));
        self.fit
            .conversions
            .entry(table.clone())
            .or_default()
            .push((c.name.clone(), conversion));
    }

    fn refuse(&mut self, table: &TableName, c: &Column, feature: Feature) {
        self.fit.refusals.push(format!(
            "column {table}.{} is {}: {}",
            c.name,
            c.engine_type,
            self.target.lacks(feature)
        ));
    }

    /// Rewrites the definition `def` of constraint `name` (`what`: its
    /// kind in words) declared on table `on`, of the restore of `scope`;
    /// answers whether it is still created.
    fn definition(
        &mut self,
        scope: &TableName,
        on: &TableName,
        (what, name): (&str, &str),
        def: &mut String,
    ) -> bool {
        // the server prints these clauses last, or inside the key's columns
        let temporal = def.contains(" WITHOUT OVERLAPS)")
            || (def.contains("FOREIGN KEY (") && def.contains(", PERIOD "));
        let lacking = if self.rewrites(Feature::NotEnforced) && def.ends_with(" NOT ENFORCED") {
            Some(Feature::NotEnforced)
        } else if self.rewrites(Feature::TemporalKeys) && temporal {
            Some(Feature::TemporalKeys)
        } else {
            None
        };
        if let Some(feature) = lacking {
            let note = format!("{name}: {}", self.target.lacks(feature));
            self.note(Some(scope), on.to_string(), None, what, "not created", note);
            self.dropped.push((on.clone(), name.to_string()));
            return false;
        }
        let table = on;
        if self.rewrites(Feature::NullsNotDistinct) && def.contains("UNIQUE NULLS NOT DISTINCT") {
            *def = def.replacen("UNIQUE NULLS NOT DISTINCT", "UNIQUE", 1);
            let note = format!(
                "{name}: {}: keys holding NULLs no longer collide",
                self.target.lacks(Feature::NullsNotDistinct)
            );
            self.note(
                Some(scope),
                table.to_string(),
                None,
                what,
                "NULLS DISTINCT",
                note,
            );
        }
        true
    }

    fn index(&mut self, scope: &TableName, table: &TableName, name: &str, ddl: &mut String) {
        if self.rewrites(Feature::NullsNotDistinct) && ddl.contains(" NULLS NOT DISTINCT") {
            *ddl = ddl.replacen(" NULLS NOT DISTINCT", "", 1);
            let note = format!(
                "{name}: {}: keys holding NULLs no longer collide",
                self.target.lacks(Feature::NullsNotDistinct)
            );
            self.note(
                Some(scope),
                table.to_string(),
                None,
                "unique index",
                "NULLS DISTINCT",
                note,
            );
        }
    }

    /// Rewrites object `o` (of the restore of table `scope`, if any);
    /// answers whether it is still created.
    fn object(&mut self, o: &mut SchemaObject, scope: Option<&TableName>) -> bool {
        if self.rewrites(Feature::DatabaseOwnerRole)
            && o.extra.get("owner").and_then(|v| v.as_str()) == Some("pg_database_owner")
        {
            o.extra.remove("owner");
            if self.privileges {
                let note = format!(
                    "{}: the restoring user owns it",
                    self.target.lacks(Feature::DatabaseOwnerRole)
                );
                self.note(
                    scope,
                    o.name.to_string(),
                    None,
                    &o.kind.replace('_', " "),
                    "owner unchanged",
                    note,
                );
            }
        }
        match o.kind.as_str() {
            "constraint" => {
                let on = o.table.clone().unwrap_or_else(|| o.name.clone());
                let scope = scope.cloned().unwrap_or_else(|| on.clone());
                let name = o.name.name.clone();
                self.definition(&scope, &on, ("constraint", &name), &mut o.ddl)
            }
            "index" => {
                let on = o.table.clone().unwrap_or_else(|| o.name.clone());
                let scope = scope.cloned().unwrap_or_else(|| on.clone());
                let name = o.name.name.clone();
                self.index(&scope, &on, &name, &mut o.ddl);
                true
            }
            "type" => {
                self.range_type(o);
                true
            }
            "domain" => {
                if self.rewrites(Feature::Multirange) && o.ddl.contains("multirange") {
                    self.fit.refusals.push(format!(
                        "domain {} is over a multirange: {}",
                        o.name,
                        self.target.lacks(Feature::Multirange)
                    ));
                }
                true
            }
            // the constructors of a multirange, which older snapshots
            // captured with the user's functions, go with it
            "function" if self.rewrites(Feature::Multirange) => {
                !o.ddl.contains("multirange_constructor") && {
                    self.function(o);
                    true
                }
            }
            "function" | "procedure" => {
                self.function(o);
                true
            }
            "view" => {
                self.view(o);
                true
            }
            "grant" => self.grant(o),
            _ => true,
        }
    }

    /// A range type without the multirange type an older server lacks.
    fn range_type(&mut self, o: &mut SchemaObject) {
        const CLAUSE: &str = ", multirange_type_name = ";
        if !self.rewrites(Feature::Multirange) {
            return;
        }
        let Some(start) = o.ddl.find(CLAUSE) else {
            return;
        };
        let Some(end) = o.ddl.rfind(')').filter(|e| *e > start) else {
            return;
        };
        let multirange = o.ddl[start + CLAUSE.len()..end].to_string();
        o.ddl.replace_range(start..end, "");
        let note = format!(
            "{}: {multirange} is not created",
            self.target.lacks(Feature::Multirange)
        );
        self.note(
            None,
            o.name.to_string(),
            None,
            "range type",
            "no multirange type",
            note,
        );
    }

    /// A SQL-standard body becomes a string body.
    fn function(&mut self, o: &mut SchemaObject) {
        if !self.rewrites(Feature::SqlBody) || !o.extra.contains_key("after_tables") {
            return;
        }
        if let Some(ddl) = string_body(&o.ddl) {
            o.ddl = ddl;
            let note = format!(
                "{}: the body is kept as text, parsed when called, and its dependencies are no longer tracked",
                self.target.lacks(Feature::SqlBody)
            );
            self.note(None, o.name.to_string(), None, &o.kind, "string body", note);
        }
    }

    /// A view without `security_invoker`.
    fn view(&mut self, o: &mut SchemaObject) {
        if !self.rewrites(Feature::SecurityInvoker) {
            return;
        }
        let Some(with_start) = o.ddl.find(" WITH (") else {
            return;
        };
        let Some(with_end) = o.ddl.find(") AS\n").filter(|e| *e > with_start) else {
            return;
        };
        let options: Vec<&str> = o.ddl[with_start + 7..with_end].split(", ").collect();
        let kept: Vec<&str> = options
            .iter()
            .copied()
            .filter(|opt| !opt.starts_with("security_invoker="))
            .collect();
        if kept.len() == options.len() {
            return;
        }
        let invoker = options.contains(&"security_invoker=true");
        let with = if kept.is_empty() {
            String::new()
        } else {
            format!(" WITH ({})", kept.join(", "))
        };
        o.ddl.replace_range(with_start..with_end + 1, &with);
        if invoker {
            let note = format!(
                "{}: it reads with its owner's privileges",
                self.target.lacks(Feature::SecurityInvoker)
            );
            self.note(
                None,
                o.name.to_string(),
                None,
                "view",
                "security definer view",
                note,
            );
        }
    }

    /// Grants of what the target lacks are left out.
    fn grant(&mut self, o: &SchemaObject) -> bool {
        let lacking = if self.rewrites(Feature::Maintain) && o.ddl.contains(" MAINTAIN ON ") {
            Feature::Maintain
        } else if self.rewrites(Feature::DatabaseOwnerRole) && o.ddl.contains("pg_database_owner") {
            Feature::DatabaseOwnerRole
        } else {
            return true;
        };
        if self.privileges {
            let note = format!("{}: {}", self.target.lacks(lacking), o.ddl);
            self.note(
                None,
                "privileges".into(),
                None,
                "grant",
                "not restored",
                note,
            );
        }
        false
    }
}

/// `ddl` with the lines of the columns `columns` made again from them.
fn rewrite_column_lines(ddl: &str, columns: &[Column]) -> String {
    ddl.split('\n')
        .map(|line| {
            let found = columns
                .iter()
                .find(|c| line.starts_with(&format!("    {} ", ident(&c.name))));
            match found {
                Some(c) => {
                    let comma = if line.ends_with(',') { "," } else { "" };
                    format!("    {}{comma}", column_sql(c))
                }
                None => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` with the unqualified calls of `call` (`name(`) qualified with
/// `schema`; `None` when there are none.
fn qualify_call(text: &str, call: &str, schema: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    let mut found = false;
    while let Some(at) = rest.find(call) {
        let before = if at > 0 {
            rest[..at].chars().last()
        } else {
            out.chars().last()
        };
        out.push_str(&rest[..at]);
        let qualified =
            before.is_some_and(|b| b == '.' || b == '"' || b == '_' || b.is_alphanumeric());
        if !qualified {
            out.push_str(&ident(schema));
            out.push('.');
            found = true;
        }
        out.push_str(call);
        rest = &rest[at + call.len()..];
    }
    out.push_str(rest);
    found.then_some(out)
}

/// A function definition (`pg_get_functiondef`) with its SQL-standard
/// body (`BEGIN ATOMIC ... END` or `RETURN expr`) as a string body.
fn string_body(ddl: &str) -> Option<String> {
    let mut tag = "$tresor$".to_string();
    let mut n = 0;
    while ddl.contains(&tag) {
        n += 1;
        tag = format!("$tresor{n}$");
    }
    if let Some(start) = ddl.find("\nBEGIN ATOMIC\n") {
        let end = ddl.rfind("\nEND").filter(|e| *e > start)?;
        let body = &ddl[start + "\nBEGIN ATOMIC\n".len()..end];
        return Some(format!("{}\nAS {tag}\n{body}\n{tag}", &ddl[..start]));
    }
    let start = ddl.find("\nRETURN ")?;
    let expr = ddl[start + "\nRETURN ".len()..].trim_end();
    Some(format!("{}\nAS {tag}SELECT {expr}{tag}", &ddl[..start]))
}

/// An identifier as `format('%I')` prints it: bare when it is a plain
/// lower-case name, quoted otherwise (keywords aside).
fn pg_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if plain { name.to_string() } else { ident(name) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_standard_bodies_become_strings() {
        let atomic = "CREATE OR REPLACE FUNCTION public.n()\n RETURNS bigint\n LANGUAGE sql\n STABLE\nBEGIN ATOMIC\n SELECT count(*) AS count\n    FROM public.t;\nEND\n";
        assert_eq!(
            string_body(atomic).expect("a SQL-standard body"),
            "CREATE OR REPLACE FUNCTION public.n()\n RETURNS bigint\n LANGUAGE sql\n STABLE\nAS $tresor$\n SELECT count(*) AS count\n    FROM public.t;\n$tresor$"
        );
        let ret = "CREATE OR REPLACE FUNCTION public.twice(n integer)\n RETURNS integer\n LANGUAGE sql\n IMMUTABLE\nRETURN (n * 2)\n";
        assert_eq!(
            string_body(ret).expect("a SQL-standard body"),
            "CREATE OR REPLACE FUNCTION public.twice(n integer)\n RETURNS integer\n LANGUAGE sql\n IMMUTABLE\nAS $tresor$SELECT (n * 2)$tresor$"
        );
        assert!(string_body("CREATE FUNCTION f() AS $$ select 1 $$").is_none());
    }

    #[test]
    fn only_unqualified_calls_are_qualified() {
        assert_eq!(
            qualify_call("gen_random_uuid()", "gen_random_uuid(", "public").as_deref(),
            Some("\"public\".gen_random_uuid()")
        );
        assert_eq!(
            qualify_call("public.gen_random_uuid()", "gen_random_uuid(", "public"),
            None
        );
        assert_eq!(
            qualify_call("my_gen_random_uuid()", "gen_random_uuid(", "public"),
            None
        );
    }

    #[test]
    fn identifiers_as_format_prints_them() {
        assert_eq!(pg_ident("t_ab_key"), "t_ab_key");
        assert_eq!(pg_ident("Odd"), "\"Odd\"");
    }
}
