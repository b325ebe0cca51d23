//! What every command needs: the config file, the repository (opened with a
//! password from the flag, the environment, the config or a prompt), and
//! the database engines compiled into this binary.

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::{Result, anyhow};
use tresor_ops::{Config, Engines, PasswordSource, RepositoryConfig, SourceConfig};
use tresor_repo::{Password, Repository, Storage};

use crate::cli::Global;
use crate::exit::UserError;

/// The variable holding the password of the repository copied from.
pub const FROM_PASSWORD_VAR: &str = "TRESOR_FROM_PASSWORD";

/// The state shared by all commands.
pub struct Context {
    pub global: Global,
    pub config: Config,
    pub engines: Engines,
}

/// A database named on the command line, resolved.
pub struct Database {
    /// The config name, if it came from the config file.
    pub name: Option<String>,
    /// The URL with secrets, for connecting.
    pub url: String,
    /// The source's config, if named.
    pub config: Option<SourceConfig>,
}

impl Context {
    pub fn new(global: Global) -> Result<Self> {
        let config = tresor_ops::discover_config(global.config.as_deref())?.unwrap_or_default();
        Ok(Context {
            global,
            config,
            engines: engines(),
        })
    }

    /// The repository settings: the config's, with the location from
    /// `--repo` / `TRESOR_REPOSITORY` when given.
    fn repository(&self) -> RepositoryConfig {
        let mut repo = self.config.repository.clone();
        if let Some(url) = &self.global.repo {
            repo.url = Some(url.clone());
        }
        if let Some(n) = self.global.limit_upload {
            repo.limit_upload = Some(tresor_ops::Size::Bytes(n));
        }
        if let Some(n) = self.global.limit_download {
            repo.limit_download = Some(tresor_ops::Size::Bytes(n));
        }
        if let Some(t) = &self.global.retry_time {
            repo.retry_time = Some(t.clone());
        }
        repo.append_only |= self.global.append_only;
        repo
    }

    pub fn storage(&self) -> Result<Storage> {
        Ok(tresor_ops::repository_storage(&self.repository())?)
    }

    /// The repository password, in the order docs/cli.md gives (see
    /// [`tresor_ops::repository_password`]); a prompt only on a terminal.
    pub fn password(&self, confirm: bool) -> Result<Password> {
        let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        let prompt = |text: &str| rpassword::prompt_password(text);
        let from = PasswordSource {
            file: self.global.password_file.as_deref(),
            prompt: terminal.then_some(&prompt as tresor_ops::Prompt<'_>),
            confirm,
            ..PasswordSource::default()
        };
        Ok(tresor_ops::repository_password(&self.repository(), &from)?)
    }

    pub async fn open_repo(&self) -> Result<Arc<Repository>> {
        let storage = self.storage()?;
        let password = self.password(false)?;
        let repo = Repository::open(storage, &password)
            .await
            .map_err(tresor_ops::OpsError::from)?;
        Ok(Arc::new(repo))
    }

    /// The other repository of `copy` and `init --copy-ids-from`, at
    /// `location`: its password from `password_file`, else
    /// `TRESOR_FROM_PASSWORD`, else a prompt on a terminal (never the
    /// destination's password or config). Errors name it as the source.
    pub async fn open_from_repo(
        &self,
        location: &str,
        password_file: Option<&std::path::Path>,
    ) -> Result<Arc<Repository>> {
        let described = tresor_core::redact_url(location);
        let repo = RepositoryConfig {
            url: Some(location.to_string()),
            limit_download: self.global.limit_download.map(tresor_ops::Size::Bytes),
            ..RepositoryConfig::default()
        };
        let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        let prompt = |text: &str| rpassword::prompt_password(format!("source {text}"));
        // the source's password has variables of its own
        let env = |name: &str| match name {
            tresor_ops::PASSWORD_VAR => std::env::var(FROM_PASSWORD_VAR).ok(),
            _ => None,
        };
        let from = PasswordSource {
            file: password_file,
            env: Some(&env),
            prompt: terminal.then_some(&prompt as tresor_ops::Prompt<'_>),
            ..PasswordSource::default()
        };
        let opened = async {
            let storage = tresor_ops::repository_storage(&repo)?;
            let password = tresor_ops::repository_password(&repo, &from)?;
            Ok::<_, tresor_ops::OpsError>(Repository::open(storage, &password).await?)
        };
        let repo = opened.await.map_err(|e| {
            anyhow::Error::new(e).context(format!(
                "cannot open the repository to copy from ({described})"
            ))
        })?;
        Ok(Arc::new(repo))
    }

    /// Which configured source each snapshot belongs to.
    pub fn owners(&self) -> tresor_ops::SourceOwners {
        tresor_ops::SourceOwners::new(&self.config, &self.engines)
    }

    /// The snapshot `spec` names (see [`tresor_ops::resolve`]). A
    /// `latest:SOURCE` whose SOURCE is a URL or path names that database
    /// however it is spelled (`/srv/app.db` for `sqlite:///srv/app.db`,
    /// `postgresql://` for `postgres://`, the default port written out or
    /// not, a password given or not): the newest snapshot of the kind
    /// asked for among every spelling the backups recorded for it.
    pub fn resolve<'a>(
        &self,
        all: &'a [tresor_ops::Snapshot],
        spec: &str,
    ) -> tresor_ops::Result<&'a tresor_ops::Snapshot> {
        let found = tresor_ops::resolve(all, spec);
        let Some((head, source)) =
            spec.strip_prefix("latest:")
                .map(|rest| match rest.split_once(':') {
                    Some((kind @ ("safety" | "guard"), src)) => (format!("latest:{kind}:"), src),
                    _ => ("latest:".to_string(), rest),
                })
        else {
            return found;
        };
        if source.is_empty() || self.config.source(source).is_some() {
            return found;
        }
        let identity = self.engines.identity(source);
        let spellings: std::collections::BTreeSet<&str> = all
            .iter()
            .filter(|s| self.engines.identity(&s.source.url) == identity)
            .map(|s| s.source.url.as_str())
            .collect();
        let newest = spellings
            .into_iter()
            .filter_map(|url| tresor_ops::resolve(all, &format!("{head}{url}")).ok())
            .chain(found.as_ref().ok().copied())
            .max_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
        match newest {
            Some(s) => Ok(s),
            None => found,
        }
    }

    /// The repository without its index, for `repair index`.
    pub async fn open_repo_without_index(&self) -> Result<Repository> {
        let storage = self.storage()?;
        let password = self.password(false)?;
        Ok(Repository::open_without_index(storage, &password)
            .await
            .map_err(tresor_ops::OpsError::from)?)
    }

    /// Resolves a source or target given on the command line: a name from
    /// the config file, or a URL/path.
    pub fn database(&self, spec: &str) -> Result<Database> {
        if let Some(s) = self.config.source(spec) {
            return Ok(Database {
                name: Some(spec.to_string()),
                url: s.resolved_url()?,
                config: Some(s.clone()),
            });
        }
        if self.engines.engine_of(spec).is_err()
            && !spec.contains("://")
            && !spec.contains('/')
            && !spec.contains('.')
        {
            return Err(anyhow!(UserError::not_found(
                format!("no source named {spec:?} in the config, and it is not a database URL"),
                if self.config.sources.is_empty() {
                    "give a URL such as sqlite:///path/app.db, or define sources in tresor.toml"
                        .to_string()
                } else {
                    format!(
                        "configured sources: {}",
                        self.config
                            .sources
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            )));
        }
        // a URL that names a configured source's database is that source
        if let Some(name) = self.owners().owner_of(None, spec)
            && let Some(s) = self.config.source(name)
        {
            return Ok(Database {
                name: Some(name.to_string()),
                url: spec.to_string(),
                config: Some(s.clone()),
            });
        }
        Ok(Database {
            name: None,
            url: spec.to_string(),
            config: None,
        })
    }

    /// Whether progress bars may be drawn.
    pub fn progress_enabled(&self) -> bool {
        !self.global.json
            && !self.global.quiet
            && !self.global.no_progress
            && std::io::stderr().is_terminal()
    }
}

/// Every engine compiled into this binary.
pub fn engines() -> Engines {
    Engines::new()
        .with(Arc::new(tresor_sqlite::SqliteConnector))
        .with(Arc::new(tresor_postgres::PostgresConnector))
        .with(Arc::new(tresor_mysql::MysqlConnector))
        .with(Arc::new(tresor_mongo::MongoConnector))
}
