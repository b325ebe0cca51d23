//! A restore as the server takes it: the request a preview rehearses and
//! the job it confirms are one value, turned into the operation's options
//! in one place, so the job cannot restore other than the preview showed.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tresor_core::RestoreMode;
use tresor_ops::{RestoreOptions, RowSelection, SourceConfig};

use super::tables_filter;
use crate::error::{ApiError, ApiResult};

/// What to restore where: the API's and the pages' restore request, and,
/// once previewed, the restore job (with the snapshot's full id, a group
/// as its tables, and the mode the preview showed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    /// Snapshot id (or prefix, or `latest:SOURCE`).
    pub snapshot: String,
    /// The configured source to restore into.
    pub target: String,
    /// `replace` (default) or `merge`.
    #[serde(default)]
    pub mode: RestoreMode,
    /// Only these tables (globs; all when empty).
    #[serde(default)]
    pub tables: Vec<String>,
    /// Only the rows that match: `TABLE: PREDICATE` each (docs/rows.md). A
    /// row selection restores in merge mode whatever `mode` says.
    #[serde(default, rename = "where", skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<String>,
    /// With `where`: also the rows that belong to the chosen ones, and the
    /// rows they require that the target lacks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub with_related: bool,
    /// Only the tables of this group (as the snapshot's source, or else the
    /// target, defines it); `tables` adds to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Restore only tables that are missing or empty in the target and
    /// leave every table holding data alone (the deploy-safe restore).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub only_missing: bool,
    /// Also drop the tables the target has and the snapshot lacks, so
    /// that the database is what the backup held (a whole-database restore
    /// in replace mode only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drop_extra_tables: bool,
    /// The application version the target runs (else the source's
    /// `app-version` in the config); a snapshot of another one is shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// Refuse a snapshot of another application version.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_same_app_version: bool,
    /// Also restore roles, owners, grants and default privileges.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub with_privileges: bool,
    /// Into another engine or an older PostgreSQL: refuse any approximation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict: bool,
    /// How long to wait, in all, for the application to let go of the
    /// tables the restore locks (`30s` unless given; `0`: do not wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_wait: Option<String>,
}

impl RestoreRequest {
    /// The operation's options for this restore into `target` (the
    /// configuration of `self.target`), asked for by `who`: with
    /// `rehearsal` for a preview, without for the restore itself. A
    /// malformed table glob or row filter is refused here, before anything
    /// is read.
    pub(crate) fn options(
        &self,
        target: &SourceConfig,
        who: String,
        rehearsal: Option<Duration>,
    ) -> ApiResult<RestoreOptions> {
        let rows = row_selection(&self.filters, self.with_related)?;
        if self.only_missing && rows.is_some() {
            return Err(ApiError::bad_request(
                "only_missing restores whole tables; it cannot take a row selection",
            )
            .hint("leave out where, or leave out only_missing"));
        }
        Ok(RestoreOptions {
            tables: tables_filter(&self.tables)?,
            mode: if rows.is_some() {
                RestoreMode::Merge
            } else {
                self.mode
            },
            safety_snapshot: true,
            target_url: target.resolved_url()?,
            target_name: Some(self.target.clone()),
            username: Some(who),
            rehearsal,
            rows,
            only_missing: self.only_missing,
            app_version: self
                .app_version
                .clone()
                .or_else(|| target.app_version.clone()),
            require_same_app_version: self.require_same_app_version,
            with_privileges: self.with_privileges,
            strict: self.strict,
            drop_extra_tables: self.drop_extra_tables,
            // `0` (no wait) is a duration too
            lock_wait: self
                .lock_wait
                .as_deref()
                .map(|text| {
                    tresor_ops::parse_duration(text).map_err(|e| {
                        ApiError::bad_request(format!("lock_wait: {e}"))
                            .hint("give a duration such as \"30s\" or \"2m\", or \"0\" not to wait")
                    })
                })
                .transpose()?,
        })
    }
}

/// The row selection of a request, parsed.
fn row_selection(filters: &[String], with_related: bool) -> ApiResult<Option<RowSelection>> {
    if filters.is_empty() {
        if with_related {
            return Err(ApiError::bad_request("with_related needs where")
                .hint("choose rows with where: [\"TABLE: PREDICATE\"]"));
        }
        return Ok(None);
    }
    let filters = filters
        .iter()
        .map(|f| {
            tresor_core::RowFilter::parse(f).map_err(|e| {
                let mut err = ApiError::bad_request(e.to_string());
                if let Some(h) = e.hint() {
                    err = err.hint(h);
                }
                err
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Some(RowSelection {
        filters,
        with_related,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> SourceConfig {
        serde_json::from_value(serde_json::json!({
            "url": "sqlite:///srv/app.db",
            "app-version": "2.1",
        }))
        .expect("a source's configuration")
    }

    #[test]
    fn a_row_selection_restores_by_merge() {
        let job = RestoreRequest {
            snapshot: "ab".repeat(32),
            target: "app".into(),
            mode: RestoreMode::Replace,
            filters: vec!["users: id = 7".into()],
            with_related: true,
            ..RestoreRequest::default()
        };
        let o = job.options(&target(), "ana".into(), None).expect("options");
        assert_eq!(o.mode, RestoreMode::Merge);
        let rows = o.rows.expect("a row selection");
        assert!(rows.with_related);
        assert_eq!(rows.filters.len(), 1);
        assert_eq!(o.target_url, "sqlite:///srv/app.db");
        assert_eq!(o.target_name.as_deref(), Some("app"));
        assert_eq!(o.username.as_deref(), Some("ana"));
        assert!(o.safety_snapshot);
        assert!(o.rehearsal.is_none());
    }

    #[test]
    fn the_config_names_the_application_version_unless_the_request_does() {
        let mut job = RestoreRequest {
            target: "app".into(),
            ..RestoreRequest::default()
        };
        let rehearsal = Some(Duration::from_secs(5));
        let o = job
            .options(&target(), "ana".into(), rehearsal)
            .expect("options");
        assert_eq!(o.app_version.as_deref(), Some("2.1"));
        assert_eq!(o.rehearsal, rehearsal);
        job.app_version = Some("3.0".into());
        let o = job.options(&target(), "ana".into(), None).expect("options");
        assert_eq!(o.app_version.as_deref(), Some("3.0"));
        assert_eq!(o.lock_wait, None);
        job.lock_wait = Some("2m".into());
        let o = job.options(&target(), "ana".into(), None).expect("options");
        assert_eq!(o.lock_wait, Some(Duration::from_secs(120)));
        job.lock_wait = Some("0".into());
        let o = job.options(&target(), "ana".into(), None).expect("options");
        assert_eq!(o.lock_wait, Some(Duration::ZERO));
    }

    #[test]
    fn contradictions_are_refused_before_anything_is_read() {
        let only_missing_rows = RestoreRequest {
            filters: vec!["users: id = 7".into()],
            only_missing: true,
            ..RestoreRequest::default()
        };
        let related_alone = RestoreRequest {
            with_related: true,
            ..RestoreRequest::default()
        };
        let bad_filter = RestoreRequest {
            filters: vec!["no colon here".into()],
            ..RestoreRequest::default()
        };
        let bad_wait = RestoreRequest {
            lock_wait: Some("soon".into()),
            ..RestoreRequest::default()
        };
        for job in [only_missing_rows, related_alone, bad_filter, bad_wait] {
            let e = job
                .options(&target(), "ana".into(), None)
                .expect_err("refused");
            assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST, "{job:?}");
        }
    }

    #[test]
    fn the_stored_job_reads_as_before() {
        // jobs kept in the state file by an earlier version
        let spec: super::super::JobSpec = serde_json::from_str(
            r#"{"kind":"restore","snapshot":"abc","target":"app","mode":"merge",
                "tables":["users"],"where":["users: id = 7"],"with_related":true}"#,
        )
        .expect("a stored restore job");
        let super::super::JobSpec::Restore(job) = &spec else {
            panic!("{spec:?}")
        };
        assert_eq!(job.filters, ["users: id = 7"]);
        assert_eq!(job.mode, RestoreMode::Merge);
        let back = serde_json::to_value(&spec).expect("json");
        assert_eq!(back["kind"], "restore");
        assert_eq!(back["where"][0], "users: id = 7");
        assert_eq!(back["target"], "app");
    }
}
