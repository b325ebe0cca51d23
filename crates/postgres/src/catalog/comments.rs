//! Comments on the objects a backup recreates.

use std::collections::{HashMap, HashSet};

use tokio_postgres::Client;
use tresor_core::{SchemaObject, SourceError, TableName};

use super::{USER_NS, not_ext, object, rows};

/// `COMMENT ON` of every commented object outside the relations that are
/// not backed up: `relids` are those that are; the comments of tables
/// and partitions (`names`) name them.
pub(super) async fn comments(
    client: &Client,
    relids: &HashSet<u32>,
    names: &HashMap<u32, TableName>,
) -> Result<Vec<SchemaObject>, SourceError> {
    let mut comment_objects = Vec::new();
    for r in rows(client, &format!(
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
            (Some(o), _) => relids.contains(&o),
        };
        if !keep {
            continue;
        }
        let mut o = object("comment", None, String::new(), ddl);
        if let Some(o_rel) = rel
            && let Some(n) = names.get(&o_rel) {
                o.table = Some(n.clone());
            }
        comment_objects.push(o);
    }
    Ok(comment_objects)
}
