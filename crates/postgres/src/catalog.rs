//! Schema capture: everything a restore needs to rebuild a database, read
//! from the system catalogs inside the snapshot transaction.
//!
//! DDL comes from PostgreSQL itself where it offers it (`pg_get_*def`,
//! `format_type`, `format('%I')`), with `search_path` empty so that every
//! name is schema-qualified, as `pg_dump` does.

mod columns;
mod comments;
mod constraints;
mod functions;
mod indexes;
pub(crate) mod large_objects;
mod privileges;
mod schemas;
mod security;
mod sequences;
mod tables;
mod triggers;
mod user_types;
mod views;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::json;
use tokio_postgres::{Client, Row};
use tresor_core::{DatabaseSchema, Engine, SchemaObject, SourceError, TableFilter, TableName};

use crate::decode::ColumnDecoder;
use crate::error::pg_error;
use crate::types::load_types;
use crate::versions::{ServerVersion, VERSION_SETTING};

pub(crate) use tables::column_sql;
pub(crate) use user_types::user_types_where;

/// Schemas that hold user objects.
pub(crate) const USER_NS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

pub(crate) fn not_ext(class: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend xd WHERE xd.classid = '{class}'::pg_catalog.regclass \
         AND xd.objid = {oid} AND xd.deptype = 'e')"
    )
}

/// How one table's rows are read.
#[derive(Clone, Debug)]
pub(crate) struct ReadPlan {
    pub(crate) copy_sql: String,
    /// The same without its `ORDER BY`, where it has one.
    pub(crate) unordered_sql: Option<String>,
    pub(crate) decoders: Vec<ColumnDecoder>,
}

/// The result of a capture.
pub(crate) struct Captured {
    pub(crate) schema: DatabaseSchema,
    pub(crate) plans: HashMap<TableName, ReadPlan>,
    pub(crate) warnings: Vec<String>,
}

/// An object of `kind` named `name` in `schema`, made by `ddl`.
fn object(kind: &str, schema: Option<String>, name: String, ddl: String) -> SchemaObject {
    SchemaObject {
        kind: kind.to_string(),
        name: TableName { schema, name },
        ddl,
        table: None,
        extra: BTreeMap::new(),
    }
}

/// The user's relations of the kinds `relkinds` (`'r', 'p'` for tables,
/// `'v', 'm'` for views), by name, sorted.
pub(crate) async fn relation_names(
    client: &Client,
    relkinds: &str,
) -> Result<Vec<TableName>, SourceError> {
    let rows = rows(
        client,
        &format!(
            "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ({relkinds}) AND NOT c.relispartition AND {USER_NS} AND {} \
             ORDER BY 1, 2",
            not_ext("pg_catalog.pg_class", "c.oid")
        ),
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| crate::types::rel_name(r.get::<_, String>(0), r.get::<_, String>(1)))
        .collect())
}

/// Runs a catalog query without parameters.
async fn rows(client: &Client, sql: &str) -> Result<Vec<Row>, SourceError> {
    client
        .query(sql, &[])
        .await
        .map_err(|e| pg_error("cannot read the catalog", e))
}

/// Reads the catalogs of a server of `version`. `encoding` is the server
/// encoding, which decides how text keys are ordered. Objects come in the
/// order a restore creates them.
pub(crate) async fn capture(
    client: &Client,
    version: ServerVersion,
    filter: &TableFilter,
    encoding: &str,
) -> Result<Captured, SourceError> {
    let types = load_types(client).await?;
    let mut warnings = Vec::new();
    let mut objects: Vec<SchemaObject> = Vec::new();
    let whole = filter.is_all();

    objects.extend(schemas::schemas(client).await?);
    let (extension_objects, extensions) = schemas::extensions(client).await?;
    objects.extend(extension_objects);
    // collations, which types and columns may use
    objects.extend(security::collations(client).await?);
    objects.extend(security::text_search(client).await?);
    objects.extend(user_types::user_types(client, version).await?);
    let (functions, late_functions) = functions::functions(client, version, &mut warnings).await?;
    objects.extend(functions);

    let raw = tables::tables(client, filter, &mut warnings).await?;
    let selected: HashSet<u32> = raw.iter().map(|t| t.oid).collect();
    let (partitions, partition_oids) = tables::partitions(client, &raw, &selected).await?;
    objects.extend(partitions);
    let table_oids: Vec<u32> = raw.iter().map(|t| t.oid).collect();
    let mut columns = columns::columns(client, version, &table_oids, &types).await?;
    // constraints (tables and partitions)
    let mut rel_oids = table_oids.clone();
    rel_oids.extend(&partition_oids);
    let mut constraints = constraints::constraints(client, &rel_oids).await?;

    // views and materialized views (whole-database backups only: with a
    // filter they may depend on tables that are not in the backup)
    let mut view_oids = Vec::new();
    if whole {
        let (views, oids) = views::views(client).await?;
        objects.extend(views);
        view_oids = oids;
    } else {
        let left_out = relation_names(client, "'v', 'm'").await?;
        if !left_out.is_empty() {
            warnings.push(views::left_out_warning(&left_out));
        }
    }

    // indexes that no constraint owns, on tables, partitions and matviews
    let mut index_rels = rel_oids.clone();
    index_rels.extend(&view_oids);
    let table_names: HashMap<u32, TableName> =
        raw.iter().map(|t| (t.oid, t.name.clone())).collect();
    let (mut indexes, mut post_objects) =
        indexes::indexes(client, &index_rels, &table_names).await?;
    let partition_names = tables::partition_names(client, &partition_oids).await?;
    post_objects.extend(constraints::partition_constraints(
        &partition_names,
        &constraints,
    ));

    let seq_objects = sequences::sequences(client, whole, &selected).await?;
    // the relations the backup recreates, whose triggers, security and
    // comments it keeps
    let relids: HashSet<u32> = selected
        .iter()
        .chain(&view_oids)
        .chain(partition_names.keys())
        .copied()
        .collect();
    let trigger_objects = triggers::triggers(client, version, &relids).await?;

    // row-level security, policies and rules of the tables (and views)
    // in the backup; publications of a whole-database backup
    let mut security_objects = security::row_security(client, &relids).await?;
    security_objects.extend(security::rules(client, &relids).await?);
    if whole {
        security_objects.extend(security::publications(client, &mut warnings).await?);
    }

    let mut names = table_names;
    for (oid, name) in &partition_names {
        names.entry(*oid).or_insert_with(|| name.clone());
    }
    let comment_objects = comments::comments(client, &relids, &names).await?;

    let (grant_objects, mut roles) =
        privileges::grants(client, whole, &selected, &view_oids).await?;
    for t in &raw {
        roles.insert(t.owner.clone());
    }
    for o in objects.iter().chain(&seq_objects) {
        if let Some(owner) = o.extra.get("owner").and_then(|v| v.as_str()) {
            roles.insert(owner.to_string());
        }
    }
    let role_objects = privileges::roles(client, roles).await?;

    // assemble tables
    let mut tables = Vec::with_capacity(raw.len());
    let mut plans = HashMap::with_capacity(raw.len());
    for t in &raw {
        let cols = columns.remove(&t.oid).unwrap_or_default();
        let cons = constraints.remove(&t.oid).unwrap_or_default();
        let (table, plan) = tables::build_table(
            t,
            cols,
            &cons,
            indexes.remove(&t.oid).unwrap_or_default(),
            &types,
            encoding,
        );
        plans.insert(table.name.clone(), plan);
        tables.push(table);
    }

    let mut all = objects;
    all.extend(late_functions);
    all.extend(seq_objects);
    all.extend(post_objects);
    all.extend(trigger_objects);
    all.extend(security_objects);
    all.extend(comment_objects);
    all.extend(role_objects);
    all.extend(grant_objects);

    let mut settings = BTreeMap::new();
    settings.insert("extensions".into(), json!(extensions));
    settings.insert("encoding".into(), json!(encoding));
    settings.insert(VERSION_SETTING.into(), json!(version.num()));
    if let Some((table, plan)) = large_objects::capture(client, filter, &types).await? {
        plans.insert(table.name.clone(), plan);
        tables.push(table);
    }
    Ok(Captured {
        schema: DatabaseSchema {
            engine: Engine::POSTGRES,
            tables,
            objects: all,
            settings,
        },
        plans,
        warnings,
    })
}
