//! One restore in progress: a transaction, or temporary collections that
//! are swapped in on commit (see the parent module for the choice).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mongodb::bson::raw::{RawArrayBuf, RawDocumentBuf, cstr};
use mongodb::bson::{Document, doc};
use mongodb::{ClientSession, Database};
use tresor_core::{
    ErrorKind, RestoreMode, RestorePlan, RestoreSummary, RowReceiver, SourceError, TableSchema,
    TargetSession, Value,
};

use super::{Counts, run_id, swap_in};
use crate::catalog::{self, CollectionInfo, TMP_PREFIX};
use crate::config::Connection;
use crate::error::{bson_error, mongo_error};

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

/// Documents per write command (`insert` batches are split further by
/// the driver at the server's message size).
const WRITE_BATCH_DOCS: usize = 4096;

/// Bytes per write command; an `update` command must stay within 16 MiB.
const WRITE_BATCH_BYTES: usize = 8 << 20;

/// The `method` of a restore that ran in one transaction.
const METHOD_TXN: &str = "one multi-document transaction";

/// The `method` of a restore through temporary collections.
const METHOD_SWAP: &str = "temporary collections swapped in with renameCollection (dropTarget)";

/// A planned collection and what the target holds under its name.
struct Planned {
    table: TableSchema,
    name: String,
    tmp: String,
    existing: Option<Existing>,
}

/// A collection already in the target.
struct Existing {
    info: CollectionInfo,
    indexes: Vec<Document>,
}

enum Path {
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
    conn: Connection,
    mode: RestoreMode,
    whole_database: bool,
    views: Vec<tresor_core::SchemaObject>,
    planned: Vec<Planned>,
    path: Path,
    counts: Counts,
    warnings: Vec<String>,
    /// Why the transaction was given up, if it was.
    fell_back: Option<String>,
    /// Every planned collection must be missing or empty
    /// (`--only-missing`): checked when the restore begins and again just
    /// before temporaries replace collections.
    only_missing: bool,
    /// Committed or rolled back: nothing left to clean up.
    done: bool,
}

/// The collections among `names` that hold a document now.
async fn holding_documents(
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
    async fn begin_swap(&mut self) -> Result<(), SourceError> {
        self.path = Path::Swap;
        for i in 0..self.planned.len() {
            if let Err(e) = self.prepare_tmp(i).await {
                self.drop_temporaries().await;
                return Err(e);
            }
        }
        Ok(())
    }

    async fn prepare_tmp(&self, i: usize) -> Result<(), SourceError> {
        let p = &self.planned[i];
        let db = &self.conn.db;
        match (&p.existing, self.mode) {
            (Some(e), RestoreMode::Merge) => {
                let opts = RawDocumentBuf::try_from(&e.info.options)
                    .map_err(|err| bson_error("collection options", err))?;
                run(db, catalog::create_command(&p.tmp, &opts)?, None)
                    .await
                    .map_err(|e| e.context(format!("cannot create a copy of {}", p.name)))?;
                copy_documents(db, &p.name, &p.tmp).await?;
            }
            _ => {
                let opts = catalog::options_of(&p.table)?;
                run(db, catalog::create_command(&p.tmp, &opts)?, None)
                    .await
                    .map_err(|e| {
                        e.context(format!(
                            "cannot create a temporary collection for {}",
                            p.name
                        ))
                    })?;
            }
        }
        Ok(())
    }

    /// Writes one collection's documents (the body of `load_table`).
    async fn load_rows(
        &mut self,
        table: &TableSchema,
        mut rows: RowReceiver,
    ) -> Result<u64, SourceError> {
        let Some(i) = self.planned.iter().position(|p| p.table.name == table.name) else {
            return Err(SourceError::new(
                ErrorKind::SchemaMismatch,
                format!("collection {} is not in the restore plan", table.name),
            ));
        };
        let width = table.stored_columns().count();
        let doc_pos = table
            .stored_columns()
            .position(|c| c.name == catalog::DOCUMENT)
            .ok_or_else(|| {
                SourceError::new(
                    ErrorKind::SchemaMismatch,
                    format!("collection {} has no document column", table.name),
                )
            })?;
        let mut written = 0u64;
        let mut batch: Vec<RawDocumentBuf> = Vec::with_capacity(WRITE_BATCH_DOCS);
        let mut bytes = 0usize;
        while let Some(chunk) = rows.recv().await {
            for row in chunk {
                if row.len() != width {
                    return Err(SourceError::data(format!(
                        "collection {}: a row has {} values, expected {width} (_id, document)",
                        table.name,
                        row.len()
                    )));
                }
                let Some(Value::Document(bytes_of_doc)) = row.into_iter().nth(doc_pos) else {
                    return Err(SourceError::data(format!(
                        "collection {}: a row holds no bson document",
                        table.name
                    )));
                };
                let doc = RawDocumentBuf::from_bytes(bytes_of_doc)
                    .map_err(|e| bson_error(format!("collection {}", table.name), e))?;
                bytes += doc.as_bytes().len();
                batch.push(doc);
                if batch.len() >= WRITE_BATCH_DOCS || bytes >= WRITE_BATCH_BYTES {
                    written += batch.len() as u64;
                    self.write(i, std::mem::take(&mut batch)).await?;
                    bytes = 0;
                }
            }
        }
        if !batch.is_empty() {
            written += batch.len() as u64;
            self.write(i, batch).await?;
        }
        *self.counts.entry(table.name.to_string()).or_default() += written;
        Ok(written)
    }

    /// Drops every temporary collection (best effort: used on failure).
    async fn drop_temporaries(&self) {
        for p in &self.planned {
            let _ = self.conn.db.collection::<Document>(&p.tmp).drop().await;
        }
    }

    /// Aborts the transaction, if one runs.
    async fn abort(&mut self) {
        if let Path::Txn { session, .. } = &mut self.path {
            let _ = session.abort_transaction().await;
        }
        self.path = Path::Swap;
    }

    /// Gives up the transaction for temporary collections and writes the
    /// documents the transaction had written into them.
    async fn fall_back(&mut self, reason: String) -> Result<(), SourceError> {
        let written = match std::mem::replace(&mut self.path, Path::Swap) {
            Path::Txn {
                mut session,
                written,
                ..
            } => {
                let _ = session.abort_transaction().await;
                written
            }
            Path::Swap => BTreeMap::new(),
        };
        tracing::info!("mongodb restore leaves its transaction: {reason}");
        self.fell_back = Some(reason);
        self.begin_swap().await?;
        for p in &self.planned {
            if let Some(docs) = written.get(&p.name) {
                for chunk in docs.chunks(WRITE_BATCH_DOCS) {
                    write_docs(&self.conn.db, &p.tmp, chunk, self.mode, None).await?;
                }
            }
        }
        Ok(())
    }

    /// Writes one batch of documents of planned collection `i`.
    async fn write(&mut self, i: usize, docs: Vec<RawDocumentBuf>) -> Result<(), SourceError> {
        let bytes: usize = docs.iter().map(|d| d.as_bytes().len()).sum();
        if let Path::Txn {
            started,
            bytes: b,
            docs: n,
            ..
        } = &self.path
        {
            let over = if *b + bytes > TXN_MAX_BYTES {
                Some(format!("the data outgrew {} MiB", TXN_MAX_BYTES >> 20))
            } else if *n + docs.len() as u64 > TXN_MAX_DOCS {
                Some(format!("the data outgrew {TXN_MAX_DOCS} documents"))
            } else if started.elapsed() > TXN_MAX_AGE {
                Some(format!(
                    "the transaction ran longer than {} s",
                    TXN_MAX_AGE.as_secs()
                ))
            } else {
                None
            };
            if let Some(reason) = over {
                self.fall_back(reason).await?;
            }
        }
        let p = &self.planned[i];
        match &mut self.path {
            Path::Txn {
                session,
                bytes: b,
                docs: n,
                written,
                ..
            } => {
                *b += bytes;
                *n += docs.len() as u64;
                let kept = written.entry(p.name.clone()).or_default();
                let start = kept.len();
                kept.extend(docs);
                write_docs(
                    &self.conn.db,
                    &p.name,
                    &kept[start..],
                    self.mode,
                    Some(&mut **session),
                )
                .await
            }
            Path::Swap => write_docs(&self.conn.db, &p.tmp, &docs, self.mode, None).await,
        }
    }

    /// Creates the views of a whole-database restore.
    async fn restore_views(&mut self) -> Result<(), SourceError> {
        if !self.whole_database || self.views.is_empty() {
            return Ok(());
        }
        let current = catalog::list_collections(&self.conn.db).await?;
        for v in &self.views {
            let name = &v.name.name;
            match current.iter().find(|c| &c.name == name) {
                Some(c) if !c.is_view() => {
                    self.warnings.push(format!(
                        "view {name} not restored: a collection of that name exists"
                    ));
                    continue;
                }
                Some(_) if self.mode == RestoreMode::Merge => continue,
                Some(_) => {
                    self.conn
                        .db
                        .collection::<Document>(name)
                        .drop()
                        .await
                        .map_err(|e| mongo_error(format!("cannot replace view {name}"), e))?;
                }
                None => {}
            }
            let json: serde_json::Value = serde_json::from_str(&v.ddl).map_err(|e| {
                SourceError::data(format!("view {name}: its definition is not json: {e}"))
            })?;
            let cmd = catalog::from_json(&json, &format!("view {name}"))?;
            run(&self.conn.db, cmd, None)
                .await
                .map_err(|e| e.context(format!("cannot create view {name}")))?;
        }
        Ok(())
    }

    fn summary(&mut self, method: &str) -> RestoreSummary {
        let method = match &self.fell_back {
            Some(why) => format!("{method} ({why})"),
            None => method.to_string(),
        };
        RestoreSummary {
            rows: std::mem::take(&mut self.counts),
            warnings: std::mem::take(&mut self.warnings),
            method,
        }
    }

    async fn commit_swap(&mut self) -> Result<(), SourceError> {
        self.build_indexes().await?;
        // renaming over a collection drops what it holds: the deploy-safe
        // restore looks once more
        if self.only_missing {
            let holding =
                holding_documents(&self.conn.db, self.planned.iter().map(|p| p.name.as_str()))
                    .await?;
            if !holding.is_empty() {
                return Err(tresor_core::tables_hold_rows(&holding));
            }
        }
        for p in &self.planned {
            swap_in(&self.conn.client, self.conn.db.name(), &p.tmp, &p.name).await?;
        }
        self.check_swapped_options().await
    }

    /// Builds every planned collection's indexes on its temporary (what
    /// can fail before the swap: a unique index over duplicate values).
    async fn build_indexes(&mut self) -> Result<(), SourceError> {
        let db = &self.conn.db;
        for p in &self.planned {
            let specs = match (&p.existing, self.mode) {
                (Some(e), RestoreMode::Merge) => e
                    .indexes
                    .iter()
                    .map(|d| RawDocumentBuf::try_from(d).map_err(|e| bson_error("index", e)))
                    .collect::<Result<Vec<_>, _>>()?,
                _ => catalog::index_specs(&p.table)?,
            };
            if let Some(cmd) = catalog::create_indexes_command(&p.tmp, &specs) {
                run(db, cmd, None)
                    .await
                    .map_err(|e| e.context(format!("cannot build the indexes of {}", p.name)))?;
            }
        }
        Ok(())
    }

    /// A collection keeps its options when renamed on mongod; on a server
    /// that loses them (SecantusDB does), the validation options are set
    /// again with `collMod`, and whatever still differs gets a warning per
    /// collection.
    async fn check_swapped_options(&mut self) -> Result<(), SourceError> {
        let now = catalog::list_collections(&self.conn.db).await?;
        let mut modded = false;
        for p in &self.planned {
            let expected = match (&p.existing, self.mode) {
                (Some(e), RestoreMode::Merge) => e.info.options.clone(),
                _ => Document::try_from(catalog::options_of(&p.table)?.as_ref())
                    .map_err(|e| bson_error("collection options", e))?,
            };
            let actual = now.iter().find(|c| c.name == p.name).map(|c| &c.options);
            if actual == Some(&expected) {
                continue;
            }
            let mut cmd = doc! { "collMod": p.name.as_str() };
            for key in ["validator", "validationLevel", "validationAction"] {
                if let Some(v) = expected.get(key) {
                    cmd.insert(key, v.clone());
                }
            }
            if cmd.len() > 1 {
                let raw =
                    RawDocumentBuf::try_from(&cmd).map_err(|e| bson_error("collMod command", e))?;
                // a server that refuses is reported below, with the rest
                if run(&self.conn.db, raw, None).await.is_ok() {
                    modded = true;
                }
            }
        }
        let now = if modded {
            catalog::list_collections(&self.conn.db).await?
        } else {
            now
        };
        for p in &self.planned {
            let expected = match (&p.existing, self.mode) {
                (Some(e), RestoreMode::Merge) => catalog::to_json(&e.info.options)?,
                _ => p
                    .table
                    .extra
                    .get("options")
                    .cloned()
                    .unwrap_or_else(|| serde_json::json!({})),
            };
            let actual = match now.iter().find(|c| c.name == p.name) {
                Some(c) => catalog::to_json(&c.options)?,
                None => serde_json::Value::Null,
            };
            if actual != expected {
                self.warnings.push(format!(
                    "collection {}: the server reports options {actual} after the swap, not \
                     {expected}",
                    p.name
                ));
            }
        }
        Ok(())
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
struct RunError(mongodb::error::Error);

impl RunError {
    fn context(self, what: String) -> SourceError {
        mongo_error(what, self.0)
    }
}

/// Runs a raw command, in `session` when given.
async fn run(
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

/// Copies every document of `from` into `to` (natural order, so capped
/// collections keep theirs).
async fn copy_documents(db: &Database, from: &str, to: &str) -> Result<(), SourceError> {
    use futures::TryStreamExt;
    let context = || format!("cannot copy collection {from}");
    let mut cursor = db
        .collection::<RawDocumentBuf>(from)
        .find(doc! {})
        .await
        .map_err(|e| mongo_error(context(), e))?;
    let mut batch = Vec::with_capacity(WRITE_BATCH_DOCS);
    let mut bytes = 0;
    while let Some(d) = cursor
        .try_next()
        .await
        .map_err(|e| mongo_error(context(), e))?
    {
        bytes += d.as_bytes().len();
        batch.push(d);
        if batch.len() >= WRITE_BATCH_DOCS || bytes >= WRITE_BATCH_BYTES {
            write_docs(db, to, &batch, RestoreMode::Replace, None).await?;
            batch.clear();
            bytes = 0;
        }
    }
    if !batch.is_empty() {
        write_docs(db, to, &batch, RestoreMode::Replace, None).await?;
    }
    Ok(())
}

/// Inserts (`replace`) or upserts by `_id` (`merge`) `docs` into `coll`.
async fn write_docs(
    db: &Database,
    coll: &str,
    docs: &[RawDocumentBuf],
    mode: RestoreMode,
    mut session: Option<&mut ClientSession>,
) -> Result<(), SourceError> {
    if docs.is_empty() {
        return Ok(());
    }
    let context = || format!("cannot write documents into collection {}", shown(coll));
    match mode {
        RestoreMode::Replace => {
            let c = db.collection::<RawDocumentBuf>(coll);
            let action = c.insert_many(docs).ordered(true);
            match session {
                Some(s) => action.session(s).await,
                None => action.await,
            }
            .map(|_| ())
            .map_err(|e| mongo_error(context(), e))
        }
        RestoreMode::Merge => {
            let mut start = 0;
            while start < docs.len() {
                let mut end = start;
                let mut bytes = 0;
                let mut updates = RawArrayBuf::new();
                while end < docs.len()
                    && (end == start || bytes + docs[end].as_bytes().len() < WRITE_BATCH_BYTES)
                {
                    let d = &docs[end];
                    bytes += d.as_bytes().len();
                    let id = d
                        .get("_id")
                        .map_err(|e| bson_error(coll, e))?
                        .ok_or_else(|| {
                            SourceError::data(format!("{}: a document has no _id", shown(coll)))
                        })?;
                    let mut q = RawDocumentBuf::new();
                    q.append(cstr!("_id"), id);
                    let mut stmt = RawDocumentBuf::new();
                    stmt.append(cstr!("q"), q);
                    stmt.append(cstr!("u"), d.clone());
                    stmt.append(cstr!("upsert"), true);
                    updates.push(stmt);
                    end += 1;
                }
                let mut cmd = RawDocumentBuf::new();
                cmd.append(cstr!("update"), coll);
                cmd.append(cstr!("updates"), updates);
                cmd.append(cstr!("ordered"), true);
                let reply = run(db, cmd, session.as_deref_mut())
                    .await
                    .map_err(|e| e.context(context()))?;
                check_write_reply(&reply, start)
                    .map_err(|m| SourceError::data(format!("{}: {m}", context())))?;
                start = end;
            }
            Ok(())
        }
    }
}

/// The first write error of a write command's reply, as text.
fn check_write_reply(reply: &Document, offset: usize) -> Result<(), String> {
    if let Ok(errors) = reply.get_array("writeErrors")
        && let Some(mongodb::bson::Bson::Document(e)) = errors.first()
    {
        {
            let index = e.get_i32("index").unwrap_or(0) as usize + offset;
            return Err(format!(
                "document {}: {} ({})",
                index + 1,
                e.get_str("errmsg").unwrap_or("write error"),
                e.get_i32("code").unwrap_or(0)
            ));
        }
    }
    if let Ok(e) = reply.get_document("writeConcernError") {
        return Err(format!(
            "write concern error: {} ({})",
            e.get_str("errmsg").unwrap_or(""),
            e.get_i32("code").unwrap_or(0)
        ));
    }
    Ok(())
}

/// A collection name for messages: temporaries by their real name.
fn shown(coll: &str) -> &str {
    match coll.strip_prefix(TMP_PREFIX) {
        Some(rest) => rest.splitn(3, '_').nth(2).unwrap_or(coll),
        None => coll,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_are_shown_by_their_collection() {
        assert_eq!(shown("__tresor_tmp_1a2b_3_user_sessions"), "user_sessions");
        assert_eq!(shown("orders"), "orders");
    }

    #[test]
    fn write_errors_name_the_document() {
        let reply = doc! { "n": 1, "writeErrors": [ { "index": 2, "code": 121, "errmsg": "Document failed validation" } ] };
        let e = check_write_reply(&reply, 10).expect_err("error");
        assert!(e.contains("document 13"), "{e}");
        assert!(check_write_reply(&doc! { "n": 3, "ok": 1 }, 0).is_ok());
    }
}
