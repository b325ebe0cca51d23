//! Views and materialized views.

use std::collections::HashSet;

use serde_json::json;
use tokio_postgres::Client;
use tresor_core::{SchemaObject, SourceError};

use super::{USER_NS, not_ext, object, rows};
use crate::types::{qualified, rel_name};

/// Views and materialized views, each after the views it reads, and
/// their oids in that order.
pub(super) async fn views(client: &Client) -> Result<(Vec<SchemaObject>, Vec<u32>), SourceError> {
    let mut objects = Vec::new();
    let mut view_oids = Vec::new();
    let rows = rows(client, &format!(
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
    Ok((objects, view_oids))
}

/// The warning of a backup with a table filter, which leaves the views
/// out: a restore from it brings none back, so the user must hear it.
pub(super) fn left_out_warning(names: &[tresor_core::TableName]) -> String {
    const SHOWN: usize = 10;
    let mut listed = names
        .iter()
        .take(SHOWN)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        listed.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    format!(
        "a backup with a table filter (--tables, --group, include or exclude) leaves out the \
         database's views and materialized views ({listed}): a restore from it brings none \
         of them back; back up the whole database to keep them"
    )
}

#[cfg(test)]
mod tests {
    use super::left_out_warning;

    #[test]
    fn the_warning_names_the_views_left_out() {
        let w = left_out_warning(&[tresor_core::TableName::new("hierarchy")]);
        assert!(w.contains("(hierarchy)"), "{w}");
        let many: Vec<_> = (0..12)
            .map(|i| tresor_core::TableName::new(format!("v{i}")))
            .collect();
        let w = left_out_warning(&many);
        assert!(w.contains("v9 and 2 more"), "{w}");
        assert!(!w.contains("v10"), "{w}");
    }
}
