//! The commit: indexes, triggers and views of the tables this restore
//! made, sequences and settings, the foreign key check, and the commit
//! itself (or, for a new file, the rename into place).

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use tresor_core::{Engine, ErrorKind, RestoreMode, RestoreSummary, SourceError, TableName, Value};

use super::ddl;
use super::session::{Inner, Placement, actual_name, table_exists};
use crate::catalog::{SQLITE_SEQUENCE, SQLITE_STATS, schema_order};
use crate::error::{SqlResultExt, io_error, sql_error};
use crate::sql::ident;
use crate::value::Bind;

impl Inner {
    /// Indexes, triggers and views to create on commit, in
    /// `sqlite_master` order.
    fn finishing_ddl(&self, conn: &Connection) -> Result<Vec<(i64, String, String)>, SourceError> {
        let sqlite = self.plan.schema.engine == Engine::SQLITE;
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
                    _ => ddl::create_index(t, idx, self.plan.schema.engine),
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
        warnings.extend(keys_to_missing_tables(conn, &self.created)?);
        if self.plan.schema.engine == Engine::SQLITE {
            self.restore_sequences(conn)?;
            if matches!(self.placement, Placement::Fresh { .. }) {
                self.restore_fresh_settings(conn)?;
            }
        } else {
            self.foreign_counters(conn)?;
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

    /// From another engine's snapshot: each restored `AUTOINCREMENT`
    /// table's counter set to where the source's was
    /// ([`tresor_core::DatabaseSchema::next_number`]; never lower in merge
    /// mode), so that the numbers of rows deleted before the backup are not
    /// given again.
    fn foreign_counters(&self, conn: &Connection) -> Result<(), SourceError> {
        if !table_exists(conn, "sqlite_sequence")? {
            return Ok(());
        }
        let ctx = || "cannot move the tables' counters".to_string();
        for t in &self.restored {
            let Some(next) = self.plan.schema.next_number(t).filter(|n| *n > 1) else {
                continue;
            };
            let name = &t.name.name;
            let counted: bool = conn
                .query_row(
                    "SELECT count(*) > 0 FROM main.sqlite_master WHERE type = 'table' \
                     AND name = ?1 COLLATE NOCASE AND sql LIKE '%AUTOINCREMENT%'",
                    [name],
                    |r| r.get(0),
                )
                .ctx(ctx)?;
            if !counted {
                continue;
            }
            // a merge never moves it back; a replace sets the snapshot's,
            // as a restore of the same engine does
            let sql = match self.plan.mode {
                RestoreMode::Merge => {
                    "UPDATE sqlite_sequence SET seq = max(seq, ?2) WHERE name = ?1 COLLATE NOCASE"
                }
                RestoreMode::Replace => {
                    "UPDATE sqlite_sequence SET seq = ?2 WHERE name = ?1 COLLATE NOCASE"
                }
            };
            let updated = conn.execute(sql, params![name, next - 1]).ctx(ctx)?;
            if updated == 0 {
                conn.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)",
                    params![name, next - 1],
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

    /// What [`Inner::commit`] checks, then a rollback (dropping `self`
    /// rolls back and removes a temporary file).
    pub(super) fn rehearse(mut self) -> Result<RestoreSummary, SourceError> {
        self.finish_schema()?;
        if matches!(self.placement, Placement::InPlace) {
            self.check_foreign_keys(self.conn()?)?;
        }
        Ok(RestoreSummary {
            rows: std::mem::take(&mut self.rows),
            warnings: std::mem::take(&mut self.warnings),
            changed_values: self.changes.take(),
            method: match self.placement {
                Placement::InPlace => "one transaction, rolled back",
                Placement::Fresh { .. } => "temporary file, removed",
            }
            .into(),
        })
    }

    pub(super) fn commit(mut self) -> Result<RestoreSummary, SourceError> {
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
            changed_values: self.changes.take(),
            method,
        })
    }
}

/// A value of a statistics row, as [`catalog`] wrote it.
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

/// The foreign keys of the tables this restore made that reference a
/// table the database does not have (a selection of the snapshot's tables
/// restored into a database without the rest): SQLite keeps such a key,
/// and the warning says what it does to new rows.
fn keys_to_missing_tables(
    conn: &Connection,
    created: &BTreeSet<String>,
) -> Result<Vec<String>, SourceError> {
    let mut warnings = Vec::new();
    let mut stmt = conn
        .prepare("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)")
        .ctx(|| "cannot read foreign keys".into())?;
    for table in created {
        let parents: Vec<String> = stmt
            .query_map([table], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .ctx(|| format!("cannot read the foreign keys of {table}"))?;
        for parent in parents {
            if !table_exists(conn, &parent)? {
                warnings.push(tresor_core::key_to_a_missing_table(
                    &TableName::new(table.as_str()),
                    None,
                    &TableName::new(parent),
                    true,
                ));
            }
        }
    }
    Ok(warnings)
}
