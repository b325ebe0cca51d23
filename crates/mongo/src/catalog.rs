//! What a database holds: collections with their options, indexes and
//! views, read from `listCollections` / `listIndexes` and turned into
//! tresor's schema model (and back into the commands that recreate them).
//!
//! Options and index specifications are kept whole, as canonical Extended
//! JSON ([`tresor_core::json::document_to_json`]), so that a restore sends
//! the server exactly what it reported, including options this code does
//! not know by name.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use mongodb::Database;
use mongodb::bson::raw::{RawDocumentBuf, cstr};
use mongodb::bson::{Document, doc};
use serde_json::Value as Json;
use tresor_core::json::{document_from_json, document_to_json};
use tresor_core::{
    Column, Index, PortableType, RowKey, SchemaObject, SourceError, TableName, TableSchema,
};

use crate::error::{bson_error, mongo_error};

/// Prefix of the temporary collections a restore loads into; never backed
/// up, never reported by `inspect`.
pub(crate) const TMP_PREFIX: &str = "__tresor_tmp_";

/// `TableSchema::kind` of every collection.
pub(crate) const KIND: &str = "collection";

/// The key and document columns.
pub(crate) const ID: &str = "_id";
/// The column holding the whole document.
pub(crate) const DOCUMENT: &str = "document";

/// What `listCollections` says about one name.
#[derive(Clone, Debug)]
pub(crate) struct CollectionInfo {
    /// Collection or view name.
    pub name: String,
    /// `collection`, `view` or `timeseries`.
    pub kind: String,
    /// The `options` document, as the server gave it.
    pub options: Document,
}

impl CollectionInfo {
    /// Whether this is a view.
    pub fn is_view(&self) -> bool {
        self.kind == "view"
    }

    /// Whether the collection is capped.
    pub fn is_capped(&self) -> bool {
        self.options.get_bool("capped").unwrap_or(false)
    }

    /// Whether the collection has a default collation other than
    /// `simple` (so queries sorting strings must ask for `simple`).
    pub fn has_collation(&self) -> bool {
        self.options
            .get_document("collation")
            .is_ok_and(|c| c.get_str("locale").ok() != Some("simple"))
    }
}

/// Whether a collection name belongs to the server or to tresor itself.
pub(crate) fn is_internal(name: &str) -> bool {
    name.starts_with("system.") || name.starts_with(TMP_PREFIX)
}

/// Every user collection and view of `db`, by name.
///
/// # Errors
/// Driver errors.
pub(crate) async fn list_collections(db: &Database) -> Result<Vec<CollectionInfo>, SourceError> {
    let context = || format!("cannot list the collections of database {}", db.name());
    let cursor = db
        .run_cursor_command(doc! { "listCollections": 1 })
        .await
        .map_err(|e| mongo_error(context(), e))?;
    let specs: Vec<Document> = cursor
        .try_collect()
        .await
        .map_err(|e| mongo_error(context(), e))?;
    let mut out: Vec<CollectionInfo> = specs
        .into_iter()
        .filter_map(|spec| {
            let name = spec.get_str("name").ok()?.to_string();
            if is_internal(&name) {
                return None;
            }
            Some(CollectionInfo {
                kind: spec.get_str("type").unwrap_or("collection").to_string(),
                options: spec.get_document("options").cloned().unwrap_or_default(),
                name,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The index specifications of `collection`, `_id_` excluded, by name.
///
/// # Errors
/// Driver errors.
pub(crate) async fn list_indexes(
    db: &Database,
    collection: &str,
) -> Result<Vec<Document>, SourceError> {
    let context = || format!("cannot list the indexes of collection {collection}");
    let cursor = match db
        .run_cursor_command(doc! { "listIndexes": collection })
        .await
    {
        Ok(c) => c,
        Err(e)
            if crate::error::server_code(&e) == Some(crate::error::code::NAMESPACE_NOT_FOUND) =>
        {
            return Ok(Vec::new());
        }
        Err(e) => return Err(mongo_error(context(), e)),
    };
    let mut specs: Vec<Document> = cursor
        .try_collect()
        .await
        .map_err(|e| mongo_error(context(), e))?;
    specs.retain(|s| s.get_str("name").ok() != Some("_id_"));
    for s in &mut specs {
        s.remove("ns");
    }
    specs.sort_by(|a, b| {
        a.get_str("name")
            .unwrap_or("")
            .cmp(b.get_str("name").unwrap_or(""))
    });
    Ok(specs)
}

/// A document as canonical Extended JSON (exact bytes preserved).
pub(crate) fn to_json(d: &Document) -> Result<Json, SourceError> {
    let bytes = d.to_vec().map_err(|e| bson_error("schema metadata", e))?;
    Ok(document_to_json(&bytes))
}

/// The document [`to_json`] wrote.
pub(crate) fn from_json(j: &Json, what: &str) -> Result<RawDocumentBuf, SourceError> {
    let bytes = document_from_json(j)
        .map_err(|e| SourceError::data(format!("{what}: invalid extended json: {e}")))?;
    RawDocumentBuf::from_bytes(bytes).map_err(|e| bson_error(what, e))
}

/// The schema of one collection.
///
/// # Errors
/// Metadata that does not serialize.
pub(crate) fn table_schema(
    info: &CollectionInfo,
    indexes: &[Document],
) -> Result<TableSchema, SourceError> {
    let mut id = Column::new(ID, "any", PortableType::Dynamic);
    id.nullable = false;
    let mut document = Column::new(DOCUMENT, "object", PortableType::Document);
    document.nullable = false;
    let mut extra = BTreeMap::new();
    extra.insert("type".to_string(), Json::String(info.kind.clone()));
    extra.insert("options".to_string(), to_json(&info.options)?);
    let indexes = indexes
        .iter()
        .map(index_model)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TableSchema {
        name: TableName::new(&info.name),
        kind: KIND.to_string(),
        columns: vec![id, document],
        primary_key: vec![ID.to_string()],
        row_key: RowKey::Columns {
            columns: vec![ID.to_string()],
        },
        constraints: Vec::new(),
        indexes,
        foreign_keys: Vec::new(),
        ddl: None,
        auto_increment: None,
        comment: None,
        extra,
    })
}

fn index_model(spec: &Document) -> Result<Index, SourceError> {
    let columns = spec
        .get_document("key")
        .map(|k| k.keys().cloned().collect())
        .unwrap_or_default();
    let mut extra = BTreeMap::new();
    extra.insert("spec".to_string(), to_json(spec)?);
    Ok(Index {
        name: spec.get_str("name").unwrap_or_default().to_string(),
        columns,
        unique: spec.get_bool("unique").unwrap_or(false),
        ddl: None,
        extra,
    })
}

/// A view as a schema object: its `create` command is the DDL.
///
/// # Errors
/// Metadata that does not serialize.
pub(crate) fn view_object(info: &CollectionInfo) -> Result<SchemaObject, SourceError> {
    let mut command = doc! { "create": &info.name };
    for (k, v) in &info.options {
        command.insert(k.clone(), v.clone());
    }
    let json = to_json(&command)?;
    let mut extra = BTreeMap::new();
    extra.insert("options".to_string(), to_json(&info.options)?);
    Ok(SchemaObject {
        kind: "view".to_string(),
        name: TableName::new(&info.name),
        ddl: json.to_string(),
        table: info.options.get_str("viewOn").ok().map(TableName::new),
        extra,
    })
}

/// The collection options recorded in a table schema.
///
/// # Errors
/// A schema that does not come from this adapter.
pub(crate) fn options_of(table: &TableSchema) -> Result<RawDocumentBuf, SourceError> {
    match table.extra.get("options") {
        Some(j) => from_json(j, &format!("options of collection {}", table.name)),
        None => Ok(RawDocumentBuf::new()),
    }
}

/// The collection type recorded in a table schema.
pub(crate) fn type_of(table: &TableSchema) -> &str {
    table
        .extra
        .get("type")
        .and_then(Json::as_str)
        .unwrap_or("collection")
}

/// The index specifications recorded in a table schema.
///
/// # Errors
/// A schema that does not come from this adapter.
pub(crate) fn index_specs(table: &TableSchema) -> Result<Vec<RawDocumentBuf>, SourceError> {
    table
        .indexes
        .iter()
        .map(|i| match i.extra.get("spec") {
            Some(j) => from_json(j, &format!("index {} of {}", i.name, table.name)),
            None => Err(SourceError::new(
                tresor_core::ErrorKind::SchemaMismatch,
                format!(
                    "index {} of {} has no mongodb specification",
                    i.name, table.name
                ),
            )),
        })
        .collect()
}

/// The `create` command for a collection (or view) named `name` with
/// `options`. A time-series `bucketMaxSpanSeconds` that the server derived
/// from `granularity` is left out: servers refuse both at once.
pub(crate) fn create_command(
    name: &str,
    options: &RawDocumentBuf,
) -> Result<RawDocumentBuf, SourceError> {
    let mut cmd = RawDocumentBuf::new();
    cmd.append(cstr!("create"), name);
    for el in options {
        let (k, v) = el.map_err(|e| bson_error("collection options", e))?;
        if k == "timeseries"
            && let Some(ts) = v.as_document()
        {
            let mut fixed = RawDocumentBuf::new();
            let has_granularity = ts.get("granularity").ok().flatten().is_some();
            for el in ts {
                let (k2, v2) = el.map_err(|e| bson_error("time-series options", e))?;
                if has_granularity && k2 == "bucketMaxSpanSeconds" {
                    continue;
                }
                fixed.append(k2, v2);
            }
            cmd.append(k, fixed);
            continue;
        }
        cmd.append(k, v);
    }
    Ok(cmd)
}

/// The `createIndexes` command for `specs` on `collection`, or `None`
/// when there is nothing to build. A clustered collection's index comes
/// with the collection (`clusteredIndex` option), so it is left out.
pub(crate) fn create_indexes_command(
    collection: &str,
    specs: &[RawDocumentBuf],
) -> Option<RawDocumentBuf> {
    let mut arr = mongodb::bson::raw::RawArrayBuf::new();
    let mut any = false;
    for s in specs {
        if s.get_bool("clustered").unwrap_or(false) {
            continue;
        }
        arr.push(s.clone());
        any = true;
    }
    if !any {
        return None;
    }
    let mut cmd = RawDocumentBuf::new();
    cmd.append(cstr!("createIndexes"), collection);
    cmd.append(cstr!("indexes"), arr);
    Some(cmd)
}

/// A definition to compare collections by: type, options and index
/// specifications, each as canonical JSON.
pub(crate) fn definition(kind: &str, options: &Json, indexes: &[Json]) -> Json {
    let mut idx: Vec<String> = indexes.iter().map(Json::to_string).collect();
    idx.sort();
    serde_json::json!({ "type": kind, "options": options, "indexes": idx })
}

/// The definition a snapshot's table asks for.
pub(crate) fn table_definition(table: &TableSchema) -> Json {
    let indexes: Vec<Json> = table
        .indexes
        .iter()
        .filter_map(|i| i.extra.get("spec").cloned())
        .collect();
    definition(
        type_of(table),
        table.extra.get("options").unwrap_or(&Json::Null),
        &indexes,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::rawdoc;

    #[test]
    fn options_round_trip_through_json() {
        let options = doc! {
            "capped": true, "size": 4096i64, "max": 10,
            "validator": { "$jsonSchema": { "required": ["name"] } },
            "collation": { "locale": "fr", "strength": 2 },
        };
        let info = CollectionInfo {
            name: "c".into(),
            kind: "collection".into(),
            options: options.clone(),
        };
        let t = table_schema(
            &info,
            &[doc! { "v": 2, "key": { "a": 1, "b": -1 }, "name": "ab", "unique": true }],
        )
        .expect("schema");
        assert_eq!(t.indexes[0].columns, ["a", "b"]);
        assert!(t.indexes[0].unique);
        let back = options_of(&t).expect("options");
        assert_eq!(back.as_bytes(), options.to_vec().expect("bytes"));
        let cmd = create_command("c", &back).expect("cmd");
        assert_eq!(cmd.get_str("create").expect("create"), "c");
        assert!(info.is_capped() && info.has_collation());
        let specs = index_specs(&t).expect("specs");
        assert_eq!(specs[0].get_str("name").expect("name"), "ab");
    }

    #[test]
    fn time_series_granularity_drops_derived_span() {
        let o = rawdoc! { "timeseries": { "timeField": "t", "granularity": "hours", "bucketMaxSpanSeconds": 2_592_000 } };
        let cmd = create_command("ts", &o).expect("cmd");
        let ts = cmd.get_document("timeseries").expect("ts");
        assert!(ts.get("bucketMaxSpanSeconds").expect("get").is_none());
        assert_eq!(ts.get_str("granularity").expect("g"), "hours");
    }
}
