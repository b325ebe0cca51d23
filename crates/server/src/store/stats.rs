//! Repository size samples for the dashboard chart, and expiry of old
//! history.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

use super::{Store, ts};

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

impl Store {
    /// Records a repository statistics sample.
    pub fn add_repo_stat(
        &self,
        at: DateTime<Utc>,
        snapshots: i64,
        stored: i64,
        logical: i64,
    ) -> rusqlite::Result<()> {
        let c = self.conn();
        let before = c.total_changes();
        c.execute(
            "INSERT OR REPLACE INTO repo_stats (at, snapshots, stored_bytes, logical_bytes) VALUES (?1, ?2, ?3, ?4)",
            params![ts(at), snapshots, stored, logical],
        )?;
        self.derived
            .fetch_add(c.total_changes() - before, Ordering::Relaxed);
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
