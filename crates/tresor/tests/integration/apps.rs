//! The applications whose own schema tooling makes the databases the
//! restore tests start from.

use std::path::Path;
use std::process::{Command, Output};

/// An application whose own schema tooling makes the test databases and
/// whose ORM fills, reads back and writes them (`shop URL ROWS`, `shop dump
/// URL`, `shop write URL`).
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum App {
    /// `crates/testing/apps/django`: makemigrations and migrate
    Django,
    /// `crates/testing/apps/typeorm`: a migration TypeORM generates, run by
    /// its migration runner
    Typeorm,
    /// `crates/testing/apps/wagtail`: a Wagtail site (Wagtail's own
    /// migrations and a blog's), filled through Wagtail's API; `site.py`
    /// rather than a shop, with a `search` command besides
    Wagtail,
    /// `crates/testing/apps/synapse`: a Matrix homeserver (Synapse), its
    /// schema made when it first starts, filled by clients over HTTP;
    /// `homeserver.py` rather than a shop, with a `chatter` command besides
    Synapse,
    /// `crates/testing/apps/mlflow`: an MLflow tracking store and model
    /// registry (SQLAlchemy tables, Alembic's migrations), filled through
    /// MLflow's client; `tracker.py` rather than a shop
    Mlflow,
    /// `crates/testing/apps/buildbot`: a Buildbot master's database
    /// (SQLAlchemy tables, Alembic's migrations), filled by a running
    /// master's builds on a local worker; `master.py` rather than a shop
    Buildbot,
}

impl App {
    /// The application's shop script run with `args`.
    pub fn shop(self, args: &[&str]) -> Output {
        let mut cmd = self.command();
        cmd.args(args)
            .output()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
    }

    /// How many `what` the application finds in the database at `url`
    /// (its script's `count URL WHAT`).
    pub fn count(self, url: &str, what: &str) -> u64 {
        let out = self.shop(&["count", url, what]);
        assert!(
            out.status.success(),
            "{self:?}: count {what} of {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a count")
    }

    /// The application's script, arguments to be added.
    pub fn command(self) -> Command {
        let apps = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testing/apps");
        let (program, script): (std::ffi::OsString, _) = match self {
            App::Django => ("python3".into(), apps.join("django/shop.py")),
            App::Typeorm => ("node".into(), apps.join("typeorm/shop.js")),
            App::Wagtail => (
                venv_python("TRESOR_WAGTAIL_PYTHON", "tresor-wagtail"),
                apps.join("wagtail/site.py"),
            ),
            App::Synapse => (
                venv_python("TRESOR_SYNAPSE_PYTHON", "tresor-synapse"),
                apps.join("synapse/homeserver.py"),
            ),
            App::Mlflow => (
                venv_python("TRESOR_MLFLOW_PYTHON", "tresor-mlflow"),
                apps.join("mlflow/tracker.py"),
            ),
            App::Buildbot => (
                venv_python("TRESOR_BUILDBOT_PYTHON", "tresor-buildbot"),
                apps.join("buildbot/master.py"),
            ),
        };
        let mut cmd = Command::new(program);
        cmd.arg(script);
        cmd
    }

    /// What installs the application's dependencies, for failures that
    /// look like they are missing.
    pub fn installed_by(self) -> &'static str {
        match self {
            App::Django => ".ci/services installs django, psycopg and pymysql",
            App::Typeorm => ".ci/services runs npm ci in crates/testing/apps/typeorm",
            App::Wagtail => {
                ".ci/services installs crates/testing/apps/wagtail/requirements.txt into \
                 ~/.cache/tresor-wagtail"
            }
            App::Synapse => {
                ".ci/services installs crates/testing/apps/synapse/requirements.txt into \
                 ~/.cache/tresor-synapse"
            }
            App::Mlflow => {
                ".ci/services installs crates/testing/apps/mlflow/requirements.txt into \
                 ~/.cache/tresor-mlflow"
            }
            App::Buildbot => {
                ".ci/services installs crates/testing/apps/buildbot/requirements.txt into \
                 ~/.cache/tresor-buildbot"
            }
        }
    }
}

/// The Python of the virtual environment `~/.cache/{venv}` (or `var`).
fn venv_python(var: &str, venv: &str) -> std::ffi::OsString {
    std::env::var_os(var).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").expect("HOME");
        Path::new(&home)
            .join(".cache")
            .join(venv)
            .join("bin/python")
            .into_os_string()
    })
}
