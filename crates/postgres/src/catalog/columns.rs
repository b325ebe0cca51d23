//! Columns of the selected tables.

use std::collections::HashMap;

use serde_json::json;
use tokio_postgres::Client;
use tresor_core::{Column, Generated, SourceError};

use crate::error::pg_error;
use crate::types::{TypeMap, portable_type};
use crate::versions::{Feature, ServerVersion};

/// The columns of the relations `table_oids`, by relation, each with its
/// type's oid.
pub(super) async fn columns(
    client: &Client,
    version: ServerVersion,
    table_oids: &[u32],
    types: &TypeMap,
) -> Result<HashMap<u32, Vec<(Column, u32)>>, SourceError> {
    let mut columns: HashMap<u32, Vec<(Column, u32)>> = HashMap::new();
    // compression methods and multiranges came with PostgreSQL 14
    let since14 = if version.has(Feature::Compression) {
        "a.attcompression::text, \
         (SELECT pg_catalog.format_type(r.rngtypid, NULL) FROM pg_catalog.pg_range r \
          WHERE r.rngmultitypid = a.atttypid)"
    } else {
        "'', NULL::text"
    };
    let col_rows = client
        .query(
            &format!("SELECT a.attrelid, a.attname, a.atttypid, a.atttypmod, \
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
                    pg_catalog.format_type(COALESCE(NULLIF(t.typbasetype, 0), a.atttypid), NULL), {since14}, \
                    COALESCE(a.attoptions, '{{}}')::text[], NULLIF(a.attstattarget::int, -1), \
                    CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage::text END \
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation \
             LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace \
             WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attrelid, a.attnum"),
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
            portable_type(types, typid, typmod),
        );
        c.nullable = !r.get::<_, bool>(5);
        let default: Option<String> = r.get(6);
        let identity: String = r.get(7);
        let generated: String = r.get(8);
        if generated == "s" || generated == "v" {
            c.generated = Some(Generated {
                expression: default.unwrap_or_default(),
                stored: generated == "s",
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
        let compression: String = r.get(13);
        match compression.as_str() {
            "p" => {
                c.extra.insert("compression".into(), json!("pglz"));
            }
            "l" => {
                c.extra.insert("compression".into(), json!("lz4"));
            }
            _ => {}
        }
        // what an older server without multiranges turns the column into
        if let Some(range) = r.get::<_, Option<String>>(14) {
            c.extra.insert("multirange_of".into(), json!(range));
        }
        // the planner's settings of the column (`ALTER COLUMN ... SET`),
        // which applications tune on their largest tables
        // only the options `SET (...)` takes (a server may keep its own
        // beside them, which no other server would accept)
        let options: Vec<String> = r
            .get::<_, Vec<String>>(15)
            .into_iter()
            .filter(|o| o.starts_with("n_distinct=") || o.starts_with("n_distinct_inherited="))
            .collect();
        if !options.is_empty() {
            c.extra.insert("options".into(), json!(options));
        }
        if let Some(target) = r.get::<_, Option<i32>>(16) {
            c.extra.insert("statistics".into(), json!(target));
        }
        let storage = r
            .get::<_, Option<String>>(17)
            .and_then(|s| match s.as_str() {
                "p" => Some("PLAIN"),
                "e" => Some("EXTERNAL"),
                "m" => Some("MAIN"),
                "x" => Some("EXTENDED"),
                _ => None,
            });
        if let Some(storage) = storage {
            c.extra.insert("storage".into(), json!(storage));
        }
        columns.entry(relid).or_default().push((c, typid));
    }
    Ok(columns)
}
