//! Reading archives: open, validate, stream each table's rows back.

mod tar;
mod zip_directory;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use tresor_core::codec::{TableDigest, encode_row};
use tresor_core::json::{document_from_json, row_from_json};
use tresor_core::{DatabaseSchema, Row, TableName, TableSchema, Value};
use zip::ZipArchive;

use self::tar::TarCursor;
use crate::error::{ArchiveError, zip_error};
use crate::metadata::{
    ArchiveMetadata, METADATA_FILE, RowEncoding, TABLES_DIR, TableEntry, document_layout,
    is_unsafe_entry, parse_metadata,
};
use crate::writer::ArchiveFormat;

/// Bounds on what reading an archive may cost, against hostile input.
#[derive(Clone, Copy, Debug)]
pub struct ReadLimits {
    /// Longest line (one row) accepted, in bytes. Default 256 MiB.
    pub max_line_bytes: usize,
    /// Most bytes the whole archive may inflate to. Default unlimited.
    pub max_inflated_bytes: Option<u64>,
    /// Most bytes the archive may inflate to per byte of archive file
    /// (a zip bomb inflates thousands of times). Default unlimited; JSON
    /// rows typically inflate 5 to 50 times.
    pub max_inflation_ratio: Option<u64>,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_line_bytes: 256 << 20,
            max_inflated_bytes: None,
            max_inflation_ratio: None,
        }
    }
}

impl ReadLimits {
    fn total(&self, archive_len: u64) -> u64 {
        let by_ratio = self
            .max_inflation_ratio
            .map_or(u64::MAX, |r| r.saturating_mul(archive_len.max(1)));
        self.max_inflated_bytes.unwrap_or(u64::MAX).min(by_ratio)
    }
}

enum Backend {
    Zip {
        zip: Box<ZipArchive<BufReader<File>>>,
        /// Declared inflated size of each file.
        sizes: HashMap<String, u64>,
    },
    Tar {
        path: PathBuf,
        entries: HashMap<String, tar::TarEntry>,
        cursor: Option<TarCursor>,
        limit: u64,
    },
}

/// An opened, structurally checked archive.
///
/// [`open`](Self::open) checks the container, `metadata.json` (format,
/// version, schema, file names) and that the archive holds exactly the
/// listed files. Row content is checked while reading:
/// [`read_table`](Self::read_table) recomputes each table's row count and
/// digest, and [`validate`](Self::validate) reads everything.
///
/// Memory stays bounded: one line at a time, whatever the table size. A
/// tar.zst archive is decompressed once at open to find `metadata.json`
/// (it is the last file) and then once more for the tables, in file order
/// (reading tables out of order restarts the decompression).
pub struct ArchiveReader {
    format: ArchiveFormat,
    metadata: ArchiveMetadata,
    limits: ReadLimits,
    backend: Backend,
}

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const ZIP_EMPTY_MAGIC: &[u8] = b"PK\x05\x06";
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

fn sniff(path: &Path) -> Result<(ArchiveFormat, u64), ArchiveError> {
    let mut f = File::open(path)
        .map_err(|e| ArchiveError::io(format!("cannot open {}", path.display()), e))?;
    let len = f
        .metadata()
        .map_err(|e| ArchiveError::io(format!("cannot open {}", path.display()), e))?
        .len();
    let mut magic = Vec::with_capacity(4);
    (&mut f)
        .take(4)
        .read_to_end(&mut magic)
        .map_err(|e| ArchiveError::io(format!("cannot read {}", path.display()), e))?;
    let format = if magic == ZIP_MAGIC || magic == ZIP_EMPTY_MAGIC {
        ArchiveFormat::Zip
    } else if magic == ZSTD_MAGIC {
        ArchiveFormat::TarZst
    } else if magic.is_empty() {
        return Err(ArchiveError::NotAnArchive("the file is empty".into()));
    } else if magic.starts_with(&[0x1f, 0x8b]) {
        return Err(ArchiveError::NotAnArchive(
            "a gzip file; tresor archives are .zip or .tar.zst".into(),
        ));
    } else {
        return Err(ArchiveError::NotAnArchive(
            "neither a zip nor a zstd-compressed tar file".into(),
        ));
    };
    Ok((format, len))
}

impl ArchiveReader {
    /// Opens the archive at `path` with default [`ReadLimits`].
    ///
    /// # Errors
    /// Not an archive, truncated or corrupt container, missing or invalid
    /// metadata, a newer format version, unsafe names, files that differ
    /// from the metadata's list, inflated size beyond the limits.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ArchiveError> {
        Self::open_with_limits(path, ReadLimits::default())
    }

    /// Opens the archive at `path` within `limits`.
    ///
    /// # Errors
    /// As [`ArchiveReader::open`].
    pub fn open_with_limits(
        path: impl AsRef<Path>,
        limits: ReadLimits,
    ) -> Result<Self, ArchiveError> {
        let path = path.as_ref();
        let (format, len) = sniff(path)?;
        let total = limits.total(len);
        let max_metadata = limits.max_line_bytes as u64;
        let (backend, names, meta_bytes) = match format {
            ArchiveFormat::Zip => {
                let mut seen = HashSet::new();
                for e in zip_directory::entries(path)? {
                    if e.symlink {
                        return Err(ArchiveError::UnsafeName(format!(
                            "{} (a symbolic link)",
                            e.name
                        )));
                    }
                    if !seen.insert(e.name.clone()) {
                        return Err(ArchiveError::Corrupt(format!("{:?} appears twice", e.name)));
                    }
                }
                let f = File::open(path)
                    .map_err(|e| ArchiveError::io(format!("cannot open {}", path.display()), e))?;
                let mut zip = ZipArchive::new(BufReader::new(f)).map_err(|e| match e {
                    zip::result::ZipError::InvalidArchive(m)
                        if m.contains("EOCD") || m.contains("Unexpected end") =>
                    {
                        ArchiveError::Truncated(format!("zip central directory not found ({m})"))
                    }
                    other => zip_error("zip archive", other),
                })?;
                let mut sizes = HashMap::new();
                let mut names = Vec::new();
                let mut sum = 0u64;
                for i in 0..zip.len() {
                    let file = zip
                        .by_index_raw(i)
                        .map_err(|e| zip_error("zip archive", e))?;
                    let name = file
                        .name()
                        .map_err(|e| zip_error("zip archive", e))?
                        .into_owned();
                    sum = sum.saturating_add(file.size());
                    let is_dir = file.is_dir();
                    let size = file.size();
                    drop(file);
                    if is_unsafe_entry(&name) {
                        return Err(ArchiveError::UnsafeName(name));
                    }
                    if sizes.insert(name.clone(), size).is_some() {
                        return Err(ArchiveError::Corrupt(format!("{name:?} appears twice")));
                    }
                    names.push((name, is_dir));
                }
                if sum > total {
                    return Err(ArchiveError::TooLarge { limit: total });
                }
                let meta = match sizes.get(METADATA_FILE) {
                    None => None,
                    Some(&size) if size > max_metadata => {
                        return Err(ArchiveError::InvalidMetadata(format!(
                            "larger than {max_metadata} bytes"
                        )));
                    }
                    Some(&size) => {
                        let file = zip
                            .by_name(METADATA_FILE)
                            .map_err(|e| zip_error(METADATA_FILE, e))?;
                        let mut buf = Vec::new();
                        CappedRead::new(file, size, METADATA_FILE)
                            .read_to_end(&mut buf)
                            .map_err(|e| ArchiveError::reading(METADATA_FILE, e))?;
                        Some(buf)
                    }
                };
                (
                    Backend::Zip {
                        zip: Box::new(zip),
                        sizes,
                    },
                    names,
                    meta,
                )
            }
            ArchiveFormat::TarZst => {
                let (entries, meta) = tar::scan(path, total, max_metadata)?;
                let mut map = HashMap::new();
                let mut names = Vec::new();
                for e in entries {
                    if is_unsafe_entry(&e.name) {
                        return Err(ArchiveError::UnsafeName(e.name));
                    }
                    names.push((e.name.clone(), e.is_dir));
                    if let Some(old) = map.insert(e.name.clone(), e) {
                        return Err(ArchiveError::Corrupt(format!(
                            "{:?} appears twice",
                            old.name
                        )));
                    }
                }
                (
                    Backend::Tar {
                        path: path.to_path_buf(),
                        entries: map,
                        cursor: None,
                        limit: total,
                    },
                    names,
                    meta,
                )
            }
        };
        let meta_bytes = meta_bytes.ok_or(ArchiveError::MissingMetadata)?;
        let metadata = parse_metadata(&meta_bytes)?;
        // exactly the listed files, plus at most the tables/ directory
        let listed: HashSet<&str> = metadata.tables.iter().map(|t| t.file.as_str()).collect();
        let present: HashSet<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
        let mut missing: Vec<String> = listed
            .iter()
            .filter(|f| !present.contains(**f))
            .map(|f| (*f).to_string())
            .collect();
        let mut unlisted: Vec<String> = names
            .iter()
            .filter(|(n, is_dir)| {
                n != METADATA_FILE
                    && !listed.contains(n.as_str())
                    && !(*is_dir && n.trim_end_matches('/') == TABLES_DIR.trim_end_matches('/'))
            })
            .map(|(n, _)| n.clone())
            .collect();
        if !missing.is_empty() || !unlisted.is_empty() {
            missing.sort();
            unlisted.sort();
            return Err(ArchiveError::FileListMismatch { missing, unlisted });
        }
        Ok(ArchiveReader {
            format,
            metadata,
            limits,
            backend,
        })
    }

    /// The container format.
    pub fn format(&self) -> ArchiveFormat {
        self.format
    }

    /// The parsed `metadata.json`.
    pub fn metadata(&self) -> &ArchiveMetadata {
        &self.metadata
    }

    /// The database schema the archive records.
    pub fn schema(&self) -> &DatabaseSchema {
        &self.metadata.schema
    }

    /// Streams the rows of table `name` in file order.
    ///
    /// Each item is a row or the error of one line (a bad line does not end
    /// the iteration; damage to the container does). After the last line
    /// the row count and digest are compared with the metadata and a
    /// mismatch is yielded as a final error, so a caller that stops at the
    /// first error never accepts a damaged or forged table.
    ///
    /// # Errors
    /// [`ArchiveError::UnknownTable`]; container errors opening the file.
    pub fn read_table(&mut self, name: &TableName) -> Result<TableRows<'_>, ArchiveError> {
        let entry = self
            .metadata
            .tables
            .iter()
            .find(|t| &t.name == name)
            .cloned()
            .ok_or_else(|| ArchiveError::UnknownTable(name.to_string()))?;
        let schema = self
            .metadata
            .schema
            .table(name)
            .cloned()
            .ok_or_else(|| ArchiveError::UnknownTable(name.to_string()))?;
        let input: Box<dyn BufRead + '_> = match &mut self.backend {
            Backend::Zip { zip, sizes } => {
                let size = sizes.get(&entry.file).copied().unwrap_or(0);
                let file = zip
                    .by_name(&entry.file)
                    .map_err(|e| zip_error(&entry.file, e))?;
                Box::new(BufReader::with_capacity(
                    256 * 1024,
                    CappedRead::new(file, size, &entry.file),
                ))
            }
            Backend::Tar {
                path,
                entries,
                cursor,
                limit,
            } => {
                let e = entries
                    .get(&entry.file)
                    .ok_or_else(|| ArchiveError::UnknownTable(name.to_string()))?;
                if cursor.as_ref().is_none_or(|c| c.pos() > e.offset) {
                    *cursor = Some(TarCursor::open(path, *limit)?);
                }
                let Some(c) = cursor.as_mut() else {
                    return Err(ArchiveError::Usage("tar cursor missing".into()));
                };
                let skip = e.offset - c.pos();
                c.skip(skip)
                    .map_err(|err| ArchiveError::reading("tar stream", err))?;
                Box::new(c.take(e.size))
            }
        };
        Ok(TableRows {
            schema,
            entry,
            input,
            max_line: self.limits.max_line_bytes,
            line: Vec::new(),
            encoded: Vec::new(),
            line_no: 0,
            rows: 0,
            bad_lines: 0,
            digest: TableDigest::new(),
            done: false,
        })
    }

    /// Reads every table and reports every problem found (bad lines, up to
    /// 100 per table, then row count and digest mismatches).
    pub fn validate(&mut self) -> ValidationReport {
        let mut report = ValidationReport::default();
        let names: Vec<TableName> = self
            .metadata
            .tables
            .iter()
            .map(|t| t.name.clone())
            .collect();
        for name in names {
            let mut check = TableCheck {
                name: name.clone(),
                rows: 0,
                ok: true,
            };
            match self.read_table(&name) {
                Err(e) => {
                    check.ok = false;
                    report.problems.push(e);
                }
                Ok(rows) => {
                    let mut line_errors = 0;
                    for item in rows {
                        match item {
                            Ok(_) => check.rows += 1,
                            Err(e) => {
                                check.ok = false;
                                let summary = matches!(
                                    e,
                                    ArchiveError::RowCountMismatch { .. }
                                        | ArchiveError::DigestMismatch { .. }
                                );
                                // after bad lines, the count and digest cannot match
                                if summary && line_errors > 0 {
                                    continue;
                                }
                                if !summary {
                                    line_errors += 1;
                                }
                                if line_errors <= 100 {
                                    report.problems.push(e);
                                }
                            }
                        }
                    }
                }
            }
            report.tables.push(check);
        }
        report
    }
}

/// The outcome of [`ArchiveReader::validate`].
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ValidationReport {
    /// One entry per table, in file order.
    pub tables: Vec<TableCheck>,
    /// Every problem found.
    pub problems: Vec<ArchiveError>,
}

impl ValidationReport {
    /// Whether the archive is intact.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// How one table fared in [`ArchiveReader::validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableCheck {
    /// The table.
    pub name: TableName,
    /// Rows that decoded.
    pub rows: u64,
    /// No problem found in this table.
    pub ok: bool,
}

/// A reader that fails when an entry inflates beyond its declared size.
struct CappedRead<R> {
    inner: R,
    left: u64,
    what: String,
}

impl<R> CappedRead<R> {
    fn new(inner: R, declared: u64, what: &str) -> Self {
        CappedRead {
            inner,
            left: declared,
            what: what.to_string(),
        }
    }
}

impl<R: Read> Read for CappedRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(ArchiveError::Corrupt(format!(
                "{} inflates beyond its declared size",
                self.what
            ))
            .into_io());
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// The rows of one table, from [`ArchiveReader::read_table`].
pub struct TableRows<'a> {
    schema: TableSchema,
    entry: TableEntry,
    input: Box<dyn BufRead + 'a>,
    max_line: usize,
    line: Vec<u8>,
    encoded: Vec<u8>,
    line_no: u64,
    rows: u64,
    bad_lines: u64,
    digest: TableDigest,
    done: bool,
}

enum LineRead {
    Eof,
    Complete,
    TooLong,
}

impl TableRows<'_> {
    /// The table's schema.
    pub fn schema(&self) -> &TableSchema {
        &self.schema
    }

    /// The table's metadata entry (file, expected rows and digest).
    pub fn entry(&self) -> &TableEntry {
        &self.entry
    }

    fn read_line(&mut self) -> io::Result<LineRead> {
        self.line.clear();
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                return Ok(if self.line.is_empty() {
                    LineRead::Eof
                } else {
                    LineRead::Complete
                });
            }
            let (chunk, found) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], true),
                None => (buf, false),
            };
            if self.line.len() + chunk.len() > self.max_line {
                return Ok(LineRead::TooLong);
            }
            self.line.extend_from_slice(chunk);
            let used = chunk.len() + usize::from(found);
            self.input.consume(used);
            if found {
                return Ok(LineRead::Complete);
            }
        }
    }

    fn decode(&self) -> Result<Row, ArchiveError> {
        let file = &self.entry.file;
        let json: serde_json::Value =
            serde_json::from_slice(&self.line).map_err(|e| ArchiveError::BadLine {
                file: file.clone(),
                line: self.line_no,
                detail: e.to_string(),
            })?;
        let bad_row = |source| ArchiveError::BadRow {
            file: file.clone(),
            line: self.line_no,
            source,
        };
        match self.entry.encoding {
            RowEncoding::Row => {
                let obj = json
                    .as_object()
                    .ok_or_else(|| bad_row(tresor_core::json::JsonError::RowNotObject))?;
                row_from_json(&self.schema, obj).map_err(bad_row)
            }
            RowEncoding::ExtJson => {
                let doc = document_from_json(&json).map_err(bad_row)?;
                let Some((at, key)) = document_layout(&self.schema) else {
                    return Err(bad_row(tresor_core::json::JsonError::RowNotObject));
                };
                let mut row = vec![Value::Null; if key.is_some() { 2 } else { 1 }];
                if let Some(k) = key {
                    let invalid = |detail: String| {
                        bad_row(tresor_core::json::JsonError::Invalid {
                            kind: "document",
                            detail,
                        })
                    };
                    row[k] = tresor_core::document_key(&doc).map_err(invalid)?;
                }
                row[at] = Value::Document(doc);
                Ok(row)
            }
        }
    }

    fn finish(&mut self) -> Option<ArchiveError> {
        self.done = true;
        let table = self.entry.name.to_string();
        let file = self.entry.file.clone();
        let found = self.rows + self.bad_lines;
        if found != self.entry.rows {
            return Some(ArchiveError::RowCountMismatch {
                table,
                file,
                found,
                expected: self.entry.rows,
            });
        }
        if self.digest.finish() != self.entry.digest.to_ascii_lowercase() {
            return Some(ArchiveError::DigestMismatch {
                table,
                file,
                lines: self.line_no,
            });
        }
        None
    }
}

impl Iterator for TableRows<'_> {
    type Item = Result<Row, ArchiveError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let what = self.entry.file.clone();
        match self.read_line() {
            Err(e) => {
                self.done = true;
                Some(Err(ArchiveError::reading(&what, e)))
            }
            Ok(LineRead::TooLong) => {
                self.done = true;
                Some(Err(ArchiveError::LineTooLong {
                    file: what,
                    line: self.line_no + 1,
                    limit: self.max_line,
                }))
            }
            Ok(LineRead::Eof) => self.finish().map(Err),
            Ok(LineRead::Complete) => {
                self.line_no += 1;
                match self.decode() {
                    Ok(row) => {
                        self.encoded.clear();
                        encode_row(&row, &mut self.encoded);
                        self.digest.update(&self.encoded);
                        self.rows += 1;
                        Some(Ok(row))
                    }
                    Err(e) => {
                        self.bad_lines += 1;
                        Some(Err(e))
                    }
                }
            }
        }
    }
}
