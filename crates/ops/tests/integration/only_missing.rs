//! The deploy-safe restore (`only_missing`) decides which tables to fill
//! from what the target held when it looked; the target checks again
//! inside its transaction, so a row the application wrote in between is
//! never overwritten.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use tresor_core::{
    Connector, Engine, RestorePlan, SourceError, Target, TargetSession, TargetState,
};
use tresor_ops::{BackupOptions, CacheDir, NoProgress, RestoreOptions, backup, restore};
use tresor_repo::{InitOptions, KdfParams, Password, Repository, Storage};
use tresor_sqlite::SqliteConnector;

/// SQLite, and an application that writes an order right after tresor
/// looked at the target.
struct WritesAfterInspect {
    inner: Box<dyn Target>,
    db: PathBuf,
}

#[async_trait]
impl Target for WritesAfterInspect {
    fn engine(&self) -> Engine {
        self.inner.engine()
    }
    async fn inspect(&self) -> Result<TargetState, SourceError> {
        let state = self.inner.inspect().await?;
        rusqlite::Connection::open(&self.db)
            .unwrap()
            .execute("INSERT INTO orders VALUES (99, 1, 5.0)", [])
            .unwrap();
        Ok(state)
    }
    async fn begin(&self, plan: &RestorePlan) -> Result<Box<dyn TargetSession>, SourceError> {
        self.inner.begin(plan).await
    }
}

fn rows(db: &std::path::Path, sql: &str) -> Vec<(i64, String)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c.prepare(sql).unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn a_table_written_after_the_plan_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shop.db");
    let schema = "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), total REAL);";
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(&format!(
            "{schema}
             INSERT INTO customers VALUES (1, 'ada'), (2, 'grace');
             INSERT INTO orders VALUES (10, 1, 9.5), (11, 2, 20.0);"
        ))
        .unwrap();
    let url = format!("sqlite://{}", db.display());
    let repo = Arc::new(
        Repository::init(
            Storage::memory(),
            &Password::new("pw"),
            InitOptions {
                kdf: KdfParams::insecure_for_tests(),
                ..InitOptions::default()
            },
        )
        .await
        .unwrap(),
    );
    let snap = backup(
        &repo,
        SqliteConnector.source(&url).unwrap().as_ref(),
        &BackupOptions {
            url: url.clone(),
            cache: CacheDir::Off,
            ..BackupOptions::default()
        },
        &NoProgress,
    )
    .await
    .unwrap();

    // a deploy: the app made its tables and seeded its customers; no
    // orders yet, so the restore fills orders and leaves customers alone
    let deployed = dir.path().join("deployed.db");
    rusqlite::Connection::open(&deployed)
        .unwrap()
        .execute_batch(&format!(
            "{schema} INSERT INTO customers VALUES (1, 'seeded');"
        ))
        .unwrap();
    let deployed_url = format!("sqlite://{}", deployed.display());
    let options = RestoreOptions {
        target_url: deployed_url.clone(),
        safety_snapshot: true,
        only_missing: true,
        ..RestoreOptions::default()
    };
    let source = SqliteConnector.source(&deployed_url).unwrap();
    // ... but the app takes an order between the look and the restore
    let racing = WritesAfterInspect {
        inner: SqliteConnector.target(&deployed_url).unwrap(),
        db: deployed.clone(),
    };
    let err = restore(
        &repo,
        &snap,
        &racing,
        Some(source.as_ref()),
        &options,
        &NoProgress,
    )
    .await
    .expect_err("the order written meanwhile stops the restore");
    let msg = err.to_string();
    assert!(msg.contains("orders holds rows now"), "{msg}");
    assert!(msg.contains("nothing was restored"), "{msg}");
    let orders = "SELECT id, CAST(total AS TEXT) FROM orders ORDER BY id";
    assert_eq!(rows(&deployed, orders), [(99, "5.0".to_string())]);
    assert_eq!(
        rows(&deployed, "SELECT id, name FROM customers"),
        [(1, "seeded".to_string())]
    );

    // run again: both tables hold data now, and stay as they are
    let target = SqliteConnector.target(&deployed_url).unwrap();
    let out = restore(
        &repo,
        &snap,
        target.as_ref(),
        Some(source.as_ref()),
        &options,
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(out.skipped.len(), 2, "{:?}", out.skipped);
    assert_eq!(rows(&deployed, orders), [(99, "5.0".to_string())]);
}
