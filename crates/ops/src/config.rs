//! `tresor.toml`: the repository, the named sources and their table
//! groups. The CLI and the server read the same file.
//!
//! Precedence: built-in defaults, then the file, then `TRESOR_*`
//! environment variables, then command-line flags (applied by the caller).
//! [`Config::validate`] reports every problem at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tresor_core::TableFilter;

use crate::error::{OpsError, Result};

mod drill;
mod offsite;
mod oidc;
mod repository;
mod secret;
mod server;

pub use drill::{Comparison, DrillAssertion, DrillConfig, Expectation};
pub use offsite::{DEFAULT_MAX_LAG, OffsiteConfig};
pub use oidc::{OIDC_ROLES, OIDC_SECRET_ENV, OidcConfig};
pub use repository::{CREDENTIAL_NAMES, RepositoryConfig};
use secret::insert_password;
pub use secret::{Secret, read_secret_file};
pub use server::{
    EVENT_KINDS, EmailConfig, LogFormat, MaintenanceConfig, NotificationsConfig, RetentionConfig,
    Schedule, ServerConfig, Size, SmtpTls, SourceNotify, WebhookConfig, WebhookFormat, parse_cron,
    parse_duration, parse_size, parse_timezone,
};
use server::{check_retention, check_schedule};

/// One database to protect.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SourceConfig {
    /// The database URL (`sqlite:///srv/app.db`, `postgres://...`).
    pub url: String,
    /// A file holding the database password, inserted into the URL so it
    /// need not be written in this file.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Tables to include (globs); all when empty.
    #[serde(default)]
    pub include: Vec<String>,
    /// Tables to leave out (globs).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Named table groups, e.g. `user-data = ["users", "wines"]`.
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    /// Tables read at once.
    #[serde(default)]
    pub jobs: Option<usize>,
    /// Tags added to every snapshot of this source.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Engine-specific options (`allow-global-lock = "true"` for MySQL).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// When the server backs this source up: one or more cron expressions
    /// (`"0 6,18 * * *"`); none means only on demand.
    #[serde(default)]
    pub schedule: Schedule,
    /// The schedule's time zone (`Europe/Berlin`); the server's when unset.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Start each scheduled run up to this much later, at random (`5m`),
    /// so that many sources do not start at the same second.
    #[serde(default)]
    pub jitter: Option<String>,
    /// If the server was down at a scheduled time, run once at start-up.
    #[serde(default)]
    pub catch_up: bool,
    /// Cancel a run that takes longer than this (`2h`); nothing half-done
    /// stays behind.
    #[serde(default)]
    pub timeout: Option<String>,
    /// How long a backup of this source waits, in all, for another
    /// session (a migration) to let go of a table it reads (`30m`); `10m`
    /// unless set. A backup that gives up is retried like any conflict.
    #[serde(default)]
    pub backup_lock_wait: Option<String>,
    /// Retries of a scheduled run that failed for a reason that may pass
    /// (connection lost, lock conflict), with doubling waits.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Wait before the first retry (`1m`), doubled for each further one.
    #[serde(default)]
    pub retry_backoff: Option<String>,
    /// What to keep: applied after every backup of the source, whoever
    /// started it (CLI, API, web page, schedule), and by `forget` without
    /// rules.
    #[serde(default)]
    pub retention: Option<RetentionConfig>,
    /// Start with the schedule paused (it can be resumed from the UI/API).
    #[serde(default)]
    pub paused: bool,
    /// The version of the application running on this database now
    /// (`2.3.1`): recorded with each backup that names none, and compared
    /// with a snapshot's before a restore into it.
    #[serde(default)]
    pub app_version: Option<String>,
    /// When the server proves this source's newest backup restores: cron
    /// expression(s) in the source's time zone; each run is a drill job
    /// (restore into a scratch database, verify every table, drop it).
    /// `[sources.NAME.drill] schedule` says the same.
    #[serde(default)]
    pub drill_schedule: Schedule,
    /// How old the last passing drill may be (`8d`) before the server
    /// reports it overdue; `[sources.NAME.drill] max-age` says the same.
    #[serde(default)]
    pub drill_max_age: Option<String>,
    /// `[sources.NAME.drill]`: schedule, maximum age and assertions.
    #[serde(default)]
    pub drill: DrillConfig,
    /// Who is mailed about this source's jobs, besides
    /// `[notifications.email] to`.
    #[serde(default)]
    pub notify: Option<SourceNotify>,
}

fn default_retries() -> u32 {
    2
}

impl SourceConfig {
    /// When drills run: `drill.schedule`, or else `drill-schedule`.
    pub fn drill_times(&self) -> &Schedule {
        if self.drill.schedule.is_empty() {
            &self.drill_schedule
        } else {
            &self.drill.schedule
        }
    }

    /// How old the last passing drill may be: `drill.max-age`, or else
    /// `drill-max-age` (checked by `Config::validate`).
    pub fn drill_age_limit(&self) -> Option<std::time::Duration> {
        let age = self
            .drill
            .max_age
            .as_deref()
            .or(self.drill_max_age.as_deref())?;
        parse_duration(age).ok()
    }

    /// The URL with the password from `password_file` put in, if set.
    ///
    /// # Errors
    /// The password file cannot be read.
    pub fn resolved_url(&self) -> Result<String> {
        let Some(file) = &self.password_file else {
            return Ok(self.url.clone());
        };
        let password = read_secret_file(file)?;
        Ok(insert_password(&self.url, password.expose()))
    }

    /// The filter for a backup: the source's include/exclude, narrowed to a
    /// group when one is named.
    ///
    /// # Errors
    /// Unknown group or invalid pattern.
    pub fn filter(&self, group: Option<&str>) -> Result<TableFilter> {
        let include = match group {
            None => self.include.clone(),
            Some(g) => self
                .groups
                .get(g)
                .cloned()
                .ok_or_else(|| OpsError::NotFound {
                    what: format!("no table group named {g:?}"),
                    hint: Some(format!(
                        "groups of this source: {}",
                        if self.groups.is_empty() {
                            "none".to_string()
                        } else {
                            self.groups.keys().cloned().collect::<Vec<_>>().join(", ")
                        }
                    )),
                })?,
        };
        TableFilter::new(&include, &self.exclude).map_err(|e| OpsError::InvalidInput {
            what: e.to_string(),
            hint: Some("patterns are globs such as users, user_*, public.*".into()),
        })
    }
}

/// The whole configuration file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// The repository.
    #[serde(default)]
    pub repository: RepositoryConfig,
    /// Named sources.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    /// `prune` on its own schedule (server only).
    #[serde(default)]
    pub prune: MaintenanceConfig,
    /// `check` on its own schedule (server only).
    #[serde(default)]
    pub check: MaintenanceConfig,
    /// The server's own settings.
    #[serde(default)]
    pub server: ServerConfig,
    /// Email and webhooks (server only).
    #[serde(default)]
    pub notifications: NotificationsConfig,
    /// How exported archives are named.
    #[serde(default)]
    pub export: ExportConfig,
    /// Second repositories each new snapshot is copied to (server only;
    /// `tresor copy --offsite NAME` by hand).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub offsite: BTreeMap<String, OffsiteConfig>,
}

/// `[export]`: how downloads, emailed attachments and `tresor export -o
/// DIR/` name archives.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExportConfig {
    /// The file name pattern, without extension (see
    /// [`archive_file_name`](crate::archive_file_name)): `{source}`,
    /// `{time}` / `{time:FORMAT}` (in `[server] timezone` on the server,
    /// the local zone for the CLI), `{reason}`, `{id}`, `{group}`,
    /// `{trigger}`.
    #[serde(default = "default_file_name")]
    pub file_name: String,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            file_name: default_file_name(),
        }
    }
}

fn default_file_name() -> String {
    crate::naming::DEFAULT_ARCHIVE_NAME.to_string()
}

/// The environment variables [`Config::apply_env`] reads, and the setting
/// each one overrides.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("TRESOR_REPOSITORY", "repository.url"),
    ("TRESOR_PASSWORD_FILE", "repository.password-file"),
    ("TRESOR_LISTEN", "server.listen"),
    ("TRESOR_STATE_FILE", "server.state-file"),
    ("TRESOR_LOG_FILE", "server.log-file"),
    ("TRESOR_UPLOAD_LIMIT", "server.upload-limit"),
    ("TRESOR_TIMEZONE", "server.timezone"),
    ("TRESOR_PUBLIC_URL", "server.public-url"),
    ("TRESOR_SMTP_HOST", "notifications.email.host"),
    ("TRESOR_SMTP_PORT", "notifications.email.port"),
    ("TRESOR_SMTP_USERNAME", "notifications.email.username"),
    (
        "TRESOR_SMTP_PASSWORD_FILE",
        "notifications.email.password-file",
    ),
    ("TRESOR_SMTP_FROM", "notifications.email.from"),
    ("TRESOR_SMTP_TO", "notifications.email.to (comma-separated)"),
    ("TRESOR_SOURCE_<NAME>_URL", "sources.<name>.url"),
    (
        "TRESOR_SOURCE_<NAME>_PASSWORD_FILE",
        "sources.<name>.password-file",
    ),
];

impl Config {
    /// Reads and validates a configuration file.
    ///
    /// # Errors
    /// Unreadable file, TOML errors (with line and column), or validation
    /// problems, all reported at once.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| OpsError::InvalidInput {
            what: format!("cannot read config file {}: {e}", path.display()),
            hint: Some("pass --config FILE or set TRESOR_CONFIG".into()),
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses and validates configuration text; `origin` names it in errors.
    ///
    /// # Errors
    /// TOML errors or validation problems.
    pub fn parse(text: &str, origin: &str) -> Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| OpsError::InvalidInput {
            what: format!("invalid config {origin}: {e}"),
            hint: Some("see docs/config.md for every setting".into()),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks everything and reports every problem at once.
    ///
    /// # Errors
    /// A list of all problems found.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        for (name, s) in &self.sources {
            if s.url.trim().is_empty() {
                problems.push(format!("source {name:?} has an empty url"));
            }
            if name.is_empty() || name.contains([':', '/', ' ']) {
                problems.push(format!(
                    "source name {name:?} must not be empty or contain ':', '/' or spaces"
                ));
            }
            if let Err(e) = TableFilter::new(&s.include, &s.exclude) {
                problems.push(format!("source {name:?}: {e}"));
            }
            for (g, tables) in &s.groups {
                if tables.is_empty() {
                    problems.push(format!("source {name:?}: group {g:?} lists no tables"));
                }
                if let Err(e) = TableFilter::new(tables, &[]) {
                    problems.push(format!("source {name:?}: group {g:?}: {e}"));
                }
            }
            if s.jobs == Some(0) {
                problems.push(format!("source {name:?}: jobs must be at least 1"));
            }
            let what = format!("source {name:?}");
            check_schedule(&what, &s.schedule, s.timezone.as_deref(), &mut problems);
            check_schedule(
                &format!("{what} drill-schedule"),
                s.drill_times(),
                s.timezone.as_deref(),
                &mut problems,
            );
            problems.extend(
                s.drill
                    .problems(&what, &s.drill_schedule, s.drill_max_age.as_deref()),
            );
            for (key, value) in [
                ("jitter", &s.jitter),
                ("timeout", &s.timeout),
                ("retry-backoff", &s.retry_backoff),
                ("backup-lock-wait", &s.backup_lock_wait),
            ] {
                if let Some(v) = value
                    && let Err(e) = parse_duration(v)
                {
                    problems.push(format!("{what}: {key}: {e}"));
                }
            }
            if let Some(r) = &s.retention {
                check_retention(&what, "retention", r, &mut problems);
                for (g, rules) in &r.groups {
                    let at = format!("retention.groups.{g}");
                    if !s.groups.contains_key(g) {
                        problems.push(format!(
                            "{what}: {at}: the source has no table group named {g:?}"
                        ));
                    }
                    if !rules.groups.is_empty() {
                        problems.push(format!("{what}: {at}: a group's rules cannot name groups"));
                    }
                    check_retention(&what, &at, rules, &mut problems);
                }
            }
        }
        for (what, m) in [("[prune]", &self.prune), ("[check]", &self.check)] {
            check_schedule(what, &m.schedule, m.timezone.as_deref(), &mut problems);
            if let Some(t) = &m.timeout
                && let Err(e) = parse_duration(t)
            {
                problems.push(format!("{what}: timeout: {e}"));
            }
        }
        if let Err(e) = crate::naming::check_archive_name(&self.export.file_name) {
            problems.push(format!("[export] file-name: {e}"));
        }
        self.repository.problems("[repository]", &mut problems);
        for (name, o) in &self.offsite {
            o.problems(name, self, &mut problems);
        }
        self.validate_server(&mut problems);
        self.validate_notifications(&mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(OpsError::InvalidInput {
                what: format!("invalid configuration:\n  - {}", problems.join("\n  - ")),
                hint: None,
            })
        }
    }

    /// The source named `name`.
    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.get(name)
    }

    /// The tables of the group `group` for a restore or an export: as the
    /// first of `sources` that defines it has them (the snapshot's source,
    /// then the target).
    ///
    /// # Errors
    /// None of them defines the group (the hint lists the groups there are).
    pub fn group_tables<'a>(
        &self,
        group: &str,
        sources: impl IntoIterator<Item = Option<&'a str>>,
    ) -> Result<Vec<String>> {
        let mut known = Vec::new();
        for name in sources.into_iter().flatten() {
            let Some(s) = self.source(name) else {
                continue;
            };
            if let Some(tables) = s.groups.get(group) {
                return Ok(tables.clone());
            }
            known.extend(s.groups.keys().map(|g| format!("{g} ({name})")));
        }
        Err(OpsError::NotFound {
            what: format!("no table group named {group:?}"),
            hint: Some(if known.is_empty() {
                "define it in tresor.toml: [sources.NAME.groups] with NAME the snapshot's source"
                    .into()
            } else {
                format!("groups: {}", known.join(", "))
            }),
        })
    }

    fn validate_server(&self, problems: &mut Vec<String>) {
        let s = &self.server;
        if s.listen.parse::<std::net::SocketAddr>().is_err()
            && !s
                .listen
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
        {
            problems.push(format!(
                "[server] listen {:?} is not HOST:PORT such as 127.0.0.1:8420",
                s.listen
            ));
        }
        if let Err(e) = s.upload_limit.bytes() {
            problems.push(format!("[server] upload-limit: {e}"));
        }
        if let Err(e) = parse_timezone(&s.timezone) {
            problems.push(format!("[server] timezone: {e}"));
        }
        for (key, v) in [
            ("session-lifetime", &s.session_lifetime),
            ("shutdown-grace", &s.shutdown_grace),
        ] {
            if let Err(e) = parse_duration(v) {
                problems.push(format!("[server] {key}: {e}"));
            }
        }
        if s.state_file.as_os_str().is_empty() {
            problems.push("[server] state-file must not be empty".into());
        }
        if s.state_backup != "off"
            && let Err(e) = parse_duration(&s.state_backup)
        {
            problems.push(format!("[server] state-backup: {e} (or \"off\")"));
        }
        if let Some(o) = &s.oidc {
            o.validate(s.public_url.as_deref(), problems);
        }
    }

    fn validate_notifications(&self, problems: &mut Vec<String>) {
        let n = &self.notifications;
        for (name, s) in &self.sources {
            let Some(notify) = &s.notify else { continue };
            let what = format!("[sources.{name}.notify]");
            if n.email.is_none() {
                problems.push(format!(
                    "{what} needs [notifications.email] (the mail server) to send"
                ));
            }
            for e in &notify.events {
                if !server::validate_event(e) {
                    problems.push(format!(
                        "{what} events: unknown event {e:?} (use success, failure, *, or KIND-success / KIND-failure)"
                    ));
                }
            }
            for addr in &notify.to {
                if !addr.contains('@') {
                    problems.push(format!("{what} {addr:?} is not an email address"));
                }
            }
            if notify.to.is_empty() && notify.recipients_from.is_none() {
                problems.push(format!("{what} names no one: give to or recipients-from"));
            }
            if let Some(f) = &notify.recipients_from
                && let Err(e) = tresor_core::RowFilter::parse(f)
            {
                problems.push(format!("{what} recipients-from: {e}"));
            }
        }
        if let Err(e) = parse_duration(&n.backoff) {
            problems.push(format!("[notifications] backoff: {e}"));
        }
        if n.attempts == 0 {
            problems.push("[notifications] attempts must be at least 1".into());
        }
        let known = |list: &[String], what: &str, problems: &mut Vec<String>| {
            for s in list {
                if s != "*" && !self.sources.contains_key(s) {
                    problems.push(format!("{what} names unknown source {s:?}"));
                }
            }
        };
        if let Some(e) = &n.email {
            if e.host.trim().is_empty() {
                problems.push("[notifications.email] host is empty".into());
            }
            if e.to.is_empty() && self.sources.values().all(|s| s.notify.is_none()) {
                problems.push(
                    "[notifications.email] to lists no recipient (and no source has [sources.NAME.notify])"
                        .into(),
                );
            }
            for addr in std::iter::once(&e.from).chain(&e.to) {
                if !addr.contains('@') {
                    problems.push(format!(
                        "[notifications.email] {addr:?} is not an email address"
                    ));
                }
            }
            if e.password_file.is_some() && e.password_env.is_some() {
                problems.push(
                    "[notifications.email] give password-file or password-env, not both".into(),
                );
            }
            if let Some(size) = &e.attach_archive_under
                && let Err(err) = size.bytes()
            {
                problems.push(format!("[notifications.email] attach-archive-under: {err}"));
            }
            known(&e.on_success, "[notifications.email] on-success", problems);
            known(&e.on_failure, "[notifications.email] on-failure", problems);
        }
        for (i, w) in n.webhooks.iter().enumerate() {
            let what = format!("[[notifications.webhooks]] #{}", i + 1);
            let given = [w.url.is_some(), w.url_env.is_some(), w.url_file.is_some()]
                .iter()
                .filter(|b| **b)
                .count();
            if given != 1 {
                problems.push(format!(
                    "{what}: give exactly one of url, url-env, url-file"
                ));
            }
            if let Some(u) = &w.url
                && !(u.starts_with("http://") || u.starts_with("https://"))
            {
                problems.push(format!("{what}: url must start with http:// or https://"));
            }
            for e in &w.events {
                if !server::validate_event(e) {
                    problems.push(format!(
                        "{what}: unknown event {e:?} (success, failure, or KIND-success / KIND-failure with KIND one of {})",
                        EVENT_KINDS.join(", ")
                    ));
                }
            }
            known(&w.sources, &format!("{what} sources"), problems);
        }
    }

    /// Applies the `TRESOR_*` overrides listed in [`ENV_OVERRIDES`] from the
    /// process environment. The server calls this; the CLI takes the same
    /// variables through its flags.
    pub fn apply_env(&mut self) {
        self.apply_env_from(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    }

    /// [`Config::apply_env`] with the variables looked up through `var`.
    pub fn apply_env_from(&mut self, var: impl Fn(&str) -> Option<String>) {
        if let Some(v) = var("TRESOR_REPOSITORY") {
            self.repository.url = Some(v);
        }
        if let Some(v) = var("TRESOR_PASSWORD_FILE") {
            self.repository.password_file = Some(PathBuf::from(v));
        }
        let s = &mut self.server;
        if let Some(v) = var("TRESOR_LISTEN") {
            s.listen = v;
        }
        if let Some(v) = var("TRESOR_STATE_FILE") {
            s.state_file = PathBuf::from(v);
        }
        if let Some(v) = var("TRESOR_LOG_FILE") {
            s.log_file = Some(PathBuf::from(v));
        }
        if let Some(v) = var("TRESOR_UPLOAD_LIMIT") {
            s.upload_limit = Size::Text(v);
        }
        if let Some(v) = var("TRESOR_TIMEZONE") {
            s.timezone = v;
        }
        if let Some(v) = var("TRESOR_PUBLIC_URL") {
            s.public_url = Some(v);
        }
        if let Some(host) = var("TRESOR_SMTP_HOST") {
            let email = self.notifications.email.get_or_insert_with(|| EmailConfig {
                host: String::new(),
                port: None,
                tls: SmtpTls::default(),
                username: None,
                password_file: None,
                password_env: None,
                from: String::new(),
                to: Vec::new(),
                on_success: Vec::new(),
                on_failure: vec!["*".into()],
                attach_archive_under: None,
            });
            email.host = host;
        }
        if let Some(email) = self.notifications.email.as_mut() {
            if let Some(v) = var("TRESOR_SMTP_PORT") {
                email.port = v.parse().ok().or(email.port);
            }
            if let Some(v) = var("TRESOR_SMTP_USERNAME") {
                email.username = Some(v);
            }
            if let Some(v) = var("TRESOR_SMTP_PASSWORD_FILE") {
                email.password_file = Some(PathBuf::from(v));
            }
            if let Some(v) = var("TRESOR_SMTP_FROM") {
                email.from = v;
            }
            if let Some(v) = var("TRESOR_SMTP_TO") {
                email.to = v.split(',').map(|s| s.trim().to_string()).collect();
            }
        }
        for (name, source) in &mut self.sources {
            let key = name.to_ascii_uppercase().replace(['-', '.'], "_");
            if let Some(v) = var(&format!("TRESOR_SOURCE_{key}_URL")) {
                source.url = v;
            }
            if let Some(v) = var(&format!("TRESOR_SOURCE_{key}_PASSWORD_FILE")) {
                source.password_file = Some(PathBuf::from(v));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported() {
        let text = r#"
[sources.app]
url = ""
include = ["[bad"]
jobs = 0
[sources.app.groups]
empty = []
"#;
        let err = Config::parse(text, "test")
            .expect_err("invalid")
            .to_string();
        assert!(err.contains("empty url"), "{err}");
        assert!(err.contains("[bad"), "{err}");
        assert!(err.contains("jobs"), "{err}");
        assert!(err.contains("group \"empty\""), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Config::parse("[repository]\nurll = \"x\"\n", "t")
            .expect_err("unknown")
            .to_string();
        assert!(err.contains("unknown field"), "{err}");
    }

    #[test]
    fn groups_narrow_the_filter() {
        let c = Config::parse(
            "[sources.app]\nurl = \"sqlite:///a.db\"\nexclude = [\"tmp_*\"]\n[sources.app.groups]\nuser-data = [\"users\", \"wines\"]\n",
            "t",
        )
        .expect("valid");
        let s = c.source("app").expect("source");
        let f = s.filter(Some("user-data")).expect("group");
        assert!(f.matches(&tresor_core::TableName::new("users")));
        assert!(!f.matches(&tresor_core::TableName::new("orders")));
        assert!(s.filter(Some("nope")).is_err());
    }

    #[test]
    fn server_settings_are_validated_all_at_once() {
        let text = r#"
[sources.app]
url = "sqlite:///a.db"
schedule = ["0 6 * * *", "0 25 * * *"]
timezone = "Europe/Atlantis"
jitter = "soon"
backup-lock-wait = "a while"
[sources.app.retention]
keep-last = 0
[prune]
schedule = "not cron"
[server]
listen = "nowhere"
upload-limit = "3 parsecs"
[notifications.email]
host = "smtp.example.com"
from = "backup@example.com"
to = ["ops"]
on-success = ["ghost"]
[[notifications.webhooks]]
url = "ftp://x"
events = ["party"]
"#;
        let err = Config::parse(text, "t").expect_err("invalid").to_string();
        for needle in [
            "0 25 * * *",
            "Europe/Atlantis",
            "jitter",
            "backup-lock-wait",
            "keep-last = 0",
            "[prune]",
            "listen",
            "upload-limit",
            "\"ops\"",
            "ghost",
            "url must start",
            "party",
        ] {
            assert!(err.contains(needle), "{needle} missing in {err}");
        }
    }

    #[test]
    fn schedules_take_one_or_many_expressions() {
        let c = Config::parse(
            "[sources.a]\nurl = \"sqlite:///a.db\"\nschedule = \"0 6 * * *\"\n[sources.b]\nurl = \"sqlite:///b.db\"\nschedule = [\"0 6 * * *\", \"0 18 * * *\"]\n",
            "t",
        )
        .expect("valid");
        assert_eq!(c.sources["a"].schedule.expressions(), vec!["0 6 * * *"]);
        assert_eq!(c.sources["b"].schedule.expressions().len(), 2);
        assert!(c.sources["a"].retention.is_none());
        assert_eq!(c.server.listen, "127.0.0.1:8420");
    }

    #[test]
    fn environment_overrides_apply() {
        let mut c =
            Config::parse("[sources.my-app]\nurl = \"sqlite:///a.db\"\n", "t").expect("valid");
        let env: BTreeMap<&str, &str> = [
            ("TRESOR_LISTEN", "0.0.0.0:9000"),
            ("TRESOR_SOURCE_MY_APP_URL", "sqlite:///b.db"),
            ("TRESOR_SMTP_HOST", "mail"),
            ("TRESOR_SMTP_TO", "a@x, b@x"),
        ]
        .into_iter()
        .collect();
        c.apply_env_from(|k| env.get(k).map(|v| (*v).to_string()));
        assert_eq!(c.server.listen, "0.0.0.0:9000");
        assert_eq!(c.sources["my-app"].url, "sqlite:///b.db");
        let email = c.notifications.email.expect("email");
        assert_eq!(email.host, "mail");
        assert_eq!(email.to, vec!["a@x", "b@x"]);
    }

    #[test]
    fn source_notifications_are_checked() {
        let err = Config::parse(
            "[sources.a]\nurl = \"sqlite:///a.db\"\n[sources.a.notify]\nevents = [\"party\"]\nto = [\"ops\"]\nrecipients-from = \"users\"\n[export]\nfile-name = \"x_{nope}\"\n",
            "t",
        )
        .expect_err("invalid")
        .to_string();
        for needle in [
            "needs [notifications.email]",
            "unknown event \"party\"",
            "\"ops\" is not an email address",
            "recipients-from",
            "[export] file-name",
        ] {
            assert!(err.contains(needle), "{needle} missing in {err}");
        }
    }

    #[test]
    fn the_reference_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tresor.example.toml");
        let c = Config::load(&path).expect("tresor.example.toml is valid");
        assert!(!c.sources.is_empty());
        for s in c.sources.values() {
            assert!(!s.schedule.is_empty());
        }
        assert!(c.notifications.email.is_some());
        assert!(!c.notifications.webhooks.is_empty());
        assert!(c.server.oidc.is_some());
        let shop = &c.sources["shop"];
        assert!(!shop.drill_times().is_empty());
        assert!(shop.drill_age_limit().is_some());
        assert_eq!(shop.drill.assertions.len(), 2);
        let b2 = &c.offsite["b2"];
        assert!(b2.takes("shop") && !b2.takes("crm"));
        assert!(b2.retention.is_some() && !b2.schedule.is_empty());
    }
}
