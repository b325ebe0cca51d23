//! API tokens: their hashes, scopes and last use, never their secrets.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::users::User;
use super::{Store, ts};

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

impl Store {
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

    /// Records that a token was accepted (refused tokens do not move).
    pub fn touch_token(&self, id: i64) -> rusqlite::Result<()> {
        self.conn().execute(
            "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1",
            params![id, ts(Utc::now())],
        )?;
        Ok(())
    }

    /// Revokes every live token of a user but `keep`; returns how many.
    pub fn revoke_tokens_of(&self, user_id: i64, keep: Option<i64>) -> rusqlite::Result<usize> {
        self.conn().execute(
            "UPDATE tokens SET revoked_at = ?3
             WHERE user_id = ?1 AND revoked_at IS NULL AND (?2 IS NULL OR id <> ?2)",
            params![user_id, keep, ts(Utc::now())],
        )
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
                    r.get::<_, String>(13)?,
                    r.get::<_, bool>(14)?,
                ))
            })
            .optional()?;
        let Some((t, role, created, origin, totp)) = found else {
            return Ok(None);
        };
        let user = User {
            id: t.user_id,
            name: t.user.clone(),
            role,
            created_at: created,
            origin,
            totp,
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
}

const TOKEN_SELECT: &str =
    "SELECT t.id, t.user_id, u.name, t.name, t.prefix, t.scope, t.created_at,
    t.expires_at, t.revoked_at, t.last_used_at, t.hash, u.role, u.created_at, u.origin,
    EXISTS (SELECT 1 FROM totp x WHERE x.user_id = u.id AND x.confirmed_at IS NOT NULL)
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
