//! Job rows and their log lines.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Store, ts};

/// A job as stored.
#[derive(Clone, Debug, Serialize)]
pub struct JobRow {
    /// Id.
    pub id: i64,
    /// `backup`, `restore`, `forget`, `prune`, `check`, `drill`, `import`.
    pub kind: String,
    /// The source (or restore target) it concerns.
    pub source: Option<String>,
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled`.
    pub state: String,
    /// `manual`, `scheduled`, `retention`, `catch-up`.
    pub trigger: String,
    /// Who started it.
    pub started_by: String,
    /// The request (JSON).
    pub params: serde_json::Value,
    /// 1 for the first try, 2 for the first retry, ...
    pub attempt: i64,
    /// The scheduled time it runs for.
    pub scheduled_for: Option<String>,
    /// When queued.
    pub created_at: String,
    /// When it started running.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// What to do about it.
    pub hint: Option<String>,
    /// What it did (JSON: snapshot id, rows, bytes, ...).
    pub figures: Option<serde_json::Value>,
}

/// One log line of a job.
#[derive(Clone, Debug, Serialize)]
pub struct LogLine {
    /// Id, increasing.
    pub id: i64,
    /// When.
    pub at: String,
    /// `info`, `warn`, `error`.
    pub level: String,
    /// The line.
    pub message: String,
}

/// Which jobs to list.
#[derive(Clone, Debug, Default)]
pub struct JobFilter {
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this source.
    pub source: Option<String>,
    /// Only this state.
    pub state: Option<String>,
    /// At most this many, newest first.
    pub limit: Option<i64>,
}

const JOB_SELECT: &str = "SELECT id, kind, source, state, trigger, started_by, params, attempt,
    scheduled_for, created_at, started_at, finished_at, error, hint, figures FROM jobs";

fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    let params: String = r.get(6)?;
    let figures: Option<String> = r.get(14)?;
    Ok(JobRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        source: r.get(2)?,
        state: r.get(3)?,
        trigger: r.get(4)?,
        started_by: r.get(5)?,
        params: serde_json::from_str(&params).unwrap_or(serde_json::Value::Null),
        attempt: r.get(7)?,
        scheduled_for: r.get(8)?,
        created_at: r.get(9)?,
        started_at: r.get(10)?,
        finished_at: r.get(11)?,
        error: r.get(12)?,
        hint: r.get(13)?,
        figures: figures.and_then(|f| serde_json::from_str(&f).ok()),
    })
}

impl Store {
    /// Queues a job.
    #[allow(clippy::too_many_arguments)]
    pub fn create_job(
        &self,
        kind: &str,
        source: Option<&str>,
        trigger: &str,
        started_by: &str,
        params: &serde_json::Value,
        attempt: u32,
        scheduled_for: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> rusqlite::Result<i64> {
        let c = self.conn();
        c.execute(
            "INSERT INTO jobs (kind, source, state, trigger, started_by, params, attempt, scheduled_for, created_at)
             VALUES (?1, ?2, 'queued', ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                kind,
                source,
                trigger,
                started_by,
                params.to_string(),
                attempt,
                scheduled_for.map(ts),
                ts(now)
            ],
        )?;
        Ok(c.last_insert_rowid())
    }

    /// Marks a job running.
    pub fn job_started(&self, id: i64, now: DateTime<Utc>) -> rusqlite::Result<()> {
        self.conn().execute(
            "UPDATE jobs SET state = 'running', started_at = ?2 WHERE id = ?1",
            params![id, ts(now)],
        )?;
        Ok(())
    }

    /// Records a job's end.
    pub fn job_finished(
        &self,
        id: i64,
        state: &str,
        error: Option<&str>,
        hint: Option<&str>,
        figures: Option<&serde_json::Value>,
        now: DateTime<Utc>,
    ) -> rusqlite::Result<()> {
        self.conn().execute(
            "UPDATE jobs SET state = ?2, error = ?3, hint = ?4, figures = ?5, finished_at = ?6 WHERE id = ?1",
            params![id, state, error, hint, figures.map(ToString::to_string), ts(now)],
        )?;
        Ok(())
    }

    /// Marks jobs a previous run of the server left queued or running as
    /// failed; returns how many.
    pub fn fail_orphaned_jobs(&self, now: DateTime<Utc>) -> rusqlite::Result<usize> {
        self.conn().execute(
            "UPDATE jobs SET state = 'failed', error = 'the server stopped while the job was queued or running; nothing was committed', finished_at = ?1
             WHERE state IN ('queued', 'running')",
            [ts(now)],
        )
    }

    /// One job.
    pub fn job(&self, id: i64) -> rusqlite::Result<Option<JobRow>> {
        self.conn()
            .query_row(&format!("{JOB_SELECT} WHERE id = ?1"), [id], job_row)
            .optional()
    }

    /// Jobs, newest first.
    pub fn jobs(&self, f: &JobFilter) -> rusqlite::Result<Vec<JobRow>> {
        let c = self.conn();
        let mut st = c.prepare(&format!(
            "{JOB_SELECT} WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR source = ?2)
             AND (?3 IS NULL OR state = ?3) ORDER BY id DESC LIMIT ?4"
        ))?;
        st.query_map(
            params![f.kind, f.source, f.state, f.limit.unwrap_or(100)],
            job_row,
        )?
        .collect()
    }

    /// The newest finished job of `kind` for `source` in `state`.
    pub fn last_job(
        &self,
        kind: &str,
        source: &str,
        state: Option<&str>,
    ) -> rusqlite::Result<Option<JobRow>> {
        self.conn()
            .query_row(
                &format!(
                    "{JOB_SELECT} WHERE kind = ?1 AND source = ?2 AND finished_at IS NOT NULL
                     AND (?3 IS NULL OR state = ?3) ORDER BY id DESC LIMIT 1"
                ),
                params![kind, source, state],
                job_row,
            )
            .optional()
    }

    /// The oldest finished job of `kind` for `source` in `state`.
    pub fn first_job(
        &self,
        kind: &str,
        source: &str,
        state: &str,
    ) -> rusqlite::Result<Option<JobRow>> {
        self.conn()
            .query_row(
                &format!(
                    "{JOB_SELECT} WHERE kind = ?1 AND source = ?2 AND finished_at IS NOT NULL
                     AND state = ?3 ORDER BY id LIMIT 1"
                ),
                params![kind, source, state],
                job_row,
            )
            .optional()
    }

    /// Failed jobs of `kind` for `source`.
    pub fn count_jobs(&self, kind: &str, source: &str, state: &str) -> rusqlite::Result<i64> {
        self.conn().query_row(
            "SELECT count(*) FROM jobs WHERE kind = ?1 AND source = ?2 AND state = ?3",
            params![kind, source, state],
            |r| r.get(0),
        )
    }

    /// Appends a log line to a job.
    pub fn log(&self, job_id: i64, level: &str, message: &str, now: DateTime<Utc>) {
        let r = self.conn().execute(
            "INSERT INTO job_logs (job_id, at, level, message) VALUES (?1, ?2, ?3, ?4)",
            params![job_id, ts(now), level, message],
        );
        if let Err(e) = r {
            tracing::error!(error = %e, job_id, "cannot write a job log line");
        }
    }

    /// A job's log lines after `after`.
    pub fn logs(&self, job_id: i64, after: i64) -> rusqlite::Result<Vec<LogLine>> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT id, at, level, message FROM job_logs WHERE job_id = ?1 AND id > ?2 ORDER BY id LIMIT 5000",
        )?;
        st.query_map(params![job_id, after], |r| {
            Ok(LogLine {
                id: r.get(0)?,
                at: r.get(1)?,
                level: r.get(2)?,
                message: r.get(3)?,
            })
        })?
        .collect()
    }
}
