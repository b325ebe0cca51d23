//! One restore in progress: the connection, its transaction, and, for a
//! new file, the temporary file that becomes the database on commit.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use tresor_core::{
    Engine, ErrorKind, RestoreMode, RestorePlan, RestoreSummary, RowReceiver, SourceError,
    TableSchema, TargetSession,
};

use super::check::{self, LoadPlan};
use super::ddl;
use super::references::Written;
use crate::catalog::{self, SQLITE_STAT1_ORDER, schema_order};
use crate::error::{SqlResultExt, io_error, join_error};
use crate::source::BUSY_TIMEOUT;
use crate::sql::ident;

/// Where the restore writes.
pub(super) enum Placement {
    /// A temporary file renamed over `target` on commit.
    Fresh { temp: PathBuf, target: PathBuf },
    /// One transaction in the existing database.
    InPlace,
}

/// The restore's state; dropping it before commit rolls back and removes
/// the temporary file.
pub(crate) struct Inner {
    pub(super) conn: Option<Connection>,
    pub(super) placement: Placement,
    pub(super) plan: RestorePlan,
    /// Snapshot tables being restored, in `sqlite_master` order.
    pub(super) restored: Vec<TableSchema>,
    pub(super) loads: HashMap<String, LoadPlan>,
    /// Keys a merge wrote, per table, for the foreign key check.
    pub(super) written: HashMap<String, Written>,
    /// Tables this restore created (their indexes are created on commit).
    pub(super) created: BTreeSet<String>,
    /// `CREATE TRIGGER` text of target triggers dropped for the load.
    pub(super) dropped_triggers: Vec<String>,
    pub(super) rows: BTreeMap<String, u64>,
    pub(super) warnings: Vec<String>,
    /// Values written in another form (a NaN as the text `NaN`).
    pub(super) changes: tresor_core::ValueChanges,
    pub(super) done: bool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Some(conn) = self.conn.take() {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            drop(conn);
        }
        if let Placement::Fresh { temp, .. } = &self.placement {
            remove_with_sidecars(temp);
        }
    }
}

pub(super) fn remove_with_sidecars(path: &Path) {
    let _ = std::fs::remove_file(path);
    for suffix in ["-journal", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// The [`TargetSession`] handed to callers.
pub(crate) struct SqliteSession {
    inner: Option<Inner>,
}

/// Starts a restore into the database at `path`.
pub(crate) fn begin(path: &Path, plan: RestorePlan) -> Result<SqliteSession, SourceError> {
    let restored = planned_tables(&plan)?;
    let inner = if is_fresh(path)? {
        begin_fresh(path, plan, restored)?
    } else {
        let conn = write_transaction(path, &plan)?;
        begin_in_place(conn, plan, restored)?
    };
    Ok(SqliteSession { inner: Some(inner) })
}

/// Starts the restore's write transaction on the existing database at
/// `path`, before the safety snapshot reads it (from another connection:
/// a write transaction lets readers in until its commit), so that nothing
/// is written in between; [`begin_held`] goes on with it.
pub(crate) fn hold(path: &Path, plan: &RestorePlan) -> Result<Connection, SourceError> {
    write_transaction(path, plan)
}

/// Goes on with the restore of `plan` in the transaction [`hold`] began.
pub(crate) fn begin_held(
    conn: Connection,
    plan: RestorePlan,
) -> Result<SqliteSession, SourceError> {
    let restored = planned_tables(&plan)?;
    let inner = begin_in_place(conn, plan, restored)?;
    Ok(SqliteSession { inner: Some(inner) })
}

fn planned_tables(plan: &RestorePlan) -> Result<Vec<TableSchema>, SourceError> {
    let mut tables = Vec::with_capacity(plan.tables.len());
    for name in &plan.tables {
        let t = plan.schema.table(name).ok_or_else(|| {
            SourceError::new(
                ErrorKind::NotFound,
                format!("table {name} is planned but not in the snapshot's schema"),
            )
        })?;
        tables.push(t.clone());
    }
    // sqlite_master order keeps `.dump` of the restored file identical
    tables.sort_by_key(|t| schema_order(&t.extra));
    Ok(tables)
}

/// Whether `path` is missing or holds an empty database.
fn is_fresh(path: &Path) -> Result<bool, SourceError> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(io_error("cannot inspect", path, e)),
        Ok(m) if !m.is_file() => {
            return Err(SourceError::new(
                ErrorKind::InvalidUrl,
                format!("{} is not a file", path.display()),
            ));
        }
        Ok(m) if m.len() == 0 => return Ok(true),
        Ok(_) => {}
    }
    let display = path.display().to_string();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ctx(|| format!("cannot open sqlite database {display}"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx(|| "cannot set busy timeout".into())?;
    let objects: i64 = conn
        .query_row("SELECT count(*) FROM main.sqlite_master", [], |r| r.get(0))
        .ctx(|| format!("cannot read sqlite database {display}"))?;
    Ok(objects == 0)
}

fn temp_path(target: &Path) -> Result<PathBuf, SourceError> {
    let name = target.file_name().ok_or_else(|| {
        SourceError::new(
            ErrorKind::InvalidUrl,
            format!("{} names no file", target.display()),
        )
    })?;
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    let file = format!(".{}.tresor-tmp-{:016x}", name.to_string_lossy(), h.finish());
    Ok(match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(file),
        _ => PathBuf::from(file),
    })
}

fn begin_fresh(
    path: &Path,
    plan: RestorePlan,
    restored: Vec<TableSchema>,
) -> Result<Inner, SourceError> {
    let temp = temp_path(path)?;
    File::options()
        .write(true)
        .create_new(true)
        .open(&temp)
        .map_err(|e| {
            io_error("cannot create temporary file", &temp, e)
                .with_hint("try: check that the target's directory exists and is writable")
        })?;
    let plan_strict = plan.strict;
    let mut inner = Inner {
        conn: None,
        placement: Placement::Fresh {
            temp: temp.clone(),
            target: path.to_path_buf(),
        },
        plan,
        restored,
        loads: HashMap::new(),
        written: HashMap::new(),
        created: BTreeSet::new(),
        dropped_triggers: Vec::new(),
        rows: BTreeMap::new(),
        warnings: Vec::new(),
        changes: tresor_core::ValueChanges::new(plan_strict),
        done: false,
    };
    let conn = Connection::open_with_flags(
        &temp,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ctx(|| format!("cannot open {}", temp.display()))?;
    let sqlite = inner.plan.schema.engine == Engine::SQLITE;
    let settings = &inner.plan.schema.settings;
    if sqlite {
        // must precede the first table
        for name in ["page_size", "auto_vacuum"] {
            if let Some(v) = settings.get(name).and_then(serde_json::Value::as_i64) {
                conn.pragma_update(None, name, v)
                    .ctx(|| format!("cannot set pragma {name}"))?;
            }
        }
        if let Some(enc) = settings.get("encoding").and_then(serde_json::Value::as_str) {
            conn.pragma_update(None, "encoding", enc)
                .ctx(|| "cannot set pragma encoding".into())?;
        }
    }
    // the temporary file is thrown away on failure: no need for a
    // durable journal while loading, only for the final fsync
    conn.query_row("PRAGMA journal_mode = MEMORY", [], |_| Ok(()))
        .ctx(|| "cannot set journal mode".into())?;
    // the snapshot is restored as it was, violations of foreign keys
    // included (SQLite does not enforce them unless asked to)
    conn.execute_batch("PRAGMA foreign_keys = OFF; PRAGMA synchronous = OFF; BEGIN")
        .ctx(|| "cannot start restore transaction".into())?;

    // tables, virtual tables (for whole databases, and those whose storage
    // is restored) and, for whole databases, sqlite_stat1, in their
    // original sqlite_master order
    let mut steps: Vec<(i64, String, String)> = Vec::new(); // order, what, sql
    for t in &inner.restored {
        let sql = match (&t.ddl, sqlite) {
            (Some(ddl), true) => ddl.clone(),
            _ => ddl::create_table(t, inner.plan.schema.engine),
        };
        steps.push((
            schema_order(&t.extra),
            format!("table {}", t.name.name),
            sql,
        ));
    }
    if sqlite {
        for o in virtual_tables(&inner.plan, &inner.restored, inner.plan.whole_database) {
            steps.push((
                schema_order(&o.extra),
                format!("virtual table {}", o.name.name),
                o.ddl.clone(),
            ));
        }
        if let Some(order) = settings
            .get(SQLITE_STAT1_ORDER)
            .and_then(serde_json::Value::as_i64)
            .filter(|_| inner.plan.whole_database)
        {
            steps.push((order, "sqlite_stat1".into(), "ANALYZE sqlite_schema".into()));
        }
    }
    steps.sort_by_key(|s| s.0);
    for (_, what, sql) in steps {
        if let Some(table) = what.strip_prefix("table ") {
            if table_exists(&conn, table)? {
                // a shadow table its virtual table already made
                conn.execute(&format!("DELETE FROM main.{}", ident(table)), [])
                    .ctx(|| format!("cannot empty {table}"))?;
                continue;
            }
            inner.created.insert(table.to_string());
        }
        conn.execute_batch(&sql)
            .ctx(|| format!("cannot create {what}"))?;
    }
    for t in &inner.restored {
        inner.loads.insert(
            t.name.name.clone(),
            check::insert_all(t, &t.name.name, sqlite),
        );
    }
    inner.conn = Some(conn);
    Ok(inner)
}

/// The snapshot's virtual tables whose storage `restored` holds, or with
/// `all`, every one.
fn virtual_tables<'a>(
    plan: &'a RestorePlan,
    restored: &'a [TableSchema],
    all: bool,
) -> impl Iterator<Item = &'a tresor_core::SchemaObject> {
    plan.schema.objects.iter().filter(move |o| {
        o.kind == "virtual_table"
            && (all
                || restored
                    .iter()
                    .any(|t| t.shadow_of() == Some(o.name.name.as_str())))
    })
}

pub(super) fn table_exists(conn: &Connection, name: &str) -> Result<bool, SourceError> {
    Ok(actual_name(conn, "table", name)?.is_some())
}

/// The stored name of object `name` of `kind` (names are case-insensitive).
pub(super) fn actual_name(
    conn: &Connection,
    kind: &str,
    name: &str,
) -> Result<Option<String>, SourceError> {
    conn.query_row(
        "SELECT name FROM main.sqlite_master WHERE type = ?1 AND name = ?2 COLLATE NOCASE",
        [kind, name],
        |r| r.get(0),
    )
    .optional()
    .ctx(|| format!("cannot look up {kind} {name}"))
}

/// Opens the existing database at `path` and starts the restore's write
/// transaction.
fn write_transaction(path: &Path, plan: &RestorePlan) -> Result<Connection, SourceError> {
    let display = path.display().to_string();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ctx(|| format!("cannot open sqlite database {display}"))?;
    // another connection's write transaction (the application's) makes
    // the restore wait at its start and commit, at most this long
    conn.busy_timeout(plan.lock_wait)
        .ctx(|| "cannot set busy timeout".into())?;
    // foreign_keys can only change outside a transaction; with it off,
    // deleting a parent cascades nothing, and foreign_key_check runs
    // before commit instead
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF; BEGIN IMMEDIATE; PRAGMA defer_foreign_keys = ON",
    )
    .ctx(|| format!("cannot start a write transaction on {display}"))?;
    Ok(conn)
}

fn begin_in_place(
    conn: Connection,
    plan: RestorePlan,
    restored: Vec<TableSchema>,
) -> Result<Inner, SourceError> {
    let plan_strict = plan.strict;
    let mut inner = Inner {
        conn: None,
        placement: Placement::InPlace,
        plan,
        restored,
        loads: HashMap::new(),
        written: HashMap::new(),
        created: BTreeSet::new(),
        dropped_triggers: Vec::new(),
        rows: BTreeMap::new(),
        warnings: Vec::new(),
        changes: tresor_core::ValueChanges::new(plan_strict),
        done: false,
    };
    let sqlite = inner.plan.schema.engine == Engine::SQLITE;
    let mode = inner.plan.mode;

    // the deploy-safe restore: the tables were empty when it was planned;
    // under the write lock now, no one else can add a row until commit
    if inner.plan.only_missing {
        let mut holding = Vec::new();
        for t in &inner.restored {
            if let Some(actual) = actual_name(&conn, "table", &t.name.name)? {
                let any: bool = conn
                    .query_row(
                        &format!("SELECT EXISTS (SELECT 1 FROM main.{})", ident(&actual)),
                        [],
                        |r| r.get(0),
                    )
                    .ctx(|| format!("cannot look into table {actual}"))?;
                if any {
                    holding.push(actual);
                }
            }
        }
        if !holding.is_empty() {
            inner.conn = Some(conn);
            return Err(tresor_core::tables_hold_rows(&holding));
        }
    }

    // tables whose definition changed since the backup go (inside the
    // transaction) and are made again below as the snapshot had them
    for n in inner.plan.recreate.clone() {
        if let Some(actual) = actual_name(&conn, "table", &n.name)? {
            conn.execute_batch(&format!("DROP TABLE main.{}", ident(&actual)))
                .ctx(|| format!("cannot replace table {actual}, whose definition changed"))?;
        }
    }

    // `--drop-extra-tables`: the tables the snapshot lacks go. The target
    // lists a virtual table by its storage tables: the virtual table goes
    // instead (it takes its storage along), before the plain ones
    if !inner.plan.drop.is_empty() {
        let owners = catalog::shadow_owners(&conn)?;
        let mut drops: Vec<(bool, String)> = Vec::new();
        for n in &inner.plan.drop {
            let entry = match owners.get(&n.name) {
                Some(owner) => (false, owner.clone()),
                None => match actual_name(&conn, "table", &n.name)? {
                    Some(actual) => (true, actual),
                    None => continue,
                },
            };
            if !drops.contains(&entry) {
                drops.push(entry);
            }
        }
        drops.sort();
        for (_, actual) in drops {
            conn.execute_batch(&format!("DROP TABLE IF EXISTS main.{}", ident(&actual)))
                .ctx(|| format!("cannot drop table {actual}, which the snapshot lacks"))?;
        }
    }

    // a virtual table whose storage is restored and that the target lacks
    // is made first: it makes its storage tables, which then take the
    // snapshot's rows like any existing table
    if sqlite {
        for o in virtual_tables(&inner.plan, &inner.restored, false) {
            if actual_name(&conn, "table", &o.name.name)?.is_none() {
                conn.execute_batch(&o.ddl)
                    .ctx(|| format!("cannot create virtual table {}", o.name.name))?;
            }
        }
    }

    // check every existing table before anything changes
    let mut problems = Vec::new();
    let mut existing: Vec<(usize, String)> = Vec::new();
    for (i, t) in inner.restored.iter().enumerate() {
        let Some(actual) = actual_name(&conn, "table", &t.name.name)? else {
            continue;
        };
        let (target, _) = catalog::read_table(&conn, &actual, None, 0)?;
        let mut load = check::fit(t, &target, mode, &mut problems);
        if load
            .forms
            .contains(&Some(tresor_core::AppForm::IntervalEpoch))
        {
            load.instants = check::instant_forms(&conn, &actual, t, &load)?;
        }
        inner.loads.insert(t.name.name.clone(), load);
        existing.push((i, actual));
    }
    if !problems.is_empty() {
        inner.conn = Some(conn);
        return Err(SourceError::new(
            ErrorKind::SchemaMismatch,
            format!(
                "the target's schema does not fit the snapshot:\n  - {}",
                problems.join("\n  - ")
            ),
        )
        .with_hint(
            "try: restore into a new file, or align the target's tables with the snapshot",
        ));
    }

    for t in &inner.restored {
        if inner.loads.contains_key(&t.name.name) {
            continue;
        }
        let sql = match (&t.ddl, sqlite) {
            (Some(ddl), true) => ddl.clone(),
            _ => ddl::create_table(t, inner.plan.schema.engine),
        };
        conn.execute_batch(&sql)
            .ctx(|| format!("cannot create table {}", t.name.name))?;
        inner.created.insert(t.name.name.clone());
        inner.loads.insert(
            t.name.name.clone(),
            check::insert_all(t, &t.name.name, sqlite),
        );
    }

    // triggers must not fire while restored rows go in
    for (_, actual) in &existing {
        let triggers: Vec<(String, String)> = {
            let mut stmt = conn
                .prepare(
                    "SELECT name, sql FROM main.sqlite_master \
                     WHERE type = 'trigger' AND tbl_name = ?1 COLLATE NOCASE ORDER BY rowid",
                )
                .ctx(|| format!("cannot list triggers of {actual}"))?;
            stmt.query_map([actual], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .ctx(|| format!("cannot list triggers of {actual}"))?
        };
        for (name, sql) in triggers {
            conn.execute_batch(&format!("DROP TRIGGER main.{}", ident(&name)))
                .ctx(|| format!("cannot suspend trigger {name}"))?;
            inner.dropped_triggers.push(sql);
        }
        if mode == RestoreMode::Replace {
            conn.execute(&format!("DELETE FROM main.{}", ident(actual)), [])
                .ctx(|| format!("cannot empty table {actual}"))?;
        }
    }
    inner.conn = Some(conn);
    Ok(inner)
}

impl Inner {
    pub(super) fn conn(&self) -> Result<&Connection, SourceError> {
        self.conn
            .as_ref()
            .ok_or_else(|| SourceError::new(ErrorKind::Engine, "restore session is closed"))
    }
}

impl SqliteSession {
    fn take(&mut self) -> Result<Inner, SourceError> {
        self.inner.take().ok_or_else(|| {
            SourceError::new(
                ErrorKind::Engine,
                "restore session is unusable after an interrupted load",
            )
        })
    }
}

#[async_trait]
impl TargetSession for SqliteSession {
    async fn load_table(
        &mut self,
        table: &TableSchema,
        rows: RowReceiver,
    ) -> Result<u64, SourceError> {
        let mut inner = self.take()?;
        let table = table.clone();
        let (inner, result) = tokio::task::spawn_blocking(move || {
            let r = inner.load(&table, rows);
            (inner, r)
        })
        .await
        .map_err(join_error)?;
        self.inner = Some(inner);
        result
    }

    async fn commit(mut self: Box<Self>) -> Result<RestoreSummary, SourceError> {
        let inner = self.take()?;
        tokio::task::spawn_blocking(move || inner.commit())
            .await
            .map_err(join_error)?
    }

    async fn rehearse(mut self: Box<Self>) -> Result<RestoreSummary, SourceError> {
        let inner = self.take()?;
        tokio::task::spawn_blocking(move || inner.rehearse())
            .await
            .map_err(join_error)?
    }

    async fn rollback(mut self: Box<Self>) -> Result<(), SourceError> {
        let inner = self.take()?;
        tokio::task::spawn_blocking(move || drop(inner))
            .await
            .map_err(join_error)
    }
}
