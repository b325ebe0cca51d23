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

mod check;
mod ddl;
mod finish;
mod load;
mod references;
mod session;

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use tresor_core::{
    Engine, ErrorKind, ExistingTable, OtherSession, RestorePlan, SourceError, TableName, Target,
    TargetHold, TargetSession, TargetState,
};

use crate::catalog::{WORK_PREFIX, text_col};
use crate::error::Context;
use crate::sql::quote;
use crate::url::{Endpoint, Role};
use session::MysqlSession;

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
        Engine::MYSQL
    }

    fn approximate_type(&self, p: &tresor_core::PortableType) -> Option<tresor_core::TypeChange> {
        crate::portable::type_change(p)
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

    async fn other_sessions(&self) -> Result<Vec<OtherSession>, SourceError> {
        let db = &self.endpoint.database;
        let mut conn = self.endpoint.connect(Role::Target).await?;
        let rows: Vec<(u64, String, String, String, Option<String>, bool)> = conn
            .exec(
                "SELECT p.ID, p.USER, p.HOST, p.COMMAND, p.STATE, \
                        EXISTS (SELECT 1 FROM information_schema.INNODB_TRX t \
                                WHERE t.trx_mysql_thread_id = p.ID) \
                 FROM information_schema.PROCESSLIST p \
                 WHERE p.DB = ? AND p.ID <> CONNECTION_ID() \
                   AND p.COMMAND NOT IN ('Daemon', 'Binlog Dump') \
                 ORDER BY p.ID",
                (db.as_str(),),
            )
            .await
            .ctx(|| "cannot list the database's sessions".to_string())?;
        let _ = conn.disconnect().await;
        Ok(rows
            .into_iter()
            .map(|(id, user, host, command, state, in_transaction)| {
                let doing = match (command.as_str(), in_transaction) {
                    ("Sleep", true) => "idle in transaction".to_string(),
                    ("Sleep", false) => "idle".to_string(),
                    (c, _) => match state.filter(|s| !s.is_empty()) {
                        Some(s) => format!("{}: {}", c.to_lowercase(), s.to_lowercase()),
                        None => c.to_lowercase(),
                    },
                };
                OtherSession {
                    id: id.to_string(),
                    application: String::new(),
                    user,
                    // the port changes with every connection
                    host: host
                        .rsplit_once(':')
                        .map_or_else(|| host.clone(), |(h, _)| h.to_string()),
                    state: doing,
                }
            })
            .collect())
    }

    async fn drop_database(&self) -> Result<(), SourceError> {
        let db = &self.endpoint.database;
        let mut conn = self.endpoint.connect(Role::Target).await?;
        conn.query_drop(format!("DROP DATABASE IF EXISTS {}", quote(db)))
            .await
            .ctx(|| format!("cannot drop database {db}"))
    }

    async fn begin(&self, plan: &RestorePlan) -> Result<Box<dyn TargetSession>, SourceError> {
        self.start(plan, None).await
    }

    fn holds_writes(&self) -> bool {
        true
    }

    /// The restore's transaction over the existing tables, begun before
    /// the safety snapshot: a locking read of every row of each table the
    /// restore changes or drops (`FOR UPDATE`, which in `REPEATABLE READ`
    /// also locks the gaps, so no row can be added) keeps other sessions
    /// from writing them while their plain reads, the safety snapshot's
    /// included, go on from MVCC.
    async fn hold(&self, plan: &RestorePlan) -> Result<Box<dyn TargetHold>, SourceError> {
        let db = self.endpoint.database.clone();
        let mut txn = session::start_transaction(&self.endpoint, plan, true).await?;
        let changed: Vec<&str> = plan
            .tables
            .iter()
            .chain(&plan.drop)
            .map(|n| n.name.as_str())
            .collect();
        for t in table_names(&mut txn, &db).await? {
            if !changed.contains(&t.as_str()) {
                continue;
            }
            let locked = txn
                .query_drop(format!("SELECT COUNT(*) FROM {} FOR UPDATE", quote(&t)))
                .await
                .ctx(|| format!("cannot hold table {t} against other sessions' writes"));
            if let Err(e) = locked {
                // the restore's own locks go first, then who holds the rows
                let _ = txn.query_drop("ROLLBACK").await;
                let e = session::name_holders(&mut txn, &db, None, e).await;
                let _ = txn.disconnect().await;
                return Err(e);
            }
        }
        Ok(Box::new(Held {
            target: MysqlTarget {
                endpoint: self.endpoint.clone(),
            },
            plan: plan.clone(),
            txn,
        }))
    }
}

/// A restore's transaction holding the existing tables against writes
/// while the safety snapshot reads them (see [`MysqlTarget::hold`]).
struct Held {
    target: MysqlTarget,
    plan: RestorePlan,
    txn: Conn,
}

#[async_trait]
impl TargetHold for Held {
    async fn begin(self: Box<Self>) -> Result<Box<dyn TargetSession>, SourceError> {
        let Held { target, plan, txn } = *self;
        target.start(&plan, Some(txn)).await
    }

    async fn release(self: Box<Self>) -> Result<(), SourceError> {
        let mut txn = self.txn;
        txn.query_drop("ROLLBACK")
            .await
            .ctx(|| "cannot end the restore's transaction".to_string())?;
        txn.disconnect()
            .await
            .ctx(|| "cannot close the restore's transaction".to_string())
    }
}

impl MysqlTarget {
    /// Begins a restore of `plan`, in the transaction [`hold`] began when
    /// given one (`held`).
    ///
    /// [`hold`]: Target::hold
    async fn start(
        &self,
        plan: &RestorePlan,
        held: Option<Conn>,
    ) -> Result<Box<dyn TargetSession>, SourceError> {
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
        ddl.query_drop(format!(
            "SET SESSION foreign_key_checks = 0, unique_checks = 0, {}",
            session::lock_waits(plan.lock_wait)
        ))
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
            dropped: Vec::new(),
            keys_named_by_dropped: std::collections::HashSet::new(),
            staged: Vec::new(),
            foreign: plan.schema.engine != Engine::MYSQL,
            created_db,
            rows: BTreeMap::new(),
            warnings: Vec::new(),
            changes: tresor_core::ValueChanges::new(plan.strict),
            finished: false,
        };
        match session.prepare(plan, &self.endpoint, held).await {
            Ok(()) => Ok(Box::new(session)),
            Err(e) => {
                let e = session.name_holders(e).await;
                session.cleanup().await;
                Err(e)
            }
        }
    }
}
