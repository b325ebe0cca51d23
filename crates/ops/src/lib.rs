//! tresor-ops: what users do with a repository, shared by the CLI and the
//! server.
//!
//! - [`backup`]: a [`Source`](tresor_core::Source) into a new [`Snapshot`].
//! - [`restore`] and [`preview`]: a snapshot into a
//!   [`Target`](tresor_core::Target), atomically, with a safety snapshot.
//! - [`list_snapshots`], [`resolve`], [`load_schema`]: finding snapshots.
//! - [`export_snapshot`] and [`import_archive`]: portable ZIP / tar.zst
//!   archives.
//! - [`copy_snapshots`] and [`pending_copies`]: snapshots into a second
//!   repository (offsite), under the same ids.
//! - [`open_repository`], [`discover_config`], [`BackupRequest`]: the one
//!   way in for the CLI and the server (password order, config file,
//!   what a backup request means).
//! - [`Engines`]: resolving database URLs to the engine crates registered by
//!   the binary.
//!
//! Data flows one way on backup: rows -> row codec -> [`Chunker`] ->
//! repository blobs -> table data blobs -> schema blob -> manifest (the
//! commit point). Restore follows the runs back and verifies every table's
//! digest before the target commits.
#![forbid(unsafe_code)]

mod archive;
mod backup;
mod cache;
mod chunker;
mod config;
mod copy;
mod diff;
mod drill;
mod engines;
mod error;
mod guard;
mod maintenance;
mod naming;
mod offsite;
mod open;
mod owners;
mod progress;
mod recipients;
mod restore;
mod retention;
mod rows;
mod select;
mod snapshot;
mod writer;

pub use archive::{
    ArchiveInfo, ExportSummary, ImportOptions, export_snapshot, format_for, import_archive,
    inspect_archive,
};
pub use backup::{
    BackupOptions, BackupRequest, OpenedSource, ParentChoice, SourceSpec, backup, backup_opened,
    open_source,
};
pub use cache::CacheDir;
pub use chunker::Chunker;
pub use config::{
    CREDENTIAL_NAMES, Comparison, Config, DEFAULT_MAX_LAG, DrillAssertion, DrillConfig,
    ENV_OVERRIDES, EVENT_KINDS, EmailConfig, Expectation, ExportConfig, LogFormat,
    MaintenanceConfig, NotificationsConfig, OIDC_ROLES, OIDC_SECRET_ENV, OffsiteConfig, OidcConfig,
    RepositoryConfig, RetentionConfig, Schedule, Secret, ServerConfig, Size, SmtpTls, SourceConfig,
    SourceNotify, WebhookConfig, WebhookFormat, parse_cron, parse_duration, parse_size,
    parse_timezone, read_secret_file,
};
pub use copy::{CopiedSnapshot, CopyReport, CopySelection, copy_snapshots, pending_copies};
pub use diff::{ChangedRow, DiffOptions, DiffTarget, TableDiff, TableStatus, diff};
pub use drill::{AssertionOutcome, DrillReport, DrillTable, drill, drill_failure};
pub use engines::Engines;
pub use error::{ErrorClass, OpsError, Result};
pub use guard::{
    GUARD_LABEL, GUARD_OF_LABEL, GuardOptions, UndoOptions, UndoReport, UndoTable, close_guard,
    guard_after, is_guard, release_guard, take_guard, undo,
};
pub use maintenance::{
    CheckOutcome, DamagedSnapshot, ForgetDecision, ForgetOptions, ForgetOutcome, check, forget,
    prune, repair_index, retain_after_backup,
};
pub use naming::{DEFAULT_ARCHIVE_NAME, archive_file_name, check_archive_name};
pub use offsite::{
    OffsiteReport, OffsiteStatus, PendingCopy, offsite_status, offsite_status_from, open_offsite,
    sync_offsite,
};
pub use open::{
    CONFIG_FILE, DEMO_PASSWORD, EnvLookup, PASSWORD_VAR, PasswordSource, Prompt, discover_config,
    discover_config_in, open_repository, repository_password, repository_storage,
};
pub use owners::SourceOwners;
pub use progress::{NoProgress, Progress};
pub use recipients::read_recipients;
pub use restore::{
    AppVersions, DEFAULT_REHEARSAL, Preview, Rehearsal, RehearsalError, RehearsalOutcome,
    RestoreOptions, RestoreOutcome, SkippedTable, TablePreview, extra_tables, for_each_table,
    plan_restore, preview, restore, sessions_consequence, sessions_note, snapshot_schema,
};
pub use retention::{GROUP_TAG, RetentionRules, group_of};
pub use rows::stream_table;
pub use select::{RowSelection, SelectedTable, SelectionReason};
pub use snapshot::{
    CopyOrigin, MANIFEST_VERSION, Run, Snapshot, SourceRef, TableChanges, TableData, TableEntry,
    Totals, Trigger, delete_snapshot, list_snapshots, load_schema, load_snapshot, load_table_data,
    resolve,
};
pub use writer::{COMPACT_BUDGET, FRAGMENT_LIMIT, MIN_LIVE};
