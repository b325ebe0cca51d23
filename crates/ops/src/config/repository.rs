//! `[repository]`: where the repository is, how to unlock it, and how to
//! reach its storage (credentials, connections, bandwidth).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tresor_repo::{RetryPolicy, StorageOptions};

use super::server::parse_duration;
use super::{Secret, Size, read_secret_file};
use crate::error::{OpsError, Result};

/// The credential names the storage backends read (docs/storage.md); each
/// may also be given as `NAME-file`, a file whose first line is the value.
pub const CREDENTIAL_NAMES: &[&str] = &[
    "access-key-id",
    "secret-access-key",
    "session-token",
    "region",
    "account-key",
    "sas-token",
    "credential-path",
    "token",
    "user",
    "password",
    "key-passphrase",
];

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
    /// Storage credentials by name (`access-key-id`, `secret-access-key`,
    /// `password`, ...; see [`CREDENTIAL_NAMES`]); `NAME-file` reads the
    /// value from a file. Environment variables and profile files work
    /// too (docs/storage.md).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub credentials: BTreeMap<String, Secret>,
    /// Storage requests in flight at once (default 8 on remote storage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<usize>,
    /// Upload bandwidth limit per second (`10MiB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_upload: Option<Size>,
    /// Download bandwidth limit per second (`10MiB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_download: Option<Size>,
    /// How long a storage request that keeps failing transiently is
    /// retried (`3m` unless given; `0s` never retries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_time: Option<String>,
    /// The credentials can add objects but not delete or replace them
    /// (docs/storage.md): writes are create-only, lock files stay for
    /// `prune` or `unlock`, and what deletes is refused at once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub append_only: bool,
    /// `tresor init` writes the repository under S3 Object Lock for this
    /// many days per object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock_days: Option<u32>,
    /// `compliance` (the default) or `governance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock_mode: Option<tresor_repo::ObjectLockMode>,
}

impl RepositoryConfig {
    /// How its storage is opened: credentials (files read), request bound
    /// and bandwidth limits.
    ///
    /// # Errors
    /// [`OpsError::InvalidInput`] for an unknown credential, an unreadable
    /// credential file or a malformed size.
    pub fn storage_options(&self) -> Result<StorageOptions> {
        let mut credentials = BTreeMap::new();
        for (name, value) in &self.credentials {
            match name.strip_suffix("-file") {
                Some(base) if CREDENTIAL_NAMES.contains(&base) => {
                    let secret = read_secret_file(std::path::Path::new(value.expose()))?;
                    credentials.insert(base.to_owned(), secret.expose().to_owned());
                }
                _ if CREDENTIAL_NAMES.contains(&name.as_str()) => {
                    credentials.insert(name.clone(), value.expose().to_owned());
                }
                _ => return Err(unknown_credential(name)),
            }
        }
        let size = |what: &str, s: &Option<Size>| -> Result<Option<u64>> {
            s.as_ref()
                .map(|s| s.bytes())
                .transpose()
                .map_err(|e| OpsError::InvalidInput {
                    what: format!("repository {what}: {e}"),
                    hint: Some("give bytes per second, e.g. 10MiB".into()),
                })
        };
        let retry = self
            .retry_time
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(|e| OpsError::InvalidInput {
                what: format!("repository retry-time: {e}"),
                hint: Some("give a duration, e.g. 30s or 5m".into()),
            })?
            .map(|max_elapsed| RetryPolicy {
                max_elapsed,
                ..RetryPolicy::default()
            });
        Ok(StorageOptions {
            credentials,
            retry,
            connections: self.connections,
            limit_upload: size("limit-upload", &self.limit_upload)?,
            limit_download: size("limit-download", &self.limit_download)?,
            append_only: self.append_only,
        })
    }

    /// Adds what is wrong with these settings to `problems`.
    pub(crate) fn problems(&self, what: &str, problems: &mut Vec<String>) {
        for name in self.credentials.keys() {
            let base = name.strip_suffix("-file").unwrap_or(name);
            if !CREDENTIAL_NAMES.contains(&base) {
                problems.push(format!("{what}: {}", unknown_credential(name)));
            }
        }
        if let Some(days) = self.object_lock_days
            && !(1..=tresor_repo::MAX_OBJECT_LOCK_DAYS).contains(&days)
        {
            problems.push(format!(
                "{what}: object-lock-days must be 1 to {}",
                tresor_repo::MAX_OBJECT_LOCK_DAYS
            ));
        }
        if self.connections == Some(0) {
            problems.push(format!("{what}: connections must be at least 1"));
        }
        if let Some(Err(e)) = self.retry_time.as_deref().map(parse_duration) {
            problems.push(format!("{what}: retry-time: {e}"));
        }
        for (key, s) in [
            ("limit-upload", &self.limit_upload),
            ("limit-download", &self.limit_download),
        ] {
            match s.as_ref().map(Size::bytes) {
                Some(Err(e)) => problems.push(format!("{what}: {key}: {e}")),
                Some(Ok(0)) => problems.push(format!("{what}: {key} must be more than 0")),
                _ => {}
            }
        }
    }
}

fn unknown_credential(name: &str) -> OpsError {
    OpsError::InvalidInput {
        what: format!("unknown repository credential {name:?}"),
        hint: Some(format!("known: {}", CREDENTIAL_NAMES.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_values_and_files() {
        let dir = tempfile::tempdir().expect("ok");
        let file = dir.path().join("secret");
        std::fs::write(&file, "from-file\n").expect("ok");
        let repo: RepositoryConfig = toml::from_str(&format!(
            "url = \"s3://b/p\"\nlimit-upload = \"10MiB\"\nconnections = 4\n[credentials]\naccess-key-id = \"AKID\"\nsecret-access-key-file = \"{}\"\n",
            file.display()
        ))
        .expect("parses");
        let o = repo.storage_options().expect("valid");
        assert_eq!(o.retry, None, "the default policy unless given");
        assert_eq!(o.credentials["access-key-id"], "AKID");
        assert_eq!(o.credentials["secret-access-key"], "from-file");
        assert_eq!((o.limit_upload, o.connections), (Some(10 << 20), Some(4)));
        assert!(
            !format!("{repo:?}").contains("AKID"),
            "secrets stay out of Debug"
        );
    }

    #[test]
    fn mistakes_are_all_reported() {
        let repo: RepositoryConfig = toml::from_str(
            "connections = 0\nlimit-download = \"fast\"\nretry-time = \"soon\"\n[credentials]\naccess-key = \"x\"\n",
        )
        .expect("parses");
        let mut problems = Vec::new();
        repo.problems("[repository]", &mut problems);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(
            problems.iter().any(|p| p.contains("retry-time")),
            "{problems:?}"
        );
        assert!(problems[0].contains("access-key"), "{problems:?}");
        assert!(repo.storage_options().is_err());
    }

    #[test]
    fn retry_time_bounds_the_retries() {
        let repo: RepositoryConfig = toml::from_str("retry-time = \"20s\"\n").expect("parses");
        let retry = repo.storage_options().expect("valid").retry.expect("set");
        assert_eq!(retry.max_elapsed, std::time::Duration::from_secs(20));
        assert_eq!(retry.first_delay, RetryPolicy::default().first_delay);
    }
}
