//! Restoring: atomic loads into MySQL and MariaDB.
//!
//! MySQL commits implicitly around every DDL statement, so one transaction
//! cannot both create tables and load them. A restore therefore takes two
//! paths, chosen per table:
//!
//! - **a table the target lacks** is created under a work name
//!   (`__tresor_<run>_<n>_<name>`) without its secondary indexes and
//!   foreign keys, loaded, given its indexes, and at commit all such tables
//!   are swapped in with ONE `RENAME TABLE` statement, which MySQL performs
//!   atomically. Until then nothing under the real names changed.
//! - **a table the target has** (a pre-created or migrated schema) is
//!   checked for compatibility first (every mismatch reported at once), then
//!   emptied with `DELETE` and loaded (replace) or upserted with `INSERT ...
//!   ON DUPLICATE KEY UPDATE` (merge) in one InnoDB transaction on a second
//!   connection, committed at commit. `TRUNCATE` would be faster but
//!   commits implicitly; swapping an existing table would break the foreign
//!   keys that other tables hold on it and drop its triggers.
//! - **a table whose definition changed** since the backup (listed in the
//!   plan's `recreate`) takes the first path; just before the swap the old
//!   table is dropped with foreign key checks off, so the keys other tables
//!   hold on its name attach to the new one (a `RENAME` of the old table
//!   would carry them away), and its own foreign keys are added after the
//!   swap (their names were still taken).
//!
//! Rows are inserted under a strict `sql_mode`, so a value the target would
//! change fails the restore; the one exception is an `ENUM` column's error
//! value (the empty string a permissive `sql_mode` stored for an invalid
//! value), which the server only takes when not strict: such rows go in
//! without strictness, and any warning beyond one per such value fails the
//! restore as strictness would have.
//!
//! Dropping a session without commit closes the transaction's connection
//! (the server rolls back) and drops the work tables in a background task;
//! work tables orphaned by a killed process are recognised by their run's
//! advisory lock (`GET_LOCK`) being free and dropped by the next restore.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Statement, Value as My};
use tresor_core::{
    Engine, ErrorKind, ExistingTable, RestoreMode, RestorePlan, RestoreSummary, RowKey,
    RowReceiver, SchemaObject, SourceError, TableName, TableSchema, Target, TargetSession,
    TargetState, Value,
};

use crate::capture::{WORK_PREFIX, text_col};
use crate::connect::{Context, Endpoint, Role, SQL_MODE, quote};
use crate::convert::{self, base_type};

/// Most placeholders MySQL accepts in one statement.
const MAX_PLACEHOLDERS: usize = 65_535;
/// Rows per `INSERT` statement at most.
const MAX_ROWS_PER_INSERT: usize = 512;
/// Bytes of parameters per `INSERT` statement (below the 16 MiB default
/// `max_allowed_packet` of MariaDB).
const MAX_INSERT_BYTES: usize = 8 << 20;

/// A MySQL or MariaDB database to restore into.
pub(crate) struct MysqlTarget {
    pub(crate) endpoint: Endpoint,
}

async fn database_exists(conn: &mut Conn, db: &str) -> Result<bool, SourceError> {
    let n: Option<u64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (db,),
        )
        .await
        .ctx(|| format!("cannot look up database {db}"))?;
    Ok(n.unwrap_or(0) > 0)
}

async fn table_names(conn: &mut Conn, db: &str) -> Result<Vec<String>, SourceError> {
    let rows: Vec<Row> = conn
        .exec(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? \
             AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
            (db,),
        )
        .await
        .ctx(|| format!("cannot list the tables of {db}"))?;
    Ok(rows
        .into_iter()
        .filter_map(|mut r| text_col(&mut r, 0))
        .collect())
}

#[async_trait]
impl Target for MysqlTarget {
    fn engine(&self) -> Engine {
        Engine::Mysql
    }

    async fn inspect(&self) -> Result<TargetState, SourceError> {
        let db = &self.endpoint.database;
        let mut conn = self.endpoint.connect(Role::Target).await?;
        if !database_exists(&mut conn, db).await? {
            return Ok(TargetState::default());
        }
        let mut tables = Vec::new();
        for name in table_names(&mut conn, db).await? {
            if name.starts_with(WORK_PREFIX) {
                continue;
            }
            let sql = format!("SELECT COUNT(*) FROM {}.{}", quote(db), quote(&name));
            let rows: Option<u64> = conn
                .query_first(sql)
                .await
                .ctx(|| format!("cannot count the rows of {name}"))?;
            tables.push(ExistingTable {
                name: TableName::new(name),
                rows: rows.unwrap_or(0),
            });
        }
        let _ = conn.disconnect().await;
        Ok(TargetState {
            exists: true,
            tables,
        })
    }

    async fn drop_database(&self) -> Result<(), SourceError> {
        let db = &self.endpoint.database;
        let mut conn = self.endpoint.connect(Role::Target).await?;
        conn.query_drop(format!("DROP DATABASE IF EXISTS {}", quote(db)))
            .await
            .ctx(|| format!("cannot drop database {db}"))
    }

    async fn begin(&self, plan: &RestorePlan) -> Result<Box<dyn TargetSession>, SourceError> {
        let db = self.endpoint.database.clone();
        let mut ddl = self.endpoint.connect(Role::Target).await?;
        let run = format!(
            "{:08x}",
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
                & 0xffff_ffff
        );
        let lock = format!("tresor_restore_{run}");
        let got: Option<i64> = ddl
            .exec_first("SELECT GET_LOCK(?, 0)", (lock.as_str(),))
            .await
            .ctx(|| "cannot take the restore's advisory lock".to_string())?;
        if got != Some(1) {
            return Err(SourceError::new(
                ErrorKind::Conflict,
                "cannot take the restore's advisory lock",
            ));
        }
        let created_db = !database_exists(&mut ddl, &db).await?;
        if created_db {
            let mut sql = format!("CREATE DATABASE {}", quote(&db));
            for (key, clause) in [("charset", "CHARACTER SET"), ("collation", "COLLATE")] {
                if let Some(v) = plan.schema.settings.get(key).and_then(|v| v.as_str())
                    && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !v.is_empty()
                {
                    sql.push_str(&format!(" {clause} {v}"));
                }
            }
            ddl.query_drop(sql)
                .await
                .ctx(|| format!("cannot create database {db}"))?;
        }
        ddl.query_drop(format!("USE {}", quote(&db)))
            .await
            .ctx(|| format!("cannot open database {db}"))?;
        ddl.query_drop("SET SESSION foreign_key_checks = 0, unique_checks = 0")
            .await
            .ctx(|| "cannot set up the restore session".to_string())?;
        let mut session = MysqlSession {
            db: db.clone(),
            ddl: Some(ddl),
            txn: None,
            lock,
            mode: plan.mode,
            whole_database: plan.whole_database,
            objects: plan.schema.objects.clone(),
            tables: HashMap::new(),
            fresh_order: Vec::new(),
            replaced: Vec::new(),
            foreign: plan.schema.engine != Engine::Mysql,
            created_db,
            rows: BTreeMap::new(),
            warnings: Vec::new(),
            finished: false,
        };
        match session.prepare(plan, &self.endpoint).await {
            Ok(()) => Ok(Box::new(session)),
            Err(e) => {
                session.cleanup().await;
                Err(e)
            }
        }
    }
}

/// Whether table `name` holds a row; `lock` reads it with `FOR UPDATE`.
async fn has_rows(conn: &mut Conn, name: &str, lock: bool) -> Result<bool, SourceError> {
    let sql = format!(
        "SELECT 1 FROM {} LIMIT 1{}",
        quote(name),
        if lock { " FOR UPDATE" } else { "" }
    );
    let row: Option<i64> = conn
        .query_first(sql)
        .await
        .ctx(|| format!("cannot look into table {name}"))?;
    Ok(row.is_some())
}

/// What happens to one planned table.
#[derive(Debug)]
enum Route {
    /// Created under `work`, swapped in at commit.
    Fresh {
        work: String,
        keys: Vec<String>,
        fks: Vec<String>,
        keys_added: bool,
    },
    /// Already in the target: loaded in the transaction.
    Existing { auto_increment: Option<i64> },
}

/// One restore in progress.
struct MysqlSession {
    db: String,
    /// DDL and work-table loads (autocommit between per-table transactions).
    ddl: Option<Conn>,
    /// The transaction over existing tables, if any.
    txn: Option<Conn>,
    lock: String,
    mode: RestoreMode,
    whole_database: bool,
    objects: Vec<SchemaObject>,
    tables: HashMap<TableName, Route>,
    /// Real names of the fresh tables, in plan order.
    fresh_order: Vec<TableName>,
    /// Tables whose definition changed since the backup: made again
    /// under work names like new ones, and dropped just before the swap.
    replaced: Vec<String>,
    /// Whether the snapshot is of another engine.
    foreign: bool,
    created_db: bool,
    rows: BTreeMap<String, u64>,
    warnings: Vec<String>,
    finished: bool,
}

/// A target column, as far as compatibility goes.
struct TargetColumn {
    column_type: String,
    charset: Option<String>,
    nullable: bool,
    has_default: bool,
    generated: bool,
    auto_increment: bool,
}

/// Normalises a column type for comparison: lowercase, and integer
/// display widths (`int(11)` on MariaDB and MySQL 5, `int` on MySQL 8)
/// dropped, except `tinyint(1)` which tools read as boolean.
fn normalise_type(t: &str) -> String {
    let t = t.trim().to_ascii_lowercase();
    let base = base_type(&t);
    if matches!(
        base.as_str(),
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint"
    ) && t != "tinyint(1)"
        && let (Some(open), Some(close)) = (t.find('('), t.find(')'))
        && open < close
    {
        return format!("{}{}", &t[..open], &t[close + 1..]);
    }
    t
}

/// A work-table name: `__tresor_<run>_<n>_<name>`, cut to MySQL's 64
/// characters.
fn work_name(run: &str, n: usize, name: &str) -> String {
    let mut s = format!("{WORK_PREFIX}{run}_{n}_");
    for c in name.chars() {
        if s.chars().count() >= 64 {
            break;
        }
        s.push(c);
    }
    s
}

/// `SHOW CREATE TABLE` text split for a fast load: the `CREATE TABLE`
/// under the work name without secondary indexes and foreign keys, the
/// index clauses (`KEY ...`, for one `ALTER TABLE ... ADD ...`) and the
/// foreign key clauses. Full-text indexes stay in the `CREATE` (adding
/// one later rebuilds the table to add `FTS_DOC_ID`), and so does any
/// index that leads with the `AUTO_INCREMENT` column (MySQL requires one).
fn split_ddl(
    ddl: &str,
    name: &str,
    work: &str,
    auto_increment: Option<&str>,
) -> Result<(String, Vec<String>, Vec<String>), SourceError> {
    let prefix = format!("CREATE TABLE {} (", quote(name));
    let rest = ddl.strip_prefix(&prefix).ok_or_else(|| {
        SourceError::new(
            ErrorKind::Unsupported,
            format!("unexpected definition of table {name}"),
        )
    })?;
    let lines: Vec<&str> = rest.split('\n').collect();
    let close = lines
        .iter()
        .rposition(|l| l.starts_with(')'))
        .ok_or_else(|| {
            SourceError::new(
                ErrorKind::Unsupported,
                format!("unexpected definition of table {name}"),
            )
        })?;
    let mut kept = Vec::new();
    let mut keys = Vec::new();
    let mut fks = Vec::new();
    let ai_lead = auto_increment.map(|c| format!(" ({}", quote(c)));
    for line in &lines[..close] {
        let item = line.trim().trim_end_matches(',');
        if item.is_empty() {
            continue;
        }
        let is_key = item.starts_with("KEY ")
            || item.starts_with("UNIQUE KEY ")
            || item.starts_with("SPATIAL KEY ");
        let leads_ai = ai_lead
            .as_ref()
            .is_some_and(|lead| item.contains(lead.as_str()));
        if is_key && !leads_ai {
            keys.push(item.to_string());
        } else if item.starts_with("CONSTRAINT ") && item.contains(" FOREIGN KEY ") {
            fks.push(item.to_string());
        } else {
            kept.push(format!("  {item}"));
        }
    }
    let create = format!(
        "CREATE TABLE {} (\n{}\n{}",
        quote(work),
        kept.join(",\n"),
        lines[close..].join("\n")
    );
    Ok((create, keys, fks))
}

impl MysqlSession {
    fn ddl(&mut self) -> Result<&mut Conn, SourceError> {
        self.ddl
            .as_mut()
            .ok_or_else(|| SourceError::new(ErrorKind::Engine, "restore session already closed"))
    }

    /// Checks existing tables, creates work tables, opens the transaction.
    async fn prepare(
        &mut self,
        plan: &RestorePlan,
        endpoint: &Endpoint,
    ) -> Result<(), SourceError> {
        let db = self.db.clone();
        self.drop_orphans().await?;
        let existing = target_columns(self.ddl()?, &db).await?;
        let run = self.lock.trim_start_matches("tresor_restore_").to_string();
        if self.mode == RestoreMode::Merge {
            let keyless: Vec<String> = plan
                .tables
                .iter()
                .filter_map(|n| plan.schema.table(n))
                .filter(|t| matches!(t.row_key, RowKey::None))
                .map(|t| t.name.to_string())
                .collect();
            if !keyless.is_empty() {
                return Err(SourceError::new(
                    ErrorKind::Unsupported,
                    format!(
                        "cannot merge table(s) {}: no primary or unique key to match rows on",
                        keyless.join(", ")
                    ),
                )
                .with_hint("restore those tables in replace mode, or leave them out"));
            }
        }
        let mut mismatches = Vec::new();
        let mut creates = Vec::new();
        for (n, name) in plan.tables.iter().enumerate() {
            let table = plan.schema.table(name).ok_or_else(|| {
                SourceError::new(
                    ErrorKind::NotFound,
                    format!("table {name} is not in the snapshot"),
                )
            })?;
            if existing.contains_key(&name.name) && plan.recreate.contains(name) {
                self.replaced.push(name.name.clone());
            } else if let Some(cols) = existing.get(&name.name) {
                check_compatible(table, cols, self.foreign, &mut mismatches);
                self.tables.insert(
                    name.clone(),
                    Route::Existing {
                        auto_increment: table.auto_increment,
                    },
                );
                continue;
            }
            // another engine's table is made from the portable model
            let portable;
            let ddl = if plan.schema.engine == Engine::Mysql {
                table.ddl.as_deref().ok_or_else(|| {
                    SourceError::new(
                        ErrorKind::Unsupported,
                        format!("table {name} has no mysql definition in the snapshot"),
                    )
                    .with_hint("create the table in the target first, then restore into it")
                })?
            } else {
                portable = crate::portable::create_table(table);
                portable.as_str()
            };
            let work = work_name(&run, n, &name.name);
            let ai = table
                .columns
                .iter()
                .find(|c| c.identity)
                .map(|c| c.name.as_str());
            let (create, keys, fks) = split_ddl(ddl, &name.name, &work, ai)?;
            creates.push(create);
            self.fresh_order.push(name.clone());
            self.tables.insert(
                name.clone(),
                Route::Fresh {
                    work,
                    keys,
                    fks,
                    keys_added: false,
                },
            );
        }
        if !mismatches.is_empty() {
            return Err(SourceError::new(
                ErrorKind::SchemaMismatch,
                format!(
                    "the target's tables do not fit the snapshot:\n  {}",
                    mismatches.join("\n  ")
                ),
            )
            .with_hint("restore into an empty database, or migrate the target's schema first"));
        }
        // the deploy-safe restore: a table made anew (its definition
        // changed) must still be empty; the existing ones are checked
        // below, locked in the restore's transaction
        if plan.only_missing {
            let mut holding = Vec::new();
            for name in self.replaced.clone() {
                if has_rows(self.ddl()?, &name, false).await? {
                    holding.push(name);
                }
            }
            if !holding.is_empty() {
                return Err(tresor_core::tables_hold_rows(&holding));
            }
        }
        for create in creates {
            self.ddl()?
                .query_drop(create)
                .await
                .ctx(|| "cannot create a work table".to_string())?;
        }
        let existing_planned: Vec<TableName> = self
            .tables
            .iter()
            .filter(|(_, r)| matches!(r, Route::Existing { .. }))
            .map(|(n, _)| n.clone())
            .collect();
        if !existing_planned.is_empty() {
            let mut txn = endpoint.connect_db(Role::Target).await?;
            txn.query_drop("SET SESSION foreign_key_checks = 0")
                .await
                .ctx(|| "cannot set up the restore transaction".to_string())?;
            txn.query_drop("START TRANSACTION")
                .await
                .ctx(|| "cannot start the restore transaction".to_string())?;
            if plan.only_missing {
                // a locking read: on an empty table it keeps inserts out
                // until the commit
                let mut holding = Vec::new();
                for name in plan.tables.iter().filter(|n| existing_planned.contains(n)) {
                    if has_rows(&mut txn, &name.name, true).await? {
                        holding.push(name.name.clone());
                    }
                }
                if !holding.is_empty() {
                    let _ = txn.query_drop("ROLLBACK").await;
                    let _ = txn.disconnect().await;
                    return Err(tresor_core::tables_hold_rows(&holding));
                }
            }
            if self.mode == RestoreMode::Replace {
                for name in plan.tables.iter().filter(|n| existing_planned.contains(n)) {
                    txn.query_drop(format!("DELETE FROM {}", quote(&name.name)))
                        .await
                        .ctx(|| format!("cannot empty table {name}"))?;
                }
            }
            let triggers: Vec<Row> = txn
                .exec(
                    "SELECT DISTINCT EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS \
                     WHERE TRIGGER_SCHEMA = ?",
                    (db.as_str(),),
                )
                .await
                .ctx(|| "cannot list triggers".to_string())?;
            for mut r in triggers {
                let t = text_col(&mut r, 0).unwrap_or_default();
                if existing_planned.iter().any(|n| n.name == t) {
                    self.warnings.push(format!(
                        "table {t} already existed with triggers; they fired for the restored rows"
                    ));
                }
            }
            self.txn = Some(txn);
        }
        Ok(())
    }

    /// Drops work tables whose restore is gone (its advisory lock free).
    async fn drop_orphans(&mut self) -> Result<(), SourceError> {
        let db = self.db.clone();
        let conn = self.ddl()?;
        for name in table_names(conn, &db).await? {
            let Some(rest) = name.strip_prefix(WORK_PREFIX) else {
                continue;
            };
            let Some(run) = rest.get(..8) else { continue };
            let free: Option<i64> = conn
                .exec_first("SELECT IS_FREE_LOCK(?)", (format!("tresor_restore_{run}"),))
                .await
                .ctx(|| "cannot check a work table's lock".to_string())?;
            if free == Some(1) {
                conn.query_drop(format!("DROP TABLE IF EXISTS {}", quote(&name)))
                    .await
                    .ctx(|| format!("cannot drop the orphaned work table {name}"))?;
            }
        }
        Ok(())
    }

    /// Adds the deferred indexes of a loaded work table.
    async fn add_keys(&mut self, name: &TableName) -> Result<(), SourceError> {
        let Some(Route::Fresh {
            work,
            keys,
            keys_added,
            ..
        }) = self.tables.get(name)
        else {
            return Ok(());
        };
        if *keys_added || keys.is_empty() {
            if let Some(Route::Fresh { keys_added, .. }) = self.tables.get_mut(name) {
                *keys_added = true;
            }
            return Ok(());
        }
        let sql = format!(
            "ALTER TABLE {} {}",
            quote(work),
            keys.iter()
                .map(|k| format!("ADD {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.ddl()?
            .query_drop(sql)
            .await
            .ctx(|| format!("cannot add the indexes of table {name}"))?;
        if let Some(Route::Fresh { keys_added, .. }) = self.tables.get_mut(name) {
            *keys_added = true;
        }
        Ok(())
    }

    /// Drops work tables, rolls back, forgets the lock. Best effort.
    async fn cleanup(&mut self) {
        if let Some(mut txn) = self.txn.take() {
            let _ = txn.query_drop("ROLLBACK").await;
            let _ = txn.disconnect().await;
        }
        let works: Vec<String> = self.work_tables();
        let db = self.db.clone();
        let created_db = self.created_db;
        let lock = self.lock.clone();
        if let Some(conn) = self.ddl.take() {
            drop_work(conn, db, works, created_db, lock).await;
        }
        self.finished = true;
    }

    fn work_tables(&self) -> Vec<String> {
        self.fresh_order
            .iter()
            .filter_map(|n| match self.tables.get(n) {
                Some(Route::Fresh { work, .. }) => Some(work.clone()),
                _ => None,
            })
            .collect()
    }

    async fn restore_objects(&mut self) -> Result<(), SourceError> {
        let order = ["function", "procedure", "view", "trigger", "event"];
        let mut pending: Vec<SchemaObject> = Vec::new();
        for kind in order {
            pending.extend(self.objects.iter().filter(|o| o.kind == kind).cloned());
        }
        // views may depend on views: retry until no progress
        let conn = self
            .ddl
            .as_mut()
            .ok_or_else(|| SourceError::new(ErrorKind::Engine, "restore session already closed"))?;
        let mut last_error = None;
        loop {
            let before = pending.len();
            let mut failed = Vec::new();
            for o in pending {
                match create_object(conn, &o).await {
                    Ok(()) => {}
                    Err(e) => {
                        last_error = Some(e);
                        failed.push(o);
                    }
                }
            }
            pending = failed;
            if pending.is_empty() || pending.len() == before {
                break;
            }
        }
        conn.query_drop(format!(
            "SET NAMES utf8mb4, SESSION sql_mode = '{SQL_MODE}', SESSION time_zone = '+00:00'"
        ))
        .await
        .ctx(|| "cannot reset the session".to_string())?;
        if let (Some(o), Some(e)) = (pending.first(), last_error) {
            return Err(SourceError::new(
                e.kind(),
                format!("cannot recreate {} {}: {e}", o.kind, o.name),
            ));
        }
        Ok(())
    }
}

async fn create_object(conn: &mut Conn, o: &SchemaObject) -> Result<(), SourceError> {
    let kind_sql = match o.kind.as_str() {
        "view" => "VIEW",
        "trigger" => "TRIGGER",
        "procedure" => "PROCEDURE",
        "function" => "FUNCTION",
        "event" => "EVENT",
        _ => return Ok(()),
    };
    conn.query_drop(format!("DROP {kind_sql} IF EXISTS {}", quote(&o.name.name)))
        .await
        .ctx(|| format!("cannot drop {} {}", o.kind, o.name))?;
    let get = |k: &str| o.extra.get(k).and_then(|v| v.as_str()).map(str::to_string);
    if let Some(mode) = get("sql_mode") {
        conn.exec_drop("SET SESSION sql_mode = ?", (mode,))
            .await
            .ctx(|| "cannot set sql_mode".to_string())?;
    }
    if let Some(c) = get("collation_connection") {
        conn.exec_drop("SET SESSION collation_connection = ?", (c,))
            .await
            .ctx(|| "cannot set collation_connection".to_string())?;
    }
    if let Some(tz) = get("time_zone") {
        conn.exec_drop("SET SESSION time_zone = ?", (tz,))
            .await
            .ctx(|| "cannot set time_zone".to_string())?;
    }
    // the client character set the object was created under, as the
    // server records it with the object, where the DDL text (UTF-8 here)
    // reads the same in it: ASCII, or no character beyond utf8mb3
    let client_charset = get("character_set_client").filter(|cs| {
        o.ddl.is_ascii()
            || (cs.starts_with("utf8") && o.ddl.chars().all(|c| u32::from(c) < 0x10000))
    });
    if let Some(cs) = &client_charset {
        conn.exec_drop("SET SESSION character_set_client = ?", (cs,))
            .await
            .ctx(|| "cannot set character_set_client".to_string())?;
    }
    let created = conn
        .query_drop(o.ddl.as_str())
        .await
        .ctx(|| format!("cannot create {} {}", o.kind, o.name));
    if client_charset.is_some() {
        conn.query_drop("SET SESSION character_set_client = utf8mb4")
            .await
            .ctx(|| "cannot set character_set_client".to_string())?;
    }
    created
}

/// Drops work tables (and a database this restore created), then the lock.
async fn drop_work(mut conn: Conn, db: String, works: Vec<String>, created_db: bool, lock: String) {
    if created_db {
        // only our work tables can be in it
        let _ = conn
            .query_drop(format!("DROP DATABASE IF EXISTS {}", quote(&db)))
            .await;
    } else if !works.is_empty() {
        let list: Vec<String> = works.iter().map(|w| quote(w)).collect();
        let _ = conn
            .query_drop(format!("DROP TABLE IF EXISTS {}", list.join(", ")))
            .await;
    }
    let _ = conn.exec_drop("SELECT RELEASE_LOCK(?)", (lock,)).await;
    let _ = conn.disconnect().await;
}

/// Columns of the target's tables, by table.
async fn target_columns(
    conn: &mut Conn,
    db: &str,
) -> Result<HashMap<String, Vec<(String, TargetColumn)>>, SourceError> {
    let rows: Vec<Row> = conn
        .exec(
            "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, c.CHARACTER_SET_NAME, c.IS_NULLABLE, \
             c.COLUMN_DEFAULT IS NOT NULL, c.EXTRA FROM information_schema.COLUMNS c \
             JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA \
             AND t.TABLE_NAME = c.TABLE_NAME AND t.TABLE_TYPE = 'BASE TABLE' \
             WHERE c.TABLE_SCHEMA = ? ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION",
            (db,),
        )
        .await
        .ctx(|| "cannot read the target's columns".to_string())?;
    let mut out: HashMap<String, Vec<(String, TargetColumn)>> = HashMap::new();
    for mut r in rows {
        let table = text_col(&mut r, 0).unwrap_or_default();
        if table.starts_with(WORK_PREFIX) {
            continue;
        }
        let name = text_col(&mut r, 1).unwrap_or_default();
        let extra = text_col(&mut r, 6).unwrap_or_default().to_ascii_lowercase();
        let col = TargetColumn {
            column_type: text_col(&mut r, 2).unwrap_or_default(),
            charset: text_col(&mut r, 3),
            nullable: text_col(&mut r, 4).as_deref() == Some("YES"),
            has_default: text_col(&mut r, 5).as_deref() == Some("1"),
            generated: extra.contains(" generated") && !extra.contains("default_generated"),
            auto_increment: extra.contains("auto_increment"),
        };
        out.entry(table).or_default().push((name, col));
    }
    Ok(out)
}

/// Adds every way `table` does not fit the target's columns to `out`.
/// Every way the target's existing table does not fit the snapshot's. A
/// table of another engine's snapshot is matched by column names (types
/// are converted on the way in; a value the column cannot hold fails the
/// load, and so the preview's rehearsal), without SQLite's implicit rowid.
fn check_compatible(
    table: &TableSchema,
    target: &[(String, TargetColumn)],
    foreign: bool,
    out: &mut Vec<String>,
) {
    let name = &table.name;
    for c in table.stored_columns().filter(|c| !(foreign && c.hidden)) {
        let Some((_, t)) = target.iter().find(|(n, _)| n == &c.name) else {
            out.push(format!("table {name}: column {} is missing", c.name));
            continue;
        };
        if t.generated {
            out.push(format!(
                "table {name}: column {} is generated in the target but stored in the snapshot",
                c.name
            ));
            continue;
        }
        let (want, have) = (
            normalise_type(&c.engine_type),
            normalise_type(&t.column_type),
        );
        if want != have && !foreign {
            out.push(format!(
                "table {name}: column {} is {} in the snapshot but {} in the target",
                c.name, c.engine_type, t.column_type
            ));
        }
        let charset = c.extra.get("charset").and_then(|v| v.as_str());
        if let (Some(a), Some(b)) = (charset, t.charset.as_deref())
            && a != b
        {
            out.push(format!(
                "table {name}: column {} has character set {a} in the snapshot but {b} in the target",
                c.name
            ));
        }
        if c.nullable && !t.nullable {
            out.push(format!(
                "table {name}: column {} allows NULL in the snapshot but not in the target",
                c.name
            ));
        }
    }
    for (col, t) in target {
        let in_snapshot = table.columns.iter().any(|c| &c.name == col);
        if !in_snapshot && !t.nullable && !t.has_default && !t.generated && !t.auto_increment {
            out.push(format!(
                "table {name}: the target's column {col} is not in the snapshot and has no default"
            ));
        }
    }
}

impl Drop for MysqlSession {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // the transaction's connection closes: the server rolls it back
        drop(self.txn.take());
        let works = self.work_tables();
        if let (Some(conn), Ok(handle)) = (self.ddl.take(), tokio::runtime::Handle::try_current()) {
            let (db, created_db, lock) = (self.db.clone(), self.created_db, self.lock.clone());
            handle.spawn(drop_work(conn, db, works, created_db, lock));
        }
    }
}

/// Builds and runs multi-row `INSERT`s with bound parameters.
///
/// Full batches reuse one prepared statement per table; a shorter batch (the
/// last one, or one cut early by [`MAX_INSERT_BYTES`]) gets a statement of its
/// own that is closed right after it ran. Nothing is left in the connection's
/// statement cache, so memory does not grow with the number of tables.
struct Inserter {
    table: String,
    columns: Vec<String>,
    suffix: String,
    params: Vec<My>,
    rows: usize,
    bytes: usize,
    max_rows: usize,
    full: Option<Statement>,
    /// Positions of `ENUM` columns that have no `''` member.
    enums: Vec<usize>,
    /// Empty strings for those columns in the rows not yet sent.
    error_values: usize,
}

/// The members of an `enum('a','it''s')` column type, unquoted.
fn enum_members(engine_type: &str) -> Option<Vec<String>> {
    let t = engine_type.trim();
    let inner = t
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("enum("))
        .and_then(|_| t[5..].strip_suffix(')'))?;
    let mut members = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.next()? != '\'' {
            return None;
        }
        let mut m = String::new();
        loop {
            match chars.next()? {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    m.push('\'');
                }
                '\'' => break,
                '\\' => m.push(chars.next()?),
                c => m.push(c),
            }
        }
        members.push(m);
        if chars.peek().is_none() {
            return Some(members);
        }
    }
}

/// The session mode for rows holding an `ENUM` column's error value (the
/// empty string MariaDB and MySQL store for an invalid value under a
/// permissive `sql_mode`): [`SQL_MODE`] without strictness, which the
/// server refuses to store it under.
const LENIENT_SQL_MODE: &str = "ALLOW_INVALID_DATES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION";

impl Inserter {
    fn new(table: &str, schema: &TableSchema, merge: bool) -> Inserter {
        let columns: Vec<String> = schema.stored_columns().map(|c| quote(&c.name)).collect();
        let keys: Vec<String> = match &schema.row_key {
            RowKey::Columns { columns } => columns.iter().map(|c| quote(c)).collect(),
            RowKey::None => Vec::new(),
        };
        let suffix = if merge {
            let updates: Vec<String> = columns
                .iter()
                .filter(|c| !keys.contains(c))
                .map(|c| format!("{c} = VALUES({c})"))
                .collect();
            match (updates.is_empty(), columns.first()) {
                (false, _) => format!(" ON DUPLICATE KEY UPDATE {}", updates.join(", ")),
                (true, Some(c)) => format!(" ON DUPLICATE KEY UPDATE {c} = {c}"),
                (true, None) => String::new(),
            }
        } else {
            String::new()
        };
        let max_rows = if columns.is_empty() {
            1
        } else {
            (MAX_PLACEHOLDERS / columns.len()).clamp(1, MAX_ROWS_PER_INSERT)
        };
        let enums = schema
            .stored_columns()
            .enumerate()
            .filter(|(_, c)| {
                enum_members(&c.engine_type).is_some_and(|m| !m.iter().any(String::is_empty))
            })
            .map(|(i, _)| i)
            .collect();
        Inserter {
            table: quote(table),
            columns,
            suffix,
            params: Vec::new(),
            rows: 0,
            bytes: 0,
            max_rows,
            full: None,
            enums,
            error_values: 0,
        }
    }

    fn sql(&self, rows: usize) -> String {
        let (table, columns, suffix) = (&self.table, &self.columns, &self.suffix);
        if columns.is_empty() {
            return format!("INSERT INTO {table} () VALUES (){suffix}");
        }
        let one = format!("({})", vec!["?"; columns.len()].join(","));
        let mut sql = String::with_capacity(64 + rows * (one.len() + 1));
        sql.push_str(&format!(
            "INSERT INTO {table} ({}) VALUES ",
            columns.join(",")
        ));
        for i in 0..rows {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&one);
        }
        sql.push_str(suffix);
        sql
    }

    async fn push(&mut self, conn: &mut Conn, row: tresor_core::Row) -> Result<(), SourceError> {
        if row.len() != self.columns.len() {
            return Err(SourceError::data(format!(
                "a row of table {} has {} values, expected {}",
                self.table,
                row.len(),
                self.columns.len()
            )));
        }
        for (i, v) in row.into_iter().enumerate() {
            if matches!(&v, Value::Text(t) | Value::Enum(t) if t.is_empty())
                && self.enums.contains(&i)
            {
                self.error_values += 1;
            }
            self.bytes += convert::approx_size(&v);
            self.params.push(convert::to_mysql(v)?);
        }
        self.rows += 1;
        if self.rows >= self.max_rows || self.bytes >= MAX_INSERT_BYTES {
            self.flush(conn).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, conn: &mut Conn) -> Result<(), SourceError> {
        if self.rows == 0 {
            return Ok(());
        }
        let error_values = std::mem::take(&mut self.error_values);
        if error_values == 0 {
            return self.send(conn).await;
        }
        // The server stores an ENUM's error value only when not strict; it
        // then warns once per such value, and any other warning would be a
        // value changed on the way in: that fails the restore as strictness
        // would have.
        let table = self.table.clone();
        let what = || format!("cannot insert into {table}");
        conn.query_drop(format!("SET SESSION sql_mode = '{LENIENT_SQL_MODE}'"))
            .await
            .ctx(what)?;
        let sent = self.send(conn).await;
        let warnings = conn.get_warnings();
        conn.query_drop(format!("SET SESSION sql_mode = '{SQL_MODE}'"))
            .await
            .ctx(what)?;
        sent?;
        if usize::from(warnings) > error_values {
            return Err(SourceError::data(format!(
                "a value of table {} does not fit its column: the server changed {} value(s), \
                 of which only {error_values} are the enum error value (the empty string)",
                self.table, warnings
            ))
            .with_hint(
                "try: compare the target table's definition with the snapshot's (tresor show)",
            ));
        }
        Ok(())
    }

    /// Sends the rows gathered so far as one statement.
    async fn send(&mut self, conn: &mut Conn) -> Result<(), SourceError> {
        let what = || format!("cannot insert into {}", self.table);
        let params = std::mem::replace(
            &mut self.params,
            Vec::with_capacity(self.max_rows * self.columns.len()),
        );
        if params.is_empty() {
            conn.query_drop(self.sql(self.rows)).await.ctx(what)?;
        } else if self.rows == self.max_rows {
            let stmt = match self.full.take() {
                Some(stmt) => stmt,
                None => conn.prep(self.sql(self.rows)).await.ctx(what)?,
            };
            let result = conn.exec_drop(&stmt, params).await;
            self.full = Some(stmt);
            result.ctx(what)?;
        } else {
            let stmt = conn.prep(self.sql(self.rows)).await.ctx(what)?;
            let result = conn.exec_drop(&stmt, params).await;
            conn.close(stmt).await.ctx(what)?;
            result.ctx(what)?;
        }
        self.rows = 0;
        self.bytes = 0;
        Ok(())
    }

    /// Sends the last rows and closes the table's prepared statement.
    async fn finish(mut self, conn: &mut Conn) -> Result<(), SourceError> {
        self.flush(conn).await?;
        if let Some(stmt) = self.full.take() {
            conn.close(stmt)
                .await
                .ctx(|| format!("cannot insert into {}", self.table))?;
        }
        Ok(())
    }
}

#[async_trait]
impl TargetSession for MysqlSession {
    async fn load_table(
        &mut self,
        table: &TableSchema,
        mut rows: RowReceiver,
    ) -> Result<u64, SourceError> {
        let name = table.name.clone();
        let (work, existing) = match self.tables.get(&name) {
            Some(Route::Fresh { work, .. }) => (work.clone(), false),
            Some(Route::Existing { .. }) => (name.name.clone(), true),
            None => {
                return Err(SourceError::new(
                    ErrorKind::NotFound,
                    format!("table {name} is not part of this restore"),
                ));
            }
        };
        let merge = existing && self.mode == RestoreMode::Merge;
        let conn = if existing {
            self.txn.as_mut()
        } else {
            self.ddl.as_mut()
        }
        .ok_or_else(|| SourceError::new(ErrorKind::Engine, "restore session already closed"))?;
        if !existing {
            conn.query_drop("START TRANSACTION")
                .await
                .ctx(|| format!("cannot start loading {name}"))?;
        }
        // SQLite's implicit rowid is no column in another engine
        let foreign = self.foreign;
        let keep: Vec<usize> = table
            .stored_columns()
            .enumerate()
            .filter(|(_, c)| !(foreign && c.hidden))
            .map(|(i, _)| i)
            .collect();
        let width = table.stored_columns().count();
        let visible;
        let schema = if keep.len() == width {
            table
        } else {
            let mut t = table.clone();
            t.columns.retain(|c| !c.hidden);
            visible = t;
            &visible
        };
        let mut inserter = Inserter::new(&work, schema, merge);
        let mut count = 0u64;
        while let Some(batch) = rows.recv().await {
            for row in batch {
                let row = if keep.len() == width {
                    row
                } else {
                    keep.iter().filter_map(|i| row.get(*i).cloned()).collect()
                };
                inserter.push(conn, row).await?;
                count += 1;
            }
        }
        inserter.finish(conn).await?;
        if !existing {
            conn.query_drop("COMMIT")
                .await
                .ctx(|| format!("cannot finish loading {name}"))?;
            self.add_keys(&name).await?;
        }
        *self.rows.entry(name.to_string()).or_default() += count;
        Ok(count)
    }

    async fn commit(mut self: Box<Self>) -> Result<RestoreSummary, SourceError> {
        let result = self.finish().await;
        if result.is_err() {
            self.cleanup().await;
        }
        result
    }

    async fn rehearse(mut self: Box<Self>) -> Result<RestoreSummary, SourceError> {
        let result = self.prepare_swap().await;
        self.cleanup().await;
        result?;
        Ok(RestoreSummary {
            rows: std::mem::take(&mut self.rows),
            warnings: std::mem::take(&mut self.warnings),
            method: "loaded, checked and rolled back".into(),
        })
    }

    async fn rollback(mut self: Box<Self>) -> Result<(), SourceError> {
        self.cleanup().await;
        Ok(())
    }
}

impl MysqlSession {
    /// Everything before the point of no return that can fail: the keys
    /// and foreign keys of the new tables (still under their work names).
    async fn prepare_swap(&mut self) -> Result<(), SourceError> {
        let fresh = self.fresh_order.clone();
        for name in &fresh {
            self.add_keys(name).await?;
        }
        // foreign keys of new tables point at work names until the swap;
        // InnoDB follows the rename
        let works = self.work_names();
        for name in &fresh {
            let Some(Route::Fresh { work, fks, .. }) = self.tables.get(name) else {
                continue;
            };
            // a replaced table's key names are still taken by the old
            // table: its keys are added after the swap
            if fks.is_empty() || self.replaced.contains(&name.name) {
                continue;
            }
            let adds: Vec<String> = fks
                .iter()
                .map(|fk| {
                    let mut fk = fk.clone();
                    for (real, w) in &works {
                        fk = fk.replace(
                            &format!("REFERENCES {} (", quote(real)),
                            &format!("REFERENCES {} (", quote(w)),
                        );
                    }
                    format!("ADD {fk}")
                })
                .collect();
            let sql = format!("ALTER TABLE {} {}", quote(work), adds.join(", "));
            self.ddl()?
                .query_drop(sql)
                .await
                .ctx(|| format!("cannot add the foreign keys of table {name}"))?;
        }
        Ok(())
    }

    /// Real name -> work name of every new table.
    fn work_names(&self) -> HashMap<String, String> {
        self.fresh_order
            .iter()
            .filter_map(|n| match self.tables.get(n) {
                Some(Route::Fresh { work, .. }) => Some((n.name.clone(), work.clone())),
                _ => None,
            })
            .collect()
    }

    async fn finish(&mut self) -> Result<RestoreSummary, SourceError> {
        self.prepare_swap().await?;
        let fresh = self.fresh_order.clone();
        let works = self.work_names();
        let mut methods = Vec::new();
        if let Some(mut txn) = self.txn.take() {
            txn.query_drop("COMMIT")
                .await
                .ctx(|| "cannot commit the restore".to_string())?;
            let _ = txn.disconnect().await;
            methods.push("existing tables loaded in one transaction");
        }
        if !fresh.is_empty() {
            let pairs: Vec<String> = fresh
                .iter()
                .filter_map(|n| {
                    works
                        .get(&n.name)
                        .map(|w| format!("{} TO {}", quote(w), quote(&n.name)))
                })
                .collect();
            if !self.replaced.is_empty() {
                // foreign key checks are off on this connection: the keys
                // other tables hold on these names attach to the new tables
                // (a RENAME of the old ones would take the keys along)
                let old: Vec<String> = self.replaced.iter().map(|n| quote(n)).collect();
                self.ddl()?
                    .query_drop(format!("DROP TABLE {}", old.join(", ")))
                    .await
                    .ctx(|| "cannot drop the tables whose definition changed".to_string())?;
            }
            self.ddl()?
                .query_drop(format!("RENAME TABLE {}", pairs.join(", ")))
                .await
                .ctx(|| "cannot swap the restored tables in".to_string())?;
            for name in &fresh {
                let Some(Route::Fresh { fks, .. }) = self.tables.get(name) else {
                    continue;
                };
                if fks.is_empty() || !self.replaced.contains(&name.name) {
                    continue;
                }
                let adds: Vec<String> = fks.iter().map(|fk| format!("ADD {fk}")).collect();
                let sql = format!("ALTER TABLE {} {}", quote(&name.name), adds.join(", "));
                if let Err(e) = self.ddl()?.query_drop(sql).await {
                    self.warnings.push(format!(
                        "could not add the foreign keys of table {name} again: {e}"
                    ));
                }
            }
            methods.push("new tables swapped in with one RENAME TABLE");
        }
        // from here on the data is in place; what follows cannot undo it
        self.finished = true;
        let mut warnings = std::mem::take(&mut self.warnings);
        let autos: Vec<(String, i64)> = self
            .tables
            .iter()
            .filter_map(|(n, r)| match r {
                Route::Existing {
                    auto_increment: Some(a),
                } => Some((n.name.clone(), *a)),
                _ => None,
            })
            .collect();
        for (table, next) in autos {
            let sql = format!("ALTER TABLE {} AUTO_INCREMENT = {next}", quote(&table));
            if let Err(e) = self.ddl()?.query_drop(sql).await {
                warnings.push(format!("could not set AUTO_INCREMENT of {table}: {e}"));
            }
        }
        if self.whole_database
            && let Err(e) = self.restore_objects().await
        {
            warnings.push(format!("{e}"));
        }
        let lock = self.lock.clone();
        if let Some(mut conn) = self.ddl.take() {
            let _ = conn.exec_drop("SELECT RELEASE_LOCK(?)", (lock,)).await;
            let _ = conn.disconnect().await;
        }
        Ok(RestoreSummary {
            rows: std::mem::take(&mut self.rows),
            warnings,
            method: if methods.is_empty() {
                "nothing to load".to_string()
            } else {
                methods.join("; ")
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn enum_members_are_unquoted() {
        assert_eq!(
            enum_members("enum('a','b')"),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(
            enum_members("ENUM('it''s','', 'c,d')"),
            Some(vec!["it's".to_string(), String::new(), "c,d".to_string()])
        );
        assert_eq!(enum_members("varchar(3)"), None);
        assert_eq!(enum_members("set('a')"), None);
    }

    use super::*;

    const DDL: &str = "CREATE TABLE `orders` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `c` int(11) DEFAULT NULL,\n  `t` text DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `u` (`c`),\n  KEY `k` (`c`,`id`),\n  FULLTEXT KEY `ft` (`t`),\n  CONSTRAINT `fk` FOREIGN KEY (`c`) REFERENCES `customers` (`id`),\n  CONSTRAINT `chk` CHECK (`c` > 0)\n) ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4";

    #[test]
    fn ddl_is_split_for_fast_loading() {
        let (create, keys, fks) =
            split_ddl(DDL, "orders", "__tresor_x_0_orders", Some("id")).expect("split");
        assert_eq!(
            create,
            "CREATE TABLE `__tresor_x_0_orders` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `c` int(11) DEFAULT NULL,\n  `t` text DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  FULLTEXT KEY `ft` (`t`),\n  CONSTRAINT `chk` CHECK (`c` > 0)\n) ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4"
        );
        assert_eq!(keys, ["UNIQUE KEY `u` (`c`)", "KEY `k` (`c`,`id`)"]);
        assert_eq!(
            fks,
            ["CONSTRAINT `fk` FOREIGN KEY (`c`) REFERENCES `customers` (`id`)"]
        );
    }

    #[test]
    fn work_names_fit() {
        let long = "x".repeat(64);
        assert_eq!(work_name("abcd1234", 3, &long).chars().count(), 64);
        assert_eq!(work_name("abcd1234", 3, "t"), "__tresor_abcd1234_3_t");
    }

    #[test]
    fn types_normalise() {
        assert_eq!(normalise_type("int(11) unsigned"), "int unsigned");
        assert_eq!(normalise_type("INT"), "int");
        assert_eq!(normalise_type("tinyint(1)"), "tinyint(1)");
        assert_eq!(normalise_type("varchar(20)"), "varchar(20)");
    }
}
