//! One restore in progress: the transaction, what the target already
//! has, and the checks made before anything is touched.

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;
use tresor_core::{
    DatabaseSchema, Engine, ErrorKind, RestoreMode, RestoreSummary, RowReceiver, SchemaObject,
    SourceError, TableName, TableSchema, TargetSession,
};

use super::{exec, target_name};
use crate::error::pg_error;
use crate::types::{TypeMap, ident, load_types, qualified};
use crate::url::ConnInfo;
use crate::versions::{Conversion, Fit, ServerVersion, TargetServer};

/// A column of a table in the target.
#[derive(Clone, Debug)]
pub(super) struct TargetColumn {
    pub(super) name: String,
    pub(super) typid: u32,
    pub(super) type_text: String,
    pub(super) base_type: String,
    pub(super) generated: bool,
    pub(super) not_null: bool,
    pub(super) has_default: bool,
}

#[derive(Clone, Debug)]
pub(super) struct TargetTable {
    pub(super) columns: Vec<TargetColumn>,
    pub(super) primary_key: Vec<String>,
    /// Created by this restore (so empty, without constraints yet).
    pub(super) fresh: bool,
    /// A plain table (not partitioned, not foreign).
    pub(super) plain: bool,
    /// Created or emptied with `TRUNCATE` in this transaction: a plain
    /// table's rows are then written frozen (`COPY ... FREEZE`), so that
    /// the first reads after the commit need not set every row's hint
    /// bits (writing every page again) and no freezing vacuum rewrites
    /// the table later.
    pub(super) made_here: bool,
}

pub(super) struct PgSession {
    pub(super) client: Client,
    pub(super) info: ConnInfo,
    pub(super) created_db: bool,
    /// The transaction is open already, holding the tables against
    /// writes ([`hold_writes`](PgSession::hold_writes)).
    pub(super) begun: bool,
    pub(super) schema: DatabaseSchema,
    pub(super) mode: RestoreMode,
    pub(super) whole_database: bool,
    /// Roles, owners, grants and default privileges too (`--with-privileges`).
    pub(super) privileges: bool,
    /// Every planned table must be missing or empty (`--only-missing`).
    pub(super) only_missing: bool,
    pub(super) plan_tables: Vec<TableName>,
    /// Foreign keys of the snapshot's other tables that reference planned
    /// ones ([`RestorePlan::inbound_keys`](tresor_core::RestorePlan)).
    pub(super) inbound_keys: Vec<(TableName, tresor_core::ForeignKey)>,
    /// Tables to make again as the snapshot had them.
    pub(super) recreate: Vec<TableName>,
    /// Tables the snapshot lacks, dropped (`--drop-extra-tables`).
    pub(super) drop: Vec<TableName>,
    /// And the types it lacks (`--drop-extra-tables`).
    pub(super) drop_extra_types: bool,
    /// How long to wait for the application to let go of the tables
    /// ([`RestorePlan::lock_wait`](tresor_core::RestorePlan::lock_wait)).
    pub(super) lock_wait: std::time::Duration,
    /// The large objects, when the restore covers them (they are loaded
    /// apart from the tables, see `large_objects`).
    pub(super) large_objects: Option<TableSchema>,
    pub(super) tables: HashMap<TableName, TargetTable>,
    pub(super) types: TypeMap,
    /// Per table, the columns whose values the load converts for the
    /// target's version.
    pub(super) conversions: HashMap<TableName, Vec<(String, Conversion)>>,
    /// The schema to create pgcrypto in (`gen_random_uuid()` on 12).
    pub(super) pgcrypto: Option<String>,
    /// Relations this restore created.
    pub(super) created: HashSet<TableName>,
    /// Statements that put back what the restore set aside (foreign keys,
    /// triggers) before commit.
    pub(super) readd: Vec<String>,
    /// Views and materialized views that the restore's own `DROP TABLE
    /// ... CASCADE` took (with a table it made again or dropped): made
    /// again without a word, unlike ones that were missing before.
    pub(super) views_dropped: HashSet<TableName>,
    pub(super) rows: BTreeMap<String, u64>,
    pub(super) warnings: Vec<String>,
    /// Values written in another form (a zero date as NULL).
    pub(super) changes: tresor_core::ValueChanges,
    pub(super) stage_counter: u32,
    pub(super) done: bool,
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

impl PgSession {
    pub(super) async fn exec(
        &self,
        sql: &str,
        what: impl FnOnce() -> String,
    ) -> Result<(), SourceError> {
        exec(&self.client, sql, what).await
    }

    pub(super) fn is_postgres(&self) -> bool {
        self.schema.engine == Engine::POSTGRES
    }

    pub(super) fn planned(&self) -> Vec<&TableSchema> {
        self.plan_tables
            .iter()
            .filter_map(|n| self.schema.table(n))
            .collect()
    }

    /// Objects of `kind` in snapshot order.
    pub(super) fn objects(&self, kind: &str) -> Vec<SchemaObject> {
        self.schema
            .objects
            .iter()
            .filter(|o| o.kind == kind)
            .cloned()
            .collect()
    }

    /// Opens the transaction, checks the existing tables and creates the
    /// missing ones.
    pub(super) async fn prepare(&mut self) -> Result<(), SourceError> {
        self.open().await?;
        self.fit_to_server().await?;
        self.take_locks().await?;
        for t in self.planned() {
            if self.schema.table(&t.name).is_none() {
                return Err(SourceError::new(
                    ErrorKind::NotFound,
                    format!("table {} is not in the snapshot", t.name),
                ));
            }
        }
        self.lock_only_missing().await?;
        self.drop_recreated().await?;
        self.drop_extra().await?;
        let (existing, missing) = self.existing_and_missing().await?;
        // check every existing table before touching anything
        self.types = load_types(&self.client).await?;
        self.check_existing(&existing).await?;
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
            self.make_room(&existing).await?;
        }
        Ok(())
    }

    /// Opens the restore's transaction, unless it is open already.
    pub(super) async fn open(&mut self) -> Result<(), SourceError> {
        if self.begun {
            return Ok(());
        }
        self.exec(
            "BEGIN; SET LOCAL check_function_bodies = off; SET CONSTRAINTS ALL DEFERRED",
            || "cannot start the restore transaction".into(),
        )
        .await?;
        self.begun = true;
        Ok(())
    }

    /// Rewrites the snapshot's definitions for the target server's
    /// version and build, before anything is created (see `versions`:
    /// the dry run lists the same changes).
    async fn fit_to_server(&mut self) -> Result<(), SourceError> {
        if !self.is_postgres() {
            return Ok(());
        }
        let fit = Fit::new(
            &self.schema,
            ServerVersion::of_snapshot(&self.schema),
            TargetServer::read(&self.client).await?,
            self.privileges || self.info.restore_roles,
        );
        fit.check()?;
        self.conversions = self
            .planned()
            .iter()
            .map(|t| (t.name.clone(), fit.conversions(&t.name).to_vec()))
            .filter(|(_, c)| !c.is_empty())
            .collect();
        self.pgcrypto = fit.pgcrypto;
        self.schema = fit.schema;
        Ok(())
    }

    /// The deploy-safe restore: the tables were empty when it was planned;
    /// locked against inserts now, until the commit, and checked again.
    async fn lock_only_missing(&mut self) -> Result<(), SourceError> {
        if !self.only_missing {
            return Ok(());
        }
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
        if holding.is_empty() {
            Ok(())
        } else {
            Err(tresor_core::tables_hold_rows(&holding))
        }
    }

    /// Tables whose definition changed since the backup go, inside the
    /// transaction; they are made again like dropped ones (the keys other
    /// tables held on them come back at the end).
    async fn drop_recreated(&mut self) -> Result<(), SourceError> {
        for n in self.recreate.clone() {
            if self.is_postgres() {
                let name = qualified(&target_name(&n));
                self.note_dependent_views(&name).await?;
                self.exec(&format!("DROP TABLE IF EXISTS {name} CASCADE"), || {
                    format!("cannot replace table {n}, whose definition changed")
                })
                .await?;
            }
        }
        Ok(())
    }

    /// Notes the views and materialized views that depend on `table`
    /// (qualified), directly or through other views, before a `DROP ...
    /// CASCADE` takes them.
    async fn note_dependent_views(&mut self, table: &str) -> Result<(), SourceError> {
        let rows = self
            .client
            .query(
                "WITH RECURSIVE deps(oid) AS ( \
                   SELECT $1::text::pg_catalog.regclass::oid \
                   UNION \
                   SELECT r.ev_class FROM deps \
                   JOIN pg_catalog.pg_depend d ON d.refobjid = deps.oid \
                     AND d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass \
                   JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid \
                   WHERE r.ev_class <> deps.oid) \
                 SELECT n.nspname::text, c.relname::text FROM deps \
                 JOIN pg_catalog.pg_class c ON c.oid = deps.oid \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('v', 'm')",
                &[&table],
            )
            .await
            .map_err(|e| pg_error(format!("cannot list the views on {table}"), e))?;
        for r in rows {
            self.views_dropped
                .insert(crate::types::rel_name(r.get(0), r.get(1)));
        }
        Ok(())
    }

    /// `--drop-extra-tables`: the tables the snapshot lacks go, inside the
    /// transaction, with what depends on them (their partitions, views on
    /// them, other tables' keys on them); named as the target names them.
    async fn drop_extra(&mut self) -> Result<(), SourceError> {
        if !self.drop.is_empty() {
            let names: Vec<String> = self.drop.iter().map(qualified).collect();
            for name in &names {
                self.note_dependent_views(name).await?;
            }
            let shown: Vec<String> = self.drop.iter().map(ToString::to_string).collect();
            self.exec(
                &format!("DROP TABLE IF EXISTS {} CASCADE", names.join(", ")),
                || format!("cannot drop {}, which the snapshot lacks", shown.join(", ")),
            )
            .await?;
        }
        if self.drop_extra_types && self.is_postgres() {
            self.drop_extra_types().await?;
        }
        Ok(())
    }

    /// The enums, composites, ranges and domains the snapshot lacks (an
    /// upgrade's, whose migration would make them again), newest first,
    /// after the tables that used them. Without `CASCADE`: one that
    /// something the restore keeps still uses (a function) stays, and a
    /// warning says why; a column never loses its type.
    async fn drop_extra_types(&mut self) -> Result<(), SourceError> {
        let sql = format!(
            "SELECT n.nspname, t.typname, t.typtype = 'd' FROM pg_catalog.pg_type t \
             JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
             WHERE {} ORDER BY t.oid DESC",
            crate::catalog::user_types_where()
        );
        let rows = self
            .client
            .query(&sql, &[])
            .await
            .map_err(|e| pg_error("cannot list the target's types", e))?;
        for r in rows {
            let (schema, name, domain): (String, String, bool) = (r.get(0), r.get(1), r.get(2));
            let known = self.schema.objects.iter().any(|o| {
                matches!(o.kind.as_str(), "type" | "domain")
                    && o.name.name == name
                    && o.name.schema.as_deref() == Some(schema.as_str())
            });
            if known {
                continue;
            }
            let kind = if domain { "domain" } else { "type" };
            let sql = format!(
                "DROP {} IF EXISTS {}.{}",
                kind.to_uppercase(),
                ident(&schema),
                ident(&name)
            );
            let said = match self.attempt(&sql).await? {
                None => format!("{kind} {schema}.{name}, which the snapshot lacks, was dropped"),
                Some(why) => {
                    format!("{kind} {schema}.{name}, which the snapshot lacks, stays: {why}")
                }
            };
            self.warnings.push(said);
        }
        Ok(())
    }

    /// The planned tables the target has, and those it lacks.
    async fn existing_and_missing(&self) -> Result<(Vec<TableName>, Vec<TableName>), SourceError> {
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
        Ok((existing, missing))
    }

    /// Reads every existing planned table and refuses the restore when one
    /// does not fit the snapshot (or cannot be merged into).
    async fn check_existing(&mut self, existing: &[TableName]) -> Result<(), SourceError> {
        let mut problems = Vec::new();
        for n in existing {
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
        Ok(())
    }

    /// Sets aside the checks of the existing tables and, in replace mode,
    /// empties them.
    async fn make_room(&mut self, existing: &[TableName]) -> Result<(), SourceError> {
        self.set_aside_checks(existing).await?;
        if self.mode == RestoreMode::Replace {
            self.set_aside_incoming_keys(existing).await?;
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
            for n in existing {
                if let Some(t) = self.tables.get_mut(n) {
                    t.made_here = true;
                }
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
        // whether it is a plain table (not partitioned, not foreign), and
        // its primary key
        let row = self
            .client
            .query_one(
                "SELECT c.relkind = 'r', \
                        (SELECT ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(k.conkey) WITH ORDINALITY u(n, i) \
                                JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.i) \
                         FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p') \
                 FROM pg_catalog.pg_class c WHERE c.oid = $1::text::pg_catalog.regclass",
                &[&name],
            )
            .await
            .map_err(|e| pg_error(format!("cannot read the primary key of {n}"), e))?;
        let (plain, pk): (bool, Option<Vec<String>>) = (row.get(0), row.get(1));
        Ok(TargetTable {
            columns,
            primary_key: pk.unwrap_or_default(),
            fresh,
            plain,
            made_here: fresh,
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

    /// Keeps foreign keys and triggers of existing tables from getting in the
    /// way: `session_replication_role = replica` where permitted (what
    /// `pg_restore --disable-triggers` does), otherwise foreign keys are
    /// dropped and re-added, and user triggers disabled and re-enabled,
    /// inside the transaction.
    async fn set_aside_checks(&mut self, existing: &[TableName]) -> Result<(), SourceError> {
        if self
            .attempt("SET LOCAL session_replication_role = replica")
            .await?
            .is_none()
        {
            return Ok(());
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

    /// Rolls back and removes a database this restore created.
    pub(super) async fn abandon(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let _ = self.client.batch_execute("ROLLBACK").await;
        if self.created_db
            && let Ok(admin) = self.info.with_dbname("postgres").connect().await
        {
            let _ = crate::versions::drop_database(&admin, &self.info.dbname).await;
        }
    }
}

#[async_trait]
impl TargetSession for PgSession {
    async fn load_table(
        &mut self,
        table: &TableSchema,
        rows: RowReceiver,
    ) -> Result<u64, SourceError> {
        self.load(table, rows).await
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
            changed_values: self.changes.take(),
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
            changed_values: self.changes.take(),
            method: "one transaction, rolled back".into(),
        })
    }

    async fn rollback(mut self: Box<Self>) -> Result<(), SourceError> {
        self.abandon().await;
        Ok(())
    }
}
