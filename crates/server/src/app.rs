//! The state every handler, job and scheduler task shares.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use chrono_tz::Tz;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tresor_ops::{Config, Engines, Snapshot, SourceConfig, list_snapshots, resolve};
use tresor_repo::Repository;

use crate::clock::Clock;
use crate::error::ApiError;
use crate::jobs::{JobSpec, Jobs};
use crate::notify::Notifier;
use crate::scheduler::ScheduleBoard;
use crate::store::Store;

/// How long a listing of snapshots is reused before the repository is
/// asked again (jobs of this server invalidate it at once).
const SNAPSHOT_TTL: Duration = Duration::from_secs(30);

/// A snapshot listing: when loaded, for which generation, the list.
type CachedList = (Instant, u64, Arc<Vec<Snapshot>>);

/// An uploaded archive waiting to be imported.
pub struct Upload {
    /// Who uploaded it.
    pub user_id: i64,
    /// The temporary file (deleted on drop).
    pub file: tempfile::TempPath,
    /// What the validation found.
    pub info: serde_json::Value,
}

/// Shared state.
pub struct App {
    pub(crate) config: Config,
    pub(crate) engines: Engines,
    pub(crate) repo: Arc<Repository>,
    pub(crate) store: Arc<Store>,
    pub(crate) jobs: Jobs,
    pub(crate) clock: Clock,
    pub(crate) tz: Tz,
    pub(crate) notifier: Notifier,
    pub(crate) schedules: ScheduleBoard,
    pub(crate) templates: minijinja::Environment<'static>,
    pub(crate) upload_limit: u64,
    pub(crate) session_lifetime: Duration,
    pub(crate) shutdown: CancellationToken,
    pub(crate) started: chrono::DateTime<Utc>,
    pub(crate) uploads: Mutex<HashMap<String, Upload>>,
    snapshots: tokio::sync::Mutex<Option<CachedList>>,
    snapshots_generation: std::sync::atomic::AtomicU64,
    log_file: Option<Mutex<std::fs::File>>,
    pub(crate) stats_dirty: tokio::sync::Notify,
}

impl App {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        config: Config,
        engines: Engines,
        repo: Arc<Repository>,
        store: Arc<Store>,
        clock: Clock,
        tz: Tz,
        notifier: Notifier,
        templates: minijinja::Environment<'static>,
        log_file: Option<std::fs::File>,
    ) -> anyhow::Result<App> {
        let upload_limit = config
            .server
            .upload_limit
            .bytes()
            .map_err(anyhow::Error::msg)?;
        let session_lifetime = tresor_ops::parse_duration(&config.server.session_lifetime)
            .map_err(anyhow::Error::msg)?;
        Ok(App {
            schedules: ScheduleBoard::default(),
            templates,
            config,
            engines,
            repo,
            store,
            jobs: Jobs::new(),
            clock,
            tz,
            notifier,
            upload_limit,
            session_lifetime,
            shutdown: CancellationToken::new(),
            started: Utc::now(),
            uploads: Mutex::new(HashMap::new()),
            snapshots: tokio::sync::Mutex::new(None),
            snapshots_generation: std::sync::atomic::AtomicU64::new(0),
            log_file: log_file.map(Mutex::new),
            stats_dirty: tokio::sync::Notify::new(),
        })
    }

    /// Writes a structured event to the tracing log and the log file.
    pub(crate) fn log_event(&self, level: &str, message: &str, fields: &[(&str, &str)]) {
        let text: String = fields.iter().map(|(k, v)| format!(" {k}={v:?}")).collect();
        match level {
            "error" => tracing::error!("{message}{text}"),
            "warn" => tracing::warn!("{message}{text}"),
            _ => tracing::info!("{message}{text}"),
        }
        if let Some(f) = &self.log_file {
            let mut obj = serde_json::Map::new();
            obj.insert("at".into(), crate::store::ts(Utc::now()).into());
            obj.insert("level".into(), level.into());
            obj.insert("message".into(), message.into());
            for (k, v) in fields {
                obj.insert((*k).to_string(), (*v).into());
            }
            let line = serde_json::Value::Object(obj).to_string();
            let mut f = f.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = writeln!(f, "{line}");
        }
    }

    /// The configured source named `name`.
    ///
    /// # Errors
    /// 404 with the configured names.
    pub(crate) fn source_config(&self, name: &str) -> Result<&SourceConfig, ApiError> {
        self.config.source(name).ok_or_else(|| {
            ApiError::not_found(format!("no source named {name:?}")).hint(format!(
                "configured sources: {}",
                self.config
                    .sources
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    /// Every snapshot, oldest first (cached briefly).
    ///
    /// # Errors
    /// Repository failures.
    pub(crate) async fn snapshots(&self) -> Result<Arc<Vec<Snapshot>>, ApiError> {
        use std::sync::atomic::Ordering;
        let mut cache = self.snapshots.lock().await;
        let generation = self.snapshots_generation.load(Ordering::Acquire);
        if let Some((at, g, list)) = cache.as_ref()
            && at.elapsed() < SNAPSHOT_TTL
            && *g == generation
        {
            return Ok(list.clone());
        }
        let list = Arc::new(list_snapshots(&self.repo).await?);
        *cache = Some((Instant::now(), generation, list.clone()));
        Ok(list)
    }

    /// The snapshot `spec` names (`latest`, `latest:SOURCE`, an id prefix).
    ///
    /// # Errors
    /// 404, or 400 when the prefix is ambiguous.
    pub(crate) async fn find_snapshot(&self, spec: &str) -> Result<Snapshot, ApiError> {
        let all = self.snapshots().await?;
        Ok(resolve(&all, spec)?.clone())
    }

    /// Forgets the cached snapshot list after a job that may change it.
    pub(crate) fn snapshots_changed(&self, spec: &JobSpec) {
        if matches!(spec, JobSpec::Check { .. } | JobSpec::Drill { .. }) {
            return;
        }
        self.snapshots_generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.stats_dirty.notify_one();
    }

    /// The file of an upload.
    ///
    /// # Errors
    /// 404 for an unknown or used upload.
    pub(crate) fn upload_path(&self, id: &str) -> Result<PathBuf, ApiError> {
        self.uploads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .map(|u| u.file.to_path_buf())
            .ok_or_else(|| {
                ApiError::not_found(format!("no upload {id:?}"))
                    .hint("uploads are kept until imported or until the server restarts")
            })
    }

    /// Deletes an upload's file.
    pub(crate) fn remove_upload(&self, id: &str) {
        self.uploads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    /// The time zone a source's schedule runs in.
    pub(crate) fn tz_of(&self, name: Option<&str>) -> Tz {
        name.and_then(|n| self.config.source(n))
            .and_then(|s| s.timezone.as_deref())
            .and_then(|t| tresor_ops::parse_timezone(t).ok())
            .unwrap_or(self.tz)
    }

    /// Samples the repository's size for the dashboard chart.
    pub(crate) async fn sample_repo_stats(&self) {
        let storage = self.repo.storage();
        let mut stored = 0u64;
        for dir in ["data", "index", "snapshots"] {
            if let Ok(files) = storage.list_recursive(dir).await {
                for f in files {
                    stored += storage.size(&format!("{dir}/{f}")).await.unwrap_or(0);
                }
            }
        }
        let Ok(list) = self.snapshots().await else {
            return;
        };
        let logical: u64 = list.iter().map(|s| s.totals.bytes).sum();
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        if let Err(e) = self.store.add_repo_stat(
            self.clock.now(),
            as_i64(list.len() as u64),
            as_i64(stored),
            as_i64(logical),
        ) {
            tracing::warn!(error = %e, "cannot record repository statistics");
        }
    }
}
