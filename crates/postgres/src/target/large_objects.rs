//! Loading the large-object stream (see `catalog/large_objects.rs`): the
//! parts go into a staging table by binary `COPY`, then each object is
//! made again with `lo_create` under its own id (the `oid` columns that
//! point at it stay right) and written with `lo_put`, all inside the
//! restore's transaction, so a failed restore leaves the objects as they
//! were. Replace mode removes the target's other large objects; merge mode
//! replaces only the objects the snapshot holds.

use bytes::BytesMut;
use futures::SinkExt;
use tokio_postgres::Client;
use tresor_core::{RestoreMode, RowReceiver, SourceError, TableSchema};

use super::finish::quote_literal;
use crate::catalog::large_objects::PART_SIZE;
use crate::encode::{ColumnEncoder, write_header, write_row, write_trailer};
use crate::error::pg_error;
use crate::types::{Codec, TypeMap};

const STAGE: &str = "pg_temp.tresor_large_objects";

async fn exec(client: &Client, sql: &str, what: &str) -> Result<(), SourceError> {
    client
        .batch_execute(sql)
        .await
        .map_err(|e| pg_error(what.to_string(), e))
}

/// Loads the parts `rows` brings and makes the objects again; returns the
/// number of parts.
pub(super) async fn load(
    client: &Client,
    types: &TypeMap,
    table: &TableSchema,
    mode: RestoreMode,
    mut rows: RowReceiver,
) -> Result<u64, SourceError> {
    const WHAT: &str = "cannot restore the large objects";
    exec(
        client,
        &format!(
            "CREATE TEMPORARY TABLE {STAGE} (loid pg_catalog.int8, part pg_catalog.int4, \
             data pg_catalog.bytea) ON COMMIT DROP"
        ),
        WHAT,
    )
    .await?;
    let encoder = |name: &str, typid: u32, type_name: &str| ColumnEncoder {
        name: name.into(),
        codec: Codec::for_type(types, typid),
        type_name: type_name.into(),
    };
    let encoders = [
        encoder("loid", 20, "bigint"),
        encoder("part", 23, "integer"),
        encoder("data", 17, "bytea"),
    ];
    let sink = client
        .copy_in::<_, bytes::Bytes>(&format!(
            "COPY {STAGE} (loid, part, data) FROM STDIN (FORMAT binary)"
        ))
        .await
        .map_err(|e| pg_error(WHAT, e))?;
    let mut sink = std::pin::pin!(sink);
    let mut buf = BytesMut::with_capacity(2 * PART_SIZE as usize);
    write_header(&mut buf);
    let mut count = 0u64;
    while let Some(batch) = rows.recv().await {
        for row in &batch {
            write_row(&encoders, row, &mut buf)
                .map_err(|e| SourceError::data(format!("large objects: {e}")))?;
        }
        count += batch.len() as u64;
        if buf.len() >= PART_SIZE as usize {
            sink.send(buf.split().freeze())
                .await
                .map_err(|e| pg_error(WHAT, e))?;
        }
    }
    write_trailer(&mut buf);
    sink.send(buf.split().freeze())
        .await
        .map_err(|e| pg_error(WHAT, e))?;
    sink.as_mut()
        .finish()
        .await
        .map_err(|e| pg_error(WHAT, e))?;

    let part_size = table
        .extra
        .get("part_size")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(PART_SIZE);
    let unlink = match mode {
        RestoreMode::Replace => {
            "SELECT pg_catalog.lo_unlink(m.oid) FROM pg_catalog.pg_largeobject_metadata m".into()
        }
        RestoreMode::Merge => format!(
            "SELECT pg_catalog.lo_unlink(m.oid) FROM pg_catalog.pg_largeobject_metadata m \
             WHERE m.oid IN (SELECT DISTINCT loid::pg_catalog.oid FROM {STAGE})"
        ),
    };
    let mut sql = vec![
        unlink,
        format!(
            "SELECT pg_catalog.lo_create(s.loid::pg_catalog.oid) \
             FROM (SELECT DISTINCT loid FROM {STAGE}) s"
        ),
        format!(
            "SELECT pg_catalog.lo_put(loid::pg_catalog.oid, part::pg_catalog.int8 * {part_size}, data) \
             FROM {STAGE} ORDER BY loid, part"
        ),
    ];
    if let Some(comments) = table.extra.get("comments").and_then(|c| c.as_object()) {
        for (id, text) in comments {
            if let (Ok(id), Some(text)) = (id.parse::<u32>(), text.as_str()) {
                sql.push(format!(
                    "COMMENT ON LARGE OBJECT {id} IS {}",
                    quote_literal(text)
                ));
            }
        }
    }
    sql.push(format!("DROP TABLE {STAGE}"));
    exec(client, &sql.join("; "), WHAT).await?;
    Ok(count)
}

/// `ALTER LARGE OBJECT ... OWNER TO` and the grants, for `--with-privileges`
/// (run after the roles are made).
pub(super) fn privileges(table: &TableSchema) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(owners) = table.extra.get("owners").and_then(|c| c.as_object()) {
        for (id, owner) in owners {
            if let (Ok(id), Some(owner)) = (id.parse::<u32>(), owner.as_str()) {
                out.push(format!(
                    "ALTER LARGE OBJECT {id} OWNER TO {}",
                    crate::types::ident(owner)
                ));
            }
        }
    }
    if let Some(grants) = table.extra.get("grants").and_then(|c| c.as_array()) {
        out.extend(grants.iter().filter_map(|g| g.as_str().map(str::to_string)));
    }
    out
}
