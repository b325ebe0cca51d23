//! A backup as a front door asks for it (a source, a group, tables, tags)
//! turned into [`BackupOptions`], the same way for the CLI and the server.

use std::collections::BTreeMap;

use tresor_core::TableFilter;

use super::{BackupOptions, ParentChoice};
use crate::config::SourceConfig;
use crate::engines::Engines;
use crate::error::{OpsError, Result};
use crate::snapshot::Trigger;

/// The database a backup reads.
#[derive(Clone, Copy, Debug)]
pub enum SourceSpec<'a> {
    /// A source defined in `tresor.toml`, by name.
    Named(&'a str, &'a SourceConfig),
    /// A database URL given directly.
    Url(&'a str),
}

/// What a user asked to back up, and the labels to keep with it.
#[derive(Clone, Debug, Default)]
pub struct BackupRequest {
    /// A table group of the source (`--group`, the API's `group`).
    pub group: Option<String>,
    /// Table globs added to the group's tables, or to the source's
    /// `include` list when no group is named (`--tables`, `tables`).
    pub tables: Vec<String>,
    /// Table globs left out, besides the source's `exclude` list.
    pub exclude: Vec<String>,
    /// Tags, besides the source's own.
    pub tags: Vec<String>,
    /// Why, in the user's words.
    pub reason: Option<String>,
    /// The application's version.
    pub app_version: Option<String>,
    /// What started the backup.
    pub trigger: Trigger,
    /// Tables read at once; else the source's `jobs`, else the engine's
    /// default.
    pub jobs: Option<usize>,
    /// Engine switches, over the source's `options`.
    pub options: Vec<(String, String)>,
    /// Which snapshot to compare with.
    pub parent: ParentChoice,
    /// Who asked; the OS user when `None`.
    pub username: Option<String>,
    /// Extra labels for the manifest.
    pub labels: BTreeMap<String, String>,
    /// How long to wait, in all, for other sessions (a migration) to let
    /// go of the tables to read (`--lock-wait`); `None` waits
    /// [`DEFAULT_BACKUP_LOCK_WAIT`](tresor_core::DEFAULT_BACKUP_LOCK_WAIT).
    pub lock_wait: Option<std::time::Duration>,
}

impl BackupRequest {
    /// The options for [`backup`](super::backup) of `source`.
    ///
    /// The tables are the group's (or the source's `include`) plus
    /// `tables`, minus the source's `exclude` and `exclude`; a snapshot of
    /// a group is tagged `group:NAME` besides the source's tags and
    /// `tags`.
    ///
    /// # Errors
    /// An unknown group (not found), a group for a source that is not
    /// defined in the config, invalid globs, a source password file that
    /// cannot be read, or a URL no engine understands.
    pub fn options(&self, source: SourceSpec<'_>, engines: &Engines) -> Result<BackupOptions> {
        let (name, config, url) = match source {
            SourceSpec::Named(name, config) => (Some(name), Some(config), config.resolved_url()?),
            SourceSpec::Url(url) => (None, None, url.to_string()),
        };
        let filter = self.filter(config)?;
        let jobs = match self.jobs.or(config.and_then(|c| c.jobs)) {
            Some(n) => n.max(1),
            None => engines.default_jobs(&url)?,
        };
        let mut options = config.map(|c| c.options.clone()).unwrap_or_default();
        options.extend(self.options.iter().cloned());
        engines.check_read_options(&url, &options)?;
        let mut tags = config.map(|c| c.tags.clone()).unwrap_or_default();
        tags.extend(self.tags.iter().cloned());
        if let Some(g) = &self.group {
            tags.push(format!("{}{g}", crate::retention::GROUP_TAG));
        }
        Ok(BackupOptions {
            source_name: name.map(str::to_string),
            url,
            read: tresor_core::ReadOptions {
                filter,
                jobs,
                options,
                lock_wait: match (
                    self.lock_wait,
                    config.and_then(|c| c.backup_lock_wait.as_deref()),
                ) {
                    (Some(wait), _) => wait,
                    (None, Some(text)) => {
                        crate::parse_duration(text).map_err(|e| OpsError::InvalidInput {
                            what: format!("backup-lock-wait: {e}"),
                            hint: Some("give a duration such as \"30m\"".into()),
                        })?
                    }
                    (None, None) => tresor_core::DEFAULT_BACKUP_LOCK_WAIT,
                },
                ..tresor_core::ReadOptions::default()
            },
            trigger: self.trigger,
            reason: self.reason.clone(),
            tags,
            app_version: self
                .app_version
                .clone()
                .or_else(|| config.and_then(|c| c.app_version.clone())),
            username: self.username.clone(),
            labels: self.labels.clone(),
            parent: self.parent.clone(),
            ..BackupOptions::default()
        })
    }

    fn filter(&self, config: Option<&SourceConfig>) -> Result<TableFilter> {
        let invalid = |e: tresor_core::FilterError| OpsError::InvalidInput {
            what: e.to_string(),
            hint: Some("table patterns are globs such as users, user_*, public.*".into()),
        };
        let Some(c) = config else {
            if let Some(g) = &self.group {
                return Err(OpsError::InvalidInput {
                    what: format!("the table group {g:?} needs a source defined in tresor.toml"),
                    hint: Some(
                        "define the source and its groups in tresor.toml, or name tables instead"
                            .into(),
                    ),
                });
            }
            return TableFilter::new(&self.tables, &self.exclude).map_err(invalid);
        };
        // the group is checked first, so an unknown one is never ignored
        let base = c.filter(self.group.as_deref())?;
        if self.tables.is_empty() && self.exclude.is_empty() {
            return Ok(base);
        }
        let mut include = match &self.group {
            Some(g) => c.groups.get(g).cloned().unwrap_or_default(),
            None => c.include.clone(),
        };
        include.extend(self.tables.iter().cloned());
        let mut exclude = c.exclude.clone();
        exclude.extend(self.exclude.iter().cloned());
        TableFilter::new(&include, &exclude).map_err(invalid)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tresor_core::{Connector, Engine, ErrorKind, Source, SourceError, TableName, Target};

    use super::*;

    /// An engine that only answers the questions the request asks.
    struct Answers(Engine, usize);

    impl Connector for Answers {
        fn engine(&self) -> Engine {
            self.0
        }
        fn accepts(&self, url: &str) -> bool {
            url.starts_with(self.0.name())
        }
        fn example_url(&self) -> &'static str {
            "example://"
        }
        fn default_jobs(&self) -> usize {
            self.1
        }
        fn read_options(&self) -> &'static [(&'static str, &'static [&'static str])] {
            &[("a", &["source", "request"])]
        }
        fn source(&self, _: &str) -> Result<Box<dyn Source>, SourceError> {
            Err(SourceError::new(ErrorKind::Unsupported, "no sources here"))
        }
        fn target(&self, _: &str) -> Result<Box<dyn Target>, SourceError> {
            Err(SourceError::new(ErrorKind::Unsupported, "no targets here"))
        }
    }

    fn engines() -> Engines {
        Engines::new()
            .with(Arc::new(Answers(Engine::POSTGRES, 2)))
            .with(Arc::new(Answers(Engine::SQLITE, 1)))
    }

    fn shop(url: &str) -> SourceConfig {
        let mut c: SourceConfig = toml::from_str(&format!(
            "url = {url:?}\ninclude = [\"users\", \"orders\"]\nexclude = [\"audit\"]\ntags = [\"prod\"]\n[groups]\nuser-data = [\"users\", \"wines\"]\n"
        ))
        .expect("ok");
        c.options.insert("a".into(), "source".into());
        c
    }

    fn names(f: &TableFilter) -> Vec<&str> {
        ["users", "orders", "wines", "audit", "events"]
            .into_iter()
            .filter(|t| f.matches(&TableName::new(*t)))
            .collect()
    }

    /// The lock wait: the request's, else the source's
    /// `backup-lock-wait`, else the default; a malformed one is refused.
    #[test]
    fn the_lock_wait_comes_from_the_request_the_source_or_the_default() {
        use std::time::Duration;
        let e = engines();
        let mut c = shop("sqlite:///srv/shop.db");
        let plain = BackupRequest::default();
        let o = plain
            .options(SourceSpec::Named("shop", &c), &e)
            .expect("ok");
        assert_eq!(o.read.lock_wait, tresor_core::DEFAULT_BACKUP_LOCK_WAIT);
        c.backup_lock_wait = Some("30m".into());
        let o = plain
            .options(SourceSpec::Named("shop", &c), &e)
            .expect("ok");
        assert_eq!(o.read.lock_wait, Duration::from_secs(1800));
        let told = BackupRequest {
            lock_wait: Some(Duration::from_secs(5)),
            ..BackupRequest::default()
        };
        let o = told.options(SourceSpec::Named("shop", &c), &e).expect("ok");
        assert_eq!(o.read.lock_wait, Duration::from_secs(5));
        c.backup_lock_wait = Some("a while".into());
        let err = plain
            .options(SourceSpec::Named("shop", &c), &e)
            .expect_err("refused");
        assert_eq!(err.class(), crate::ErrorClass::Usage);
        assert!(err.to_string().contains("backup-lock-wait"), "{err}");
    }

    /// The server replaced a group's tables with the requested ones while
    /// the CLI added them; both now add them, and an unknown group is an
    /// error even when tables are named too.
    #[test]
    fn tables_add_to_the_group_in_every_front_door() {
        let c = shop("sqlite:///srv/shop.db");
        let e = engines();
        let req = BackupRequest {
            group: Some("user-data".into()),
            tables: vec!["events".into()],
            ..BackupRequest::default()
        };
        let o = req.options(SourceSpec::Named("shop", &c), &e).expect("ok");
        assert_eq!(names(&o.read.filter), ["users", "wines", "events"]);
        assert_eq!(o.tags, ["prod", "group:user-data"]);
        assert_eq!(o.source_name.as_deref(), Some("shop"));

        let plain = BackupRequest {
            tables: vec!["events".into()],
            exclude: vec!["orders".into()],
            ..BackupRequest::default()
        };
        let o = plain
            .options(SourceSpec::Named("shop", &c), &e)
            .expect("ok");
        assert_eq!(names(&o.read.filter), ["users", "events"]);

        let o = BackupRequest::default()
            .options(SourceSpec::Named("shop", &c), &e)
            .expect("ok");
        assert_eq!(names(&o.read.filter), ["users", "orders"]);

        let unknown = BackupRequest {
            group: Some("nope".into()),
            tables: vec!["events".into()],
            ..BackupRequest::default()
        };
        let err = unknown
            .options(SourceSpec::Named("shop", &c), &e)
            .expect_err("an error");
        assert_eq!(err.class(), crate::ErrorClass::NotFound);
        assert!(err.hint().expect("ok").contains("user-data"), "{err}");

        let err = unknown
            .options(SourceSpec::Url("sqlite:///x.db"), &e)
            .expect_err("an error");
        assert_eq!(err.class(), crate::ErrorClass::Usage);
    }

    /// The server read 2 tables at once for every engine while the CLI
    /// used 2 only for PostgreSQL; both now ask the engine.
    #[test]
    fn jobs_default_to_the_engine_answer_unless_given() {
        let e = engines();
        let req = BackupRequest::default();
        let pg = req
            .options(SourceSpec::Url("postgres://u@h/db"), &e)
            .expect("ok");
        assert_eq!(pg.read.jobs, 2);
        let lite = req
            .options(SourceSpec::Url("sqlite:///x.db"), &e)
            .expect("ok");
        assert_eq!(lite.read.jobs, 1);

        let mut c = shop("sqlite:///srv/shop.db");
        c.jobs = Some(3);
        let o = req.options(SourceSpec::Named("shop", &c), &e).expect("ok");
        assert_eq!(o.read.jobs, 3);
        let asked = BackupRequest {
            jobs: Some(0),
            options: vec![("a".into(), "request".into())],
            ..BackupRequest::default()
        };
        let o = asked
            .options(SourceSpec::Named("shop", &c), &e)
            .expect("ok");
        assert_eq!(o.read.jobs, 1);
        assert_eq!(o.read.options["a"], "request");
        // a switch the engine does not know, or a value it does not take,
        // is refused rather than ignored
        for bad in [("allow-global-lok", "true"), ("a", "yes")] {
            let typo = BackupRequest {
                options: vec![(bad.0.into(), bad.1.into())],
                ..BackupRequest::default()
            };
            let err = typo
                .options(SourceSpec::Named("shop", &c), &e)
                .expect_err("refused")
                .to_string();
            assert!(err.contains(bad.0) || err.contains(bad.1), "{err}");
        }
        assert!(
            req.options(SourceSpec::Url("oracle://x"), &e).is_err(),
            "an unknown engine has no default"
        );
    }
}
