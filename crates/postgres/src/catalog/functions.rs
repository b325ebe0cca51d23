//! Functions and procedures (user-defined aggregates are only counted).

use serde_json::json;
use tokio_postgres::Client;
use tresor_core::{SchemaObject, SourceError};

use super::{USER_NS, not_ext, object, rows};
use crate::versions::{Feature, ServerVersion};

/// Functions and procedures in creation order, and apart those whose
/// SQL-standard body is parsed at creation, so made after the tables.
/// The constructors a range type makes for itself (and for its
/// multirange) are left to it.
pub(super) async fn functions(
    client: &Client,
    version: ServerVersion,
    warnings: &mut Vec<String>,
) -> Result<(Vec<SchemaObject>, Vec<SchemaObject>), SourceError> {
    let mut objects = Vec::new();
    let mut late_functions = Vec::new();
    let sql_body = if version.has(Feature::SqlBody) {
        "p.prosqlbody IS NOT NULL"
    } else {
        "false"
    };
    for r in rows(
        client,
        &format!(
            "SELECT n.nspname, p.proname, p.prokind::text, pg_catalog.pg_get_functiondef(p.oid), \
                pg_catalog.pg_get_function_identity_arguments(p.oid), {sql_body}, \
                pg_catalog.pg_get_userbyid(p.proowner) \
         FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
         WHERE p.prokind IN ('f', 'p') AND {USER_NS} AND {} \
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                           WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass \
                             AND d.objid = p.oid AND d.deptype = 'i') \
         ORDER BY p.oid",
            not_ext("pg_catalog.pg_proc", "p.oid")
        ),
    )
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
    let aggregates: i64 = rows(client, &format!(
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
    Ok((objects, late_functions))
}
