//! Turning driver errors into [`SourceError`]s with the right kind.

use mongodb::error::{Error, ErrorKind as DriverKind, WriteFailure};
use tresor_core::{ErrorKind, SourceError};

/// Server error codes the adapter reacts to.
pub(crate) mod code {
    /// `Unauthorized`.
    pub const UNAUTHORIZED: i32 = 13;
    /// `AuthenticationFailed`.
    pub const AUTHENTICATION_FAILED: i32 = 18;
    /// `NamespaceNotFound`.
    pub const NAMESPACE_NOT_FOUND: i32 = 26;
    /// `WriteConflict`.
    pub const WRITE_CONFLICT: i32 = 112;
    /// `DocumentValidationFailure`.
    pub const DOCUMENT_VALIDATION_FAILURE: i32 = 121;
    /// `SnapshotTooOld`.
    pub const SNAPSHOT_TOO_OLD: i32 = 239;
    /// `NoSuchTransaction`.
    pub const NO_SUCH_TRANSACTION: i32 = 251;
    /// `ExceededTimeLimit` / `MaxTimeMSExpired`.
    pub const MAX_TIME_MS_EXPIRED: i32 = 50;
    /// `DuplicateKey`.
    pub const DUPLICATE_KEY: i32 = 11000;
}

/// The server's error code, if the error came from the server.
pub(crate) fn server_code(e: &Error) -> Option<i32> {
    match e.kind.as_ref() {
        DriverKind::Command(c) => Some(c.code),
        DriverKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        DriverKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        DriverKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .and_then(|v| v.first())
            .map(|w| w.code)
            .or_else(|| m.write_concern_error.as_ref().map(|w| w.code)),
        _ => None,
    }
}

/// A short, lowercase description of a driver error.
fn describe(e: &Error) -> String {
    match e.kind.as_ref() {
        DriverKind::Command(c) => format!("{} ({}): {}", c.code_name, c.code, c.message),
        DriverKind::Write(WriteFailure::WriteError(w)) => {
            format!(
                "{} ({}): {}",
                w.code_name.as_deref().unwrap_or("write error"),
                w.code,
                w.message
            )
        }
        DriverKind::Write(WriteFailure::WriteConcernError(w)) => {
            format!(
                "write concern error {} ({}): {}",
                w.code_name, w.code, w.message
            )
        }
        DriverKind::InsertMany(m) => {
            if let Some(w) = m.write_errors.as_ref().and_then(|v| v.first()) {
                format!(
                    "document {} of the batch: {} ({}): {}",
                    w.index + 1,
                    w.code_name.as_deref().unwrap_or("write error"),
                    w.code,
                    w.message
                )
            } else if let Some(w) = &m.write_concern_error {
                format!(
                    "write concern error {} ({}): {}",
                    w.code_name, w.code, w.message
                )
            } else {
                "insert failed".to_string()
            }
        }
        other => lowercase_first(&other.to_string()),
    }
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Wraps a driver error with `context` and sorts it into an [`ErrorKind`].
///
/// Takes the error by value so that call sites read
/// `.map_err(|e| mongo_error("...", e))`.
#[allow(clippy::needless_pass_by_value)]
pub(crate) fn mongo_error(context: impl Into<String>, e: Error) -> SourceError {
    let kind = classify(&e);
    let message = format!("{}: {}", context.into(), describe(&e));
    let hint = match (kind, server_code(&e)) {
        (_, Some(code::SNAPSHOT_TOO_OLD)) => Some(
            "try: raise the server's minSnapshotHistoryWindowInSeconds (default 300) above the \
             backup's duration, or back up fewer collections at once",
        ),
        (ErrorKind::Permission, _) => Some(
            "try: connect as a user with the backup/restore roles (readAnyDatabase, restore) on \
             this database",
        ),
        (ErrorKind::Connection, _) => Some(
            "try: check the host, port and credentials, and add directConnection=true for a \
             single server that is not a replica set member",
        ),
        _ => None,
    };
    let err = SourceError::new(kind, message);
    match hint {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

fn classify(e: &Error) -> ErrorKind {
    if let Some(c) = server_code(e) {
        return match c {
            code::UNAUTHORIZED => ErrorKind::Permission,
            code::AUTHENTICATION_FAILED => ErrorKind::Connection,
            code::NAMESPACE_NOT_FOUND => ErrorKind::NotFound,
            code::WRITE_CONFLICT | code::SNAPSHOT_TOO_OLD | code::NO_SUCH_TRANSACTION => {
                ErrorKind::Conflict
            }
            code::DOCUMENT_VALIDATION_FAILURE | code::DUPLICATE_KEY | 2 | 10334 | 17419 => {
                ErrorKind::Data
            }
            code::MAX_TIME_MS_EXPIRED => ErrorKind::Cancelled,
            _ if e.contains_label("TransientTransactionError") => ErrorKind::Conflict,
            _ => ErrorKind::Engine,
        };
    }
    match e.kind.as_ref() {
        DriverKind::InvalidArgument { .. } => ErrorKind::InvalidUrl,
        DriverKind::Authentication { .. }
        | DriverKind::DnsResolve { .. }
        | DriverKind::Io(_)
        | DriverKind::ConnectionPoolCleared { .. }
        | DriverKind::ServerSelection { .. }
        | DriverKind::InvalidTlsConfig { .. } => ErrorKind::Connection,
        DriverKind::SessionsNotSupported | DriverKind::IncompatibleServer { .. } => {
            ErrorKind::Unsupported
        }
        DriverKind::Bson(_) | DriverKind::InvalidResponse { .. } => ErrorKind::Data,
        DriverKind::Transaction { .. } => ErrorKind::Conflict,
        _ if e.contains_label("TransientTransactionError") => ErrorKind::Conflict,
        _ => ErrorKind::Engine,
    }
}

/// A BSON error while handling `what`.
pub(crate) fn bson_error(what: impl Into<String>, e: impl std::fmt::Display) -> SourceError {
    SourceError::data(format!("{}: invalid bson: {e}", what.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_driver_messages() {
        assert_eq!(
            lowercase_first("Client has been shut down"),
            "client has been shut down"
        );
        assert_eq!(lowercase_first(""), "");
    }
}
