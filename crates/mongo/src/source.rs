//! Reading: one snapshot of a database, collections streamed as raw BSON
//! in `_id` order.

mod read;

use async_trait::async_trait;
use mongodb::bson::raw::RawDocumentBuf;
use mongodb::bson::{Timestamp, doc};
use tresor_core::{
    DatabaseSchema, Engine, ErrorKind, Probe, ReadOptions, RowSender, Source, SourceError,
    SourceInfo, SourceSnapshot, TableName, TableSchema,
};

use crate::catalog::{self, CollectionInfo};
use crate::url::{Connection, MongoUrl};

/// A MongoDB database to back up, named by a `mongodb://` or
/// `mongodb+srv://` URL whose path is the database.
///
/// Connecting waits for [`Source::open`]; making one only checks the URL.
#[derive(Clone, Debug)]
pub struct MongoSource {
    url: MongoUrl,
}

impl MongoSource {
    /// A source for `url`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidUrl`] for another scheme or a URL without a
    /// database name.
    pub fn new(url: &str) -> Result<Self, SourceError> {
        Ok(MongoSource {
            url: MongoUrl::parse(url)?,
        })
    }
}

#[async_trait]
impl Source for MongoSource {
    fn engine(&self) -> Engine {
        Engine::MONGODB
    }

    /// Counts the documents of the collection that match the filter (a
    /// query document as Extended JSON).
    async fn probe(&self, probe: &Probe) -> Result<Option<String>, SourceError> {
        let Probe::Count { collection, filter } = probe else {
            return Err(probe.unsupported(Engine::MONGODB));
        };
        let json: serde_json::Value = serde_json::from_str(filter).map_err(|e| {
            SourceError::new(
                ErrorKind::InvalidUrl,
                format!("filter {filter:?} is not JSON: {e}"),
            )
        })?;
        let raw = catalog::from_json(&json, "the filter")?;
        let filter = mongodb::bson::Document::try_from(raw.as_ref())
            .map_err(|e| SourceError::data(format!("the filter is no query document: {e}")))?;
        let conn = self.url.connect().await?;
        let n = conn
            .db
            .collection::<mongodb::bson::Document>(collection)
            .count_documents(filter)
            .await
            .map_err(|e| crate::error::mongo_error("the count failed", e))?;
        Ok(Some(n.to_string()))
    }

    /// Captures the selected collections and views, then fixes the read
    /// time: on a replica set or sharded cluster a snapshot session's
    /// first read picks a cluster time that every later read uses
    /// (`readConcern: snapshot` with `atClusterTime`); on a standalone
    /// server collections are read one after another, with a warning.
    async fn open(&self, options: &ReadOptions) -> Result<Box<dyn SourceSnapshot>, SourceError> {
        let conn = self.url.connect().await?;
        let all = catalog::list_collections(&conn.db).await?;
        let names: Vec<TableName> = all.iter().map(|c| TableName::new(&c.name)).collect();
        let missing = options.filter.unmatched_literals(names.iter());
        if !missing.is_empty() {
            return Err(SourceError::new(
                ErrorKind::NotFound,
                format!(
                    "database {} has no collection {}",
                    self.url.database,
                    missing.join(", ")
                ),
            ));
        }
        let selected: Vec<&CollectionInfo> = all
            .iter()
            .filter(|c| options.filter.matches(&TableName::new(&c.name)))
            .collect();
        let mut tables = Vec::new();
        let mut objects = Vec::new();
        let mut collations = Vec::new();
        for info in &selected {
            if info.is_view() {
                objects.push(catalog::view_object(info)?);
            } else {
                let indexes = catalog::list_indexes(&conn.db, &info.name).await?;
                tables.push(catalog::table_schema(info, &indexes)?);
                collations.push((info.name.clone(), info.has_collation()));
            }
        }
        let mut info = SourceInfo {
            server_version: conn.version.clone(),
            database: self.url.database.clone(),
            consistency: String::new(),
            warnings: Vec::new(),
        };
        let snapshot_time = fix_read_time(&conn, &tables, &mut info).await;
        Ok(Box::new(MongoSnapshot {
            conn,
            info,
            schema: DatabaseSchema {
                engine: Engine::MONGODB,
                tables,
                objects,
                settings: Default::default(),
            },
            snapshot_time,
            collations,
        }))
    }
}

/// Starts a snapshot session and lets its first read pick the cluster
/// time, when the deployment can; fills in how consistent the snapshot is.
async fn fix_read_time(
    conn: &Connection,
    tables: &[TableSchema],
    info: &mut SourceInfo,
) -> Option<Timestamp> {
    if !conn.topology.has_transactions() {
        info.consistency = "collections read one after another (no snapshot)".to_string();
        info.warnings.push(
            "standalone mongodb server: no snapshot reads, so collections are read one after \
             another and writes during the backup may be seen in some collections and not in \
             others; run mongod as a (single-node) replica set for consistent backups"
                .to_string(),
        );
        return None;
    }
    let Some(first) = tables.first() else {
        info.consistency = "no collections to read".to_string();
        return None;
    };
    let attempt = async {
        let mut session = conn
            .client
            .start_session()
            .snapshot(true)
            .await
            .map_err(|e| e.to_string())?;
        conn.db
            .collection::<RawDocumentBuf>(&first.name.name)
            .find_one(doc! {})
            .projection(doc! { "_id": 1 })
            .session(&mut session)
            .await
            .map_err(|e| e.to_string())?;
        session
            .snapshot_time()
            .ok_or_else(|| "the server returned no atClusterTime".to_string())
    };
    match attempt.await {
        Ok(t) => {
            info.consistency = format!(
                "every collection read at cluster time {}.{} (snapshot read concern)",
                t.time, t.increment
            );
            Some(t)
        }
        Err(reason) => {
            info.consistency = "collections read one after another (no snapshot)".to_string();
            info.warnings.push(format!(
                "the server cannot read at one cluster time ({}), so collections are read one \
                 after another and may not be mutually consistent; snapshot reads need mongodb \
                 5.0 or later with majority read concern enabled",
                reason.to_lowercase()
            ));
            None
        }
    }
}

/// One open snapshot of a MongoDB database.
struct MongoSnapshot {
    conn: Connection,
    info: SourceInfo,
    schema: DatabaseSchema,
    snapshot_time: Option<Timestamp>,
    /// Collections with a non-simple default collation.
    collations: Vec<(String, bool)>,
}

#[async_trait]
impl SourceSnapshot for MongoSnapshot {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn schema(&self) -> &DatabaseSchema {
        &self.schema
    }

    async fn read_table(&self, table: &TableSchema, rows: RowSender) -> Result<u64, SourceError> {
        let collation = self
            .collations
            .iter()
            .any(|(n, c)| *c && *n == table.name.name);
        read::read_collection(
            &self.conn,
            &table.name.name,
            self.snapshot_time,
            collation,
            rows,
        )
        .await
    }

    async fn close(self: Box<Self>) -> Result<(), SourceError> {
        self.conn.client.clone().shutdown().immediate(true).await;
        Ok(())
    }
}
