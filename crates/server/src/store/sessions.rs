//! Browser sessions and their CSRF tokens.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::users::{USER_COLUMNS, User, user_row};
use super::{Store, ts};

impl Store {
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
                &format!(
                    "SELECT {USER_COLUMNS}, s.csrf FROM sessions s
                     JOIN users u ON u.id = s.user_id WHERE s.hash = ?1 AND s.expires_at > ?2"
                ),
                params![hash, ts(Utc::now())],
                |r| Ok((user_row(r)?, r.get(6)?)),
            )
            .optional()
    }

    /// Ends a session.
    pub fn delete_session(&self, hash: &str) -> rusqlite::Result<()> {
        self.conn()
            .execute("DELETE FROM sessions WHERE hash = ?1", [hash])?;
        Ok(())
    }

    /// Ends every session of a user but `keep` (a session hash); returns
    /// how many.
    pub fn end_sessions_of(&self, user_id: i64, keep: Option<&str>) -> rusqlite::Result<usize> {
        self.conn().execute(
            "DELETE FROM sessions WHERE user_id = ?1 AND (?2 IS NULL OR hash <> ?2)",
            params![user_id, keep],
        )
    }
}
