//! The server's own state in one SQLite file: users, hashed tokens,
//! sessions, one-time code (TOTP) secrets, jobs and their logs, the audit log, schedule state,
//! notification deliveries, restore previews and repository statistics.
//! Snapshots are never stored here: they are always read from the
//! repository.
//!
//! Queries are short, so they run under a mutex on the calling task; the
//! file is in WAL mode so readers of other processes are not blocked.
//!
//! One module per table (or close family of tables) adds its queries to
//! [`Store`]; `migrations` numbers every change of the schema, records
//! the version reached in the file, and upgrades an older file on open.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Connection;

mod audit;
mod deliveries;
mod jobs;
mod migrations;
mod previews;
mod schedule;
mod sessions;
mod stats;
mod tokens;
mod totp;
mod users;

pub use audit::AuditRow;
pub use deliveries::DeliveryRow;
pub use jobs::{JobFilter, JobRow};
pub use migrations::StoreError;
pub use stats::RepoStat;
pub use tokens::TokenRow;
pub use users::User;

/// Formats a time the way the state file stores it (sortable RFC 3339).
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses a stored time.
pub fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A handle on the state file.
pub struct Store {
    conn: Mutex<Connection>,
    /// Rows changed by writes a state backup need not follow: samples of
    /// the repository's size, which the repository gives again (and which
    /// a state backup itself causes, so that counting them would back the
    /// state up at every interval for ever).
    derived: AtomicU64,
}

/// Creates an empty file readable and writable by its owner only, unless
/// it exists.
pub(crate) fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

impl Store {
    /// Opens (creating if needed) the state file, and brings its schema
    /// up to [`SCHEMA_VERSION`].
    ///
    /// # Errors
    /// The file cannot be opened, is not a tresor state file, or was
    /// written by a newer tresor.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        // The state holds password and token hashes: readable by the
        // server's user only (SQLite gives its journal the same mode).
        create_private(path).map_err(|source| StoreError::Create {
            path: path.display().to_string(),
            source,
        })?;
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// A state kept in memory (tests).
    ///
    /// # Errors
    /// Never in practice.
    #[cfg(test)]
    pub fn memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    /// How many rows this server has changed in the state file since it
    /// opened it: the state backup runs when this moved.
    pub fn changes(&self) -> u64 {
        self.conn()
            .total_changes()
            .saturating_sub(self.derived.load(Ordering::Relaxed))
    }

    fn init(mut conn: Connection) -> Result<Store, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrations::migrate(&mut conn, Utc::now())?;
        Ok(Store {
            conn: Mutex::new(conn),
            derived: AtomicU64::new(0),
        })
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_tokens_and_sessions_round_trip() {
        let s = Store::memory().expect("store");
        let id = s.create_user("ada", "admin", "h").expect("user");
        assert_eq!(s.user_count().expect("count"), 1);
        let t = s
            .create_token(id, "ci", "trs_abc", "hash1", "read", None)
            .expect("token");
        let (row, user) = s.token_by_hash("hash1").expect("q").expect("found");
        assert_eq!((row.id, user.name.as_str()), (t, "ada"));
        assert!(s.revoke_token(t).expect("revoke"));
        assert!(s.token(t).expect("q").expect("row").revoked_at.is_some());
        s.create_session("sh", id, "csrf", Utc::now() + chrono::Duration::hours(1))
            .expect("session");
        assert_eq!(s.session("sh").expect("q").expect("live").1, "csrf");
        assert!(s.delete_user(id).expect("delete"));
        assert!(s.session("sh").expect("q").is_none());
    }

    /// The state file holds password and token hashes; it was once
    /// created world-readable (0644).
    #[test]
    fn the_state_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("state.db");
        let s = Store::open(&path).expect("open");
        s.create_user("ada", "admin", "h").expect("user");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    #[test]
    fn schedule_state_keeps_paused_and_last_run() {
        let s = Store::memory().expect("store");
        assert_eq!(s.paused("app").expect("q"), None);
        s.set_paused("app", true).expect("pause");
        let t = Utc::now();
        s.set_last_scheduled("app", t).expect("set");
        assert_eq!(s.paused("app").expect("q"), Some(true));
        assert_eq!(
            s.last_scheduled("app")
                .expect("q")
                .map(|x| x.timestamp_micros()),
            Some(t.timestamp_micros())
        );
    }
}
