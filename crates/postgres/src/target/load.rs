//! Loading rows with binary `COPY`, straight into the table or through a
//! staging table (text casts, upserts for merge).

use bytes::BytesMut;
use futures::SinkExt;
use tresor_core::{ErrorKind, RestoreMode, RowReceiver, SourceError, TableSchema, Value};

use super::lossy::Lossy;
use super::session::{PgSession, TargetTable};
use super::target_name;
use crate::encode::{ColumnEncoder, write_header, write_row, write_trailer};
use crate::error::pg_error;
use crate::types::{Codec, ident, qualified};
use crate::versions::Conversion;

/// Bytes of COPY data sent to the server at once.
const SEND_BYTES: usize = 1 << 20;

impl PgSession {
    /// Loads the rows of `table`; answers how many.
    pub(super) async fn load(
        &mut self,
        table: &TableSchema,
        rows: RowReceiver,
    ) -> Result<u64, SourceError> {
        if table.is_large_objects() {
            let count =
                super::large_objects::load(&self.client, &self.types, table, self.mode, rows)
                    .await?;
            *self.rows.entry(table.name.to_string()).or_default() += count;
            return Ok(count);
        }
        let info = self.tables.get(&table.name).cloned().ok_or_else(|| {
            SourceError::new(
                ErrorKind::NotFound,
                format!("table {} is not part of this restore", table.name),
            )
        })?;
        let name = qualified(&target_name(&table.name));
        // SQLite's implicit rowid is no column in another engine
        let foreign = !self.is_postgres();
        let keep: Vec<usize> = table
            .stored_columns()
            .enumerate()
            .filter(|(_, c)| !(foreign && c.hidden))
            .map(|(i, _)| i)
            .collect();
        let (encoders, stage_types) = self.encoders(table, &info)?;
        let merge = self.mode == RestoreMode::Merge && !info.fresh;
        let stage = merge || encoders.iter().any(|e| e.codec.is_fallback());
        let copy_into = if stage {
            self.create_stage(table, &encoders, &stage_types).await?
        } else {
            name.clone()
        };
        let freeze = !stage && info.plain && info.made_here;
        // values of types the target lacks, in the type they became
        let convert: Vec<(usize, Conversion)> = self
            .conversions
            .get(&table.name)
            .into_iter()
            .flatten()
            .filter_map(|(col, conv)| {
                let at = table.stored_columns().position(|c| &c.name == col)?;
                Some((at, *conv))
            })
            .collect();
        let lossy = Lossy::of(
            table,
            (&encoders, &info.columns),
            &keep,
            (self.schema.engine, info.fresh),
        );
        let mut changes = std::mem::take(&mut self.changes);
        let count = self
            .copy_rows(
                table,
                (&copy_into, freeze),
                &encoders,
                (&keep, &convert),
                (&lossy, &mut changes),
                rows,
            )
            .await;
        self.changes = changes;
        let count = count?;
        if stage {
            // a merge into a table without a primary key adds the rows it
            // lacks
            let how = match (merge, info.primary_key.is_empty()) {
                (false, _) => Staged::Insert,
                (true, true) => Staged::Missing,
                (true, false) => Staged::Upsert(&info),
            };
            self.insert_from_stage(table, &name, &copy_into, &encoders, how)
                .await?;
        }
        *self.rows.entry(table.name.to_string()).or_default() += count;
        Ok(count)
    }

    /// One encoder per column written, and the column's type in a staging
    /// table (text where the encoder falls back to text).
    fn encoders(
        &self,
        table: &TableSchema,
        info: &TargetTable,
    ) -> Result<(Vec<ColumnEncoder>, Vec<String>), SourceError> {
        let mut encoders = Vec::new();
        let mut stage_types = Vec::new();
        let foreign = !self.is_postgres();
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
        Ok((encoders, stage_types))
    }

    /// Creates a temporary staging table dropped on commit; answers its name.
    async fn create_stage(
        &mut self,
        table: &TableSchema,
        encoders: &[ColumnEncoder],
        stage_types: &[String],
    ) -> Result<String, SourceError> {
        self.stage_counter += 1;
        let s = format!(
            "pg_temp.{}",
            ident(&format!("tresor_stage_{}", self.stage_counter))
        );
        let defs: Vec<String> = encoders
            .iter()
            .zip(stage_types)
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
        Ok(s)
    }

    /// Streams the rows into `copy_into` with binary `COPY` (frozen with
    /// `freeze`: the table was made or emptied in this transaction, see
    /// [`TargetTable::made_here`]), converting
    /// the values at the positions `convert` names, writing those
    /// PostgreSQL cannot hold in another form (`lossy`, noted in
    /// `changes`) and keeping those at positions `keep`; answers how many
    /// rows.
    async fn copy_rows(
        &self,
        table: &TableSchema,
        (copy_into, freeze): (&str, bool),
        encoders: &[ColumnEncoder],
        (keep, convert): (&[usize], &[(usize, Conversion)]),
        (lossy, changes): (&Lossy, &mut tresor_core::ValueChanges),
        mut rows: RowReceiver,
    ) -> Result<u64, SourceError> {
        let cols: Vec<String> = encoders.iter().map(|e| ident(&e.name)).collect();
        let width = table.stored_columns().count();
        let sink = self
            .client
            .copy_in::<_, bytes::Bytes>(&format!(
                "COPY {copy_into} ({}) FROM STDIN (FORMAT binary{})",
                cols.join(", "),
                if freeze { ", FREEZE" } else { "" }
            ))
            .await
            .map_err(|e| pg_error(format!("cannot load table {}", table.name), e))?;
        let mut sink = std::pin::pin!(sink);
        let mut buf = BytesMut::with_capacity(SEND_BYTES + 64 * 1024);
        write_header(&mut buf);
        let mut count = 0u64;
        while let Some(mut batch) = rows.recv().await {
            for row in &mut batch {
                for (at, conversion) in convert {
                    if let Some(v) = row.get_mut(*at) {
                        let value = std::mem::replace(v, Value::Null);
                        *v = conversion
                            .apply(value)
                            .map_err(|e| SourceError::data(format!("table {}: {e}", table.name)))?;
                    }
                }
                if !lossy.is_empty() {
                    lossy.apply(row, changes)?;
                }
            }
            for row in &batch {
                let written = if keep.len() == width {
                    write_row(encoders, row, &mut buf)
                } else {
                    let kept: Vec<tresor_core::Value> =
                        keep.iter().filter_map(|i| row.get(*i).cloned()).collect();
                    write_row(encoders, &kept, &mut buf)
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
        Ok(count)
    }

    /// Moves the staged rows into table `name`, casting text back to the
    /// column types, as `how` says.
    async fn insert_from_stage(
        &self,
        table: &TableSchema,
        name: &str,
        copy_into: &str,
        encoders: &[ColumnEncoder],
        how: Staged<'_>,
    ) -> Result<(), SourceError> {
        let cols: Vec<String> = encoders.iter().map(|e| ident(&e.name)).collect();
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
        let mut sql = match how {
            Staged::Missing => missing_rows(name, copy_into, &cols, &select),
            _ => format!(
                "INSERT INTO {name} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {copy_into}",
                cols.join(", "),
                select.join(", ")
            ),
        };
        if let Staged::Upsert(info) = how {
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
        match (how, self.client.batch_execute(&sql).await) {
            (_, Ok(())) => Ok(()),
            // a unique value another row holds under another key
            (Staged::Upsert(info), Err(e))
                if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) =>
            {
                let constraint = e
                    .as_db_error()
                    .and_then(|d| d.constraint())
                    .map(str::to_string);
                Err(tresor_core::unique_collision(
                    &table.name.to_string(),
                    None,
                    &info.primary_key,
                    constraint.as_deref(),
                ))
            }
            (_, Err(e)) => Err(pg_error(format!("cannot load table {}", table.name), e)),
        }
    }
}

/// The insert of the rows staged in `stage` (read as `select`) that table
/// `name` lacks, into its columns `cols`: rows are compared by the text of
/// every value (what a backup and a preview compare: `1.0` is not `1.00`,
/// and types without an equality, such as `json` or `point`, compare too),
/// duplicates counted (the nth copy of a row is added unless the table has
/// n copies), through one text key per row, which PostgreSQL can hash.
fn missing_rows(name: &str, stage: &str, cols: &[String], select: &[String]) -> String {
    let key = |values: &[String]| {
        let texts: Vec<String> = values.iter().map(|v| format!("({v})::text")).collect();
        format!("ROW({})::text", texts.join(", "))
    };
    let staged: Vec<String> = select
        .iter()
        .zip(cols)
        .map(|(s, c)| format!("{s} AS {c}"))
        .collect();
    format!(
        "WITH tresor_s AS (SELECT {staged}, {skey} AS tresor_k FROM {stage}), \
         tresor_sn AS (SELECT *, row_number() OVER (PARTITION BY tresor_k) AS tresor_n \
         FROM tresor_s), \
         tresor_l AS (SELECT {lkey} AS tresor_k, row_number() OVER (PARTITION BY {lkey}) \
         AS tresor_n FROM {name}) \
         INSERT INTO {name} ({cols}) OVERRIDING SYSTEM VALUE SELECT {cols} FROM tresor_sn \
         WHERE NOT EXISTS (SELECT 1 FROM tresor_l \
         WHERE tresor_l.tresor_k = tresor_sn.tresor_k AND tresor_l.tresor_n = tresor_sn.tresor_n)",
        staged = staged.join(", "),
        skey = key(select),
        lkey = key(cols),
        cols = cols.join(", "),
    )
}

/// How staged rows go into their table.
#[derive(Clone, Copy)]
enum Staged<'a> {
    /// All inserted.
    Insert,
    /// Inserted, or updating the row with their key (the table, which has
    /// a primary key).
    Upsert(&'a TargetTable),
    /// Only those the table lacks (a merge without a primary key).
    Missing,
}
