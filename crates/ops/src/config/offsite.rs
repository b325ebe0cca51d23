//! `[offsite.NAME]`: a second repository (another disk, another provider)
//! that the server copies each new snapshot to, with retention of its own.
//! The copies are made by [`crate::copy`], the same code as `tresor copy`.

use serde::{Deserialize, Serialize};

use super::server::{check_retention, check_schedule};
use super::{RepositoryConfig, RetentionConfig, Schedule, parse_duration};

/// How old the oldest snapshot not yet copied may get before the server
/// raises an `offsite-behind` notification, unless `max-lag` says otherwise.
pub const DEFAULT_MAX_LAG: &str = "6h";

/// One offsite repository.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OffsiteConfig {
    /// Where it is and how to unlock it: the same settings as
    /// `[repository]`; its password comes only from its own
    /// `password-file` or `password-env`, never from `TRESOR_PASSWORD`.
    pub repository: RepositoryConfig,
    /// Only these sources' snapshots (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Copy right after each successful backup (default true).
    #[serde(default = "yes")]
    pub after_backup: bool,
    /// Also copy whatever is missing at these times (cron expressions),
    /// e.g. once a night to catch up after an outage.
    #[serde(default)]
    pub schedule: Schedule,
    /// The time zone of `schedule` (default: the server's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// How far behind the copies may fall (the age of the oldest snapshot
    /// not yet copied) before a notification goes out; default 6h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lag: Option<String>,
    /// Which copies the offsite repository keeps; applied after each copy.
    /// Without it, it keeps every copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionConfig>,
}

fn yes() -> bool {
    true
}

impl OffsiteConfig {
    /// Whether snapshots of the source `name` are copied here.
    pub fn takes(&self, name: &str) -> bool {
        self.sources.is_empty() || self.sources.iter().any(|s| s == name)
    }

    /// `max-lag` (or the default) as a duration.
    pub fn lag_limit(&self) -> std::time::Duration {
        self.max_lag
            .as_deref()
            .and_then(|m| parse_duration(m).ok())
            .or_else(|| parse_duration(DEFAULT_MAX_LAG).ok())
            .unwrap_or(std::time::Duration::from_secs(6 * 3600))
    }

    /// Adds what is wrong with `[offsite.NAME]` to `problems`.
    pub(super) fn problems(&self, name: &str, config: &super::Config, problems: &mut Vec<String>) {
        let what = format!("[offsite.{name}]");
        if name.is_empty() || name.contains([':', '/', ' ']) {
            problems.push(format!(
                "offsite name {name:?} must not be empty or contain ':', '/' or spaces"
            ));
        }
        let url = self.repository.url.as_deref().unwrap_or("").trim();
        if url.is_empty() {
            problems.push(format!("{what}: repository.url is missing"));
        } else if config.repository.url.as_deref().map(str::trim) == Some(url) {
            problems.push(format!(
                "{what}: repository.url is the primary repository's; an offsite copy must live elsewhere"
            ));
        }
        if self.repository.password_file.is_none() && self.repository.password_env.is_none() {
            problems.push(format!(
                "{what}: give repository.password-file or repository.password-env (its own password)"
            ));
        }
        self.repository
            .problems(&format!("{what} repository"), problems);
        for s in &self.sources {
            if !config.sources.contains_key(s) {
                problems.push(format!("{what}: sources: no source named {s:?}"));
            }
        }
        check_schedule(&what, &self.schedule, self.timezone.as_deref(), problems);
        if let Some(m) = &self.max_lag
            && let Err(e) = parse_duration(m)
        {
            problems.push(format!("{what}: max-lag: {e}"));
        }
        if let Some(r) = &self.retention {
            if self.repository.append_only {
                problems.push(format!(
                    "{what}: retention needs to delete, which append-only credentials cannot; apply it with the full credentials elsewhere (tresor forget) and leave it out here"
                ));
            }
            check_retention(&what, "retention", r, problems);
            if !r.groups.is_empty() {
                problems.push(format!(
                    "{what}: retention: an offsite repository's rules cannot name table groups"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    const BASE: &str =
        "[repository]\nurl = \"/srv/repo\"\n[sources.app]\nurl = \"sqlite:///srv/app.db\"\n";

    #[test]
    fn an_offsite_repository_parses_with_its_defaults() {
        let c = Config::parse(
            &format!(
                "{BASE}[offsite.b2]\nsources = [\"app\"]\n[offsite.b2.repository]\nurl = \"s3://b/p\"\npassword-file = \"/etc/tresor/b2\"\n[offsite.b2.retention]\nkeep-daily = 30\n"
            ),
            "test",
        )
        .expect("valid");
        let o = &c.offsite["b2"];
        assert!(o.after_backup && o.takes("app") && !o.takes("other"));
        assert_eq!(o.lag_limit().as_secs(), 6 * 3600);
        assert_eq!(o.retention.as_ref().and_then(|r| r.keep_daily), Some(30));
    }

    #[test]
    fn append_only_credentials_cannot_apply_retention() {
        let err = Config::parse(
            &format!(
                "{BASE}[offsite.x]\n[offsite.x.repository]\nurl = \"/srv/far\"\npassword-env = \"FAR\"\nappend-only = true\n[offsite.x.retention]\nkeep-last = 3\n"
            ),
            "test",
        )
        .expect_err("invalid")
        .to_string();
        assert!(err.contains("append-only credentials cannot"), "{err}");
    }

    #[test]
    fn every_mistake_is_reported() {
        let err = Config::parse(
            &format!(
                "{BASE}[offsite.x]\nsources = [\"nope\"]\nmax-lag = \"soon\"\nschedule = \"every day\"\n[offsite.x.repository]\nurl = \"/srv/repo\"\n"
            ),
            "test",
        )
        .expect_err("invalid")
        .to_string();
        for needle in [
            "no source named \"nope\"",
            "max-lag",
            "primary repository's",
            "password-file",
            "[offsite.x]",
        ] {
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }
}
