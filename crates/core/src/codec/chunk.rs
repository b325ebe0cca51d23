//! Chunks of length-framed rows, and the digest of a table's rows.
//!
//! Value encoding lives in the parent module; this part only frames whole
//! encoded rows, walks them back, and hashes them.

use super::{CodecError, Reader, encode_row, put_varint};
use crate::value::Value;

/// Builds a chunk: a sequence of length-framed encoded rows.
///
/// Layout: for each row, `varint(len) || row bytes`. The row count is not
/// stored; the manifest's runs carry it.
#[derive(Default)]
pub struct ChunkBuilder {
    buf: Vec<u8>,
    rows: u64,
    scratch: Vec<u8>,
}

impl ChunkBuilder {
    /// An empty chunk.
    pub fn new() -> Self {
        Self::default()
    }

    /// Encodes and appends one row; returns the encoded row (without its
    /// frame), so the caller can hash it for boundaries and digests.
    pub fn push(&mut self, row: &[Value]) -> &[u8] {
        self.scratch.clear();
        encode_row(row, &mut self.scratch);
        self.push_encoded_inner();
        &self.scratch
    }

    fn push_encoded_inner(&mut self) {
        put_varint(&mut self.buf, self.scratch.len() as u64);
        self.buf.extend_from_slice(&self.scratch);
        self.rows += 1;
    }

    /// Appends a row that is already encoded.
    pub fn push_encoded(&mut self, encoded: &[u8]) {
        put_varint(&mut self.buf, encoded.len() as u64);
        self.buf.extend_from_slice(encoded);
        self.rows += 1;
    }

    /// Rows in the chunk so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes in the chunk so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether no row was pushed.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Takes the chunk bytes and its row count, leaving an empty builder.
    pub fn take(&mut self) -> (Vec<u8>, u64) {
        self.take_replacing(Vec::new())
    }

    /// [`ChunkBuilder::take`], building the next chunk in `next` (emptied
    /// first), so a caller can hand it a buffer that already has room.
    pub fn take_replacing(&mut self, mut next: Vec<u8>) -> (Vec<u8>, u64) {
        next.clear();
        let rows = std::mem::take(&mut self.rows);
        (std::mem::replace(&mut self.buf, next), rows)
    }
}

/// Iterates over the encoded rows of a chunk.
pub struct ChunkRows<'a> {
    reader: Reader<'a>,
}

impl<'a> ChunkRows<'a> {
    /// Iterates over the rows of `chunk`.
    pub fn new(chunk: &'a [u8]) -> Self {
        ChunkRows {
            reader: Reader::new(chunk),
        }
    }

    /// Skips `n` rows without decoding them.
    pub fn skip_rows(&mut self, n: u64) -> Result<(), CodecError> {
        for _ in 0..n {
            if self.reader.is_empty() {
                return Err(CodecError::Truncated);
            }
            let len = self.reader.len()?;
            self.reader.take(len)?;
        }
        Ok(())
    }
}

impl<'a> Iterator for ChunkRows<'a> {
    type Item = Result<&'a [u8], CodecError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.reader.is_empty() {
            return None;
        }
        Some(self.reader.len().and_then(|n| self.reader.take(n)))
    }
}

/// The content digest of a table: BLAKE3 over its rows' framed encodings
/// (`varint(len) || row bytes`, exactly as in chunks), in stream order.
///
/// Snapshots and export archives record it, so an archive can be checked
/// against the snapshot it came from and an import against its metadata.
pub struct TableDigest {
    hasher: blake3::Hasher,
    /// Framed rows not hashed yet: BLAKE3 is several times faster on long
    /// inputs (it hashes 1 KiB blocks side by side) than row by row.
    pending: Vec<u8>,
}

/// Bytes gathered before they are hashed.
const DIGEST_BATCH: usize = 64 << 10;

impl Default for TableDigest {
    fn default() -> Self {
        TableDigest {
            hasher: blake3::Hasher::new(),
            pending: Vec::with_capacity(DIGEST_BATCH + 1024),
        }
    }
}

impl TableDigest {
    /// A digest of no rows yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one encoded row (as produced by [`encode_row`]).
    pub fn update(&mut self, encoded_row: &[u8]) {
        put_varint(&mut self.pending, encoded_row.len() as u64);
        if encoded_row.len() >= DIGEST_BATCH {
            self.hasher.update(&self.pending);
            self.pending.clear();
            self.hasher.update(encoded_row);
            return;
        }
        self.pending.extend_from_slice(encoded_row);
        if self.pending.len() >= DIGEST_BATCH {
            self.hasher.update(&self.pending);
            self.pending.clear();
        }
    }

    /// Adds rows already framed as in a chunk (`varint(len) || row`, one
    /// after another, such as a whole [`ChunkBuilder`] chunk): the same as
    /// [`TableDigest::update`] for each of them, without copying.
    pub fn update_framed(&mut self, framed_rows: &[u8]) {
        if !self.pending.is_empty() {
            self.hasher.update(&self.pending);
            self.pending.clear();
        }
        self.hasher.update(framed_rows);
    }

    /// The digest as 64 hex characters.
    pub fn finish(&self) -> String {
        let mut hasher = self.hasher.clone();
        hasher.update(&self.pending);
        hasher.finalize().to_hex().to_string()
    }
}
