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
}

impl App {
    /// The application's shop script run with `args`.
    pub fn shop(self, args: &[&str]) -> Output {
        let apps = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testing/apps");
        let (program, script): (std::ffi::OsString, _) = match self {
            App::Django => ("python3".into(), apps.join("django/shop.py")),
            App::Typeorm => ("node".into(), apps.join("typeorm/shop.js")),
            App::Wagtail => (wagtail_python(), apps.join("wagtail/site.py")),
        };
        let mut cmd = Command::new(program);
        cmd.arg(script);
        cmd.args(args)
            .output()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
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
        }
    }
}

/// The Python of the virtual environment Wagtail is installed in.
fn wagtail_python() -> std::ffi::OsString {
    std::env::var_os("TRESOR_WAGTAIL_PYTHON").unwrap_or_else(|| {
        let home = std::env::var_os("HOME").expect("HOME");
        Path::new(&home)
            .join(".cache/tresor-wagtail/bin/python")
            .into_os_string()
    })
}
