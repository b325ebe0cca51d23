//! Loading rows: one prepared `INSERT` per table, bound row by row.

use std::collections::BTreeSet;

use tresor_core::{ErrorKind, RestoreMode, RowReceiver, SourceError, TableSchema};

use super::references::Written;
use super::session::Inner;
use crate::error::SqlResultExt;
use crate::value::{Bind, is_nan, is_native};

impl Inner {
    /// Loads the rows of `table`; answers how many.
    pub(super) fn load(
        &mut self,
        table: &TableSchema,
        mut rx: RowReceiver,
    ) -> Result<u64, SourceError> {
        let name = table.name.name.clone();
        let load = self.loads.get(&name).ok_or_else(|| {
            SourceError::new(
                ErrorKind::NotFound,
                format!("table {name} is not part of this restore"),
            )
        })?;
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare(&load.sql)
            .ctx(|| format!("cannot prepare insert into {name}"))?;
        let mut n = 0u64;
        let mut foreign: BTreeSet<&'static str> = BTreeSet::new();
        // a merge notes the keys it wrote, so the foreign key check can
        // look at those rows rather than the whole table
        let mut written = match self.plan.mode {
            RestoreMode::Merge => Written::of(table),
            RestoreMode::Replace => None,
        };
        while let Some(batch) = rx.blocking_recv() {
            for row in batch {
                if row.len() != load.width {
                    return Err(SourceError::data(format!(
                        "table {name}: row {} has {} values, expected {}",
                        n + 1,
                        row.len(),
                        load.width
                    )));
                }
                for (i, &pos) in load.positions.iter().enumerate() {
                    let v = &row[pos];
                    if is_nan(v) {
                        foreign.insert("NaN (kept as the text 'NaN')");
                    } else if !is_native(v) {
                        foreign.insert(v.kind());
                    }
                    stmt.raw_bind_parameter(i + 1, Bind(v))
                        .ctx(|| format!("cannot bind a value of table {name}"))?;
                }
                stmt.raw_execute()
                    .ctx(|| format!("cannot write row {} of table {name}", n + 1))?;
                if let Some(w) = written.as_mut() {
                    w.push(&row);
                }
                n += 1;
            }
        }
        drop(stmt);
        if !foreign.is_empty() {
            self.warnings.push(format!(
                "table {name}: {} values stored as sqlite's nearest storage class",
                foreign.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        if let Some(w) = written {
            // a table loaded twice is checked whole
            self.written
                .entry(name.clone())
                .and_modify(Written::forget)
                .or_insert(w);
        }
        *self.rows.entry(name).or_default() += n;
        Ok(n)
    }
}
