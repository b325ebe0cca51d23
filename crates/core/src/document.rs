//! The row key of a MongoDB document: its `_id` as a [`Value`].
//!
//! `_id` maps to: ObjectId -> [`Value::Bytes`] (its 12 bytes), string ->
//! [`Value::Text`], int32 and int64 -> [`Value::Int`], double ->
//! [`Value::F64`], anything else -> [`Value::Document`] holding the
//! one-field document `{"_id": x}` (a typed fallback that keeps the exact
//! value). The MongoDB engine keys rows by it, and an archive reading a
//! collection's canonical Extended JSON derives the same key back.

use bson::raw::{RawBsonRef, RawDocument, RawDocumentBuf, cstr};

use crate::Value;

/// The key value of the `_id` of the BSON document `bson`.
///
/// # Errors
/// A document without `_id`, or invalid BSON.
pub fn document_key(bson: &[u8]) -> Result<Value, String> {
    let doc = RawDocument::from_bytes(bson).map_err(|e| format!("invalid bson document: {e}"))?;
    match doc.get("_id") {
        Ok(Some(id)) => Ok(id_value(id)),
        Ok(None) => Err("a document has no _id".into()),
        Err(e) => Err(format!("a document's _id is not valid bson: {e}")),
    }
}

/// The key value of an `_id`.
pub fn id_value(id: RawBsonRef<'_>) -> Value {
    match id {
        RawBsonRef::ObjectId(o) => Value::Bytes(o.bytes().to_vec()),
        RawBsonRef::String(s) => Value::Text(s.to_string()),
        RawBsonRef::Int32(i) => Value::Int(i64::from(i)),
        RawBsonRef::Int64(i) => Value::Int(i),
        RawBsonRef::Double(f) => Value::F64(f),
        other => Value::Document(fallback(other)),
    }
}

/// The one-field document `{"_id": id}`.
fn fallback(id: RawBsonRef<'_>) -> Vec<u8> {
    let mut d = RawDocumentBuf::new();
    d.append(cstr!("_id"), id);
    d.into_bytes()
}

/// The string at `path` (`email`, `contact.email`) of the BSON document
/// `bson`, if there is one.
pub fn document_text(bson: &[u8], path: &str) -> Option<String> {
    let mut doc = RawDocument::from_bytes(bson).ok()?;
    let mut parts = path.split('.').peekable();
    while let Some(key) = parts.next() {
        let value = doc.get(key).ok()??;
        if parts.peek().is_none() {
            return match value {
                RawBsonRef::String(s) => Some(s.to_string()),
                _ => None,
            };
        }
        doc = match value {
            RawBsonRef::Document(d) => d,
            _ => return None,
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    #[test]
    fn text_at_a_path() {
        let d = doc! {"_id": 1, "email": "a@x", "contact": {"email": "b@x", "n": 2}}
            .to_vec()
            .expect("bson");
        assert_eq!(document_text(&d, "email").as_deref(), Some("a@x"));
        assert_eq!(document_text(&d, "contact.email").as_deref(), Some("b@x"));
        assert_eq!(document_text(&d, "contact.n"), None);
        assert_eq!(document_text(&d, "nope"), None);
        assert_eq!(document_key(&d), Ok(Value::Int(1)));
    }
}
