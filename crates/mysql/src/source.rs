//! Reading: one consistent snapshot, rows streamed in key order.
//!
//! Every connection runs `START TRANSACTION WITH CONSISTENT SNAPSHOT, READ
//! ONLY` at `REPEATABLE READ`. With `jobs > 1` the connections only share
//! one instant when the user allows a short global read lock
//! (`allow-global-lock=true`): `FLUSH TABLES WITH READ LOCK`, start every
//! snapshot, `UNLOCK TABLES`. Without it one connection reads every table.

use std::sync::Mutex;

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use tokio::sync::{Semaphore, mpsc};
use tresor_core::codec::{encode_value, put_varint};
use tresor_core::{
    BATCH_BYTES, BATCH_ROWS, DatabaseSchema, EncodedBatch, EncodedSender, Engine, ErrorKind, Probe,
    ReadOptions, RowKey, RowSender, Source, SourceError, SourceInfo, SourceSnapshot, TableSchema,
};

use crate::catalog;
use crate::convert::{self, Kind};
use crate::error::Context;
use crate::sql::quote;
use crate::url::{Endpoint, Role};

/// A MySQL or MariaDB database to back up.
pub(crate) struct MysqlSource {
    pub(crate) endpoint: Endpoint,
}

const START_SNAPSHOT: &[&str] = &[
    "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
    "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
];

async fn start_snapshot(conn: &mut Conn) -> Result<(), SourceError> {
    for sql in START_SNAPSHOT {
        conn.query_drop(*sql)
            .await
            .ctx(|| "cannot start a consistent snapshot".to_string())?;
    }
    Ok(())
}

/// Bounds how long `conn` waits for a table another session holds (a
/// migration's `ALTER TABLE`, or for the global read lock, the writes in
/// progress), as `options` say.
async fn bound_waits(conn: &mut Conn, options: &ReadOptions) -> Result<(), SourceError> {
    let secs = crate::sql::wait_secs(options.lock_wait);
    conn.query_drop(format!("SET SESSION lock_wait_timeout = {secs}"))
        .await
        .ctx(|| "cannot set up the backup session".to_string())
}

#[async_trait]
impl Source for MysqlSource {
    fn engine(&self) -> Engine {
        Engine::MYSQL
    }

    /// Prepares the query first, so that it is one statement, then runs
    /// it in a read-only transaction over the text protocol.
    async fn probe(&self, probe: &Probe) -> Result<Option<String>, SourceError> {
        let Probe::Sql(sql) = probe else {
            return Err(probe.unsupported(Engine::MYSQL));
        };
        let mut conn = self.endpoint.connect_db(Role::Source).await?;
        let statement = conn
            .prep(sql.as_str())
            .await
            .ctx(|| "the query failed".to_string())?;
        conn.close(statement)
            .await
            .ctx(|| "the query failed".to_string())?;
        conn.query_drop("START TRANSACTION READ ONLY")
            .await
            .ctx(|| "cannot start a read-only transaction".to_string())?;
        let row: Option<Row> = conn
            .query_first(sql.as_str())
            .await
            .ctx(|| "the query failed".to_string())?;
        let _ = conn.query_drop("ROLLBACK").await;
        let _ = conn.disconnect().await;
        Ok(match row.as_ref().and_then(|r| r.as_ref(0)) {
            None | Some(mysql_async::Value::NULL) => None,
            Some(mysql_async::Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            Some(other) => Some(other.as_sql(true).trim_matches('\'').to_string()),
        })
    }

    async fn open(&self, options: &ReadOptions) -> Result<Box<dyn SourceSnapshot>, SourceError> {
        let allow_lock = options
            .options
            .get("allow-global-lock")
            .is_some_and(|v| v == "true");
        let jobs = options.jobs.max(1);
        let mut first = self.endpoint.connect_db(Role::Source).await?;
        bound_waits(&mut first, options).await?;
        let version: String = first
            .query_first::<String, _>("SELECT VERSION()")
            .await
            .ctx(|| "cannot read the server version".to_string())?
            .unwrap_or_default();
        let mariadb = version.to_ascii_lowercase().contains("mariadb");
        let mut conns = Vec::with_capacity(jobs);
        let mut warnings = Vec::new();
        let consistency;
        if jobs > 1 && allow_lock {
            first
                .query_drop("FLUSH TABLES WITH READ LOCK")
                .await
                .ctx(|| "cannot take the global read lock".to_string())
                .map_err(|e| {
                    e.with_hint("grant the backup user RELOAD, or drop allow-global-lock")
                })?;
            let mut others = Vec::with_capacity(jobs - 1);
            let opened: Result<(), SourceError> = async {
                for _ in 1..jobs {
                    let mut c = self.endpoint.connect_db(Role::Source).await?;
                    bound_waits(&mut c, options).await?;
                    start_snapshot(&mut c).await?;
                    others.push(c);
                }
                start_snapshot(&mut first).await
            }
            .await;
            // always release the lock, even when a snapshot failed
            let unlocked = first
                .query_drop("UNLOCK TABLES")
                .await
                .ctx(|| "cannot release the global read lock".to_string());
            opened?;
            unlocked?;
            conns.push(first);
            conns.extend(others);
            consistency = format!(
                "one instant shared by {jobs} connections (snapshots started under a brief global read lock)"
            );
        } else {
            start_snapshot(&mut first).await?;
            conns.push(first);
            consistency = "one read transaction (consistent snapshot)".to_string();
            if jobs > 1 {
                warnings.push(format!(
                    "read with one connection instead of {jobs}: parallel consistent reads need a \
                     brief global read lock; try: --option allow-global-lock=true"
                ));
            }
        }
        let captured = catalog::capture(
            &mut conns[0],
            &self.endpoint.database,
            &options.filter,
            mariadb,
        )
        .await?;
        warnings.extend(captured.warnings);
        let n = conns.len();
        Ok(Box::new(MysqlSnapshot {
            info: SourceInfo {
                server_version: version,
                database: self.endpoint.database.clone(),
                consistency,
                warnings,
            },
            schema: captured.schema,
            conns: Mutex::new(conns),
            permits: Semaphore::new(n),
        }))
    }
}

/// An open read view: connections all inside one snapshot.
struct MysqlSnapshot {
    info: SourceInfo,
    schema: DatabaseSchema,
    conns: Mutex<Vec<Conn>>,
    permits: Semaphore,
}

/// Borrows a connection from the snapshot and puts it back on drop (a
/// cancelled read returns it too; the driver drains the rest of the
/// result before its next statement).
struct Lease<'a> {
    pool: &'a Mutex<Vec<Conn>>,
    conn: Option<Conn>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let (Some(c), Ok(mut pool)) = (self.conn.take(), self.pool.lock()) {
            pool.push(c);
        }
    }
}

/// `SELECT` of the stored columns in row-key order.
///
/// Text-like key columns are ordered by their UTF-8 bytes
/// (`CAST(CONVERT(col USING utf8mb4) AS BINARY)`), the order
/// [`tresor_core::compare_keys`] uses; collations (even `_bin` ones, which
/// pad with spaces) differ from it. That costs a sort on the server for
/// text keys; numeric, temporal and binary keys use the index order.
pub(crate) fn select_sql(table: &TableSchema) -> String {
    let cols: Vec<String> = table.stored_columns().map(|c| quote(&c.name)).collect();
    let mut sql = format!(
        "SELECT {} FROM {}",
        if cols.is_empty() {
            "1".to_string()
        } else {
            cols.join(", ")
        },
        quote(&table.name.name)
    );
    if let RowKey::Columns { columns } = &table.row_key {
        let order: Vec<String> = columns
            .iter()
            .map(|k| {
                let q = quote(k);
                match table.column(k).map(|c| (Kind::of(c), c)) {
                    Some((Kind::Text | Kind::Enum | Kind::Json, c)) => {
                        let charset = c.extra.get("charset").and_then(|v| v.as_str());
                        if matches!(charset, Some("utf8mb4" | "utf8mb3" | "utf8")) {
                            format!("CAST({q} AS BINARY)")
                        } else {
                            format!("CAST(CONVERT({q} USING utf8mb4) AS BINARY)")
                        }
                    }
                    _ => q,
                }
            })
            .collect();
        if !order.is_empty() {
            sql.push_str(" ORDER BY ");
            sql.push_str(&order.join(", "));
        }
    }
    sql
}

#[async_trait]
impl SourceSnapshot for MysqlSnapshot {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn schema(&self) -> &DatabaseSchema {
        &self.schema
    }

    async fn read_table(&self, table: &TableSchema, rows: RowSender) -> Result<u64, SourceError> {
        self.read(table, ValueRows::default(), rows).await
    }

    async fn read_table_encoded(
        &self,
        table: &TableSchema,
        rows: EncodedSender,
    ) -> Result<u64, SourceError> {
        self.read(table, EncodedRows::default(), rows).await
    }

    async fn close(self: Box<Self>) -> Result<(), SourceError> {
        let conns = std::mem::take(
            &mut *self
                .conns
                .lock()
                .map_err(|_| SourceError::new(ErrorKind::Engine, "connection pool poisoned"))?,
        );
        for mut c in conns {
            let _ = c.query_drop("COMMIT").await;
            let _ = c.disconnect().await;
        }
        Ok(())
    }
}

/// Where a table's rows gather until they are sent on.
trait Gather: Send {
    type Batch: Send;
    /// Adds a row; returns about how many bytes it holds.
    fn push(
        &mut self,
        kinds: &[Kind],
        values: Vec<mysql_async::Value>,
    ) -> Result<usize, SourceError>;
    /// Rows not taken yet.
    fn pending(&self) -> usize;
    /// Whether the gathered rows make a batch, given about how many bytes
    /// of values they hold.
    fn is_full(&self, approx_bytes: usize) -> bool {
        self.pending() >= BATCH_ROWS || approx_bytes >= BATCH_BYTES
    }
    /// Takes the gathered rows.
    fn take(&mut self) -> Self::Batch;
}

/// Converts a row's values in column order, handing each to `each`;
/// returns about how many bytes they hold.
fn convert_row(
    kinds: &[Kind],
    values: Vec<mysql_async::Value>,
    mut each: impl FnMut(tresor_core::Value),
) -> Result<usize, SourceError> {
    let mut bytes = 0;
    for (kind, v) in kinds.iter().zip(values) {
        let value = convert::from_mysql(kind, v)?;
        bytes += convert::approx_size(&value);
        each(value);
    }
    Ok(bytes)
}

/// Rows as [`tresor_core::Value`]s.
#[derive(Default)]
struct ValueRows(Vec<tresor_core::Row>);

impl Gather for ValueRows {
    type Batch = Vec<tresor_core::Row>;
    fn push(
        &mut self,
        kinds: &[Kind],
        values: Vec<mysql_async::Value>,
    ) -> Result<usize, SourceError> {
        let mut out = Vec::with_capacity(kinds.len());
        let bytes = convert_row(kinds, values, |v| out.push(v))?;
        self.0.push(out);
        Ok(bytes)
    }
    fn pending(&self) -> usize {
        self.0.len()
    }
    fn take(&mut self) -> Self::Batch {
        std::mem::replace(&mut self.0, Vec::with_capacity(BATCH_ROWS))
    }
}

/// Rows in the row codec: each value is encoded and dropped on the thread
/// that read it, and no row is a `Vec` of its own.
#[derive(Default)]
struct EncodedRows {
    batch: EncodedBatch,
    row: Vec<u8>,
}

impl Gather for EncodedRows {
    type Batch = EncodedBatch;
    fn push(
        &mut self,
        kinds: &[Kind],
        values: Vec<mysql_async::Value>,
    ) -> Result<usize, SourceError> {
        self.row.clear();
        put_varint(&mut self.row, kinds.len() as u64);
        let bytes = convert_row(kinds, values, |v| encode_value(&v, &mut self.row))?;
        self.batch.push_encoded(&self.row);
        Ok(bytes)
    }
    fn pending(&self) -> usize {
        self.batch.rows() as usize
    }
    fn is_full(&self, _: usize) -> bool {
        self.batch.is_full()
    }
    fn take(&mut self) -> Self::Batch {
        std::mem::replace(&mut self.batch, EncodedBatch::new())
    }
}

impl MysqlSnapshot {
    /// Streams `table` through `sink` into `tx` over a free connection.
    async fn read<G: Gather>(
        &self,
        table: &TableSchema,
        mut sink: G,
        tx: mpsc::Sender<G::Batch>,
    ) -> Result<u64, SourceError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| SourceError::cancelled())?;
        let conn = self
            .conns
            .lock()
            .map_err(|_| SourceError::new(ErrorKind::Engine, "connection pool poisoned"))?
            .pop()
            .ok_or_else(|| SourceError::new(ErrorKind::Engine, "no free connection"))?;
        let mut lease = Lease {
            pool: &self.conns,
            conn: Some(conn),
        };
        let Some(conn) = lease.conn.as_mut() else {
            return Err(SourceError::new(ErrorKind::Engine, "no free connection"));
        };
        let kinds: Vec<Kind> = table.stored_columns().map(Kind::of).collect();
        let no_columns = kinds.is_empty();
        let name = &table.name.name;
        let sql = select_sql(table);
        let mut result = conn
            .exec_iter(sql, ())
            .await
            .ctx(|| format!("cannot read table {name}"))?;
        let mut bytes = 0usize;
        let mut count = 0u64;
        while let Some(row) = result
            .next()
            .await
            .ctx(|| format!("cannot read table {name}"))?
        {
            let row: Row = row;
            let values = if no_columns { Vec::new() } else { row.unwrap() };
            bytes += sink.push(&kinds, values)?;
            count += 1;
            if sink.is_full(bytes) {
                bytes = 0;
                tx.send(sink.take())
                    .await
                    .map_err(|_| SourceError::cancelled())?;
            }
        }
        drop(result);
        if sink.pending() > 0 {
            tx.send(sink.take())
                .await
                .map_err(|_| SourceError::cancelled())?;
        }
        Ok(count)
    }
}
