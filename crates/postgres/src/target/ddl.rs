//! Creating what the restored tables need: extensions, schemas, types,
//! functions, sequences and the tables themselves, from the snapshot's
//! DDL or, for another engine's snapshot, from the portable model.

use tresor_core::convert::portable_of;
use tresor_core::{
    Engine, ErrorKind, PortableType, SchemaObject, SourceError, TableName, TableSchema, TypeChange,
};

use tokio_postgres::error::SqlState;

use super::session::PgSession;
use super::target_name;
use crate::error::pg_error;
use crate::types::{ident, qualified};

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

/// PostgreSQL type for a portable type, for snapshots of other engines.
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

/// What a column of portable type `p` loses in a table made here from
/// another engine's snapshot (`Target::approximate_type`): the type
/// [`pg_type_for`] gives it, and what changes.
pub(crate) fn type_change(p: &PortableType) -> Option<TypeChange> {
    match p {
        PortableType::Enum { .. } => Some(("text", "the labels are kept, but no longer enforced")),
        PortableType::Interval => Some(("text", tresor_core::TEXT_FORM)),
        PortableType::Other { name } => Some(("text", tresor_core::other_type_note(name))),
        PortableType::Dynamic => Some((
            "text",
            "SQLite's untyped column: every value is stored as its text",
        )),
        PortableType::Document => Some(("bytea", "a BSON document, stored as its bytes")),
        _ => None,
    }
}

impl PgSession {
    /// Creates the missing tables and, into a database without any of the
    /// planned tables, what they need first.
    pub(super) async fn create_schema(
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
                self.ensure_schema(&o.name.name).await?;
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
            self.create_missing_types(&tables).await?;
            self.create_missing_sequences(&tables).await?;
        }
        if let Some(schema) = self.pgcrypto.clone() {
            // gen_random_uuid() of a newer server's defaults, on 12
            self.exec(
                &format!(
                    "CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA {}",
                    ident(&schema)
                ),
                || "cannot create extension pgcrypto for gen_random_uuid()".into(),
            )
            .await?;
        }
        for t in &tables {
            let ddl = t.ddl.clone().ok_or_else(|| {
                SourceError::new(
                    ErrorKind::Unsupported,
                    format!("the snapshot has no definition of table {}", t.name),
                )
            })?;
            if let Some(s) = &t.name.schema {
                self.ensure_schema(s).await?;
            }
            self.client.batch_execute(&ddl).await.map_err(|e| {
                let taken = e.code() == Some(&SqlState::DUPLICATE_TABLE);
                let err = pg_error(format!("cannot create table {}", t.name), e);
                if taken {
                    err.with_hint(
                        "try: a table renamed since the backup keeps the names of its sequences, \
                         indexes and constraints; restore with --drop-extra-tables (it drops the \
                         tables the snapshot lacks, which the dry run lists under \"left alone\"), \
                         or drop it or rename it back, then restore",
                    )
                } else {
                    err
                }
            })?;
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

    /// Into a database that still has some of the planned tables: the
    /// enums, composites, ranges and domains the missing tables use (named
    /// in their definitions, or in those of the types they use) that the
    /// target lacks, in the snapshot's order; in a whole-database restore
    /// every one that is gone. A table dropped with its enum (or by
    /// `--drop-extra-tables`, whose undo brings it back) needs it first.
    async fn create_missing_types(&mut self, tables: &[TableSchema]) -> Result<(), SourceError> {
        let types: Vec<SchemaObject> = self
            .schema
            .objects
            .iter()
            .filter(|o| matches!(o.kind.as_str(), "type" | "domain"))
            .cloned()
            .collect();
        let mut texts: Vec<String> = tables.iter().filter_map(|t| t.ddl.clone()).collect();
        let mut used = vec![self.whole_database; types.len()];
        loop {
            let mut grew = false;
            for (i, o) in types.iter().enumerate() {
                if !used[i] && texts.iter().any(|d| d.contains(&o.name.name)) {
                    used[i] = true;
                    texts.push(o.ddl.clone());
                    grew = true;
                }
            }
            if !grew {
                break;
            }
        }
        for (o, used) in types.iter().zip(used) {
            if used && !self.exists("to_regtype", &o.name).await? {
                if let Some(s) = &o.name.schema {
                    self.ensure_schema(s).await?;
                }
                self.exec(&o.ddl, || format!("cannot create {} {}", o.kind, o.name))
                    .await?;
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
                    self.ensure_schema(s).await?;
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
                self.ensure_schema(s).await?;
            }
            let mut cols: Vec<String> =
                tresor_core::made_columns(t, self.schema.engine, Engine::POSTGRES)
                    .into_iter()
                    .map(|(c, generated)| {
                        let portable = portable_of(c);
                        if let Some(expr) = generated {
                            // PostgreSQL stores every generated column (18
                            // first computes one as it is read)
                            return format!(
                                "{} {} GENERATED ALWAYS AS ({expr}) STORED",
                                ident(&c.name),
                                pg_type_for(&portable)
                            );
                        }
                        let identity = tresor_core::auto_numbered(c)
                            && matches!(portable, PortableType::Int { .. });
                        let default = tresor_core::portable_default(c)
                            .map(|d| format!(" DEFAULT {}", d.sql(true)))
                            .unwrap_or_default();
                        // an identity is a smallint, integer or bigint:
                        // an unsigned 64-bit counter (MySQL's `bigint
                        // unsigned AUTO_INCREMENT`) counts in a bigint
                        let ty = match pg_type_for(&portable) {
                            t if identity && t.starts_with("numeric") => "bigint".to_string(),
                            t => t,
                        };
                        // as many digits of a second as the source's column
                        // keeps (MySQL's `datetime`: none)
                        let ty = match (
                            &portable,
                            tresor_core::Keeps::second_digits_of(c, self.schema.engine),
                        ) {
                            (
                                PortableType::Timestamp
                                | PortableType::TimestampTz
                                | PortableType::Time
                                | PortableType::TimeTz,
                                Some(n),
                            ) => ty.replacen(' ', &format!("({n}) "), 1),
                            _ => ty,
                        };
                        format!(
                            "{} {ty}{}{}{default}",
                            ident(&c.name),
                            if identity {
                                " GENERATED BY DEFAULT AS IDENTITY"
                            } else {
                                ""
                            },
                            if c.nullable || super::lossy::zero_date_default(c) {
                                ""
                            } else {
                                " NOT NULL"
                            }
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
    pub(super) async fn create_optional(&mut self, o: &SchemaObject) -> Result<(), SourceError> {
        if self.whole_database {
            let what = || format!("cannot create {} {}", o.kind.replace('_', " "), o.name);
            return self.exec(&o.ddl, what).await;
        }
        self.create_or_warn(o).await
    }

    /// Creates `o` under a savepoint; when the target refuses it (a role a
    /// policy names does not exist here), the refusal becomes a warning
    /// and the restore goes on.
    pub(super) async fn create_or_warn(&mut self, o: &SchemaObject) -> Result<(), SourceError> {
        let what = format!("cannot create {} {}", o.kind.replace('_', " "), o.name);
        self.try_exec(&o.ddl, what).await
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

    pub(super) async fn exists(&self, func: &str, name: &TableName) -> Result<bool, SourceError> {
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
                self.ensure_schema(s).await?;
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

    /// Runs `sql` under a savepoint; a failure becomes a warning naming
    /// what was skipped instead of failing the restore.
    /// Makes schema `s` unless it is there: `CREATE SCHEMA IF NOT EXISTS`
    /// asks for the right to create schemas even when it is, which the
    /// role that owns the schema and every table in it (an application's,
    /// restoring its own database) need not have.
    pub(super) async fn ensure_schema(&mut self, s: &str) -> Result<(), SourceError> {
        let there: bool = self
            .client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)",
                &[&s],
            )
            .await
            .map_err(|e| pg_error(format!("cannot look for schema {s}"), e))?
            .get(0);
        if there {
            return Ok(());
        }
        self.exec(&format!("CREATE SCHEMA {}", ident(s)), || {
            format!("cannot create schema {s}")
        })
        .await
    }

    pub(super) async fn try_exec(&mut self, sql: &str, what: String) -> Result<(), SourceError> {
        if let Some(text) = self.attempt(sql).await? {
            self.warnings.push(format!("{what}: {text} (skipped)"));
        }
        Ok(())
    }

    /// Runs `sql` under a savepoint: the server's message when it failed
    /// (rolled back to the savepoint, the transaction goes on), `None`
    /// when it ran.
    pub(super) async fn attempt(&mut self, sql: &str) -> Result<Option<String>, SourceError> {
        self.exec("SAVEPOINT tresor_try", || "cannot set a savepoint".into())
            .await?;
        match self.client.batch_execute(sql).await {
            Ok(()) => {
                self.exec("RELEASE SAVEPOINT tresor_try", || {
                    "cannot release a savepoint".into()
                })
                .await?;
                Ok(None)
            }
            Err(e) => {
                // rolling back keeps the savepoint (and its subtransaction) open
                self.exec(
                    "ROLLBACK TO SAVEPOINT tresor_try; RELEASE SAVEPOINT tresor_try",
                    || "cannot roll back to a savepoint".into(),
                )
                .await?;
                Ok(Some(e.as_db_error().map_or_else(
                    || e.to_string(),
                    |d| d.message().to_string(),
                )))
            }
        }
    }
}
