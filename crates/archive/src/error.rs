//! The one error type of export archives.

use std::io;

use thiserror::Error;
use tresor_core::json::JsonError;

/// What went wrong writing or reading an export archive.
///
/// Messages name the table, the file inside the archive and the line where
/// that helps; [`ArchiveError::hint`] says what the user can do.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// Local file system or output stream trouble.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file is not a tresor export archive at all.
    #[error("not a tresor export archive: {0}")]
    NotAnArchive(String),
    /// The archive ends too early.
    #[error("archive is truncated: {0}")]
    Truncated(String),
    /// The container or its compression is damaged.
    #[error("archive is corrupt: {0}")]
    Corrupt(String),
    /// No `metadata.json` in the archive.
    #[error("archive has no metadata.json")]
    MissingMetadata,
    /// `metadata.json` is not what format 1 describes.
    #[error("invalid metadata.json: {0}")]
    InvalidMetadata(String),
    /// An archive written by a newer tresor.
    #[error(
        "archive format version {found} is newer than this tresor supports (version {supported})"
    )]
    UnsupportedVersion {
        /// The version in the archive.
        found: u64,
        /// The newest version this build reads.
        supported: u32,
    },
    /// An entry or listed file name that could escape a directory.
    #[error("unsafe file name {0:?} in archive")]
    UnsafeName(String),
    /// The archive's files differ from the files `metadata.json` lists.
    #[error(
        "archive files do not match metadata.json:{}{}",
        list(" missing", missing),
        list(" unlisted", unlisted)
    )]
    FileListMismatch {
        /// Listed in the metadata but absent.
        missing: Vec<String>,
        /// Present but not listed.
        unlisted: Vec<String>,
    },
    /// Inflated data beyond the caller's limit (a zip bomb, or a limit set
    /// too low).
    #[error("archive inflates to more than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// One line longer than the line limit.
    #[error("{file} line {line}: longer than {limit} bytes")]
    LineTooLong {
        /// File inside the archive.
        file: String,
        /// 1-based line number.
        line: u64,
        /// The limit in bytes.
        limit: usize,
    },
    /// A line that is not JSON.
    #[error("{file} line {line}: not valid json: {detail}")]
    BadLine {
        /// File inside the archive.
        file: String,
        /// 1-based line number.
        line: u64,
        /// The parser's message.
        detail: String,
    },
    /// A line that is JSON but not a row of its table.
    #[error("{file} line {line}: {source}")]
    BadRow {
        /// File inside the archive.
        file: String,
        /// 1-based line number.
        line: u64,
        /// Why the row is invalid.
        #[source]
        source: JsonError,
    },
    /// A table file whose row count differs from the metadata.
    #[error("table {table} ({file}): {found} rows in the file but metadata.json says {expected}")]
    RowCountMismatch {
        /// The table.
        table: String,
        /// File inside the archive.
        file: String,
        /// Rows read.
        found: u64,
        /// Rows the metadata records.
        expected: u64,
    },
    /// A table file whose content digest differs from the metadata.
    #[error(
        "table {table} ({file}): content digest does not match metadata.json ({lines} lines read): the archive was damaged or altered"
    )]
    DigestMismatch {
        /// The table.
        table: String,
        /// File inside the archive.
        file: String,
        /// Lines read before the end of the file.
        lines: u64,
    },
    /// A table the archive does not contain.
    #[error("archive has no table {0}")]
    UnknownTable(String),
    /// A row the writer cannot store (wrong number of values, a
    /// collection row that is not one document).
    #[error("table {table}: cannot write row: {detail}")]
    InvalidRow {
        /// The table.
        table: String,
        /// What is wrong.
        detail: String,
    },
    /// The writer's methods were called out of order.
    #[error("archive writer misuse: {0}")]
    Usage(String),
}

fn list(label: &str, items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!("{label} {}", items.join(", "))
    }
}

impl ArchiveError {
    /// What the user can do about it ("try: ..."), if anything.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            ArchiveError::NotAnArchive(_) => {
                "try: pass a .zip or .tar.zst file written by `tresor export`"
            }
            ArchiveError::Truncated(_) => {
                "try: copy or download the archive again; it ends before its last file"
            }
            ArchiveError::Corrupt(_)
            | ArchiveError::RowCountMismatch { .. }
            | ArchiveError::DigestMismatch { .. } => {
                "try: export the snapshot again; do not edit archives by hand"
            }
            ArchiveError::UnsupportedVersion { .. } => {
                "try: upgrade tresor to the version that wrote the archive or newer"
            }
            ArchiveError::TooLarge { .. } => {
                "try: raise the inflated size limit if you trust the archive"
            }
            ArchiveError::LineTooLong { .. } => {
                "try: raise the line limit if you trust the archive"
            }
            _ => return None,
        })
    }

    /// Whether the archive's content was found damaged, altered or
    /// malformed (as opposed to an I/O problem or misuse).
    pub fn is_damaged(&self) -> bool {
        !matches!(
            self,
            ArchiveError::Io { .. }
                | ArchiveError::Usage(_)
                | ArchiveError::InvalidRow { .. }
                | ArchiveError::UnknownTable(_)
                | ArchiveError::UnsupportedVersion { .. }
        )
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        ArchiveError::Io {
            context: context.into(),
            source,
        }
    }

    /// Classifies an error met while reading `what` from the archive.
    pub(crate) fn reading(what: &str, e: io::Error) -> Self {
        // errors we raised ourselves travel inside io::Error
        if e.get_ref().is_some_and(|inner| inner.is::<ArchiveError>()) {
            let kind = e.kind();
            return match e.into_inner().map(|inner| inner.downcast::<ArchiveError>()) {
                Some(Ok(ours)) => *ours,
                _ => ArchiveError::io(format!("cannot read {what}"), kind.into()),
            };
        }
        match e.kind() {
            io::ErrorKind::UnexpectedEof => ArchiveError::Truncated(format!("{what} ends early")),
            io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::Other => {
                ArchiveError::Corrupt(format!("{what}: {e}"))
            }
            _ => ArchiveError::io(format!("cannot read {what}"), e),
        }
    }

    pub(crate) fn into_io(self) -> io::Error {
        io::Error::other(self)
    }
}

pub(crate) fn zip_error(what: &str, e: zip::result::ZipError) -> ArchiveError {
    use zip::result::ZipError;
    match e {
        ZipError::Io(io) => ArchiveError::reading(what, io),
        ZipError::UnsupportedArchive(m) => {
            ArchiveError::Corrupt(format!("{what}: unsupported zip feature: {m}"))
        }
        other => ArchiveError::Corrupt(format!("{what}: {other}")),
    }
}
