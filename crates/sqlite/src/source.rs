//! [`SqliteSource`]: one read transaction over the whole backup.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use tresor_core::{
    BATCH_BYTES, BATCH_ROWS, DatabaseSchema, Engine, ErrorKind, Probe, ReadOptions, RowKey,
    RowSender, Source, SourceError, SourceInfo, SourceSnapshot, TableSchema,
};

use crate::catalog::{self, WITHOUT_ROWID};
use crate::error::{SqlResultExt, io_error, join_error};
use crate::sql::ident;
use crate::value::{approx_size, from_sqlite};

/// How long a read waits for a writer's lock before giving up.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// A SQLite database file to back up.
///
/// [`Source::open`] opens the file read-only and starts one read
/// transaction that every table is read in, so the backup sees the
/// database as it was at one instant while other connections keep
/// writing. In WAL mode writers are not held up; in rollback-journal mode
/// SQLite's locking makes writers wait (or get `SQLITE_BUSY`) until the
/// backup ends, which the snapshot's warnings say.
#[derive(Clone, Debug)]
pub struct SqliteSource {
    path: PathBuf,
}

impl SqliteSource {
    /// A source reading the database file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteSource { path: path.into() }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl Source for SqliteSource {
    fn engine(&self) -> Engine {
        Engine::SQLITE
    }

    async fn open(&self, options: &ReadOptions) -> Result<Box<dyn SourceSnapshot>, SourceError> {
        let path = self.path.clone();
        let filter = options.filter.clone();
        let snapshot = tokio::task::spawn_blocking(move || open_snapshot(&path, &filter))
            .await
            .map_err(join_error)??;
        Ok(Box::new(snapshot))
    }

    async fn probe(&self, probe: &Probe) -> Result<Option<String>, SourceError> {
        let Probe::Sql(sql) = probe else {
            return Err(probe.unsupported(Engine::SQLITE));
        };
        let (path, sql) = (self.path.clone(), sql.clone());
        tokio::task::spawn_blocking(move || probe_sql(&path, &sql))
            .await
            .map_err(join_error)?
    }
}

/// The first value of the first row `sql` returns, as text, read over a
/// read-only connection.
fn probe_sql(path: &Path, sql: &str) -> Result<Option<String>, SourceError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ctx(|| format!("cannot open sqlite database {}", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx(|| "cannot set busy timeout".into())?;
    let mut stmt = conn.prepare(sql).ctx(|| "the query failed".into())?;
    let mut rows = stmt.query([]).ctx(|| "the query failed".into())?;
    let Some(row) = rows.next().ctx(|| "the query failed".into())? else {
        return Ok(None);
    };
    use rusqlite::types::ValueRef;
    let value = row
        .get_ref(0)
        .ctx(|| "the query returned no column".into())?;
    Ok(match value {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Some(b.iter().map(|x| format!("{x:02x}")).collect()),
    })
}

fn open_snapshot(
    path: &Path,
    filter: &tresor_core::TableFilter,
) -> Result<SqliteSnapshot, SourceError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            return Err(SourceError::new(
                ErrorKind::InvalidUrl,
                format!("{} is not a file", path.display()),
            ));
        }
        Err(e) => {
            return Err(io_error("cannot open sqlite database", path, e)
                .with_hint("try: check the path, or create the database first"));
        }
    }
    let display = path.display().to_string();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ctx(|| format!("cannot open sqlite database {display}"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx(|| "cannot set busy timeout".into())?;
    // BEGIN alone takes no lock; the first read pins the snapshot (a WAL
    // read mark or a SHARED lock) until COMMIT.
    conn.execute_batch("BEGIN DEFERRED")
        .ctx(|| "cannot start read transaction".into())?;
    let journal_mode: String = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .and_then(|()| conn.pragma_query_value(None, "journal_mode", |r| r.get(0)))
        .ctx(|| format!("cannot read sqlite database {display}"))?;
    let captured = catalog::read_schema(&conn, filter)?;
    let version: String = conn
        .query_row("SELECT sqlite_version()", [], |r| r.get(0))
        .ctx(|| "cannot read sqlite version".into())?;

    let wal = journal_mode.eq_ignore_ascii_case("wal");
    let mut warnings = captured.warnings;
    if !wal {
        warnings.push(format!(
            "{journal_mode} journal mode: writers wait for the backup to finish if they set a busy timeout, and fail with 'database is locked' if they do not (wal mode lets them continue)"
        ));
    }
    let info = SourceInfo {
        server_version: version,
        database: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        consistency: if wal {
            "one read transaction (wal snapshot)".into()
        } else {
            "one read transaction (shared lock)".into()
        },
        warnings,
    };
    Ok(SqliteSnapshot {
        conn: Arc::new(Mutex::new(Some(conn))),
        info,
        schema: captured.schema,
    })
}

/// The open read transaction. Reads share its one connection in turn.
struct SqliteSnapshot {
    conn: Arc<Mutex<Option<Connection>>>,
    info: SourceInfo,
    schema: DatabaseSchema,
}

#[async_trait]
impl SourceSnapshot for SqliteSnapshot {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn schema(&self) -> &DatabaseSchema {
        &self.schema
    }

    async fn read_table(&self, table: &TableSchema, rows: RowSender) -> Result<u64, SourceError> {
        let conn = Arc::clone(&self.conn);
        let table = table.clone();
        tokio::task::spawn_blocking(move || {
            let guard = conn.lock().map_err(|_| {
                SourceError::new(ErrorKind::Engine, "sqlite snapshot connection is poisoned")
            })?;
            let Some(conn) = guard.as_ref() else {
                return Err(SourceError::new(
                    ErrorKind::Engine,
                    "sqlite snapshot is closed",
                ));
            };
            read_rows(conn, &table, &rows)
        })
        .await
        .map_err(join_error)?
    }

    async fn close(self: Box<Self>) -> Result<(), SourceError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let taken = conn.lock().ok().and_then(|mut g| g.take());
            if let Some(conn) = taken {
                conn.execute_batch("COMMIT")
                    .ctx(|| "cannot end read transaction".into())?;
                conn.close()
                    .map_err(|(_, e)| crate::error::sql_error("cannot close sqlite database", e))?;
            }
            Ok(())
        })
        .await
        .map_err(join_error)?
    }
}

/// The `SELECT` that streams a table in key order.
pub(crate) fn select_sql(table: &TableSchema) -> String {
    let cols: Vec<String> = table.stored_columns().map(|c| ident(&c.name)).collect();
    let mut sql = format!(
        "SELECT {} FROM main.{}",
        if cols.is_empty() {
            "NULL".to_string()
        } else {
            cols.join(", ")
        },
        ident(&table.name.name)
    );
    let without_rowid = table.extra.contains_key(WITHOUT_ROWID);
    match &table.row_key {
        RowKey::Columns { columns } if without_rowid => {
            // byte-wise order for text keys, whatever the declared collation
            let keys: Vec<String> = columns
                .iter()
                .map(|c| format!("{} COLLATE BINARY", ident(c)))
                .collect();
            sql.push_str(" ORDER BY ");
            sql.push_str(&keys.join(", "));
        }
        // a rowid or its alias: plain integers, no collation needed
        RowKey::Columns { columns } => {
            sql.push_str(" ORDER BY ");
            sql.push_str(&crate::sql::ident_list(columns.iter().map(String::as_str)));
        }
        // every rowid name is taken by a real column: the table's own order
        RowKey::None => {}
    }
    sql
}

fn read_rows(conn: &Connection, table: &TableSchema, tx: &RowSender) -> Result<u64, SourceError> {
    let name = &table.name.name;
    let ctx = || format!("cannot read table {name}");
    let sql = select_sql(table);
    let width = table.stored_columns().count();
    let mut stmt = conn.prepare(&sql).ctx(ctx)?;
    let mut rows = stmt.query([]).ctx(ctx)?;
    let mut batch = Vec::with_capacity(BATCH_ROWS.min(256));
    let mut bytes = 0usize;
    let mut count = 0u64;
    while let Some(r) = rows.next().ctx(ctx)? {
        let mut row = Vec::with_capacity(width);
        for i in 0..width {
            let v = from_sqlite(r.get_ref(i).ctx(ctx)?);
            bytes += approx_size(&v);
            row.push(v);
        }
        batch.push(row);
        count += 1;
        if batch.len() >= BATCH_ROWS || bytes >= BATCH_BYTES {
            tx.blocking_send(std::mem::take(&mut batch))
                .map_err(|_| SourceError::cancelled())?;
            bytes = 0;
        }
    }
    if !batch.is_empty() {
        tx.blocking_send(batch)
            .map_err(|_| SourceError::cancelled())?;
    }
    Ok(count)
}
