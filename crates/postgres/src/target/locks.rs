//! The locks a restore takes first (see [`crate::locks`]): every table it
//! empties, drops, makes again or merges into, and the tables whose
//! foreign keys it sets aside, in one go right after `BEGIN`. Every later
//! wait inside the restore (a row another session writes during a merge)
//! is bounded by the same [`RestorePlan::lock_wait`].
//!
//! [`RestorePlan::lock_wait`]: tresor_core::RestorePlan::lock_wait

use tresor_core::{RestoreMode, SourceError};

use super::session::PgSession;
use super::target_name;
use crate::error::pg_error;
use crate::locks::{Waiter, Wanted, take};
use crate::types::qualified;

impl PgSession {
    /// Takes the locks of every table the restore changes, in one go;
    /// then bounds every later wait by the same time.
    pub(super) async fn take_locks(&mut self) -> Result<(), SourceError> {
        let wanted = self.wanted().await?;
        take(&self.client, &wanted, self.lock_wait, Waiter::Restore).await?;
        // `0` would mean no bound at all
        self.exec(
            &format!(
                "SET LOCAL lock_timeout = '{}ms'",
                self.lock_wait.as_millis().max(1)
            ),
            || "cannot bound the restore's lock waits".into(),
        )
        .await
    }

    /// Opens the transaction and takes, for every table the restore
    /// changes, the lock that keeps other sessions from writing it but
    /// not from reading it (`EXCLUSIVE`): the safety snapshot reads the
    /// tables now from other connections, and nothing is written between
    /// it and the restore. [`take_locks`](Self::take_locks) then raises
    /// them, in the same transaction, to what the restore needs.
    pub(super) async fn hold_writes(&mut self) -> Result<(), SourceError> {
        self.open().await?;
        let wanted = self.wanted().await?;
        let held = Wanted {
            writes: wanted
                .exclusive
                .into_iter()
                .chain(wanted.row_exclusive)
                .collect(),
            ..Wanted::default()
        };
        take(&self.client, &held, self.lock_wait, Waiter::Restore).await
    }

    /// The relations of the target the plan changes, and how to lock them.
    async fn wanted(&self) -> Result<Wanted, SourceError> {
        let names = |list: &[tresor_core::TableName]| -> Vec<String> {
            list.iter().map(|n| qualified(&target_name(n))).collect()
        };
        let mut exclusive = names(&self.recreate);
        exclusive.extend(names(&self.drop));
        let mut shared = Vec::new();
        match self.mode {
            RestoreMode::Replace => exclusive.extend(names(&self.plan_tables)),
            RestoreMode::Merge => shared.extend(names(&self.plan_tables)),
        }
        // the relations that exist, as the catalog spells them; then the
        // tables with a foreign key on an emptied or dropped one, and the
        // tables a dropped or remade one refers to (its key goes with it)
        let remade: Vec<String> = names(&self.recreate)
            .into_iter()
            .chain(names(&self.drop))
            .collect();
        let rows = self
            .client
            .query(
                "WITH t(name, excl) AS ( \
                   SELECT pg_catalog.to_regclass(n), true FROM pg_catalog.unnest($1::text[]) n \
                   UNION ALL \
                   SELECT pg_catalog.to_regclass(n), false FROM pg_catalog.unnest($2::text[]) n), \
                 r(name) AS (SELECT pg_catalog.to_regclass(n) FROM pg_catalog.unnest($3::text[]) n), \
                 found AS (SELECT name, excl FROM t WHERE name IS NOT NULL \
                   UNION ALL \
                   SELECT c.conrelid, true FROM pg_catalog.pg_constraint c \
                     JOIN t ON t.excl AND t.name = c.confrelid WHERE c.contype = 'f' \
                   UNION ALL \
                   SELECT c.confrelid, true FROM pg_catalog.pg_constraint c \
                     JOIN r ON r.name = c.conrelid WHERE c.contype = 'f') \
                 SELECT f.name::text, pg_catalog.bool_or(f.excl) \
                 FROM found f JOIN pg_catalog.pg_class k ON k.oid = f.name \
                 WHERE k.relkind IN ('r', 'p', 'f', 'm') \
                 GROUP BY f.name ORDER BY f.name::oid",
                &[&exclusive, &shared, &remade],
            )
            .await
            .map_err(|e| pg_error("cannot look at the tables to restore", e))?;
        let mut wanted = Wanted::default();
        for r in rows {
            let (name, excl): (String, bool) = (r.get(0), r.get(1));
            if excl {
                wanted.exclusive.push(name);
            } else {
                wanted.row_exclusive.push(name);
            }
        }
        Ok(wanted)
    }
}
