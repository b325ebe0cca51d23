//! Streaming one collection in key order.

use std::cmp::Ordering;
use std::collections::HashMap;

use futures::TryStreamExt;
use mongodb::bson::raw::{RawArrayBuf, RawDocument, RawDocumentBuf};
use mongodb::bson::{Bson, Document, Timestamp, doc};
use mongodb::{ClientSession, Collection};
use tresor_core::{
    BATCH_BYTES, BATCH_ROWS, Row, RowBatch, RowSender, SourceError, Value, compare_values,
};

use crate::error::{bson_error, mongo_error};
use crate::key::{Bucket, document_key, id_value};
use crate::url::Connection;

/// Documents per fetch of the client-side ordered bucket.
const FETCH_KEYS: usize = 1024;

/// Streams every document of `name` into `rows`, bucket by bucket, and
/// returns the number sent.
pub(super) async fn read_collection(
    conn: &Connection,
    name: &str,
    snapshot_time: Option<Timestamp>,
    collation: bool,
    rows: RowSender,
) -> Result<u64, SourceError> {
    let mut session = match snapshot_time {
        Some(t) => {
            conn.client
                .start_session()
                .snapshot(true)
                .snapshot_time(t)
                .await
        }
        None => conn.client.start_session().await,
    }
    .map_err(|e| mongo_error("cannot start a session", e))?;
    let coll = conn.db.collection::<RawDocumentBuf>(name);
    let mut out = Batcher::new(name, rows);
    for bucket in Bucket::ALL {
        // a collection's default collation orders strings by locale (and
        // servers differ in honouring a `simple` collation on the query),
        // so collated strings are ordered here like the other types
        if bucket == Bucket::Others || (collation && bucket == Bucket::Strings) {
            read_client_ordered(&coll, &mut session, bucket, &mut out).await?;
        } else {
            read_sorted(&coll, &mut session, bucket, &mut out).await?;
        }
    }
    out.finish().await
}

/// A bucket the server sorts in key order.
async fn read_sorted(
    coll: &Collection<RawDocumentBuf>,
    session: &mut ClientSession,
    bucket: Bucket,
    out: &mut Batcher,
) -> Result<(), SourceError> {
    let context = || format!("cannot read collection {}", coll.name());
    let mut cursor = coll
        .find(bucket.filter())
        .sort(doc! { "_id": 1 })
        .batch_size(BATCH_ROWS as u32)
        .session(&mut *session)
        .batch()
        .await
        .map_err(|e| mongo_error(context(), e))?;
    let mut stream = cursor.stream(session);
    while let Some(batch) = stream
        .try_next()
        .await
        .map_err(|e| mongo_error(context(), e))?
    {
        let docs = batch.doc_slices().map_err(|e| mongo_error(context(), e))?;
        for item in docs {
            let item = item.map_err(|e| bson_error(coll.name(), e))?;
            let doc = item.as_document().ok_or_else(|| {
                SourceError::data(format!("{}: a result is not a document", coll.name()))
            })?;
            out.push(doc).await?;
        }
    }
    Ok(())
}

/// A bucket the server orders differently from tresor's key order: the
/// keys alone are read and sorted in memory, then the documents fetched
/// `FETCH_KEYS` at a time with `$in`.
async fn read_client_ordered(
    coll: &Collection<RawDocumentBuf>,
    session: &mut ClientSession,
    bucket: Bucket,
    out: &mut Batcher,
) -> Result<(), SourceError> {
    let context = || format!("cannot read collection {}", coll.name());
    let mut keys: Vec<Value> = Vec::new();
    {
        let mut cursor = coll
            .find(bucket.filter())
            .projection(doc! { "_id": 1 })
            .batch_size(BATCH_ROWS as u32 * 8)
            .session(&mut *session)
            .batch()
            .await
            .map_err(|e| mongo_error(context(), e))?;
        let mut stream = cursor.stream(&mut *session);
        while let Some(batch) = stream
            .try_next()
            .await
            .map_err(|e| mongo_error(context(), e))?
        {
            for item in batch.doc_slices().map_err(|e| mongo_error(context(), e))? {
                let item = item.map_err(|e| bson_error(coll.name(), e))?;
                if let Some(doc) = item.as_document() {
                    keys.push(document_key(doc)?);
                }
            }
        }
    }
    if keys.is_empty() {
        return Ok(());
    }
    keys.sort_by(compare_values);
    for chunk in keys.chunks(FETCH_KEYS) {
        let mut ids = RawArrayBuf::new();
        for k in chunk {
            match k {
                Value::Document(bytes) => {
                    let d =
                        RawDocument::from_bytes(bytes).map_err(|e| bson_error(coll.name(), e))?;
                    if let Ok(Some(id)) = d.get("_id") {
                        ids.push(id);
                    }
                }
                Value::Text(s) => ids.push(s.as_str()),
                _ => {}
            }
        }
        let mut filter = bucket.filter();
        let ids_doc = {
            let mut holder = RawDocumentBuf::new();
            holder.append(mongodb::bson::raw::cstr!("ids"), ids);
            Document::try_from(holder.as_ref()).map_err(|e| bson_error(coll.name(), e))?
        };
        let ids = ids_doc
            .get("ids")
            .cloned()
            .unwrap_or(Bson::Array(Vec::new()));
        filter.insert("$and", vec![Bson::Document(doc! { "_id": { "$in": ids } })]);
        let mut found: HashMap<KeyBytes, RawDocumentBuf> = HashMap::with_capacity(chunk.len());
        let mut cursor = coll
            .find(filter)
            .batch_size(chunk.len() as u32)
            .session(&mut *session)
            .await
            .map_err(|e| mongo_error(context(), e))?;
        let mut stream = cursor.stream(&mut *session);
        while let Some(doc) = stream
            .try_next()
            .await
            .map_err(|e| mongo_error(context(), e))?
        {
            if let Some(k) = KeyBytes::of(document_key(&doc)?) {
                found.insert(k, doc);
            }
        }
        drop(stream);
        for k in chunk {
            // documents deleted since the keys were read (no snapshot) are
            // simply absent
            let Some(k) = KeyBytes::of(k.clone()) else {
                continue;
            };
            if let Some(doc) = found.remove(&k) {
                out.push(&doc).await?;
            }
        }
    }
    Ok(())
}

/// The exact bytes of a text or fallback key, to match fetched documents
/// to the keys asked for.
#[derive(Hash, PartialEq, Eq)]
enum KeyBytes {
    Text(String),
    Doc(Vec<u8>),
}

impl KeyBytes {
    fn of(v: Value) -> Option<KeyBytes> {
        match v {
            Value::Text(s) => Some(KeyBytes::Text(s)),
            Value::Document(b) => Some(KeyBytes::Doc(b)),
            _ => None,
        }
    }
}

/// Cuts documents into row batches and checks the key order as they go.
struct Batcher {
    name: String,
    tx: RowSender,
    batch: RowBatch,
    bytes: usize,
    sent: u64,
    /// The last key of the previous batch (the current batch's last row
    /// holds the latest one otherwise).
    last: Option<Value>,
}

impl Batcher {
    fn new(name: &str, tx: RowSender) -> Self {
        Batcher {
            name: name.to_string(),
            tx,
            batch: Vec::with_capacity(BATCH_ROWS),
            bytes: 0,
            sent: 0,
            last: None,
        }
    }

    async fn push(&mut self, doc: &RawDocument) -> Result<(), SourceError> {
        let key = match doc.get("_id") {
            Ok(Some(id)) => id_value(id),
            _ => document_key(doc)?,
        };
        let prev = self.batch.last().map(|r| &r[0]).or(self.last.as_ref());
        if let Some(prev) = prev
            && compare_values(prev, &key) != Ordering::Less
        {
            {
                return Err(SourceError::data(format!(
                    "collection {}: _id {key:?} arrived after {prev:?}, which breaks the row key \
                     order (mixed int64 and double _id values that a double cannot tell apart, \
                     and NaN, have no place in it)",
                    self.name
                )));
            }
        }
        let bytes = doc.as_bytes();
        self.bytes += bytes.len();
        let row: Row = vec![key, Value::Document(bytes.to_vec())];
        self.batch.push(row);
        if self.batch.len() >= BATCH_ROWS || self.bytes >= BATCH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), SourceError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_ROWS));
        self.last = batch.last().map(|r| r[0].clone());
        self.sent += batch.len() as u64;
        self.bytes = 0;
        self.tx
            .send(batch)
            .await
            .map_err(|_| SourceError::cancelled())
    }

    async fn finish(mut self) -> Result<u64, SourceError> {
        self.flush().await?;
        Ok(self.sent)
    }
}
