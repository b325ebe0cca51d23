//! [`SqliteConnector`]: SQLite sources and targets from URLs and paths.

use tresor_core::{Connector, Engine, Source, SourceError, Target};

use crate::source::SqliteSource;
use crate::target::SqliteTarget;
use crate::url;

/// Opens [`SqliteSource`]s and [`SqliteTarget`]s from `sqlite://` URLs
/// (`sqlite:///abs/path.db`, `sqlite://relative.db`, `sqlite:relative.db`)
/// and plain paths ending in `.db`, `.sqlite`, `.sqlite3` or `.db3`, or
/// naming an existing file that starts with the SQLite header.
#[derive(Clone, Copy, Debug, Default)]
pub struct SqliteConnector;

impl Connector for SqliteConnector {
    fn engine(&self) -> Engine {
        Engine::SQLITE
    }

    fn accepts(&self, url: &str) -> bool {
        url::accepts(url)
    }

    fn example_url(&self) -> &'static str {
        "sqlite:///path/app.db"
    }

    /// One file, read from one transaction.
    fn default_jobs(&self) -> usize {
        1
    }

    fn source(&self, url: &str) -> Result<Box<dyn Source>, SourceError> {
        Ok(Box::new(SqliteSource::new(url::database_path(url)?)))
    }

    fn target(&self, url: &str) -> Result<Box<dyn Target>, SourceError> {
        Ok(Box::new(SqliteTarget::new(url::database_path(url)?)))
    }

    /// A new file in `dir`: a drill never writes beside the database.
    fn scratch_url(
        &self,
        _url: &str,
        name: &str,
        dir: &std::path::Path,
    ) -> Result<String, SourceError> {
        Ok(format!(
            "sqlite://{}",
            dir.join(format!("{name}.db")).display()
        ))
    }

    /// The file's canonical path, so `app.db`, `./app.db` and
    /// `sqlite:///srv/app.db` are one database.
    fn identity(&self, url: &str) -> String {
        let Ok(path) = url::database_path(url) else {
            return tresor_core::database_identity(url);
        };
        let path = std::fs::canonicalize(&path)
            .or_else(|_| std::path::absolute(&path))
            .unwrap_or(path);
        format!("sqlite://{}", path.display())
    }
}
