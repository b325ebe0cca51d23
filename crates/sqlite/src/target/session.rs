//! One restore in progress: the connection, its transaction, and, for a
//! new file, the temporary file that becomes the database on commit.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tresor_core::{
    Engine, ErrorKind, RestoreMode, RestorePlan, RestoreSummary, RowReceiver, SourceError,
    TableSchema, TargetSession, Value,
};

use super::check::{self, LoadPlan};
use super::ddl;
use crate::error::{SqlResultExt, io_error, join_error, sql_error};
use crate::schema::{self, SQLITE_SEQUENCE, SQLITE_STAT1_ORDER, SQLITE_STATS, schema_order};
use crate::source::BUSY_TIMEOUT;
use crate::sql::ident;
use crate::value::{Bind, is_native};

/// Where the restore writes.
enum Placement {
    /// A temporary file renamed over `target` on commit.
    Fresh { temp: PathBuf, target: PathBuf },
    /// One transaction in the existing database.
    InPlace,
}

/// The restore's state; dropping it before commit rolls back and removes
/// the temporary file.
pub(crate) struct Inner {
    conn: Option<Connection>,
    placement: Placement,
    plan: RestorePlan,
    /// Snapshot tables being restored, in `sqlite_master` order.
    restored: Vec<TableSchema>,
    loads: HashMap<String, LoadPlan>,
    /// Tables this restore created (their indexes are created on commit).
    created: BTreeSet<String>,
    /// `CREATE TRIGGER` text of target triggers dropped for the load.
    dropped_triggers: Vec<String>,
    rows: BTreeMap<String, u64>,
    warnings: Vec<String>,
    done: bool,
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

fn remove_with_sidecars(path: &Path) {
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
    if plan.mode == RestoreMode::Merge {
        refuse_keyless_merge(&restored)?;
    }
    let inner = if is_fresh(path)? {
        begin_fresh(path, plan, restored)?
    } else {
        begin_in_place(path, plan, restored)?
    };
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

fn refuse_keyless_merge(tables: &[TableSchema]) -> Result<(), SourceError> {
    let keyless: Vec<&str> = tables
        .iter()
        .filter(|t| t.primary_key.is_empty())
        .map(|t| t.name.name.as_str())
        .collect();
    if keyless.is_empty() {
        return Ok(());
    }
    Err(SourceError::new(
        ErrorKind::Unsupported,
        format!(
            "cannot merge tables without a primary key: {}",
            keyless.join(", ")
        ),
    )
    .with_hint(format!(
        "try: --mode replace, or leave them out with --exclude {}",
        keyless.join(",")
    )))
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
    let mut inner = Inner {
        conn: None,
        placement: Placement::Fresh {
            temp: temp.clone(),
            target: path.to_path_buf(),
        },
        plan,
        restored,
        loads: HashMap::new(),
        created: BTreeSet::new(),
        dropped_triggers: Vec::new(),
        rows: BTreeMap::new(),
        warnings: Vec::new(),
        done: false,
    };
    let conn = Connection::open_with_flags(
        &temp,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ctx(|| format!("cannot open {}", temp.display()))?;
    let sqlite = inner.plan.schema.engine == Engine::Sqlite;
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

    // tables (and, for whole databases, virtual tables and sqlite_stat1)
    // in their original sqlite_master order
    let mut steps: Vec<(i64, String, String)> = Vec::new(); // order, what, sql
    for t in &inner.restored {
        let sql = match (&t.ddl, sqlite) {
            (Some(ddl), true) => ddl.clone(),
            _ => ddl::create_table(t),
        };
        steps.push((
            schema_order(&t.extra),
            format!("table {}", t.name.name),
            sql,
        ));
    }
    if sqlite && inner.plan.whole_database {
        for o in inner
            .plan
            .schema
            .objects
            .iter()
            .filter(|o| o.kind == "virtual_table")
        {
            steps.push((
                schema_order(&o.extra),
                format!("virtual table {}", o.name.name),
                o.ddl.clone(),
            ));
        }
        if let Some(order) = settings
            .get(SQLITE_STAT1_ORDER)
            .and_then(serde_json::Value::as_i64)
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

fn table_exists(conn: &Connection, name: &str) -> Result<bool, SourceError> {
    Ok(actual_name(conn, "table", name)?.is_some())
}

/// The stored name of object `name` of `kind` (names are case-insensitive).
fn actual_name(conn: &Connection, kind: &str, name: &str) -> Result<Option<String>, SourceError> {
    conn.query_row(
        "SELECT name FROM main.sqlite_master WHERE type = ?1 AND name = ?2 COLLATE NOCASE",
        [kind, name],
        |r| r.get(0),
    )
    .optional()
    .ctx(|| format!("cannot look up {kind} {name}"))
}

fn begin_in_place(
    path: &Path,
    plan: RestorePlan,
    restored: Vec<TableSchema>,
) -> Result<Inner, SourceError> {
    let display = path.display().to_string();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ctx(|| format!("cannot open sqlite database {display}"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx(|| "cannot set busy timeout".into())?;
    // foreign_keys can only change outside a transaction; with it off,
    // deleting a parent cascades nothing, and foreign_key_check runs
    // before commit instead
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF; BEGIN IMMEDIATE; PRAGMA defer_foreign_keys = ON",
    )
    .ctx(|| format!("cannot start a write transaction on {display}"))?;
    let mut inner = Inner {
        conn: None,
        placement: Placement::InPlace,
        plan,
        restored,
        loads: HashMap::new(),
        created: BTreeSet::new(),
        dropped_triggers: Vec::new(),
        rows: BTreeMap::new(),
        warnings: Vec::new(),
        done: false,
    };
    let sqlite = inner.plan.schema.engine == Engine::Sqlite;
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

    // check every existing table before anything changes
    let mut problems = Vec::new();
    let mut existing: Vec<(usize, String)> = Vec::new();
    for (i, t) in inner.restored.iter().enumerate() {
        let Some(actual) = actual_name(&conn, "table", &t.name.name)? else {
            continue;
        };
        let (target, _) = schema::read_table(&conn, &actual, None, 0)?;
        let load = check::fit(t, &target, mode, &mut problems);
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
            _ => ddl::create_table(t),
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
    fn conn(&self) -> Result<&Connection, SourceError> {
        self.conn
            .as_ref()
            .ok_or_else(|| SourceError::new(ErrorKind::Engine, "restore session is closed"))
    }

    fn load(&mut self, table: &TableSchema, mut rx: RowReceiver) -> Result<u64, SourceError> {
        let name = table.name.name.clone();
        let load = self.loads.get(&name).ok_or_else(|| {
            SourceError::new(
                ErrorKind::NotFound,
                format!("table {name} is not part of this restore"),
            )
        })?;
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare(&load.sql)
            .ctx(|| format!("cannot prepare insert into {name}"))?;
        let mut n = 0u64;
        let mut foreign: BTreeSet<&'static str> = BTreeSet::new();
        while let Some(batch) = rx.blocking_recv() {
            for row in batch {
                if row.len() != load.width {
                    return Err(SourceError::data(format!(
                        "table {name}: row {} has {} values, expected {}",
                        n + 1,
                        row.len(),
                        load.width
                    )));
                }
                for (i, &pos) in load.positions.iter().enumerate() {
                    let v = &row[pos];
                    if !is_native(v) {
                        foreign.insert(v.kind());
                    }
                    stmt.raw_bind_parameter(i + 1, Bind(v))
                        .ctx(|| format!("cannot bind a value of table {name}"))?;
                }
                stmt.raw_execute()
                    .ctx(|| format!("cannot write row {} of table {name}", n + 1))?;
                n += 1;
            }
        }
        drop(stmt);
        if !foreign.is_empty() {
            self.warnings.push(format!(
                "table {name}: {} values stored as sqlite's nearest storage class",
                foreign.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        *self.rows.entry(name).or_default() += n;
        Ok(n)
    }

    /// Indexes, triggers and views to create on commit, in
    /// `sqlite_master` order.
    fn finishing_ddl(&self, conn: &Connection) -> Result<Vec<(i64, String, String)>, SourceError> {
        let sqlite = self.plan.schema.engine == Engine::Sqlite;
        let fresh = matches!(self.placement, Placement::Fresh { .. });
        let restored: BTreeSet<String> = self
            .restored
            .iter()
            .map(|t| t.name.name.to_ascii_lowercase())
            .collect();
        let mut out = Vec::new();
        for t in self
            .restored
            .iter()
            .filter(|t| self.created.contains(&t.name.name))
        {
            for idx in &t.indexes {
                let sql = match (&idx.ddl, sqlite) {
                    (Some(ddl), true) => Some(ddl.clone()),
                    _ => ddl::create_index(t, idx),
                };
                let Some(sql) = sql else {
                    continue;
                };
                if !fresh && actual_name(conn, "index", &idx.name)?.is_some() {
                    continue;
                }
                out.push((schema_order(&idx.extra), format!("index {}", idx.name), sql));
            }
        }
        if !sqlite {
            return Ok(out);
        }
        for o in &self.plan.schema.objects {
            let wanted = match o.kind.as_str() {
                "trigger" => {
                    o.table
                        .as_ref()
                        .is_some_and(|t| restored.contains(&t.name.to_ascii_lowercase()))
                        && (fresh || self.plan.whole_database)
                }
                "view" => self.plan.whole_database,
                _ => false,
            };
            if !wanted || (!fresh && actual_name(conn, &o.kind, &o.name.name)?.is_some()) {
                continue;
            }
            out.push((
                schema_order(&o.extra),
                format!("{} {}", o.kind, o.name.name),
                o.ddl.clone(),
            ));
        }
        out.sort_by_key(|s| s.0);
        Ok(out)
    }

    fn finish_schema(&mut self) -> Result<(), SourceError> {
        let conn = self.conn()?;
        let ddl = self.finishing_ddl(conn)?;
        let mut warnings = Vec::new();
        // the target's own triggers first: they win over the snapshot's
        for sql in &self.dropped_triggers {
            conn.execute_batch(sql)
                .ctx(|| "cannot restore a trigger of the target".into())?;
        }
        for (_, what, sql) in ddl {
            if what.starts_with("trigger ") && actual_name(conn, "trigger", &what[8..])?.is_some() {
                continue;
            }
            match conn.execute_batch(&sql) {
                Ok(()) => {}
                Err(e) if !self.plan.whole_database && !what.starts_with("index ") => {
                    warnings.push(format!("{what} not restored: {e}"));
                }
                Err(e) => return Err(sql_error(format!("cannot create {what}"), e)),
            }
        }
        if self.plan.schema.engine == Engine::Sqlite {
            self.restore_sequences(conn)?;
            if matches!(self.placement, Placement::Fresh { .. }) {
                self.restore_fresh_settings(conn)?;
            }
        }
        self.warnings.extend(warnings);
        Ok(())
    }

    /// `sqlite_sequence` rows of restored tables: exactly the snapshot's
    /// in a new file or in replace mode, never lower in merge mode.
    fn restore_sequences(&self, conn: &Connection) -> Result<(), SourceError> {
        let Some(rows) = self
            .plan
            .schema
            .settings
            .get(SQLITE_SEQUENCE)
            .and_then(serde_json::Value::as_array)
        else {
            return Ok(());
        };
        if !table_exists(conn, "sqlite_sequence")? {
            return Ok(());
        }
        let ctx = || "cannot restore sqlite_sequence".to_string();
        let fresh = matches!(self.placement, Placement::Fresh { .. });
        if fresh {
            conn.execute("DELETE FROM sqlite_sequence", []).ctx(ctx)?;
        }
        for pair in rows {
            let (Some(name), Some(seq)) = (pair[0].as_str(), pair[1].as_i64()) else {
                continue;
            };
            if !self.restored.iter().any(|t| t.name.name == name) {
                continue;
            }
            let current: Option<i64> = conn
                .query_row(
                    "SELECT seq FROM sqlite_sequence WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()
                .ctx(ctx)?;
            let seq = match (self.plan.mode, current) {
                (RestoreMode::Merge, Some(c)) if !fresh => c.max(seq),
                _ => seq,
            };
            if current.is_some() {
                conn.execute(
                    "UPDATE sqlite_sequence SET seq = ?2 WHERE name = ?1",
                    params![name, seq],
                )
                .ctx(ctx)?;
            } else {
                conn.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)",
                    params![name, seq],
                )
                .ctx(ctx)?;
            }
        }
        Ok(())
    }

    /// `sqlite_stat1`, `user_version` and `application_id` of a new file.
    fn restore_fresh_settings(&self, conn: &Connection) -> Result<(), SourceError> {
        let settings = &self.plan.schema.settings;
        if let Some(stats) = settings
            .get(SQLITE_STATS)
            .and_then(serde_json::Value::as_object)
        {
            for (stat, rows) in stats {
                let Some(rows) = rows.as_array() else {
                    continue;
                };
                if !table_exists(conn, stat)? {
                    continue;
                }
                for r in rows {
                    let Some(values) = r.as_array() else { continue };
                    let tbl = values.first().and_then(serde_json::Value::as_str);
                    if !tbl.is_some_and(|tbl| self.restored.iter().any(|t| t.name.name == tbl)) {
                        continue;
                    }
                    let params: Vec<String> = (1..=values.len()).map(|i| format!("?{i}")).collect();
                    let sql = format!(
                        "INSERT INTO main.{} VALUES ({})",
                        ident(stat),
                        params.join(", ")
                    );
                    let bound: Vec<Value> = values.iter().map(json_to_value).collect();
                    conn.execute(&sql, rusqlite::params_from_iter(bound.iter().map(Bind)))
                        .ctx(|| format!("cannot restore {stat}"))?;
                }
            }
        }
        for name in ["user_version", "application_id"] {
            if let Some(v) = settings.get(name).and_then(serde_json::Value::as_i64) {
                conn.pragma_update(None, name, v)
                    .ctx(|| format!("cannot set pragma {name}"))?;
            }
        }
        Ok(())
    }

    fn check_foreign_keys(&self, conn: &Connection) -> Result<(), SourceError> {
        let ctx = || "cannot check foreign keys".to_string();
        let mut stmt = conn.prepare("PRAGMA foreign_key_check").ctx(ctx)?;
        let mut rows = stmt.query([]).ctx(ctx)?;
        let mut found = Vec::new();
        let mut total = 0usize;
        while let Some(r) = rows.next().ctx(ctx)? {
            total += 1;
            if found.len() < 5 {
                let table: String = r.get(0).ctx(ctx)?;
                let rowid: Option<i64> = r.get(1).ctx(ctx)?;
                let parent: String = r.get(2).ctx(ctx)?;
                found.push(match rowid {
                    Some(id) => format!("{table} row {id} references a missing row of {parent}"),
                    None => format!("a row of {table} references a missing row of {parent}"),
                });
            }
        }
        if total == 0 {
            return Ok(());
        }
        Err(SourceError::new(
            ErrorKind::Data,
            format!(
                "restore would break {total} foreign key reference(s), nothing was changed: {}{}",
                found.join("; "),
                if total > found.len() { "; ..." } else { "" }
            ),
        )
        .with_hint("try: restore the referenced tables as well, or restore into a new file"))
    }

    /// What [`Inner::commit`] checks, then a rollback (dropping `self`
    /// rolls back and removes a temporary file).
    fn rehearse(mut self) -> Result<RestoreSummary, SourceError> {
        self.finish_schema()?;
        if matches!(self.placement, Placement::InPlace) {
            self.check_foreign_keys(self.conn()?)?;
        }
        Ok(RestoreSummary {
            rows: std::mem::take(&mut self.rows),
            warnings: std::mem::take(&mut self.warnings),
            method: match self.placement {
                Placement::InPlace => "one transaction, rolled back",
                Placement::Fresh { .. } => "temporary file, removed",
            }
            .into(),
        })
    }

    fn commit(mut self) -> Result<RestoreSummary, SourceError> {
        self.finish_schema()?;
        let conn = self
            .conn
            .take()
            .ok_or_else(|| SourceError::new(ErrorKind::Engine, "restore session is closed"))?;
        let method;
        match &self.placement {
            Placement::InPlace => {
                // put the connection back so a failure below rolls back
                self.conn = Some(conn);
                let conn = self.conn()?;
                self.check_foreign_keys(conn)?;
                conn.execute_batch("COMMIT")
                    .ctx(|| "cannot commit the restore".into())?;
                self.done = true;
                if let Some(conn) = self.conn.take() {
                    let _ = conn.close();
                }
                method = "one transaction".to_string();
            }
            Placement::Fresh { temp, target } => {
                let (temp, target) = (temp.clone(), target.clone());
                conn.execute_batch("COMMIT")
                    .ctx(|| "cannot commit the restore".into())?;
                let wal = self
                    .plan
                    .schema
                    .settings
                    .get("journal_mode")
                    .and_then(serde_json::Value::as_str)
                    == Some("wal");
                let mode = if wal { "WAL" } else { "DELETE" };
                conn.query_row(&format!("PRAGMA journal_mode = {mode}"), [], |_| Ok(()))
                    .ctx(|| "cannot set journal mode".into())?;
                conn.close()
                    .map_err(|(_, e)| sql_error("cannot close the restored database", e))?;
                File::open(&temp)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| io_error("cannot sync", &temp, e))?;
                // leftovers of the empty database we replace must not be
                // replayed onto the new file
                remove_with_sidecars_only(&target);
                std::fs::rename(&temp, &target)
                    .map_err(|e| io_error("cannot move the restored database to", &target, e))?;
                self.done = true;
                if let Some(dir) = target.parent() {
                    let dir = if dir.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        dir
                    };
                    File::open(dir)
                        .and_then(|d| d.sync_all())
                        .map_err(|e| io_error("cannot sync directory", dir, e))?;
                }
                method = "temporary file renamed into place".to_string();
            }
        }
        Ok(RestoreSummary {
            rows: std::mem::take(&mut self.rows),
            warnings: std::mem::take(&mut self.warnings),
            method,
        })
    }
}

/// A value of a statistics row, as [`schema`] wrote it.
fn json_to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::F64(n.as_f64().unwrap_or_default()),
        },
        serde_json::Value::String(s) => Value::Text(s.clone()),
        serde_json::Value::Object(o) => {
            let hex = o
                .get("blob")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default();
            Value::Bytes(
                (0..hex.len() / 2)
                    .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
                    .collect(),
            )
        }
        _ => Value::Null,
    }
}

fn remove_with_sidecars_only(path: &Path) {
    for suffix in ["-journal", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
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
