//! Turning driver errors into [`SourceError`]s with the right kind.

use tokio_postgres::error::SqlState;
use tresor_core::{ErrorKind, SourceError};

/// Wraps a driver error with `context` and sorts it into an [`ErrorKind`].
pub(crate) fn pg_error(context: impl Into<String>, e: tokio_postgres::Error) -> SourceError {
    let kind = classify(&e);
    let mut context = context.into();
    if let Some(db) = e.as_db_error() {
        // the driver's Display for database errors is just "db error"
        let mut text = db.message().to_string();
        if let Some(detail) = db.detail() {
            text.push_str(&format!(" ({detail})"));
        }
        // where a `COPY` stopped: the row and the column
        // (`COPY customers, line 3, column balance: "1e14"`)
        if let Some(at) = db.where_().filter(|w| w.starts_with("COPY ")) {
            text.push_str(&format!(" at {at}"));
        }
        context = format!("{context}: {text}");
    }
    let hint = match kind {
        ErrorKind::Permission => {
            Some("try: connect as a user that owns the objects, or a superuser")
        }
        ErrorKind::Connection => Some("try: check the host, port and that the server is running"),
        _ => None,
    };
    // the driver prints database errors as just "db error": their text is
    // in the message already
    let err = if e.as_db_error().is_some() {
        SourceError::new(kind, context)
    } else {
        SourceError::new(kind, context).with_source(e)
    };
    match hint {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

fn classify(e: &tokio_postgres::Error) -> ErrorKind {
    let Some(code) = e.code() else {
        return if e.is_closed() || e.as_db_error().is_none() {
            ErrorKind::Connection
        } else {
            ErrorKind::Engine
        };
    };
    if *code == SqlState::INSUFFICIENT_PRIVILEGE || *code == SqlState::INVALID_PASSWORD {
        ErrorKind::Permission
    } else if *code == SqlState::INVALID_CATALOG_NAME
        || *code == SqlState::UNDEFINED_TABLE
        || *code == SqlState::UNDEFINED_COLUMN
        || *code == SqlState::INVALID_SCHEMA_NAME
    {
        ErrorKind::NotFound
    } else if *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::LOCK_NOT_AVAILABLE
    {
        ErrorKind::Conflict
    } else if *code == SqlState::QUERY_CANCELED {
        ErrorKind::Cancelled
    } else if code.code().starts_with("08") || code.code().starts_with("57P") {
        ErrorKind::Connection
    } else if code.code().starts_with("22") || code.code().starts_with("23") {
        ErrorKind::Data
    } else if code.code().starts_with("28") {
        ErrorKind::Permission
    } else if *code == SqlState::FEATURE_NOT_SUPPORTED || *code == SqlState::UNDEFINED_FILE {
        ErrorKind::Unsupported
    } else {
        ErrorKind::Engine
    }
}
