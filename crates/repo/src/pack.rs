//! Pack files: many encrypted blob records followed by an encrypted header.
//!
//! Layout of `data/<first 2 hex digits>/<pack id>`:
//!
//! ```text
//! record_0 || record_1 || ... || encrypt(header) || header_len (u32 LE)
//! record   = encrypt(zstd(plaintext))   or encrypt(plaintext) when zstd does not shrink it;
//!            a data blob is compressed in its column-major layout where it has one
//! header   = version (u8 = 1) || entry*           entry = 46 bytes:
//!            type u8 || flags u8 (bit 0 = compressed, bit 1 = columns) || blob id [32]
//!            || offset u32 LE || length u32 LE || raw length u32 LE
//! ```
//!
//! The pack id is the plain (unkeyed) BLAKE3 of the whole file, so a pack can
//! be verified against its name without the key; the bytes hashed are
//! ciphertext with random nonces, so the id reveals nothing.

use std::cell::RefCell;
use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::crypto::{BlobId, CryptoError, MasterKey, OVERHEAD, PackId};

/// Directory of pack files.
pub(crate) const DATA_DIR: &str = "data";
/// Default target size of a pack file.
pub const DEFAULT_PACK_SIZE: usize = 16 * 1024 * 1024;
const HEADER_VERSION: u8 = 1;
const ENTRY_LEN: usize = 46;
const FLAG_COMPRESSED: u8 = 1;
const FLAG_COLUMNS: u8 = 2;

/// Errors of the pack module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    /// The pack is shorter than its trailer or its header claims.
    #[error("pack is truncated or malformed: {0}")]
    Malformed(String),
    /// The header or a record does not authenticate.
    #[error("pack content is damaged or forged")]
    Crypto(#[source] CryptoError),
    /// Decompression failed.
    #[error("blob {id} does not decompress")]
    Decompress {
        /// The blob.
        id: BlobId,
        /// Zstd's error.
        #[source]
        source: std::io::Error,
    },
    /// A data blob stored column by column does not give back its rows.
    #[error("blob {id} does not rearrange into rows")]
    Columns {
        /// The blob.
        id: BlobId,
        /// What is wrong with it.
        #[source]
        source: tresor_core::codec::CodecError,
    },
    /// Decrypted content does not hash to the blob id.
    #[error("blob {expected} has content with id {actual}")]
    IdMismatch {
        /// Id the index promised.
        expected: BlobId,
        /// Id of what was read.
        actual: BlobId,
    },
    /// A blob is larger than a pack can describe (4 GiB).
    #[error("blob of {0} bytes is too large (limit 4 GiB)")]
    TooLarge(usize),
    /// Compression failed.
    #[error("zstd compression failed")]
    Compress(#[source] std::io::Error),
}

/// What a blob holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlobType {
    /// A chunk of table data.
    Data,
    /// Metadata: schemas, table manifests, other structured documents.
    Tree,
}

impl BlobType {
    fn to_byte(self) -> u8 {
        match self {
            BlobType::Data => 0,
            BlobType::Tree => 1,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(BlobType::Data),
            1 => Some(BlobType::Tree),
            _ => None,
        }
    }
}

/// Where one blob lives inside a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PackEntry {
    /// What the blob holds.
    #[serde(rename = "type")]
    pub blob_type: BlobType,
    /// Keyed hash of the uncompressed plaintext.
    pub id: BlobId,
    /// Byte offset of the record in the pack.
    pub offset: u32,
    /// Length of the record (encrypted) in the pack.
    pub length: u32,
    /// Length of the plaintext.
    pub raw_length: u32,
    /// True when the record holds zstd-compressed plaintext.
    pub compressed: bool,
    /// True when the compressed plaintext is a data chunk in its
    /// column-major layout ([`tresor_core::codec::rows_to_columns`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub columns: bool,
}

/// A blob ready to be appended to a pack: compressed (maybe) and encrypted.
#[derive(Debug, Clone)]
pub(crate) struct EncodedBlob {
    pub blob_type: BlobType,
    pub id: BlobId,
    pub data: Vec<u8>,
    pub raw_length: u32,
    pub compressed: bool,
    pub columns: bool,
}

thread_local! {
    /// Each thread's zstd compression context and its level: setting up a
    /// context (tables of several hundred KiB) costs more than compressing
    /// a small chunk, so it is made once per thread, not once per blob.
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { RefCell::new(None) };
    /// Each thread's zstd decompression context.
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
    /// Each thread's buffers for a chunk in column-major layout and for
    /// compressed bytes: they live only until the record is encrypted, and
    /// fresh ones of this size would be new mappings whose every page
    /// faults in.
    static SCRATCH: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Scratch buffers larger than this are not kept for the next blob: a
/// typical chunk (512 KiB) fits, a large one (up to the chunker's maximum,
/// or one huge row) would otherwise pin its size in every thread that ever
/// compressed one.
const SCRATCH_KEEP: usize = 1 << 20;

/// zstd of `data` at `level` into `out`, with this thread's context.
fn compress_into(data: &[u8], level: i32, out: &mut Vec<u8>) -> std::io::Result<()> {
    out.clear();
    out.reserve(zstd::zstd_safe::compress_bound(data.len()));
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let c = match &mut *slot {
            Some((l, c)) if *l == level => c,
            _ => &mut slot.insert((level, zstd::bulk::Compressor::new(level)?)).1,
        };
        c.compress_to_buffer(data, out).map(drop)
    })
}

/// The most bytes `compressed` bytes of zstd can stand for. zstd cannot
/// expand more than this (a 4-byte RLE block stands for at most 128 KiB):
/// a larger stated length is a lie, and reserving it would let one damaged
/// header allocate gigabytes.
fn most_from(compressed: usize) -> usize {
    const MAX_RATIO: usize = 32 * 1024;
    const BLOCK: usize = 128 * 1024;
    compressed.saturating_mul(MAX_RATIO).saturating_add(BLOCK)
}

/// Decompresses a zstd frame of at most `capacity` bytes with this
/// thread's context, into `out` (replacing what it held).
fn decompress_into(data: &[u8], capacity: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
    if capacity > most_from(data.len()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "a raw length of {capacity} bytes cannot come from {} compressed bytes",
                data.len()
            ),
        ));
    }
    out.clear();
    out.reserve(capacity);
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let d = match &mut *slot {
            Some(d) => d,
            None => slot.insert(zstd::bulk::Decompressor::new()?),
        };
        d.decompress_to_buffer(data, out).map(drop)
    })
}

/// Runs `f` with this thread's scratch buffers.
fn with_scratch<T>(f: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>) -> T) -> T {
    SCRATCH.with(|cell| {
        let mut guard = cell.borrow_mut();
        let (a, b) = &mut *guard;
        let out = f(a, b);
        for buf in [a, b] {
            if buf.capacity() > SCRATCH_KEEP {
                *buf = Vec::new();
            }
        }
        out
    })
}

/// Compresses (when it shrinks the data) and encrypts one blob; a data blob
/// that is a chunk of rows is compressed column by column. CPU heavy: run it
/// on the blocking pool.
pub(crate) fn encode_blob(
    key: &MasterKey,
    level: i32,
    blob_type: BlobType,
    id: BlobId,
    plaintext: &[u8],
) -> Result<EncodedBlob, PackError> {
    let raw_length = u32::try_from(plaintext.len())
        .ok()
        .filter(|n| (*n as usize) + OVERHEAD <= u32::MAX as usize)
        .ok_or(PackError::TooLarge(plaintext.len()))?;
    with_scratch(|cols, packed| {
        let columns =
            blob_type == BlobType::Data && tresor_core::codec::rows_to_columns(plaintext, cols);
        let input = if columns { &cols[..] } else { plaintext };
        compress_into(input, level, packed).map_err(PackError::Compress)?;
        let compressed = packed.len() < plaintext.len();
        let record = if compressed { &packed[..] } else { plaintext };
        let mut data = crate::buffers::take_buffer(record.len() + crate::crypto::OVERHEAD);
        key.encrypt_into(record, &mut data);
        Ok(EncodedBlob {
            blob_type,
            id,
            data,
            raw_length,
            compressed,
            columns: compressed && columns,
        })
    })
}

/// Decrypts, decompresses and verifies one record read from a pack.
///
/// # Errors
/// [`PackError::Crypto`] for damaged bytes, [`PackError::IdMismatch`] when the
/// content is not the blob the entry names.
pub(crate) fn decode_blob(
    key: &MasterKey,
    entry: &PackEntry,
    record: &[u8],
) -> Result<Vec<u8>, PackError> {
    // the plaintext and the blob come from the buffer pool: a reader gives
    // the blob back when done with it, so buffers travel from one chunk to
    // the next instead of being mapped and faulted in anew
    let mut plain = crate::buffers::take_buffer(record.len());
    key.decrypt_into(record, &mut plain)
        .map_err(PackError::Crypto)?;
    let raw_length = entry.raw_length as usize;
    let decompress_err = |source| PackError::Decompress {
        id: entry.id,
        source,
    };
    // a pooled buffer near the blob's size; the stated length is trusted
    // only as far as the compressed bytes can stand for it
    let room = raw_length.min(most_from(plain.len()));
    let data = match (entry.compressed, entry.columns) {
        (false, _) => plain,
        (true, false) => {
            let mut out = crate::buffers::take_buffer(room);
            let done = decompress_into(&plain, raw_length, &mut out);
            crate::buffers::give_buffer(plain);
            done.map_err(decompress_err)?;
            out
        }
        (true, true) => {
            let mut out = crate::buffers::take_buffer(room);
            let done = with_scratch(|cols, _| {
                decompress_into(&plain, raw_length, cols).map_err(decompress_err)?;
                tresor_core::codec::columns_to_rows_into(cols, raw_length, &mut out).map_err(
                    |source| PackError::Columns {
                        id: entry.id,
                        source,
                    },
                )
            });
            crate::buffers::give_buffer(plain);
            done?;
            out
        }
    };
    let actual = key.blob_id(&data);
    if actual != entry.id {
        return Err(PackError::IdMismatch {
            expected: entry.id,
            actual,
        });
    }
    if data.len() != entry.raw_length as usize {
        return Err(PackError::Malformed(format!(
            "blob {} has {} bytes, header says {}",
            entry.id,
            data.len(),
            entry.raw_length
        )));
    }
    Ok(data)
}

/// Path of a pack file in the repository.
pub(crate) fn pack_path(id: &PackId) -> String {
    let hex = id.to_hex();
    format!("{DATA_DIR}/{}/{hex}", &hex[..2])
}

/// Encodes the plaintext header.
pub(crate) fn encode_header(entries: &[PackEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + entries.len() * ENTRY_LEN);
    out.push(HEADER_VERSION);
    for e in entries {
        out.push(e.blob_type.to_byte());
        let mut flags = 0;
        if e.compressed {
            flags |= FLAG_COMPRESSED;
        }
        if e.columns {
            flags |= FLAG_COLUMNS;
        }
        out.push(flags);
        out.extend_from_slice(e.id.as_bytes());
        out.extend_from_slice(&e.offset.to_le_bytes());
        out.extend_from_slice(&e.length.to_le_bytes());
        out.extend_from_slice(&e.raw_length.to_le_bytes());
    }
    out
}

/// Decodes a plaintext header.
pub(crate) fn decode_header(bytes: &[u8]) -> Result<Vec<PackEntry>, PackError> {
    let Some((&version, body)) = bytes.split_first() else {
        return Err(PackError::Malformed("empty header".into()));
    };
    if version != HEADER_VERSION {
        return Err(PackError::Malformed(format!(
            "unknown header version {version}"
        )));
    }
    if body.len() % ENTRY_LEN != 0 {
        return Err(PackError::Malformed(format!(
            "header body of {} bytes is not a multiple of {ENTRY_LEN}",
            body.len()
        )));
    }
    body.chunks_exact(ENTRY_LEN)
        .map(|c| {
            let blob_type = BlobType::from_byte(c[0])
                .ok_or_else(|| PackError::Malformed(format!("unknown blob type {}", c[0])))?;
            let flags = c[1];
            let columns = flags & FLAG_COLUMNS != 0;
            if flags & !(FLAG_COMPRESSED | FLAG_COLUMNS) != 0
                || (columns && (flags & FLAG_COMPRESSED == 0 || blob_type != BlobType::Data))
            {
                return Err(PackError::Malformed(format!("unknown flags {flags:#x}")));
            }
            let u32_at = |i: usize| u32::from_le_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
            let mut id = [0u8; 32];
            id.copy_from_slice(&c[2..34]);
            Ok(PackEntry {
                blob_type,
                id: BlobId(id),
                compressed: flags & FLAG_COMPRESSED != 0,
                columns,
                offset: u32_at(34),
                length: u32_at(38),
                raw_length: u32_at(42),
            })
        })
        .collect()
}

/// Reads and verifies the header of a whole pack file.
///
/// Checks that every entry lies inside the record area.
///
/// # Errors
/// [`PackError::Malformed`] for truncated packs, [`PackError::Crypto`] when
/// the header does not authenticate.
pub(crate) fn read_header(key: &MasterKey, pack: &[u8]) -> Result<Vec<PackEntry>, PackError> {
    if pack.len() < 4 {
        return Err(PackError::Malformed(format!(
            "{} bytes cannot hold a header",
            pack.len()
        )));
    }
    let (rest, trailer) = pack.split_at(pack.len() - 4);
    let header_len = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]) as usize;
    if header_len > rest.len() {
        return Err(PackError::Malformed(format!(
            "header length {header_len} exceeds pack size {}",
            pack.len()
        )));
    }
    let records_end = rest.len() - header_len;
    let header = key
        .decrypt(&rest[records_end..])
        .map_err(PackError::Crypto)?;
    let entries = decode_header(&header)?;
    for e in &entries {
        let end = e.offset as usize + e.length as usize;
        if end > records_end {
            return Err(PackError::Malformed(format!(
                "blob {} at {}..{end} lies outside the records ({records_end} bytes)",
                e.id, e.offset
            )));
        }
    }
    Ok(entries)
}

/// Accumulates encoded blobs into one pack file.
#[derive(Debug, Default)]
pub(crate) struct PackWriter {
    buf: Vec<u8>,
    entries: Vec<PackEntry>,
    ids: HashSet<BlobId>,
}

impl PackWriter {
    /// Appends one encoded blob; a blob already in this pack is skipped.
    pub fn add(&mut self, blob: &EncodedBlob) -> Result<(), PackError> {
        let entry = PackEntry {
            blob_type: blob.blob_type,
            id: blob.id,
            offset: 0,
            length: 0,
            raw_length: blob.raw_length,
            compressed: blob.compressed,
            columns: blob.columns,
        };
        self.add_record(entry, &blob.data)
    }

    /// Appends an already encrypted record described by `entry` (used by
    /// prune to copy blobs); the entry's place in the pack is set here.
    pub fn add_record(&mut self, entry: PackEntry, record: &[u8]) -> Result<(), PackError> {
        if !self.ids.insert(entry.id) {
            return Ok(());
        }
        let offset =
            u32::try_from(self.buf.len()).map_err(|_| PackError::TooLarge(self.buf.len()))?;
        let length = u32::try_from(record.len()).map_err(|_| PackError::TooLarge(record.len()))?;
        self.buf.extend_from_slice(record);
        self.entries.push(PackEntry {
            offset,
            length,
            ..entry
        });
        Ok(())
    }

    /// Ids of the blobs added so far.
    pub fn ids(&self) -> impl Iterator<Item = BlobId> + '_ {
        self.entries.iter().map(|e| e.id)
    }

    /// Bytes of records so far.
    pub fn size(&self) -> usize {
        self.buf.len()
    }

    /// True when no blob was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends the encrypted header and trailer; returns the pack id, the
    /// bytes to store and the entries.
    pub fn finish(self, key: &MasterKey) -> Result<FinishedPack, PackError> {
        let PackWriter {
            mut buf, entries, ..
        } = self;
        let header = key.encrypt(&encode_header(&entries));
        let header_len =
            u32::try_from(header.len()).map_err(|_| PackError::TooLarge(header.len()))?;
        buf.extend_from_slice(&header);
        buf.extend_from_slice(&header_len.to_le_bytes());
        u32::try_from(buf.len()).map_err(|_| PackError::TooLarge(buf.len()))?;
        Ok(FinishedPack {
            id: PackId::of(&buf),
            bytes: buf,
            entries,
        })
    }
}

/// A complete pack file, ready to upload.
#[derive(Debug)]
pub(crate) struct FinishedPack {
    pub id: PackId,
    pub bytes: Vec<u8>,
    pub entries: Vec<PackEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry_strategy() -> impl Strategy<Value = PackEntry> {
        (
            any::<bool>(),
            any::<[u8; 32]>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            0u8..3,
        )
            .prop_map(|(t, id, offset, length, raw_length, encoding)| PackEntry {
                blob_type: if t { BlobType::Data } else { BlobType::Tree },
                id: BlobId(id),
                offset,
                length,
                raw_length,
                compressed: encoding > 0,
                columns: t && encoding == 2,
            })
    }

    fn build(key: &MasterKey, blobs: &[Vec<u8>]) -> FinishedPack {
        let mut w = PackWriter::default();
        for b in blobs {
            let enc = encode_blob(key, 3, BlobType::Data, key.blob_id(b), b).unwrap();
            w.add(&enc).unwrap();
        }
        w.finish(key).unwrap()
    }

    #[test]
    fn compressible_is_compressed_random_is_not() {
        let key = MasterKey::generate();
        let zeros = vec![0u8; 10_000];
        let e = encode_blob(&key, 3, BlobType::Data, key.blob_id(&zeros), &zeros).unwrap();
        assert!(e.compressed);
        assert!(e.data.len() < 1000);
        let mut noise = vec![0u8; 1000];
        rand::fill(&mut noise[..]);
        let e = encode_blob(&key, 3, BlobType::Data, key.blob_id(&noise), &noise).unwrap();
        assert!(!e.compressed);
        assert_eq!(e.data.len(), 1000 + OVERHEAD);
    }

    /// A chunk of `n` rows as the backup writes them.
    fn chunk_of_rows(n: i64) -> Vec<u8> {
        use tresor_core::Value;
        let mut b = tresor_core::codec::ChunkBuilder::new();
        for i in 0..n {
            b.push(&[
                Value::Int(i),
                Value::Text(format!("user{i}@example.com")),
                Value::Decimal(format!("{}.{:02}", i * 7 % 1000, i % 100)),
            ]);
        }
        b.take().0
    }

    #[test]
    fn data_chunks_are_stored_column_by_column() {
        let key = MasterKey::generate();
        let chunk = chunk_of_rows(2000);
        let id = key.blob_id(&chunk);
        let data = encode_blob(&key, 2, BlobType::Data, id, &chunk).unwrap();
        assert!(data.compressed && data.columns);
        // the same bytes as a tree blob are compressed as they are, and
        // column by column they take less room
        let tree = encode_blob(&key, 2, BlobType::Tree, id, &chunk).unwrap();
        assert!(tree.compressed && !tree.columns);
        assert!(data.data.len() < tree.data.len());

        let mut w = PackWriter::default();
        w.add(&data).unwrap();
        let p = w.finish(&key).unwrap();
        let entries = read_header(&key, &p.bytes).unwrap();
        assert!(entries[0].columns);
        let e = entries[0];
        let rec = &p.bytes[e.offset as usize..(e.offset + e.length) as usize];
        assert_eq!(decode_blob(&key, &e, rec).unwrap(), chunk);

        // a record that claims the column layout but holds rows is refused
        let rows = encode_blob(&key, 2, BlobType::Tree, id, &chunk).unwrap();
        let claim = PackEntry {
            blob_type: BlobType::Data,
            columns: true,
            ..e
        };
        assert!(matches!(
            decode_blob(&key, &claim, &rows.data),
            Err(PackError::Columns { .. })
        ));
        // a chunk larger than the buffers a thread keeps (one huge row, say)
        let big = chunk_of_rows(200_000);
        assert!(big.len() > SCRATCH_KEEP);
        let e = encode_blob(&key, 2, BlobType::Data, key.blob_id(&big), &big).unwrap();
        assert!(e.columns);
        let mut w = PackWriter::default();
        w.add(&e).unwrap();
        let p = w.finish(&key).unwrap();
        let e = read_header(&key, &p.bytes).unwrap()[0];
        let rec = &p.bytes[e.offset as usize..(e.offset + e.length) as usize];
        assert_eq!(decode_blob(&key, &e, rec).unwrap(), big);
        SCRATCH.with(|s| assert!(s.borrow().0.capacity() <= SCRATCH_KEEP));
        // bytes that are not rows are stored as they are
        let noise = vec![b'a'; 10_000];
        let e = encode_blob(&key, 2, BlobType::Data, key.blob_id(&noise), &noise).unwrap();
        assert!(e.compressed && !e.columns);
    }

    #[test]
    fn pack_id_is_hash_and_header_reads_back() {
        let key = MasterKey::generate();
        let blobs = vec![b"one".to_vec(), vec![7u8; 5000], b"one".to_vec()];
        let p = build(&key, &blobs);
        assert_eq!(p.id, PackId::of(&p.bytes));
        assert_eq!(
            p.entries.len(),
            2,
            "duplicate inside one pack is stored once"
        );
        assert_eq!(read_header(&key, &p.bytes).unwrap(), p.entries);
        for (e, b) in p.entries.iter().zip(&blobs) {
            let rec = &p.bytes[e.offset as usize..(e.offset + e.length) as usize];
            assert_eq!(&decode_blob(&key, e, rec).unwrap(), b);
        }
        assert!(pack_path(&p.id).starts_with(&format!("data/{}/", &p.id.to_hex()[..2])));
    }

    #[test]
    fn damage_is_detected() {
        let key = MasterKey::generate();
        let p = build(&key, &[b"hello world".to_vec()]);
        let e = p.entries[0];
        let mut rec = p.bytes[e.offset as usize..(e.offset + e.length) as usize].to_vec();
        rec[30] ^= 1;
        assert!(matches!(
            decode_blob(&key, &e, &rec),
            Err(PackError::Crypto(_))
        ));
        // Truncated packs.
        for cut in [0, 3, 10, p.bytes.len() - 1] {
            assert!(read_header(&key, &p.bytes[..cut]).is_err());
        }
        // Wrong id in the entry.
        let rec = &p.bytes[e.offset as usize..(e.offset + e.length) as usize];
        let wrong = PackEntry {
            id: BlobId([9; 32]),
            ..e
        };
        assert!(matches!(
            decode_blob(&key, &wrong, rec),
            Err(PackError::IdMismatch { .. })
        ));
    }

    /// Found by the `repo_files` fuzz target: a header stating a raw
    /// length of 4 GiB for a few compressed bytes made the reader reserve
    /// it before decompressing.
    #[test]
    fn an_impossible_raw_length_is_refused_before_allocating() {
        let key = MasterKey::generate();
        let packed = zstd::bulk::compress(b"row row row row", 3).unwrap();
        let rec = key.encrypt(&packed);
        let e = PackEntry {
            blob_type: BlobType::Data,
            id: key.blob_id(b"row row row row"),
            compressed: true,
            columns: false,
            offset: 0,
            length: rec.len() as u32,
            raw_length: u32::MAX - 7,
        };
        match decode_blob(&key, &e, &rec) {
            Err(PackError::Decompress { source, .. }) => {
                assert!(source.to_string().contains("cannot come from"), "{source}");
            }
            other => panic!("{other:?}"),
        }
        let honest = PackEntry {
            raw_length: 15,
            ..e
        };
        assert_eq!(
            decode_blob(&key, &honest, &rec).unwrap(),
            b"row row row row"
        );
    }

    #[test]
    fn garbage_headers_do_not_panic() {
        assert!(decode_header(&[]).is_err());
        assert!(decode_header(&[2]).is_err());
        assert!(decode_header(&[1, 0]).is_err());
        let mut bad = vec![1u8];
        bad.extend_from_slice(&[9u8; ENTRY_LEN]);
        assert!(decode_header(&bad).is_err());
        // the column flag without compression, or on a tree blob
        for (blob_type, flags) in [(0u8, FLAG_COLUMNS), (1, FLAG_COLUMNS | FLAG_COMPRESSED)] {
            let mut bad = vec![1u8, blob_type, flags];
            bad.extend_from_slice(&[0u8; ENTRY_LEN - 2]);
            assert!(decode_header(&bad).is_err(), "{blob_type} {flags}");
        }
    }

    proptest! {
        #[test]
        fn header_roundtrip(entries in proptest::collection::vec(entry_strategy(), 0..50)) {
            let bytes = encode_header(&entries);
            prop_assert_eq!(decode_header(&bytes).unwrap(), entries);
        }

        #[test]
        fn pack_roundtrip(blobs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 0..8)) {
            let key = MasterKey::generate();
            let p = build(&key, &blobs);
            let entries = read_header(&key, &p.bytes).unwrap();
            for e in &entries {
                let rec = &p.bytes[e.offset as usize..(e.offset + e.length) as usize];
                let data = decode_blob(&key, e, rec).unwrap();
                prop_assert!(blobs.contains(&data));
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let key = MasterKey::generate();
            let _ = read_header(&key, &bytes);
            let _ = decode_header(&bytes);
        }
    }
}
