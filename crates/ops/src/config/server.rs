//! The server's sections of `tresor.toml`: schedules and retention per
//! source, `[prune]`, `[check]`, `[server]` and `[notifications]`.
//!
//! Durations are written the humantime way (`90s`, `15m`, `1h 30m`,
//! `7days`), sizes as bytes or with a unit (`25 MiB`, `1GB`). Both are kept
//! as written and parsed by the accessors, so that [`Config::validate`]
//! can report every bad value at once.
//!
//! [`Config::validate`]: crate::Config::validate

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tresor_repo::RetentionPolicy;

/// One cron expression or several, as written in the file
/// (`schedule = "0 6 * * *"` or `schedule = ["0 6 * * *", "0 18 * * *"]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Schedule(pub Vec<String>);

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(s) => Schedule(vec![s]),
            OneOrMany::Many(v) => Schedule(v),
        })
    }
}

impl Schedule {
    /// The expressions, in the order written.
    pub fn expressions(&self) -> Vec<&str> {
        self.0.iter().map(String::as_str).collect()
    }

    /// Whether no expression is given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A size: a number of bytes, or text with a unit (`25 MiB`, `2GB`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Size {
    /// Plain bytes.
    Bytes(u64),
    /// With a unit.
    Text(String),
}

impl Size {
    /// The size in bytes.
    ///
    /// # Errors
    /// Text that is not a number followed by an optional unit (B, KB, KiB,
    /// MB, MiB, GB, GiB, TB, TiB).
    pub fn bytes(&self) -> Result<u64, String> {
        match self {
            Size::Bytes(n) => Ok(*n),
            Size::Text(t) => parse_size(t),
        }
    }
}

/// Parses `25 MiB`, `10MB`, `4096`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 25 MiB"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        other => return Err(format!("unknown size unit {other:?} in {text:?}")),
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok((n * factor as f64) as u64)
}

/// Parses a humantime duration (`15m`, `1h 30m`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration: {e}"))?;
    if d > MAX_DURATION {
        return Err(format!(
            "{text:?} is longer than 1000 years (use a shorter duration)"
        ));
    }
    Ok(d)
}

/// The longest duration a user may give anywhere: long enough for any
/// retention or lifetime, short enough for every date calculation.
const MAX_DURATION: Duration = Duration::from_secs(1000 * 366 * 24 * 3600);

/// Checks a time zone name (`Europe/Berlin`, `UTC`).
pub fn parse_timezone(name: &str) -> Result<chrono_tz::Tz, String> {
    chrono_tz::Tz::from_str(name.trim()).map_err(|_| {
        format!("unknown time zone {name:?} (use an IANA name such as Europe/Berlin or UTC)")
    })
}

/// Parses a cron expression: five fields (minute precision), six with
/// seconds, or an alias such as `@daily`.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(expr.trim())
        .map_err(|e| format!("invalid cron expression {expr:?}: {e}"))
}

/// Which snapshots to keep after every backup of the source (the `forget`
/// rules; data goes at the next `prune`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RetentionConfig {
    /// Keep the newest N snapshots.
    #[serde(default)]
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the last N hours.
    #[serde(default)]
    pub keep_hourly: Option<u32>,
    /// ... of each of the last N days.
    #[serde(default)]
    pub keep_daily: Option<u32>,
    /// ... of each of the last N weeks.
    #[serde(default)]
    pub keep_weekly: Option<u32>,
    /// ... of each of the last N months.
    #[serde(default)]
    pub keep_monthly: Option<u32>,
    /// ... of each of the last N years.
    #[serde(default)]
    pub keep_yearly: Option<u32>,
    /// Keep everything newer than this (`7d`, `2weeks`).
    #[serde(default)]
    pub keep_within: Option<String>,
    /// Keep snapshots carrying any of these tags.
    #[serde(default)]
    pub keep_tags: Vec<String>,
    /// Rules of their own for snapshots of a table group
    /// (`[sources.wine.retention.groups.user-data]`). A group without
    /// rules here follows the source's rules; either way its snapshots are
    /// counted apart from the full ones and from other groups'.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, RetentionConfig>,
}

impl RetentionConfig {
    /// The repository's retention policy for these rules.
    ///
    /// # Errors
    /// `keep-within` is not a duration.
    pub fn policy(&self) -> Result<RetentionPolicy, String> {
        let keep_within = match &self.keep_within {
            None => None,
            Some(t) => Some(
                chrono::Duration::from_std(parse_duration(t)?)
                    .map_err(|_| format!("keep-within {t:?} is too long"))?,
            ),
        };
        Ok(RetentionPolicy {
            keep_last: self.keep_last,
            keep_hourly: self.keep_hourly,
            keep_daily: self.keep_daily,
            keep_weekly: self.keep_weekly,
            keep_monthly: self.keep_monthly,
            keep_yearly: self.keep_yearly,
            keep_within,
            keep_tags: self.keep_tags.clone(),
            ..RetentionPolicy::default()
        })
    }

    /// Whether no rule is set (retention then keeps everything).
    pub fn is_empty(&self) -> bool {
        self.keep_last.is_none()
            && self.keep_hourly.is_none()
            && self.keep_daily.is_none()
            && self.keep_weekly.is_none()
            && self.keep_monthly.is_none()
            && self.keep_yearly.is_none()
            && self.keep_within.is_none()
            && self.keep_tags.is_empty()
            && self.groups.values().all(RetentionConfig::is_empty)
    }
}

/// A repository-wide task on its own schedule (`[prune]`, `[check]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MaintenanceConfig {
    /// Cron expression(s); none means only on demand.
    #[serde(default)]
    pub schedule: Schedule,
    /// Time zone of the schedule; the server's when unset.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Give up after this long (`2h`).
    #[serde(default)]
    pub timeout: Option<String>,
    /// For `[check]`: read and verify every byte of data too.
    #[serde(default)]
    pub read_data: bool,
}

/// The shape of log file lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line of text an event, for people.
    #[default]
    Text,
    /// One JSON object an event, for log collectors.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format {other:?}: use text or json")),
        }
    }
}

/// `[server]`: where it listens and keeps its own state.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerConfig {
    /// Address and port (`127.0.0.1:8420`, `0.0.0.0:8420`).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The largest archive upload accepted (`512 MiB`).
    #[serde(default = "default_upload_limit")]
    pub upload_limit: Size,
    /// The server's SQLite state file: users, tokens, jobs, audit log.
    #[serde(default = "default_state_file")]
    pub state_file: PathBuf,
    /// A log file the server appends to, besides stderr; none when unset.
    #[serde(default)]
    pub log_file: Option<PathBuf>,
    /// How the log file's lines look: `text` (`[2026-12-05 06:00:01] info
    /// backup finished source=shop ...`) or `json` (one object a line).
    #[serde(default)]
    pub log_format: LogFormat,
    /// The default time zone for schedules and for dates on the pages.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// The URL users reach the server at, for links in notifications.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Mark session cookies `Secure` (they are then sent over HTTPS only;
    /// loopback addresses are exempt so a local server works over HTTP).
    #[serde(default = "default_true")]
    pub secure_cookies: bool,
    /// How long a login lasts (`12h`).
    #[serde(default = "default_session_lifetime")]
    pub session_lifetime: String,
    /// On shutdown, how long running jobs may take to finish before they
    /// are cancelled (`30s`).
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: String,
    /// Days of job history and audit log kept.
    #[serde(default = "default_history_days")]
    pub history_days: u32,
    /// How often the server backs its own state up into the repository
    /// when it changed (`10m`; `off` never), so `tresor serve
    /// --restore-state` can bring a lost server back.
    #[serde(default = "default_state_backup")]
    pub state_backup: String,
    /// Local admins must set up a one-time code (TOTP) before they can do
    /// anything else on the pages.
    #[serde(default)]
    pub require_totp_for_admins: bool,
    /// Signing in through an OpenID Connect provider (`[server.oidc]`).
    #[serde(default)]
    pub oidc: Option<super::oidc::OidcConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            upload_limit: default_upload_limit(),
            state_file: default_state_file(),
            log_file: None,
            log_format: LogFormat::default(),
            timezone: default_timezone(),
            public_url: None,
            secure_cookies: true,
            session_lifetime: default_session_lifetime(),
            shutdown_grace: default_shutdown_grace(),
            history_days: default_history_days(),
            state_backup: default_state_backup(),
            require_totp_for_admins: false,
            oidc: None,
        }
    }
}

fn default_state_backup() -> String {
    "10m".into()
}

fn default_listen() -> String {
    "127.0.0.1:8420".into()
}
fn default_upload_limit() -> Size {
    Size::Text("512 MiB".into())
}
fn default_state_file() -> PathBuf {
    PathBuf::from("tresor-server.db")
}
fn default_timezone() -> String {
    "UTC".into()
}
fn default_true() -> bool {
    true
}
fn default_session_lifetime() -> String {
    "12h".into()
}
fn default_shutdown_grace() -> String {
    "30s".into()
}
fn default_history_days() -> u32 {
    90
}

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption (a local relay or a test catcher only).
    None,
}

/// `[notifications.email]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EmailConfig {
    /// SMTP server host name.
    pub host: String,
    /// Port; 587 for STARTTLS, 465 for TLS, 25 otherwise when unset.
    #[serde(default)]
    pub port: Option<u16>,
    /// Connection security.
    #[serde(default)]
    pub tls: SmtpTls,
    /// SMTP user name, if the server wants a login.
    #[serde(default)]
    pub username: Option<String>,
    /// A file whose first line is the SMTP password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The name of an environment variable holding the SMTP password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Sender address (`tresor <backup@example.com>`).
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Sources whose successful backups are reported (`"*"` for all).
    #[serde(default)]
    pub on_success: Vec<String>,
    /// Sources whose failed jobs are reported (`"*"` for all).
    #[serde(default = "all_sources")]
    pub on_failure: Vec<String>,
    /// Attach the backup as an export archive when it is smaller than
    /// this; never when unset.
    #[serde(default)]
    pub attach_archive_under: Option<Size>,
}

fn all_sources() -> Vec<String> {
    vec!["*".into()]
}

/// The body format of a webhook.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WebhookFormat {
    /// A JSON document with every field of the event.
    #[default]
    Generic,
    /// A Slack incoming webhook (`{"text": ...}`).
    Slack,
    /// A Discord webhook (`{"content": ...}`).
    Discord,
    /// An ntfy topic URL (plain text body, title and tags in headers).
    Ntfy,
}

/// One `[[notifications.webhooks]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WebhookConfig {
    /// The URL; prefer `url-env` or `url-file` when the URL is a secret.
    #[serde(default)]
    pub url: Option<String>,
    /// The name of an environment variable holding the URL.
    #[serde(default)]
    pub url_env: Option<String>,
    /// A file whose first line is the URL.
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// Body format.
    #[serde(default)]
    pub format: WebhookFormat,
    /// Which events are sent: `success`, `failure`, or per job kind
    /// (`backup-success`, `restore-failure`, `prune-failure`, ...), and
    /// `drill-overdue` and `offsite-behind` (both also sent for `failure`).
    #[serde(default = "default_events")]
    pub events: Vec<String>,
    /// Sources whose events are sent (`"*"` for all); an offsite
    /// repository's copies count under its name.
    #[serde(default = "all_sources")]
    pub sources: Vec<String>,
}

fn default_events() -> Vec<String> {
    vec!["failure".into()]
}

/// `[notifications]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NotificationsConfig {
    /// Email over SMTP.
    #[serde(default)]
    pub email: Option<EmailConfig>,
    /// Webhooks.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    /// Attempts per delivery before it is given up (and logged as failed).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    #[serde(default = "default_notify_backoff")]
    pub backoff: String,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        NotificationsConfig {
            email: None,
            webhooks: Vec::new(),
            attempts: default_attempts(),
            backoff: default_notify_backoff(),
        }
    }
}

fn default_attempts() -> u32 {
    4
}
fn default_notify_backoff() -> String {
    "10s".into()
}

/// Events a notification can subscribe to.
pub const EVENT_KINDS: &[&str] = &[
    "backup", "restore", "forget", "prune", "check", "drill", "import", "copy",
];

/// `[sources.NAME.notify]`: who hears about this source's jobs, by email
/// through `[notifications.email]`'s server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SourceNotify {
    /// Addresses mailed about this source.
    #[serde(default)]
    pub to: Vec<String>,
    /// Which jobs: `backup-success`, `restore-failure`, `success`,
    /// `failure`, `*` (default: `failure`).
    #[serde(default = "default_notify_events")]
    pub events: Vec<String>,
    /// Addresses read from the application's own database when a message
    /// is sent: `TABLE: PREDICATE` (as `--where`), e.g.
    /// `users: role = 'admin'`.
    #[serde(default)]
    pub recipients_from: Option<String>,
    /// The column (or, in a MongoDB collection, the document field) of
    /// `recipients-from`'s rows holding the address.
    #[serde(default = "default_recipients_column")]
    pub recipients_column: String,
}

fn default_notify_events() -> Vec<String> {
    vec!["failure".into()]
}

fn default_recipients_column() -> String {
    "email".into()
}

impl SourceNotify {
    /// Whether a job of `kind` that ended with `success` is one of the
    /// events.
    pub fn wants(&self, kind: &str, success: bool) -> bool {
        let outcome = if success { "success" } else { "failure" };
        self.events
            .iter()
            .any(|e| e == "*" || e == outcome || *e == format!("{kind}-{outcome}"))
    }
}

pub(crate) fn validate_event(e: &str) -> bool {
    match e {
        "success" | "failure" | "*" | "drill-overdue" | "offsite-behind" => true,
        other => other.rsplit_once('-').is_some_and(|(kind, what)| {
            EVENT_KINDS.contains(&kind) && matches!(what, "success" | "failure")
        }),
    }
}

/// Adds the problems of a schedule and its time zone to `problems`.
pub(super) fn check_schedule(
    what: &str,
    schedule: &Schedule,
    tz: Option<&str>,
    problems: &mut Vec<String>,
) {
    for expr in schedule.expressions() {
        if let Err(e) = parse_cron(expr) {
            problems.push(format!("{what}: {e}"));
        }
    }
    if let Some(tz) = tz
        && let Err(e) = parse_timezone(tz)
    {
        problems.push(format!("{what}: {e}"));
    }
}

/// Adds the problems of retention rules to `problems`.
pub(super) fn check_retention(
    what: &str,
    at: &str,
    r: &RetentionConfig,
    problems: &mut Vec<String>,
) {
    if let Err(e) = r.policy() {
        problems.push(format!("{what}: {at}: {e}"));
    }
    if r.keep_last == Some(0) {
        problems.push(format!(
            "{what}: {at} keep-last = 0 would remove every snapshot"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("25 MiB"), Ok(25 << 20));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }

    #[test]
    fn cron_and_zones_parse() {
        assert!(parse_cron("0 6,18 * * *").is_ok());
        assert!(parse_cron("@daily").is_ok());
        assert!(parse_cron("61 * * * *").is_err());
        assert!(parse_timezone("Europe/Berlin").is_ok());
        assert!(parse_timezone("Mars/Olympus").is_err());
    }

    #[test]
    fn events_are_checked() {
        assert!(validate_event("failure"));
        assert!(validate_event("backup-success"));
        assert!(!validate_event("backup-maybe"));
        assert!(!validate_event("dance-success"));
    }
}
