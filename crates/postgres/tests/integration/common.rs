//! Helpers: throwaway databases, piping a source into a target, pg_dump.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::{Client, NoTls};
use tresor_core::{Connector, ReadOptions, RestoreMode, RestorePlan, RestoreSummary, SourceError};
use tresor_postgres::PostgresConnector;

pub const HOST: &str = "127.0.0.1";
pub const PORT: &str = "5432";
pub const USER: &str = "postgres";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique database name.
pub fn unique_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "tresor_test_{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn url_for(db: &str) -> String {
    format!("postgres://{USER}@{HOST}:{PORT}/{db}")
}

/// A throwaway database, dropped when the value is dropped.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    /// Creates an empty database (`template0`, UTF8 unless `encoding`).
    pub async fn create() -> TestDb {
        Self::create_with("UTF8").await
    }

    pub async fn create_with(encoding: &str) -> TestDb {
        let name = unique_name();
        let admin = connect("postgres").await;
        admin
            .batch_execute(&format!(
                "CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING '{encoding}' LC_COLLATE 'C' LC_CTYPE 'C'"
            ))
            .await
            .expect("create database: is the PostgreSQL server running on 127.0.0.1:5432?");
        TestDb { name }
    }

    /// A database name that does not exist yet (the target creates it);
    /// dropped at the end all the same.
    pub fn unborn() -> TestDb {
        TestDb {
            name: unique_name(),
        }
    }

    pub fn url(&self) -> String {
        url_for(&self.name)
    }

    pub async fn client(&self) -> Client {
        connect(&self.name).await
    }

    pub async fn exec(&self, sql: &str) {
        let c = self.client().await;
        if let Err(e) = c.batch_execute(sql).await {
            panic!("sql failed: {e:?}\n{sql}");
        }
    }

    /// pg_dump with `args`, lines sorted, header comments dropped.
    pub fn dump_sorted(&self, args: &[&str]) -> Vec<String> {
        let mut lines: Vec<String> = self
            .dump(args)
            .lines()
            .filter(|l| {
                !l.starts_with("--")
                    && !l.trim().is_empty()
                    && !l.starts_with("\\restrict")
                    && !l.starts_with("\\unrestrict")
            })
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    }

    pub fn dump(&self, args: &[&str]) -> String {
        let out = Command::new("pg_dump")
            .args(["-h", HOST, "-p", PORT, "-U", USER, "--no-sync"])
            .args(args)
            .arg(&self.name)
            .output()
            .expect("run pg_dump");
        assert!(
            out.status.success(),
            "pg_dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                "-h", HOST, "-p", PORT, "-U", USER, "-d", "postgres", "-q", "-c",
            ])
            .arg(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

pub async fn connect(db: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(
        &format!("host={HOST} port={PORT} user={USER} dbname={db}"),
        NoTls,
    )
    .await
    .expect("connect to the PostgreSQL server on 127.0.0.1:5432");
    tokio::spawn(conn);
    client
}

/// Backs up `src` and restores it into `dst` without a repository in
/// between: every table streams from the source straight into the target.
pub async fn copy_database(
    src: &str,
    dst: &str,
    mode: RestoreMode,
    options: ReadOptions,
) -> Result<RestoreSummary, SourceError> {
    copy_database_after(src, dst, mode, options, async {}).await
}

/// [`copy_database`], running `between` after the snapshot is taken and
/// before the restore begins (the server changes in between).
pub async fn copy_database_after(
    src: &str,
    dst: &str,
    mode: RestoreMode,
    options: ReadOptions,
    between: impl std::future::Future<Output = ()>,
) -> Result<RestoreSummary, SourceError> {
    let source = PostgresConnector.source(src)?;
    let snapshot = source.open(&options).await?;
    between.await;
    let schema = snapshot.schema().clone();
    let plan = RestorePlan {
        whole_database: options.filter.is_all(),
        ..RestorePlan::of_all(schema.clone(), mode)
    };
    let target = PostgresConnector.target(dst)?;
    let mut session = target.begin(&plan).await?;
    for name in &plan.tables {
        let table = schema.table(name).expect("planned table").clone();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let read = snapshot.read_table(&table, tx);
        let load = session.load_table(&table, rx);
        let (r, l) = tokio::join!(read, load);
        let (sent, loaded) = (r?, l?);
        assert_eq!(sent, loaded, "rows of {name}");
    }
    snapshot.close().await?;
    session.commit().await
}

/// Line-level difference of two sorted dumps, for readable failures.
pub fn diff_lines(a: &[String], b: &[String]) -> String {
    let sa: std::collections::BTreeSet<&String> = a.iter().collect();
    let sb: std::collections::BTreeSet<&String> = b.iter().collect();
    let mut out = String::new();
    for l in sa.difference(&sb) {
        out.push_str(&format!("- {l}\n"));
    }
    for l in sb.difference(&sa) {
        out.push_str(&format!("+ {l}\n"));
    }
    out
}
