//! Writing archives: rows in, a ZIP or tar.zst stream out.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use tresor_core::codec::{TableDigest, encode_row};
use tresor_core::json::{document_to_json, row_to_json};
use tresor_core::{DatabaseSchema, Row, TableName, TableSchema, Value, redact_url};
use zip::ZipWriter;
use zip::write::{SimpleFileOptions, StreamWriter};

use crate::error::{ArchiveError, zip_error};
use crate::metadata::{
    ArchiveMetadata, FORMAT_NAME, FORMAT_VERSION, FileNamer, METADATA_FILE, RowEncoding,
    TableEntry, document_layout,
};

/// The container of an archive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// ZIP with deflate (the default): opens anywhere.
    #[default]
    Zip,
    /// A tar stream compressed with zstd (level 3): smaller and faster.
    TarZst,
}

impl ArchiveFormat {
    /// The usual file extension, without the leading dot.
    pub fn extension(self) -> &'static str {
        match self {
            ArchiveFormat::Zip => "zip",
            ArchiveFormat::TarZst => "tar.zst",
        }
    }

    /// The format a file name asks for: `.tar.zst`/`.tzst` means tar.zst,
    /// anything else ZIP.
    pub fn from_file_name(name: &str) -> ArchiveFormat {
        let lower = name.to_lowercase();
        if lower.ends_with(".tar.zst") || lower.ends_with(".tzst") {
            ArchiveFormat::TarZst
        } else {
            ArchiveFormat::Zip
        }
    }
}

/// Less common writer settings.
#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// The `tresor_version` recorded; defaults to this crate's version.
    pub tresor_version: String,
    /// The `created_at` time; defaults to now. Also the files' modification
    /// time inside the archive.
    pub created_at: Option<DateTime<Utc>>,
    /// Where tar.zst archives stage one table's lines (tar needs each
    /// file's size before its data); defaults to the system temp
    /// directory. Unused for ZIP.
    pub temp_dir: Option<PathBuf>,
    /// zstd level for tar.zst.
    pub zstd_level: i32,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            tresor_version: env!("CARGO_PKG_VERSION").to_string(),
            created_at: None,
            temp_dir: None,
            zstd_level: 3,
        }
    }
}

/// What was written for one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSummary {
    /// The file inside the archive.
    pub file: String,
    /// Rows written.
    pub rows: u64,
    /// The table digest (the same as a snapshot records for these rows).
    pub digest: String,
}

enum Sink<W: Write> {
    Zip(Box<ZipWriter<StreamWriter<Output<W>>>>),
    Tar(tar::Builder<zstd::Encoder<'static, W>>),
}

struct OpenTable {
    schema: TableSchema,
    file: String,
    encoding: RowEncoding,
    rows: u64,
    digest: TableDigest,
    /// tar.zst only: the table's lines, staged until the size is known.
    staged: Option<BufWriter<File>>,
}

/// Streams an archive into any [`Write`], no [`Seek`] needed (an HTTP
/// response body works). Memory stays bounded whatever the table sizes:
/// rows are encoded one at a time.
///
/// Call [`begin_table`](Self::begin_table), [`push_row`](Self::push_row)
/// for each row, [`end_table`](Self::end_table) for every table of the
/// schema (or [`write_table`](Self::write_table)), then
/// [`finish`](Self::finish), which writes `metadata.json` last.
pub struct ArchiveWriter<W: Write> {
    sink: Option<Sink<W>>,
    /// Set when the writer is dropped unfinished: see [`Output`].
    abandoned: Arc<AtomicBool>,
    schema: DatabaseSchema,
    snapshot: serde_json::Value,
    options: WriterOptions,
    created_at: DateTime<Utc>,
    entries: Vec<TableEntry>,
    written: HashSet<TableName>,
    namer: FileNamer,
    current: Option<OpenTable>,
    line: Vec<u8>,
    encoded: Vec<u8>,
}

/// A ZIP archive's output. A `ZipWriter` dropped unfinished finishes the
/// archive on its own and prints to stderr when that fails (a reader that
/// went away, a full disk). An archive abandoned after an error is not to
/// be finished: once [`ArchiveWriter`] is dropped unfinished, its output
/// takes nothing more, so the archive stays visibly cut short (no central
/// directory) and the error already reported is the only one.
struct Output<W> {
    inner: W,
    abandoned: Arc<AtomicBool>,
}

impl<W: Write> Write for Output<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.abandoned.load(Ordering::Relaxed) {
            return Ok(buf.len());
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.abandoned.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.inner.flush()
    }
}

fn write_err(e: io::Error) -> ArchiveError {
    ArchiveError::io("cannot write archive", e)
}

impl<W: Write> ArchiveWriter<W> {
    /// Starts an archive of `schema` with default [`WriterOptions`].
    ///
    /// `snapshot` describes the exported snapshot (id, time, source,
    /// engine, server version, tags, reason...): a JSON object recorded as
    /// is, except that a `source` URL is passed through
    /// [`redact_url`].
    ///
    /// # Errors
    /// [`ArchiveError::Usage`] if `snapshot` is not an object; I/O errors.
    pub fn new(
        out: W,
        format: ArchiveFormat,
        snapshot: serde_json::Value,
        schema: &DatabaseSchema,
    ) -> Result<Self, ArchiveError> {
        Self::with_options(out, format, snapshot, schema, WriterOptions::default())
    }

    /// Starts an archive with explicit options.
    ///
    /// # Errors
    /// As [`ArchiveWriter::new`].
    pub fn with_options(
        out: W,
        format: ArchiveFormat,
        mut snapshot: serde_json::Value,
        schema: &DatabaseSchema,
        options: WriterOptions,
    ) -> Result<Self, ArchiveError> {
        let Some(obj) = snapshot.as_object_mut() else {
            return Err(ArchiveError::Usage(
                "snapshot metadata must be a json object".into(),
            ));
        };
        if let Some(serde_json::Value::String(url)) = obj.get_mut("source") {
            *url = redact_url(url);
        }
        let abandoned = Arc::new(AtomicBool::new(false));
        let sink = match format {
            ArchiveFormat::Zip => Sink::Zip(Box::new(ZipWriter::new_stream(Output {
                inner: out,
                abandoned: abandoned.clone(),
            }))),
            ArchiveFormat::TarZst => {
                let mut enc = zstd::Encoder::new(out, options.zstd_level).map_err(write_err)?;
                // a flipped bit is then a clear error, not silently wrong data
                enc.include_checksum(true).map_err(write_err)?;
                Sink::Tar(tar::Builder::new(enc))
            }
        };
        Ok(ArchiveWriter {
            sink: Some(sink),
            abandoned,
            schema: schema.clone(),
            snapshot,
            created_at: options.created_at.unwrap_or_else(Utc::now),
            options,
            entries: Vec::new(),
            written: HashSet::new(),
            namer: FileNamer::default(),
            current: None,
            line: Vec::new(),
            encoded: Vec::new(),
        })
    }

    fn sink(&mut self) -> Result<&mut Sink<W>, ArchiveError> {
        self.sink
            .as_mut()
            .ok_or_else(|| ArchiveError::Usage("the archive was abandoned after an error".into()))
    }

    fn zip_options(&self, large: bool) -> SimpleFileOptions {
        let t = self.created_at;
        let mut o = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o644)
            .large_file(large);
        if let Ok(dt) = zip::DateTime::from_date_and_time(
            u16::try_from(t.year()).unwrap_or(1980),
            t.month() as u8,
            t.day() as u8,
            t.hour() as u8,
            t.minute() as u8,
            t.second() as u8,
        ) {
            o = o.last_modified_time(dt);
        }
        o
    }

    /// Starts the file of table `name`, which must be in the schema and
    /// not written yet.
    ///
    /// # Errors
    /// [`ArchiveError::Usage`] for an unknown or repeated table or an
    /// unfinished previous one; I/O errors.
    pub fn begin_table(&mut self, name: &TableName) -> Result<(), ArchiveError> {
        if let Some(t) = &self.current {
            return Err(ArchiveError::Usage(format!(
                "table {} is not finished",
                t.schema.name
            )));
        }
        let Some(schema) = self.schema.table(name).cloned() else {
            return Err(ArchiveError::Usage(format!(
                "table {name} is not in the schema"
            )));
        };
        if !self.written.insert(name.clone()) {
            return Err(ArchiveError::Usage(format!(
                "table {name} was already written"
            )));
        }
        let file = self.namer.file_for(name);
        let zip_options = self.zip_options(true);
        let temp_dir = self.options.temp_dir.clone();
        let staged = match self.sink()? {
            Sink::Zip(z) => {
                z.start_file(file.as_str(), zip_options)
                    .map_err(|e| zip_error("cannot write archive", e))?;
                None
            }
            Sink::Tar(_) => {
                let f = match temp_dir {
                    Some(dir) => tempfile::tempfile_in(dir),
                    None => tempfile::tempfile(),
                }
                .map_err(|e| ArchiveError::io("cannot create a temporary file", e))?;
                Some(BufWriter::with_capacity(256 * 1024, f))
            }
        };
        self.current = Some(OpenTable {
            encoding: RowEncoding::for_table(&schema),
            schema,
            file,
            rows: 0,
            digest: TableDigest::new(),
            staged,
        });
        Ok(())
    }

    /// Writes one row of the current table (values in stored column order).
    ///
    /// # Errors
    /// [`ArchiveError::InvalidRow`] for a row that does not fit the table;
    /// [`ArchiveError::Usage`] without a current table; I/O errors.
    pub fn push_row(&mut self, row: &[Value]) -> Result<(), ArchiveError> {
        let Some(t) = self.current.as_mut() else {
            return Err(ArchiveError::Usage("push_row without begin_table".into()));
        };
        self.line.clear();
        let invalid = |detail: String| ArchiveError::InvalidRow {
            table: t.schema.name.to_string(),
            detail,
        };
        match t.encoding {
            RowEncoding::Row => {
                let obj = row_to_json(&t.schema, row).map_err(|e| invalid(e.to_string()))?;
                serde_json::to_writer(&mut self.line, &obj).map_err(|e| invalid(e.to_string()))?;
            }
            RowEncoding::ExtJson => {
                let doc = document_layout(&t.schema)
                    .filter(|_| row.len() == t.schema.stored_columns().count())
                    .and_then(|(at, _)| match &row[at] {
                        Value::Document(doc) => Some(doc),
                        _ => None,
                    })
                    .ok_or_else(|| {
                        invalid("a collection row must hold its document value".into())
                    })?;
                serde_json::to_writer(&mut self.line, &document_to_json(doc))
                    .map_err(|e| invalid(e.to_string()))?;
            }
        }
        self.line.push(b'\n');
        self.encoded.clear();
        encode_row(row, &mut self.encoded);
        t.digest.update(&self.encoded);
        t.rows += 1;
        let result = match (&mut t.staged, self.sink.as_mut()) {
            (Some(f), _) => f.write_all(&self.line),
            (None, Some(Sink::Zip(z))) => z.write_all(&self.line),
            _ => Err(io::Error::other("no open output")),
        };
        result.map_err(write_err)
    }

    /// Finishes the current table's file.
    ///
    /// # Errors
    /// [`ArchiveError::Usage`] without a current table; I/O errors.
    pub fn end_table(&mut self) -> Result<TableSummary, ArchiveError> {
        let Some(t) = self.current.take() else {
            return Err(ArchiveError::Usage("end_table without begin_table".into()));
        };
        if let Some(staged) = t.staged {
            let mut f = staged
                .into_inner()
                .map_err(|e| ArchiveError::io("cannot write a temporary file", e.into_error()))?;
            let size = f
                .seek(SeekFrom::End(0))
                .and_then(|n| f.seek(SeekFrom::Start(0)).map(|_| n))
                .map_err(|e| ArchiveError::io("cannot read a temporary file", e))?;
            let mut header = self.tar_header(size);
            if let Sink::Tar(b) = self.sink()? {
                b.append_data(&mut header, &t.file, io::BufReader::new(f))
                    .map_err(write_err)?;
            }
        }
        let summary = TableSummary {
            file: t.file.clone(),
            rows: t.rows,
            digest: t.digest.finish(),
        };
        self.entries.push(TableEntry {
            name: t.schema.name.clone(),
            file: t.file,
            encoding: t.encoding,
            rows: t.rows,
            digest: summary.digest.clone(),
        });
        Ok(summary)
    }

    fn tar_header(&self, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(u64::try_from(self.created_at.timestamp()).unwrap_or(0));
        h.set_entry_type(tar::EntryType::Regular);
        h
    }

    /// Writes a whole table from an iterator of rows.
    ///
    /// # Errors
    /// As [`begin_table`](Self::begin_table) and [`push_row`](Self::push_row).
    pub fn write_table(
        &mut self,
        name: &TableName,
        rows: impl IntoIterator<Item = Row>,
    ) -> Result<TableSummary, ArchiveError> {
        self.begin_table(name)?;
        for row in rows {
            self.push_row(&row)?;
        }
        self.end_table()
    }

    /// Writes `metadata.json` and closes the container, returning the
    /// output.
    ///
    /// # Errors
    /// [`ArchiveError::Usage`] when a table is open or a table of the
    /// schema was not written; I/O errors.
    pub fn finish(mut self) -> Result<W, ArchiveError> {
        if let Some(t) = &self.current {
            return Err(ArchiveError::Usage(format!(
                "table {} is not finished",
                t.schema.name
            )));
        }
        if let Some(t) = self
            .schema
            .tables
            .iter()
            .find(|t| !self.written.contains(&t.name))
        {
            return Err(ArchiveError::Usage(format!(
                "table {} was not written",
                t.name
            )));
        }
        let meta = ArchiveMetadata {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
            tresor_version: self.options.tresor_version.clone(),
            created_at: self.created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            snapshot: std::mem::take(&mut self.snapshot),
            schema: std::mem::replace(
                &mut self.schema,
                DatabaseSchema {
                    engine: tresor_core::Engine::SQLITE,
                    tables: Vec::new(),
                    objects: Vec::new(),
                    settings: Default::default(),
                },
            ),
            tables: std::mem::take(&mut self.entries),
        };
        let mut bytes = serde_json::to_vec_pretty(&meta)
            .map_err(|e| ArchiveError::Usage(format!("cannot encode metadata: {e}")))?;
        bytes.push(b'\n');
        let zip_options = self.zip_options(false);
        let mut header = self.tar_header(bytes.len() as u64);
        match self.sink.take() {
            Some(Sink::Zip(mut z)) => {
                z.start_file(METADATA_FILE, zip_options)
                    .map_err(|e| zip_error("cannot write archive", e))?;
                z.write_all(&bytes).map_err(write_err)?;
                let mut out = z
                    .finish()
                    .map_err(|e| zip_error("cannot write archive", e))?;
                out.flush().map_err(write_err)?;
                Ok(out.into_inner().inner)
            }
            Some(Sink::Tar(mut b)) => {
                b.append_data(&mut header, METADATA_FILE, bytes.as_slice())
                    .map_err(write_err)?;
                let enc = b.into_inner().map_err(write_err)?;
                let mut out = enc.finish().map_err(write_err)?;
                out.flush().map_err(write_err)?;
                Ok(out)
            }
            None => Err(ArchiveError::Usage(
                "the archive was abandoned after an error".into(),
            )),
        }
    }
}

impl<W: Write> Drop for ArchiveWriter<W> {
    fn drop(&mut self) {
        self.abandoned.store(true, Ordering::Relaxed);
    }
}
