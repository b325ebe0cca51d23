//! The PostgreSQL [`Target`]: one transaction for the whole restore.
//!
//! Into tables that do not exist yet it works like `pg_restore`: create
//! schemas, types, functions, sequences and bare tables, load with binary
//! `COPY`, then add constraints, indexes, foreign keys, sequence values,
//! views, triggers and comments. Into existing tables it first checks every
//! column, then truncates (replace) or upserts (merge).

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use bytes::BytesMut;
use futures::SinkExt;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;
use tresor_core::{
    DatabaseSchema, Engine, ErrorKind, ExistingTable, PortableType, RestoreMode, RestorePlan,
    RestoreSummary, RowReceiver, SchemaObject, SourceError, TableName, TableSchema, Target,
    TargetSession, TargetState,
};

use crate::config::ConnInfo;
use crate::encode::{ColumnEncoder, write_header, write_row, write_trailer};
use crate::error::pg_error;
use crate::types::{Codec, TypeMap, ident, load_types, qualified, rel_name};

/// Bytes of COPY data sent to the server at once.
const SEND_BYTES: usize = 1 << 20;

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
/// A SQL string literal.
fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

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
        Engine::Postgres
    }

    async fn inspect(&self) -> Result<TargetState, SourceError> {
        let client = match self.info.connect().await {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(TargetState::default()),
            Err(e) => return Err(e),
        };
        let rows = client
            .query(
                "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
                   AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                   AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
                 ORDER BY 1, 2",
                &[],
            )
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
        Ok(TargetState {
            exists: true,
            tables,
        })
    }

    async fn drop_database(&self) -> Result<(), SourceError> {
        let admin = self.info.with_dbname("postgres").connect().await?;
        exec(
            &admin,
            &format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                ident(&self.info.dbname)
            ),
            || format!("cannot drop database {}", self.info.dbname),
        )
        .await
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
                .await?;
                (self.info.connect().await?, true)
            }
            Err(e) => return Err(e),
        };
        let mut session = PgSession {
            client,
            info: self.info.clone(),
            created_db,
            schema: plan.schema.clone(),
            mode: plan.mode,
            whole_database: plan.whole_database,
            privileges: plan.privileges,
            only_missing: plan.only_missing,
            plan_tables: plan.tables.clone(),
            recreate: plan.recreate.clone(),
            tables: HashMap::new(),
            types: TypeMap::new(),
            created: HashSet::new(),
            readd: Vec::new(),
            rows: BTreeMap::new(),
            warnings: Vec::new(),
            stage_counter: 0,
            done: false,
        };
        match session.prepare().await {
            Ok(()) => Ok(Box::new(session)),
            Err(e) => {
                session.abandon().await;
                Err(e)
            }
        }
    }
}

/// A column of a table in the target.
#[derive(Clone, Debug)]
struct TargetColumn {
    name: String,
    typid: u32,
    type_text: String,
    base_type: String,
    generated: bool,
    not_null: bool,
    has_default: bool,
}

#[derive(Clone, Debug)]
struct TargetTable {
    columns: Vec<TargetColumn>,
    primary_key: Vec<String>,
    /// Created by this restore (so empty, without constraints yet).
    fresh: bool,
}

struct PgSession {
    client: Client,
    info: ConnInfo,
    created_db: bool,
    schema: DatabaseSchema,
    mode: RestoreMode,
    whole_database: bool,
    /// Roles, owners, grants and default privileges too (`--with-privileges`).
    privileges: bool,
    /// Every planned table must be missing or empty (`--only-missing`).
    only_missing: bool,
    plan_tables: Vec<TableName>,
    /// Tables to make again as the snapshot had them.
    recreate: Vec<TableName>,
    tables: HashMap<TableName, TargetTable>,
    types: TypeMap,
    /// Relations this restore created.
    created: HashSet<TableName>,
    /// Statements that put back what the restore set aside (foreign keys,
    /// triggers) before commit.
    readd: Vec<String>,
    rows: BTreeMap<String, u64>,
    warnings: Vec<String>,
    stage_counter: u32,
    done: bool,
}

fn same_family(a: &str, b: &str) -> bool {
    const FAMILIES: &[&[&str]] = &[
        &["smallint", "integer", "bigint", "numeric", "oid"],
        &[
            "text",
            "character varying",
            "character",
            "name",
            "citext",
            "\"char\"",
        ],
        &["real", "double precision"],
        &["json", "jsonb"],
        &["bit", "bit varying"],
    ];
    let strip = |s: &str| s.split('(').next().unwrap_or(s).trim().to_string();
    let (a, b) = (strip(a), strip(b));
    a == b
        || FAMILIES
            .iter()
            .any(|f| f.contains(&a.as_str()) && f.contains(&b.as_str()))
}

/// PostgreSQL type for a portable type, for snapshots of other engines.
use tresor_core::convert::portable_of;

/// The primary key without SQLite's implicit rowid, which is no column
/// anywhere else.
fn visible_key(t: &TableSchema) -> Vec<String> {
    if t.primary_key
        .iter()
        .any(|k| t.column(k).is_some_and(|c| c.hidden))
    {
        return Vec::new();
    }
    t.primary_key.clone()
}

fn pg_type_for(p: &PortableType) -> String {
    match p {
        PortableType::Bool => "boolean".into(),
        PortableType::Int { bits, unsigned } => match (bits, unsigned) {
            (..=16, false) => "smallint".into(),
            (..=16, true) | (17..=32, false) => "integer".into(),
            (17..=32, true) | (_, false) => "bigint".into(),
            (_, true) => "numeric(20,0)".into(),
        },
        PortableType::Float { bits } if *bits <= 32 => "real".into(),
        PortableType::Float { .. } => "double precision".into(),
        PortableType::Decimal {
            precision: Some(p),
            scale,
        } if *p <= 1000 => format!("numeric({p},{})", scale.unwrap_or(0)),
        PortableType::Decimal { .. } => "numeric".into(),
        PortableType::Text {
            max_len: Some(n),
            fixed,
        } if *n <= 10_485_760 => {
            if *fixed {
                format!("character({n})")
            } else {
                format!("character varying({n})")
            }
        }
        PortableType::Text { .. } | PortableType::Dynamic | PortableType::Enum { .. } => {
            "text".into()
        }
        PortableType::Bytes { .. } | PortableType::Document => "bytea".into(),
        PortableType::Bits { len: Some(n) } => format!("bit({n})"),
        PortableType::Bits { len: None } => "bit varying".into(),
        PortableType::Date => "date".into(),
        PortableType::Time => "time without time zone".into(),
        PortableType::TimeTz => "time with time zone".into(),
        PortableType::Timestamp => "timestamp without time zone".into(),
        PortableType::TimestampTz => "timestamp with time zone".into(),
        PortableType::Interval => "interval".into(),
        PortableType::Uuid => "uuid".into(),
        PortableType::Json => "jsonb".into(),
        PortableType::Array { element } => format!("{}[]", pg_type_for(element)),
        PortableType::Other { .. } => "text".into(),
    }
}

impl PgSession {
    async fn exec(&self, sql: &str, what: impl FnOnce() -> String) -> Result<(), SourceError> {
        exec(&self.client, sql, what).await
    }

    fn is_postgres(&self) -> bool {
        self.schema.engine == Engine::Postgres
    }

    fn planned(&self) -> Vec<&TableSchema> {
        self.plan_tables
            .iter()
            .filter_map(|n| self.schema.table(n))
            .collect()
    }

    /// Objects of `kind` in snapshot order.
    fn objects(&self, kind: &str) -> Vec<SchemaObject> {
        self.schema
            .objects
            .iter()
            .filter(|o| o.kind == kind)
            .cloned()
            .collect()
    }

    async fn prepare(&mut self) -> Result<(), SourceError> {
        self.exec(
            "BEGIN; SET LOCAL check_function_bodies = off; SET CONSTRAINTS ALL DEFERRED",
            || "cannot start the restore transaction".into(),
        )
        .await?;
        for t in self.planned() {
            if self.schema.table(&t.name).is_none() {
                return Err(SourceError::new(
                    ErrorKind::NotFound,
                    format!("table {} is not in the snapshot", t.name),
                ));
            }
        }
        // the deploy-safe restore: the tables were empty when it was
        // planned; locked against inserts now, until the commit
        if self.only_missing {
            let names: Vec<(String, String)> = self
                .planned()
                .iter()
                .map(|t| (qualified(&target_name(&t.name)), t.name.to_string()))
                .collect();
            let mut holding = Vec::new();
            for (name, shown) in names {
                let row = self
                    .client
                    .query_one("SELECT pg_catalog.to_regclass($1)::oid", &[&name])
                    .await
                    .map_err(|e| pg_error("cannot look at the target", e))?;
                if row.get::<_, Option<u32>>(0).is_none() {
                    continue;
                }
                self.exec(
                    &format!("LOCK TABLE {name} IN SHARE ROW EXCLUSIVE MODE"),
                    || format!("cannot lock table {shown}"),
                )
                .await?;
                let row = self
                    .client
                    .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {name})"), &[])
                    .await
                    .map_err(|e| pg_error(format!("cannot look into table {shown}"), e))?;
                if row.get::<_, bool>(0) {
                    holding.push(shown);
                }
            }
            if !holding.is_empty() {
                return Err(tresor_core::tables_hold_rows(&holding));
            }
        }
        // tables whose definition changed since the backup go, inside the
        // transaction; they are made again below like dropped ones (the
        // keys other tables held on them come back at the end)
        for n in self.recreate.clone() {
            if self.is_postgres() {
                let name = qualified(&target_name(&n));
                self.exec(&format!("DROP TABLE IF EXISTS {name} CASCADE"), || {
                    format!("cannot replace table {n}, whose definition changed")
                })
                .await?;
            }
        }
        let mut existing = Vec::new();
        let mut missing = Vec::new();
        for t in self.planned() {
            let name = target_name(&t.name);
            let row = self
                .client
                .query_one(
                    "SELECT pg_catalog.to_regclass($1)::oid",
                    &[&qualified(&name)],
                )
                .await
                .map_err(|e| pg_error("cannot look at the target", e))?;
            match row.get::<_, Option<u32>>(0) {
                Some(_) => existing.push(t.name.clone()),
                None => missing.push(t.name.clone()),
            }
        }
        // check every existing table before touching anything
        self.types = load_types(&self.client).await?;
        let mut problems = Vec::new();
        for n in &existing {
            let info = self.read_target_table(n, false).await?;
            let Some(t) = self.schema.table(n) else {
                continue;
            };
            let foreign = !self.is_postgres();
            for c in t.stored_columns().filter(|c| !(foreign && c.hidden)) {
                match info.columns.iter().find(|x| x.name == c.name) {
                    None => problems.push(format!("table {n}: column {} is missing", c.name)),
                    Some(x) if x.generated => problems.push(format!(
                        "table {n}: column {} is generated in the target",
                        c.name
                    )),
                    Some(x) => {
                        let src = c
                            .extra
                            .get("base_type")
                            .and_then(|v| v.as_str())
                            .map(str::to_string);
                        if let Some(src) = src.filter(|_| self.is_postgres())
                            && !same_family(&src, &x.base_type)
                        {
                            problems.push(format!(
                                "table {n}: column {} is {} in the snapshot but {} in the target",
                                c.name, c.engine_type, x.type_text
                            ));
                        }
                    }
                }
            }
            for x in &info.columns {
                if x.not_null && !x.has_default && !x.generated && t.column(&x.name).is_none() {
                    problems.push(format!(
                        "table {n}: target column {} is NOT NULL without a default and not in the snapshot",
                        x.name
                    ));
                }
            }
            self.tables.insert(n.clone(), info);
        }
        if self.mode == RestoreMode::Merge {
            let keyless: Vec<String> = existing
                .iter()
                .filter(|n| {
                    self.tables
                        .get(*n)
                        .is_some_and(|t| t.primary_key.is_empty())
                })
                .map(ToString::to_string)
                .collect();
            if !keyless.is_empty() {
                return Err(SourceError::new(
                    ErrorKind::Unsupported,
                    format!(
                        "cannot merge into table(s) without a primary key: {}",
                        keyless.join(", ")
                    ),
                )
                .with_hint("try: --mode replace, or leave these tables out of the restore"));
            }
        }
        if !problems.is_empty() {
            return Err(SourceError::new(
                ErrorKind::SchemaMismatch,
                format!(
                    "the target does not fit the snapshot ({} problem(s)): {}",
                    problems.len(),
                    problems.join("; ")
                ),
            )
            .with_hint("try: restore into an empty database, or migrate the target schema first"));
        }
        if !missing.is_empty() {
            let fresh_db = existing.is_empty();
            self.create_schema(&missing, fresh_db).await?;
            self.types = load_types(&self.client).await?;
            for n in &missing {
                let info = self.read_target_table(n, true).await?;
                self.tables.insert(n.clone(), info);
            }
        }
        if !existing.is_empty() {
            self.set_aside_checks(&existing).await?;
            if self.mode == RestoreMode::Replace {
                self.set_aside_incoming_keys(&existing).await?;
                let names: Vec<String> = existing
                    .iter()
                    .map(|n| qualified(&target_name(n)))
                    .collect();
                self.client
                    .batch_execute(&format!("TRUNCATE TABLE {}", names.join(", ")))
                    .await
                    .map_err(|e| {
                        let fk = e.code() == Some(&SqlState::FEATURE_NOT_SUPPORTED);
                        let err = pg_error("cannot empty the tables to restore", e);
                        if fk {
                            err.with_hint(
                                "try: restore the referencing tables too, or use --mode merge",
                            )
                        } else {
                            err
                        }
                    })?;
            }
        }
        Ok(())
    }

    /// Reads the target's columns and primary key of table `n`.
    async fn read_target_table(
        &self,
        n: &TableName,
        fresh: bool,
    ) -> Result<TargetTable, SourceError> {
        let name = qualified(&target_name(n));
        let rows = self
            .client
            .query(
                "SELECT a.attname::text, a.atttypid, pg_catalog.format_type(a.atttypid, a.atttypmod), \
                        a.attgenerated <> '', a.attnotnull, a.atthasdef OR a.attidentity <> '', \
                        pg_catalog.format_type(COALESCE(NULLIF(t.typbasetype, 0), a.atttypid), NULL) \
                 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
                 WHERE a.attrelid = $1::text::pg_catalog.regclass AND a.attnum > 0 AND NOT a.attisdropped \
                 ORDER BY a.attnum",
                &[&name],
            )
            .await
            .map_err(|e| pg_error(format!("cannot read the columns of {n}"), e))?;
        let columns = rows
            .iter()
            .map(|r| TargetColumn {
                name: r.get(0),
                typid: r.get(1),
                type_text: r.get(2),
                generated: r.get(3),
                not_null: r.get(4),
                has_default: r.get(5),
                base_type: r.get(6),
            })
            .collect();
        let pk: Option<Vec<String>> = self
            .client
            .query_opt(
                "SELECT ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY k(n, i) \
                        JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i) \
                 FROM pg_catalog.pg_constraint c \
                 WHERE c.conrelid = $1::text::pg_catalog.regclass AND c.contype = 'p'",
                &[&name],
            )
            .await
            .map_err(|e| pg_error(format!("cannot read the primary key of {n}"), e))?
            .map(|r| r.get(0));
        Ok(TargetTable {
            columns,
            primary_key: pk.unwrap_or_default(),
            fresh,
        })
    }

    /// Tables outside the restore whose foreign keys point into it would
    /// stop `TRUNCATE` (restoring `Product` alone while `Order` refers to
    /// it). Their keys are dropped for the load and re-added (and so
    /// checked) before the commit: rows that would be left pointing at
    /// nothing fail the restore, which then changes nothing. Deleting
    /// instead would run `ON DELETE CASCADE` into tables the user did
    /// not ask to restore.
    async fn set_aside_incoming_keys(&mut self, existing: &[TableName]) -> Result<(), SourceError> {
        let names: Vec<String> = existing
            .iter()
            .map(|n| qualified(&target_name(n)))
            .collect();
        let rows = self
            .client
            .query(
                "SELECT pg_catalog.format('%I.%I', n.nspname, t.relname), c.conname::text, \
                        pg_catalog.pg_get_constraintdef(c.oid) \
                 FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class t ON t.oid = c.conrelid \
                 JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace \
                 WHERE c.contype = 'f' AND c.conparentid = 0 \
                   AND c.confrelid = ANY($1::text[]::pg_catalog.regclass[]) \
                   AND NOT c.conrelid = ANY($1::text[]::pg_catalog.regclass[])",
                &[&names],
            )
            .await
            .map_err(|e| pg_error("cannot read foreign keys", e))?;
        for r in rows {
            let (table, name, def): (String, String, String) = (r.get(0), r.get(1), r.get(2));
            self.exec(
                &format!("ALTER TABLE {table} DROP CONSTRAINT {}", ident(&name)),
                || format!("cannot set aside foreign key {name} of {table}"),
            )
            .await?;
            self.readd.push(format!(
                "ALTER TABLE {table} ADD CONSTRAINT {} {def}",
                ident(&name)
            ));
        }
        Ok(())
    }

    /// `DROP TABLE ... CASCADE` also drops the foreign keys of other tables
    /// that pointed at it. Once the dropped table is restored, those keys
    /// come back: every snapshot foreign key into a restored table that the
    /// target no longer has, on a table that still exists, is added again
    /// (and so checked).
    async fn bring_back_lost_keys(&mut self, created: &[TableSchema]) -> Result<(), SourceError> {
        if !self.is_postgres() {
            return Ok(());
        }
        let planned: HashSet<TableName> = self.plan_tables.iter().cloned().collect();
        let created_names: HashSet<TableName> = created.iter().map(|t| t.name.clone()).collect();
        let mut add = Vec::new();
        for t in &self.schema.tables {
            if created_names.contains(&t.name) {
                continue;
            }
            for fk in &t.foreign_keys {
                let (Some(n), Some(d)) = (&fk.name, &fk.ddl) else {
                    continue;
                };
                if !planned.contains(&fk.references) {
                    continue;
                }
                let table = qualified(&target_name(&t.name));
                let row = self
                    .client
                    .query_one(
                        "SELECT pg_catalog.to_regclass($1) IS NOT NULL AND NOT EXISTS ( \
                           SELECT 1 FROM pg_catalog.pg_constraint c \
                           WHERE c.conrelid = pg_catalog.to_regclass($1) AND c.conname = $2)",
                        &[&table, n],
                    )
                    .await
                    .map_err(|e| pg_error("cannot read foreign keys", e))?;
                if row.get::<_, bool>(0)
                    && !self
                        .readd
                        .iter()
                        .any(|r| r.contains(&format!("ADD CONSTRAINT {} ", ident(n))))
                {
                    add.push((
                        format!("ALTER TABLE {table} ADD CONSTRAINT {} {d}", ident(n)),
                        n.clone(),
                        t.name.clone(),
                    ));
                }
            }
        }
        for (sql, n, t) in add {
            self.exec(&sql, || format!("cannot add back foreign key {n} of {t}"))
                .await?;
            self.warnings
                .push(format!("foreign key {n} of {t} was missing and is back"));
        }
        Ok(())
    }

    /// Keeps foreign keys and triggers of existing tables from getting in the
    /// way: `session_replication_role = replica` where permitted (what
    /// `pg_restore --disable-triggers` does), otherwise foreign keys are
    /// dropped and re-added, and user triggers disabled and re-enabled,
    /// inside the transaction.
    async fn set_aside_checks(&mut self, existing: &[TableName]) -> Result<(), SourceError> {
        self.exec("SAVEPOINT tresor_role", || "cannot set a savepoint".into())
            .await?;
        match self
            .client
            .batch_execute("SET LOCAL session_replication_role = replica")
            .await
        {
            Ok(()) => {
                return self
                    .exec("RELEASE SAVEPOINT tresor_role", || {
                        "cannot release a savepoint".into()
                    })
                    .await;
            }
            Err(_) => {
                self.exec("ROLLBACK TO SAVEPOINT tresor_role", || {
                    "cannot roll back to a savepoint".into()
                })
                .await?;
            }
        }
        let names: Vec<String> = existing
            .iter()
            .map(|n| qualified(&target_name(n)))
            .collect();
        let rows = self
            .client
            .query(
                "SELECT DISTINCT pg_catalog.format('%I.%I', n.nspname, t.relname), c.conname::text, \
                        pg_catalog.pg_get_constraintdef(c.oid) \
                 FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class t ON t.oid = c.conrelid \
                 JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace \
                 WHERE c.contype = 'f' AND NOT c.condeferrable AND c.conparentid = 0 \
                   AND (c.conrelid = ANY($1::text[]::pg_catalog.regclass[]) OR c.confrelid = ANY($1::text[]::pg_catalog.regclass[]))",
                &[&names],
            )
            .await
            .map_err(|e| pg_error("cannot read foreign keys", e))?;
        for r in rows {
            let (table, name, def): (String, String, String) = (r.get(0), r.get(1), r.get(2));
            self.exec(
                &format!("ALTER TABLE {table} DROP CONSTRAINT {}", ident(&name)),
                || format!("cannot set aside foreign key {name}"),
            )
            .await?;
            self.readd.push(format!(
                "ALTER TABLE {table} ADD CONSTRAINT {} {def}",
                ident(&name)
            ));
        }
        let rows = self
            .client
            .query(
                "SELECT pg_catalog.format('%I.%I', n.nspname, t.relname), tg.tgname::text \
                 FROM pg_catalog.pg_trigger tg JOIN pg_catalog.pg_class t ON t.oid = tg.tgrelid \
                 JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace \
                 WHERE NOT tg.tgisinternal AND tg.tgenabled = 'O' AND tg.tgrelid = ANY($1::text[]::pg_catalog.regclass[])",
                &[&names],
            )
            .await
            .map_err(|e| pg_error("cannot read triggers", e))?;
        for r in rows {
            let (table, name): (String, String) = (r.get(0), r.get(1));
            self.exec(
                &format!("ALTER TABLE {table} DISABLE TRIGGER {}", ident(&name)),
                || format!("cannot disable trigger {name}"),
            )
            .await?;
            self.readd.push(format!(
                "ALTER TABLE {table} ENABLE TRIGGER {}",
                ident(&name)
            ));
        }
        Ok(())
    }

    /// Creates the missing tables and, into a database without any of the
    /// planned tables, what they need first.
    async fn create_schema(
        &mut self,
        missing: &[TableName],
        fresh_db: bool,
    ) -> Result<(), SourceError> {
        if !self.is_postgres() {
            return self.create_foreign_engine_tables(missing).await;
        }
        if fresh_db {
            self.create_extensions().await?;
            for o in self.objects("schema") {
                self.exec(
                    &format!("CREATE SCHEMA IF NOT EXISTS {}", ident(&o.name.name)),
                    || format!("cannot create schema {}", o.name.name),
                )
                .await?;
            }
            for o in self.schema.objects.clone() {
                let exists = match o.kind.as_str() {
                    "type" | "domain" => self.exists("to_regtype", &o.name).await?,
                    "collation" | "ts_dictionary" | "ts_config" => {
                        self.catalog_object_exists(&o.kind, &o.name).await?
                    }
                    "function" | "procedure" if !o.extra.contains_key("after_tables") => {
                        self.function_exists(&o).await?
                    }
                    "sequence" => self.exists("to_regclass", &o.name).await?,
                    _ => continue,
                };
                if !exists {
                    self.exec(&o.ddl, || format!("cannot create {} {}", o.kind, o.name))
                        .await?;
                }
            }
        }
        let tables: Vec<TableSchema> = self
            .schema
            .tables
            .iter()
            .filter(|t| missing.contains(&t.name))
            .cloned()
            .collect();
        if !fresh_db {
            self.create_missing_sequences(&tables).await?;
        }
        for t in &tables {
            let ddl = t.ddl.clone().ok_or_else(|| {
                SourceError::new(
                    ErrorKind::Unsupported,
                    format!("the snapshot has no definition of table {}", t.name),
                )
            })?;
            if let Some(s) = &t.name.schema {
                self.exec(&format!("CREATE SCHEMA IF NOT EXISTS {}", ident(s)), || {
                    format!("cannot create schema {s}")
                })
                .await?;
            }
            self.exec(&ddl, || format!("cannot create table {}", t.name))
                .await?;
            self.created.insert(t.name.clone());
            for p in self.objects("partition") {
                if p.table.as_ref() == Some(&t.name) {
                    self.exec(&p.ddl, || format!("cannot create partition {}", p.name))
                        .await?;
                    self.created.insert(p.name.clone());
                }
            }
        }
        if fresh_db {
            for o in self
                .objects("function")
                .into_iter()
                .chain(self.objects("procedure"))
            {
                if o.extra.contains_key("after_tables") && !self.function_exists(&o).await? {
                    self.create_optional(&o).await?;
                }
            }
        }
        Ok(())
    }

    /// Into a database that still has some of the planned tables, a
    /// dropped table took its own sequences (`serial` columns, Prisma's
    /// and Django's ids) with it: creates the sequences the missing tables
    /// use (named in their definition or owned by them), and in a
    /// whole-database restore every sequence that is gone.
    async fn create_missing_sequences(
        &mut self,
        tables: &[TableSchema],
    ) -> Result<(), SourceError> {
        for o in self.objects("sequence") {
            let used = self.whole_database
                || o.table
                    .as_ref()
                    .is_some_and(|t| tables.iter().any(|m| &m.name == t))
                || tables
                    .iter()
                    .any(|t| t.ddl.as_deref().is_some_and(|d| d.contains(&o.name.name)));
            if used && !self.exists("to_regclass", &o.name).await? {
                if let Some(s) = &o.name.schema {
                    self.exec(&format!("CREATE SCHEMA IF NOT EXISTS {}", ident(s)), || {
                        format!("cannot create schema {s}")
                    })
                    .await?;
                }
                self.exec(&o.ddl, || format!("cannot create sequence {}", o.name))
                    .await?;
                self.created.insert(o.name.clone());
            }
        }
        Ok(())
    }

    async fn create_foreign_engine_tables(
        &mut self,
        missing: &[TableName],
    ) -> Result<(), SourceError> {
        let tables: Vec<TableSchema> = self
            .schema
            .tables
            .iter()
            .filter(|t| missing.contains(&t.name))
            .cloned()
            .collect();
        for t in &tables {
            let name = target_name(&t.name);
            if let Some(s) = &name.schema {
                self.exec(&format!("CREATE SCHEMA IF NOT EXISTS {}", ident(s)), || {
                    format!("cannot create schema {s}")
                })
                .await?;
            }
            let mut cols: Vec<String> = t
                .stored_columns()
                .filter(|c| !c.hidden)
                .map(|c| {
                    let portable = portable_of(c);
                    let identity = c.identity && matches!(portable, PortableType::Int { .. });
                    format!(
                        "{} {}{}{}",
                        ident(&c.name),
                        pg_type_for(&portable),
                        if identity {
                            " GENERATED BY DEFAULT AS IDENTITY"
                        } else {
                            ""
                        },
                        if c.nullable { "" } else { " NOT NULL" }
                    )
                })
                .collect();
            let key: Vec<String> = visible_key(t).iter().map(|k| ident(k)).collect();
            if !key.is_empty() {
                cols.push(format!("PRIMARY KEY ({})", key.join(", ")));
            }
            self.exec(
                &format!("CREATE TABLE {} ({})", qualified(&name), cols.join(", ")),
                || format!("cannot create table {name}"),
            )
            .await?;
            self.created.insert(t.name.clone());
            if t.columns
                .iter()
                .any(|c| matches!(portable_of(c), PortableType::Dynamic))
            {
                self.warnings.push(format!(
                    "table {name}: dynamically typed columns were restored as text"
                ));
            }
        }
        Ok(())
    }

    /// Creates `o`; in a partial restore an object that depends on tables
    /// left out is skipped with a warning instead of failing the restore.
    async fn create_optional(&mut self, o: &SchemaObject) -> Result<(), SourceError> {
        if self.whole_database {
            let what = || format!("cannot create {} {}", o.kind.replace('_', " "), o.name);
            return self.exec(&o.ddl, what).await;
        }
        self.create_or_warn(o).await
    }

    /// Creates `o` under a savepoint; when the target refuses it (a role a
    /// policy names does not exist here), the refusal becomes a warning
    /// and the restore goes on.
    async fn create_or_warn(&mut self, o: &SchemaObject) -> Result<(), SourceError> {
        let what = || format!("cannot create {} {}", o.kind.replace('_', " "), o.name);
        self.exec("SAVEPOINT tresor_object", || {
            "cannot set a savepoint".into()
        })
        .await?;
        match self.client.batch_execute(&o.ddl).await {
            Ok(()) => {
                self.exec("RELEASE SAVEPOINT tresor_object", || {
                    "cannot release a savepoint".into()
                })
                .await
            }
            Err(e) => {
                self.exec("ROLLBACK TO SAVEPOINT tresor_object", || {
                    "cannot roll back to a savepoint".into()
                })
                .await?;
                let text = e
                    .as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_string());
                self.warnings.push(format!("{}: {text} (skipped)", what()));
                Ok(())
            }
        }
    }

    /// Whether a collation, text-search dictionary or configuration
    /// exists, by schema and name.
    async fn catalog_object_exists(
        &self,
        kind: &str,
        name: &TableName,
    ) -> Result<bool, SourceError> {
        let (table, name_col, ns_col) = match kind {
            "collation" => ("pg_collation", "collname", "collnamespace"),
            "ts_dictionary" => ("pg_ts_dict", "dictname", "dictnamespace"),
            _ => ("pg_ts_config", "cfgname", "cfgnamespace"),
        };
        let row = self
            .client
            .query_one(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM pg_catalog.{table} o \
                     JOIN pg_catalog.pg_namespace n ON n.oid = o.{ns_col} \
                     WHERE n.nspname = $1 AND o.{name_col} = $2)"
                ),
                &[&name.schema.as_deref().unwrap_or("public"), &name.name],
            )
            .await
            .map_err(|e| {
                pg_error(
                    format!("cannot look for {} {name}", kind.replace('_', " ")),
                    e,
                )
            })?;
        Ok(row.get(0))
    }

    async fn exists(&self, func: &str, name: &TableName) -> Result<bool, SourceError> {
        let row = self
            .client
            .query_one(
                &format!("SELECT pg_catalog.{func}($1) IS NOT NULL"),
                &[&qualified(name)],
            )
            .await
            .map_err(|e| pg_error("cannot look at the target", e))?;
        Ok(row.get(0))
    }

    async fn function_exists(&self, o: &SchemaObject) -> Result<bool, SourceError> {
        let args = o
            .extra
            .get("arguments")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        // argument names and modes are not part of the signature lookup
        let sig = format!("{}({args})", qualified(&o.name));
        let row = self
            .client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
                 WHERE n.nspname = $1 AND p.proname = $2 AND pg_catalog.pg_get_function_identity_arguments(p.oid) = $3)",
                &[&o.name.schema, &o.name.name, &args],
            )
            .await
            .map_err(|e| pg_error(format!("cannot look for function {sig}"), e))?;
        Ok(row.get(0))
    }

    async fn create_extensions(&mut self) -> Result<(), SourceError> {
        let mut lacking = Vec::new();
        for o in self.objects("extension") {
            let version = o
                .extra
                .get("version")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            let row = self
                .client
                .query_one(
                    "SELECT (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = $1), \
                            EXISTS (SELECT 1 FROM pg_catalog.pg_available_extension_versions WHERE name = $1), \
                            EXISTS (SELECT 1 FROM pg_catalog.pg_available_extension_versions WHERE name = $1 AND version = $2)",
                    &[&o.name.name, &version],
                )
                .await
                .map_err(|e| pg_error("cannot list the target's extensions", e))?;
            let installed: Option<String> = row.get(0);
            let available: bool = row.get(1);
            let same_version: bool = row.get(2);
            if let Some(v) = installed {
                if v != version {
                    self.warnings.push(format!(
                        "extension {} is version {v} on the target, {version} in the snapshot",
                        o.name.name
                    ));
                }
                continue;
            }
            if !available {
                lacking.push(format!("{} {version}", o.name.name));
                continue;
            }
            if let Some(s) = o.extra.get("schema").and_then(|v| v.as_str()) {
                self.exec(&format!("CREATE SCHEMA IF NOT EXISTS {}", ident(s)), || {
                    format!("cannot create schema {s}")
                })
                .await?;
            }
            let mut ddl = o.ddl.clone();
            if same_version {
                ddl.push_str(&format!(" VERSION '{}'", version.replace('\'', "''")));
            } else {
                self.warnings.push(format!(
                    "extension {} {version} is not available on the target; its default version was installed",
                    o.name.name
                ));
            }
            self.exec(&ddl, || format!("cannot create extension {}", o.name.name))
                .await?;
        }
        if !lacking.is_empty() {
            return Err(SourceError::new(
                ErrorKind::Unsupported,
                format!(
                    "the target server lacks extension(s) the snapshot uses: {}",
                    lacking.join(", ")
                ),
            )
            .with_hint("try: install the extension packages on the target server (see pg_available_extensions)"));
        }
        Ok(())
    }

    /// Adds back the foreign keys and triggers set aside for the load (and
    /// so checks the keys against the restored rows).
    async fn put_back_set_aside(&mut self) -> Result<(), SourceError> {
        let readd = std::mem::take(&mut self.readd);
        for sql in &readd {
            self.exec(sql, || {
                "cannot restore a foreign key or trigger set aside for the restore".into()
            })
            .await?;
        }
        Ok(())
    }

    /// Runs `sql` under a savepoint; a failure becomes a warning naming
    /// what was skipped instead of failing the restore.
    async fn try_exec(&mut self, sql: &str, what: String) -> Result<(), SourceError> {
        self.exec("SAVEPOINT tresor_try", || "cannot set a savepoint".into())
            .await?;
        match self.client.batch_execute(sql).await {
            Ok(()) => {
                self.exec("RELEASE SAVEPOINT tresor_try", || {
                    "cannot release a savepoint".into()
                })
                .await
            }
            Err(e) => {
                self.exec("ROLLBACK TO SAVEPOINT tresor_try", || {
                    "cannot roll back to a savepoint".into()
                })
                .await?;
                let text = e
                    .as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_string());
                self.warnings.push(format!("{what}: {text} (skipped)"));
                Ok(())
            }
        }
    }

    /// From another engine's snapshot: the unique constraints, indexes and
    /// foreign keys of the tables this restore made (from the portable
    /// model; an index whose definition PostgreSQL cannot read is skipped
    /// and named), then every identity sequence of the restored tables set
    /// past the restored ids, so the application can insert the next row.
    async fn finish_foreign(&mut self) -> Result<(), SourceError> {
        let created: Vec<TableSchema> = self
            .schema
            .tables
            .iter()
            .filter(|t| self.created.contains(&t.name))
            .cloned()
            .collect();
        for t in &created {
            let name = qualified(&target_name(&t.name));
            for c in t.constraints.iter().filter(|c| c.kind == "unique") {
                let cols: Vec<String> = c.columns.iter().map(|c| ident(c)).collect();
                self.exec(
                    &format!("ALTER TABLE {name} ADD UNIQUE ({})", cols.join(", ")),
                    || format!("cannot add unique constraint {} of {}", c.name, t.name),
                )
                .await?;
            }
            for i in &t.indexes {
                let cols: Vec<String> = i.columns.iter().map(|c| ident(c)).collect();
                let sql = format!(
                    "CREATE {}INDEX {} ON {name} ({})",
                    if i.unique { "UNIQUE " } else { "" },
                    ident(&tresor_core::convert::database_wide_index_name(
                        &t.name.name,
                        &i.name
                    )),
                    cols.join(", ")
                );
                self.try_exec(&sql, format!("index {} of {}", i.name, t.name))
                    .await?;
            }
        }
        for o in self.objects("index") {
            if o.table.as_ref().is_some_and(|t| self.created.contains(t)) {
                self.try_exec(&o.ddl, format!("index {}", o.name.name))
                    .await?;
            }
        }
        for t in &created {
            let name = qualified(&target_name(&t.name));
            for fk in &t.foreign_keys {
                let cols: Vec<String> = fk.columns.iter().map(|c| ident(c)).collect();
                let refs: Vec<String> = fk.referenced_columns.iter().map(|c| ident(c)).collect();
                let mut sql = format!(
                    "ALTER TABLE {name} ADD FOREIGN KEY ({}) REFERENCES {} ({})",
                    cols.join(", "),
                    qualified(&target_name(&fk.references)),
                    refs.join(", ")
                );
                for (clause, action) in [("DELETE", &fk.on_delete), ("UPDATE", &fk.on_update)] {
                    if let Some(a) = action.as_deref().map(str::to_ascii_uppercase).filter(|a| {
                        matches!(
                            a.as_str(),
                            "CASCADE" | "SET NULL" | "SET DEFAULT" | "RESTRICT"
                        )
                    }) {
                        sql.push_str(&format!(" ON {clause} {a}"));
                    }
                }
                self.exec(&sql, || {
                    format!(
                        "cannot add the foreign key of {} ({}) to {}",
                        t.name,
                        fk.columns.join(", "),
                        fk.references
                    )
                })
                .await?;
            }
        }
        for n in self.plan_tables.clone() {
            let table = qualified(&target_name(&n));
            let rows = self
                .client
                .query(
                    "SELECT a.attname::text, pg_catalog.pg_get_serial_sequence($1, a.attname::text) \
                     FROM pg_catalog.pg_attribute a \
                     WHERE a.attrelid = $1::text::pg_catalog.regclass AND a.attnum > 0 AND NOT a.attisdropped",
                    &[&table],
                )
                .await
                .map_err(|e| pg_error(format!("cannot read the columns of {n}"), e))?;
            for r in rows {
                let (col, seq): (String, Option<String>) = (r.get(0), r.get(1));
                let Some(seq) = seq else { continue };
                self.exec(
                    &format!(
                        "SELECT pg_catalog.setval({}, m, true) FROM (SELECT max({}) AS m FROM {table}) x WHERE m IS NOT NULL",
                        quote_literal(&seq),
                        ident(&col)
                    ),
                    || format!("cannot move sequence {seq} past the restored rows"),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Post-data for the tables this restore created, and sequence values.
    async fn finish(&mut self) -> Result<(), SourceError> {
        if !self.is_postgres() {
            self.finish_foreign().await?;
            return self.put_back_set_aside().await;
        }
        let created: Vec<TableSchema> = self
            .schema
            .tables
            .iter()
            .filter(|t| self.created.contains(&t.name) && self.is_postgres())
            .cloned()
            .collect();
        let mut stmts: Vec<(String, String)> = Vec::new();
        for t in &created {
            let name = qualified(&t.name);
            if let Some(pk) = t.extra.get("primary_key_constraint") {
                let (Some(n), Some(d)) = (
                    pk.get("name").and_then(|v| v.as_str()),
                    pk.get("definition").and_then(|v| v.as_str()),
                ) else {
                    continue;
                };
                stmts.push((
                    format!("ALTER TABLE {name} ADD CONSTRAINT {} {d}", ident(n)),
                    format!("primary key of {}", t.name),
                ));
            }
        }
        for t in &created {
            let name = qualified(&t.name);
            for c in &t.constraints {
                stmts.push((
                    format!(
                        "ALTER TABLE {name} ADD CONSTRAINT {} {}",
                        ident(&c.name),
                        c.definition
                    ),
                    format!("constraint {} of {}", c.name, t.name),
                ));
            }
            for i in &t.indexes {
                if let Some(ddl) = &i.ddl {
                    stmts.push((ddl.clone(), format!("index {}", i.name)));
                    if i.extra.contains_key("clustered") {
                        stmts.push((
                            format!("ALTER TABLE {name} CLUSTER ON {}", ident(&i.name)),
                            format!("index {}", i.name),
                        ));
                    }
                }
            }
        }
        let created_set = self.created.clone();
        let in_created =
            |o: &SchemaObject| o.table.as_ref().is_some_and(|t| created_set.contains(t));
        for o in self.objects("constraint") {
            if in_created(&o) && o.extra.get("foreign_key") != Some(&serde_json::json!(true)) {
                stmts.push((o.ddl.clone(), format!("constraint {}", o.name.name)));
            }
        }
        for o in self.objects("index") {
            if in_created(&o) {
                stmts.push((o.ddl.clone(), format!("index {}", o.name.name)));
            }
        }
        for t in &created {
            for fk in &t.foreign_keys {
                if let (Some(n), Some(d)) = (&fk.name, &fk.ddl) {
                    stmts.push((
                        format!(
                            "ALTER TABLE {} ADD CONSTRAINT {} {d}",
                            qualified(&t.name),
                            ident(n)
                        ),
                        format!("foreign key {n} of {}", t.name),
                    ));
                }
            }
        }
        for o in self.objects("constraint") {
            if in_created(&o) && o.extra.get("foreign_key") == Some(&serde_json::json!(true)) {
                stmts.push((o.ddl.clone(), format!("constraint {}", o.name.name)));
            }
        }
        for (sql, what) in &stmts {
            self.exec(sql, || format!("cannot add {what}")).await?;
        }
        self.bring_back_lost_keys(&created).await?;
        self.put_back_set_aside().await?;
        self.restore_sequences().await?;
        let fresh_db =
            self.whole_database && !created.is_empty() && created.len() == self.plan_tables.len();
        if fresh_db {
            self.restore_late_objects().await?;
        } else if !created.is_empty() {
            self.bring_back_lost_objects().await?;
        }
        if self.info.restore_roles || self.privileges {
            self.restore_roles().await?;
        }
        self.restore_security(fresh_db).await?;
        Ok(())
    }

    /// Row-level security, policies and rules of the tables this restore
    /// created, after the data (a forced policy would filter the load) and
    /// after the roles they name; publications into a new database. A
    /// policy the target refuses (a role it lacks) is a warning: the table
    /// keeps row-level security on, so it stays closed rather than open.
    async fn restore_security(&mut self, fresh_db: bool) -> Result<(), SourceError> {
        let objects = self.schema.objects.clone();
        for kind in ["row_security", "rule", "policy"] {
            for o in objects.iter().filter(|o| o.kind == kind) {
                if !o.table.as_ref().is_some_and(|t| self.created.contains(t)) {
                    continue;
                }
                if kind == "row_security" {
                    self.exec(&o.ddl, || {
                        format!("cannot enable row-level security on {}", o.name)
                    })
                    .await?;
                } else {
                    self.create_or_warn(o).await?;
                }
            }
        }
        for o in objects.iter().filter(|o| o.kind == "publication") {
            let exists: bool = self
                .client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1)",
                    &[&o.name.name],
                )
                .await
                .map_err(|e| pg_error("cannot list publications", e))?
                .get(0);
            if !exists {
                if fresh_db {
                    self.create_or_warn(o).await?;
                }
                continue;
            }
            // a table this restore recreated left the publication when it
            // was dropped: it goes back in
            let members = o
                .extra
                .get("tables")
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default();
            for m in members {
                let (Some(schema), Some(table)) = (m[0].as_str(), m[1].as_str()) else {
                    continue;
                };
                let name = crate::types::rel_name(schema.to_string(), table.to_string());
                if self.created.contains(&name) {
                    let add = SchemaObject {
                        kind: "publication".into(),
                        name: o.name.clone(),
                        ddl: format!(
                            "ALTER PUBLICATION {} ADD TABLE {}",
                            ident(&o.name.name),
                            qualified(&name)
                        ),
                        table: Some(name),
                        extra: Default::default(),
                    };
                    self.create_or_warn(&add).await?;
                }
            }
        }
        Ok(())
    }

    async fn restore_sequences(&mut self) -> Result<(), SourceError> {
        let planned: HashSet<TableName> = self.plan_tables.iter().cloned().collect();
        let seqs: Vec<SchemaObject> = self
            .schema
            .objects
            .iter()
            .filter(|o| o.kind == "sequence" || o.kind == "identity_sequence")
            .filter(|o| {
                o.table
                    .as_ref()
                    .map_or(self.whole_database, |t| planned.contains(t))
            })
            .cloned()
            .collect();
        for o in seqs {
            let Some(last) = o.extra.get("last_value").and_then(|v| v.as_i64()) else {
                continue;
            };
            let called = o
                .extra
                .get("is_called")
                .and_then(|v| v.as_bool())
                .unwrap_or(true);
            let column = o.extra.get("column").and_then(|v| v.as_str());
            let seq: Option<String> = if o.kind == "identity_sequence" {
                let (Some(t), Some(col)) = (&o.table, column) else {
                    continue;
                };
                self.client
                    .query_one(
                        "SELECT pg_catalog.pg_get_serial_sequence($1, $2)",
                        &[&qualified(t), &col],
                    )
                    .await
                    .map_err(|e| pg_error(format!("cannot find the identity sequence of {t}"), e))?
                    .get(0)
            } else if self.exists("to_regclass", &o.name).await? {
                Some(qualified(&o.name))
            } else {
                None
            };
            let Some(seq) = seq else { continue };
            if o.kind == "sequence"
                && let (Some(t), Some(col)) = (&o.table, column)
                && self.created.contains(t)
            {
                self.exec(
                    &format!(
                        "ALTER SEQUENCE {seq} OWNED BY {}.{}",
                        qualified(t),
                        ident(col)
                    ),
                    || format!("cannot attach sequence {} to {t}", o.name),
                )
                .await?;
            }
            let (mut last, mut called) = (last, called);
            if self.mode == RestoreMode::Merge {
                // never move a sequence backwards over rows that stay
                let row = self
                    .client
                    .query_one(&format!("SELECT last_value, is_called FROM {seq}"), &[])
                    .await
                    .map_err(|e| pg_error(format!("cannot read sequence {seq}"), e))?;
                let (cur, cur_called): (i64, bool) = (row.get(0), row.get(1));
                if cur_called && (cur > last || (cur == last && !called)) {
                    last = cur;
                    called = true;
                }
            }
            self.client
                .query_one(
                    "SELECT pg_catalog.setval($1::text::pg_catalog.regclass, $2, $3)",
                    &[&seq, &last, &called],
                )
                .await
                .map_err(|e| pg_error(format!("cannot set sequence {seq}"), e))?;
        }
        Ok(())
    }

    /// Into a database that still had some tables: the triggers and
    /// comments of the tables this restore made (a dropped or recreated
    /// table took them along), and in a whole-database restore the views a
    /// `DROP ... CASCADE` took.
    async fn bring_back_lost_objects(&mut self) -> Result<(), SourceError> {
        let objects = self.schema.objects.clone();
        if self.whole_database {
            for o in &objects {
                if matches!(o.kind.as_str(), "view" | "materialized_view")
                    && !self.exists("to_regclass", &o.name).await?
                {
                    self.create_optional(o).await?;
                    self.warnings.push(format!(
                        "{} {} was missing and is back",
                        o.kind.replace('_', " "),
                        o.name
                    ));
                }
            }
        }
        for o in &objects {
            let of_created = o.table.as_ref().is_some_and(|t| self.created.contains(t));
            if of_created && (o.kind == "trigger" || o.kind == "comment") {
                self.create_optional(o).await?;
            }
        }
        Ok(())
    }

    /// Views, materialized views, triggers and comments of a whole-database
    /// restore into an empty database.
    async fn restore_late_objects(&mut self) -> Result<(), SourceError> {
        let objects = self.schema.objects.clone();
        for o in &objects {
            if matches!(o.kind.as_str(), "view" | "materialized_view") {
                self.exec(&o.ddl, || {
                    format!("cannot create {} {}", o.kind.replace('_', " "), o.name)
                })
                .await?;
                self.created.insert(o.name.clone());
            }
        }
        for o in &objects {
            if o.kind == "index"
                && o.table.as_ref().is_some_and(|t| {
                    objects
                        .iter()
                        .any(|v| v.kind == "materialized_view" && &v.name == t)
                })
            {
                self.exec(&o.ddl, || format!("cannot create index {}", o.name.name))
                    .await?;
            }
        }
        for o in &objects {
            if o.kind == "trigger" && o.table.as_ref().is_some_and(|t| self.created.contains(t)) {
                self.exec(&o.ddl, || format!("cannot create trigger {}", o.name.name))
                    .await?;
            }
        }
        for o in &objects {
            if o.kind == "comment" && o.table.as_ref().is_none_or(|t| self.created.contains(t)) {
                self.exec(&o.ddl, || "cannot restore a comment".into())
                    .await?;
            }
        }
        Ok(())
    }

    /// Roles (created when missing, never altered), owners and grants.
    async fn restore_roles(&mut self) -> Result<(), SourceError> {
        for o in self.objects("role") {
            let exists: bool = self
                .client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)",
                    &[&o.name.name],
                )
                .await
                .map_err(|e| pg_error("cannot list roles", e))?
                .get(0);
            if !exists {
                self.exec(&o.ddl, || format!("cannot create role {}", o.name.name))
                    .await?;
            }
        }
        let mut owners = Vec::new();
        for t in &self.schema.tables {
            if let (true, Some(owner)) = (
                self.created.contains(&t.name),
                t.extra.get("owner").and_then(|v| v.as_str()),
            ) {
                owners.push(format!(
                    "ALTER TABLE {} OWNER TO {}",
                    qualified(&t.name),
                    ident(owner)
                ));
            }
        }
        for o in &self.schema.objects {
            let Some(owner) = o.extra.get("owner").and_then(|v| v.as_str()) else {
                continue;
            };
            let stmt = match o.kind.as_str() {
                "schema" => format!(
                    "ALTER SCHEMA {} OWNER TO {}",
                    ident(&o.name.name),
                    ident(owner)
                ),
                "view" | "materialized_view" | "sequence"
                    if self.created.contains(&o.name) || o.kind == "sequence" =>
                {
                    let kw = match o.kind.as_str() {
                        "view" => "VIEW",
                        "materialized_view" => "MATERIALIZED VIEW",
                        _ => "SEQUENCE",
                    };
                    format!(
                        "ALTER {kw} {} OWNER TO {}",
                        qualified(&o.name),
                        ident(owner)
                    )
                }
                "type" => format!(
                    "ALTER TYPE {} OWNER TO {}",
                    qualified(&o.name),
                    ident(owner)
                ),
                "domain" => format!(
                    "ALTER DOMAIN {} OWNER TO {}",
                    qualified(&o.name),
                    ident(owner)
                ),
                "function" | "procedure" => format!(
                    "ALTER {} {}({}) OWNER TO {}",
                    o.kind.to_uppercase(),
                    qualified(&o.name),
                    o.extra
                        .get("arguments")
                        .and_then(|v| v.as_str())
                        .unwrap_or(""),
                    ident(owner)
                ),
                _ => continue,
            };
            owners.push(stmt);
        }
        owners.extend(self.objects("grant").into_iter().map(|o| o.ddl));
        for sql in &owners {
            self.exec(sql, || "cannot restore owners and grants".into())
                .await?;
        }
        Ok(())
    }

    /// Rolls back and removes a database this restore created.
    async fn abandon(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let _ = self.client.batch_execute("ROLLBACK").await;
        if self.created_db
            && let Ok(admin) = self.info.with_dbname("postgres").connect().await
        {
            let _ = admin
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    ident(&self.info.dbname)
                ))
                .await;
        }
    }
}

#[async_trait]
impl TargetSession for PgSession {
    async fn load_table(
        &mut self,
        table: &TableSchema,
        mut rows: RowReceiver,
    ) -> Result<u64, SourceError> {
        let info = self.tables.get(&table.name).cloned().ok_or_else(|| {
            SourceError::new(
                ErrorKind::NotFound,
                format!("table {} is not part of this restore", table.name),
            )
        })?;
        let name = qualified(&target_name(&table.name));
        let mut encoders = Vec::new();
        let mut stage_types = Vec::new();
        // SQLite's implicit rowid is no column in another engine
        let foreign = !self.is_postgres();
        let keep: Vec<usize> = table
            .stored_columns()
            .enumerate()
            .filter(|(_, c)| !(foreign && c.hidden))
            .map(|(i, _)| i)
            .collect();
        let width = table.stored_columns().count();
        for c in table.stored_columns().filter(|c| !(foreign && c.hidden)) {
            let tc = info
                .columns
                .iter()
                .find(|x| x.name == c.name)
                .ok_or_else(|| {
                    SourceError::new(
                        ErrorKind::SchemaMismatch,
                        format!(
                            "table {}: column {} is missing in the target",
                            table.name, c.name
                        ),
                    )
                })?;
            // a PostgreSQL snapshot's inet and cidr values are the
            // server's own text: written in binary, they need no staging
            let codec = if self.is_postgres() {
                Codec::for_restore(&self.types, tc.typid)
            } else {
                Codec::for_type(&self.types, tc.typid)
            };
            stage_types.push(if codec.is_fallback() {
                "text".to_string()
            } else {
                tc.type_text.clone()
            });
            encoders.push(ColumnEncoder {
                name: c.name.clone(),
                codec,
                type_name: tc.type_text.clone(),
            });
        }
        let cols: Vec<String> = encoders.iter().map(|e| ident(&e.name)).collect();
        let merge = self.mode == RestoreMode::Merge && !info.fresh;
        let upsert = merge && !info.primary_key.is_empty();
        let stage = upsert || encoders.iter().any(|e| e.codec.is_fallback());
        let copy_into = if stage {
            self.stage_counter += 1;
            let s = format!(
                "pg_temp.{}",
                ident(&format!("tresor_stage_{}", self.stage_counter))
            );
            let defs: Vec<String> = encoders
                .iter()
                .zip(&stage_types)
                .map(|(e, t)| format!("{} {t}", ident(&e.name)))
                .collect();
            self.exec(
                &format!(
                    "CREATE TEMPORARY TABLE {s} ({}) ON COMMIT DROP",
                    defs.join(", ")
                ),
                || format!("cannot create a staging table for {}", table.name),
            )
            .await?;
            s
        } else {
            name.clone()
        };
        let sink = self
            .client
            .copy_in::<_, bytes::Bytes>(&format!(
                "COPY {copy_into} ({}) FROM STDIN (FORMAT binary)",
                cols.join(", ")
            ))
            .await
            .map_err(|e| pg_error(format!("cannot load table {}", table.name), e))?;
        let mut sink = std::pin::pin!(sink);
        let mut buf = BytesMut::with_capacity(SEND_BYTES + 64 * 1024);
        write_header(&mut buf);
        let mut count = 0u64;
        while let Some(batch) = rows.recv().await {
            for row in &batch {
                let written = if keep.len() == width {
                    write_row(&encoders, row, &mut buf)
                } else {
                    let kept: Vec<tresor_core::Value> =
                        keep.iter().filter_map(|i| row.get(*i).cloned()).collect();
                    write_row(&encoders, &kept, &mut buf)
                };
                written.map_err(|e| SourceError::data(format!("table {}: {e}", table.name)))?;
            }
            count += batch.len() as u64;
            if buf.len() >= SEND_BYTES {
                sink.send(buf.split().freeze())
                    .await
                    .map_err(|e| pg_error(format!("cannot load table {}", table.name), e))?;
            }
        }
        write_trailer(&mut buf);
        sink.send(buf.split().freeze())
            .await
            .map_err(|e| pg_error(format!("cannot load table {}", table.name), e))?;
        sink.as_mut()
            .finish()
            .await
            .map_err(|e| pg_error(format!("cannot load table {}", table.name), e))?;
        if stage {
            let select: Vec<String> = encoders
                .iter()
                .map(|e| {
                    if e.codec.is_fallback() {
                        format!("{}::{}", ident(&e.name), e.type_name)
                    } else {
                        ident(&e.name)
                    }
                })
                .collect();
            let mut sql = format!(
                "INSERT INTO {name} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {copy_into}",
                cols.join(", "),
                select.join(", ")
            );
            if upsert {
                let pk: Vec<String> = info.primary_key.iter().map(|k| ident(k)).collect();
                let set: Vec<String> = encoders
                    .iter()
                    .filter(|e| !info.primary_key.contains(&e.name))
                    .map(|e| format!("{0} = EXCLUDED.{0}", ident(&e.name)))
                    .collect();
                if set.is_empty() {
                    sql.push_str(&format!(" ON CONFLICT ({}) DO NOTHING", pk.join(", ")));
                } else {
                    sql.push_str(&format!(
                        " ON CONFLICT ({}) DO UPDATE SET {}",
                        pk.join(", "),
                        set.join(", ")
                    ));
                }
            }
            sql.push_str(&format!("; DROP TABLE {copy_into}"));
            self.exec(&sql, || format!("cannot load table {}", table.name))
                .await?;
        }
        *self.rows.entry(table.name.to_string()).or_default() += count;
        Ok(count)
    }

    async fn commit(mut self: Box<Self>) -> Result<RestoreSummary, SourceError> {
        let result = async {
            self.finish().await?;
            self.exec("COMMIT", || "cannot commit the restore".into())
                .await
        }
        .await;
        if let Err(e) = result {
            self.abandon().await;
            return Err(e);
        }
        self.done = true;
        Ok(RestoreSummary {
            rows: std::mem::take(&mut self.rows),
            warnings: std::mem::take(&mut self.warnings),
            method: "one transaction".into(),
        })
    }

    async fn rehearse(mut self: Box<Self>) -> Result<RestoreSummary, SourceError> {
        let result = self.finish().await;
        self.abandon().await;
        result?;
        Ok(RestoreSummary {
            rows: std::mem::take(&mut self.rows),
            warnings: std::mem::take(&mut self.warnings),
            method: "one transaction, rolled back".into(),
        })
    }

    async fn rollback(mut self: Box<Self>) -> Result<(), SourceError> {
        self.abandon().await;
        Ok(())
    }
}
