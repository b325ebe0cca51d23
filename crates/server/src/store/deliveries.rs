//! Notification deliveries and their attempts.

use chrono::Utc;
use rusqlite::params;
use serde::Serialize;

use super::{Store, ts};

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

impl Store {
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
}
