//! The commit: foreign keys of the new tables, the transaction's commit,
//! the one `RENAME TABLE` that swaps the new tables in, and what follows
//! (`AUTO_INCREMENT` values, the database's other objects).

use std::collections::{HashMap, HashSet};

use mysql_async::prelude::Queryable;
use tresor_core::{RestoreSummary, SourceError};

use crate::error::Context;
use crate::sql::quote;

use super::session::{MysqlSession, Route};

/// How long the swap after the transaction's commit waits for other
/// sessions to let go of the tables it drops or replaces.
const SWAP_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

impl MysqlSession {
    /// Everything before the point of no return that can fail: the keys
    /// and foreign keys of the new tables (still under their work names).
    pub(super) async fn prepare_swap(&mut self) -> Result<(), SourceError> {
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
            // a replaced (or dropped) table's key names are still taken by
            // the old table: its keys are added after the swap
            if fks.is_empty() || self.keys_after_swap(&name.name) {
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
        let restored: HashSet<String> = self.tables.keys().map(|n| n.name.clone()).collect();
        let db = self.db.clone();
        let replaced = self.replaced.clone();
        if let Some(txn) = self.txn.as_mut() {
            super::references::check(txn, &db, &restored, &replaced, &works).await
        } else {
            let conn = self.ddl()?;
            super::references::check(conn, &db, &restored, &replaced, &works).await
        }
    }

    /// Whether the keys of new table `name` wait for the old tables to go.
    fn keys_after_swap(&self, name: &str) -> bool {
        self.replaced.iter().any(|r| r == name) || self.keys_named_by_dropped.contains(name)
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

    /// The staged merges into tables without transactions, each one
    /// statement, after the commit; a row whose unique value another row
    /// of the table holds under another key is left out and named in a
    /// warning (nothing can be rolled back there).
    async fn merge_staged(&mut self, methods: &mut Vec<&'static str>) -> Result<(), SourceError> {
        let staged = std::mem::take(&mut self.staged);
        for st in &staged {
            let cols: Vec<String> = st.columns.iter().map(|c| quote(c)).collect();
            let updates: Vec<String> = st
                .columns
                .iter()
                .filter(|c| !st.keys.contains(c))
                .map(|c| format!("{0} = VALUES({0})", quote(c)))
                .collect();
            let update = if updates.is_empty() {
                format!("{0} = {0}", cols[0])
            } else {
                updates.join(", ")
            };
            // without a key: the rows the table lacks, by their values
            let sql = if st.keys.is_empty() {
                super::load::missing_rows(&quote(&st.table), &quote(&st.stage), &cols)
            } else {
                format!(
                    "INSERT INTO {} ({}) SELECT {} FROM {} ON DUPLICATE KEY UPDATE {update}",
                    quote(&st.table),
                    cols.join(", "),
                    cols.join(", "),
                    quote(&st.stage)
                )
            };
            self.ddl()?
                .query_drop(sql)
                .await
                .ctx(|| format!("cannot merge the rows of {}", st.table))?;
            if !st.keys.is_empty() {
                let on: Vec<String> = st
                    .keys
                    .iter()
                    .map(|k| format!("t.{0} = s.{0}", quote(k)))
                    .collect();
                let missing: Option<u64> = self
                    .ddl()?
                    .query_first(format!(
                        "SELECT COUNT(*) FROM {} s WHERE NOT EXISTS (SELECT 1 FROM {} t WHERE {})",
                        quote(&st.stage),
                        quote(&st.table),
                        on.join(" AND ")
                    ))
                    .await
                    .ctx(|| format!("cannot check the rows merged into {}", st.table))?;
                if let Some(n) = missing.filter(|n| *n > 0) {
                    self.warnings.push(format!(
                        "table {}: {n} row(s) of the snapshot hold a unique value that a row of \
                         the table holds under another key, and were left out",
                        st.table
                    ));
                }
            }
            self.ddl()?
                .query_drop(format!("DROP TABLE {}", quote(&st.stage)))
                .await
                .ctx(|| format!("cannot drop the stage of {}", st.table))?;
        }
        if !staged.is_empty() {
            methods.push("tables without transactions merged from a stage");
        }
        Ok(())
    }

    pub(super) async fn finish(&mut self) -> Result<RestoreSummary, SourceError> {
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
            if !self.dropped.is_empty() || !fresh.is_empty() {
                // past the commit, giving up would leave the restore half
                // done: the swap waits as long as it must
                self.ddl()?
                    .query_drop(format!(
                        "SET SESSION {}",
                        super::session::lock_waits(SWAP_WAIT)
                    ))
                    .await
                    .ctx(|| "cannot set up the swap".to_string())?;
            }
        }
        if !self.dropped.is_empty() {
            // the tables the snapshot lacks (`--drop-extra-tables`); foreign
            // key checks are off on this connection
            let old: Vec<String> = self.dropped.iter().map(|n| quote(n)).collect();
            self.ddl()?
                .query_drop(format!("DROP TABLE IF EXISTS {}", old.join(", ")))
                .await
                .ctx(|| {
                    format!(
                        "cannot drop {}, which the snapshot lacks",
                        self.dropped.join(", ")
                    )
                })?;
            methods.push("tables the snapshot lacks dropped");
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
                if fks.is_empty() || !self.keys_after_swap(&name.name) {
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
        self.merge_staged(&mut methods).await?;
        // from here on the data is in place; what follows cannot undo it
        self.finished = true;
        let mut warnings = std::mem::take(&mut self.warnings);
        let autos: Vec<(String, i64)> = self
            .tables
            .iter()
            .filter_map(|(n, r)| match r {
                Route::Existing {
                    auto_increment: Some(a),
                    ..
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
        // another engine's views, triggers and routines are in its own
        // SQL: not created (the dry run lists them), never tried
        if self.whole_database
            && !self.foreign
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
            changed_values: self.changes.take(),
            method: if methods.is_empty() {
                "nothing to load".to_string()
            } else {
                methods.join("; ")
            },
        })
    }
}
