//! Users and their password hashes.

use chrono::Utc;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Store, ts};

/// A user.
#[derive(Clone, Debug, Serialize)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Login name (`username` in the API, as at login).
    #[serde(rename = "username")]
    pub name: String,
    /// `admin` or `viewer`.
    pub role: String,
    /// When created.
    pub created_at: String,
}

impl Store {
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
}

pub(super) fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        created_at: r.get(3)?,
    })
}
