//! Command-line arguments, as clap parses them. Validation into the
//! operations' own option types happens in each command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tresor_core::RestoreMode;

/// tresor: backup and restore for SQLite, PostgreSQL, MySQL/MariaDB and
/// MongoDB, into an encrypted, deduplicated repository.
#[derive(Debug, Parser)]
#[command(name = "tresor", version, about, long_about = None, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 wrong password, \
5 conflict (lock, schema), 6 damaged data, 7 database error, 8 storage error, 130 cancelled.\n\
Docs: docs/cli.md"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Repository location: a directory, s3://, azure://, gs://, webdav://
    /// or sftp:// (docs/storage.md)
    #[arg(short = 'r', long = "repo", env = "TRESOR_REPOSITORY", global = true)]
    pub repo: Option<String>,

    /// Upload at most this many bytes per second (e.g. 10MiB)
    #[arg(long, env = "TRESOR_LIMIT_UPLOAD", global = true, value_parser = size_arg)]
    pub limit_upload: Option<u64>,

    /// Download at most this many bytes per second (e.g. 10MiB)
    #[arg(long, env = "TRESOR_LIMIT_DOWNLOAD", global = true, value_parser = size_arg)]
    pub limit_download: Option<u64>,

    /// Retry a storage request that keeps failing for at most this long
    /// (default 3m; 0s never retries)
    #[arg(long, env = "TRESOR_RETRY_TIME", global = true, value_name = "DURATION", value_parser = duration_arg)]
    pub retry_time: Option<String>,
    /// The storage credentials can add but not delete or replace objects:
    /// write create-only, keep lock files, refuse forget, prune, unlock
    /// and key remove at once (docs/storage.md)
    #[arg(long, env = "TRESOR_APPEND_ONLY", global = true)]
    pub append_only: bool,

    /// Read the repository password from the first line of FILE
    #[arg(long, env = "TRESOR_PASSWORD_FILE", global = true)]
    pub password_file: Option<PathBuf>,

    /// Configuration file (sources, groups, repository)
    #[arg(short = 'c', long, env = "TRESOR_CONFIG", global = true)]
    pub config: Option<PathBuf>,

    /// Print machine-readable JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,

    /// Print only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// More log output (repeat for more)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Never draw progress bars
    #[arg(long, global = true)]
    pub no_progress: bool,

    /// Also log to FILE (appended): what each command did, at info level
    /// (the server's own log is `[server] log-file`)
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// How --log-file lines look: text or json
    #[arg(long, global = true, default_value = "text", value_parser = str::parse::<tresor_ops::LogFormat>)]
    pub log_format: tresor_ops::LogFormat,
}

/// A duration such as `30s` or `5m`, checked here and kept as written.
fn duration_arg(text: &str) -> Result<String, String> {
    tresor_ops::parse_duration(text).map(|_| text.to_owned())
}

/// A bandwidth such as `10MiB` or `500k` (bytes per second).
fn size_arg(text: &str) -> Result<u64, String> {
    match tresor_ops::parse_size(text)? {
        0 => Err("the limit must be more than 0".into()),
        n => Ok(n),
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new repository
    Init(InitArgs),
    /// Back up a database into a new snapshot
    Backup(BackupArgs),
    /// List snapshots
    Snapshots(SnapshotsArgs),
    /// Show one snapshot: tables, rows, sizes, what was new
    Show(ShowArgs),
    /// Restore a snapshot into a database
    Restore(RestoreArgs),
    /// What changed between two snapshots, or between a snapshot and the
    /// live database, per table and row by row
    Diff(DiffArgs),
    /// Run a risky command under a guard snapshot; show what it changed
    Guard(GuardArgs),
    /// Revert what happened since a guard, for the guarded tables
    Undo(UndoArgs),
    /// Prove a snapshot restores: restore it into a scratch database of the
    /// same engine, compare every table, drop the scratch database
    Drill(DrillArgs),
    /// Verify the repository's structure (and with --read-data, every byte)
    Check(CheckArgs),
    /// Copy snapshots from another repository into this one (--repo),
    /// keeping their ids: an offsite copy
    Copy(CopyArgs),
    /// Remove snapshots by retention rules (given here, or else each
    /// source's rules in tresor.toml)
    Forget(ForgetArgs),
    /// Remove data no snapshot needs any more
    Prune(PruneArgs),
    /// Manage the passwords that open the repository
    #[command(subcommand)]
    Key(KeyCommand),
    /// Write a snapshot as a portable archive (ZIP or tar.zst)
    Export(ExportArgs),
    /// Turn an export archive into a snapshot
    Import(ImportArgs),
    /// Remove stale locks left by crashed processes
    Unlock(UnlockArgs),
    /// Repair the repository: `repair index` rebuilds the index from the
    /// packs' own headers
    #[command(subcommand)]
    Repair(RepairCommand),
    /// Try tresor on a generated sample database, with nothing to set up
    Demo(DemoArgs),
    /// Run the server: schedules, retention, HTTP API, web admin, notifications
    Serve(ServeArgs),
    /// Write man pages or shell completions (for packagers)
    #[command(hide = true, subcommand)]
    Generate(GenerateCommand),
}

/// What `tresor generate` writes.
#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// Man pages: tresor.1 and one tresor-COMMAND.1 per command, into DIR
    Man {
        /// The directory to write into (created if missing)
        dir: PathBuf,
    },
    /// A completion script for SHELL, on standard output
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}

impl Command {
    /// The subcommand's name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Init(_) => "init",
            Command::Backup(_) => "backup",
            Command::Snapshots(_) => "snapshots",
            Command::Show(_) => "show",
            Command::Restore(_) => "restore",
            Command::Diff(_) => "diff",
            Command::Guard(_) => "guard",
            Command::Undo(_) => "undo",
            Command::Drill(_) => "drill",
            Command::Check(_) => "check",
            Command::Copy(_) => "copy",
            Command::Forget(_) => "forget",
            Command::Prune(_) => "prune",
            Command::Key(_) => "key",
            Command::Export(_) => "export",
            Command::Import(_) => "import",
            Command::Unlock(_) => "unlock",
            Command::Repair(_) => "repair",
            Command::Demo(_) => "demo",
            Command::Serve(_) => "serve",
            Command::Generate(_) => "generate",
        }
    }
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// zstd level for everything the repository stores, 1 (fastest) to 22
    /// (smallest); fixed for the repository's life
    #[arg(long, default_value_t = tresor_repo::DEFAULT_ZSTD_LEVEL, value_parser = clap::value_parser!(i32).range(1..=22))]
    pub compression: i32,
    /// Argon2id memory in MiB for the first key
    #[arg(long, default_value_t = 64, hide = true)]
    pub kdf_memory_mib: u32,
    /// Name blobs as the repository at LOCATION does (its id key and
    /// chunker sizes; the new repository keeps its own password and
    /// encryption key), so `tresor copy` from it sends only what is missing,
    /// decided from the index alone
    #[arg(long, value_name = "LOCATION")]
    pub copy_ids_from: Option<String>,
    /// Write every object under S3 Object Lock for N days from its write
    /// (the bucket must have object lock enabled); fixed for the
    /// repository's life [default: `[repository] object-lock-days`]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(tresor_repo::MAX_OBJECT_LOCK_DAYS)))]
    pub object_lock_days: Option<u32>,
    /// compliance (nobody can delete early, the default) or governance
    /// (users allowed to bypass it can) [default: `[repository]
    /// object-lock-mode`]
    #[arg(long, value_name = "MODE", value_parser = str::parse::<tresor_repo::ObjectLockMode>)]
    pub object_lock_mode: Option<tresor_repo::ObjectLockMode>,
    #[command(flatten)]
    pub from: FromPassword,
}

/// How the password of the other repository (`--from-repo`,
/// `--copy-ids-from`) is found.
#[derive(Debug, Args)]
pub struct FromPassword {
    /// Read the other repository's password from the first line of FILE
    /// (else TRESOR_FROM_PASSWORD, else a prompt)
    #[arg(long, env = "TRESOR_FROM_PASSWORD_FILE", value_name = "FILE")]
    pub from_password_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Snapshots to copy (id prefix, `latest`, `latest:SOURCE`) [default:
    /// every snapshot]
    pub snapshots: Vec<String>,
    /// The repository to copy from (the destination is --repo)
    #[arg(
        long,
        env = "TRESOR_FROM_REPOSITORY",
        value_name = "LOCATION",
        required_unless_present = "offsite"
    )]
    pub from_repo: Option<String>,
    /// Bring the config's [offsite.NAME] repository up to date from this
    /// one, as the server does after each backup: the snapshots it lacks
    /// of its sources, then its retention
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with_all = ["from_repo", "snapshots", "source", "tags"]
    )]
    pub offsite: Option<String>,
    #[command(flatten)]
    pub from: FromPassword,
    /// Only snapshots of this source (name or URL)
    #[arg(long)]
    pub source: Option<String>,
    /// Only snapshots with this tag (repeatable: any of them)
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// List what would be copied; copy nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// A database URL (sqlite:///path/app.db, postgres://..., a .db path) or
    /// a source name from the config file
    pub source: String,
    /// Only these tables (comma-separated globs)
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Leave out these tables (comma-separated globs)
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Only the tables of this group from the config file
    #[arg(long)]
    pub group: Option<String>,
    /// Add a tag (repeatable)
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Why this backup is taken (kept in the snapshot)
    #[arg(long)]
    pub reason: Option<String>,
    /// The application's version, kept in the snapshot
    #[arg(long)]
    pub app_version: Option<String>,
    /// Tables read at once [default: 2 for PostgreSQL, 1 for the others]
    #[arg(short, long, value_parser = parse_jobs)]
    pub jobs: Option<usize>,
    /// Engine option KEY=VALUE (e.g. allow-global-lock=true)
    #[arg(short = 'o', long = "option", value_parser = parse_key_value)]
    pub options: Vec<(String, String)>,
    /// How long to wait, in all, for other sessions (a migration changing
    /// a table) to let go of the tables to read; then the backup gives up
    /// having read nothing and names them (default: the source's
    /// backup-lock-wait, else 10m; `0`: do not wait)
    #[arg(long, value_name = "DURATION", value_parser = tresor_ops::parse_duration)]
    pub lock_wait: Option<std::time::Duration>,
    /// Compare with this snapshot instead of the latest of the same source
    /// (id prefix or `latest:SOURCE`)
    #[arg(long, conflicts_with = "force")]
    pub parent: Option<String>,
    /// Compare with no earlier snapshot: store every row anew (chunks that
    /// come out identical are still deduplicated)
    #[arg(long)]
    pub force: bool,
    /// Do not apply the source's retention rules after this backup
    #[arg(long)]
    pub no_retention: bool,
}

#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    /// Only snapshots of this source (name or URL)
    #[arg(long)]
    pub source: Option<String>,
    /// Only snapshots with this tag
    #[arg(long)]
    pub tag: Option<String>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Snapshot id prefix, `latest` or `latest:SOURCE`
    pub snapshot: String,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Snapshot id prefix, `latest` or `latest:SOURCE`
    pub snapshot: String,
    /// Target database URL, path, or source name from the config file
    #[arg(long = "to")]
    pub target: String,
    /// Only these tables (comma-separated globs)
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Leave out these tables (comma-separated globs)
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Only the tables of this group (defined for the snapshot's source, or
    /// the target, in tresor.toml); --tables adds to them
    #[arg(long)]
    pub group: Option<String>,
    /// Restore only tables that are missing or empty in the target; leave
    /// every table that holds data alone (a deploy never overwrites user
    /// data). Needs no confirmation: nothing with data is touched
    #[arg(long, conflicts_with = "filters")]
    pub only_missing: bool,
    /// Also drop the tables (collections) the target has and the snapshot
    /// lacks, such as those an upgrade's migrations made, so that the
    /// database is what the backup held; atomic with the restore, and the
    /// safety snapshot keeps them. A whole-database restore in replace
    /// mode only
    #[arg(long, conflicts_with_all = ["filters", "only_missing", "tables", "exclude", "group"])]
    pub drop_extra_tables: bool,
    /// The version of the application running on the target (else the
    /// target's `app-version` in tresor.toml); a snapshot of another
    /// version is pointed out
    #[arg(long, value_name = "VERSION")]
    pub app_version: Option<String>,
    /// Refuse a snapshot whose application version is not the target's
    #[arg(long)]
    pub require_same_app_version: bool,
    /// Also restore roles (created when missing, without passwords),
    /// owners, grants and default privileges (PostgreSQL)
    #[arg(long)]
    pub with_privileges: bool,
    /// Into another engine or an older PostgreSQL: refuse when anything
    /// would be approximated (a type the target cannot hold as it is, an
    /// object not translated or rewritten); the dry run lists them
    #[arg(long)]
    pub strict: bool,
    /// How restored rows meet existing ones: replace (empty each restored
    /// table, then load) or merge (upsert rows by primary key, leave other
    /// rows alone) [default: replace; merge with --where]
    #[arg(long, value_parser = str::parse::<RestoreMode>)]
    pub mode: Option<RestoreMode>,
    /// Show per table what would be inserted, updated and deleted, and
    /// rehearse the restore (load and check everything, then roll back);
    /// change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Restore only the rows that match: 'TABLE: PREDICATE' (repeatable; a
    /// subset of SQL, see docs/rows.md); implies --mode merge
    #[arg(long = "where", value_name = "TABLE: PREDICATE")]
    pub filters: Vec<String>,
    /// With --where: also the rows that belong to the chosen ones, and the
    /// rows they require that the target lacks (follows foreign keys)
    #[arg(long, requires = "filters")]
    pub with_related: bool,
    /// How long --dry-run may rehearse the restore (`0` counts rows only)
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = tresor_ops::parse_duration)]
    pub rehearse_for: std::time::Duration,
    /// How long to wait, in all, for other sessions (the application's) to
    /// let go of the tables the restore locks; then it gives up, changes
    /// nothing and names them (`0`: do not wait)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = tresor_ops::parse_duration)]
    pub lock_wait: std::time::Duration,
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub yes: bool,
    /// Skip the safety snapshot of the data the restore overwrites
    #[arg(long)]
    pub no_safety_snapshot: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older snapshot (id prefix, `latest`, `latest:SOURCE`)
    pub from: String,
    /// The newer snapshot
    #[arg(conflicts_with = "live")]
    pub to: Option<String>,
    /// Compare with the database as it is now: the snapshot's own source,
    /// or SOURCE (a URL or a source name from the config file)
    #[arg(long, value_name = "SOURCE", num_args = 0..=1)]
    pub live: Option<Option<String>>,
    /// Only these tables (comma-separated globs)
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Leave out these tables (comma-separated globs)
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Only rows that match: 'TABLE: PREDICATE' (repeatable)
    #[arg(long = "where", value_name = "TABLE: PREDICATE")]
    pub filters: Vec<String>,
    /// List each changed row by key, with the columns that changed
    #[arg(long)]
    pub rows: bool,
    /// Show at most N changed rows (the counts stay complete)
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Print one JSON object per changed row as it is found, then one per
    /// table (for large diffs)
    #[arg(long)]
    pub json_lines: bool,
}

#[derive(Debug, Args)]
pub struct GuardArgs {
    /// The database: a URL or a source name from the config file
    #[arg(required_unless_present = "release")]
    pub source: Option<String>,
    /// Guard only these tables (comma-separated globs) [default: all]
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Leave out these tables
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Guard the tables of this group from the config file
    #[arg(long)]
    pub group: Option<String>,
    /// Fail (exit 5) when the command deletes or changes any row of this
    /// group's tables (inserting is allowed)
    #[arg(long, value_name = "GROUP")]
    pub protect: Option<String>,
    /// With --protect: put the protected tables back at once when the
    /// command touched them
    #[arg(long, requires = "protect")]
    pub undo_on_violation: bool,
    /// List the changed rows (at most --limit)
    #[arg(long)]
    pub rows: bool,
    /// Rows listed with --rows
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Remove a guard (and its after-state) instead: GUARD is an id prefix
    /// or `latest:guard`
    #[arg(long, value_name = "GUARD", conflicts_with_all = ["source", "command"])]
    pub release: Option<String>,
    /// The command to run, after `--`
    #[arg(last = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    /// The guard: an id prefix, or `latest:guard` [default: the newest]
    pub guard: Option<String>,
    /// The database to revert [default: the guard's source]
    #[arg(long)]
    pub to: Option<String>,
    /// Only these of the guarded tables
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Also revert rows that changed again after the guarded command
    #[arg(long)]
    pub force: bool,
    /// Show what would be reverted and rehearse the undo; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// How long the preview may rehearse
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = tresor_ops::parse_duration)]
    pub rehearse_for: std::time::Duration,
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct DrillArgs {
    /// The snapshot to drill (id, prefix, latest, latest:SOURCE)
    #[arg(default_value = "latest")]
    pub snapshot: String,
    /// The scratch database to restore into; it must not exist or be empty
    /// and is dropped afterwards (default: a new database
    /// tresor_drill_<random> on the source's own server, or a temporary
    /// SQLite file)
    #[arg(long = "target")]
    pub target: Option<String>,
    /// The source (name in the config file, or URL) whose server hosts the
    /// scratch database, when the snapshot's URL lacks credentials
    #[arg(long)]
    pub source: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Also read, decrypt and verify every stored byte
    #[arg(long)]
    pub read_data: bool,
}

#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// Keep the N most recent snapshots
    #[arg(long)]
    pub keep_last: Option<u32>,
    /// Keep the last snapshot of each of the N most recent hours
    #[arg(long)]
    pub keep_hourly: Option<u32>,
    /// Keep the last snapshot of each of the N most recent days
    #[arg(long)]
    pub keep_daily: Option<u32>,
    /// Keep the last snapshot of each of the N most recent weeks
    #[arg(long)]
    pub keep_weekly: Option<u32>,
    /// Keep the last snapshot of each of the N most recent months
    #[arg(long)]
    pub keep_monthly: Option<u32>,
    /// Keep the last snapshot of each of the N most recent years
    #[arg(long)]
    pub keep_yearly: Option<u32>,
    /// Keep every snapshot younger than this (e.g. 7d, 2w, 36h)
    #[arg(long, value_parser = tresor_ops::parse_duration)]
    pub keep_within: Option<std::time::Duration>,
    /// Keep snapshots with this tag (repeatable)
    #[arg(long = "keep-tag")]
    pub keep_tags: Vec<String>,
    /// Only consider snapshots with this tag
    #[arg(long)]
    pub tag: Option<String>,
    /// Only consider snapshots of this source
    #[arg(long)]
    pub source: Option<String>,
    /// Forget these snapshots (id prefixes) instead of applying rules
    pub snapshots: Vec<String>,
    /// Let the rules given here remove pre-restore safety snapshots too
    #[arg(long)]
    pub include_safety: bool,
    /// Run prune afterwards
    #[arg(long)]
    pub prune: bool,
    /// Show what would be removed; remove nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Show what would be removed; remove nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Add a password (asked for, or --new-password-file)
    Add {
        /// Read the new password from FILE
        #[arg(long)]
        new_password_file: Option<PathBuf>,
    },
    /// List keys
    List,
    /// Remove a key by id prefix
    Remove {
        /// Key id prefix (see `tresor key list`)
        id: String,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ArchiveFormat {
    /// ZIP with deflate (opens everywhere)
    Zip,
    /// tar compressed with zstd (smaller, faster)
    TarZst,
}

#[derive(Clone, Debug, Args)]
pub struct ExportArgs {
    /// Snapshot id prefix, `latest` or `latest:SOURCE`
    pub snapshot: String,
    /// Output file (`-` for stdout), or a directory: the file is then
    /// named by `[export] file-name` in tresor.toml
    #[arg(short, long)]
    pub output: PathBuf,
    /// Archive format (default: from the file name, else zip)
    #[arg(long, value_enum)]
    pub format: Option<ArchiveFormat>,
    /// Only these tables (comma-separated globs)
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Leave out these tables (comma-separated globs)
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Only the tables of this group (defined for the snapshot's source in
    /// tresor.toml); --tables adds to them
    #[arg(long)]
    pub group: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The archive (ZIP or tar.zst, detected from its content)
    pub file: PathBuf,
    /// Add a tag (repeatable)
    #[arg(long = "tag")]
    pub tags: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum RepairCommand {
    /// Rebuild the index from every pack's header (after `check` or an
    /// error says an index file is damaged); nothing is lost
    Index,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Remove every lock, not just stale ones (only when no tresor runs)
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory for the sample database and repository
    #[arg(long, default_value = "tresor-demo")]
    pub dir: PathBuf,
    /// Customers in the sample database
    #[arg(long, default_value_t = 2000)]
    pub customers: u32,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Start with a generated sample database, a local repository and a schedule
    #[arg(long)]
    pub demo: bool,
    /// Address to listen on (overrides the config)
    #[arg(long)]
    pub listen: Option<String>,
    /// Where --demo keeps its database, repository and state
    #[arg(long, default_value = "tresor-demo")]
    pub demo_dir: PathBuf,
    /// Bring a lost server back: restore its state file (users, tokens,
    /// jobs, audit log) from the newest server-state snapshot in the
    /// repository before starting (the state file must not exist)
    #[arg(long, conflicts_with = "demo")]
    pub restore_state: bool,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

/// Tables read at once: 1 to 64.
fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=64).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a number of tables from 1 to 64, got {s:?}"
        )),
    }
}
