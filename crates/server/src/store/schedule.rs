//! Schedule state kept across restarts (last scheduled run, pauses,
//! retention set at run time) and server-wide settings.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Store, parse_ts, ts};

impl Store {
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
}
