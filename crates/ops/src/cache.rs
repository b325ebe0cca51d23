//! The local row cache: what an incremental backup needs to know about
//! the parent's rows (key, digest, location), kept on local disk so the
//! next backup need not download and decrypt the parent's chunks.
//!
//! Layout: `<cache dir>/<repository id>/<snapshot id>/<table>-<data>.rows`,
//! where the cache dir is `$TRESOR_CACHE_DIR`, else the platform's user
//! cache directory (`~/.cache/tresor` on Linux), `<table>` a hash of the
//! table's name and `<data>` the id of the table-data blob the file
//! describes. A file is zstd-compressed: `"TRC1"`, then per row
//! `varint(len) || encoded key`, a 16-byte digest of the encoded row,
//! `varint(chunk index)`, `varint(row in chunk)`. A file that is missing,
//! damaged or describes another table-data blob is ignored and the parent
//! is read from the repository instead: the cache is never trusted over
//! the repository, only used to skip work.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use tresor_core::codec::{Reader, put_varint};
use tresor_core::{TableName, Value};
use tresor_repo::BlobId;

const MAGIC: &[u8; 4] = b"TRC1";

/// Snapshots per repository whose caches are kept.
const KEEP: usize = 8;

/// zstd level of cache files: one of zstd's fast levels. Most of a cache
/// row is its digest, which does not compress; level 1 made the files 7%
/// smaller than this one does but took 2.7 times as long (`zstd -b` on a
/// cache file: 323 against 860 MB/s), time every backup pays.
const LEVEL: i32 = -3;

/// The digest the cache keeps of an encoded row.
pub(crate) fn row_digest(enc: &[u8]) -> [u8; 16] {
    let mut d = [0u8; 16];
    d.copy_from_slice(&blake3::hash(enc).as_bytes()[..16]);
    d
}

/// Where the row cache lives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CacheDir {
    /// `$TRESOR_CACHE_DIR`, else the user's cache directory; none when
    /// `$TRESOR_NO_CACHE` is set.
    #[default]
    Default,
    /// No cache: incremental backups read the parent from the repository.
    Off,
    /// This directory.
    At(PathBuf),
}

/// The cache directory of one repository, if caching is possible.
pub(crate) fn repo_dir(choice: &CacheDir, repo_id: &str) -> Option<PathBuf> {
    let base = match choice {
        CacheDir::Off => return None,
        CacheDir::At(d) => d.clone(),
        CacheDir::Default => {
            if std::env::var_os("TRESOR_NO_CACHE").is_some() {
                return None;
            }
            match std::env::var_os("TRESOR_CACHE_DIR") {
                Some(d) => PathBuf::from(d),
                None => directories::ProjectDirs::from("", "", "tresor")?
                    .cache_dir()
                    .to_path_buf(),
            }
        }
    };
    Some(base.join(repo_id))
}

fn file_name(table: &TableName) -> String {
    blake3::hash(table.to_string().as_bytes()).to_hex()[..32].to_string()
}

/// The cache file of `table` in `snapshot`, describing table-data blob
/// `data`.
pub(crate) fn table_path(
    repo_dir: &Path,
    snapshot: &str,
    table: &TableName,
    data: &BlobId,
) -> PathBuf {
    repo_dir
        .join(snapshot)
        .join(format!("{}-{}.rows", file_name(table), data.to_hex()))
}

/// A parent row as the cache remembers it.
pub(crate) struct CachedRow {
    pub key: Vec<Value>,
    pub digest: [u8; 16],
    pub chunk: usize,
    pub row: u64,
}

/// Bytes of rows gathered before they go to the compressor: zstd's
/// streaming call costs more than compressing a row of 30 bytes.
const WRITE_BATCH: usize = 64 << 10;

/// Writes a table's cache file next to where it will live, under a
/// temporary name.
pub(crate) struct CacheWriter {
    out: zstd::stream::write::Encoder<'static, BufWriter<std::fs::File>>,
    path: PathBuf,
    buf: Vec<u8>,
}

impl CacheWriter {
    /// Starts a cache file in `repo_dir`.
    pub fn create(repo_dir: &Path) -> Option<CacheWriter> {
        std::fs::create_dir_all(repo_dir).ok()?;
        let path = repo_dir.join(format!(".tmp-{}", hex::encode(rand_bytes())));
        let file = std::fs::File::create(&path).ok()?;
        let file = BufWriter::with_capacity(256 << 10, file);
        let mut out = zstd::stream::write::Encoder::new(file, LEVEL).ok()?;
        // a damaged file fails its frame checksum instead of misleading
        out.include_checksum(true).ok()?;
        out.write_all(MAGIC).ok()?;
        Some(CacheWriter {
            out,
            path,
            buf: Vec::with_capacity(WRITE_BATCH + 1024),
        })
    }

    /// Adds a row with its key (encoded as a row of the key's values,
    /// [`tresor_core::codec::encode_values_at`]), digest and location.
    pub fn push(
        &mut self,
        key: &[u8],
        digest: &[u8; 16],
        chunk: usize,
        row: u64,
    ) -> std::io::Result<()> {
        put_varint(&mut self.buf, key.len() as u64);
        self.buf.extend_from_slice(key);
        self.buf.extend_from_slice(digest);
        put_varint(&mut self.buf, chunk as u64);
        put_varint(&mut self.buf, row);
        if self.buf.len() >= WRITE_BATCH {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Finishes the file; returns its temporary path.
    pub fn finish(mut self) -> std::io::Result<PathBuf> {
        self.out.write_all(&self.buf)?;
        let mut inner = self.out.finish()?;
        inner.flush()?;
        Ok(self.path)
    }

    /// Abandons the file.
    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn rand_bytes() -> [u8; 8] {
    let mut b = [0u8; 8];
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let h = blake3::hash(format!("{t}-{}", std::process::id()).as_bytes());
    b.copy_from_slice(&h.as_bytes()[..8]);
    b
}

/// Moves finished cache files into the snapshot's directory, drops the
/// parent's cache (this snapshot supersedes it for its source) and the
/// caches of older snapshots beyond the newest few.
pub(crate) fn commit(
    repo_dir: &Path,
    snapshot: &str,
    parent: Option<&str>,
    files: Vec<(TableName, BlobId, PathBuf)>,
) {
    if let Some(p) = parent.filter(|p| *p != snapshot) {
        let _ = std::fs::remove_dir_all(repo_dir.join(p));
    }
    let dir = repo_dir.join(snapshot);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    for (table, data, tmp) in files {
        if std::fs::rename(&tmp, table_path(repo_dir, snapshot, &table, &data)).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    let Ok(entries) = std::fs::read_dir(repo_dir) else {
        return;
    };
    let entries: Vec<_> = entries.filter_map(Result::ok).collect();
    // temporary files of backups that did not finish
    let day = std::time::Duration::from_secs(86_400);
    for e in &entries {
        let stale = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > day);
        if stale && e.file_name().to_string_lossy().starts_with(".tmp-") {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let mut dirs: Vec<(std::time::SystemTime, PathBuf)> = entries
        .into_iter()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    dirs.sort();
    let excess = dirs.len().saturating_sub(KEEP);
    for (_, d) in dirs.into_iter().take(excess) {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Reads a table's cache, if it exists and describes `data`.
pub(crate) struct CacheReader {
    input: BufReader<zstd::stream::read::Decoder<'static, BufReader<std::fs::File>>>,
    key: Vec<u8>,
}

impl CacheReader {
    /// Opens the cache of `table` in `snapshot`, checking that it was made
    /// for the table-data blob `data`.
    pub fn open(
        repo_dir: &Path,
        snapshot: &str,
        table: &TableName,
        data: &BlobId,
    ) -> Option<CacheReader> {
        let file = std::fs::File::open(table_path(repo_dir, snapshot, table, data)).ok()?;
        // the reader takes a few bytes at a time: buffer the decompressed
        // stream rather than step the decoder per varint byte
        let mut input =
            BufReader::with_capacity(64 << 10, zstd::stream::read::Decoder::new(file).ok()?);
        let mut header = [0u8; 4];
        input.read_exact(&mut header).ok()?;
        if &header != MAGIC {
            return None;
        }
        Some(CacheReader {
            input,
            key: Vec::with_capacity(64),
        })
    }

    /// The next row; `None` at the end. A damaged file ends with an error.
    pub fn next_row(&mut self) -> Option<Result<CachedRow, String>> {
        let mut first = [0u8; 1];
        match self.input.read(&mut first) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(e) => return Some(Err(e.to_string())),
        }
        Some(self.rest(first[0]))
    }

    fn varint(&mut self, first: Option<u8>) -> Result<u64, String> {
        let mut v = 0u64;
        let mut b = [0u8; 1];
        for (i, shift) in (0..64).step_by(7).enumerate() {
            let byte = match (i, first) {
                (0, Some(f)) => f,
                _ => {
                    self.input.read_exact(&mut b).map_err(|e| e.to_string())?;
                    b[0]
                }
            };
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("bad varint".into())
    }

    fn rest(&mut self, first: u8) -> Result<CachedRow, String> {
        let len = self.varint(Some(first))?;
        if len > 1 << 24 {
            return Err("key too long".into());
        }
        self.key.resize(len as usize, 0);
        self.input
            .read_exact(&mut self.key)
            .map_err(|e| e.to_string())?;
        let key = Reader::new(&self.key).row().map_err(|e| e.to_string())?;
        let mut digest = [0u8; 16];
        self.input
            .read_exact(&mut digest)
            .map_err(|e| e.to_string())?;
        let chunk = self.varint(None)? as usize;
        let row = self.varint(None)?;
        Ok(CachedRow {
            key,
            digest,
            chunk,
            row,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_round_trip_and_staleness() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let table = TableName::new("users");
        let data = BlobId([7; 32]);
        let mut w = CacheWriter::create(dir.path()).unwrap_or_else(|| panic!("writer"));
        let mut key = Vec::new();
        for i in 0..1000i64 {
            key.clear();
            tresor_core::codec::encode_row(
                &[Value::Int(i), Value::Text(format!("k{i}"))],
                &mut key,
            );
            w.push(
                &key,
                &row_digest(&i.to_le_bytes()),
                (i / 100) as usize,
                (i % 100) as u64,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        }
        let tmp = w.finish().unwrap_or_else(|e| panic!("{e}"));
        commit(dir.path(), "snap1", None, vec![(table.clone(), data, tmp)]);
        let mut r = CacheReader::open(dir.path(), "snap1", &table, &data)
            .unwrap_or_else(|| panic!("reader"));
        let mut n = 0i64;
        while let Some(row) = r.next_row() {
            let row = row.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(row.key[0], Value::Int(n));
            assert_eq!(row.digest, row_digest(&n.to_le_bytes()));
            assert_eq!((row.chunk, row.row), ((n / 100) as usize, (n % 100) as u64));
            n += 1;
        }
        assert_eq!(n, 1000);
        assert!(
            CacheReader::open(dir.path(), "snap1", &table, &BlobId([8; 32])).is_none(),
            "stale cache is ignored"
        );
        assert!(CacheReader::open(dir.path(), "snap2", &table, &data).is_none());
    }
}
