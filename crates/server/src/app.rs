//! The state the HTTP handlers share. The parts below it (jobs, the
//! scheduler, notifications, the snapshot catalog, the event log) are
//! built first and handed their own pieces; none of them reaches back
//! into `App`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use chrono_tz::Tz;
use tokio_util::sync::CancellationToken;
use tresor_ops::{Config, Engines, Snapshot, SourceConfig};
use tresor_repo::Repository;

use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::error::ApiError;
use crate::events::Events;
use crate::jobs::Jobs;
use crate::notify::Notifier;
use crate::scheduler::Scheduler;
use crate::store::Store;
use crate::uploads::Uploads;

/// Shared state of the HTTP side.
pub struct App {
    pub(crate) config: Arc<Config>,
    pub(crate) engines: Engines,
    /// Which configured source each snapshot belongs to.
    pub(crate) owners: tresor_ops::SourceOwners,
    pub(crate) repo: Arc<Repository>,
    pub(crate) store: Arc<Store>,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) uploads: Arc<Uploads>,
    pub(crate) events: Arc<Events>,
    pub(crate) jobs: Jobs,
    pub(crate) scheduler: Scheduler,
    pub(crate) notifier: Notifier,
    /// The offsite repositories and what was last seen of them.
    pub(crate) offsites: Arc<crate::offsite::Offsites>,
    pub(crate) clock: Clock,
    pub(crate) tz: Tz,
    pub(crate) templates: minijinja::Environment<'static>,
    pub(crate) upload_limit: u64,
    pub(crate) session_lifetime: Duration,
    pub(crate) shutdown: CancellationToken,
    pub(crate) started: chrono::DateTime<Utc>,
    pub(crate) throttle: crate::throttle::Throttle,
    /// The OpenID Connect provider, when `[server.oidc]` is set.
    pub(crate) oidc: Option<crate::oidc::Provider>,
    /// Sign-ins sent to the provider, by their state.
    pub(crate) oidc_flows: crate::tickets::Tickets<crate::oidc::Flow>,
    /// Passwords accepted, waiting for the one-time code.
    pub(crate) pending_logins: crate::tickets::Tickets<crate::tickets::PendingLogin>,
}

impl App {
    /// Writes a structured event to the tracing log and the log file.
    pub(crate) fn log_event(&self, level: &str, message: &str, fields: &[(&str, &str)]) {
        self.events.log(level, message, fields);
    }

    /// The configured source named `name`.
    ///
    /// # Errors
    /// 404 with the configured names.
    pub(crate) fn source_config(&self, name: &str) -> Result<&SourceConfig, ApiError> {
        crate::catalog::source_config(&self.config, name)
    }

    /// Whether `snapshot` is one of the configured source `name`'s: it
    /// names the source, or was taken by a URL naming the same database.
    pub(crate) fn belongs_to(&self, snapshot: &Snapshot, name: &str) -> bool {
        self.owners
            .owner_of(snapshot.source.name.as_deref(), &snapshot.source.url)
            == Some(name)
    }

    /// Every snapshot, oldest first (cached briefly).
    ///
    /// # Errors
    /// Repository failures.
    pub(crate) async fn snapshots(&self) -> Result<Arc<Vec<Snapshot>>, ApiError> {
        self.catalog.snapshots().await
    }

    /// The snapshot `spec` names (`latest`, `latest:SOURCE`, an id prefix).
    ///
    /// # Errors
    /// 404, or 400 when the prefix is ambiguous.
    pub(crate) async fn find_snapshot(&self, spec: &str) -> Result<Snapshot, ApiError> {
        self.catalog.find(spec).await
    }

    /// The time zone a source's schedule runs in.
    pub(crate) fn tz_of(&self, name: Option<&str>) -> Tz {
        self.scheduler.tz_of(name)
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
