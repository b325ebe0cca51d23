//! Sequences, with their values.

use std::collections::HashSet;

use serde_json::json;
use tokio_postgres::Client;
use tresor_core::{SchemaObject, SourceError, TableName};

use super::{USER_NS, not_ext, object, rows};
use crate::error::pg_error;
use crate::types::{qualified, rel_name};

/// Every sequence of a whole-database backup, else those owned by the
/// `selected` tables; identity sequences with no DDL of their own.
pub(super) async fn sequences(
    client: &Client,
    whole: bool,
    selected: &HashSet<u32>,
) -> Result<Vec<SchemaObject>, SourceError> {
    let mut seq_objects = Vec::new();
    for r in rows(client, &format!(
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
    Ok(seq_objects)
}
