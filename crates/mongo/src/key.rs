//! The row key of a document: its `_id` as a [`Value`], and the type
//! buckets that let a collection stream in [`compare_keys`] order.
//!
//! `_id` maps to: ObjectId -> [`Value::Bytes`] (its 12 bytes), string ->
//! [`Value::Text`], int32 and int64 -> [`Value::Int`], double ->
//! [`Value::F64`], anything else -> [`Value::Document`] holding the
//! one-field document `{"_id": x}` (a typed fallback that keeps the exact
//! value). Under [`compare_keys`] these classes order numbers < text <
//! bytes < documents, so a collection is read bucket by bucket in that
//! order, each bucket sorted by the server.
//!
//! [`compare_keys`]: tresor_core::compare_keys

use mongodb::bson::raw::RawDocument;
use mongodb::bson::{Document, doc};
use tresor_core::{SourceError, Value};

/// The `_id` types of a bucket, in stream order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bucket {
    /// int32, int64 and double, compared by numeric value.
    Numbers,
    /// Strings, compared byte-wise (simple collation).
    Strings,
    /// ObjectIds, compared by their 12 bytes.
    ObjectIds,
    /// Every other type: the typed fallback, ordered client-side.
    Others,
}

/// `$type` aliases of the server-sorted buckets.
const NUMBER_TYPES: [&str; 3] = ["int", "long", "double"];

impl Bucket {
    /// Every bucket, in [`tresor_core::compare_keys`] order.
    pub const ALL: [Bucket; 4] = [
        Bucket::Numbers,
        Bucket::Strings,
        Bucket::ObjectIds,
        Bucket::Others,
    ];

    /// The query that selects the bucket's documents.
    pub fn filter(self) -> Document {
        match self {
            Bucket::Numbers => doc! { "_id": { "$type": NUMBER_TYPES.to_vec() } },
            Bucket::Strings => doc! { "_id": { "$type": "string" } },
            Bucket::ObjectIds => doc! { "_id": { "$type": "objectId" } },
            Bucket::Others => doc! { "_id": { "$not": { "$type": [
                NUMBER_TYPES[0], NUMBER_TYPES[1], NUMBER_TYPES[2], "string", "objectId"
            ] } } },
        }
    }
}

/// The key value of a document's `_id` (see [`tresor_core::document_key`]).
///
/// # Errors
/// A document without `_id`, or invalid BSON.
pub(crate) fn document_key(doc: &RawDocument) -> Result<Value, SourceError> {
    tresor_core::document_key(doc.as_bytes()).map_err(SourceError::data)
}

pub(crate) use tresor_core::id_value;

/// The bucket a key value belongs to.
#[cfg(test)]
fn bucket_of(key: &Value) -> Bucket {
    match key {
        Value::Int(_) | Value::F64(_) => Bucket::Numbers,
        Value::Text(_) => Bucket::Strings,
        Value::Bytes(_) => Bucket::ObjectIds,
        _ => Bucket::Others,
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use mongodb::bson::oid::ObjectId;
    use mongodb::bson::raw::{RawBsonRef, RawDocumentBuf};
    use mongodb::bson::{Bson, DateTime, Decimal128, rawdoc};
    use tresor_core::compare_keys;

    use super::*;

    fn key(v: impl Into<Bson>) -> Value {
        let d = RawDocumentBuf::try_from(&doc! { "_id": v.into(), "x": 1 }).expect("doc");
        document_key(&d).expect("key")
    }

    #[test]
    fn maps_id_types() {
        let oid = ObjectId::new();
        assert_eq!(key(oid), Value::Bytes(oid.bytes().to_vec()));
        assert_eq!(key("a"), Value::Text("a".into()));
        assert_eq!(key(7i32), Value::Int(7));
        assert_eq!(key(7i64), Value::Int(7));
        assert_eq!(key(1.5f64), Value::F64(1.5));
        let d = key(DateTime::from_millis(-5));
        let Value::Document(bytes) = &d else {
            panic!("{d:?}")
        };
        let back = RawDocument::from_bytes(bytes).expect("fallback");
        assert_eq!(
            back.get("_id").expect("get"),
            Some(RawBsonRef::DateTime(DateTime::from_millis(-5)))
        );
        assert_eq!(bucket_of(&d), Bucket::Others);
    }

    #[test]
    fn buckets_follow_key_order() {
        let samples = [
            key(-3i64),
            key(2.5f64),
            key("a"),
            key(ObjectId::new()),
            key(Decimal128::from_bytes([0; 16])),
            key(doc! { "a": 1 }),
            key(Bson::Null),
        ];
        for a in &samples {
            for b in &samples {
                let (ba, bb) = (bucket_of(a), bucket_of(b));
                let pa = Bucket::ALL.iter().position(|x| *x == ba);
                let pb = Bucket::ALL.iter().position(|x| *x == bb);
                if pa < pb {
                    assert_eq!(
                        compare_keys(std::slice::from_ref(a), std::slice::from_ref(b)),
                        Ordering::Less,
                        "{a:?} < {b:?}"
                    );
                }
            }
        }
        let missing = rawdoc! { "x": 1 };
        assert!(document_key(&missing).is_err());
    }
}
