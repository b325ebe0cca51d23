//! `tresor.toml`: the repository, the named sources and their table
//! groups. The CLI and the server read the same file.
//!
//! Precedence: built-in defaults, then the file, then `TRESOR_*`
//! environment variables, then command-line flags (applied by the caller).
//! [`Config::validate`] reports every problem at once.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tresor_core::TableFilter;

use crate::error::{OpsError, Result};

/// A secret string (a password) that never shows in `Debug` output or logs.
#[derive(Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where the repository is and how to unlock it.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RepositoryConfig {
    /// Path or URL (`/var/lib/tresor/repo`, `s3://bucket/prefix`).
    #[serde(default)]
    pub url: Option<String>,
    /// A file whose first line is the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The name of an environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
}

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
}

impl SourceConfig {
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
}

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
        }
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
}

/// Reads the first line of a secret file.
///
/// # Errors
/// The file cannot be read or is empty.
pub fn read_secret_file(path: &Path) -> Result<Secret> {
    let text = std::fs::read_to_string(path).map_err(|e| OpsError::InvalidInput {
        what: format!("cannot read password file {}: {e}", path.display()),
        hint: None,
    })?;
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if line.is_empty() {
        return Err(OpsError::InvalidInput {
            what: format!("password file {} is empty", path.display()),
            hint: None,
        });
    }
    Ok(Secret::new(line))
}

/// Puts `password` into the user-info part of a URL (percent-encoded).
fn insert_password(url: &str, password: &str) -> String {
    let encoded: String = password
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(host_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:{encoded}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }

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
    fn password_goes_into_the_url() {
        assert_eq!(
            insert_password("postgres://app@db:5432/shop", "p@ss:w/rd"),
            "postgres://app:p%40ss%3Aw%2Frd@db:5432/shop"
        );
        assert_eq!(insert_password("sqlite:///a.db", "x"), "sqlite:///a.db");
    }
}
