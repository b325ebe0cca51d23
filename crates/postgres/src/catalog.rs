//! Schema capture: everything a restore needs to rebuild a database, read
//! from the system catalogs inside the snapshot transaction.
//!
//! DDL comes from PostgreSQL itself where it offers it (`pg_get_*def`,
//! `format_type`, `format('%I')`), with `search_path` empty so that every
//! name is schema-qualified, as `pg_dump` does.

pub(crate) mod large_objects;
mod security;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::json;
use tokio_postgres::Client;
use tresor_core::{
    Column, Constraint, DatabaseSchema, Engine, ForeignKey, Generated, Index, RowKey, SchemaObject,
    SourceError, TableFilter, TableName, TableSchema,
};

use crate::decode::ColumnDecoder;
use crate::error::pg_error;
use crate::types::{
    Codec, TypeMap, full_name, ident, key_order_supported, load_types, portable_type, qualified,
    rel_name,
};

/// Schemas that hold user objects.
const USER_NS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

fn not_ext(class: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend xd WHERE xd.classid = '{class}'::pg_catalog.regclass \
         AND xd.objid = {oid} AND xd.deptype = 'e')"
    )
}

/// How one table's rows are read.
#[derive(Clone, Debug)]
pub(crate) struct ReadPlan {
    pub(crate) copy_sql: String,
    pub(crate) decoders: Vec<ColumnDecoder>,
}

/// The result of a capture.
pub(crate) struct Captured {
    pub(crate) schema: DatabaseSchema,
    pub(crate) plans: HashMap<TableName, ReadPlan>,
    pub(crate) warnings: Vec<String>,
}

fn object(kind: &str, schema: Option<String>, name: String, ddl: String) -> SchemaObject {
    SchemaObject {
        kind: kind.to_string(),
        name: TableName { schema, name },
        ddl,
        table: None,
        extra: BTreeMap::new(),
    }
}

fn action(code: &str) -> Option<String> {
    match code {
        "r" => Some("RESTRICT".into()),
        "c" => Some("CASCADE".into()),
        "n" => Some("SET NULL".into()),
        "d" => Some("SET DEFAULT".into()),
        _ => None,
    }
}

struct RawConstraint {
    name: String,
    contype: String,
    def: String,
    cols: Vec<String>,
    fschema: Option<String>,
    ftable: Option<String>,
    fcols: Vec<String>,
    upd: String,
    del: String,
}

struct RawTable {
    oid: u32,
    name: TableName,
    relkind: String,
    unlogged: bool,
    partkey: Option<String>,
    comment: Option<String>,
    inherits: Vec<String>,
    reloptions: Vec<String>,
    owner: String,
    has_children: bool,
}

/// Reads the catalogs. `encoding` is the server encoding, which decides how
/// text keys are ordered.
pub(crate) async fn capture(
    client: &Client,
    filter: &TableFilter,
    encoding: &str,
) -> Result<Captured, SourceError> {
    let q = |sql: String| async move {
        client
            .query(sql.as_str(), &[])
            .await
            .map_err(|e| pg_error("cannot read the catalog", e))
    };
    let types = load_types(client).await?;
    let mut warnings = Vec::new();
    let mut objects: Vec<SchemaObject> = Vec::new();
    let whole = filter.is_all();

    // schemas
    for r in q(format!(
        "SELECT n.nspname, pg_catalog.pg_get_userbyid(n.nspowner) FROM pg_catalog.pg_namespace n \
         WHERE {USER_NS} AND {} ORDER BY n.oid",
        not_ext("pg_catalog.pg_namespace", "n.oid")
    ))
    .await?
    {
        let name: String = r.get(0);
        let ddl = if name == "public" {
            String::new()
        } else {
            format!("CREATE SCHEMA {}", ident(&name))
        };
        let mut o = object("schema", None, name, ddl);
        o.extra.insert("owner".into(), json!(r.get::<_, String>(1)));
        objects.push(o);
    }

    // extensions
    let mut extensions = Vec::new();
    for r in q(
        "SELECT e.extname, e.extversion, n.nspname FROM pg_catalog.pg_extension e \
                JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace ORDER BY e.oid"
            .into(),
    )
    .await?
    {
        let (name, version, schema): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        extensions.push(json!({"name": name, "version": version, "schema": schema}));
        let mut o = object(
            "extension",
            None,
            name.clone(),
            format!(
                "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {}",
                ident(&name),
                ident(&schema)
            ),
        );
        o.extra.insert("version".into(), json!(version));
        o.extra.insert("schema".into(), json!(schema));
        objects.push(o);
    }

    // collations, which types and columns may use
    objects.extend(security::collations(client).await?);
    objects.extend(security::text_search(client).await?);

    // types: enums, composites, ranges, domains, in creation order
    let type_sql = format!(
        "SELECT n.nspname, t.typname, t.typtype::text, pg_catalog.pg_get_userbyid(t.typowner), CASE t.typtype \
           WHEN 'e' THEN pg_catalog.format('CREATE TYPE %I.%I AS ENUM (%s)', n.nspname, t.typname, \
             (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) \
              FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid)) \
           WHEN 'c' THEN pg_catalog.format('CREATE TYPE %I.%I AS (%s)', n.nspname, t.typname, \
             (SELECT pg_catalog.string_agg(pg_catalog.format('%I %s%s', a.attname, \
                 pg_catalog.format_type(a.atttypid, a.atttypmod), \
                 CASE WHEN a.attcollation <> at.typcollation THEN pg_catalog.format(' COLLATE %I.%I', cn.nspname, co.collname) ELSE '' END), \
                 ', ' ORDER BY a.attnum) \
              FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type at ON at.oid = a.atttypid \
              LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation \
              LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace \
              WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)) \
           WHEN 'r' THEN (SELECT pg_catalog.format('CREATE TYPE %I.%I AS RANGE (subtype = %s%s%s%s, multirange_type_name = %I.%I)', \
                 n.nspname, t.typname, pg_catalog.format_type(r.rngsubtype, NULL), \
                 CASE WHEN NOT opc.opcdefault THEN pg_catalog.format(', subtype_opclass = %I.%I', opcn.nspname, opc.opcname) ELSE '' END, \
                 CASE WHEN r.rngcollation <> 0 AND r.rngcollation <> st.typcollation THEN pg_catalog.format(', collation = %I.%I', rcn.nspname, rco.collname) ELSE '' END, \
                 CASE WHEN r.rngsubdiff <> 0 THEN ', subtype_diff = ' || r.rngsubdiff::pg_catalog.regproc::text ELSE '' END, \
                 mn.nspname, mt.typname) \
               FROM pg_catalog.pg_range r JOIN pg_catalog.pg_type st ON st.oid = r.rngsubtype \
               JOIN pg_catalog.pg_opclass opc ON opc.oid = r.rngsubopc JOIN pg_catalog.pg_namespace opcn ON opcn.oid = opc.opcnamespace \
               LEFT JOIN pg_catalog.pg_collation rco ON rco.oid = r.rngcollation LEFT JOIN pg_catalog.pg_namespace rcn ON rcn.oid = rco.collnamespace \
               JOIN pg_catalog.pg_type mt ON mt.oid = r.rngmultitypid JOIN pg_catalog.pg_namespace mn ON mn.oid = mt.typnamespace \
               WHERE r.rngtypid = t.oid) \
           WHEN 'd' THEN pg_catalog.format('CREATE DOMAIN %I.%I AS %s%s%s%s%s', n.nspname, t.typname, \
               pg_catalog.format_type(t.typbasetype, t.typtypmod), \
               CASE WHEN t.typcollation <> 0 AND t.typcollation <> bt.typcollation THEN (SELECT pg_catalog.format(' COLLATE %I.%I', cn.nspname, co.collname) FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = t.typcollation) ELSE '' END, \
               CASE WHEN t.typdefault IS NOT NULL THEN ' DEFAULT ' || t.typdefault ELSE '' END, \
               CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END, \
               COALESCE((SELECT pg_catalog.string_agg(pg_catalog.format(' CONSTRAINT %I %s', c.conname, pg_catalog.pg_get_constraintdef(c.oid)), '' ORDER BY c.conname) \
                  FROM pg_catalog.pg_constraint c WHERE c.contypid = t.oid), '')) \
         END \
         FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
         LEFT JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype \
         WHERE t.typtype IN ('e', 'c', 'r', 'd') AND {USER_NS} AND {} \
           AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c') \
         ORDER BY t.oid",
        not_ext("pg_catalog.pg_type", "t.oid")
    );
    for r in q(type_sql).await? {
        let typtype: String = r.get(2);
        let kind = match typtype.as_str() {
            "d" => "domain",
            _ => "type",
        };
        let ddl: Option<String> = r.get(4);
        let Some(ddl) = ddl else { continue };
        let mut o = object(kind, Some(r.get(0)), r.get(1), ddl);
        o.extra.insert("owner".into(), json!(r.get::<_, String>(3)));
        objects.push(o);
    }

    // functions and procedures
    let mut late_functions = Vec::new();
    for r in q(format!(
        "SELECT n.nspname, p.proname, p.prokind::text, pg_catalog.pg_get_functiondef(p.oid), \
                pg_catalog.pg_get_function_identity_arguments(p.oid), p.prosqlbody IS NOT NULL, \
                pg_catalog.pg_get_userbyid(p.proowner) \
         FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
         WHERE p.prokind IN ('f', 'p') AND {USER_NS} AND {} ORDER BY p.oid",
        not_ext("pg_catalog.pg_proc", "p.oid")
    ))
    .await?
    {
        let kind: String = r.get(2);
        let kind = if kind == "p" { "procedure" } else { "function" };
        let mut o = object(kind, Some(r.get(0)), r.get(1), r.get(3));
        o.extra
            .insert("arguments".into(), json!(r.get::<_, String>(4)));
        o.extra.insert("owner".into(), json!(r.get::<_, String>(6)));
        if r.get::<_, bool>(5) {
            // SQL-standard bodies are parsed at creation: after the tables
            o.extra.insert("after_tables".into(), json!(true));
            late_functions.push(o);
        } else {
            objects.push(o);
        }
    }
    let aggregates: i64 = q(format!(
        "SELECT count(*) FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
         WHERE p.prokind = 'a' AND {USER_NS} AND {}",
        not_ext("pg_catalog.pg_proc", "p.oid")
    ))
    .await?
    .first()
    .map(|r| r.get(0))
    .unwrap_or(0);
    if aggregates > 0 {
        warnings.push(format!(
            "{aggregates} user-defined aggregate(s) are not captured; recreate them after a restore"
        ));
    }

    // tables
    let mut raw = Vec::new();
    for r in q(format!(
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
    let foreign: i64 = q(format!(
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
    let selected: HashSet<u32> = raw.iter().map(|t| t.oid).collect();

    // partitions of selected tables, parents first
    let mut partition_oids = Vec::new();
    for r in q(format!(
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

    let table_oids: Vec<u32> = raw.iter().map(|t| t.oid).collect();

    // columns
    let mut columns: HashMap<u32, Vec<(Column, u32)>> = HashMap::new();
    let col_rows = client
        .query(
            "SELECT a.attrelid, a.attname, a.atttypid, a.atttypmod, \
                    pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                    pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text, \
                    CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0 \
                         THEN pg_catalog.format('%I.%I', cn.nspname, co.collname) END, \
                    pg_catalog.col_description(a.attrelid, a.attnum), \
                    CASE WHEN a.attidentity <> '' THEN (SELECT pg_catalog.format( \
                        'SEQUENCE NAME %I.%I START WITH %s INCREMENT BY %s MINVALUE %s MAXVALUE %s CACHE %s%s', \
                        sn.nspname, sc.relname, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, \
                        CASE WHEN s.seqcycle THEN ' CYCLE' ELSE '' END) \
                      FROM pg_catalog.pg_depend dep JOIN pg_catalog.pg_sequence s ON s.seqrelid = dep.objid \
                      JOIN pg_catalog.pg_class sc ON sc.oid = s.seqrelid JOIN pg_catalog.pg_namespace sn ON sn.oid = sc.relnamespace \
                      WHERE dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum \
                        AND dep.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND dep.deptype = 'i' LIMIT 1) END, \
                    pg_catalog.format_type(COALESCE(NULLIF(t.typbasetype, 0), a.atttypid), NULL) \
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation \
             LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace \
             WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attrelid, a.attnum",
            &[&table_oids],
        )
        .await
        .map_err(|e| pg_error("cannot read the catalog", e))?;
    for r in col_rows {
        let relid: u32 = r.get(0);
        let typid: u32 = r.get(2);
        let typmod: i32 = r.get(3);
        let mut c = Column::new(
            r.get::<_, String>(1),
            r.get::<_, String>(4),
            portable_type(&types, typid, typmod),
        );
        c.nullable = !r.get::<_, bool>(5);
        let default: Option<String> = r.get(6);
        let identity: String = r.get(7);
        let generated: String = r.get(8);
        if generated == "s" {
            c.generated = Some(Generated {
                expression: default.unwrap_or_default(),
                stored: true,
            });
        } else {
            c.default = default;
        }
        if !identity.is_empty() {
            c.identity = true;
            c.extra.insert(
                "identity".into(),
                json!(if identity == "a" {
                    "always"
                } else {
                    "by_default"
                }),
            );
            if let Some(opts) = r.get::<_, Option<String>>(11) {
                c.extra.insert("identity_options".into(), json!(opts));
            }
        }
        c.collation = r.get(9);
        c.comment = r.get(10);
        c.extra
            .insert("base_type".into(), json!(r.get::<_, String>(12)));
        columns.entry(relid).or_default().push((c, typid));
    }

    // constraints (tables and partitions)
    let mut rel_oids = table_oids.clone();
    rel_oids.extend(&partition_oids);
    let mut constraints: HashMap<u32, Vec<RawConstraint>> = HashMap::new();
    for r in client
        .query(
            "SELECT c.conrelid, c.conname, c.contype::text, pg_catalog.pg_get_constraintdef(c.oid), \
                    ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY k(n, i) \
                          JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i), \
                    fn.nspname::text, fc.relname::text, \
                    ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(c.confkey) WITH ORDINALITY k(n, i) \
                          JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i), \
                    c.confupdtype::text, c.confdeltype::text \
             FROM pg_catalog.pg_constraint c \
             LEFT JOIN pg_catalog.pg_class fc ON fc.oid = c.confrelid \
             LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace \
             WHERE c.conrelid = ANY($1) AND c.contype IN ('p', 'u', 'c', 'x', 'f') \
               AND c.conislocal AND c.conparentid = 0 \
             ORDER BY c.conrelid, c.conname",
            &[&rel_oids],
        )
        .await
        .map_err(|e| pg_error("cannot read constraints", e))?
    {
        constraints.entry(r.get(0)).or_default().push(RawConstraint {
            name: r.get(1),
            contype: r.get(2),
            def: r.get(3),
            cols: r.get(4),
            fschema: r.get(5),
            ftable: r.get(6),
            fcols: r.get(7),
            upd: r.get(8),
            del: r.get(9),
        });
    }

    // views and materialized views (whole-database backups only: with a
    // filter they may depend on tables that are not in the backup)
    let mut view_oids = Vec::new();
    if whole {
        let rows = q(format!(
            "SELECT c.oid, n.nspname, c.relname, c.relkind::text, pg_catalog.pg_get_viewdef(c.oid), \
                    COALESCE(c.reloptions, '{{}}')::text[], c.relispopulated, \
                    ARRAY(SELECT DISTINCT d.refobjid FROM pg_catalog.pg_depend d \
                          JOIN pg_catalog.pg_rewrite rw ON rw.oid = d.objid \
                          WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND rw.ev_class = c.oid \
                            AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid <> c.oid), \
                    pg_catalog.pg_get_userbyid(c.relowner) \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('v', 'm') AND {USER_NS} AND {} ORDER BY c.oid",
            not_ext("pg_catalog.pg_class", "c.oid")
        ))
        .await?;
        let mut pending: Vec<(u32, Vec<u32>, SchemaObject)> = Vec::new();
        let all_views: HashSet<u32> = rows.iter().map(|r| r.get::<_, u32>(0)).collect();
        for r in &rows {
            let oid: u32 = r.get(0);
            let name = rel_name(r.get::<_, String>(1), r.get::<_, String>(2));
            let relkind: String = r.get(3);
            let def: String = r.get(4);
            let def = def.trim_end().trim_end_matches(';').to_string();
            let options: Vec<String> = r.get(5);
            let with = if options.is_empty() {
                String::new()
            } else {
                format!(" WITH ({})", options.join(", "))
            };
            let deps: Vec<u32> = r.get::<_, Vec<u32>>(7);
            let deps = deps.into_iter().filter(|d| all_views.contains(d)).collect();
            let (kind, ddl) = if relkind == "m" {
                let populated: bool = r.get(6);
                (
                    "materialized_view",
                    format!(
                        "CREATE MATERIALIZED VIEW {}{with} AS\n{def}\n WITH {}DATA",
                        qualified(&name),
                        if populated { "" } else { "NO " }
                    ),
                )
            } else {
                (
                    "view",
                    format!("CREATE VIEW {}{with} AS\n{def}", qualified(&name)),
                )
            };
            let mut o = object(kind, name.schema.clone(), name.name.clone(), ddl);
            o.extra.insert("owner".into(), json!(r.get::<_, String>(8)));
            pending.push((oid, deps, o));
        }
        // dependencies first
        let mut done: HashSet<u32> = HashSet::new();
        while !pending.is_empty() {
            let pos = pending
                .iter()
                .position(|(_, deps, _)| deps.iter().all(|d| done.contains(d)))
                .unwrap_or(0);
            let (oid, _, o) = pending.remove(pos);
            done.insert(oid);
            view_oids.push(oid);
            objects.push(o);
        }
    }

    // indexes that no constraint owns, on tables, partitions and matviews
    let mut index_rels = rel_oids.clone();
    index_rels.extend(&view_oids);
    let mut indexes: HashMap<u32, Vec<Index>> = HashMap::new();
    let mut post_objects: Vec<SchemaObject> = Vec::new();
    let table_names: HashMap<u32, TableName> =
        raw.iter().map(|t| (t.oid, t.name.clone())).collect();
    for r in client
        .query(
            "SELECT i.indrelid, ic.relname, pg_catalog.pg_get_indexdef(i.indexrelid), i.indisunique, \
                    ARRAY(SELECT pg_catalog.pg_get_indexdef(i.indexrelid, k, true) FROM pg_catalog.generate_series(1, i.indnkeyatts) k), \
                    i.indisclustered, tn.nspname, tc.relname, tc.relkind::text \
             FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
             JOIN pg_catalog.pg_class tc ON tc.oid = i.indrelid JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace \
             WHERE i.indrelid = ANY($1) \
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x')) \
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhrelid = i.indexrelid) \
             ORDER BY i.indexrelid",
            &[&index_rels],
        )
        .await
        .map_err(|e| pg_error("cannot read indexes", e))?
    {
        let relid: u32 = r.get(0);
        let relkind: String = r.get(8);
        let mut ddl: String = r.get(2);
        if relkind == "p" {
            // build the index on every partition too, as pg_restore ends up with
            ddl = ddl.replacen(" ON ONLY ", " ON ", 1);
        }
        let table = rel_name(r.get::<_, String>(6), r.get::<_, String>(7));
        let mut idx = Index {
            name: r.get(1),
            columns: r.get(4),
            unique: r.get(3),
            ddl: Some(ddl.clone()),
            extra: BTreeMap::new(),
        };
        let clustered: bool = r.get(5);
        if clustered {
            idx.extra.insert("clustered".into(), json!(true));
        }
        if table_names.contains_key(&relid) {
            indexes.entry(relid).or_default().push(idx);
        } else {
            let mut o = object("index", table.schema.clone(), idx.name.clone(), ddl);
            o.table = Some(table.clone());
            if clustered {
                o.extra.insert("clustered".into(), json!(true));
            }
            post_objects.push(o);
        }
    }

    // constraints that partitions declare themselves
    let partition_names: HashMap<u32, TableName> = {
        let rows = client
            .query(
                "SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY($1)",
                &[&partition_oids],
            )
            .await
            .map_err(|e| pg_error("cannot read partitions", e))?;
        rows.iter()
            .map(|r| {
                (
                    r.get::<_, u32>(0),
                    rel_name(r.get::<_, String>(1), r.get::<_, String>(2)),
                )
            })
            .collect()
    };
    for (oid, name) in &partition_names {
        for c in constraints.get(oid).into_iter().flatten() {
            let mut o = object(
                "constraint",
                name.schema.clone(),
                c.name.clone(),
                format!(
                    "ALTER TABLE {} ADD CONSTRAINT {} {}",
                    qualified(name),
                    ident(&c.name),
                    c.def
                ),
            );
            o.table = Some(name.clone());
            o.extra
                .insert("foreign_key".into(), json!(c.contype == "f"));
            post_objects.push(o);
        }
    }

    // sequences
    let mut seq_objects = Vec::new();
    for r in q(format!(
        "SELECT n.nspname, c.relname, pg_catalog.format('CREATE SEQUENCE %I.%I AS %s START WITH %s INCREMENT BY %s MINVALUE %s MAXVALUE %s CACHE %s%s', \
                   n.nspname, c.relname, pg_catalog.format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, \
                   CASE WHEN s.seqcycle THEN ' CYCLE' ELSE '' END), \
                d.deptype::text, on_.nspname::text, oc.relname::text, oa.attname::text, d.refobjid, \
                pg_catalog.pg_get_userbyid(c.relowner) \
         FROM pg_catalog.pg_sequence s JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid \
              AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i') \
         LEFT JOIN pg_catalog.pg_class oc ON oc.oid = d.refobjid \
         LEFT JOIN pg_catalog.pg_namespace on_ ON on_.oid = oc.relnamespace \
         LEFT JOIN pg_catalog.pg_attribute oa ON oa.attrelid = d.refobjid AND oa.attnum = d.refobjsubid \
         WHERE {USER_NS} AND {} ORDER BY c.oid",
        not_ext("pg_catalog.pg_class", "c.oid")
    ))
    .await?
    {
        let name = TableName::qualified(r.get::<_, String>(0), r.get::<_, String>(1));
        let deptype: Option<String> = r.get(3);
        let owner_oid: Option<u32> = r.get(7);
        let owned_by = match (r.get::<_, Option<String>>(4), r.get::<_, Option<String>>(5)) {
            (Some(s), Some(t)) => Some(rel_name(s, t)),
            _ => None,
        };
        if !whole && owner_oid.is_none_or(|o| !selected.contains(&o)) {
            continue;
        }
        let identity = deptype.as_deref() == Some("i");
        let (last, called): (i64, bool) = {
            let row = client
                .query_one(
                    &format!("SELECT last_value, is_called FROM {}", qualified(&name)),
                    &[],
                )
                .await
                .map_err(|e| pg_error(format!("cannot read sequence {name}"), e))?;
            (row.get(0), row.get(1))
        };
        let mut o = object(
            if identity { "identity_sequence" } else { "sequence" },
            name.schema.clone(),
            name.name.clone(),
            if identity { String::new() } else { r.get(2) },
        );
        o.table = owned_by;
        o.extra.insert("last_value".into(), json!(last));
        o.extra.insert("is_called".into(), json!(called));
        o.extra.insert("owner".into(), json!(r.get::<_, String>(8)));
        if let Some(col) = r.get::<_, Option<String>>(6) {
            o.extra.insert("column".into(), json!(col));
        }
        seq_objects.push(o);
    }

    // triggers
    let mut trigger_objects = Vec::new();
    for r in q(format!(
        "SELECT n.nspname, c.relname, t.tgname, pg_catalog.pg_get_triggerdef(t.oid), t.tgenabled::text, t.tgrelid \
         FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT t.tgisinternal AND t.tgparentid = 0 AND {USER_NS} ORDER BY t.oid"
    ))
    .await?
    {
        let relid: u32 = r.get(5);
        if !(selected.contains(&relid) || view_oids.contains(&relid) || partition_names.contains_key(&relid)) {
            continue;
        }
        let table = rel_name(r.get::<_, String>(0), r.get::<_, String>(1));
        let tgname: String = r.get(2);
        let mut ddl: String = r.get(3);
        let enabled: String = r.get(4);
        let alter = match enabled.as_str() {
            "D" => Some("DISABLE TRIGGER"),
            "R" => Some("ENABLE REPLICA TRIGGER"),
            "A" => Some("ENABLE ALWAYS TRIGGER"),
            _ => None,
        };
        if let Some(a) = alter {
            ddl.push_str(&format!(";\nALTER TABLE {} {a} {}", qualified(&table), ident(&tgname)));
        }
        let mut o = object("trigger", table.schema.clone(), tgname, ddl);
        o.table = Some(table);
        trigger_objects.push(o);
    }

    // row-level security, policies and rules of the tables (and views)
    // in the backup; publications of a whole-database backup
    let relids: HashSet<u32> = selected
        .iter()
        .chain(&view_oids)
        .chain(partition_names.keys())
        .copied()
        .collect();
    let mut security_objects = security::row_security(client, &relids).await?;
    security_objects.extend(security::rules(client, &relids).await?);
    if whole {
        security_objects.extend(security::publications(client, &mut warnings).await?);
    }

    // comments
    let mut comment_objects = Vec::new();
    for r in q(format!(
        "SELECT CASE \
            WHEN d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass THEN \
              CASE WHEN d.objsubid = 0 THEN pg_catalog.format('COMMENT ON %s %I.%I IS %L', \
                   CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' \
                        WHEN 'i' THEN 'INDEX' WHEN 'I' THEN 'INDEX' WHEN 'c' THEN 'TYPE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, \
                   cn.nspname, c.relname, d.description) \
              ELSE pg_catalog.format('COMMENT ON COLUMN %I.%I.%I IS %L', cn.nspname, c.relname, \
                   (SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = d.objsubid), d.description) END \
            WHEN d.classoid = 'pg_catalog.pg_namespace'::pg_catalog.regclass THEN \
              (SELECT pg_catalog.format('COMMENT ON SCHEMA %I IS %L', n.nspname, d.description) FROM pg_catalog.pg_namespace n WHERE n.oid = d.objoid AND {USER_NS}) \
            WHEN d.classoid = 'pg_catalog.pg_type'::pg_catalog.regclass THEN \
              (SELECT pg_catalog.format('COMMENT ON %s %I.%I IS %L', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, n.nspname, t.typname, d.description) \
               FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = d.objoid AND {USER_NS}) \
            WHEN d.classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass THEN \
              (SELECT pg_catalog.format('COMMENT ON %s %I.%I(%s) IS %L', CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, \
                  n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid), d.description) \
               FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = d.objoid AND p.prokind IN ('f', 'p') AND {USER_NS}) \
            WHEN d.classoid = 'pg_catalog.pg_constraint'::pg_catalog.regclass THEN \
              (SELECT CASE WHEN co.contypid <> 0 THEN \
                  (SELECT pg_catalog.format('COMMENT ON CONSTRAINT %I ON DOMAIN %I.%I IS %L', co.conname, n.nspname, t.typname, d.description) \
                   FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = co.contypid) \
                ELSE (SELECT pg_catalog.format('COMMENT ON CONSTRAINT %I ON %I.%I IS %L', co.conname, n.nspname, rc.relname, d.description) \
                   FROM pg_catalog.pg_class rc JOIN pg_catalog.pg_namespace n ON n.oid = rc.relnamespace WHERE rc.oid = co.conrelid) END \
               FROM pg_catalog.pg_constraint co WHERE co.oid = d.objoid) \
            WHEN d.classoid = 'pg_catalog.pg_trigger'::pg_catalog.regclass THEN \
              (SELECT pg_catalog.format('COMMENT ON TRIGGER %I ON %I.%I IS %L', tg.tgname, n.nspname, rc.relname, d.description) \
               FROM pg_catalog.pg_trigger tg JOIN pg_catalog.pg_class rc ON rc.oid = tg.tgrelid \
               JOIN pg_catalog.pg_namespace n ON n.oid = rc.relnamespace WHERE tg.oid = d.objoid) \
          END, \
          CASE WHEN d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass THEN d.objoid \
               WHEN d.classoid = 'pg_catalog.pg_constraint'::pg_catalog.regclass THEN (SELECT conrelid FROM pg_catalog.pg_constraint WHERE oid = d.objoid) \
               WHEN d.classoid = 'pg_catalog.pg_trigger'::pg_catalog.regclass THEN (SELECT tgrelid FROM pg_catalog.pg_trigger WHERE oid = d.objoid) END, \
          CASE WHEN d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass THEN c.relkind::text END, \
          CASE WHEN d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.relkind IN ('i', 'I') THEN \
               (SELECT ix.indrelid FROM pg_catalog.pg_index ix WHERE ix.indexrelid = c.oid) END \
         FROM pg_catalog.pg_description d \
         LEFT JOIN pg_catalog.pg_class c ON d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.oid = d.objoid \
         LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace \
         WHERE (c.oid IS NULL OR ({} AND cn.nspname NOT IN ('pg_catalog', 'information_schema') AND cn.nspname NOT LIKE 'pg\\_toast%')) \
           AND {} \
         ORDER BY d.classoid, d.objoid, d.objsubid",
        not_ext("pg_catalog.pg_class", "c.oid"),
        not_ext("d.classoid", "d.objoid").replace("'d.classoid'::pg_catalog.regclass", "d.classoid")
    ))
    .await?
    {
        let Some(ddl) = r.get::<_, Option<String>>(0) else { continue };
        let rel: Option<u32> = r.get(1);
        let relkind: Option<String> = r.get(2);
        let index_table: Option<u32> = r.get(3);
        // keep comments only on objects this backup recreates
        let rel = index_table.or(rel);
        let keep = match (rel, relkind.as_deref()) {
            (None, _) => true,
            (Some(_), Some("S")) => true,
            (Some(o), _) => {
                selected.contains(&o) || view_oids.contains(&o) || partition_names.contains_key(&o)
            }
        };
        if !keep {
            continue;
        }
        let mut o = object("comment", None, String::new(), ddl);
        if let Some(o_rel) = rel
            && let Some(n) = table_names.get(&o_rel).or_else(|| partition_names.get(&o_rel)) {
                o.table = Some(n.clone());
            }
        comment_objects.push(o);
    }

    // grants and the roles they name (restored only on request)
    let mut grant_objects = Vec::new();
    let mut roles: BTreeSet<String> = BTreeSet::new();
    for r in q(format!(
        "SELECT pg_catalog.format('GRANT %s ON %s %I.%I TO %s%s', a.privilege_type, \
                CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, n.nspname, c.relname, \
                CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, \
                CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END), \
                CASE WHEN a.grantee = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(a.grantee) END, c.oid \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace, \
              pg_catalog.aclexplode(c.relacl) a \
         WHERE c.relacl IS NOT NULL AND a.grantee <> c.relowner AND c.relkind IN ('r', 'p', 'v', 'm', 'S') AND {USER_NS} \
         UNION ALL \
         SELECT pg_catalog.format('GRANT %s ON SCHEMA %I TO %s%s', a.privilege_type, n.nspname, \
                CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, \
                CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END), \
                CASE WHEN a.grantee = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(a.grantee) END, NULL \
         FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a \
         WHERE n.nspacl IS NOT NULL AND a.grantee <> n.nspowner AND {USER_NS} \
         UNION ALL \
         SELECT pg_catalog.format('GRANT %s ON %s %I.%I(%s) TO %s%s', a.privilege_type, \
                CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, n.nspname, p.proname, \
                pg_catalog.pg_get_function_identity_arguments(p.oid), \
                CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, \
                CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END), \
                CASE WHEN a.grantee = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(a.grantee) END, NULL \
         FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace, pg_catalog.aclexplode(p.proacl) a \
         WHERE p.proacl IS NOT NULL AND a.grantee <> p.proowner AND p.prokind IN ('f', 'p') AND {USER_NS}"
    ))
    .await?
    {
        let rel: Option<u32> = r.get(2);
        if let Some(o) = rel
            && !(selected.contains(&o) || view_oids.contains(&o) || whole) {
                continue;
            }
        if let Some(role) = r.get::<_, Option<String>>(1) {
            roles.insert(role);
        }
        grant_objects.push(object("grant", None, String::new(), r.get(0)));
    }
    // default privileges (grants only, as above), of a whole-database backup
    if whole {
        for r in q(format!(
            "SELECT pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %I%s GRANT %s ON %s TO %s%s', \
                    pg_catalog.pg_get_userbyid(d.defaclrole), \
                    CASE WHEN d.defaclnamespace = 0 THEN '' ELSE pg_catalog.format(' IN SCHEMA %I', n.nspname) END, \
                    a.privilege_type, \
                    CASE d.defaclobjtype WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES' WHEN 'f' THEN 'FUNCTIONS' \
                      WHEN 'T' THEN 'TYPES' ELSE 'SCHEMAS' END, \
                    CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, \
                    CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END), \
                    pg_catalog.pg_get_userbyid(d.defaclrole), \
                    CASE WHEN a.grantee = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(a.grantee) END \
             FROM pg_catalog.pg_default_acl d \
             LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace, \
             pg_catalog.aclexplode(d.defaclacl) a \
             WHERE a.grantee <> d.defaclrole AND (d.defaclnamespace = 0 OR {USER_NS}) \
             ORDER BY d.oid, a.grantee, a.privilege_type"
        ))
        .await?
        {
            roles.insert(r.get(1));
            if let Some(role) = r.get::<_, Option<String>>(2) {
                roles.insert(role);
            }
            grant_objects.push(object("grant", None, String::new(), r.get(0)));
        }
    }
    for t in &raw {
        roles.insert(t.owner.clone());
    }
    for o in objects.iter().chain(&seq_objects) {
        if let Some(owner) = o.extra.get("owner").and_then(|v| v.as_str()) {
            roles.insert(owner.to_string());
        }
    }
    let role_list: Vec<String> = roles.into_iter().collect();
    let mut role_objects = Vec::new();
    for r in client
        .query(
            "SELECT rolname, pg_catalog.format('CREATE ROLE %I WITH %sLOGIN %sSUPERUSER %sCREATEDB %sCREATEROLE %sINHERIT %sREPLICATION %sBYPASSRLS', \
                    rolname, CASE WHEN rolcanlogin THEN '' ELSE 'NO' END, CASE WHEN rolsuper THEN '' ELSE 'NO' END, \
                    CASE WHEN rolcreatedb THEN '' ELSE 'NO' END, CASE WHEN rolcreaterole THEN '' ELSE 'NO' END, \
                    CASE WHEN rolinherit THEN '' ELSE 'NO' END, CASE WHEN rolreplication THEN '' ELSE 'NO' END, \
                    CASE WHEN rolbypassrls THEN '' ELSE 'NO' END) \
             FROM pg_catalog.pg_roles WHERE rolname = ANY($1) AND rolname !~ '^pg_' ORDER BY oid",
            &[&role_list],
        )
        .await
        .map_err(|e| pg_error("cannot read roles", e))?
    {
        role_objects.push(object("role", None, r.get(0), r.get(1)));
    }

    // assemble tables
    let mut tables = Vec::with_capacity(raw.len());
    let mut plans = HashMap::with_capacity(raw.len());
    for t in &raw {
        let cols = columns.remove(&t.oid).unwrap_or_default();
        let cons = constraints.remove(&t.oid).unwrap_or_default();
        let (table, plan) = build_table(
            t,
            cols,
            &cons,
            indexes.remove(&t.oid).unwrap_or_default(),
            &types,
            encoding,
        );
        plans.insert(table.name.clone(), plan);
        tables.push(table);
    }

    let mut all = objects;
    all.extend(late_functions);
    all.extend(seq_objects);
    all.extend(post_objects);
    all.extend(trigger_objects);
    all.extend(security_objects);
    all.extend(comment_objects);
    all.extend(role_objects);
    all.extend(grant_objects);

    let mut settings = BTreeMap::new();
    settings.insert("extensions".into(), json!(extensions));
    settings.insert("encoding".into(), json!(encoding));
    if let Some((table, plan)) = large_objects::capture(client, filter, &types).await? {
        plans.insert(table.name.clone(), plan);
        tables.push(table);
    }
    Ok(Captured {
        schema: DatabaseSchema {
            engine: Engine::Postgres,
            tables,
            objects: all,
            settings,
        },
        plans,
        warnings,
    })
}

fn build_table(
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
    let mut lines = Vec::with_capacity(cols.len());
    for (c, _) in &cols {
        let mut line = format!("    {} {}", ident(&c.name), c.engine_type);
        if let Some(coll) = &c.collation {
            line.push_str(&format!(" COLLATE {coll}"));
        }
        if let Some(g) = &c.generated {
            line.push_str(&format!(" GENERATED ALWAYS AS ({}) STORED", g.expression));
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
        lines.push(line);
    }
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

    // how to read it
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
    let mut copy_sql = format!(
        "COPY (SELECT {} FROM {only}{}",
        select.join(", "),
        qualified(&t.name)
    );
    if !order.is_empty() {
        copy_sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
    }
    copy_sql.push_str(") TO STDOUT (FORMAT binary)");
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
    (table, ReadPlan { copy_sql, decoders })
}
