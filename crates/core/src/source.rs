//! The traits every database engine implements: [`Source`] to read a
//! consistent snapshot, [`Target`] to restore into.
//!
//! Data flows in batches of rows through bounded channels, so neither side
//! ever holds a whole table in memory and a slow side slows the other down
//! instead of filling memory.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::approximate::{Approximation, TypeChange};
use crate::filter::TableFilter;
use crate::schema::{DatabaseSchema, Engine, ForeignKey, PortableType, TableName, TableSchema};
use crate::value::Row;

/// A batch of rows on its way between a database and the repository.
pub type RowBatch = Vec<Row>;

/// The sending half a source streams a table's rows into.
pub type RowSender = mpsc::Sender<RowBatch>;

/// The receiving half a target loads a table's rows from.
pub type RowReceiver = mpsc::Receiver<RowBatch>;

/// A batch of rows already in the row codec, framed as in a chunk
/// (`varint(len) || row`): what a backup stores, built by sources that can
/// write the encoding straight from the wire instead of through a
/// [`crate::Value`] per field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncodedBatch {
    framed: Vec<u8>,
    rows: u64,
}

impl EncodedBatch {
    /// An empty batch with room for a full batch
    /// ([`ENCODED_BATCH_BYTES`] and a row beyond).
    pub fn new() -> Self {
        EncodedBatch {
            framed: Vec::with_capacity(ENCODED_BATCH_BYTES + (16 << 10)),
            rows: 0,
        }
    }

    /// Whether the batch should be sent: [`BATCH_ROWS`] rows or
    /// [`ENCODED_BATCH_BYTES`] bytes.
    pub fn is_full(&self) -> bool {
        self.rows >= BATCH_ROWS as u64 || self.framed.len() >= ENCODED_BATCH_BYTES
    }

    /// Appends one encoded row (as [`crate::codec::encode_row`] writes it).
    pub fn push_encoded(&mut self, row: &[u8]) {
        crate::codec::put_varint(&mut self.framed, row.len() as u64);
        self.framed.extend_from_slice(row);
        self.rows += 1;
    }

    /// Encodes and appends one row.
    pub fn push(&mut self, row: &[crate::Value], scratch: &mut Vec<u8>) {
        scratch.clear();
        crate::codec::encode_row(row, scratch);
        self.push_encoded(scratch);
    }

    /// Rows in the batch.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes of framed rows in the batch.
    pub fn len(&self) -> usize {
        self.framed.len()
    }

    /// Whether the batch holds no row.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The rows as framed in a chunk (`varint(len) || row` each), for
    /// [`crate::codec::TableDigest::update_framed`].
    pub fn framed(&self) -> &[u8] {
        &self.framed
    }

    /// The encoded rows, in order.
    pub fn iter(&self) -> crate::codec::ChunkRows<'_> {
        crate::codec::ChunkRows::new(&self.framed)
    }
}

/// The sending half of a table's [`EncodedBatch`]es.
pub type EncodedSender = mpsc::Sender<EncodedBatch>;

/// Rows per batch that sources aim for; batches are also cut at about
/// [`BATCH_BYTES`].
pub const BATCH_ROWS: usize = 1024;

/// Approximate bytes of values per batch.
pub const BATCH_BYTES: usize = 1 << 20;

/// Bytes at which an [`EncodedBatch`] is cut. Small enough that its buffer
/// comes from the allocator's reusable heap rather than a fresh mapping
/// (tresor sets glibc's mmap threshold to 128 KiB), so the pages of one
/// batch serve the next instead of faulting in anew.
pub const ENCODED_BATCH_BYTES: usize = 96 << 10;

/// What went wrong in a database adapter, sorted so callers can react
/// (retry, ask the user, give up).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The URL or options are malformed.
    InvalidUrl,
    /// Could not reach or log in to the server, or the connection dropped.
    Connection,
    /// The server refused the operation for lack of privileges.
    Permission,
    /// A named table, column, or database does not exist.
    NotFound,
    /// The target's schema does not fit the snapshot.
    SchemaMismatch,
    /// The engine or server cannot do what was asked.
    Unsupported,
    /// A value could not be read or written.
    Data,
    /// The operation conflicts with concurrent activity (serialization
    /// failure, lock timeout, deadlock).
    Conflict,
    /// Local file system trouble.
    Io,
    /// The operation was cancelled.
    Cancelled,
    /// Anything else the engine reported.
    Engine,
}

/// An error from a [`Source`] or [`Target`].
///
/// The message never contains passwords: adapters print URLs through
/// [`redact_url`].
#[derive(Debug, thiserror::Error)]
pub struct SourceError {
    kind: ErrorKind,
    message: String,
    hint: Option<String>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl SourceError {
    /// A new error of `kind` with a lowercase message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        SourceError {
            kind,
            message: message.into(),
            hint: None,
            source: None,
        }
    }

    /// Adds what the user can do about it ("try: ...").
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        let hint = hint.into();
        // callers print "try: " themselves
        self.hint = Some(
            hint.strip_prefix("try: ")
                .map(str::to_string)
                .unwrap_or(hint),
        );
        self
    }

    /// Adds `more` after the message (lines of detail, each starting with
    /// a line break).
    pub fn with_details(mut self, more: &str) -> Self {
        self.message.push_str(more);
        self
    }

    /// Says what the failure was about (`table events`), before the message.
    pub fn within(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// Attaches the underlying error; its text is appended to the message
    /// so that a single line tells the whole story.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        let text = source.to_string();
        if !text.is_empty() && !self.message.contains(&text) {
            self.message = format!("{}: {text}", self.message);
        }
        self.source = Some(Box::new(source));
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What the user can do, if anything.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Connection | ErrorKind::Conflict)
    }

    /// Shorthand for a data error.
    pub fn data(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Data, message)
    }

    /// Shorthand for a cancelled operation.
    pub fn cancelled() -> Self {
        Self::new(ErrorKind::Cancelled, "operation cancelled")
    }
}

impl From<crate::codec::CodecError> for SourceError {
    fn from(e: crate::codec::CodecError) -> Self {
        SourceError::new(ErrorKind::Data, "cannot decode row data").with_source(e)
    }
}

/// Facts about the source recorded in the snapshot manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// The server's version string (`3.46.0`, `PostgreSQL 15.4`, ...).
    pub server_version: String,
    /// The database name (file name for SQLite).
    pub database: String,
    /// How consistent the snapshot is, in a sentence
    /// (`one read transaction`, `snapshot shared by 4 connections`).
    pub consistency: String,
    /// Things the user should know (a MyISAM table is not covered by the
    /// transaction, a standalone MongoDB has no snapshot reads).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// How to read a source.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Which tables to read.
    pub filter: TableFilter,
    /// Upper bound on tables read at once (connections opened).
    pub jobs: usize,
    /// Engine-specific switches (`allow-global-lock` for MySQL, ...).
    pub options: BTreeMap<String, String>,
    /// Rows in the order the engine stores them, where reading them in
    /// row-key order would make it sort or walk an index (PostgreSQL):
    /// for a reader that digests a table just written in key order (a
    /// drill's verification) and reads it again in key order when the
    /// digest differs. Engines that store rows in key order ignore it.
    pub stored_order: bool,
    /// How long the read waits, in all, for other sessions (a migration
    /// changing a table's definition) to let go of the tables it reads,
    /// before it gives up having read nothing and names them
    /// ([`DEFAULT_BACKUP_LOCK_WAIT`] unless `--lock-wait` says otherwise).
    pub lock_wait: std::time::Duration,
}

/// How long a backup waits for the tables it reads, unless told: a
/// migration may hold one for minutes, and waiting (a second at a time)
/// stops no one else.
pub const DEFAULT_BACKUP_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            filter: TableFilter::all(),
            jobs: 1,
            options: BTreeMap::new(),
            stored_order: false,
            lock_wait: DEFAULT_BACKUP_LOCK_WAIT,
        }
    }
}

/// A database that can be backed up.
#[async_trait]
pub trait Source: Send + Sync {
    /// The engine.
    fn engine(&self) -> Engine;

    /// Opens one consistent read view of the database and captures the
    /// schema of the tables the filter selects.
    ///
    /// # Errors
    /// Connection and permission errors; [`ErrorKind::NotFound`] when the
    /// database does not exist.
    async fn open(&self, options: &ReadOptions) -> Result<Box<dyn SourceSnapshot>, SourceError>;

    /// Asks the database one read-only question and returns the answer as
    /// text: the first column of the first row of a [`Probe::Sql`] query
    /// (`None` for no row or NULL), or the count of a [`Probe::Count`].
    /// The query runs in a read-only transaction (SQLite: a read-only
    /// connection), so it cannot change anything. What a restore drill's
    /// assertions run.
    ///
    /// # Errors
    /// The database's own message for a query it refused, and
    /// [`ErrorKind::Unsupported`] for a probe of another engine's kind
    /// (the default, for engines that run none).
    async fn probe(&self, probe: &crate::Probe) -> Result<Option<String>, SourceError> {
        Err(probe.unsupported(self.engine()))
    }
}

/// One consistent read view of a database, open until [`close`].
///
/// [`close`]: SourceSnapshot::close
#[async_trait]
pub trait SourceSnapshot: Send + Sync {
    /// Facts for the manifest.
    fn info(&self) -> &SourceInfo;

    /// The schema of the selected tables and the database's other objects.
    fn schema(&self) -> &DatabaseSchema;

    /// Streams every row of `table`, in the order of its row key under
    /// [`crate::compare_keys`] (text keys byte-wise), in batches into
    /// `rows`; returns the number of rows sent. Values are in
    /// [`TableSchema::stored_columns`] order. May be called concurrently for
    /// different tables, up to the `jobs` the snapshot was opened with.
    ///
    /// # Errors
    /// When the channel's receiver is dropped the read stops with
    /// [`ErrorKind::Cancelled`].
    async fn read_table(&self, table: &TableSchema, rows: RowSender) -> Result<u64, SourceError>;

    /// [`SourceSnapshot::read_table`], with the rows already encoded: the
    /// same rows in the same order, their encoding exactly what
    /// [`crate::codec::encode_row`] makes of the values `read_table` sends.
    /// This is what a backup reads. The default encodes what `read_table`
    /// sends; a source that can write the encoding straight from the wire
    /// saves building a [`crate::Value`] per field.
    ///
    /// # Errors
    /// As `read_table`.
    async fn read_table_encoded(
        &self,
        table: &TableSchema,
        rows: EncodedSender,
    ) -> Result<u64, SourceError> {
        let (tx, mut rx) = mpsc::channel::<RowBatch>(2);
        let encode = async move {
            let mut scratch = Vec::new();
            let mut encoded = EncodedBatch::new();
            while let Some(batch) = rx.recv().await {
                for row in &batch {
                    encoded.push(row, &mut scratch);
                    if encoded.is_full()
                        && rows
                            .send(std::mem::replace(&mut encoded, EncodedBatch::new()))
                            .await
                            .is_err()
                    {
                        // the reader sees its channel close and stops
                        return;
                    }
                }
            }
            if !encoded.is_empty() {
                let _ = rows.send(encoded).await;
            }
        };
        let (read, ()) = tokio::join!(self.read_table(table, tx), encode);
        read
    }

    /// Ends the read view.
    async fn close(self: Box<Self>) -> Result<(), SourceError>;
}

/// How restored rows meet rows already in a table.
///
/// Every front door parses it with [`str::parse`] (the JSON API through
/// serde, which calls the same code), so an unknown mode is refused the
/// same way everywhere.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum RestoreMode {
    /// Empty each restored table, then load the snapshot's rows.
    #[default]
    Replace,
    /// Insert rows whose key is new, update rows whose key exists, leave
    /// the others alone.
    Merge,
}

impl fmt::Display for RestoreMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RestoreMode::Replace => "replace",
            RestoreMode::Merge => "merge",
        })
    }
}

impl RestoreMode {
    /// Every mode, in the order they are offered.
    pub const ALL: [RestoreMode; 2] = [RestoreMode::Replace, RestoreMode::Merge];
}

/// A restore mode tresor does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown restore mode {0:?}: use replace or merge")]
pub struct UnknownRestoreMode(pub String);

impl std::str::FromStr for RestoreMode {
    type Err = UnknownRestoreMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RestoreMode::ALL
            .into_iter()
            .find(|m| m.to_string() == s)
            .ok_or_else(|| UnknownRestoreMode(s.to_string()))
    }
}

impl TryFrom<String> for RestoreMode {
    type Error = UnknownRestoreMode;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// What a restore will do, decided before any data moves.
#[derive(Clone, Debug)]
pub struct RestorePlan {
    /// The snapshot's schema (restricted to the tables restored).
    pub schema: DatabaseSchema,
    /// Replace or merge.
    pub mode: RestoreMode,
    /// Tables in load order (referenced tables first).
    pub tables: Vec<TableName>,
    /// Whether the restore covers the whole snapshot (so database-level
    /// objects such as views and triggers are restored too).
    pub whole_database: bool,
    /// Tables the target has whose definition changed since the backup (a
    /// migration added or dropped a column): the target makes them again
    /// as the snapshot had them, within the restore's atomicity.
    pub recreate: Vec<TableName>,
    /// Also restore roles, owners, grants and default privileges, where
    /// the engine records them (`--with-privileges`); without it the
    /// restoring user owns what it creates.
    pub privileges: bool,
    /// The deploy-safe restore (`--only-missing`): every planned table
    /// must be missing or empty in the target. It was when the restore was
    /// planned; the session checks it again inside its transaction (or
    /// under its lock) before it changes anything, and fails with
    /// [`tables_hold_rows`] when the application wrote rows meanwhile.
    pub only_missing: bool,
    /// `--strict`: a value the target would have to write in another form
    /// (see [`ValueChanges`](crate::ValueChanges)) fails the restore
    /// instead.
    pub strict: bool,
    /// For a restore of some tables: the foreign keys of the snapshot's
    /// other tables that reference a restored one, as (referencing table,
    /// key). PostgreSQL's `DROP TABLE ... CASCADE` drops them with the
    /// table; a restore that makes the table again adds back those the
    /// referencing tables lack.
    pub inbound_keys: Vec<(TableName, ForeignKey)>,
    /// Tables (collections) the target has and the snapshot lacks, made
    /// since the backup (an upgrade's migrations): a whole-database
    /// restore with `--drop-extra-tables` drops them within its atomicity,
    /// so that the database is as the backup had it.
    pub drop: Vec<TableName>,
    /// With `--drop-extra-tables`, also the types a snapshot of the same
    /// engine lacks (PostgreSQL's enums, composites, ranges and domains an
    /// upgrade made), where nothing the restore keeps still uses them.
    pub drop_extra_types: bool,
    /// How long the restore waits, in all, for other sessions (the
    /// application's) to let go of the tables it must lock, before it
    /// gives up having changed nothing and names them
    /// ([`DEFAULT_LOCK_WAIT`] unless `--lock-wait` says otherwise).
    pub lock_wait: std::time::Duration,
}

/// Another client connected to a target database: the application still
/// running during a restore (see [`Target::other_sessions`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherSession {
    /// The server's id for it (PostgreSQL's pid, MySQL's connection id).
    pub id: String,
    /// The name it gave itself (PostgreSQL's `application_name`), if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub application: String,
    /// The database user it logged in as.
    pub user: String,
    /// Where it connects from, if known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// What it is doing: `idle`, `active`, `idle in transaction`, ...
    pub state: String,
}

impl fmt::Display for OtherSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session {} (", self.id)?;
        if !self.application.is_empty() {
            write!(f, "{}, ", self.application)?;
        }
        write!(f, "user {}", self.user)?;
        if !self.host.is_empty() {
            write!(f, ", from {}", self.host)?;
        }
        write!(f, "): {}", self.state)
    }
}

/// How long a restore waits for the tables it must lock, unless told.
pub const DEFAULT_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

impl RestorePlan {
    /// A plan restoring every table of `schema` in `mode`, in load order,
    /// as the whole database, without the options a restore can add.
    pub fn of_all(schema: DatabaseSchema, mode: RestoreMode) -> Self {
        let tables = {
            let refs: Vec<&crate::TableSchema> = schema.tables.iter().collect();
            crate::load_order(&refs)
        };
        RestorePlan {
            schema,
            mode,
            tables,
            whole_database: true,
            recreate: Vec::new(),
            privileges: false,
            only_missing: false,
            strict: false,
            inbound_keys: Vec::new(),
            drop: Vec::new(),
            drop_extra_types: false,
            lock_wait: DEFAULT_LOCK_WAIT,
        }
    }
}

/// The error of a session whose [`RestorePlan::only_missing`] check found
/// rows in planned `tables`: nothing was changed.
pub fn tables_hold_rows(tables: &[String]) -> SourceError {
    SourceError::new(
        ErrorKind::Conflict,
        format!(
            "{} {} rows now, written after the restore was planned; the deploy-safe restore \
             leaves tables that hold data alone, so nothing was restored",
            tables.join(", "),
            if tables.len() == 1 { "holds" } else { "hold" },
        ),
    )
    .with_hint("run the restore again: it will leave them alone")
}

/// A table as it exists in a target before a restore.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExistingTable {
    /// The table's name.
    pub name: TableName,
    /// Its row count now.
    pub rows: u64,
}

/// What a target holds before a restore.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetState {
    /// Whether the database (file, schema) exists at all.
    pub exists: bool,
    /// Tables present now, with row counts.
    pub tables: Vec<ExistingTable>,
}

impl TargetState {
    /// Whether any table holds a row.
    pub fn has_data(&self) -> bool {
        self.tables.iter().any(|t| t.rows > 0)
    }

    /// The existing table named `name`.
    pub fn table(&self, name: &TableName) -> Option<&ExistingTable> {
        self.tables.iter().find(|t| &t.name == name)
    }
}

/// Figures a target reports when a restore commits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreSummary {
    /// Rows written per table.
    pub rows: BTreeMap<String, u64>,
    /// Things the user should know (an approximated type, a skipped
    /// object the target engine lacks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Values the target wrote in another form, per table and column (a
    /// NaN as NULL into MySQL).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_values: Vec<crate::Approximation>,
    /// How atomicity was achieved (`one transaction`, `temporary file
    /// renamed into place`, `tables swapped with RENAME TABLE`).
    pub method: String,
}

/// A database that snapshots can be restored into.
#[async_trait]
pub trait Target: Send + Sync {
    /// The engine.
    fn engine(&self) -> Engine;

    /// For a column of portable type `p` in a table this target makes
    /// from another engine's snapshot: the type it gets and what changes,
    /// when the engine cannot hold `p` as it is (see
    /// [`approximations`](crate::approximations)); `None` when nothing is
    /// lost.
    fn approximate_type(&self, p: &PortableType) -> Option<TypeChange> {
        let _ = p;
        None
    }

    /// Looks at what the target holds now (to ask for confirmation and
    /// decide whether a safety snapshot is needed).
    async fn inspect(&self) -> Result<TargetState, SourceError>;

    /// Starts an atomic restore: a transaction, or a temporary copy that
    /// replaces the original on commit. Creates or checks the schema of
    /// every planned table, reporting every mismatch at once, before any
    /// row is written.
    async fn begin(&self, plan: &RestorePlan) -> Result<Box<dyn TargetSession>, SourceError>;

    /// What restoring `plan` changes because of the target server's
    /// version or build rather than its engine (a snapshot of a newer
    /// PostgreSQL restored into an older one), for the tables `state`
    /// says the target lacks and, into a database without any planned
    /// table, for the objects around them. The dry run lists these with
    /// the cross-engine approximations, and `--strict` refuses them.
    /// [`begin`] makes exactly these changes. Nothing by default.
    ///
    /// [`begin`]: Target::begin
    ///
    /// # Errors
    /// The target cannot be reached, or cannot hold part of the snapshot
    /// at all (the restore would fail the same way).
    async fn version_approximations(
        &self,
        plan: &RestorePlan,
        state: &TargetState,
    ) -> Result<Vec<Approximation>, SourceError> {
        let _ = (plan, state);
        Ok(Vec::new())
    }

    /// The other clients connected to the target database now (the
    /// application's connections), where the engine can tell: a restore
    /// in replace mode discards what they write while it runs, and its
    /// safety snapshot misses what they write after it was taken, so the
    /// dry run and the restore name them. None by default.
    ///
    /// # Errors
    /// The target cannot be reached.
    async fn other_sessions(&self) -> Result<Vec<OtherSession>, SourceError> {
        Ok(Vec::new())
    }

    /// Whether [`hold`](Target::hold) can hold the tables a restore
    /// changes against other sessions' writes before it begins. False by
    /// default.
    fn holds_writes(&self) -> bool {
        false
    }

    /// Starts the restore's transaction and holds the existing tables
    /// `plan` changes against other sessions' writes, while they can still
    /// read them: a safety snapshot read now holds exactly what the
    /// restore overwrites, since nothing can be written in between.
    /// [`TargetHold::begin`] then goes on in the same transaction, as
    /// [`begin`](Target::begin) would. Only called where
    /// [`holds_writes`](Target::holds_writes) says so, on a target that
    /// exists.
    ///
    /// # Errors
    /// Another session holds a table longer than the plan's `lock_wait`
    /// ([`ErrorKind::Conflict`](crate::ErrorKind::Conflict), naming it),
    /// or the engine cannot hold tables this way.
    async fn hold(&self, plan: &RestorePlan) -> Result<Box<dyn TargetHold>, SourceError> {
        let _ = plan;
        Err(SourceError::new(
            crate::ErrorKind::Unsupported,
            format!("cannot hold {} tables against writes", self.engine().name()),
        ))
    }

    /// Removes the whole database (file) this target names: what a restore
    /// drill does with its scratch database. Only called on databases
    /// tresor made for the purpose.
    ///
    /// # Errors
    /// The engine cannot drop databases this way, or the server refused.
    async fn drop_database(&self) -> Result<(), SourceError> {
        Err(SourceError::new(
            crate::ErrorKind::Unsupported,
            format!("cannot drop {} databases", self.engine().name()),
        ))
    }
}

/// A restore's transaction begun by [`Target::hold`], holding the tables
/// it changes against other sessions' writes. Dropping it lets them go,
/// the target as it was.
#[async_trait]
pub trait TargetHold: Send {
    /// Goes on as [`Target::begin`] does for the plan given to
    /// [`Target::hold`], in the same transaction.
    async fn begin(self: Box<Self>) -> Result<Box<dyn TargetSession>, SourceError>;

    /// Lets the tables go without changing anything.
    async fn release(self: Box<Self>) -> Result<(), SourceError>;
}

/// One atomic restore in progress. Dropping it without [`commit`] must
/// leave the target as it was (rollback).
///
/// [`commit`]: TargetSession::commit
#[async_trait]
pub trait TargetSession: Send {
    /// Loads all rows of one table from `rows` (values in
    /// [`TableSchema::stored_columns`] order), inserting in replace mode or
    /// upserting by key in merge mode. Returns the rows written.
    async fn load_table(
        &mut self,
        table: &TableSchema,
        rows: RowReceiver,
    ) -> Result<u64, SourceError>;

    /// Finishes the schema (indexes, constraints, sequences, triggers,
    /// views) and makes everything visible at once.
    async fn commit(self: Box<Self>) -> Result<RestoreSummary, SourceError>;

    /// Runs every step [`commit`] runs that can fail (schema completion,
    /// constraint and foreign-key checks, sequences), then rolls back
    /// instead of making anything visible: what a preview executes, so
    /// that a restore it approved does not fail at commit. The target is
    /// left exactly as it was, also when a step fails.
    ///
    /// [`commit`]: TargetSession::commit
    ///
    /// # Errors
    /// The first step that failed, as [`commit`] would have reported it.
    async fn rehearse(self: Box<Self>) -> Result<RestoreSummary, SourceError>;

    /// Abandons the restore; the target stays as it was.
    async fn rollback(self: Box<Self>) -> Result<(), SourceError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;

    #[test]
    fn restore_modes_parse_from_their_names_only() {
        for m in RestoreMode::ALL {
            assert_eq!(m.to_string().parse::<RestoreMode>(), Ok(m));
            let json = serde_json::to_string(&m).expect("ok");
            assert_eq!(serde_json::from_str::<RestoreMode>(&json).expect("ok"), m);
        }
        let e = "upsert".parse::<RestoreMode>().expect_err("an error");
        assert_eq!(
            e.to_string(),
            r#"unknown restore mode "upsert": use replace or merge"#
        );
        assert!("Merge".parse::<RestoreMode>().is_err());
        let e = serde_json::from_str::<RestoreMode>(r#""upsert""#).expect_err("an error");
        assert!(e.to_string().contains("use replace or merge"), "{e}");
    }

    #[test]
    fn encoded_batches_hold_framed_rows() {
        let rows = [
            vec![Value::Int(1), Value::Text("a".into())],
            vec![Value::Null, Value::Bytes(vec![0; 300])],
        ];
        let mut batch = EncodedBatch::default();
        assert!(batch.is_empty());
        let mut scratch = Vec::new();
        for row in &rows {
            batch.push(row, &mut scratch);
        }
        assert_eq!(batch.rows(), 2);
        // a chunk of the same rows has the same bytes
        let mut chunk = crate::codec::ChunkBuilder::new();
        for row in &rows {
            chunk.push(row);
        }
        assert_eq!(batch.len(), chunk.len());
        let back: Vec<Vec<Value>> = batch
            .iter()
            .map(|r| crate::codec::decode_row(r.expect("frame")).expect("row"))
            .collect();
        assert_eq!(back, rows);
    }

    #[test]
    fn errors_carry_hints_and_retryability() {
        let e = SourceError::new(ErrorKind::Connection, "cannot connect to db:5432")
            .with_hint("check that the server runs");
        assert!(e.is_retryable());
        assert_eq!(e.hint(), Some("check that the server runs"));
        assert!(!SourceError::data("bad").is_retryable());
    }
}
