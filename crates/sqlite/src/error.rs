//! Turning rusqlite errors into [`SourceError`]s with the right kind.

use std::path::Path;

use rusqlite::ErrorCode;
use tresor_core::{ErrorKind, SourceError};

/// Wraps a rusqlite error with `context` (lowercase, no trailing period).
pub(crate) fn sql_error(context: impl Into<String>, e: rusqlite::Error) -> SourceError {
    let kind = match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => ErrorKind::Conflict,
        Some(
            ErrorCode::PermissionDenied
            | ErrorCode::ReadOnly
            | ErrorCode::AuthorizationForStatementDenied,
        ) => ErrorKind::Permission,
        Some(ErrorCode::CannotOpen) => ErrorKind::Io,
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => ErrorKind::Data,
        Some(ErrorCode::ConstraintViolation | ErrorCode::TypeMismatch | ErrorCode::TooBig) => {
            ErrorKind::Data
        }
        Some(ErrorCode::DiskFull | ErrorCode::SystemIoFailure) => ErrorKind::Io,
        Some(ErrorCode::OperationInterrupted) => ErrorKind::Cancelled,
        _ => ErrorKind::Engine,
    };
    let hint = match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Some(
            "try: again when the connection holding the database in a transaction (the \
                 application's?) has finished, or stop the application first; a restore can \
                 wait longer with --lock-wait",
        ),
        Some(ErrorCode::NotADatabase) => Some("try: check that the path names a sqlite database"),
        Some(ErrorCode::DatabaseCorrupt) => Some("try: sqlite3 FILE 'PRAGMA integrity_check'"),
        _ => None,
    };
    let err = SourceError::new(kind, context).with_source(e);
    match hint {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

/// Wraps an I/O error about `path`.
pub(crate) fn io_error(context: &str, path: &Path, e: std::io::Error) -> SourceError {
    let kind = match e.kind() {
        std::io::ErrorKind::NotFound => ErrorKind::NotFound,
        std::io::ErrorKind::PermissionDenied => ErrorKind::Permission,
        _ => ErrorKind::Io,
    };
    SourceError::new(kind, format!("{context} {}", path.display())).with_source(e)
}

/// A task running blocking SQLite work panicked or was cancelled.
pub(crate) fn join_error(e: tokio::task::JoinError) -> SourceError {
    if e.is_cancelled() {
        SourceError::cancelled()
    } else {
        SourceError::new(ErrorKind::Engine, "sqlite worker task failed").with_source(e)
    }
}

/// Context helper: `result.context_sql("reading x")`.
pub(crate) trait SqlResultExt<T> {
    /// Maps the rusqlite error with [`sql_error`].
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, SourceError>;
}

impl<T> SqlResultExt<T> for Result<T, rusqlite::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, SourceError> {
        self.map_err(|e| sql_error(context(), e))
    }
}
