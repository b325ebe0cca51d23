//! Constraints of tables and partitions: primary keys, unique, check,
//! exclusion and foreign keys.

use std::collections::HashMap;

use serde_json::json;
use tokio_postgres::Client;
use tresor_core::{SchemaObject, SourceError, TableName};

use super::object;
use crate::error::pg_error;
use crate::types::{ident, qualified};

/// A constraint as the catalog has it.
pub(super) struct RawConstraint {
    pub(super) name: String,
    pub(super) contype: String,
    pub(super) def: String,
    pub(super) cols: Vec<String>,
    pub(super) fschema: Option<String>,
    pub(super) ftable: Option<String>,
    pub(super) fcols: Vec<String>,
    pub(super) upd: String,
    pub(super) del: String,
}

/// The SQL of a foreign key's `ON DELETE`/`ON UPDATE` action code.
pub(super) fn action(code: &str) -> Option<String> {
    match code {
        "r" => Some("RESTRICT".into()),
        "c" => Some("CASCADE".into()),
        "n" => Some("SET NULL".into()),
        "d" => Some("SET DEFAULT".into()),
        _ => None,
    }
}

/// The constraints declared on the relations `rel_oids` (not inherited
/// from a parent), by relation.
pub(super) async fn constraints(
    client: &Client,
    rel_oids: &[u32],
) -> Result<HashMap<u32, Vec<RawConstraint>>, SourceError> {
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
    Ok(constraints)
}

/// `ALTER TABLE ... ADD CONSTRAINT` of the constraints that partitions
/// declare themselves, made after the data.
pub(super) fn partition_constraints(
    partition_names: &HashMap<u32, TableName>,
    constraints: &HashMap<u32, Vec<RawConstraint>>,
) -> Vec<SchemaObject> {
    let mut post_objects = Vec::new();
    for (oid, name) in partition_names {
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
    post_objects
}
