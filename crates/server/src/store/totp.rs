//! One-time code (TOTP) secrets of local users. A secret is set up
//! unconfirmed, and asked for at login only once a code from it was
//! confirmed. The newest time step a code was accepted for is kept, so a
//! code is accepted once only.

use chrono::Utc;
use rusqlite::{OptionalExtension, params};

use super::{Store, ts};

/// A user's TOTP secret.
#[derive(Clone)]
pub struct TotpRow {
    /// The secret as stored: sealed by the caller (the store never sees
    /// it in the clear).
    pub secret: String,
    /// Whether a code confirmed it (only then is it asked for at login).
    pub confirmed: bool,
    /// The newest time step a code was accepted for.
    pub last_step: u64,
}

impl std::fmt::Debug for TotpRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRow")
            .field("secret", &"***")
            .field("confirmed", &self.confirmed)
            .field("last_step", &self.last_step)
            .finish()
    }
}

impl Store {
    /// Stores a new, unconfirmed secret for a user; a confirmed one is
    /// left as it is (returns false then).
    pub fn start_totp(&self, user_id: i64, secret: &str) -> rusqlite::Result<bool> {
        Ok(self.conn().execute(
            "INSERT INTO totp (user_id, secret, confirmed_at, last_step, created_at)
             VALUES (?1, ?2, NULL, 0, ?3)
             ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret,
                 last_step = 0, created_at = excluded.created_at
             WHERE totp.confirmed_at IS NULL",
            params![user_id, secret, ts(Utc::now())],
        )? > 0)
    }

    /// A user's secret, if one is set up.
    pub fn totp(&self, user_id: i64) -> rusqlite::Result<Option<TotpRow>> {
        self.conn()
            .query_row(
                "SELECT secret, confirmed_at IS NOT NULL, last_step FROM totp WHERE user_id = ?1",
                [user_id],
                |r| {
                    Ok(TotpRow {
                        secret: r.get(0)?,
                        confirmed: r.get(1)?,
                        last_step: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    })
                },
            )
            .optional()
    }

    /// Confirms an unconfirmed secret with the step of the code that
    /// matched it.
    pub fn confirm_totp(&self, user_id: i64, step: u64) -> rusqlite::Result<bool> {
        Ok(self.conn().execute(
            "UPDATE totp SET confirmed_at = ?2, last_step = ?3
             WHERE user_id = ?1 AND confirmed_at IS NULL",
            params![user_id, ts(Utc::now()), step_value(step)],
        )? > 0)
    }

    /// Uses up a time step: true only when it is newer than every step
    /// accepted before (one statement, so two requests with the same code
    /// cannot both pass).
    pub fn use_totp_step(&self, user_id: i64, step: u64) -> rusqlite::Result<bool> {
        Ok(self.conn().execute(
            "UPDATE totp SET last_step = ?2 WHERE user_id = ?1 AND last_step < ?2",
            params![user_id, step_value(step)],
        )? > 0)
    }

    /// Removes a user's secret (the user then signs in with the password
    /// alone, and may set up a new one).
    pub fn delete_totp(&self, user_id: i64) -> rusqlite::Result<bool> {
        Ok(self
            .conn()
            .execute("DELETE FROM totp WHERE user_id = ?1", [user_id])?
            > 0)
    }
}

fn step_value(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::super::Store;

    #[test]
    fn a_step_is_used_once_and_a_confirmed_secret_stays() {
        let s = Store::memory().expect("store");
        let id = s.create_user("ada", "admin", "h").expect("user");
        assert!(s.totp(id).expect("q").is_none());
        assert!(s.start_totp(id, "AAAA").expect("start"));
        assert!(s.start_totp(id, "BBBB").expect("restart"));
        assert!(!s.user(id).expect("q").expect("user").totp);
        assert!(s.confirm_totp(id, 100).expect("confirm"));
        let row = s.totp(id).expect("q").expect("row");
        assert_eq!(
            (row.secret.as_str(), row.confirmed, row.last_step),
            ("BBBB", true, 100)
        );
        assert!(!format!("{row:?}").contains("BBBB"));
        assert!(s.user(id).expect("q").expect("user").totp);
        assert!(!s.start_totp(id, "CCCC").expect("kept"));
        assert!(!s.use_totp_step(id, 100).expect("replay"));
        assert!(s.use_totp_step(id, 101).expect("next"));
        assert!(!s.use_totp_step(id, 101).expect("replay"));
        assert!(s.delete_totp(id).expect("reset"));
        assert!(!s.user(id).expect("q").expect("user").totp);
    }
}
