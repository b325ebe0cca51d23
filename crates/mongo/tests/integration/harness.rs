//! The conformance suite's [`Harness`] on MongoDB: the little shop as
//! collections.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use mongodb::Client;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, Bson, DateTime, Decimal128, Document, doc};
use tresor_core::Connector;
use tresor_mongo::MongoConnector;
use tresor_testing::{Harness, Held, Step};

use super::common::unique_name;
use super::server::TestServer;

/// Throwaway databases on one test server.
pub struct MongoHarness {
    pub server: TestServer,
    client: Client,
}

impl MongoHarness {
    pub async fn new(server: TestServer) -> Self {
        let client = server.client().await;
        MongoHarness { server, client }
    }

    fn db(&self, url: &str) -> mongodb::Database {
        let path = url.split('?').next().unwrap_or(url);
        let name = path.rsplit('/').next().unwrap_or_default();
        self.client.database(name)
    }
}

fn decimal(s: &str) -> anyhow::Result<Decimal128> {
    s.parse::<Decimal128>()
        .map_err(|e| anyhow::anyhow!("decimal {s}: {e}"))
}

#[async_trait]
impl Harness for MongoHarness {
    fn connector(&self) -> Arc<dyn Connector> {
        Arc::new(MongoConnector)
    }

    async fn create_database(&self) -> anyhow::Result<String> {
        Ok(self.server.url(&unique_name("conf")))
    }

    async fn drop_database(&self, url: &str) -> anyhow::Result<()> {
        self.db(url).drop().await.context("drop database")
    }

    async fn hold_customers(&self, _url: &str) -> anyhow::Result<Option<Held>> {
        // its writers never queue behind another session's (see SKIPS)
        Ok(None)
    }

    async fn run(&self, url: &str, step: &Step) -> anyhow::Result<()> {
        let db = self.db(url);
        match step {
            Step::CreateShop => {
                db.run_command(doc! {
                    "create": "customers",
                    "validator": { "$jsonSchema": {
                        "bsonType": "object",
                        "required": ["name"],
                        "properties": { "name": { "bsonType": "string" } },
                    } },
                })
                .await?;
                db.run_command(doc! {
                    "createIndexes": "customers",
                    "indexes": [ { "key": { "email": 1 }, "name": "email_unique", "unique": true } ],
                })
                .await?;
                db.run_command(doc! { "create": "orders" }).await?;
                db.run_command(doc! {
                    "createIndexes": "orders",
                    "indexes": [ { "key": { "customer_id": 1 }, "name": "by_customer" } ],
                })
                .await?;
                db.run_command(doc! { "create": "events" }).await?;
                db.run_command(doc! { "create": "accounts" }).await?;
            }
            Step::FillShop { customers } => {
                let n = *customers as i32;
                let mut cs = Vec::new();
                let mut os = Vec::new();
                let mut es = Vec::new();
                for i in 1..=n {
                    cs.push(doc! {
                        "_id": i,
                        "name": format!("customer {i}"),
                        "email": format!("c{i}@example.com"),
                        "balance": decimal(&format!("{i}.50"))?,
                        "note": if i % 2 == 0 { Bson::Null } else { Bson::String(format!("note {i}")) },
                        "photo": Binary { subtype: BinarySubtype::Generic, bytes: vec![i as u8; (i % 7) as usize] },
                    });
                    for o in [2 * i - 1, 2 * i] {
                        os.push(doc! {
                            "_id": o,
                            "customer_id": i,
                            "total": decimal(&format!("{o}.25"))?,
                            "placed_at": DateTime::from_millis(1_700_000_000_000 + i64::from(o) * 1000),
                        });
                    }
                    es.push(doc! { "_id": ObjectId::new(), "kind": format!("k{}", i % 3), "payload": format!("event {i}") });
                }
                for (name, docs) in [("customers", cs), ("orders", os), ("events", es)] {
                    if !docs.is_empty() {
                        db.collection::<Document>(name).insert_many(docs).await?;
                    }
                }
            }
            Step::RenameCustomer { id, name } => {
                db.collection::<Document>("customers")
                    .update_one(
                        doc! { "_id": *id as i32 },
                        doc! { "$set": { "name": name } },
                    )
                    .await?;
            }
            Step::DeleteCustomer { id } => {
                db.collection::<Document>("customers")
                    .delete_one(doc! { "_id": *id as i32 })
                    .await?;
                db.collection::<Document>("orders")
                    .delete_many(doc! { "customer_id": *id as i32 })
                    .await?;
            }
            Step::FillAccounts => {
                db.collection::<Document>("accounts")
                    .insert_many([
                        doc! { "_id": 1, "balance": 500i64 },
                        doc! { "_id": 2, "balance": 500i64 },
                    ])
                    .await?;
            }
            Step::Transfer { amount } => {
                let accounts = db.collection::<Document>("accounts");
                let mut s = self.client.start_session().await?;
                s.start_transaction().await?;
                accounts
                    .update_one(doc! { "_id": 1 }, doc! { "$inc": { "balance": -amount } })
                    .session(&mut s)
                    .await?;
                accounts
                    .update_one(doc! { "_id": 2 }, doc! { "$inc": { "balance": *amount } })
                    .session(&mut s)
                    .await?;
                s.commit_transaction().await?;
            }
        }
        Ok(())
    }
}
