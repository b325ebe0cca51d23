//! Reads every table of a database through the tresor source and throws
//! the rows away, to compare with `COPY ... TO /dev/null`.
//!
//! `cargo run --release -p tresor-postgres --example read_speed -- postgres://... [jobs]`

use std::time::Instant;

use tresor_core::{Connector, ReadOptions};
use tresor_postgres::PostgresConnector;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: read_speed URL [JOBS]")?;
    let jobs: usize = args.next().map(|j| j.parse()).transpose()?.unwrap_or(1);
    let start = Instant::now();
    let snap = PostgresConnector
        .source(&url)?
        .open(&ReadOptions {
            jobs,
            ..Default::default()
        })
        .await?;
    let snap = std::sync::Arc::new(snap);
    let mut tasks = Vec::new();
    for t in snap.schema().tables.clone() {
        let snap = std::sync::Arc::clone(&snap);
        tasks.push(tokio::spawn(async move {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<tresor_core::RowBatch>(4);
            let drain = async move {
                let mut n = 0usize;
                while let Some(b) = rx.recv().await {
                    n += b.len();
                }
                n
            };
            let (r, n) = tokio::join!(snap.read_table(&t, tx), drain);
            r.map(|_| (t.name.to_string(), n))
        }));
    }
    for t in tasks {
        let (name, n) = t.await??;
        println!("{name}: {n} rows");
    }
    println!("read in {:.2?}", start.elapsed());
    Ok(())
}
