//! Snapshot manifests: what one backup of one source holds, and how to
//! find it again (`latest`, an id prefix, `latest:SOURCE`).
//!
//! A manifest is the commit point of a backup: it is written last, after
//! every chunk and table blob it names is stored and indexed, so a crash
//! never leaves a visible half snapshot.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tresor_core::{DatabaseSchema, Engine, TableName};
use tresor_repo::{BlobId, BlobType, ObjectId, ObjectKind, Repository};

use crate::error::{OpsError, Result};

/// Manifest format version written by this tresor.
pub const MANIFEST_VERSION: u32 = 1;

/// Why a snapshot was taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// Started by a person (CLI, web page, API call).
    #[default]
    Manual,
    /// Started by the scheduler.
    Scheduled,
    /// Taken automatically before a restore overwrote data.
    PreRestore,
    /// Taken by `tresor guard` before a risky operation.
    Guard,
    /// Made by `tresor import` from an export archive.
    Import,
    /// The server's own state (users, token hashes, jobs, audit log),
    /// which `tresor serve --restore-state` brings back.
    ServerState,
}

impl Trigger {
    /// The trigger's name as shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Scheduled => "scheduled",
            Trigger::PreRestore => "pre-restore",
            Trigger::Guard => "guard",
            Trigger::Import => "import",
            Trigger::ServerState => "server-state",
        }
    }

    /// Whether `latest` may choose a snapshot of this trigger: backups a
    /// user or a schedule took (or imported), never the safety snapshots
    /// restores and guards take on their own, which hold the state a
    /// user was moving away from.
    pub fn is_backup(self) -> bool {
        matches!(self, Trigger::Manual | Trigger::Scheduled | Trigger::Import)
    }
}

/// Where a snapshot came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRef {
    /// The name of the source in `tresor.toml`, if it was named there;
    /// retention groups snapshots by this (or by the URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The source URL without its password.
    pub url: String,
    /// The engine.
    pub engine: Engine,
    /// The server's version.
    pub server_version: String,
    /// The database name.
    pub database: String,
}

impl SourceRef {
    /// The key snapshots of one source share: its name, or else its URL.
    pub fn key(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.url)
    }
}

/// A range of rows inside a stored chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// The chunk (a data blob of framed rows).
    pub chunk: BlobId,
    /// Index of the first row of the run within the chunk.
    pub first: u64,
    /// Number of rows.
    pub count: u64,
}

/// The data of one table in one snapshot: its rows are the runs' rows, in
/// order. Stored as a tree blob in a compact binary form (see
/// [`TableData::encode`]), so an unchanged table costs nothing and a long
/// run list (row-level incremental backups) stays small.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableData {
    /// Every chunk the runs use, in order of first use.
    pub chunks: Vec<BlobId>,
    /// Total rows stored in each chunk (not just the rows used), so the
    /// next backup can tell how much of a chunk is still alive.
    pub chunk_rows: Vec<u64>,
    /// `[chunk index, first row, row count]`, in row order.
    pub runs: Vec<[u64; 3]>,
}

/// Magic bytes of an encoded [`TableData`], with its version.
const TABLE_DATA_MAGIC: &[u8; 4] = b"TDv1";

impl TableData {
    /// The runs with their chunk ids resolved.
    ///
    /// # Errors
    /// A run naming a chunk index that does not exist.
    pub fn resolved_runs(&self) -> Result<Vec<Run>> {
        self.runs
            .iter()
            .map(|&[c, first, count]| {
                let chunk = usize::try_from(c)
                    .ok()
                    .and_then(|c| self.chunks.get(c))
                    .ok_or_else(|| {
                        OpsError::Corrupt(format!(
                            "table data names chunk {c} of {}",
                            self.chunks.len()
                        ))
                    })?;
                Ok(Run {
                    chunk: *chunk,
                    first,
                    count,
                })
            })
            .collect()
    }

    /// Rows in the table.
    pub fn rows(&self) -> u64 {
        self.runs.iter().map(|r| r[2]).sum()
    }

    /// The binary form: `"TDv1"`, varint chunk count, per chunk its 32-byte
    /// id and varint row count, varint run count, per run varint chunk
    /// index, varint first row and varint row count.
    pub fn encode(&self) -> Vec<u8> {
        use tresor_core::codec::put_varint;
        let mut out = Vec::with_capacity(8 + self.chunks.len() * 36 + self.runs.len() * 6);
        out.extend_from_slice(TABLE_DATA_MAGIC);
        put_varint(&mut out, self.chunks.len() as u64);
        for (id, rows) in self.chunks.iter().zip(&self.chunk_rows) {
            out.extend_from_slice(id.as_bytes());
            put_varint(&mut out, *rows);
        }
        put_varint(&mut out, self.runs.len() as u64);
        for r in &self.runs {
            for v in r {
                put_varint(&mut out, *v);
            }
        }
        out
    }

    /// Parses [`TableData::encode`]'s output.
    ///
    /// # Errors
    /// [`OpsError::Corrupt`] for anything else.
    pub fn decode(bytes: &[u8]) -> Result<TableData> {
        let bad = |what: &str| OpsError::Corrupt(format!("table data blob is damaged: {what}"));
        let rest = bytes
            .strip_prefix(TABLE_DATA_MAGIC)
            .ok_or_else(|| bad("unknown format"))?;
        let mut r = tresor_core::codec::Reader::new(rest);
        let n = r.varint().map_err(|e| bad(&e.to_string()))?;
        if n > (rest.len() / 33) as u64 {
            return Err(bad("chunk count"));
        }
        let mut data = TableData::default();
        for _ in 0..n {
            let mut id = [0u8; 32];
            for b in &mut id {
                *b = r.byte().map_err(|e| bad(&e.to_string()))?;
            }
            data.chunks.push(BlobId(id));
            data.chunk_rows
                .push(r.varint().map_err(|e| bad(&e.to_string()))?);
        }
        let runs = r.varint().map_err(|e| bad(&e.to_string()))?;
        if runs > (rest.len() / 3) as u64 {
            return Err(bad("run count"));
        }
        for _ in 0..runs {
            let mut run = [0u64; 3];
            for v in &mut run {
                *v = r.varint().map_err(|e| bad(&e.to_string()))?;
            }
            if run[0] >= n {
                return Err(bad("run names a missing chunk"));
            }
            data.runs.push(run);
        }
        if !r.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(data)
    }
}

/// Change figures of a table against the parent snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableChanges {
    /// Rows whose key is new.
    pub inserted: u64,
    /// Rows whose key existed with other values.
    pub updated: u64,
    /// Keys that are gone.
    pub deleted: u64,
}

/// One table in a snapshot manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableEntry {
    /// The table's name.
    pub name: TableName,
    /// Number of rows.
    pub rows: u64,
    /// Bytes of encoded rows (the logical size).
    pub bytes: u64,
    /// [`tresor_core::codec::TableDigest`] of the rows.
    pub digest: String,
    /// The [`TableData`] tree blob.
    pub data: BlobId,
    /// Stored bytes this backup added for the table (after dedup and
    /// compression, before encryption overhead).
    pub added_bytes: u64,
    /// Changes against the parent, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<TableChanges>,
}

/// Totals of a snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Tables.
    pub tables: u64,
    /// Rows.
    pub rows: u64,
    /// Logical bytes.
    pub bytes: u64,
    /// Stored bytes added by this snapshot.
    pub added_bytes: u64,
    /// Chunks written by this snapshot.
    pub new_chunks: u64,
    /// Chunks reused from the repository.
    pub reused_chunks: u64,
}

/// One snapshot manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The manifest format version.
    pub version: u32,
    /// The manifest's id (its object name; not serialized inside).
    #[serde(skip)]
    pub id: String,
    /// When the consistent read began.
    pub time: DateTime<Utc>,
    /// When the snapshot was complete.
    pub end_time: DateTime<Utc>,
    /// The tresor version that wrote it.
    pub tresor_version: String,
    /// Where it came from.
    pub source: SourceRef,
    /// What started it.
    pub trigger: Trigger,
    /// Why, in the user's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The machine that took it.
    pub hostname: String,
    /// Who took it (OS user, or the server user that started the job).
    pub username: String,
    /// The application's version, when the user gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// The snapshot this one was compared against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// How consistent the read was.
    pub consistency: String,
    /// Warnings from the source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Whether only some tables were selected.
    #[serde(default)]
    pub partial: bool,
    /// The [`DatabaseSchema`] tree blob (tables in the snapshot only).
    pub schema: BlobId,
    /// The tables.
    pub tables: Vec<TableEntry>,
    /// Totals.
    pub totals: Totals,
    /// Extra labels (the server's job id, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Set on a snapshot `tresor copy` brought from another repository:
    /// it keeps its id there, which this binds (see [`CopyOrigin`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied_from: Option<CopyOrigin>,
}

/// Where a copied snapshot came from.
///
/// A manifest is normally stored under the hash of its stored bytes. A copy
/// is re-encrypted for its new repository, so its bytes differ; it keeps
/// the id it had and is stored under that name, and this field, inside the
/// authenticated manifest, states the name: a reader accepts the file only
/// when the two agree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyOrigin {
    /// The snapshot's id, which is also its file name here.
    pub id: String,
    /// The id of the repository it was copied from (its config id).
    pub repository: String,
    /// When the copy was made.
    pub time: DateTime<Utc>,
}

impl Snapshot {
    /// The first 8 characters of the id, as shown in listings.
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(8)]
    }

    /// The table named `name`.
    pub fn table(&self, name: &TableName) -> Option<&TableEntry> {
        self.tables.iter().find(|t| &t.name == name)
    }

    /// Every blob the snapshot needs: schema, table data blobs and chunks.
    pub async fn referenced_blobs(&self, repo: &Repository) -> Result<Vec<BlobId>> {
        let mut out = vec![self.schema];
        for t in &self.tables {
            out.push(t.data);
            out.extend(load_table_data(repo, &t.data).await?.chunks);
        }
        Ok(out)
    }
}

/// Stores a JSON document as a tree blob.
pub(crate) async fn save_tree<T: Serialize>(repo: &Repository, value: &T) -> Result<(BlobId, u64)> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| OpsError::Internal(format!("cannot encode metadata: {e}")))?;
    let saved = repo.save_blob(BlobType::Tree, bytes).await?;
    Ok((saved.id, saved.stored_bytes))
}

/// Loads a JSON tree blob.
pub(crate) async fn load_tree<T: for<'de> Deserialize<'de>>(
    repo: &Repository,
    id: &BlobId,
) -> Result<T> {
    let bytes = repo.load_blob(id).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| OpsError::Corrupt(format!("metadata blob {} is not valid: {e}", id.short())))
}

/// Loads the runs of a table.
pub async fn load_table_data(repo: &Repository, id: &BlobId) -> Result<TableData> {
    TableData::decode(&repo.load_blob(id).await?)
}

/// Stores the runs of a table.
pub(crate) async fn save_table_data(repo: &Repository, data: &TableData) -> Result<(BlobId, u64)> {
    let saved = repo.save_blob(BlobType::Tree, data.encode()).await?;
    Ok((saved.id, saved.stored_bytes))
}

/// Loads the schema a snapshot recorded.
pub async fn load_schema(repo: &Repository, snapshot: &Snapshot) -> Result<DatabaseSchema> {
    load_tree(repo, &snapshot.schema).await
}

/// Writes a manifest (the commit point) and returns it with its id.
pub(crate) async fn save_snapshot(repo: &Repository, mut snapshot: Snapshot) -> Result<Snapshot> {
    let bytes = serde_json::to_vec(&snapshot)
        .map_err(|e| OpsError::Internal(format!("cannot encode snapshot: {e}")))?;
    snapshot.id = repo
        .save_object(ObjectKind::Snapshot, &bytes)
        .await?
        .to_hex();
    Ok(snapshot)
}

/// Writes a manifest copied from another repository under the id it has
/// there (bound by its `copied_from`), unless a snapshot of that id exists.
/// Returns whether it was written.
pub(crate) async fn save_copied_snapshot(repo: &Repository, snapshot: &Snapshot) -> Result<bool> {
    let Some(origin) = &snapshot.copied_from else {
        return Err(OpsError::Internal(
            "a copied manifest names no origin".into(),
        ));
    };
    if origin.id != snapshot.id {
        return Err(OpsError::Internal(
            "a copied manifest must keep its id".into(),
        ));
    }
    let bytes = serde_json::to_vec(snapshot)
        .map_err(|e| OpsError::Internal(format!("cannot encode snapshot: {e}")))?;
    Ok(repo
        .save_object_as(ObjectKind::Snapshot, &object_id(&snapshot.id)?, &bytes)
        .await?)
}

/// Loads one manifest by its full id.
///
/// The file's name must be the hash of its bytes, or, for a copy, the id
/// its authenticated `copied_from` states: a manifest under any other name
/// was renamed and is refused as damaged.
pub async fn load_snapshot(repo: &Repository, id: &str) -> Result<Snapshot> {
    let loaded = repo
        .load_named_object(ObjectKind::Snapshot, &object_id(id)?)
        .await?;
    let mut s: Snapshot = serde_json::from_slice(&loaded.data)
        .map_err(|e| OpsError::Corrupt(format!("snapshot {id} is not a valid manifest: {e}")))?;
    let bound = match &s.copied_from {
        Some(origin) => origin.id == id,
        None => loaded.content_named,
    };
    if !bound {
        return Err(OpsError::Repo(tresor_repo::RepoError::DamagedObject {
            path: format!("{}/{id}", ObjectKind::Snapshot.dir()),
        }));
    }
    if s.version > MANIFEST_VERSION {
        return Err(OpsError::Unsupported(format!(
            "snapshot {id} was written by a newer tresor (manifest version {}); upgrade tresor to read it",
            s.version
        )));
    }
    s.id = id.to_string();
    Ok(s)
}

/// Every snapshot in the repository, oldest first.
pub async fn list_snapshots(repo: &Repository) -> Result<Vec<Snapshot>> {
    let ids = repo.list_objects(ObjectKind::Snapshot).await?;
    let loads = ids.iter().map(|id| load_snapshot_id(repo, *id));
    let mut all = Vec::with_capacity(ids.len());
    for (id, loaded) in ids.iter().zip(futures::future::join_all(loads).await) {
        match loaded {
            Ok(s) => all.push(s),
            // one damaged or foreign manifest must not hide every other
            // snapshot; `check` names it
            Err(e) if e.class() == crate::error::ErrorClass::Corrupt => {
                tracing::warn!(
                    snapshot = %id.short(),
                    error = %e,
                    "skipping a snapshot manifest that cannot be read (tresor check lists it)"
                );
            }
            Err(e) => return Err(e),
        }
    }
    all.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
    Ok(all)
}

/// Deletes a manifest. Its data stays until `prune`.
pub async fn delete_snapshot(repo: &Repository, id: &str) -> Result<()> {
    repo.delete_object(ObjectKind::Snapshot, &object_id(id)?)
        .await?;
    Ok(())
}

async fn load_snapshot_id(repo: &Repository, id: ObjectId) -> Result<Snapshot> {
    load_snapshot(repo, &id.to_hex()).await
}

fn object_id(id: &str) -> Result<ObjectId> {
    id.parse().map_err(|_| OpsError::InvalidInput {
        what: format!("{id:?} is not a full snapshot id"),
        hint: None,
    })
}

/// Finds the snapshot the user means: `latest` or `latest:SOURCE` (the
/// newest backup, of a source name or URL: manual, scheduled or imported
/// snapshots only), `latest:safety` / `latest:guard` (optionally
/// `:SOURCE`: the newest safety snapshot a restore or guard took), or a
/// unique id prefix. Newest means the latest snapshot time: when the
/// consistent read began, for imports the time of the original backup.
///
/// # Errors
/// [`OpsError::NotFound`] with a hint when nothing matches, or an
/// ambiguity error listing the candidates.
pub fn resolve<'a>(snapshots: &'a [Snapshot], spec: &str) -> Result<&'a Snapshot> {
    if let Some(rest) = spec.strip_prefix("latest") {
        let Some(rest) = rest.strip_prefix(':').or(rest.is_empty().then_some("")) else {
            return Err(not_found(spec));
        };
        let (kind, source) = match rest.split_once(':') {
            Some(("safety", src)) => (LatestKind::Safety, Some(src)),
            Some(("guard", src)) => (LatestKind::Guard, Some(src)),
            _ => match rest {
                "" => (LatestKind::Backup, None),
                "safety" => (LatestKind::Safety, None),
                "guard" => (LatestKind::Guard, None),
                "server-state" => (LatestKind::ServerState, None),
                src => (LatestKind::Backup, Some(src)),
            },
        };
        return snapshots
            .iter()
            .rev()
            .filter(|s| kind.admits(s))
            .find(|s| match source {
                None => true,
                Some(src) => s.source.name.as_deref() == Some(src) || s.source.url == src,
            })
            .ok_or_else(|| {
                let what = match source {
                    None if snapshots.is_empty() => "the repository has no snapshots yet".into(),
                    None => format!("the repository has no {} yet", kind.noun()),
                    Some(src) => format!("no {} of source {src:?}", kind.noun()),
                };
                OpsError::NotFound {
                    what,
                    hint: Some(match kind {
                        LatestKind::Backup if source.is_none() => {
                            "run `tresor backup SOURCE` first".into()
                        }
                        _ => "`tresor snapshots` lists the snapshots and their sources".into(),
                    }),
                }
            });
    }
    if spec.len() < 4 || !spec.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(OpsError::InvalidInput {
            what: format!("{spec:?} is not a snapshot id"),
            hint: Some("give `latest`, `latest:SOURCE`, or at least 4 hex digits of an id".into()),
        });
    }
    let spec = spec.to_ascii_lowercase();
    let matches: Vec<&Snapshot> = snapshots
        .iter()
        .filter(|s| s.id.starts_with(&spec))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(not_found(&spec)),
        many => Err(OpsError::InvalidInput {
            what: format!(
                "snapshot id prefix {spec:?} is ambiguous: {}",
                many.iter()
                    .map(|s| s.short_id())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            hint: Some("give more digits".into()),
        }),
    }
}

/// What a `latest` spec looks for.
#[derive(Clone, Copy)]
enum LatestKind {
    Backup,
    Safety,
    Guard,
    ServerState,
}

impl LatestKind {
    fn admits(self, s: &Snapshot) -> bool {
        match self {
            LatestKind::Backup => s.trigger.is_backup(),
            LatestKind::Safety => s.trigger == Trigger::PreRestore,
            // a guard's after-state and undo plans are not guards
            LatestKind::Guard => {
                s.trigger == Trigger::Guard && s.labels.get("guard").is_none_or(|r| r == "before")
            }
            LatestKind::ServerState => s.trigger == Trigger::ServerState,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            LatestKind::Backup => "backup",
            LatestKind::Safety => "safety snapshot",
            LatestKind::Guard => "guard snapshot",
            LatestKind::ServerState => "snapshot of the server's state",
        }
    }
}

fn not_found(spec: &str) -> OpsError {
    OpsError::NotFound {
        what: format!("no snapshot matches {spec:?}"),
        hint: Some("`tresor snapshots` lists them".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn table_data_round_trip(
            chunks in proptest::collection::vec((any::<[u8; 32]>(), any::<u64>()), 1..20),
            runs in proptest::collection::vec((any::<u64>(), any::<u64>(), any::<u64>()), 0..50),
        ) {
            let data = TableData {
                chunks: chunks.iter().map(|c| BlobId(c.0)).collect(),
                chunk_rows: chunks.iter().map(|c| c.1).collect(),
                runs: runs.iter().map(|&(c, f, n)| [c % chunks.len() as u64, f, n]).collect(),
            };
            prop_assert_eq!(TableData::decode(&data.encode()).expect("decode"), data);
        }

        #[test]
        fn damaged_table_data_is_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut b = TABLE_DATA_MAGIC.to_vec();
            b.extend(bytes);
            let _ = TableData::decode(&b);
        }
    }

    fn snap(id: &str, secs: i64, source: &str) -> Snapshot {
        Snapshot {
            version: 1,
            id: id.into(),
            time: DateTime::from_timestamp(secs, 0).unwrap_or_default(),
            end_time: DateTime::from_timestamp(secs, 0).unwrap_or_default(),
            tresor_version: "0".into(),
            source: SourceRef {
                name: Some(source.into()),
                url: format!("sqlite:///{source}.db"),
                engine: Engine::SQLITE,
                server_version: "3".into(),
                database: source.into(),
            },
            trigger: Trigger::Manual,
            reason: None,
            tags: vec![],
            hostname: "h".into(),
            username: "u".into(),
            app_version: None,
            parent: None,
            consistency: String::new(),
            warnings: vec![],
            partial: false,
            schema: BlobId([0; 32]),
            tables: vec![],
            totals: Totals::default(),
            labels: BTreeMap::new(),
            copied_from: None,
        }
    }

    #[test]
    fn resolve_specs() {
        let all = vec![
            snap("aaaa1111", 1, "app"),
            snap("aaab2222", 2, "shop"),
            snap("bbbb3333", 3, "app"),
        ];
        assert_eq!(
            resolve(&all, "latest").map(|s| s.short_id()).ok(),
            Some("bbbb3333")
        );
        assert_eq!(
            resolve(&all, "latest:shop").map(|s| s.short_id()).ok(),
            Some("aaab2222")
        );
        assert_eq!(
            resolve(&all, "latest:sqlite:///app.db")
                .map(|s| s.short_id())
                .ok(),
            Some("bbbb3333")
        );
        assert_eq!(
            resolve(&all, "aaab").map(|s| s.short_id()).ok(),
            Some("aaab2222")
        );
        assert!(matches!(
            resolve(&all, "aaa"),
            Err(OpsError::InvalidInput { .. })
        ));
        assert!(resolve(&all, "aaaa").is_ok());
        assert!(matches!(
            resolve(&all, "aaa1"),
            Err(OpsError::NotFound { .. })
        ));
        assert!(matches!(
            resolve(&all, "latest:nope"),
            Err(OpsError::NotFound { .. })
        ));
        assert!(matches!(
            resolve(&all, "latestx"),
            Err(OpsError::NotFound { .. })
        ));
        assert!(matches!(
            resolve(&[], "latest"),
            Err(OpsError::NotFound { .. })
        ));
    }

    /// `latest` after a restore was the restore's own safety snapshot, so
    /// "restore latest" run twice brought back the state the user was
    /// moving away from.
    #[test]
    fn latest_never_picks_a_safety_or_guard_snapshot() {
        let mut all = vec![
            snap("aaaa1111", 1, "app"),
            snap("bbbb2222", 2, "app"),
            snap("cccc3333", 3, "app"),
            snap("dddd4444", 4, "app"),
            snap("eeee5555", 5, "shop"),
        ];
        all[2].trigger = Trigger::PreRestore;
        all[3].trigger = Trigger::Guard;
        all[4].trigger = Trigger::PreRestore;
        let pick = |spec: &str| resolve(&all, spec).map(|s| s.short_id().to_string()).ok();
        assert_eq!(pick("latest").as_deref(), Some("bbbb2222"));
        assert_eq!(pick("latest:app").as_deref(), Some("bbbb2222"));
        assert_eq!(pick("latest:safety").as_deref(), Some("eeee5555"));
        assert_eq!(pick("latest:safety:app").as_deref(), Some("cccc3333"));
        assert_eq!(pick("latest:guard").as_deref(), Some("dddd4444"));
        assert_eq!(pick("latest:guard:shop"), None);
        assert_eq!(pick("latest:shop"), None, "shop has only a safety snapshot");
        // ids still reach every snapshot
        assert_eq!(pick("cccc").as_deref(), Some("cccc3333"));
        let mut scheduled = all.clone();
        scheduled[1].trigger = Trigger::Scheduled;
        scheduled[0].trigger = Trigger::Import;
        assert_eq!(
            resolve(&scheduled, "latest").map(|s| s.short_id()).ok(),
            Some("bbbb2222")
        );
    }
}
