//! Restoring: collections with their options and indexes, documents
//! loaded as raw BSON, atomically where the server allows it.
//!
//! Two ways to keep a failed restore invisible, chosen in
//! [`Target::begin`] and reported in [`tresor_core::RestoreSummary::method`]:
//!
//! - **one multi-document transaction** when the deployment has
//!   transactions (replica set or sharded, MongoDB 4.4+ so that collections
//!   and indexes can be created inside one), no restored collection is
//!   capped or clustered, every existing collection a `replace` would
//!   reuse already has the snapshot's options and indexes and at most
//!   [`session::TXN_MAX_DOCS`] documents to delete, and the data fits
//!   the transaction budget ([`session::TXN_MAX_BYTES`],
//!   [`session::TXN_MAX_DOCS`], [`session::TXN_MAX_AGE`]; MongoDB aborts
//!   transactions after 60 s by default). The documents written in the
//!   transaction are kept (bounded by that budget) so that a restore that
//!   outgrows it aborts the transaction and continues on the other path
//!   without reading anything twice;
//! - otherwise **temporary collections** `__tresor_tmp_<run>_<name>`:
//!   created with the snapshot's options (or, in `merge`, a copy of the
//!   existing collection), loaded, indexed, then swapped in on commit with
//!   `renameCollection ... dropTarget: true`. Failure or rollback drops the
//!   temporaries; each swap is atomic per collection.
//!
//! Views are (re)created after the data is visible, when the restore
//! covers the whole database.

mod ddl;
mod finish;
mod load;
mod session;

use std::collections::BTreeMap;

use async_trait::async_trait;
use mongodb::bson::doc;
use tresor_core::{
    Engine, ErrorKind, ExistingTable, RestorePlan, SourceError, TableName, Target, TargetSession,
    TargetState,
};

use crate::catalog::{self, DOCUMENT, ID};
use crate::error::mongo_error;
use crate::url::MongoUrl;

/// A MongoDB database to restore into, named by a `mongodb://` or
/// `mongodb+srv://` URL whose path is the database (created on first
/// write if it does not exist).
#[derive(Clone, Debug)]
pub struct MongoTarget {
    url: MongoUrl,
}

impl MongoTarget {
    /// A target for `url`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidUrl`] for another scheme or a URL without a
    /// database name.
    pub fn new(url: &str) -> Result<Self, SourceError> {
        Ok(MongoTarget {
            url: MongoUrl::parse(url)?,
        })
    }
}

#[async_trait]
impl Target for MongoTarget {
    fn engine(&self) -> Engine {
        Engine::MONGODB
    }

    /// The collections (not views) and their estimated document counts;
    /// `exists` is whether the database holds any collection or view
    /// (MongoDB has no empty databases). tresor's own temporary
    /// collections are not reported.
    async fn inspect(&self) -> Result<TargetState, SourceError> {
        let conn = self.url.connect().await?;
        let all = catalog::list_collections(&conn.db).await?;
        let mut tables = Vec::new();
        for c in all.iter().filter(|c| !c.is_view()) {
            let rows = conn
                .db
                .collection::<mongodb::bson::Document>(&c.name)
                .estimated_document_count()
                .await
                .map_err(|e| mongo_error(format!("cannot count collection {}", c.name), e))?;
            tables.push(ExistingTable {
                name: TableName::new(&c.name),
                rows,
            });
        }
        let state = TargetState {
            exists: !all.is_empty(),
            tables,
        };
        conn.client.shutdown().immediate(true).await;
        Ok(state)
    }

    async fn drop_database(&self) -> Result<(), SourceError> {
        let conn = self.url.connect().await?;
        let r = conn
            .db
            .drop()
            .await
            .map_err(|e| mongo_error("cannot drop the database", e));
        conn.client.shutdown().immediate(true).await;
        r
    }

    async fn begin(&self, plan: &RestorePlan) -> Result<Box<dyn TargetSession>, SourceError> {
        check_plan(plan)?;
        let conn = self.url.connect().await?;
        let session = session::MongoSession::begin(conn, plan).await?;
        Ok(Box::new(session))
    }
}

/// Every planned table must be a MongoDB collection: `_id` and
/// `document`, nothing else. Reports every mismatch at once.
fn check_plan(plan: &RestorePlan) -> Result<(), SourceError> {
    let mut problems = Vec::new();
    for name in &plan.tables {
        let Some(t) = plan.schema.table(name) else {
            problems.push(format!("planned collection {name} is not in the snapshot"));
            continue;
        };
        if name.schema.is_some() {
            problems.push(format!(
                "table {name} has a schema qualifier; mongodb collections have none"
            ));
        }
        let cols: Vec<&str> = t.stored_columns().map(|c| c.name.as_str()).collect();
        for c in &cols {
            if *c != ID && *c != DOCUMENT {
                problems.push(format!(
                    "collection {name}: column {c} is not {ID} or {DOCUMENT} (only mongodb \
                     snapshots restore into mongodb)"
                ));
            }
        }
        if !cols.contains(&ID) || !cols.contains(&DOCUMENT) {
            problems.push(format!(
                "collection {name}: the snapshot has no {ID} and {DOCUMENT} columns"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SourceError::new(
            ErrorKind::SchemaMismatch,
            problems.join("; "),
        ))
    }
}

/// Rows written per collection, for the summary.
pub(crate) type Counts = BTreeMap<String, u64>;

/// A unique-enough run id for temporary collection names.
pub(crate) fn run_id() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:x}{:05x}", std::process::id() & 0xffff, nanos & 0xf_ffff)
}

/// Runs `renameCollection` from `from` to `to` in `db`, replacing `to`.
pub(crate) async fn swap_in(
    client: &mongodb::Client,
    db: &str,
    from: &str,
    to: &str,
) -> Result<(), SourceError> {
    client
        .database("admin")
        .run_command(doc! {
            "renameCollection": format!("{db}.{from}"),
            "to": format!("{db}.{to}"),
            "dropTarget": true,
        })
        .await
        .map(|_| ())
        .map_err(|e| mongo_error(format!("cannot swap collection {to} into place"), e))
}
