//! The selected tables and their partitions, and the table model and
//! read plan built from what the other steps read about them.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::json;
use tokio_postgres::Client;
use tresor_core::{
    Column, Constraint, ForeignKey, Index, RowKey, SchemaObject, SourceError, TableFilter,
    TableName, TableSchema,
};

use super::constraints::{RawConstraint, action};
use super::{ReadPlan, USER_NS, not_ext, object, rows};
use crate::decode::ColumnDecoder;
use crate::error::pg_error;
use crate::types::{Codec, TypeMap, full_name, ident, key_order_supported, qualified, rel_name};

/// A selected table as the catalog has it.
pub(super) struct RawTable {
    pub(super) oid: u32,
    pub(super) name: TableName,
    pub(super) relkind: String,
    pub(super) unlogged: bool,
    pub(super) partkey: Option<String>,
    pub(super) comment: Option<String>,
    pub(super) inherits: Vec<String>,
    pub(super) reloptions: Vec<String>,
    pub(super) owner: String,
    pub(super) has_children: bool,
}

/// The ordinary and partitioned tables the filter selects (not
/// partitions); foreign tables are only counted.
pub(super) async fn tables(
    client: &Client,
    filter: &TableFilter,
    warnings: &mut Vec<String>,
) -> Result<Vec<RawTable>, SourceError> {
    let mut raw = Vec::new();
    for r in rows(client, &format!(
        "SELECT c.oid, n.nspname, c.relname, c.relkind::text, c.relpersistence = 'u', \
                pg_catalog.pg_get_partkeydef(c.oid), pg_catalog.obj_description(c.oid, 'pg_class'), \
                ARRAY(SELECT pg_catalog.format('%I.%I', pn.nspname, p.relname) FROM pg_catalog.pg_inherits i \
                      JOIN pg_catalog.pg_class p ON p.oid = i.inhparent JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace \
                      WHERE i.inhrelid = c.oid ORDER BY i.inhseqno), \
                COALESCE(c.reloptions, '{{}}')::text[], pg_catalog.pg_get_userbyid(c.relowner), \
                EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhparent = c.oid) \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence <> 't' \
           AND {USER_NS} AND {} ORDER BY c.oid",
        not_ext("pg_catalog.pg_class", "c.oid")
    ))
    .await?
    {
        let name = rel_name(r.get::<_, String>(1), r.get::<_, String>(2));
        if !filter.matches(&name) && !filter.matches(&full_name(&name)) {
            continue;
        }
        raw.push(RawTable {
            oid: r.get(0),
            name,
            relkind: r.get(3),
            unlogged: r.get(4),
            partkey: r.get(5),
            comment: r.get(6),
            inherits: r.get(7),
            reloptions: r.get(8),
            owner: r.get(9),
            has_children: r.get(10),
        });
    }
    let foreign: i64 = rows(client, &format!(
        "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'f' AND {USER_NS}"
    ))
    .await?
    .first()
    .map(|r| r.get(0))
    .unwrap_or(0);
    if foreign > 0 {
        warnings.push(format!("{foreign} foreign table(s) are not backed up"));
    }
    Ok(raw)
}

/// `CREATE TABLE ... PARTITION OF` of every partition of the `selected`
/// tables, parents first, and their oids.
pub(super) async fn partitions(
    client: &Client,
    raw: &[RawTable],
    selected: &HashSet<u32>,
) -> Result<(Vec<SchemaObject>, Vec<u32>), SourceError> {
    let mut objects = Vec::new();
    let mut partition_oids = Vec::new();
    for r in rows(client, &format!(
        "SELECT c.oid, n.nspname, c.relname, pg_catalog.format('%I.%I', pn.nspname, p.relname), \
                pg_catalog.pg_get_expr(c.relpartbound, c.oid), pg_catalog.pg_get_partkeydef(c.oid), \
                c.relpersistence = 'u', pg_catalog.pg_partition_root(c.oid)::oid, \
                (SELECT count(*) FROM pg_catalog.pg_partition_ancestors(c.oid)) AS depth, \
                COALESCE(c.reloptions, '{{}}')::text[] \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_catalog.pg_inherits i ON i.inhrelid = c.oid JOIN pg_catalog.pg_class p ON p.oid = i.inhparent \
         JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace \
         WHERE c.relispartition AND c.relkind IN ('r', 'p') AND {USER_NS} ORDER BY depth, c.oid"
    ))
    .await?
    {
        let root: u32 = r.get(7);
        if !selected.contains(&root) {
            continue;
        }
        let oid: u32 = r.get(0);
        partition_oids.push(oid);
        let parent: String = r.get(3);
        let bound: String = r.get(4);
        let partkey: Option<String> = r.get(5);
        let unlogged: bool = r.get(6);
        let options: Vec<String> = r.get(9);
        let name = rel_name(r.get::<_, String>(1), r.get::<_, String>(2));
        let mut ddl = format!(
            "CREATE {}TABLE {} PARTITION OF {parent} {bound}",
            if unlogged { "UNLOGGED " } else { "" },
            qualified(&name)
        );
        if let Some(k) = partkey {
            ddl.push_str(&format!(" PARTITION BY {k}"));
        }
        if !options.is_empty() {
            ddl.push_str(&format!(" WITH ({})", options.join(", ")));
        }
        let mut o = object("partition", name.schema.clone(), name.name.clone(), ddl);
        let root_name = raw
            .iter()
            .find(|t| t.oid == root)
            .map(|t| t.name.clone());
        o.table = root_name;
        objects.push(o);
    }
    Ok((objects, partition_oids))
}

/// The names of the partitions `partition_oids`.
pub(super) async fn partition_names(
    client: &Client,
    partition_oids: &[u32],
) -> Result<HashMap<u32, TableName>, SourceError> {
    let rows = client
        .query(
            "SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY($1)",
            &[&partition_oids],
        )
        .await
        .map_err(|e| pg_error("cannot read partitions", e))?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get::<_, u32>(0),
                rel_name(r.get::<_, String>(1), r.get::<_, String>(2)),
            )
        })
        .collect())
}

/// The table model and read plan of `t` from its columns, constraints
/// and indexes.
pub(super) fn build_table(
    t: &RawTable,
    cols: Vec<(Column, u32)>,
    cons: &[RawConstraint],
    indexes: Vec<Index>,
    types: &TypeMap,
    encoding: &str,
) -> (TableSchema, ReadPlan) {
    let mut primary_key = Vec::new();
    let mut constraints = Vec::new();
    let mut foreign_keys = Vec::new();
    let mut extra = BTreeMap::new();
    for c in cons {
        match c.contype.as_str() {
            "p" => {
                primary_key = c.cols.clone();
                extra.insert(
                    "primary_key_constraint".into(),
                    json!({"name": c.name, "definition": c.def}),
                );
            }
            "f" => foreign_keys.push(ForeignKey {
                name: Some(c.name.clone()),
                columns: c.cols.clone(),
                references: rel_name(
                    c.fschema.clone().unwrap_or_default(),
                    c.ftable.clone().unwrap_or_default(),
                ),
                referenced_columns: c.fcols.clone(),
                on_delete: action(&c.del),
                on_update: action(&c.upd),
                ddl: Some(c.def.clone()),
            }),
            other => constraints.push(Constraint {
                name: c.name.clone(),
                kind: match other {
                    "u" => "unique",
                    "c" => "check",
                    "x" => "exclusion",
                    _ => "other",
                }
                .to_string(),
                columns: c.cols.clone(),
                definition: c.def.clone(),
            }),
        }
    }
    // CREATE TABLE without constraints or indexes; those come after the data
    let ddl = create_table_sql(t, &cols);
    extra.insert("relkind".into(), json!(t.relkind));
    extra.insert("owner".into(), json!(t.owner));
    if t.unlogged {
        extra.insert("unlogged".into(), json!(true));
    }
    if let Some(k) = &t.partkey {
        extra.insert("partition_key".into(), json!(k));
    }
    if !t.inherits.is_empty() {
        extra.insert("inherits".into(), json!(t.inherits));
    }
    let (plan, key_ok) = read_plan(t, &cols, &primary_key, types, encoding);
    let row_key = if key_ok {
        RowKey::Columns {
            columns: primary_key.clone(),
        }
    } else {
        RowKey::None
    };
    let table = TableSchema {
        name: t.name.clone(),
        kind: if t.relkind == "p" {
            "partitioned_table".into()
        } else {
            "table".into()
        },
        columns: cols.into_iter().map(|(c, _)| c).collect(),
        primary_key,
        row_key,
        constraints,
        indexes,
        foreign_keys,
        ddl: Some(ddl),
        auto_increment: None,
        comment: t.comment.clone(),
        extra,
    };
    (table, plan)
}

/// `CREATE TABLE` without constraints or indexes.
fn create_table_sql(t: &RawTable, cols: &[(Column, u32)]) -> String {
    let lines: Vec<String> = cols
        .iter()
        .map(|(c, _)| format!("    {}", column_sql(c)))
        .collect();
    let mut ddl = format!(
        "CREATE {}TABLE {} (\n{}\n)",
        if t.unlogged { "UNLOGGED " } else { "" },
        qualified(&t.name),
        lines.join(",\n")
    );
    if !t.inherits.is_empty() {
        ddl.push_str(&format!(" INHERITS ({})", t.inherits.join(", ")));
    }
    if let Some(k) = &t.partkey {
        ddl.push_str(&format!(" PARTITION BY {k}"));
    }
    if !t.reloptions.is_empty() {
        ddl.push_str(&format!(" WITH ({})", t.reloptions.join(", ")));
    }
    for (c, _) in cols {
        for setting in column_settings(c) {
            ddl.push_str(&format!(
                ";\nALTER TABLE ONLY {} ALTER COLUMN {} SET {setting}",
                qualified(&t.name),
                ident(&c.name)
            ));
        }
    }
    ddl
}

/// What `ALTER COLUMN ... SET` gives `c` beyond its type's defaults: the
/// planner's options (`n_distinct`), a statistics target, a storage mode.
fn column_settings(c: &Column) -> Vec<String> {
    let mut settings = Vec::new();
    if let Some(options) = c.extra.get("options").and_then(|v| v.as_array()) {
        let options: Vec<&str> = options.iter().filter_map(|o| o.as_str()).collect();
        if !options.is_empty() {
            settings.push(format!("({})", options.join(", ")));
        }
    }
    if let Some(target) = c
        .extra
        .get("statistics")
        .and_then(serde_json::Value::as_i64)
    {
        settings.push(format!("STATISTICS {target}"));
    }
    if let Some(storage) = c.extra.get("storage").and_then(|v| v.as_str()) {
        settings.push(format!("STORAGE {storage}"));
    }
    settings
}

/// One column's definition in `CREATE TABLE`: name, type, compression
/// method, collation, generation or default, identity and `NOT NULL`.
pub(crate) fn column_sql(c: &Column) -> String {
    let mut line = format!("{} {}", ident(&c.name), c.engine_type);
    if let Some(method) = c.extra.get("compression").and_then(|v| v.as_str()) {
        line.push_str(&format!(" COMPRESSION {method}"));
    }
    if let Some(coll) = &c.collation {
        line.push_str(&format!(" COLLATE {coll}"));
    }
    if let Some(g) = &c.generated {
        let kind = if g.stored { "STORED" } else { "VIRTUAL" };
        line.push_str(&format!(" GENERATED ALWAYS AS ({}) {kind}", g.expression));
    } else if let Some(d) = &c.default {
        line.push_str(&format!(" DEFAULT {d}"));
    }
    if let Some(kind) = c.extra.get("identity").and_then(|v| v.as_str()) {
        let opts = c
            .extra
            .get("identity_options")
            .and_then(|v| v.as_str())
            .map(|o| format!(" ({o})"))
            .unwrap_or_default();
        line.push_str(&format!(
            " GENERATED {} AS IDENTITY{opts}",
            if kind == "always" {
                "ALWAYS"
            } else {
                "BY DEFAULT"
            }
        ));
    }
    if !c.nullable {
        line.push_str(" NOT NULL");
    }
    line
}

/// How to read the rows of `t`: a binary `COPY` of the stored columns,
/// in primary key order where the key's types sort the same in Rust;
/// answers whether they do.
fn read_plan(
    t: &RawTable,
    cols: &[(Column, u32)],
    primary_key: &[String],
    types: &TypeMap,
    encoding: &str,
) -> (ReadPlan, bool) {
    let codecs: HashMap<&str, Codec> = cols
        .iter()
        .map(|(c, typid)| (c.name.as_str(), Codec::for_type(types, *typid)))
        .collect();
    let mut select = Vec::new();
    let mut decoders = Vec::new();
    for (c, typid) in cols.iter().filter(|(c, _)| c.is_stored_in_rows()) {
        let codec = Codec::for_type(types, *typid);
        if codec.is_fallback() {
            select.push(format!("{}::text", ident(&c.name)));
        } else {
            select.push(ident(&c.name));
        }
        decoders.push(ColumnDecoder {
            codec,
            type_name: c.engine_type.clone(),
        });
    }
    let key_ok = !primary_key.is_empty()
        && primary_key.iter().all(|k| {
            codecs.get(k.as_str()).is_some_and(key_order_supported)
                && cols
                    .iter()
                    .any(|(c, _)| &c.name == k && c.is_stored_in_rows())
        });
    let bytewise = matches!(encoding, "UTF8" | "SQL_ASCII" | "LATIN1");
    let order: Vec<String> = if key_ok {
        primary_key
            .iter()
            .map(|k| match codecs.get(k.as_str()) {
                Some(Codec::Text) if bytewise => format!("{} COLLATE \"C\"", ident(k)),
                Some(Codec::Text) => format!("pg_catalog.convert_to({}, 'UTF8')", ident(k)),
                Some(Codec::Enum) => format!("{}::text COLLATE \"C\"", ident(k)),
                _ => ident(k),
            })
            .collect()
    } else {
        Vec::new()
    };
    let only = if t.relkind == "r" && t.has_children {
        "ONLY "
    } else {
        ""
    };
    let query = format!(
        "SELECT {} FROM {only}{}",
        select.join(", "),
        qualified(&t.name)
    );
    let copy = |q: &str| format!("COPY ({q}) TO STDOUT (FORMAT binary)");
    let (copy_sql, unordered_sql) = if order.is_empty() {
        (copy(&query), None)
    } else {
        (
            copy(&format!("{query} ORDER BY {}", order.join(", "))),
            Some(copy(&query)),
        )
    };
    (
        ReadPlan {
            copy_sql,
            unordered_sql,
            decoders,
        },
        key_ok,
    )
}
