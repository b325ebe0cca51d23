//! Progress reporting: the CLI draws bars from it, the server turns it into
//! live job figures.

use tokio::sync::mpsc;
use tresor_core::{EncodedBatch, TableName};

/// Receives progress events. Every method has an empty default, so a
/// reporter implements only what it shows. Calls come from several tasks.
pub trait Progress: Send + Sync {
    /// A table starts; `rows` is the expected row count when known.
    fn table_started(&self, _table: &TableName, _rows: Option<u64>) {}
    /// More rows of a table are done.
    fn rows_done(&self, _table: &TableName, _rows: u64, _bytes: u64) {}
    /// A table is complete.
    fn table_finished(&self, _table: &TableName, _rows: u64) {}
    /// A step of the operation, in words (`taking safety snapshot`).
    fn step(&self, _message: &str) {}
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Rows in a batch.
pub(crate) trait Counted {
    fn count(&self) -> u64;
}

impl Counted for tresor_core::RowBatch {
    fn count(&self) -> u64 {
        self.len() as u64
    }
}

impl Counted for EncodedBatch {
    fn count(&self) -> u64 {
        self.rows()
    }
}

/// Forwards batches from `rx` to `tx`, reporting rows as they pass.
pub(crate) async fn forward_counting<B: Counted>(
    mut rx: mpsc::Receiver<B>,
    tx: mpsc::Sender<B>,
    table: &TableName,
    progress: &dyn Progress,
) {
    while let Some(batch) = rx.recv().await {
        let n = batch.count();
        if tx.send(batch).await.is_err() {
            return;
        }
        progress.rows_done(table, n, 0);
    }
}
