//! After the load, before the commit: constraints, indexes and foreign
//! keys of the tables this restore made, what was set aside put back,
//! sequence values, late objects, roles and security.

use std::collections::HashSet;

use tresor_core::{
    Engine, ErrorKind, RestoreMode, SchemaObject, SourceError, TableName, TableSchema,
};

use super::session::PgSession;
use super::target_name;
use crate::error::pg_error;
use crate::types::{ident, qualified};

/// The longest identifier PostgreSQL keeps whole (`NAMEDATALEN` - 1 bytes);
/// it cuts longer ones, and two index names that begin alike would meet.
const MAX_IDENTIFIER: usize = 63;

/// A SQL string literal.
pub(super) fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl PgSession {
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
                if self.lacks_key(&table, n).await?
                    && !self
                        .readd
                        .iter()
                        .any(|r| r.contains(&format!("ADD CONSTRAINT {} ", ident(n))))
                {
                    // a table this restore made again took its keys with
                    // it: they were not missing before
                    let missing = !self.recreate.contains(&fk.references);
                    add.push((
                        format!("ALTER TABLE {table} ADD CONSTRAINT {} {d}", ident(n)),
                        n.clone(),
                        t.name.clone(),
                        missing,
                    ));
                }
            }
        }
        for (sql, n, t, missing) in add {
            self.exec(&sql, || format!("cannot add back foreign key {n} of {t}"))
                .await?;
            if missing {
                self.warnings
                    .push(format!("foreign key {n} of {t} was missing and is back"));
            }
        }
        self.bring_back_inbound_keys(&created_names).await
    }

    /// The foreign keys of tables this restore leaves alone that reference
    /// a table it made again: `DROP TABLE ... CASCADE` took them with the
    /// table. Each is added back where its table lacks it; when rows
    /// written since reference rows the snapshot lacks, it comes back
    /// `NOT VALID` (enforced for new rows) and the warning says how to
    /// validate it; a key whose table no longer fits it is left out with a
    /// warning.
    async fn bring_back_inbound_keys(
        &mut self,
        created: &HashSet<TableName>,
    ) -> Result<(), SourceError> {
        let keys: Vec<(TableName, tresor_core::ForeignKey)> = self
            .inbound_keys
            .iter()
            .filter(|(_, fk)| created.contains(&fk.references))
            .cloned()
            .collect();
        for (owner, fk) in keys {
            let (Some(n), Some(d)) = (&fk.name, &fk.ddl) else {
                continue;
            };
            let table = qualified(&target_name(&owner));
            if !self.lacks_key(&table, n).await? {
                continue;
            }
            let sql = format!("ALTER TABLE {table} ADD CONSTRAINT {} {d}", ident(n));
            let Some(failed) = self.attempt(&sql).await? else {
                self.warnings.push(format!(
                    "foreign key {n} of {owner}, dropped with the table it references, is back"
                ));
                continue;
            };
            // rows of the referencing table that the restored rows do not
            // match: enforced from now on, checked once they are fixed
            let warning = match self.attempt(&format!("{sql} NOT VALID")).await? {
                None => format!(
                    "foreign key {n} of {owner}, dropped with the table it references, is back \
                     NOT VALID: rows of {owner} reference rows that {} lacks ({failed}); fix \
                     them, then run ALTER TABLE {table} VALIDATE CONSTRAINT {}",
                    fk.references,
                    ident(n)
                ),
                Some(text) => format!("foreign key {n} of {owner}: {text} (skipped)"),
            };
            self.warnings.push(warning);
        }
        Ok(())
    }

    /// Whether the table foreign key `fk` of `table`, a table this restore
    /// made, references is there at the commit: restored with it, or in
    /// the target already. A key to neither cannot be made; it is left out
    /// with a warning, so that a selection of tables (or the backup of a
    /// table group) restores into a database without the rest.
    async fn reaches(
        &mut self,
        fk: &tresor_core::ForeignKey,
        table: &TableName,
        key: Option<&str>,
    ) -> Result<bool, SourceError> {
        if self.plan_tables.contains(&fk.references) {
            return Ok(true);
        }
        let there = self
            .exists("to_regclass", &target_name(&fk.references))
            .await?;
        if !there {
            self.warnings.push(tresor_core::key_to_a_missing_table(
                table,
                key,
                &fk.references,
                false,
            ));
        }
        Ok(there)
    }

    /// Whether `table` exists and lacks the constraint `name`.
    async fn lacks_key(&self, table: &str, name: &str) -> Result<bool, SourceError> {
        let row = self
            .client
            .query_one(
                "SELECT pg_catalog.to_regclass($1) IS NOT NULL AND NOT EXISTS ( \
                   SELECT 1 FROM pg_catalog.pg_constraint c \
                   WHERE c.conrelid = pg_catalog.to_regclass($1) AND c.conname = $2)",
                &[&table, &name],
            )
            .await
            .map_err(|e| pg_error("cannot read foreign keys", e))?;
        Ok(row.get(0))
    }

    /// The foreign keys of the tables a replace restored whole that the
    /// target holds `NOT VALID` (a restore of the table they reference
    /// left them so, while rows written since pointed at rows the snapshot
    /// lacked) where the snapshot had them valid: validated, inside the
    /// transaction, so the database is again what the backup held. Every
    /// row of those tables was written under the key, so it holds.
    async fn validate_keys(&mut self) -> Result<(), SourceError> {
        if self.mode != RestoreMode::Replace || !self.is_postgres() {
            return Ok(());
        }
        let rows = self
            .client
            .query(
                "SELECT n.nspname::text, r.relname::text, c.conname::text \
                 FROM pg_catalog.pg_constraint c \
                 JOIN pg_catalog.pg_class r ON r.oid = c.conrelid \
                 JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace \
                 WHERE c.contype = 'f' AND NOT c.convalidated",
                &[],
            )
            .await
            .map_err(|e| pg_error("cannot read foreign keys", e))?;
        for r in rows {
            let (table, key): (TableName, String) =
                (crate::types::rel_name(r.get(0), r.get(1)), r.get(2));
            let Some(t) = self.schema.tables.iter().find(|t| {
                target_name(&t.name) == target_name(&table) && self.plan_tables.contains(&t.name)
            }) else {
                continue;
            };
            let valid_in_snapshot = t.foreign_keys.iter().any(|fk| {
                fk.name.as_deref() == Some(key.as_str())
                    && fk.ddl.as_deref().is_some_and(|d| !d.contains("NOT VALID"))
            });
            if valid_in_snapshot {
                let name = t.name.clone();
                self.exec(
                    &format!(
                        "ALTER TABLE {} VALIDATE CONSTRAINT {}",
                        qualified(&target_name(&table)),
                        ident(&key)
                    ),
                    || format!("cannot validate foreign key {key} of {name}"),
                )
                .await?;
                self.warnings.push(format!(
                    "foreign key {key} of {name} was NOT VALID and is valid again, as in the snapshot"
                ));
            }
        }
        Ok(())
    }

    /// Adds back the foreign keys and triggers set aside for the load (and
    /// so checks the keys against the restored rows).
    async fn put_back_set_aside(&mut self) -> Result<(), SourceError> {
        let readd = std::mem::take(&mut self.readd);
        for sql in &readd {
            if let Err(e) = self.client.batch_execute(sql).await {
                return Err(self.broken_key(e));
            }
        }
        Ok(())
    }

    /// The error of a foreign key set aside for the load that the restored
    /// rows break when it is put back: which key, which table's rows, and
    /// which table to restore too.
    fn broken_key(&self, e: tokio_postgres::Error) -> SourceError {
        let Some(db) = e
            .as_db_error()
            .filter(|d| *d.code() == tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION)
        else {
            return pg_error(
                "cannot restore a foreign key or trigger set aside for the restore",
                e,
            );
        };
        let child = db.table().unwrap_or("?").to_string();
        let parent = db
            .detail()
            .and_then(|d| d.split("is not present in table \"").nth(1))
            .and_then(|rest| rest.split('"').next())
            .unwrap_or("?")
            .to_string();
        let restored = |name: &str| self.plan_tables.iter().any(|t| t.name == name);
        let given: Vec<&str> = self.plan_tables.iter().map(|t| t.name.as_str()).collect();
        let hint = if restored(&child) {
            format!(
                "try: restore {parent} too ({})",
                tresor_core::tables_too(&given, &parent)
            )
        } else {
            format!(
                "try: restore {child} too ({}), or use --mode merge",
                tresor_core::tables_too(&given, &child)
            )
        };
        SourceError::new(
            ErrorKind::Conflict,
            format!(
                "foreign key {} of table {child}: rows of {child} would point at rows {parent} \
                 does not have after the restore ({})",
                db.constraint().unwrap_or("?"),
                db.detail().unwrap_or_default().trim_end_matches('.')
            ),
        )
        .with_hint(hint)
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
            // checks in the SQL every engine shares; the others are listed
            // as not created
            let engine = self.schema.engine;
            for c in t.constraints.iter().filter(|c| c.kind == "check") {
                let Some(expr) = tresor_core::check_for(t, &c.definition, engine, Engine::POSTGRES)
                else {
                    continue;
                };
                let named = if c.name.is_empty() {
                    String::new()
                } else {
                    format!(
                        "CONSTRAINT {} ",
                        ident(&tresor_core::convert::fit_identifier(
                            &c.name,
                            MAX_IDENTIFIER
                        ))
                    )
                };
                self.try_exec(
                    &format!("ALTER TABLE {name} ADD {named}CHECK ({expr})"),
                    format!("check constraint {} of {}", c.name, t.name),
                )
                .await?;
            }
            // an index over a generated column that is not made (listed) is
            // not made either
            // (nor one over an expression, in the source engine's SQL)
            let made = |c: &String| {
                t.column_folded(c)
                    .is_some_and(|c| tresor_core::column_made(t, c, engine, Engine::POSTGRES))
            };
            for (i, columns) in t
                .indexes
                .iter()
                .map(|i| (i, i.column_names()))
                .filter(|(i, columns)| i.special_kind().is_none() && columns.iter().all(made))
            {
                let cols: Vec<String> = columns
                    .iter()
                    .map(|c| ident(t.column_folded(c).map_or(c.as_str(), |k| k.name.as_str())))
                    .collect();
                let sql = format!(
                    "CREATE {}INDEX {} ON {name} ({})",
                    if i.unique { "UNIQUE " } else { "" },
                    ident(&tresor_core::convert::fit_identifier(
                        &tresor_core::convert::database_wide_index_name(
                            engine,
                            &t.name.name,
                            &i.name
                        ),
                        MAX_IDENTIFIER
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
                if !self.reaches(fk, &t.name, None).await? {
                    continue;
                }
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
            // the source's own counter, where the snapshot has it, for the
            // column the source numbered
            let snap = self.schema.table(&n);
            let next = snap.and_then(|t| self.schema.next_number(t));
            for r in rows {
                let (col, seq): (String, Option<String>) = (r.get(0), r.get(1));
                let Some(seq) = seq else { continue };
                let counted = snap
                    .and_then(|t| t.column(&col))
                    .is_some_and(tresor_core::auto_numbered);
                // a merge never moves it back (a replace sets the
                // snapshot's, as a restore of the same engine does)
                let current = match self.mode {
                    RestoreMode::Merge => self.sequence_taken(&seq).await?,
                    RestoreMode::Replace => None,
                };
                let taken = [
                    self.column_max(&table, &col).await?,
                    next.filter(|_| counted).map(|n| n.saturating_sub(1)),
                    current,
                ];
                if let Some(last) = taken.into_iter().flatten().max().filter(|l| *l > 0) {
                    self.set_sequence(&seq, last, true).await?;
                }
            }
        }
        Ok(())
    }

    /// The foreign keys of the existing tables this restore loaded that
    /// point at tables it leaves alone, checked against the loaded rows.
    /// Under `session_replication_role = replica` (a superuser's restore)
    /// no key is checked while the rows go in, and the keys of those
    /// tables are not set aside and put back either: a row whose parent
    /// was deleted since the backup went in, and the key stayed valid
    /// over it. The referenced tables are held against writes (`SHARE`)
    /// from the check to the commit, as a key's own check would.
    async fn check_outgoing_keys(&mut self) -> Result<(), SourceError> {
        let replica: String = self
            .client
            .query_one(
                "SELECT pg_catalog.current_setting('session_replication_role')",
                &[],
            )
            .await
            .map_err(|e| pg_error("cannot read session_replication_role", e))?
            .get(0);
        if replica != "replica" {
            return Ok(());
        }
        let loaded: Vec<String> = self
            .plan_tables
            .iter()
            .filter(|n| !self.created.contains(*n))
            .map(|n| qualified(&target_name(n)))
            .collect();
        let planned: Vec<String> = self
            .plan_tables
            .iter()
            .map(|n| qualified(&target_name(n)))
            .collect();
        if loaded.is_empty() {
            return Ok(());
        }
        let columns = |key: &str, rel: &str| {
            format!(
                "ARRAY(SELECT pg_catalog.quote_ident(a.attname) \
                 FROM pg_catalog.unnest(c.{key}) WITH ORDINALITY u(n, i) \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.{rel} AND a.attnum = u.n \
                 ORDER BY u.i)"
            )
        };
        let keys = self
            .client
            .query(
                &format!(
                    "SELECT c.conname::text, c.conrelid::pg_catalog.regclass::text, \
                            c.confrelid::pg_catalog.regclass::text, {}, {} \
                     FROM pg_catalog.pg_constraint c \
                     WHERE c.contype = 'f' AND c.conparentid = 0 \
                       AND c.conrelid = ANY($1::text[]::pg_catalog.regclass[]) \
                       AND NOT c.confrelid = ANY($2::text[]::pg_catalog.regclass[])",
                    columns("conkey", "conrelid"),
                    columns("confkey", "confrelid")
                ),
                &[&loaded, &planned],
            )
            .await
            .map_err(|e| pg_error("cannot read foreign keys", e))?;
        for k in keys {
            let (name, child, parent, cols, refs): (
                String,
                String,
                String,
                Vec<String>,
                Vec<String>,
            ) = (k.get(0), k.get(1), k.get(2), k.get(3), k.get(4));
            let set: Vec<String> = cols.iter().map(|c| format!("c.{c} IS NOT NULL")).collect();
            let on: Vec<String> = cols
                .iter()
                .zip(&refs)
                .map(|(c, p)| format!("p.{p} = c.{c}"))
                .collect();
            self.exec(&format!("LOCK TABLE {parent} IN SHARE MODE"), || {
                format!("cannot hold {parent} for the check of foreign key {name}")
            })
            .await?;
            let orphans: i64 = self
                .client
                .query_one(
                    &format!(
                        "SELECT count(*) FROM {child} c WHERE {} \
                         AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {})",
                        set.join(" AND "),
                        on.join(" AND ")
                    ),
                    &[],
                )
                .await
                .map_err(|e| pg_error(format!("cannot check foreign key {name} of {child}"), e))?
                .get(0);
            if orphans > 0 {
                return Err(SourceError::new(
                    ErrorKind::Conflict,
                    format!(
                        "foreign key {name} of table {child}: {orphans} row(s) would point at rows \
                         {parent} does not have ({}) after the restore",
                        cols.join(", ")
                    ),
                )
                .with_hint(format!(
                    "try: restore {parent} too ({}), or restore fewer rows of {child} (--where)",
                    tresor_core::tables_too(
                        &self
                            .plan_tables
                            .iter()
                            .map(|t| t.name.as_str())
                            .collect::<Vec<_>>(),
                        parent.trim_matches('"')
                    )
                )));
            }
        }
        Ok(())
    }

    /// Post-data for the tables this restore created, and sequence values.
    pub(super) async fn finish(&mut self) -> Result<(), SourceError> {
        self.check_outgoing_keys().await?;
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
                if !self.reaches(fk, &t.name, fk.name.as_deref()).await? {
                    continue;
                }
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
        self.validate_keys().await?;
        self.restore_sequences().await?;
        let fresh_db =
            self.whole_database && !created.is_empty() && created.len() == self.plan_tables.len();
        if fresh_db {
            self.restore_late_objects().await?;
        } else if !created.is_empty() || self.whole_database {
            self.bring_back_lost_objects().await?;
        }
        if self.info.restore_roles || self.privileges {
            self.restore_roles().await?;
        } else if !fresh_db && !created.is_empty() {
            self.keep_owners(&created).await?;
        }
        if let (true, Some(t)) = (self.privileges, self.large_objects.clone()) {
            for sql in super::large_objects::privileges(&t) {
                self.try_exec(&sql, format!("cannot run {sql}")).await?;
            }
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
            self.set_sequence(&seq, last, called).await?;
        }
        Ok(())
    }

    /// Sets sequence `seq` as `setval(seq, last, called)` would, inside the
    /// restore's transaction. `setval` is not transactional: a dry run's
    /// rehearsal, rolled back, left the live database's sequences where
    /// the snapshot had them, behind rows written since, and the
    /// application's next inserts failed on their keys. `ALTER SEQUENCE
    /// ... RESTART` writes the sequence anew in the transaction (as
    /// `TRUNCATE ... RESTART IDENTITY` does), and a `nextval` there marks
    /// `last` as taken; a rollback undoes both. Only the sequence's owner
    /// may alter it: a role that may only update it (an application role
    /// restoring into tables a migration role owns) sets it with `setval`
    /// as before, which a rolled-back dry run does not undo.
    async fn set_sequence(&self, seq: &str, last: i64, called: bool) -> Result<(), SourceError> {
        let owner: bool = self
            .client
            .query_one(
                "SELECT pg_catalog.pg_has_role(relowner, 'USAGE') FROM pg_catalog.pg_class \
                 WHERE oid = $1::text::pg_catalog.regclass",
                &[&seq],
            )
            .await
            .map_err(|e| pg_error(format!("cannot read sequence {seq}"), e))?
            .get(0);
        if !owner {
            self.client
                .query_one(
                    "SELECT pg_catalog.setval($1::text::pg_catalog.regclass, $2, $3)",
                    &[&seq, &last, &called],
                )
                .await
                .map_err(|e| pg_error(format!("cannot set sequence {seq}"), e))?;
            return Ok(());
        }
        self.exec(&format!("ALTER SEQUENCE {seq} RESTART WITH {last}"), || {
            format!("cannot set sequence {seq}")
        })
        .await?;
        if called {
            self.client
                .query_one(
                    "SELECT pg_catalog.nextval($1::text::pg_catalog.regclass)",
                    &[&seq],
                )
                .await
                .map_err(|e| pg_error(format!("cannot set sequence {seq}"), e))?;
        }
        Ok(())
    }

    /// The last number sequence `seq` gave, `None` when it gave none: a
    /// merge moves a sequence forward only (a table that had rows deleted
    /// keeps its next number).
    async fn sequence_taken(&self, seq: &str) -> Result<Option<i64>, SourceError> {
        let row = self
            .client
            .query_one(&format!("SELECT last_value, is_called FROM {seq}"), &[])
            .await
            .map_err(|e| pg_error(format!("cannot read sequence {seq}"), e))?;
        let (last, called): (i64, bool) = (row.get(0), row.get(1));
        Ok(called.then_some(last))
    }

    /// The largest value of `column` of `table` (qualified), `None` when
    /// it has no rows or is no integer column (a sequence can be owned by
    /// any column).
    async fn column_max(&self, table: &str, column: &str) -> Result<Option<i64>, SourceError> {
        let integer: Option<bool> = self
            .client
            .query_opt(
                "SELECT atttypid IN ('int2'::pg_catalog.regtype, 'int4'::pg_catalog.regtype, \
                 'int8'::pg_catalog.regtype) FROM pg_catalog.pg_attribute \
                 WHERE attrelid = $1::text::pg_catalog.regclass AND attname = $2 AND NOT attisdropped",
                &[&table, &column],
            )
            .await
            .map_err(|e| pg_error(format!("cannot read the columns of {table}"), e))?
            .map(|r| r.get(0));
        if integer != Some(true) {
            return Ok(None);
        }
        let row = self
            .client
            .query_one(
                &format!("SELECT max({})::bigint FROM {table}", ident(column)),
                &[],
            )
            .await
            .map_err(|e| pg_error(format!("cannot read the largest {column} of {table}"), e))?;
        Ok(row.get(0))
    }

    /// Into a database that still had some tables: the triggers and
    /// comments of the tables this restore made (a dropped or recreated
    /// table took them along), and in a whole-database restore the views
    /// and materialized views that are missing (a `DROP ... CASCADE` took
    /// them, or a `DROP VIEW`) and the indexes of materialized views.
    async fn bring_back_lost_objects(&mut self) -> Result<(), SourceError> {
        let objects = self.schema.objects.clone();
        // views the restore's own DROP ... CASCADE took come back whatever
        // the restore covers; missing ones in a whole-database restore
        let is_view = |o: &SchemaObject| matches!(o.kind.as_str(), "view" | "materialized_view");
        for name in &self.views_dropped.clone() {
            if !objects.iter().any(|o| is_view(o) && &o.name == name)
                && !self.exists("to_regclass", name).await?
            {
                self.warnings.push(format!(
                    "view {name} went with a table this restore made again or dropped, and the \
                     snapshot does not hold it (a backup with a table filter leaves views out): \
                     it is gone"
                ));
            }
        }
        if self.whole_database || !self.views_dropped.is_empty() {
            let whole = self.whole_database;
            for o in &objects {
                if is_view(o)
                    && (whole || self.views_dropped.contains(&o.name))
                    && !self.exists("to_regclass", &o.name).await?
                {
                    self.create_optional(o).await?;
                    if !self.views_dropped.contains(&o.name) {
                        self.warnings.push(format!(
                            "{} {} was missing and is back",
                            o.kind.replace('_', " "),
                            o.name
                        ));
                    }
                }
            }
            // a materialized view's indexes (a unique one is what `REFRESH
            // ... CONCURRENTLY` needs), whether the view was made again
            // above or only lost an index
            for o in &objects {
                let Some(view) = o.table.as_ref().filter(|t| {
                    objects
                        .iter()
                        .any(|v| v.kind == "materialized_view" && &v.name == *t)
                        && (whole || self.views_dropped.contains(t))
                }) else {
                    continue;
                };
                if o.kind == "index" && !self.exists("to_regclass", &o.name).await? {
                    self.create_optional(o).await?;
                    if !self.views_dropped.contains(view) {
                        self.warnings.push(format!(
                            "index {} of materialized view {view} was missing and is back",
                            o.name.name
                        ));
                    }
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

    /// The tables this restore made in a database that holds others (a
    /// table dropped by mistake, or made again with the definition it had)
    /// get the owner and the grants the snapshot has for them, and their
    /// sequences the grants on those, where the target has the roles:
    /// made by a superuser's restore, such a table was the superuser's
    /// own, and the application, which owned or was granted the rest, was
    /// refused it (`permission denied for table page`). A database the
    /// restore makes whole stays the restoring user's (`--with-privileges`
    /// restores every owner and grant). What the target refuses (an owner
    /// the restoring user may not give a table to) is a warning.
    async fn keep_owners(&mut self, created: &[TableSchema]) -> Result<(), SourceError> {
        let roles: HashSet<String> = self
            .client
            .query("SELECT rolname::text FROM pg_catalog.pg_roles", &[])
            .await
            .map_err(|e| pg_error("cannot list roles", e))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let me: String = self
            .client
            .query_one("SELECT current_user::text", &[])
            .await
            .map_err(|e| pg_error("cannot read the current user", e))?
            .get(0);
        let tables: Vec<String> = created
            .iter()
            .map(|t| qualified(&target_name(&t.name)))
            .collect();
        // the grants name relations as `schema.name`, each quoted as needed
        let sequences: Vec<String> = self
            .client
            .query(
                "SELECT pg_catalog.format('%I.%I', n.nspname, s.relname) \
                 FROM pg_catalog.pg_class s JOIN pg_catalog.pg_namespace n ON n.oid = s.relnamespace \
                 JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                   AND d.objid = s.oid AND d.deptype IN ('a', 'i') \
                 WHERE s.relkind = 'S' AND d.refobjid = ANY($1::text[]::pg_catalog.regclass[])",
                &[&tables],
            )
            .await
            .map_err(|e| pg_error("cannot read the sequences of the restored tables", e))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut stmts: Vec<String> = Vec::new();
        for (t, name) in created.iter().zip(&tables) {
            if let Some(owner) = t.extra.get("owner").and_then(|v| v.as_str())
                && owner != me
                && roles.contains(owner)
            {
                stmts.push(format!("ALTER TABLE {name} OWNER TO {}", ident(owner)));
            }
        }
        let named: Vec<String> = self
            .client
            .query(
                "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) \
                 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.oid = ANY($1::text[]::pg_catalog.regclass[])",
                &[&tables],
            )
            .await
            .map_err(|e| pg_error("cannot read the restored tables", e))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let on: Vec<String> = named
            .iter()
            .map(|t| format!(" ON TABLE {t} TO "))
            .chain(sequences.iter().map(|s| format!(" ON SEQUENCE {s} TO ")))
            .collect();
        for g in self.objects("grant") {
            if on.iter().any(|o| g.ddl.contains(o.as_str())) {
                stmts.push(g.ddl);
            }
        }
        for sql in stmts {
            if let Some(why) = self.attempt(&sql).await? {
                self.warnings.push(format!(
                    "{sql}: {why} (the table keeps the restoring user as its owner, or lacks the \
                     grant; run it as a superuser or the owner)"
                ));
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
        // every restored table's owner (one changed since the backup comes
        // back too); a table's owner takes its sequences along
        for t in &self.schema.tables {
            if let (true, Some(owner)) = (
                self.created.contains(&t.name) || self.plan_tables.contains(&t.name),
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
                // a sequence a column owns has its table's owner: altering
                // it alone is refused (`Sequence ... is linked to table`)
                "view" | "materialized_view" | "sequence"
                    if self.created.contains(&o.name)
                        || (o.kind == "sequence" && o.table.is_none()) =>
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
}
