//! One restore in progress: its two connections, the route of every
//! planned table, and what is dropped when it does not commit.

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use tresor_core::{
    Engine, ErrorKind, RestoreMode, RestorePlan, RestoreSummary, RowReceiver, SchemaObject,
    SourceError, TableName, TableSchema, TargetSession,
};

use super::check::{check_compatible, target_columns};
use super::ddl::{split_ddl, work_name};
use super::table_names;
use crate::catalog::{WORK_PREFIX, text_col};
use crate::error::Context;
use crate::sql::quote;
use crate::url::{Endpoint, Role};

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
pub(super) enum Route {
    /// Created under `work`, swapped in at commit.
    Fresh {
        work: String,
        keys: Vec<String>,
        fks: Vec<String>,
        keys_added: bool,
    },
    /// Already in the target: loaded in the transaction. `keyed`: it has
    /// a primary key, which a merge upserts by (else the merge adds the
    /// rows it lacks), whatever key the snapshot's table had.
    Existing {
        auto_increment: Option<i64>,
        keyed: bool,
        /// Per column, what the existing column keeps of the snapshot's
        /// values when it may keep less (a `DECIMAL(10,2)` for three
        /// places, a `DATETIME` for fractions of a second).
        keeps: Vec<(String, tresor_core::Keeps)>,
        /// The columns that keep a kind of value in a form of their own
        /// (a UUID as its 32 hex digits in a `char(32)`, as Django declares
        /// a `UUIDField` here; an interval as microseconds in a `bigint`,
        /// its `DurationField`).
        forms: Vec<(String, tresor_core::AppForm)>,
    },
}

/// A merge into a table without transactions, staged (see
/// [`MysqlSession::staged`]).
pub(super) struct Staged {
    pub(super) table: String,
    pub(super) stage: String,
    pub(super) columns: Vec<String>,
    pub(super) keys: Vec<String>,
}

/// One restore in progress.
pub(super) struct MysqlSession {
    pub(super) db: String,
    /// DDL and work-table loads (autocommit between per-table transactions).
    pub(super) ddl: Option<Conn>,
    /// The transaction over existing tables, if any.
    pub(super) txn: Option<Conn>,
    pub(super) lock: String,
    pub(super) mode: RestoreMode,
    pub(super) whole_database: bool,
    pub(super) objects: Vec<SchemaObject>,
    pub(super) tables: HashMap<TableName, Route>,
    /// Real names of the fresh tables, in plan order.
    pub(super) fresh_order: Vec<TableName>,
    /// Tables whose definition changed since the backup: made again
    /// under work names like new ones, and dropped just before the swap.
    pub(super) replaced: Vec<String>,
    /// Tables the snapshot lacks (`--drop-extra-tables`), dropped with the
    /// replaced ones just before the swap.
    pub(super) dropped: Vec<String>,
    /// New tables whose foreign keys are named like one a dropped table
    /// holds (a table renamed since the backup): added after the swap,
    /// like those of replaced tables.
    pub(super) keys_named_by_dropped: HashSet<String>,
    /// Tables without transactions a merge goes into: the snapshot's rows
    /// are loaded into a stage made like the table (a dry run and a
    /// failed restore drop it, the table untouched) and merged into the
    /// table with one statement after the commit.
    pub(super) staged: Vec<Staged>,
    /// Whether the snapshot is of another engine.
    pub(super) foreign: bool,
    pub(super) created_db: bool,
    pub(super) rows: BTreeMap<String, u64>,
    pub(super) warnings: Vec<String>,
    /// Values written in another form (a NaN as NULL).
    pub(super) changes: tresor_core::ValueChanges,
    pub(super) finished: bool,
}

impl MysqlSession {
    pub(super) fn ddl(&mut self) -> Result<&mut Conn, SourceError> {
        self.ddl
            .as_mut()
            .ok_or_else(|| SourceError::new(ErrorKind::Engine, "restore session already closed"))
    }

    /// Checks existing tables, creates work tables, opens the transaction.
    pub(super) async fn prepare(
        &mut self,
        plan: &RestorePlan,
        endpoint: &Endpoint,
        mut held: Option<Conn>,
    ) -> Result<(), SourceError> {
        let db = self.db.clone();
        self.drop_orphans().await?;
        let existing = target_columns(self.ddl()?, &db).await?;
        let keyed: HashSet<String> = self
            .ddl()?
            .exec(
                "SELECT TABLE_NAME FROM information_schema.TABLE_CONSTRAINTS \
                 WHERE CONSTRAINT_SCHEMA = ? AND CONSTRAINT_TYPE = 'PRIMARY KEY'",
                (&db,),
            )
            .await
            .ctx(|| "cannot read the target's primary keys".to_string())?
            .into_iter()
            .collect();
        let run = self.lock.trim_start_matches("tresor_restore_").to_string();
        let engines = untransacted_tables(self.ddl()?, &db).await?;
        let mut mismatches = Vec::new();
        let mut creates = Vec::new();
        for (n, name) in plan.tables.iter().enumerate() {
            let table = plan.schema.table(name).ok_or_else(|| {
                SourceError::new(
                    ErrorKind::NotFound,
                    format!("table {name} is not in the snapshot"),
                )
            })?;
            // a table of an engine without transactions (MyISAM, Aria)
            // cannot take rows inside the restore's transaction: a dry run
            // or a failed restore would have changed it. Replaced, it is
            // made anew and swapped in like a table whose definition
            // changed; merged, the rows go into a stage made like it,
            // merged into it after the commit. Another engine's rows are
            // converted on their way into the table itself, still loaded
            // in place
            let untransacted = engines
                .get(&name.name)
                .filter(|_| existing.contains_key(&name.name) && !self.foreign);
            if untransacted.is_some() && self.mode == RestoreMode::Merge {
                let stage = work_name(&run, n, &name.name);
                creates.push(format!(
                    "CREATE TABLE {} LIKE {}",
                    quote(&stage),
                    quote(&name.name)
                ));
                // merged by the target's primary key, or by the rows'
                // values where it has none
                let keys = match &table.row_key {
                    tresor_core::RowKey::Columns { columns } if keyed.contains(&name.name) => {
                        columns.clone()
                    }
                    _ => Vec::new(),
                };
                self.staged.push(Staged {
                    table: name.name.clone(),
                    stage: stage.clone(),
                    columns: table.stored_columns().map(|c| c.name.clone()).collect(),
                    keys,
                });
                self.tables.insert(
                    name.clone(),
                    Route::Fresh {
                        work: stage,
                        keys: Vec::new(),
                        fks: Vec::new(),
                        keys_added: true,
                    },
                );
                continue;
            }
            if existing.contains_key(&name.name)
                && (plan.recreate.contains(name) || untransacted.is_some())
            {
                self.replaced.push(name.name.clone());
            } else if let Some(cols) = existing.get(&name.name) {
                check_compatible(table, cols, self.foreign, &mut mismatches);
                let keeps = table
                    .stored_columns()
                    .filter_map(|c| {
                        let (_, t) = cols.iter().find(|(n, _)| *n == c.name)?;
                        let k = tresor_core::Keeps::to_check(
                            c,
                            plan.schema.engine,
                            &t.column_type,
                            true,
                        )?;
                        Some((c.name.clone(), k))
                    })
                    .collect();
                let forms = cols
                    .iter()
                    .filter_map(|(n, t)| {
                        Some((n.clone(), tresor_core::AppForm::of(&t.column_type)?))
                    })
                    .collect();
                self.tables.insert(
                    name.clone(),
                    Route::Existing {
                        // the source's counter (another engine's too)
                        auto_increment: plan.schema.next_number(table),
                        keyed: keyed.contains(&name.name),
                        keeps,
                        forms,
                    },
                );
                continue;
            }
            // another engine's table is made from the portable model
            let mut portable;
            let ddl = if plan.schema.engine == Engine::MYSQL {
                table.ddl.as_deref().ok_or_else(|| {
                    SourceError::new(
                        ErrorKind::Unsupported,
                        format!("table {name} has no mysql definition in the snapshot"),
                    )
                    .with_hint("create the table in the target first, then restore into it")
                })?
            } else {
                portable = crate::portable::create_table(table, plan.schema.engine);
                // the source's counter, so that the numbers of rows it
                // deleted before the backup are not given again
                if let Some(next) = plan
                    .schema
                    .next_number(table)
                    .filter(|n| *n > 1 && portable.contains(" AUTO_INCREMENT"))
                {
                    portable.push_str(&format!(" AUTO_INCREMENT={next}"));
                }
                portable.as_str()
            };
            let work = work_name(&run, n, &name.name);
            let ai = table
                .columns
                .iter()
                .find(|c| tresor_core::auto_numbered(c))
                .map(|c| c.name.as_str());
            let (create, keys, fks) = split_ddl(ddl, &name.name, &work, ai)?;
            // a key to a table neither restored nor in the target is made
            // all the same (foreign key checks are off for the restore)
            for fk in &table.foreign_keys {
                let to = &fk.references.name;
                if !existing.contains_key(to) && !plan.tables.iter().any(|t| &t.name == to) {
                    self.warnings.push(tresor_core::key_to_a_missing_table(
                        name,
                        fk.name.as_deref(),
                        &fk.references,
                        true,
                    ));
                }
            }
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
        self.dropped = plan.drop.iter().map(|n| n.name.clone()).collect();
        self.defer_keys_named_by_dropped(&db).await?;
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
        // changed) must still be empty; the existing ones are checked in
        // the restore's transaction, locked
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
            let txn = self
                .open_transaction(plan, endpoint, &existing_planned, held.take())
                .await?;
            self.txn = Some(txn);
        }
        if let Some(mut unused) = held {
            // it held only tables the restore drops after its commit
            let _ = unused.query_drop("ROLLBACK").await;
            let _ = unused.disconnect().await;
        }
        Ok(())
    }

    /// Foreign key names are the database's: a new table cannot take one
    /// a table to drop still holds until that table is gone.
    async fn defer_keys_named_by_dropped(&mut self, db: &str) -> Result<(), SourceError> {
        if self.dropped.is_empty() {
            return Ok(());
        }
        let keys: Vec<(String, String)> = self
            .ddl()?
            .exec(
                "SELECT TABLE_NAME, CONSTRAINT_NAME FROM information_schema.TABLE_CONSTRAINTS \
                 WHERE CONSTRAINT_SCHEMA = ? AND CONSTRAINT_TYPE = 'FOREIGN KEY'",
                (db,),
            )
            .await
            .ctx(|| "cannot read the foreign keys of the tables to drop".to_string())?;
        let names: Vec<&String> = keys
            .iter()
            .filter(|(t, _)| self.dropped.contains(t))
            .map(|(_, k)| k)
            .collect();
        for (name, route) in &self.tables {
            if let Route::Fresh { fks, .. } = route
                && fks.iter().any(|fk| {
                    names
                        .iter()
                        .any(|k| fk.contains(&format!("CONSTRAINT {} ", quote(k))))
                })
            {
                self.keys_named_by_dropped.insert(name.name.clone());
            }
        }
        Ok(())
    }

    /// The transaction over the existing tables: opened, the tables
    /// emptied in replace mode, and a warning for those with triggers.
    async fn open_transaction(
        &mut self,
        plan: &RestorePlan,
        endpoint: &Endpoint,
        existing: &[TableName],
        held: Option<Conn>,
    ) -> Result<Conn, SourceError> {
        let mut txn = match held {
            Some(txn) => txn,
            None => start_transaction(endpoint, plan, false).await?,
        };
        if plan.only_missing {
            // a locking read: on an empty table it keeps inserts out until
            // the commit
            let mut holding = Vec::new();
            for name in plan.tables.iter().filter(|n| existing.contains(n)) {
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
            for name in plan.tables.iter().filter(|n| existing.contains(n)) {
                let emptied = txn
                    .query_drop(format!("DELETE FROM {}", quote(&name.name)))
                    .await
                    .ctx(|| format!("cannot empty table {name}"));
                if let Err(e) = emptied {
                    // gone before the holders are looked for
                    let _ = txn.query_drop("ROLLBACK").await;
                    let _ = txn.disconnect().await;
                    return Err(e);
                }
            }
        }
        let triggers: Vec<Row> = txn
            .exec(
                "SELECT DISTINCT EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS \
                 WHERE TRIGGER_SCHEMA = ?",
                (self.db.as_str(),),
            )
            .await
            .ctx(|| "cannot list triggers".to_string())?;
        for mut r in triggers {
            let t = text_col(&mut r, 0).unwrap_or_default();
            if existing.iter().any(|n| n.name == t) {
                self.warnings.push(format!(
                    "table {t} already existed with triggers; they fired for the restored rows"
                ));
            }
        }
        Ok(txn)
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

    /// Drops work tables, rolls back, forgets the lock. Best effort.
    pub(super) async fn cleanup(&mut self) {
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
            .chain(self.staged.iter().map(|s| s.stage.clone()))
            .collect()
    }
}

/// Drops work tables (and a database this restore created), then the lock.
pub(super) async fn drop_work(
    mut conn: Conn,
    db: String,
    works: Vec<String>,
    created_db: bool,
    lock: String,
) {
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

#[async_trait]
impl TargetSession for MysqlSession {
    async fn load_table(
        &mut self,
        table: &TableSchema,
        rows: RowReceiver,
    ) -> Result<u64, SourceError> {
        match self.load(table, rows).await {
            Ok(n) => Ok(n),
            Err(e) => Err(self.name_holders(e).await),
        }
    }

    async fn commit(mut self: Box<Self>) -> Result<RestoreSummary, SourceError> {
        match self.finish().await {
            Ok(summary) => Ok(summary),
            Err(e) => {
                let e = self.name_holders(e).await;
                self.cleanup().await;
                Err(e)
            }
        }
    }

    async fn rehearse(mut self: Box<Self>) -> Result<RestoreSummary, SourceError> {
        let result = self.prepare_swap().await;
        self.cleanup().await;
        result?;
        Ok(RestoreSummary {
            rows: std::mem::take(&mut self.rows),
            warnings: std::mem::take(&mut self.warnings),
            changed_values: self.changes.take(),
            method: "loaded, checked and rolled back".into(),
        })
    }

    async fn rollback(mut self: Box<Self>) -> Result<(), SourceError> {
        self.cleanup().await;
        Ok(())
    }
}

/// A session with a transaction open: id, user, host, command, seconds
/// open, its query.
type OpenTransaction = (u32, String, String, String, i64, String);

impl MysqlSession {
    /// A lock wait's error, naming the sessions with a transaction open
    /// in the database (the likely holders: the server keeps no record of
    /// who held a lock once the wait is over); any other error as it is.
    pub(super) async fn name_holders(&mut self, e: SourceError) -> SourceError {
        let own = self.txn.as_ref().map(Conn::id);
        let db = self.db.clone();
        let Ok(conn) = self.ddl() else {
            return e;
        };
        name_holders(conn, &db, own, e).await
    }
}

/// A connection to the target with the restore's transaction started:
/// foreign key checks off and the waits of `plan` (and, for [`hold`]'s
/// locking read, which must also lock the gaps, `REPEATABLE READ`).
///
/// [`hold`]: tresor_core::Target::hold
pub(super) async fn start_transaction(
    endpoint: &Endpoint,
    plan: &RestorePlan,
    repeatable_read: bool,
) -> Result<Conn, SourceError> {
    let mut txn = endpoint.connect_db(Role::Target).await?;
    let isolation = if repeatable_read {
        "; SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"
    } else {
        ""
    };
    txn.query_drop(format!(
        "SET SESSION foreign_key_checks = 0, {}{isolation}",
        lock_waits(plan.lock_wait)
    ))
    .await
    .ctx(|| "cannot set up the restore transaction".to_string())?;
    txn.query_drop("START TRANSACTION")
        .await
        .ctx(|| "cannot start the restore transaction".to_string())?;
    Ok(txn)
}

/// `e`, a lock wait that gave up, with the sessions that have a
/// transaction open in database `db` named (the likely holders), the
/// restore's own (`own`) and `conn`'s left out.
pub(super) async fn name_holders(
    conn: &mut Conn,
    db: &str,
    own: Option<u32>,
    e: SourceError,
) -> SourceError {
    if !crate::error::is_lock_wait(&e) {
        return e;
    }
    let rows: Result<Vec<OpenTransaction>, _> = conn
        .exec(
            "SELECT p.ID, p.USER, p.HOST, p.COMMAND, \
                        TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), \
                        LEFT(COALESCE(t.trx_query, p.INFO, ''), 120) \
                 FROM information_schema.INNODB_TRX t \
                 JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
                 WHERE p.ID <> CONNECTION_ID() AND (p.DB = ? OR p.DB IS NULL) \
                 ORDER BY t.trx_started",
            (db,),
        )
        .await;
    let Ok(rows) = rows else {
        return e;
    };
    let mut details = String::new();
    for (id, user, host, command, secs, query) in rows {
        if Some(id) == own {
            continue;
        }
        let host = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
        let query = query.split_whitespace().collect::<Vec<_>>().join(" ");
        let doing = match command.as_str() {
            "Sleep" => "idle".to_string(),
            "Query" if !query.is_empty() => format!("running: {query}"),
            other => other.to_lowercase(),
        };
        details.push_str(&format!(
                "\n  session {id} (user {user}, from {host}) has had a transaction open for {secs}s, {doing}"
            ));
        details.push_str(&format!(" (KILL {id} ends it)"));
    }
    e.with_details(&details)
}

/// The session settings that bound each of the restore's lock waits (a
/// table's metadata lock, a row another session wrote) by `wait`: whole
/// seconds, at least one, as the server counts them.
pub(super) fn lock_waits(wait: std::time::Duration) -> String {
    let secs = crate::sql::wait_secs(wait);
    format!("lock_wait_timeout = {secs}, innodb_lock_wait_timeout = {secs}")
}

/// The target's tables of an engine without transactions (MyISAM, Aria,
/// MEMORY, ...), with their engine.
async fn untransacted_tables(
    conn: &mut Conn,
    db: &str,
) -> Result<HashMap<String, String>, SourceError> {
    let rows: Vec<(String, String)> = conn
        .exec(
            "SELECT t.TABLE_NAME, t.ENGINE FROM information_schema.TABLES t \
             JOIN information_schema.ENGINES e ON e.ENGINE = t.ENGINE \
             WHERE t.TABLE_SCHEMA = ? AND t.TABLE_TYPE = 'BASE TABLE' \
               AND COALESCE(e.TRANSACTIONS, 'NO') <> 'YES'",
            (db,),
        )
        .await
        .ctx(|| "cannot read the engines of the target's tables".to_string())?;
    Ok(rows.into_iter().collect())
}
