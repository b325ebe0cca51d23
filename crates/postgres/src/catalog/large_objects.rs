//! Large objects (`lo_create`, `lo_import`: the files some applications
//! keep in `pg_largeobject` and reference by `oid` columns) as one
//! table-like stream, `pg_catalog.pg_largeobject`: a row per object and
//! part of [`PART_SIZE`] bytes, keyed by (object id, part). Backups, diffs,
//! drills, exports and the incremental comparison then treat them as rows,
//! so a changed object costs the parts that changed. The bytes are read
//! with `lo_get` inside the snapshot transaction, as `pg_dump` reads them,
//! so this needs the privilege to read each object, not superuser.
//!
//! Owners, grants and comments ride along in the table's `extra`; the
//! target gives back comments always and owners and grants with
//! `--with-privileges`.

use std::collections::BTreeMap;

use serde_json::json;
use tokio_postgres::Client;
use tresor_core::{Column, PortableType, RowKey, SourceError, TableFilter, TableName, TableSchema};

use super::ReadPlan;
use crate::decode::ColumnDecoder;
use crate::error::pg_error;
use crate::types::{Codec, TypeMap};

/// The bytes of one part: small enough that a row stays small, large
/// enough that a file of a few megabytes is a handful of rows.
pub(crate) const PART_SIZE: i64 = 256 * 1024;

/// The name the stream has in snapshots, filters and previews.
pub(crate) fn table_name() -> TableName {
    TableName {
        schema: Some("pg_catalog".into()),
        name: "pg_largeobject".into(),
    }
}

/// `lo_open`'s read mode.
const INV_READ: i32 = 0x40000;

/// The `SELECT` listing every object's id, part and bytes, in key order.
/// Sizes come from `lo_lseek64` on a read descriptor, all within one
/// statement, so a concurrent writer changes nothing that is read.
fn parts_query() -> String {
    format!(
        "WITH o AS MATERIALIZED (SELECT m.oid AS loid, pg_catalog.lo_open(m.oid, {INV_READ}) AS fd \
                                 FROM pg_catalog.pg_largeobject_metadata m), \
              s AS MATERIALIZED (SELECT loid, pg_catalog.lo_lseek64(fd, 0, 2) AS size, \
                                        pg_catalog.lo_close(fd) AS closed FROM o) \
         SELECT s.loid::pg_catalog.int8 AS loid, p.part, \
                pg_catalog.lo_get(s.loid, p.part::pg_catalog.int8 * {PART_SIZE}, {PART_SIZE}) AS data \
         FROM s CROSS JOIN LATERAL pg_catalog.generate_series(0, \
              GREATEST((s.size - 1) / {PART_SIZE}, 0)::pg_catalog.int4) AS p(part) \
         ORDER BY 1, 2"
    )
}

/// How many parts the objects of the database `client` is connected to
/// make, or `None` when it has no large object.
pub(crate) async fn count_parts(client: &Client) -> Result<Option<u64>, SourceError> {
    let row = client
        .query_one(
            &format!(
                "WITH o AS MATERIALIZED (SELECT pg_catalog.lo_open(m.oid, {INV_READ}) AS fd \
                                         FROM pg_catalog.pg_largeobject_metadata m) \
                 SELECT count(*), COALESCE(sum(GREATEST((pg_catalog.lo_lseek64(fd, 0, 2) - 1) / {PART_SIZE}, 0) + 1), 0)::pg_catalog.int8 \
                 FROM o"
            ),
            &[],
        )
        .await
        .map_err(|e| pg_error("cannot count the large objects", e))?;
    let objects: i64 = row.get(0);
    let parts: i64 = row.get(1);
    Ok((objects > 0).then_some(parts.max(0) as u64))
}

/// The stream's table and read plan, when the database has large objects
/// and `filter` selects `pg_catalog.pg_largeobject`.
pub(crate) async fn capture(
    client: &Client,
    filter: &TableFilter,
    types: &TypeMap,
) -> Result<Option<(TableSchema, ReadPlan)>, SourceError> {
    let name = table_name();
    if !filter.matches(&name) {
        return Ok(None);
    }
    let rows = client
        .query(
            "SELECT m.oid::pg_catalog.int8, pg_catalog.pg_get_userbyid(m.lomowner), \
                    pg_catalog.obj_description(m.oid, 'pg_largeobject') \
             FROM pg_catalog.pg_largeobject_metadata m ORDER BY m.oid",
            &[],
        )
        .await
        .map_err(|e| pg_error("cannot list the large objects", e))?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut owners = BTreeMap::new();
    let mut comments = BTreeMap::new();
    for r in &rows {
        let id: i64 = r.get(0);
        owners.insert(id.to_string(), json!(r.get::<_, String>(1)));
        if let Some(c) = r.get::<_, Option<String>>(2) {
            comments.insert(id.to_string(), json!(c));
        }
    }
    let mut grants = Vec::new();
    for r in client
        .query(
            "SELECT m.oid::pg_catalog.int8, a.privilege_type, \
                    CASE WHEN a.grantee = 0 THEN 'PUBLIC' \
                         ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, \
                    a.is_grantable \
             FROM pg_catalog.pg_largeobject_metadata m, pg_catalog.aclexplode(m.lomacl) a \
             WHERE a.grantee <> m.lomowner ORDER BY 1, 2, 3",
            &[],
        )
        .await
        .map_err(|e| pg_error("cannot read the grants of the large objects", e))?
    {
        let (id, privilege, grantee, grantable): (i64, String, String, bool) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        grants.push(json!(format!(
            "GRANT {privilege} ON LARGE OBJECT {id} TO {grantee}{}",
            if grantable { " WITH GRANT OPTION" } else { "" }
        )));
    }
    let mut extra = BTreeMap::new();
    extra.insert("part_size".into(), json!(PART_SIZE));
    extra.insert("owners".into(), json!(owners));
    if !comments.is_empty() {
        extra.insert("comments".into(), json!(comments));
    }
    if !grants.is_empty() {
        extra.insert("grants".into(), json!(grants));
    }
    let column = |name: &str, engine_type: &str, portable: PortableType| Column {
        nullable: false,
        ..Column::new(name, engine_type, portable)
    };
    let table = TableSchema {
        name,
        kind: TableSchema::LARGE_OBJECTS.into(),
        columns: vec![
            column(
                "loid",
                "bigint",
                PortableType::Int {
                    bits: 64,
                    unsigned: false,
                },
            ),
            column(
                "part",
                "integer",
                PortableType::Int {
                    bits: 32,
                    unsigned: false,
                },
            ),
            column(
                "data",
                "bytea",
                PortableType::Bytes {
                    max_len: None,
                    fixed: false,
                },
            ),
        ],
        primary_key: vec!["loid".into(), "part".into()],
        row_key: RowKey::Columns {
            columns: vec!["loid".into(), "part".into()],
        },
        constraints: Vec::new(),
        indexes: Vec::new(),
        foreign_keys: Vec::new(),
        ddl: None,
        auto_increment: None,
        comment: None,
        extra,
    };
    let decoder = |typid: u32, type_name: &str| ColumnDecoder {
        codec: Codec::for_type(types, typid),
        type_name: type_name.into(),
    };
    let plan = ReadPlan {
        copy_sql: format!("COPY ({}) TO STDOUT (FORMAT binary)", parts_query()),
        unordered_sql: None,
        decoders: vec![
            decoder(20, "bigint"),
            decoder(23, "integer"),
            decoder(17, "bytea"),
        ],
    };
    Ok(Some((table, plan)))
}
