//! Jobs: every backup, restore, forget, prune, check, drill and import is
//! a job with an id, a state (queued, running with progress, succeeded,
//! failed with the error, cancelled), who started it, timings, figures and
//! log lines, kept in the state file.
//!
//! Two runs of one source never overlap: a job holds its source's lock
//! from start to end and waits, queued, while another holds it. `prune`
//! takes the repository gate exclusively, everything else shares it.
//! Cancelling (by a user, a timeout, or shutdown) drops the operation's
//! future: the operations guarantee nothing half-done stays (a backup
//! without manifest is invisible, a restore session rolls back).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{RwLock, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tresor_core::{TableFilter, TableName};
use tresor_ops::{OpsError, Progress, RetentionConfig};

use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::error::ApiError;
use crate::events::Events;
use crate::notify::Notifier;
use crate::offsite::Offsites;
use crate::store::Store;
use crate::uploads::Uploads;

mod restore;
mod run;

pub use restore::RestoreRequest;

/// What a job does.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum JobSpec {
    /// Back up a configured source.
    Backup {
        /// Source name.
        source: String,
        /// Only these tables (globs).
        #[serde(default)]
        tables: Vec<String>,
        /// Only this table group.
        #[serde(default)]
        group: Option<String>,
        /// Why, in the user's words.
        #[serde(default)]
        reason: Option<String>,
        /// Extra tags.
        #[serde(default)]
        tags: Vec<String>,
        /// The application's version, over the source's `app-version`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app_version: Option<String>,
    },
    /// Restore a snapshot into a configured source.
    Restore(RestoreRequest),
    /// Apply retention rules, or remove named snapshots.
    Forget {
        /// Only this source's snapshots.
        #[serde(default)]
        source: Option<String>,
        /// Remove exactly these snapshots.
        #[serde(default)]
        ids: Vec<String>,
        /// The rules.
        #[serde(default)]
        retention: Option<RetentionConfig>,
    },
    /// Remove unreferenced data.
    Prune,
    /// Verify the repository.
    Check {
        /// Read every byte of data too.
        #[serde(default)]
        read_data: bool,
    },
    /// Restore a snapshot into a throwaway database and compare row counts.
    Drill {
        /// Source name.
        source: String,
        /// Snapshot id; the source's latest when unset.
        #[serde(default)]
        snapshot: Option<String>,
    },
    /// Turn an uploaded export archive into a snapshot.
    Import {
        /// The upload's id.
        upload: String,
    },
    /// Bring an offsite repository up to date: copy the snapshots it
    /// lacks, then apply its retention.
    Copy {
        /// The `[offsite.NAME]` name.
        repository: String,
    },
    /// Revert what happened since a guard, in the guard's source.
    Undo {
        /// The guard's full id.
        guard: String,
        /// The source it reverts (the guard's).
        target: String,
        /// Only these of the guarded tables (globs; all when empty).
        #[serde(default)]
        tables: Vec<String>,
        /// Revert rows changed again after the guarded operation too.
        #[serde(default)]
        force: bool,
    },
}

impl JobSpec {
    /// The kind's name.
    pub fn kind(&self) -> &'static str {
        match self {
            JobSpec::Backup { .. } => "backup",
            JobSpec::Restore(_) => "restore",
            JobSpec::Forget { .. } => "forget",
            JobSpec::Prune => "prune",
            JobSpec::Check { .. } => "check",
            JobSpec::Drill { .. } => "drill",
            JobSpec::Import { .. } => "import",
            JobSpec::Undo { .. } => "undo",
            JobSpec::Copy { .. } => "copy",
        }
    }

    /// The source (or restore target) the job concerns.
    pub fn source(&self) -> Option<&str> {
        match self {
            JobSpec::Backup { source, .. } | JobSpec::Drill { source, .. } => Some(source),
            JobSpec::Restore(RestoreRequest { target, .. }) | JobSpec::Undo { target, .. } => {
                Some(target)
            }
            JobSpec::Forget { source, .. } => source.as_deref(),
            // a copy is filed under its offsite repository's name
            JobSpec::Copy { repository } => Some(repository),
            _ => None,
        }
    }

    /// The lock that keeps runs apart: a source's name for jobs that read
    /// or write that database.
    /// Whether the job may add or remove snapshots (so the cached list
    /// must be read again).
    pub fn changes_snapshots(&self) -> bool {
        !matches!(
            self,
            JobSpec::Check { .. } | JobSpec::Drill { .. } | JobSpec::Copy { .. }
        )
    }

    fn lock_key(&self) -> Option<String> {
        match self {
            JobSpec::Backup { .. } | JobSpec::Drill { .. } | JobSpec::Restore(_) => {
                self.source().map(str::to_string)
            }
            // two copies to one repository never overlap
            JobSpec::Copy { repository } => Some(format!("offsite:{repository}")),
            _ => None,
        }
    }
}

/// The timeout `tresor.toml` sets for a job, whoever starts it: its
/// source's (or restore target's) `timeout`, or `[prune]`'s and
/// `[check]`'s for those.
fn configured_timeout(config: &tresor_ops::Config, spec: &JobSpec) -> Option<Duration> {
    let text = match spec {
        JobSpec::Prune => config.prune.timeout.as_deref(),
        JobSpec::Check { .. } => config.check.timeout.as_deref(),
        _ => spec
            .source()
            .and_then(|s| config.source(s))
            .and_then(|s| s.timeout.as_deref()),
    }?;
    tresor_ops::parse_duration(text).ok()
}

/// A request to run a job.
#[derive(Clone, Debug)]
pub struct Submit {
    /// What.
    pub spec: JobSpec,
    /// `manual`, `scheduled`, `retention`, `catch-up`.
    pub trigger: String,
    /// Who.
    pub started_by: String,
    /// 1 for a first try.
    pub attempt: u32,
    /// The scheduled time it runs for.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// Cancel after this long.
    pub timeout: Option<Duration>,
}

impl Submit {
    /// A manual job started by `who`.
    pub fn manual(spec: JobSpec, who: impl Into<String>) -> Self {
        Submit {
            spec,
            trigger: "manual".into(),
            started_by: who.into(),
            attempt: 1,
            scheduled_for: None,
            timeout: None,
        }
    }
}

/// How a job ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// `succeeded`, `failed`, `cancelled`.
    pub state: &'static str,
    /// Whether a retry may succeed.
    pub retryable: bool,
    /// The failure, if any.
    pub error: Option<String>,
}

/// Why a job failed.
#[derive(Debug)]
pub(crate) enum Failure {
    Ops(OpsError),
    /// A drill that ran and failed, with its report as the job's figures.
    Drill(OpsError, Box<serde_json::Value>),
    Api(ApiError),
    Timeout(Duration),
    Cancelled(String),
}

impl Failure {
    fn message(&self) -> String {
        match self {
            Failure::Ops(e) | Failure::Drill(e, _) => e.to_string(),
            Failure::Api(e) => e.message.clone(),
            Failure::Timeout(d) => format!(
                "timed out after {}; the operation was cancelled and nothing was committed",
                humantime::format_duration(*d)
            ),
            Failure::Cancelled(why) => format!("cancelled {why}; nothing was committed"),
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            Failure::Ops(e) | Failure::Drill(e, _) => e.hint(),
            Failure::Api(e) => e.hint.clone(),
            Failure::Timeout(_) => Some("raise the source's timeout in tresor.toml".into()),
            Failure::Cancelled(_) => None,
        }
    }

    fn retryable(&self) -> bool {
        matches!(self, Failure::Ops(e) if e.is_retryable())
    }
}

impl From<OpsError> for Failure {
    fn from(e: OpsError) -> Self {
        if matches!(e, OpsError::Cancelled) {
            return Failure::Cancelled("by the operation".into());
        }
        Failure::Ops(e)
    }
}

impl From<tresor_core::SourceError> for Failure {
    fn from(e: tresor_core::SourceError) -> Self {
        Failure::Ops(e.into())
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

/// Live figures of a running job, fed by the operations' progress calls.
pub struct JobProgress {
    job_id: i64,
    store: Arc<Store>,
    clock: Clock,
    rows: AtomicU64,
    bytes: AtomicU64,
    tables_started: AtomicU64,
    tables_done: AtomicU64,
    step: Mutex<String>,
}

impl JobProgress {
    fn new(job_id: i64, store: Arc<Store>, clock: Clock) -> Self {
        JobProgress {
            job_id,
            store,
            clock,
            rows: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            tables_started: AtomicU64::new(0),
            tables_done: AtomicU64::new(0),
            step: Mutex::new("queued".into()),
        }
    }

    /// Appends a log line to the job.
    pub fn log(&self, level: &str, message: &str) {
        self.store
            .log(self.job_id, level, message, self.clock.now());
    }

    fn set_step(&self, s: &str) {
        *self.step.lock().unwrap_or_else(PoisonError::into_inner) = s.to_string();
    }

    /// The figures as JSON.
    pub fn snapshot(&self) -> serde_json::Value {
        json!({
            "step": *self.step.lock().unwrap_or_else(PoisonError::into_inner),
            "rows": self.rows.load(Ordering::Relaxed),
            "bytes": self.bytes.load(Ordering::Relaxed),
            "tables_started": self.tables_started.load(Ordering::Relaxed),
            "tables_done": self.tables_done.load(Ordering::Relaxed),
        })
    }
}

impl Progress for JobProgress {
    fn table_started(&self, table: &TableName, rows: Option<u64>) {
        self.tables_started.fetch_add(1, Ordering::Relaxed);
        self.set_step(&format!("table {table}"));
        let _ = rows;
    }
    fn rows_done(&self, _table: &TableName, rows: u64, bytes: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    fn table_finished(&self, table: &TableName, rows: u64) {
        self.tables_done.fetch_add(1, Ordering::Relaxed);
        self.log("info", &format!("table {table}: {rows} rows"));
    }
    fn step(&self, message: &str) {
        self.set_step(message);
        self.log("info", message);
    }
}

struct Live {
    progress: Arc<JobProgress>,
    cancel: CancellationToken,
}

/// The name jobs started by the scheduler are recorded under.
pub const SCHEDULER: &str = "scheduler";

/// What running a job needs, handed down by the server when it starts.
pub struct JobEnv {
    /// The configuration (sources by name).
    pub config: Arc<tresor_ops::Config>,
    /// The database engines.
    pub engines: tresor_ops::Engines,
    /// The state file (job rows and log lines).
    pub store: Arc<Store>,
    /// The repository and its snapshot list.
    pub catalog: Arc<Catalog>,
    /// Uploaded archives to import.
    pub uploads: Arc<Uploads>,
    /// Email and webhook notifications.
    pub notifier: Notifier,
    /// The event log.
    pub events: Arc<Events>,
    /// Where "now" comes from.
    pub clock: Clock,
    /// The offsite repositories each new snapshot is copied to.
    pub offsites: Arc<Offsites>,
}

/// The job runner; clones share the same jobs.
#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

/// The state behind a [`Jobs`] handle.
pub struct Inner {
    env: JobEnv,
    live: Mutex<HashMap<i64, Live>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    gate: Arc<RwLock<()>>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl std::ops::Deref for Jobs {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl Jobs {
    pub(crate) fn new(env: JobEnv) -> Self {
        Jobs {
            inner: Arc::new(Inner {
                env,
                live: Mutex::new(HashMap::new()),
                locks: Mutex::new(HashMap::new()),
                gate: Arc::new(RwLock::new(())),
                tracker: TaskTracker::new(),
                shutdown: CancellationToken::new(),
            }),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Live>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Live figures of a running or queued job.
    pub fn progress(&self, id: i64) -> Option<serde_json::Value> {
        self.live().get(&id).map(|l| l.progress.snapshot())
    }

    /// Ids of jobs not finished yet.
    pub fn active(&self) -> Vec<i64> {
        let mut v: Vec<i64> = self.live().keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Asks a job to stop; returns whether it was still active.
    pub fn cancel(&self, id: i64) -> bool {
        match self.live().get(&id) {
            Some(l) => {
                l.cancel.cancel();
                true
            }
            None => false,
        }
    }

    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    /// Queues a job; the receiver tells how it ended.
    ///
    /// # Errors
    /// The server is stopping, or the state file fails.
    pub fn submit(&self, s: Submit) -> Result<(i64, oneshot::Receiver<Outcome>), ApiError> {
        let env = &self.env;
        if self.shutdown.is_cancelled() {
            return Err(ApiError::new(
                crate::error::Kind::Unavailable,
                "the server is shutting down",
            ));
        }
        let mut s = s;
        if s.timeout.is_none() {
            s.timeout = configured_timeout(&env.config, &s.spec);
        }
        let params = serde_json::to_value(&s.spec).map_err(ApiError::internal)?;
        let id = env.store.create_job(
            s.spec.kind(),
            s.spec.source(),
            &s.trigger,
            &s.started_by,
            &params,
            s.attempt,
            s.scheduled_for,
            env.clock.now(),
        )?;
        let progress = Arc::new(JobProgress::new(id, env.store.clone(), env.clock));
        let cancel = self.shutdown.child_token();
        self.live().insert(
            id,
            Live {
                progress: progress.clone(),
                cancel: cancel.clone(),
            },
        );
        env.events.log(
            "info",
            "job queued",
            &[
                ("job", &id.to_string()),
                ("kind", s.spec.kind()),
                ("by", &s.started_by),
            ],
        );
        let (tx, rx) = oneshot::channel();
        let jobs = self.clone();
        self.tracker.spawn(async move {
            let runner = jobs.clone();
            let outcome = off_thread(move || async move {
                Box::pin(drive(&runner, id, s, progress, cancel)).await
            })
            .await;
            jobs.live().remove(&id);
            if let Ok(outcome) = outcome {
                let _ = tx.send(outcome);
            }
        });
        Ok((id, rx))
    }

    /// Stops taking jobs, gives running ones `grace` to finish, cancels
    /// the rest, and waits until every job task has ended.
    pub async fn shutdown(&self, grace: Duration) {
        self.tracker.close();
        let stop = self.shutdown.clone();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("cancelling jobs still running at shutdown");
        }
        stop.cancel();
        self.tracker.wait().await;
    }

    /// Refuses new jobs from now on (the first step of shutdown).
    pub fn close(&self) {
        self.tracker.close();
    }
}

async fn drive(
    jobs: &Jobs,
    id: i64,
    s: Submit,
    progress: Arc<JobProgress>,
    cancel: CancellationToken,
) -> Outcome {
    let env = &jobs.env;
    let result = tokio::select! {
        r = run_locked(jobs, id, &s, &progress) => r,
        () = cancel.cancelled() => Err(Failure::Cancelled(
            if jobs.shutdown.is_cancelled() { "because the server is stopping".into() } else { "by a user".into() }
        )),
    };
    let now = env.clock.now();
    let (state, outcome) = match result {
        Ok(figures) => {
            let _ = env
                .store
                .job_finished(id, "succeeded", None, None, Some(&figures), now);
            progress.log("info", "succeeded");
            (
                "succeeded",
                Outcome {
                    state: "succeeded",
                    retryable: false,
                    error: None,
                },
            )
        }
        Err(f) => {
            let state = if matches!(f, Failure::Cancelled(_)) {
                "cancelled"
            } else {
                "failed"
            };
            let message = f.message();
            let hint = f.hint();
            let figures = match &f {
                Failure::Drill(_, report) => Some(report.as_ref()),
                _ => None,
            };
            progress.log("error", &message);
            if let Some(h) = &hint {
                progress.log("info", &format!("try: {h}"));
            }
            let _ =
                env.store
                    .job_finished(id, state, Some(&message), hint.as_deref(), figures, now);
            (
                state,
                Outcome {
                    state,
                    retryable: f.retryable(),
                    error: Some(message),
                },
            )
        }
    };
    env.events.log(
        if state == "succeeded" { "info" } else { "warn" },
        "job finished",
        &[
            ("job", &id.to_string()),
            ("kind", s.spec.kind()),
            ("state", state),
            ("error", outcome.error.as_deref().unwrap_or("")),
        ],
    );
    if s.spec.changes_snapshots() {
        env.catalog.changed();
    }
    if let Ok(Some(row)) = env.store.job(id) {
        env.notifier.job_finished(&row);
    }
    if state == "succeeded"
        && let JobSpec::Backup { source, .. } = &s.spec
    {
        copy_offsite(jobs, source);
    }
    outcome
}

/// Queues a copy to every offsite repository that takes `source`'s
/// snapshots right after a backup.
fn copy_offsite(jobs: &Jobs, source: &str) {
    for o in jobs.env.offsites.all() {
        if !(o.config.after_backup && o.config.takes(source)) {
            continue;
        }
        let submit = Submit {
            spec: JobSpec::Copy {
                repository: o.name.clone(),
            },
            trigger: "after-backup".into(),
            started_by: SCHEDULER.into(),
            attempt: 1,
            scheduled_for: None,
            timeout: None,
        };
        if let Err(e) = jobs.submit(submit) {
            tracing::warn!(
                offsite = o.name,
                error = e.message,
                "cannot queue the offsite copy"
            );
        }
    }
}

async fn run_locked(
    jobs: &Jobs,
    id: i64,
    s: &Submit,
    progress: &Arc<JobProgress>,
) -> Result<serde_json::Value, Failure> {
    let _source_guard = match s.spec.lock_key() {
        Some(key) => {
            let lock = jobs.lock_for(&key);
            let guard = match lock.clone().try_lock_owned() {
                Ok(g) => g,
                Err(_) => {
                    progress.log(
                        "info",
                        &format!("waiting for the running job of {key} to end"),
                    );
                    lock.lock_owned().await
                }
            };
            Some(guard)
        }
        None => None,
    };
    let gate = jobs.gate.clone();
    let _gate = if matches!(s.spec, JobSpec::Prune) {
        Gate::Write(gate.write_owned().await)
    } else {
        Gate::Read(gate.read_owned().await)
    };
    jobs.env
        .store
        .job_started(id, jobs.env.clock.now())
        .map_err(ApiError::from)?;
    progress.set_step("running");
    progress.log(
        "info",
        &format!(
            "{} started by {} ({}{})",
            s.spec.kind(),
            s.started_by,
            s.trigger,
            if s.attempt > 1 {
                format!(", attempt {}", s.attempt)
            } else {
                String::new()
            }
        ),
    );
    // boxed: the operations' futures are large
    let work = Box::pin(run::execute(&jobs.env, &s.spec, &s.started_by, progress));
    match s.timeout {
        Some(t) => match tokio::time::timeout(t, work).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Timeout(t)),
        },
        None => work.await,
    }
}

enum Gate {
    Read(#[allow(dead_code)] tokio::sync::OwnedRwLockReadGuard<()>),
    Write(#[allow(dead_code)] tokio::sync::OwnedRwLockWriteGuard<()>),
}

/// Runs a future that the compiler cannot prove `Send` (some operations'
/// futures hold closures over borrowed data; rust-lang/rust#102211) on a
/// blocking-pool thread of the current runtime. The future is created
/// there, so only the closure that makes it must be `Send`; timers and I/O
/// still run on the runtime's drivers.
///
/// # Errors
/// The thread panicked.
pub(crate) async fn off_thread<F, Fut, T>(make: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
    T: Send + 'static,
{
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || handle.block_on(make()))
        .await
        .map_err(|e| ApiError::internal(format!("a worker thread failed: {e}")))
}

/// The filter for `tables` (all when empty).
pub(crate) fn tables_filter(tables: &[String]) -> Result<TableFilter, ApiError> {
    if tables.is_empty() {
        return Ok(TableFilter::all());
    }
    TableFilter::new(tables, &[]).map_err(|e| ApiError::bad_request(e.to_string()))
}
