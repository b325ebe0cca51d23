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
}

impl App {
    /// The application's shop script run with `args`.
    pub fn shop(self, args: &[&str]) -> Output {
        let apps = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testing/apps");
        let (program, script) = match self {
            App::Django => ("python3", apps.join("django/shop.py")),
            App::Typeorm => ("node", apps.join("typeorm/shop.js")),
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
        }
    }
}
