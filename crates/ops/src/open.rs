//! The way in for both front doors: which config file is read, where the
//! repository password comes from, and opening the repository with it.
//!
//! The CLI and the server call the same functions, so the order in which a
//! password is looked for is written down once (docs/cli.md, "Global
//! options"): `--password-file`, `TRESOR_PASSWORD`, the config's
//! `repository.password-file`, the config's `repository.password-env`, and
//! finally a prompt where someone can answer one.

use std::path::{Path, PathBuf};

use tresor_repo::{Password, Repository, Storage};

use crate::config::{Config, RepositoryConfig, Secret, read_secret_file};
use crate::error::{OpsError, Result};

/// The password of the demo repositories (`tresor demo`, `tresor serve
/// --demo`); they hold only generated data.
pub const DEMO_PASSWORD: &str = "tresor-demo";

/// The config file read from the working directory when none is named.
pub const CONFIG_FILE: &str = "tresor.toml";

/// The variable holding the repository password itself.
pub const PASSWORD_VAR: &str = "TRESOR_PASSWORD";

/// Reads the config file named (`--config`, `TRESOR_CONFIG`), else
/// `./tresor.toml` when it exists; `None` when there is neither.
///
/// # Errors
/// The file cannot be read or is not a valid config.
pub fn discover_config(named: Option<&Path>) -> Result<Option<Config>> {
    discover_config_in(named, Path::new("."))
}

/// [`discover_config`] looking for the default file in `dir`.
///
/// # Errors
/// See [`discover_config`].
pub fn discover_config_in(named: Option<&Path>, dir: &Path) -> Result<Option<Config>> {
    if let Some(path) = named {
        return Config::load(path).map(Some);
    }
    let default = dir.join(CONFIG_FILE);
    if default.exists() {
        let path = if dir == Path::new(".") {
            PathBuf::from(CONFIG_FILE)
        } else {
            default
        };
        return Config::load(&path).map(Some);
    }
    Ok(None)
}

/// Reads one environment variable; `None` when unset.
pub type EnvLookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// Asks the user for a password with the given prompt.
pub type Prompt<'a> = &'a (dyn Fn(&str) -> std::io::Result<String> + Sync);

/// What a front door was given towards the repository password, besides
/// the config.
#[derive(Clone, Copy, Default)]
pub struct PasswordSource<'a> {
    /// A password handed over by the program itself (the server's demo
    /// setup); taken before anything else.
    pub given: Option<&'a str>,
    /// `--password-file` / `TRESOR_PASSWORD_FILE`.
    pub file: Option<&'a Path>,
    /// How variables are read; the process environment when `None`.
    pub env: Option<EnvLookup<'a>>,
    /// How to ask the user; `None` where nobody can answer (the server,
    /// scripts without a terminal).
    pub prompt: Option<Prompt<'a>>,
    /// Ask twice when prompting (a new repository).
    pub confirm: bool,
}

impl std::fmt::Debug for PasswordSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordSource")
            .field("given", &self.given.map(|_| "***"))
            .field("file", &self.file)
            .field("prompt", &self.prompt.is_some())
            .field("confirm", &self.confirm)
            .finish_non_exhaustive()
    }
}

impl PasswordSource<'_> {
    fn var(&self, name: &str) -> Option<String> {
        match self.env {
            Some(env) => env(name),
            None => std::env::var(name).ok(),
        }
    }
}

/// The repository password, looked for in the documented order.
///
/// # Errors
/// [`OpsError::InvalidInput`] (exit 2, HTTP 400) when no source has one, a
/// named file cannot be read, a named variable is unset, or the answers to
/// a prompt are empty or differ.
pub fn repository_password(repo: &RepositoryConfig, from: &PasswordSource<'_>) -> Result<Password> {
    if let Some(p) = from.given {
        return Ok(Password::new(p));
    }
    if let Some(file) = from.file {
        return Ok(Password::new(read_secret_file(file)?.expose()));
    }
    if let Some(p) = from.var(PASSWORD_VAR).filter(|p| !p.is_empty()) {
        return Ok(Password::new(p));
    }
    if let Some(file) = &repo.password_file {
        return Ok(Password::new(read_secret_file(file)?.expose()));
    }
    if let Some(var) = &repo.password_env {
        let p = from.var(var).ok_or_else(|| OpsError::InvalidInput {
            what: format!("the config names password-env {var:?} but it is not set"),
            hint: Some(format!("export {var}=...")),
        })?;
        return Ok(Password::new(p));
    }
    if let Some(prompt) = from.prompt {
        return prompted(prompt, from.confirm);
    }
    Err(OpsError::InvalidInput {
        what: "no repository password given".into(),
        hint: Some(
            "set TRESOR_PASSWORD, pass --password-file FILE, set repository.password-file or password-env in tresor.toml, or run on a terminal to be asked"
                .into(),
        ),
    })
}

fn prompted(prompt: Prompt<'_>, confirm: bool) -> Result<Password> {
    let unreadable = |e: std::io::Error| OpsError::InvalidInput {
        what: format!("cannot read the password: {e}"),
        hint: Some("pass --password-file FILE or set TRESOR_PASSWORD".into()),
    };
    let p = Secret::new(prompt("repository password: ").map_err(unreadable)?);
    if confirm {
        let again = Secret::new(prompt("repeat password: ").map_err(unreadable)?);
        if again.expose() != p.expose() {
            return Err(OpsError::InvalidInput {
                what: "the passwords do not match".into(),
                hint: Some("try again".into()),
            });
        }
    }
    if p.expose().is_empty() {
        return Err(OpsError::InvalidInput {
            what: "an empty password is not allowed".into(),
            hint: Some("choose a password".into()),
        });
    }
    Ok(Password::new(p.expose()))
}

/// The storage at the repository's configured location.
///
/// # Errors
/// [`OpsError::InvalidInput`] when no location is configured or it is not
/// a location tresor understands.
pub fn repository_storage(repo: &RepositoryConfig) -> Result<Storage> {
    let location = repo.url.as_deref().ok_or_else(|| OpsError::InvalidInput {
        what: "no repository given".into(),
        hint: Some(
            "pass --repo DIR, set TRESOR_REPOSITORY, or set repository.url in tresor.toml".into(),
        ),
    })?;
    let options = repo.storage_options()?;
    Storage::open(location, &options).map_err(|e| OpsError::InvalidInput {
        // the storage layer quotes the location whole
        what: e
            .to_string()
            .replace(location, &tresor_core::redact_url(location)),
        hint: Some("see docs/storage.md for every backend's location and credentials".into()),
    })
}

/// Opens the repository `repo` describes with the password `from` leads
/// to.
///
/// # Errors
/// See [`repository_storage`] and [`repository_password`]; then a wrong
/// password, a location that holds no repository, or a storage failure.
pub async fn open_repository(
    repo: &RepositoryConfig,
    from: &PasswordSource<'_>,
) -> Result<Repository> {
    let storage = repository_storage(repo)?;
    let password = repository_password(repo, from)?;
    Ok(Repository::open(storage, &password).await?)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn secret_file(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, format!("{text}\n")).expect("ok");
        p
    }

    fn lookup(vars: &HashMap<&str, &str>, name: &str) -> Option<String> {
        vars.get(name).map(|v| (*v).to_string())
    }

    /// The server used to look at the config before `TRESOR_PASSWORD`
    /// while the CLI looked at the variable first; docs/cli.md names the
    /// CLI's order, and both now take it from here.
    #[test]
    fn password_order_is_the_documented_one_for_every_front_door() {
        let dir = tempfile::tempdir().expect("ok");
        let flag = secret_file(dir.path(), "flag", "from-flag");
        let conf = secret_file(dir.path(), "conf", "from-config-file");
        let mut vars = HashMap::from([("TRESOR_PASSWORD", "from-env"), ("APP_PW", "from-env-var")]);
        let repo = RepositoryConfig {
            url: None,
            password_file: Some(conf),
            password_env: Some("APP_PW".into()),
            ..RepositoryConfig::default()
        };
        let asked = |_: &str| Ok("from-prompt".to_string());
        let check = |vars: &HashMap<&str, &str>, repo: &RepositoryConfig, file, want: &str| {
            let env = |k: &str| lookup(vars, k);
            let from = PasswordSource {
                file,
                env: Some(&env),
                prompt: Some(&asked),
                ..PasswordSource::default()
            };
            let got = repository_password(repo, &from).expect("ok");
            assert_eq!(got.expose(), want);
        };
        check(&vars, &repo, Some(flag.as_path()), "from-flag");
        check(&vars, &repo, None, "from-env");
        vars.insert("TRESOR_PASSWORD", "");
        check(&vars, &repo, None, "from-config-file");
        let mut repo = repo;
        repo.password_file = None;
        check(&vars, &repo, None, "from-env-var");
        repo.password_env = None;
        check(&vars, &repo, None, "from-prompt");
        let env = |k: &str| lookup(&vars, k);
        let given = PasswordSource {
            given: Some("given"),
            file: Some(flag.as_path()),
            env: Some(&env),
            ..PasswordSource::default()
        };
        assert_eq!(
            repository_password(&repo, &given).expect("ok").expose(),
            "given"
        );
    }

    #[test]
    fn missing_passwords_say_what_to_do() {
        let none = |_: &str| None;
        let from = PasswordSource {
            env: Some(&none),
            ..PasswordSource::default()
        };
        let e = repository_password(&RepositoryConfig::default(), &from).expect_err("an error");
        assert_eq!(e.class(), crate::ErrorClass::Usage);
        assert!(e.hint().expect("ok").contains("TRESOR_PASSWORD"), "{e}");
        let repo = RepositoryConfig {
            password_env: Some("NOT_SET_HERE".into()),
            ..RepositoryConfig::default()
        };
        let e = repository_password(&repo, &from).expect_err("an error");
        assert!(e.to_string().contains("NOT_SET_HERE"), "{e}");
    }

    #[test]
    fn prompts_refuse_empty_and_differing_answers() {
        let none = |_: &str| None;
        let empty = |_: &str| Ok(String::new());
        let from = PasswordSource {
            env: Some(&none),
            prompt: Some(&empty),
            ..PasswordSource::default()
        };
        let e = repository_password(&RepositoryConfig::default(), &from).expect_err("an error");
        assert!(e.to_string().contains("empty"), "{e}");
        let n = std::sync::atomic::AtomicU32::new(0);
        let differ = |_: &str| {
            Ok(format!(
                "pw{}",
                n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ))
        };
        let from = PasswordSource {
            env: Some(&none),
            prompt: Some(&differ),
            confirm: true,
            ..PasswordSource::default()
        };
        let e = repository_password(&RepositoryConfig::default(), &from).expect_err("an error");
        assert!(e.to_string().contains("do not match"), "{e}");
    }

    #[test]
    fn config_is_the_named_file_else_the_one_in_the_directory() {
        let dir = tempfile::tempdir().expect("ok");
        assert!(discover_config_in(None, dir.path()).expect("ok").is_none());
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[repository]\nurl = \"/srv/repo\"\n",
        )
        .expect("ok");
        let found = discover_config_in(None, dir.path())
            .expect("ok")
            .expect("ok");
        assert_eq!(found.repository.url.as_deref(), Some("/srv/repo"));
        let other = dir.path().join("other.toml");
        std::fs::write(&other, "[repository]\nurl = \"/elsewhere\"\n").expect("ok");
        let named = discover_config_in(Some(&other), dir.path())
            .expect("ok")
            .expect("ok");
        assert_eq!(named.repository.url.as_deref(), Some("/elsewhere"));
        let missing = dir.path().join("missing.toml");
        assert!(discover_config_in(Some(&missing), dir.path()).is_err());
    }

    #[test]
    fn storage_errors_never_show_a_password() {
        let repo = RepositoryConfig {
            url: Some("s3://key:hunter2@bucket/prefix?unknown=1".into()),
            ..RepositoryConfig::default()
        };
        if let Err(e) = repository_storage(&repo) {
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
        let e = repository_storage(&RepositoryConfig::default()).expect_err("an error");
        assert!(e.hint().expect("ok").contains("--repo"), "{e}");
    }
}
