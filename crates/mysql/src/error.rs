//! Turning driver errors into [`SourceError`]s with the right kind.

use tresor_core::{ErrorKind, SourceError};

/// Sorts a driver error into an [`ErrorKind`].
pub(crate) fn error_kind(e: &mysql_async::Error) -> ErrorKind {
    match e {
        mysql_async::Error::Server(s) => match s.code {
            1044 | 1045 | 1142 | 1143 | 1227 | 1370 | 1698 => ErrorKind::Permission,
            1049 | 1146 | 1054 | 1051 => ErrorKind::NotFound,
            1205 | 1213 | 1412 => ErrorKind::Conflict,
            1040 | 1053 | 2006 | 2013 => ErrorKind::Connection,
            1062 | 1264 | 1366 | 1406 | 1452 | 1451 | 1292 | 3140 | 4025 => ErrorKind::Data,
            _ => ErrorKind::Engine,
        },
        mysql_async::Error::Io(_) => ErrorKind::Connection,
        mysql_async::Error::Url(_) => ErrorKind::InvalidUrl,
        mysql_async::Error::Driver(_) | mysql_async::Error::Other(_) => ErrorKind::Engine,
    }
}

/// Wraps a driver error with what we were doing.
pub(crate) fn engine_error(e: mysql_async::Error, doing: &str) -> SourceError {
    // 1823, 1826: a foreign key name another table already holds
    let taken_name =
        matches!(&e, mysql_async::Error::Server(s) if s.code == 1823 || s.code == 1826);
    // 1205: a lock another session holds past the restore's wait
    let lock_wait = matches!(&e, mysql_async::Error::Server(s) if s.code == 1205);
    let err = SourceError::new(error_kind(&e), doing.to_string()).with_source(e);
    if lock_wait {
        err.with_hint(
            "another session holds the table (the application's, in a transaction still \
             open, or a migration changing it): stop it or wait until it is done (SHOW \
             PROCESSLIST and information_schema.INNODB_TRX name the sessions; KILL ends one), \
             then run again; or give it longer with --lock-wait",
        )
    } else if taken_name {
        err.with_hint(
            "try: foreign key names are database-wide, and a table renamed since the backup keeps \
             its keys' names; restore with --drop-extra-tables (it drops the tables the snapshot \
             lacks, which the dry run lists under \"left alone\"), or drop it or rename it back, \
             then restore",
        )
    } else {
        err
    }
}

/// Whether `e` is the server giving up a lock wait (1205), the error
/// [`engine_error`] made of it.
pub(crate) fn is_lock_wait(e: &SourceError) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<mysql_async::Error>())
        .is_some_and(|m| matches!(m, mysql_async::Error::Server(s) if s.code == 1205))
}

/// Extension to attach context to driver results.
pub(crate) trait Context<T> {
    /// Maps the error with `doing` as the message.
    fn ctx(self, doing: impl FnOnce() -> String) -> Result<T, SourceError>;
}

impl<T> Context<T> for Result<T, mysql_async::Error> {
    fn ctx(self, doing: impl FnOnce() -> String) -> Result<T, SourceError> {
        self.map_err(|e| engine_error(e, &doing()))
    }
}
