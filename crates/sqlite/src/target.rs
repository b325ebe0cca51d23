//! [`SqliteTarget`]: restoring into a SQLite database file, atomically.
//!
//! Into a file that does not exist (or holds an empty database) the
//! restore builds a temporary file next to it (`.NAME.tresor-tmp-...`)
//! and renames it over the final path on commit, after syncing the file
//! and its directory. Into an existing database it runs one
//! `BEGIN IMMEDIATE` transaction with foreign keys off and checks, before
//! `COMMIT`, every reference the restore can have broken (`references`:
//! for a merge of a few rows, just their references). Either way, dropping
//! the session before commit leaves the target as it was.

mod check;
mod ddl;
mod finish;
mod load;
mod references;
mod session;

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use tresor_core::{
    Engine, ExistingTable, RestorePlan, SourceError, TableName, Target, TargetHold, TargetSession,
    TargetState,
};

use crate::error::{SqlResultExt, join_error};
use crate::source::BUSY_TIMEOUT;
use crate::sql::{ident, is_internal, is_virtual_table_sql};

/// A SQLite database file to restore into (it need not exist yet).
#[derive(Clone, Debug)]
pub struct SqliteTarget {
    path: PathBuf,
}

impl SqliteTarget {
    /// A target writing the database file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteTarget { path: path.into() }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl Target for SqliteTarget {
    fn engine(&self) -> Engine {
        Engine::SQLITE
    }

    fn approximate_type(&self, p: &tresor_core::PortableType) -> Option<tresor_core::TypeChange> {
        ddl::type_change(p)
    }

    async fn inspect(&self) -> Result<TargetState, SourceError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || inspect(&path))
            .await
            .map_err(join_error)?
    }

    async fn drop_database(&self) -> Result<(), SourceError> {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(SourceError::new(
                        tresor_core::ErrorKind::Engine,
                        format!("cannot remove {}: {e}", self.path.display()),
                    ));
                }
            }
        }
        Ok(())
    }

    async fn begin(&self, plan: &RestorePlan) -> Result<Box<dyn TargetSession>, SourceError> {
        let path = self.path.clone();
        let plan = plan.clone();
        let session = tokio::task::spawn_blocking(move || session::begin(&path, plan))
            .await
            .map_err(join_error)??;
        Ok(Box::new(session))
    }

    fn holds_writes(&self) -> bool {
        true
    }

    async fn hold(&self, plan: &RestorePlan) -> Result<Box<dyn TargetHold>, SourceError> {
        let path = self.path.clone();
        let plan = plan.clone();
        tokio::task::spawn_blocking(move || {
            let conn = session::hold(&path, &plan)?;
            Ok(Box::new(Held { conn, plan }) as Box<dyn TargetHold>)
        })
        .await
        .map_err(join_error)?
    }
}

/// The restore's write transaction, begun before the safety snapshot.
struct Held {
    conn: Connection,
    plan: RestorePlan,
}

#[async_trait]
impl TargetHold for Held {
    async fn begin(self: Box<Self>) -> Result<Box<dyn TargetSession>, SourceError> {
        let Held { conn, plan } = *self;
        let session = tokio::task::spawn_blocking(move || session::begin_held(conn, plan))
            .await
            .map_err(join_error)??;
        Ok(Box::new(session))
    }

    async fn release(self: Box<Self>) -> Result<(), SourceError> {
        let conn = self.conn;
        tokio::task::spawn_blocking(move || {
            conn.execute_batch("ROLLBACK")
                .ctx(|| "cannot end the restore's transaction".into())
        })
        .await
        .map_err(join_error)?
    }
}

fn inspect(path: &Path) -> Result<TargetState, SourceError> {
    if !path.exists() {
        return Ok(TargetState::default());
    }
    let display = path.display().to_string();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ctx(|| format!("cannot open sqlite database {display}"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx(|| "cannot set busy timeout".into())?;
    let names = user_tables(&conn).ctx(|| format!("cannot read sqlite database {display}"))?;
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        let rows: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM main.{}", ident(&name)),
                [],
                |r| r.get(0),
            )
            .ctx(|| format!("cannot count rows of {name}"))?;
        tables.push(ExistingTable {
            name: TableName::new(name),
            rows: u64::try_from(rows).unwrap_or(0),
        });
    }
    Ok(TargetState {
        exists: true,
        tables,
    })
}

/// Ordinary (not internal, not virtual) tables, in `sqlite_master` order.
fn user_tables(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn
        .prepare("SELECT name, sql FROM main.sqlite_master WHERE type = 'table' ORDER BY rowid")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (name, sql) = row?;
        if !is_internal(&name) && !sql.as_deref().is_some_and(is_virtual_table_sql) {
            out.push(name);
        }
    }
    Ok(out)
}
