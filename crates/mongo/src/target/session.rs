//! One restore in progress: a transaction, or temporary collections that
//! are swapped in on commit (see the parent module for the choice).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mongodb::bson::raw::RawDocumentBuf;
use mongodb::bson::{Document, doc};
use mongodb::{ClientSession, Database};
use tresor_core::{
    ErrorKind, RestoreMode, RestorePlan, RestoreSummary, RowReceiver, SourceError, TableSchema,
    TargetSession,
};

use super::{Counts, run_id};
use crate::catalog::{self, CollectionInfo, TMP_PREFIX};
use crate::error::mongo_error;
use crate::url::Connection;

/// Bytes of documents one transaction may write before the restore moves
/// to temporary collections. Far below MongoDB's limits (16 MiB per
/// operation, no total cap since 4.2), chosen so that a transaction
/// commits within seconds and the documents kept for a fallback stay
/// small.
pub(crate) const TXN_MAX_BYTES: usize = 16 << 20;

/// Documents one transaction may write (or delete, for a `replace` of an
/// existing collection) before the restore moves to temporary collections.
pub(crate) const TXN_MAX_DOCS: u64 = 50_000;

/// Age after which a transaction is abandoned for temporary collections:
/// half of MongoDB's default `transactionLifetimeLimitSeconds` (60 s).
pub(crate) const TXN_MAX_AGE: Duration = Duration::from_secs(30);

/// The `method` of a restore that ran in one transaction.
const METHOD_TXN: &str = "one multi-document transaction";

/// The `method` of a restore through temporary collections.
const METHOD_SWAP: &str = "temporary collections swapped in with renameCollection (dropTarget)";

/// A planned collection and what the target holds under its name.
pub(super) struct Planned {
    pub(super) table: TableSchema,
    pub(super) name: String,
    pub(super) tmp: String,
    pub(super) existing: Option<Existing>,
}

/// A collection already in the target.
pub(super) struct Existing {
    pub(super) info: CollectionInfo,
    pub(super) indexes: Vec<Document>,
}

pub(super) enum Path {
    /// Everything happens in one transaction; the documents written so far
    /// are kept for a move to temporary collections.
    Txn {
        session: Box<ClientSession>,
        started: Instant,
        bytes: usize,
        docs: u64,
        written: BTreeMap<String, Vec<RawDocumentBuf>>,
    },
    /// Temporary collections, all created in `begin`.
    Swap,
}

/// A restore into MongoDB.
pub(crate) struct MongoSession {
    pub(super) conn: Connection,
    pub(super) mode: RestoreMode,
    pub(super) whole_database: bool,
    pub(super) views: Vec<tresor_core::SchemaObject>,
    pub(super) planned: Vec<Planned>,
    pub(super) path: Path,
    pub(super) counts: Counts,
    pub(super) warnings: Vec<String>,
    /// Why the transaction was given up, if it was.
    pub(super) fell_back: Option<String>,
    /// Every planned collection must be missing or empty
    /// (`--only-missing`): checked when the restore begins and again just
    /// before temporaries replace collections.
    pub(super) only_missing: bool,
    /// Collections the snapshot lacks (`--drop-extra-tables`): MongoDB
    /// cannot drop a collection in a transaction, so they go right after
    /// the commit.
    pub(super) drop: Vec<String>,
    /// Committed or rolled back: nothing left to clean up.
    pub(super) done: bool,
}

/// The collections among `names` that hold a document now.
pub(super) async fn holding_documents(
    db: &Database,
    names: impl Iterator<Item = &str>,
) -> Result<Vec<String>, SourceError> {
    let mut out = Vec::new();
    for name in names {
        let any = db
            .collection::<Document>(name)
            .find_one(doc! {})
            .await
            .map_err(|e| mongo_error(format!("cannot look into collection {name}"), e))?;
        if any.is_some() {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

impl MongoSession {
    /// Looks at the target, chooses the path, and prepares every planned
    /// collection (created, cleared, or its temporary twin made).
    pub async fn begin(conn: Connection, plan: &RestorePlan) -> Result<Self, SourceError> {
        let existing = catalog::list_collections(&conn.db).await?;
        let run = run_id();
        let mut planned = Vec::new();
        let mut problems = Vec::new();
        for (i, name) in plan.tables.iter().enumerate() {
            let Some(table) = plan.schema.table(name) else {
                continue;
            };
            let kind = catalog::type_of(table);
            if kind != "collection" {
                problems.push(format!(
                    "collection {name} is a {kind} collection, which this version cannot \
                     restore atomically"
                ));
            }
            let current = match existing.iter().find(|c| c.name == name.name) {
                Some(info) if info.is_view() => {
                    problems.push(format!("{name} is a view in the target, not a collection"));
                    None
                }
                Some(info) => Some(Existing {
                    indexes: catalog::list_indexes(&conn.db, &info.name).await?,
                    info: info.clone(),
                }),
                None => None,
            };
            let tmp = format!("{TMP_PREFIX}{run}_{i}_{}", name.name);
            planned.push(Planned {
                table: table.clone(),
                name: name.name.clone(),
                tmp,
                existing: current,
            });
        }
        if !problems.is_empty() {
            return Err(
                SourceError::new(ErrorKind::Unsupported, problems.join("; "))
                    .with_hint("try: leave these collections out with --exclude"),
            );
        }
        if plan.only_missing {
            let holding = holding_documents(
                &conn.db,
                planned
                    .iter()
                    .filter(|p| p.existing.is_some())
                    .map(|p| p.name.as_str()),
            )
            .await?;
            if !holding.is_empty() {
                return Err(tresor_core::tables_hold_rows(&holding));
            }
        }
        let leftovers = clear_leftovers(&conn.db, &existing_all(&conn.db).await?).await?;
        let views = plan
            .schema
            .objects
            .iter()
            .filter(|o| o.kind == "view")
            .cloned()
            .collect();
        let mut s = MongoSession {
            conn,
            mode: plan.mode,
            whole_database: plan.whole_database,
            views,
            planned,
            path: Path::Swap,
            counts: Counts::new(),
            warnings: Vec::new(),
            fell_back: None,
            only_missing: plan.only_missing,
            drop: plan.drop.iter().map(|n| n.name.clone()).collect(),
            done: false,
        };
        if leftovers > 0 {
            s.warnings.push(format!(
                "dropped {leftovers} temporary collection(s) left by an earlier restore that did \
                 not finish"
            ));
        }
        match s.transaction_blocker().await? {
            None => {
                if let Err(e) = s.begin_transaction().await {
                    // some servers refuse DDL in transactions: the other
                    // path still keeps the restore atomic
                    s.abort().await;
                    s.fell_back = Some(format!("the transaction could not start: {e}"));
                    s.begin_swap().await?;
                }
            }
            Some(reason) => {
                s.fell_back = Some(reason);
                s.begin_swap().await?;
            }
        }
        Ok(s)
    }

    /// Why one transaction cannot hold this restore, or `None` when it
    /// can (as far as is known before the data arrives).
    async fn transaction_blocker(&self) -> Result<Option<String>, SourceError> {
        if !self.conn.topology.has_transactions() {
            return Ok(Some("the server is standalone (no transactions)".into()));
        }
        if self.conn.wire_version < 9 {
            return Ok(Some(
                "the server is older than 4.4 (no collection creation in transactions)".into(),
            ));
        }
        for p in &self.planned {
            let opts = catalog::options_of(&p.table)?;
            let special = |o: &RawDocumentBuf| {
                o.get("capped").ok().flatten().and_then(|v| v.as_bool()) == Some(true)
                    || o.get("clusteredIndex").ok().flatten().is_some()
            };
            if special(&opts) || p.existing.as_ref().is_some_and(|e| e.info.is_capped()) {
                return Ok(Some(format!(
                    "collection {} is capped or clustered (not writable in transactions)",
                    p.name
                )));
            }
            let Some(e) = &p.existing else { continue };
            if self.mode != RestoreMode::Replace {
                continue;
            }
            let current = catalog::definition(
                &e.info.kind,
                &catalog::to_json(&e.info.options)?,
                &e.indexes
                    .iter()
                    .map(catalog::to_json)
                    .collect::<Result<Vec<_>, _>>()?,
            );
            if current != catalog::table_definition(&p.table) {
                return Ok(Some(format!(
                    "collection {} differs from the snapshot's options or indexes (it must be \
                     recreated)",
                    p.name
                )));
            }
            let count = self
                .conn
                .db
                .collection::<Document>(&p.name)
                .estimated_document_count()
                .await
                .map_err(|e| mongo_error(format!("cannot count collection {}", p.name), e))?;
            if count > TXN_MAX_DOCS {
                return Ok(Some(format!(
                    "collection {} holds {count} documents to replace, more than one transaction \
                     should delete",
                    p.name
                )));
            }
        }
        Ok(None)
    }

    /// Starts the transaction: new collections created with their options
    /// and indexes inside it, existing ones emptied (`replace`).
    async fn begin_transaction(&mut self) -> Result<(), SourceError> {
        let mut session = self
            .conn
            .client
            .start_session()
            .await
            .map_err(|e| mongo_error("cannot start a session", e))?;
        session
            .start_transaction()
            .await
            .map_err(|e| mongo_error("cannot start a transaction", e))?;
        self.path = Path::Txn {
            session: Box::new(session),
            started: Instant::now(),
            bytes: 0,
            docs: 0,
            written: BTreeMap::new(),
        };
        let Path::Txn { session, .. } = &mut self.path else {
            return Ok(());
        };
        for p in &self.planned {
            match (&p.existing, self.mode) {
                (None, _) => {
                    let opts = catalog::options_of(&p.table)?;
                    run(
                        &self.conn.db,
                        catalog::create_command(&p.name, &opts)?,
                        Some(session),
                    )
                    .await
                    .map_err(|e| e.context(format!("cannot create collection {}", p.name)))?;
                    let specs = catalog::index_specs(&p.table)?;
                    if let Some(cmd) = catalog::create_indexes_command(&p.name, &specs) {
                        run(&self.conn.db, cmd, Some(session)).await.map_err(|e| {
                            e.context(format!("cannot create the indexes of {}", p.name))
                        })?;
                    }
                }
                (Some(_), RestoreMode::Replace) => {
                    self.conn
                        .db
                        .collection::<Document>(&p.name)
                        .delete_many(doc! {})
                        .session(&mut **session)
                        .await
                        .map_err(|e| {
                            mongo_error(format!("cannot empty collection {}", p.name), e)
                        })?;
                }
                (Some(_), RestoreMode::Merge) => {}
            }
        }
        Ok(())
    }

    /// Creates every temporary collection: the snapshot's options, or in
    /// `merge` a copy of the existing collection (options and documents).
    pub(super) async fn begin_swap(&mut self) -> Result<(), SourceError> {
        self.path = Path::Swap;
        for i in 0..self.planned.len() {
            if let Err(e) = self.prepare_tmp(i).await {
                self.drop_temporaries().await;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Drops every temporary collection (best effort: used on failure).
    pub(super) async fn drop_temporaries(&self) {
        for p in &self.planned {
            let _ = self.conn.db.collection::<Document>(&p.tmp).drop().await;
        }
    }

    /// Aborts the transaction, if one runs.
    pub(super) async fn abort(&mut self) {
        if let Path::Txn { session, .. } = &mut self.path {
            let _ = session.abort_transaction().await;
        }
        self.path = Path::Swap;
    }

    pub(super) fn summary(&mut self, method: &str) -> RestoreSummary {
        let method = match &self.fell_back {
            Some(why) => format!("{method} ({why})"),
            None => method.to_string(),
        };
        RestoreSummary {
            rows: std::mem::take(&mut self.counts),
            warnings: std::mem::take(&mut self.warnings),
            changed_values: Vec::new(),
            method,
        }
    }
}

/// Every collection name of `db`, tresor's temporaries included.
async fn existing_all(db: &Database) -> Result<Vec<String>, SourceError> {
    db.list_collection_names()
        .await
        .map_err(|e| mongo_error(format!("cannot list the collections of {}", db.name()), e))
}

/// Drops temporary collections an interrupted restore left behind (a
/// killed process cannot clean up); returns how many.
async fn clear_leftovers(db: &Database, names: &[String]) -> Result<usize, SourceError> {
    let mut n = 0;
    for name in names.iter().filter(|n| n.starts_with(TMP_PREFIX)) {
        db.collection::<Document>(name)
            .drop()
            .await
            .map_err(|e| mongo_error(format!("cannot drop leftover collection {name}"), e))?;
        n += 1;
    }
    Ok(n)
}

/// A driver error with context, as a [`SourceError`] (built lazily so the
/// context names the operation).
pub(super) struct RunError(pub(super) mongodb::error::Error);

impl RunError {
    pub(super) fn context(self, what: String) -> SourceError {
        mongo_error(what, self.0)
    }
}

/// Runs a raw command, in `session` when given.
pub(super) async fn run(
    db: &Database,
    cmd: RawDocumentBuf,
    session: Option<&mut ClientSession>,
) -> Result<Document, RunError> {
    let action = db.run_raw_command(cmd);
    match session {
        Some(s) => action.session(s).await,
        None => action.await,
    }
    .map_err(RunError)
}

#[async_trait]
impl TargetSession for MongoSession {
    async fn load_table(
        &mut self,
        table: &TableSchema,
        rows: RowReceiver,
    ) -> Result<u64, SourceError> {
        let r = self.load_rows(table, rows).await;
        if r.is_err() && matches!(self.path, Path::Swap) {
            // the restore is lost: its temporaries go now, not whenever
            // the session happens to be dropped
            self.drop_temporaries().await;
        }
        r
    }

    async fn commit(mut self: Box<Self>) -> Result<RestoreSummary, SourceError> {
        let method = match &mut self.path {
            Path::Txn { session, .. } => {
                session
                    .commit_transaction()
                    .await
                    .map_err(|e| mongo_error("cannot commit the restore transaction", e))?;
                METHOD_TXN
            }
            Path::Swap => {
                if let Err(e) = self.commit_swap().await {
                    self.drop_temporaries().await;
                    self.done = true;
                    return Err(e);
                }
                METHOD_SWAP
            }
        };
        self.done = true;
        self.drop_extra().await;
        self.restore_views().await?;
        Ok(self.summary(method))
    }

    async fn rehearse(mut self: Box<Self>) -> Result<RestoreSummary, SourceError> {
        let (result, method) = match &self.path {
            Path::Txn { .. } => {
                self.abort().await;
                (Ok(()), "one transaction, aborted")
            }
            Path::Swap => {
                let built = self.build_indexes().await;
                self.drop_temporaries().await;
                (built, "temporary collections, dropped")
            }
        };
        self.done = true;
        result?;
        Ok(self.summary(method))
    }

    async fn rollback(mut self: Box<Self>) -> Result<(), SourceError> {
        match &self.path {
            Path::Txn { .. } => self.abort().await,
            Path::Swap => self.drop_temporaries().await,
        }
        self.done = true;
        Ok(())
    }
}

impl Drop for MongoSession {
    /// A session dropped without commit or rollback: the driver aborts an
    /// open transaction by itself; temporaries are dropped in the
    /// background (they are invisible to tresor meanwhile).
    fn drop(&mut self) {
        if self.done || matches!(self.path, Path::Txn { .. }) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let db = self.conn.db.clone();
        let tmps: Vec<String> = self.planned.iter().map(|p| p.tmp.clone()).collect();
        handle.spawn(async move {
            for t in tmps {
                let _ = db.collection::<Document>(&t).drop().await;
            }
        });
    }
}
