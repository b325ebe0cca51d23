//! Helpers: throwaway databases, SQL, dumps, and an in-memory backup and
//! restore pipeline.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::process::Command;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};
use tokio::sync::mpsc;
use tresor_core::{
    Connector, DatabaseSchema, ReadOptions, RestoreMode, RestorePlan, RestoreSummary, Row,
    SourceInfo, TableSchema,
};
use tresor_mysql::MysqlConnector;

/// The server every test uses.
pub const SERVER: &str = "mysql://root@127.0.0.1:3306";

/// A database made for one test, dropped on [`TestDb::drop_now`].
pub struct TestDb {
    pub name: String,
    pub url: String,
}

pub fn random_suffix() -> String {
    format!(
        "{:012x}",
        RandomState::new().build_hasher().finish() & 0xffff_ffff_ffff
    )
}

pub async fn admin() -> Conn {
    Conn::new(Opts::from_url(&format!("{SERVER}/test")).expect("url"))
        .await
        .expect("the MariaDB server at 127.0.0.1:3306 must be running")
}

impl TestDb {
    /// A fresh, empty database.
    pub async fn new() -> TestDb {
        let db = TestDb::named();
        let mut c = admin().await;
        c.query_drop(format!("CREATE DATABASE `{}`", db.name))
            .await
            .expect("create database");
        c.disconnect().await.expect("disconnect");
        db
    }

    /// A unique name whose database does not exist yet.
    pub fn named() -> TestDb {
        let name = format!("tresor_test_{}", random_suffix());
        TestDb {
            url: format!("{SERVER}/{name}"),
            name,
        }
    }

    /// A connection with this database selected and the given time zone.
    pub async fn conn(&self) -> Conn {
        let mut c = admin().await;
        c.query_drop(format!("USE `{}`", self.name))
            .await
            .expect("use");
        c
    }

    /// Runs statements one by one.
    pub async fn exec(&self, statements: &[&str]) {
        let mut c = self.conn().await;
        for s in statements {
            c.query_drop(*s)
                .await
                .unwrap_or_else(|e| panic!("{s}: {e}"));
        }
        c.disconnect().await.expect("disconnect");
    }

    pub async fn drop_now(&self) {
        let mut c = admin().await;
        c.query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name))
            .await
            .expect("drop database");
        c.disconnect().await.expect("disconnect");
    }

    /// `mariadb-dump` of the database, with its name replaced by `DB`.
    pub fn dump(&self) -> String {
        let out = Command::new("mariadb-dump")
            .args([
                "-uroot",
                "-h127.0.0.1",
                "--skip-dump-date",
                "--order-by-primary",
                "--hex-blob",
                "--routines",
                "--events",
                "--triggers",
                &self.name,
            ])
            .output()
            .expect("mariadb-dump must be installed");
        assert!(
            out.status.success(),
            "mariadb-dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).replace(&self.name, "DB")
    }

    pub async fn tables(&self) -> Vec<String> {
        let mut c = admin().await;
        let names: Vec<String> = c
            .exec(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1",
                (self.name.as_str(),),
            )
            .await
            .expect("tables");
        names
    }
}

/// A whole backup held in memory (fine for test-sized data).
pub struct Backup {
    pub info: SourceInfo,
    pub schema: DatabaseSchema,
    pub data: Vec<(TableSchema, Vec<Row>)>,
}

pub async fn backup(url: &str, options: &ReadOptions) -> Backup {
    let source = MysqlConnector.source(url).expect("source");
    let snap = source.open(options).await.expect("open snapshot");
    let schema = snap.schema().clone();
    let mut data = Vec::new();
    for table in &schema.tables {
        let (tx, mut rx) = mpsc::channel(4);
        let reader = snap.read_table(table, tx);
        let collect = async {
            let mut rows = Vec::new();
            while let Some(b) = rx.recv().await {
                rows.extend(b);
            }
            rows
        };
        let (n, rows) = tokio::join!(reader, collect);
        let n = n.expect("read table");
        assert_eq!(n as usize, rows.len());
        data.push((table.clone(), rows));
    }
    let info = snap.info().clone();
    snap.close().await.expect("close");
    Backup { info, schema, data }
}

pub fn plan(schema: &DatabaseSchema, mode: RestoreMode) -> RestorePlan {
    RestorePlan::of_all(schema.clone(), mode)
}

pub async fn restore(url: &str, b: &Backup, mode: RestoreMode) -> RestoreSummary {
    let target = MysqlConnector.target(url).expect("target");
    let plan = plan(&b.schema, mode);
    let mut session = target.begin(&plan).await.expect("begin");
    for name in &plan.tables {
        let (table, rows) = b
            .data
            .iter()
            .find(|(t, _)| &t.name == name)
            .expect("planned table");
        let (tx, rx) = mpsc::channel(4);
        let rows = rows.clone();
        let feed = async move {
            for chunk in rows.chunks(500) {
                tx.send(chunk.to_vec()).await.expect("send");
            }
        };
        let (n, ()) = tokio::join!(session.load_table(table, rx), feed);
        n.expect("load table");
    }
    session.commit().await.expect("commit")
}

/// Waits until the database holds exactly `want` tables (background
/// cleanup after a dropped session).
pub async fn wait_for_tables(db: &TestDb, want: &[&str]) {
    for _ in 0..100 {
        let now = db.tables().await;
        if now.iter().map(String::as_str).eq(want.iter().copied()) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("tables are {:?}, expected {want:?}", db.tables().await);
}

/// Shows the first differing lines of two dumps.
pub fn assert_same_dump(a: &str, b: &str) {
    if a == b {
        return;
    }
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let mut shown = 0;
    for i in 0..la.len().max(lb.len()) {
        let (x, y) = (
            la.get(i).copied().unwrap_or(""),
            lb.get(i).copied().unwrap_or(""),
        );
        if x != y && shown < 10 {
            eprintln!("line {i}:\n- {}\n+ {}", cut(x), cut(y));
            shown += 1;
        }
    }
    panic!("dumps differ");
}

fn cut(s: &str) -> &str {
    match s.char_indices().nth(300) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
