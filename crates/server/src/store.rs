//! The server's own state in one SQLite file: users, hashed tokens,
//! sessions, jobs and their logs, the audit log, schedule state,
//! notification deliveries, restore previews and repository statistics.
//! Snapshots are never stored here: they are always read from the
//! repository.
//!
//! Queries are short, so they run under a mutex on the calling task; the
//! file is in WAL mode so readers of other processes are not blocked.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

mod jobs;

pub use jobs::{JobFilter, JobRow};

const SCHEMA: &str = r"
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

/// A user.
#[derive(Clone, Debug, Serialize)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Login name.
    pub name: String,
    /// `admin` or `viewer`.
    pub role: String,
    /// When created.
    pub created_at: String,
}

/// An API token (never its secret).
#[derive(Clone, Debug, Serialize)]
pub struct TokenRow {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Owner's name.
    pub user: String,
    /// Label.
    pub name: String,
    /// The first characters, to recognise it.
    pub prefix: String,
    /// `read`, `backup` or `admin`.
    pub scope: String,
    /// When created.
    pub created_at: String,
    /// When it stops working.
    pub expires_at: Option<String>,
    /// When revoked.
    pub revoked_at: Option<String>,
    /// Last use.
    pub last_used_at: Option<String>,
}

/// One audit entry.
#[derive(Clone, Debug, Serialize)]
pub struct AuditRow {
    /// Id.
    pub id: i64,
    /// When.
    pub at: String,
    /// Who (user name, `token:NAME`, `scheduler`).
    pub actor: String,
    /// What (`snapshot.delete`, `restore.start`, `login`).
    pub action: String,
    /// On what.
    pub target: Option<String>,
    /// Details.
    pub detail: Option<String>,
}

/// One notification delivery.
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryRow {
    /// Id.
    pub id: i64,
    /// The job it reports.
    pub job_id: Option<i64>,
    /// `email` or `webhook (slack) host`.
    pub channel: String,
    /// Event name (`backup-success`).
    pub event: String,
    /// `pending`, `sent`, `failed`.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// The last failure.
    pub last_error: Option<String>,
    /// When created.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// A repository statistics sample.
#[derive(Clone, Debug, Serialize)]
pub struct RepoStat {
    /// When.
    pub at: String,
    /// Snapshots in the repository.
    pub snapshots: i64,
    /// Bytes stored (after deduplication and compression).
    pub stored_bytes: i64,
    /// Bytes of all snapshots' table data (before).
    pub logical_bytes: i64,
}

/// A handle on the state file.
pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) the state file and its tables.
    ///
    /// # Errors
    /// The file cannot be opened or is not a tresor state file.
    pub fn open(path: &Path) -> rusqlite::Result<Store> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// A state kept in memory (tests).
    ///
    /// # Errors
    /// Never in practice.
    #[cfg(test)]
    pub fn memory() -> rusqlite::Result<Store> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> rusqlite::Result<Store> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ---- users -----------------------------------------------------------

    /// How many users exist.
    pub fn user_count(&self) -> rusqlite::Result<i64> {
        self.conn()
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
    }

    /// Creates a user.
    pub fn create_user(&self, name: &str, role: &str, hash: &str) -> rusqlite::Result<i64> {
        let c = self.conn();
        c.execute(
            "INSERT INTO users (name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, role, hash, ts(Utc::now())],
        )?;
        Ok(c.last_insert_rowid())
    }

    /// A user and password hash by name.
    pub fn user_by_name(&self, name: &str) -> rusqlite::Result<Option<(User, String)>> {
        self.conn()
            .query_row(
                "SELECT id, name, role, created_at, password_hash FROM users WHERE name = ?1",
                [name],
                |r| Ok((user_row(r)?, r.get(4)?)),
            )
            .optional()
    }

    /// A user by id.
    pub fn user(&self, id: i64) -> rusqlite::Result<Option<User>> {
        self.conn()
            .query_row(
                "SELECT id, name, role, created_at FROM users WHERE id = ?1",
                [id],
                user_row,
            )
            .optional()
    }

    /// Every user.
    pub fn users(&self) -> rusqlite::Result<Vec<User>> {
        let c = self.conn();
        let mut st = c.prepare("SELECT id, name, role, created_at FROM users ORDER BY name")?;
        st.query_map([], user_row)?.collect()
    }

    /// Deletes a user (with their tokens and sessions).
    pub fn delete_user(&self, id: i64) -> rusqlite::Result<bool> {
        Ok(self
            .conn()
            .execute("DELETE FROM users WHERE id = ?1", [id])?
            > 0)
    }

    /// Sets a user's password hash.
    pub fn set_password(&self, id: i64, hash: &str) -> rusqlite::Result<bool> {
        Ok(self.conn().execute(
            "UPDATE users SET password_hash = ?2 WHERE id = ?1",
            params![id, hash],
        )? > 0)
    }

    // ---- tokens ----------------------------------------------------------

    /// Stores a token's hash.
    pub fn create_token(
        &self,
        user_id: i64,
        name: &str,
        prefix: &str,
        hash: &str,
        scope: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> rusqlite::Result<i64> {
        let c = self.conn();
        c.execute(
            "INSERT INTO tokens (user_id, name, prefix, hash, scope, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                user_id,
                name,
                prefix,
                hash,
                scope,
                ts(Utc::now()),
                expires_at.map(ts)
            ],
        )?;
        Ok(c.last_insert_rowid())
    }

    /// The token with this hash, with its owner.
    pub fn token_by_hash(&self, hash: &str) -> rusqlite::Result<Option<(TokenRow, User)>> {
        let c = self.conn();
        let found = c
            .query_row(&format!("{TOKEN_SELECT} WHERE t.hash = ?1"), [hash], |r| {
                Ok((
                    token_row(r)?,
                    r.get::<_, String>(11)?,
                    r.get::<_, String>(12)?,
                ))
            })
            .optional()?;
        let Some((t, role, created)) = found else {
            return Ok(None);
        };
        c.execute(
            "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1",
            params![t.id, ts(Utc::now())],
        )?;
        let user = User {
            id: t.user_id,
            name: t.user.clone(),
            role,
            created_at: created,
        };
        Ok(Some((t, user)))
    }

    /// Tokens, of one user or all.
    pub fn tokens(&self, user_id: Option<i64>) -> rusqlite::Result<Vec<TokenRow>> {
        let c = self.conn();
        let mut st = c.prepare(&format!(
            "{TOKEN_SELECT} WHERE (?1 IS NULL OR t.user_id = ?1) ORDER BY t.id DESC"
        ))?;
        st.query_map([user_id], token_row)?.collect()
    }

    /// A token by id.
    pub fn token(&self, id: i64) -> rusqlite::Result<Option<TokenRow>> {
        self.conn()
            .query_row(&format!("{TOKEN_SELECT} WHERE t.id = ?1"), [id], token_row)
            .optional()
    }

    /// Revokes a token.
    pub fn revoke_token(&self, id: i64) -> rusqlite::Result<bool> {
        Ok(self.conn().execute(
            "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, ts(Utc::now())],
        )? > 0)
    }

    // ---- sessions --------------------------------------------------------

    /// Stores a session.
    pub fn create_session(
        &self,
        hash: &str,
        user_id: i64,
        csrf: &str,
        expires_at: DateTime<Utc>,
    ) -> rusqlite::Result<()> {
        self.conn().execute(
            "INSERT INTO sessions (hash, user_id, csrf, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![hash, user_id, csrf, ts(Utc::now()), ts(expires_at)],
        )?;
        Ok(())
    }

    /// A live session: its user and CSRF token.
    pub fn session(&self, hash: &str) -> rusqlite::Result<Option<(User, String)>> {
        self.conn()
            .query_row(
                "SELECT u.id, u.name, u.role, u.created_at, s.csrf FROM sessions s
                 JOIN users u ON u.id = s.user_id WHERE s.hash = ?1 AND s.expires_at > ?2",
                params![hash, ts(Utc::now())],
                |r| Ok((user_row(r)?, r.get(4)?)),
            )
            .optional()
    }

    /// Ends a session.
    pub fn delete_session(&self, hash: &str) -> rusqlite::Result<()> {
        self.conn()
            .execute("DELETE FROM sessions WHERE hash = ?1", [hash])?;
        Ok(())
    }

    // ---- audit -----------------------------------------------------------

    /// Records who did what.
    pub fn audit(&self, actor: &str, action: &str, target: Option<&str>, detail: Option<&str>) {
        let r = self.conn().execute(
            "INSERT INTO audit (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![ts(Utc::now()), actor, action, target, detail],
        );
        if let Err(e) = r {
            tracing::error!(error = %e, action, "cannot write the audit log");
        }
        tracing::info!(actor, action, target, "audit");
    }

    /// The newest audit entries.
    pub fn audit_log(&self, limit: i64) -> rusqlite::Result<Vec<AuditRow>> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT id, at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT ?1",
        )?;
        st.query_map([limit], |r| {
            Ok(AuditRow {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                detail: r.get(5)?,
            })
        })?
        .collect()
    }

    // ---- schedule state --------------------------------------------------

    /// The last scheduled time a run of `name` was started for.
    pub fn last_scheduled(&self, name: &str) -> rusqlite::Result<Option<DateTime<Utc>>> {
        let v: Option<Option<String>> = self
            .conn()
            .query_row(
                "SELECT last_scheduled_for FROM schedule_state WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.flatten().as_deref().and_then(parse_ts))
    }

    /// Records the scheduled time a run of `name` started for.
    pub fn set_last_scheduled(&self, name: &str, t: DateTime<Utc>) -> rusqlite::Result<()> {
        self.conn().execute(
            "INSERT INTO schedule_state (name, last_scheduled_for) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET last_scheduled_for = excluded.last_scheduled_for",
            params![name, ts(t)],
        )?;
        Ok(())
    }

    /// Whether the schedule of `name` was paused or resumed at run time
    /// (`None`: follow the config).
    pub fn paused(&self, name: &str) -> rusqlite::Result<Option<bool>> {
        let v: Option<Option<bool>> = self
            .conn()
            .query_row(
                "SELECT paused FROM schedule_state WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.flatten())
    }

    /// Pauses or resumes a schedule.
    pub fn set_paused(&self, name: &str, paused: bool) -> rusqlite::Result<()> {
        self.conn().execute(
            "INSERT INTO schedule_state (name, paused) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET paused = excluded.paused",
            params![name, paused],
        )?;
        Ok(())
    }

    /// Retention rules set at run time for `name` (JSON), if any.
    pub fn retention(&self, name: &str) -> rusqlite::Result<Option<String>> {
        let v: Option<Option<String>> = self
            .conn()
            .query_row(
                "SELECT retention FROM schedule_state WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.flatten())
    }

    /// Stores retention rules for `name` (JSON), or clears them.
    pub fn set_retention(&self, name: &str, json: Option<&str>) -> rusqlite::Result<()> {
        self.conn().execute(
            "INSERT INTO schedule_state (name, retention) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET retention = excluded.retention",
            params![name, json],
        )?;
        Ok(())
    }

    /// A server-wide setting.
    pub fn setting(&self, key: &str) -> rusqlite::Result<Option<String>> {
        self.conn()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
    }

    /// Sets a server-wide setting.
    pub fn set_setting(&self, key: &str, value: &str) -> rusqlite::Result<()> {
        self.conn().execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    // ---- deliveries ------------------------------------------------------

    /// Records a delivery about to be attempted.
    pub fn create_delivery(
        &self,
        job_id: Option<i64>,
        channel: &str,
        event: &str,
    ) -> rusqlite::Result<i64> {
        let c = self.conn();
        let now = ts(Utc::now());
        c.execute(
            "INSERT INTO deliveries (job_id, channel, event, state, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'pending', ?4, ?4)",
            params![job_id, channel, event, now],
        )?;
        Ok(c.last_insert_rowid())
    }

    /// Updates a delivery after an attempt.
    pub fn update_delivery(
        &self,
        id: i64,
        state: &str,
        attempts: u32,
        error: Option<&str>,
    ) -> rusqlite::Result<()> {
        self.conn().execute(
            "UPDATE deliveries SET state = ?2, attempts = ?3, last_error = coalesce(?4, last_error), updated_at = ?5 WHERE id = ?1",
            params![id, state, attempts, error, ts(Utc::now())],
        )?;
        Ok(())
    }

    /// The newest deliveries.
    pub fn deliveries(&self, limit: i64) -> rusqlite::Result<Vec<DeliveryRow>> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT id, job_id, channel, event, state, attempts, last_error, created_at, updated_at
             FROM deliveries ORDER BY id DESC LIMIT ?1",
        )?;
        st.query_map([limit], |r| {
            Ok(DeliveryRow {
                id: r.get(0)?,
                job_id: r.get(1)?,
                channel: r.get(2)?,
                event: r.get(3)?,
                state: r.get(4)?,
                attempts: r.get(5)?,
                last_error: r.get(6)?,
                created_at: r.get(7)?,
                updated_at: r.get(8)?,
            })
        })?
        .collect()
    }

    /// Failed deliveries in total.
    pub fn failed_deliveries(&self) -> rusqlite::Result<i64> {
        self.conn().query_row(
            "SELECT count(*) FROM deliveries WHERE state = 'failed'",
            [],
            |r| r.get(0),
        )
    }

    // ---- previews --------------------------------------------------------

    /// Stores a restore preview.
    pub fn create_preview(
        &self,
        id: &str,
        user_id: i64,
        request: &str,
        result: &str,
    ) -> rusqlite::Result<()> {
        self.conn().execute(
            "INSERT INTO previews (id, user_id, request, result, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, user_id, request, result, ts(Utc::now())],
        )?;
        Ok(())
    }

    /// A stored preview: (user id, request JSON, result JSON, created at).
    pub fn preview(&self, id: &str) -> rusqlite::Result<Option<(i64, String, String, String)>> {
        self.conn()
            .query_row(
                "SELECT user_id, request, result, created_at FROM previews WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
    }

    /// Forgets a used preview.
    pub fn delete_preview(&self, id: &str) -> rusqlite::Result<()> {
        self.conn()
            .execute("DELETE FROM previews WHERE id = ?1", [id])?;
        Ok(())
    }

    // ---- repository statistics --------------------------------------------

    /// Records a repository statistics sample.
    pub fn add_repo_stat(
        &self,
        at: DateTime<Utc>,
        snapshots: i64,
        stored: i64,
        logical: i64,
    ) -> rusqlite::Result<()> {
        self.conn().execute(
            "INSERT OR REPLACE INTO repo_stats (at, snapshots, stored_bytes, logical_bytes) VALUES (?1, ?2, ?3, ?4)",
            params![ts(at), snapshots, stored, logical],
        )?;
        Ok(())
    }

    /// The newest samples, oldest first.
    pub fn repo_stats(&self, limit: i64) -> rusqlite::Result<Vec<RepoStat>> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT at, snapshots, stored_bytes, logical_bytes FROM
             (SELECT * FROM repo_stats ORDER BY at DESC LIMIT ?1) ORDER BY at",
        )?;
        st.query_map([limit], |r| {
            Ok(RepoStat {
                at: r.get(0)?,
                snapshots: r.get(1)?,
                stored_bytes: r.get(2)?,
                logical_bytes: r.get(3)?,
            })
        })?
        .collect()
    }

    /// Removes history older than `days` days and expired sessions and
    /// previews.
    pub fn expire(&self, days: u32) -> rusqlite::Result<()> {
        let now = Utc::now();
        let cutoff = ts(now - chrono::Duration::days(i64::from(days)));
        let c = self.conn();
        c.execute(
            "DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?1",
            [&cutoff],
        )?;
        c.execute("DELETE FROM audit WHERE at < ?1", [&cutoff])?;
        c.execute("DELETE FROM deliveries WHERE updated_at < ?1", [&cutoff])?;
        c.execute("DELETE FROM sessions WHERE expires_at < ?1", [ts(now)])?;
        c.execute(
            "DELETE FROM previews WHERE created_at < ?1",
            [ts(now - chrono::Duration::hours(1))],
        )?;
        Ok(())
    }
}

const TOKEN_SELECT: &str =
    "SELECT t.id, t.user_id, u.name, t.name, t.prefix, t.scope, t.created_at,
    t.expires_at, t.revoked_at, t.last_used_at, t.hash, u.role, u.created_at
    FROM tokens t JOIN users u ON u.id = t.user_id";

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        user: r.get(2)?,
        name: r.get(3)?,
        prefix: r.get(4)?,
        scope: r.get(5)?,
        created_at: r.get(6)?,
        expires_at: r.get(7)?,
        revoked_at: r.get(8)?,
        last_used_at: r.get(9)?,
    })
}

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        created_at: r.get(3)?,
    })
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
