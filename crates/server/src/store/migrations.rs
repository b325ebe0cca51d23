//! Numbered changes of the state file's schema.
//!
//! The file records every step applied in `schema_version`; opening runs
//! the steps after the newest recorded one, each in its own transaction,
//! and refuses a file from a newer tresor. Steps are only ever appended:
//! a released step never changes. Step 1 is the schema the server used
//! before files carried a version; it only creates what is missing, so a
//! file of that time is adopted as it is and then upgraded like any other.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::ts;

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 3;

/// One step of the schema.
struct Migration {
    version: u32,
    what: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        what: "users, tokens, sessions, jobs and their logs, audit, schedule state, deliveries, previews, repository statistics, settings",
        sql: V1,
    },
    Migration {
        version: 2,
        what: "indexes for expiring old jobs, audit entries and deliveries",
        sql: V2,
    },
    Migration {
        version: 3,
        what: "users signed in through OpenID Connect, and one-time code (TOTP) secrets",
        sql: V3,
    },
];

const V1: &str = r"
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    last_used_at TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    source TEXT,
    state TEXT NOT NULL,
    trigger TEXT NOT NULL,
    started_by TEXT NOT NULL,
    params TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1,
    scheduled_for TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    error TEXT,
    hint TEXT,
    figures TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_source ON jobs(source, id);
CREATE TABLE IF NOT EXISTS job_logs (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS job_logs_by_job ON job_logs(job_id, id);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS schedule_state (
    name TEXT PRIMARY KEY,
    last_scheduled_for TEXT,
    paused INTEGER,
    retention TEXT
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    job_id INTEGER,
    channel TEXT NOT NULL,
    event TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS previews (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    request TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS repo_stats (
    at TEXT PRIMARY KEY,
    snapshots INTEGER NOT NULL,
    stored_bytes INTEGER NOT NULL,
    logical_bytes INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

const V2: &str = r"
CREATE INDEX IF NOT EXISTS jobs_by_finished ON jobs(finished_at);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit(at);
CREATE INDEX IF NOT EXISTS deliveries_by_update ON deliveries(updated_at);
";

const V3: &str = r"
ALTER TABLE users ADD COLUMN origin TEXT NOT NULL DEFAULT 'local';
ALTER TABLE users ADD COLUMN subject TEXT;
CREATE UNIQUE INDEX users_by_subject ON users(subject) WHERE subject IS NOT NULL;
CREATE TABLE totp (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    confirmed_at TEXT,
    last_step INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
";

/// Why the state file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// The state file cannot be created.
    #[error("cannot create the state file {path}")]
    Create {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file was written by a newer tresor.
    #[error(
        "the state file has schema version {found}, newer than this tresor knows ({known}); run the tresor that wrote it, or a newer one"
    )]
    Newer {
        /// The file's version.
        found: u32,
        /// This build's.
        known: u32,
    },
    /// A step failed; the file stays at the version before it.
    #[error("upgrading the state file to schema version {version} ({what}) failed")]
    Migration {
        /// The step.
        version: u32,
        /// What it changes.
        what: &'static str,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
}

/// The newest step recorded in the file; 0 for a new file or one from
/// before versions were recorded.
pub(super) fn version(conn: &Connection) -> rusqlite::Result<u32> {
    let has_table = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !has_table {
        return Ok(0);
    }
    conn.query_row(
        "SELECT coalesce(max(version), 0) FROM schema_version",
        [],
        |r| r.get(0),
    )
}

/// Brings the file up to [`SCHEMA_VERSION`].
pub(super) fn migrate(conn: &mut Connection, now: DateTime<Utc>) -> Result<(), StoreError> {
    let found = version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::Newer {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        let step = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_version (
                    version INTEGER PRIMARY KEY,
                    what TEXT NOT NULL,
                    applied_at TEXT NOT NULL
                )",
            )?;
            tx.execute_batch(m.sql)?;
            tx.execute(
                "INSERT INTO schema_version (version, what, applied_at) VALUES (?1, ?2, ?3)",
                params![m.version, m.what, ts(now)],
            )?;
            tx.commit()
        };
        step(conn).map_err(|source| StoreError::Migration {
            version: m.version,
            what: m.what,
            source,
        })?;
        if found > 0 || m.version > 1 {
            tracing::info!(version = m.version, what = m.what, "state file upgraded");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::Store;
    use super::*;

    fn fixture() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("state.db");
        std::fs::copy(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/state-unversioned.db"
            ),
            &path,
        )
        .expect("copy fixture");
        (dir, path)
    }

    #[test]
    fn steps_are_numbered_in_order_up_to_the_current_version() {
        let versions: Vec<u32> = MIGRATIONS.iter().map(|m| m.version).collect();
        let expected: Vec<u32> = (1..=SCHEMA_VERSION).collect();
        assert_eq!(versions, expected);
    }

    #[test]
    fn a_state_file_from_before_versions_upgrades_and_keeps_everything() {
        let (_dir, path) = fixture();
        {
            let conn = Connection::open(&path).expect("open");
            assert_eq!(version(&conn).expect("version"), 0);
        }
        let s = Store::open(&path).expect("upgrade");
        assert_eq!(version(&s.conn()).expect("version"), SCHEMA_VERSION);
        assert_eq!(s.user_count().expect("users"), 2);
        let (token, owner) = s.token_by_hash("0f0f0f").expect("q").expect("token");
        assert_eq!((token.name.as_str(), owner.name.as_str()), ("ci", "admin"));
        assert_eq!(s.session("5e55").expect("q").expect("session").1, "c5rf");
        let job = s.job(1).expect("q").expect("job");
        assert_eq!(
            (job.kind.as_str(), job.state.as_str()),
            ("backup", "succeeded")
        );
        assert_eq!(job.figures.expect("figures")["rows"], 42);
        assert_eq!(s.logs(1, 0).expect("logs").len(), 1);
        assert_eq!(s.audit_log(10).expect("audit")[0].action, "user.create");
        assert_eq!(s.paused("shop").expect("q"), Some(true));
        assert!(s.last_scheduled("shop").expect("q").is_some());
        assert_eq!(
            s.retention("shop").expect("q").as_deref(),
            Some(r#"{"keep-last":3}"#)
        );
        assert_eq!(
            s.setting("scheduler.paused").expect("q").as_deref(),
            Some("false")
        );
        assert_eq!(s.deliveries(10).expect("q")[0].state, "sent");
        assert!(s.preview("p1").expect("q").is_some());
        assert_eq!(s.repo_stats(10).expect("q")[0].stored_bytes, 1000);
        let indexes: i64 = s
            .conn()
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN ('jobs_by_finished', 'audit_by_time', 'deliveries_by_update')",
                [],
                |r| r.get(0),
            )
            .expect("indexes");
        assert_eq!(indexes, 3);
        drop(s);
        // opening again applies nothing twice
        let s = Store::open(&path).expect("reopen");
        let steps: i64 = s
            .conn()
            .query_row("SELECT count(*) FROM schema_version", [], |r| r.get(0))
            .expect("steps");
        assert_eq!(steps, i64::from(SCHEMA_VERSION));
    }

    #[test]
    fn a_state_file_from_a_newer_tresor_is_refused_untouched() {
        let (_dir, path) = fixture();
        drop(Store::open(&path).expect("upgrade"));
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute(
                "INSERT INTO schema_version (version, what, applied_at) VALUES (?1, 'later', 'x')",
                [SCHEMA_VERSION + 1],
            )
            .expect("bump");
        }
        let Err(e) = Store::open(&path) else {
            panic!("a newer state file was opened");
        };
        assert!(matches!(e, StoreError::Newer { .. }), "{e}");
        assert!(e.to_string().contains("newer"), "{e}");
    }

    #[test]
    fn a_new_file_starts_at_the_current_version() {
        let s = Store::memory().expect("store");
        assert_eq!(version(&s.conn()).expect("version"), SCHEMA_VERSION);
    }
}
