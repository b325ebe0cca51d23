//! User-defined types: enums, composites, ranges and domains.

use serde_json::json;
use tokio_postgres::Client;
use tresor_core::{SchemaObject, SourceError};

use super::{USER_NS, not_ext, object, rows};
use crate::versions::{Feature, ServerVersion};

/// The condition on `pg_type t` (with its namespace `n`) that keeps the
/// user's own enums, standalone composites, ranges and domains, an
/// extension's left out.
pub(crate) fn user_types_where() -> String {
    format!(
        "t.typtype IN ('e', 'c', 'r', 'd') AND {USER_NS} AND {} \
         AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c')",
        not_ext("pg_catalog.pg_type", "t.oid")
    )
}

/// Enums, composites, ranges and domains, in creation order. A domain's
/// `NOT NULL` is a named constraint from PostgreSQL 17 and comes with
/// the others (older servers take the name and ignore it).
pub(super) async fn user_types(
    client: &Client,
    version: ServerVersion,
) -> Result<Vec<SchemaObject>, SourceError> {
    let mut objects = Vec::new();
    // a range's multirange type (named, so that a restore makes it under
    // the same name) came with PostgreSQL 14
    let (multirange, multirange_join) = if version.has(Feature::Multirange) {
        (
            "pg_catalog.format(', multirange_type_name = %I.%I', mn.nspname, mt.typname)",
            "JOIN pg_catalog.pg_type mt ON mt.oid = r.rngmultitypid JOIN pg_catalog.pg_namespace mn ON mn.oid = mt.typnamespace",
        )
    } else {
        ("''", "")
    };
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
           WHEN 'r' THEN (SELECT pg_catalog.format('CREATE TYPE %I.%I AS RANGE (subtype = %s%s%s%s%s)', \
                 n.nspname, t.typname, pg_catalog.format_type(r.rngsubtype, NULL), \
                 CASE WHEN NOT opc.opcdefault THEN pg_catalog.format(', subtype_opclass = %I.%I', opcn.nspname, opc.opcname) ELSE '' END, \
                 CASE WHEN r.rngcollation <> 0 AND r.rngcollation <> st.typcollation THEN pg_catalog.format(', collation = %I.%I', rcn.nspname, rco.collname) ELSE '' END, \
                 CASE WHEN r.rngsubdiff <> 0 THEN ', subtype_diff = ' || r.rngsubdiff::pg_catalog.regproc::text ELSE '' END, \
                 {multirange}) \
               FROM pg_catalog.pg_range r JOIN pg_catalog.pg_type st ON st.oid = r.rngsubtype \
               JOIN pg_catalog.pg_opclass opc ON opc.oid = r.rngsubopc JOIN pg_catalog.pg_namespace opcn ON opcn.oid = opc.opcnamespace \
               LEFT JOIN pg_catalog.pg_collation rco ON rco.oid = r.rngcollation LEFT JOIN pg_catalog.pg_namespace rcn ON rcn.oid = rco.collnamespace \
               {multirange_join} \
               WHERE r.rngtypid = t.oid) \
           WHEN 'd' THEN pg_catalog.format('CREATE DOMAIN %I.%I AS %s%s%s%s%s', n.nspname, t.typname, \
               pg_catalog.format_type(t.typbasetype, t.typtypmod), \
               CASE WHEN t.typcollation <> 0 AND t.typcollation <> bt.typcollation THEN (SELECT pg_catalog.format(' COLLATE %I.%I', cn.nspname, co.collname) FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = t.typcollation) ELSE '' END, \
               CASE WHEN t.typdefault IS NOT NULL THEN ' DEFAULT ' || t.typdefault ELSE '' END, \
               CASE WHEN t.typnotnull AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c \
                    WHERE c.contypid = t.oid AND c.contype = 'n') THEN ' NOT NULL' ELSE '' END, \
               COALESCE((SELECT pg_catalog.string_agg(pg_catalog.format(' CONSTRAINT %I %s', c.conname, pg_catalog.pg_get_constraintdef(c.oid)), '' ORDER BY c.conname) \
                  FROM pg_catalog.pg_constraint c WHERE c.contypid = t.oid), '')) \
         END \
         FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
         LEFT JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype \
         WHERE {} \
         ORDER BY t.oid",
        user_types_where()
    );
    for r in rows(client, &type_sql).await? {
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
    Ok(objects)
}
