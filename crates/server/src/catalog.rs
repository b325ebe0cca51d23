//! What the server knows of its sources and snapshots: the configured
//! sources by name, and the repository's snapshot list, cached briefly
//! and invalidated by this server's own jobs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tresor_ops::{Config, Snapshot, SourceConfig, list_snapshots, resolve};
use tresor_repo::Repository;

use crate::error::ApiError;

/// How long a listing of snapshots is reused before the repository is
/// asked again (jobs of this server invalidate it at once).
const SNAPSHOT_TTL: Duration = Duration::from_secs(30);

/// A snapshot listing: when loaded, for which generation, the list.
type CachedList = (Instant, u64, Arc<Vec<Snapshot>>);

/// The configured source named `name`.
///
/// # Errors
/// 404 with the configured names.
pub fn source_config<'a>(config: &'a Config, name: &str) -> Result<&'a SourceConfig, ApiError> {
    config.source(name).ok_or_else(|| {
        ApiError::not_found(format!("no source named {name:?}")).hint(format!(
            "configured sources: {}",
            config
                .sources
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// The snapshots of the repository, cached.
pub struct Catalog {
    repo: Arc<Repository>,
    cache: tokio::sync::Mutex<Option<CachedList>>,
    generation: AtomicU64,
    changed: tokio::sync::Notify,
}

impl Catalog {
    /// A catalog of `repo`'s snapshots.
    pub fn new(repo: Arc<Repository>) -> Self {
        Catalog {
            repo,
            cache: tokio::sync::Mutex::new(None),
            generation: AtomicU64::new(0),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// The repository.
    pub fn repo(&self) -> &Arc<Repository> {
        &self.repo
    }

    /// Every snapshot, oldest first (cached briefly).
    ///
    /// # Errors
    /// Repository failures.
    pub async fn snapshots(&self) -> Result<Arc<Vec<Snapshot>>, ApiError> {
        let mut cache = self.cache.lock().await;
        let generation = self.generation.load(Ordering::Acquire);
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
    pub async fn find(&self, spec: &str) -> Result<Snapshot, ApiError> {
        let all = self.snapshots().await?;
        Ok(resolve(&all, spec)?.clone())
    }

    /// Forgets the cached list after something changed the repository.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_one();
    }

    /// Completes after the next [`Catalog::changed`].
    pub async fn wait_changed(&self) {
        self.changed.notified().await;
    }
}
