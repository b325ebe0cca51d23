//! Schemas and extensions.

use serde_json::{Value, json};
use tokio_postgres::Client;
use tresor_core::{SchemaObject, SourceError};

use super::{USER_NS, not_ext, object, rows};
use crate::types::ident;

/// `CREATE SCHEMA` of every user schema (none for `public`), with its owner.
pub(super) async fn schemas(client: &Client) -> Result<Vec<SchemaObject>, SourceError> {
    let mut objects = Vec::new();
    for r in rows(client, &format!(
        "SELECT n.nspname, pg_catalog.pg_get_userbyid(n.nspowner) FROM pg_catalog.pg_namespace n \
         WHERE {USER_NS} AND {} ORDER BY n.oid",
        not_ext("pg_catalog.pg_namespace", "n.oid")
    ))
    .await?
    {
        let name: String = r.get(0);
        let ddl = if name == "public" {
            String::new()
        } else {
            format!("CREATE SCHEMA {}", ident(&name))
        };
        let mut o = object("schema", None, name, ddl);
        o.extra.insert("owner".into(), json!(r.get::<_, String>(1)));
        objects.push(o);
    }
    Ok(objects)
}

/// `CREATE EXTENSION` of every installed extension, and the list of them
/// (name, version, schema) for the snapshot's settings.
pub(super) async fn extensions(
    client: &Client,
) -> Result<(Vec<SchemaObject>, Vec<Value>), SourceError> {
    let mut objects = Vec::new();
    let mut extensions = Vec::new();
    for r in rows(
        client,
        "SELECT e.extname, e.extversion, n.nspname FROM pg_catalog.pg_extension e \
                JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace ORDER BY e.oid",
    )
    .await?
    {
        let (name, version, schema): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        extensions.push(json!({"name": name, "version": version, "schema": schema}));
        let mut o = object(
            "extension",
            None,
            name.clone(),
            format!(
                "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {}",
                ident(&name),
                ident(&schema)
            ),
        );
        o.extra.insert("version".into(), json!(version));
        o.extra.insert("schema".into(), json!(schema));
        objects.push(o);
    }
    Ok((objects, extensions))
}
