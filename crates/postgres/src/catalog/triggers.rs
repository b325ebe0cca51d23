//! Triggers.

use std::collections::HashSet;

use tokio_postgres::Client;
use tresor_core::{SchemaObject, SourceError};

use super::{USER_NS, object, rows};
use crate::types::{ident, qualified, rel_name};
use crate::versions::{Feature, ServerVersion};

/// The triggers of the relations `relids`, with their enabled state.
pub(super) async fn triggers(
    client: &Client,
    version: ServerVersion,
    relids: &HashSet<u32>,
) -> Result<Vec<SchemaObject>, SourceError> {
    let mut trigger_objects = Vec::new();
    // before 13 the clones on partitions were internal triggers
    let own = if version.has(Feature::TriggerParent) {
        "AND t.tgparentid = 0"
    } else {
        ""
    };
    for r in rows(client, &format!(
        "SELECT n.nspname, c.relname, t.tgname, pg_catalog.pg_get_triggerdef(t.oid), t.tgenabled::text, t.tgrelid \
         FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT t.tgisinternal {own} AND {USER_NS} ORDER BY t.oid"
    ))
    .await?
    {
        let relid: u32 = r.get(5);
        if !relids.contains(&relid) {
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
    Ok(trigger_objects)
}
