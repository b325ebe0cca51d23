//! Copies one database into another through the tresor source and target
//! (no repository in between), to time restores against `pg_restore`.
//!
//! `cargo run --release -p tresor-postgres --example copy -- SRC_URL DST_URL`

use std::time::Instant;

use tresor_core::{Connector, ReadOptions, RestoreMode, RestorePlan};
use tresor_postgres::PostgresConnector;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (src, dst) = (
        args.next().ok_or("usage: copy SRC DST")?,
        args.next().ok_or("usage: copy SRC DST")?,
    );
    let start = Instant::now();
    let snap = PostgresConnector
        .source(&src)?
        .open(&ReadOptions::default())
        .await?;
    let schema = snap.schema().clone();
    let plan = RestorePlan::of_all(schema.clone(), RestoreMode::Replace);
    let mut session = PostgresConnector.target(&dst)?.begin(&plan).await?;
    for name in &plan.tables {
        let Some(t) = schema.table(name) else {
            continue;
        };
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let (r, l) = tokio::join!(snap.read_table(t, tx), session.load_table(t, rx));
        r?;
        println!("{name}: {} rows", l?);
    }
    snap.close().await?;
    let summary = session.commit().await?;
    println!("{} in {:.2?}", summary.method, start.elapsed());
    Ok(())
}
