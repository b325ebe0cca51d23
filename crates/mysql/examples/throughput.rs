//! Measures backup (read + row encoding) and copy (read -> restore)
//! throughput against an existing database.
//!
//! `cargo run --release -p tresor-mysql --example throughput -- SRC_URL DST_URL`

use std::time::Instant;

use tokio::sync::mpsc;
use tresor_core::{Connector, ReadOptions, RestoreMode, RestorePlan, codec};
use tresor_mysql::MysqlConnector;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (src, dst) = (&args[1], &args[2]);
    let source = MysqlConnector.source(src)?;

    let t = Instant::now();
    let snap = source.open(&ReadOptions::default()).await?;
    let mut rows = 0u64;
    let mut bytes = 0u64;
    for table in &snap.schema().tables {
        let (tx, mut rx) = mpsc::channel::<tresor_core::RowBatch>(8);
        let enc = async {
            let mut buf = Vec::with_capacity(2 << 20);
            let (mut n, mut b) = (0u64, 0u64);
            while let Some(batch) = rx.recv().await {
                for row in &batch {
                    codec::encode_row(row, &mut buf);
                    n += 1;
                }
                b += buf.len() as u64;
                buf.clear();
            }
            (n, b)
        };
        let (r, (n, b)) = tokio::join!(snap.read_table(table, tx), enc);
        r?;
        rows += n;
        bytes += b;
    }
    println!(
        "backup read+encode: {rows} rows, {} MB encoded, {:.2} s",
        bytes >> 20,
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let schema = snap.schema().clone();
    let plan = RestorePlan::of_all(schema.clone(), RestoreMode::Replace);
    let target = MysqlConnector.target(dst)?;
    let mut session = target.begin(&plan).await?;
    for name in &plan.tables {
        let Some(table) = schema.table(name) else {
            continue;
        };
        let (tx, rx) = mpsc::channel(8);
        let (r, w) = tokio::join!(snap.read_table(table, tx), session.load_table(table, rx));
        r?;
        w?;
    }
    let summary = session.commit().await?;
    println!(
        "copy (read -> restore): {:.2} s, {}",
        t.elapsed().as_secs_f64(),
        summary.method
    );
    snap.close().await?;
    Ok(())
}
