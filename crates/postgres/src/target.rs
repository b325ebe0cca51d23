//! The PostgreSQL [`Target`]: one transaction for the whole restore.
//!
//! Into tables that do not exist yet it works like `pg_restore`: create
//! schemas, types, functions, sequences and bare tables, load with binary
//! `COPY`, then add constraints, indexes, foreign keys, sequence values,
//! views, triggers and comments. Into existing tables it first checks every
//! column, then truncates (replace) or upserts (merge).
//!
//! [`session`] holds the transaction and the checks of the target, [`ddl`]
//! creates what is missing, [`load`] streams the rows and [`finish`] adds
//! what comes after the data.

mod ddl;
mod finish;
mod large_objects;
mod load;
mod locks;
mod lossy;
mod session;

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use tokio_postgres::Client;
use tresor_core::{
    Approximation, Engine, ErrorKind, ExistingTable, OtherSession, RestorePlan, SourceError,
    TableName, TableSchema, Target, TargetHold, TargetSession, TargetState,
};

use crate::error::pg_error;
use crate::types::{TypeMap, ident, qualified, rel_name};
use crate::url::ConnInfo;
use crate::versions::{Fit, ServerVersion, TargetServer};
use session::PgSession;

/// A PostgreSQL database to restore into.
#[derive(Clone, Debug)]
pub struct PostgresTarget {
    info: ConnInfo,
}

impl PostgresTarget {
    /// A target for a `postgres://` or `postgresql://` URL. The database is
    /// created when it does not exist. `?restore_roles=true` also restores
    /// roles, owners and grants recorded in the snapshot.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidUrl`] for malformed URLs.
    pub fn new(url: &str) -> Result<Self, SourceError> {
        Ok(PostgresTarget {
            info: ConnInfo::parse(url)?,
        })
    }
}

/// Tables without a schema (the public schema, or engines without
/// schemas) land in `public`.
fn target_name(n: &TableName) -> TableName {
    crate::types::full_name(n)
}

async fn exec(
    client: &Client,
    sql: &str,
    what: impl FnOnce() -> String,
) -> Result<(), SourceError> {
    client
        .batch_execute(sql)
        .await
        .map_err(|e| pg_error(what(), e))
}

#[async_trait]
impl Target for PostgresTarget {
    fn engine(&self) -> Engine {
        Engine::POSTGRES
    }

    fn approximate_type(&self, p: &tresor_core::PortableType) -> Option<tresor_core::TypeChange> {
        ddl::type_change(p)
    }

    async fn inspect(&self) -> Result<TargetState, SourceError> {
        let client = match self.info.connect().await {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(TargetState::default()),
            Err(e) => return Err(e),
        };
        // an extension's own tables (PostGIS' spatial_ref_sys) are the
        // extension's, as in a backup: never restored, never dropped
        let sql = format!(
            "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND {} AND {} \
             ORDER BY 1, 2",
            crate::catalog::USER_NS,
            crate::catalog::not_ext("pg_catalog.pg_class", "c.oid")
        );
        let rows = client
            .query(&sql, &[])
            .await
            .map_err(|e| pg_error("cannot list tables", e))?;
        let mut tables = Vec::with_capacity(rows.len());
        for r in rows {
            let name = rel_name(r.get::<_, String>(0), r.get::<_, String>(1));
            let count: i64 = client
                .query_one(&format!("SELECT count(*) FROM {}", qualified(&name)), &[])
                .await
                .map_err(|e| pg_error(format!("cannot count rows of {name}"), e))?
                .get(0);
            tables.push(ExistingTable {
                name,
                rows: count as u64,
            });
        }
        if let Some(parts) = crate::catalog::large_objects::count_parts(&client).await? {
            tables.push(ExistingTable {
                name: crate::catalog::large_objects::table_name(),
                rows: parts,
            });
        }
        Ok(TargetState {
            exists: true,
            tables,
        })
    }

    async fn other_sessions(&self) -> Result<Vec<OtherSession>, SourceError> {
        let client = match self.info.connect().await {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let rows = client
            .query(
                "SELECT pid::text, coalesce(application_name, ''), coalesce(usename::text, ''), \
                        coalesce(host(client_addr), ''), coalesce(state, '') \
                 FROM pg_catalog.pg_stat_activity \
                 WHERE datname = pg_catalog.current_database() \
                   AND pid <> pg_catalog.pg_backend_pid() AND backend_type = 'client backend' \
                   AND application_name IS DISTINCT FROM 'tresor' \
                 ORDER BY backend_start, pid",
                &[],
            )
            .await
            .map_err(|e| pg_error("cannot list the database's sessions", e))?;
        Ok(rows
            .iter()
            .map(|r| OtherSession {
                id: r.get(0),
                application: r.get(1),
                user: r.get(2),
                host: r.get(3),
                state: r.get(4),
            })
            .collect())
    }

    async fn drop_database(&self) -> Result<(), SourceError> {
        let admin = self.info.with_dbname("postgres").connect().await?;
        crate::versions::drop_database(&admin, &self.info.dbname).await
    }

    /// A snapshot of another PostgreSQL major, fitted to this server (see
    /// `versions`): what the restore rewrites, for the tables it makes.
    async fn version_approximations(
        &self,
        plan: &RestorePlan,
        state: &TargetState,
    ) -> Result<Vec<Approximation>, SourceError> {
        if plan.schema.engine != Engine::POSTGRES {
            return Ok(lossy::zero_date_defaults(plan, state));
        }
        let client = match self.info.connect().await {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.info.with_dbname("postgres").connect().await?
            }
            Err(e) => return Err(e),
        };
        let fit = Fit::new(
            &plan.schema,
            ServerVersion::of_snapshot(&plan.schema),
            TargetServer::read(&client).await?,
            plan.privileges || self.info.restore_roles,
        );
        fit.check()?;
        let made = |t: &TableName| state.table(t).is_none() || plan.recreate.contains(t);
        let all_made = plan.tables.iter().all(made);
        Ok(fit.approximations(made, all_made))
    }

    async fn begin(&self, plan: &RestorePlan) -> Result<Box<dyn TargetSession>, SourceError> {
        let (client, created_db) = match self.info.connect().await {
            Ok(c) => (c, false),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let admin = self.info.with_dbname("postgres").connect().await?;
                exec(
                    &admin,
                    &format!("CREATE DATABASE {}", ident(&self.info.dbname)),
                    || format!("cannot create database {}", self.info.dbname),
                )
                .await
                .map_err(|e| {
                    if e.kind() == ErrorKind::Permission {
                        e.with_hint(format!(
                            "try: create it first as a user allowed to (createdb {}), or grant \
                             this user CREATEDB; a drill can use a database made for it \
                             (--target)",
                            self.info.dbname
                        ))
                    } else {
                        e
                    }
                })?;
                (self.info.connect().await?, true)
            }
            Err(e) => return Err(e),
        };
        PgSession::new(client, self.info.clone(), created_db, plan)
            .started()
            .await
    }

    fn holds_writes(&self) -> bool {
        true
    }

    async fn hold(&self, plan: &RestorePlan) -> Result<Box<dyn TargetHold>, SourceError> {
        let client = self.info.connect().await?;
        let mut session = PgSession::new(client, self.info.clone(), false, plan);
        match session.hold_writes().await {
            Ok(()) => Ok(Box::new(Held(session))),
            Err(e) => {
                session.abandon().await;
                Err(e)
            }
        }
    }
}

/// A restore's transaction holding the tables against writes while the
/// safety snapshot reads them (see [`PgSession::hold_writes`]).
struct Held(PgSession);

#[async_trait]
impl TargetHold for Held {
    async fn begin(self: Box<Self>) -> Result<Box<dyn TargetSession>, SourceError> {
        self.0.started().await
    }

    async fn release(self: Box<Self>) -> Result<(), SourceError> {
        let mut session = self.0;
        session.abandon().await;
        Ok(())
    }
}

impl PgSession {
    /// The session, prepared (its transaction open, unless [`hold`] opened
    /// it, and its tables checked or made), or abandoned on failure.
    ///
    /// [`hold`]: Target::hold
    async fn started(mut self) -> Result<Box<dyn TargetSession>, SourceError> {
        match self.prepare().await {
            Ok(()) => Ok(Box::new(self)),
            Err(e) => {
                self.abandon().await;
                Err(e)
            }
        }
    }

    fn new(client: Client, info: ConnInfo, created_db: bool, plan: &RestorePlan) -> Self {
        // the large objects are loaded apart (see `large_objects`)
        let tables_only = |names: &[TableName]| -> Vec<TableName> {
            names
                .iter()
                .filter(|n| {
                    !plan
                        .schema
                        .table(n)
                        .is_some_and(TableSchema::is_large_objects)
                })
                .cloned()
                .collect()
        };
        PgSession {
            client,
            info,
            created_db,
            begun: false,
            schema: plan.schema.clone(),
            mode: plan.mode,
            whole_database: plan.whole_database,
            privileges: plan.privileges,
            only_missing: plan.only_missing,
            plan_tables: tables_only(&plan.tables),
            inbound_keys: plan.inbound_keys.clone(),
            recreate: tables_only(&plan.recreate),
            drop: plan.drop.clone(),
            drop_extra_types: plan.drop_extra_types,
            lock_wait: plan.lock_wait,
            large_objects: plan
                .schema
                .tables
                .iter()
                .find(|t| t.is_large_objects() && plan.tables.contains(&t.name))
                .cloned(),
            tables: HashMap::new(),
            types: TypeMap::new(),
            conversions: HashMap::new(),
            pgcrypto: None,
            created: HashSet::new(),
            readd: Vec::new(),
            views_dropped: HashSet::new(),
            rows: BTreeMap::new(),
            warnings: Vec::new(),
            changes: tresor_core::ValueChanges::new(plan.strict),
            stage_counter: 0,
            done: false,
        }
    }
}
