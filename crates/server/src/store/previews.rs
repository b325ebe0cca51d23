//! Restore previews waiting for their confirmation.

use chrono::Utc;
use rusqlite::{OptionalExtension, params};

use super::{Store, ts};

impl Store {
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
}
