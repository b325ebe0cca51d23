//! Users: local ones with their password hashes, and those an OpenID
//! Connect provider vouches for (origin `oidc`, no password, found again
//! by the provider's subject).

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
    /// `local` (a password here) or `oidc` (signs in through the provider).
    pub origin: String,
    /// Whether a one-time code (TOTP) is set up and asked for at login.
    pub totp: bool,
}

/// The columns [`user_row`] reads, from `users u`.
pub(super) const USER_COLUMNS: &str = "u.id, u.name, u.role, u.created_at, u.origin,
    EXISTS (SELECT 1 FROM totp x WHERE x.user_id = u.id AND x.confirmed_at IS NOT NULL)";

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

    /// A user and password hash by name (the hash is empty for users of
    /// an OpenID Connect provider: no password matches it).
    pub fn user_by_name(&self, name: &str) -> rusqlite::Result<Option<(User, String)>> {
        self.conn()
            .query_row(
                &format!("SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.name = ?1"),
                [name],
                |r| Ok((user_row(r)?, r.get(6)?)),
            )
            .optional()
    }

    /// A user by id.
    pub fn user(&self, id: i64) -> rusqlite::Result<Option<User>> {
        self.conn()
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?1"),
                [id],
                user_row,
            )
            .optional()
    }

    /// Every user.
    pub fn users(&self) -> rusqlite::Result<Vec<User>> {
        let c = self.conn();
        let mut st = c.prepare(&format!(
            "SELECT {USER_COLUMNS} FROM users u ORDER BY u.name"
        ))?;
        st.query_map([], user_row)?.collect()
    }

    /// The user an OpenID Connect provider's subject (`ISSUER#SUB`) signed
    /// in as before.
    pub fn user_by_subject(&self, subject: &str) -> rusqlite::Result<Option<User>> {
        self.conn()
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users u WHERE u.subject = ?1"),
                [subject],
                user_row,
            )
            .optional()
    }

    /// Records a user of an OpenID Connect provider (no password).
    pub fn create_oidc_user(&self, name: &str, role: &str, subject: &str) -> rusqlite::Result<i64> {
        let c = self.conn();
        c.execute(
            "INSERT INTO users (name, role, password_hash, created_at, origin, subject)
             VALUES (?1, ?2, '', ?3, 'oidc', ?4)",
            params![name, role, ts(Utc::now()), subject],
        )?;
        Ok(c.last_insert_rowid())
    }

    /// Sets a user's role (an OpenID Connect user's, from the claims of
    /// each sign-in).
    pub fn set_role(&self, id: i64, role: &str) -> rusqlite::Result<bool> {
        Ok(self.conn().execute(
            "UPDATE users SET role = ?2 WHERE id = ?1",
            params![id, role],
        )? > 0)
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
        origin: r.get(4)?,
        totp: r.get(5)?,
    })
}
