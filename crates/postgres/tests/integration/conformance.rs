//! The shared conformance suite (`tresor-testing`) on PostgreSQL.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use tokio::sync::Mutex;
use tokio_postgres::Client;
use tresor_core::Connector;
use tresor_postgres::PostgresConnector;
use tresor_testing::{Harness, Held, Step};

use super::common::{connect, unique_name, url_for};

/// Makes `tresor_test_*` databases on the local server.
#[derive(Default)]
pub struct PgHarness {
    clients: Mutex<HashMap<String, Arc<Client>>>,
}

fn db_of(url: &str) -> String {
    url.rsplit('/').next().unwrap_or_default().to_string()
}

impl PgHarness {
    async fn client(&self, url: &str) -> Arc<Client> {
        let mut map = self.clients.lock().await;
        if let Some(c) = map.get(url)
            && !c.is_closed()
        {
            return Arc::clone(c);
        }
        let c = Arc::new(connect(&db_of(url)).await);
        map.insert(url.to_string(), Arc::clone(&c));
        c
    }
}

#[async_trait]
impl Harness for PgHarness {
    fn connector(&self) -> Arc<dyn Connector> {
        Arc::new(PostgresConnector)
    }

    async fn create_database(&self) -> anyhow::Result<String> {
        let name = unique_name();
        connect("postgres")
            .await
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .context("create database")?;
        Ok(url_for(&name))
    }

    async fn drop_database(&self, url: &str) -> anyhow::Result<()> {
        self.clients.lock().await.remove(url);
        connect("postgres")
            .await
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                db_of(url)
            ))
            .await
            .context("drop database")?;
        Ok(())
    }

    async fn hold_customers(&self, url: &str) -> anyhow::Result<Option<Held>> {
        let c = connect(&db_of(url)).await;
        c.batch_execute(
            "SET application_name = 'shop-web'; BEGIN; \
             UPDATE customers SET name = name WHERE id = 1",
        )
        .await
        .context("holding customers")?;
        Ok(Some(Box::new(c)))
    }

    async fn run(&self, url: &str, step: &Step) -> anyhow::Result<()> {
        let c = self.client(url).await;
        match step {
            Step::CreateShop => {
                c.batch_execute(
                    "CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, \
                       email text UNIQUE, balance numeric(12,2), note text, photo bytea); \
                     CREATE TABLE orders (id integer PRIMARY KEY, \
                       customer_id integer REFERENCES customers(id), total numeric(12,2), \
                       placed_at timestamp); \
                     CREATE INDEX orders_customer_idx ON orders (customer_id); \
                     CREATE TABLE events (kind text, payload text); \
                     CREATE TABLE accounts (id integer PRIMARY KEY, balance integer NOT NULL);",
                )
                .await?;
            }
            Step::FillShop { customers } => {
                let n = i32::try_from(*customers)?;
                c.execute(
                    "INSERT INTO customers SELECT i, 'customer ' || i, 'c' || i || '@example.com', \
                       (i || '.50')::numeric, CASE WHEN i % 2 = 0 THEN NULL ELSE 'note ' || i END, \
                       decode(repeat('ab', i % 7), 'hex') FROM generate_series(1, $1) i",
                    &[&n],
                )
                .await?;
                c.execute(
                    "INSERT INTO orders SELECT 2 * i - 1 + k, i, (i * 10 + k)::numeric, \
                       timestamp '2024-01-01' + i * interval '1 minute' \
                     FROM generate_series(1, $1) i, generate_series(0, 1) k",
                    &[&n],
                )
                .await?;
                c.execute(
                    "INSERT INTO events SELECT 'kind ' || (i % 3), 'payload ' || i FROM generate_series(1, $1) i",
                    &[&n],
                )
                .await?;
            }
            Step::RenameCustomer { id, name } => {
                let id = i32::try_from(*id)?;
                c.execute("UPDATE customers SET name = $2 WHERE id = $1", &[&id, name])
                    .await?;
            }
            Step::DeleteCustomer { id } => {
                let id = i32::try_from(*id)?;
                c.execute("DELETE FROM orders WHERE customer_id = $1", &[&id])
                    .await?;
                c.execute("DELETE FROM customers WHERE id = $1", &[&id])
                    .await?;
            }
            Step::FillAccounts => {
                c.batch_execute("INSERT INTO accounts VALUES (1, 500), (2, 500)")
                    .await?;
            }
            Step::Transfer { amount } => {
                let amount = i32::try_from(*amount)?;
                c.batch_execute("BEGIN").await?;
                let r = async {
                    c.execute(
                        "UPDATE accounts SET balance = balance - $1 WHERE id = 1",
                        &[&amount],
                    )
                    .await?;
                    c.execute(
                        "UPDATE accounts SET balance = balance + $1 WHERE id = 2",
                        &[&amount],
                    )
                    .await?;
                    c.batch_execute("COMMIT").await
                }
                .await;
                if r.is_err() {
                    let _ = c.batch_execute("ROLLBACK").await;
                }
                r?;
            }
        }
        Ok(())
    }
}

tresor_testing::conformance!(one conformance_suite, "postgres", PgHarness::default());
