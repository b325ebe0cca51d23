//! Indexes that no constraint owns.

use std::collections::{BTreeMap, HashMap};

use serde_json::json;
use tokio_postgres::Client;
use tresor_core::{Index, SchemaObject, SourceError, TableName};

use super::object;
use crate::error::pg_error;
use crate::types::rel_name;

/// The indexes of the relations `index_rels` that no constraint owns:
/// those of the tables `table_names` by table, the others (on partitions
/// and materialized views) as objects made after the data.
pub(super) async fn indexes(
    client: &Client,
    index_rels: &[u32],
    table_names: &HashMap<u32, TableName>,
) -> Result<(HashMap<u32, Vec<Index>>, Vec<SchemaObject>), SourceError> {
    let mut indexes: HashMap<u32, Vec<Index>> = HashMap::new();
    let mut post_objects: Vec<SchemaObject> = Vec::new();
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
    Ok((indexes, post_objects))
}
