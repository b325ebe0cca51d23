//! The PostgreSQL [`Source`]: one exported snapshot shared by up to `jobs`
//! connections, rows streamed with binary `COPY`.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::{Mutex, Semaphore, mpsc};
use tokio_postgres::Client;
use tresor_core::{
    DatabaseSchema, EncodedSender, Engine, ErrorKind, Probe, ReadOptions, RowSender, Source,
    SourceError, SourceInfo, SourceSnapshot, TableName, TableSchema,
};

use crate::catalog::{ReadPlan, capture};
use crate::decode::{CopyParser, EncodedRows, Gather, ValueRows};
use crate::error::pg_error;
use crate::types::{full_name, qualified};
use crate::url::ConnInfo;
use crate::versions::ServerVersion;

/// A PostgreSQL database to back up.
#[derive(Clone, Debug)]
pub struct PostgresSource {
    info: ConnInfo,
}

impl PostgresSource {
    /// A source for a `postgres://` or `postgresql://` URL; the `PG*`
    /// environment variables fill what the URL leaves out.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidUrl`] for malformed URLs.
    pub fn new(url: &str) -> Result<Self, SourceError> {
        Ok(PostgresSource {
            info: ConnInfo::parse(url)?,
        })
    }
}

#[async_trait]
impl Source for PostgresSource {
    fn engine(&self) -> Engine {
        Engine::POSTGRES
    }

    /// Prepares the query first, so that it is one statement, then runs
    /// it in a read-only transaction over the simple protocol, whose
    /// values arrive as text.
    async fn probe(&self, probe: &Probe) -> Result<Option<String>, SourceError> {
        let Probe::Sql(sql) = probe else {
            return Err(probe.unsupported(Engine::POSTGRES));
        };
        let client = self.info.connect().await?;
        // the user's SQL names tables as the application does
        client
            .batch_execute("SET search_path TO DEFAULT")
            .await
            .map_err(|e| pg_error("cannot reset the search path", e))?;
        client
            .prepare(sql)
            .await
            .map_err(|e| pg_error("the query failed", e))?;
        client
            .batch_execute("BEGIN READ ONLY")
            .await
            .map_err(|e| pg_error("cannot start a read-only transaction", e))?;
        let messages = client
            .simple_query(sql)
            .await
            .map_err(|e| pg_error("the query failed", e))?;
        let _ = client.batch_execute("ROLLBACK").await;
        Ok(messages
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
                _ => None,
            })
            .flatten())
    }

    async fn open(&self, options: &ReadOptions) -> Result<Box<dyn SourceSnapshot>, SourceError> {
        let jobs = options.jobs.max(1);
        let main = self.info.connect().await?;
        main.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(|e| pg_error("cannot start the snapshot transaction", e))?;
        let row = main
            .query_one(
                "SELECT pg_catalog.current_setting('server_version'), \
                        pg_catalog.current_setting('server_encoding'), pg_catalog.current_database()",
                &[],
            )
            .await
            .map_err(|e| pg_error("cannot read the server version", e))?;
        let (version, encoding, database): (String, String, String) =
            (row.get(0), row.get(1), row.get(2));
        let snapshot_id: Option<String> = if jobs > 1 {
            let id: String = main
                .query_one("SELECT pg_catalog.pg_export_snapshot()", &[])
                .await
                .map_err(|e| pg_error("cannot export the snapshot", e))?
                .get(0);
            Some(id)
        } else {
            None
        };
        let server = ServerVersion::read(&main).await?;
        let mut captured = capture(&main, server, &options.filter, &encoding).await?;
        if options.stored_order {
            for plan in captured.plans.values_mut() {
                if let Some(sql) = plan.unordered_sql.take() {
                    plan.copy_sql = sql;
                }
            }
        }
        // `users` and `public.users` both name a table of the public schema
        let mut names: Vec<TableName> = captured
            .schema
            .tables
            .iter()
            .map(|t| t.name.clone())
            .collect();
        names.extend(captured.schema.tables.iter().map(|t| full_name(&t.name)));
        let unmatched = options.filter.unmatched_literals(names.iter());
        if !unmatched.is_empty() {
            let all = crate::catalog::relation_names(&main, "'r', 'p'").await?;
            return Err(tresor_core::no_such_tables(
                &unmatched,
                &all,
                &self.info.display,
            ));
        }
        // keep concurrent DDL away from what we read, as pg_dump does
        // (large objects are no relation to lock: the snapshot keeps them)
        let names: Vec<String> = captured
            .schema
            .tables
            .iter()
            .filter(|t| !t.is_large_objects())
            .map(|t| qualified(&t.name))
            .collect();
        let wanted = crate::locks::Wanted {
            access_share: names,
            ..crate::locks::Wanted::default()
        };
        crate::locks::take(
            &main,
            &wanted,
            options.lock_wait,
            crate::locks::Waiter::Backup,
        )
        .await?;
        let mut clients = vec![main];
        if let Some(id) = &snapshot_id {
            if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(SourceError::new(
                    ErrorKind::Engine,
                    format!("unexpected snapshot id {id:?}"),
                ));
            }
            for _ in 1..jobs {
                let c = self.info.connect().await?;
                c.batch_execute(&format!(
                    "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT '{id}'"
                ))
                .await
                .map_err(|e| pg_error("cannot share the snapshot with a worker connection", e))?;
                clients.push(c);
            }
        }
        let consistency = if clients.len() > 1 {
            format!(
                "one repeatable-read snapshot shared by {} connections",
                clients.len()
            )
        } else {
            "one repeatable-read transaction".to_string()
        };
        Ok(Box::new(PgSnapshot {
            info: SourceInfo {
                server_version: format!("PostgreSQL {version}"),
                database,
                consistency,
                warnings: captured.warnings,
            },
            schema: captured.schema,
            plans: captured.plans,
            permits: Arc::new(Semaphore::new(clients.len())),
            clients: Mutex::new(clients),
        }))
    }
}

struct PgSnapshot {
    info: SourceInfo,
    schema: DatabaseSchema,
    plans: HashMap<TableName, ReadPlan>,
    permits: Arc<Semaphore>,
    clients: Mutex<Vec<Client>>,
}

#[async_trait]
impl SourceSnapshot for PgSnapshot {
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
        let clients = std::mem::take(&mut *self.clients.lock().await);
        for c in clients {
            // read-only: nothing to keep; errors here change nothing
            let _ = c.batch_execute("COMMIT").await;
        }
        Ok(())
    }
}

impl PgSnapshot {
    /// Streams `table` through `sink` into `tx` over a free connection.
    async fn read<G: Gather>(
        &self,
        table: &TableSchema,
        sink: G,
        tx: mpsc::Sender<G::Batch>,
    ) -> Result<u64, SourceError> {
        let plan = self.plans.get(&table.name).ok_or_else(|| {
            SourceError::new(
                ErrorKind::NotFound,
                format!("table {} is not part of this snapshot", table.name),
            )
        })?;
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| SourceError::cancelled())?;
        let client = self
            .clients
            .lock()
            .await
            .pop()
            .ok_or_else(|| SourceError::new(ErrorKind::Engine, "no free connection"))?;
        let result = stream_table(&client, plan, &table.name, sink, &tx).await;
        self.clients.lock().await.push(client);
        result
    }
}

async fn stream_table<G: Gather>(
    client: &Client,
    plan: &ReadPlan,
    name: &TableName,
    mut out: G,
    tx: &mpsc::Sender<G::Batch>,
) -> Result<u64, SourceError> {
    let stream = client
        .copy_out(plan.copy_sql.as_str())
        .await
        .map_err(|e| pg_error(format!("cannot read table {name}"), e))?;
    let mut stream = std::pin::pin!(stream);
    let mut parser = CopyParser::new();
    let mut bytes = 0usize;
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| pg_error(format!("cannot read table {name}"), e))?;
        parser
            .feed(&chunk, &plan.decoders, &mut out, &mut bytes)
            .map_err(|e| SourceError::data(format!("table {name}: {e}")))?;
        // PostgreSQL sends a row per message, so batches end within a row
        // of BATCH_ROWS
        if out.is_full(bytes) {
            total += out.pending() as u64;
            tx.send(out.take())
                .await
                .map_err(|_| SourceError::cancelled())?;
            bytes = 0;
        }
    }
    if !parser.is_finished() {
        return Err(SourceError::new(
            ErrorKind::Connection,
            format!("the copy stream of table {name} ended early"),
        ));
    }
    if out.pending() > 0 {
        total += out.pending() as u64;
        tx.send(out.take())
            .await
            .map_err(|_| SourceError::cancelled())?;
    }
    Ok(total)
}
