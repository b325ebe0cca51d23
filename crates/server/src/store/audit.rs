//! The audit log: who did what, when.

use chrono::Utc;
use rusqlite::params;
use serde::Serialize;

use super::{Store, ts};

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

impl Store {
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
}
