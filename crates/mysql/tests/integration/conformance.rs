//! The shared conformance suite, run on MariaDB.

use std::sync::Arc;

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use tresor_core::Connector;
use tresor_mysql::MysqlConnector;
use tresor_testing::{Harness, Held, Step};

use super::support::{SERVER, admin, random_suffix};

/// MariaDB for the shared suite.
pub struct Mariadb;

#[async_trait]
impl Harness for Mariadb {
    fn connector(&self) -> Arc<dyn Connector> {
        Arc::new(MysqlConnector)
    }

    async fn create_database(&self) -> anyhow::Result<String> {
        let name = format!("tresor_test_{}", random_suffix());
        let mut c = admin().await;
        c.query_drop(format!("CREATE DATABASE `{name}`")).await?;
        c.disconnect().await?;
        Ok(format!("{SERVER}/{name}"))
    }

    async fn drop_database(&self, url: &str) -> anyhow::Result<()> {
        let name = url.rsplit('/').next().unwrap_or_default();
        anyhow::ensure!(
            name.starts_with("tresor_test_"),
            "not a test database: {url}"
        );
        let mut c = admin().await;
        c.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
            .await?;
        c.disconnect().await?;
        Ok(())
    }

    async fn hold_customers(&self, url: &str) -> anyhow::Result<Option<Held>> {
        let name = url.rsplit('/').next().unwrap_or_default();
        let mut c = admin().await;
        c.query_drop(format!("USE `{name}`")).await?;
        c.query_drop("START TRANSACTION").await?;
        c.query_drop("UPDATE customers SET name = CONCAT(name, '') WHERE id = 1")
            .await?;
        Ok(Some(Box::new(c)))
    }

    async fn run(&self, url: &str, step: &Step) -> anyhow::Result<()> {
        let name = url.rsplit('/').next().unwrap_or_default();
        let mut c = admin().await;
        c.query_drop(format!("USE `{name}`")).await?;
        match step {
            Step::CreateShop => {
                for s in [
                    "CREATE TABLE customers (id INT PRIMARY KEY, name TEXT NOT NULL, \
                     email VARCHAR(255) UNIQUE, balance DECIMAL(12,2), note TEXT NULL, photo BLOB NULL)",
                    "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT, total DECIMAL(12,2), \
                     placed_at TIMESTAMP NULL DEFAULT NULL, KEY (customer_id), \
                     FOREIGN KEY (customer_id) REFERENCES customers (id))",
                    "CREATE TABLE events (kind TEXT, payload TEXT)",
                    "CREATE TABLE accounts (id INT PRIMARY KEY, balance INT NOT NULL)",
                ] {
                    c.query_drop(s).await?;
                }
            }
            Step::FillShop { customers } => {
                let n = i64::from(*customers);
                let mut tx = c.start_transaction(Default::default()).await?;
                for i in 1..=n {
                    let photo: Vec<u8> = (0..(i % 7) as u8).collect();
                    tx.exec_drop(
                        "INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            i,
                            format!("customer {i}"),
                            format!("c{i}@example.com"),
                            format!("{i}.50"),
                            if i % 2 == 0 {
                                None
                            } else {
                                Some(format!("note {i}"))
                            },
                            photo,
                        ),
                    )
                    .await?;
                    for o in [2 * i - 1, 2 * i] {
                        tx.exec_drop(
                            "INSERT INTO orders VALUES (?, ?, ?, '2024-01-01 00:00:00')",
                            (o, i, format!("{o}.25")),
                        )
                        .await?;
                    }
                    tx.exec_drop(
                        "INSERT INTO events VALUES ('fill', ?)",
                        (format!("event {i}"),),
                    )
                    .await?;
                }
                tx.commit().await?;
            }
            Step::RenameCustomer { id, name } => {
                c.exec_drop("UPDATE customers SET name = ? WHERE id = ?", (name, id))
                    .await?;
            }
            Step::DeleteCustomer { id } => {
                c.exec_drop("DELETE FROM orders WHERE customer_id = ?", (id,))
                    .await?;
                c.exec_drop("DELETE FROM customers WHERE id = ?", (id,))
                    .await?;
            }
            Step::FillAccounts => {
                c.query_drop("INSERT INTO accounts VALUES (1, 500), (2, 500)")
                    .await?;
            }
            Step::Transfer { amount } => {
                let mut tx = c.start_transaction(Default::default()).await?;
                tx.exec_drop(
                    "UPDATE accounts SET balance = balance - ? WHERE id = 1",
                    (amount,),
                )
                .await?;
                tx.exec_drop(
                    "UPDATE accounts SET balance = balance + ? WHERE id = 2",
                    (amount,),
                )
                .await?;
                tx.commit().await?;
            }
        }
        c.disconnect().await?;
        Ok(())
    }
}

#[tokio::test]
async fn harness_builds_the_shop() {
    let h = Mariadb;
    let url = h.create_database().await.expect("create");
    h.run(&url, &Step::CreateShop).await.expect("create shop");
    h.run(&url, &Step::FillShop { customers: 10 })
        .await
        .expect("fill");
    h.run(&url, &Step::FillAccounts).await.expect("accounts");
    h.run(&url, &Step::Transfer { amount: 7 })
        .await
        .expect("transfer");
    h.run(&url, &Step::DeleteCustomer { id: 3 })
        .await
        .expect("delete");
    let snap = h
        .connector()
        .source(&url)
        .expect("source")
        .open(&Default::default())
        .await
        .expect("open");
    assert_eq!(snap.schema().tables.len(), 4);
    snap.close().await.expect("close");
    h.drop_database(&url).await.expect("drop");
}

tresor_testing::conformance!(suite, "mysql", Mariadb);
