//! Writing documents: in the transaction while it holds, else (or once
//! it outgrows its budget) into the temporary collections.

use std::collections::BTreeMap;

use mongodb::bson::raw::{RawArrayBuf, RawDocumentBuf, cstr};
use mongodb::bson::{Document, doc};
use mongodb::{ClientSession, Database};
use tresor_core::{ErrorKind, RestoreMode, RowReceiver, SourceError, TableSchema, Value};

use super::session::{MongoSession, Path, TXN_MAX_AGE, TXN_MAX_BYTES, TXN_MAX_DOCS, run};
use crate::catalog::{self, TMP_PREFIX};
use crate::error::{bson_error, mongo_error};

/// Documents per write command (`insert` batches are split further by
/// the driver at the server's message size).
const WRITE_BATCH_DOCS: usize = 4096;

/// Bytes per write command; an `update` command must stay within 16 MiB.
const WRITE_BATCH_BYTES: usize = 8 << 20;

impl MongoSession {
    /// Writes one collection's documents (the body of `load_table`).
    pub(super) async fn load_rows(
        &mut self,
        table: &TableSchema,
        mut rows: RowReceiver,
    ) -> Result<u64, SourceError> {
        let Some(i) = self.planned.iter().position(|p| p.table.name == table.name) else {
            return Err(SourceError::new(
                ErrorKind::SchemaMismatch,
                format!("collection {} is not in the restore plan", table.name),
            ));
        };
        let width = table.stored_columns().count();
        let doc_pos = table
            .stored_columns()
            .position(|c| c.name == catalog::DOCUMENT)
            .ok_or_else(|| {
                SourceError::new(
                    ErrorKind::SchemaMismatch,
                    format!("collection {} has no document column", table.name),
                )
            })?;
        let mut written = 0u64;
        let mut batch: Vec<RawDocumentBuf> = Vec::with_capacity(WRITE_BATCH_DOCS);
        let mut bytes = 0usize;
        while let Some(chunk) = rows.recv().await {
            for row in chunk {
                if row.len() != width {
                    return Err(SourceError::data(format!(
                        "collection {}: a row has {} values, expected {width} (_id, document)",
                        table.name,
                        row.len()
                    )));
                }
                let Some(Value::Document(bytes_of_doc)) = row.into_iter().nth(doc_pos) else {
                    return Err(SourceError::data(format!(
                        "collection {}: a row holds no bson document",
                        table.name
                    )));
                };
                let doc = RawDocumentBuf::from_bytes(bytes_of_doc)
                    .map_err(|e| bson_error(format!("collection {}", table.name), e))?;
                bytes += doc.as_bytes().len();
                batch.push(doc);
                if batch.len() >= WRITE_BATCH_DOCS || bytes >= WRITE_BATCH_BYTES {
                    written += batch.len() as u64;
                    self.write(i, std::mem::take(&mut batch)).await?;
                    bytes = 0;
                }
            }
        }
        if !batch.is_empty() {
            written += batch.len() as u64;
            self.write(i, batch).await?;
        }
        *self.counts.entry(table.name.to_string()).or_default() += written;
        Ok(written)
    }

    /// Gives up the transaction for temporary collections and writes the
    /// documents the transaction had written into them.
    pub(super) async fn fall_back(&mut self, reason: String) -> Result<(), SourceError> {
        let written = match std::mem::replace(&mut self.path, Path::Swap) {
            Path::Txn {
                mut session,
                written,
                ..
            } => {
                let _ = session.abort_transaction().await;
                written
            }
            Path::Swap => BTreeMap::new(),
        };
        tracing::info!("mongodb restore leaves its transaction: {reason}");
        self.fell_back = Some(reason);
        self.begin_swap().await?;
        for p in &self.planned {
            if let Some(docs) = written.get(&p.name) {
                for chunk in docs.chunks(WRITE_BATCH_DOCS) {
                    write_docs(&self.conn.db, &p.tmp, chunk, self.mode, None).await?;
                }
            }
        }
        Ok(())
    }

    /// Writes one batch of documents of planned collection `i`.
    pub(super) async fn write(
        &mut self,
        i: usize,
        docs: Vec<RawDocumentBuf>,
    ) -> Result<(), SourceError> {
        let bytes: usize = docs.iter().map(|d| d.as_bytes().len()).sum();
        if let Path::Txn {
            started,
            bytes: b,
            docs: n,
            ..
        } = &self.path
        {
            let over = if *b + bytes > TXN_MAX_BYTES {
                Some(format!("the data outgrew {} MiB", TXN_MAX_BYTES >> 20))
            } else if *n + docs.len() as u64 > TXN_MAX_DOCS {
                Some(format!("the data outgrew {TXN_MAX_DOCS} documents"))
            } else if started.elapsed() > TXN_MAX_AGE {
                Some(format!(
                    "the transaction ran longer than {} s",
                    TXN_MAX_AGE.as_secs()
                ))
            } else {
                None
            };
            if let Some(reason) = over {
                self.fall_back(reason).await?;
            }
        }
        let p = &self.planned[i];
        match &mut self.path {
            Path::Txn {
                session,
                bytes: b,
                docs: n,
                written,
                ..
            } => {
                *b += bytes;
                *n += docs.len() as u64;
                let kept = written.entry(p.name.clone()).or_default();
                let start = kept.len();
                kept.extend(docs);
                write_docs(
                    &self.conn.db,
                    &p.name,
                    &kept[start..],
                    self.mode,
                    Some(&mut **session),
                )
                .await
            }
            Path::Swap => write_docs(&self.conn.db, &p.tmp, &docs, self.mode, None).await,
        }
    }
}

/// Inserts (`replace`) or upserts by `_id` (`merge`) `docs` into `coll`.
pub(super) async fn write_docs(
    db: &Database,
    coll: &str,
    docs: &[RawDocumentBuf],
    mode: RestoreMode,
    mut session: Option<&mut ClientSession>,
) -> Result<(), SourceError> {
    if docs.is_empty() {
        return Ok(());
    }
    let context = || format!("cannot write documents into collection {}", shown(coll));
    match mode {
        RestoreMode::Replace => {
            let c = db.collection::<RawDocumentBuf>(coll);
            let action = c.insert_many(docs).ordered(true);
            match session {
                Some(s) => action.session(s).await,
                None => action.await,
            }
            .map(|_| ())
            .map_err(|e| mongo_error(context(), e))
        }
        RestoreMode::Merge => {
            let mut start = 0;
            while start < docs.len() {
                let mut end = start;
                let mut bytes = 0;
                let mut updates = RawArrayBuf::new();
                while end < docs.len()
                    && (end == start || bytes + docs[end].as_bytes().len() < WRITE_BATCH_BYTES)
                {
                    let d = &docs[end];
                    bytes += d.as_bytes().len();
                    let id = d
                        .get("_id")
                        .map_err(|e| bson_error(coll, e))?
                        .ok_or_else(|| {
                            SourceError::data(format!("{}: a document has no _id", shown(coll)))
                        })?;
                    let mut q = RawDocumentBuf::new();
                    q.append(cstr!("_id"), id);
                    let mut stmt = RawDocumentBuf::new();
                    stmt.append(cstr!("q"), q);
                    stmt.append(cstr!("u"), d.clone());
                    stmt.append(cstr!("upsert"), true);
                    updates.push(stmt);
                    end += 1;
                }
                let mut cmd = RawDocumentBuf::new();
                cmd.append(cstr!("update"), coll);
                cmd.append(cstr!("updates"), updates);
                cmd.append(cstr!("ordered"), true);
                let reply = run(db, cmd, session.as_deref_mut())
                    .await
                    .map_err(|e| e.context(context()))?;
                check_write_reply(&reply, start)
                    .map_err(|m| SourceError::data(format!("{}: {m}", context())))?;
                start = end;
            }
            Ok(())
        }
    }
}

/// The first write error of a write command's reply, as text.
fn check_write_reply(reply: &Document, offset: usize) -> Result<(), String> {
    if let Ok(errors) = reply.get_array("writeErrors")
        && let Some(mongodb::bson::Bson::Document(e)) = errors.first()
    {
        {
            let index = e.get_i32("index").unwrap_or(0) as usize + offset;
            return Err(format!(
                "document {}: {} ({})",
                index + 1,
                e.get_str("errmsg").unwrap_or("write error"),
                e.get_i32("code").unwrap_or(0)
            ));
        }
    }
    if let Ok(e) = reply.get_document("writeConcernError") {
        return Err(format!(
            "write concern error: {} ({})",
            e.get_str("errmsg").unwrap_or(""),
            e.get_i32("code").unwrap_or(0)
        ));
    }
    Ok(())
}

/// A collection name for messages: temporaries by their real name.
fn shown(coll: &str) -> &str {
    match coll.strip_prefix(TMP_PREFIX) {
        Some(rest) => rest.splitn(3, '_').nth(2).unwrap_or(coll),
        None => coll,
    }
}

/// Copies every document of `from` into `to` (natural order, so capped
/// collections keep theirs).
pub(super) async fn copy_documents(db: &Database, from: &str, to: &str) -> Result<(), SourceError> {
    use futures::TryStreamExt;
    let context = || format!("cannot copy collection {from}");
    let mut cursor = db
        .collection::<RawDocumentBuf>(from)
        .find(doc! {})
        .await
        .map_err(|e| mongo_error(context(), e))?;
    let mut batch = Vec::with_capacity(WRITE_BATCH_DOCS);
    let mut bytes = 0;
    while let Some(d) = cursor
        .try_next()
        .await
        .map_err(|e| mongo_error(context(), e))?
    {
        bytes += d.as_bytes().len();
        batch.push(d);
        if batch.len() >= WRITE_BATCH_DOCS || bytes >= WRITE_BATCH_BYTES {
            write_docs(db, to, &batch, RestoreMode::Replace, None).await?;
            batch.clear();
            bytes = 0;
        }
    }
    if !batch.is_empty() {
        write_docs(db, to, &batch, RestoreMode::Replace, None).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_are_shown_by_their_collection() {
        assert_eq!(shown("__tresor_tmp_1a2b_3_user_sessions"), "user_sessions");
        assert_eq!(shown("orders"), "orders");
    }

    #[test]
    fn write_errors_name_the_document() {
        let reply = doc! { "n": 1, "writeErrors": [ { "index": 2, "code": 121, "errmsg": "Document failed validation" } ] };
        let e = check_write_reply(&reply, 10).expect_err("error");
        assert!(e.contains("document 13"), "{e}");
        assert!(check_write_reply(&doc! { "n": 3, "ok": 1 }, 0).is_ok());
    }
}
