//! What every command needs: the config file, the repository (opened with a
//! password from the flag, the environment, the config or a prompt), and
//! the database engines compiled into this binary.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result, anyhow, bail};
use tresor_ops::{Config, Engines, Secret, SourceConfig, read_secret_file};
use tresor_repo::{Password, Repository, Storage};

use crate::cli::Global;
use crate::exit::UserError;

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
        let config = match &global.config {
            Some(path) => Config::load(path)?,
            None if Path::new("tresor.toml").exists() => Config::load(Path::new("tresor.toml"))?,
            None => Config::default(),
        };
        Ok(Context {
            global,
            config,
            engines: engines(),
        })
    }

    /// The repository location from the flag/env or the config file.
    pub fn repo_location(&self) -> Result<String> {
        self.global
            .repo
            .clone()
            .or_else(|| self.config.repository.url.clone())
            .ok_or_else(|| {
                UserError::usage(
                    "no repository given",
                    "pass --repo DIR, set TRESOR_REPOSITORY, or set repository.url in tresor.toml",
                )
                .into()
            })
    }

    pub fn storage(&self) -> Result<Storage> {
        let location = self.repo_location()?;
        Storage::from_url(&location).map_err(|e| {
            UserError::usage(
                format!("invalid repository location {location:?}: {e}"),
                "use a directory path or s3://bucket/prefix?endpoint=...&region=...",
            )
            .into()
        })
    }

    /// The repository password, from (in order) --password-file,
    /// TRESOR_PASSWORD, the config's password-file/password-env, or a prompt.
    pub fn password(&self, confirm: bool) -> Result<Password> {
        if let Some(file) = &self.global.password_file {
            return Ok(Password::new(read_secret_file(file)?.expose()));
        }
        if let Ok(p) = std::env::var("TRESOR_PASSWORD")
            && !p.is_empty()
        {
            return Ok(Password::new(p));
        }
        if let Some(file) = &self.config.repository.password_file {
            return Ok(Password::new(read_secret_file(file)?.expose()));
        }
        if let Some(var) = &self.config.repository.password_env {
            let p = std::env::var(var).map_err(|_| {
                UserError::usage(
                    format!("the config names password-env {var:?} but it is not set"),
                    format!("export {var}=..."),
                )
            })?;
            return Ok(Password::new(p));
        }
        if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
            let p = Secret::new(
                rpassword::prompt_password("repository password: ")
                    .context("cannot read password")?,
            );
            if confirm {
                let again = rpassword::prompt_password("repeat password: ")
                    .context("cannot read password")?;
                if again != p.expose() {
                    bail!(UserError::usage("the passwords do not match", "try again"));
                }
            }
            if p.expose().is_empty() {
                bail!(UserError::usage(
                    "an empty password is not allowed",
                    "choose a password"
                ));
            }
            return Ok(Password::new(p.expose()));
        }
        Err(UserError::usage(
            "no repository password given",
            "set TRESOR_PASSWORD, pass --password-file FILE, or run on a terminal to be asked",
        )
        .into())
    }

    pub async fn open_repo(&self) -> Result<Arc<Repository>> {
        let storage = self.storage()?;
        let password = self.password(false)?;
        let repo = Repository::open(storage, &password)
            .await
            .map_err(tresor_ops::OpsError::from)?;
        Ok(Arc::new(repo))
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
