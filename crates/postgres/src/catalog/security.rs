//! Objects around the tables that applications rely on without naming
//! them in their data: row-level security (the switch on each table and
//! its policies, which Supabase-style applications depend on), rewrite
//! rules, publications, user-defined collations and text-search
//! dictionaries and configurations.

use std::collections::HashSet;

use tokio_postgres::Client;
use tresor_core::{SchemaObject, SourceError};

use super::{USER_NS, not_ext, object, rows};
use crate::types::{ident, qualified, rel_name};

/// `ALTER TABLE ... ENABLE [FORCE] ROW LEVEL SECURITY` (kind
/// `row_security`) and `CREATE POLICY` (kind `policy`, with the roles it
/// names in `roles`) of the tables in `relids`.
pub(super) async fn row_security(
    client: &Client,
    relids: &HashSet<u32>,
) -> Result<Vec<SchemaObject>, SourceError> {
    let mut out = Vec::new();
    for r in rows(
        client,
        &format!(
            "SELECT c.oid, n.nspname, c.relname, c.relrowsecurity, c.relforcerowsecurity \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE (c.relrowsecurity OR c.relforcerowsecurity) AND {USER_NS} ORDER BY c.oid"
        ),
    )
    .await?
    {
        if !relids.contains(&r.get::<_, u32>(0)) {
            continue;
        }
        let table = rel_name(r.get(1), r.get(2));
        let mut ddl = Vec::new();
        if r.get::<_, bool>(3) {
            ddl.push(format!(
                "ALTER TABLE {} ENABLE ROW LEVEL SECURITY",
                qualified(&table)
            ));
        }
        if r.get::<_, bool>(4) {
            ddl.push(format!(
                "ALTER TABLE {} FORCE ROW LEVEL SECURITY",
                qualified(&table)
            ));
        }
        let mut o = object(
            "row_security",
            table.schema.clone(),
            table.name.clone(),
            ddl.join(";\n"),
        );
        o.table = Some(table);
        out.push(o);
    }
    for r in rows(
        client,
        &format!(
            "SELECT p.polrelid, n.nspname, c.relname, p.polname, \
               pg_catalog.format('CREATE POLICY %I ON %I.%I AS %s FOR %s TO %s%s%s', \
                 p.polname, n.nspname, c.relname, \
                 CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END, \
                 CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' \
                   WHEN 'd' THEN 'DELETE' ELSE 'ALL' END, \
                 (SELECT pg_catalog.string_agg(CASE WHEN x.r = 0 THEN 'PUBLIC' \
                     ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(x.r)) END, ', ' ORDER BY x.i) \
                  FROM pg_catalog.unnest(p.polroles) WITH ORDINALITY AS x(r, i)), \
                 CASE WHEN p.polqual IS NOT NULL \
                   THEN ' USING (' || pg_catalog.pg_get_expr(p.polqual, p.polrelid) || ')' ELSE '' END, \
                 CASE WHEN p.polwithcheck IS NOT NULL \
                   THEN ' WITH CHECK (' || pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) || ')' ELSE '' END), \
               ARRAY(SELECT pg_catalog.pg_get_userbyid(x.r) FROM pg_catalog.unnest(p.polroles) AS x(r) \
                     WHERE x.r <> 0 ORDER BY 1) \
             FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE {USER_NS} ORDER BY p.oid"
        ),
    )
    .await?
    {
        if !relids.contains(&r.get::<_, u32>(0)) {
            continue;
        }
        let table = rel_name(r.get(1), r.get(2));
        let mut o = object("policy", table.schema.clone(), r.get(3), r.get(4));
        o.extra
            .insert("roles".into(), serde_json::json!(r.get::<_, Vec<String>>(5)));
        o.table = Some(table);
        out.push(o);
    }
    Ok(out)
}

/// `CREATE RULE` (kind `rule`) of the tables and views in `relids`, with
/// `ALTER TABLE ... DISABLE RULE` or `ENABLE ALWAYS|REPLICA RULE` when
/// the rule is not in its default state. The `_RETURN` rules of views are
/// the views themselves.
pub(super) async fn rules(
    client: &Client,
    relids: &HashSet<u32>,
) -> Result<Vec<SchemaObject>, SourceError> {
    let mut out = Vec::new();
    for r in rows(
        client,
        &format!(
            "SELECT r.ev_class, n.nspname, c.relname, r.rulename, pg_catalog.pg_get_ruledef(r.oid), \
                    r.ev_enabled::text \
             FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE r.rulename <> '_RETURN' AND {USER_NS} ORDER BY r.oid"
        ),
    )
    .await?
    {
        if !relids.contains(&r.get::<_, u32>(0)) {
            continue;
        }
        let table = rel_name(r.get(1), r.get(2));
        let name: String = r.get(3);
        let def: String = r.get(4);
        let mut ddl = def.trim_end().trim_end_matches(';').to_string();
        let alter = match r.get::<_, String>(5).as_str() {
            "D" => Some("DISABLE RULE"),
            "A" => Some("ENABLE ALWAYS RULE"),
            "R" => Some("ENABLE REPLICA RULE"),
            _ => None,
        };
        if let Some(a) = alter {
            // ALTER VIEW has no rule clauses; ALTER TABLE takes views here
            ddl.push_str(&format!(
                ";\nALTER TABLE {} {a} {}",
                qualified(&table),
                ident(&name)
            ));
        }
        let mut o = object("rule", table.schema.clone(), name, ddl);
        o.table = Some(table);
        out.push(o);
    }
    Ok(out)
}

/// `CREATE PUBLICATION` (kind `publication`) of a whole-database backup:
/// `FOR ALL TABLES` or the list of its tables, and what it publishes.
/// Row filters and column lists (PostgreSQL 15) are left out, with a
/// warning.
pub(super) async fn publications(
    client: &Client,
    warnings: &mut Vec<String>,
) -> Result<Vec<SchemaObject>, SourceError> {
    let mut out = Vec::new();
    for r in rows(
        client,
        "SELECT p.pubname, p.puballtables, \
                pg_catalog.concat_ws(', ', CASE WHEN p.pubinsert THEN 'insert' END, \
                  CASE WHEN p.pubupdate THEN 'update' END, CASE WHEN p.pubdelete THEN 'delete' END, \
                  CASE WHEN p.pubtruncate THEN 'truncate' END), \
                (SELECT pg_catalog.string_agg(pg_catalog.format('%I.%I', n.nspname, c.relname), ', ' \
                   ORDER BY n.nspname, c.relname) \
                 FROM pg_catalog.pg_publication_rel pr JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE pr.prpubid = p.oid), \
                (SELECT pg_catalog.count(*) FROM pg_catalog.pg_publication_rel pr \
                 WHERE pr.prpubid = p.oid AND (pg_catalog.to_jsonb(pr) ->> 'prqual' IS NOT NULL \
                   OR pg_catalog.to_jsonb(pr) ->> 'prattrs' IS NOT NULL)), \
                ARRAY(SELECT pg_catalog.jsonb_build_array(n.nspname, c.relname)::text \
                 FROM pg_catalog.pg_publication_rel pr JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE pr.prpubid = p.oid \
                 ORDER BY n.nspname, c.relname) \
         FROM pg_catalog.pg_publication p ORDER BY p.oid",
    )
    .await?
    {
        let name: String = r.get(0);
        let all: bool = r.get(1);
        let publish: String = r.get(2);
        let tables: Option<String> = r.get(3);
        let filtered: i64 = r.get(4);
        let target = match (all, tables) {
            (true, _) => " FOR ALL TABLES".to_string(),
            (false, Some(t)) => format!(" FOR TABLE {t}"),
            (false, None) => String::new(),
        };
        if filtered > 0 {
            warnings.push(format!(
                "publication {name}: row filters and column lists are not backed up; it is restored publishing whole tables"
            ));
        }
        let mut o = object(
            "publication",
            None,
            name.clone(),
            format!(
                "CREATE PUBLICATION {}{target} WITH (publish = '{publish}')",
                ident(&name)
            ),
        );
        // its tables one by one, so that a table a restore recreates
        // (a dropped table) goes back into the publication
        let members: Vec<serde_json::Value> = r
            .get::<_, Vec<String>>(5)
            .iter()
            .filter_map(|m| serde_json::from_str(m).ok())
            .collect();
        o.extra.insert("tables".into(), serde_json::json!(members));
        out.push(o);
    }
    Ok(out)
}

/// `CREATE COLLATION` (kind `collation`) of the user-defined collations,
/// built from the catalog row whatever the server version calls its
/// columns (`colliculocale` in 15 and 16, `colllocale` from 17).
pub(super) async fn collations(client: &Client) -> Result<Vec<SchemaObject>, SourceError> {
    let mut out = Vec::new();
    for r in rows(
        client,
        &format!(
            "SELECT n.nspname, c.collname, pg_catalog.to_jsonb(c)::text \
             FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace n ON n.oid = c.collnamespace \
             WHERE {USER_NS} AND {} ORDER BY c.oid",
            not_ext("pg_catalog.pg_collation", "c.oid")
        ),
    )
    .await?
    {
        let schema: String = r.get(0);
        let name: String = r.get(1);
        let row: serde_json::Value =
            serde_json::from_str(&r.get::<_, String>(2)).unwrap_or_default();
        let text = |k: &str| {
            row.get(k)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        };
        let lit = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let mut opts = Vec::new();
        let provider = text("collprovider").unwrap_or("c");
        match provider {
            "i" | "b" => {
                opts.push(format!(
                    "provider = {}",
                    if provider == "i" { "icu" } else { "builtin" }
                ));
                if let Some(l) = text("colllocale").or_else(|| text("colliculocale")) {
                    opts.push(format!("locale = {}", lit(l)));
                } else if let Some(l) = text("collcollate") {
                    opts.push(format!("locale = {}", lit(l)));
                }
                if let Some(rules) = text("collicurules") {
                    opts.push(format!("rules = {}", lit(rules)));
                }
            }
            _ => {
                opts.push("provider = libc".into());
                if let Some(l) = text("collcollate") {
                    opts.push(format!("lc_collate = {}", lit(l)));
                }
                if let Some(l) = text("collctype") {
                    opts.push(format!("lc_ctype = {}", lit(l)));
                }
            }
        }
        if row.get("collisdeterministic") == Some(&serde_json::Value::Bool(false)) {
            opts.push("deterministic = false".into());
        }
        let ddl = format!(
            "CREATE COLLATION {}.{} ({})",
            ident(&schema),
            ident(&name),
            opts.join(", ")
        );
        out.push(object("collation", Some(schema), name, ddl));
    }
    Ok(out)
}

/// `CREATE TEXT SEARCH DICTIONARY` (kind `ts_dictionary`) and `CREATE TEXT
/// SEARCH CONFIGURATION` with every token mapping (kind `ts_config`), in
/// that order: full-text columns and indexes name them.
pub(super) async fn text_search(client: &Client) -> Result<Vec<SchemaObject>, SourceError> {
    let mut out = Vec::new();
    for r in rows(
        client,
        &format!(
            "SELECT n.nspname, d.dictname, pg_catalog.format('CREATE TEXT SEARCH DICTIONARY %I.%I (TEMPLATE = %I.%I%s)', \
                    n.nspname, d.dictname, tn.nspname, t.tmplname, \
                    CASE WHEN d.dictinitoption IS NOT NULL THEN ', ' || d.dictinitoption ELSE '' END) \
             FROM pg_catalog.pg_ts_dict d JOIN pg_catalog.pg_namespace n ON n.oid = d.dictnamespace \
             JOIN pg_catalog.pg_ts_template t ON t.oid = d.dicttemplate \
             JOIN pg_catalog.pg_namespace tn ON tn.oid = t.tmplnamespace \
             WHERE {USER_NS} AND {} ORDER BY d.oid",
            not_ext("pg_catalog.pg_ts_dict", "d.oid")
        ),
    )
    .await?
    {
        out.push(object("ts_dictionary", Some(r.get(0)), r.get(1), r.get(2)));
    }
    for r in rows(
        client,
        &format!(
            "SELECT n.nspname, c.cfgname, pg_catalog.format('CREATE TEXT SEARCH CONFIGURATION %I.%I (PARSER = %I.%I)', \
                    n.nspname, c.cfgname, pn.nspname, p.prsname) || \
                    COALESCE((SELECT pg_catalog.string_agg(pg_catalog.format(';\nALTER TEXT SEARCH CONFIGURATION %I.%I ADD MAPPING FOR %s WITH %s', \
                        n.nspname, c.cfgname, m.alias, m.dicts), '' ORDER BY m.alias) \
                      FROM (SELECT tt.alias, pg_catalog.string_agg(pg_catalog.format('%I.%I', dn.nspname, d.dictname), ', ' \
                              ORDER BY cm.mapseqno) AS dicts \
                            FROM pg_catalog.pg_ts_config_map cm \
                            JOIN pg_catalog.ts_token_type(c.cfgparser) tt ON tt.tokid = cm.maptokentype \
                            JOIN pg_catalog.pg_ts_dict d ON d.oid = cm.mapdict \
                            JOIN pg_catalog.pg_namespace dn ON dn.oid = d.dictnamespace \
                            WHERE cm.mapcfg = c.oid GROUP BY tt.alias) m), '') \
             FROM pg_catalog.pg_ts_config c JOIN pg_catalog.pg_namespace n ON n.oid = c.cfgnamespace \
             JOIN pg_catalog.pg_ts_parser p ON p.oid = c.cfgparser \
             JOIN pg_catalog.pg_namespace pn ON pn.oid = p.prsnamespace \
             WHERE {USER_NS} AND {} ORDER BY c.oid",
            not_ext("pg_catalog.pg_ts_config", "c.oid")
        ),
    )
    .await?
    {
        out.push(object("ts_config", Some(r.get(0)), r.get(1), r.get(2)));
    }
    Ok(out)
}
